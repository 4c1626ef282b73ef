# C-level masking kernel (mask_kernel.h), shared with the frame reader by cimport.
# The functions are static inline in the header, so each module that cimports
# this file compiles its own copy and calls it without any indirection. The
# copy dispatches on the process-wide CPU state: a module that calls wsf_mask
# attaches to it at import (see _cpu_c.pxd).

cdef extern from "wsfast/mask_kernel.h" nogil:
    void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
                  const unsigned char *mask, size_t phase)


# Copy a 4-byte masking key (bytes or any bytes-like) into key; TypeError /
# ValueError otherwise. Shared with the framing module.
cdef int get_mask_key(object mask, unsigned char key[4]) except -1
