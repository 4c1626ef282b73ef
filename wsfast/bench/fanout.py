"""Broadcast to many connections: wsfast against websockets and the floor.

``python -m wsfast.bench.fanout [--connections 1000,10000] [--rounds 7]
[--plot PATH] [--json PATH]``; ``--deflate --connections 1000``: the cost of
permessage-deflate in a broadcast, with and without server_no_context_takeover
(the message compressed once per setting, or once per connection).

What is timed: one 100-byte text message to every one of N open loopback
connections, from the moment the server is told to send until the last
client has the whole frame. Three servers, each in a child process of its
own (N server sockets there, N client sockets here: each process stays below
its file-descriptor limit), started one after the other:

* ``wsfast``: ``wsfast.broadcast(server.connections, message)``, compression
  off, compiled kernels (the pure ones where there are none: PyPy);
* ``websockets``: ``websockets.broadcast`` on the same kind of server;
* ``floor``: a plain ``asyncio.Protocol`` server that answers the upgrade
  with a fixed 101 and, to broadcast, writes the same pre-framed ``bytes``
  to each transport: one ``transport.write`` (one ``send`` system call) per
  connection, no WebSocket library at all. Nothing can do less per
  recipient in asyncio; the ratio to it is the figure of merit.

The clients are plain asyncio protocols in this process (no WebSocket
client library: the client side must cost the same for every server): each
sends a fixed upgrade request, waits for the 101, then counts bytes. The
server is told to send through its stdin; the clock runs in this process,
from writing the command to the last client's ``data_received`` -- so the
figure includes the clients' reading, the same for all three.

The rounds are interleaved: for each N, the three servers are up at once,
each driven by a child process of its own that holds its clients (N client
sockets per process stays below the file-descriptor limit), and each round
broadcasts once on each server, in an order that alternates from round to
round. Whatever the machine does at a given moment then falls on all three
alike: measured one server after the other, the floor alone moved by 50%
between runs (79 to 120 ms at 10,000). "× floor" is the median, over the
rounds, of each round's time divided by the floor's in the same round;
medians of the times are reported too, with the spread (min-max).

The same event loop everywhere: asyncio's (uvloop would change the floor and
the libraries alike).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from typing import IO, Any, Dict, List, Optional, Sequence

HOST = "127.0.0.1"
SERVERS = ("wsfast", "websockets", "floor")
MESSAGE = "x" * 100
KEY = base64.b64encode(b"wsfast-fanout-16").decode()
REQUEST = (f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
FRAME_SIZE = 2 + len(MESSAGE)  # unmasked text frame, 7-bit length


# -- the servers (child processes) ---------------------------------------------

def _compiled_if_available() -> str:
    """The back-end wsfast's server uses: the compiled one, measured here;
    where there is none (PyPy, no compiler), the pure one, so that the
    benchmark still runs."""
    from .. import _backend

    return "cython" if _backend.available("cython") else "python"


_BACKEND = _compiled_if_available()

def _accept_value(key: str) -> str:
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


class _FloorProtocol(asyncio.Protocol):
    """The floor: a fixed 101, then nothing but writes of pre-framed bytes."""

    RESPONSE = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {_accept_value(KEY)}\r\n\r\n"
                ).encode()

    def __init__(self, transports: List[Any]) -> None:
        self.transports = transports
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.buffer is None:
            return
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            self.buffer = None  # type: ignore[assignment]
            self.transport.write(self.RESPONSE)
            self.transports.append(self.transport)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if self.transport in self.transports:
            self.transports.remove(self.transport)


async def _server(kind: str) -> None:
    loop = asyncio.get_running_loop()

    async def idle(websocket: Any) -> None:
        await websocket.wait_closed()

    if kind == "wsfast":
        from ..asyncio import broadcast, serve

        server = await serve(idle, HOST, 0, compression=None, ping_interval=None,
                             backlog=4096, backend=_BACKEND)

        def send() -> None:
            broadcast(server.connections, MESSAGE)
    elif kind == "websockets":
        from websockets.asyncio.server import broadcast as ws_broadcast
        from websockets.asyncio.server import serve as ws_serve

        server = await ws_serve(idle, HOST, 0, compression=None, ping_interval=None,
                                backlog=4096)

        def send() -> None:
            ws_broadcast(server.connections, MESSAGE)
    else:
        transports: List[Any] = []
        server = await loop.create_server(lambda: _FloorProtocol(transports), HOST, 0,
                                          backlog=4096)
        frame = bytes([0x81, len(MESSAGE)]) + MESSAGE.encode()

        def send() -> None:
            for transport in transports:
                transport.write(frame)

    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"quit":
            break
        if line.strip() == b"go":
            # The server's own time: the call, and the loop iteration that
            # follows it, where a library may write what it queued.
            start = time.perf_counter()
            send()
            await asyncio.sleep(0)
            print(time.perf_counter() - start, flush=True)
        elif line.strip() == b"rss":
            with open("/proc/self/statm") as statm:
                print(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), flush=True)
    # The clients are gone (aborted): close what is left without waiting for
    # closing handshakes that cannot come.
    server.close()
    await asyncio.wait_for(server.wait_closed(), 5)


def server_main(kind: str) -> int:
    asyncio.run(_server(kind))
    return 0


# -- the clients (this process) ------------------------------------------------

class _Client(asyncio.Protocol):
    __slots__ = ("bench", "transport", "handshake", "received")

    def __init__(self, bench: "_Clients") -> None:
        self.bench = bench
        self.handshake = b""
        self.received = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        if self.handshake is not None:
            self.handshake += data
            end = self.handshake.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.handshake.startswith(b"HTTP/1.1 101"):
                self.bench.errors.append(f"upgrade refused: {self.handshake[:60]!r}")
                return
            data = self.handshake[end + 4:]
            self.handshake = None  # type: ignore[assignment]
            self.bench.opened += 1
            if self.bench.opened == self.bench.count:
                self.bench.all_open.set_result(None)
            if not data:
                return
        self.received += len(data)
        if self.received >= FRAME_SIZE:
            if self.received > FRAME_SIZE:
                self.bench.errors.append(f"received {self.received} bytes, expected {FRAME_SIZE}")
            self.received = 0
            bench = self.bench
            bench.done += 1
            if bench.done == bench.count:
                bench.finished.set_result(time.perf_counter())


class _Clients:
    def __init__(self, count: int) -> None:
        self.count = count
        self.opened = 0
        self.done = 0
        loop = asyncio.get_running_loop()
        self.all_open: "asyncio.Future[None]" = loop.create_future()
        self.finished: "asyncio.Future[float]" = loop.create_future()
        self.protocols: List[_Client] = []
        self.errors: List[str] = []
        self.server_times: List[float] = []

    async def open(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, self.count, 200):  # a few hundred handshakes at a time
            batch = [loop.create_connection(lambda: _Client(self), HOST, port)
                     for _ in range(start, min(start + 200, self.count))]
            for transport, protocol in await asyncio.gather(*batch):
                self.protocols.append(protocol)
        await asyncio.wait_for(self.all_open, 60)

    def close(self) -> None:
        for protocol in self.protocols:
            protocol.transport.abort()


def _pipe(stream: Optional[IO[str]]) -> IO[str]:
    """A pipe of the server process (_start_server opens both)."""
    if stream is None:
        raise RuntimeError("the server process has no pipe")
    return stream


def _start_server(kind: str) -> "subprocess.Popen[str]":
    return subprocess.Popen([sys.executable, "-m", "wsfast.bench.fanout", "--server", kind],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _stop_server(process: "subprocess.Popen[str]") -> None:
    try:
        _pipe(process.stdin).write("quit\n")
        _pipe(process.stdin).close()
        process.wait(10)
    except Exception:  # noqa: BLE001 - the child may be gone already
        process.kill()
        process.wait()


async def _broadcast_once(process: "subprocess.Popen[str]", clients: "_Clients") -> float:
    """Tell the server to broadcast; the time until every client has it."""
    clients.done = 0
    clients.finished = asyncio.get_running_loop().create_future()
    start = time.perf_counter()
    _pipe(process.stdin).write("go\n")
    _pipe(process.stdin).flush()
    end = await asyncio.wait_for(clients.finished, 60)
    if clients.errors:
        raise AssertionError(clients.errors[0])
    clients.server_times.append(float(_pipe(process.stdout).readline()))
    return end - start


async def _drive(kind: str, count: int) -> None:
    """A driver (child process): start a *kind* server, open *count*
    clients to it, print ``ready RSS`` (the server's resident memory per
    connection, in bytes); then for each ``go`` on stdin broadcast once and
    print ``TIME SERVER_TIME`` (seconds), until ``quit``."""
    loop = asyncio.get_running_loop()
    process = _start_server(kind)
    try:
        port = int(_pipe(process.stdout).readline())
        _pipe(process.stdin).write("rss\n")
        _pipe(process.stdin).flush()
        rss_before = int(_pipe(process.stdout).readline())
        clients = _Clients(count)
        await clients.open(port)
        await asyncio.sleep(0.2)  # let the server finish its side of the handshakes
        _pipe(process.stdin).write("rss\n")
        _pipe(process.stdin).flush()
        rss_after = int(await loop.run_in_executor(None, _pipe(process.stdout).readline))
        print("ready", (rss_after - rss_before) / count, flush=True)
        commands = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
        while (await commands.readline()).strip() == b"go":
            took = await _broadcast_once(process, clients)
            print(took, clients.server_times[-1], flush=True)
        clients.close()
        await asyncio.sleep(0.2)  # let the server see them go
    finally:
        _stop_server(process)


def _interleaved(count: int, rounds: int, servers: Sequence[str]) -> List[Dict[str, Any]]:
    """Broadcast to *count* connections on each server, the rounds
    interleaved (see the module docstring); one result per server."""
    drivers: Dict[str, "subprocess.Popen[str]"] = {}
    rss: Dict[str, float] = {}
    times: Dict[str, List[float]] = {kind: [] for kind in servers}
    server_times: Dict[str, List[float]] = {kind: [] for kind in servers}
    try:
        for kind in servers:  # one after the other: opening N connections loads the machine
            print(f"broadcast to {count} connections: {kind}...", file=sys.stderr, flush=True)
            drivers[kind] = process = subprocess.Popen(
                [sys.executable, "-m", "wsfast.bench.fanout", "--driver", kind,
                 "--connections", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True)
            word, per_connection = _pipe(process.stdout).readline().split()
            if word != "ready":
                raise RuntimeError(f"the {kind} driver did not start")
            rss[kind] = float(per_connection)
        for round_ in range(rounds + 1):  # the first one warms up
            for kind in servers if round_ % 2 == 0 else servers[::-1]:
                process = drivers[kind]
                _pipe(process.stdin).write("go\n")
                _pipe(process.stdin).flush()
                line = _pipe(process.stdout).readline()
                if not line:
                    raise RuntimeError(f"the {kind} driver ended")
                took, server_took = (float(field) for field in line.split())
                if round_:
                    times[kind].append(took)
                    server_times[kind].append(server_took)
                time.sleep(0.05)  # the clients are done; let the machine settle
    finally:
        for process in drivers.values():
            _stop_server(process)
    return [{"server": kind, "connections": count,
             "median_ms": statistics.median(times[kind]) * 1e3,
             "min_ms": min(times[kind]) * 1e3, "max_ms": max(times[kind]) * 1e3,
             "server_ms": statistics.median(server_times[kind]) * 1e3,
             "rss_per_connection": rss[kind],
             "rounds_ms": [t * 1e3 for t in times[kind]],
             "server_rounds_ms": [t * 1e3 for t in server_times[kind]]}
            for kind in servers]


def paired_ratio(result: Dict[str, Any], floor: Dict[str, Any], key: str = "rounds_ms") -> float:
    """The median of *result*'s round times each divided by the floor's in
    the same round."""
    return float(statistics.median(mine / theirs for mine, theirs in zip(result[key], floor[key])))


# -- the "fanout" group of python -m wsfast bench ----------------------------------

def _bench(kind: str, count: int) -> Any:
    """A :class:`wsfast.bench.workloads.Bench`: ``run(loops)`` broadcasts
    *loops* times to *count* connections of a *kind* server, each time until
    every client has the message."""
    from .workloads import Bench

    loop = asyncio.new_event_loop()
    process = _start_server(kind)
    port = int(_pipe(process.stdout).readline())
    _pipe(process.stdin).write("rss\n")  # the protocol of _drive: one line back
    _pipe(process.stdin).flush()
    _pipe(process.stdout).readline()
    clients = loop.run_until_complete(_open_clients(count, port))

    async def rounds(loops: int) -> None:
        for _ in range(loops):
            await _broadcast_once(process, clients)

    def check() -> None:
        loop.run_until_complete(_broadcast_once(process, clients))
        if clients.done != count or any(p.received for p in clients.protocols):
            raise AssertionError("not every client got exactly the message")

    def close() -> None:
        clients.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        _stop_server(process)

    return Bench(lambda loops: loop.run_until_complete(rounds(loops)), check=check,
                 close=close, recheck=check)


async def _open_clients(count: int, port: int) -> "_Clients":
    clients = _Clients(count)
    await clients.open(port)
    return clients


def register() -> None:
    """The ``fanout`` group (``python -m wsfast bench --group fanout``): all
    three servers are up at once while the runner interleaves them, so their
    client sockets add up here -- 1,000 and 5,000 connections stay below the
    file-descriptor limit; ``python -m wsfast.bench.fanout`` measures one
    server at a time (10,000 and more)."""
    from . import peers
    from .workloads import Contender, Workload, register_group

    def build(options: Any) -> List[Any]:
        workloads = []
        for count in (1000,) if options.quick else (1000, 5000):
            contenders = [
                Contender("wsfast-cython", functools.partial(_bench, "wsfast", count)),
                Contender("floor", functools.partial(_bench, "floor", count), kind="baseline"),
            ]
            if options.peers:
                available = peers.version("websockets") is not None
                contenders.insert(1, Contender(
                    "websockets", functools.partial(_bench, "websockets", count)
                    if available else None, kind="peer",
                    unavailable=None if available else "websockets is not installed"))
            workloads.append(Workload("fanout", f"broadcast 100 B to {count:,}", None,
                                      contenders, baseline="floor", unit="broadcast",
                                      min_round=0.2))
        return workloads

    register_group("fanout", "broadcast of a 100-byte text to N loopback connections, "
                   "until every client has it (vs plain asyncio writing pre-framed bytes)",
                   build, default=False)


def run(counts: Sequence[int], rounds: int, servers: Sequence[str] = SERVERS) -> List[Dict[str, Any]]:
    results = []
    for count in counts:
        results += _interleaved(count, rounds, servers)
    return results


def table(results: List[Dict[str, Any]]) -> str:
    """× floor: the median of the per-round ratios (paired_ratio)."""
    floor = {r["connections"]: r for r in results if r["server"] == "floor"}
    lines = ["| connections | server | until all have it: median ms | min-max ms | × floor "
             "| server's own time: median ms | × floor | server RSS per idle connection |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        n = r["connections"]
        ratio = paired_ratio(r, floor[n]) if n in floor else float("nan")
        server_ratio = paired_ratio(r, floor[n], "server_rounds_ms") if n in floor \
            else float("nan")
        lines.append(f"| {n:,} | {r['server']} | {r['median_ms']:.1f} | "
                     f"{r['min_ms']:.1f}-{r['max_ms']:.1f} | {ratio:.2f} | "
                     f"{r['server_ms']:.1f} | {server_ratio:.2f} | "
                     f"{r['rss_per_connection'] / 1024:.1f} KiB |")
    return "\n".join(lines)


def plot(results: List[Dict[str, Any]], path: str) -> None:
    """Time against connections: until every client has it, and the
    server's own time, one line per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axes, key, title in ((left, "median_ms", "until every client has it"),
                             (right, "server_ms", "server's own time")):
        for kind in SERVERS:
            points = sorted((r["connections"], r[key]) for r in results if r["server"] == kind)
            if points:
                axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=kind)
        axes.set_xlabel("open connections")
        axes.set_ylabel("ms (median)")
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle("Broadcast of a 100-byte text message, loopback")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


