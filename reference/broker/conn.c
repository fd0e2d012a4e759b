/*
 * conn.c - one client connection: reading, the MQTT packet path to the core,
 * the send queue with one write per loop turn, timers and closing.
 */
#define _GNU_SOURCE
#include "broker.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LINGER_MS 2000u          /* lingering close: wait for the peer's FIN this long */
#define CLOSING_FLUSH_MS 5000u   /* give up flushing a closing connection after this */
#define READS_PER_TURN 16        /* fairness: at most this many reads per connection per turn */
#define OUT_KEEP 16384u          /* an emptied send buffer larger than this is freed */

static unsigned long long cid(const mqws_conn *c) { return (unsigned long long)c->id; }

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    } else {
        snprintf(out, cap, "?");
    }
}

static void set_interest(mqws_conn *c)
{
    int mask = 0;
    if (!c->read_paused) mask |= MQWS_POLL_READ;
    if (c->want_write) mask |= MQWS_POLL_WRITE;
    if (mask != c->poll_mask) {
        mqws_poll_mod(c->broker->poller, c->fd, mask, c);
        c->poll_mask = mask;
    }
}

/* The first reason wins; it is copied, as the caller's text (the core's, a stack
 * buffer) may be gone by the time the close is logged. */
static void remember_reason(mqws_conn *c, const char *reason)
{
    if (c->close_reason || !reason) return;
    if (reason != c->reason_buf) snprintf(c->reason_buf, sizeof c->reason_buf, "%s", reason);
    c->close_reason = c->reason_buf;
}

static void flush_list_add(mqws_conn *c)
{
    if (c->out_listed) return;
    c->out_listed = true;
    c->flush_next = c->broker->flush_list;
    c->broker->flush_list = c;
}

mqws_conn *mqws_conn_new(mqws_broker *b, int fd, const mqws_listener *l,
                         const struct sockaddr_storage *peer)
{
    mqws_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        mqws_log("refused connection on %s: out of memory", l->url);
        return NULL;
    }
    c->broker = b;
    c->id = ++b->next_conn_id;
    c->fd = fd;
    c->listener = l;
    c->transport = l->spec.transport;
    c->opened_ms = b->now_ms;
    c->last_rx_ms = b->now_ms;
    format_addr(peer, c->peer, sizeof c->peer);
    memcpy(c->client_addr, c->peer, sizeof c->peer);
    c->next = b->conns;
    if (b->conns) b->conns->prev = c;
    b->conns = c;
    b->num_conns++;
    if (mqws_poll_add(b->poller, fd, MQWS_POLL_READ, c) != 0) {
        mqws_log("conn %llu %s: epoll: %s", cid(c), c->peer, strerror(errno));
        mqws_conn_abort(c, "epoll registration failed");
        return NULL;
    }
    c->poll_mask = MQWS_POLL_READ;
    mqws_log("conn %llu %s %s accepted on %s", cid(c), c->peer, mqws_transport_name(c->transport),
             l->url);
    if (mqws_transport_is_tls(c->transport)) {
        c->state = MQWS_CONN_TLS_HANDSHAKE;
        c->deadline_ms = b->now_ms + b->cfg.handshake_timeout_ms;
        if (mqws_tls_start(c) != 0) {
            mqws_conn_abort(c, "TLS setup failed");
            return NULL;
        }
    } else if (mqws_transport_is_ws(c->transport)) {
        c->state = MQWS_CONN_WS_HANDSHAKE;
        c->deadline_ms = b->now_ms + b->cfg.handshake_timeout_ms;
    } else {
        mqws_conn_open_mqtt(c);
    }
    return c;
}

/* ------------------------------------------------------------------ core */

static uint8_t *ops_reserve(void *user, size_t len) { return mqws_conn_reserve(user, len); }
static void ops_commit(void *user, size_t len) { mqws_conn_commit(user, len); }
static void ops_close(void *user, uint16_t code, const char *reason)
{
    mqws_conn_close(user, code, reason);
}

static const mqws_core_transport conn_ops = {ops_reserve, ops_commit, ops_close};

