# C-level UTF-8 validation (utf8_kernel.h), shared with the frame reader by cimport.

cdef extern from "wsfast/utf8_kernel.h" nogil:
    ctypedef struct wsf_utf8_state:
        unsigned char npending
        unsigned char need
    ptrdiff_t wsf_utf8_check(const unsigned char *s, size_t n)
    ptrdiff_t wsf_utf8_scan(const unsigned char *s, size_t n)
    bint wsf_is_ascii(const unsigned char *s, size_t n)
    void wsf_utf8_state_reset(wsf_utf8_state *st)
    bint wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *s, size_t n,
                       ptrdiff_t *err_start)


cdef class Utf8Validator:
    cdef wsf_utf8_state state
    cdef Py_ssize_t fed
    cdef Py_ssize_t _error_offset  # -1 while valid
    cdef bint _feed(self, const unsigned char *p, Py_ssize_t n)
