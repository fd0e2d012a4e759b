/*
 * ws_internal.h - the WebSocket decoder's fast path, shared by ws.c and stream.c
 * (inlined into both: a call per small frame is measurable). Not installed.
 */
#ifndef MQWS_WS_INTERNAL_H
#define MQWS_WS_INTERNAL_H

#include <string.h>

#include "mqws/ws.h"

#if defined(__GNUC__)
/* 16-byte vectors: SSE2 / NEON moves; the compiler splits them where there is no SIMD. */
typedef uint64_t mqws_v2u64_ __attribute__((vector_size(16)));
#endif

/* Inlined into the decoder too: a call per 64-byte frame is measurable. */
static inline void mask_bytes(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t offset)
{
    /* The key in memory order starting at key[offset % 4], as a word. Rotating a
     * loaded word, not storing 8 bytes and loading them back: that store-forwarding
     * stall took half the time of unmasking a 64-byte frame. */
    uint32_t k32;
    memcpy(&k32, key, 4);
    unsigned sh = (unsigned)(offset & 3u) * 8u;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (sh)
        k32 = (k32 >> sh) | (k32 << (32u - sh));
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (sh)
        k32 = (k32 << sh) | (k32 >> (32u - sh));
#else
    uint8_t kb[4];
    for (unsigned j = 0; j < 4; j++)
        kb[j] = key[(offset + j) & 3u];
    memcpy(&k32, kb, 4);
#endif
    uint64_t k64 = ((uint64_t)k32 << 32) | k32;
    size_t i = 0;
    /* The key stays in phase because i steps by multiples of 4. memcpy loads and
     * stores compile to plain (unaligned) moves. Explicit vectors, 64 bytes a turn:
     * GCC 12 -O2 neither vectorises the word loop nor keeps a uint64_t[4] block in
     * registers (it spills it), leaving 1 MiB at 1.8-2x memcpy time; this is ~0.85x. */
#if defined(__GNUC__)
    mqws_v2u64_ kv = {k64, k64};
    for (; i + 64 <= len; i += 64) {
        mqws_v2u64_ a, b, c, d;
        memcpy(&a, buf + i, 16);
        memcpy(&b, buf + i + 16, 16);
        memcpy(&c, buf + i + 32, 16);
        memcpy(&d, buf + i + 48, 16);
        a ^= kv;
        b ^= kv;
        c ^= kv;
        d ^= kv;
        memcpy(buf + i, &a, 16);
        memcpy(buf + i + 16, &b, 16);
        memcpy(buf + i + 32, &c, 16);
        memcpy(buf + i + 48, &d, 16);
    }
    /* The rest (0..63 bytes) in at most 3 + 1 + 1 + 3 steps. */
    for (; i + 16 <= len; i += 16) {
        mqws_v2u64_ a;
        memcpy(&a, buf + i, 16);
        a ^= kv;
        memcpy(buf + i, &a, 16);
    }
    if (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, buf + i, 8);
        w ^= k64;
        memcpy(buf + i, &w, 8);
        i += 8;
    }
    if (i + 4 <= len) {
        uint32_t w;
        memcpy(&w, buf + i, 4);
        w ^= (uint32_t)k64;
        memcpy(buf + i, &w, 4);
        i += 4;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* i is a multiple of 4 here: the key is in phase, the last 0..3 bytes take a
     * 2-byte and a 1-byte step. */
    if (i + 2 <= len) {
        uint16_t w;
        memcpy(&w, buf + i, 2);
        w ^= (uint16_t)k64;
        memcpy(buf + i, &w, 2);
        i += 2;
    }
    if (i < len)
        buf[i] ^= (uint8_t)(k64 >> ((i & 2u) * 8u));
    return;
#endif
#else
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, buf + i, 8);
        w ^= k64;
        memcpy(buf + i, &w, 8);
    }
#endif
    for (; i < len; i++)
        buf[i] ^= key[(offset + i) & 3u];
}

/*
 * The common frame decoded straight through: a whole FIN text or binary frame
 * outside a fragmented message, masked as the role wants, 7- or 16-bit length,
 * within max_message, all of it in the input. Applies the rules of the general
 * path and leaves the decoder in a state the general path treats alike (see
 * below); anything else (errors included) returns false and goes the general way.
 */
static inline bool decode_whole_frame(mqws_ws_decoder *d, uint8_t *buf, size_t len,
                                      size_t *consumed, mqws_ws_event *ev)
{
    if (len < 2 || d->in_payload || d->in_message || d->hdr_len || d->closed)
        return false;
    uint8_t b0 = buf[0], b1 = buf[1];
    /* FIN, no RSV bit, opcode 1 or 2; the MASK bit set exactly for a server */
    if ((b0 != 0x81u && b0 != 0x82u) || (b1 >> 7) != (d->role == MQWS_ROLE_SERVER ? 1u : 0u))
        return false;
    size_t plen = b1 & 0x7Fu, hl = 2;
    if (plen == 126) {
        if (len < 4)
            return false;
        plen = (size_t)buf[2] << 8 | buf[3];
        hl = 4;
        if (plen < 126) /* non-minimal: the general path reports it */
            return false;
    } else if (plen == 127) {
        return false;
    }
    size_t mhl = hl + ((size_t)(b1 >> 7) << 2);
    if (len < mhl || len - mhl < plen || plen > d->max_message)
        return false;
    uint8_t *payload = buf + mhl;
    if (b1 & 0x80u) {
        mask_bytes(payload, plen, buf + hl, 0);
    }
    uint8_t opcode = b0 & 0x0Fu;
    /*
     * Decoder state: the general path would also store mask, opcode, msg_opcode,
     * masked, mask_offset, control_len and frame_started_, but after a whole FIN
     * frame outside a message nothing in the library reads them before the next
     * header's start_payload sets them again (a continuation frame is refused first),
     * and message_len and remaining are 0 already (they are whenever no message or
     * frame is open). Skipping those stores is 10-15% of a 64-byte frame's time.
     * fin is stored: callers read it with remaining to describe the frame (a FIN
     * frame with nothing left), e.g. a wire trace.
     */
    d->fin = true;
    d->frame_start = d->offset;
    ev->type = MQWS_WS_EV_DATA;
    ev->opcode = (mqws_ws_opcode)opcode;
    ev->data = payload;
    ev->len = plen;
    ev->message_start = true;
    ev->frame_end = true;
    ev->message_end = true;
    ev->close_code = 0;
    ev->close_reason.ptr = NULL;
    ev->close_reason.len = 0;
    ev->frame_offset = d->offset;
    d->offset += mhl + plen;
    *consumed = mhl + plen;
    return true;
}

#if defined(__GNUC__)
#define MQWS_INTERNAL_WS __attribute__((visibility("hidden")))
#else
#define MQWS_INTERNAL_WS
#endif

/* mqws_ws_decode without the fast path (same contract): for tests that compare them. */
MQWS_INTERNAL_WS mqws_err mqws_ws_decode_general(mqws_ws_decoder *d, uint8_t *buf, size_t len,
                                                 size_t *consumed, mqws_ws_event *ev);

#endif /* MQWS_WS_INTERNAL_H */
