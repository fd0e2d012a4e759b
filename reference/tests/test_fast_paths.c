/*
 * test_fast_paths.c - the decoders' fast paths against their general paths.
 *
 * mqws_mqtt_decode (PUBLISH fast path), mqws_ws_decode (whole-frame fast path)
 * and mqws_stream_feed (whole frame + whole packet) each take a shortcut for the
 * common input and fall back to the general code for everything else. These
 * tests feed many generated inputs, valid and broken near every rule the
 * shortcuts apply, through both and require identical results: return code,
 * consumed bytes, error offset, every output field and the decoder state that
 * decides what comes next.
 * Deterministic (fixed seed); each input sits in a heap block of exactly its
 * size, so ASan catches a read past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mqtt_internal.h"
#include "mqws/stream.h"
#include "ws_internal.h"

static uint64_t g_rng;

static uint32_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(z ^ (z >> 31));
}

static uint32_t below(uint32_t n) { return rnd() % n; }

/* ---------------------------------------------------------------- PUBLISH */

/* A topic byte: mostly plain, sometimes one that a Topic Name rule looks at. */
static uint8_t topic_byte(void)
{
    static const uint8_t special[] = {'+', '#', 0x00, 0x80, 0xC3, 0xA9, 0xFF, 0xED, '/', '$'};
    if (below(40) == 0)
        return special[below(sizeof special)];
    return (uint8_t)("abcdefghijklmnopqrstuvwxyz0123456789/_-"[below(39)]);
}

/* A PUBLISH-like packet near the fast path's edges; returns its length. */
static size_t gen_publish(uint8_t *b, size_t cap, int version)
{
    uint8_t body[400];
    size_t n = 0;
    size_t tl = below(8) == 0 ? below(300) : below(70);
    size_t tl_wire = below(30) == 0 ? (size_t)below(400) : tl; /* lies about its length */
    body[n++] = (uint8_t)(tl_wire >> 8);
    body[n++] = (uint8_t)tl_wire;
    for (size_t i = 0; i < tl && n < 300; i++)
        body[n++] = topic_byte();
    if (below(6) == 0 && tl >= 2) { /* a valid two-byte UTF-8 character */
        body[2 + tl - 2] = 0xC3;
        body[2 + tl - 1] = 0xA9;
    }
    uint8_t flags = below(4) == 0 ? (uint8_t)below(16) : (uint8_t)(0x02 | (rnd() & 1));
    if (flags & 0x06u) { /* packet id, sometimes 0 */
        uint16_t id = below(20) == 0 ? 0 : (uint16_t)(1 + below(65535));
        body[n++] = (uint8_t)(id >> 8);
        body[n++] = (uint8_t)id;
    }
    if (version == MQWS_MQTT_V5) { /* Property Length: mostly empty */
        if (below(5) == 0) {
            body[n++] = 3;
            body[n++] = MQWS_PROP_TOPIC_ALIAS;
            body[n++] = 0;
            body[n++] = (uint8_t)(1 + below(9));
        } else {
            body[n++] = below(30) == 0 ? 0x80 : 0;
        }
    }
    size_t pl = below(4) == 0 ? below(200) : below(70);
    for (size_t i = 0; i < pl && n < sizeof body; i++)
        body[n++] = (uint8_t)rnd();
    if (below(20) == 0 && n > 0) /* cut short */
        n -= below((uint32_t)n);

    size_t pos = 0;
    b[pos++] = below(50) == 0 ? (uint8_t)rnd() : (uint8_t)(0x30 | flags);
    size_t rem = n;
    if (below(25) == 0) { /* non-minimal or oversized Remaining Length */
        b[pos++] = (uint8_t)(0x80 | (rem & 0x7F));
        b[pos++] = below(2) ? 0 : (uint8_t)(rem >> 7 | 0x80);
        if (b[pos - 1] & 0x80)
            b[pos++] = 0;
    } else if (rem < 128) {
        b[pos++] = (uint8_t)rem;
    } else {
        b[pos++] = (uint8_t)(0x80 | (rem & 0x7F));
        b[pos++] = (uint8_t)(rem >> 7);
    }
    assert_true(pos + n + 8 <= cap);
    memcpy(b + pos, body, n);
    pos += n;
    if (below(10) == 0) { /* bytes after the packet, or a packet cut off */
        size_t extra = below(8);
        for (size_t i = 0; i < extra; i++)
            b[pos++] = (uint8_t)rnd();
    } else if (below(15) == 0 && pos > 0) {
        pos -= 1 + below((uint32_t)pos);
    }
    return pos;
}

/* Every field a decoded PUBLISH defines (mqws_packet: the common fields and the
 * publish member; the other union members are unspecified for a PUBLISH). */
