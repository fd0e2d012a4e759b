/*
 * fuzz/fuzz_frame.c - WebSocket frame decoder (RFC 6455 section 5).
 *
 * Input: one prefix byte, then the bytes a peer sends.
 *   prefix bit 0    role: 0 server (receives masked client frames), 1 client
 *   prefix bits 1-7 k: max_message = k * 4 bytes, k = 0: the default limit
 *
 * Invariants (abort on violation):
 *  1. Decoding the input whole and decoding it in up to 5 chunks (2 to 4 split points
 *     drawn from a hash of the input, fz_chunks_make; each chunk in its own exactly
 *     sized heap block) give the same frames, the same trailing partial frame, the
 *     same error, the same error offset and the same number of bytes consumed.
 *  2. Events are well formed: DATA opcode is TEXT/BINARY and payload points into the
 *     caller's chunk; CONTROL is CLOSE/PING/PONG with at most 125 bytes; a close
 *     code is valid or 1005 with an empty payload; a close reason is UTF-8.
 *  3. Every error maps to a close code (mqws_err_ws_close_code) except
 *     STREAM_CLOSED.
 *  4. Re-encoding the complete frames (mqws_ws_encode_frame / _encode_close, masked
 *     with a fresh key in the server role) and decoding them again gives the same
 *     frames and no error; in the client role (no masking) the re-encoded bytes are
 *     the input bytes.
 *  5. mqws_ws_mask equals a byte-at-a-time reference for any key and key offset.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "mqws/error.h"
#include "mqws/ws.h"

typedef struct frame {
    uint8_t wire_opcode; /* CONTINUATION for a data frame that does not start a message */
    bool fin;
    uint16_t close_code;
    size_t payload_at; /* offset of the payload (close: the reason) in the sink's frames_log */
    size_t len;
} frame;

typedef struct sink {
    fz_log frames_log; /* complete frames */
    fz_log tail_log;   /* partial frame + result, written at the end */
    /* current data frame */
    bool in_frame;
    bool cur_start;
    uint8_t cur_opcode;
    fz_log cur;
    /* complete frames, for re-encoding */
    frame *frames;
    size_t nframes, frames_cap;
    uint64_t end_of_last_frame; /* stream offset just after the last complete frame */
} sink;

/* Empties a sink for the next run; sinks are static and keep their buffers across inputs. */
static void sink_clear(sink *s)
{
    fz_log_clear(&s->frames_log);
    fz_log_clear(&s->tail_log);
    fz_log_clear(&s->cur);
    s->in_frame = s->cur_start = false;
    s->cur_opcode = 0;
    s->nframes = 0;
    s->end_of_last_frame = 0;
}

static void add_frame(sink *s, uint8_t wire_opcode, bool fin, uint16_t close_code,
                      const uint8_t *payload, size_t len, uint64_t end_offset)
{
    if (s->nframes == s->frames_cap) {
        s->frames_cap = s->frames_cap ? 2 * s->frames_cap : 16;
        frame *q = realloc(s->frames, s->frames_cap * sizeof *q);
        if (!q)
            abort();
        s->frames = q;
    }
    frame *f = &s->frames[s->nframes++];
    f->wire_opcode = wire_opcode;
    f->fin = fin;
    f->close_code = close_code;
    f->len = len;
    s->end_of_last_frame = end_offset;

    uint8_t rec[4] = {wire_opcode, fin, (uint8_t)(close_code >> 8), (uint8_t)close_code};
    fz_log_put(&s->frames_log, rec, sizeof rec);
    fz_log_u64(&s->frames_log, len);
    f->payload_at = s->frames_log.len; /* the log keeps the payload: no copy per frame */
    fz_log_put(&s->frames_log, payload, len);
}

