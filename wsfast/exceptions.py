"""Exception names where code written for the websockets library looks for
them (``websockets.exceptions.ConnectionClosedOK`` and friends)."""

from .errors import ConcurrencyError
from .errors import (ConnectionClosed, ConnectionClosedError, ConnectionClosedOK,
                     InvalidHandshake, InvalidState, InvalidUtf8, PayloadTooBig, ProtocolError,
                     WebSocketError)

#: websockets' names for the same things.
WebSocketException = WebSocketError
InvalidStatus = InvalidHandshake
InvalidStatusCode = InvalidHandshake

__all__ = ["WebSocketError", "WebSocketException", "ProtocolError", "InvalidUtf8",
           "PayloadTooBig", "InvalidState", "InvalidHandshake", "InvalidStatus",
           "InvalidStatusCode", "ConnectionClosed", "ConnectionClosedOK",
           "ConnectionClosedError", "ConcurrencyError"]
