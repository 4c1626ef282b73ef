"""A uvicorn WebSocket protocol on wsfast's codec: ``uvicorn.run(app, ws=WSFastProtocol)``.

uvicorn chooses its WebSocket implementation with ``Config(ws=...)``: a name
of its own (``websockets-sansio``, ``wsproto``...), an import string, or a
protocol class. Its HTTP protocol, on an upgrade request, builds that class
with ``(config=, server_state=, app_state=)``, hands it the transport
(``connection_made``, ``set_protocol``) and replays the request head through
``data_received``; from then on the class owns the connection. That is the
whole contract, and this module implements it on
:class:`wsfast.protocol.ServerProtocol`:

* the ASGI WebSocket spec as uvicorn's own protocols serve it (``connect``,
  ``accept`` with subprotocol and headers, ``receive``/``send`` of text and
  bytes, ``close`` with code and reason, ``disconnect`` with the peer's code
  and reason) and the ``websocket.http.response`` denial extension;
* uvicorn's settings: ``ws_max_size`` (1009 beyond it), ``ws_max_queue``
  (reading pauses while that many messages wait for the application),
  ``ws_ping_interval`` / ``ws_ping_timeout`` (1011 when no pong comes),
  ``ws_per_message_deflate`` (the same parameters as uvicorn's websockets
  protocols), the server and date headers, ``root_path``; logging through
  ``uvicorn.error`` with the same access lines;
* graceful shutdown: ``shutdown()`` sends 1012 (service restart), as uvicorn
  does, then waits for the client's close frame before closing TCP;
* flow control both ways: the application's ``send`` waits while the
  transport is above its high-water mark, and reading pauses while the
  receive queue is full -- also in the middle of a read of compressed
  messages: the kernel stops after 64 KiB of decompressed output and the
  rest is parsed only as the application drains the queue.

Where it differs from uvicorn's own protocols, on purpose: an application
that returns without closing gets a 1000 close frame (1011 if it raised),
not a dropped TCP connection; an accepted subprotocol the client did not
offer is an error in the application (a 500), not a header sent anyway.

Compiled or pure kernels: the class attribute :attr:`WSFastProtocol.backend`
(``None`` = the process default, see ``wsfast.IMPLEMENTATION``); subclass to
pin one, e.g. ``class PureProtocol(WSFastProtocol): backend = "python"``.

Host versions checked: uvicorn 0.55.0 (see ``SUPPORTED_UVICORN``); the
attributes used are verified when this module is imported.
"""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import logging
import os
import struct
import sys
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple, cast
from collections import deque
from urllib.parse import unquote

try:
    import uvicorn as _uvicorn
    from uvicorn.config import Config as _Config
    from uvicorn.logging import TRACE_LOG_LEVEL
    from uvicorn.protocols import utils as _utils
    from uvicorn.server import ServerState as _ServerState
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"wsfast.adapters.uvicorn needs uvicorn (pip install uvicorn): {_exc}") from _exc
if TYPE_CHECKING:
    from uvicorn._types import WebSocketScope

from .. import deflate as _deflate
from ..protocol import ServerProtocol
from ..errors import InvalidState
from ..events import BinaryMessage, CloseReceived, Pong, Request, Response, TextMessage
from ..headers import Headers
from ..http11 import reason_phrase
from ..state import State

__all__ = ["WSFastProtocol", "SUPPORTED_UVICORN"]

#: The oldest uvicorn release whose protocol contract this adapter was
#: written against (``Config(ws_max_queue=...)``, ``ServerState.default_headers``,
#: ``protocols.utils.ClientDisconnected``); checked at import.
SUPPORTED_UVICORN = (0, 30)

_CONFIG_PARAMETERS = ("ws", "ws_max_size", "ws_max_queue", "ws_ping_interval", "ws_ping_timeout",
                      "ws_per_message_deflate", "root_path")
_UTILS = ("ClientDisconnected", "get_local_addr", "get_remote_addr", "is_ssl",
          "get_client_addr", "get_path_with_query_string")


