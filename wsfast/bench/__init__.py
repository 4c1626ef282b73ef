"""wsfast's benchmark library: the workloads, the peer adapters and the timer
behind ``python -m wsfast bench`` and the pytest-benchmark suite in
``benchmarks/``. Not imported by ``import wsfast``; the peers it compares
with are optional (each is skipped when not installed).
"""
