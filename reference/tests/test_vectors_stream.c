/*
 * test_vectors_stream.c - stream/reassembly.json through mqws_stream_feed
 * (transport "ws") or mqws_assembler_feed (transport "tcp").
 *
 * The concatenated chunks are fed as given (chunk by chunk), whole, at every
 * 2-way split and byte by byte; all runs must give the expected events and
 * error. Each chunk is a fresh copy right before a guard page. Input lifetime
 * (stream.h): a chunk is only replaced after a call returned MQWS_NEED_MORE, so
 * after an event the same chunk is fed again (possibly with 0 bytes left).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqws/mqws.h"
#include "vectors.h"

#define MAX_EVENTS 512
/* Calls per chunk without progress before the harness calls it a livelock. */
#define MAX_IDLE_CALLS 100000

typedef struct st_ev {
    const char *type; /* packet, ping, pong, close */
    tu_bytes data;
    uint16_t close_code;
} st_ev;

typedef struct st_run {
    st_ev ev[MAX_EVENTS];
    size_t n;
    mqws_err err;
} st_run;

typedef struct st_ctx {
    const vec_case *vc;
    uint8_t *in;
    size_t len;
    bool tcp;
    mqws_role role;
    size_t max_packet;
    uint64_t max_message;
    guard_buf g;
} st_ctx;

