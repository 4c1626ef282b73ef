"""Type names used in wsfast's public signatures, as ``websockets.typing``
spells them, so that annotations written for websockets keep working after
the import is renamed."""

from __future__ import annotations

import http
import logging
import os
from typing import Any, NewType, Optional, Sequence, Tuple, Union

__all__ = [
    "Data",
    "LoggerLike",
    "StatusLike",
    "Origin",
    "Subprotocol",
    "ExtensionName",
    "ExtensionParameter",
]

#: A message: :class:`str` for a text message, :class:`bytes` for a binary one.
Data = Union[str, bytes]

#: What ``send`` accepts besides :data:`Data` (wsfast sends these without a copy).
BytesLike = Union[bytes, bytearray, memoryview]
DataLike = Union[str, bytes, bytearray, memoryview]

#: A logger, or an adapter that adds context to one.
LoggerLike = Union[logging.Logger, "logging.LoggerAdapter[Any]"]

#: A filesystem path, e.g. of a Unix socket.
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: An HTTP status: an :class:`http.HTTPStatus` or a plain integer.
StatusLike = Union[http.HTTPStatus, int]

#: The value of an ``Origin`` header.
Origin = NewType("Origin", str)

#: A subprotocol name, as in ``Sec-WebSocket-Protocol``.
Subprotocol = NewType("Subprotocol", str)

#: An extension name, as in ``Sec-WebSocket-Extensions``.
ExtensionName = NewType("ExtensionName", str)

#: One extension parameter: its name and its value (``None`` when it has none).
ExtensionParameter = Tuple[str, Optional[str]]

#: One extension offer or answer: its name and its parameters.
ExtensionHeader = Tuple[ExtensionName, Sequence[ExtensionParameter]]
