"""asyncio WebSocket client: :func:`connect` and :func:`unix_connect`.

The same names, keyword options and defaults as websockets'
``websockets.asyncio.client``, so that code moves by renaming the import:
``await connect(uri)``, ``async with connect(uri) as websocket`` and
``async for websocket in connect(uri)`` (reconnecting with exponential
backoff) all work, through SOCKS and HTTP proxies too.

What happens on a connection attempt, in order: resolve the proxy (the
``proxy`` option, or the environment), open the TCP or Unix connection
(through the proxy's tunnel if any, then TLS for ``wss://``), send the
upgrade request, wait for the response; a redirect (3xx with Location) is
followed as websockets follows it. All of it is bounded by ``open_timeout``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import ssl as ssl_module
import sys
import urllib.parse
from typing import (Any, AsyncIterator, Callable, Dict, Generator, Optional, Sequence, Tuple,
                    Union)

from ..protocol import ClientProtocol
from ..defaults import (CLOSE_TIMEOUT, DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_MESSAGE_SIZE,
                        MAX_QUEUE, OPEN_TIMEOUT, PING_INTERVAL, PING_TIMEOUT, WRITE_LIMIT)
from ..deflate import PerMessageDeflate
from ..errors import InvalidHandshake
from ..events import Response
from ..exceptions import (InvalidMessage, InvalidProxyMessage, InvalidProxyStatus, InvalidStatus,
                          InvalidURI, ProxyError, SecurityError)
from ..headers import Headers
from ..http11 import ResponseParser
from ..proxy import Proxy, connect_request, get_proxy, parse_proxy
from ..uri import WebSocketURI, parse_uri
from ..version import version as _version
from .connection import WebSocket
from .server import codec_options, compression_extensions

__all__ = ["connect", "unix_connect", "ClientConnection", "ClientWebSocket",
           "process_exception", "backoff", "default_client_compression", "USER_AGENT"]

logger = logging.getLogger(__name__)
_default_logger = logger  # connect() and ClientConnection take a logger= option

#: The default ``User-Agent``, in websockets' format.
USER_AGENT = f"Python/{sys.version_info[0]}.{sys.version_info[1]} wsfast/{_version}"

# Reconnection backoff and redirects, with websockets' environment variables
# (a deployment tuned for websockets keeps its settings).
BACKOFF_INITIAL_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_INITIAL_DELAY", "5"))
BACKOFF_MIN_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MIN_DELAY", "3.1"))
BACKOFF_MAX_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MAX_DELAY", "90.0"))
BACKOFF_FACTOR = float(os.environ.get("WEBSOCKETS_BACKOFF_FACTOR", "1.618"))
MAX_REDIRECTS = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))

_REDIRECT_STATUSES = (300, 301, 302, 303, 307, 308)


def default_client_compression() -> PerMessageDeflate:
    """permessage-deflate as websockets offers it by default (memory level 5;
    the server may ask for smaller windows)."""
    return PerMessageDeflate(mem_level=5)


def backoff(
    initial_delay: float = BACKOFF_INITIAL_DELAY,
    min_delay: float = BACKOFF_MIN_DELAY,
    max_delay: float = BACKOFF_MAX_DELAY,
    factor: float = BACKOFF_FACTOR,
) -> Generator[float, None, None]:
    """Delays between reconnection attempts, in seconds (the default of
    ``connect(reconnect_delays=...)``).

    First a random delay up to *initial_delay*, so that clients cut off
    together do not come back together (RFC 6455 §7.2.3); then from
    *min_delay*, multiplied by *factor* each time, up to *max_delay*.
    """
    yield random.random() * initial_delay
    delay = min_delay
    while delay < max_delay:
        yield delay
        delay *= factor
    while True:
        yield max_delay


def process_exception(exc: Exception) -> Optional[Exception]:
    """Decide whether ``async for websocket in connect(...)`` retries after *exc*.

    Return ``None`` to retry (the error may be transient), or the exception
    to raise, which ends the loop. Retried, as websockets retries: network
    errors (:exc:`OSError`, timeouts), a connection that closed before the
    server's response (:exc:`InvalidMessage` caused by :exc:`EOFError`), and
    HTTP 500, 502, 503 and 504 from the server (:exc:`InvalidStatus`; a
    proxy's refusal, :exc:`InvalidProxyStatus`, is fatal as in websockets).
    Everything else (a 4xx, a bad handshake, a bad URI) would fail the same
    way again.
    """
    if isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError)):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None
    if isinstance(exc, InvalidStatus) \
            and exc.response.status_code in (500, 502, 503, 504):
        return None
    return exc


class ClientConnection(WebSocket):
    """The client side of one connection: what :func:`connect` gives.

    Args:
        protocol: the sans-I/O :class:`wsfast.protocol.ClientProtocol`
            (websockets calls it the protocol; wsfast keeps the name
            :attr:`connection` for it too).
        ping_interval, ping_timeout, close_timeout, max_queue, write_limit:
            as for :func:`connect`.
        logger: as for :func:`connect`; by default the one :func:`connect`
            set on *protocol*, else this module's.

    A ``create_connection=`` factory given to :func:`connect` is called with
    *protocol* and the five options before ``logger``, as in websockets.
    """

    def __init__(
        self,
        protocol: ClientProtocol,
        *,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        max_queue: Any = MAX_QUEUE,
        write_limit: Any = WRITE_LIMIT,
        logger: Any = None,
    ) -> None:
        if logger is None:
            # connect(logger=...) puts it on the sans-I/O connection.
            logger = getattr(protocol, "logger", None) or _default_logger
        super().__init__(protocol, ping_interval=ping_interval, ping_timeout=ping_timeout,
                         close_timeout=close_timeout, max_queue=max_queue,
                         write_limit=write_limit, logger=logger)
        self._handshake: "asyncio.Future[None]" = self._loop.create_future()

    connection: ClientProtocol

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
                # As websockets reports it, so that process_exception retries:
                # the server went away before answering.
                error = InvalidMessage("did not receive a valid HTTP response")
                error.__cause__ = EOFError("connection closed while reading HTTP status line")
                if exc is not None:
                    error.__cause__.__cause__ = exc
            self._handshake.set_exception(error)
            self._handshake.exception()  # retrieved by connect(), or by nobody


#: The name wsfast 0.1 gave :class:`ClientConnection`.
ClientWebSocket = ClientConnection


# loop.create_connection()'s keyword arguments, which connect() passes on;
# the proxy_ forms configure TLS to an https:// proxy, unix and path come
# from unix_connect(). Anything else is refused when connect() is called.
_LOOP_OPTIONS = frozenset(
    name for name in inspect.signature(asyncio.BaseEventLoop.create_connection).parameters
    if name not in ("self", "protocol_factory")
) | {"happy_eyeballs_delay", "interleave", "all_errors"}
_PROXY_TLS_OPTIONS = frozenset({"proxy_ssl", "proxy_server_hostname",
                                "proxy_ssl_handshake_timeout", "proxy_ssl_shutdown_timeout"})
_UNIX_OPTIONS = frozenset({"unix", "path"})


class connect:
    """Connect to the WebSocket server at ``uri``.

    Use it as an async context manager (the connection is closed on exit)::

        async with connect("ws://localhost:8765") as websocket:
            await websocket.send("Hello world!")
            print(await websocket.recv())

    await it (then close the connection yourself), or iterate over it to
    reconnect whenever the connection fails with a transient error, with
    exponential backoff (the connection is closed after each iteration)::

        async for websocket in connect("ws://localhost:8765"):
            try:
                ...
            except ConnectionClosed:
                continue

    Args:
        uri: ``ws://`` or ``wss://`` URI; ``ws://user:password@host/`` sends
            the credentials as HTTP Basic authentication.
        origin: value of the ``Origin`` header.
        extensions: extension configurations to offer
            (:class:`~wsfast.deflate.PerMessageDeflate`), in order.
        subprotocols: subprotocols to offer, in order of preference.
        compression: ``"deflate"`` (default) offers permessage-deflate,
            ``None`` disables it; a :class:`~wsfast.deflate.PerMessageDeflate`
            sets its parameters.
        additional_headers: more request headers (mapping, pairs or
            :class:`~wsfast.headers.Headers`).
        user_agent_header: the ``User-Agent`` value; ``None`` sends none.
        proxy: ``True`` (default) uses the proxy configured in the
            environment (``https_proxy``, ``socks_proxy``, ... and
            ``no_proxy``), a URL (``socks5h://``, ``socks5://``, ``socks4a://``,
            ``socks4://``, ``http://``, ``https://``) uses that proxy, ``None``
            connects directly. SOCKS needs ``python-socks``
            (``pip install wsfast[proxy]``).
        process_exception: when reconnecting, tells whether an error is
            transient (return ``None``) or fatal (return the exception to
            raise); see :func:`process_exception`.
        open_timeout: seconds to connect and complete the handshake, proxy
            and redirects included; ``None``: no limit.
        ping_interval, ping_timeout: keepalive pings; ``None`` disables.
        close_timeout: seconds for each step of the closing handshake.
        reconnect_delays: generator function of the delays between
            reconnection attempts (default :func:`backoff`).
        max_size: largest incoming message in bytes, ``None`` for no limit,
            or a ``(max_message_size, max_frame_size)`` tuple.
        max_queue: received messages waiting for ``recv`` before reading
            pauses; an int, ``None``, or a ``(high, low)`` tuple.
        write_limit: high-water mark of the write buffer in bytes, or a
            ``(high, low)`` tuple.
        logger: logger for this connection (default: this module's).
        create_connection: the :class:`ClientConnection` class (or a factory
            with its signature) to make the connection with.
        extra_headers: legacy name of ``additional_headers``.
        text_as_bytes, max_fragments, fragment_overhead, max_frame_size,
        backend: wsfast's own options, as for :func:`wsfast.serve`.
        **kwargs: passed to ``loop.create_connection``: ``ssl``,
            ``server_hostname``, ``sock``, ``local_addr``, and ``host`` /
            ``port`` to connect somewhere else than the URI says (the URI's
            host is still the Host header and the TLS name); through an
            https:// proxy, ``proxy_ssl`` and ``proxy_server_hostname`` set
            up TLS to the proxy.

    Raises:
        TypeError: at the call, for a keyword option connect() does not know.
        InvalidURI: ``uri`` is not a valid WebSocket URI.
        InvalidProxy: ``proxy`` is not a valid proxy URL.
        OSError: the TCP connection failed.
        InvalidHandshake: the handshake failed: :exc:`InvalidStatus` (with
            the ``response``) when the server refused, :exc:`InvalidMessage`
            for a malformed response, :exc:`ProxyError` and its subclasses
            when the proxy refused.
        TimeoutError: ``open_timeout`` expired.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: Optional[str] = None,
        extensions: Optional[Sequence[PerMessageDeflate]] = None,
        subprotocols: Optional[Sequence[str]] = None,
        compression: Union[str, PerMessageDeflate, None] = "deflate",
        additional_headers: Any = None,
        user_agent_header: Optional[str] = USER_AGENT,
        proxy: Union[str, bool, None] = True,
        process_exception: Callable[[Exception], Optional[Exception]] = process_exception,
        open_timeout: Optional[float] = OPEN_TIMEOUT,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        reconnect_delays: Callable[[], Generator[float, None, None]] = backoff,
        max_size: Union[int, None, Tuple[Optional[int], Optional[int]]] = DEFAULT_MAX_MESSAGE_SIZE,
        max_queue: Union[int, None, Tuple[Optional[int], Optional[int]]] = MAX_QUEUE,
        write_limit: Union[int, Tuple[int, Optional[int]]] = WRITE_LIMIT,
        logger: Any = None,
        create_connection: Optional[Callable[..., ClientConnection]] = None,
        extra_headers: Any = None,
        text_as_bytes: bool = False,
        max_fragments: Optional[int] = None,
        fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
        max_frame_size: Optional[int] = None,
        backend: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - _LOOP_OPTIONS - _PROXY_TLS_OPTIONS - _UNIX_OPTIONS)
        if unknown:
            # Refused here rather than by the event loop when the connection
            # is awaited, far from the mistake.
            raise TypeError(f"connect() got an unexpected keyword argument {unknown[0]!r}")
        if proxy is not True and proxy is not None and not isinstance(proxy, str):
            raise TypeError(f"proxy must be True, None or a URL, not {proxy!r}")
        self.uri = uri
        self.ws_uri = parse_uri(uri)
        if not self.ws_uri.secure and kwargs.get("ssl") is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        if self.ws_uri.secure and "ssl" in kwargs and kwargs["ssl"] is None:
            raise ValueError("ssl=None is incompatible with a wss:// URI")
        if isinstance(proxy, str):
            parse_proxy(proxy)  # InvalidProxy now, not at the first attempt
        if isinstance(max_size, tuple):
            max_size, max_frame_size = max_size
        headers = Headers()
        for source in (additional_headers, extra_headers):
            if source is not None:
                for name, value in Headers(source).items():
                    headers.add(name, value)
        self.additional_headers = headers
        self.user_agent_header = user_agent_header
        self.proxy = proxy
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.reconnect_delays = reconnect_delays
        self.logger = logger if logger is not None else _default_logger
        self.create_connection_kwargs = kwargs
        self._create_connection = create_connection or ClientConnection
        self._protocol_options = dict(
            origin=origin,
            subprotocols=tuple(subprotocols or ()),
            **codec_options(
                max_size=max_size, max_frame_size=max_frame_size, max_fragments=max_fragments,
                fragment_overhead=fragment_overhead, text_as_bytes=text_as_bytes,
                extensions=_extensions(extensions, compression), backend=backend),
        )
        # Exactly the arguments websockets gives create_connection, so that a
        # factory written for it works; the logger travels on the sans-I/O
        # connection, where websockets keeps it too (see _new_protocol).
        self._connection_options: Dict[str, Any] = dict(
            ping_interval=ping_interval, ping_timeout=ping_timeout, close_timeout=close_timeout,
            max_queue=max_queue, write_limit=write_limit)
        self._logger_option = logger
        # Build the first sans-I/O connection now: a bad option (subprotocol,
        # header, codec limit) is an error at the call, as in websockets.
        self._next_protocol: Optional[ClientProtocol] = self._new_protocol()
        self.connection: Optional[ClientConnection] = None

    def _new_protocol(self) -> ClientProtocol:
        headers = list(self.additional_headers.items())
        if self.user_agent_header is not None and "User-Agent" not in self.additional_headers:
            headers.append(("User-Agent", self.user_agent_header))
        protocol = ClientProtocol(self.uri, extra_headers=headers, **self._protocol_options)
        protocol.connect()  # validates the request it will send
        if self._logger_option is not None:
            protocol.logger = self._logger_option
        return protocol

    def _factory(self) -> ClientConnection:
        protocol, self._next_protocol = self._next_protocol, None
        if protocol is None:
            protocol = self._new_protocol()
        return self._create_connection(protocol, **self._connection_options)

    # -- opening the connection ------------------------------------------------

    async def _open_transport(self) -> ClientConnection:
        """Open the TCP or Unix connection, through a proxy if one applies,
        with TLS for wss://; return the connection, its request sent."""
        loop = asyncio.get_running_loop()
        kwargs = dict(self.create_connection_kwargs)
        ws_uri = self.ws_uri
        unix = kwargs.pop("unix", False)
        proxy: Any = self.proxy
        if unix or kwargs.get("sock") is not None:
            proxy = None
        elif proxy is True:
            proxy = get_proxy(ws_uri)
        if ws_uri.secure:
            kwargs.setdefault("ssl", True)
            kwargs.setdefault("server_hostname", ws_uri.host)
        websocket: Optional[ClientConnection] = None

        def factory() -> Any:
            nonlocal websocket
            websocket = self._factory()
            return websocket.protocol

        if unix:
            for name in _PROXY_TLS_OPTIONS:
                kwargs.pop(name, None)
            await loop.create_unix_connection(factory, **kwargs)
        elif proxy is None:
            for name in _PROXY_TLS_OPTIONS:
                kwargs.pop(name, None)
            if kwargs.get("sock") is None:
                kwargs.setdefault("host", ws_uri.host)
                kwargs.setdefault("port", ws_uri.port)
            await loop.create_connection(factory, **kwargs)
        else:
            parsed = parse_proxy(proxy)
            if parsed.scheme.startswith("socks"):
                for name in _PROXY_TLS_OPTIONS:
                    kwargs.pop(name, None)
                sock = await _socks_connect(parsed, ws_uri, kwargs.pop("local_addr", None))
                for name in ("host", "port", "family", "proto", "flags",
                             "happy_eyeballs_delay", "interleave", "all_errors"):
                    kwargs.pop(name, None)
                await loop.create_connection(factory, sock=sock, **kwargs)
            else:
                transport = await self._http_tunnel(parsed, kwargs)
                websocket = self._factory()
                transport.set_protocol(websocket.protocol)
                ssl = kwargs.get("ssl")
                if ssl is not None:
                    if ssl is True:
                        ssl = ssl_module.create_default_context()
                    tls_options = {key: value for key, value in kwargs.items()
                                   if key in ("server_hostname", "ssl_handshake_timeout",
                                              "ssl_shutdown_timeout")}
                    try:
                        transport = await loop.start_tls(transport, websocket.protocol, ssl,
                                                         **tls_options)
                    except BaseException:
                        transport.abort()
                        raise
                websocket.protocol.connection_made(transport)
        assert websocket is not None
        return websocket

    async def _http_tunnel(self, proxy: Proxy, kwargs: Dict[str, Any]) -> Any:
        """Connect to an HTTP(S) proxy and ask it for a tunnel (CONNECT).

        TLS options without the ``proxy_`` prefix are for the WebSocket
        server (they stay in *kwargs*); the others are for the proxy, as in
        websockets.
        """
        proxy_kwargs: Dict[str, Any] = {}
        for key in list(kwargs):
            if key.startswith("proxy_"):
                proxy_kwargs[key[len("proxy_"):]] = kwargs.pop(key)
            elif not (key.startswith("ssl") or key == "server_hostname"):
                proxy_kwargs[key] = kwargs.pop(key)
        if proxy.scheme == "https":
            proxy_kwargs.setdefault("ssl", True)
            if proxy_kwargs["ssl"] is None:
                raise ValueError("proxy_ssl=None is incompatible with an https:// proxy")
        elif proxy_kwargs.get("ssl") is not None:
            raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
        proxy_kwargs.setdefault("host", proxy.host)
        proxy_kwargs.setdefault("port", proxy.port)
        loop = asyncio.get_running_loop()
        request = connect_request(proxy, self.ws_uri, self.user_agent_header)
        transport, tunnel = await loop.create_connection(
            lambda: _TunnelProtocol(request), **proxy_kwargs)
        try:
            await tunnel.established
        except BaseException:
            transport.abort()
            raise
        return transport

    async def _connect(self) -> ClientConnection:
        for _ in range(MAX_REDIRECTS):
            websocket = await self._open_transport()
            try:
                await asyncio.shield(websocket._handshake)
            except asyncio.CancelledError:
                websocket._close_transport(abort=True)
                raise
            except Exception as exc:
                websocket._close_transport(abort=True)
                redirect = self._redirect(exc)
                if isinstance(redirect, Exception):
                    if redirect is exc:
                        raise
                    raise redirect from exc
                self.uri, self.ws_uri = redirect, parse_uri(redirect)
                continue
            return websocket
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, exc: Exception) -> Union[Exception, str]:
        """The URI to follow if *exc* is a redirect websockets would follow,
        else the exception to raise."""
        response = getattr(exc, "response", None)
        if not (isinstance(exc, InvalidHandshake) and response is not None
                and response.status_code in _REDIRECT_STATUSES
                and "Location" in response.headers):
            return exc
        new_uri: str = urllib.parse.urljoin(self.uri, response.headers["Location"])
        try:
            new_ws_uri = parse_uri(new_uri)
        except (InvalidURI, ValueError) as error:  # not a WebSocket URI
            return error
        kwargs = self.create_connection_kwargs
        if kwargs.get("sock") is not None:
            return ValueError(f"cannot follow redirect to {new_uri} with a preexisting socket")
        old = self.ws_uri
        if old.secure and not new_ws_uri.secure:
            return SecurityError(f"cannot follow redirect to non-secure URI {new_uri}")
        if (old.secure, old.host, old.port) != (new_ws_uri.secure, new_ws_uri.host,
                                                new_ws_uri.port):
            if kwargs.get("unix", False):
                return ValueError(
                    f"cannot follow cross-origin redirect to {new_uri} with a Unix socket")
            if kwargs.get("host") is not None or kwargs.get("port") is not None:
                return ValueError(f"cannot follow cross-origin redirect to {new_uri} "
                                  f"with an explicit host or port")
            # Credentials are for the origin they were given for.
            self.additional_headers = Headers(
                [(name, value) for name, value in self.additional_headers.items()
                 if name.lower() not in ("authorization", "cookie", "proxy-authorization")])
        self._next_protocol = None
        return new_uri

    async def _open(self) -> ClientConnection:
        try:
            return await asyncio.wait_for(self._connect(), self.open_timeout)
        except asyncio.TimeoutError as exc:
            # The built-in TimeoutError, as websockets raises on every Python
            # (asyncio's is the same class from Python 3.11 on).
            raise TimeoutError("timed out during opening handshake") from exc

    # -- the three ways to use it ----------------------------------------------

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._open().__await__()

    async def __aenter__(self) -> ClientConnection:
        if self.connection is not None:
            raise RuntimeError("connect() isn't reentrant")
        self.connection = await self._open()
        return self.connection

    async def __aexit__(self, *exc_info: Any) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.close()

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        delays: Optional[Generator[float, None, None]] = None
        while True:
            try:
                async with self as websocket:
                    yield websocket
            except Exception as exc:
                try:
                    verdict = self.process_exception(exc)
                except Exception as raised:  # noqa: BLE001 - raising is a common way to say "fatal"
                    verdict = raised
                if verdict is exc:
                    raise
                if verdict is not None:
                    raise verdict from exc
                if delays is None:
                    delays = self.reconnect_delays()
                delay = next(delays)
                self.logger.info("connect failed; reconnecting in %.1f seconds: %s: %s",
                                 delay, type(exc).__name__, exc)
                await asyncio.sleep(delay)
            else:
                delays = None  # a connection worked: start the backoff afresh


def unix_connect(path: Optional[str] = None, uri: Optional[str] = None, **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on the Unix socket *path*.

    Takes :func:`connect`'s keyword options. ``uri`` (for the Host header
    and the resource) defaults to ``ws://localhost/``, or
    ``wss://localhost/`` when ``ssl`` is given.
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri, unix=True, path=path, **kwargs)


