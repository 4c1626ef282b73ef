"""The echo clients, one per contender, each on its library's own client API,
run in the benchmark process: ``open(port, backend)``, ``pipelined(...)``,
``round_trips(...)``, ``close()`` (:data:`CLIENTS`). The async APIs share
:class:`_AsyncClient` (a sender task and a receiving loop), the callback APIs
:class:`_CallbackClient` (the receive callback sends)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence

from ..workloads import CheckFailed
from .placement import HOST, MAX_SIZE
from .servers import _AwaitableTcp


class _Sink(Protocol):
    """Where a loop records what it received, for the checks: a list, or
    an _Unwrapping in front of one."""

    def append(self, item: Any) -> None: ...


async def _pipelined_async(send: Any, recv: Any, payloads: Sequence[Any], n: int, window: int,
                           collect: Optional[_Sink]) -> Any:
    """async APIs: a sender task and this receiving loop; at most *window*
    messages outstanding, sent half a window at a time. *n* is a multiple of
    half a window and ``len(payloads)`` a multiple of it too (no wrap-around
    inside a slice)."""
    loop = asyncio.get_running_loop()
    half = window // 2
    count = len(payloads)
    sent = received = 0
    wake: Optional["asyncio.Future[None]"] = None

    async def sender() -> None:
        nonlocal sent, wake
        while sent < n:
            if sent - received > window - half:
                wake = loop.create_future()
                await wake
            start = sent % count
            for payload in payloads[start:start + half]:
                await send(payload)
            sent += half

    task = loop.create_task(sender())
    last = None
    try:
        while received < n:
            last = await recv()
            received += 1
            if collect is not None:
                collect.append(last)
            if wake is not None and sent - received <= window - half:
                wake.set_result(None)
                wake = None
        await task
    finally:
        if not task.done():
            task.cancel()
    return last


async def _round_trips_async(send: Any, recv: Any, payloads: Sequence[Any], n: int,
                             collect: Optional[_Sink]) -> Any:
    count = len(payloads)
    last = None
    for i in range(n):
        await send(payloads[i % count])
        last = await recv()
        if collect is not None:
            collect.append(last)
    return last


class _AsyncClient:
    """A client with ``await send(message)`` / ``await recv()``."""

    text_send: Any = None
    binary_send: Any = None
    recv: Any = None

    async def pipelined(self, text: bool, payloads: Sequence[Any], n: int, window: int,
                        collect: Optional[List[Any]] = None) -> Any:
        send = self.text_send if text else self.binary_send
        return self.data(await _pipelined_async(send, self.recv, payloads, n, window,
                                                self._collector(collect)))

    async def round_trips(self, payloads: Sequence[Any], n: int,
                          collect: Optional[List[Any]] = None) -> Any:
        return self.data(await _round_trips_async(self.text_send, self.recv, payloads, n,
                                                  self._collector(collect)))

    def _collector(self, collect: Optional[List[Any]]) -> Optional[_Sink]:
        return collect

    def data(self, message: Any) -> Any:
        return message

    async def close(self) -> None:
        raise NotImplementedError


class _WsfastClient(_AsyncClient):
    compression: Optional[str] = None

    async def open(self, port: int, backend: str) -> None:
        from ...asyncio import connect

        self.ws = await connect(f"ws://{HOST}:{port}/", compression=self.compression,
                                max_size=MAX_SIZE, ping_interval=None, backend=backend)
        self.text_send = self.binary_send = self.ws.send
        self.recv = self.ws.recv

    async def close(self) -> None:
        await self.ws.close()


class _WebsocketsClient(_AsyncClient):
    compression: Optional[str] = None

    def _connect(self) -> Any:
        from websockets.asyncio.client import connect

        return connect

    async def open(self, port: int, backend: str) -> None:
        self.ws = await self._connect()(f"ws://{HOST}:{port}/", compression=self.compression,
                                        max_size=MAX_SIZE, ping_interval=None, proxy=None)
        self.text_send = self.binary_send = self.ws.send
        self.recv = self.ws.recv

    async def close(self) -> None:
        await self.ws.close()


class _PicowsAsyncClient(_WebsocketsClient):
    """picows.websockets: websockets' client API on picows' core."""

    def _connect(self) -> Any:
        from picows.websockets import connect

        return connect


class _AiohttpClient(_AsyncClient):
    """``receive()`` gives ``WSMessage`` objects: checked for their type and
    unwrapped only where a result is checked, not per message."""

    async def open(self, port: int, backend: str) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()
        try:
            self.ws = await self.session.ws_connect(f"http://{HOST}:{port}/", compress=0,
                                                    max_msg_size=MAX_SIZE, heartbeat=None)
        except BaseException:
            await self.session.close()
            raise
        self.text_send = self.ws.send_str
        self.binary_send = self.ws.send_bytes
        self.recv = self.ws.receive

    def data(self, message: Any) -> Any:
        import aiohttp

        if message is None:
            return None
        if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            raise CheckFailed(f"received {message.type!r} instead of a data message")
        return message.data

    def _collector(self, collect: Optional[List[Any]]) -> Optional[_Sink]:
        return None if collect is None else _Unwrapping(collect, self.data)

    async def close(self) -> None:
        try:
            await self.ws.close()
        finally:
            await self.session.close()


class _Unwrapping:
    """A list-like ``append`` that stores ``unwrap(item)`` (checks only)."""

    def __init__(self, target: List[Any], unwrap: Callable[[Any], Any]) -> None:
        self.target = target
        self.unwrap = unwrap

    def append(self, item: Any) -> None:
        self.target.append(self.unwrap(item))


class _CallbackClient:
    """picows and tcp: the receive callback counts, records and sends more."""

    loop: asyncio.AbstractEventLoop

    def _pipelined(self, send: Callable[[Any], None], payloads: Sequence[Any], n: int,
                   window: int, collect: Optional[List[Any]]) -> "asyncio.Future[Any]":
        half = window // 2
        count = len(payloads)
        done = self.loop.create_future()
        sent = received = 0

        def send_half() -> None:
            nonlocal sent
            start = sent % count
            for payload in payloads[start:start + half]:
                send(payload)
            sent += half

        def on_message(message: Any) -> None:
            nonlocal received
            received += 1
            if collect is not None:
                collect.append(message)
            if received >= n:
                if not done.done():
                    done.set_result(message)
            elif sent < n and sent - received <= window - half:
                send_half()

        self.on_message = on_message  # type: ignore[method-assign]  # this run's handler
        send_half()
        if sent < n:
            send_half()
        return done

    def _round_trips(self, send: Callable[[Any], None], payloads: Sequence[Any], n: int,
                     collect: Optional[List[Any]]) -> "asyncio.Future[Any]":
        count = len(payloads)
        done = self.loop.create_future()
        received = 0

        def on_message(message: Any) -> None:
            nonlocal received
            received += 1
            if collect is not None:
                collect.append(message)
            if received >= n:
                if not done.done():
                    done.set_result(message)
            else:
                send(payloads[received % count])

        self.on_message = on_message  # type: ignore[method-assign]  # this run's handler
        send(payloads[0])
        return done

    def on_message(self, message: Any) -> None:
        raise CheckFailed(f"unexpected message {message!r:.60}")


class _PicowsClient(_CallbackClient):
    async def open(self, port: int, backend: str) -> None:
        from picows import WSListener, WSMsgType, ws_connect

        client = self
        TEXT, BINARY, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CLOSE

        class Listener(WSListener):  # type: ignore[misc, unused-ignore]  # Any without picows
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                msg_type = frame.msg_type
                if msg_type is TEXT:
                    client.on_message(frame.get_payload_as_utf8_text())
                elif msg_type is BINARY:
                    client.on_message(frame.get_payload_as_bytes())
                elif msg_type is CLOSE:
                    transport.disconnect()

        self.loop = asyncio.get_running_loop()
        self.transport, _ = await ws_connect(Listener, f"ws://{HOST}:{port}/",
                                             max_frame_size=MAX_SIZE, enable_auto_ping=False)
        send = self.transport.send
        self.send_text = lambda message: send(TEXT, message.encode())
        self.send_binary = lambda message: send(BINARY, message)

    async def pipelined(self, text: bool, payloads: Sequence[Any], n: int, window: int,
                        collect: Optional[List[Any]] = None) -> Any:
        return await self._pipelined(self.send_text if text else self.send_binary, payloads,
                                     n, window, collect)

    async def round_trips(self, payloads: Sequence[Any], n: int,
                          collect: Optional[List[Any]] = None) -> Any:
        return await self._round_trips(self.send_text, payloads, n, collect)

    async def close(self) -> None:
        from picows import WSCloseCode

        self.transport.send_close(WSCloseCode.OK)
        await asyncio.wait_for(self.transport.wait_disconnected(), 5)


class _WsfastCallbackClient(_CallbackClient):
    """wsfast's callback API: ``on_message`` receives, ``send_nowait`` sends."""

    async def open(self, port: int, backend: str) -> None:
        from ...asyncio import connect

        self.loop = asyncio.get_running_loop()
        self.ws = await connect(f"ws://{HOST}:{port}/", compression=None, max_size=MAX_SIZE,
                                ping_interval=None, backend=backend)
        self.ws.on_message = lambda message: self.on_message(message)

    async def pipelined(self, text: bool, payloads: Sequence[Any], n: int, window: int,
                        collect: Optional[List[Any]] = None) -> Any:
        future = self._pipelined(self.ws.send_nowait, payloads, n, window, collect)
        self.ws.on_message = self.on_message
        return await future

    async def round_trips(self, payloads: Sequence[Any], n: int,
                          collect: Optional[List[Any]] = None) -> Any:
        future = self._round_trips(self.ws.send_nowait, payloads, n, collect)
        self.ws.on_message = self.on_message
        return await future

    async def close(self) -> None:
        await self.ws.close()


