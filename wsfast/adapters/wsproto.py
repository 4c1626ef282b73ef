"""A post-handshake connection with wsproto's shape, on wsfast's codec.

Servers written against wsproto (hypercorn; HTTP/2 servers that carry
WebSockets over RFC 8441 streams and so skip the HTTP/1.1 handshake) drive a
``wsproto.connection.Connection``: ``receive_data(bytes | None)``,
``events()``, ``send(event) -> bytes``, ``state``. :class:`Connection` here has
the same constructor, methods, states and exceptions, takes and yields
wsproto's own event classes (``TextMessage``, ``BytesMessage``, ``Ping``,
``Pong``, ``CloseConnection``, any ``Message``), and produces the same bytes
for the same events; parsing, UTF-8 validation, masking and framing are
wsfast's kernels (compiled or pure: ``backend=``).

Like wsproto, it answers nothing by itself: a ``Ping`` event is for the
caller to answer (``event.response()``), and so is a ``CloseConnection``; a
protocol error in the peer's data is reported as a ``CloseConnection`` with
the close code to send (1002, 1007, 1009) and nothing more is read.

Where it differs, on purpose:

* **Message granularity.** wsproto yields data as it arrives, a message in
  as many ``TextMessage`` / ``BytesMessage`` events as reads and frames
  (``frame_finished`` / ``message_finished`` say which part). wsfast
  assembles messages in its codec, so each message is **one** event with
  both flags true. Code that joins data until ``message_finished`` -- what
  hypercorn and uvicorn's wsproto protocol do -- sees the same messages.
* **Close code 1014** (Bad Gateway, in the IANA registry since 2012) is a
  valid close code to wsfast; wsproto 1.3.2 rejects it with 1002.
* **Limits**: ``max_message_size`` (default ``None``: none, as wsproto)
  fails a message beyond it with 1009; wsproto has no limit.
* Extensions (permessage-deflate negotiated by a wsproto handshake) are not
  supported: passing any raises ``ValueError``.

:class:`WSConnection` adds the HTTP/1.1 opening handshake in both roles, with
wsproto's ``Request`` / ``AcceptConnection`` / ``RejectConnection`` /
``RejectData`` events, on wsfast's handshake rules (which are stricter than
wsproto's in places: a request wsfast refuses raises ``RemoteProtocolError``
with the status wsfast would answer: 400 for a key that is not 16 bytes of
base64, which wsproto lets through; 426 where ``Connection: upgrade`` is
missing, where wsproto says 400). Extensions are not negotiated; a refusal
received without ``Content-Length`` is reported with an empty body (wsfast's
response parser reads only length-delimited bodies).

Host checked: wsproto 1.3.2 (``SUPPORTED_WSPROTO``).
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

try:
    import wsproto as _wsproto
    from wsproto import events as _events
    from wsproto.connection import ConnectionState, ConnectionType
    from wsproto.frame_protocol import CloseReason
    from wsproto.utilities import LocalProtocolError, RemoteProtocolError
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"wsfast.adapters.wsproto needs wsproto for its event classes (pip install wsproto): "
        f"{_exc}") from _exc

from .. import handshake as _handshake
from ..protocol import ClientProtocol, ServerProtocol
from ..errors import InvalidHandshake, InvalidState
from ..events import BinaryMessage, CloseReceived, Ping, Pong, Request, Response, TextMessage
from ..frames import Opcode
from ..headers import Headers
from ..http11 import reason_phrase, serialize_response

__all__ = ["Connection", "WSConnection", "ConnectionState", "ConnectionType",
           "SUPPORTED_WSPROTO"]

#: The oldest wsproto whose event classes and states this module uses.
SUPPORTED_WSPROTO = (1, 2)

_NEEDED = {
    _events: ("Event", "Message", "TextMessage", "BytesMessage", "Ping", "Pong",
              "CloseConnection", "Request", "AcceptConnection", "RejectConnection",
              "RejectData"),
    ConnectionState: ("CONNECTING", "OPEN", "REMOTE_CLOSING", "LOCAL_CLOSING", "CLOSED",
                      "REJECTING"),
    ConnectionType: ("CLIENT", "SERVER"),
}


def _check_host(version: str, needed: Any) -> None:
    """Fail at import, naming what is missing, if wsproto is not the shape
    this module produces events for.

    Raises:
        ImportError: naming every missing piece.
    """
    problems = []
    try:
        numbers = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        numbers = (0, 0)
    if numbers < SUPPORTED_WSPROTO:
        problems.append(f"wsproto {version} is older than "
                        f"{'.'.join(map(str, SUPPORTED_WSPROTO))}")
    for owner, names in needed.items():
        for name in names:
            if not hasattr(owner, name):
                problems.append(f"{getattr(owner, '__name__', owner)} has no {name!r}")
    if problems:
        raise ImportError("wsfast.adapters.wsproto cannot produce this wsproto's events: "
                          + "; ".join(problems))


_check_host(getattr(_wsproto, "__version__", "0"), _NEEDED)

_CLOSE = int(Opcode.CLOSE)
#: Codes that only say what happened locally and never go on the wire
#: (RFC 6455 §7.4.1): sent as 1000, as wsproto does.
_LOCAL_ONLY = (1005, 1006, 1015)
_MAX_REASON = 123  # a close frame's payload is at most 125 bytes, 2 for the code


def _opened(connection_type: ConnectionType, backend: Optional[str],
            max_message_size: Optional[int]) -> Any:
    """A wsfast connection already OPEN: the handshake happened elsewhere
    (wsproto's, or an HTTP/2 CONNECT), so run a local one through the public
    API and throw its bytes away."""
    options: Dict[str, Any] = dict(backend=backend, max_message_size=max_message_size,
                                   auto_pong=False, defer_failure=True)
    if connection_type is ConnectionType.SERVER:
        key = _handshake.generate_key()
        server = ServerProtocol(**options)
        request = Request("/", Headers([("Host", "localhost"), ("Upgrade", "websocket"),
                                        ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
                                        ("Sec-WebSocket-Version", "13")]))
        server.send_response(server.accept(request))
        server.data_to_send()
        return server
    client = ClientProtocol("ws://localhost/", **options)
    request = client.connect()
    client.send_request(request)
    client.data_to_send()
    accept = _handshake.accept_key(request.headers["Sec-WebSocket-Key"])
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                        + accept.encode("ascii") + b"\r\n\r\n")
    client.events_received()
    return client


def _close_reason(code: int) -> Any:
    """wsproto's ``CloseReason`` member for a registered code, else the int."""
    try:
        return CloseReason(code)
    except ValueError:
        return code


def _truncate_utf8(data: bytes, limit: int) -> bytes:
    """The longest prefix of at most *limit* bytes that ends on a code point."""
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


class Connection:
    """wsproto's ``Connection`` on wsfast: a WebSocket after its handshake.

    Args:
        connection_type: ``ConnectionType.SERVER`` or ``ConnectionType.CLIENT``
            (wsproto's enum).
        extensions: must be empty (see the module docstring).
        trailing_data: bytes received after the handshake, read at once.
        backend: ``"cython"`` or ``"python"`` kernels; default the process's.
        max_message_size: largest message accepted (1009 beyond it);
            ``None``, the default, for no limit, as wsproto.

    Raises:
        ValueError: extensions were given.
    """

    def __init__(self, connection_type: ConnectionType, extensions: Optional[List[Any]] = None,
                 trailing_data: bytes = b"", *, backend: Optional[str] = None,
                 max_message_size: Optional[int] = None) -> None:
        if extensions:
            raise ValueError("wsfast.adapters.wsproto.Connection supports no extensions")
        self.client = connection_type is ConnectionType.CLIENT
        self._conn = _opened(connection_type, backend, max_message_size)
        self._setup(trailing_data)

    @classmethod
    def _after_handshake(cls, opened: Any, early: Sequence[Any] = ()) -> "Connection":
        """Wrap a wsfast connection that has just completed its handshake
        (:class:`WSConnection`): frames that came with it are events already
        (*early*, or still in the connection)."""
        self = cls.__new__(cls)
        self.client = opened.is_client
        self._conn = opened
        self._setup(b"")
        for event in list(early) + opened.events_received():
            self._translate(event)
        opened.data_to_send()
        self._check_error()
        return self

    def _setup(self, trailing_data: bytes) -> None:
        self._kernels = self._conn.kernels
        self._state = ConnectionState.OPEN
        self._events: Deque[Any] = deque()
        self._outbound_text: Optional[bool] = None  # type of the message being sent, if any
        self._failed = False
        self.receive_data(trailing_data)

    @property
    def state(self) -> ConnectionState:
        """wsproto's ``ConnectionState``: OPEN, LOCAL_CLOSING (our close
        sent), REMOTE_CLOSING (the peer's received), CLOSED."""
        return self._state

    @property
    def backend(self) -> str:
        """``"cython"`` or ``"python"``: the kernels this connection uses."""
        backend: str = self._conn.backend
        return backend

    # -- bytes in, events out --------------------------------------------------------

    def receive_data(self, data: Optional[bytes]) -> None:
        """Feed bytes from the peer; ``None`` means the peer closed TCP (a
        ``CloseConnection`` with 1006 follows).

        Raises:
            LocalProtocolError: the connection is CLOSED.
        """
        if data is None:
            self._events.append(_events.CloseConnection(code=1006))
            self._state = ConnectionState.CLOSED
            return
        state = self._state
        if state is ConnectionState.OPEN or state is ConnectionState.LOCAL_CLOSING:
            if self._failed or not data:
                return
            conn = self._conn
            for event in conn.receive(data):
                self._translate(event)
                if self._state is ConnectionState.REMOTE_CLOSING or (
                        self._state is ConnectionState.CLOSED):
                    break  # nothing after a close frame is read
            # wsfast answers a close frame by itself; wsproto leaves that to
            # the caller's CloseConnection: drop the automatic answer.
            conn.data_to_send()
            self._check_error()
        elif state is ConnectionState.CLOSED:
            raise LocalProtocolError("Connection already closed.")
        # REMOTE_CLOSING: the peer said it would send nothing more.

    def _check_error(self) -> None:
        error = self._conn.error
        if error is not None and not self._failed:
            self._failed = True
            self._events.append(_events.CloseConnection(
                code=_close_reason(error.close_code), reason=str(error.reason)))

    def _translate(self, event: Any) -> None:
        kind = type(event)
        if kind is TextMessage:
            self._events.append(_events.TextMessage(data=event.data))
        elif kind is BinaryMessage:
            self._events.append(_events.BytesMessage(data=event.data))
        elif kind is Ping:
            self._events.append(_events.Ping(payload=event.data))
        elif kind is Pong:
            self._events.append(_events.Pong(payload=event.data))
        elif kind is CloseReceived:
            if self._state is ConnectionState.LOCAL_CLOSING:
                self._state = ConnectionState.CLOSED
            else:
                self._state = ConnectionState.REMOTE_CLOSING
            self._events.append(_events.CloseConnection(code=_close_reason(event.code),
                                                        reason=event.reason))

    def events(self) -> Iterator[Any]:
        """The events received so far, oldest first (a generator, as wsproto's)."""
        queue = self._events
        while queue:
            yield queue.popleft()

    # -- events in, bytes out ------------------------------------------------------------

    def send(self, event: Any) -> bytes:
        """The bytes to send for *event*: a ``Message`` (``TextMessage``,
        ``BytesMessage``, or ``Message`` with ``str`` or bytes data;
        ``message_finished=False`` starts or continues a fragmented one),
        ``Ping``, ``Pong`` or ``CloseConnection``.

        Raises:
            LocalProtocolError: the event cannot be sent in this state.
            TypeError: a fragment of a different type than its message, or
                data that is neither ``str`` nor bytes.
            ValueError: a control frame payload over 125 bytes.
        """
        state = self._state
        conn = self._conn
        if isinstance(event, _events.Message) and state is ConnectionState.OPEN:
            self._send_message(event.data, event.message_finished)
        elif isinstance(event, (_events.Ping, _events.Pong)) and state is ConnectionState.OPEN:
            payload = bytes(event.payload)
            if len(payload) > 125:
                raise ValueError("payload too long for control frame")
            if isinstance(event, _events.Ping):
                conn.send_ping(payload)
            else:
                conn.send_pong(payload)
        elif isinstance(event, _events.CloseConnection) and state in (
                ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            payload = self._close_payload(event.code, event.reason)
            if state is ConnectionState.REMOTE_CLOSING:
                self._state = ConnectionState.CLOSED
                # wsfast already considers the handshake answered; the frame
                # is the caller's own answer, built by the same kernel.
                return bytes(self._kernels.build_frame(
                    _CLOSE, payload, mask=self._new_mask()))
            self._state = ConnectionState.LOCAL_CLOSING
            frame = self._send_close(payload)
            if frame is not None:
                return frame
        else:
            raise LocalProtocolError(f"Event {event} cannot be sent in state {state}.")
        return b"".join(conn.data_to_send())

    def _send_message(self, data: Any, finished: bool) -> None:
        if isinstance(data, str):
            text = True
        elif isinstance(data, (bytes, bytearray, memoryview)):
            text = False
            data = bytes(data)
        else:
            raise TypeError("Must provide bytes or text")
        conn = self._conn
        if self._outbound_text is None:
            (conn.send_text if text else conn.send_binary)(data, fin=finished)
        elif self._outbound_text is not text:
            raise TypeError("Data type mismatch inside message")
        else:
            conn.send_continuation(data.encode("utf-8") if text else data, fin=finished)
        self._outbound_text = None if finished else text

    @staticmethod
    def _close_payload(code: Optional[int], reason: Optional[str]) -> bytes:
        """A close frame's payload as wsproto builds it from ``CloseConnection``."""
        if code is CloseReason.NO_STATUS_RCVD:  # the member: no status; a plain 1005 -> 1000
            code = None
        if code is None:
            if reason:
                raise TypeError("cannot specify a reason without a code")
            return b""
        if code in _LOCAL_ONLY:
            code = 1000
        payload = int(code).to_bytes(2, "big")
        if reason is not None:
            payload += _truncate_utf8(reason.encode("utf-8"), _MAX_REASON)
        return payload

    def _send_close(self, payload: bytes) -> Optional[bytes]:
        """Send our close frame through wsfast (which then expects the
        peer's); return the frame instead for a code wsfast would not send
        itself (1004, 2000...): wsproto sends any code it is given."""
        code = int.from_bytes(payload[:2], "big") if payload else 1005
        try:
            self._conn.send_close(code, payload[2:].decode("utf-8"))
        except (ValueError, InvalidState):
            return bytes(self._kernels.build_frame(_CLOSE, payload, mask=self._new_mask()))
        return None

    def _new_mask(self) -> Optional[bytes]:
        return os.urandom(4) if self.client else None


def _as_bytes_pairs(headers: Any) -> List[Tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()]


def _as_str_pairs(headers: Any) -> List[Tuple[str, str]]:
    return [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in headers]


def _split(values: List[str]) -> List[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


class WSConnection:
    """wsproto's ``WSConnection`` on wsfast: the HTTP/1.1 opening handshake,
    then a :class:`Connection`.

    Server: ``receive_data`` the request; a ``Request`` event comes out
    (``host``, ``target``, offered ``extensions`` and ``subprotocols``,
    ``extra_headers``); ``send(AcceptConnection(...))`` or
    ``send(RejectConnection(...))`` (+ ``RejectData``) answer it. Client:
    ``send(Request(host=..., target=...))``; the answer comes out as
    ``AcceptConnection`` or ``RejectConnection`` + ``RejectData``. A request
    or response that breaks RFC 6455 §4 raises wsproto's
    ``RemoteProtocolError`` with a ``RejectConnection`` hint, as wsproto does.
    After the handshake every call goes to the :class:`Connection`.

    Args:
        connection_type: ``ConnectionType.SERVER`` or ``CLIENT``.
        backend: ``"cython"`` or ``"python"`` kernels; default the process's.
        max_message_size: as for :class:`Connection`.
    """

    def __init__(self, connection_type: ConnectionType, *, backend: Optional[str] = None,
                 max_message_size: Optional[int] = None) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self._options: Dict[str, Any] = dict(backend=backend, max_message_size=max_message_size,
                             auto_pong=False, defer_failure=True)
        self._handshake: Any = None if self.client else ServerProtocol(**self._options)
        self._request: Any = None  # wsfast's Request (server role)
        self._offered: List[str] = []  # subprotocols offered (either role)
        self._state = ConnectionState.CONNECTING
        self._events: Deque[Any] = deque()
        self._connection: Optional[Connection] = None
        self._reject_length: Optional[int] = None  # Content-Length of our refusal, if any

    @property
    def state(self) -> ConnectionState:
        if self._connection is not None:
            return self._connection.state
        return self._state

    @property
    def connection(self) -> Optional[Connection]:
        """The :class:`Connection`, once the handshake succeeded."""
        return self._connection

    def initiate_upgrade_connection(self, headers: Any, path: Any) -> None:
        """Server: start from a request another HTTP layer already parsed."""
        if self.client:
            raise LocalProtocolError(
                "Cannot initiate an upgrade connection when acting as the client")
        target = path.encode("ascii") if isinstance(path, str) else bytes(path)
        head = b"GET " + target + b" HTTP/1.1\r\n" + b"".join(
            bytes(name) + b": " + bytes(value) + b"\r\n" for name, value in headers) + b"\r\n"
        self.receive_data(head)

    # -- receiving -----------------------------------------------------------------

    def receive_data(self, data: Optional[bytes]) -> None:
        """Feed bytes from the peer (``None``: it closed TCP).

        Raises:
            RemoteProtocolError: the peer's handshake is invalid.
        """
        if self._connection is not None:
            self._connection.receive_data(data)
            return
        if self._handshake is None or data is None or self._state is not ConnectionState.CONNECTING:
            return
        handshake = self._handshake
        handshake.receive_data(data)
        if self.client:
            self._client_received(handshake)
        else:
            self._server_received(handshake)

    def _server_received(self, handshake: Any) -> None:
        if handshake.handshake_error is not None:
            self._refused_request(handshake.handshake_error)
        for event in handshake.events_received():
            if type(event) is not Request:
                continue
            try:
                _handshake.check_request(event)
            except InvalidHandshake as exc:
                self._refused_request(exc)
            self._request = event
            headers = event.headers
            self._offered = _split(headers.get_all("Sec-WebSocket-Protocol"))
            skipped = ("host", "sec-websocket-extensions", "sec-websocket-protocol")
            self._events.append(_events.Request(
                host=headers.get("Host", ""),
                target=event.path,
                extensions=_split(headers.get_all("Sec-WebSocket-Extensions")),
                extra_headers=[pair for pair in _as_bytes_pairs(headers)
                               if pair[0].decode("latin-1") not in skipped],
                subprotocols=list(self._offered)))

    def _refused_request(self, exc: InvalidHandshake) -> None:
        hint = _events.RejectConnection(
            status_code=exc.status,
            headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in exc.headers])
        raise RemoteProtocolError(str(exc.reason), event_hint=hint)

    def _client_received(self, handshake: Any) -> None:
        received = handshake.events_received()
        for index, event in enumerate(received):
            if type(event) is not Response:
                continue
            if event.status_code != 101:
                self._events.append(_events.RejectConnection(
                    status_code=event.status_code, headers=_as_bytes_pairs(event.headers),
                    has_body=True))
                if event.body:
                    self._events.append(_events.RejectData(data=bytes(event.body),
                                                           body_finished=False))
                self._events.append(_events.RejectData(data=b"", body_finished=True))
                self._state = ConnectionState.CLOSED
                return
            if handshake.handshake_error is not None:
                raise RemoteProtocolError(str(handshake.handshake_error.reason),
                                          event_hint=_events.RejectConnection())
            skipped = ("connection", "sec-websocket-extensions", "sec-websocket-accept",
                       "sec-websocket-protocol", "upgrade")
            self._events.append(_events.AcceptConnection(
                subprotocol=handshake.subprotocol, extensions=[],
                extra_headers=[pair for pair in _as_bytes_pairs(event.headers)
                               if pair[0].decode("latin-1") not in skipped]))
            self._connection = Connection._after_handshake(handshake, received[index + 1:])
            return
        if handshake.handshake_error is not None:
            raise RemoteProtocolError(str(handshake.handshake_error.reason),
                                      event_hint=_events.RejectConnection())

    def events(self) -> Iterator[Any]:
        """Handshake events, then the connection's."""
        queue = self._events
        while queue:
            yield queue.popleft()
        if self._connection is not None:
            yield from self._connection.events()

    # -- sending ---------------------------------------------------------------------

    def send(self, event: Any) -> bytes:
        """The bytes to send for *event*.

        Raises:
            LocalProtocolError: the event does not fit the state (or an
                unoffered subprotocol is accepted).
            ValueError: extensions were given (none are supported).
        """
        if self._connection is not None:
            return self._connection.send(event)
        if isinstance(event, _events.Request):
            return self._send_request(event)
        if isinstance(event, _events.AcceptConnection):
            return self._accept(event)
        if isinstance(event, _events.RejectConnection):
            return self._reject(event)
        if isinstance(event, _events.RejectData):
            return self._reject_data(event)
        raise LocalProtocolError(f"Event {event} cannot be sent during the handshake")

    def _send_request(self, event: Any) -> bytes:
        if not self.client or self._handshake is not None:
            raise LocalProtocolError(f"Event {event} cannot be sent in state {self.state}.")
        if event.extensions:
            raise ValueError("wsfast.adapters.wsproto supports no extensions")
        self._offered = list(event.subprotocols)
        client = ClientProtocol(f"ws://{event.host}{event.target}",
                                  subprotocols=self._offered,
                                  extra_headers=_as_str_pairs(event.extra_headers),
                                  **self._options)
        client.send_request(client.connect())
        self._handshake = client
        return b"".join(client.data_to_send())

    def _accept(self, event: Any) -> bytes:
        if self.client or self._request is None or self._state is not ConnectionState.CONNECTING:
            raise LocalProtocolError(f"Event {event} cannot be sent in state {self.state}.")
        if event.extensions:
            raise ValueError("wsfast.adapters.wsproto supports no extensions")
        if event.subprotocol is not None and event.subprotocol not in self._offered:
            raise LocalProtocolError(f"unexpected subprotocol {event.subprotocol}")
        handshake = self._handshake
        response = handshake.accept(self._request, subprotocol=event.subprotocol,
                                    extra_headers=_as_str_pairs(event.extra_headers))
        handshake.send_response(response)
        data = b"".join(handshake.data_to_send())
        self._connection = Connection._after_handshake(handshake)
        return data

    def _reject(self, event: Any) -> bytes:
        if self.client or self._state is not ConnectionState.CONNECTING:
            raise LocalProtocolError(
                f"Connection cannot be rejected in state {self.state}")
        headers = Headers(_as_str_pairs(event.headers))
        if not event.has_body:
            headers.add("content-length", "0")
        length = headers.get("Content-Length")
        if length is None:
            # No length: the body is sent chunked (HTTP/1.1, RFC 9112 §7.1).
            headers.add("Transfer-Encoding", "chunked")
        else:
            self._reject_length = int(length)
        head = serialize_response(Response(event.status_code, reason_phrase(event.status_code),
                                           headers, b""))
        self._state = ConnectionState.REJECTING if event.has_body else ConnectionState.CLOSED
        return head

    def _reject_data(self, event: Any) -> bytes:
        if self._state is not ConnectionState.REJECTING:
            raise LocalProtocolError(f"Cannot send rejection data in state {self.state}")
        data = bytes(event.data)
        if self._reject_length is None:
            out = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
            if event.body_finished:
                out += b"0\r\n\r\n"
        else:
            out = data
        if event.body_finished:
            self._state = ConnectionState.CLOSED
        return out
