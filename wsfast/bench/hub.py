"""The hub through Redis: messages per second and latency between two processes.

``python -m wsfast.bench.hub`` starts its own redis-server on a free loopback
port (or uses ``--url``) and measures, in one run:

* **floor**: raw redis-py, no hub, no WebSocket. A publisher process awaits
  ``PUBLISH`` for each message; this process is subscribed with redis-py's
  asyncio client and takes each message off the subscription.
* **hub, N members**: a publisher process awaits ``Hub.publish`` (through
  :class:`wsfast.hub.RedisBackend`) for each message; a server process has the
  room joined by N WebSocket connections on loopback, so it receives each
  message from Redis once and broadcasts it to its N members; the members are
  raw asyncio clients in this process, and a message is *delivered* when every
  member has it.
* ``redis-benchmark`` (Debian's redis-tools), if installed, doing ``PUBLISH``
  of the same 100 bytes from one client: Redis' own C client, for reference.

Every message is 100 bytes of ASCII text that starts with the publisher's
``time.monotonic()`` when it called publish: on Linux that clock is the
system's ``CLOCK_MONOTONIC``, the same in every process, so the receiver
measures publish -> delivered without a clock of its own in the path.

*Latency*: one message at a time (the next is published once the previous one
is delivered); median and 99th percentile. *Throughput*: a burst of
``--burst`` messages, from the first publish until the last member has the
last message: once from one task awaiting each publish in turn, once from
``--tasks`` tasks publishing at the same time (handlers of a busy room; the
hub then sends what queued up in one pipeline, raw redis-py on as many pooled
connections).
Both are measured for the hub and the floor in the same run, so their ratio
holds even on a busy machine; the absolute numbers do not.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

SIZE = 100
ROOM = "bench"
RAW_CHANNEL = "wsfast-bench:raw"
HOST = "127.0.0.1"
# A server-to-client text frame of SIZE bytes: FIN + text, unmasked 7-bit length.
HEADER = bytes([0x81, SIZE])
FRAME = len(HEADER) + SIZE


def _message(i: int) -> str:
    """Message *i*: the publish time first, padded to SIZE bytes."""
    return f"{time.monotonic():.9f} {i} ".ljust(SIZE, "x")


def _identity(value: "_Member") -> "_Member":
    return value


def _stamp(payload: bytes) -> float:
    return float(payload[:payload.index(b" ")])


# -- the child processes --------------------------------------------------------

async def _lines() -> "asyncio.StreamReader":
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _say(*words: Any) -> None:
    print(*words, flush=True)


async def _publisher(mode: str, url: str) -> None:
    """Publish on command from stdin: ``one I`` (then say ``sent``),
    ``burst N T`` (N messages from T tasks; then say when it began and
    ended), ``quit``."""
    from redis.asyncio import Redis

    from ..hub import Hub, RedisBackend

    hub = Hub(RedisBackend(url)) if mode == "hub" else None
    client: Any = Redis.from_url(url) if hub is None else None

    async def send(message: str, room: str = ROOM) -> None:
        if hub is not None:
            await hub.publish(room, message)
        else:
            await client.publish(RAW_CHANNEL if room == ROOM else room, message)

    if hub is not None:
        await hub.start()
    await send("warm-up".ljust(SIZE), "nobody")  # connects the command pool
    commands = await _lines()
    _say("ready")
    while True:
        line = (await commands.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        if line[0] == "one":
            await send(_message(int(line[1])))
            _say("sent")
        elif line[0] == "burst":
            count, tasks = int(line[1]), int(line[2])

            async def task(first: int) -> None:
                for i in range(first, count, tasks):
                    await send(_message(i))

            began = time.monotonic()
            await asyncio.gather(*(task(first) for first in range(tasks)))
            _say("burst", began, time.monotonic())
    if hub is not None:
        await hub.close()
    if client is not None:
        await client.aclose()


async def _server(url: str) -> None:
    """A wsfast server whose every connection joins ROOM of a Redis hub; says
    its port, then ``joined`` per member, and its hub's stats at the end."""
    import wsfast

    from ..hub import Hub, RedisBackend

    hub = Hub(RedisBackend(url))

    async def handler(websocket: Any) -> None:
        await hub.join(ROOM, websocket)
        _say("joined")
        try:
            await websocket.wait_closed()
        finally:
            hub.leave_all(websocket)

    commands = await _lines()
    async with hub:
        # No keepalive pings: the members read data frames only, and a
        # burst to 100 of them outlasts the default interval.
        async with wsfast.serve(handler, HOST, 0, compression=None,
                                ping_interval=None) as server:
            _say(server.sockets[0].getsockname()[1])
            while (await commands.readline()).strip() not in (b"quit", b""):
                pass
        stats = hub.stats
        _say(json.dumps({"received": stats.received, "delivered": stats.delivered,
                         "lost": stats.lost, "disconnects": stats.disconnects}))


