/*
 * test_vectors_ws.c - ws/frames.json through mqws_ws_decoder.
 *
 * Each vector is decoded whole, at every 2-way split and byte by byte; every chunk
 * is a fresh mutable copy placed right before a guard page (the decoder unmasks in
 * place). DATA chunks are concatenated into one entry per frame (vectors/README.md)
 * and the event list, error, close code and "incomplete" must match in every run.
 * Valid frames are also re-encoded with mqws_ws_encode_frame (same mask key) and
 * must give the input bytes back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqws/mqws.h"
#include "events.h"
#include "vectors.h"

#define MAX_EVENTS 256

typedef struct ws_ctx {
    const vec_case *vc;
    const uint8_t *in;
    size_t len;
    mqws_role role;
    uint64_t max_message;
    guard_buf g;
} ws_ctx;

/* DATA chunks go into one entry per frame; the entry stays open until frame_end. */
static void on_event(ws_ctx *c, const tu_plan *plan, vec_events *r, const mqws_ws_event *ev)
{
    if (ev->type == MQWS_WS_EV_DATA) {
        vec_event *e = vec_events_open(r);
        if (!e) {
            e = vec_events_add(c->vc, plan, r, "data");
            e->open = true;
            e->opcode = ev->opcode;
            e->message_start = ev->message_start;
        }
        if (ev->len)
            tu_bytes_append(&e->data, ev->data, ev->len);
        if (ev->frame_end) {
            e->open = false;
            e->fin = ev->message_end;
        }
        return;
    }
    const char *t = ev->opcode == MQWS_WS_PING   ? "ping"
                    : ev->opcode == MQWS_WS_PONG  ? "pong"
                    : ev->opcode == MQWS_WS_CLOSE ? "close"
                                                  : "control?";
    vec_event *e = vec_events_add(c->vc, plan, r, t);
    e->opcode = ev->opcode;
    if (ev->opcode == MQWS_WS_CLOSE) {
        e->close_code = ev->close_code;
        tu_bytes_append(&e->data, ev->close_reason.ptr, ev->close_reason.len);
    } else if (ev->len) {
        tu_bytes_append(&e->data, ev->data, ev->len);
    }
}

/* Returns whether the input ended inside a frame. */
static bool decode_plan(ws_ctx *c, const tu_plan *plan, vec_events *out)
{
    mqws_ws_decoder d;
    mqws_ws_decoder_init(&d, c->role, c->max_message);
    size_t start = 0;
    for (size_t i = 0; i < plan->n && out->err == MQWS_OK; i++) {
        size_t n = plan->ends[i] - start;
        uint8_t *p = guard_put(&c->g, c->in + start, n);
        start = plan->ends[i];
        while (n > 0) {
            size_t used = (size_t)-1;
            mqws_ws_event ev;
            memset(&ev, 0, sizeof ev);
            mqws_err r = mqws_ws_decode(&d, p, n, &used, &ev);
            if (!vec_events_step(c->vc, plan, out, r, used, &p, &n))
                break;
            if (used == 0 && ev.type == MQWS_WS_EV_DATA && ev.len == 0 && !ev.frame_end)
                VFAIL(c->vc, "%s: empty DATA event consuming nothing (no progress)", plan->desc);
            on_event(c, plan, out, &ev);
        }
    }
    return vec_events_open(out) || d.in_payload || d.hdr_len > 0;
}

static const char *opcode_name(int op)
{
    return op == MQWS_WS_TEXT ? "text" : op == MQWS_WS_BINARY ? "binary" : "?";
}

/* A data frame's opcode, message_start and (once the frame ended) fin. */
static void check_data(const vec_case *vc, const tu_plan *plan, size_t i, const json_t *w,
                       const vec_event *e)
{
    if (strcmp(e->type, "data") != 0)
        return;
    const char *op = vec_str(w, "opcode", NULL);
    if (op && strcmp(op, opcode_name(e->opcode)) != 0)
        VFAIL(vc, "%s: event %zu: opcode expected %s, got %s (%d)", plan->desc, i, op,
              opcode_name(e->opcode), e->opcode);
    if (vec_has(w, "message_start") && e->message_start != vec_bool(w, "message_start", false))
        VFAIL(vc, "%s: event %zu: message_start expected %d, got %d", plan->desc, i,
              vec_bool(w, "message_start", false), e->message_start);
    if (vec_has(w, "fin") && !e->open && e->fin != vec_bool(w, "fin", false))
        VFAIL(vc, "%s: event %zu: fin expected %d, got %d", plan->desc, i,
              vec_bool(w, "fin", false), e->fin);
}

