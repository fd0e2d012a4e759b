/*
 * core.c - the core object, connection lifecycle, packet dispatch and timers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

void mqws_core_config_default(mqws_core_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->max_connections = 100000;
    cfg->max_sessions = 100000;
    cfg->receive_maximum = 100;
    cfg->max_inflight = 100;
    cfg->max_queued = 1000;
    cfg->max_queued_bytes = 16u << 20;
    cfg->max_total_queued_bytes = (uint64_t)1 << 30;
    cfg->max_packet_size = 1u << 20;
    cfg->topic_alias_maximum = 10;
    cfg->keepalive_max = 600;
    cfg->max_subscriptions = 1000;
    cfg->max_retained = 100000;
    cfg->max_retained_bytes = 256u << 20;
    cfg->max_session_expiry = 86400;
    cfg->connect_timeout = 10;
    cfg->max_client_id_len = 256;
}

/* Zero count fields take the default, so a zero-filled config is usable. */
static void fill_defaults(mqws_core_config *cfg)
{
    mqws_core_config d;
    mqws_core_config_default(&d);
#define DEF_(f) if (!cfg->f) cfg->f = d.f
    DEF_(max_connections); DEF_(max_sessions); DEF_(receive_maximum); DEF_(max_inflight);
    DEF_(max_queued); DEF_(max_queued_bytes); DEF_(max_total_queued_bytes); DEF_(max_packet_size); DEF_(keepalive_max);
    DEF_(max_subscriptions); DEF_(max_retained); DEF_(max_retained_bytes);
    DEF_(max_session_expiry); DEF_(connect_timeout); DEF_(max_client_id_len);
#undef DEF_
}

mqws_core *mqws_core_new(const mqws_core_config *cfg)
{
    if (!cfg)
        return NULL;
    mqws_core *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = *cfg;
    fill_defaults(&c->cfg);
    c->next_session_id = 1;
    if (!core_htab_init(&c->sessions) || !core_htab_init(&c->exact) ||
        !core_htab_init(&c->retained)) {
        mqws_core_free(c);
        return NULL;
    }
    return c;
}

static void conn_free(mqws_core_conn *conn)
{
    mqws_core *c = conn->core;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        c->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    if (conn->aliases) {
        for (uint32_t i = 0; i <= c->cfg.topic_alias_maximum; i++)
            free(conn->aliases[i]);
        free(conn->aliases);
    }
    c->st.connections--;
    free(conn);
}

void mqws_core_free(mqws_core *c)
{
    if (!c)
        return;
    while (c->conns) {
        if (c->conns->s) {
            c->conns->s->conn = NULL;
            c->conns->s = NULL;
        }
        conn_free(c->conns);
    }
    for (size_t i = 0; c->sessions.b && i < c->sessions.nb; i++)
        while (c->sessions.b[i])
            core_session_free(c, (core_session *)c->sessions.b[i]);
    core_retain_free_all(c);
    core_htab_free(&c->sessions);
    core_htab_free(&c->exact);
    core_htab_free(&c->retained);
    free(c->wild);
    free(c->matches);
    free(c->pairs);
    free(c->subids);
    free(c->scratch);
    free(c);
}

void core_log(mqws_core *c, const char *fmt, ...)
{
    if (!c->cfg.log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->cfg.log(c->cfg.log_user, line);
}

/* Connection events carry address, transport and client id. */
void core_clog(mqws_core_conn *conn, const char *fmt, ...)
{
    mqws_core *c = conn->core;
    if (!c->cfg.log)
        return;
    char msg[400], line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *id = conn->s ? conn->s->client_id : conn->client_id[0] ? conn->client_id : "-";
    snprintf(line, sizeof line, "%s %s client '%.100s': %s", conn->peer, conn->transport, id, msg);
    c->cfg.log(c->cfg.log_user, line);
}

bool core_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "?");
}

mqws_core_conn *mqws_core_conn_open(mqws_core *c, const mqws_core_transport *ops, void *user,
                                    const char *peer_addr, const char *transport_name,
                                    uint64_t now_ms)
{
    if (!c || !ops || !ops->reserve || !ops->commit || !ops->close)
        return NULL;
    mqws_core_conn *conn = calloc(1, sizeof *conn);
    if (!conn)
        return NULL;
    conn->core = c;
    conn->ops = *ops;
    conn->user = user;
    copy_name(conn->peer, sizeof conn->peer, peer_addr);
    copy_name(conn->transport, sizeof conn->transport, transport_name);
    conn->opened_ms = conn->last_rx_ms = now_ms;
    conn->next = c->conns;
    if (c->conns)
        c->conns->prev = conn;
    c->conns = conn;
    c->st.connections++;
    return conn;
}

