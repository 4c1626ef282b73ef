"""asyncio WebSocket server: :func:`serve`, :func:`unix_serve`, :func:`broadcast`,
:func:`basic_auth`, :class:`Server` and :class:`ServerConnection`.

The names, keyword options and defaults are websockets 17's
(``websockets.asyncio.server``), so that code written for it runs after
replacing the module name in its imports; wsfast's own options (codec limits,
``text_as_bytes``, ``max_connections``, ``backend``...) come on top. The
classic examples run too: ``serve`` is awaitable (``run_until_complete(serve(...))``)
and an async context manager; the handler takes ``(websocket)`` or the legacy
``(websocket, path)``.
"""

from __future__ import annotations

import asyncio
import http
import importlib.metadata
import inspect
import logging
import re
import socket
import sys
from typing import (Any, Awaitable, Callable, Dict, Optional, Sequence, Set, Tuple, Union,
                    cast)

from .. import _backend
from ..protocol import ServerProtocol
from ..state import State
from ..defaults import (CLOSE_TIMEOUT, DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_MESSAGE_SIZE,
                        MAX_QUEUE, OPEN_TIMEOUT, PING_INTERVAL, PING_TIMEOUT, WRITE_LIMIT)
from ..deflate import PerMessageDeflate
from ..errors import InvalidHandshake
from ..events import Request, Response
from ..fanout import SlowConsumerPolicy
from ..headers import parse_subprotocols
from .auth import basic_auth  # here too, where websockets has it
from .broadcast import broadcast  # here too, where websockets has it
from .connection import LoggerLike, WebSocket, queue_marks, write_marks

__all__ = ["serve", "unix_serve", "broadcast", "basic_auth", "Server", "ServerConnection",
           "ServerWebSocket", "default_server_compression", "codec_options"]

logger = logging.getLogger(__name__)
_module_logger = logger  # serve()'s logger option shadows the name

Handler = Callable[..., Awaitable[Any]]

def _version() -> str:
    """wsfast's version (the package's __init__ imports this module first)."""
    try:
        return importlib.metadata.version("wsfast")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


#: The ``Server`` header of every response unless ``server_header`` says otherwise.
SERVER = f"Python/{sys.version_info.major}.{sys.version_info.minor} wsfast/{_version()}"

_HOOK_FAILED = "Failed to open a WebSocket connection.\nSee server log for more information.\n"


def _keywords_of(method: Callable[..., Any], positional: int) -> frozenset[str]:
    """The keyword arguments *method* takes beyond its first *positional* ones."""
    parameters = list(inspect.signature(method).parameters.values())[positional:]
    return frozenset(p.name for p in parameters
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


# What serve() may pass on (self, protocol_factory, host, port / path come first).
_CREATE_SERVER_KEYWORDS = _keywords_of(asyncio.AbstractEventLoop.create_server, 4)
_CREATE_UNIX_SERVER_KEYWORDS = _keywords_of(asyncio.AbstractEventLoop.create_unix_server, 3)


def default_server_compression() -> PerMessageDeflate:
    """permessage-deflate as websockets enables it by default: 12-bit windows
    and memory level 5, about 64 KiB per connection instead of 300 KiB."""
    return PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12, mem_level=5)


def compression_extensions(compression: Any, default: Callable[[], PerMessageDeflate],
                           extensions: Optional[Sequence[Any]] = None) -> Tuple[Any, ...]:
    """The ``compression`` and ``extensions`` options as a tuple of extension
    configurations. As in websockets, ``compression="deflate"`` adds the
    default permessage-deflate unless ``extensions`` configures one."""
    configured = tuple(extensions or ())
    for extension in configured:
        if not isinstance(extension, PerMessageDeflate):
            raise TypeError(f"extensions: wsfast supports PerMessageDeflate, not {extension!r}")
    if compression is None:
        return configured
    if compression == "deflate":
        return configured if configured else (default(),)
    if isinstance(compression, PerMessageDeflate):
        return configured + (compression,)
    raise ValueError(
        f"compression must be 'deflate', None or a PerMessageDeflate, not {compression!r}")


def size_limits(max_size: Any,
                max_frame_size: Optional[int]) -> Tuple[Optional[int], Optional[int]]:
    """``max_size`` as websockets takes it -- an int, ``None``, or a
    ``(message, fragment)`` tuple -- as wsfast's (max_message_size,
    max_frame_size); an explicit ``max_frame_size`` wins over the tuple's."""
    if max_size is None or isinstance(max_size, int):
        return max_size, max_frame_size
    try:
        message, fragment = max_size
    except (TypeError, ValueError):
        raise TypeError(f"max_size must be an int, None or a (message, fragment) tuple, "
                        f"not {max_size!r}") from None
    return message, fragment if max_frame_size is None else max_frame_size


