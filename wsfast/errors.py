"""Exceptions, each carrying what the peer must be told.

Two heritages meet here. websockets' exception classes (the names, the
hierarchy, the constructor arguments and the ``str()`` users log) are what
application code catches, so every one of them exists under the same name
and :mod:`wsfast.exceptions` lists them the way websockets does. wsfast adds
what its I/O layers need to *answer* an error:

* a :class:`ProtocolError` carries the close code to send and a stable *rule
  id* (``"reserved-opcode"``, ``"invalid-utf8"``, ...) registered once in
  :data:`RULES`. Both back-ends raise errors only through
  :func:`protocol_error`, so the compiled and the pure kernels cannot drift
  apart in wording or code: parity tests compare ``(type, close_code, rule,
  reason)``.
* an :class:`InvalidHandshake` carries the HTTP status a server answers with
  (or, on the client, the status the server sent), a rule id and the headers
  the refusal must carry.

wsfast's extra bases (``PayloadTooBig`` and ``TooManyFragments`` are
``ProtocolError`` subclasses here, so that one ``except ProtocolError`` fails
the connection with the right code) only ever add to websockets' hierarchy:
for every class and every base it has in websockets, the same relation holds
in wsfast.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Tuple, Type

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .frames import Close
    from .http11 import Response

__all__ = [
    # websockets' names, in the order of websockets.exceptions.__all__
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidProxy",
    "InvalidHandshake",
    "SecurityError",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "TooManyFragments",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidProtocol",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidState",
    "ConcurrencyError",
    # wsfast's own
    "WebSocketError",
    "InvalidUtf8",
    "RULES",
    "protocol_error",
]

def _is_int(value: object) -> bool:
    # IntEnum members (CloseCode, HTTPStatus) count; bool does not.
    return isinstance(value, int) and not isinstance(value, bool)


class WebSocketException(Exception):
    """Base class of every exception wsfast raises on purpose."""


#: wsfast's original name for :class:`WebSocketException`.
WebSocketError = WebSocketException


# -- closed connections ---------------------------------------------------------


class ConnectionClosed(WebSocketException):
    """Raised by the I/O layers when using a connection that has ended.

    Attributes:
        rcvd: the close frame received (a :class:`~wsfast.frames.Close` with
            ``code`` and ``reason``), or ``None`` if none arrived.
        sent: the close frame sent, or ``None``.
        rcvd_then_sent: when both exist, whether the peer closed first
            (``True``) or we did (``False``); ``None`` otherwise.

    ``code`` and ``reason`` are websockets' deprecated spellings of
    ``rcvd.code`` / ``rcvd.reason`` (1006 and ``""`` when nothing was
    received); they still work, with a :class:`DeprecationWarning` so that
    code migrating from websockets sees the same advice there.
    """

    def __init__(
        self,
        rcvd: Optional[Close],
        sent: Optional[Close],
        rcvd_then_sent: Optional[bool] = None,
    ) -> None:
        # An order only exists when both frames do; anything else is a bug
        # in the caller, worth a loud error rather than a misleading str().
        if (rcvd_then_sent is None) != (rcvd is None or sent is None):
            raise ValueError("rcvd_then_sent must be given exactly when rcvd and sent both are")
        super().__init__(rcvd, sent, rcvd_then_sent)
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent

    def __str__(self) -> str:
        rcvd, sent = self.rcvd, self.sent
        if rcvd is None and sent is None:
            return "no close frame received or sent"
        if rcvd is None:
            return f"sent {sent}; no close frame received"
        if sent is None:
            return f"received {rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {rcvd}; then sent {sent}"
        return f"sent {sent}; then received {rcvd}"

    @property
    def code(self) -> int:
        """Deprecated: the received close code, 1006 if none was received."""
        warnings.warn(
            "ConnectionClosed.code is deprecated; use ConnectionClosed.rcvd.code",
            DeprecationWarning,
            stacklevel=2,
        )
        if self.rcvd is None:
            from .frames import CloseCode

            return CloseCode.ABNORMAL_CLOSURE
        return self.rcvd.code

    @property
    def reason(self) -> str:
        """Deprecated: the received close reason, ``""`` if none was received."""
        warnings.warn(
            "ConnectionClosed.reason is deprecated; use ConnectionClosed.rcvd.reason",
            DeprecationWarning,
            stacklevel=2,
        )
        return "" if self.rcvd is None else self.rcvd.reason

    @property
    def sent_code(self) -> Optional[int]:
        """The close code we sent, or ``None`` (wsfast's shortcut for ``sent.code``)."""
        return None if self.sent is None else self.sent.code


class ConnectionClosedOK(ConnectionClosed):
    """The connection ended normally: every close code involved is 1000,
    1001 or 1005 (a close frame without a code)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection ended abnormally or with an error close code."""


# -- URIs and proxies -----------------------------------------------------------


class InvalidURI(WebSocketException, ValueError):
    """A URI that is not a valid ``ws://`` or ``wss://`` URI.

    Also a :class:`ValueError`, which wsfast's URI parser raised before it
    had this class.

    Attributes:
        uri: the URI as given.
        msg: what is wrong with it.
    """

    def __init__(self, uri: str, msg: str) -> None:
        super().__init__(uri, msg)
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class InvalidProxy(WebSocketException):
    """A proxy URL that cannot be used.

    Attributes:
        proxy: the proxy URL as given.
        msg: what is wrong with it.
    """

    def __init__(self, proxy: str, msg: str) -> None:
        super().__init__(proxy, msg)
        self.proxy = proxy
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.proxy} isn't a valid proxy: {self.msg}"


