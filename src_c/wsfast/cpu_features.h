/* Run-time CPU feature detection for the SIMD paths.
 *
 * Wheels must run on every x86-64 and ARM64 CPU, so nothing here is compiled
 * with -march: the wider kernels are compiled per function with
 * __attribute__((target("avx2"))) and only called when the running CPU
 * reports the feature. SSE2 is part of the x86-64 baseline and NEON of the
 * ARMv8 baseline, so those need no check.
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

/* Set by wsf_cpu_init(); read by the dispatching kernels. Each extension
 * module that includes this header gets its own copy, initialised from its
 * module init. */
static int wsf_have_avx2 = 0;

static inline void wsf_cpu_init(void) {
#if WSF_X86_SIMD
    __builtin_cpu_init();
    wsf_have_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
}

/* For tests and `python -m wsfast bench`: which path the kernels take. */
static inline const char *wsf_simd_name(void) {
#if WSF_X86_SIMD
    return wsf_have_avx2 ? "avx2" : "sse2";
#else
    return "scalar";
#endif
}

/* Lets the tests force the portable path, so both paths get exercised on a
 * machine that has AVX2. */
static inline void wsf_cpu_disable_simd(int disable) {
    if (disable) {
        wsf_have_avx2 = 0;
    } else {
        wsf_cpu_init();
    }
}

#endif
