/*
 * transport.h - MQTT packets out of either transport through one call and one
 * event shape: WebSocket bytes through mqws_stream, or raw MQTT bytes (TCP/TLS)
 * through mqws_assembler, whose packet becomes a MQWS_STREAM_PACKET event.
 * Header-only and free of cmocka/jansson: the stream vector test and the
 * fuzz_stream target both drive the codecs through it.
 */
#ifndef MQWS_TEST_TRANSPORT_H
#define MQWS_TEST_TRANSPORT_H

#include <stdbool.h>
#include <string.h>

#include "mqws/stream.h"

typedef struct tu_transport {
    bool tcp; /* raw MQTT bytes: the assembler; else WebSocket: the stream */
    mqws_stream s;
    mqws_assembler a;
} tu_transport;

/* A fresh stream (max_message as mqws_stream_init) or assembler on the packet buffer (buf, cap). */
static inline void tu_transport_init(tu_transport *t, bool tcp, mqws_role role, uint8_t *buf,
                                     size_t cap, uint64_t max_message)
{
    memset(t, 0, sizeof *t);
    t->tcp = tcp;
    if (tcp)
        mqws_assembler_init(&t->a, buf, cap);
    else
        mqws_stream_init(&t->s, role, buf, cap, max_message);
}

/* mqws_stream_feed or mqws_assembler_feed, same contract; *ev is zeroed first. */
static inline mqws_err tu_transport_feed(tu_transport *t, uint8_t *in, size_t len,
                                         size_t *consumed, mqws_stream_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (!t->tcp)
        return mqws_stream_feed(&t->s, in, len, consumed, ev);
    ev->type = MQWS_STREAM_PACKET;
    return mqws_assembler_feed(&t->a, in, len, consumed, &ev->data);
}

/* After an error: the offset of the offending byte (mqws_stream_err_offset, or the assembler's). */
static inline uint64_t tu_transport_err_offset(const tu_transport *t)
{
    return t->tcp ? t->a.err_offset : mqws_stream_err_offset(&t->s);
}

#endif /* MQWS_TEST_TRANSPORT_H */
