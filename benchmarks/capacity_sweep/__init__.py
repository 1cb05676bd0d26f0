"""One worker instance's capacity: benchmarks/capacity.py's parts."""