void mqws_conn_open_mqtt(mqws_conn *c)
{
    mqws_broker *b = c->broker;
    c->state = MQWS_CONN_OPEN;
    c->deadline_ms = 0; /* the core times out a missing CONNECT */
    if (b->cfg.ws_ping_interval)
        c->next_ping_ms = b->now_ms + b->cfg.ws_ping_interval * 1000ull;
    /* The packet buffer is the maximum packet size; mapped, not touched, so an idle
     * connection costs no resident memory for it. */
    void *m = mmap(NULL, b->cfg.max_packet, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        mqws_conn_abort(c, "out of memory for the packet buffer");
        return;
    }
    c->packet_buf = m;
    if (mqws_transport_is_ws(c->transport))
        mqws_stream_init(&c->stream, MQWS_ROLE_SERVER, c->packet_buf, b->cfg.max_packet,
                         b->cfg.max_message);
    else
        mqws_assembler_init(&c->assembler, c->packet_buf, b->cfg.max_packet);
    b->in_core = true;
    c->core = mqws_core_conn_open(b->core, &conn_ops, c, c->client_addr,
                                  mqws_transport_name(c->transport), b->now_ms);
    b->in_core = false;
    if (!c->core) mqws_conn_abort(c, "out of memory for the session");
}

int mqws_broker_core_packet(mqws_conn *c, const uint8_t *pkt, size_t len)
{
    if (!c->core || c->state != MQWS_CONN_OPEN) return -1;
    mqws_broker *b = c->broker;
    b->in_core = true;
    mqws_err r = mqws_core_conn_packet(c->core, pkt, len, b->now_ms);
    b->in_core = false;
    if (!c->client_id[0]) {
        const char *id = mqws_core_conn_client_id(c->core);
        if (id && id[0]) mqws_conn_set_client_id(c, id, strlen(id));
    }
    if (r != MQWS_OK && c->state == MQWS_CONN_OPEN) {
        /* the core refused the packet without asking to close: close ourselves */
        mqws_conn_close(c, mqws_err_ws_close_code(r) ? mqws_err_ws_close_code(r) : 1002,
                        mqws_strerror(r));
    }
    return c->state == MQWS_CONN_OPEN ? 0 : -1;
}

void mqws_broker_core_lost(mqws_conn *c, mqws_err why)
{
    if (!c->core) return;
    mqws_broker *b = c->broker;
    mqws_core_conn *h = c->core;
    c->core = NULL;
    c->lost_deferred = false;
    b->in_core = true;
    /* the handle is gone before the call: reserve from inside it still works (the
     * DISCONNECT of a 5.0 error), a nested close is only recorded */
    c->core_lost_now = true;
    mqws_core_conn_lost(h, why, b->now_ms);
    c->core_lost_now = false;
    b->in_core = false;
}

void mqws_conn_set_client_id(mqws_conn *c, const void *id, size_t len)
{
    mqws_log_escape(c->client_id, sizeof c->client_id, id, len);
}

/* ------------------------------------------------------------------ reading */

/* An error found by the shell's decoders (assembler, stream): the core writes its
 * DISCONNECT (5.0), then the WebSocket close frame, then the socket closes. */
static void stream_error(mqws_conn *c, mqws_err r, uint64_t offset)
{
    char reason[200];
    snprintf(reason, sizeof reason, "%s (%s%s%s) at byte %llu", mqws_strerror(r),
             mqws_err_name(r), mqws_err_ref(r)[0] ? ", " : "", mqws_err_ref(r),
             (unsigned long long)offset);
    if (!c->close_reason) {
        memcpy(c->reason_buf, reason, sizeof c->reason_buf);
        c->close_reason = c->reason_buf;
        mqws_log("conn %llu %s %s client '%s' protocol error: %s", cid(c), c->client_addr,
                 mqws_transport_name(c->transport), c->client_id, reason);
    }
    mqws_broker_core_lost(c, r);
    uint16_t code = mqws_err_ws_close_code(r);
    mqws_conn_close(c, code, c->close_reason);
}

int mqws_conn_feed_mqtt(mqws_conn *c, uint8_t *data, size_t len)
{
    while (len > 0 && c->state == MQWS_CONN_OPEN) {
        size_t used = 0;
        mqws_bytes pkt;
        mqws_err r = mqws_assembler_feed(&c->assembler, data, len, &used, &pkt);
        data += used;
        len -= used;
        if (r == MQWS_NEED_MORE) break;
        if (r != MQWS_OK) {
            stream_error(c, r, c->assembler.err_offset);
            return -1;
        }
        int rc = mqws_broker_core_packet(c, pkt.ptr, pkt.len);
        if (pkt.ptr == c->packet_buf && pkt.len > 65536)
            madvise(c->packet_buf, pkt.len, MADV_DONTNEED); /* give a big packet's pages back */
        if (rc != 0) return -1;
    }
    return c->state == MQWS_CONN_OPEN ? 0 : -1;
}

