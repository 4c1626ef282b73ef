# Frame header parsing and building, shared with the message reader by cimport.

cimport cython
from libc.stdint cimport uint64_t

cdef extern from "wsfast/frame_header.h" nogil:
    ctypedef struct wsf_header:
        uint64_t length
        unsigned char mask[4]
        int opcode
        int fin
        int rsv1
        int masked
        size_t size
    enum:
        WSF_HDR_MORE
        WSF_HDR_OK
        WSF_ERR_RESERVED_OPCODE
        WSF_ERR_RESERVED_BITS
        WSF_ERR_RSV1_CONTROL
        WSF_ERR_RSV1_CONTINUATION
        WSF_ERR_CONTROL_FRAGMENTED
        WSF_ERR_CONTROL_TOO_LONG
        WSF_ERR_UNMASKED
        WSF_ERR_MASKED
        WSF_ERR_UNEXPECTED_CONTINUATION
        WSF_ERR_EXPECTED_CONTINUATION
        WSF_ERR_NON_MINIMAL_LENGTH
        WSF_ERR_LENGTH_MSB
        WSF_ERR_FRAME_TOO_BIG
        WSF_MAX_HEADER
    const uint64_t WSF_UNLIMITED
    const uint64_t WSF_SATURATED
    int wsf_parse_header(const unsigned char *p, size_t n, int mask_required,
                         int rsv1_allowed, uint64_t max_frame, int in_message,
                         wsf_header *h)
    size_t wsf_encode_header(unsigned char *out, int opcode, uint64_t length,
                             int fin, int rsv1, const unsigned char *mask)

# The ProtocolError for a negative wsf_parse_header result (error path only).
cdef object header_error(int code, const wsf_header *h, uint64_t max_frame)

# A limit argument (int >= 0, or None for "no limit") as a C integer.
cdef uint64_t limit_value(object value, str name) except? 0


# The connection's frame writer, declared here so that the asyncio layer's
# compiled core (_stream_c) calls write() directly instead of through a
# method lookup. Final: cpdef write() is a plain C call.
@cython.final
cdef class FrameWriter:
    cdef bint mask
    cdef object random
    cdef bytes pool
    cdef Py_ssize_t pool_pos
    cdef public bint reuse_buffers

    cdef const unsigned char *_next_key(self) except NULL
    cdef object _masked_view(self, int op, const unsigned char *p, Py_ssize_t n, bint fin,
                             bint rsv1)
    cpdef write(self, list out, opcode, payload, bint fin=*, bint rsv1=*)
    cdef int _write(self, list out, object opcode, const unsigned char *p, Py_ssize_t n,
                    bint fin, bint rsv1, object owner) except -1
