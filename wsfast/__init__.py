"""wsfast: a Cython-accelerated WebSocket codec (RFC 6455, RFC 7692).

The byte-crunching kernels exist twice, compiled and pure Python, with
identical behaviour; :data:`IMPLEMENTATION` tells which one this process runs
(``WSFAST_NO_EXTENSIONS=1`` forces pure Python).
"""

from __future__ import annotations

from . import _backend
from .version import version as __version__
from .errors import InvalidUtf8, WebSocketError
from .exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidProtocol,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyFragments,
    TooManyHeaders,
    WebSocketException,
)
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .frames import Close, CloseCode, Frame, Opcode
from .http11 import Request, Response
from .typing import (
    Data,
    ExtensionName,
    ExtensionParameter,
    LoggerLike,
    Origin,
    StatusLike,
    Subprotocol,
)
# As in websockets: ServerConnection / ClientConnection are the asyncio
# connections; the sans-I/O ones are ServerProtocol / ClientProtocol
# (wsfast.protocol; wsfast.connection keeps their old names).
from .protocol import ClientProtocol, Protocol, ServerProtocol, Side, State
from .asyncio.client import ClientConnection, connect, unix_connect
from .asyncio.server import Server, ServerConnection, basic_auth, broadcast, serve, unix_serve
from .fanout import PreparedMessage, SlowConsumerPolicy, prepare
from . import exceptions

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
    # websockets.exceptions
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
    # wsfast's own exception names
    "WebSocketError",
    "InvalidUtf8",
    # websockets.datastructures, websockets.http11
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "Request",
    "Response",
    # websockets.frames
    "Close",
    # websockets.protocol
    "Protocol",
    "ServerProtocol",
    "ClientProtocol",
    "Side",
    # websockets.typing
    "Data",
    "ExtensionName",
    "ExtensionParameter",
    "LoggerLike",
    "Origin",
    "StatusLike",
    "Subprotocol",
    "ServerConnection",
    "ClientConnection",
    "Server",
    "unix_serve",
    "unix_connect",
    "broadcast",
    "basic_auth",
    "State",
    "serve",
    "connect",
    "exceptions",
    "prepare",
    "PreparedMessage",
    "SlowConsumerPolicy",
]
