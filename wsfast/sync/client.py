"""Threading WebSocket client: :func:`connect` and :func:`unix_connect`.

``with connect(uri) as websocket:`` as in ``websockets.sync.client``: the
opening handshake runs in the calling thread, then the connection gets its
background thread (see :mod:`wsfast.sync.connection`).
"""

from __future__ import annotations

import socket
import ssl as ssl_module
from typing import Any, List, Optional, Sequence, Tuple

from ..connection import ClientConnection as ClientProtocol
from ..connection import State
from ..defaults import (CLOSE_TIMEOUT, DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_MESSAGE_SIZE,
                        MAX_QUEUE, OPEN_TIMEOUT, PING_INTERVAL, PING_TIMEOUT)
from ..events import Response
from ._options import (USER_AGENT, Deadline, check_kwargs, client_compression, codec_options,
                       set_nodelay)
from .connection import Connection

__all__ = ["connect", "unix_connect", "ClientConnection"]

#: What ``socket.create_connection`` accepts besides the address and timeout.
_SOCKET_KWARGS = ("source_address", "all_errors")


class ClientConnection(Connection):
    """The client side of a connection (what :func:`connect` returns).

    A context manager: leaving the ``with`` block closes the connection.
    """

    protocol: ClientProtocol

    def __enter__(self) -> "ClientConnection":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def handshake(self, deadline: Deadline) -> None:
        """Send the upgrade request and read the response (calling thread).

        Raises:
            InvalidHandshake: the server refused (``status`` is its status)
                or answered wrongly.
            TimeoutError: past the deadline.
        """
        protocol = self.protocol
        sock = self.socket
        self.request = protocol.connect()
        protocol.send_request(self.request)
        sock.settimeout(deadline.timeout())
        sock.sendall(b"".join(protocol.data_to_send()))
        while protocol.response is None and protocol.handshake_error is None:
            sock.settimeout(deadline.timeout())
            try:
                data = sock.recv(self.recv_bufsize)
            except socket.timeout:
                raise TimeoutError("timed out during the opening handshake") from None
            if not data:
                raise ConnectionError("connection closed during the opening handshake")
            self._process(data)
        self.response = protocol.response
        if protocol.handshake_error is not None:
            raise protocol.handshake_error
        sock.settimeout(None)

    def _other_event(self, event: Any) -> None:
        if type(event) is Response:
            self.response = event


