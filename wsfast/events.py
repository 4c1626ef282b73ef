"""Events produced by the sans-I/O connection.

Small immutable value objects (see :mod:`wsfast._record`). The compiled reader
builds the message events directly in C; the pure reader calls the classes.
"""

from __future__ import annotations

from typing import Union

from ._record import Record
from .headers import Headers

__all__ = [
    "Event",
    "Request",
    "Response",
    "TextMessage",
    "BinaryMessage",
    "MessageFragment",
    "Ping",
    "Pong",
    "CloseReceived",
]


class Event(Record):
    """Base class of every event."""

    __slots__ = ()


class Request(Event):
    """An HTTP upgrade request (received by a server, sent by a client).

    ``headers`` is a :class:`wsfast.headers.Headers`.
    """

    __slots__ = ("path", "headers")

    path: str
    headers: Headers


class Response(Event):
    """An HTTP response to an upgrade request (101 on success).

    ``headers`` is a :class:`wsfast.headers.Headers`; ``body`` is bytes.
    """

    __slots__ = ("status_code", "reason_phrase", "headers", "body")
    _defaults = (b"",)

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes


class TextMessage(Event):
    """A complete text message: ``str``, or UTF-8 ``bytes`` (already validated)
    when the connection was created with ``text_as_bytes=True``."""

    __slots__ = ("data",)

    data: Union[str, bytes]


class BinaryMessage(Event):
    """A complete binary message."""

    __slots__ = ("data",)

    data: bytes


class MessageFragment(Event):
    """A piece of a message, delivered in streaming mode.

    ``data`` is ``str`` for text (split on code point boundaries) unless
    ``text_as_bytes`` is set, else ``bytes``. Piece boundaries follow the
    arrival of bytes and carry no meaning; ``fin`` marks the last piece.
    """

    __slots__ = ("data", "is_text", "fin")

    data: Union[str, bytes]
    is_text: bool
    fin: bool


class Ping(Event):
    """A ping; the connection answers it itself unless ``auto_pong=False``."""

    __slots__ = ("data",)

    data: bytes


class Pong(Event):
    """A pong (solicited or not)."""

    __slots__ = ("data",)

    data: bytes


class CloseReceived(Event):
    """The peer started or answered the closing handshake.

    ``code`` is 1005 when the close frame carried no status code.
    """

    __slots__ = ("code", "reason")

    code: int
    reason: str