# -- the opening handshake ------------------------------------------------------


class InvalidHandshake(WebSocketException):
    """The HTTP upgrade request or response is unacceptable.

    Attributes (wsfast's, on every subclass too):
        status: the HTTP status a server should answer with (400, 426, 431,
            ...), or, on the client side, the status the server answered with.
        reason: what was wrong, suitable for the response body.
        rule: stable identifier of the violated rule.
        headers: extra response headers the refusal must carry
            (``Sec-WebSocket-Version: 13`` for a 426).

    Two ways to build one:

    * wsfast's ``InvalidHandshake(status, reason, rule="invalid-handshake",
      headers=())``, recognised by an integer first argument; ``str()`` then
      names the status and the rule;
    * websockets' way: the subclasses take websockets' arguments
      (``InvalidHeader(name, value)``, ``InvalidStatus(response)``, ...) and
      ``InvalidHandshake("message")`` takes a message; ``str()`` is then
      websockets' text. Each also accepts the keyword-only ``status=``,
      ``rule=``, ``headers=`` and ``reason=`` so that wsfast's parsers can
      raise the specific class with the answer it implies (``reason``, the
      text of the HTTP response body, defaults to ``str()``); without them
      the class defaults below apply.
    """

    status: int = 400
    rule: str = "invalid-handshake"
    headers: Tuple[Tuple[str, str], ...] = ()
    _reason: Optional[str] = None  # explicit text for ``reason``
    _positional: bool = False  # built in wsfast's positional form

    def __init__(
        self,
        *args: Any,
        status: Optional[int] = None,
        rule: Optional[str] = None,
        headers: Optional[Iterable[Tuple[str, str]]] = None,
        reason: Optional[str] = None,
    ) -> None:
        super().__init__(*args)
        if args and _is_int(args[0]):
            if not 2 <= len(args) <= 4 or not isinstance(args[1], str):
                raise TypeError("InvalidHandshake(status, reason, rule='...', headers=())")
            if status is not None or reason is not None \
                    or (rule is not None and len(args) > 2) \
                    or (headers is not None and len(args) > 3):
                raise TypeError("InvalidHandshake() got an argument twice")
            status, self._reason = args[0], args[1]
            self._positional = True
            if len(args) > 2:
                rule = args[2]
            if len(args) > 3:
                headers = args[3]
        elif reason is not None:
            self._reason = reason
        self._configure(status, rule, headers)

    def _configure(
        self,
        status: Optional[int] = None,
        rule: Optional[str] = None,
        headers: Optional[Iterable[Tuple[str, str]]] = None,
        reason: Optional[str] = None,
    ) -> None:
        if reason is not None:
            self._reason = reason
        if status is not None:
            self.status = status
        if rule is not None:
            self.rule = rule
        if headers is not None:
            self.headers = tuple(headers)

    @property
    def reason(self) -> str:
        """What was wrong, for the response body and logs."""
        return self._reason if self._reason is not None else self._describe()

    def _describe(self) -> str:
        # websockets' text for this exception; subclasses override.
        return Exception.__str__(self)

    def __str__(self) -> str:
        if self._positional:
            return f"{self._reason} (HTTP {self.status}, rule {self.rule})"
        return self._describe()

    def with_status(self, status: int) -> InvalidHandshake:
        """A copy of this error carrying *status* instead (same class, same
        text): the client reports the status the server sent."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.args = self.args
        clone.status = status
        clone.headers = ()
        return clone


class SecurityError(InvalidHandshake):
    """The request or response exceeds a security limit (line length, number
    of headers, ...)."""

    status = 431
    rule = "security-limit"


class RequestLineTooLong(SecurityError):
    """The request line is longer than the limit (414 URI Too Long)."""

    status = 414
    rule = "request-line-too-long"


class StatusLineTooLong(SecurityError):
    """The server's status line is longer than the limit (client side)."""

    status = 502
    rule = "status-line-too-long"


