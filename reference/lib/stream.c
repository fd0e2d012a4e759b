/* stream.c - MQTT packets out of TCP bytes or WebSocket frames (MQTT-6.0.0-2). */
#include <string.h>

#include "mqws/mqtt.h"
#include "mqws/stream.h"
#include "ws_internal.h"

void mqws_assembler_init(mqws_assembler *a, uint8_t *buf, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->buf = buf;
    a->cap = cap;
}

bool mqws_assembler_idle(const mqws_assembler *a) { return a->have == 0; }

/* The packet's size is known from its fixed header: refuse it before buffering the body. */
static mqws_err start_packet(mqws_assembler *a, size_t header_len, uint32_t remaining,
                             uint64_t at)
{
    size_t total = header_len + (size_t)remaining;
    if (total > a->cap) {
        a->err_offset = at + 1; /* the Remaining Length field */
        return MQWS_ERR_MQTT_TOO_LARGE;
    }
    a->need = total;
    return MQWS_OK;
}

mqws_err mqws_assembler_feed(mqws_assembler *a, const uint8_t *in, size_t len, size_t *consumed,
                             mqws_bytes *packet)
{
    if (!a || !consumed || !packet || (!in && len) || !a->buf || a->cap < MQWS_MQTT_MAX_FIXED_HEADER)
        return MQWS_ERR_ARG;
    size_t pos = 0;
    mqws_err r = MQWS_OK;
    size_t hl = 0;
    uint32_t rem = 0;

    if (a->have == 0 && len > 0) {
        /* Fast path: the packet starts here; if it is all here, hand out a view. */
        r = mqws_mqtt_fixed_header(in, len, &hl, &rem);
        if (r == MQWS_OK) {
            r = start_packet(a, hl, rem, a->offset);
            if (r == MQWS_OK && a->need <= len) {
                packet->ptr = in;
                packet->len = a->need;
                a->need = 0;
                a->offset += packet->len;
                *consumed = packet->len;
                return MQWS_OK;
            }
        }
        if (r != MQWS_OK && r != MQWS_NEED_MORE) {
            if (r == MQWS_ERR_MQTT_REMAINING_LENGTH)
                a->err_offset = a->offset + 1;
            *consumed = 0;
            return r;
        }
    }
    /* Header byte by byte (at most 5) until its length is known. */
    while (a->need == 0 && pos < len) {
        a->buf[a->have++] = in[pos++];
        r = mqws_mqtt_fixed_header(a->buf, a->have, &hl, &rem);
        if (r == MQWS_OK)
            r = start_packet(a, hl, rem, a->offset - (a->have - pos));
        if (r == MQWS_NEED_MORE)
            continue;
        if (r != MQWS_OK) {
            if (r == MQWS_ERR_MQTT_REMAINING_LENGTH)
                a->err_offset = a->offset + pos - a->have + 1; /* the field, as above */
            a->offset += pos;
            *consumed = pos;
            return r;
        }
    }
    if (a->need > 0) {
        size_t n = a->need - a->have;
        if (n > len - pos)
            n = len - pos;
        memcpy(a->buf + a->have, in + pos, n);
        a->have += n;
        pos += n;
    }
    a->offset += pos;
    *consumed = pos;
    if (a->need == 0 || a->have < a->need)
        return MQWS_NEED_MORE;
    packet->ptr = a->buf;
    packet->len = a->need;
    a->have = 0;
    a->need = 0;
    return MQWS_OK;
}

void mqws_stream_init(mqws_stream *s, mqws_role role, uint8_t *buf, size_t cap,
                      uint64_t max_message)
{
    memset(s, 0, sizeof *s);
    mqws_ws_decoder_init(&s->ws, role, max_message);
    mqws_assembler_init(&s->mqtt, buf, cap);
}

uint64_t mqws_stream_err_offset(const mqws_stream *s) { return s->err_offset; }

static mqws_err control_event(const mqws_ws_event *w, mqws_stream_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->data.ptr = w->data;
    ev->data.len = w->len;
    switch (w->opcode) {
    case MQWS_WS_PING: ev->type = MQWS_STREAM_PING; break;
    case MQWS_WS_PONG: ev->type = MQWS_STREAM_PONG; break;
    default:
        ev->type = MQWS_STREAM_CLOSE;
        ev->close_code = w->close_code;
        ev->close_reason = w->close_reason;
        break;
    }
    return MQWS_OK;
}

