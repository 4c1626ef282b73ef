"""asyncio server and client on top of the sans-I/O connection."""

from .client import ClientWebSocket, connect
from .connection import ConcurrencyError, WebSocket
from .server import Server, ServerWebSocket, serve

__all__ = ["serve", "connect", "Server", "WebSocket", "ServerWebSocket", "ClientWebSocket",
           "ConcurrencyError"]
