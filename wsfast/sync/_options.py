"""Options shared by the threading client and server: websockets' keyword
names and defaults, turned into the sans-I/O connection's arguments.

Kept apart from the asyncio layer's helpers on purpose: the two layers'
option sets evolve separately (the sync API has no ``write_limit``, takes
``sock=``, ``create_connection=``...), and each checks its own keywords.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..deflate import PerMessageDeflate

__all__ = ["codec_options", "client_compression", "server_compression", "Deadline",
           "check_kwargs", "USER_AGENT", "SERVER", "set_nodelay"]



def _version() -> str:
    """wsfast's version; from the distribution's metadata when the package's
    ``__init__`` has not run yet (this module imported first)."""
    try:
        from ..version import version as wsfast_version
        return wsfast_version
    except ImportError:
        try:
            from importlib.metadata import version
            return version("wsfast")
        except Exception:  # noqa: BLE001 - not installed: no version to tell
            return "unknown"


_PRODUCT = f"Python/{sys.version_info[0]}.{sys.version_info[1]} wsfast/{_version()}"
#: ``User-Agent`` a client sends by default (websockets' format).
USER_AGENT = os.environ.get("WSFAST_USER_AGENT", _PRODUCT)
#: ``Server`` header a server sends by default.
SERVER = os.environ.get("WSFAST_SERVER", _PRODUCT)


def client_compression() -> PerMessageDeflate:
    """permessage-deflate as websockets' client offers it (memory level 5)."""
    return PerMessageDeflate(mem_level=5)


def server_compression() -> PerMessageDeflate:
    """permessage-deflate as websockets' server enables it: 12-bit windows,
    memory level 5 (about 64 KiB per connection instead of 300 KiB)."""
    return PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12, mem_level=5)


def extensions_for(compression: Any, extensions: Optional[Sequence[Any]],
                   default: Any) -> Tuple[Any, ...]:
    """The ``compression`` and ``extensions`` options as extension
    configurations. wsfast implements one extension, permessage-deflate:
    ``extensions`` may list :class:`~wsfast.deflate.PerMessageDeflate`
    configurations (websockets' extension factories are not supported)."""
    configs: List[Any] = []
    if extensions:
        for extension in extensions:
            if not isinstance(extension, PerMessageDeflate):
                raise TypeError(f"unsupported extension: {extension!r} "
                                "(wsfast supports PerMessageDeflate configurations)")
            configs.append(extension)
    if compression == "deflate":
        if not configs:
            configs.append(default())
    elif isinstance(compression, PerMessageDeflate):
        configs.insert(0, compression)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression!r}")
    return tuple(configs)


def codec_options(*, max_size: Any, compression: Any, extensions: Any, default: Any,
                  text_as_bytes: bool, max_fragments: Optional[int], fragment_overhead: int,
                  backend: Optional[str]) -> Dict[str, Any]:
    """The sans-I/O connection's arguments. ``max_size`` is an int, ``None``
    or websockets' ``(max message size, max frame size)``.

    ``defer_failure``: on a protocol error the application first gets (and
    may answer) the messages that preceded it.
    """
    if isinstance(max_size, tuple):
        max_message_size, max_frame_size = max_size
    else:
        max_message_size, max_frame_size = max_size, None
    return dict(max_message_size=max_message_size, max_frame_size=max_frame_size,
                max_fragments=max_fragments, fragment_overhead=fragment_overhead,
                text_as_bytes=text_as_bytes, backend=backend, defer_failure=True,
                extensions=extensions_for(compression, extensions, default))


def check_kwargs(kwargs: Dict[str, Any], allowed: Sequence[str], where: str) -> None:
    """Unknown keyword arguments fail at the call, as Python's own do."""
    for name in kwargs:
        if name not in allowed:
            raise TypeError(f"{where}() got an unexpected keyword argument {name!r}")


def set_nodelay(sock: socket.socket) -> None:
    """Disable Nagle's algorithm on TCP sockets: small frames go out at once."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover
            pass


class Deadline:
    """A point in time (or none) for the opening handshake's steps."""

    def __init__(self, timeout: Optional[float]) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def timeout(self) -> Optional[float]:
        """Seconds left (at least a tiny positive amount), or None."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out during the opening handshake")
        return left