static mqws_err protocol_error(mqws_core_conn *conn, const char *why, uint64_t now)
{
    return core_fail(conn, MQWS_ERR_MQTT_MALFORMED, 0x82, MQWS_CORE_CLOSE_PROTOCOL, why, now);
}

mqws_err mqws_core_conn_packet(mqws_core_conn *conn, const uint8_t *pkt, size_t len,
                               uint64_t now_ms)
{
    if (!conn || conn->state == CONN_CLOSING || (!pkt && len))
        return MQWS_ERR_ARG;
    mqws_core *c = conn->core;
    conn->last_rx_ms = now_ms;
    if (len == 0)
        return MQWS_OK;
    if (conn->state == CONN_NEW) {
        if ((pkt[0] >> 4) != MQWS_CONNECT) { /* MQTT-3.1.0-1 */
            core_clog(conn, "first packet is %s, not CONNECT: closing",
                      mqws_packet_type_name(pkt[0] >> 4));
            core_close(conn, MQWS_CORE_CLOSE_PROTOCOL, "first packet not CONNECT");
            return MQWS_ERR_MQTT_PACKET_TYPE;
        }
        core_trace(conn, "in", pkt, len);
        return core_on_connect(conn, pkt, len, now_ms);
    }
    core_trace(conn, "in", pkt, len);
    mqws_packet p;
    mqws_mqtt_limits lim = {c->cfg.max_packet_size};
    size_t bad_at = 0;
    mqws_err e = mqws_mqtt_decode(pkt, len, (mqws_mqtt_version)conn->version, &lim, &p, NULL,
                                  &bad_at);
    if (e != MQWS_OK) {
        char why[160];
        snprintf(why, sizeof why, "%s at byte %zu of %s", mqws_strerror(e), bad_at,
                 mqws_packet_type_name(pkt[0] >> 4));
        uint8_t rc = mqws_err_mqtt_reason(e, conn->version);
        uint16_t ws = e == MQWS_ERR_MQTT_TOO_LARGE ? MQWS_CORE_CLOSE_TOO_BIG : MQWS_CORE_CLOSE_PROTOCOL;
        return core_fail(conn, e, rc ? rc : 0x81, ws, why, now_ms);
    }
    switch (p.type) {
    case MQWS_PUBLISH: return core_on_publish(conn, &p, now_ms);
    case MQWS_PUBACK: core_on_puback(conn, &p, now_ms); return MQWS_OK;
    case MQWS_PUBREC: core_on_pubrec(conn, &p, now_ms); return MQWS_OK;
    case MQWS_PUBREL: core_on_pubrel(conn, &p, now_ms); return MQWS_OK;
    case MQWS_PUBCOMP: core_on_pubcomp(conn, &p, now_ms); return MQWS_OK;
    case MQWS_SUBSCRIBE: return core_on_subscribe(conn, &p, now_ms);
    case MQWS_UNSUBSCRIBE: return core_on_unsubscribe(conn, &p, now_ms);
    case MQWS_PINGREQ: core_send_ack(conn, MQWS_PINGRESP, 0, 0); return MQWS_OK;
    case MQWS_DISCONNECT: return core_on_disconnect(conn, &p, now_ms);
    case MQWS_CONNECT: return protocol_error(conn, "second CONNECT (MQTT-3.1.0-2)", now_ms);
    case MQWS_AUTH:
        /* No Authentication Method was accepted at CONNECT, so AUTH is out of place
         * (MQTT-4.12.0-1). */
        return protocol_error(conn, "AUTH without enhanced authentication (not supported)", now_ms);
    default:
        return protocol_error(conn, "server-to-client packet sent by the client", now_ms);
    }
}

void mqws_core_conn_writable(mqws_core_conn *conn, uint64_t now_ms)
{
    if (!conn || conn->state != CONN_ACTIVE || !conn->s)
        return;
    conn->blocked = false;
    conn->dropping = false;
    core_session_pump(conn->s, now_ms);
}

/* Transport-level errors a 5.0 client is told about before the close. */
static bool tell_client(mqws_err why)
{
    return why == MQWS_ERR_WS_TOO_BIG || why == MQWS_ERR_STREAM_TEXT_FRAME ||
           (why >= MQWS_ERR_MQTT_PACKET_TYPE && why < MQWS_ERR_COUNT_);
}