static void assert_same_publish(const mqws_packet *a, const mqws_packet *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->packet_id, b->packet_id);
    assert_int_equal(a->reason_code, b->reason_code);
    assert_int_equal(a->session_present, b->session_present);
    assert_ptr_equal(a->props.raw, b->props.raw);
    assert_int_equal(a->props.raw_len, b->props.raw_len);
    assert_int_equal(a->props.present, b->props.present);
    assert_int_equal(a->props.count, b->props.count);
    assert_ptr_equal(a->publish.topic.ptr, b->publish.topic.ptr);
    assert_int_equal(a->publish.topic.len, b->publish.topic.len);
    assert_int_equal(a->publish.qos, b->publish.qos);
    assert_int_equal(a->publish.dup, b->publish.dup);
    assert_int_equal(a->publish.retain, b->publish.retain);
    assert_ptr_equal(a->publish.payload.ptr, b->publish.payload.ptr);
    assert_int_equal(a->publish.payload.len, b->publish.payload.len);
}

static void test_publish_fast_vs_general(void **state)
{
    (void)state;
    g_rng = 14;
    uint8_t tmp[1024];
    unsigned ok = 0;
    for (int iter = 0; iter < 200000; iter++) {
        int version = below(2) ? MQWS_MQTT_V311 : MQWS_MQTT_V5;
        if (below(100) == 0)
            version = (int)below(7);
        size_t len = gen_publish(tmp, sizeof tmp, version);
        uint8_t *in = malloc(len ? len : 1);
        assert_non_null(in);
        memcpy(in, tmp, len);
        mqws_mqtt_limits lim = {below(10) == 0 ? (uint32_t)below(300) : 0};
        const mqws_mqtt_limits *limp = below(2) ? &lim : NULL;
        mqws_packet a, b;
        memset(&a, 0xA5, sizeof a);
        memset(&b, 0x5A, sizeof b);
        size_t ca = 7, cb = 7, ea = 9, eb = 9;
        mqws_err ra = mqws_mqtt_decode(in, len, (mqws_mqtt_version)version, limp, &a, &ca, &ea);
        mqws_err rb =
            mqws_mqtt_decode_general(in, len, (mqws_mqtt_version)version, limp, &b, &cb, &eb);
        assert_int_equal(ra, rb);
        assert_int_equal(ca, cb);
        assert_int_equal(ea, eb);
        if (ra == MQWS_OK) {
            ok++;
            if (a.type == MQWS_PUBLISH)
                assert_same_publish(&a, &b);
            else /* both from the general decoder, which zeroes the whole packet */
                assert_memory_equal(&a, &b, sizeof a);
        }
        free(in);
    }
    assert_true(ok > 50000); /* the generator mostly makes valid packets */
}

/* ---------------------------------------------------------------- frames */

/* Appends one frame (or something near one) to w; returns its size. */
static size_t gen_frame(uint8_t *w, bool masked)
{
    static const uint8_t b0s[] = {0x82, 0x82, 0x82, 0x81, 0x02, 0x80, 0x00, 0x89, 0x8A,
                                  0x88, 0xC2, 0x83, 0x92, 0x82, 0x81, 0x09};
    size_t n = 0;
    w[n++] = below(8) ? (uint8_t)(0x81 + below(2)) : b0s[below(sizeof b0s)];
    size_t plen = below(4) == 0 ? below(400) : below(130);
    if ((w[0] & 0x08u) && plen > 125 && below(4))
        plen = below(126);
    bool m = below(40) == 0 ? !masked : masked;
    if (plen < 126 && below(30)) {
        w[n++] = (uint8_t)((m ? 0x80 : 0) | plen);
    } else if (plen <= 0xFFFF && below(20)) {
        w[n++] = (uint8_t)((m ? 0x80 : 0) | 126);
        w[n++] = (uint8_t)(plen >> 8);
        w[n++] = (uint8_t)plen;
    } else {
        w[n++] = (uint8_t)((m ? 0x80 : 0) | 127);
        for (int sh = 56; sh >= 0; sh -= 8)
            w[n++] = (uint8_t)((uint64_t)plen >> sh);
    }
    if (m)
        for (int i = 0; i < 4; i++)
            w[n++] = (uint8_t)rnd();
    if (w[0] == 0x88 && plen >= 2) { /* a close code, valid or not */
        uint16_t code = below(2) ? 1000 : (uint16_t)below(5000);
        w[n++] = (uint8_t)(code >> 8);
        w[n++] = (uint8_t)code;
        plen -= 2;
    }
    for (size_t i = 0; i < plen; i++)
        w[n++] = (uint8_t)rnd();
    return n;
}