static void on_event(sink *s, const mqws_ws_event *ev, const uint8_t *chunk, size_t chunk_len,
                     uint64_t end_offset)
{
    if (ev->type == MQWS_WS_EV_DATA) {
        FZ_CHECK(ev->opcode == MQWS_WS_TEXT || ev->opcode == MQWS_WS_BINARY);
        FZ_CHECK(ev->len == 0 || (ev->data >= chunk && ev->data + ev->len <= chunk + chunk_len));
        FZ_CHECK(!ev->message_end || ev->frame_end);
        if (!s->in_frame) {
            s->in_frame = true;
            s->cur_start = ev->message_start;
            s->cur_opcode = (uint8_t)ev->opcode;
            s->cur.len = 0;
        } else {
            FZ_CHECK(!ev->message_start);
            FZ_CHECK(ev->opcode == s->cur_opcode);
        }
        fz_log_put(&s->cur, ev->data, ev->len);
        if (ev->frame_end) {
            add_frame(s, s->cur_start ? s->cur_opcode : (uint8_t)MQWS_WS_CONTINUATION,
                      ev->message_end, 0, s->cur.p, s->cur.len, end_offset);
            s->in_frame = false;
        }
        return;
    }
    FZ_CHECK(ev->type == MQWS_WS_EV_CONTROL);
    FZ_CHECK(!s->in_frame); /* control frames come between frames, never inside one */
    FZ_CHECK(ev->len <= MQWS_WS_MAX_CONTROL_PAYLOAD);
    if (ev->opcode == MQWS_WS_CLOSE) {
        if (ev->close_code == 1005) {
            FZ_CHECK(ev->len == 0 && ev->close_reason.len == 0);
        } else {
            FZ_CHECK(mqws_ws_close_code_valid(ev->close_code));
        }
        FZ_CHECK(ev->close_reason.len <= 123);
        FZ_CHECK(mqws_utf8_validate((const uint8_t *)ev->close_reason.ptr, ev->close_reason.len,
                                    true, NULL) == MQWS_OK);
        add_frame(s, MQWS_WS_CLOSE, true, ev->close_code, (const uint8_t *)ev->close_reason.ptr,
                  ev->close_reason.len, end_offset);
    } else {
        FZ_CHECK(ev->opcode == MQWS_WS_PING || ev->opcode == MQWS_WS_PONG);
        add_frame(s, (uint8_t)ev->opcode, true, 0, ev->data, ev->len, end_offset);
    }
}

/*
 * Decodes buf[0..len) in chunks (rng NULL: one chunk), logging into s.
 * Returns the error, or MQWS_NEED_MORE when the input ended without one.
 */
static mqws_err run_decoder(mqws_role role, uint64_t max_message, const uint8_t *buf, size_t len,
                            uint64_t *rng, sink *s)
{
    static fz_arena arena; /* chunk copies: kept across inputs */
    mqws_ws_decoder d;
    mqws_ws_decoder_init(&d, role, max_message);
    mqws_err result = MQWS_NEED_MORE;
    uint64_t total = 0;
    size_t events = 0;
    fz_chunks chunks;
    fz_chunks_make(&chunks, rng, len);
    fz_arena_begin(&arena, len, chunks.n);
    for (size_t c = 0; c < chunks.n && len && result == MQWS_NEED_MORE; c++) {
        size_t pos = chunks.at[c], n = chunks.at[c + 1] - pos;
        uint8_t *chunk = fz_arena_copy(&arena, buf + pos, n);
        size_t off = 0;
        while (off < n) {
            size_t used = (size_t)-1;
            mqws_ws_event ev;
            memset(&ev, 0, sizeof ev);
            mqws_err r = mqws_ws_decode(&d, chunk + off, n - off, &used, &ev);
            if (!fz_step(r, used, n, &off, &total, &result)) {
                if (result != MQWS_NEED_MORE) {
                    FZ_CHECK(r == MQWS_ERR_STREAM_CLOSED || mqws_err_ws_close_code(r) != 0);
                    FZ_CHECK(d.err_offset <= len);
                }
                break;
            }
            FZ_CHECK(++events <= 2 * len + 16); /* no event without progress, forever */
            on_event(s, &ev, chunk, n, total);
        }
        fz_arena_release(chunk, n);
    }
    /* a data frame still open at the end of the input */
    uint8_t open = s->in_frame;
    fz_log_put(&s->tail_log, &open, 1);
    if (open) {
        uint8_t rec[2] = {s->cur_start, s->cur_opcode};
        fz_log_put(&s->tail_log, rec, sizeof rec);
        fz_log_blob(&s->tail_log, s->cur.p, s->cur.len);
    }
    fz_log_u64(&s->tail_log, (uint64_t)result);
    fz_log_u64(&s->tail_log, total);
    fz_log_u64(&s->tail_log, result == MQWS_NEED_MORE ? 0 : d.err_offset);
    return result;
}

/* A masking key from the low 32 bits of the next random number, which is returned. */
static uint64_t rand_key(uint64_t *rng, uint8_t key[4])
{
    uint64_t r = fz_rand(rng);
    for (int i = 0; i < 4; i++)
        key[i] = (uint8_t)(r >> (8 * i));
    return r;
}

