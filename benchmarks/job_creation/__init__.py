"""The pieces of `python -m benchmarks.create_jobs` (job creation under parallel load)."""
