"""The benchmarks behind BENCHMARKS.md, their baselines and helpers: checkout-only tools, not in the wheel.

Run them from the repository root as modules, e.g. `python -m benchmarks.bench_rvit --help`; they import the
installed (or editable) `hf_loader`, `modeling_rvit` and `ahu_train`.
"""