static void same_ws_event(const mqws_ws_event *a, const mqws_ws_event *b, const uint8_t *ba,
                          const uint8_t *bb, const mqws_ws_decoder *da, const mqws_ws_decoder *db)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->opcode, b->opcode);
    assert_int_equal(a->len, b->len);
    if (a->type == MQWS_WS_EV_DATA) /* same place in each copy of the input */
        assert_int_equal(a->data - ba, b->data - bb);
    else
        assert_true(a->data == da->control && b->data == db->control);
    if (a->len)
        assert_memory_equal(a->data, b->data, a->len);
    assert_int_equal(a->message_start, b->message_start);
    assert_int_equal(a->frame_end, b->frame_end);
    assert_int_equal(a->message_end, b->message_end);
    assert_int_equal(a->close_code, b->close_code);
    assert_int_equal(a->close_reason.len, b->close_reason.len);
    if (a->close_reason.len)
        assert_memory_equal(a->close_reason.ptr, b->close_reason.ptr, a->close_reason.len);
    assert_int_equal(a->frame_offset, b->frame_offset);
}

/*
 * The decoder state that decides what happens next. Fields the next frame header
 * sets before reading them (mask, opcode, remaining, ...) only count while a
 * frame's payload is being delivered, and msg_opcode while a message is open or
 * a data frame's payload is.
 */
static void same_decoder_state(const mqws_ws_decoder *a, const mqws_ws_decoder *b)
{
    assert_int_equal(a->role, b->role);
    assert_int_equal(a->max_message, b->max_message);
    assert_int_equal(a->hdr_len, b->hdr_len);
    assert_memory_equal(a->hdr, b->hdr, a->hdr_len);
    if (a->hdr_len)
        assert_int_equal(a->hdr_need, b->hdr_need);
    assert_int_equal(a->in_payload, b->in_payload);
    assert_int_equal(a->in_message, b->in_message);
    assert_int_equal(a->closed, b->closed);
    assert_int_equal(a->message_len, b->message_len);
    assert_int_equal(a->frame_start, b->frame_start);
    assert_int_equal(a->offset, b->offset);
    assert_int_equal(a->err_offset, b->err_offset);
    if (a->in_message)
        assert_int_equal(a->msg_opcode, b->msg_opcode);
    if (a->in_payload) {
        assert_int_equal(a->opcode, b->opcode);
        if (!(a->opcode & 0x08u)) /* a data frame's events carry the message's opcode */
            assert_int_equal(a->msg_opcode, b->msg_opcode);
        assert_int_equal(a->fin, b->fin);
        assert_int_equal(a->masked, b->masked);
        assert_memory_equal(a->mask, b->mask, 4);
        assert_int_equal(a->remaining, b->remaining);
        assert_int_equal(a->mask_offset, b->mask_offset);
        assert_int_equal(a->frame_started_, b->frame_started_);
        assert_int_equal(a->control_len, b->control_len);
        assert_memory_equal(a->control, b->control, a->control_len);
    }
}

static void test_frame_fast_vs_general(void **state)
{
    (void)state;
    g_rng = 6455;
    enum { CAP = 1 << 16 };
    uint8_t *w = malloc(CAP);
    assert_non_null(w);
    unsigned events = 0;
    for (int iter = 0; iter < 3000; iter++) {
        mqws_role role = below(2) ? MQWS_ROLE_SERVER : MQWS_ROLE_CLIENT;
        size_t len = 0;
        int frames = 1 + (int)below(30);
        for (int f = 0; f < frames && len + 1000 < CAP; f++)
            len += gen_frame(w + len, role == MQWS_ROLE_SERVER);
        uint8_t *ia = malloc(len), *ib = malloc(len);
        assert_true(ia && ib);
        memcpy(ia, w, len);
        memcpy(ib, w, len);
        mqws_ws_decoder da, db;
        uint64_t max = below(4) == 0 ? 1 + below(300) : 0;
        mqws_ws_decoder_init(&da, role, max);
        mqws_ws_decoder_init(&db, role, max);
        size_t pos = 0;
        while (pos < len) {
            size_t chunk = below(3) ? len - pos : 1 + below((uint32_t)(len - pos));
            size_t ca = 0, cb = 0;
            mqws_ws_event ea, eb;
            mqws_err ra = mqws_ws_decode(&da, ia + pos, chunk, &ca, &ea);
            mqws_err rb = mqws_ws_decode_general(&db, ib + pos, chunk, &cb, &eb);
            assert_int_equal(ra, rb);
            assert_int_equal(ca, cb);
            if (ra == MQWS_OK) {
                same_ws_event(&ea, &eb, ia, ib, &da, &db);
                events++;
            }
            same_decoder_state(&da, &db);
            assert_memory_equal(ia + pos, ib + pos, ca); /* unmasked alike */
            pos += ca;
            if (ra != MQWS_OK && ra != MQWS_NEED_MORE)
                break;
        }
        free(ia);
        free(ib);
    }
    free(w);
    assert_true(events > 10000);
}