def _version_tuple(text: str) -> Tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _check_host(uvicorn: Any, config_class: Any, server_state_class: Any, utils: Any) -> None:
    """Fail at import, with the reason, if this uvicorn is not the shape we
    drive: better than an AttributeError in the middle of a handshake.

    Raises:
        ImportError: naming every missing piece.
    """
    version = getattr(uvicorn, "__version__", "0")
    problems = []
    if _version_tuple(version) < SUPPORTED_UVICORN:
        problems.append(f"uvicorn {version} is older than "
                        f"{'.'.join(map(str, SUPPORTED_UVICORN))}")
    parameters = inspect.signature(config_class.__init__).parameters
    for name in _CONFIG_PARAMETERS:
        if name not in parameters:
            problems.append(f"uvicorn.config.Config takes no {name!r}")
    state = server_state_class()
    for name in ("connections", "tasks", "default_headers"):
        if not hasattr(state, name):
            problems.append(f"uvicorn.server.ServerState has no {name!r}")
    for name in _UTILS:
        if not hasattr(utils, name):
            problems.append(f"uvicorn.protocols.utils has no {name!r}")
    if problems:
        raise ImportError("wsfast.adapters.uvicorn cannot drive this uvicorn: "
                          + "; ".join(problems))


_check_host(_uvicorn, _Config, _ServerState, _utils)

ClientDisconnected = _utils.ClientDisconnected

#: CPython 3.12.0-3.12.8 and 3.13.0-3.13.1: the selector transport's
#: writelines() never calls pause_writing (gh-127655), so flow control would
#: never engage; join and write() there.
_WRITELINES_BROKEN = (3, 12) <= sys.version_info < (3, 12, 9) or (
    (3, 13) <= sys.version_info < (3, 13, 2))

#: Sends deferred to the end of the loop iteration are flushed early beyond this.
_FLUSH_BYTES = 64 * 1024

#: How long a closing handshake may take before TCP is closed anyway (as uvicorn).
CLOSE_TIMEOUT = 10.0


