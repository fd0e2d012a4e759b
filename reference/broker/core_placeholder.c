/*
 * core_placeholder.c - stands in for reference/core until it is built: answers
 * CONNECT, PINGREQ, SUBSCRIBE, UNSUBSCRIBE and the QoS acks so the transport
 * shell can be exercised; no routing, no sessions. Only linked when
 * reference/core/part.mk does not exist.
 */
#include "../core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mqws_core {
    mqws_core_config cfg;
    mqws_core_conn *conns;
};

struct mqws_core_conn {
    mqws_core *core;
    mqws_core_transport ops;
    void *user;
    int version;
    bool closing;
    uint64_t opened_ms;
    char client_id[128];
    mqws_core_conn *prev, *next;
};

void mqws_core_config_default(mqws_core_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_connections = 100000;
    cfg->max_packet_size = 1024 * 1024;
    cfg->connect_timeout = 10;
}

mqws_core *mqws_core_new(const mqws_core_config *cfg)
{
    if (!cfg) return NULL;
    mqws_core *c = calloc(1, sizeof *c);
    if (c) c->cfg = *cfg;
    return c;
}

void mqws_core_free(mqws_core *core)
{
    while (core && core->conns) {
        mqws_core_conn *c = core->conns;
        core->conns = c->next;
        free(c);
    }
    free(core);
}

static void send_packet(mqws_core_conn *c, const mqws_packet *p)
{
    size_t n = 0;
    mqws_mqtt_encode(p, (mqws_mqtt_version)(c->version ? c->version : 4), NULL, 0, &n);
    uint8_t *out = c->ops.reserve(c->user, n);
    if (!out) return;
    mqws_mqtt_encode(p, (mqws_mqtt_version)(c->version ? c->version : 4), out, n, &n);
    c->ops.commit(c->user, n);
}

static void close_conn(mqws_core_conn *c, uint16_t code, const char *why)
{
    if (c->closing) return;
    c->closing = true;
    c->ops.close(c->user, code, why);
}

void mqws_core_shutdown(mqws_core *core, uint64_t now_ms)
{
    (void)now_ms;
    for (mqws_core_conn *c = core->conns; c; c = c->next) {
        if (c->version == 5 && !c->closing) {
            mqws_packet p = {0};
            p.type = MQWS_DISCONNECT;
            p.reason_code = 0x8B;
            send_packet(c, &p);
        }
        close_conn(c, MQWS_CORE_CLOSE_GOING_AWAY, "server shutting down");
    }
}

mqws_core_conn *mqws_core_conn_open(mqws_core *core, const mqws_core_transport *ops, void *user,
                                    const char *peer_addr, const char *transport_name,
                                    uint64_t now_ms)
{
    (void)peer_addr;
    (void)transport_name;
    mqws_core_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->core = core;
    c->ops = *ops;
    c->user = user;
    c->opened_ms = now_ms;
    c->next = core->conns;
    if (core->conns) core->conns->prev = c;
    core->conns = c;
    return c;
}

mqws_err mqws_core_conn_packet(mqws_core_conn *c, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
    (void)now_ms;
    if (!c || c->closing) return MQWS_ERR_ARG;
    mqws_packet p;
    mqws_mqtt_limits lim = {c->core->cfg.max_packet_size};
    mqws_err r = mqws_mqtt_decode(pkt, len, (mqws_mqtt_version)(c->version ? c->version : 4), &lim,
                                  &p, NULL, NULL);
    if (r != MQWS_OK) {
        close_conn(c, MQWS_CORE_CLOSE_PROTOCOL, mqws_strerror(r));
        return r;
    }
    if (!c->version && p.type != MQWS_CONNECT) {
        close_conn(c, MQWS_CORE_CLOSE_PROTOCOL, "first packet is not CONNECT");
        return MQWS_ERR_MQTT_PACKET_TYPE;
    }
    mqws_packet o = {0};
    switch (p.type) {
    case MQWS_CONNECT:
        c->version = p.connect.level;
        snprintf(c->client_id, sizeof c->client_id, "%.*s", (int)p.connect.client_id.len,
                 p.connect.client_id.ptr ? p.connect.client_id.ptr : "");
        o.type = MQWS_CONNACK;
        send_packet(c, &o);
        break;
    case MQWS_PINGREQ: o.type = MQWS_PINGRESP; send_packet(c, &o); break;
    case MQWS_SUBSCRIBE:
    case MQWS_UNSUBSCRIBE: {
        uint8_t codes[4096];
        size_t n = p.list.count < sizeof codes ? p.list.count : sizeof codes;
        memset(codes, 0, n);
        o.type = p.type == MQWS_SUBSCRIBE ? MQWS_SUBACK : MQWS_UNSUBACK;
        o.packet_id = p.packet_id;
        if (o.type == MQWS_SUBACK || c->version == 5) {
            o.list.raw = codes;
            o.list.raw_len = n;
            o.list.count = n;
        }
        send_packet(c, &o);
        break;
    }
    case MQWS_PUBLISH:
        if (p.publish.qos == 0) break;
        o.type = p.publish.qos == 1 ? MQWS_PUBACK : MQWS_PUBREC;
        o.packet_id = p.packet_id;
        send_packet(c, &o);
        break;
    case MQWS_PUBREL: o.type = MQWS_PUBCOMP; o.packet_id = p.packet_id; send_packet(c, &o); break;
    case MQWS_DISCONNECT: close_conn(c, MQWS_CORE_CLOSE_NORMAL, "client sent DISCONNECT"); break;
    default: break;
    }
    return MQWS_OK;
}

void mqws_core_conn_writable(mqws_core_conn *conn, uint64_t now_ms)
{
    (void)conn;
    (void)now_ms;
}

void mqws_core_conn_lost(mqws_core_conn *c, mqws_err why, uint64_t now_ms)
{
    (void)now_ms;
    if (!c) return;
    uint8_t rc = mqws_err_mqtt_reason(why, 5);
    if (c->version == 5 && rc && !c->closing) {
        mqws_packet p = {0};
        p.type = MQWS_DISCONNECT;
        p.reason_code = rc;
        send_packet(c, &p);
    }
    if (c->prev) c->prev->next = c->next;
    else c->core->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
}

uint64_t mqws_core_tick(mqws_core *core, uint64_t now_ms)
{
    for (mqws_core_conn *c = core->conns; c; c = c->next)
        if (!c->version && now_ms - c->opened_ms > core->cfg.connect_timeout * 1000ull)
            close_conn(c, MQWS_CORE_CLOSE_PROTOCOL, "no CONNECT within the connect timeout");
    return now_ms + 1000;
}

uint64_t mqws_core_next_deadline(const mqws_core *core, uint64_t now_ms)
{
    (void)core;
    return now_ms + 1000;
}

const char *mqws_core_conn_client_id(const mqws_core_conn *c) { return c ? c->client_id : ""; }
int mqws_core_conn_version(const mqws_core_conn *c) { return c ? c->version : 0; }

void mqws_core_get_stats(const mqws_core *core, mqws_core_stats *out)
{
    (void)core;
    memset(out, 0, sizeof *out);
}