static void read_again_add(mqws_conn *c)
{
    if (c->read_listed) return;
    c->read_listed = true;
    c->read_next = c->broker->read_again;
    c->broker->read_again = c;
}

/* Appends handshake bytes; returns how many of @p n were taken. */
static size_t head_append(mqws_conn *c, const uint8_t *data, size_t n)
{
    size_t cap = c->broker->cfg.max_header_bytes + 1;
    if (!c->head) {
        c->head = malloc(cap);
        c->req = calloc(1, sizeof *c->req);
        if (!c->head || !c->req) {
            mqws_conn_abort(c, "out of memory for the handshake");
            return 0;
        }
        c->req->max_bytes = c->broker->cfg.max_header_bytes;
    }
    size_t take = cap - c->head_len < n ? cap - c->head_len : n;
    memcpy(c->head + c->head_len, data, take);
    c->head_len += take;
    return take;
}

static void drain_read(mqws_conn *c)
{
    for (int i = 0; i < READS_PER_TURN; i++) {
        long n = c->ssl ? mqws_tls_read(c, c->broker->rbuf, MQWS_BROKER_READ_CHUNK)
                        : read(c->fd, c->broker->rbuf, MQWS_BROKER_READ_CHUNK);
        if (n > 0) continue;
        if (n < 0 && !c->ssl && (errno == EAGAIN || errno == EINTR)) return;
        if (n == -1 && c->ssl) return;
        mqws_conn_abort(c, NULL); /* EOF or error: the lingering close is over */
        return;
    }
}

void mqws_conn_read(mqws_conn *c)
{
    mqws_broker *b = c->broker;
    if (c->state == MQWS_CONN_DRAIN) {
        drain_read(c);
        return;
    }
    for (int i = 0; i < READS_PER_TURN; i++) {
        if (c->state == MQWS_CONN_DEAD) return;
        uint8_t *buf = b->rbuf;
        long n;
        if (c->ssl) {
            n = mqws_tls_read(c, buf, MQWS_BROKER_READ_CHUNK);
            if (n == -1) return;
            if (n == -2) { mqws_conn_abort(c, NULL); return; }
        } else {
            n = read(c->fd, buf, MQWS_BROKER_READ_CHUNK);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                c->close_reason = c->close_reason ? c->close_reason : strerror(errno);
                mqws_conn_abort(c, NULL);
                return;
            }
        }
        if (n == 0) {
            mqws_conn_abort(c, c->state == MQWS_CONN_OPEN && c->core
                                   ? "peer closed the connection"
                                   : "peer closed the connection before the handshake ended");
            return;
        }
        c->last_rx_ms = b->now_ms;
        size_t len = (size_t)n;
        switch (c->state) {
        case MQWS_CONN_WS_HANDSHAKE: {
            size_t took = head_append(c, buf, len);
            if (c->state == MQWS_CONN_DEAD) return;
            mqws_ws_handshake_step(c);
            /* bytes behind the head that did not fit in it: frames already */
            if (c->state == MQWS_CONN_OPEN && took < len) mqws_ws_feed(c, buf + took, len - took);
            break;
        }
        case MQWS_CONN_OPEN:
            if (mqws_transport_is_ws(c->transport)) mqws_ws_feed(c, buf, len);
            else mqws_conn_feed_mqtt(c, buf, len);
            break;
        default:
            break; /* closing: input is dropped */
        }
        if (c->state == MQWS_CONN_DEAD) return;
        if (c->read_paused || c->out_len - c->out_head > b->cfg.max_queue / 2) {
            /* own answers piling up: write them first (flush decides on pausing
             * reads); plaintext left inside OpenSSL is not seen by epoll */
            if (c->tls_read_pending) read_again_add(c);
            return;
        }
        if (!c->ssl && len < MQWS_BROKER_READ_CHUNK) return; /* socket drained */
    }
    /* the fairness bound was reached: let the others run, come back next turn */
    if (c->state != MQWS_CONN_DEAD) read_again_add(c);
}

