# Bytes-like arguments as (pointer, length): the one place the compiled kernels
# acquire a Py_buffer. Same inputs, exception types and messages as the pure
# kernels' helper, wsfast/_buffers.py.
#
# Contract (who releases, on which paths):
#
#     cdef Py_buffer view
#     read_view(data, &view, "data")        # or write_view(...)
#     try:
#         use(view.buf, view.len)           # valid until release_view
#     finally:
#         release_view(&view)               # exactly once, on every path
#
# * read_view / write_view either return 0 with view filled in, and then the
#   caller owns the view and must release_view it exactly once (try/finally,
#   so exceptions release it too); or they raise, and then nothing is held
#   and release_view must not be called.
# * A bytes argument is borrowed, not acquired (view.obj is NULL): the
#   caller's reference keeps it alive and release_view does nothing. This is
#   the hot path: no buffer protocol call at all.
# * A buffer that is not C-contiguous (e.g. memoryview(b)[::2]) is copied in
#   C order into a new bytes object whose buffer the view then holds: the
#   view owns the copy, and release_view frees it. read_view(copy_strided=
#   False) refuses it instead (the masking key).
# * Lengths: view.len is the exporter's byte count (>= 0) and view.buf holds
#   view.len readable bytes (writable too after write_view) until released.

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyObject_GetBuffer
from cpython.ref cimport PyObject

cdef extern from *:
    """
    #ifndef WSFAST_BUFFER_PXD
    #define WSFAST_BUFFER_PXD
    /* A view of a bytes object without acquiring it (obj stays NULL). */
    static inline void wsf_view_borrow_bytes(Py_buffer *v, PyObject *b) {
        v->obj = NULL;
        v->buf = PyBytes_AS_STRING(b);
        v->len = PyBytes_GET_SIZE(b);
        v->readonly = 1;
    }
    /* Release a view filled by read_view / write_view (no call for a borrowed one). */
    static inline void wsf_view_release(Py_buffer *v) {
        if (v->obj != NULL) PyBuffer_Release(v);
    }
    /* The exact bytes object a held view reads, or NULL (borrowed reference). */
    static inline PyObject *wsf_view_bytes(const Py_buffer *v) {
        return (v->obj != NULL && PyBytes_CheckExact(v->obj)) ? v->obj : NULL;
    }
    #endif
    """
    void wsf_view_borrow_bytes(Py_buffer *view, object data)
    void release_view "wsf_view_release" (Py_buffer *view) noexcept nogil
    PyObject *wsf_view_bytes(const Py_buffer *view) noexcept nogil


cdef inline int read_view(object data, Py_buffer *view, str name,
                          bint copy_strided=True) except -1:
    """Fill view with the bytes of data (any bytes-like object), for reading.

    Raises TypeError "<name> must be a bytes-like object, not <type>" for
    anything else (and for a non-contiguous buffer if not copy_strided).
    """
    if type(data) is bytes:
        wsf_view_borrow_bytes(view, data)
        return 0
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(data).__name__}") from None
    except BufferError:  # not C-contiguous
        if not copy_strided:
            raise TypeError(
                f"{name} must be a bytes-like object, not {type(data).__name__}") from None
        PyObject_GetBuffer(memoryview(data).tobytes(), view, PyBUF_SIMPLE)
    return 0


cdef inline int write_view(object data, Py_buffer *view, str name) except -1:
    """Fill view with the bytes of data, which must be a writable C-contiguous
    buffer (e.g. a bytearray); TypeError "<name> must be a writable contiguous
    buffer, not <type>" otherwise."""
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE | PyBUF_WRITABLE)
    except (TypeError, BufferError):
        raise TypeError(
            f"{name} must be a writable contiguous buffer, not {type(data).__name__}") from None
    return 0


cdef inline object view_bytes(const Py_buffer *view):
    """The bytes object a held view reads when it is exactly one (the copy of
    a strided argument): immutable, so it may be kept or sent as is. None
    otherwise (a borrowed view's bytes is the caller's own argument)."""
    cdef PyObject *b = wsf_view_bytes(view)
    return <object>b if b != NULL else None
