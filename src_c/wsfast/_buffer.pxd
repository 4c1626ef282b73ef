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
#   view owns the copy, and release_view frees it.
# * Lengths: view.len is the exporter's byte count (>= 0) and view.buf holds
#   view.len readable bytes (writable too after write_view) until released.
# * read_contiguous_view refuses a non-contiguous buffer instead (the
#   masking key, as wsfast/_buffers.py does).

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyObject_GetBuffer
from cpython.exc cimport PyErr_Clear, PyErr_ExceptionMatches
from cpython.ref cimport PyObject

cdef extern from "Python.h":
    # PyObject_GetBuffer without Cython's exception check: the helpers below
    # test the result themselves, so that the success path sets up no
    # try/except (which saves and restores the exception state).
    int _try_getbuffer "PyObject_GetBuffer" (object obj, Py_buffer *view, int flags) noexcept

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


# The fast paths (a bytes argument: a type check and four stores; any other
# exporter: one PyObject_GetBuffer call) are kept small so that the C
# compiler inlines them; failures go to the out-of-line _read_failed /
# _write_failed, which translate the exception that PyObject_GetBuffer set.

cdef inline int read_view(object data, Py_buffer *view, str name) except -1:
    """Fill view with the bytes of data (any bytes-like object), for reading;
    a non-contiguous buffer is read from a C-order copy that the view owns.

    Raises TypeError "<name> must be a bytes-like object, not <type>".
    """
    return _read(data, view, name, True)


cdef inline int read_contiguous_view(object data, Py_buffer *view, str name) except -1:
    """As read_view, but a non-contiguous buffer is refused (TypeError, same
    message) instead of copied: for the masking key, as wsfast/_buffers.py."""
    return _read(data, view, name, False)


cdef inline int _read(object data, Py_buffer *view, str name, bint copy_strided) except -1:
    if type(data) is bytes:
        wsf_view_borrow_bytes(view, data)
        return 0
    if _try_getbuffer(data, view, PyBUF_SIMPLE) == 0:
        return 0
    return _read_failed(data, view, name, copy_strided)


cdef inline int write_view(object data, Py_buffer *view, str name) except -1:
    """Fill view with the bytes of data, which must be a writable C-contiguous
    buffer (e.g. a bytearray); TypeError "<name> must be a writable contiguous
    buffer, not <type>" otherwise."""
    if _try_getbuffer(data, view, PyBUF_SIMPLE | PyBUF_WRITABLE) == 0:
        return 0
    return _write_failed(data, name)


cdef inline int _read_failed(object data, Py_buffer *view, str name,
                             bint copy_strided) except -1:
    """PyObject_GetBuffer(data, PyBUF_SIMPLE) failed with an exception set:
    a TypeError (no buffer at all) becomes ours; a BufferError (not
    C-contiguous) means reading a copy, or a TypeError if not copy_strided;
    anything else propagates unchanged. Nothing is held on return -1."""
    if PyErr_ExceptionMatches(BufferError) and copy_strided:
        PyErr_Clear()
        PyObject_GetBuffer(memoryview(data).tobytes(), view, PyBUF_SIMPLE)
        return 0
    if PyErr_ExceptionMatches(TypeError) or PyErr_ExceptionMatches(BufferError):
        PyErr_Clear()
        raise TypeError(f"{name} must be a bytes-like object, not {type(data).__name__}") from None
    return -1


cdef inline int _write_failed(object data, str name) except -1:
    """As _read_failed, for write_view: TypeError and BufferError (read-only or
    not contiguous) both become ours."""
    if PyErr_ExceptionMatches(TypeError) or PyErr_ExceptionMatches(BufferError):
        PyErr_Clear()
        raise TypeError(f"{name} must be a writable contiguous buffer, not {type(data).__name__}") from None
    return -1


cdef inline object view_bytes(const Py_buffer *view):
    """The bytes object a held view reads when it is exactly one (the copy of
    a strided argument): immutable, so it may be kept or sent as is. None
    otherwise (a borrowed view's bytes is the caller's own argument)."""
    cdef PyObject *b = wsf_view_bytes(view)
    return <object>b if b != NULL else None
