"""`qgen`: the reference command-line client of the question generation service."""