static void check_mask(const uint8_t *data, size_t len, uint64_t *rng)
{
    uint8_t key[4];
    uint64_t r = rand_key(rng, key);
    uint64_t offset = (r >> 32) & 0xff;
    if (r & (1ull << 31))
        offset += 0xfffffff0ull; /* far into a large frame */
    static fz_arena arena;
    fz_arena_begin(&arena, len, 1);
    uint8_t *a = fz_arena_copy(&arena, data, len);
    mqws_ws_mask(a, len, key, offset);
    for (size_t i = 0; i < len; i++)
        FZ_CHECK(a[i] == (data[i] ^ key[(offset + i) & 3]));
    fz_arena_release(a, len);
}

static void check_reencode(const sink *orig, mqws_role role, uint64_t max_message,
                           const uint8_t *input, uint64_t *rng)
{
    uint8_t key[4];
    rand_key(rng, key);
    const uint8_t *mask = role == MQWS_ROLE_SERVER ? key : NULL;

    size_t need = 0;
    for (size_t i = 0; i < orig->nframes; i++)
        need += MQWS_WS_MAX_HEADER + 2 + orig->frames[i].len;
    /* the output and each one-byte-short buffer: exactly sized slices of one arena */
    static fz_arena arena;
    fz_arena_begin(&arena, 2 * need, orig->nframes + 1);
    uint8_t *out = fz_arena_copy(&arena, NULL, need);
    size_t len = 0;
    for (size_t i = 0; i < orig->nframes; i++) {
        const frame *f = &orig->frames[i];
        const uint8_t *payload = orig->frames_log.p + f->payload_at;
        size_t w = 0;
        mqws_err e;
        if (f->wire_opcode == MQWS_WS_CLOSE) {
            e = mqws_ws_encode_close(out + len, need - len, &w,
                                     f->close_code == 1005 ? 0 : f->close_code,
                                     (const char *)payload, f->len, mask);
            FZ_CHECK(e == MQWS_OK);
            FZ_CHECK(w == mqws_ws_header_size(f->close_code == 1005 ? 0 : 2 + f->len, mask != NULL) +
                              (f->close_code == 1005 ? 0 : 2 + f->len));
        } else {
            e = mqws_ws_encode_frame(out + len, need - len, &w, (mqws_ws_opcode)f->wire_opcode,
                                     f->fin, payload, f->len, mask);
            FZ_CHECK(e == MQWS_OK);
            FZ_CHECK(w == mqws_ws_header_size(f->len, mask != NULL) + f->len);
            /* one byte short must be refused with the size needed */
            size_t w2 = 0;
            uint8_t *small = fz_arena_copy(&arena, NULL, w - 1);
            e = mqws_ws_encode_frame(small, w - 1, &w2, (mqws_ws_opcode)f->wire_opcode, f->fin,
                                     payload, f->len, mask);
            FZ_CHECK(e == MQWS_ERR_BUFFER_TOO_SMALL && w2 == w);
            fz_arena_release(small, w - 1);
        }
        len += w;
    }
    if (role == MQWS_ROLE_CLIENT) {
        FZ_CHECK(len == orig->end_of_last_frame);
        FZ_CHECK(len == 0 || memcmp(out, input, len) == 0);
    }

    static sink again;
    sink_clear(&again);
    mqws_err res = run_decoder(role, max_message, out, len, NULL, &again);
    FZ_CHECK(res == MQWS_NEED_MORE);
    FZ_CHECK(fz_log_eq(&again.frames_log, &orig->frames_log));
    fz_arena_release(out, need);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mqws_role role = (data[0] & 1) ? MQWS_ROLE_CLIENT : MQWS_ROLE_SERVER;
    uint64_t max_message = (uint64_t)(data[0] >> 1) * 4u;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    uint64_t rng = fz_hash(data, size);

    static sink whole, chunked;
    sink_clear(&whole);
    sink_clear(&chunked);
    mqws_err r1 = run_decoder(role, max_message, in, len, NULL, &whole);
    mqws_err r2 = run_decoder(role, max_message, in, len, &rng, &chunked);
    if (r1 != r2 || !fz_log_eq(&whole.frames_log, &chunked.frames_log) ||
        !fz_log_eq(&whole.tail_log, &chunked.tail_log)) {
        fprintf(stderr, "whole: %s, chunked: %s\n", mqws_err_name(r1), mqws_err_name(r2));
        fz_log_dump_pair("frames", &whole.frames_log, &chunked.frames_log);
        fz_log_dump_pair("tail (open frame; result, consumed, err_offset as u64)", &whole.tail_log,
                         &chunked.tail_log);
    }
    FZ_CHECK(r1 == r2);
    FZ_CHECK(fz_log_eq(&whole.frames_log, &chunked.frames_log));
    FZ_CHECK(fz_log_eq(&whole.tail_log, &chunked.tail_log));

    check_reencode(&whole, role, max_message, in, &rng);
    check_mask(in, len, &rng);

    return 0;
}
