"""Hostile peers: what one peer can make a wsfast endpoint allocate.

Each attack runs against a wsfast endpoint in a process of its own
(tests/memory_probe.py), both roles and both back-ends, and asserts a bound
on that process's peak resident set size measured from just before the
attack to just after it was processed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import struct
import subprocess
import sys
from typing import Callable, Iterator, Tuple

import pytest

from conftest import PURE_ONLY
from helpers import open_pair, transfer
from wsfast.defaults import READ_BUFFER_SIZE
from wsfast.events import Pong

PROBE = os.path.join(os.path.dirname(__file__), "memory_probe.py")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MiB = 2**20

#: The probe's write_limit (the transport's high-water mark).
WRITE_LIMIT = 64 * 1024


def frame(opcode: int, payload: bytes, masked: bool) -> bytes:
    """One final frame; masked with the key 00 00 00 00 (payload unchanged)."""
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, mask_bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, n)
    return head + (b"\0\0\0\0" if masked else b"") + payload


class Attack:
    """A raw-socket peer of a probe: it never reads what the probe sends."""

    def __init__(self, sock: socket.socket, process: subprocess.Popen, masked: bool) -> None:
        self.sock = sock
        self.process = process
        self.masked = masked

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ask(self, command: str) -> Tuple[int, ...]:
        """Send a command as a text message; the numbers the probe answers."""
        self.send(frame(0x1, command.encode(), self.masked))
        line = self.process.stdout.readline().split()
        assert line and line[0] == command.upper(), (line, self.process.poll())
        return tuple(int(word) for word in line[1:])

    def flood(self, flood: Callable[[float], Iterator[bytes]]) -> Tuple[int, int]:
        """Send flood(0.25), then flood(1.0): return how much higher the
        probe's peak resident set is after the second than after the first,
        and what its transport's write buffer holds after the second.

        The first quarter pays once for what any flood costs (the parser's
        objects for one full read buffer, the write buffer up to its bound):
        what a bound must stop is growth with the length of the attack."""
        self.ask("mark")
        for chunk in flood(0.25):
            self.send(chunk)
        peak_before, _ = self.ask("peak")
        for chunk in flood(1.0):
            self.send(chunk)
        peak_after, buffered = self.ask("peak")
        return peak_after - peak_before, buffered


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


@contextlib.contextmanager
def attack(role: str, backend: str) -> Iterator[Attack]:
    """A connected attacker: the probe plays *role*, the attacker the other side."""
    args = [sys.executable, PROBE, role, backend, "--write-limit", str(WRITE_LIMIT)]
    with contextlib.ExitStack() as stack:
        if role == "server":
            process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
            stack.callback(process.kill)
            port = int(process.stdout.readline().split()[1])
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            key = base64.b64encode(os.urandom(16))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
            assert _read_head(sock).startswith(b"HTTP/1.1 101 ")
        else:
            listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
            port = listener.getsockname()[1]
            process = subprocess.Popen(args + ["--port", str(port)], stdout=subprocess.PIPE,
                                       text=True)
            stack.callback(process.kill)
            listener.settimeout(30)
            sock = stack.enter_context(listener.accept()[0])
            request = _read_head(sock).decode("latin-1")
            key = next(line.split(":", 1)[1].strip() for line in request.split("\r\n")
                       if line.lower().startswith("sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        sock.settimeout(60)
        yield Attack(sock, process, masked=role == "server")


def floods(masked: bool, payload: bytes, total: int, chunk: int = MiB) -> Iterator[bytes]:
    ping = frame(0x9, payload, masked)
    block = ping * (chunk // len(ping))
    for _ in range(total // len(block)):
        yield block


ROLES = ["server", "client"]
BACKENDS = [pytest.param("cython", marks=pytest.mark.skipif(PURE_ONLY, reason="pure Python only")),
            "python"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("role", ROLES)
class TestPingFlood:
    """A peer that sends pings and never reads (RFC 6455 §5.5.3: the endpoint
    may answer only the latest of several unanswered pings).

    While the transport's write buffer is above its high-water mark, the
    connection owes at most one pong; before that, one read's pings may be
    answered in full. So the write buffer holds at most the high-water mark
    plus the pongs of one read buffer of pings (a client's masked pong of an
    empty ping is 6 bytes for the ping's 2: three times the read buffer), and
    the process's memory does not grow with the number of pings."""

    BUFFER_BOUND = WRITE_LIMIT + 3 * READ_BUFFER_SIZE
    MEMORY_BOUND = 2 * WRITE_LIMIT + 3 * READ_BUFFER_SIZE + MiB

    @pytest.mark.parametrize("payload", [b"", b"p" * 125], ids=["empty", "125B"])
    def test_ping_flood_from_a_peer_that_never_reads_is_bounded(self, role, backend, payload):
        # Large enough that one pong per ping breaks a bound (checked with
        # the rule removed): 125-byte pings the memory bound and the buffer's,
        # empty pings the buffer's, once their pongs are more than the
        # kernel's socket buffers hold (2-byte pongs of 6-byte server pings).
        if payload:
            total = 32 * MiB
        elif backend == "cython":
            total = 16 * MiB
        else:
            total = (12 if role == "server" else 4) * MiB
        with attack(role, backend) as peer:
            growth, buffered = peer.flood(
                lambda share: floods(peer.masked, payload, int(total * share)))
        assert buffered <= self.BUFFER_BOUND, f"{buffered} bytes buffered"
        assert growth <= self.MEMORY_BOUND, f"peak +{growth / MiB:.1f} MiB over {total // MiB} MiB"


class TestPongsWhileWritingIsPaused:
    """The sans-I/O rule behind the bound (Connection.set_writing_paused)."""

    def pings(self, client, server, *payloads):
        for payload in payloads:
            client.send_ping(payload)
        transfer(client, server)

    def pongs(self, server, client):
        return [e.data for e in transfer(server, client) if type(e) is Pong]

    def test_every_ping_is_answered_while_writing_flows(self, backend):
        client, server = open_pair(backend.name)
        self.pings(client, server, b"1", b"2", b"3")
        assert self.pongs(server, client) == [b"1", b"2", b"3"]

    def test_only_the_latest_ping_is_answered_once_writing_resumes(self, backend):
        # RFC 6455 §5.5.3: "MAY elect to send a Pong frame for only the most
        # recently processed Ping frame"
        client, server = open_pair(backend.name)
        server.set_writing_paused(True)
        self.pings(client, server, b"1", b"2", b"3")
        assert self.pongs(server, client) == []
        server.set_writing_paused(False)
        assert self.pongs(server, client) == [b"3"]
        server.set_writing_paused(False)  # nothing is owed any more
        assert self.pongs(server, client) == []

    def test_no_pong_after_our_close_frame(self, backend):
        client, server = open_pair(backend.name)
        server.set_writing_paused(True)
        self.pings(client, server, b"late")
        server.send_close(1001)
        server.set_writing_paused(False)
        assert self.pongs(server, client) == []