def codec_options(*, max_size: Optional[int], max_frame_size: Optional[int],
                  max_fragments: Optional[int], fragment_overhead: int, text_as_bytes: bool,
                  extensions: Tuple[Any, ...], backend: Optional[str]) -> Dict[str, Any]:
    """The sans-I/O connection options behind serve()'s and connect()'s.

    ``defer_failure``: on a protocol error the application first gets (and
    may answer) the messages that preceded it; see WebSocket._handle_events.
    """
    return dict(max_message_size=max_size, max_frame_size=max_frame_size,
                max_fragments=max_fragments, fragment_overhead=fragment_overhead,
                text_as_bytes=text_as_bytes, extensions=extensions, backend=backend,
                defer_failure=True)


def check_keywords(function: str, kwargs: Dict[str, Any], allowed: frozenset[str]) -> None:
    """Refuse, at the call, a keyword that neither serve() nor the event
    loop's create_server takes: passed on, it would fail only when the server
    is awaited, far from the mistake."""
    for name in kwargs:
        if name not in allowed:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")


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


def _check_origins(origins: Optional[Sequence[Any]]) -> Optional[Tuple[Any, ...]]:
    if origins is None:
        return None
    if isinstance(origins, (str, bytes)):
        raise TypeError("origins must be a sequence of origins, not a single string")
    origins = tuple(origins)
    for origin in origins:
        if origin is not None and not isinstance(origin, (str, re.Pattern)):
            raise TypeError(f"origins: expected str, re.Pattern or None, not {origin!r}")
    return origins


def _origin_allowed(origin: Optional[str], origins: Tuple[Any, ...]) -> bool:
    """Whether an ``Origin`` value (None: no header) is among *origins*
    (strings compared exactly, patterns matched in full, None for no header)."""
    for allowed in origins:
        if allowed is None:
            if origin is None:
                return True
        elif origin is not None:
            if isinstance(allowed, str):
                if origin == allowed:
                    return True
            elif allowed.fullmatch(origin):
                return True
    return False


