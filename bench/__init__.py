"""Benchmarks behind `make bench`: ratios measured in one run and counts that do not depend on machine speed."""
