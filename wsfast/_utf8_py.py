"""Pure-Python UTF-8 validation; twin of src_c/wsfast/_utf8_c.pyx.

It relies on CPython's own C decoder, which is what a pure-Python user should
run. One adjustment makes it as fail-fast as the compiled validator: CPython's
incremental decoder holds back ``ED A0..BF`` (the start of a UTF-16
surrogate, never valid in UTF-8) until a third byte arrives; here it fails as
soon as the second byte is seen.
"""

from __future__ import annotations

import codecs
from typing import Optional

from ._buffers import as_bytes

__all__ = ["validate_utf8", "Utf8Validator"]

_decode = codecs.utf_8_decode


def validate_utf8(data: object) -> bool:
    """Whether ``data`` is valid UTF-8, exactly as ``bytes.decode("utf-8")`` decides.

    Args:
        data: any bytes-like object.

    Raises:
        TypeError: ``data`` is not bytes-like.
    """
    view = as_bytes(data)
    if type(view) is bytes and view.isascii():
        return True
    try:
        _decode(view, "strict", True)
    except UnicodeDecodeError:
        return False
    return True


def surrogate_prefix(pending: bytes) -> bool:
    """Whether held-back bytes start a surrogate (``ED A0..BF``): already invalid."""
    return len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0


class Utf8Validator:
    """Incremental, fail-fast UTF-8 validator.

    Feed a stream in chunks of any size; :meth:`feed` returns ``False`` from
    the first byte after which no continuation could make the stream valid,
    and keeps returning ``False`` until :meth:`reset`.
    """

    __slots__ = ("_pending", "_fed", "_error_offset")

    _pending: bytes  # a valid prefix of a code point, held back
    _fed: int
    _error_offset: Optional[int]

    def __init__(self) -> None:
        self.reset()

    def feed(self, data: object) -> bool:
        """Validate the next chunk.

        Returns:
            ``True`` while the stream so far is valid or a valid prefix.

        Raises:
            TypeError: ``data`` is not bytes-like.
        """
        view = as_bytes(data)
        if self._error_offset is not None:
            return False
        buffer = self._pending + bytes(view) if self._pending else view
        start = self._fed - len(self._pending)  # stream offset of buffer[0]
        self._fed += len(view)
        try:
            _, consumed = _decode(buffer, "strict", False)
        except UnicodeDecodeError as exc:
            self._error_offset = start + exc.start
            return False
        pending = bytes(buffer[consumed:])
        if surrogate_prefix(pending):
            self._error_offset = start + consumed
            return False
        self._pending = pending
        return True

    @property
    def valid(self) -> bool:
        """``True`` until an invalid byte has been seen."""
        return self._error_offset is None

    @property
    def complete(self) -> bool:
        """``True`` when everything fed is valid and ends on a code point boundary."""
        return self._error_offset is None and not self._pending

    @property
    def error_offset(self) -> Optional[int]:
        """Offset in the stream of the first byte of the invalid sequence, or ``None``.

        This is the ``start`` CPython's decoder reports for the same stream.
        """
        return self._error_offset

    @property
    def bytes_fed(self) -> int:
        """Number of bytes fed since creation or the last :meth:`reset`."""
        return self._fed

    def reset(self) -> None:
        """Forget everything fed so far."""
        self._pending = b""
        self._fed = 0
        self._error_offset = None
