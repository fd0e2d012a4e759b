/*
 * loadgen_conn.c - one client connection of mqws-loadgen: TCP connect, the
 * WebSocket opening handshake, CONNECT, SUBSCRIBE, then PUBLISH out and in.
 *
 * Reads are pushed whole into mqws_stream (client role), which yields packets
 * as views into the read buffer; every packet goes through mqws_mqtt_decode.
 * Writes are encoded straight into the connection's send buffer behind a
 * masked frame header and flushed once per loop turn (lg_conn_flush).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadgen.h"

void lg_fail(lg_run *run, lg_conn *c, const char *fmt, ...)
{
    if (run->error[0] == '\0') {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (c)
            snprintf(run->error, sizeof run->error, "connection %u (%s): %s", c->idx,
                     c->role == LG_ROLE_PUB ? "publisher"
                     : c->role == LG_ROLE_SUB ? "subscriber" : "idle", msg);
        else
            snprintf(run->error, sizeof run->error, "%s", msg);
    }
    if (c && c->state != LG_ST_FAILED) {
        if (c->state != LG_ST_READY && c->state != LG_ST_NEW && run->in_setup > 0)
            run->in_setup--;
        c->state = LG_ST_FAILED;
        if (c->fd >= 0) {
            epoll_ctl(run->epfd, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
        }
    }
}

/* xorshift64*: masking keys. RFC 6455 5.3 asks for unpredictable keys so that
 * a script cannot steer the wire bytes through a proxy; a load generator only
 * needs them to vary. */
static uint32_t next_rand(lg_run *run)
{
    uint64_t x = run->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    run->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static void mark_dirty(lg_run *run, lg_conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = run->dirty_head;
        run->dirty_head = c;
    }
}

/* Makes room for @p need bytes at the end of the send buffer. */
static bool wbuf_room(lg_conn *c, size_t need)
{
    if (c->wcap - c->wlen >= need)
        return true;
    if (c->woff > 0) {
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    return c->wcap - c->wlen >= need;
}

/*
 * Appends one MQTT packet as one masked binary frame. @p size is the encoded
 * size when known (0: asked from the encoder).
 */
static bool send_packet(lg_run *run, lg_conn *c, const mqws_packet *p, size_t size)
{
    mqws_mqtt_version v = (mqws_mqtt_version)run->cfg->mqtt_version;
    if (size == 0) {
        mqws_err r = mqws_mqtt_encode(p, v, NULL, 0, &size);
        if (r != MQWS_ERR_BUFFER_TOO_SMALL) {
            lg_fail(run, c, "encoding %s: %s", mqws_packet_type_name(p->type), mqws_strerror(r));
            return false;
        }
    }
    size_t hlen = mqws_ws_header_size(size, true);
    if (!wbuf_room(c, hlen + size))
        return false;
    uint32_t k = next_rand(run);
    uint8_t mask[4];
    memcpy(mask, &k, 4);
    uint8_t *out = c->wbuf + c->wlen;
    size_t n = 0, m = 0;
    mqws_err r = mqws_ws_encode_header(out, hlen, &n, MQWS_WS_BINARY, true, size, mask);
    if (r == MQWS_OK)
        r = mqws_mqtt_encode(p, v, out + n, size, &m);
    if (r != MQWS_OK || m != size) {
        lg_fail(run, c, "encoding %s: %s", mqws_packet_type_name(p->type), mqws_strerror(r));
        return false;
    }
    mqws_ws_mask(out + n, size, mask, 0);
    c->wlen += n + size;
    c->last_send_ns = lg_now_ns();
    mark_dirty(run, c);
    return true;
}

/* A control frame (pong, close) with a copied, masked payload. */
static bool send_control(lg_run *run, lg_conn *c, mqws_ws_opcode op, const uint8_t *data,
                         size_t len)
{
    size_t need = MQWS_WS_MAX_HEADER + len;
    if (!wbuf_room(c, need))
        return false;
    uint32_t k = next_rand(run);
    uint8_t mask[4];
    memcpy(mask, &k, 4);
    size_t n = 0;
    mqws_err r = mqws_ws_encode_frame(c->wbuf + c->wlen, c->wcap - c->wlen, &n, op, true, data,
                                      len, mask);
    if (r != MQWS_OK) {
        lg_fail(run, c, "encoding a control frame: %s", mqws_strerror(r));
        return false;
    }
    c->wlen += n;
    mark_dirty(run, c);
    return true;
}

void lg_conn_flush(lg_run *run, lg_conn *c)
{
    while (c->fd >= 0 && c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->out_armed) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(run->epfd, EPOLL_CTL_MOD, c->fd, &ev);
                c->out_armed = true;
            }
            return;
        }
        lg_fail(run, c, "write: %s", n < 0 ? strerror(errno) : "0 bytes written");
        return;
    }
    c->woff = c->wlen = 0;
    if (c->out_armed && c->fd >= 0 && c->state != LG_ST_TCP) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(run->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->out_armed = false;
    }
    /* A closed-loop publisher that stopped on a full send buffer goes on. */
    if (c->pub && run->publishing && run->cfg->rate <= 0 && lg_pub_can_publish(run, c->pub))
        lg_mark_ready(run, c->pub);
}

