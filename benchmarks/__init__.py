"""Benchmark scripts (speed and memory figures; no timing asserts live in the tests). Run the suite with
``python -m benchmarks``."""
