"""asyncio WebSocket server: :func:`serve`.

The classic websockets examples run unchanged with ``import wsfast as
websockets``: ``serve`` is awaitable (``run_until_complete(serve(...))``) and an
async context manager; the handler takes ``(websocket)`` or the legacy
``(websocket, path)``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from typing import Any, Awaitable, Callable, Optional, Sequence, Set, Tuple, Union

from ..connection import ServerConnection, State
from ..defaults import (CLOSE_TIMEOUT, DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_MESSAGE_SIZE,
                        MAX_QUEUE, OPEN_TIMEOUT, PING_INTERVAL, PING_TIMEOUT)
from ..deflate import PerMessageDeflate
from ..errors import ConnectionClosed
from ..events import Request, Response
from .connection import WebSocket

__all__ = ["serve", "Server", "ServerWebSocket", "default_server_compression", "codec_options"]

logger = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]


def default_server_compression() -> PerMessageDeflate:
    """permessage-deflate as websockets enables it by default: 12-bit windows
    and memory level 5, about 64 KiB per connection instead of 300 KiB."""
    return PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12, mem_level=5)


def compression_extensions(compression: Any, default: Callable[[], PerMessageDeflate]) -> tuple:
    """The ``compression`` option as a tuple of extension configurations."""
    if compression is None:
        return ()
    if compression == "deflate":
        return (default(),)
    if isinstance(compression, PerMessageDeflate):
        return (compression,)
    raise ValueError(f"compression must be 'deflate', None or a PerMessageDeflate, not {compression!r}")


def codec_options(*, max_size: Optional[int], max_frame_size: Optional[int],
                  max_fragments: Optional[int], fragment_overhead: int, text_as_bytes: bool,
                  extensions: tuple, backend: Optional[str]) -> dict:
    """The sans-I/O connection options behind serve()'s and connect()'s.

    ``defer_failure``: on a protocol error the application first gets (and
    may answer) the messages that preceded it; see WebSocket._handle_events.
    """
    return dict(max_message_size=max_size, max_frame_size=max_frame_size,
                max_fragments=max_fragments, fragment_overhead=fragment_overhead,
                text_as_bytes=text_as_bytes, extensions=extensions, backend=backend,
                defer_failure=True)


def _takes_path(handler: Handler) -> bool:
    """Whether the handler has the legacy ``(websocket, path)`` signature."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    return len(required) >= 2


def _close_frame(code_and_reason: Optional[Tuple[int, str]]) -> str:
    if code_and_reason is None:
        return "none"
    code, reason = code_and_reason
    return f"{code} {reason!r}" if reason else str(code)


class ServerWebSocket(WebSocket):
    """The server side of one connection (the object handlers receive)."""

    def __init__(self, server: "Server", connection: ServerConnection, **options: Any) -> None:
        super().__init__(connection, **options)
        self.server = server
        self._handler_task: Optional[asyncio.Task] = None
        self._open_timer: Optional[asyncio.TimerHandle] = None

    @property
    def _upgraded(self) -> bool:
        """Whether this connection answered 101 (it counts in ``open_count``)."""
        return self.response is not None and self.response.status_code == 101

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.server._register(self)
        if self.server.open_timeout is not None:
            self._open_timer = self._loop.call_later(self.server.open_timeout, self._open_timed_out)

    def _open_timed_out(self) -> None:
        self._open_timer = None
        if self.connection.state is State.CONNECTING and self._stream.transport is not None:
            logger.info("%s: opening handshake timed out", self._peer())
            self._close_transport(abort=True)

    def _handshake_event(self, event: Any) -> None:
        if type(event) is not Request:
            return
        self.request = event
        hook = self.server.process_request
        if hook is None:
            self._respond(None)
            return
        result = hook(self, event)
        if inspect.isawaitable(result):
            self._loop.create_task(self._respond_later(result))
        else:
            self._respond(result)

    async def _respond_later(self, result: Awaitable[Optional[Response]]) -> None:
        try:
            response = await result
        except Exception:  # noqa: BLE001 - a failing hook must not kill the server
            logger.error("process_request failed", exc_info=True)
            response = self.connection.reject(500, "Internal Server Error\n")
        if self._stream.transport is not None and not self._stream.lost.done():
            self._respond(response)

    def _respond(self, response: Optional[Response]) -> None:
        connection = self.connection
        server = self.server
        if connection.state is not State.CONNECTING:
            return  # the connection refused the handshake itself meanwhile
        if response is None:
            if server.max_connections is not None and server.open_count >= server.max_connections:
                response = connection.reject(503, "Too many connections\n")
            else:
                response = connection.accept(self.request, extra_headers=server.extra_headers)
        if server.process_response is not None:
            response = server.process_response(self, self.request, response) or response
        self.response = response
        connection.send_response(response)
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        if connection.state is State.OPEN:
            logger.info("%s: connection open: %s", self._peer(), self.request.path)
            server.open_count += 1
            self._stream.write_now()
            self._start_keepalive()
            task = self._loop.create_task(self._run_handler())
            self._handler_task = task
            server._handler_tasks.add(task)
            task.add_done_callback(server._handler_tasks.discard)
            # Frames that arrived in the same read as the request (a client may
            # send them without waiting for the 101) were parsed by
            # send_response(): deliver them now, not at the next read.
            pipelined = connection.events_received()
            if pipelined:
                self._handle_events(pipelined)
        else:
            if connection.handshake_error is not None:
                logger.info("%s: refused upgrade: %s", self._peer(), connection.handshake_error)
            self._after_close_expected()

    async def _run_handler(self) -> None:
        code, reason = 1000, ""
        try:
            handler = self.server.handler
            if self.server.handler_takes_path:
                await handler(self, self.request.path)
            else:
                await handler(self)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            code, reason = 1001, "server shutting down"
        except Exception:  # noqa: BLE001 - report, then close with 1011
            logger.error("connection handler failed", exc_info=True)
            code, reason = 1011, "internal error"
        try:
            await self.close(code, reason)
        except asyncio.CancelledError:
            if self._stream.transport is not None:
                self._close_transport(abort=True)

    def _connection_lost_hook(self, exc: Optional[BaseException]) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        if self._upgraded:
            connection = self.connection
            logger.info("%s: connection closed; close frame sent: %s, received: %s",
                        self._peer(), _close_frame(connection.close_sent),
                        _close_frame(connection.close_rcvd))
        self.server._unregister(self)


