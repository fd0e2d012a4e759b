/*
 * connect.c - CONNECT / CONNACK, client takeover, DISCONNECT and the end of a
 * connection (will and session expiry).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

/* Protocol level byte of a CONNECT that failed to decode (0 when unreadable). */
static uint8_t peek_level(const uint8_t *raw, size_t len)
{
    size_t h = 0;
    uint32_t rem = 0;
    if (mqws_mqtt_fixed_header(raw, len, &h, &rem) != MQWS_OK || len < h + 2)
        return 0;
    size_t name = (size_t)raw[h] << 8 | raw[h + 1];
    return len > h + 2 + name ? raw[h + 2 + name] : 0;
}

static void send_connack(mqws_core_conn *conn, uint8_t rc, bool session_present,
                         const mqws_props *props)
{
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_CONNACK;
    p.reason_code = rc;
    p.session_present = session_present;
    if (props)
        p.props = *props;
    core_send_result r = core_send(conn, &p);
    if (r == SEND_TOO_BIG && p.props.raw_len) {
        /* The client's Maximum Packet Size leaves no room for our properties
         * (MQTT-3.1.2-24): the bare CONNACK, the client then assumes defaults. */
        core_clog(conn, "CONNACK properties dropped: over the client's Maximum Packet Size");
        memset(&p.props, 0, sizeof p.props);
        r = core_send(conn, &p);
    }
    if (r != SEND_OK)
        core_clog(conn, "CONNACK could not be sent");
}

/* 3.1.1 return codes for the 5.0 reason codes the core refuses with (3.2.2.3). */
static uint8_t v311_code(uint8_t rc5)
{
    switch (rc5) {
    case 0x84: return 0x01;
    case 0x85: return 0x02;
    case 0x86: return 0x04;
    case 0x87: return 0x05;
    case 0x8C: return 0x05;
    default: return 0x03; /* Server unavailable */
    }
}

static mqws_err refuse(mqws_core_conn *conn, uint8_t rc5, mqws_err err, const char *why)
{
    uint8_t rc = conn->version == MQWS_MQTT_V5 ? rc5 : v311_code(rc5);
    core_clog(conn, "CONNECT refused: %s (CONNACK 0x%02x)", why, rc);
    send_connack(conn, rc, false, NULL);
    core_close(conn, MQWS_CORE_CLOSE_NORMAL, why);
    return err;
}

/* Takeover (MQTT-3.1.4-2 / 5.0 MQTT-3.1.4-3): the old connection goes, its will
 * follows the usual rules (a delayed will is cancelled by this new connection). */
static void take_over(mqws_core_conn *old, uint64_t now)
{
    core_clog(old, "session taken over by a new connection");
    core_send_disconnect(old, 0x8E);
    core_conn_end(old, true, now);
    core_close(old, MQWS_CORE_CLOSE_NORMAL, "session taken over");
}

