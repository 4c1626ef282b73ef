"""examples/chat: the page in two tabs of a real headless Chromium (Debian's
package), driven through the Chrome DevTools protocol over wsfast's own
client, served by two worker processes whose rooms go through a real
redis-server; and the one-process variant with the in-process hub."""

from __future__ import annotations

import asyncio
import itertools
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from urllib.parse import quote

import pytest

import wsfast
from helpers import run
from services import RedisServer, free_port, service_env, wait_for_port

CHAT = pathlib.Path(__file__).resolve().parent.parent / "examples" / "chat" / "server.py"


def start_chat(*options: str) -> tuple:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(CHAT), "--host", "127.0.0.1",
                                "--port", str(port), *options],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_port(port, process=process)
    return process, port


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.communicate()[1]


class Browser:
    """Headless Chromium with its DevTools endpoint on a loopback port."""

    def __init__(self) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.fail("chromium is not installed: run scripts/ci-services.sh")
        self.port = free_port()
        self.profile = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking",
             "--remote-allow-origins=*", f"--remote-debugging-port={self.port}",
             f"--user-data-dir={self.profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=service_env())
        wait_for_port(self.port, timeout=30, process=self.process)

    def http(self, path: str, method: str = "GET") -> bytes:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    async def open_tab(self, url: str) -> "Tab":
        target = json.loads(self.http(f"/json/new?{quote(url, safe='')}", method="PUT"))
        socket = await wsfast.connect(target["webSocketDebuggerUrl"], max_size=None,
                                      compression=None)
        return Tab(self, target["id"], socket)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.profile.cleanup()


class Tab:
    """One page, driven by DevTools commands (``Runtime.evaluate``, ``Input``)."""

    def __init__(self, browser: Browser, target_id: str, socket) -> None:
        self.browser = browser
        self.id = target_id
        self.socket = socket
        self.ids = itertools.count(1)

    async def command(self, method: str, **params):
        number = next(self.ids)
        await self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:  # skip events: none is enabled, but be safe
            reply = json.loads(await asyncio.wait_for(self.socket.recv(), 10))
            if reply.get("id") == number:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]

    async def evaluate(self, expression: str):
        result = await self.command("Runtime.evaluate", expression=expression,
                                    returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10):
        """Poll *expression* until it is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.05)

    async def type_and_send(self, text: str) -> None:
        await self.evaluate("document.getElementById('text').focus()")
        await self.command("Input.insertText", text=text)
        await self.evaluate("document.getElementById('send').click()")

    async def lines(self) -> list:
        return await self.evaluate(
            "Array.from(document.querySelectorAll('#log li')).map(li => li.textContent)")

    async def close(self) -> None:
        await self.socket.close()
        self.browser.http(f"/json/close/{self.id}")


@pytest.fixture
def browser():
    browser = Browser()
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def tab_on_worker(browser: Browser, port: int, name: str) -> tuple:
    tab = await browser.open_tab(f"http://127.0.0.1:{port}/?room=test&name={name}")
    status = await tab.wait_for(
        "(s => s.includes('served by pid') && s)(document.getElementById('status').textContent)")
    return tab, int(re.search(r"pid (\d+)", status).group(1))


def test_two_tabs_on_two_workers_chat_through_redis(browser, redis_server):
    process, port = start_chat("--redis", redis_server.url, "--workers", "2")
    try:
        async def main():
            first, first_pid = await tab_on_worker(browser, port, "ada")
            # The kernel spreads connections over the workers by a hash of
            # the client's port: open tabs until one lands on the other worker.
            for attempt in range(20):
                second, second_pid = await tab_on_worker(browser, port, f"bob{attempt}")
                if second_pid != first_pid:
                    break
                await second.close()
            else:
                raise AssertionError("every tab landed on the same worker")
            await first.type_and_send("hello from the first tab")
            line = await second.wait_for(
                "Array.from(document.querySelectorAll('#log li'))"
                ".map(li => li.textContent).find(t => t.startsWith('ada: '))")
            assert line == "ada: hello from the first tab"
            await second.type_and_send("and back")
            line = await first.wait_for(
                "Array.from(document.querySelectorAll('#log li'))"
                ".map(li => li.textContent).find(t => t.endsWith(': and back'))")
            assert line == f"{await second.evaluate('name')}: and back"
            await first.close()
            await second.close()

        run(main(), timeout=90)
    finally:
        stderr = stop(process)
    assert process.returncode == 0, stderr


def test_one_process_with_the_in_process_hub():
    process, port = start_chat()
    try:
        async def main():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                assert response.headers["Content-Type"] == "text/html; charset=utf-8"
                assert b"new WebSocket(" in response.read()
            ada = await wsfast.connect(f"ws://127.0.0.1:{port}/ws?room=r&name=ada")
            bob = await wsfast.connect(f"ws://127.0.0.1:{port}/ws?room=r&name=bob")
            eve = await wsfast.connect(f"ws://127.0.0.1:{port}/ws?room=other&name=eve")
            # Each sees its own arrival; ada also sees bob's.
            assert json.loads(await ada.recv())["name"] == "ada"
            assert json.loads(await ada.recv())["name"] == "bob"
            assert json.loads(await bob.recv())["name"] == "bob"
            assert json.loads(await eve.recv())["name"] == "eve"
            await bob.send("hi ada")
            assert json.loads(await asyncio.wait_for(ada.recv(), 5)) == {
                "event": "message", "name": "bob", "text": "hi ada"}
            await eve.send("nobody hears me")
            await ada.send("bye")
            assert json.loads(await asyncio.wait_for(bob.recv(), 5))["text"] == "hi ada"
            assert json.loads(await asyncio.wait_for(bob.recv(), 5))["text"] == "bye"
            assert json.loads(await asyncio.wait_for(eve.recv(), 5))["text"] == "nobody hears me"
            for client in (ada, bob, eve):
                await client.close()

        run(main())
    finally:
        stop(process)