void mqws_core_conn_lost(mqws_core_conn *conn, mqws_err why, uint64_t now_ms)
{
    if (!conn)
        return;
    if (!conn->ended) {
        if (why != MQWS_OK)
            core_clog(conn, "connection lost: %s", mqws_strerror(why));
        else
            core_clog(conn, "connection closed by peer");
        if (conn->state == CONN_ACTIVE && tell_client(why))
            core_send_disconnect(conn, mqws_err_mqtt_reason(why, 5));
        core_conn_end(conn, !conn->normal_disconnect, now_ms);
    }
    conn_free(conn);
}

static uint64_t earlier(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* One pass: fires what is due when @p fire, returns the earliest pending deadline. */
static uint64_t timers(mqws_core *c, uint64_t now, bool fire)
{
    uint64_t next = UINT64_MAX;
    for (mqws_core_conn *conn = c->conns; conn; conn = conn->next) {
        if (conn->state == CONN_NEW) {
            uint64_t at = conn->opened_ms + (uint64_t)c->cfg.connect_timeout * 1000;
            if (fire && now >= at) {
                core_clog(conn, "no CONNECT within %u s", c->cfg.connect_timeout);
                core_close(conn, MQWS_CORE_CLOSE_POLICY, "CONNECT timeout");
            } else
                next = earlier(next, at);
        } else if (conn->state == CONN_ACTIVE && conn->keepalive_ms) {
            uint64_t at = conn->last_rx_ms + conn->keepalive_ms;
            if (fire && now >= at) {
                /* MQTT-3.1.2-24 (3.1.1) / 3.1.2-22 (5.0): 1.5 x Keep Alive without a packet. */
                core_clog(conn, "keepalive expired (%llu ms without a packet)",
                          (unsigned long long)(now - conn->last_rx_ms));
                core_send_disconnect(conn, 0x8D);
                core_conn_end(conn, true, now);
                core_close(conn, MQWS_CORE_CLOSE_GOING_AWAY, "keepalive timeout");
            } else
                next = earlier(next, at);
        }
    }
    for (size_t i = 0; i < c->sessions.nb; i++) {
        core_hnode *n = c->sessions.b[i];
        while (n) {
            core_session *s = (core_session *)n;
            n = n->next;
            if (s->conn)
                continue;
            if (s->will.m && s->will_at_ms) {
                if (fire && now >= s->will_at_ms)
                    core_will_publish(c, s, now);
                else
                    next = earlier(next, s->will_at_ms);
            }
            if (fire && now >= s->expire_at_ms) {
                core_log(c, "session '%.100s' expired", s->client_id);
                if (s->will.m)
                    core_will_publish(c, s, now); /* the session ends: its will goes now */
                core_session_free(c, s);
            } else
                next = earlier(next, s->expire_at_ms);
        }
    }
    return next;
}

uint64_t mqws_core_tick(mqws_core *c, uint64_t now_ms)
{
    if (!c)
        return UINT64_MAX;
    timers(c, now_ms, true);
    return mqws_core_next_deadline(c, now_ms);
}

uint64_t mqws_core_next_deadline(mqws_core *c, uint64_t now_ms)
{
    if (!c)
        return UINT64_MAX;
    uint64_t next = timers(c, now_ms, false);
    if (next != UINT64_MAX && next < now_ms + MQWS_CORE_TICK_MIN_MS)
        next = now_ms + MQWS_CORE_TICK_MIN_MS;
    return next;
}

void mqws_core_shutdown(mqws_core *c, uint64_t now_ms)
{
    if (!c)
        return;
    for (mqws_core_conn *conn = c->conns; conn; conn = conn->next) {
        if (conn->state == CONN_CLOSING)
            continue;
        core_send_disconnect(conn, 0x8B);
        core_conn_end(conn, false, now_ms);
        core_close(conn, MQWS_CORE_CLOSE_GOING_AWAY, "server shutting down");
    }
}

const char *mqws_core_conn_client_id(const mqws_core_conn *conn)
{
    return conn && conn->s ? conn->s->client_id : "";
}

int mqws_core_conn_version(const mqws_core_conn *conn)
{
    return conn && conn->state != CONN_NEW ? conn->version : 0;
}

void mqws_core_get_stats(const mqws_core *c, mqws_core_stats *out)
{
    if (c && out)
        *out = c->st;
}
