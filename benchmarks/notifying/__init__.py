"""Pieces of benchmarks/notification_latency.py: the stack with the FCM stand-in, the run."""
