/* Run-time CPU feature detection for the SIMD paths.
 *
 * Wheels must run on every x86-64 and ARM64 CPU, so nothing here is compiled
 * with -march: the wider kernels are compiled per function with
 * __attribute__((target("avx2"))) and only called when the running CPU
 * reports the feature. SSE2 is part of the x86-64 baseline and NEON of the
 * ARMv8 baseline, so those need no check.
 *
 * One owner. The dispatch state (a wsf_cpu_t) exists once per process, in
 * the module wsfast._cpu_c (src_c/wsfast/_cpu_c.pyx): it detects the CPU at
 * its import and is the only code that changes the state (force_portable,
 * for the tests). Every other module that includes this header has only a
 * private *pointer* to that state, wsf_cpu, which it sets once at its import:
 *
 *     wsf_cpu_use(cpu_state(__name__))      # see _cpu_c.pxd
 *
 * A dispatch decision is then two loads (the pointer, the flag) and no call.
 * Until a module attaches, its wsf_cpu points at a constant portable state:
 * a module that forgets is still correct, only without AVX2 (the tests check
 * that every dispatching module is attached: tests/test_cpu.py).
 */
#ifndef WSFAST_CPU_FEATURES_H
#define WSFAST_CPU_FEATURES_H

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__) && !defined(WSFAST_NO_SIMD)
#define WSF_X86_SIMD 1
#include <immintrin.h>
#define WSF_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define WSF_X86_SIMD 0
#endif

/* The paths the dispatching kernels may take (0: not available / disabled). */
typedef struct {
    int avx2;
} wsf_cpu_t;

static const wsf_cpu_t wsf_cpu_portable = {0};

/* This module's view of the one state (owned by wsfast._cpu_c). Read by
 * mask_kernel.h and utf8_kernel.h, possibly without the GIL; written only
 * by wsf_cpu_use, at module import (with the GIL). */
static const wsf_cpu_t *wsf_cpu = &wsf_cpu_portable;

static inline void wsf_cpu_use(const wsf_cpu_t *owner) {
    wsf_cpu = owner;
}

/* For the owner (_cpu_c) only: what the running CPU supports. */
static inline int wsf_cpu_detect_avx2(void) {
#if WSF_X86_SIMD
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

/* For tests and `python -m wsfast bench`: which path the kernels take. */
static inline const char *wsf_cpu_simd_name(const wsf_cpu_t *cpu) {
#if WSF_X86_SIMD
    return cpu->avx2 ? "avx2" : "sse2";
#else
    (void)cpu;
    return "scalar";
#endif
}

#endif