class WSFastProtocol(asyncio.Protocol):
    """uvicorn's WebSocket protocol, on wsfast's sans-I/O connection.

    Use it as ``uvicorn.run(app, ws=WSFastProtocol)``, ``Config(app,
    ws=WSFastProtocol)``, or on the command line ``--ws
    wsfast.adapters.uvicorn:WSFastProtocol``; uvicorn builds one per upgraded
    connection.

    Args:
        config: uvicorn's ``Config``.
        server_state: uvicorn's ``ServerState`` (connections, tasks, default
            headers).
        app_state: the lifespan state, copied into each scope.
    """

    #: ``"cython"``, ``"python"`` or ``None`` (the process default): the
    #: kernels of every connection this class serves.
    backend: Optional[str] = None

    def __init__(self, config: Any, server_state: Any, app_state: Dict[str, Any],
                 _loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.logger = logging.getLogger("uvicorn.error")
        self.root_path: str = config.root_path
        self.app_state = app_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.default_headers: List[Tuple[bytes, bytes]] = server_state.default_headers

        extensions = []
        if config.ws_per_message_deflate:
            # What uvicorn's websockets-based protocols negotiate.
            extensions.append(_deflate.PerMessageDeflate(
                server_max_window_bits=12, client_max_window_bits=12, mem_level=5))
        self.conn = ServerProtocol(max_message_size=config.ws_max_size,
                                     extensions=extensions, backend=self.backend)

        self.transport: Any = None
        self.server: Optional[Tuple[str, Optional[int]]] = None
        self.client: Optional[Tuple[str, int]] = None
        self.scheme = "ws"
        self.scope: Dict[str, Any] = {}
        self.request: Optional[Request] = None

        # ASGI state
        self.handshake_complete = False  # accepted, refused, or denial started
        self.close_sent = False
        self.disconnected = False  # TCP is gone
        self.initial_response: Optional[List[Any]] = None  # [status, headers, body chunks]
        self.close_timer: Optional[asyncio.TimerHandle] = None

        # Receive queue (application side) and read flow control.
        self.queue: Deque[Dict[str, Any]] = deque()
        self._waiter: "Optional[asyncio.Future[None]]" = None
        self._disconnect: Optional[Dict[str, Any]] = None
        self.max_queue = max(1, int(config.ws_max_queue))
        self._resume_at = self.max_queue // 4
        self.read_paused = False  # paused because the queue is full
        self.held_input = False  # paused because the reader holds input back
        self._parse_handle: Optional[asyncio.Handle] = None

        # Write flow control and batching.
        self._writable: "Optional[asyncio.Future[None]]" = None  # set while paused
        self._flush_handle: Optional[asyncio.Handle] = None
        self._deferred = 0

        # Keepalive.
        self.ping_interval = config.ws_ping_interval
        self.ping_timeout = config.ws_ping_timeout
        self.ping_timer: Optional[asyncio.TimerHandle] = None
        self.pong_timer: Optional[asyncio.TimerHandle] = None
        self.pending_ping: Optional[bytes] = None

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.connections.add(self)
        self.transport = transport
        self.server = _utils.get_local_addr(transport)
        self.client = _utils.get_remote_addr(transport)
        self.scheme = "wss" if _utils.is_ssl(transport) else "ws"
        self._trace("WebSocket connection made")

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.disconnected = True
        self._stop_keepalive()
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        for name in ("_flush_handle", "_parse_handle"):
            handle = getattr(self, name)
            if handle is not None:
                handle.cancel()
                setattr(self, name, None)
        self.connections.discard(self)
        self.conn.receive_eof()
        self._disconnected(1006, "")
        self.handshake_complete = True
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)  # a paused sender learns it is over
        self._trace("WebSocket connection lost")

    def eof_received(self) -> None:
        self.conn.receive_eof()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()
        self.conn.set_writing_paused(True)

    def resume_writing(self) -> None:
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self.conn.set_writing_paused(False)
        self._write_pending()  # a pong held back while paused

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        core = conn.core
        reader = core.reader
        if reader is None or core.events:
            # The handshake, or events it left: the connection sorts them out.
            events = conn.receive(data)
        else:
            # The hot path, one kernel call; it may stop after INFLATE_YIELD
            # decompressed bytes and hold the rest of data (reader.pending).
            events = core.feed(data)
        if self.request is None and conn.handshake_error is not None:
            self._refuse_invalid()
            return
        self._after_feed(events, reader)

    def _after_feed(self, events: List[Any], reader: Any) -> None:
        conn = self.conn
        if events:
            self._handle_events(events)
        if conn.error is not None and not self.disconnected:
            self._protocol_error()
            return
        self._write_pending()
        if reader is not None and reader.pending and conn.core.reader is reader:
            # A read of compressed messages inflates to many times its size:
            # parse the rest only while the application keeps up, as reading
            # itself is paused at ws_max_queue.
            if not self.held_input:
                self.held_input = True
                if not self.transport.is_closing():
                    self.transport.pause_reading()
            if len(self.queue) < self.max_queue and self._parse_handle is None:
                self._parse_handle = self.loop.call_soon(self._parse_held)
        elif self.held_input:
            self.held_input = False
            if not self.read_paused and not self.disconnected:
                self.transport.resume_reading()

    def _parse_held(self) -> None:
        """Go on with input the reader held back (see :meth:`data_received`)."""
        self._parse_handle = None
        core = self.conn.core
        reader = core.reader
        if self.disconnected or reader is None:
            return
        self._after_feed(core.feed(b""), reader)

    # -- uvicorn's server calls this on shutdown -------------------------------------

    def shutdown(self) -> None:
        """uvicorn is shutting down: 1012 (service restart) to an open
        connection, a 500 to one still in its handshake; TCP closes once the
        closing handshake is done (or after :data:`CLOSE_TIMEOUT`)."""
        self._stop_keepalive()
        if self.disconnected:
            return
        if self.close_sent:
            self._close_transport()
            return
        if self.handshake_complete and self.initial_response is None:
            self._send_close(1012, "")
        else:
            self._send_500()
            self._close_transport()

    # -- events from the client --------------------------------------------------------

    def _handle_events(self, events: List[Any]) -> None:
        queue = self.queue
        for event in events:
            kind = type(event)
            if kind is TextMessage:
                if not self.close_sent:
                    queue.append({"type": "websocket.receive", "text": event.data})
            elif kind is BinaryMessage:
                if not self.close_sent:
                    queue.append({"type": "websocket.receive", "bytes": event.data})
            elif kind is Request:
                self._handle_connect(event)
            elif kind is CloseReceived:
                self._handle_close(event)
            elif kind is Pong:
                self._handle_pong(event.data)
            # Ping: the connection queued the pong already.
        if queue:
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                if not waiter.done():
                    waiter.set_result(None)
            if len(queue) >= self.max_queue and not self.read_paused:
                self.read_paused = True
                if not self.held_input:
                    self.transport.pause_reading()

    def _handle_connect(self, request: Request) -> None:
        self.request = request
        # Validate the upgrade now, as uvicorn's protocols do: a bad one never
        # reaches the application.
        response = self.conn.accept(request)
        if response.status_code != 101:
            self.handshake_complete = True
            self.close_sent = True
            self.conn.send_response(response)
            self._write_pending()
            self._close_transport()
            return
        headers = getattr(request.headers, "raw_items", request.headers.items)()
        raw_path, _, query = request.path.partition("?")
        subprotocols: List[str] = []
        for value in request.headers.get_all("Sec-WebSocket-Protocol"):
            subprotocols.extend(token.strip() for token in value.split(",") if token.strip())
        root_path = self.root_path
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": root_path,
            "path": root_path + unquote(raw_path),
            "raw_path": root_path.encode("ascii") + raw_path.encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1"))
                        for name, value in headers],
            "subprotocols": subprotocols,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self.queue.append({"type": "websocket.connect"})
        task = self.loop.create_task(self._run_asgi())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _handle_close(self, event: CloseReceived) -> None:
        if self.close_sent:
            # The client answered our close frame: the handshake is complete.
            self._close_transport()
            return
        # The connection echoed the code; the server closes TCP first (§7.1.1).
        self.close_sent = True
        self._disconnected(event.code, event.reason)
        self._write_pending()
        self._close_transport()

    def _protocol_error(self) -> None:
        """The client broke the protocol: the connection queued the close
        frame with the right code (1002, 1007, 1009); tell the application,
        send it, and close."""
        sent = self.conn.close_sent
        code, reason = sent if sent is not None else (1006, "")
        self.logger.info("%sWebSocket protocol error: %s", self._prefix(), self.conn.error)
        self.close_sent = True
        self._disconnected(code, reason)
        self._write_pending()
        self._close_transport()

    def _refuse_invalid(self) -> None:
        """The request could not be parsed: the connection queued its 4xx."""
        self.handshake_complete = True
        self.close_sent = True
        self._write_pending()
        self._close_transport()

    # -- the ASGI application ------------------------------------------------------------

    async def _run_asgi(self) -> None:
        failed = False
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            failed = True
            self.logger.exception("Exception in ASGI application\n")
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                failed = True
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.disconnected:
            return
        if not self.handshake_complete or (self.initial_response is not None
                                           and self.transport is not None
                                           and not self.close_sent):
            self._send_500()
            self._close_transport()
        elif not self.close_sent:
            # The application is done with an open connection: close it
            # properly rather than dropping TCP (1011: it failed).
            self._send_close(1011 if failed else 1000, "")

    async def receive(self) -> Dict[str, Any]:
        """ASGI ``receive``: the next message from the client, or
        ``websocket.disconnect`` (again and again, once disconnected)."""
        queue = self.queue
        while not queue:
            if self._disconnect is not None:
                return self._disconnect
            waiter = self._waiter = self.loop.create_future()
            await waiter
        message = queue.popleft()
        if self.read_paused and len(queue) <= self._resume_at and not self.disconnected:
            self.read_paused = False
            if not self.held_input:
                self.transport.resume_reading()
        if self.held_input and self._parse_handle is None and len(queue) < self.max_queue:
            self._parse_handle = self.loop.call_soon(self._parse_held)
        return message

    async def send(self, message: Dict[str, Any]) -> None:
        """ASGI ``send``. Waits while the transport's buffer is full.

        Raises:
            ClientDisconnected: the connection is closed (uvicorn's
                ``OSError``, as the ASGI spec asks).
            RuntimeError: a message that is not allowed now.
        """
        if self._writable is not None:
            await asyncio.shield(self._writable)
        if self.disconnected:
            raise ClientDisconnected()
        kind = message["type"]
        if not self.handshake_complete:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._deny_403()
            elif kind == "websocket.http.response.start":
                status = message["status"]
                if not isinstance(status, int) or not 100 <= status < 600:
                    raise RuntimeError(f"Invalid HTTP status code '{status}' in response.")
                self._access_log(str(status))
                self.initial_response = [status, list(message.get("headers", ())), []]
                self.handshake_complete = True
            else:
                raise RuntimeError(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' or "
                    f"'websocket.http.response.start' but got '{kind}'.")
        elif self.initial_response is not None:
            if kind != "websocket.http.response.body" or self.close_sent:
                raise RuntimeError(
                    f"Expected ASGI message 'websocket.http.response.body' but got '{kind}'.")
            self.initial_response[2].append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self._send_denial()
        elif not self.close_sent:
            if kind == "websocket.send":
                data = message.get("bytes")
                try:
                    if data is not None:
                        self.conn.send_binary(data)
                    else:
                        text = message.get("text")
                        if text is None:
                            raise RuntimeError("websocket.send needs 'bytes' or 'text'")
                        self.conn.send_text(text)
                        data = text
                except InvalidState:
                    raise ClientDisconnected() from None
                self._after_send(len(data))
            elif kind == "websocket.close":
                code = message.get("code") or 1000
                self._send_close(code, message.get("reason") or "")
            else:
                raise RuntimeError("Expected ASGI message 'websocket.send' or "
                                   f"'websocket.close', but got '{kind}'.")
        else:
            raise RuntimeError(
                f"Unexpected ASGI message '{kind}', after sending 'websocket.close' "
                "or response already completed.")

    # -- handshake answers ---------------------------------------------------------------

    def _server_headers(self, given: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
        """uvicorn's default headers (server, date) unless the application
        set them, then the application's."""
        names = {name.lower() for name, _ in given}
        defaults = [(name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in self.default_headers]
        return [(n, v) for n, v in defaults if n.lower() not in names] + given

    def _accept(self, message: Dict[str, Any]) -> None:
        assert self.request is not None
        given = [(name.decode("latin-1"), value.decode("latin-1"))
                 for name, value in message.get("headers", ())]
        # The application may name the subprotocol in its headers too.
        subprotocol = message.get("subprotocol")
        extra = []
        for name, value in given:
            if name.lower() == "sec-websocket-protocol":
                subprotocol = subprotocol or value
            else:
                extra.append((name, value))
        response = self.conn.accept(self.request, subprotocol=subprotocol,
                                    extra_headers=self._server_headers(extra))
        self._access_log("[accepted]")
        if self.transport.is_closing():
            return
        self.handshake_complete = True
        self.conn.send_response(response)
        self._write_pending()
        if self.ping_interval is not None and self.ping_interval > 0:
            self._schedule_ping(self.ping_interval)
        # Frames that arrived before the accept were kept by the connection
        # and read when the 101 went out: hand them over now.
        early = self.conn.events_received()
        if early:
            self._handle_events(early)
        if self.conn.error is not None:
            self._protocol_error()
        else:
            self._write_pending()

    def _deny_403(self) -> None:
        self._access_log("403")
        self.initial_response = [403, [], []]
        self.handshake_complete = True
        self._send_denial()

    def _send_denial(self) -> None:
        assert self.initial_response is not None
        status, raw_headers, chunks = self.initial_response
        body = b"".join(chunks)
        given = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw_headers]
        headers = Headers(self._server_headers(given))
        if "Date" not in headers:
            headers.add("Date", email.utils.formatdate(usegmt=True))
        if "Content-Length" not in headers and status not in (204, 304) and status >= 200:
            headers.add("Content-Length", str(len(body)))
        if "Content-Type" not in headers and body:
            headers.add("Content-Type", "text/plain; charset=utf-8")
        if "Connection" not in headers:
            headers.add("Connection", "close")
        self.close_sent = True
        self._disconnected(1006, "")
        self.conn.send_response(Response(status, reason_phrase(status), headers, body))
        self._write_pending()
        self._close_transport()

    def _send_500(self) -> None:
        if self.disconnected or self.conn.state is not State.CONNECTING:
            return
        if self.initial_response is not None and self.close_sent:
            return
        self.close_sent = True
        self.handshake_complete = True
        response = self.conn.reject(500, "Internal Server Error",
                                    headers=self._server_headers([]))
        self.conn.send_response(response)
        self._write_pending()

    # -- closing -------------------------------------------------------------------------

    def _send_close(self, code: int, reason: str) -> None:
        """Send a close frame, tell the application, keep reading for the
        client's answer (messages are dropped), close TCP at the latest
        after :data:`CLOSE_TIMEOUT`."""
        if self.transport.is_closing():
            return
        self.close_sent = True
        self._stop_keepalive()
        self._disconnected(code, reason)
        try:
            self.conn.send_close(code, reason)
        except InvalidState:
            pass
        self._write_pending()
        if self.read_paused:
            self.read_paused = False
            if not self.held_input:
                self.transport.resume_reading()
        if self.held_input and self._parse_handle is None:
            # Read on to the client's close frame; messages are dropped now.
            self._parse_handle = self.loop.call_soon(self._parse_held)
        if self.conn.close_expected():  # the client's close came first
            self._close_transport()
        elif self.close_timer is None:
            self.close_timer = self.loop.call_later(CLOSE_TIMEOUT, self._close_transport)

    def _disconnected(self, code: int, reason: str) -> None:
        """Queue ``websocket.disconnect`` once; later ``receive`` calls get it again."""
        if self._disconnect is not None:
            return
        message = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self._disconnect = message
        self.queue.append(message)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _close_transport(self) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self._write_pending()
            self.transport.close()

    # -- writing ---------------------------------------------------------------------------

    def _write_pending(self) -> None:
        out = self.conn.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            if _WRITELINES_BROKEN:
                self.transport.write(b"".join(out))
            else:
                self.transport.writelines(out)
        self._deferred = 0

    def _after_send(self, size: int) -> None:
        """Write the first message of a loop iteration at once (latency);
        collect those that follow it in the same iteration and write them
        together at its end (one system call for a burst of small ones), or
        as soon as :data:`_FLUSH_BYTES` are waiting."""
        if self._flush_handle is None:
            self._write_pending()
            self._flush_handle = self.loop.call_soon(self._flush)
        else:
            self._deferred += size
            if self._deferred >= _FLUSH_BYTES:
                self._write_pending()

    def _flush(self) -> None:
        self._flush_handle = None
        self._write_pending()

    # -- keepalive -------------------------------------------------------------------------

    def _schedule_ping(self, delay: float) -> None:
        self.ping_timer = self.loop.call_later(delay, self._send_keepalive_ping)

    def _send_keepalive_ping(self) -> None:
        self.ping_timer = None
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return
        self.pending_ping = struct.pack("!I", int.from_bytes(os.urandom(4), "big"))
        self.conn.send_ping(self.pending_ping)
        self._write_pending()
        if self.ping_timeout is not None:
            self.pong_timer = self.loop.call_later(self.ping_timeout, self._keepalive_timeout)
        else:
            self._schedule_ping(self.ping_interval)

    def _handle_pong(self, data: bytes) -> None:
        if self.pending_ping is None or bytes(data) != self.pending_ping:
            return  # unsolicited, or an answer to an older ping
        self.pending_ping = None
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
            self._schedule_ping(self.ping_interval)

    def _keepalive_timeout(self) -> None:
        self.pong_timer = None
        self.pending_ping = None
        if self.close_sent or self.disconnected:
            return
        self._trace("WebSocket keepalive ping timeout")
        self.close_sent = True
        self._disconnected(1011, "keepalive ping timeout")
        self.conn.fail(1011, "keepalive ping timeout")
        self._write_pending()
        self._close_transport()

    def _stop_keepalive(self) -> None:
        for name in ("ping_timer", "pong_timer"):
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)
        self.pending_ping = None

    # -- logging ---------------------------------------------------------------------------

    def _prefix(self) -> str:
        return "%s:%d - " % self.client if self.client else ""

    def _trace(self, what: str) -> None:
        if self.logger.level <= TRACE_LOG_LEVEL:
            self.logger.log(TRACE_LOG_LEVEL, "%s%s", self._prefix(), what)

    def _access_log(self, outcome: str) -> None:
        # uvicorn's helpers take its TypedDict of the ASGI scope; ours is that dict.
        scope = cast("WebSocketScope", self.scope)
        self.logger.info('%s - "WebSocket %s" %s', _utils.get_client_addr(scope),
                         _utils.get_path_with_query_string(scope), outcome)
