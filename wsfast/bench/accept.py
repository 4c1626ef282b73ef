"""Accept rate: how fast a server takes on thousands of new connections.

``python -m wsfast.bench.accept [--connections 10000] [--window 200]
[--rounds 5] [--json PATH]``.

What is timed: opening N WebSocket connections to a server in another
process, *window* handshakes in flight at a time, from the first
``connect()`` to the last ``101 Switching Protocols`` -- a flash crowd, such
as every client of a chat reconnecting after a deploy. The servers and the
clients are the fan-out benchmark's (:mod:`wsfast.bench.fanout`), so the
three contenders are the same:

* ``wsfast``: ``wsfast.asyncio.serve`` (compiled kernels, compression off, no
  keepalive) with a handler that waits for the close;
* ``websockets``: ``websockets.asyncio.server.serve``, the same settings;
* ``floor``: a plain ``asyncio.Protocol`` that answers every request with a
  fixed 101 as soon as the request's blank line arrives -- no header parsing,
  no SHA-1, no connection object, no handler task. What accepting costs in
  asyncio with no WebSocket library at all.

Besides the wall time, the server's own CPU time per connection (user +
system, read from ``/proc/PID/stat`` around each round): what a server pays
per handshake whatever else the machine is doing, so it is the steadier
figure on a shared machine.

The clients are plain asyncio protocols sending a fixed upgrade request
(the same cost for every server). After a round the clients abort (RST, so
no TIME_WAIT piles up in the port range) and the server is given a moment to
drop them (until its CPU time stops growing); each round opens N fresh
connections. Asyncio's event loop on both
sides; medians of the rounds and the spread, since this machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from .fanout import HOST, SERVERS, _Client, _Clients, _pipe, _start_server, _stop_server

__all__ = ["run", "table", "main"]


async def _open(count: int, window: int, port: int) -> "tuple[_Clients, float]":
    """Open *count* connections, *window* handshakes at a time; the clients
    and the seconds until the last one was upgraded."""
    clients = _Clients(count)
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    for first in range(0, count, window):
        batch = [loop.create_connection(lambda: _Client(clients), HOST, port)
                 for _ in range(first, min(first + window, count))]
        for _transport, protocol in await asyncio.gather(*batch):
            clients.protocols.append(protocol)
    await asyncio.wait_for(clients.all_open, 60)
    elapsed = time.perf_counter() - start
    if clients.errors:
        raise AssertionError(clients.errors[0])
    return clients, elapsed


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _settle(pid: int) -> None:
    """Wait until the server has dropped the aborted connections (its CPU
    time stops growing), so that a round's teardown is not billed to the
    next round's handshakes."""
    last = _cpu_seconds(pid)
    for _ in range(100):
        await asyncio.sleep(0.2)
        now = _cpu_seconds(pid)
        if now - last < 0.005:
            return
        last = now


async def _measure(kind: str, count: int, window: int, rounds: int) -> Dict[str, Any]:
    process = _start_server(kind)
    try:
        port = int(_pipe(process.stdout).readline())
        times, cpu = [], []
        for _ in range(rounds + 1):  # the first one warms up
            before = _cpu_seconds(process.pid)
            clients, elapsed = await _open(count, window, port)
            cpu.append(_cpu_seconds(process.pid) - before)
            times.append(elapsed)
            clients.close()
            await _settle(process.pid)
        times, cpu = times[1:], cpu[1:]
        median = statistics.median(times)
        return {"server": kind, "connections": count, "window": window,
                "median_s": median, "min_s": min(times), "max_s": max(times),
                "per_second": count / median,
                "server_cpu_us": statistics.median(cpu) / count * 1e6}
    finally:
        _stop_server(process)


def run(count: int = 10000, window: int = 200, rounds: int = 5,
        servers: Sequence[str] = SERVERS) -> List[Dict[str, Any]]:
    results = []
    for kind in servers:
        print(f"open {count} connections to {kind}...", file=sys.stderr, flush=True)
        results.append(asyncio.run(_measure(kind, count, window, rounds)))
    return results


def table(results: List[Dict[str, Any]]) -> str:
    rates = {r["server"]: r["per_second"] for r in results}
    lines = ["| server | connections | in flight | median s | min-max s | connections/s "
             "| vs websockets | vs floor | server CPU per connection |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        def ratio(other: str) -> str:
            return f"{r['per_second'] / rates[other]:.2f}" if other in rates else "-"

        lines.append(f"| {r['server']} | {r['connections']:,} | {r['window']} | "
                     f"{r['median_s']:.2f} | {r['min_s']:.2f}-{r['max_s']:.2f} | "
                     f"{r['per_second']:,.0f} | {ratio('websockets')} | {ratio('floor')} | "
                     f"{r['server_cpu_us']:.0f} µs |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsfast.bench.accept",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000,
                        help="connections opened per round (10000)")
    parser.add_argument("--window", type=int, default=200,
                        help="handshakes in flight at a time (200)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per server (5)")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated servers to measure ({','.join(SERVERS)})")
    parser.add_argument("--json", metavar="PATH", dest="json_path",
                        help="write the results as JSON")
    args = parser.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    results = run(args.connections, args.window, args.rounds, servers)
    print(table(results))
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
