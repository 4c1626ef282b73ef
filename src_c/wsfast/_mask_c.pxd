# C-level masking kernel (mask_kernel.h), shared with the frame reader by cimport.
# The functions are static inline in the header, so each module that cimports
# this file compiles its own copy and calls it without any indirection.

cdef extern from "wsfast/mask_kernel.h" nogil:
    void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
                  const unsigned char *mask, size_t phase)

cdef extern from "wsfast/cpu_features.h" nogil:
    void wsf_cpu_init()
    const char *wsf_simd_name()
    void wsf_cpu_disable_simd(int disable)