# -- the receivers in this process ----------------------------------------------

class _Delivery:
    """Counts what has arrived, and when the count reaches a target."""

    def __init__(self, members: int) -> None:
        self.members = members
        self.target = 0
        self.done = 0
        self.stamp = 0.0
        self.future: "Optional[asyncio.Future[float]]" = None

    def expect(self, target: int) -> "asyncio.Future[float]":
        self.target = target
        self.done = 0
        self.future = asyncio.get_running_loop().create_future()
        return self.future

    def member_done(self, stamp: float) -> None:
        self.done += 1
        if self.done == self.members and self.future is not None and not self.future.done():
            self.stamp = stamp
            self.future.set_result(time.monotonic())


class _Member(asyncio.Protocol):
    """A WebSocket client that reads only what the benchmark sends: 100-byte
    text frames, each checked for its header."""

    def __init__(self, delivery: _Delivery, key: bytes) -> None:
        self.delivery = delivery
        self.key = key
        self.buffer = bytearray()
        self.upgraded: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self.count = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"GET / HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
                        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: " + self.key + b"\r\n"
                        b"Sec-WebSocket-Version: 13\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(RuntimeError(f"refused: {bytes(buffer[:60])!r}"))
                return
            del buffer[:end + 4]
            self.upgraded.set_result(None)
        frames = len(buffer) // FRAME
        if not frames:
            return
        last = (frames - 1) * FRAME
        if buffer[0:2] != HEADER or buffer[last:last + 2] != HEADER:
            raise RuntimeError(f"unexpected frame: {bytes(buffer[:16])!r}")
        before = self.count
        self.count += frames
        delivery = self.delivery
        if before < delivery.target <= self.count:
            # The stamp matters for latency, where the target is the last frame.
            delivery.member_done(_stamp(bytes(buffer[last + 2:last + FRAME])))
        del buffer[:frames * FRAME]


# -- one case ---------------------------------------------------------------------

async def _child(*args: str) -> "asyncio.subprocess.Process":
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsfast.bench.hub", *args,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)


async def _read(process: "asyncio.subprocess.Process") -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if not line:
        raise RuntimeError(f"a benchmark process exited ({await process.wait()})")
    return line.decode().strip()


def _tell(process: "asyncio.subprocess.Process", line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line.encode() + b"\n")


async def _finish(process: "asyncio.subprocess.Process") -> None:
    try:
        _tell(process, "quit")
        await asyncio.wait_for(process.wait(), 10)
    except (OSError, asyncio.TimeoutError):
        process.kill()
        await process.wait()


