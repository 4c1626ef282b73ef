"""Exceptions, each carrying what the peer must be told.

Every protocol rule that can fail has a stable *rule id* (``"reserved-opcode"``,
``"invalid-utf8"``, ...) registered once in :data:`RULES` with its close code
and message. Both back-ends raise errors only through :func:`protocol_error`,
so the compiled and the pure kernels cannot drift apart in wording or code:
parity tests compare ``(type, close_code, rule, reason)``.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple, Type

__all__ = [
    "WebSocketError",
    "ProtocolError",
    "InvalidUtf8",
    "PayloadTooBig",
    "InvalidHandshake",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidState",
    "ConcurrencyError",
    "RULES",
    "protocol_error",
]


class WebSocketError(Exception):
    """Base class of every exception wsfast raises on purpose."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455 / RFC 7692; the connection must be failed.

    Attributes:
        close_code: the close code to send (1002, 1007, 1009, ...).
        reason: human-readable explanation, safe to send as the close reason.
        rule: stable identifier of the violated rule (see :data:`RULES`).
    """

    def __init__(self, close_code: int, reason: str, rule: str = "protocol-error") -> None:
        super().__init__(close_code, reason, rule)
        self.close_code = close_code
        self.reason = reason
        self.rule = rule

    def __str__(self) -> str:
        return f"{self.reason} (close code {self.close_code}, rule {self.rule})"


class InvalidUtf8(ProtocolError):
    """A text message or close reason is not valid UTF-8 (close code 1007)."""


class PayloadTooBig(ProtocolError):
    """A frame or message exceeds a configured limit (close code 1009)."""


class InvalidState(WebSocketError):
    """A command was given in a state that does not allow it (e.g. send after close)."""


class ConcurrencyError(WebSocketError, RuntimeError):
    """Two coroutines called ``recv`` at the same time."""


class InvalidHandshake(WebSocketError):
    """The HTTP upgrade request or response is unacceptable.

    Attributes:
        status: the HTTP status a server should answer with (400, 426, 431, ...),
            or, on the client side, the status the server answered with.
        reason: what was wrong, suitable for the response body.
        rule: stable identifier of the violated rule.
        headers: extra response headers the refusal must carry
            (``Sec-WebSocket-Version: 13`` for a 426).
    """

    def __init__(
        self,
        status: int,
        reason: str,
        rule: str = "invalid-handshake",
        headers: Iterable[Tuple[str, str]] = (),
    ) -> None:
        super().__init__(status, reason, rule)
        self.status = status
        self.reason = reason
        self.rule = rule
        self.headers = tuple(headers)

    def __str__(self) -> str:
        return f"{self.reason} (HTTP {self.status}, rule {self.rule})"


class ConnectionClosed(WebSocketError):
    """Raised by the asyncio layer when using a connection that has ended.

    Attributes:
        code: close code received from the peer (1006 if none was received).
        reason: close reason received from the peer.
        sent_code: close code we sent, or ``None``.
    """

    def __init__(self, code: int, reason: str = "", sent_code: Optional[int] = None) -> None:
        super().__init__(code, reason, sent_code)
        self.code = code
        self.reason = reason
        self.sent_code = sent_code

    def __str__(self) -> str:
        text = f"connection closed with code {self.code}"
        if self.reason:
            text += f" ({self.reason})"
        return text


class ConnectionClosedOK(ConnectionClosed):
    """The connection ended normally: every close code involved is 1000,
    1001 or 1005 (a close frame without a code)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection ended abnormally or with an error close code."""


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
    "too-many-fragments": (PayloadTooBig, 1009, "message split into more than {limit} fragments"),
    # RFC 7692 §7.2.2: compressed data.
    "decompressed-too-big": (PayloadTooBig, 1009, "decompressed message exceeds the limit of {limit} bytes"),
    "invalid-compressed-data": (ProtocolError, 1002, "invalid compressed data"),
}


def protocol_error(rule: str, **details: object) -> ProtocolError:
    """Build the exception for a violated *rule*, formatted with *details*."""
    cls, code, template = RULES[rule]
    return cls(code, template.format(**details) if details else template, rule)