def _extensions(extensions: Optional[Sequence[PerMessageDeflate]],
                compression: Any) -> Tuple[Any, ...]:
    """``extensions`` plus what ``compression`` adds: permessage-deflate
    unless it is already offered (websockets' rule)."""
    offered = tuple(extensions or ())
    for extension in offered:
        if not isinstance(extension, PerMessageDeflate):
            raise TypeError(f"unsupported extension {extension!r}: wsfast implements "
                            f"permessage-deflate (wsfast.deflate.PerMessageDeflate)")
    if compression is None or any(isinstance(e, PerMessageDeflate) for e in offered):
        return offered
    return offered + compression_extensions(compression, default_client_compression)


# -- proxies -------------------------------------------------------------------

try:
    from python_socks import ProxyType as _SocksType
    from python_socks import ProxyError as _SocksError
    from python_socks.async_.asyncio import Proxy as _SocksProxy
    _HAVE_SOCKS = True
except ImportError:  # pragma: no cover - the proxy extra is not installed
    _HAVE_SOCKS = False


async def _socks_connect(proxy: Proxy, ws_uri: WebSocketURI, local_addr: Any) -> Any:
    """A socket connected to the WebSocket server through a SOCKS proxy.

    The SOCKS protocol is python-socks' (a well-kept library); ``socks5h``
    and ``socks4a`` let the proxy resolve the server's name.
    """
    if not _HAVE_SOCKS:
        raise ImportError("connecting through a SOCKS proxy requires python-socks: "
                          "pip install wsfast[proxy]")
    version = _SocksType.SOCKS5 if proxy.scheme.startswith("socks5") else _SocksType.SOCKS4
    remote_dns = proxy.scheme in ("socks5h", "socks4a")
    socks = _SocksProxy(version, proxy.host, proxy.port, proxy.username, proxy.password,
                        remote_dns)
    try:
        # open_timeout bounds it (the task is cancelled); python-socks' own
        # 60 s limit would only hide that.
        return await socks.connect(ws_uri.host, ws_uri.port, timeout=float("inf"),
                                   local_addr=local_addr)
    except OSError:
        raise  # python-socks' ProxyConnectionError: the proxy is unreachable
    except _SocksError as exc:
        raise ProxyError(f"SOCKS proxy refused the connection: {exc}") from exc


class _TunnelProtocol(asyncio.Protocol):
    """Sends the CONNECT request and reads the proxy's answer with wsfast's
    HTTP response parser; the transport then carries the WebSocket."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.parser = ResponseParser()
        self.established: "asyncio.Future[Response]" = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.established.done():
            return
        try:
            response = self.parser.feed(data)
        except InvalidHandshake as exc:
            error = InvalidProxyMessage("did not receive a valid HTTP response from proxy")
            error.__cause__ = exc
            self.established.set_exception(error)
            return
        if response is None:
            return
        if not 200 <= response.status_code < 300:
            self.established.set_exception(InvalidProxyStatus(response))
        elif self.parser.leftover:
            # Nothing can come through the tunnel before we speak.
            self.established.set_exception(
                InvalidProxyMessage("unexpected data after the proxy's response"))
        else:
            self.established.set_result(response)

    def eof_received(self) -> Optional[bool]:
        self._closed()
        return None

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._closed(exc)

    def _closed(self, exc: Optional[BaseException] = None) -> None:
        if not self.established.done():
            error = InvalidProxyMessage("did not receive a valid HTTP response from proxy")
            error.__cause__ = exc or EOFError("the proxy closed the connection")
            self.established.set_exception(error)
            self.established.exception()