int lg_conn_start(lg_run *run, lg_conn *c)
{
    int fd = socket(run->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        lg_fail(run, c, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = LG_ST_TCP;
    run->in_setup++;
    run->started++;
    if (connect(fd, (struct sockaddr *)&run->addr, run->addr_len) != 0 && errno != EINPROGRESS) {
        lg_fail(run, c, "connect: %s", strerror(errno));
        return -1;
    }
    /* Completion (or refusal) shows as writable. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(run->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        lg_fail(run, c, "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    c->out_armed = true;
    return 0;
}

static void send_ws_request(lg_run *run, lg_conn *c)
{
    const char *offer[] = {"mqtt"};
    mqws_hs_client_config cc = {run->cfg->host_header, run->cfg->path, NULL, offer, 1};
    uint8_t nonce[16];
    for (int i = 0; i < 16; i += 4) {
        uint32_t k = next_rand(run);
        memcpy(nonce + i, &k, 4);
    }
    size_t n = 0;
    wbuf_room(c, 512);
    mqws_err r = mqws_hs_client_request(&cc, nonce, (char *)c->wbuf + c->wlen, c->wcap - c->wlen,
                                        &n, c->key);
    if (r != MQWS_OK) {
        lg_fail(run, c, "handshake request: %s", mqws_strerror(r));
        return;
    }
    c->wlen += n;
    c->resp = calloc(1, sizeof *c->resp);
    if (!c->resp) {
        lg_fail(run, c, "out of memory");
        return;
    }
    c->state = LG_ST_WS;
    mark_dirty(run, c);
}

static void send_connect(lg_run *run, lg_conn *c)
{
    char id[48];
    int idn = snprintf(id, sizeof id, "mqws-lg-%d-%u", (int)getpid(), c->idx);
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_CONNECT;
    p.connect.level = (uint8_t)run->cfg->mqtt_version;
    p.connect.clean_start = true;
    p.connect.keep_alive = (uint16_t)run->cfg->keepalive;
    p.connect.client_id = (mqws_str){id, (size_t)idn};
    if (send_packet(run, c, &p, 0))
        c->state = LG_ST_CONNACK;
    else if (c->state != LG_ST_FAILED)
        lg_fail(run, c, "no room for CONNECT");
}

static void send_subscribe(lg_run *run, lg_conn *c)
{
    uint8_t list[128];
    size_t len = 0;
    mqws_err r = mqws_list_append_sub(list, sizeof list, &len, (mqws_str){c->topic, c->topic_len},
                                      true, (uint8_t)run->cfg->qos);
    if (r != MQWS_OK) {
        lg_fail(run, c, "SUBSCRIBE list: %s", mqws_strerror(r));
        return;
    }
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_SUBSCRIBE;
    p.packet_id = 1;
    p.list = (mqws_list){list, len, 1};
    if (send_packet(run, c, &p, 0))
        c->state = LG_ST_SUBACK;
    else if (c->state != LG_ST_FAILED)
        lg_fail(run, c, "no room for SUBSCRIBE");
}

static void became_ready(lg_run *run, lg_conn *c)
{
    c->state = LG_ST_READY;
    run->ready++;
    run->in_setup--;
}

bool lg_send_pingreq(lg_run *run, lg_conn *c)
{
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_PINGREQ;
    return send_packet(run, c, &p, 2);
}

bool lg_pub_can_publish(const lg_run *run, const lg_pub *p)
{
    if (run->cfg->count > 0 && run->measuring && run->published_measured >= run->cfg->count)
        return false;
    return p->conn->state == LG_ST_READY && p->next_seq - p->low < run->cfg->window &&
           p->unacked < 65000u;
}

void lg_mark_ready(lg_run *run, lg_pub *p)
{
    if (!p->listed) {
        p->listed = true;
        p->next_ready = run->ready_head;
        run->ready_head = p;
    }
}

static void put_le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static void put_le32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

bool lg_publish(lg_run *run, lg_pub *p, uint64_t stamp_ns)
{
    lg_conn *c = p->conn;
    uint64_t seq = p->next_seq;
    put_le64(p->payload, seq);
    put_le64(p->payload + 8, stamp_ns);
    put_le32(p->payload + 16, p->index);
    put_le32(p->payload + 20, LG_PAYLOAD_MAGIC);
    if (p->tmpl.publish.qos > 0) {
        if (++p->next_pid == 0)
            p->next_pid = 1;
        p->tmpl.packet_id = p->next_pid;
    }
    if (!send_packet(run, c, &p->tmpl, p->pkt_size))
        return false;
    p->remaining[seq % run->cfg->window] = p->nsubs;
    p->next_seq++;
    if (p->tmpl.publish.qos > 0)
        p->unacked++;
    run->published_total++;
    if (run->measuring)
        run->published_measured++;
    return true;
}

/* Sequence numbers [from, to) of @p p were seen (or skipped) by one subscriber. */
static void release(lg_run *run, lg_pub *p, uint64_t from, uint64_t to)
{
    unsigned w = run->cfg->window;
    for (uint64_t k = from; k < to; k++)
        p->remaining[k % w]--;
    bool was_full = p->next_seq - p->low >= w;
    while (p->low < p->next_seq && p->remaining[p->low % w] == 0)
        p->low++;
    if (was_full && p->next_seq - p->low < w && run->publishing && run->cfg->rate <= 0)
        lg_mark_ready(run, p);
}

static void on_publish(lg_run *run, lg_conn *c, const mqws_packet *pkt, uint64_t now)
{
    const mqws_publish *m = &pkt->publish;
    if (m->qos > 0) {
        mqws_packet ack;
        memset(&ack, 0, sizeof ack);
        ack.type = MQWS_PUBACK;
        ack.packet_id = pkt->packet_id;
        if (!send_packet(run, c, &ack, 4)) {
            if (c->state != LG_ST_FAILED)
                lg_fail(run, c, "send buffer full: cannot queue PUBACK");
            return;
        }
    }
    if (c->role != LG_ROLE_SUB || m->payload.len < LG_PAYLOAD_HEADER ||
        get_le32(m->payload.ptr + 20) != LG_PAYLOAD_MAGIC) {
        lg_fail(run, c, "unexpected PUBLISH (topic %.*s, %zu bytes)", (int)m->topic.len,
                m->topic.ptr, m->payload.len);
        return;
    }
    lg_pub *src = c->src;
    uint64_t seq = get_le64(m->payload.ptr);
    uint64_t stamp = get_le64(m->payload.ptr + 8);
    if (get_le32(m->payload.ptr + 16) != src->index || seq >= src->next_seq) {
        run->future_seq++;
        return;
    }
    run->delivered_total++;
    if (seq < c->next_expected) {
        c->duplicates++;
        return;
    }
    c->received++;
    release(run, src, c->next_expected, seq + 1);
    c->next_expected = seq + 1;
    /* Time-bounded: every delivery inside the window counts. --count: only
     * the N messages published in the measurement, so the figures are exact. */
    if (run->measuring && (run->cfg->count == 0 || seq >= src->seq0)) {
        run->delivered_measured++;
        lg_hist_add(&run->hist, now > stamp ? now - stamp : 0);
    }
}

static void on_packet(lg_run *run, lg_conn *c, mqws_bytes data, uint64_t now)
{
    mqws_packet pkt;
    size_t bad = 0;
    mqws_err r = mqws_mqtt_decode(data.ptr, data.len, (mqws_mqtt_version)run->cfg->mqtt_version,
                                  NULL, &pkt, NULL, &bad);
    if (r != MQWS_OK) {
        lg_fail(run, c, "bad packet from the broker: %s at byte %zu", mqws_strerror(r), bad);
        return;
    }
    switch (pkt.type) {
    case MQWS_PUBLISH:
        on_publish(run, c, &pkt, now);
        break;
    case MQWS_PUBACK:
        if (c->pub && c->pub->unacked > 0)
            c->pub->unacked--;
        break;
    case MQWS_CONNACK:
        if (c->state != LG_ST_CONNACK) {
            lg_fail(run, c, "unexpected CONNACK");
        } else if (pkt.reason_code != 0) {
            lg_fail(run, c, "CONNACK refused: code 0x%02x", pkt.reason_code);
        } else if (c->role == LG_ROLE_SUB) {
            send_subscribe(run, c);
        } else {
            became_ready(run, c);
        }
        break;
    case MQWS_SUBACK: {
        uint8_t code = pkt.list.count > 0 ? pkt.list.raw[0] : 0x80;
        if (c->state != LG_ST_SUBACK)
            lg_fail(run, c, "unexpected SUBACK");
        else if (code >= 0x80)
            lg_fail(run, c, "SUBSCRIBE refused: code 0x%02x", code);
        else if (code != run->cfg->qos)
            lg_fail(run, c, "SUBSCRIBE granted QoS %u, asked %d", code, run->cfg->qos);
        else
            became_ready(run, c);
        break;
    }
    case MQWS_PINGRESP:
        break;
    case MQWS_DISCONNECT:
        lg_fail(run, c, "DISCONNECT from the broker (reason 0x%02x)", pkt.reason_code);
        break;
    default:
        lg_fail(run, c, "unexpected %s", mqws_packet_type_name(pkt.type));
        break;
    }
}

static void on_stream_bytes(lg_run *run, lg_conn *c, uint8_t *buf, size_t len)
{
    uint64_t now = lg_now_ns();
    while (c->state != LG_ST_FAILED) {
        size_t used = 0;
        mqws_stream_event ev;
        mqws_err r = mqws_stream_feed(&c->stream, buf, len, &used, &ev);
        buf += used;
        len -= used;
        if (r == MQWS_NEED_MORE)
            return;
        if (r != MQWS_OK) {
            lg_fail(run, c, "WebSocket stream from the broker: %s (close %u)", mqws_strerror(r),
                    mqws_err_ws_close_code(r));
            return;
        }
        switch (ev.type) {
        case MQWS_STREAM_PACKET:
            on_packet(run, c, ev.data, now);
            break;
        case MQWS_STREAM_PING:
            send_control(run, c, MQWS_WS_PONG, ev.data.ptr, ev.data.len);
            break;
        case MQWS_STREAM_PONG:
            break;
        case MQWS_STREAM_CLOSE:
            lg_fail(run, c, "WebSocket close from the broker: %u %.*s", ev.close_code,
                    (int)ev.close_reason.len, ev.close_reason.ptr);
            return;
        }
    }
}

static void on_handshake_bytes(lg_run *run, lg_conn *c)
{
    size_t head = 0;
    mqws_err r = mqws_hs_parse_response(c->resp, (const char *)c->rbuf, c->rlen, &head);
    if (r == MQWS_NEED_MORE) {
        if (c->rlen == c->rcap)
            lg_fail(run, c, "handshake response larger than %zu bytes", c->rcap);
        return;
    }
    if (r != MQWS_OK) {
        lg_fail(run, c, "handshake response: %s", mqws_strerror(r));
        return;
    }
    const char *offer[] = {"mqtt"};
    mqws_hs_client_config cc = {run->cfg->host_header, run->cfg->path, NULL, offer, 1};
    r = mqws_hs_client_verify(c->resp, &cc, c->key, NULL);
    if (r != MQWS_OK) {
        lg_fail(run, c, "handshake refused (HTTP %d): %s", c->resp->status, mqws_strerror(r));
        return;
    }
    free(c->resp);
    c->resp = NULL;
    size_t rest = c->rlen - head;
    c->rlen = 0;
    mqws_stream_init(&c->stream, MQWS_ROLE_CLIENT, c->pkt, c->pkt_cap, 0);
    send_connect(run, c);
    if (rest > 0 && c->state != LG_ST_FAILED)
        on_stream_bytes(run, c, c->rbuf + head, rest);
}

static void on_readable(lg_run *run, lg_conn *c)
{
    for (;;) {
        size_t room = c->rcap - c->rlen;
        ssize_t n = read(c->fd, c->rbuf + c->rlen, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            lg_fail(run, c, "%s", n == 0 ? "the broker closed the connection" : strerror(errno));
            return;
        }
        if (c->state == LG_ST_WS) {
            c->rlen += (size_t)n;
            on_handshake_bytes(run, c);
        } else {
            on_stream_bytes(run, c, c->rbuf, (size_t)n);
        }
        /* Level-triggered: one read per event keeps connections fair; a full
         * buffer means more is waiting, which the next epoll_wait reports. */
        return;
    }
}

void lg_conn_event(lg_run *run, lg_conn *c, uint32_t events)
{
    if (c->state == LG_ST_FAILED)
        return;
    if (c->state == LG_ST_TCP) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            lg_fail(run, c, "connect: %s", strerror(err));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN)))
            return;
        send_ws_request(run, c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(run, c);
    if ((events & EPOLLOUT) && c->state != LG_ST_FAILED)
        lg_conn_flush(run, c);
}
