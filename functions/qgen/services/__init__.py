"""Use cases: what the entry points ask the system to do."""
