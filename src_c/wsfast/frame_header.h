/* RFC 6455 §5.2 frame header parsing, with the frame-level rules.
 *
 * The twin of wsfast._framing_py.parse_header: the same rules in the same
 * order, each decided as soon as its bytes are available, so that both
 * back-ends fail on the same byte with the same error. The caller turns a
 * negative result into the matching ProtocolError (wsfast.errors.RULES).
 *
 * Bounds: p[0..n) is readable. Every read is guarded by the `n < k` checks
 * that return WSF_HDR_MORE before byte k-1 is touched.
 */
#ifndef WSFAST_FRAME_HEADER_H
#define WSFAST_FRAME_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t length;        /* payload length (trusted only after WSF_HDR_OK) */
    unsigned char mask[4];  /* masking key when masked */
    int opcode;
    int fin;
    int rsv1;
    int masked;
    size_t size;            /* header bytes, masking key included */
} wsf_header;

enum {
    WSF_HDR_MORE = 0,  /* not enough bytes yet */
    WSF_HDR_OK = 1,
    WSF_ERR_RESERVED_OPCODE = -1,
    WSF_ERR_RESERVED_BITS = -2,
    WSF_ERR_RSV1_CONTROL = -3,
    WSF_ERR_RSV1_CONTINUATION = -4,
    WSF_ERR_CONTROL_FRAGMENTED = -5,
    WSF_ERR_CONTROL_TOO_LONG = -6,
    WSF_ERR_UNMASKED = -7,
    WSF_ERR_MASKED = -8,
    WSF_ERR_UNEXPECTED_CONTINUATION = -9,
    WSF_ERR_EXPECTED_CONTINUATION = -10,
    WSF_ERR_NON_MINIMAL_LENGTH = -11,
    WSF_ERR_LENGTH_MSB = -12,
    WSF_ERR_FRAME_TOO_BIG = -13
};

/* What a limit of None means: larger than any frame a peer can make us
 * buffer, small enough that sums of two lengths never overflow. Same value
 * as wsfast._framing_py.UNLIMITED. */
#define WSF_UNLIMITED ((uint64_t)1 << 62)
#define WSF_SATURATED (~(uint64_t)0)

/* Largest header: 2 + 8 (64-bit length) + 4 (masking key). */
#define WSF_MAX_HEADER 14

static inline int wsf_parse_header(const unsigned char *p, size_t n, int mask_required,
                                   int rsv1_allowed, uint64_t max_frame, int in_message,
                                   wsf_header *h) {
    if (n < 2) return WSF_HDR_MORE;
    unsigned char b0 = p[0], b1 = p[1];
    int opcode = b0 & 0x0F;
    h->opcode = opcode;
    h->fin = (b0 & 0x80) != 0;
    h->rsv1 = (b0 & 0x40) != 0;
    /* §5.2: opcodes 3-7 and 0xB-0xF are reserved. */
    if (!(opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA))) return WSF_ERR_RESERVED_OPCODE;
    /* §5.2 + RFC 7692 §6: RSV2/RSV3 never, RSV1 only with permessage-deflate
     * and only on the first frame of a data message. */
    if ((b0 & 0x30) || (h->rsv1 && !rsv1_allowed)) return WSF_ERR_RESERVED_BITS;
    int is_control = opcode >= 0x8;
    if (h->rsv1) {
        if (is_control) return WSF_ERR_RSV1_CONTROL;
        if (opcode == 0x0) return WSF_ERR_RSV1_CONTINUATION;
    }
    uint64_t length = b1 & 0x7F;
    h->length = length;
    /* §5.5: control frames are unfragmented and carry at most 125 bytes. */
    if (is_control) {
        if (!h->fin) return WSF_ERR_CONTROL_FRAGMENTED;
        if (length > 125) return WSF_ERR_CONTROL_TOO_LONG;
    }
    /* §5.1: a client masks every frame, a server none. */
    h->masked = (b1 & 0x80) != 0;
    if (mask_required && !h->masked) return WSF_ERR_UNMASKED;
    if (h->masked && !mask_required) return WSF_ERR_MASKED;
    /* §5.4: fragments of one message are not interleaved with another. */
    if (opcode == 0x0 && !in_message) return WSF_ERR_UNEXPECTED_CONTINUATION;
    if ((opcode == 0x1 || opcode == 0x2) && in_message) return WSF_ERR_EXPECTED_CONTINUATION;
    size_t size = 2;
    if (length == 126) {
        if (n < 4) return WSF_HDR_MORE;
        length = ((uint64_t)p[2] << 8) | p[3];
        h->length = length;
        if (length < 126) return WSF_ERR_NON_MINIMAL_LENGTH;
        size = 4;
    } else if (length == 127) {
        if (n < 10) return WSF_HDR_MORE;
        length = 0;
        for (int i = 2; i < 10; i++) length = (length << 8) | p[i];
        h->length = length;
        if (length >> 63) return WSF_ERR_LENGTH_MSB;
        if (length < 65536) return WSF_ERR_NON_MINIMAL_LENGTH;
        size = 10;
    }
    if (length > max_frame) return WSF_ERR_FRAME_TOO_BIG;
    if (h->masked) {
        if (n < size + 4) return WSF_HDR_MORE;
        memcpy(h->mask, p + size, 4);
        size += 4;
    }
    h->size = size;
    return WSF_HDR_OK;
}

/* Write a frame header into out (at least WSF_MAX_HEADER bytes); returns its size. */
static inline size_t wsf_encode_header(unsigned char *out, int opcode, uint64_t length,
                                       int fin, int rsv1, const unsigned char *mask) {
    size_t size;
    out[0] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
    unsigned char mbit = mask ? 0x80 : 0;
    if (length < 126) {
        out[1] = (unsigned char)(mbit | length);
        size = 2;
    } else if (length < 65536) {
        out[1] = (unsigned char)(mbit | 126);
        out[2] = (unsigned char)(length >> 8);
        out[3] = (unsigned char)length;
        size = 4;
    } else {
        out[1] = (unsigned char)(mbit | 127);
        for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(length >> (56 - 8 * i));
        size = 10;
    }
    if (mask) {
        memcpy(out + size, mask, 4);
        size += 4;
    }
    return size;
}

#endif
