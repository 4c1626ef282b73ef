# cython: language_level=3
"""Run-time CPU dispatch for the compiled kernels: the one owner of its state.

The SIMD kernels (mask_kernel.h, utf8_kernel.h) are compiled into every
module that calls them, so that the calls inline; what they must not each
have is their own idea of which path to take. This module holds the one
``wsf_cpu_t`` of the process, detects the CPU at import, and hands a pointer
to it to every kernel module (``cpu_state``, cimported; see _cpu_c.pxd).
:func:`force_portable` flips it for all of them at once.

Invariants:

* Buffers: none.
* Shared mutable state: ``_state`` (the dispatch flags every attached module
  reads through its ``wsf_cpu`` pointer, possibly without the GIL, e.g. while
  masking a large payload) and ``_attached`` (names, for the report). Both
  are written only here, with the GIL held: ``_state`` at import and by
  :func:`force_portable`. A kernel that reads the flag while it is being
  flipped takes either path; both give the same result, so the race is
  benign (and only the tests flip it).
* GIL: never released here.
* No ``boundscheck(False)`` region.
"""

from wsfast._cpu_c cimport wsf_cpu_t, wsf_cpu_use

cdef extern from "wsfast/cpu_features.h" nogil:
    int wsf_cpu_detect_avx2()
    const char *wsf_cpu_simd_name(const wsf_cpu_t *cpu)

__all__ = ["simd", "force_portable", "features"]

cdef wsf_cpu_t _detected   # what the CPU supports; fixed after import
cdef wsf_cpu_t _state      # what the kernels use: _detected, or all off
cdef bint _forced = False
cdef list _attached = []   # modules that dispatch on _state, in import order

_detected.avx2 = wsf_cpu_detect_avx2()
_state = _detected
wsf_cpu_use(&_state)  # this module's own header copy, for symmetry


cdef const wsf_cpu_t *cpu_state(str module) except NULL:
    if module not in _attached:
        _attached.append(module)
    return &_state


def simd() -> str:
    """Name of the SIMD path the kernels take: ``"avx2"``, ``"sse2"`` or ``"scalar"``."""
    return wsf_cpu_simd_name(&_state).decode()


def force_portable(bint disable) -> None:
    """Disable (or restore) the run-time-dispatched SIMD paths of every
    compiled kernel at once.

    For the tests (both paths get exercised on a machine that has AVX2) and
    for measuring the portable path; not thread-safe against itself.
    """
    global _forced
    _forced = disable
    _state.avx2 = 0 if disable else _detected.avx2


def features() -> dict:
    """What the CPU offers and what the kernels use.

    Returns:
        ``{"simd": simd(), "avx2": <CPU supports AVX2>, "forced_portable":
        <force_portable(True) in effect>, "modules": <names of the modules
        that dispatch on this state>}``.
    """
    return {
        "simd": simd(),
        "avx2": bool(_detected.avx2),
        "forced_portable": _forced,
        "modules": tuple(_attached),
    }
