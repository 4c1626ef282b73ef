/* Strict UTF-8 validation, whole-buffer and incremental (fail-fast).
 *
 * "Valid" means exactly what CPython's bytes.decode("utf-8") accepts: no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 *
 * Three layers:
 *   wsf_utf8_scan      scalar, returns the offset of the first invalid
 *                      sequence; the reference every faster path agrees with;
 *   wsf_utf8_check     whole buffer, fastest path available (AVX2 lookup
 *                      algorithm of Keiser & Lemire, "Validating UTF-8 in less
 *                      than one instruction per byte", 2021), falling back to
 *                      wsf_utf8_scan to locate an error;
 *   wsf_utf8_feed      incremental: carries an incomplete code point across
 *                      calls and fails at the first byte after which no
 *                      continuation can make the stream valid.
 *
 * Bounds: every function reads s[0..n) only. The scalar scan checks
 * i + len <= n before reading the bytes of a multi-byte sequence; the SIMD
 * path reads whole 32-byte blocks only while i + 32 <= n and copies the last
 * partial block into a zero-filled local buffer.
 */
#ifndef WSFAST_UTF8_KERNEL_H
#define WSFAST_UTF8_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_features.h"

/* Length of the sequence a byte starts: 1..4, or 0 if it cannot start one
 * (continuation bytes 80..BF, overlong leads C0/C1, F5..FF). */
static inline int wsf_utf8_lead_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return 2;
    if (c < 0xF0) return 3;
    if (c < 0xF5) return 4;
    return 0;
}

/* Whether b may follow lead byte c as the second byte (RFC 3629 §4 table):
 * the ranges after E0, ED, F0 and F4 exclude overlongs, surrogates and
 * code points above U+10FFFF. */
static inline int wsf_utf8_second_ok(unsigned char c, unsigned char b) {
    switch (c) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return (b & 0xC0) == 0x80;
    }
}

#define WSF_ASCII_MASK64 0x8080808080808080ULL

/* Offset of the first invalid (or truncated) sequence in s[0..n), or -1. */
static ptrdiff_t wsf_utf8_scan(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & WSF_ASCII_MASK64) break;
                i += 8;
            }
            continue;
        }
        int len = wsf_utf8_lead_len(c);
        if (len == 0 || i + (size_t)len > n) return (ptrdiff_t)i;
        if (!wsf_utf8_second_ok(c, s[i + 1])) return (ptrdiff_t)i;
        if (len >= 3 && (s[i + 2] & 0xC0) != 0x80) return (ptrdiff_t)i;
        if (len == 4 && (s[i + 3] & 0xC0) != 0x80) return (ptrdiff_t)i;
        i += (size_t)len;
    }
    return -1;
}

/* Whether s[0..n) is pure ASCII (the common case for text frames). */
static inline int wsf_is_ascii(const unsigned char *s, size_t n) {
    size_t i = 0;
    uint64_t acc = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, s + i, 8);
        memcpy(&b, s + i + 8, 8);
        memcpy(&c, s + i + 16, 8);
        memcpy(&d, s + i + 24, 8);
        if ((a | b | c | d) & WSF_ASCII_MASK64) return 0;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= s[i];
    return (acc & WSF_ASCII_MASK64) == 0;
}

#if WSF_X86_SIMD
/* Error classes of the lookup algorithm: a pair (previous byte, byte) is
 * invalid when the three table lookups share a bit. */
#define WSF_TOO_SHORT (1 << 0)    /* lead byte not followed by a continuation */
#define WSF_TOO_LONG (1 << 1)     /* ASCII followed by a continuation */
#define WSF_OVERLONG_3 (1 << 2)   /* E0 80..9F */
#define WSF_TOO_LARGE (1 << 3)    /* F4 90..BF, F5.. */
#define WSF_SURROGATE (1 << 4)    /* ED A0..BF */
#define WSF_OVERLONG_2 (1 << 5)   /* C0, C1 */
#define WSF_TOO_LARGE_1000 (1 << 6) /* F5.. 80..8F */
#define WSF_OVERLONG_4 (1 << 6)   /* F0 80..8F */
#define WSF_TWO_CONTS (1 << 7)    /* continuation after continuation (checked below) */
#define WSF_CARRY (WSF_TOO_SHORT | WSF_TOO_LONG | WSF_TWO_CONTS)

#define WSF_TABLE16(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, aA, aB, aC, aD, aE, aF)      \
    _mm256_setr_epi8(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, aA, aB, aC, aD, aE, aF,     \
                     a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, aA, aB, aC, aD, aE, aF)