class HeaderLineTooLong(SecurityError):
    """A header line, or the whole header block, is longer than the limit."""

    status = 431
    rule = "header-too-large"


class TooManyHeaders(SecurityError):
    """The message has more header fields than the limit."""

    status = 431
    rule = "too-many-headers"


class ProxyError(InvalidHandshake):
    """Connecting through a proxy failed."""

    status = 502
    rule = "proxy-error"


class InvalidProxyMessage(ProxyError):
    """The HTTP proxy's response is malformed."""

    rule = "bad-proxy-response"


class InvalidProxyStatus(ProxyError):
    """The HTTP proxy refused the connection.

    Attributes:
        response: the proxy's :class:`~wsfast.http11.Response`; ``status``
            is its status code.
    """

    rule = "proxy-refused"

    def __init__(self, response: Response, **wsfast: Any) -> None:
        Exception.__init__(self, response)
        self.response = response
        self.status = response.status_code
        self._configure(**wsfast)

    def _describe(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code:d}"


class InvalidMessage(InvalidHandshake):
    """The request or response is not well-formed HTTP."""

    rule = "bad-message"


class InvalidMethod(InvalidHandshake):
    """The upgrade request does not use GET (405 Method Not Allowed).

    Attributes:
        method: the method the client used.
    """

    status = 405
    rule = "method-not-get"

    def __init__(self, method: str, **wsfast: Any) -> None:
        Exception.__init__(self, method)
        self.method = method
        self._configure(**wsfast)

    def _describe(self) -> str:
        return f"unsupported HTTP method: {self.method}"


