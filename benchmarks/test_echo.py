"""Loopback echo benchmarks: wsfast, picows, aiohttp, websockets and a plain
TCP echo, each library's own server (a child process) against its own client.

Run with ``pytest benchmarks/test_echo.py --benchmark-only``; see README.md
and :mod:`wsfast.bench.echo` for the method. Peers that are not installed
are skipped; the servers are stopped when their last benchmark has run (and
at exit in any case).
"""

from __future__ import annotations

from wsfast.bench import echo

echo.register()  # the "echo" and "deflate" groups

BENCH_GROUPS = ("echo", "deflate")


def test_echo(run_workload, workload, contender):
    run_workload(workload, contender)
