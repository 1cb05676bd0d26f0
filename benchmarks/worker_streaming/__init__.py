"""The pieces of `python -m benchmarks.worker_stream` (the worker while it streams)."""