mqws_err core_on_connect(mqws_core_conn *conn, const uint8_t *raw, size_t len, uint64_t now)
{
    mqws_core *c = conn->core;
    const mqws_core_config *cfg = &c->cfg;
    mqws_packet p;
    mqws_mqtt_limits lim = {cfg->max_packet_size};
    size_t bad_at = 0;
    mqws_err e = mqws_mqtt_decode(raw, len, MQWS_MQTT_V5, &lim, &p, NULL, &bad_at);
    if (e != MQWS_OK) {
        uint8_t level = peek_level(raw, len);
        char why[160];
        snprintf(why, sizeof why, "bad CONNECT: %s at byte %zu (%s)", mqws_strerror(e), bad_at,
                 mqws_err_ref(e));
        if (e == MQWS_ERR_MQTT_PROTOCOL_NAME || e == MQWS_ERR_MQTT_PROTOCOL_LEVEL) {
            /* An unknown level: answer in the 3.1.1 form, which every version reads
             * (3.1.1 MQTT-3.1.2-2; 5.0 allows 0x84 or this). */
            conn->version = level == MQWS_MQTT_V5 ? MQWS_MQTT_V5 : MQWS_MQTT_V311;
            return refuse(conn, 0x84, e, why);
        }
        conn->version = level == MQWS_MQTT_V5 ? MQWS_MQTT_V5 : MQWS_MQTT_V311;
        uint8_t rc = mqws_err_mqtt_reason(e, conn->version);
        core_clog(conn, "%s", why);
        if (rc) {
            send_connack(conn, rc, false, NULL);
            core_close(conn, MQWS_CORE_CLOSE_PROTOCOL, "bad CONNECT");
        } else /* 3.1.1: close without a reply (MQTT-4.8.0-1) */
            core_close(conn, e == MQWS_ERR_MQTT_TOO_LARGE ? MQWS_CORE_CLOSE_TOO_BIG
                                                          : MQWS_CORE_CLOSE_PROTOCOL, "bad CONNECT");
        return e;
    }
    const mqws_connect *cn = &p.connect;
    conn->version = cn->level;
    bool v5 = conn->version == MQWS_MQTT_V5;
    mqws_prop pr;
    uint32_t expiry = 0;
    if (v5) {
        if (mqws_props_get(&p.props, MQWS_PROP_AUTHENTICATION_METHOD, &pr))
            return refuse(conn, 0x8C, MQWS_ERR_MQTT_AUTH_METHOD,
                          "enhanced authentication is not supported");
        if (mqws_props_get(&p.props, MQWS_PROP_SESSION_EXPIRY_INTERVAL, &pr))
            expiry = pr.u32;
        if (mqws_props_get(&p.props, MQWS_PROP_RECEIVE_MAXIMUM, &pr))
            conn->client_receive_max = (uint16_t)pr.u32;
        if (mqws_props_get(&p.props, MQWS_PROP_MAXIMUM_PACKET_SIZE, &pr))
            conn->client_max_packet = pr.u32;
    } else if (!cn->clean_start)
        expiry = UINT32_MAX; /* 3.1.1 persistent session: kept until the server's cap */
    bool expiry_capped = expiry > cfg->max_session_expiry;
    if (expiry_capped)
        expiry = cfg->max_session_expiry;

    if (cn->client_id.len > cfg->max_client_id_len)
        return refuse(conn, 0x85, MQWS_ERR_MQTT_CLIENT_ID, "Client Identifier too long");
    if (cfg->auth) {
        uint8_t rc = cfg->auth(cfg->auth_user, cn->client_id,
                               cn->has_username ? &cn->username : NULL,
                               cn->has_password ? &cn->password : NULL);
        if (rc)
            return refuse(conn, rc == 0x86 ? 0x86 : 0x87, MQWS_ERR_ARG, "authentication failed");
    }
    char assigned[40] = "";
    mqws_str id = cn->client_id;
    if (id.len == 0) {
        snprintf(assigned, sizeof assigned, "mqws-%llx-%llu",
                 (unsigned long long)(now & 0xffffffu), (unsigned long long)++c->assigned_ids);
        id = mqws_str_c(assigned);
    }
    core_session *s = core_session_find(c, id);
    bool takeover = s && s->conn; /* frees a connection slot */
    if (c->st.clients - (takeover ? 1u : 0u) >= cfg->max_connections)
        return refuse(conn, 0x97, MQWS_ERR_ARG, "connection limit reached");
    if (takeover)
        take_over(s->conn, now);
    s = core_session_find(c, id); /* the takeover may have ended it */
    if (!s && c->st.sessions >= cfg->max_sessions)
        return refuse(conn, 0x97, MQWS_ERR_ARG, "session limit reached");

    mqws_prop pfi;
    if (v5 && cn->will &&
        mqws_props_get(&cn->will_props, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, &pfi) && pfi.u32 == 1 &&
        mqws_utf8_validate(cn->will_payload.ptr, cn->will_payload.len, true, NULL) != MQWS_OK)
        return refuse(conn, 0x99, MQWS_ERR_MQTT_UTF8, "Will Payload is not UTF-8 as announced");

    core_will will = {0};
    if (cn->will && !core_will_from_connect(conn, cn, &will))
        return refuse(conn, 0x83, MQWS_ERR_INTERNAL, "out of memory for the will");

    bool present = false;
    if (s && cn->clean_start) {
        if (s->will.m) /* the old session ends now: its delayed will goes */
            core_will_publish(c, s, now);
        core_session_free(c, s);
        s = NULL;
    }
    if (s) {
        present = true;
        if (s->will.m) {
            core_log(c, "session '%.100s' resumed before its will delay: will cancelled",
                     s->client_id);
            core_will_drop(s);
        }
    } else {
        s = core_session_new(c, id);
        if (!s) {
            core_msg_unref(will.m);
            return refuse(conn, 0x83, MQWS_ERR_INTERNAL, "out of memory for the session");
        }
    }
    s->conn = conn;
    conn->s = s;
    snprintf(conn->client_id, sizeof conn->client_id, "%s", s->client_id);
    s->version = conn->version;
    s->expiry_s = expiry;
    s->will = will;
    s->will_at_ms = 0;
    conn->state = CONN_ACTIVE;
    c->st.clients++;

    uint16_t ka = cn->keep_alive;
    bool server_ka = v5 && (ka == 0 || ka > cfg->keepalive_max);
    if (server_ka)
        ka = cfg->keepalive_max;
    conn->keepalive_ms = (uint64_t)ka * 1500;

    uint8_t pbuf[128];
    mqws_props_builder b = {pbuf, sizeof pbuf, 0, MQWS_OK};
    mqws_props props = {0};
    if (v5) {
        if (cfg->receive_maximum != 65535)
            mqws_props_add_int(&b, MQWS_PROP_RECEIVE_MAXIMUM, cfg->receive_maximum);
        mqws_props_add_int(&b, MQWS_PROP_MAXIMUM_PACKET_SIZE, cfg->max_packet_size);
        if (cfg->topic_alias_maximum)
            mqws_props_add_int(&b, MQWS_PROP_TOPIC_ALIAS_MAXIMUM, cfg->topic_alias_maximum);
        if (assigned[0])
            mqws_props_add_bytes(&b, MQWS_PROP_ASSIGNED_CLIENT_IDENTIFIER, assigned,
                                 strlen(assigned));
        if (server_ka)
            mqws_props_add_int(&b, MQWS_PROP_SERVER_KEEP_ALIVE, ka);
        if (expiry_capped)
            mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, expiry);
        mqws_props_add_int(&b, MQWS_PROP_SHARED_SUBSCRIPTION_AVAILABLE, 0);
        props = mqws_props_from_builder(&b);
    }
    core_clog(conn, "connected: MQTT %s, clean %d, keepalive %u s, session expiry %u s%s%s",
              v5 ? "5.0" : "3.1.1", cn->clean_start, ka, expiry,
              present ? ", session resumed" : "", cn->will ? ", will set" : "");
    send_connack(conn, 0, present, v5 ? &props : NULL);
    if (present)
        core_session_resend(s, now); /* DUP redelivery, PUBREL again (MQTT-4.4.0-1) */
    return MQWS_OK;
}