class ServerConnection(WebSocket):
    """The server side of one connection: what the handler receives.

    Besides the connection API of :class:`~wsfast.asyncio.connection.WebSocket`
    (``recv``, ``send``, ``close``, ``ping``...), it has :meth:`respond` for
    ``process_request`` hooks and, after :func:`basic_auth`, ``username``.

    Made by :func:`serve` (or by its ``create_connection`` option, which
    takes this class's arguments): *protocol* is the sans-I/O
    :class:`wsfast.protocol.ServerProtocol`, *server* the
    :class:`Server`.
    """

    connection: ServerProtocol

    def __init__(
        self,
        protocol: ServerProtocol,
        server: "Server",
        *,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        max_queue: Any = MAX_QUEUE,
        write_limit: Any = WRITE_LIMIT,
        logger: Optional[LoggerLike] = None,
    ) -> None:
        super().__init__(protocol, ping_interval=ping_interval, ping_timeout=ping_timeout,
                         close_timeout=close_timeout, max_queue=max_queue,
                         write_limit=write_limit,
                         logger=logger if logger is not None else server.logger)
        self.server = server
        self.username: Optional[str] = None  # set by basic_auth()
        self._handler_task: Optional[asyncio.Task[None]] = None
        self._hook_task: Optional[asyncio.Task[None]] = None
        self._open_timer: Optional[asyncio.TimerHandle] = None

    def respond(self, status: Union[int, http.HTTPStatus], text: str) -> Response:
        """A plain-text HTTP response refusing the upgrade (Content-Type,
        Content-Length and ``Connection: close`` set), for ``process_request``
        or ``process_response`` to return: a health check, a redirect, an
        authentication failure. Its headers may be changed before returning it."""
        return self.connection.reject(int(status), text)

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
            self.logger.info("%s: opening handshake timed out", self._peer())
            self._close_transport(abort=True)

    # -- the opening handshake: request -> hooks -> response --------------------
    #
    # Each hook may be a plain function or return an awaitable; the path stays
    # synchronous (no task, no loop iteration) until a hook returns an
    # awaitable. Whatever a hook raises becomes a 500 and a logged traceback.

    def _hook_failed(self, name: str) -> Response:
        self.logger.error("%s failed", name, exc_info=True)
        return self.connection.reject(500, _HOOK_FAILED)

    def _call_hook(self, name: str, hook: Callable[..., Any], *args: Any) -> Any:
        """``hook(*args)``: its result, an awaitable, or a 500 if it raised."""
        try:
            return hook(*args)
        except Exception:  # noqa: BLE001 - a failing hook is answered, not fatal
            return self._hook_failed(name)

    def _later(self, name: str, result: Awaitable[Any], then: Callable[[Any], None]) -> None:
        """Await a hook's result in a task, then carry on with *then*."""
        async def wait() -> None:
            try:
                value = await result
            except Exception:  # noqa: BLE001 - as in _call_hook
                value = self._hook_failed(name)
            if self._stream.transport is not None and not self._stream.lost.done():
                then(value)
        self._hook_task = self._loop.create_task(wait())

    def _handshake_event(self, event: Any) -> None:
        if type(event) is not Request:
            return
        self.request = event
        hook = self.server.process_request
        if hook is None:
            self._answer(None)
            return
        result = self._call_hook("process_request", hook, self, event)
        if inspect.isawaitable(result):
            self._later("process_request", result, self._answer)
        else:
            self._answer(result)

    def _answer(self, response: Any) -> None:
        """process_request is done: *response* is its answer, or None to
        answer the upgrade."""
        if self.connection.state is not State.CONNECTING:
            return  # the connection refused the handshake itself meanwhile
        if response is None:
            response = self._accept()
        elif not isinstance(response, Response):
            self.logger.error("process_request returned %r, not a Response or None", response)
            response = self.connection.reject(500, _HOOK_FAILED)
        server = self.server
        if server.server_header is not None and "Server" not in response.headers:
            response.headers["Server"] = server.server_header
        hook = server.process_response
        if hook is None:
            self._commit(response)
            return
        result = self._call_hook("process_response", hook, self, self.request, response)
        if inspect.isawaitable(result):
            self._later("process_response",
                        result, lambda replaced: self._replaced(response, replaced))
        else:
            self._replaced(response, result)

    def _replaced(self, response: Response, replacement: Any) -> None:
        """process_response is done: it gave None (keep *response*, which it
        may have changed) or a Response to send instead."""
        if replacement is not None:
            if isinstance(replacement, Response):
                response = replacement
            else:
                self.logger.error("process_response returned %r, not a Response or None",
                                  replacement)
                response = self.connection.reject(500, _HOOK_FAILED)
        self._commit(response)

    def _accept(self) -> Response:
        """The answer to an upgrade request that process_request let through:
        101, or the refusal the request or the server's state deserves."""
        connection = self.connection
        server = self.server
        request = self.request
        if server.origins is not None:
            origins = request.headers.get_all("Origin")
            if len(origins) > 1 or not _origin_allowed(origins[0] if origins else None,
                                                       server.origins):
                shown = ", ".join(origins) if origins else "missing"
                self.logger.info("%s: refused Origin: %s", self._peer(), shown)
                return connection.reject(403, "Failed to open a WebSocket connection: "
                                              f"invalid Origin header: {shown}.\n")
        if server.max_connections is not None and server.open_count >= server.max_connections:
            return connection.reject(503, "Too many connections\n")
        if server._closing:
            return connection.reject(503, "Server is shutting down.\n")
        if server.select_subprotocol is None:
            return connection.accept(request, extra_headers=server.extra_headers)
        try:
            offered = parse_subprotocols(request.headers.get_all("Sec-WebSocket-Protocol"))
        except InvalidHandshake:
            # accept() answers a malformed header with the 400 it deserves
            return connection.accept(request, extra_headers=server.extra_headers)
        try:
            chosen = server.select_subprotocol(self, offered)
            if chosen is None:
                saved, connection.subprotocols = connection.subprotocols, ()
                try:
                    return connection.accept(request, extra_headers=server.extra_headers)
                finally:
                    connection.subprotocols = saved
            return connection.accept(request, subprotocol=chosen,
                                     extra_headers=server.extra_headers)
        except Exception:  # noqa: BLE001 - a failing hook is answered, not fatal
            return self._hook_failed("select_subprotocol")

    def _commit(self, response: Response) -> None:
        """Send the response to the upgrade request; on 101, start the handler."""
        connection = self.connection
        server = self.server
        if connection.state is not State.CONNECTING:
            return
        self.response = response
        connection.send_response(response)
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        if self.connection.state is State.OPEN:  # send_response() moved it on
            self.logger.info("%s: connection open: %s", self._peer(), self.request.path)
            server.open_count += 1
            server._listed_open(self)
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
                self.logger.info("%s: refused upgrade: %s", self._peer(),
                                 connection.handshake_error)
            self._after_close_expected()

    async def _run_handler(self) -> None:
        code, reason = 1000, ""
        try:
            handler = self.server.handler
            if self.server.handler_takes_path:
                await handler(self, self.request.path)
            else:
                await handler(self)
        except asyncio.CancelledError:
            code = 1001
        except Exception:  # noqa: BLE001 - report, then close with 1011
            # ConnectionClosed too: websockets logs a handler that lets it
            # escape (its tutorial shows that very traceback), and close()
            # below is a no-op on a connection that is already closed.
            self.logger.error("connection handler failed", exc_info=True)
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
        if self._hook_task is not None and not self._hook_task.done():
            self._hook_task.cancel()
        if self._upgraded:
            connection = self.connection
            self.logger.info("%s: connection closed; close frame sent: %s, received: %s",
                             self._peer(), _close_frame(connection.close_sent),
                             _close_frame(connection.close_rcvd))
        self.server._unregister(self)


