"""RFC 6455 vocabulary: opcodes, close codes, the Frame value and close payloads.

Shared by both back-ends; the kernels only parse and build bytes.
"""

from __future__ import annotations

import enum
import struct
from typing import Dict, Tuple, Union

from ._record import Record
from .errors import protocol_error

__all__ = [
    "Opcode",
    "CloseCode",
    "Frame",
    "Close",
    "CLOSE_CODE_EXPLANATIONS",
    "OK_CLOSE_CODES",
    "DATA_OPCODES",
    "CONTROL_OPCODES",
    "MAX_CONTROL_PAYLOAD",
    "WS_GUID",
    "is_valid_close_code",
    "parse_close",
    "serialize_close",
]

#: RFC 6455 §1.3: appended to Sec-WebSocket-Key before hashing.
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: RFC 6455 §5.5: control frames carry at most 125 bytes of payload.
MAX_CONTROL_PAYLOAD = 125


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2, §11.8)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA
    #: websockets' name for CONTINUATION (an alias: same member).
    CONT = 0x0


DATA_OPCODES = frozenset({Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY})
CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})


class CloseCode(enum.IntEnum):
    """Close status codes (RFC 6455 §7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved; 1005, 1006 and 1015 must never be sent on the wire.
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: Short descriptions of the close codes, for logs and ``str(Close(...))``.
CLOSE_CODE_EXPLANATIONS: Dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

#: A connection that ends with these codes on both sides ended normally
#: (:class:`~wsfast.exceptions.ConnectionClosedOK`).
OK_CLOSE_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)


class Frame(Record):
    """One WebSocket frame, unmasked.

    ``payload`` is ``bytes`` as parsed; when building, any bytes-like object.
    """

    __slots__ = ("opcode", "payload", "fin", "rsv1", "rsv2", "rsv3")
    _defaults = (True, False, False, False)

    opcode: Opcode
    payload: bytes
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool

    @property
    def data(self) -> bytes:
        """websockets' name for :attr:`payload`."""
        return self.payload


def is_valid_close_code(code: int) -> bool:
    """Whether *code* may appear in a close frame on the wire (RFC 6455 §7.4)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


_CLOSE_CODE = struct.Struct("!H")


def parse_close(payload: bytes) -> Tuple[int, str]:
    """Decode a close frame payload into ``(code, reason)``.

    An empty payload means "no status" and gives ``(1005, "")``.

    Raises:
        ProtocolError: length 1 or an invalid code (1002); a reason that is
            not UTF-8 (1007, as :class:`~wsfast.errors.InvalidUtf8`).
    """
    length = len(payload)
    if length == 0:
        return CloseCode.NO_STATUS_RCVD, ""
    if length == 1:  # RFC 6455 §5.5.1: a body starts with a 2-byte code
        raise protocol_error("close-payload-length-1")
    (code,) = _CLOSE_CODE.unpack_from(payload)
    if not is_valid_close_code(code):  # §7.4.1, §7.4.2
        raise protocol_error("invalid-close-code", code=code)
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise protocol_error("invalid-close-reason") from None
    return code, reason


def serialize_close(code: int = CloseCode.NORMAL_CLOSURE, reason: Union[str, bytes] = "") -> bytes:
    """Encode a close frame payload.

    1005 means "no status": the payload is empty (and *reason* must be too).

    Raises:
        ValueError: the code may not be sent or the payload exceeds 125 bytes.
    """
    if isinstance(reason, str):
        raw = reason.encode("utf-8")
    else:
        raw = bytes(reason)
        raw.decode("utf-8")  # a reason must be UTF-8 (§5.5.1); raises ValueError
    if code == CloseCode.NO_STATUS_RCVD:
        if raw:
            raise ValueError("a close reason needs a close code")
        return b""
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    payload = _CLOSE_CODE.pack(code) + raw
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError("close reason longer than 123 bytes")
    return payload


class Close(Record):
    """The code and reason of a close frame, as websockets' ``Close``.

    :class:`~wsfast.exceptions.ConnectionClosed` carries one for the frame
    received and one for the frame sent. ``str()`` gives the code, what it
    means and the reason, e.g. ``1001 (going away) server restart``.
    """

    __slots__ = ("code", "reason")

    code: int
    reason: str

    def __str__(self) -> str:
        code = self.code
        if 3000 <= code < 4000:
            explanation = "registered"
        elif 4000 <= code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(code, "unknown")
        text = f"{code} ({explanation})"
        return f"{text} {self.reason}" if self.reason else text

    @classmethod
    def parse(cls, data: bytes) -> "Close":
        """Decode a close frame payload; an empty one is ``Close(1005, "")``.

        Raises:
            ProtocolError: as :func:`parse_close`.
        """
        code, reason = parse_close(data)
        return cls(code, reason)

    def serialize(self) -> bytes:
        """Encode as a close frame payload.

        Raises:
            ValueError: as :func:`serialize_close`.
        """
        return serialize_close(self.code, self.reason)

    def check(self) -> None:
        """Raise :class:`~wsfast.errors.ProtocolError` if the code may not
        appear on the wire (RFC 6455 §7.4)."""
        if self.code != CloseCode.NO_STATUS_RCVD and not is_valid_close_code(self.code):
            raise protocol_error("invalid-close-code", code=self.code)