class InvalidProtocol(InvalidHandshake):
    """The message does not use HTTP/1.1.

    Attributes:
        protocol: the HTTP version the peer used.
    """

    status = 505
    rule = "unsupported-http-version"

    def __init__(self, protocol: str, **wsfast: Any) -> None:
        Exception.__init__(self, protocol)
        self.protocol = protocol
        self._configure(**wsfast)

    def _describe(self) -> str:
        return f"unsupported HTTP version: {self.protocol}"


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade request with something else than 101.

    Attributes:
        response: the server's :class:`~wsfast.http11.Response`; ``status``
            is its status code.
    """

    rule = "unexpected-status"

    def __init__(self, response: Response, **wsfast: Any) -> None:
        Exception.__init__(self, response)
        self.response = response
        self.status = response.status_code
        self._configure(**wsfast)

    def _describe(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake):
    """A header is missing, or its value has a wrong format or is not acceptable.

    Attributes:
        name: the header's name.
        value: its value; ``None`` if it is missing.
    """

    rule = "bad-header"

    def __init__(self, name: str, value: Optional[str] = None, **wsfast: Any) -> None:
        Exception.__init__(self, name, value)
        self.name = name
        self.value = value
        self._configure(**wsfast)

    def _describe(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """A header value does not follow that header's grammar."""

    def __init__(self, name: str, error: str, header: str, pos: int, **wsfast: Any) -> None:
        super().__init__(name, f"{error} at {pos} in {header}", **wsfast)


class InvalidHeaderValue(InvalidHeader):
    """A header value is well-formed but not acceptable."""


