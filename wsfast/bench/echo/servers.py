"""The echo servers, one per contender, each on its library's own server API,
and :func:`serve_main`, the child process that runs one of them
(``python -m wsfast.bench.echo serve LIBRARY``)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from typing import Any, Callable, Dict, Optional, Set

from .placement import HOST, MAX_SIZE, new_loop


async def _serve_wsfast(backend: str, compression: Optional[str] = None) -> Any:
    from ...asyncio import serve

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    server = await serve(echo, HOST, 0, compression=compression, max_size=MAX_SIZE,
                         ping_interval=None, backend=backend)
    return server.sockets[0].getsockname()[1]


async def _serve_wsfast_callbacks(backend: str) -> Any:
    """wsfast with its callback API (``on_message`` + ``send_nowait``), the
    style of picows' listeners: no task switch per message."""
    from ...asyncio import serve

    async def echo(websocket: Any) -> None:
        websocket.on_message = websocket.send_nowait
        await websocket.wait_closed()

    server = await serve(echo, HOST, 0, compression=None, max_size=MAX_SIZE,
                         ping_interval=None, backend=backend)
    return server.sockets[0].getsockname()[1]


async def _serve_websockets_api(serve: Any, compression: Optional[str]) -> Any:
    """An echo server on websockets' asyncio API: websockets itself, or
    ``picows.websockets`` (the same API on picows' Cython core)."""
    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    server = await serve(echo, HOST, 0, compression=compression, max_size=MAX_SIZE,
                         ping_interval=None)
    return server.sockets[0].getsockname()[1]


async def _serve_websockets(compression: Optional[str] = None) -> Any:
    from websockets.asyncio.server import serve

    return await _serve_websockets_api(serve, compression)


async def _serve_picows_async() -> Any:
    """picows' own async/await API: the like-for-like peer of wsfast's
    ``recv``/``send``."""
    from picows.websockets import serve

    return await _serve_websockets_api(serve, None)


async def _serve_aiohttp() -> Any:
    from aiohttp import WSMsgType, web

    async def echo(request: Any) -> Any:
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_SIZE, heartbeat=None)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    return runner.addresses[0][1]


async def _serve_picows() -> Any:
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):  # type: ignore[misc, unused-ignore]  # Any without picows
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            msg_type = frame.msg_type
            if msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif msg_type is not WSMsgType.PING and msg_type is not WSMsgType.PONG:
                # send() copies the payload into picows' write buffer.
                transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)

    server = await ws_create_server(lambda request: Echo(), HOST, 0, max_frame_size=MAX_SIZE,
                                    enable_auto_ping=False)
    return server.sockets[0].getsockname()[1]


class _TcpEcho(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def _serve_tcp() -> Any:
    server = await asyncio.get_running_loop().create_server(_TcpEcho, HOST, 0)
    return server.sockets[0].getsockname()[1]


class _AwaitableTcp(asyncio.Protocol):
    """Plain TCP with ``await read()``: the least an async/await API costs.

    One asyncio future per wait, set from ``data_received`` (so the waiting
    task resumes on the next loop iteration, as with any future); no framing
    beyond fixed-size pieces, no copies beyond the receive buffer.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: Optional["asyncio.Future[None]"] = None
        self.eof = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def read(self, size: int) -> bytes:
        """*size* bytes (``size=0``: whatever has arrived, at least one byte);
        ``b""`` at the end of the stream."""
        while len(self.buffer) < max(size, 1):
            if self.eof:
                return b""
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        buffer = self.buffer
        if size == 0 or size == len(buffer):  # all of it: one copy
            data = bytes(buffer)
            buffer.clear()
        else:  # one copy too (a bytearray slice would be a second one)
            with memoryview(buffer) as view:
                data = view[:size].tobytes()
            del buffer[:size]
        return data


async def _serve_tcp_async() -> Any:
    loop = asyncio.get_running_loop()

    async def echo(connection: _AwaitableTcp) -> None:
        while True:
            data = await connection.read(0)
            if not data:
                break
            connection.transport.write(data)
        connection.transport.close()

    def accept() -> _AwaitableTcp:
        connection = _AwaitableTcp()
        tasks.add(loop.create_task(echo(connection)))
        return connection

    tasks: Set["asyncio.Task[None]"] = set()
    server = await loop.create_server(accept, HOST, 0)
    return server.sockets[0].getsockname()[1]


SERVERS: Dict[str, Callable[[], Any]] = {
    "wsfast-cython": lambda: _serve_wsfast("cython"),
    "wsfast-python": lambda: _serve_wsfast("python"),
    "wsfast-cython+cb": lambda: _serve_wsfast_callbacks("cython"),
    "picows": _serve_picows,
    "picows-async": _serve_picows_async,
    "aiohttp": _serve_aiohttp,
    "websockets": _serve_websockets,
    "tcp": _serve_tcp,
    "tcp-async": _serve_tcp_async,
    "wsfast-cython+deflate": lambda: _serve_wsfast("cython", "deflate"),
    "wsfast-python+deflate": lambda: _serve_wsfast("python", "deflate"),
    "websockets+deflate": lambda: _serve_websockets("deflate"),
}


def _uvicorn_servers() -> Dict[str, Callable[[], Any]]:
    """The ``uvicorn`` group's servers (:mod:`wsfast.bench.asgi`): names only,
    nothing imported until one is started."""
    def start(name: str) -> Any:
        from ..asgi import servers

        return servers()[name]()

    names = ("uvicorn+wsfast", "uvicorn+wsfast-python", "uvicorn+websockets-sansio",
             "uvicorn+wsproto")
    return {name: functools.partial(start, name) for name in names}


SERVERS.update(_uvicorn_servers())


def serve_main(library: str, loop: str, cpu: Optional[int] = None) -> int:
    """The child process: start *library*'s echo server on a free port, print
    ``PORT <n>``, serve until stdin reaches EOF (the parent closed it or died)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    event_loop = new_loop(loop)
    asyncio.set_event_loop(event_loop)
    stop = event_loop.create_future()

    def stdin_readable() -> None:
        if not os.read(0, 4096) and not stop.done():
            stop.set_result(None)

    async def run() -> None:
        port = await SERVERS[library]()
        event_loop.add_reader(0, stdin_readable)
        sys.stdout.write(f"PORT {port}\n")
        sys.stdout.flush()
        await stop

    for signum in (signal.SIGTERM, signal.SIGINT):
        event_loop.add_signal_handler(
            signum, lambda: None if stop.done() else stop.set_result(None))
    try:
        event_loop.run_until_complete(run())
    finally:
        os._exit(0)  # no graceful shutdown needed: the clients are gone or going
