"""Threading WebSocket server: :func:`serve`, :func:`unix_serve`, :class:`Server`.

``with serve(handler, host, port) as server: server.serve_forever()`` as in
``websockets.sync.server``. Each accepted TCP connection gets a thread that
performs the opening handshake and then runs ``handler(connection)``; the
connection itself has a background thread (see
:mod:`wsfast.sync.connection`). When the handler returns the connection is
closed with 1000; when it raises, with 1011 (the error is logged).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import selectors
import socket
import ssl as ssl_module
import threading
import time
from typing import Any, Callable, Iterable, Optional, Sequence, Set, Tuple

from ..connection import ServerConnection as ServerProtocol
from ..connection import State
from ..defaults import (CLOSE_TIMEOUT, DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_MESSAGE_SIZE,
                        MAX_QUEUE, OPEN_TIMEOUT, PING_INTERVAL, PING_TIMEOUT)
from ..events import Request, Response
from ._options import SERVER, Deadline, check_kwargs, codec_options, server_compression, \
    set_nodelay
from .connection import Connection

__all__ = ["serve", "unix_serve", "Server", "ServerConnection", "basic_auth"]

#: What ``socket.create_server`` accepts besides the address.
_SOCKET_KWARGS = ("family", "backlog", "reuse_port", "dualstack_ipv6")


class ServerConnection(Connection):
    """The server side of a connection (what handlers receive)."""

    protocol: ServerProtocol

    def __init__(self, sock: socket.socket, protocol: ServerProtocol, *,
                 server: Optional["Server"] = None, **options: Any) -> None:
        super().__init__(sock, protocol, **options)
        self.server = server
        #: Set by :func:`basic_auth` once the client authenticated.
        self.username: Optional[str] = None

    def respond(self, status: int, text: str) -> Response:
        """A plain-text HTTP response, for ``process_request`` to return."""
        return self.protocol.reject(status, text)

    def handshake(self, deadline: Deadline, process_request: Any, process_response: Any,
                  server_header: Optional[str], select_subprotocol: Any,
                  origins: Optional[Sequence[Any]]) -> bool:
        """Read the upgrade request and answer it (this thread); whether the
        connection is open."""
        protocol = self.protocol
        sock = self.socket
        while protocol.request is None and protocol.handshake_error is None:
            sock.settimeout(deadline.timeout())
            try:
                data = sock.recv(self.recv_bufsize)
            except socket.timeout:
                raise TimeoutError("timed out during the opening handshake") from None
            if not data:
                return False
            with self._mutex:
                protocol.receive_data(data)
                protocol.events_received()
        sock.settimeout(deadline.timeout())
        if protocol.handshake_error is not None:  # the refusal is queued
            self.response = None
            sock.sendall(b"".join(protocol.data_to_send()))
            return False
        request = self.request = protocol.request
        if self.server is not None and self.server._shutting_down:
            response = _refuse_503(self, request)  # as websockets: opening during shutdown
        else:
            response = self._run_hook(process_request, "process_request", request)
        if response is None:
            response = self._check_origin(request, origins)
        if response is None:
            subprotocol = None
            if select_subprotocol is not None:
                offered = [token.strip() for value in
                           request.headers.get_all("Sec-WebSocket-Protocol")
                           for token in value.split(",") if token.strip()]
                subprotocol = self._run_hook(select_subprotocol, "select_subprotocol", offered,
                                             with_request=False)
                if isinstance(subprotocol, Response):
                    response = subprotocol
            if response is None:
                extra = [("Server", server_header)] if server_header is not None else []
                try:
                    response = protocol.accept(request, subprotocol=subprotocol,
                                               extra_headers=extra)
                except ValueError:
                    self.logger.error("select_subprotocol chose a subprotocol the client "
                                      "did not offer", exc_info=True)
                    response = protocol.reject(500, "Internal Server Error\n")
        if process_response is not None:
            replaced = self._run_hook(process_response, "process_response", request, response)
            if replaced is not None:
                response = replaced
        self.response = response
        protocol.send_response(response)
        sock.sendall(b"".join(protocol.data_to_send()))
        if protocol.state is not State.OPEN:
            return False
        sock.settimeout(None)
        # frames that came with the request were parsed by send_response()
        events = protocol.events_received()
        if events:
            with self._mutex:
                self._handle_events(events)
        return True

    def _run_hook(self, hook: Any, name: str, *args: Any, with_request: bool = True) -> Any:
        """Call a user hook; its failure becomes a 500, never a dropped connection."""
        if hook is None:
            return None
        try:
            return hook(self, *args)
        except Exception:  # noqa: BLE001 - reported, answered with 500
            self.logger.error("%s failed", name, exc_info=True)
            return self.protocol.reject(500, "Internal Server Error\n")

    def _check_origin(self, request: Request, origins: Optional[Sequence[Any]]) -> Any:
        if origins is None:
            return None
        origin = request.headers.get("Origin")
        for allowed in origins:
            if allowed is None and origin is None:
                return None
            if isinstance(allowed, str) and origin == allowed:
                return None
            if isinstance(allowed, re.Pattern) and origin is not None \
                    and allowed.fullmatch(origin):
                return None
        return self.protocol.reject(403, "Forbidden: Origin not allowed\n")

    def _start_close(self, code: int, reason: str) -> None:
        """Send a close frame without waiting (server shutdown); the
        background thread completes the closing handshake."""
        if not self._send_lock.acquire(True, 0.1):
            self._abort()
            return
        try:
            with self._mutex:
                if not self._ended and self.protocol.state is State.OPEN:
                    self.protocol.send_close(code, reason)
                    self._check_closing()
                    if self._close_deadline is None:
                        self._close_deadline = time.monotonic() + (self.close_timeout or 10)
                self._cond.notify_all()
        except BaseException:
            self._release_send_lock()
            raise
        self._flush_locked()


class Server:
    """The WebSocket server :func:`serve` returns (mirrors
    ``socketserver.BaseServer`` in part).

    Args:
        socket: the listening socket.
        handler: called with ``(socket, address)`` for each connection, in
            its own thread.
        logger: where the server logs.
    """

    def __init__(self, socket: socket.socket, handler: Callable[[socket.socket, Any], None],
                 logger: Any = None) -> None:
        self.socket = socket
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("wsfast.sync.server")
        elif isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger
        self.lock = threading.Lock()
        self.all_connections: Set[ServerConnection] = set()
        self.handler_threads: Set[threading.Thread] = set()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = threading.Event()
        self._shutting_down = False
        self._serving = False

    @property
    def connections(self) -> Set[ServerConnection]:
        """The connections that are open (handshake done, closing not started)."""
        with self.lock:
            return {c for c in self.all_connections if c.protocol.state is State.OPEN}

    def fileno(self) -> int:
        """The listening socket's file descriptor."""
        return self.socket.fileno()

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called (from another
        thread), each handled in its own thread."""
        with self.lock:
            if self._shutting_down or self._serving:
                return
            self._serving = True
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._wake_r, selectors.EVENT_READ)
            selector.register(self.socket, selectors.EVENT_READ)
        except (OSError, ValueError):
            selector.close()
            return
        try:
            while not self._shutting_down:
                ready = selector.select()
                if self._shutting_down:
                    break
                if not any(key.fileobj is self.socket for key, _ in ready):
                    continue
                try:
                    sock, address = self.socket.accept()
                except BlockingIOError:
                    continue
                except OSError:
                    break
                thread = threading.Thread(target=self._run_handler, args=(sock, address),
                                          daemon=True)
                with self.lock:
                    if self._shutting_down:
                        sock.close()
                        break
                    self.handler_threads.add(thread)
                thread.start()
        finally:
            selector.close()
            self._close_wakeup()
            self._closed.set()

    def _close_wakeup(self) -> None:
        """Close the pipe that wakes serve_forever (by whoever stops last:
        closing it under a waiting selector would lose the wake-up)."""
        with self.lock:
            if self._wake_r < 0:
                return
            fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), -1, -1
        for fd in fds:
            os.close(fd)

    def _run_handler(self, sock: socket.socket, address: Any) -> None:
        try:
            self.handler(sock, address)
        finally:
            with self.lock:
                self.handler_threads.discard(threading.current_thread())

    def shutdown(self, close_connections: bool = True, code: int = 1001, reason: str = "") -> None:
        """Stop accepting connections; with ``close_connections`` (default),
        close the open ones (``code``, 1001 by default) and refuse opening
        ones; then wait for the connection handlers to return. Idempotent."""
        with self.lock:
            first = not self._shutting_down
            self._shutting_down = True
        if first:
            with self.lock:
                if self._wake_w >= 0:
                    os.write(self._wake_w, b"x")
            try:
                self.socket.close()
            except OSError:  # pragma: no cover
                pass
        if close_connections:
            with self.lock:
                connections = list(self.all_connections)
            for connection in connections:
                connection._start_close(code, reason)
        while True:
            with self.lock:
                threads = [t for t in self.handler_threads if t is not threading.current_thread()]
            if not threads:
                break
            for thread in threads:
                thread.join()
        with self.lock:
            serving = self._serving
        if not serving:
            self._close_wakeup()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown()


def serve(
    handler: Callable[[ServerConnection], Any],
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    sock: Optional[socket.socket] = None,
    ssl: Optional[ssl_module.SSLContext] = None,
    origins: Optional[Sequence[Any]] = None,
    extensions: Optional[Sequence[Any]] = None,
    subprotocols: Optional[Sequence[str]] = None,
    select_subprotocol: Optional[Callable[..., Any]] = None,
    compression: Any = "deflate",
    process_request: Optional[Callable[..., Any]] = None,
    process_response: Optional[Callable[..., Any]] = None,
    server_header: Optional[str] = SERVER,
    open_timeout: Optional[float] = OPEN_TIMEOUT,
    ping_interval: Optional[float] = PING_INTERVAL,
    ping_timeout: Optional[float] = PING_TIMEOUT,
    close_timeout: Optional[float] = CLOSE_TIMEOUT,
    max_size: Any = DEFAULT_MAX_MESSAGE_SIZE,
    max_queue: Any = MAX_QUEUE,
    logger: Any = None,
    create_connection: Optional[type] = None,
    text_as_bytes: bool = False,
    max_fragments: Optional[int] = None,
    fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
    backend: Optional[str] = None,
    **kwargs: Any,
) -> Server:
    """Start a WebSocket server on ``host:port``; the keywords and defaults
    are ``websockets.sync.server.serve``'s::

        def echo(websocket):
            for message in websocket:
                websocket.send(message)

        with serve(echo, "localhost", 8765) as server:
            server.serve_forever()

    Args:
        handler: ``handler(connection)``, run in the connection's thread.
        host, port: where to listen; or ``sock``, a listening socket.
        ssl: a server-side TLS context.
        origins: allowed ``Origin`` values (str, compiled regex, or ``None``
            for no header); others get 403.
        compression: ``"deflate"`` or ``None``; ``extensions`` may list
            :class:`~wsfast.deflate.PerMessageDeflate` configurations.
        subprotocols: supported subprotocols, in order of preference;
            ``select_subprotocol(connection, offered)`` chooses instead.
        process_request: ``f(connection, request)`` returning ``None`` to go
            on or a Response to answer instead (``connection.respond(...)``);
            an exception becomes a 500.
        process_response: ``f(connection, request, response)`` returning a
            replacement response or ``None``.
        server_header: the ``Server`` header (``None``: none).
        open_timeout, ping_interval, ping_timeout, close_timeout: seconds.
        max_size, max_queue, logger, create_connection: as for
            :func:`wsfast.sync.client.connect`.
        text_as_bytes, max_fragments, fragment_overhead, backend: wsfast's
            codec options.
        **kwargs: ``family``, ``backlog``, ``reuse_port``, ``dualstack_ipv6``
            for ``socket.create_server``.
    """
    unix = kwargs.pop("unix", False)
    path = kwargs.pop("path", None)
    check_kwargs(kwargs, _SOCKET_KWARGS, "serve")
    protocol_options = dict(
        subprotocols=tuple(subprotocols or ()),
        **codec_options(max_size=max_size, compression=compression, extensions=extensions,
                        default=server_compression, text_as_bytes=text_as_bytes,
                        max_fragments=max_fragments, fragment_overhead=fragment_overhead,
                        backend=backend),
    )
    ServerProtocol(**protocol_options)  # check the options now
    if sock is None:
        if unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
                sock.listen(kwargs.get("backlog") or 128)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_server((host or "", port or 0), **kwargs)
    cls = create_connection if create_connection is not None else ServerConnection
    server: Server

    def conn_handler(client: socket.socket, address: Any) -> None:
        deadline = Deadline(open_timeout)
        connection = None
        try:
            set_nodelay(client)
            if ssl is not None:
                client.settimeout(deadline.timeout())
                client = ssl.wrap_socket(client, server_side=True)
            protocol = ServerProtocol(**protocol_options)
            connection = cls(client, protocol, server=server, ping_interval=ping_interval,
                             ping_timeout=ping_timeout, close_timeout=close_timeout,
                             max_queue=max_queue, logger=logger or server.logger)
            with server.lock:
                server.all_connections.add(connection)
            opened = connection.handshake(deadline, process_request, process_response,
                                          server_header, select_subprotocol, origins)
        except Exception as exc:  # noqa: BLE001 - TLS errors, timeouts, resets
            server.logger.debug("opening handshake failed: %s", exc)
            opened = False
        if not opened:
            _discard(server, connection, client)
            return
        assert connection is not None
        connection.start_background()
        try:
            handler(connection)
        except Exception:  # noqa: BLE001 - reported, then 1011
            server.logger.error("connection handler failed", exc_info=True)
            connection.close(1011, "internal error")
        else:
            connection.close()
        finally:
            with server.lock:
                server.all_connections.discard(connection)

    server = Server(sock, conn_handler, logger)
    return server


def _refuse_503(connection: ServerConnection, request: Optional[Request]) -> Response:
    return connection.respond(503, "Service Unavailable: the server is shutting down\n")


def _discard(server: Server, connection: Optional[ServerConnection], client: socket.socket) -> None:
    """End a connection that did not open: half-close after the response,
    then close."""
    if connection is not None:
        with server.lock:
            server.all_connections.discard(connection)
    try:
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    client.close()


def unix_serve(handler: Callable[[ServerConnection], Any], path: Optional[str] = None,
               **kwargs: Any) -> Server:
    """Start a WebSocket server listening on the Unix socket ``path``; other
    keywords as for :func:`serve`."""
    return serve(handler, unix=True, path=path, **kwargs)


def basic_auth(
    realm: str = "",
    credentials: Optional[Any] = None,
    check_credentials: Optional[Callable[[str, str], bool]] = None,
) -> Callable[[ServerConnection, Request], Optional[Response]]:
    """A ``process_request`` hook enforcing HTTP Basic Authentication
    (RFC 7617): 401 with a challenge unless the request carries valid
    credentials; on success the connection's ``username`` is set.

    Args:
        realm: the protection space named in the challenge.
        credentials: a ``(username, password)`` pair or a list of them.
        check_credentials: ``f(username, password) -> bool`` instead.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is not None:
        pairs: Iterable[Tuple[str, str]]
        if _is_pair(credentials):
            pairs = [credentials]
        elif isinstance(credentials, Iterable) and all(_is_pair(p) for p in credentials):
            pairs = list(credentials)
        else:
            raise TypeError(f"invalid credentials argument: {credentials!r}")
        table = dict(pairs)

        def check_credentials(username: str, password: str) -> bool:
            expected = table.get(username)
            # compare in constant time: no timing hint about the password
            return expected is not None and hmac.compare_digest(
                expected.encode("utf-8", "surrogateescape"),
                password.encode("utf-8", "surrogateescape"))

    challenge = [("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"')]

    def process_request(connection: ServerConnection, request: Request) -> Optional[Response]:
        header = request.headers.get("Authorization")
        if header is None:
            return connection.protocol.reject(401, "Missing credentials\n", challenge)
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError
            username, sep, password = base64.b64decode(token.strip(), validate=True) \
                .decode("utf-8").partition(":")
            if not sep:
                raise ValueError
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return connection.protocol.reject(401, "Unsupported credentials\n", challenge)
        if not check_credentials(username, password):  # type: ignore[misc]
            return connection.protocol.reject(401, "Invalid credentials\n", challenge)
        connection.username = username
        return None

    return process_request


def _is_pair(value: Any) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(item, str) for item in value))