static mqws_err stream_general(mqws_stream *s, uint8_t *in, size_t len, size_t pos,
                               size_t *consumed, mqws_stream_event *ev);

/*
 * The broker's common case straight through: nothing pending, a whole binary frame
 * (ws_internal.h's fast path) that starts with a whole MQTT packet whose Remaining
 * Length takes one or two bytes and which fits the packet buffer. The stream ends in the state
 * the general path leaves; anything else continues on the general path.
 */
mqws_err mqws_stream_feed(mqws_stream *s, uint8_t *in, size_t len, size_t *consumed,
                          mqws_stream_event *ev)
{
    if (!s || !consumed || !ev || (!in && len))
        return MQWS_ERR_ARG;
    mqws_ws_event w;
    size_t used;
    mqws_assembler *a = &s->mqtt;
    if (s->pending_len || a->have || !a->buf || a->cap < MQWS_MQTT_MAX_FIXED_HEADER ||
        !decode_whole_frame(&s->ws, in, len, &used, &w))
        return stream_general(s, in, len, 0, consumed, ev);
    *consumed = used;
    if (w.opcode != MQWS_WS_BINARY) { /* MQTT-6.0.0-1 */
        s->err_offset = w.frame_offset;
        return MQWS_ERR_STREAM_TEXT_FRAME;
    }
    s->pending = w.data;
    s->pending_len = w.len;
    /* Remaining Length of one byte, or two with a non-zero second (minimal, MQTT-1.5.5-1). */
    size_t total = 0;
    if (w.len >= 2 && w.data[1] < 0x80u)
        total = 2u + w.data[1];
    else if (w.len >= 3 && w.data[2] && w.data[2] < 0x80u)
        total = 3u + (w.data[1] & 0x7Fu) + ((size_t)w.data[2] << 7);
    if (!total || total > w.len || total > a->cap)
        return stream_general(s, in, len, used, consumed, ev);
    s->pending += total;
    s->pending_len -= total;
    a->offset += total;
    ev->type = MQWS_STREAM_PACKET;
    ev->data.ptr = w.data;
    ev->data.len = total;
    ev->close_code = 0;
    ev->close_reason.ptr = NULL;
    ev->close_reason.len = 0;
    return MQWS_OK;
}

static mqws_err stream_general(mqws_stream *s, uint8_t *in, size_t len, size_t pos,
                               size_t *consumed, mqws_stream_event *ev)
{
    *consumed = pos;
    for (;;) {
        /* First the rest of the last data chunk: it may hold more packets. */
        if (s->pending_len) {
            size_t used = 0;
            mqws_bytes pkt;
            mqws_err r = mqws_assembler_feed(&s->mqtt, s->pending, s->pending_len, &used, &pkt);
            s->pending += used;
            s->pending_len -= used;
            if (r == MQWS_OK) {
                memset(ev, 0, sizeof *ev);
                ev->type = MQWS_STREAM_PACKET;
                ev->data = pkt;
                *consumed = pos;
                return MQWS_OK;
            }
            if (r != MQWS_NEED_MORE) {
                s->err_offset = s->mqtt.err_offset;
                *consumed = pos;
                return r;
            }
        }
        size_t used = 0;
        mqws_ws_event w;
        mqws_err r = mqws_ws_decode(&s->ws, in + pos, len - pos, &used, &w);
        pos += used;
        *consumed = pos;
        if (r == MQWS_NEED_MORE)
            return r;
        if (r != MQWS_OK) {
            s->err_offset = s->ws.err_offset;
            return r;
        }
        if (w.type == MQWS_WS_EV_CONTROL)
            return control_event(&w, ev);
        if (w.opcode != MQWS_WS_BINARY) {
            /* MQTT-6.0.0-1: only binary frames carry MQTT; blame the opcode's byte. */
            s->err_offset = w.frame_offset;
            return MQWS_ERR_STREAM_TEXT_FRAME;
        }
        s->pending = w.data;
        s->pending_len = w.len;
    }
}
