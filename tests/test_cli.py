"""``python -m wsfast``: the help and the echo server, run as a user runs them."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import re
import signal
import subprocess
import sys
from typing import Tuple

import pytest

import wsfast
from helpers import run
from wsfast.connection import ClientConnection
from wsfast.errors import ConnectionClosedError


def wsfast_cli(*args: str, code: str = "") -> subprocess.Popen:
    """``python -m wsfast ARGS``; ``code`` runs first in the same process."""
    source = f"{code}\nimport sys\nfrom wsfast.__main__ import main\nsys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", source, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def listening_port(process: subprocess.Popen) -> Tuple[int, str]:
    """The port from the echo server's start-up line on stderr, and the
    stderr up to it (warnings come first)."""
    lines = []
    while not lines or "Ctrl-C to stop" not in lines[-1]:
        line = process.stderr.readline()
        assert line, (lines, process.poll())
        lines.append(line)
    match = re.search(r"on \('[^']*', (\d+)\)", lines[-1])
    assert match, lines
    return int(match.group(1)), "".join(lines)


@contextlib.contextmanager
def echo_server(*args: str, code: str = ""):
    """``python -m wsfast echo`` on a free port: yields the process, the port
    and the stderr printed up to the start-up line; kills it if left running."""
    process = wsfast_cli("echo", "--host", "127.0.0.1", "--port", "0", *args, code=code)
    try:
        port, startup = listening_port(process)
        yield process, port, startup
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def stop(process: subprocess.Popen, signum: int) -> str:
    """Signal the server; it must exit with status 0. Returns the rest of stderr."""
    process.send_signal(signum)
    return exited(process)


def exited(process: subprocess.Popen) -> str:
    """Wait for the server to exit, with status 0. Returns the rest of stderr."""
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


def test_help_documents_both_commands():
    result = subprocess.run([sys.executable, "-m", "wsfast", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "echo" in result.stdout and "bench" in result.stdout


def test_echo_help_documents_its_options():
    result = subprocess.run([sys.executable, "-m", "wsfast", "echo", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--host", "--port", "--max-size", "--compression", "--no-compression"):
        assert option in result.stdout


def test_without_a_command_prints_help_and_fails():
    result = subprocess.run([sys.executable, "-m", "wsfast"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "echo" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("compression", [True, False])
def test_echo_server_serves_until_a_signal_then_closes_with_1001(backend, signum, compression):
    flag = "--compression" if compression else "--no-compression"
    with echo_server("--max-size", "1000", "--backend", backend.name, flag, "-v") as (
            server, port, _):

        async def main():
            uri = f"ws://127.0.0.1:{port}/chat"
            async with wsfast.connect(uri, backend=backend.name) as ws:
                extensions = ws.response_headers.get("Sec-WebSocket-Extensions")
                assert (extensions is not None) == compression
                for message in ["hello", b"\x00\xff" * 500]:  # 1000 bytes: the limit
                    await ws.send(message)
                    assert await ws.recv() == message
            async with wsfast.connect(uri, backend=backend.name) as ws:
                await ws.send(b"x" * 1001)
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
                assert ws.close_code == 1009
            ws = await wsfast.connect(uri, backend=backend.name)
            await ws.send("still open")
            assert await ws.recv() == "still open"
            server.send_signal(signum)
            await ws.wait_closed()
            assert ws.close_code == 1001

        run(main())
        err = exited(server)
    assert err.count("connection open: /chat") == 3  # -v logs every connection
    # the close frames sent and received: normal closure, too big (after
    # failing a connection the server does not wait for the answer), shutdown
    for pattern in (r"sent: 1000, received: 1000\n", r"sent: 1009 '[^']+', received: none\n",
                    r"sent: 1001, received: 1001\n"):
        assert re.search("connection closed; close frame " + pattern, err), err


def test_uvloop_option_falls_back_when_uvloop_is_missing():
    # sys.modules["uvloop"] = None makes "import uvloop" raise ImportError
    with echo_server("--uvloop", code="import sys; sys.modules['uvloop'] = None") as (
            server, port, startup):

        async def main():
            async with wsfast.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("on asyncio's loop")
                assert await ws.recv() == "on asyncio's loop"

        run(main())
        stop(server, signal.SIGINT)
    assert "uvloop is not installed" in startup


def test_uvloop_option_runs_on_uvloop():
    if platform.python_implementation() != "CPython":
        pytest.skip("uvloop is a test extra on CPython only")
    import uvloop  # on CPython a missing test extra fails here rather than skipping
    code = ("import asyncio, sys\n"
            "import wsfast.asyncio.server as s\n"
            "original = s.serve._start\n"
            "async def start(self):\n"
            "    print('loop:', type(asyncio.get_running_loop()).__module__, file=sys.stderr)\n"
            "    return await original(self)\n"
            "s.serve._start = start")
    with echo_server("--uvloop", code=code) as (server, _, startup):
        stop(server, signal.SIGINT)
    assert f"loop: {uvloop.Loop.__module__}\n" in startup


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_does_not_wait_for_the_closing_handshakes(signum):
    with echo_server("--close-timeout", "60") as (server, port, _):

        async def main():
            # a client that completes the handshake, then never reads: the
            # server's 1001 close frame will not be answered for 60 s
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            client = ClientConnection(f"ws://127.0.0.1:{port}/")
            client.send_request(client.connect())
            writer.writelines(client.data_to_send())
            await reader.readuntil(b"\r\n\r\n")
            loop = asyncio.get_running_loop()
            server.send_signal(signum)
            await asyncio.sleep(0.5)
            assert server.poll() is None  # waiting for the closing handshake
            started = loop.time()
            server.send_signal(signum)
            while server.poll() is None and loop.time() - started < 10:
                await asyncio.sleep(0.05)
            assert server.poll() == 0
            writer.close()

        run(main())
