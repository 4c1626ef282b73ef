"""Every exception class of websockets' ``websockets.exceptions``, under the
same names and with the same hierarchy, where code written for websockets
looks for them (``except websockets.exceptions.ConnectionClosedOK``).

They are defined in :mod:`wsfast.errors`, next to the rule registry the
kernels raise through; this module is the public face with websockets'
``__all__``. ``WebSocketError`` and ``InvalidUtf8`` are wsfast's own names,
kept for existing code; ``InvalidStatusCode`` is websockets' legacy name,
kept as an alias of :class:`InvalidHandshake` (what it used to catch).
"""

from .errors import (
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
    InvalidUtf8,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyFragments,
    TooManyHeaders,
    WebSocketError,
    WebSocketException,
)

#: websockets' legacy name (deprecated there since 14.0).
InvalidStatusCode = InvalidHandshake

__all__ = [
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
    # wsfast's own names
    "WebSocketError",
    "InvalidUtf8",
]
