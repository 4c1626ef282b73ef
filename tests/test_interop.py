"""Interoperability with real peers: the websockets and aiohttp libraries.

They are test extras (``pip install -e '.[test]'``), never runtime
dependencies; a missing peer fails this module rather than skipping it. Messages, close codes, pings and compression must round-trip
in both directions.
"""

from __future__ import annotations

import aiohttp
import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

import wsfast
from helpers import run
from wsfast.errors import ConnectionClosedError

MESSAGES = ["hello", "κόσμε" * 100, b"", b"\x00\xff" * 40000, "x" * 70000]


async def wsfast_echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def websockets_echo(websocket):
    async for message in websocket:
        await websocket.send(message)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_client_against_wsfast_server(backend, compression):
    async def main():
        async with wsfast.serve(wsfast_echo, "127.0.0.1", 0, backend=backend.name,
                                compression=compression, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with ws_connect(f"ws://127.0.0.1:{port}/", compression=compression,
                                  max_size=None) as ws:
                negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
                assert (negotiated is not None) == (compression is not None)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                latency = await (await ws.ping(b"ping"))
                assert latency >= 0
                await ws.close(4001, "done")
                assert ws.close_code == 4001  # echoed by the wsfast server
    run(main())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_wsfast_client_against_websockets_server(backend, compression):
    async def main():
        async with ws_serve(websockets_echo, "127.0.0.1", 0, compression=compression,
                            max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast.connect(f"ws://127.0.0.1:{port}/", backend=backend.name,
                                      compression=compression, max_size=None) as ws:
                assert (ws.connection.compression is not None) == (compression is not None)
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                latency = await (await ws.ping())
                assert latency >= 0
                await ws.close(1001, "bye")
                assert ws.close_code == 1001
    run(main())


def test_websockets_server_close_code_reaches_wsfast_client(backend):
    async def handler(websocket):
        await websocket.close(4002, "from websockets")

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast.connect(f"ws://127.0.0.1:{port}/", backend=backend.name) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (4002, "from websockets")
    run(main())


def test_wsfast_server_close_code_reaches_websockets_client(backend):
    async def handler(websocket):
        await websocket.close(4003, "from wsfast")

    async def main():
        async with wsfast.serve(handler, "127.0.0.1", 0, backend=backend.name) as server:
            port = server.sockets[0].getsockname()[1]
            async with ws_connect(f"ws://127.0.0.1:{port}/") as ws:
                with pytest.raises(websockets.exceptions.ConnectionClosedError):
                    await ws.recv()
                assert (ws.close_code, ws.close_reason) == (4003, "from wsfast")
    run(main())


@pytest.mark.parametrize("compress", [0, 15])
def test_aiohttp_client_against_wsfast_server(backend, compress):
    async def main():
        async with wsfast.serve(wsfast_echo, "127.0.0.1", 0, backend=backend.name,
                                max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"http://127.0.0.1:{port}/", compress=compress,
                                              max_msg_size=0, autoping=False) as ws:
                    assert (ws.compress != 0) == (compress != 0)
                    for message in MESSAGES:
                        if isinstance(message, str):
                            await ws.send_str(message)
                            assert (await ws.receive_str()) == message
                        else:
                            await ws.send_bytes(message)
                            assert (await ws.receive_bytes()) == message
                    await ws.ping(b"p")  # autoping=False: aiohttp hands the pong to us
                    pong = await ws.receive()
                    assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"p")
                    await ws.send_str("after ping")
                    assert (await ws.receive_str()) == "after ping"
                    await ws.close(code=4004, message=b"aio")
                    assert ws.close_code == 4004
    run(main())


def test_wsfast_server_ping_is_answered_by_aiohttp(backend):
    async def handler(websocket):
        latency = await (await websocket.ping(b"from-server"))
        await websocket.send(f"pong in {latency:.6f}")

    async def main():
        async with wsfast.serve(handler, "127.0.0.1", 0, backend=backend.name) as server:
            port = server.sockets[0].getsockname()[1]
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"http://127.0.0.1:{port}/") as ws:
                    text = await ws.receive_str()
                    assert text.startswith("pong in ")
    run(main())