def connect(
    uri: str,
    *,
    sock: Optional[socket.socket] = None,
    ssl: Optional[ssl_module.SSLContext] = None,
    server_hostname: Optional[str] = None,
    origin: Optional[str] = None,
    extensions: Optional[Sequence[Any]] = None,
    subprotocols: Optional[Sequence[str]] = None,
    compression: Any = "deflate",
    additional_headers: Any = None,
    user_agent_header: Optional[str] = USER_AGENT,
    proxy: Any = True,
    proxy_ssl: Optional[ssl_module.SSLContext] = None,
    proxy_server_hostname: Optional[str] = None,
    open_timeout: Optional[float] = OPEN_TIMEOUT,
    ping_interval: Optional[float] = PING_INTERVAL,
    ping_timeout: Optional[float] = PING_TIMEOUT,
    close_timeout: Optional[float] = CLOSE_TIMEOUT,
    max_size: Any = DEFAULT_MAX_MESSAGE_SIZE,
    max_queue: Any = MAX_QUEUE,
    logger: Any = None,
    create_connection: Optional[type] = None,
    legacy: Optional[bool] = None,
    text_as_bytes: bool = False,
    max_fragments: Optional[int] = None,
    fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
    backend: Optional[str] = None,
    **kwargs: Any,
) -> ClientConnection:
    """Connect to the WebSocket server at ``uri``; the keywords and defaults
    are ``websockets.sync.client.connect``'s::

        with connect("ws://localhost:8765") as websocket:
            websocket.send("Hello world!")
            print(websocket.recv())

    Args:
        uri: ``ws://`` or ``wss://`` URI.
        sock: an already connected socket to use.
        ssl: TLS context for ``wss://`` (default: the system's);
            ``server_hostname`` overrides the name checked.
        origin, subprotocols, additional_headers, user_agent_header: the
            upgrade request.
        compression: ``"deflate"`` or ``None``; ``extensions`` may list
            :class:`~wsfast.deflate.PerMessageDeflate` configurations.
        proxy: ``True`` (default) or ``None``: wsfast connects directly (it
            does not read proxy settings from the environment yet); a proxy
            URI raises ``NotImplementedError``.
        open_timeout, ping_interval, ping_timeout, close_timeout: seconds
            (``None`` disables).
        max_size: largest message (1 MiB), or (message, frame) limits.
        max_queue: high-water mark of received messages (16), or (high, low).
        logger: a logger or its name.
        create_connection: a :class:`ClientConnection` subclass to use.
        legacy: accepted for websockets 17 compatibility and ignored: the
            connection works with or without ``with``.
        text_as_bytes, max_fragments, fragment_overhead, backend: wsfast's
            codec options (see :class:`wsfast.connection.Connection`).
        **kwargs: ``source_address`` / ``all_errors`` for
            ``socket.create_connection``.

    Raises:
        InvalidHandshake: the server refused the upgrade or answered wrongly.
        TimeoutError: the handshake took longer than ``open_timeout``.
        OSError: the TCP connection failed.
    """
    unix = kwargs.pop("unix", False)
    path = kwargs.pop("path", None)
    check_kwargs(kwargs, _SOCKET_KWARGS, "connect")
    if proxy not in (True, None):
        raise NotImplementedError("wsfast.sync does not support proxies yet")
    del proxy_ssl, proxy_server_hostname, legacy
    headers: List[Tuple[str, str]] = []
    if additional_headers is not None:
        items = additional_headers.items() if hasattr(additional_headers, "items") \
            else additional_headers
        headers.extend((name, value) for name, value in items)
    if user_agent_header is not None:
        headers.append(("User-Agent", user_agent_header))
    protocol = ClientProtocol(
        uri,
        subprotocols=tuple(subprotocols or ()),
        extra_headers=headers,
        origin=origin,
        **codec_options(max_size=max_size, compression=compression, extensions=extensions,
                        default=client_compression, text_as_bytes=text_as_bytes,
                        max_fragments=max_fragments, fragment_overhead=fragment_overhead,
                        backend=backend),
    )
    if not protocol.secure and ssl is not None:
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    cls = create_connection if create_connection is not None else ClientConnection
    deadline = Deadline(open_timeout)
    try:
        if sock is None:
            if unix:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(deadline.timeout())
                try:
                    sock.connect(path)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection((protocol.host, protocol.port),
                                                deadline.timeout(), **kwargs)
        set_nodelay(sock)
        if protocol.secure:
            context = ssl if ssl is not None else ssl_module.create_default_context()
            sock.settimeout(deadline.timeout())
            sock = context.wrap_socket(sock, server_hostname=server_hostname or protocol.host)
    except socket.timeout:
        if sock is not None:
            sock.close()
        raise TimeoutError("timed out during the opening handshake") from None
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    connection: ClientConnection = cls(
        sock, protocol, ping_interval=ping_interval, ping_timeout=ping_timeout,
        close_timeout=close_timeout, max_queue=max_queue, logger=logger)
    try:
        connection.handshake(deadline)
    except BaseException:
        connection._close_fd()
        raise
    if protocol.state is State.CLOSED:  # pragma: no cover - refused above
        raise ConnectionError("connection closed during the opening handshake")
    connection.start_background()
    return connection


def unix_connect(path: Optional[str] = None, uri: Optional[str] = None,
                 **kwargs: Any) -> ClientConnection:
    """Connect to a WebSocket server listening on the Unix socket ``path``;
    ``uri`` (default ``ws://localhost/``, or ``wss://`` with ``ssl``) gives
    the request's Host and path. Other keywords as for :func:`connect`."""
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    return connect(uri, unix=True, path=path, **kwargs)
