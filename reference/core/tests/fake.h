/*
 * fake.h - a transport for driving the broker core without sockets: it
 * collects what the core writes and decodes it packet by packet.
 */
#ifndef MQWS_CORE_FAKE_H
#define MQWS_CORE_FAKE_H

#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "../core.h"

#define FAKE_OUT_CAP (256u << 10)

typedef struct fake_conn {
    mqws_core *core;
    mqws_core_conn *h;
    uint8_t *out;       /* everything committed */
    size_t len;         /* bytes committed */
    size_t read;        /* bytes already taken by fake_next */
    size_t limit;       /* reserve fails when unread bytes would exceed it; 0: no limit */
    int version;        /* to decode what the core sends */
    bool closed;
    uint16_t close_code;
    char close_reason[80];
    bool freed;         /* conn_lost called */
} fake_conn;

/* Core with a log collected in memory (fake_log_has). cfg NULL: defaults. */
mqws_core *fake_core(const mqws_core_config *cfg);
bool fake_log_has(const char *needle);
int fake_log_count(const char *needle);
void fake_log_clear(void);

void fake_open(mqws_core *core, fake_conn *fc, uint64_t now);
/* Encodes @p p for fc->version and feeds it to the core. */
mqws_err fake_feed(fake_conn *fc, const mqws_packet *p, uint64_t now);
mqws_err fake_feed_raw(fake_conn *fc, const uint8_t *b, size_t n, uint64_t now);
/* Decodes the next packet the core sent; false when there is none. */
bool fake_next(fake_conn *fc, mqws_packet *p);
/* Asserts the next packet's type and returns it. */
mqws_packet fake_expect(fake_conn *fc, mqws_packet_type t);
void fake_expect_none(fake_conn *fc);
void fake_lost(fake_conn *fc, mqws_err why, uint64_t now);
/* Releases the buffer (and calls conn_lost when still open). */
void fake_done(fake_conn *fc, uint64_t now);

/* CONNECT helpers: returns the CONNACK. props may be NULL. */
typedef struct fake_connect_opts {
    int version;
    const char *client_id;
    bool clean;
    uint16_t keepalive;
    const mqws_props *props;
    const char *will_topic;
    const char *will_payload;
    uint8_t will_qos;
    bool will_retain;
    const mqws_props *will_props;
    const char *username;
    const char *password;
} fake_connect_opts;
mqws_packet fake_connect(mqws_core *core, fake_conn *fc, const fake_connect_opts *o,
                         uint64_t now);

mqws_err fake_publish(fake_conn *fc, const char *topic, const char *payload, uint8_t qos,
                      uint16_t pid, bool retain, const mqws_props *props, uint64_t now);
mqws_err fake_publish_dup(fake_conn *fc, const char *topic, const char *payload, uint8_t qos,
                          uint16_t pid, uint64_t now);
/* SUBSCRIBE one filter; returns the SUBACK reason code. */
uint8_t fake_subscribe(fake_conn *fc, const char *filter, uint8_t options, uint16_t pid,
                       const mqws_props *props, uint64_t now);
/* SUBSCRIBE without expectations (the result of conn_packet). */
mqws_err fake_subscribe_send(fake_conn *fc, const char *filter, uint8_t options, uint16_t pid,
                             const mqws_props *props, uint64_t now);
mqws_err fake_ack(fake_conn *fc, mqws_packet_type t, uint16_t pid, uint64_t now);

/* Payload of a PUBLISH as a C string (static buffer). */
const char *fake_payload(const mqws_packet *p);
bool fake_topic_is(const mqws_packet *p, const char *topic);

#endif