void mqws_conn_on_event(mqws_conn *c, int mask)
{
    if (c->state == MQWS_CONN_DEAD) return;
    if (c->state == MQWS_CONN_TLS_HANDSHAKE) {
        int r = mqws_tls_handshake(c);
        if (r < 0) {
            mqws_conn_abort(c, NULL);
            return;
        }
        if (r == 0) {
            /* a handshake flight the socket could not take yet waits for writability */
            bool ww = mqws_tls_wants_write(c);
            if (ww != c->want_write) {
                c->want_write = ww;
                set_interest(c);
            }
            return;
        }
        if (c->want_write) {
            c->want_write = false;
            set_interest(c);
        }
        if (c->transport == MQWS_TR_WSS) c->state = MQWS_CONN_WS_HANDSHAKE;
        else mqws_conn_open_mqtt(c);
        if (c->state == MQWS_CONN_DEAD) return;
        mqws_conn_read(c); /* plaintext may already sit behind the Finished message */
        return;
    }
    if (mask & MQWS_POLL_WRITE) {
        c->want_write = false; /* flush sets it again if the socket is still full */
        set_interest(c);
        flush_list_add(c);
    }
    if (mask & (MQWS_POLL_READ | MQWS_POLL_ERROR)) mqws_conn_read(c);
}

/* ------------------------------------------------------------------ writing */

/* Makes room for @p need more bytes; false when that would pass @p limit. */
static bool out_room(mqws_conn *c, size_t need, size_t limit)
{
    size_t queued = c->out_len - c->out_head;
    if (queued + need > limit) return false;
    if (c->out_len + need <= c->out_cap) return true;
    if (c->out_head > 0) {
        memmove(c->out, c->out + c->out_head, queued);
        c->out_len = queued;
        c->out_head = 0;
        if (c->out_len + need <= c->out_cap) return true;
    }
    size_t cap = c->out_cap ? c->out_cap : 1024;
    while (cap < c->out_len + need) cap *= 2;
    uint8_t *n = realloc(c->out, cap);
    if (!n) return false;
    c->out = n;
    c->out_cap = cap;
    return true;
}

uint8_t *mqws_conn_reserve(mqws_conn *c, size_t len)
{
    /* after the close frame nothing more may go out; while the core's loss report
     * runs (5.0 DISCONNECT after a transport error) the close frame is not queued yet */
    if (c->state == MQWS_CONN_DEAD || (c->state != MQWS_CONN_OPEN && !c->core_lost_now))
        return NULL;
    bool ws = mqws_transport_is_ws(c->transport);
    size_t hdr = ws ? mqws_ws_header_size(len, false) : 0;
    if (!out_room(c, hdr + len, c->broker->cfg.max_queue)) {
        if (!c->queue_full_logged)
            mqws_log("conn %llu %s %s client '%s' send queue full (%zu bytes queued, --max-queue %zu)",
                     cid(c), c->client_addr, mqws_transport_name(c->transport), c->client_id,
                     c->out_len - c->out_head, c->broker->cfg.max_queue);
        c->core_blocked = true;
        c->queue_full_logged = true; /* again only after the queue drained completely */
        return NULL;
    }
    if (ws) {
        size_t w;
        mqws_ws_encode_header(c->out + c->out_len, hdr, &w, MQWS_WS_BINARY, true, len, NULL);
    }
    c->reserved_hdr = hdr;
    return c->out + c->out_len + hdr;
}

void mqws_conn_commit(mqws_conn *c, size_t len)
{
    if (c->reserved_hdr) mqws_trace("conn %llu ws tx frame binary fin len=%zu", cid(c), len);
    c->out_len += c->reserved_hdr + len;
    c->reserved_hdr = 0;
    flush_list_add(c);
}

int mqws_conn_send_raw(mqws_conn *c, const void *data, size_t len)
{
    /* control bytes (handshake answer, pong, close) may pass the queue limit a little */
    if (!out_room(c, len, c->broker->cfg.max_queue + 4096)) return -1;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    flush_list_add(c);
    return 0;
}

static void begin_drain(mqws_conn *c)
{
    /* lingering close: our FIN goes out, the peer's remaining bytes are read and
     * dropped, so a close frame or error response is not destroyed by a RST */
    mqws_tls_shutdown(c);
    shutdown(c->fd, SHUT_WR);
    c->state = MQWS_CONN_DRAIN;
    c->deadline_ms = c->broker->now_ms + LINGER_MS;
    c->want_write = false;
    c->read_paused = false;
    set_interest(c);
}

