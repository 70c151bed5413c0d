"""Benchmarks (query readers) and the evaluation harness."""
