"""Baselines and helpers for the benchmark scripts in `scripts/` (not part of the installed packages)."""
