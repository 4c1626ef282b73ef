"""Programs shaped like websockets' own examples, run twice: once on
websockets' server, once on wsfast's (both back-ends), with the real
websockets client on the other end; what the client and the server log see
must be the same.

Each test pins a difference that scripts/websockets_examples.py found when it
ran websockets' example programs after renaming the import (see its
docstring to re-run it against a websockets checkout).
"""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest
import websockets.asyncio.server as ws_server_module
from websockets.asyncio.client import connect

import wsfast.asyncio.server as server_module
from helpers import run


def serve_on(library: str, backend):
    """The ``serve`` of one library, as a program written for it calls it."""
    if library == "websockets":
        return ws_server_module.serve
    return lambda *args, **kwargs: server_module.serve(*args, backend=backend.name, **kwargs)


def port_of(server) -> int:
    return server.sockets[0].getsockname()[1]


def observe_shutdown(serve) -> tuple:
    """The deployment guides' app: ``server.close`` on SIGTERM (called here
    directly, as the signal handler would), seen from a connected client."""
    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}") as ws:
                await ws.send("still here?")
                assert await ws.recv() == "still here?"
                asyncio.get_running_loop().call_soon(server.close)  # SIGTERM
                await asyncio.wait_for(server.wait_closed(), 5)
                await asyncio.wait_for(ws.wait_closed(), 5)
            return ws.close_code, ws.close_reason, ws.protocol.close_sent.code
    return run(main())


def test_server_close_sends_1001_without_a_reason(backend):
    expected = observe_shutdown(serve_on("websockets", backend))
    assert expected == (1001, "", 1001)
    assert observe_shutdown(serve_on("wsfast", backend)) == expected


async def print_forever(websocket):
    """tutorial1.rst's first handler: no way out but ConnectionClosedOK."""
    while True:
        await websocket.recv()


async def show_time(websocket):
    """quick/show_time.py's handler: sends until send() raises."""
    while True:
        await websocket.send("tick")
        await asyncio.sleep(0.01)


def observe_escaping_closed(serve, handler, caplog) -> tuple:
    caplog.clear()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}") as ws:
                await ws.send("hello")
            # the handler learns of the close after the client has it
            for _ in range(200):
                if any(r.levelno >= logging.ERROR for r in caplog.records):
                    break
                await asyncio.sleep(0.01)
        return ws.close_code

    code = run(main())
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    last = traceback.format_exception_only(*record.exc_info[:2])[-1]  # (exc) alone: 3.10+
    return code, record.getMessage(), last.replace("websockets.", "LIB.").replace("wsfast.", "LIB.")


@pytest.mark.parametrize("handler", [print_forever, show_time])
def test_connection_closed_escaping_the_handler_is_logged(backend, caplog, handler):
    # websockets logs it with its traceback (its tutorial shows that very
    # traceback to explain ConnectionClosedOK); wsfast used to swallow it.
    caplog.set_level(logging.ERROR)
    expected = observe_escaping_closed(serve_on("websockets", backend), handler, caplog)
    assert expected == (1000, "connection handler failed",
                        "LIB.exceptions.ConnectionClosedOK: received 1000 (OK); then sent 1000 (OK)\n")
    assert observe_escaping_closed(serve_on("wsfast", backend), handler, caplog) == expected