/* The N bytes before each byte of `in`, taking the first ones from `prev`. */
#define WSF_PREV(in, prev, N) \
    _mm256_alignr_epi8((in), _mm256_permute2x128_si256((prev), (in), 0x21), 16 - (N))

WSF_TARGET_AVX2
static int wsf_utf8_valid_avx2(const unsigned char *s, size_t n) {
    const __m256i byte_1_high = WSF_TABLE16(
        WSF_TOO_LONG, WSF_TOO_LONG, WSF_TOO_LONG, WSF_TOO_LONG,
        WSF_TOO_LONG, WSF_TOO_LONG, WSF_TOO_LONG, WSF_TOO_LONG,
        WSF_TWO_CONTS, WSF_TWO_CONTS, WSF_TWO_CONTS, WSF_TWO_CONTS,
        WSF_TOO_SHORT | WSF_OVERLONG_2,
        WSF_TOO_SHORT,
        WSF_TOO_SHORT | WSF_OVERLONG_3 | WSF_SURROGATE,
        WSF_TOO_SHORT | WSF_TOO_LARGE | WSF_TOO_LARGE_1000 | WSF_OVERLONG_4);
    const __m256i byte_1_low = WSF_TABLE16(
        WSF_CARRY | WSF_OVERLONG_3 | WSF_OVERLONG_2 | WSF_OVERLONG_4,
        WSF_CARRY | WSF_OVERLONG_2,
        WSF_CARRY,
        WSF_CARRY,
        WSF_CARRY | WSF_TOO_LARGE,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000 | WSF_SURROGATE,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000,
        WSF_CARRY | WSF_TOO_LARGE | WSF_TOO_LARGE_1000);
    const __m256i byte_2_high = WSF_TABLE16(
        WSF_TOO_SHORT, WSF_TOO_SHORT, WSF_TOO_SHORT, WSF_TOO_SHORT,
        WSF_TOO_SHORT, WSF_TOO_SHORT, WSF_TOO_SHORT, WSF_TOO_SHORT,
        WSF_TOO_LONG | WSF_OVERLONG_2 | WSF_TWO_CONTS | WSF_OVERLONG_3 | WSF_TOO_LARGE_1000 | WSF_OVERLONG_4,
        WSF_TOO_LONG | WSF_OVERLONG_2 | WSF_TWO_CONTS | WSF_OVERLONG_3 | WSF_TOO_LARGE,
        WSF_TOO_LONG | WSF_OVERLONG_2 | WSF_TWO_CONTS | WSF_SURROGATE | WSF_TOO_LARGE,
        WSF_TOO_LONG | WSF_OVERLONG_2 | WSF_TWO_CONTS | WSF_SURROGATE | WSF_TOO_LARGE,
        WSF_TOO_SHORT, WSF_TOO_SHORT, WSF_TOO_SHORT, WSF_TOO_SHORT);
    /* A block ending within its last 3 bytes on a lead byte that needs more
     * bytes than remain is incomplete; the next block must continue it. */
    const __m256i incomplete_limit = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i third_byte_min = _mm256_set1_epi8((char)(0xE0 - 0x80));
    const __m256i fourth_byte_min = _mm256_set1_epi8((char)(0xF0 - 0x80));
    const __m256i high_bit = _mm256_set1_epi8((char)0x80);

    __m256i error = _mm256_setzero_si256();
    __m256i prev_input = _mm256_setzero_si256();
    __m256i prev_incomplete = _mm256_setzero_si256();
    unsigned char last[32];
    size_t i = 0;

    while (i < n) {
        __m256i in;
        if (i + 32 <= n) {
            in = _mm256_loadu_si256((const __m256i *)(s + i));
        } else {
            /* Zero padding is ASCII: a truncated sequence at the end fails
             * exactly as it should. */
            memset(last, 0, sizeof last);
            memcpy(last, s + i, n - i);
            in = _mm256_loadu_si256((const __m256i *)last);
        }
        i += 32;
        if (_mm256_movemask_epi8(in) == 0) {
            error = _mm256_or_si256(error, prev_incomplete);
            prev_incomplete = _mm256_setzero_si256();
        } else {
            __m256i prev1 = WSF_PREV(in, prev_input, 1);
            __m256i sc = _mm256_and_si256(
                _mm256_and_si256(
                    _mm256_shuffle_epi8(byte_1_high,
                                        _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nibble)),
                    _mm256_shuffle_epi8(byte_1_low, _mm256_and_si256(prev1, nibble))),
                _mm256_shuffle_epi8(byte_2_high,
                                    _mm256_and_si256(_mm256_srli_epi16(in, 4), nibble)));
            /* Third and fourth bytes of a sequence must be continuations:
             * there TWO_CONTS is expected, and XOR cancels it. */
            __m256i prev2 = WSF_PREV(in, prev_input, 2);
            __m256i prev3 = WSF_PREV(in, prev_input, 3);
            __m256i must23 = _mm256_or_si256(_mm256_subs_epu8(prev2, third_byte_min),
                                             _mm256_subs_epu8(prev3, fourth_byte_min));
            __m256i must23_80 = _mm256_and_si256(must23, high_bit);
            error = _mm256_or_si256(error, _mm256_xor_si256(must23_80, sc));
            prev_incomplete = _mm256_subs_epu8(in, incomplete_limit);
        }
        prev_input = in;
        if (!_mm256_testz_si256(error, error)) return 0; /* fail fast */
    }
    error = _mm256_or_si256(error, prev_incomplete);
    return _mm256_testz_si256(error, error);
}
#endif

