"""The ``sync`` group: threading clients against one echo server.

``python -m wsfast bench --group sync``. Every contender talks to the *same*
server -- wsfast's asyncio echo server (compiled kernels, compression off, no
pings) in a child process, placed as the ``echo`` group places its servers
(:mod:`wsfast.bench.echo`) -- so the differences are the clients':

* ``wsfast-sync-cython`` / ``wsfast-sync-python``: :mod:`wsfast.sync.client`;
* ``websockets-sync``: ``websockets.sync.client`` (the baseline);
* ``floor``: a raw blocking socket that writes pre-framed, pre-masked frames
  and reads the echo's bytes back -- no WebSocket code at all, what any
  client pays for the system calls and the server.

Workloads: *round trip* (send one message, wait for its echo) at 32 B text
and 64 KiB binary; *pipelined* (send a batch, then receive the batch) at 32 B
text (batches of 100) and 64 KiB binary (batches of 4, 256 KiB in flight:
below the loopback socket buffers, so no client can deadlock on its own
unread echoes). What a client adds is its time per message minus the
floor's: the issue's target is wsfast's addition at most a third of
websockets' on 32 B round trips, and pipelined 32 B at least 3x websockets.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
from typing import Any, Callable, List, Optional, Sequence

from .echo.placement import HOST, MAX_SIZE, loop_name
from .echo.process import _Session
from .targets import TARGETS, Target
from .workloads import Bench, CheckFailed, Contender, KiB, Options, Workload, register_group

__all__ = ["register", "CONTENDERS"]

CONTENDERS = ("wsfast-sync-cython", "wsfast-sync-python", "websockets-sync", "floor")
SERVER = "wsfast-cython"  # the one echo server every contender uses

#: (name, size, text?, messages per batch, batches per loop)
PIPELINED = (("pipelined text", 32, True, 100, 1), ("pipelined binary", 64 * KiB, False, 4, 1))
#: (name, size, text?, round trips per loop)
ROUND_TRIPS = (("round trip", 32, True, 20), ("round trip binary", 64 * KiB, False, 2))

ROUND_S, QUICK_ROUND_S = 0.15, 0.05
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MASK = b"\x12\x34\x56\x78"


def _payloads(text: bool, size: int, count: int) -> List[Any]:
    if text:
        return [(f"echo {i:06d} " + "x" * size)[:size] for i in range(count)]
    from .workloads import random_bytes

    pool = random_bytes(size + count, seed=13)
    return [pool[i:i + size] for i in range(count)]


# -- clients: open(port) -> object with send(message), recv(), close() ----------

class _WsfastClient:
    def __init__(self, port: int, backend: str) -> None:
        from ..sync.client import connect

        self.ws = connect(f"ws://{HOST}:{port}/", compression=None, ping_interval=None,
                          max_size=MAX_SIZE, backend=backend)
        self.send = self.ws.send
        self.recv = self.ws.recv

    def close(self) -> None:
        self.ws.close()


class _WebsocketsClient:
    def __init__(self, port: int) -> None:
        from websockets.sync.client import connect

        self.ws = connect(f"ws://{HOST}:{port}/", compression=None, ping_interval=None,
                          max_size=MAX_SIZE)
        self.send = self.ws.send
        self.recv = self.ws.recv

    def close(self) -> None:
        self.ws.close()


def _frame(payload: bytes, opcode: int, key: Optional[bytes]) -> bytes:
    """One frame, encoded here (independent of the code measured)."""
    n = len(payload)
    bit = 0x80 if key is not None else 0
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, bit | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, bit | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, bit | 127, n)
    if key is None:
        return header + payload
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little") if n else b""
    return header + key + masked


class _FloorClient:
    """A raw blocking socket: the opening handshake by hand, then pre-built
    frames out and the echo's exact bytes in (no parsing, no masking)."""

    def __init__(self, port: int) -> None:
        sock = socket.create_connection((HOST, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n" % (HOST.encode(), port, key))
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                raise CheckFailed("the server closed during the handshake")
            response += chunk
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        if not response.startswith(b"HTTP/1.1 101") or accept not in response:
            raise CheckFailed("bad handshake response")
        if response.index(b"\r\n\r\n") + 4 != len(response):
            raise CheckFailed("unexpected bytes after the handshake")
        self.sock = sock

    def prepare(self, payloads: Sequence[Any]) -> None:
        """Frame *payloads* in advance: the sends, and the echoes expected."""
        self.out = []
        self.echo = []
        for p in payloads:
            data, opcode = (p.encode(), 1) if isinstance(p, str) else (p, 2)
            self.out.append(_frame(data, opcode, _MASK))
            self.echo.append(_frame(data, opcode, None))
        self.buffer = bytearray(max(len(e) for e in self.echo) * len(payloads))
        self.view = memoryview(self.buffer)

    def exchange(self, first: int, count: int) -> memoryview:
        """Send frames first..first+count-1 in one write, read their echoes."""
        sock = self.sock
        if count == 1:
            sock.sendall(self.out[first])
            want = len(self.echo[first])
        else:
            sock.sendall(b"".join(self.out[first:first + count]))
            want = sum(len(e) for e in self.echo[first:first + count])
        got = 0
        view = self.view
        while got < want:
            n = sock.recv_into(view[got:want])
            if not n:
                raise CheckFailed("the server closed the connection")
            got += n
        return view[:want]

    def close(self) -> None:
        try:
            self.sock.sendall(_frame(b"\x03\xe8", 8, _MASK))
        finally:
            self.sock.close()


def _open(library: str, port: int) -> Any:
    if library == "websockets-sync":
        return _WebsocketsClient(port)
    if library == "floor":
        return _FloorClient(port)
    return _WsfastClient(port, library.rsplit("-", 1)[1])


def _unavailable(library: str) -> Optional[str]:
    try:
        if library == "websockets-sync":
            import websockets.sync.client  # noqa: F401
        elif library.startswith("wsfast-sync-"):
            from .. import _backend

            _backend.get(library.rsplit("-", 1)[1])
    except ImportError as exc:
        return f"unavailable: {exc}"
    return None


def _maker(session: _Session, payloads: Sequence[Any], batch: int,
           units: int) -> Callable[[str], Callable[[], Bench]]:
    """One workload's bench factory for each library (bound now, not when
    the loop that builds the workloads has moved on)."""
    return lambda library: (lambda: _make(session, library, payloads, batch, units))


def _make(session: _Session, library: str, payloads: Sequence[Any], batch: int,
          units: int) -> Bench:
    """A bench doing ``units`` messages per loop, in batches of *batch*
    (1: round trips)."""
    port = session.acquire(SERVER)
    try:
        client = _open(library, port)
    except BaseException:
        session.release(SERVER)
        raise
    count = len(payloads)
    state = {"next": 0}

    if library == "floor":
        client.prepare(payloads)

        def run_messages(n: int, collect: Optional[List[Any]]) -> Any:
            i = state["next"]
            last = None
            for _ in range(n // batch):
                last = client.exchange(i, batch)
                if collect is not None:
                    collect.append(bytes(last))
                i = (i + batch) % count
            state["next"] = i
            return None if last is None else bytes(last[-len(client.echo[(i - 1) % count]):])

        def check_floor(got: List[Any], first: int) -> None:
            for k, data in enumerate(got):
                start = (first + k * batch) % count
                want = b"".join(client.echo[start:start + batch])
                if data != want:
                    raise CheckFailed(f"floor: echo {k} differs")

        def full_check() -> None:
            got: List[Any] = []
            first = state["next"]
            run_messages(batch * 4, got)
            check_floor(got, first)

        def run(loops: int) -> None:
            last = run_messages(loops * units, None)
            i = state["next"]
            if last != client.echo[(i - 1) % count]:
                raise CheckFailed("floor: last echo differs")
    else:
        send = client.send
        recv = client.recv

        def run_messages(n: int, collect: Optional[List[Any]]) -> Any:
            i = state["next"]
            last = None
            for _ in range(n // batch):
                for k in range(batch):
                    send(payloads[(i + k) % count])
                for k in range(batch):
                    last = recv()
                    if collect is not None:
                        collect.append((last, payloads[(i + k) % count]))
                i = (i + batch) % count
            state["next"] = i
            return last

        def full_check() -> None:
            got: List[Any] = []
            run_messages(batch * 4, got)
            for k, (echo, sent) in enumerate(got):
                if type(echo) is not type(sent) or echo != sent:
                    raise CheckFailed(f"{library}: echo {k} differs from what was sent")

        def run(loops: int) -> None:
            last = run_messages(loops * units, None)
            want = payloads[(state["next"] - 1) % count]
            if type(last) is not type(want) or last != want:
                raise CheckFailed(f"{library}: last echo differs")

    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        try:
            client.close()
        except Exception:  # noqa: BLE001 - the server goes anyway
            pass
        finally:
            session.release(SERVER)

    return Bench(run, full_check, close, recheck=full_check)


def _workloads(options: Options) -> List[Workload]:
    session = _Session(loop_name())
    libraries = [lib for lib in CONTENDERS
                 if not (options.quick and lib == "wsfast-sync-python")]
    if not options.peers:
        libraries = [lib for lib in libraries if lib != "websockets-sync"]
    reasons = {lib: _unavailable(lib) for lib in libraries}
    round_s = QUICK_ROUND_S if options.quick else ROUND_S
    workloads = []

    def contenders(make: Callable[[str], Callable[[], Bench]]) -> List[Contender]:
        result = []
        for lib in libraries:
            kind = ("wsfast" if lib.startswith("wsfast-") else
                    "baseline" if lib == "floor" else "peer")
            if reasons[lib] is None:
                session.expect(SERVER)
                result.append(Contender(lib, make(lib), kind=kind))
            else:
                result.append(Contender(lib, None, kind=kind, unavailable=reasons[lib]))
        return result

    for name, size, text, per_loop in ROUND_TRIPS:
        payloads = _payloads(text, size, 100)
        workloads.append(Workload(
            "sync", name, size,
            contenders(_maker(session, payloads, 1, per_loop)),
            baseline="websockets-sync", unit="round trip", units=per_loop, batch=10,
            min_round=round_s))
    for name, size, text, batch, per_loop in PIPELINED:
        payloads = _payloads(text, size, batch * 10)
        workloads.append(Workload(
            "sync", name, size,
            contenders(_maker(session, payloads, batch, batch * per_loop)),
            baseline="websockets-sync", unit="message", units=batch * per_loop, batch=4,
            min_round=round_s))
    return workloads


def register() -> None:
    """Add the ``sync`` group (run when named: ``--group sync``) and its
    pipelined target; the round-trip target is about time *beyond the floor*
    (a difference, not a ratio), which the report states in words."""
    register_group("sync", "threading clients (wsfast.sync, websockets.sync, a raw-socket "
                   "floor) against one wsfast asyncio echo server in another process; "
                   "time/base = vs websockets.sync", _workloads, default=False)
    TARGETS.append(Target("sync pipelined 32 B text >= 3x websockets.sync",
                          "sync/pipelined text/32", "wsfast-sync-cython", "websockets-sync", 3.0))
