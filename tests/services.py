"""Real services for the fan-out tests: a redis-server and free ports.

The tests run against Debian's redis-server on loopback, started here on a
free port with nothing persisted, and stopped afterwards;
``scripts/ci-services.sh`` installs it (the README's test command runs it).
A missing binary fails the test that needs it: it is not skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Optional

import pytest


def service_env() -> dict:
    """The environment for third-party programs (redis-server, chromium):
    without the sanitizer runtime that scripts/sanitize.sh preloads into
    the suite -- it checks wsfast's kernels, not other people's binaries,
    whose reports would fail the run."""
    return {name: value for name, value in os.environ.items()
            if name not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, process: Optional[subprocess.Popen] = None) -> None:
    """Return once something accepts TCP connections on 127.0.0.1:*port*."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {timeout} s") from None
            time.sleep(0.02)


class RedisServer:
    """A redis-server process on 127.0.0.1, which a test may stop and restart
    (on the same port, so that clients reconnect to it)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run scripts/ci-services.sh "
                        "(apt-get install -y redis-server)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=service_env())
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # SIGKILL ends a stopped process too
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        """Stop the process (SIGSTOP) without closing anything: its kernel
        keeps the connections open and even accepts new ones, but nothing
        answers -- a hung Redis, or one behind a network blackhole."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def command(self, *args: str) -> bytes:
        """Send one command in plain RESP and return the first line of the
        reply: the tests' side channel, independent of the client under test."""
        request = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(request)
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += sock.recv(65536)
            return reply
