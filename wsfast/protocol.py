"""The sans-I/O protocol objects under websockets' names (``websockets.protocol``).

websockets calls its sans-I/O classes ``ServerProtocol`` / ``ClientProtocol``
and keeps ``ServerConnection`` / ``ClientConnection`` for its asyncio
connections. wsfast's sans-I/O classes live in :mod:`wsfast.connection` under
the ``*Connection`` names they were born with; these are the same classes
under the names that do not collide with the asyncio ones, and the names new
code should use.
"""

from __future__ import annotations

import enum

from .connection import ClientConnection, Connection, ServerConnection
from .state import CLOSED, CLOSING, CONNECTING, OPEN, State

__all__ = [
    "Protocol",
    "ServerProtocol",
    "ClientProtocol",
    "Side",
    "SERVER",
    "CLIENT",
    "State",
    "CONNECTING",
    "OPEN",
    "CLOSING",
    "CLOSED",
]


class Side(enum.IntEnum):
    """Which end of the connection this side is."""

    SERVER = 0
    CLIENT = 1


SERVER, CLIENT = Side.SERVER, Side.CLIENT

#: The sans-I/O connection, either role.
Protocol = Connection
#: The server side of the sans-I/O connection.
ServerProtocol = ServerConnection
#: The client side of the sans-I/O connection.
ClientProtocol = ClientConnection
