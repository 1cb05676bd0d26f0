"""The soak (benchmarks/soak.py): the whole stack under load and chaos, then its promises."""
