"""The shipped examples run unchanged (only the port is swapped, so that the
test does not depend on 8765 being free)."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def start(name: str, port: int, *args: str) -> subprocess.Popen:
    source = (EXAMPLES / name).read_text().replace("8765", str(port))
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    return subprocess.Popen([sys.executable, "-c", source, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.communicate()}")
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


@pytest.mark.parametrize("server,client,args,expected", [
    ("hello_server_legacy.py", "hello_client_legacy.py", ("Ada",), "<<< Hello Ada!"),
    ("echo_server.py", "echo_client.py", (), "Hello world!"),
])
def test_server_and_client_examples(server, client, args, expected):
    port = free_port()
    server_process = start(server, port)
    try:
        wait_for_port(port, server_process)
        result = start(client, port, *args)
        out, err = result.communicate(timeout=30)
        assert result.returncode == 0, err
        assert expected in out.splitlines()
    finally:
        server_process.kill()
        server_process.communicate()
