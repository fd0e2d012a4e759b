/*
 * fuzz_core.c - libFuzzer target for the broker core (make fuzz-core).
 *
 * The input is a script for up to four connections: open (with a valid CONNECT
 * built from one byte), feed a raw packet, lose the transport, advance time,
 * fill or drain the send buffer. Everything the core writes must decode as an
 * MQTT packet of the connection's version; ASan/UBSan watch the rest.
 * Crashes found are kept in reference/core/tests/fuzz-regressions/ and replayed
 * by make test-core-asan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core.h"

#define SLOTS 4

typedef struct slot {
    mqws_core_conn *h;
    int version;
    bool closed;
    size_t pending; /* bytes "in the send buffer" */
    size_t limit;
    uint8_t buf[1u << 16];
} slot;

static slot slots[SLOTS];

static uint8_t *fz_reserve(void *user, size_t len)
{
    slot *s = user;
    if (len > sizeof s->buf || (s->limit && s->pending + len > s->limit))
        return NULL;
    return s->buf;
}

static void fz_commit(void *user, size_t len)
{
    slot *s = user;
    mqws_packet p;
    size_t used = 0;
    int v = s->version ? s->version : MQWS_MQTT_V5;
    /* CONNACK of a refused CONNECT may be in the 3.1.1 form for any version */
    mqws_err e = mqws_mqtt_decode(s->buf, len, (mqws_mqtt_version)v, NULL, &p, &used, NULL);
    if (e != MQWS_OK && (s->buf[0] >> 4) == MQWS_CONNACK)
        e = mqws_mqtt_decode(s->buf, len, MQWS_MQTT_V311, NULL, &p, &used, NULL);
    if (e != MQWS_OK || used != len)
        abort(); /* the core wrote something that is not one valid packet */
    s->pending += len;
}

static void fz_close(void *user, uint16_t code, const char *reason)
{
    slot *s = user;
    (void)code;
    (void)reason;
    if (s->closed)
        abort(); /* close is asked for at most once */
    s->closed = true;
}

static const mqws_core_transport ops = {fz_reserve, fz_commit, fz_close};

static void open_slot(mqws_core *core, slot *s, uint8_t flags, uint64_t now)
{
    memset(s, 0, offsetof(slot, buf));
    s->h = mqws_core_conn_open(core, &ops, s, "fuzz", "ws", now);
    s->version = flags & 1 ? MQWS_MQTT_V5 : MQWS_MQTT_V311;
    static const char *const ids[] = {"a", "b", "c", ""};
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_CONNECT;
    p.connect.level = (uint8_t)s->version;
    p.connect.clean_start = (flags & 2) || (flags >> 2 & 3) == 3;
    p.connect.client_id = mqws_str_c(ids[flags >> 2 & 3]);
    p.connect.keep_alive = flags >> 6;
    uint8_t pb[16];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    if (s->version == MQWS_MQTT_V5 && (flags & 0x10))
        mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 5);
    p.props = mqws_props_from_builder(&b);
    if (flags & 0x20) {
        p.connect.will = true;
        p.connect.will_topic = mqws_str_c("w/t");
        p.connect.will_qos = 1;
    }
    uint8_t out[128];
    size_t n = 0;
    if (mqws_mqtt_encode(&p, (mqws_mqtt_version)s->version, out, sizeof out, &n) == MQWS_OK)
        mqws_core_conn_packet(s->h, out, n, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_queued = 4;
    cfg.max_subscriptions = 4;
    cfg.max_retained = 4;
    cfg.receive_maximum = 2;
    cfg.max_inflight = 2;
    cfg.topic_alias_maximum = 2;
    cfg.max_packet_size = 4096;
    cfg.max_sessions = 3;
    mqws_core *core = mqws_core_new(&cfg);
    if (!core)
        return 0;
    for (int i = 0; i < SLOTS; i++)
        slots[i].h = NULL;
    uint64_t now = 0;
    size_t i = 0;
    while (i + 2 <= size) {
        uint8_t op = data[i++];
        slot *s = &slots[op & 3];
        uint8_t arg = data[i++];
        switch (op >> 2 & 7) {
        case 0:
            if (!s->h)
                open_slot(core, s, arg, now);
            break;
        case 1:
        case 2:
        case 3: { /* one raw packet of arg bytes */
            size_t n = arg < size - i ? arg : size - i;
            if (s->h && !s->closed)
                mqws_core_conn_packet(s->h, data + i, n, now);
            i += n;
            break;
        }
        case 4:
            if (s->h) {
                mqws_core_conn_lost(s->h, arg & 1 ? MQWS_ERR_STREAM_TEXT_FRAME : MQWS_OK, now);
                s->h = NULL;
            }
            break;
        case 5:
            now += (uint64_t)arg * 250;
            mqws_core_tick(core, now);
            break;
        case 6:
            s->limit = arg;
            s->pending = 0;
            if (s->h && !arg)
                mqws_core_conn_writable(s->h, now);
            break;
        default:
            s->pending = 0; /* the shell flushed */
            break;
        }
    }
    for (int k = 0; k < SLOTS; k++)
        if (slots[k].h)
            mqws_core_conn_lost(slots[k].h, MQWS_OK, now);
    mqws_core_tick(core, now + 1000000000ull);
    mqws_core_free(core);
    return 0;
}
