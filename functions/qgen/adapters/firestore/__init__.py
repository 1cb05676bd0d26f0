"""Firestore adapters: documents <-> domain objects, the unit of work, reads and sweeps."""
