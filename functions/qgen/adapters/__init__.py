"""Edges of the system: Firestore, Cloud Tasks, Firebase Auth, the clock."""
