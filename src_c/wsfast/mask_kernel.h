/* RFC 6455 §5.3 masking: dst[i] = src[i] ^ mask[(phase + i) % 4].
 *
 * One routine serves apply_mask (new bytes), in-place unmasking, and the frame
 * reader, which unmasks a payload in pieces as it arrives; `phase` is how many
 * payload bytes of the frame were already unmasked, so the key stays aligned.
 * dst may equal src (in place) but must not otherwise overlap it.
 *
 * Bounds: the caller guarantees that src and dst both hold n bytes; every
 * access below is within [0, n). Loads and stores go through memcpy or
 * unaligned SIMD intrinsics, so no alignment is assumed.
 */
#ifndef WSFAST_MASK_KERNEL_H
#define WSFAST_MASK_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_features.h"

/* The 4-byte key rotated so that byte 0 applies to the first byte. */
static inline uint32_t wsf_mask_rotated(const unsigned char *mask, size_t phase) {
    unsigned char k[4];
    size_t p = phase & 3;
    k[0] = mask[p];
    k[1] = mask[(p + 1) & 3];
    k[2] = mask[(p + 2) & 3];
    k[3] = mask[(p + 3) & 3];
    uint32_t m;
    memcpy(&m, k, 4);
    return m;
}

/* Portable path: 8-byte words, then the tail byte by byte. */
static inline void wsf_mask_words(unsigned char *dst, const unsigned char *src,
                                  size_t n, uint32_t m32) {
    uint64_t m64 = ((uint64_t)m32 << 32) | m32;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= m64;
        memcpy(dst + i, &w, 8);
    }
    unsigned char k[4];
    memcpy(k, &m32, 4);
    for (; i < n; i++) {  /* i is a multiple of 8 here, so the key phase is i & 3 */
        dst[i] = src[i] ^ k[i & 3];
    }
}

#if WSF_X86_SIMD
/* Rotate the key right by r bytes: the key for data that starts r bytes later. */
static inline uint32_t wsf_mask_advance(uint32_t m32, size_t r) {
    unsigned char k[4], out[4];
    memcpy(k, &m32, 4);
    for (int j = 0; j < 4; j++) out[j] = k[(j + r) & 3];
    memcpy(&m32, out, 4);
    return m32;
}

/* 32 bytes per step (four per unrolled iteration); the tail goes to the word
 * loop. Stores are aligned to 32 bytes (a bytes object's data is only 16-byte
 * aligned; split stores cost ~10% on large payloads). */
WSF_TARGET_AVX2
static void wsf_mask_avx2(unsigned char *dst, const unsigned char *src, size_t n, uint32_t m32) {
    size_t i = (32 - ((uintptr_t)dst & 31)) & 31;
    if (i > n) i = n;
    wsf_mask_words(dst, src, i, m32);
    m32 = wsf_mask_advance(m32, i);
    __m256i m = _mm256_set1_epi32((int)m32);
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_store_si256((__m256i *)(dst + i), _mm256_xor_si256(a, m));
        _mm256_store_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, m));
        _mm256_store_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, m));
        _mm256_store_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, m));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm256_store_si256((__m256i *)(dst + i), _mm256_xor_si256(a, m));
    }
    /* m32 is the key at the aligned start; the tail continues from there. */
    wsf_mask_words(dst + i, src + i, n - i, m32);
}

/* SSE2 is in the x86-64 baseline: no check needed. */
static void wsf_mask_sse2(unsigned char *dst, const unsigned char *src, size_t n, uint32_t m32) {
    __m128i m = _mm_set1_epi32((int)m32);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, m));
        _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, m));
        _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, m));
        _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, m));
    }
    wsf_mask_words(dst + i, src + i, n - i, m32);
}
#endif

/* Small payloads skip the dispatch: the word loop is already the fastest there. */
#define WSF_MASK_SIMD_THRESHOLD 64

static inline void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
                            const unsigned char *mask, size_t phase) {
    uint32_t m32 = wsf_mask_rotated(mask, phase);
#if WSF_X86_SIMD
    if (n >= WSF_MASK_SIMD_THRESHOLD) {
        if (wsf_cpu->avx2) {
            wsf_mask_avx2(dst, src, n, m32);
        } else {
            wsf_mask_sse2(dst, src, n, m32);
        }
        return;
    }
#endif
    wsf_mask_words(dst, src, n, m32);
}

#endif
