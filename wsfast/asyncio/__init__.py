"""asyncio server and client on top of the sans-I/O connection."""

from .client import ClientConnection, ClientWebSocket, connect, unix_connect
from .connection import ConcurrencyError, WebSocket
from .server import Server, ServerWebSocket, serve

__all__ = ["serve", "connect", "unix_connect", "Server", "WebSocket", "ServerWebSocket",
           "ClientConnection", "ClientWebSocket", "ConcurrencyError"]
