# cython: language_level=3
"""Compiled UTF-8 validation; twin of wsfast/_utf8_py.py.

Invariants:

* Buffers: ``data`` is the caller's: read in place if bytes, otherwise
  acquired with _buffer.read_view and released in the same function's
  ``finally`` (contract in _buffer.pxd). A Utf8Validator keeps no pointer
  into any chunk: an incomplete code point (at most 3 bytes) is copied into
  its wsf_utf8_state.
* Lengths: ``n`` is the view's own length; utf8_kernel.h reads s[0..n) only
  (the SIMD path copies a partial last block into a local buffer).
  ``fed`` and the error offset are Py_ssize_t sums of such lengths.
* GIL: never released.
* Shared mutable state: none here; the SIMD path is chosen by the one CPU
  state owned by wsfast._cpu_c (attached below).
* No ``boundscheck(False)`` / ``wraparound(False)`` region.
"""

from wsfast._buffer cimport read_view, release_view
from wsfast._cpu_c cimport cpu_state, wsf_cpu_use
from wsfast._utf8_c cimport (wsf_utf8_check, wsf_utf8_feed, wsf_utf8_state_reset)

wsf_cpu_use(cpu_state(__name__))


cdef ptrdiff_t _check(object data) except -2:
    """Offset of the first invalid sequence in data, or -1."""
    cdef Py_buffer view
    read_view(data, &view, "data")
    try:
        return wsf_utf8_check(<const unsigned char *>view.buf, <size_t>view.len)
    finally:
        release_view(&view)


def validate_utf8(data) -> bool:
    """Whether ``data`` is valid UTF-8, exactly as ``bytes.decode("utf-8")`` decides.

    Args:
        data: any bytes-like object.

    Raises:
        TypeError: ``data`` is not bytes-like.
    """
    return _check(data) < 0


cdef class Utf8Validator:
    """Incremental, fail-fast UTF-8 validator.

    Feed a stream in chunks of any size; :meth:`feed` returns ``False`` from
    the first byte after which no continuation could make the stream valid,
    and keeps returning ``False`` until :meth:`reset`.
    """

    def __cinit__(self):
        wsf_utf8_state_reset(&self.state)
        self.fed = 0
        self._error_offset = -1

    cdef bint _feed(self, const unsigned char *p, Py_ssize_t n):
        cdef ptrdiff_t err = 0
        if self._error_offset >= 0:
            return False
        ok = wsf_utf8_feed(&self.state, p, <size_t>n, &err)
        if not ok:
            self._error_offset = self.fed + err
        self.fed += n
        return ok

    def feed(self, data) -> bool:
        """Validate the next chunk.

        Returns:
            ``True`` while the stream so far is valid or a valid prefix.

        Raises:
            TypeError: ``data`` is not bytes-like.
        """
        cdef Py_buffer view
        read_view(data, &view, "data")
        try:
            return self._feed(<const unsigned char *>view.buf, view.len)
        finally:
            release_view(&view)

    @property
    def valid(self) -> bool:
        """``True`` until an invalid byte has been seen."""
        return self._error_offset < 0

    @property
    def complete(self) -> bool:
        """``True`` when everything fed is valid and ends on a code point boundary."""
        return self._error_offset < 0 and self.state.npending == 0

    @property
    def error_offset(self):
        """Offset in the stream of the first byte of the invalid sequence, or ``None``.

        This is the ``start`` CPython's decoder reports for the same stream.
        """
        return self._error_offset if self._error_offset >= 0 else None

    @property
    def bytes_fed(self) -> int:
        """Number of bytes fed since creation or the last :meth:`reset`."""
        return self.fed

    def reset(self) -> None:
        """Forget everything fed so far."""
        wsf_utf8_state_reset(&self.state)
        self.fed = 0
        self._error_offset = -1
