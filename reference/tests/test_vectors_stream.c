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
#include "events.h"
#include "transport.h"
#include "vectors.h"

#define MAX_EVENTS 512
/* Calls per chunk without progress before the harness calls it a livelock. */
#define MAX_IDLE_CALLS 100000

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

static const char *event_name(mqws_stream_event_type t)
{
    return t == MQWS_STREAM_PACKET ? "packet"
           : t == MQWS_STREAM_PING ? "ping"
           : t == MQWS_STREAM_PONG ? "pong"
           : t == MQWS_STREAM_CLOSE ? "close"
                                    : "?";
}

static void add_event(st_ctx *c, const tu_plan *plan, vec_events *out, const mqws_stream_event *ev)
{
    vec_event *e = vec_events_add(c->vc, plan, out, event_name(ev->type));
    e->close_code = ev->close_code;
    if (ev->type == MQWS_STREAM_CLOSE)
        tu_bytes_append(&e->data, ev->close_reason.ptr, ev->close_reason.len);
    else
        tu_bytes_append(&e->data, ev->data.ptr, ev->data.len);
}

static void feed_plan(st_ctx *c, const tu_plan *plan, vec_events *out)
{
    uint8_t *pbuf = tu_malloc(c->max_packet ? c->max_packet : 1);
    tu_transport t;
    tu_transport_init(&t, c->tcp, c->role, pbuf, c->max_packet, c->max_message);

    size_t start = 0;
    for (size_t i = 0; i < plan->n && out->err == MQWS_OK; i++) {
        size_t n = plan->ends[i] - start;
        uint8_t *p = guard_put(&c->g, c->in + start, n);
        start = plan->ends[i];
        unsigned idle = 0;
        for (;;) {
            size_t used = (size_t)-1;
            mqws_stream_event ev;
            mqws_err r = tu_transport_feed(&t, p, n, &used, &ev);
            if (!vec_events_step(c->vc, plan, out, r, used, &p, &n))
                break;
            add_event(c, plan, out, &ev);
            if (used == 0 && ++idle > MAX_IDLE_CALLS)
                VFAIL(c->vc, "%s: %d calls returned events without consuming input",
                      plan->desc, MAX_IDLE_CALLS);
        }
    }
    tu_free(pbuf);
}

static void run_plan(void *vctx, const tu_plan *plan)
{
    st_ctx *c = vctx;
    vec_events run;
    vec_events_init(&run, MAX_EVENTS);
    feed_plan(c, plan, &run);
    vec_events_compare(c->vc, plan, &run, NULL);
    vec_events_free(&run);
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