mqws_err core_on_disconnect(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    mqws_core *c = conn->core;
    core_session *s = conn->s;
    mqws_prop pr;
    if (conn->version == MQWS_MQTT_V5 &&
        mqws_props_get(&p->props, MQWS_PROP_SESSION_EXPIRY_INTERVAL, &pr)) {
        if (s->expiry_s == 0 && pr.u32 != 0) /* MQTT-3.14.2-2 */
            return core_fail(conn, MQWS_ERR_MQTT_PROPERTY_VALUE, 0x82, MQWS_CORE_CLOSE_PROTOCOL,
                             "DISCONNECT sets a Session Expiry Interval after 0", now);
        s->expiry_s = pr.u32 > c->cfg.max_session_expiry ? c->cfg.max_session_expiry : pr.u32;
    }
    bool with_will = conn->version == MQWS_MQTT_V5 && p->reason_code == 0x04;
    core_clog(conn, "DISCONNECT (reason 0x%02x)%s", p->reason_code,
              with_will ? ": will requested" : "");
    conn->normal_disconnect = true;
    core_conn_end(conn, with_will, now);
    core_close(conn, MQWS_CORE_CLOSE_NORMAL, "client disconnected");
    return MQWS_OK;
}

void core_conn_end(mqws_core_conn *conn, bool send_will, uint64_t now)
{
    if (conn->ended)
        return;
    conn->ended = true;
    core_session *s = conn->s;
    if (!s)
        return;
    mqws_core *c = conn->core;
    c->st.clients--;
    s->conn = NULL;
    conn->s = NULL;
    if (s->will.m) {
        if (!send_will)
            core_will_drop(s);
        else if (s->will.delay_s == 0 || s->expiry_s == 0)
            core_will_publish(c, s, now);
        else { /* 5.0 Will Delay Interval: sent later unless the session resumes (3.1.3.2.2) */
            uint32_t d = s->will.delay_s < s->expiry_s ? s->will.delay_s : s->expiry_s;
            s->will_at_ms = now + (uint64_t)d * 1000;
        }
    }
    if (s->expiry_s == 0)
        core_session_free(c, s);
    else
        s->expire_at_ms = now + (uint64_t)s->expiry_s * 1000;
}
