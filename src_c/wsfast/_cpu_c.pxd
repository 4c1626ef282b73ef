# Run-time CPU dispatch: the one owner of the state (see _cpu_c.pyx and
# cpu_features.h). A module whose code calls a dispatching kernel
# (wsf_mask, wsf_utf8_check, wsf_utf8_feed) attaches once, at import:
#
#     from wsfast._cpu_c cimport cpu_state, wsf_cpu_use
#     wsf_cpu_use(cpu_state(__name__))

cdef extern from "wsfast/cpu_features.h" nogil:
    ctypedef struct wsf_cpu_t:
        int avx2
    void wsf_cpu_use(const wsf_cpu_t *owner)

# The process-wide dispatch state; records `module` as attached (for
# wsfast._cpu_c.features() and the tests). Never NULL.
cdef const wsf_cpu_t *cpu_state(str module) except NULL
