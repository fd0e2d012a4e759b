/*
 * send.c - packets out: encoded straight into the space the shell reserves in
 * the connection's send buffer; closing; the protocol-error path; trace lines.
 */
#include <stdio.h>
#include <string.h>

#include "core_internal.h"

void core_trace(mqws_core_conn *conn, const char *dir, const uint8_t *pkt, size_t len)
{
    if (!conn->core->cfg.trace || len == 0)
        return;
    mqws_packet p;
    int v = conn->version ? conn->version : MQWS_MQTT_V5;
    if (mqws_mqtt_decode(pkt, len, (mqws_mqtt_version)v, NULL, &p, NULL, NULL) != MQWS_OK) {
        core_clog(conn, "%s %s (%zu bytes, undecodable)", dir, mqws_packet_type_name(pkt[0] >> 4),
                  len);
        return;
    }
    if (p.type == MQWS_PUBLISH)
        core_clog(conn, "%s PUBLISH q%u%s%s id %u topic '%.*s' payload %zu bytes (%zu total)", dir,
                  p.publish.qos, p.publish.dup ? " dup" : "", p.publish.retain ? " retain" : "",
                  p.packet_id, (int)(p.publish.topic.len > 200 ? 200 : p.publish.topic.len),
                  p.publish.topic.ptr ? p.publish.topic.ptr : "", p.publish.payload.len, len);
    else
        core_clog(conn, "%s %s id %u rc 0x%02x (%zu bytes)", dir, mqws_packet_type_name(p.type),
                  p.packet_id, p.reason_code, len);
}

core_send_result core_send(mqws_core_conn *conn, const mqws_packet *p)
{
    size_t need = 0;
    mqws_mqtt_version v = conn->version ? (mqws_mqtt_version)conn->version : MQWS_MQTT_V311;
    mqws_err e = mqws_mqtt_encode(p, v, NULL, 0, &need);
    if (e != MQWS_ERR_BUFFER_TOO_SMALL) {
        core_clog(conn, "internal: cannot encode %s: %s", mqws_packet_type_name(p->type),
                  mqws_strerror(e));
        return SEND_TOO_BIG;
    }
    /* MQTT-3.1.2-24: never send a packet larger than the client's Maximum Packet Size. */
    if (conn->client_max_packet && need > conn->client_max_packet)
        return SEND_TOO_BIG;
    uint8_t *out = conn->ops.reserve(conn->user, need);
    if (!out)
        return SEND_FULL;
    size_t written = 0;
    mqws_mqtt_encode(p, v, out, need, &written);
    conn->ops.commit(conn->user, written);
    core_trace(conn, "out", out, written);
    return SEND_OK;
}

/* A packet other than PUBLISH that does not fit: the peer does not read. */
void core_send_ack_packet(mqws_core_conn *conn, const mqws_packet *p)
{
    if (conn->state == CONN_CLOSING)
        return;
    core_send_result r = core_send(conn, p);
    if (r == SEND_FULL) {
        core_clog(conn, "slow consumer: send buffer full, closing");
        conn->core->st.dropped++;
        core_conn_end(conn, true, conn->last_rx_ms);
        core_close(conn, MQWS_CORE_CLOSE_POLICY, "slow consumer");
    } else if (r == SEND_TOO_BIG) {
        /* e.g. a SUBACK for thousands of filters: it cannot be cut, and the client
         * cannot go on without it */
        core_fail(conn, MQWS_ERR_MQTT_TOO_LARGE, 0x83, MQWS_CORE_CLOSE_POLICY,
                  "reply larger than the client's Maximum Packet Size", conn->last_rx_ms);
    }
}

void core_send_ack(mqws_core_conn *conn, mqws_packet_type t, uint16_t pid, uint8_t rc)
{
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = t;
    p.packet_id = pid;
    p.reason_code = conn->version == MQWS_MQTT_V5 ? rc : 0;
    core_send_ack_packet(conn, &p);
}

/* CONNACK-only codes (0x84 Unsupported Protocol Version, 0x85 Client Identifier
 * not valid, ...) have no place in DISCONNECT (5.0 3.14.2.1): a misplaced CONNECT
 * is a Protocol Error there. */
static uint8_t disconnect_reason(uint8_t rc)
{
    switch (rc) {
    case 0x00: case 0x04: case 0x80: case 0x81: case 0x82: case 0x83: case 0x87: case 0x89:
    case 0x8B: case 0x8D: case 0x8E: case 0x8F: case 0x90: case 0x93: case 0x94: case 0x95:
    case 0x96: case 0x97: case 0x98: case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D:
    case 0x9E: case 0x9F: case 0xA0: case 0xA1: case 0xA2:
        return rc;
    default:
        return 0x82;
    }
}

void core_send_disconnect(mqws_core_conn *conn, uint8_t rc)
{
    rc = disconnect_reason(rc);
    if (conn->version != MQWS_MQTT_V5 || conn->state == CONN_CLOSING)
        return;
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_DISCONNECT;
    p.reason_code = rc;
    (void)core_send(conn, &p); /* best effort: the connection closes anyway */
}

void core_close(mqws_core_conn *conn, uint16_t ws_code, const char *reason)
{
    if (conn->state == CONN_CLOSING)
        return;
    conn->state = CONN_CLOSING;
    core_clog(conn, "closing: %s", reason);
    conn->ops.close(conn->user, ws_code, reason);
}

mqws_err core_fail(mqws_core_conn *conn, mqws_err err, uint8_t rc, uint16_t ws_code,
                   const char *why, uint64_t now)
{
    if (conn->state == CONN_CLOSING)
        return err;
    core_clog(conn, "protocol error: %s (%s%s%s), reason 0x%02x", why, mqws_err_name(err),
              *mqws_err_ref(err) ? ", " : "", mqws_err_ref(err), rc);
    if (conn->state == CONN_ACTIVE && rc)
        core_send_disconnect(conn, rc);
    core_conn_end(conn, true, now);
    core_close(conn, ws_code, why);
    return err;
}
