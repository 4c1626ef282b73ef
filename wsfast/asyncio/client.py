"""asyncio WebSocket client: :func:`connect`.

``await connect(uri)`` and ``async with connect(uri) as websocket`` both work,
as in the websockets library.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from typing import Any, Optional, Sequence, Union

from ..connection import ClientConnection
from ..defaults import (CLOSE_TIMEOUT, DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_MESSAGE_SIZE,
                        MAX_QUEUE, OPEN_TIMEOUT, PING_INTERVAL, PING_TIMEOUT)
from ..deflate import PerMessageDeflate
from ..events import Response
from .connection import WebSocket
from .server import codec_options, compression_extensions

__all__ = ["connect", "ClientWebSocket", "default_client_compression"]

logger = logging.getLogger(__name__)


def default_client_compression() -> PerMessageDeflate:
    """permessage-deflate as websockets offers it by default (memory level 5;
    the server may ask for smaller windows)."""
    return PerMessageDeflate(mem_level=5)


class ClientWebSocket(WebSocket):
    """The client side of one connection (what :func:`connect` gives)."""

    def __init__(self, connection: ClientConnection, **options: Any) -> None:
        super().__init__(connection, **options)
        self._handshake: asyncio.Future = self._loop.create_future()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        connection = self.connection
        self.request = connection.connect()
        connection.send_request(self.request)
        self._stream.write_now()

    def _handshake_event(self, event: Any) -> None:
        if type(event) is not Response:
            return
        self.response = event
        if self._handshake.done():
            return
        error = self.connection.handshake_error
        if error is None:
            # The connection may already be closing: frames that followed the
            # 101 in the same read were processed with it.
            self._handshake.set_result(None)
            self._start_keepalive()
        else:
            self._handshake.set_exception(error)

    def _connection_lost_hook(self, exc: Optional[BaseException]) -> None:
        if not self._handshake.done():
            error = self.connection.handshake_error
            if error is None:
                error = ConnectionError("connection closed during the opening handshake")
                if exc is not None:
                    error.__cause__ = exc
            self._handshake.set_exception(error)
            self._handshake.exception()  # retrieved by connect(), or by nobody


class connect:
    """Open a WebSocket connection to ``uri`` (``ws://`` or ``wss://``).

    Awaitable (gives the :class:`ClientWebSocket`) and an async context
    manager that closes the connection on exit::

        async with wsfast.connect("ws://localhost:8765") as websocket:
            await websocket.send("Hello world!")
            print(await websocket.recv())

    Args:
        uri: the server's URI.
        subprotocols: subprotocols to offer, in order of preference.
        additional_headers: more request headers, as (name, value) pairs or a
            mapping (``extra_headers`` is accepted too, the legacy name).
        origin: value of the ``Origin`` header.
        compression: ``"deflate"`` (default), ``None``, or a
            :class:`~wsfast.deflate.PerMessageDeflate`.
        ssl: an ``ssl.SSLContext`` for ``wss://`` (default: the system's
            default context); ``server_hostname`` overrides the name checked.
        open_timeout: time allowed to connect and complete the handshake (10 s).
        max_size, max_queue, write_limit, ping_interval, ping_timeout,
        close_timeout, text_as_bytes, max_fragments, fragment_overhead,
        max_frame_size, backend: as for :func:`wsfast.serve`.
        **kwargs: passed to ``loop.create_connection`` (``sock``,
            ``local_addr``, ...).

    Raises:
        InvalidHandshake: the server refused or answered wrongly; ``status``
            is the HTTP status it sent.
        OSError, asyncio.TimeoutError: connecting failed or took too long.
    """

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Sequence[str] = (),
        additional_headers: Any = (),
        extra_headers: Any = (),
        origin: Optional[str] = None,
        compression: Union[str, PerMessageDeflate, None] = "deflate",
        ssl: Optional[ssl_module.SSLContext] = None,
        server_hostname: Optional[str] = None,
        open_timeout: Optional[float] = OPEN_TIMEOUT,
        max_size: Optional[int] = DEFAULT_MAX_MESSAGE_SIZE,
        max_queue: Optional[int] = MAX_QUEUE,
        write_limit: Any = None,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        text_as_bytes: bool = False,
        max_fragments: Optional[int] = None,
        fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
        max_frame_size: Optional[int] = None,
        backend: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        headers = list(_header_items(additional_headers)) + list(_header_items(extra_headers))
        self._connection = ClientConnection(
            uri,
            subprotocols=subprotocols,
            extra_headers=headers,
            origin=origin,
            **codec_options(
                max_size=max_size, max_frame_size=max_frame_size, max_fragments=max_fragments,
                fragment_overhead=fragment_overhead, text_as_bytes=text_as_bytes,
                extensions=compression_extensions(compression, default_client_compression),
                backend=backend),
        )
        if self._connection.secure:
            self._ssl: Any = ssl if ssl is not None else ssl_module.create_default_context()
            self._server_hostname = server_hostname or self._connection.host
        elif ssl is not None:
            raise ValueError("an SSL context was given for a ws:// URI; use wss://")
        else:
            self._ssl, self._server_hostname = None, None
        self._options = dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                             close_timeout=close_timeout, max_queue=max_queue,
                             write_limit=write_limit)
        self._open_timeout = open_timeout
        self._kwargs = kwargs
        self._websocket: Optional[ClientWebSocket] = None
        self._used = False

    async def _connect(self) -> ClientWebSocket:
        loop = asyncio.get_running_loop()
        connection = self._connection
        if self._used:
            raise RuntimeError("a connect() object can be awaited once")
        self._used = True
        kwargs = dict(self._kwargs)
        if self._ssl is not None:
            kwargs.update(ssl=self._ssl, server_hostname=self._server_hostname)
        host = None if "sock" in kwargs else connection.host
        port = None if "sock" in kwargs else connection.port

        async def open_and_handshake() -> ClientWebSocket:
            websocket = ClientWebSocket(connection, **self._options)
            await loop.create_connection(lambda: websocket.protocol, host, port, **kwargs)
            try:
                await asyncio.shield(websocket._handshake)
            except BaseException:
                if websocket._stream.transport is not None:
                    websocket._close_transport(abort=True)
                raise
            return websocket

        websocket = await asyncio.wait_for(open_and_handshake(), self._open_timeout)
        self._websocket = websocket
        return websocket

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientWebSocket:
        return await self._connect()

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._websocket is not None:
            await self._websocket.close()


def _header_items(headers: Any) -> Any:
    if hasattr(headers, "items"):
        return list(headers.items())
    return list(headers or ())

