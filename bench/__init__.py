"""Benchmarks of the pipeline against the sandbox (`make bench`): figures, not tests."""