class Server:
    """A running WebSocket server (what ``await serve(...)`` returns).

    Attributes:
        sockets: the listening sockets.
        websockets: the connections currently open or closing.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        connection_options: dict,
        websocket_options: dict,
        process_request: Optional[Callable[..., Any]] = None,
        process_response: Optional[Callable[..., Any]] = None,
        extra_headers: Any = (),
        open_timeout: Optional[float] = OPEN_TIMEOUT,
        max_connections: Optional[int] = None,
    ) -> None:
        self.handler = handler
        self.handler_takes_path = _takes_path(handler)
        self.connection_options = connection_options
        self.websocket_options = websocket_options
        self.process_request = process_request
        self.process_response = process_response
        self.extra_headers = extra_headers
        self.open_timeout = open_timeout
        self.max_connections = max_connections
        self.open_count = 0
        self.websockets: Set[ServerWebSocket] = set()
        self._handler_tasks: Set[asyncio.Task] = set()
        self.server: Optional[asyncio.AbstractServer] = None
        self._loop: Any = None
        self._closing = False
        self._all_closed: Optional[asyncio.Future] = None

    def _protocol_factory(self) -> asyncio.BufferedProtocol:
        connection = ServerConnection(**self.connection_options)
        return ServerWebSocket(self, connection, **self.websocket_options).protocol

    def _register(self, websocket: ServerWebSocket) -> None:
        self.websockets.add(websocket)
        if self._closing:
            websocket._close_transport()

    def _unregister(self, websocket: ServerWebSocket) -> None:
        if websocket in self.websockets:
            self.websockets.discard(websocket)
            if websocket._upgraded:
                self.open_count -= 1
        self._note_if_all_closed()

    def _note_if_all_closed(self) -> None:
        if self._closing and not self.websockets and self._all_closed is not None \
                and not self._all_closed.done():
            self._all_closed.set_result(None)

    @property
    def sockets(self) -> Sequence[socket.socket]:
        return self.server.sockets if self.server is not None else ()

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting connections and close the open ones with 1001.

        Call :meth:`wait_closed` to wait until they are all gone.
        """
        if self._closing:
            return
        self._closing = True
        self._note_if_all_closed()
        if self.server is not None:
            self.server.close()
        if close_connections:
            for websocket in list(self.websockets):
                if websocket.connection.state is State.CONNECTING:
                    if websocket._stream.transport is not None:
                        websocket._close_transport()
                else:
                    websocket._start_closing_handshake(1001, "server shutting down")

    def _abort_connections(self) -> None:
        """End every connection's TCP connection now, without waiting for its
        closing handshake (the CLI's second Ctrl-C)."""
        for websocket in list(self.websockets):
            if websocket._stream.transport is not None:
                websocket._close_transport(abort=True)

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection has ended.

        On a server still serving, this waits for :meth:`close` first (as
        ``asyncio.Server.wait_closed`` does from Python 3.12): the handlers'
        time limit below only starts counting once shutdown has begun.
        Connections get ``close_timeout`` for their closing handshake (then
        they are aborted); handlers still running ``close_timeout`` after
        that are cancelled, so a shutdown takes at most about twice
        ``close_timeout``.
        """
        if self._all_closed is not None:
            # shielded: a cancelled waiter must not cancel the shared future
            await asyncio.shield(self._all_closed)
        tasks = set(self._handler_tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.websocket_options["close_timeout"])
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self.server is not None:
            await self.server.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled (then shut down as :meth:`close` and
        :meth:`wait_closed` do, and re-raise) or until closed.

        Not ``asyncio.Server.serve_forever``: from Python 3.12.1 that one,
        when cancelled, waits for every connection to end before it lets go,
        so the connections would never get their 1001.
        """
        if self.server is None or self._all_closed is None:
            raise RuntimeError("the server is not started")
        await self.server.start_serving()
        try:
            await asyncio.shield(self._all_closed)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    def is_serving(self) -> bool:
        return self.server is not None and self.server.is_serving()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
        await self.wait_closed()