class _TcpClient(_CallbackClient, asyncio.Protocol):
    """Plain TCP: "messages" are fixed-size pieces of the byte stream."""

    async def open(self, port: int, backend: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.size = 1
        self.pending = 0
        self.collected: Optional[bytearray] = None
        self.transport, _ = await self.loop.create_connection(lambda: self, HOST, port)

    def data_received(self, data: bytes) -> None:
        if self.collected is not None:
            self.collected += data
        pending = self.pending + len(data)
        size = self.size
        on_message = self.on_message
        while pending >= size:
            pending -= size
            on_message(None)
        self.pending = pending

    async def _run(self, start: Callable[[], "asyncio.Future[Any]"], payloads: Sequence[Any],
                   n: int, collect: Optional[List[Any]]) -> Any:
        data = [p.encode() if isinstance(p, str) else p for p in payloads]
        self.size = len(data[0])
        self.pending = 0
        self.collected = bytearray() if collect is not None else None
        await start()
        if self.pending:
            raise CheckFailed(f"{self.pending} bytes more than sent")
        if collect is not None:
            assert self.collected is not None
            stream = bytes(self.collected)
            self.collected = None
            collect.extend(_as_type(stream[i:i + self.size], payloads[0])
                           for i in range(0, len(stream), self.size))
            return collect[-1] if collect else None
        return payloads[(n - 1) % len(payloads)]  # the count is the check: bytes are bytes

    async def pipelined(self, text: bool, payloads: Sequence[Any], n: int, window: int,
                        collect: Optional[List[Any]] = None) -> Any:
        data = [p.encode() if isinstance(p, str) else p for p in payloads]
        write = self.transport.write
        return await self._run(lambda: self._pipelined(write, data, n, window, None),
                               payloads, n, collect)

    async def round_trips(self, payloads: Sequence[Any], n: int,
                          collect: Optional[List[Any]] = None) -> Any:
        data = [p.encode() if isinstance(p, str) else p for p in payloads]
        write = self.transport.write
        return await self._run(lambda: self._round_trips(write, data, n, None), payloads, n,
                               collect)

    async def close(self) -> None:
        self.transport.close()


class _TcpAsyncClient(_AsyncClient):
    """Plain TCP behind ``await send`` / ``await recv`` of fixed-size messages
    (str messages are encoded and decoded, as a WebSocket client would)."""

    async def open(self, port: int, backend: str) -> None:
        loop = asyncio.get_running_loop()
        self.transport, self.connection = await loop.create_connection(_AwaitableTcp, HOST, port)
        self.size = 1
        self.text = False
        self.text_send = self.binary_send = self.send
        self.recv = self.receive

    async def send(self, message: Any) -> None:
        self.transport.write(message.encode() if self.text else message)

    async def receive(self) -> Any:
        data = await self.connection.read(self.size)
        if not data:
            raise CheckFailed("the server closed the connection")
        return data.decode() if self.text else data

    def _expect(self, payloads: Sequence[Any]) -> None:
        self.text = isinstance(payloads[0], str)
        self.size = len(payloads[0].encode() if self.text else payloads[0])

    async def pipelined(self, text: bool, payloads: Sequence[Any], n: int, window: int,
                        collect: Optional[List[Any]] = None) -> Any:
        self._expect(payloads)
        return await super().pipelined(text, payloads, n, window, collect)

    async def round_trips(self, payloads: Sequence[Any], n: int,
                          collect: Optional[List[Any]] = None) -> Any:
        self._expect(payloads)
        return await super().round_trips(payloads, n, collect)

    async def close(self) -> None:
        self.transport.close()


def _as_type(data: bytes, like: Any) -> Any:
    return data.decode() if isinstance(like, str) else data


CLIENTS: Dict[str, Callable[[], Any]] = {
    "wsfast-cython": _WsfastClient,
    "wsfast-cython+cb": _WsfastCallbackClient,
    "wsfast-python": _WsfastClient,
    "picows": _PicowsClient,
    "picows-async": _PicowsAsyncClient,
    "aiohttp": _AiohttpClient,
    "websockets": _WebsocketsClient,
    "tcp": _TcpClient,
    "tcp-async": _TcpAsyncClient,
    "wsfast-cython+deflate": type("_WsfastDeflate", (_WsfastClient,), {"compression": "deflate"}),
    "wsfast-python+deflate": type("_WsfastDeflate", (_WsfastClient,), {"compression": "deflate"}),
    "websockets+deflate": type("_WebsocketsDeflate", (_WebsocketsClient,),
                               {"compression": "deflate"}),
}
