"""Support code of the benchmark suite: gates, benchmark modes, peak-memory runner, data and cases.

Not a package of the project: `benchmarks/conftest.py` puts `benchmarks/` on `sys.path`, so the
bench modules and `tests/benchmarks/test_gates.py` import it as `benchkit`.
"""