/* Below this size the scalar scan beats the SIMD set-up. */
#define WSF_UTF8_SIMD_THRESHOLD 64

/* Offset of the first invalid (or truncated) sequence in s[0..n), or -1. */
static inline ptrdiff_t wsf_utf8_check(const unsigned char *s, size_t n) {
#if WSF_X86_SIMD
    if (n >= WSF_UTF8_SIMD_THRESHOLD && wsf_cpu->avx2) {
        if (wsf_utf8_valid_avx2(s, n)) return -1;
        return wsf_utf8_scan(s, n); /* rare: locate the error exactly */
    }
#endif
    return wsf_utf8_scan(s, n);
}

/* Incremental state: the first bytes of a code point still incomplete. */
typedef struct {
    unsigned char pending[4];
    unsigned char npending; /* 0..3 bytes held */
    unsigned char need;     /* length of that code point, 2..4 */
} wsf_utf8_state;

static inline void wsf_utf8_state_reset(wsf_utf8_state *st) {
    st->npending = 0;
    st->need = 0;
}

/* Validate the next n bytes of a stream.
 *
 * Returns 1 and updates the state if the stream may still be valid;
 * returns 0 and sets *err_start to the offset, relative to s, of the first
 * byte of the invalid sequence (negative when that sequence began in an
 * earlier call) if no continuation can make it valid. */
static int wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *s, size_t n,
                         ptrdiff_t *err_start) {
    size_t i = 0;
    /* 1. Finish a code point begun in an earlier call. */
    while (st->npending) {
        if (i == n) return 1;
        unsigned char b = s[i];
        int ok = st->npending == 1 ? wsf_utf8_second_ok(st->pending[0], b)
                                   : (b & 0xC0) == 0x80;
        if (!ok) {
            *err_start = -(ptrdiff_t)st->npending + (ptrdiff_t)i;
            return 0;
        }
        i++;
        if (st->npending + 1 == st->need) {
            st->npending = 0;
        } else {
            st->pending[st->npending++] = b;
        }
    }
    size_t rest = n - i;
    const unsigned char *p = s + i;
    /* 2. Set aside a trailing sequence that is incomplete only because the
     *    chunk ends: look back at most 3 bytes for its lead byte. */
    size_t tail = rest;
    for (size_t k = 1; k <= 3 && k <= rest; k++) {
        unsigned char c = p[rest - k];
        if ((c & 0xC0) == 0x80) continue;
        if ((size_t)wsf_utf8_lead_len(c) > k) tail = rest - k;
        break;
    }
    /* 3. Everything before it must be complete and valid. */
    ptrdiff_t bad = wsf_utf8_check(p, tail);
    if (bad >= 0) {
        *err_start = (ptrdiff_t)i + bad;
        return 0;
    }
    /* 4. The tail must be a valid prefix; keep it for the next call. */
    if (tail < rest) {
        unsigned char c = p[tail];
        size_t have = rest - tail; /* 1..3, less than the sequence length */
        if (have >= 2 && !wsf_utf8_second_ok(c, p[tail + 1])) {
            *err_start = (ptrdiff_t)(i + tail);
            return 0;
        }
        if (have == 3 && (p[tail + 2] & 0xC0) != 0x80) {
            *err_start = (ptrdiff_t)(i + tail);
            return 0;
        }
        memcpy(st->pending, p + tail, have);
        st->npending = (unsigned char)have;
        st->need = (unsigned char)wsf_utf8_lead_len(c);
    }
    return 1;
}

#endif