class serve:
    """Start a WebSocket server on ``host:port``, calling ``handler`` for each
    connection.

    Awaitable (gives the :class:`Server`) and an async context manager::

        async with wsfast.serve(echo, "localhost", 8765) as server:
            await server.serve_forever()

    Args:
        handler: ``async def handler(websocket)`` (or legacy
            ``(websocket, path)``); the connection is closed when it returns
            (1000) or raises (1011).
        host, port: where to listen (as ``loop.create_server``).
        compression: ``"deflate"`` (default, as websockets), ``None``, or a
            :class:`~wsfast.deflate.PerMessageDeflate`.
        subprotocols: supported subprotocols, in order of preference.
        max_size: largest message accepted (1 MiB; ``None``: no limit).
        max_queue: messages queued before reading pauses (16).
        write_limit: high-water mark of the write buffer, or (high, low).
        ping_interval, ping_timeout: keepalive (20 s, 20 s; ``None`` disables).
        close_timeout: how long to wait for each closing step (10 s).
        open_timeout: how long the opening handshake may take (10 s).
        max_connections: refuse more open connections with HTTP 503.
        process_request: ``f(websocket, request)`` returning ``None`` to
            continue or a Response (e.g. ``websocket.connection.reject(...)``)
            to answer instead; may be a coroutine function.
        process_response: ``f(websocket, request, response)`` returning a
            replacement response or ``None``.
        extra_headers: headers added to the 101 response.
        text_as_bytes: deliver text messages as validated UTF-8 bytes.
        max_fragments, fragment_overhead, max_frame_size: codec limits, see
            :class:`wsfast.connection.Connection`.
        backend: ``"cython"`` / ``"python"`` to choose the kernels.
        **kwargs: passed to ``loop.create_server`` (``ssl``, ``sock``,
            ``reuse_port``, ``backlog``, ...).
    """

    def __init__(
        self,
        handler: Handler,
        host: Any = None,
        port: Optional[int] = None,
        *,
        compression: Union[str, PerMessageDeflate, None] = "deflate",
        subprotocols: Sequence[str] = (),
        max_size: Optional[int] = DEFAULT_MAX_MESSAGE_SIZE,
        max_queue: Optional[int] = MAX_QUEUE,
        write_limit: Any = None,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        open_timeout: Optional[float] = OPEN_TIMEOUT,
        max_connections: Optional[int] = None,
        process_request: Optional[Callable[..., Any]] = None,
        process_response: Optional[Callable[..., Any]] = None,
        extra_headers: Any = (),
        text_as_bytes: bool = False,
        max_fragments: Optional[int] = None,
        fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
        max_frame_size: Optional[int] = None,
        backend: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        connection_options = dict(
            subprotocols=subprotocols,
            **codec_options(
                max_size=max_size, max_frame_size=max_frame_size, max_fragments=max_fragments,
                fragment_overhead=fragment_overhead, text_as_bytes=text_as_bytes,
                extensions=compression_extensions(compression, default_server_compression),
                backend=backend),
        )
        ServerConnection(**connection_options)  # validate the options now
        self._server = Server(
            handler,
            connection_options=connection_options,
            websocket_options=dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                                   close_timeout=close_timeout, max_queue=max_queue,
                                   write_limit=write_limit),
            process_request=process_request,
            process_response=process_response,
            extra_headers=extra_headers,
            open_timeout=open_timeout,
            max_connections=max_connections,
        )
        self._host = host
        self._port = port
        self._kwargs = kwargs

    async def _start(self) -> Server:
        loop = asyncio.get_running_loop()
        server = self._server
        server._loop = loop
        server._all_closed = loop.create_future()
        server.server = await loop.create_server(server._protocol_factory, self._host,
                                                 self._port, **self._kwargs)
        return server

    def __await__(self) -> Any:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc_info: Any) -> None:
        self._server.close()
        await self._server.wait_closed()
