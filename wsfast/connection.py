"""The sans-I/O WebSocket connection: bytes in, events out; commands in, bytes out.

One class per role, one implementation for both back-ends: only the kernels
(frame reader and writer) differ. No I/O, no clock, no threads: the caller
moves bytes between :meth:`Connection.data_to_send` / :meth:`receive_data` and
its transport, and reads events from :meth:`events_received`.

State machine (RFC 6455 §4, §7)::

    CONNECTING --101 sent/received--> OPEN --close sent or received--> CLOSING
    CLOSING --TCP closed (receive_eof)--> CLOSED

* A close frame received while OPEN is answered with a close frame echoing
  its code (§5.5.1); a close received after ours completes the handshake.
  Either way :meth:`close_expected` becomes true: a server then closes the TCP
  connection first (§7.1.1), a client waits for that (with a timeout).
* A protocol violation by the peer fails the connection (§7.1.7): the events
  completed before the violating byte are still delivered, a close frame with
  the right code (1002, 1007, 1009) is sent, further input is ignored, and the
  error is kept in :attr:`Connection.error`.
* An invalid upgrade request gets an HTTP error response (4xx) queued in
  :meth:`data_to_send`, never an exception; the reason is in
  :attr:`Connection.handshake_error`.

The state rules live in :mod:`wsfast.state`; the per-message state (reader,
writer, outbox, state flags) in a :class:`~wsfast._core_py.ConnectionCore`
(:attr:`Connection.core`), the declared contract with I/O layers that read
and send through it directly. Receive path: the kernel reader returns a ready
list of events for each chunk; this module only looks at the (rare) control
events it flags, so the cost per data message is the kernel's.

Names: these classes are also :class:`wsfast.ServerProtocol` /
:class:`wsfast.ClientProtocol` (:mod:`wsfast.protocol`), as in websockets,
whose top-level ``ServerConnection`` / ``ClientConnection`` are asyncio
connections. The ``*Connection`` names here stay importable but are
deprecated for new code: prefer the ``*Protocol`` names.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple, Union

from . import _backend, deflate, handshake
from . import state as _state
from .defaults import DEFAULT_FRAGMENT_OVERHEAD, DEFAULT_MAX_MESSAGE_SIZE, MAX_EARLY_DATA, \
    MAX_HEADER_SIZE, MAX_HEADERS, MAX_REQUEST_LINE
from .errors import InvalidHandshake, InvalidState, NegotiationError, ProtocolError
from .events import CloseReceived, Ping, Request, Response
from .frames import CloseCode, Opcode, serialize_close
from .handshake import Headers
from .headers import build_authorization_basic
from .state import State

if TYPE_CHECKING:
    from ._core_py import ConnectionCore

__all__ = [
    "State",
    "Connection",
    "ServerConnection",
    "ClientConnection",
    "DEFAULT_MAX_MESSAGE_SIZE",
]

_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)
_CONTINUATION = int(Opcode.CONTINUATION)
_PING = int(Opcode.PING)
_PONG = int(Opcode.PONG)
_CLOSE = int(Opcode.CLOSE)

Data = Union[str, bytes, bytearray, memoryview]


class Connection:
    """Behaviour shared by both roles; use :class:`ServerConnection` or
    :class:`ClientConnection`.

    Args:
        max_message_size: largest message accepted, after decompression
            (1009 beyond it); ``None`` for no limit.
        max_frame_size: largest frame payload accepted; defaults to
            ``max_message_size``.
        max_fragments: largest number of frames in a message; ``None``
            (default) leaves the bound to the fragment charge.
        fragment_overhead: bytes charged against ``max_message_size`` for
            every fragment after the first, so that a message cut into tiny
            fragments cannot cost more than its size allows.
        text_as_bytes: deliver text messages as validated UTF-8 ``bytes``.
        streaming: deliver :class:`~wsfast.events.MessageFragment` events as
            data arrives instead of whole messages.
        auto_pong: answer pings automatically (default).
        defer_failure: on a protocol error, stop reading but do not send the
            close frame yet: the caller lets the application answer the
            messages that arrived before the error, then calls
            :meth:`fail` with ``error.close_code`` (this is what Autobahn's
            "strict" verdicts expect; the asyncio layer does it). Default:
            fail at once.
        extensions: extension configurations to negotiate; currently
            :class:`wsfast.deflate.PerMessageDeflate`.
        backend: ``"cython"`` or ``"python"`` to choose the kernels
            explicitly; default: the process default (``wsfast.IMPLEMENTATION``).
        random_bytes: source of masking keys (client), ``os.urandom``.
    """

    # The core is read on every message: a slot, not a dictionary entry.
    __slots__ = ("_core", "__dict__", "__weakref__")
    # Either back-end's core; the pure twin states the contract both keep
    # (the compiled one's stub, wsfast/_core_c.pyi, has the same members).
    _core: ConnectionCore

    is_client = False

    def __init__(
        self,
        *,
        max_message_size: Optional[int] = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: Optional[int] = None,
        max_fragments: Optional[int] = None,
        fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
        text_as_bytes: bool = False,
        streaming: bool = False,
        auto_pong: bool = True,
        defer_failure: bool = False,
        extensions: Sequence[Any] = (),
        backend: Optional[str] = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._kernels = _backend.get(backend) if backend else _backend.default
        self._reader_options = dict(
            mask_required=not self.is_client,
            max_frame_size=max_frame_size if max_frame_size is not None else max_message_size,
            max_message_size=max_message_size,
            max_fragments=max_fragments,
            fragment_overhead=fragment_overhead,
            text_as_bytes=text_as_bytes,
            streaming=streaming,
        )
        # Validate the limits now rather than at the end of the handshake.
        self._kernels.MessageReader(**self._reader_options)
        self.auto_pong = auto_pong
        self.defer_failure = defer_failure
        self._extensions = tuple(extensions)
        for extension in self._extensions:
            if not isinstance(extension, deflate.PerMessageDeflate):
                raise TypeError(f"unsupported extension configuration: {extension!r}")
        self._core = self._kernels.ConnectionCore(
            self._kernels.FrameWriter(self.is_client, random_bytes), self._act_on_control)
        self._deflate: Any = None  # the negotiated permessage-deflate session
        #: The protocol error that failed the connection, if any.
        self.error: Optional[ProtocolError] = None
        #: Why the opening handshake failed, if it did.
        self.handshake_error: Optional[InvalidHandshake] = None
        #: Subprotocol agreed in the handshake.
        self.subprotocol: Optional[str] = None
        self._close_expected = False
        self._rcvd_before_sent = False  # for close_rcvd_then_sent
        self._sending_compressed = False
        self._eof_received = False
        self._writing_paused = False  # see set_writing_paused
        self._unanswered_ping: Optional[bytes] = None

    # -- properties ----------------------------------------------------------

    @property
    def backend(self) -> str:
        """``"cython"`` or ``"python"``: the kernels this connection uses."""
        return self._kernels.name

    @property
    def kernels(self) -> Any:
        """The kernels of :attr:`backend` (a ``wsfast._backend.Backend``):
        what an I/O layer builds its own per-message objects from."""
        return self._kernels

    @property
    def compression(self) -> Any:
        """The negotiated permessage-deflate session, or ``None``."""
        return self._deflate

    @property
    def core(self) -> Any:
        """The :class:`~wsfast._core_py.ConnectionCore` (of this connection's
        back-end): reader, writer, outbox and state flags, the contract with
        an I/O layer that reads and sends through them directly."""
        return self._core

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (see :mod:`wsfast.state`)."""
        return self._core.state

    @property
    def close_rcvd(self) -> Optional[Tuple[int, str]]:
        """``(code, reason)`` of the close frame received, if any."""
        return self._core.close_rcvd

    @property
    def close_sent(self) -> Optional[Tuple[int, str]]:
        """``(code, reason)`` of the close frame sent, if any."""
        return self._core.close_sent

    @property
    def close_rcvd_then_sent(self) -> Optional[bool]:
        """Whether the peer's close frame came before ours (``None`` unless
        both exist): :class:`~wsfast.exceptions.ConnectionClosed` reports it."""
        core = self._core
        if core.close_rcvd is None or core.close_sent is None:
            return None
        return self._rcvd_before_sent

    @property
    def control_received(self) -> bool:
        """Set when received data contained a control frame, a close or an
        error; an I/O layer that clears it can skip looking for them."""
        return self._core.control_received

    @control_received.setter
    def control_received(self, value: bool) -> None:
        self._core.control_received = value

    # -- bytes in, events out -------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the network.

        Then call :meth:`events_received` for what they completed and
        :meth:`data_to_send` for the answers they require (pongs, close).
        """
        events = self._feed(data)
        if events:
            self._core.events += events

    def receive(self, data: bytes) -> List[Any]:
        """:meth:`receive_data` then :meth:`events_received`, in one call:
        the events completed so far, including those ``data`` completed.
        (I/O layers use it on their hot path: one call per read.)"""
        events = self._feed(data)
        core = self._core
        if core.events:  # left by earlier calls or by the handshake
            pending, core.events = core.events, []
            pending += events
            return pending
        return events

    def _feed(self, data: bytes) -> List[Any]:
        """The events data completes after the handshake; handshake events
        (and frames that came with the 101) go to the core's events."""
        core = self._core
        reader = core.reader
        if reader is not None:
            events = core.feed(data)
            # A call stops after INFLATE_YIELD decompressed bytes; here the
            # caller asked for everything its data completes, so go on.
            while reader.pending and core.reader is reader:
                events += core.feed(b"")
            return events
        if core.state is State.CONNECTING:
            self._receive_handshake(data)
        return []

    def receive_eof(self) -> None:
        """The peer closed its end of the TCP connection."""
        if self._eof_received:
            return
        self._eof_received = True
        _state.eof(self._core)
        self._close_expected = True

    def events_received(self) -> List[Any]:
        """Events completed since the last call (oldest first)."""
        core = self._core
        events, core.events = core.events, []
        return events

    def data_to_send(self) -> List[bytes]:
        """Bytes to write to the network since the last call, for ``writelines``."""
        return self._core.take_out()

    def set_writing_paused(self, paused: bool) -> None:
        """Tell the connection whether the transport has stopped taking writes
        (its buffer is above its high-water mark, as ``pause_writing`` says).

        While it has, automatic pongs are not queued one per ping: only the
        payload of the latest ping is kept, and its pong is queued when
        writing resumes (RFC 6455 §5.5.3 allows answering only the most
        recent of several unanswered pings). A peer that sends pings and
        never reads can then grow the write buffer by at most one pong,
        instead of one pong per ping, without limit.
        """
        self._writing_paused = paused
        if not paused and self._unanswered_ping is not None:
            data, self._unanswered_ping = self._unanswered_ping, None
            if self._core.can_send_control:
                self._core.write(_PONG, data)

    def close_expected(self) -> bool:
        """Whether the TCP connection should end now.

        True after the closing handshake, after the connection failed, and
        after a handshake refusal. A server then closes the TCP connection
        once :meth:`data_to_send` is written; a client waits (briefly) for the
        server to do it.
        """
        return self._close_expected

    # -- commands ---------------------------------------------------------------

    def send_text(self, data: Data, fin: bool = True, *, compress: Optional[bool] = None) -> None:
        """Send a text message, or its first fragment when ``fin`` is false.

        ``data`` is a ``str``, or UTF-8 ``bytes`` (not re-validated).
        ``compress=False`` sends this message uncompressed even when
        permessage-deflate is on; ``None`` applies the negotiated threshold.

        Raises:
            InvalidState: the connection is not open, or a fragmented message
                is in progress (use :meth:`send_continuation`).
        """
        core = self._core
        if core.fast_send and fin:
            core.write(_TEXT, data)
        else:
            self._send_start(_TEXT, data, fin, compress)

    def send_binary(self, data: Data, fin: bool = True, *, compress: Optional[bool] = None) -> None:
        """Send a binary message, or its first fragment when ``fin`` is false.

        Raises:
            InvalidState: as for :meth:`send_text`.
        """
        core = self._core
        if core.fast_send and fin:
            core.write(_BINARY, data)
        else:
            self._send_start(_BINARY, data, fin, compress)

    def send_continuation(self, data: Data, fin: bool) -> None:
        """Send the next fragment of the message started with ``fin=False``.

        Raises:
            InvalidState: no fragmented message is in progress.
        """
        if not self._core.sending_fragmented:
            raise InvalidState("no fragmented message in progress")
        self._check_can_send_data()
        self._send_data(_CONTINUATION, data, fin, self._sending_compressed)
        if fin:
            _state.fragmented_send(self._core, False)

    def send_ping(self, data: Data = b"") -> None:
        """Send a ping (at most 125 bytes).

        Raises:
            InvalidState: a close frame was already sent.
        """
        self._check_can_send_control()
        self._core.write(_PING, data)

    def send_pong(self, data: Data = b"") -> None:
        """Send a pong (at most 125 bytes)."""
        self._check_can_send_control()
        self._core.write(_PONG, data)

    def send_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start (or complete) the closing handshake (RFC 6455 §7.1.2).

        ``code`` 1005 sends a close frame without a status.

        Raises:
            InvalidState: a close frame was already sent, or the connection
                is not open.
            ValueError: the code may not be sent or the reason is too long.
        """
        core = self._core
        if core.state is State.CONNECTING:
            raise InvalidState("the opening handshake is not complete")
        if core.close_sent is not None or core.state is State.CLOSED:
            raise InvalidState("a close frame was already sent")
        self._send_close_frame(code, reason)

    def fail(self, code: int = CloseCode.PROTOCOL_ERROR, reason: str = "") -> None:
        """Fail the connection (RFC 6455 §7.1.7): send a close frame unless one
        was sent, stop reading, and expect the TCP connection to end."""
        core = self._core
        if core.can_send_control:  # open or closing, and no close frame sent yet
            self._send_close_frame(code, reason)
        _state.failed(core)
        self._close_expected = True

    # -- internals -----------------------------------------------------------------

    def _check_can_send_data(self) -> None:
        if not self._core.can_send_data:
            raise InvalidState(f"cannot send data in state {self.state.name}")

    def _check_can_send_control(self) -> None:
        if not self._core.can_send_control:
            raise InvalidState(f"cannot send a control frame in state {self.state.name}")

    def _send_start(self, opcode: int, data: Data, fin: bool, compress: Optional[bool]) -> None:
        core = self._core
        if core.sending_fragmented:
            raise InvalidState("a fragmented message is in progress: use send_continuation")
        self._check_can_send_data()
        session = self._deflate
        if session is None:
            core.write_frame(opcode, data, fin, False)
        else:
            if isinstance(data, str):
                data = data.encode("utf-8")
            use = session.should_compress(len(data)) if compress is None else bool(compress)
            self._send_data(opcode, data, fin, use)
            self._sending_compressed = use
        if not fin:
            _state.fragmented_send(core, True)

    def _send_data(self, opcode: int, data: Data, fin: bool, compressed: bool) -> None:
        if compressed:
            if isinstance(data, str):
                data = data.encode("utf-8")
            payload = self._deflate.compress(bytes(data), fin)
            # RFC 7692 §6: RSV1 on the first frame of a compressed message only.
            self._core.write_frame(opcode, payload, fin, opcode != _CONTINUATION)
        else:
            self._core.write_frame(opcode, data, fin, False)

    def _send_close_frame(self, code: int, reason: str) -> None:
        payload = serialize_close(code, reason)
        core = self._core
        core.write(_CLOSE, payload)
        self._rcvd_before_sent = core.close_rcvd is not None
        _state.close_sent(core, code, reason)
        if core.close_rcvd is not None:
            self._close_expected = True  # the closing handshake is complete

    def _act_on_control(self, reader: Any) -> None:
        """Answer pings, close frames and protocol errors flagged by the reader."""
        core = self._core
        for event in reader.control_events:
            if type(event) is Ping:
                if self.auto_pong and core.close_sent is None:
                    if self._writing_paused:  # §5.5.3: the latest ping only
                        self._unanswered_ping = event.data
                    else:
                        core.write(_PONG, event.data)
            elif type(event) is CloseReceived:
                _state.close_received(core, event.code, event.reason)
                if core.close_sent is None:
                    # §5.5.1: echo the status code (none if none was given).
                    self._send_close_frame(event.code, "")
                self._close_expected = True
        if reader.error is not None:
            error = reader.error
            self.error = error
            if self.defer_failure and core.close_sent is None:
                core.reader = None  # read nothing more; the caller calls fail()
            else:
                self.fail(error.close_code, error.reason)

    def _open(self, leftover: bytes) -> None:
        """The handshake succeeded: start reading frames."""
        inflater = self._deflate
        _state.opened(self._core, self._kernels.MessageReader(inflater=inflater, **self._reader_options),
                      compressing=inflater is not None)
        if leftover:
            self.receive_data(leftover)

    def _receive_handshake(self, data: bytes) -> None:  # pragma: no cover - per role
        raise NotImplementedError


class ServerConnection(Connection):
    """Server side of a WebSocket connection.

    Feed it the client's bytes: the upgrade request becomes a
    :class:`~wsfast.events.Request` event; answer it with
    ``send_response(accept(request))`` (or ``reject(...)``).

    Args:
        subprotocols: subprotocols this server supports, in order of
            preference; :meth:`accept` picks the first the client offered.
        max_request_line, max_headers, max_header_size: limits on the
            upgrade request (414 / 431 beyond them).
        max_early_data: bytes kept that the client sent after its request
            and before the response (400 beyond them: RFC 6455 §4.1 has the
            client wait for the response).
        See :class:`Connection` for the other arguments.
    """

    is_client = False

    def __init__(
        self,
        *,
        subprotocols: Sequence[str] = (),
        max_request_line: int = MAX_REQUEST_LINE,
        max_headers: int = MAX_HEADERS,
        max_header_size: int = MAX_HEADER_SIZE,
        max_early_data: int = MAX_EARLY_DATA,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.subprotocols = tuple(subprotocols)
        self._request_parser: Any = handshake.RequestParser(
            max_line=max_request_line, max_headers=max_headers, max_header_size=max_header_size
        )
        #: The upgrade request, once received.
        self.request: Optional[Request] = None
        self._pending_deflate: Any = None
        self._leftover = bytearray()
        self._max_early_data = max_early_data

    def _receive_handshake(self, data: bytes) -> None:
        if self.request is not None:
            # Bytes after the request but before our answer (a client may
            # not send frames yet, RFC 6455 §4.1): keep them for the reader,
            # up to a limit, since the application may take its time.
            if len(self._leftover) + len(data) > self._max_early_data:
                self._refuse(InvalidHandshake(
                    400, "too much data before the handshake response", "early-data-too-large"))
                return
            self._leftover += data
            return
        try:
            request = self._request_parser.feed(data)
        except InvalidHandshake as exc:
            self._refuse(exc)
            return
        if request is not None:
            if len(self._request_parser.leftover) > self._max_early_data:
                self._refuse(InvalidHandshake(
                    400, "too much data before the handshake response", "early-data-too-large"))
                return
            self.request = request
            self._leftover = bytearray(self._request_parser.leftover)
            # Done with: an open connection lives for hours, and every
            # object it keeps is walked by each of the garbage collector's
            # full passes (see Headers).
            self._request_parser = None
            self._core.events.append(request)

    def _refuse(self, exc: InvalidHandshake) -> None:
        """Answer an invalid opening handshake with the status it deserves."""
        self.handshake_error = exc
        self.send_response(handshake.response_for_error(exc))

    def accept(
        self,
        request: Request,
        *,
        subprotocol: Optional[str] = None,
        extra_headers: Any = (),
    ) -> Response:
        """Build the response to an upgrade request: 101 if it is valid, else
        the 4xx it deserves (RFC 6455 §4.2.2). Send it with :meth:`send_response`.

        Args:
            request: the :class:`~wsfast.events.Request` event.
            subprotocol: the subprotocol to agree on; it must be one the client
                offered. By default the first of :attr:`subprotocols` offered.
            extra_headers: more response headers, as (name, value) pairs.

        Raises:
            ValueError: ``subprotocol`` was not offered by the client.
        """
        try:
            key = handshake.check_request(request)
            offered = handshake.parse_subprotocols(request.headers.get_all("Sec-WebSocket-Protocol"))
            extensions_header, self._pending_deflate = self._negotiate_extensions(request.headers)
        except InvalidHandshake as exc:
            self.handshake_error = exc
            return handshake.response_for_error(exc)
        if subprotocol is None:
            subprotocol = handshake.select_subprotocol(offered, self.subprotocols)
        elif subprotocol not in offered:
            raise ValueError(f"the client did not offer subprotocol {subprotocol!r}")
        return handshake.build_accept_response(
            key, subprotocol=subprotocol, extensions=extensions_header, extra_headers=extra_headers
        )

    def _negotiate_extensions(self, headers: Headers) -> Tuple[Optional[str], Any]:
        offers = handshake.parse_extensions(headers.get_all("Sec-WebSocket-Extensions"))
        for config in self._extensions:
            params_lists = [params for name, params in offers if name == config.name]
            if not params_lists:
                continue
            accepted = deflate.negotiate(config, params_lists)
            if accepted is not None:
                params, session = accepted
                return handshake.serialize_extensions([(config.name, params)]), session
        return None, None

    def reject(self, status: int, body: Union[str, bytes] = b"", headers: Any = ()) -> Response:
        """Build an HTTP response refusing the upgrade. Send it with
        :meth:`send_response`."""
        return handshake.build_reject_response(status, body, headers)

    def send_response(self, response: Response) -> None:
        """Send the response to the upgrade request; a 101 opens the connection,
        anything else ends it (:meth:`close_expected` becomes true)."""
        if self._core.state is not State.CONNECTING:
            raise InvalidState("the response was already sent")
        self._core.out.append(handshake.serialize_response(response))
        if response.status_code == 101:
            self.subprotocol = response.headers.get("Sec-WebSocket-Protocol")
            if response.headers.get("Sec-WebSocket-Extensions") is not None:
                self._deflate = self._pending_deflate
            leftover, self._leftover = bytes(self._leftover), bytearray()
            self._open(leftover)
        else:
            _state.refused(self._core)
            self._close_expected = True


class ClientConnection(Connection):
    """Client side of a WebSocket connection.

    ``send_request(connect())`` starts the opening handshake; the server's
    answer becomes a :class:`~wsfast.events.Response` event: the connection is
    then OPEN, or CLOSED with the reason in :attr:`handshake_error`.

    Args:
        uri: ``ws://`` or ``wss://`` URI.
        subprotocols: subprotocols to offer, in order of preference.
        extra_headers: more request headers, as (name, value) pairs.
        origin: value of the ``Origin`` header, if any.
        See :class:`Connection` for the other arguments.
    """

    is_client = True
    # Set by wsfast.asyncio.client.connect(logger=...) for the asyncio
    # connection to pick up (websockets keeps it on its protocol object too);
    # absent otherwise, hence read with getattr().
    logger: Any

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Sequence[str] = (),
        extra_headers: Any = (),
        origin: Optional[str] = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.uri = uri
        self.wsuri = handshake.parse_uri(uri)
        self.secure, self.host, self.port, self.resource = self.wsuri
        self.subprotocols = tuple(subprotocols)
        self.extra_headers = extra_headers
        self.origin = origin
        self._key: Optional[str] = None
        self._response_parser: Any = None
        #: The server's response, once received.
        self.response: Optional[Response] = None

    def connect(self) -> Request:
        """Build the upgrade request (with a fresh random key). Send it with
        :meth:`send_request`."""
        key = handshake.generate_key()
        extensions = None
        if self._extensions:
            extensions = handshake.serialize_extensions(
                [(config.name, deflate.client_offer(config)) for config in self._extensions]
            )
        request = handshake.build_request(
            handshake.host_header(self.host, self.port, self.secure),
            self.resource,
            key,
            subprotocols=self.subprotocols,
            extensions=extensions,
            extra_headers=self.extra_headers,
            origin=self.origin,
        )
        user_info = self.wsuri.user_info
        if user_info is not None and "Authorization" not in request.headers:
            # Credentials in the URI (ws://user:pass@host/) are sent as Basic
            # authentication, as browsers and websockets do; an explicit
            # Authorization header wins.
            request.headers.add("Authorization", build_authorization_basic(*user_info))
        return request

    def send_request(self, request: Request) -> None:
        """Send the upgrade request built by :meth:`connect`."""
        if self._key is not None:
            raise InvalidState("the request was already sent")
        self._key = request.headers["Sec-WebSocket-Key"]
        self._response_parser = handshake.ResponseParser()
        self._core.out.append(handshake.serialize_request(request))

    def _receive_handshake(self, data: bytes) -> None:
        if self._response_parser is None:
            raise InvalidState("send the upgrade request first")
        try:
            response = self._response_parser.feed(data)
        except InvalidHandshake as exc:
            self._handshake_failed(exc)
            return
        if response is None:
            return
        self.response = response
        self._core.events.append(response)
        assert self._key is not None  # set by send_request, with _response_parser
        try:
            subprotocol, extensions = handshake.check_response(
                response, self._key, offered_subprotocols=self.subprotocols
            )
            self._deflate = self._accept_extensions(extensions)
        except InvalidHandshake as exc:
            self._handshake_failed(exc)
            return
        self.subprotocol = subprotocol
        self._open(self._response_parser.leftover)

    def _accept_extensions(self, extensions: List[Any]) -> Any:
        """RFC 6455 §9.1: refuse extensions we did not offer; RFC 7692 §5:
        validate the permessage-deflate response."""
        session = None
        for name, params in extensions:
            config = next((c for c in self._extensions if c.name == name), None)
            if config is None or session is not None:
                raise NegotiationError(
                    f"unsupported extension: {name}",
                    status=101,
                    rule="unexpected-extension",
                    reason=f"unexpected extension in response: {name}",
                )
            session = deflate.accept_response(config, params)
        return session

    def _handshake_failed(self, exc: InvalidHandshake) -> None:
        self.handshake_error = exc
        _state.refused(self._core)
        self._close_expected = True
