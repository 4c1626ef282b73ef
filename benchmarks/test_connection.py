"""Connection benchmarks: receive_data + events_received, send + data_to_send.

Run with ``pytest benchmarks --benchmark-only``; see README.md.
"""

from __future__ import annotations

BENCH_GROUPS = ("receive", "send")


def test_connection(run_workload, workload, contender):
    run_workload(workload, contender)