class _Case:
    """One publisher process and its receivers, up until :meth:`close`:
    :meth:`one` times a message publish -> delivered, :meth:`burst` many."""

    name = ""
    members = 0

    def __init__(self, url: str) -> None:
        self.url = url
        self.publisher: "Optional[asyncio.subprocess.Process]" = None
        self.delivery = _Delivery(1)
        self.sent = 0  # messages the receivers have been sent, warm-up included

    def counted(self) -> int:
        """How many messages every receiver has had (when none is behind)."""
        raise NotImplementedError

    async def _start_publisher(self, mode: str) -> None:
        self.publisher = await _child("--role", "publisher", "--mode", mode, "--url", self.url)
        await _read(self.publisher)  # ready
        for _ in range(20):  # connections made, code paths warm
            await self.one()

    async def one(self) -> float:
        """Publish one message; return the seconds until it was delivered."""
        assert self.publisher is not None
        arrived = self.delivery.expect(self.counted() + 1)
        _tell(self.publisher, f"one {self.sent}")
        self.sent += 1
        delivered = await asyncio.wait_for(arrived, 30)
        await _read(self.publisher)  # "sent"
        return delivered - self.delivery.stamp

    async def burst(self, count: int, tasks: int = 1) -> Dict[str, float]:
        """Publish *count* messages from *tasks* tasks, each awaiting its
        publishes in turn; the rates of delivery (until the last is
        delivered) and of publishing."""
        assert self.publisher is not None
        arrived = self.delivery.expect(self.counted() + count)
        _tell(self.publisher, f"burst {count} {tasks}")
        self.sent += count
        last = await asyncio.wait_for(arrived, 120)
        _, began, ended = (await _read(self.publisher)).split()
        return {"msgs_per_s": count / (last - float(began)),
                "published_per_s": count / (float(ended) - float(began))}

    async def close(self) -> None:
        if self.publisher is not None:
            await _finish(self.publisher)
            self.publisher = None


class _FloorCase(_Case):
    """Raw redis-py: PUBLISH in the publisher, SUBSCRIBE in this process."""

    name = "floor: raw redis-py"

    async def open(self) -> None:
        from redis.asyncio import Redis

        self.client = Redis.from_url(self.url)
        self.pubsub = self.client.pubsub()
        await self.pubsub.subscribe(RAW_CHANNEL)
        self.received = 0
        self.listener = asyncio.get_running_loop().create_task(self._listen())
        await self._start_publisher("raw")

    def counted(self) -> int:
        return self.received

    async def _listen(self) -> None:
        delivery = self.delivery
        while True:
            item = await self.pubsub.get_message(timeout=None)
            if item is not None and item["type"] == "message":
                self.received += 1
                if self.received == delivery.target:
                    delivery.member_done(_stamp(item["data"]))

    async def close(self) -> None:
        await super().close()
        self.listener.cancel()
        try:
            await self.listener
        except asyncio.CancelledError:
            pass
        await self.pubsub.aclose()
        await self.client.aclose()


class _HubCase(_Case):
    """Hub.publish in the publisher; a server process whose *members*
    WebSocket connections (from this process) joined the room."""

    def __init__(self, url: str, members: int) -> None:
        super().__init__(url)
        self.members = members
        self.name = f"hub, {members} member{'s' if members != 1 else ''}"
        self.delivery = _Delivery(members)
        self.clients: List[_Member] = []
        self.server: "Optional[asyncio.subprocess.Process]" = None
        self.stats: Dict[str, int] = {}

    async def open(self) -> None:
        self.server = server = await _child("--role", "server", "--url", self.url)
        port = int(await _read(server))
        loop = asyncio.get_running_loop()
        for _ in range(self.members):
            member = _Member(self.delivery, base64.b64encode(os.urandom(16)))
            await loop.create_connection(functools.partial(_identity, member), HOST, port)
            self.clients.append(member)
            await asyncio.wait_for(member.upgraded, 30)
        for _ in range(self.members):
            await _read(server)  # "joined": subscribed, from now on it receives
        await self._start_publisher("hub")

    def counted(self) -> int:
        return self.clients[0].count

    def check(self) -> None:
        """Every member had every message, and the hub lost none."""
        wrong = [c.count for c in self.clients if c.count != self.sent]
        if wrong:
            raise RuntimeError(f"members got {wrong[:5]} messages, expected {self.sent}")

    async def close(self) -> None:
        await super().close()
        for member in self.clients:
            member.transport.close()
        if self.server is not None:
            _tell(self.server, "quit")
            self.stats = json.loads(await _read(self.server))
            await _finish(self.server)
            self.server = None
        if self.stats.get("lost") or self.stats.get("disconnects"):
            raise RuntimeError(f"the hub lost messages or its connection: {self.stats}")