/* ---------------------------------------------------------------- stream */

typedef struct stream_log {
    uint8_t bytes[1 << 17]; /* events, serialised */
    size_t n;
    mqws_err end;
    uint64_t err_offset;
} stream_log;

static void log_put(stream_log *l, const void *p, size_t n)
{
    assert_true(l->n + n <= sizeof l->bytes);
    memcpy(l->bytes + l->n, p, n);
    l->n += n;
}

/* Feeds in chunks of `step` bytes (0: all at once) and records every event. */
static void run_stream(const uint8_t *wire, size_t len, mqws_role role, size_t cap, size_t step,
                       stream_log *log)
{
    uint8_t *in = malloc(len ? len : 1), *pbuf = malloc(cap);
    assert_true(in && pbuf);
    memcpy(in, wire, len);
    mqws_stream s;
    mqws_stream_init(&s, role, pbuf, cap, 0);
    log->n = 0;
    log->end = MQWS_NEED_MORE;
    size_t pos = 0;
    while (pos < len) {
        size_t end = step && len - pos > step ? pos + step : len;
        for (;;) {
            size_t used = 0;
            mqws_stream_event ev;
            mqws_err r = mqws_stream_feed(&s, in + pos, end - pos, &used, &ev);
            pos += used;
            if (r == MQWS_NEED_MORE)
                break;
            if (r != MQWS_OK) {
                log->end = r;
                log->err_offset = mqws_stream_err_offset(&s);
                free(in);
                free(pbuf);
                return;
            }
            uint32_t head[2] = {(uint32_t)ev.type, (uint32_t)ev.data.len};
            log_put(log, head, sizeof head);
            if (ev.data.len)
                log_put(log, ev.data.ptr, ev.data.len);
            log_put(log, &ev.close_code, sizeof ev.close_code);
            if (ev.close_reason.len)
                log_put(log, ev.close_reason.ptr, ev.close_reason.len);
        }
    }
    free(in);
    free(pbuf);
}

static void test_stream_fast_vs_bytewise(void **state)
{
    (void)state;
    g_rng = 6000;
    enum { CAP = 1 << 15 };
    uint8_t *w = malloc(CAP), pkt[1024];
    stream_log *whole = malloc(sizeof *whole), *bytes = malloc(sizeof *bytes);
    assert_true(w && whole && bytes);
    unsigned packets = 0;
    for (int iter = 0; iter < 1500; iter++) {
        mqws_role role = below(2) ? MQWS_ROLE_SERVER : MQWS_ROLE_CLIENT;
        size_t len = 0;
        int frames = 1 + (int)below(12);
        for (int f = 0; f < frames && len + 1200 < CAP; f++) {
            if (below(6) == 0) { /* anything: control, text, fragments, broken */
                len += gen_frame(w + len, role == MQWS_ROLE_SERVER);
                continue;
            }
            size_t n = gen_publish(pkt, sizeof pkt, MQWS_MQTT_V311);
            if (below(4) == 0 && n < 500) /* two packets in one frame */
                n += gen_publish(pkt + n, sizeof pkt - n, MQWS_MQTT_V311);
            uint8_t key[4];
            for (int i = 0; i < 4; i++)
                key[i] = (uint8_t)rnd();
            size_t used = 0;
            assert_int_equal(mqws_ws_encode_frame(w + len, CAP - len, &used, MQWS_WS_BINARY, true,
                                                  pkt, n, role == MQWS_ROLE_SERVER ? key : NULL),
                             MQWS_OK);
            len += used;
        }
        size_t cap = below(5) == 0 ? 5 + below(100) : 4096;
        run_stream(w, len, role, cap, 0, whole);
        run_stream(w, len, role, cap, 1, bytes);
        assert_int_equal(whole->end, bytes->end);
        if (whole->end != MQWS_NEED_MORE)
            assert_int_equal(whole->err_offset, bytes->err_offset);
        assert_int_equal(whole->n, bytes->n);
        assert_memory_equal(whole->bytes, bytes->bytes, whole->n);
        packets += whole->n > 0;
    }
    free(w);
    free(whole);
    free(bytes);
    assert_true(packets > 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_fast_vs_general),
        cmocka_unit_test(test_frame_fast_vs_general),
        cmocka_unit_test(test_stream_fast_vs_bytewise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
