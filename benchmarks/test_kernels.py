"""Kernel benchmarks: apply_mask, validate_utf8, frame parsing.

Run with ``pytest benchmarks --benchmark-only``; see README.md.
"""

from __future__ import annotations

BENCH_GROUPS = ("mask", "utf8", "parse")


def test_kernel(run_workload, workload, contender):
    run_workload(workload, contender)