async def _measure(case: _Case, samples: int, burst: int, tasks: int) -> Dict[str, Any]:
    """Latency one message at a time, then the bursts' rates."""
    await case.open()  # type: ignore[attr-defined]
    try:
        latencies = sorted([await case.one() for _ in range(samples)])
        rates = await case.burst(burst)
        concurrent = await case.burst(burst, tasks)
        if isinstance(case, _HubCase):
            case.check()
    finally:
        await case.close()
    return {"case": case.name, "members": case.members,
            "median_us": statistics.median(latencies) * 1e6,
            "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6,
            "tasks": tasks, "tasks_msgs_per_s": concurrent["msgs_per_s"],
            "tasks_published_per_s": concurrent["published_per_s"], **rates}


def _redis_benchmark(port: int, count: int, tasks: int) -> Optional[Dict[str, Any]]:
    """``redis-benchmark`` publishing the same 100 bytes from one client and
    from *tasks* clients, or None if it is not installed."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    found = []
    for clients in (1, tasks):
        output = subprocess.run(
            [binary, "-h", HOST, "-p", str(port), "-c", str(clients), "-n", str(count), "-q",
             "PUBLISH", RAW_CHANNEL, "x" * SIZE],
            capture_output=True, text=True, timeout=120, check=False).stdout
        # "PUBLISH ...: 41493.78 requests per second, p50=0.023 msec" (the last of its \r lines)
        rates = re.findall(r"([\d.]+) requests per second(?:, p50=([\d.]+) msec)?", output)
        if not rates:
            return None
        found.append(rates[-1])
    (rate, p50), (tasks_rate, _) = found
    return {"case": "redis-benchmark (C), PUBLISH", "members": 0, "tasks": tasks,
            "msgs_per_s": float(rate), "published_per_s": float(rate),
            "tasks_msgs_per_s": float(tasks_rate), "tasks_published_per_s": float(tasks_rate),
            "median_us": float(p50) * 1e3 if p50 else float("nan"), "p99_us": float("nan")}


class _RedisProcess:
    """A throw-away redis-server on a free loopback port, nothing persisted."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server), "
                             "or pass --url")
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            self.port = sock.getsockname()[1]
        self.directory = tempfile.mkdtemp(prefix="wsfast-bench-redis-")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly",
             "no", "--dir", self.directory, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def run(members: Sequence[int] = (1, 100), *, samples: int = 300, burst: int = 10000,
        tasks: int = 50, url: Optional[str] = None) -> List[Dict[str, Any]]:
    """Measure the floor, then the hub with each number of *members*."""
    own = _RedisProcess() if url is None else None
    try:
        target = own.url if own is not None else str(url)
        results = []
        print("floor: raw redis-py...", file=sys.stderr, flush=True)
        results.append(asyncio.run(_measure(_FloorCase(target), samples, burst, tasks)))
        for count in members:
            print(f"hub, {count} members...", file=sys.stderr, flush=True)
            results.append(asyncio.run(_measure(_HubCase(target, count), samples, burst, tasks)))
        if own is not None:
            reference = _redis_benchmark(own.port, burst, tasks)
            if reference is not None:
                results.append(reference)
        return results
    finally:
        if own is not None:
            own.stop()


