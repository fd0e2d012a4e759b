/*
 * ws.c - the WebSocket side of a connection: the Upgrade handshake (path,
 * subprotocol, Origin, X-Forwarded-For), frames in through mqws_stream, control
 * frames out, and the -v frame trace.
 */
#define _GNU_SOURCE
#include "broker.h"
#include "log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static unsigned long long cid(const mqws_conn *c) { return (unsigned long long)c->id; }

static void free_head(mqws_conn *c)
{
    free(c->head);
    free(c->req);
    c->head = NULL;
    c->req = NULL;
    c->head_len = 0;
}

/* Answers a refused handshake and closes once the answer is out. */
static void refuse(mqws_conn *c, const char *response, size_t len, int status, const char *why)
{
    snprintf(c->reason_buf, sizeof c->reason_buf, "handshake refused: %d %s", status, why);
    mqws_log("conn %llu %s %s %s", cid(c), c->peer, mqws_transport_name(c->transport),
             c->reason_buf);
    mqws_trace("conn %llu http tx: %.*s", cid(c), (int)(strcspn(response, "\r")), response);
    mqws_conn_send_raw(c, response, len);
    mqws_conn_close(c, 0, c->reason_buf);
}

static void refuse_text(mqws_conn *c, int status, const char *phrase, const char *body,
                        const char *why)
{
    char resp[1024];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, phrase, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof resp) n = 0;
    refuse(c, resp, (size_t)n, status, why);
}

static void trace_head(mqws_conn *c, const mqws_hs_request *req)
{
    if (!mqws_log_verbose) return;
    char a[300], b[600];
    mqws_trace("conn %llu http rx: %s %s HTTP/%d.%d", cid(c),
               mqws_log_escape(a, sizeof a, req->method.ptr, req->method.len),
               mqws_log_escape(b, sizeof b, req->target.ptr, req->target.len), req->http_major,
               req->http_minor);
    for (size_t i = 0; i < req->num_headers; i++)
        mqws_trace("conn %llu http rx: %s: %s", cid(c),
                   mqws_log_escape(a, sizeof a, req->headers[i].name.ptr, req->headers[i].name.len),
                   mqws_log_escape(b, sizeof b, req->headers[i].value.ptr,
                                   req->headers[i].value.len));
}

static bool origin_allowed(const mqws_conn *c, const mqws_hs_request *req)
{
    const mqws_broker_config *cfg = &c->broker->cfg;
    if (cfg->num_origins == 0) return true;
    const mqws_http_header *h = mqws_http_find(req, "Origin");
    /* browsers always send Origin; a request without one is not cross-site */
    if (!h) return true;
    for (size_t i = 0; i < cfg->num_origins; i++)
        if (mqws_str_ieq(h->value, cfg->ws_origins[i])) return true;
    return false;
}

/* peer "1.2.3.4:5" / "[::1]:5" against the --trusted-proxy list */
static bool peer_trusted(const mqws_conn *c)
{
    const mqws_broker_config *cfg = &c->broker->cfg;
    if (cfg->num_trusted_proxies == 0) return false;
    char ip[64];
    const char *p = c->peer;
    size_t n;
    if (*p == '[') { p++; n = strcspn(p, "]"); }
    else n = strcspn(p, ":");
    if (n >= sizeof ip) return false;
    memcpy(ip, p, n);
    ip[n] = '\0';
    uint8_t addr[16];
    int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(fam, ip, addr) != 1) return false;
    for (size_t i = 0; i < cfg->num_trusted_proxies; i++) {
        const mqws_addr_mask *m = &cfg->trusted_proxies[i];
        if (m->addr.ss_family != fam) continue;
        const uint8_t *want = fam == AF_INET
            ? (const uint8_t *)&((const struct sockaddr_in *)&m->addr)->sin_addr
            : (const uint8_t *)&((const struct sockaddr_in6 *)&m->addr)->sin6_addr;
        int bits = m->prefix, k = 0;
        bool ok = true;
        for (; bits >= 8; bits -= 8, k++) if (addr[k] != want[k]) { ok = false; break; }
        if (ok && bits > 0) {
            uint8_t mask = (uint8_t)(0xFFu << (8 - bits));
            ok = (addr[k] & mask) == (want[k] & mask);
        }
        if (ok) return true;
    }
    return false;
}

/* X-Forwarded-For from a trusted proxy: its last element is the address that proxy saw. */
static void apply_forwarded(mqws_conn *c, const mqws_hs_request *req)
{
    if (!peer_trusted(c)) return;
    size_t cursor = 0;
    mqws_str tok, last = {0};
    while (mqws_http_next_token(req, "X-Forwarded-For", &cursor, &tok)) last = tok;
    if (last.len == 0 || last.len >= 64) return;
    char ip[64];
    memcpy(ip, last.ptr, last.len);
    ip[last.len] = '\0';
    uint8_t tmp[16];
    if (inet_pton(strchr(ip, ':') ? AF_INET6 : AF_INET, ip, tmp) != 1) return;
    snprintf(c->client_addr, sizeof c->client_addr, "%s", ip);
}

