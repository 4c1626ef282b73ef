"""``python -m wsfast serve module:handler --workers N``: real processes
sharing a port through SO_REUSEPORT, a dead worker started again, a clean
shutdown on SIGTERM and SIGINT (1001 to every client, exit status 0)."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

import wsfast
from helpers import run
from wsfast.exceptions import WebSocketException
from services import free_port, wait_for_port

HERE = pathlib.Path(__file__).parent


async def pid_handler(websocket):
    """The handler the workers run: tells which process serves the connection."""
    await websocket.send(str(os.getpid()))
    async for message in websocket:
        await websocket.send(message)


async def policy_handler(websocket):
    """Tells the worker's broadcast policy, as its settings."""
    policy = websocket.server.broadcast_policy
    await websocket.send(json.dumps(None if policy is None else policy.settings()))


def start(workers: int, *options: str, handler: str = "test_workers:pid_handler") -> tuple:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "wsfast", "serve", handler,
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--close-timeout", "2", *options],
        cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_port(port, process=process)
    return process, port


def stop(process: subprocess.Popen) -> str:
    """Stop the supervisor the way it is meant to be (its workers stop with
    it), killing it only if that fails."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.communicate()[1]


async def worker_pids(port: int, wanted: int, timeout: float = 30.0) -> set:
    """Connect until *wanted* distinct workers have answered (the kernel picks
    a worker by a hash of the client's port, so new connections spread).
    Bounded by time, not attempts: a worker being started again may take
    seconds to import and listen on a loaded machine."""
    pids = set()
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            async with wsfast.connect(f"ws://127.0.0.1:{port}/") as client:
                pids.add(int(await asyncio.wait_for(client.recv(), 5)))
        except (OSError, asyncio.TimeoutError, WebSocketException):
            pass  # a worker dying or starting again: try again
        if len(pids) >= wanted:
            return pids
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(pids)} of {wanted} workers answered in {timeout} s")


class TestWorkers:
    def test_workers_share_the_port_and_a_dead_one_is_started_again(self):
        process, port = start(2)
        stderr = ""
        try:
            async def main():
                pids = await worker_pids(port, 2)
                assert process.pid not in pids
                async with wsfast.connect(f"ws://127.0.0.1:{port}/") as client:
                    await client.recv()
                    await client.send("ping")
                    assert await client.recv() == "ping"
                victim = min(pids)
                os.kill(victim, signal.SIGKILL)
                # Two live workers again, one of them new (the victim's
                # socket is gone with it: only live workers answer).
                survivors = await worker_pids(port, 2)
                assert victim not in survivors
                return pids, survivors

            before, after = run(main(), timeout=60)
            assert len(after) == 2 and len(before & after) == 1
        finally:
            stderr = stop(process)
        assert "restarting it" in stderr

    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
    def test_signal_closes_every_connection_with_1001_and_exits_0(self, signum):
        process, port = start(2)
        try:
            async def main():
                await worker_pids(port, 2)
                clients = []
                seen = set()
                # Open connections held on both workers.
                for _ in range(200):
                    client = await wsfast.connect(f"ws://127.0.0.1:{port}/")
                    pid = int(await client.recv())
                    if pid in seen:
                        await client.close()
                        continue
                    seen.add(pid)
                    clients.append(client)
                    if len(clients) == 2:
                        break
                assert len(clients) == 2
                process.send_signal(signum)
                codes = []
                for client in clients:
                    await asyncio.wait_for(client.wait_closed(), 10)
                    codes.append(client.close_code)
                return codes

            assert run(main()) == [1001, 1001]
            assert process.wait(15) == 0
        finally:
            stop(process)

    def test_broadcast_policy_options_reach_every_worker(self):
        process, port = start(2, "--broadcast-policy", "close", "--broadcast-limit", "4096",
                              "--broadcast-close-code", "1013",
                              handler="test_workers:policy_handler")
        try:
            async def main():
                answers = []
                for _ in range(6):  # new connections spread over the workers
                    async with wsfast.connect(f"ws://127.0.0.1:{port}/") as client:
                        answers.append(json.loads(await client.recv()))
                return answers

            expected = {"action": "close", "limit": 4096, "timeout": 1.0, "close_code": 1013}
            assert run(main()) == [expected] * 6
        finally:
            stop(process)

    def test_broadcast_options_are_checked_before_starting(self):
        for options, message in (
                (["--broadcast-limit", "10"], "--broadcast-limit needs --broadcast-policy"),
                (["--broadcast-policy", "skip", "--broadcast-limit", "-1"], "limit must be >= 0")):
            result = subprocess.run(
                [sys.executable, "-m", "wsfast", "serve", "test_workers:pid_handler",
                 "--port", str(free_port()), *options],
                cwd=HERE, capture_output=True, text=True, timeout=60)
            assert result.returncode == 2
            assert message in result.stderr

    def test_unknown_serve_option_is_refused(self):
        from wsfast.workers import run_workers

        with pytest.raises(TypeError):
            run_workers("test_workers:pid_handler", "127.0.0.1", free_port(), workers=1,
                        no_such_option=1)
        with pytest.raises(ValueError):
            run_workers("test_workers:pid_handler", "127.0.0.1", 0, workers=1)
        with pytest.raises(ValueError):
            run_workers("test_workers:pid_handler", "127.0.0.1", free_port(), workers=0)

    def test_echo_command_still_runs(self):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "wsfast", "echo", "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_port(port, process=process)

            async def main():
                async with wsfast.connect(f"ws://127.0.0.1:{port}/") as client:
                    await client.send("hello")
                    return await client.recv()

            assert run(main()) == "hello"
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
        finally:
            stop(process)