class InvalidOrigin(InvalidHeader):
    """The Origin of the request is not allowed (403 Forbidden)."""

    status = 403
    rule = "origin-not-allowed"

    def __init__(self, origin: Optional[str], **wsfast: Any) -> None:
        super().__init__("Origin", origin, **wsfast)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header does not ask for the WebSocket upgrade."""

    status = 426
    rule = "missing-upgrade"
    headers = (("Upgrade", "websocket"), ("Connection", "Upgrade"))


class NegotiationError(InvalidHandshake):
    """Negotiating an extension or a subprotocol failed."""

    rule = "negotiation-failed"


class DuplicateParameter(NegotiationError):
    """An extension parameter appears twice.

    Attributes:
        name: the parameter's name.
    """

    def __init__(self, name: str, **wsfast: Any) -> None:
        Exception.__init__(self, name)
        self.name = name
        self._configure(**wsfast)

    def _describe(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """An extension parameter has a name the extension does not know.

    Attributes:
        name: the parameter's name.
    """

    def __init__(self, name: str, **wsfast: Any) -> None:
        Exception.__init__(self, name)
        self.name = name
        self._configure(**wsfast)

    def _describe(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """An extension parameter has a value the extension does not accept.

    Attributes:
        name: the parameter's name.
        value: its value; ``None`` if it has none.
    """

    def __init__(self, name: str, value: Optional[str], **wsfast: Any) -> None:
        Exception.__init__(self, name, value)
        self.name = name
        self.value = value
        self._configure(**wsfast)

    def _describe(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


# -- frames and messages --------------------------------------------------------


class ProtocolError(WebSocketException):
    """The peer broke RFC 6455 / RFC 7692; the connection must be failed.

    Attributes:
        close_code: the close code to send (1002, 1007, 1009, ...).
        reason: human-readable explanation, safe to send as the close reason.
        rule: stable identifier of the violated rule (see :data:`RULES`).

    wsfast builds them as ``ProtocolError(close_code, reason, rule)`` (an
    integer first argument), and ``str()`` then names the code and the rule;
    websockets' ``ProtocolError("message")`` also works and means close code
    1002, with the message as ``str()``.
    """

    close_code: int = 1002
    rule: str = "protocol-error"
    _reason: Optional[str] = None  # set by wsfast's form

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        if args and _is_int(args[0]):
            if not 2 <= len(args) <= 3 or not isinstance(args[1], str):
                raise TypeError(f"{type(self).__name__}(close_code, reason, rule='protocol-error')")
            self._set_rule(args[0], args[1], args[2] if len(args) > 2 else type(self).rule)

    def _set_rule(self, close_code: int, reason: str, rule: str) -> None:
        self.close_code = close_code
        self._reason = reason
        self.rule = rule

    @classmethod
    def _from_rule(cls, close_code: int, reason: str, rule: str, details: Dict[str, Any]) -> ProtocolError:
        # protocol_error()'s constructor: the subclasses' own __init__ take
        # websockets' arguments, which a rule does not have.
        exc = cls.__new__(cls)
        exc.args = (close_code, reason, rule)
        exc._set_rule(close_code, reason, rule)
        exc._rule_details(details)
        return exc

    def _rule_details(self, details: Dict[str, Any]) -> None:
        pass

    @property
    def reason(self) -> str:
        """The explanation, safe to send as the close reason."""
        return self._reason if self._reason is not None else self._describe()

    def _describe(self) -> str:
        return Exception.__str__(self)

    def __str__(self) -> str:
        if self._reason is not None:
            return f"{self._reason} (close code {self.close_code}, rule {self.rule})"
        return self._describe()


class InvalidUtf8(ProtocolError):
    """A text message or close reason is not valid UTF-8 (close code 1007)."""

    close_code = 1007
    rule = "invalid-utf8"


class PayloadTooBig(ProtocolError):
    """A frame or message exceeds a configured limit (close code 1009).

    websockets' constructor works too: ``PayloadTooBig(size, max_size,
    current_size=None)`` with the attributes of the same names (``size`` is
    ``None`` when unknown; ``max_size`` grows by ``current_size``, the bytes
    already read of the message). ``PayloadTooBig(message)`` is deprecated
    there and here.
    """

    close_code = 1009
    rule = "message-too-big"
    message: Optional[str] = None
    size: Optional[int] = None
    max_size: Optional[int] = None
    current_size: Optional[int] = None

    def __init__(
        self,
        size_or_message: Any,
        max_size: Optional[int] = None,
        current_size: Optional[int] = None,
    ) -> None:
        if _is_int(size_or_message) and isinstance(max_size, str):
            # wsfast's (close_code, reason[, rule]) form.
            args: Tuple[Any, ...] = (size_or_message, max_size)
            super().__init__(*(args if current_size is None else args + (current_size,)))
            return
        Exception.__init__(self, size_or_message, max_size, current_size)
        if isinstance(size_or_message, str):
            if max_size is not None or current_size is not None:
                raise TypeError("PayloadTooBig(message) takes no other argument")
            warnings.warn(
                "PayloadTooBig(message) is deprecated; use PayloadTooBig(size, max_size)",
                DeprecationWarning,
                stacklevel=2,
            )
            self.message = size_or_message
            return
        if max_size is None:
            raise TypeError("PayloadTooBig(size, max_size) needs max_size")
        self.size = size_or_message
        self.max_size = max_size
        self.rule = "frame-too-big" if size_or_message is not None else "message-too-big"
        self.set_current_size(current_size)

    def _rule_details(self, details: Dict[str, Any]) -> None:
        self.size = details.get("size")
        self.max_size = details.get("limit")

    def set_current_size(self, current_size: Optional[int]) -> None:
        """Record that *current_size* bytes of the message were read before
        this frame (websockets' API: the limit then counts them too)."""
        if self.current_size is not None:
            raise ValueError("current_size is already set")
        if current_size is not None:
            if self.max_size is not None:
                self.max_size += current_size
            self.current_size = current_size

    def _describe(self) -> str:
        if self.message is not None:
            return self.message
        text = "frame "
        if self.size is not None:
            text += f"with {self.size} bytes "
        if self.current_size is not None:
            text += f"after reading {self.current_size} bytes "
        return text + f"exceeds limit of {self.max_size} bytes"


class TooManyFragments(PayloadTooBig):
    """A message is split into more fragments than the limit (close code 1009).

    Attributes:
        max_fragments: the limit.
    """

    rule = "too-many-fragments"
    max_fragments: Optional[int] = None

    def __init__(self, max_fragments: int) -> None:
        Exception.__init__(self, f"fragmented message exceeds limit of {max_fragments} frames")
        self.max_fragments = max_fragments

    def _describe(self) -> str:
        return Exception.__str__(self)

    def _rule_details(self, details: Dict[str, Any]) -> None:
        self.max_fragments = details.get("limit")


class InvalidState(WebSocketException, AssertionError):
    """A command was given in a state that does not allow it (e.g. send after
    close). Like websockets', it is an :class:`AssertionError` too: it
    reveals a bug in the calling code, not a problem with the peer."""


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines called ``recv`` (or sent fragments) at the same time."""


# rule id -> (exception class, close code, message). Messages are sent as close
# reasons, so they stay under 123 bytes once formatted.
RULES: Dict[str, Tuple[Type[ProtocolError], int, str]] = {
    # RFC 6455 §5.2: opcodes 3-7 and 0xB-0xF are reserved.
    "reserved-opcode": (ProtocolError, 1002, "reserved opcode {opcode}"),
    # §5.2: RSV bits must be 0 unless an extension defines them.
    "reserved-bits": (ProtocolError, 1002, "reserved bits set without a negotiated extension"),
    # RFC 7692 §6: RSV1 marks the first frame of a compressed message only.
    "rsv1-on-control": (ProtocolError, 1002, "RSV1 set on a control frame"),
    "rsv1-on-continuation": (ProtocolError, 1002, "RSV1 set on a continuation frame"),
    # §5.2: the minimal number of bytes must be used to encode the length.
    "non-minimal-length": (ProtocolError, 1002, "payload length not minimally encoded"),
    # §5.2: the most significant bit of a 64-bit length must be 0.
    "length-msb-set": (ProtocolError, 1002, "64-bit payload length has its top bit set"),
    # §5.1: a client masks every frame, a server masks none.
    "unmasked-frame": (ProtocolError, 1002, "client frame is not masked"),
    "masked-frame": (ProtocolError, 1002, "server frame is masked"),
    # §5.5: control frames carry at most 125 bytes and are never fragmented.
    "control-too-long": (ProtocolError, 1002, "control frame payload longer than 125 bytes"),
    "control-fragmented": (ProtocolError, 1002, "fragmented control frame"),
    # §5.4: fragments of one message are not interleaved with other messages.
    "unexpected-continuation": (ProtocolError, 1002, "continuation frame without a message in progress"),
    "expected-continuation": (ProtocolError, 1002, "new data frame while a fragmented message is in progress"),
    # §5.6 / §8.1: text must be valid UTF-8.
    "invalid-utf8": (InvalidUtf8, 1007, "invalid UTF-8 in text message"),
    # §5.5.1 / §7.4: close payload rules.
    "close-payload-length-1": (ProtocolError, 1002, "close frame payload of 1 byte"),
    "invalid-close-code": (ProtocolError, 1002, "invalid close code {code}"),
    "invalid-close-reason": (InvalidUtf8, 1007, "close reason is not valid UTF-8"),
    # Limits (§10.4): checked from the header, before any payload is buffered.
    "frame-too-big": (PayloadTooBig, 1009, "frame of {size} bytes exceeds the limit of {limit}"),
    "message-too-big": (PayloadTooBig, 1009, "message exceeds the limit of {limit} bytes"),
    "too-many-fragments": (TooManyFragments, 1009, "message split into more than {limit} fragments"),
    # RFC 7692 §7.2.2: compressed data.
    "decompressed-too-big": (PayloadTooBig, 1009, "decompressed message exceeds the limit of {limit} bytes"),
    "invalid-compressed-data": (ProtocolError, 1002, "invalid compressed data"),
}


def protocol_error(rule: str, **details: object) -> ProtocolError:
    """Build the exception for a violated *rule*, formatted with *details*."""
    cls, code, template = RULES[rule]
    reason = template.format(**details) if details else template
    return cls._from_rule(code, reason, rule, details)
