"""wsfast: a Cython-accelerated WebSocket codec (RFC 6455, RFC 7692).

The byte-crunching kernels exist twice, compiled and pure Python, with
identical behaviour; :data:`IMPLEMENTATION` tells which one this process runs
(``WSFAST_NO_EXTENSIONS=1`` forces pure Python).
"""

from __future__ import annotations

from . import _backend
from .errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidState,
    InvalidUtf8,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
)
from .frames import CloseCode, Frame, Opcode
from .connection import ClientConnection, ServerConnection, State
from .asyncio import connect, serve
from . import exceptions

__version__ = "0.1.0"

#: ``"cython"`` or ``"python"``: which kernels this process runs.
IMPLEMENTATION: str = _backend.IMPLEMENTATION

apply_mask = _backend.default.apply_mask
apply_mask_inplace = _backend.default.apply_mask_inplace
validate_utf8 = _backend.default.validate_utf8
Utf8Validator = _backend.default.Utf8Validator
FrameParser = _backend.default.FrameParser
build_frame = _backend.default.build_frame

__all__ = [
    "IMPLEMENTATION",
    "apply_mask",
    "apply_mask_inplace",
    "validate_utf8",
    "Utf8Validator",
    "Opcode",
    "CloseCode",
    "Frame",
    "FrameParser",
    "build_frame",
    "WebSocketError",
    "ProtocolError",
    "InvalidUtf8",
    "PayloadTooBig",
    "InvalidHandshake",
    "InvalidState",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ServerConnection",
    "ClientConnection",
    "State",
    "serve",
    "connect",
    "exceptions",
]
