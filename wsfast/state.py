"""The connection states, in a module of their own so that the kernels of
both back-ends (``_stream_py`` / ``_stream_c``) can use them without importing
``wsfast.connection``, which imports the back-end selector."""

from __future__ import annotations

import enum

__all__ = ["State"]


class State(enum.IntEnum):
    """Connection states (RFC 6455 §4 and §7)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3