void mqws_ws_handshake_step(mqws_conn *c)
{
    mqws_broker *b = c->broker;
    size_t head_len = 0;
    mqws_err r = mqws_hs_parse_request(c->req, c->head, c->head_len, &head_len);
    if (r == MQWS_NEED_MORE) {
        if (c->head_len <= b->cfg.max_header_bytes) return;
        r = MQWS_ERR_HS_TOO_LARGE;
    }
    char resp[1024];
    size_t n = 0;
    if (r != MQWS_OK) {
        mqws_hs_server_result res = {0};
        res.err = r;
        res.status = mqws_err_http_status(r);
        char why[160];
        snprintf(why, sizeof why, "%s (%s) at byte %zu", mqws_strerror(r), mqws_err_name(r),
                 c->req->err_offset);
        if (mqws_hs_write_response(&res, resp, sizeof resp, &n) != MQWS_OK) n = 0;
        refuse(c, resp, n, res.status, why);
        return;
    }
    trace_head(c, c->req);
    mqws_hs_server_config cfg = {0};
    cfg.path = b->cfg.ws_any_path ? NULL : c->listener->spec.path;
    cfg.subprotocol.accept_legacy = !b->cfg.ws_no_legacy;
    cfg.subprotocol.accept_missing = b->cfg.ws_allow_no_subprotocol;
    cfg.subprotocol.accept_unknown = b->cfg.ws_allow_unknown_subprotocol;
    cfg.subprotocol.case_insensitive = b->cfg.ws_subprotocol_ignore_case;
    mqws_hs_server_result res;
    mqws_hs_server_accept(c->req, &cfg, &res);
    if (res.err == MQWS_ERR_HS_PATH) {
        char body[400];
        snprintf(body, sizeof body, "404: MQTT over WebSocket is served at %s only\n",
                 c->listener->spec.path);
        refuse_text(c, 404, "Not Found", body, "request path is not served (HS_PATH)");
        return;
    }
    if (res.err != MQWS_OK) {
        char why[160];
        snprintf(why, sizeof why, "%s (%s, %s)", mqws_strerror(res.err), mqws_err_name(res.err),
                 mqws_err_ref(res.err));
        if (mqws_hs_write_response(&res, resp, sizeof resp, &n) != MQWS_OK) n = 0;
        refuse(c, resp, n, res.status, why);
        return;
    }
    if (!origin_allowed(c, c->req)) {
        refuse_text(c, 403, "Forbidden", "403: Origin not allowed\n",
                    "Origin not in the --ws-origin allow-list");
        return;
    }
    if (mqws_hs_write_response(&res, resp, sizeof resp, &n) != MQWS_OK) {
        mqws_conn_abort(c, "handshake response did not fit");
        return;
    }
    mqws_conn_send_raw(c, resp, n);
    if (mqws_log_verbose) {
        const char *p = resp;
        while (*p && *p != '\r') {
            size_t l = strcspn(p, "\r");
            mqws_trace("conn %llu http tx: %.*s", cid(c), (int)l, p);
            p += l;
            if (p[0] == '\r' && p[1] == '\n') p += 2;
        }
    }
    apply_forwarded(c, c->req);
    char proto[64], target[300], origin[200] = "";
    mqws_log_escape(proto, sizeof proto, res.subprotocol.ptr, res.subprotocol.len);
    mqws_log_escape(target, sizeof target, c->req->target.ptr, c->req->target.len);
    const mqws_http_header *oh = mqws_http_find(c->req, "Origin");
    if (oh) {
        memcpy(origin, ", origin ", 9);
        mqws_log_escape(origin + 9, sizeof origin - 9, oh->value.ptr, oh->value.len);
    }
    mqws_log("conn %llu %s %s upgraded: path %s, subprotocol '%s'%s%s%s%s", cid(c), c->peer,
             mqws_transport_name(c->transport), target, proto, origin,
             res.non_strict ? " (non-strict: a relaxation option was needed)" : "",
             strcmp(c->client_addr, c->peer) ? ", client address " : "",
             strcmp(c->client_addr, c->peer) ? c->client_addr : "");
    mqws_conn_open_mqtt(c);
    if (c->state == MQWS_CONN_OPEN && head_len < c->head_len)
        mqws_ws_feed(c, (uint8_t *)c->head + head_len, c->head_len - head_len);
    free_head(c);
}

static const char *opcode_name(unsigned op)
{
    switch (op) {
    case MQWS_WS_CONTINUATION: return "continuation";
    case MQWS_WS_TEXT: return "text";
    case MQWS_WS_BINARY: return "binary";
    case MQWS_WS_CLOSE: return "close";
    case MQWS_WS_PING: return "ping";
    case MQWS_WS_PONG: return "pong";
    default: return "reserved";
    }
}

/* -v: frame headers, from a shadow decoder run on a copy of the input (the real
 * one sits inside mqws_stream and unmasks in place) */