static void add_ev(const st_ctx *c, st_run *r, const char *type, const uint8_t *p, size_t n,
                   uint16_t code)
{
    if (r->n == MAX_EVENTS)
        VFAIL(c->vc, "more than %d events", MAX_EVENTS);
    st_ev *e = &r->ev[r->n++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->close_code = code;
    tu_bytes_append(&e->data, p, n);
}

static void feed_plan(st_ctx *c, const tu_plan *plan, st_run *out)
{
    uint8_t *pbuf = tu_malloc(c->max_packet ? c->max_packet : 1);
    mqws_stream s;
    mqws_assembler a;
    memset(&s, 0, sizeof s);
    memset(&a, 0, sizeof a);
    if (c->tcp)
        mqws_assembler_init(&a, pbuf, c->max_packet);
    else
        mqws_stream_init(&s, c->role, pbuf, c->max_packet, c->max_message);
    out->err = MQWS_OK;

    size_t start = 0;
    for (size_t i = 0; i < plan->n && out->err == MQWS_OK; i++) {
        size_t n = plan->ends[i] - start;
        uint8_t *p = guard_put(&c->g, c->in + start, n);
        start = plan->ends[i];
        unsigned idle = 0;
        for (;;) {
            size_t used = (size_t)-1;
            mqws_err r;
            if (c->tcp) {
                mqws_bytes pkt = {0};
                r = mqws_assembler_feed(&a, p, n, &used, &pkt);
                if (r == MQWS_OK)
                    add_ev(c, out, "packet", pkt.ptr, pkt.len, 0);
            } else {
                mqws_stream_event ev;
                memset(&ev, 0, sizeof ev);
                r = mqws_stream_feed(&s, p, n, &used, &ev);
                if (r == MQWS_OK) {
                    const char *t = ev.type == MQWS_STREAM_PACKET ? "packet"
                                    : ev.type == MQWS_STREAM_PING ? "ping"
                                    : ev.type == MQWS_STREAM_PONG ? "pong"
                                    : ev.type == MQWS_STREAM_CLOSE ? "close"
                                                                   : "?";
                    add_ev(c, out, t, ev.data.ptr, ev.data.len, ev.close_code);
                }
            }
            if (used > n)
                VFAIL(c->vc, "%s: consumed %zu of %zu bytes", plan->desc, used, n);
            p += used;
            n -= used;
            if (r == MQWS_NEED_MORE) {
                if (n != 0)
                    VFAIL(c->vc, "%s: NEED_MORE with %zu bytes left", plan->desc, n);
                break;
            }
            if (r != MQWS_OK) {
                out->err = r;
                break;
            }
            if (used == 0 && ++idle > MAX_IDLE_CALLS)
                VFAIL(c->vc, "%s: %d calls returned events without consuming input",
                      plan->desc, MAX_IDLE_CALLS);
        }
    }
    tu_free(pbuf);
}

static void compare(const st_ctx *c, const tu_plan *plan, const st_run *run)
{
    const vec_case *vc = c->vc;
    const json_t *events = json_object_get(vc->expect, "events");
    size_t want_n = json_is_array(events) ? json_array_size(events) : 0;
    for (size_t i = 0; i < want_n && i < run->n; i++) {
        const json_t *w = json_array_get(events, i);
        const st_ev *e = &run->ev[i];
        const char *wt = vec_str(w, "type", "?");
        if (strcmp(wt, e->type) != 0)
            VFAIL(vc, "%s: event %zu: expected %s, got %s", plan->desc, i, wt, e->type);
        if (strcmp(wt, "close") == 0) {
            if (vec_has(w, "close_code") && e->close_code != vec_int(w, "close_code", 0))
                VFAIL(vc, "%s: event %zu: close_code expected %lld, got %u", plan->desc, i,
                      vec_int(w, "close_code", 0), e->close_code);
            continue;
        }
        const char *hex = vec_str(w, strcmp(wt, "packet") == 0 ? "hex" : "payload", NULL);
        if (!hex)
            continue;
        size_t wl;
        uint8_t *wp = vec_hex(hex, &wl);
        if (!wp)
            VFAIL(vc, "bad hex in event %zu", i);
        if (wl != e->data.len || (wl && memcmp(wp, e->data.p, wl) != 0)) {
            char *got = vec_tohex(e->data.p, e->data.len);
            VFAIL(vc, "%s: event %zu (%s): expected %zu bytes %.300s, got %zu bytes %.300s",
                  plan->desc, i, wt, wl, hex, e->data.len, got);
        }
        tu_free(wp);
    }
    if (want_n != run->n)
        VFAIL(vc, "%s: expected %zu events, got %zu (error %s)", plan->desc, want_n, run->n,
              mqws_err_name(run->err));
    const char *want_err = vec_str(vc->expect, "error", "OK");
    if (strcmp(want_err, mqws_err_name(run->err)) != 0)
        VFAIL(vc, "%s: error: expected %s, got %s", plan->desc, want_err,
              mqws_err_name(run->err));
    if (vec_has(vc->expect, "close_code") &&
        mqws_err_ws_close_code(run->err) != vec_int(vc->expect, "close_code", 0))
        VFAIL(vc, "%s: close_code: expected %lld, mqws_err_ws_close_code(%s) = %u", plan->desc,
              vec_int(vc->expect, "close_code", 0), mqws_err_name(run->err),
              mqws_err_ws_close_code(run->err));
}

static void run_plan(void *vctx, const tu_plan *plan)
{
    st_ctx *c = vctx;
    st_run *run = tu_calloc(1, sizeof *run);
    feed_plan(c, plan, run);
    compare(c, plan, run);
    for (size_t i = 0; i < run->n; i++)
        tu_bytes_free(&run->ev[i].data);
    tu_free(run);
}

static void test_stream(const vec_case *vc)
{
    st_ctx c;
    memset(&c, 0, sizeof c);
    c.vc = vc;
    const char *transport = vec_str(vc->params, "transport", "ws");
    if (strcmp(transport, "ws") != 0 && strcmp(transport, "tcp") != 0)
        VFAIL(vc, "bad transport %s", transport);
    c.tcp = strcmp(transport, "tcp") == 0;
    c.role = strcmp(vec_str(vc->params, "role", "server"), "client") == 0 ? MQWS_ROLE_CLIENT
                                                                          : MQWS_ROLE_SERVER;
    c.max_packet = (size_t)vec_int(vc->params, "max_packet", 65536);
    c.max_message = (uint64_t)vec_int(vc->params, "max_message", 0);

    const json_t *chunks = json_object_get(vc->test, "chunks");
    if (!json_is_array(chunks))
        VFAIL(vc, "no \"chunks\" list");
    size_t nchunks = json_array_size(chunks);
    size_t *lens = tu_calloc(nchunks + 1, sizeof *lens);
    tu_bytes all = {0};
    for (size_t i = 0; i < nchunks; i++) {
        const char *hex = json_string_value(json_array_get(chunks, i));
        size_t n;
        uint8_t *p = hex ? vec_hex(hex, &n) : NULL;
        if (!p)
            VFAIL(vc, "chunk %zu is not hex", i);
        tu_bytes_append(&all, p, n);
        lens[i] = n;
        tu_free(p);
    }
    tu_bytes_append(&all, "", 0);
    c.in = all.p;
    c.len = all.len;

    tu_plan_chunks(lens, nchunks, "as given", run_plan, &c);
    tu_for_each_split(c.len, run_plan, &c);

    guard_free(&c.g);
    tu_free(lens);
    tu_bytes_free(&all);
}

int main(void)
{
    static const char *const files[] = {"stream/reassembly.json"};
    return vec_run("stream vectors", files, 1, test_stream, NULL, 0);
}
