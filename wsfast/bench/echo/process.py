"""The lifecycle of the echo server processes: starting one (:class:`_Server`:
its own process group, a free port reported on stdout, exit when stdin
closes), the servers of one build of a group (:class:`_Session`) and
:func:`stop_all`, also run at exit."""

from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from .placement import _pin, _unpin, cpu_plan

#: How long a server may take to start and report its port.
START_TIMEOUT = 30.0


class _Server:
    """One server child process."""

    def __init__(self, library: str, loop: str, cpu: Optional[int]) -> None:
        self.library = library
        self.port: Optional[int] = None
        self.stderr = tempfile.TemporaryFile()
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))))  # wsfast/bench/echo/<this file> -> the root
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        command = [sys.executable, "-m", "wsfast.bench.echo", "serve", library, "--loop", loop]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
            start_new_session=True,  # its own process group, killed as a whole
        )

    def wait_port(self, deadline: float) -> int:
        if self.port is not None:
            return self.port
        out = self.process.stdout
        assert out is not None
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([out], [], [], remaining)[0]:
                raise RuntimeError(f"{self.library} echo server did not start in time"
                                   f"{self._tail()}")
            chunk = os.read(out.fileno(), 256)
            if not chunk:
                raise RuntimeError(f"{self.library} echo server exited with "
                                   f"{self.process.wait()}{self._tail()}")
            line += chunk
        self.port = int(line.split()[1])
        return self.port

    def _tail(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip()
        return f": {text.splitlines()[-1]}" if text else ""

    def stop(self) -> None:
        process = self.process
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.close()  # the polite way: the server exits on EOF
                process.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for signum in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, signum)  # the group: anything it spawned too
            except (ProcessLookupError, PermissionError):
                break
            try:
                process.wait(2)
            except subprocess.TimeoutExpired:
                continue
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.stderr.close()


_live: List[_Server] = []


def stop_all() -> None:
    """Stop every echo server still running (also run at exit) and give this
    process back every CPU it had."""
    while _live:
        _live.pop().stop()
    _unpin()


atexit.register(stop_all)


class _Session:
    """The servers of one build of the group: all started at the first use,
    each stopped when the last workload that uses it has closed its client."""

    def __init__(self, loop: str) -> None:
        self.loop = loop
        self.cpus = cpu_plan()
        self.uses: Dict[str, int] = {}
        self.servers: Dict[str, _Server] = {}

    def expect(self, library: str) -> None:
        self.uses[library] = self.uses.get(library, 0) + 1

    def acquire(self, library: str) -> int:
        if library not in self.servers:
            for name, uses in self.uses.items():  # start them all: in parallel
                if uses > 0 and name not in self.servers:
                    server = _Server(name, self.loop, self.cpus[1] if self.cpus else None)
                    self.servers[name] = server
                    _live.append(server)
        port = self.servers[library].wait_port(time.monotonic() + START_TIMEOUT)
        if self.cpus:
            _pin(self.cpus[0])  # after the servers' start-up, which may use every CPU
        return port

    def release(self, library: str) -> None:
        self.uses[library] -= 1
        server = self.servers.get(library)
        if self.uses[library] <= 0 and server is not None:
            del self.servers[library]
            if server in _live:
                _live.remove(server)
            server.stop()
            if not self.servers:
                _unpin()
