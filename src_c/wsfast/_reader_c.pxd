# The compiled message reader: its C-level state, shared by declaration only.
# (The class is final: its cdef methods are called directly, not through a vtable.)

cimport cython
from libc.stdint cimport uint64_t

from wsfast._framing_c cimport wsf_header, WSF_MAX_HEADER
from wsfast._utf8_c cimport wsf_utf8_state


# A growable byte buffer owned by the reader (malloc'd; freed in __dealloc__).
cdef struct Buf:
    unsigned char *data
    Py_ssize_t len
    Py_ssize_t cap


@cython.final
cdef class MessageReader:
    cdef bint mask_required, rsv1_allowed, text_as_bytes, streaming
    cdef uint64_t max_frame, max_message, max_fragments, overhead
    cdef object inflater
    cdef public list control_events
    cdef public object error
    cdef bint _stopped
    # An incomplete header, carried to the next chunk.
    cdef unsigned char hbuf[WSF_MAX_HEADER]
    cdef Py_ssize_t hlen
    # The frame whose payload is being read.
    cdef bint in_frame
    cdef wsf_header frame
    cdef uint64_t received
    cdef unsigned char cbuf[125]
    # The message being assembled.
    cdef int msg_opcode
    cdef bint msg_compressed
    cdef Buf msg
    cdef Buf zbuf
    cdef uint64_t msg_size
    cdef uint64_t fragments
    cdef wsf_utf8_state utf8
    cdef object direct  # final bytes of a single-frame message being filled, or None
    # Input a call left unparsed after decompressing INFLATE_YIELD bytes:
    # held.data[held_pos:held.len]; ``inflated`` counts the current call's.
    cdef Buf held
    cdef Py_ssize_t held_pos
    cdef uint64_t inflated

    cdef list _feed(self, const unsigned char *p, Py_ssize_t n)
    cdef int _header(self, const unsigned char *p, Py_ssize_t n) except -1
    cdef Py_ssize_t _process(self, const unsigned char *p, Py_ssize_t n, list events) except -1
    cdef int _check_frame(self) except -1
    cdef int _prepare_payload(self) except -1
    cdef uint64_t _charge(self, uint64_t size)
    cdef int _whole_message(self, const unsigned char *src, Py_ssize_t n, list events) except -1
    cdef void _unmask(self, unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                      uint64_t phase) noexcept
    cdef int _payload(self, const unsigned char *src, Py_ssize_t n) except -1
    cdef int _appended(self, unsigned char *dst, Py_ssize_t n) except -1
    cdef int _end_frame(self, list events) except -1
    cdef int _inflate(self, bint fin) except -1
    cdef int _end_message(self, list events) except -1
    cdef void _discard_message(self) noexcept
    cdef int _flush_fragment(self, list events, bint fin) except -1
    cdef int _end_control(self, list events) except -1