#: The name of wsfast 0.1 for :class:`ServerConnection`.
ServerWebSocket = ServerConnection


class Server:
    """A running WebSocket server (what ``await serve(...)`` gives), shaped
    as ``asyncio.Server``.

    Attributes:
        sockets: the listening sockets.
        connections: the connections that are open (handshake done, not closed).
        websockets: every connection of this server not yet ended (also
            during the handshake and the closing handshake).
        logger: the server's logger (``logger`` option of :func:`serve`).
        broadcast_policy: the :class:`~wsfast.fanout.SlowConsumerPolicy`
            that :func:`broadcast` applies to this server's connections when
            a call gives none (``broadcast_policy`` option of :func:`serve`;
            may be replaced at any time), or None: nothing is bounded.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        connection_options: Dict[str, Any],
        websocket_options: Dict[str, Any],
        process_request: Optional[Callable[..., Any]] = None,
        process_response: Optional[Callable[..., Any]] = None,
        extra_headers: Any = (),
        open_timeout: Optional[float] = OPEN_TIMEOUT,
        max_connections: Optional[int] = None,
        origins: Optional[Sequence[Any]] = None,
        select_subprotocol: Optional[Callable[..., Any]] = None,
        server_header: Optional[str] = SERVER,
        logger: Optional[Union[LoggerLike, str]] = None,
        create_connection: Optional[Callable[..., ServerConnection]] = None,
        broadcast_policy: Optional[SlowConsumerPolicy] = None,
    ) -> None:
        if broadcast_policy is not None and not isinstance(broadcast_policy, SlowConsumerPolicy):
            raise TypeError(f"broadcast_policy must be a SlowConsumerPolicy or None, "
                            f"not {type(broadcast_policy).__name__}")
        self.broadcast_policy = broadcast_policy
        self.handler = handler
        self.handler_takes_path = _takes_path(handler)
        self.connection_options = connection_options
        backend = connection_options.get("backend")
        self._kernels = _backend.get(backend) if backend else _backend.default
        self.websocket_options = websocket_options
        self.process_request = process_request
        self.process_response = process_response
        self.extra_headers = extra_headers
        self.open_timeout = open_timeout
        self.max_connections = max_connections
        self.origins = _check_origins(origins)
        self.select_subprotocol = select_subprotocol
        self.server_header = server_header
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger: LoggerLike = logger if logger is not None else _module_logger
        self.create_connection = create_connection if create_connection is not None \
            else ServerConnection
        self.open_count = 0
        self.websockets: Set[ServerConnection] = set()
        #: The OPEN ones' stream cores, keyed by their ConnectionCore (see
        #: _listed_open).
        self._open: Dict[Any, Any] = {}
        self._handler_tasks: Set[asyncio.Task[None]] = set()
        self.server: Optional[asyncio.Server] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._closing = False
        self._all_closed: Optional[asyncio.Future[None]] = None

    def _protocol_factory(self) -> asyncio.BufferedProtocol:
        protocol = ServerProtocol(**self.connection_options)
        websocket = self.create_connection(protocol, self, **self.websocket_options)
        return websocket.protocol

    def _register(self, websocket: ServerConnection) -> None:
        self.websockets.add(websocket)
        if self._closing:
            websocket._close_transport()

    def _listed_open(self, websocket: ServerConnection) -> None:
        """*websocket* is OPEN: it is in ``connections`` until its core
        leaves OPEN, when :mod:`wsfast.state` takes it out of the registry.
        The registry keeps the stream core, whose ``owner`` is *websocket*:
        ``connections`` hands both to broadcast in one pass."""
        stream = websocket._stream
        self._open[stream.core] = stream
        stream.core.open_registry = self._open

    def _unregister(self, websocket: ServerConnection) -> None:
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
    def connections(self) -> Set[ServerConnection]:
        """The open connections: what to :func:`broadcast` to.

        A new set at each call (the caller may change it), made from the
        registry of open connections that the connections' state
        transitions keep current (``open_registry`` in :mod:`wsfast.state`)
        -- not filtered from every connection at each call: at 10,000
        connections that filtering cost 0.8 µs per connection, about as much
        as what the fan-out loop adds to the writes themselves. The set is a
        :class:`~wsfast.fanout.OpenConnections`, which also carries the
        connections' stream cores for :func:`broadcast`."""
        return cast(Set[ServerConnection], self._kernels.open_connections(self._open))

    @property
    def sockets(self) -> Tuple[socket.socket, ...]:
        return tuple(self.server.sockets) if self.server is not None else ()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on."""
        if self._loop is None:
            raise RuntimeError("the server is not started")
        return self._loop

    async def start_serving(self) -> None:
        """Start accepting connections (for ``serve(..., start_serving=False)``);
        nothing to do if it already does."""
        if self.server is None:
            raise RuntimeError("the server is not started")
        await self.server.start_serving()

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting connections and, unless *close_connections* is
        false, close the open ones with 1001.

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
                    websocket._start_closing_handshake(1001, "")  # no reason, as websockets

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
        return self.server is not None and self.server.is_serving() and not self._closing

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

    The options are websockets 17's, with its defaults; an unknown keyword is
    a TypeError here, at the call.

    Args:
        handler: ``async def handler(websocket)`` (or legacy
            ``(websocket, path)``); the connection is closed when it returns
            (1000) or raises (1011).
        host, port: where to listen (as ``loop.create_server``).
        origins: acceptable ``Origin`` values (str, ``re.Pattern`` matched in
            full, ``None`` for requests without one); others get 403.
        extensions: :class:`~wsfast.deflate.PerMessageDeflate`
            configurations to negotiate, in order of preference.
        subprotocols: supported subprotocols, in order of preference.
        select_subprotocol: ``f(connection, offered)`` returning the
            subprotocol to agree on, or None for none; replaces the default
            choice (the first of ``subprotocols`` offered).
        compression: ``"deflate"`` (default, as websockets), ``None``, or a
            :class:`~wsfast.deflate.PerMessageDeflate`.
        process_request: ``f(connection, request)`` returning ``None`` to
            continue or a Response (``connection.respond(status, text)``) to
            answer instead; may be a coroutine function.
        process_response: ``f(connection, request, response)``: may change
            the response, or return one to send instead; may be a coroutine
            function. Any exception in these three hooks is logged and
            answered with HTTP 500.
        server_header: value of the ``Server`` header (``None``: none).
        open_timeout: how long the opening handshake may take (10 s).
        ping_interval, ping_timeout: keepalive (20 s, 20 s; ``None`` disables).
        close_timeout: how long to wait for each closing step (10 s).
        max_size: largest message accepted (1 MiB; ``None``: no limit), or a
            ``(message, fragment)`` tuple also limiting each frame.
        max_queue: messages queued before reading pauses (16), or a
            ``(high, low)`` tuple (low: where reading resumes).
        write_limit: high-water mark of the write buffer (32 KiB), or
            (high, low); ``None``: asyncio's default (64 KiB).
        logger: logger (or its name) of the server and its connections.
        create_connection: the :class:`ServerConnection` subclass (or
            factory taking its arguments) to make connections with.
        max_connections: refuse more open connections with HTTP 503.
        broadcast_policy: the slow-consumer policy of :func:`broadcast` for
            this server's connections when a call gives none
            (:class:`~wsfast.fanout.SlowConsumerPolicy`; ``server.broadcast_policy``).
        extra_headers: headers added to the 101 response.
        text_as_bytes: deliver text messages as validated UTF-8 bytes.
        max_fragments, fragment_overhead, max_frame_size: codec limits, see
            :class:`wsfast.connection.Connection`.
        backend: ``"cython"`` / ``"python"`` to choose the kernels.
        **kwargs: passed to ``loop.create_server`` (``ssl``, ``sock``,
            ``reuse_port``, ``backlog``, ``start_serving``...); a keyword it
            does not take is a TypeError.
    """

    _function = "serve"
    _loop_keywords = _CREATE_SERVER_KEYWORDS

    def __init__(
        self,
        handler: Handler,
        host: Any = None,
        port: Optional[int] = None,
        *,
        origins: Optional[Sequence[Any]] = None,
        extensions: Optional[Sequence[PerMessageDeflate]] = None,
        subprotocols: Optional[Sequence[str]] = None,
        select_subprotocol: Optional[Callable[..., Optional[str]]] = None,
        compression: Union[str, PerMessageDeflate, None] = "deflate",
        process_request: Optional[Callable[..., Any]] = None,
        process_response: Optional[Callable[..., Any]] = None,
        server_header: Optional[str] = SERVER,
        open_timeout: Optional[float] = OPEN_TIMEOUT,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        max_size: Any = DEFAULT_MAX_MESSAGE_SIZE,
        max_queue: Any = MAX_QUEUE,
        write_limit: Any = WRITE_LIMIT,
        logger: Optional[Union[LoggerLike, str]] = None,
        create_connection: Optional[Callable[..., ServerConnection]] = None,
        max_connections: Optional[int] = None,
        broadcast_policy: Optional[SlowConsumerPolicy] = None,
        extra_headers: Any = (),
        text_as_bytes: bool = False,
        max_fragments: Optional[int] = None,
        fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
        max_frame_size: Optional[int] = None,
        backend: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        check_keywords(self._function, kwargs, self._loop_keywords)
        if isinstance(subprotocols, str):
            raise TypeError("subprotocols must be a list of names, not a single string")
        max_message_size, max_frame_size = size_limits(max_size, max_frame_size)
        connection_options = dict(
            # select_subprotocol makes the choice: the codec's default stays out of it
            subprotocols=() if select_subprotocol is not None else tuple(subprotocols or ()),
            **codec_options(
                max_size=max_message_size, max_frame_size=max_frame_size,
                max_fragments=max_fragments, fragment_overhead=fragment_overhead,
                text_as_bytes=text_as_bytes,
                extensions=compression_extensions(compression, default_server_compression,
                                                  extensions),
                backend=backend),
        )
        ServerProtocol(**connection_options)  # validate the options now
        websocket_options = dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                                 close_timeout=close_timeout, max_queue=max_queue,
                                 write_limit=write_limit)
        queue_marks(max_queue)  # validate now, not per connection
        write_marks(write_limit)
        if kwargs.get("ssl") is not None:
            # as websockets: the TLS handshake counts in the opening one
            kwargs.setdefault("ssl_handshake_timeout", open_timeout)
            if sys.version_info >= (3, 11):  # loop.create_server's option since 3.11
                kwargs.setdefault("ssl_shutdown_timeout", close_timeout)
        self._server = Server(
            handler,
            connection_options=connection_options,
            websocket_options=websocket_options,
            process_request=process_request,
            process_response=process_response,
            extra_headers=extra_headers,
            open_timeout=open_timeout,
            max_connections=max_connections,
            origins=origins,
            select_subprotocol=select_subprotocol,
            server_header=server_header,
            logger=logger,
            create_connection=create_connection,
            broadcast_policy=broadcast_policy,
        )
        self._host = host
        self._port = port
        self._kwargs = kwargs

    async def _create_server(self, loop: asyncio.AbstractEventLoop) -> asyncio.Server:
        return await loop.create_server(self._server._protocol_factory, self._host,
                                        self._port, **self._kwargs)

    async def _start(self) -> Server:
        loop = asyncio.get_running_loop()
        server = self._server
        server._loop = loop
        server._all_closed = loop.create_future()
        server.server = await self._create_server(loop)
        return server

    def __await__(self) -> Any:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc_info: Any) -> None:
        self._server.close()
        await self._server.wait_closed()


class unix_serve(serve):
    """:func:`serve` on a Unix socket at *path* (or ``sock=``): for a server
    behind a reverse proxy on the same machine. The other options are
    :func:`serve`'s; ``**kwargs`` go to ``loop.create_unix_server``."""

    _function = "unix_serve"
    _loop_keywords = _CREATE_UNIX_SERVER_KEYWORDS

    def __init__(self, handler: Handler, path: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._path = path

    async def _create_server(self, loop: asyncio.AbstractEventLoop) -> asyncio.Server:
        return await loop.create_unix_server(self._server._protocol_factory, self._path,
                                             **self._kwargs)