/* Writes what is queued: one pass, as much as the socket takes. */
static void flush_one(mqws_conn *c)
{
    mqws_broker *b = c->broker;
    while (c->out_head < c->out_len) {
        long n;
        size_t left = c->out_len - c->out_head;
        if (c->ssl) {
            n = mqws_tls_write(c, c->out + c->out_head, left);
            if (n == -2) { mqws_conn_abort(c, NULL); return; }
        } else {
            n = write(c->fd, c->out + c->out_head, left);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                if (!c->close_reason) c->close_reason = strerror(errno);
                mqws_conn_abort(c, NULL);
                return;
            }
            if (n < 0) n = -1;
        }
        if (n < 0) break;
        c->out_head += (size_t)n;
        if ((size_t)n < left) break;
    }
    size_t queued = c->out_len - c->out_head;
    if (queued == 0) {
        c->out_head = c->out_len = 0;
        c->queue_full_logged = false;
        if (c->out_cap > OUT_KEEP) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    }
    c->want_write = queued > 0;
    if (queued > b->cfg.max_queue / 2) {
        if (!c->over_since_ms) c->over_since_ms = b->now_ms;
    } else {
        c->over_since_ms = 0;
    }
    /* a client whose own answers pile up is not read until they drain (backpressure) */
    if (c->state == MQWS_CONN_OPEN) {
        if (!c->read_paused && queued > b->cfg.max_queue / 2) {
            c->read_paused = true;
            mqws_trace("conn %llu reading paused: %zu bytes queued", cid(c), queued);
        } else if (c->read_paused && queued <= b->cfg.max_queue / 8) {
            c->read_paused = false;
            if (c->ssl) read_again_add(c); /* OpenSSL may hold plaintext already */
        }
    }
    set_interest(c);
    if (queued == 0 && c->state == MQWS_CONN_CLOSING) {
        begin_drain(c);
        return;
    }
    if (c->core_blocked && queued <= b->cfg.max_queue / 2 && c->core && c->state == MQWS_CONN_OPEN) {
        c->core_blocked = false;
        b->in_core = true;
        mqws_core_conn_writable(c->core, b->now_ms);
        b->in_core = false;
    }
}

void mqws_conn_flush_all(mqws_broker *b)
{
    /* losses reported late (close asked from inside a core callback) first: the
     * core may still write to other connections from them */
    for (int round = 0; round < 4 && b->flush_list; round++) {
        mqws_conn *list = b->flush_list;
        b->flush_list = NULL;
        for (mqws_conn *c = list; c; c = c->flush_next)
            if (c->lost_deferred && c->state != MQWS_CONN_DEAD) mqws_broker_core_lost(c, MQWS_OK);
        while (list) {
            mqws_conn *c = list;
            list = c->flush_next;
            c->out_listed = false;
            if (c->state == MQWS_CONN_DEAD || c->state == MQWS_CONN_DRAIN) continue;
            if (c->lost_deferred) { flush_list_add(c); continue; }
            flush_one(c);
        }
    }
}

void mqws_conn_close(mqws_conn *c, uint16_t ws_code, const char *reason)
{
    if (c->state == MQWS_CONN_DEAD || c->state == MQWS_CONN_CLOSING || c->state == MQWS_CONN_DRAIN)
        return;
    mqws_broker *b = c->broker;
    remember_reason(c, reason);
    bool ws_open = mqws_transport_is_ws(c->transport) && c->state == MQWS_CONN_OPEN;
    c->state = MQWS_CONN_CLOSING;
    c->deadline_ms = b->now_ms + CLOSING_FLUSH_MS;
    c->read_paused = false;
    if (ws_open && ws_code) {
        uint8_t frame[8];
        size_t w = 0;
        /* 1005 means "no status" and is never sent: an empty close answers it */
        uint16_t send = ws_code == 1005 ? 0 : ws_code;
        if (mqws_ws_encode_close(frame, sizeof frame, &w, send, NULL, 0, NULL) == MQWS_OK) {
            mqws_conn_send_raw(c, frame, w);
            c->close_code = ws_code;
            mqws_trace("conn %llu ws tx close code=%u", cid(c), (unsigned)ws_code);
        }
    }
    if (c->core) {
        if (b->in_core) c->lost_deferred = true; /* reported from flush_all */
        else mqws_broker_core_lost(c, MQWS_OK);
    }
    flush_list_add(c);
}