static void trace_frames(mqws_conn *c, const uint8_t *data, size_t len)
{
    static uint8_t copy[MQWS_BROKER_READ_CHUNK + 16384];
    if (c->trace_frame == UINT64_MAX || len > sizeof copy) return;
    if (!c->trace_dec) {
        c->trace_dec = malloc(sizeof *c->trace_dec);
        if (!c->trace_dec) return;
        mqws_ws_decoder_init(c->trace_dec, MQWS_ROLE_SERVER, c->broker->cfg.max_message);
        c->trace_frame = UINT64_MAX - 1;
    }
    memcpy(copy, data, len);
    uint8_t *p = copy;
    while (len > 0) {
        size_t used = 0;
        mqws_ws_event ev;
        mqws_err r = mqws_ws_decode(c->trace_dec, p, len, &used, &ev);
        p += used;
        len -= used;
        if (r == MQWS_NEED_MORE) break;
        if (r != MQWS_OK) {
            mqws_trace("conn %llu ws rx frame error: %s", cid(c), mqws_strerror(r));
            c->trace_frame = UINT64_MAX;
            return;
        }
        if (ev.type == MQWS_WS_EV_CONTROL) {
            mqws_trace("conn %llu ws rx frame %s fin len=%zu", cid(c), opcode_name(ev.opcode), ev.len);
        } else if (ev.frame_offset != c->trace_frame) {
            c->trace_frame = ev.frame_offset;
            const mqws_ws_decoder *d = c->trace_dec;
            mqws_trace("conn %llu ws rx frame %s%s %s len=%llu", cid(c),
                       ev.message_start ? "" : "continuation of ", opcode_name(ev.opcode),
                       d->fin ? "fin" : "more", (unsigned long long)(ev.len + d->remaining));
        }
    }
}

int mqws_ws_feed(mqws_conn *c, uint8_t *data, size_t len)
{
    if (mqws_log_verbose) trace_frames(c, data, len);
    /* until NEED_MORE, not until the input is used up: a frame holding several
     * packets is consumed at once and its packets come out one call at a time */
    while (c->state == MQWS_CONN_OPEN) {
        size_t used = 0;
        mqws_stream_event ev;
        mqws_err r = mqws_stream_feed(&c->stream, data, len, &used, &ev);
        data += used;
        len -= used;
        if (r == MQWS_NEED_MORE) break;
        if (r != MQWS_OK) {
            uint64_t off = mqws_stream_err_offset(&c->stream);
            snprintf(c->reason_buf, sizeof c->reason_buf, "%s (%s%s%s) at byte %llu",
                     mqws_strerror(r), mqws_err_name(r), mqws_err_ref(r)[0] ? ", " : "",
                     mqws_err_ref(r), (unsigned long long)off);
            c->close_reason = c->reason_buf;
            mqws_log("conn %llu %s %s client '%s' protocol error: %s", cid(c), c->client_addr,
                     mqws_transport_name(c->transport), c->client_id, c->reason_buf);
            mqws_broker_core_lost(c, r);
            uint16_t code = mqws_err_ws_close_code(r);
            mqws_conn_close(c, code ? code : 1011, c->close_reason);
            return -1;
        }
        switch (ev.type) {
        case MQWS_STREAM_PACKET:
            if (mqws_broker_core_packet(c, ev.data.ptr, ev.data.len) != 0) return -1;
            if (ev.data.ptr == c->packet_buf && ev.data.len > 65536) {
                /* give a big reassembled packet's pages back */
                madvise(c->packet_buf, ev.data.len, MADV_DONTNEED);
            }
            break;
        case MQWS_STREAM_PING: {
            uint8_t frame[2 + MQWS_WS_MAX_CONTROL_PAYLOAD];
            size_t w = 0;
            mqws_ws_encode_frame(frame, sizeof frame, &w, MQWS_WS_PONG, true, ev.data.ptr,
                                 ev.data.len, NULL);
            mqws_trace("conn %llu ws tx frame pong fin len=%zu", cid(c), ev.data.len);
            if (mqws_conn_send_raw(c, frame, w) != 0) {
                mqws_conn_close(c, 1008, "send queue full answering pings (--max-queue)");
                return -1;
            }
            break;
        }
        case MQWS_STREAM_PONG:
            break;
        case MQWS_STREAM_CLOSE: {
            char why[160];
            snprintf(c->reason_buf, sizeof c->reason_buf, "peer sent close %u '%s'",
                     (unsigned)ev.close_code,
                     mqws_log_escape(why, sizeof why, ev.close_reason.ptr, ev.close_reason.len));
            c->close_reason = c->reason_buf;
            /* echo the code (RFC 6455 5.5.1); 1005 "no status" is answered empty */
            mqws_conn_close(c, ev.close_code, c->close_reason);
            return -1;
        }
        }
    }
    return c->state == MQWS_CONN_OPEN ? 0 : -1;
}

void mqws_ws_send_ping(mqws_conn *c)
{
    uint8_t frame[2];
    size_t w = 0;
    mqws_ws_encode_frame(frame, sizeof frame, &w, MQWS_WS_PING, true, NULL, 0, NULL);
    mqws_trace("conn %llu ws tx frame ping fin len=0 (--ws-ping-interval)", cid(c));
    mqws_conn_send_raw(c, frame, w);
}
