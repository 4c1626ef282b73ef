"""asyncio server and client on top of the sans-I/O connection."""

from .client import ClientWebSocket, connect
from .connection import ConcurrencyError, WebSocket
from .server import (Server, ServerConnection, ServerWebSocket, basic_auth, broadcast, serve,
                     unix_serve)

__all__ = ["serve", "unix_serve", "broadcast", "basic_auth", "connect", "Server",
           "ServerConnection", "WebSocket", "ServerWebSocket", "ClientWebSocket",
           "ConcurrencyError"]