static void run_plan(void *vctx, const tu_plan *plan)
{
    ws_ctx *c = vctx;
    vec_events run;
    vec_events_init(&run, MAX_EVENTS);
    bool mid_frame = decode_plan(c, plan, &run);
    vec_events_compare(c->vc, plan, &run, check_data);
    if (run.err == MQWS_OK) {
        bool want_inc = vec_bool(c->vc->expect, "incomplete", false);
        if (want_inc != mid_frame)
            VFAIL(c->vc, "%s: incomplete: expected %d, decoder is %s", plan->desc, want_inc,
                  mid_frame ? "inside a frame" : "at a frame boundary");
    }
    vec_events_free(&run);
}

/*
 * Walks the frames of the input by hand (RFC 6455 5.2). Returns true when the
 * input ends exactly at a frame boundary; each complete frame is re-encoded
 * with mqws_ws_encode_frame when its length is in the minimal form.
 */
static bool reencode_frames(const vec_case *vc, const uint8_t *in, size_t len, bool encode)
{
    size_t at = 0;
    while (at < len) {
        if (len - at < 2)
            return false;
        const uint8_t *f = in + at;
        bool fin = f[0] & 0x80;
        int opcode = f[0] & 0x0F;
        bool masked = f[1] & 0x80;
        uint64_t plen = f[1] & 0x7F;
        size_t hl = 2;
        bool minimal = true;
        if (plen == 126) {
            if (len - at < 4)
                return false;
            plen = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
            minimal = plen >= 126;
        } else if (plen == 127) {
            if (len - at < 10)
                return false;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | f[2 + i];
            hl = 10;
            minimal = plen > 0xFFFF;
        }
        const uint8_t *mask = NULL;
        if (masked) {
            if (len - at < hl + 4)
                return false;
            mask = f + hl;
            hl += 4;
        }
        if (plen > len - at - hl)
            return false;
        size_t flen = hl + (size_t)plen;
        if (encode && minimal && (f[0] & 0x70) == 0) {
            uint8_t *payload = tu_malloc((size_t)plen + 1);
            for (size_t i = 0; i < plen; i++)
                payload[i] = f[hl + i] ^ (mask ? mask[i % 4] : 0);
            uint8_t *out = tu_malloc(flen + 1);
            size_t written = 0;
            mqws_err r = mqws_ws_encode_frame(out, flen, &written, (mqws_ws_opcode)opcode, fin,
                                              payload, (size_t)plen, mask);
            if (r != MQWS_OK || written != flen || memcmp(out, f, flen) != 0) {
                char *want = vec_tohex(f, flen > 64 ? 64 : flen);
                char *got = vec_tohex(out, written > 64 || r ? (r ? 0 : 64) : written);
                VFAIL(vc, "re-encoding the frame at offset %zu: %s, %zu bytes (want %zu)\n"
                          "  want %s\n  got  %s",
                      at, mqws_err_name(r), written, flen, want, got);
            }
            tu_free(out);
            tu_free(payload);
        }
        at += flen;
    }
    return true;
}

static void test_frames(const vec_case *vc)
{
    ws_ctx c;
    memset(&c, 0, sizeof c);
    c.vc = vc;
    c.in = vec_input(vc, &c.len);
    const char *role = vec_str(vc->params, "role", "server");
    if (strcmp(role, "server") != 0 && strcmp(role, "client") != 0)
        VFAIL(vc, "bad role %s", role);
    c.role = strcmp(role, "client") == 0 ? MQWS_ROLE_CLIENT : MQWS_ROLE_SERVER;
    c.max_message = (uint64_t)vec_int(vc->params, "max_message", 0);
    tu_for_each_split(c.len, run_plan, &c);

    if (!vec_has(vc->expect, "error")) {
        /* The vector's own consistency: "incomplete" iff the input ends inside a frame. */
        bool boundary = reencode_frames(vc, c.in, c.len, false);
        if (boundary == vec_bool(vc->expect, "incomplete", false))
            VFAIL(vc, "vector: \"incomplete\" is %d but the input %s at a frame boundary",
                  vec_bool(vc->expect, "incomplete", false), boundary ? "ends" : "does not end");
        if (boundary)
            reencode_frames(vc, c.in, c.len, true);
    }
    guard_free(&c.g);
    tu_free((void *)(uintptr_t)c.in);
}

int main(void)
{
    static const char *const files[] = {"ws/frames.json"};
    return vec_run("ws frame vectors", files, 1, test_frames, NULL, 0);
}