# -- compression: once per setting, or per connection ---------------------------

DEFLATE_REQUEST = REQUEST[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate%s\r\n\r\n"


def _text_message(size: int = 1024) -> str:
    """~*size* bytes of JSON-like text that compresses as chat messages do."""
    import random

    rng = random.Random(20)
    words = ["user", "room", "message", "typing", "online", "lobby", "hello", "status",
             "42", "true", "false", "null", "id", "time", "text", "ok", "reply", "seen"]
    parts: List[str] = []
    while sum(len(part) for part in parts) < size:
        parts.append(f'"{rng.choice(words)}": "{rng.choice(words)} {rng.randrange(10**6)}", ')
    return "{" + "".join(parts)[:size - 2] + "}"


class _RawDeflateClient(asyncio.Protocol):
    """Upgrades with a permessage-deflate offer, then only counts bytes."""

    def __init__(self, request: bytes, opened: List[int]) -> None:
        self.request = request
        self.opened = opened
        self.handshake: Optional[bytes] = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.handshake is not None:
            self.handshake += data
            if b"\r\n\r\n" in self.handshake:
                if b"permessage-deflate" not in self.handshake:
                    raise AssertionError("compression was not negotiated")
                self.handshake = None
                self.opened[0] += 1


async def _deflate_case(count: int, no_context_takeover: bool, rounds: int) -> Dict[str, Any]:
    from ..asyncio import broadcast, serve
    from ..deflate import DeflateSession

    async def idle(websocket: Any) -> None:
        await websocket.wait_closed()

    loop = asyncio.get_running_loop()
    server = await serve(idle, HOST, 0, ping_interval=None, backlog=4096, backend=_BACKEND)
    port = server.sockets[0].getsockname()[1]
    request = DEFLATE_REQUEST % (b"; server_no_context_takeover" if no_context_takeover else b"")
    opened = [0]
    clients = []
    for start in range(0, count, 200):
        batch = [loop.create_connection(lambda: _RawDeflateClient(request, opened), HOST, port)
                 for _ in range(start, min(start + 200, count))]
        clients += [protocol for _, protocol in await asyncio.gather(*batch)]
    while opened[0] < count or len(server.connections) < count:
        await asyncio.sleep(0.02)
    compressed = [0, 0]  # calls, bytes in
    compress = DeflateSession.compress

    def counted(session: Any, data: bytes, fin: bool = True) -> bytes:
        compressed[0] += 1
        compressed[1] += len(data)
        return compress(session, data, fin)

    message = _text_message()
    times: List[float] = []
    cpu: List[float] = []
    DeflateSession.compress = counted  # type: ignore[method-assign,assignment]
    try:
        for _ in range(rounds + 1):  # the first one warms up
            connections = server.connections
            began, began_cpu = time.perf_counter(), time.thread_time()
            broadcast(connections, message)
            times.append(time.perf_counter() - began)
            cpu.append(time.thread_time() - began_cpu)
            await asyncio.sleep(0.05)  # let the clients read
    finally:
        DeflateSession.compress = compress  # type: ignore[method-assign]
        for protocol in clients:
            protocol.transport.abort()
        server.close()
        await server.wait_closed()
    times, cpu = times[1:], cpu[1:]
    return {"cpu_ms": statistics.median(cpu) * 1e3, "connections": count, "server_no_context_takeover": no_context_takeover,
            "message_bytes": len(message.encode()), "median_ms": statistics.median(times) * 1e3,
            "min_ms": min(times) * 1e3, "compress_calls": compressed[0] / (rounds + 1),
            "bytes_compressed": compressed[1] / (rounds + 1)}


def deflate_table(count: int, rounds: int) -> str:
    """Broadcast of a ~1 KiB text to *count* compressed connections, with
    and without server_no_context_takeover: the call's time (where the
    compression happens), wall and CPU (less disturbed by other processes)."""
    lines = ["| receivers negotiated | broadcast call: median ms | min ms | its CPU: median ms "
             "| compress calls | bytes compressed |", "|---|---:|---:|---:|---:|---:|"]
    for nct in (True, False):
        r = asyncio.run(_deflate_case(count, nct, rounds))
        label = "server_no_context_takeover" if nct else "context takeover"
        lines.append(f"| {label} ({r['connections']:,}, {r['message_bytes']} B) | "
                     f"{r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['cpu_ms']:.1f} | "
                     f"{r['compress_calls']:,.0f} | "
                     f"{r['bytes_compressed']:,.0f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsfast.bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--driver", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--connections", default="1000,10000",
                        help="comma-separated numbers of connections (1000,10000)")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated servers to measure ({','.join(SERVERS)})")
    parser.add_argument("--rounds", type=int, default=7, help="timed broadcasts per case (7)")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of time against connections")
    parser.add_argument("--json", metavar="PATH", dest="json_path", help="write the results as JSON")
    parser.add_argument("--deflate", action="store_true",
                        help="instead: a ~1 KiB text to the first number of connections, all "
                        "compressed, with and without server_no_context_takeover (one process)")
    args = parser.parse_args(argv)
    if args.server:
        return server_main(args.server)
    if args.driver:
        asyncio.run(_drive(args.driver, int(args.connections)))
        return 0
    if args.deflate:
        print(deflate_table(int(args.connections.split(",")[0]), args.rounds))
        return 0
    counts = [int(n) for n in args.connections.split(",")]
    results = run(counts, args.rounds, args.servers.split(","))
    print(table(results))
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(results, out, indent=2)
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
