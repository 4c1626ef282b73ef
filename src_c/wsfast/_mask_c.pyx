# cython: language_level=3
"""Compiled masking kernel (RFC 6455 §5.3); twin of wsfast/_mask_py.py.

Invariants:

* Buffers: ``data`` and ``mask`` are the caller's. A bytes argument is read
  in place (the argument reference keeps it alive); any other is acquired
  with _buffer.read_view / write_view and released in the same function's
  ``finally`` (contract in _buffer.pxd). The result of apply_mask is a new
  bytes object allocated here and completely written by wsf_mask before
  anyone else can see it.
* Lengths: ``n`` is the view's own length (PyBytes_GET_SIZE or the
  exporter's ``len``), so src and dst both hold exactly n bytes, which is
  what wsf_mask reads and writes (mask_kernel.h). The key is copied only
  after its length is checked to be 4.
* GIL: released around wsf_mask from NOGIL_THRESHOLD (64 KiB) bytes on. By
  then every pointer is pinned: the source is a bytes object or a held
  export, the destination a bytes object nobody else has yet or a held
  writable export (the buffer protocol keeps an exported buffer in place
  until it is released: a bytearray refuses to resize meanwhile). Another
  thread may still write the bytes of a shared bytearray meanwhile: the
  result is then unspecified, but no access leaves the buffer.
* Shared mutable state: none here; the SIMD path is chosen by the one CPU
  state owned by wsfast._cpu_c (attached below).
* No ``boundscheck(False)`` / ``wraparound(False)`` region: all unchecked
  accesses are raw-pointer accesses in mask_kernel.h, bounded by n as above.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy

from wsfast._buffer cimport read_contiguous_view, read_view, release_view, write_view
from wsfast._cpu_c cimport cpu_state, wsf_cpu_use
from wsfast._mask_c cimport wsf_mask

# Kept here for `python -m wsfast bench`, which reports _mask_c.simd().
from wsfast._cpu_c import simd

wsf_cpu_use(cpu_state(__name__))


cdef int get_mask_key(object mask, unsigned char out[4]) except -1:
    """Copy a 4-byte key into out; bytes-like keys of another length are refused."""
    cdef Py_buffer view
    read_contiguous_view(mask, &view, "mask")
    try:
        if view.len != 4:
            raise ValueError("mask must contain 4 bytes")
        memcpy(out, view.buf, 4)
    finally:
        release_view(&view)
    return 0


# Releasing the GIL costs more than masking a small payload does.
cdef enum:
    NOGIL_THRESHOLD = 65536


cdef bytes _masked_copy(const unsigned char *src, Py_ssize_t n, const unsigned char *key):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    cdef unsigned char *dst = <unsigned char *>PyBytes_AS_STRING(out)
    if n >= NOGIL_THRESHOLD:
        with nogil:  # large payloads: other threads run while we stream memory
            wsf_mask(dst, src, <size_t>n, key, 0)
    else:
        wsf_mask(dst, src, <size_t>n, key, 0)
    return out


def apply_mask(data, mask) -> bytes:
    """Return ``data`` XOR-ed with the 4-byte ``mask`` repeated (RFC 6455 §5.3).

    Args:
        data: any bytes-like object (bytes, bytearray, memoryview, also
            non-contiguous or read-only).
        mask: 4 bytes.

    Returns:
        New bytes of the same length; ``data`` is not modified.

    Raises:
        TypeError: ``data`` or ``mask`` is not bytes-like.
        ValueError: ``mask`` is not 4 bytes long.
    """
    cdef unsigned char key[4]
    cdef Py_buffer view
    get_mask_key(mask, key)
    read_view(data, &view, "data")
    try:
        return _masked_copy(<const unsigned char *>view.buf, view.len, key)
    finally:
        release_view(&view)


def apply_mask_inplace(data, mask) -> None:
    """XOR a writable, contiguous buffer (e.g. a bytearray) with ``mask`` in place.

    Raises:
        TypeError: ``data`` is not a writable contiguous buffer, or ``mask``
            is not bytes-like.
        ValueError: ``mask`` is not 4 bytes long.
    """
    cdef unsigned char key[4]
    cdef Py_buffer view
    get_mask_key(mask, key)
    write_view(data, &view, "data")
    try:
        if view.len >= NOGIL_THRESHOLD:
            with nogil:
                wsf_mask(<unsigned char *>view.buf, <const unsigned char *>view.buf,
                         <size_t>view.len, key, 0)
        else:
            wsf_mask(<unsigned char *>view.buf, <const unsigned char *>view.buf,
                     <size_t>view.len, key, 0)
    finally:
        release_view(&view)