static void log_close(mqws_conn *c, const char *reason)
{
    if (c->closed_logged) return;
    c->closed_logged = true;
    if (!reason) reason = c->close_reason ? c->close_reason : "closed";
    char code[24] = "";
    if (c->close_code) snprintf(code, sizeof code, " (close %u)", (unsigned)c->close_code);
    mqws_log("conn %llu %s %s client '%s' closed after %llu ms: %s%s", cid(c), c->client_addr,
             mqws_transport_name(c->transport), c->client_id,
             (unsigned long long)(c->broker->now_ms - c->opened_ms), reason, code);
}

void mqws_conn_abort(mqws_conn *c, const char *reason)
{
    if (c->state == MQWS_CONN_DEAD) return;
    mqws_broker *b = c->broker;
    remember_reason(c, reason);
    if (c->state == MQWS_CONN_DRAIN || reason) reason = NULL; /* log the remembered copy */ /* the reason was why it closed */
    log_close(c, reason);
    c->state = MQWS_CONN_DEAD;
    if (c->core && !b->in_core) mqws_broker_core_lost(c, MQWS_OK);
    else if (c->core) c->lost_deferred = true;
    mqws_poll_del(b->poller, c->fd);
    mqws_tls_conn_free(c);
    close(c->fd);
    c->fd = -1;
    /* off the connection list, onto the list freed at the end of the turn */
    if (c->prev) c->prev->next = c->next;
    else b->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = NULL;
    c->next = b->dead;
    b->dead = c;
    b->num_conns--;
}

void mqws_conn_free(mqws_conn *c)
{
    if (c->core) mqws_broker_core_lost(c, MQWS_OK);
    if (c->packet_buf) munmap(c->packet_buf, c->broker->cfg.max_packet);
    free(c->out);
    free(c->head);
    free(c->req);
    free(c->trace_dec);
    free(c);
}

/* ------------------------------------------------------------------ timers */

void mqws_conn_tick(mqws_conn *c)
{
    mqws_broker *b = c->broker;
    uint64_t now = b->now_ms;
    if (c->out && c->out_len == 0 && !c->out_listed) {
        /* idle for a tick: an idle connection keeps no send buffer */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    if (c->deadline_ms && now >= c->deadline_ms) {
        switch (c->state) {
        case MQWS_CONN_TLS_HANDSHAKE:
            mqws_conn_abort(c, "TLS handshake timeout (--handshake-timeout)");
            return;
        case MQWS_CONN_WS_HANDSHAKE: {
            static const char timeout[] =
                "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                "Content-Length: 35\r\n\r\nWebSocket handshake timed out (408)";
            mqws_log("conn %llu %s %s handshake timeout: %zu header bytes in %u ms", cid(c),
                     c->peer, mqws_transport_name(c->transport), c->head_len,
                     b->cfg.handshake_timeout_ms);
            mqws_conn_send_raw(c, timeout, sizeof timeout - 1);
            mqws_conn_close(c, 0, "handshake timeout (--handshake-timeout): 408");
            return;
        }
        case MQWS_CONN_CLOSING:
            mqws_conn_abort(c, NULL);
            return;
        case MQWS_CONN_DRAIN:
            mqws_conn_abort(c, NULL);
            return;
        default:
            break;
        }
    }
    if (c->state == MQWS_CONN_OPEN && c->over_since_ms &&
        now - c->over_since_ms >= b->cfg.slow_reader_ms) {
        snprintf(c->reason_buf, sizeof c->reason_buf,
                 "slow reader: send queue above half of --max-queue (%zu bytes) for %u ms",
                 b->cfg.max_queue, b->cfg.slow_reader_ms);
        mqws_log("conn %llu %s %s client '%s' %s", cid(c), c->client_addr,
                 mqws_transport_name(c->transport), c->client_id, c->reason_buf);
        mqws_conn_close(c, 1008, c->reason_buf);
        return;
    }
    if (c->state == MQWS_CONN_OPEN && mqws_transport_is_ws(c->transport) && c->next_ping_ms &&
        now >= c->next_ping_ms) {
        uint64_t iv = b->cfg.ws_ping_interval * 1000ull;
        if (now - c->last_rx_ms >= iv) mqws_ws_send_ping(c);
        c->next_ping_ms = (now - c->last_rx_ms >= iv ? now : c->last_rx_ms) + iv;
    }
}