def table(results: List[Dict[str, Any]]) -> str:
    floor = next(r for r in results if r["case"].startswith("floor"))
    tasks = floor["tasks"]
    lines = [(f"| case | 1 task: msg/s | × floor | publishes/s | {tasks} tasks: msg/s | × floor "
              "| publishes/s | latency median µs | p99 µs | × floor |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['case']} | {r['msgs_per_s']:,.0f} | {r['msgs_per_s'] / floor['msgs_per_s']:.2f} "
            f"| {r['published_per_s']:,.0f} | {r['tasks_msgs_per_s']:,.0f} | "
            f"{r['tasks_msgs_per_s'] / floor['tasks_msgs_per_s']:.2f} | "
            f"{r['tasks_published_per_s']:,.0f} | {r['median_us']:.0f} | {r['p99_us']:.0f} | "
            f"{r['median_us'] / floor['median_us']:.2f} |")
    return "\n".join(lines).replace("| nan |", "| - |")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsfast.bench.hub",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--role", choices=("publisher", "server"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("hub", "raw"), default="hub", help=argparse.SUPPRESS)
    parser.add_argument("--url", help="an existing Redis (default: start redis-server on a "
                        "free loopback port)")
    parser.add_argument("--members", default="1,100",
                        help="comma-separated numbers of WebSocket members (1,100)")
    parser.add_argument("--burst", type=int, default=10000,
                        help="messages in the throughput burst (10000)")
    parser.add_argument("--tasks", type=int, default=50,
                        help="publishing tasks in the second burst (50)")
    parser.add_argument("--samples", type=int, default=300,
                        help="messages timed one at a time for latency (300)")
    parser.add_argument("--json", metavar="PATH", dest="json_path", help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.role == "publisher":
        asyncio.run(_publisher(args.mode, args.url))
        return 0
    if args.role == "server":
        asyncio.run(_server(args.url))
        return 0
    results = run([int(n) for n in args.members.split(",")], samples=args.samples,
                  burst=args.burst, tasks=args.tasks, url=args.url)
    print(table(results))
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- the "hub" group of python -m wsfast bench -------------------------------------

def _bench(kind: str, members: int) -> Any:
    """A :class:`wsfast.bench.workloads.Bench` whose ``run(loops)`` sends
    *loops* messages one at a time, each until delivered, through its own
    redis-server: the hub's to *members* WebSocket members, or raw pub/sub."""
    from .workloads import Bench

    loop = asyncio.new_event_loop()
    redis = _RedisProcess()
    case: _Case = _HubCase(redis.url, members) if kind == "hub" else _FloorCase(redis.url)
    try:
        loop.run_until_complete(case.open())  # type: ignore[attr-defined]
    except BaseException:
        redis.stop()
        loop.close()
        raise

    async def rounds(loops: int) -> None:
        for _ in range(loops):
            await case.one()

    def check() -> None:
        loop.run_until_complete(case.one())
        if isinstance(case, _HubCase):
            case.check()

    def close() -> None:
        try:
            loop.run_until_complete(case.close())
        finally:
            loop.close()
            redis.stop()

    return Bench(lambda loops: loop.run_until_complete(rounds(loops)), check=check,
                 close=close, recheck=check)


def register() -> None:
    """The ``hub`` group (``python -m wsfast bench --group hub``): a message
    published in one process until delivered by another, one at a time,
    through Redis -- the hub to its WebSocket members against raw redis-py
    pub/sub. The burst's throughput is measured by ``python -m
    wsfast.bench.hub`` alone: a burst does not fit the runner's rounds."""
    from .workloads import Contender, Workload, register_group

    def build(options: Any) -> List[Any]:
        unavailable = None
        if shutil.which("redis-server") is None:
            unavailable = "redis-server is not installed"
        else:
            try:
                import redis.asyncio  # noqa: F401
            except ImportError:
                unavailable = "redis-py is not installed (pip install 'wsfast[redis]')"
        workloads = []
        for members in (1,) if options.quick else (1, 100):
            contenders = [
                Contender("wsfast-hub", None if unavailable else
                          functools.partial(_bench, "hub", members), unavailable=unavailable),
                Contender("floor", None if unavailable else
                          functools.partial(_bench, "floor", members), kind="baseline",
                          unavailable=unavailable),
            ]
            workloads.append(Workload(
                "hub", f"publish to delivered, {members} member{'s' if members != 1 else ''}",
                SIZE, contenders, baseline="floor", unit="message", min_round=0.2))
        return workloads

    register_group("hub", "a 100-byte message published in one process until delivered in "
                   "another through Redis: the hub to its WebSocket members, against raw "
                   "redis-py pub/sub", build, default=False)
