/*
 * session.c - sessions and the server-to-client QoS flow: queue, in-flight
 * window (Receive Maximum), packet identifiers, acknowledgements, redelivery
 * with DUP on resume.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

core_session *core_session_find(mqws_core *c, mqws_str id)
{
    uint32_t h = core_hash(c, id.ptr, id.len);
    for (core_hnode *n = core_htab_bucket(&c->sessions, h); n; n = n->next) {
        core_session *s = (core_session *)n;
        if (n->hash == h && s->client_id_len == id.len && !memcmp(s->client_id, id.ptr, id.len))
            return s;
    }
    return NULL;
}

core_session *core_session_new(mqws_core *c, mqws_str id)
{
    core_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->client_id = malloc(id.len + 1);
    if (!s->client_id) {
        free(s);
        return NULL;
    }
    if (id.len)
        memcpy(s->client_id, id.ptr, id.len);
    s->client_id[id.len] = '\0';
    s->client_id_len = id.len;
    s->id = c->next_session_id++;
    s->next_pid = 1;
    s->node.hash = core_hash(c, id.ptr, id.len);
    core_htab_insert(&c->sessions, &s->node);
    c->st.sessions++;
    return s;
}

static void outq_free(mqws_core *c, core_outq *q)
{
    core_out *o = q->head;
    while (o) {
        core_out *next = o->next;
        c->st.queued_bytes -= core_msg_bytes(o->m);
        core_msg_unref(o->m);
        free(o);
        o = next;
    }
    q->head = q->tail = NULL;
    q->n = 0;
}

void core_session_free(mqws_core *c, core_session *s)
{
    if (s->conn) {
        s->conn->s = NULL;
        s->conn = NULL;
    }
    core_sub_remove_all(c, s);
    free(s->subs);
    outq_free(c, &s->inflight);
    outq_free(c, &s->queue);
    free(s->rx_qos2);
    core_will_drop(s);
    core_htab_remove(&c->sessions, &s->node);
    c->st.sessions--;
    free(s->client_id);
    free(s);
}

static void outq_push(core_outq *q, core_out *o)
{
    o->next = NULL;
    if (q->tail)
        q->tail->next = o;
    else
        q->head = o;
    q->tail = o;
    q->n++;
}

static core_out *outq_pop(core_outq *q)
{
    core_out *o = q->head;
    if (o) {
        q->head = o->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
    }
    return o;
}

static void outq_push_front(core_outq *q, core_out *o)
{
    o->next = q->head;
    q->head = o;
    if (!q->tail)
        q->tail = o;
    q->n++;
}

/* Unlinks the in-flight entry with @p pid in @p state; NULL when there is none. */
static core_out *inflight_take(core_session *s, uint16_t pid, uint8_t state)
{
    core_out *prev = NULL;
    for (core_out *o = s->inflight.head; o; prev = o, o = o->next) {
        if (o->pid != pid || o->state != state)
            continue;
        if (prev)
            prev->next = o->next;
        else
            s->inflight.head = o->next;
        if (s->inflight.tail == o)
            s->inflight.tail = prev;
        s->inflight.n--;
        return o;
    }
    return NULL;
}

static void out_free(mqws_core *c, core_session *s, core_out *o)
{
    c->st.queued_bytes -= core_msg_bytes(o->m);
    if (o->unsent)
        s->nunsent--;
    s->queued_bytes -= core_msg_bytes(o->m);
    core_msg_unref(o->m);
    free(o);
}

static bool scratch_fit(mqws_core *c, size_t need)
{
    if (need <= c->scratch_cap)
        return true;
    uint8_t *p = realloc(c->scratch, need);
    if (!p)
        return false;
    c->scratch = p;
    c->scratch_cap = need;
    return true;
}

/* Writes one PUBLISH: the message's forwarded properties, the remaining Message
 * Expiry Interval (MQTT-3.3.2-6) and the Subscription Identifiers (3.3.4). */
static core_send_result send_publish(mqws_core_conn *conn, const core_msg *m, uint8_t qos,
                                     bool retain, bool dup, uint16_t pid, const uint32_t *subids,
                                     uint32_t nsubids, uint64_t now)
{
    mqws_core *c = conn->core;
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_PUBLISH;
    p.packet_id = pid;
    p.publish.topic.ptr = m->topic;
    p.publish.topic.len = m->topic_len;
    p.publish.payload.ptr = m->payload;
    p.publish.payload.len = m->payload_len;
    p.publish.qos = qos;
    p.publish.retain = retain;
    p.publish.dup = dup;
    if (conn->version == MQWS_MQTT_V5) {
        size_t need = m->props_len + 5 + (size_t)nsubids * 5;
        if (!scratch_fit(c, need))
            return SEND_FULL;
        memcpy(c->scratch, m->props, m->props_len);
        mqws_props_builder b = {c->scratch, need, m->props_len, MQWS_OK};
        if (m->has_expiry) {
            uint64_t left = m->expire_at_ms > now ? (m->expire_at_ms - now + 999) / 1000 : 0;
            mqws_props_add_int(&b, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, (uint32_t)left);
        }
        for (uint32_t i = 0; i < nsubids; i++)
            mqws_props_add_int(&b, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, subids[i]);
        p.props.raw = c->scratch;
        p.props.raw_len = b.len;
    }
    core_send_result r = core_send(conn, &p);
    if (r == SEND_OK)
        c->st.deliveries++;
    return r;
}

static bool expired(const core_msg *m, uint64_t now)
{
    return m->has_expiry && now >= m->expire_at_ms;
}

void core_session_enqueue(mqws_core *c, core_session *s, core_msg *m, uint8_t qos, bool retain,
                          const uint32_t *subids, uint32_t nsubids, uint64_t now)
{
    mqws_core_conn *conn = s->conn;
    bool live = conn && conn->state == CONN_ACTIVE;
    if (qos == 0) {
        /* QoS 0 is not queued: sent now, or dropped for an offline or blocked client. */
        if (!live)
            return;
        core_send_result r = conn->blocked ? SEND_FULL
                                           : send_publish(conn, m, 0, retain, false, 0, subids,
                                                          nsubids, now);
        if (r == SEND_FULL) {
            c->st.dropped++;
            conn->blocked = true;
            if (!conn->dropping)
                core_clog(conn, "slow reader: send buffer full, QoS 0 messages dropped");
            conn->dropping = true;
        } else if (r == SEND_TOO_BIG) {
            c->st.dropped++;
            if (!conn->too_big_logged)
                core_clog(conn, "message on '%.100s' larger than the client's Maximum Packet "
                          "Size: dropped (MQTT-3.1.2-25; logged once per connection)", m->topic);
            conn->too_big_logged = true;
        }
        return;
    }
    size_t bytes = core_msg_bytes(m);
    if (s->queue.n >= c->cfg.max_queued || s->queued_bytes + bytes > c->cfg.max_queued_bytes ||
        c->st.queued_bytes + bytes > c->cfg.max_total_queued_bytes) {
        c->st.dropped++;
        if (!s->dropping) /* one line per episode, not one per message */
            core_log(c, "session '%.100s': queue full (%u messages, %llu bytes; %llu bytes over "
                     "all sessions): QoS %u message on '%.100s' dropped, and further ones until "
                     "there is room", s->client_id, s->queue.n,
                     (unsigned long long)s->queued_bytes,
                     (unsigned long long)c->st.queued_bytes, qos, m->topic);
        s->dropping = true;
        return;
    }
    core_out *o = malloc(sizeof *o + (size_t)nsubids * sizeof(uint32_t));
    if (!o) {
        c->st.dropped++;
        core_log(c, "session '%.100s': out of memory, message dropped", s->client_id);
        return;
    }
    memset(o, 0, sizeof *o);
    core_msg_ref(m);
    o->m = m;
    o->qos = qos;
    o->retain = retain;
    o->nsubids = nsubids;
    if (nsubids)
        memcpy(o->subids, subids, nsubids * sizeof(uint32_t));
    s->queued_bytes += bytes;
    c->st.queued_bytes += bytes;
    s->dropping = false;
    outq_push(&s->queue, o);
    if (live)
        core_session_pump(s, now);
}

static bool pid_in_use(const core_session *s, uint16_t pid)
{
    for (const core_out *o = s->inflight.head; o; o = o->next)
        if (o->pid == pid)
            return true;
    return false;
}

static uint16_t next_pid(core_session *s)
{
    for (;;) {
        uint16_t pid = s->next_pid++;
        if (s->next_pid == 0)
            s->next_pid = 1;
        if (!pid_in_use(s, pid))
            return pid;
    }
}

static core_send_result send_pubrel(mqws_core_conn *conn, uint16_t pid, uint8_t rc);

/* Resumed in-flight entries first, each when the window has room for it: the
 * new connection's Receive Maximum may be smaller than the old one's. */
static bool resend_unsent(core_session *s, uint32_t window, uint64_t now)
{
    mqws_core_conn *conn = s->conn;
    core_out *next;
    for (core_out *o = s->inflight.head; o && s->nunsent; o = next) {
        next = o->next;
        if (!o->unsent)
            continue;
        if (s->inflight.n - s->nunsent >= window)
            return false;
        core_send_result r =
            o->state == OUT_WAIT_COMP
                ? send_pubrel(conn, o->pid, 0)
                : send_publish(conn, o->m, o->qos, o->retain, true, o->pid, o->subids,
                               o->nsubids, now); /* DUP (MQTT-3.3.1-1) */
        if (r == SEND_FULL) {
            conn->blocked = true;
            return false;
        }
        if (r == SEND_TOO_BIG) { /* the new connection announced a smaller Maximum Packet Size */
            conn->core->st.dropped++;
            if (!conn->too_big_logged)
                core_clog(conn, "resent message on '%.100s' larger than the client's Maximum "
                          "Packet Size: dropped (MQTT-3.1.2-25; logged once per connection)",
                          o->m->topic);
            conn->too_big_logged = true;
            out_free(conn->core, s, inflight_take(s, o->pid, o->state));
            continue;
        }
        o->unsent = false;
        s->nunsent--;
    }
    return s->nunsent == 0;
}

void core_session_pump(core_session *s, uint64_t now)
{
    mqws_core_conn *conn = s->conn;
    if (!conn || conn->state != CONN_ACTIVE || conn->blocked)
        return;
    mqws_core *c = conn->core;
    uint32_t window = c->cfg.max_inflight;
    if (conn->client_receive_max && conn->client_receive_max < window)
        window = conn->client_receive_max;
    if (s->nunsent && !resend_unsent(s, window, now))
        return;
    while (s->queue.head && s->inflight.n < window) {
        core_out *o = outq_pop(&s->queue);
        if (expired(o->m, now)) { /* MQTT-3.3.2-5 */
            out_free(conn->core, s, o);
            continue;
        }
        o->pid = next_pid(s);
        core_send_result r =
            send_publish(conn, o->m, o->qos, o->retain, false, o->pid, o->subids, o->nsubids, now);
        if (r == SEND_FULL) {
            o->pid = 0;
            outq_push_front(&s->queue, o);
            conn->blocked = true;
            return;
        }
        if (r == SEND_TOO_BIG) {
            c->st.dropped++;
            if (!conn->too_big_logged)
                core_clog(conn, "QoS %u message on '%.100s' larger than the client's Maximum "
                          "Packet Size: dropped (MQTT-3.1.2-25; logged once per connection)",
                          o->qos, o->m->topic);
            conn->too_big_logged = true;
            out_free(conn->core, s, o);
            continue;
        }
        o->state = OUT_WAIT_ACK;
        outq_push(&s->inflight, o);
    }
}

static core_send_result send_pubrel(mqws_core_conn *conn, uint16_t pid, uint8_t rc)
{
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_PUBREL;
    p.packet_id = pid;
    p.reason_code = conn->version == MQWS_MQTT_V5 ? rc : 0;
    return core_send(conn, &p);
}

void core_session_resend(core_session *s, uint64_t now)
{
    for (core_out *o = s->inflight.head; o; o = o->next)
        if (!o->unsent) {
            o->unsent = true;
            s->nunsent++;
        }
    core_session_pump(s, now);
}

void core_on_puback(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    core_session *s = conn->s;
    core_out *o = inflight_take(s, p->packet_id, OUT_WAIT_ACK);
    if (!o || o->qos != 1) {
        if (o) /* a PUBACK for a QoS 2 message: keep it waiting for PUBREC */
            outq_push_front(&s->inflight, o);
        core_clog(conn, "PUBACK for unknown packet id %u ignored", p->packet_id);
        return;
    }
    out_free(conn->core, s, o);
    core_session_pump(s, now);
}

void core_on_pubrec(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    core_session *s = conn->s;
    core_out *o = inflight_take(s, p->packet_id, OUT_WAIT_ACK);
    if (!o || o->qos != 2) {
        if (o)
            outq_push_front(&s->inflight, o);
        bool known = false;
        for (core_out *w = s->inflight.head; w; w = w->next)
            known |= w->pid == p->packet_id && w->state == OUT_WAIT_COMP;
        /* a repeated PUBREC gets PUBREL again; an unknown one 0x92 (5.0 4.3.3) */
        (void)send_pubrel(conn, p->packet_id, known ? 0 : 0x92);
        return;
    }
    if (p->reason_code >= 0x80) { /* 5.0: the client refused the message, the flow ends */
        out_free(conn->core, s, o);
        core_session_pump(s, now);
        return;
    }
    o->state = OUT_WAIT_COMP;
    outq_push(&s->inflight, o);
    bool full = send_pubrel(conn, o->pid, 0) == SEND_FULL;
    if (o->unsent) /* acknowledged before its resend came */
        s->nunsent--;
    o->unsent = full; /* PUBREL sent again after writable */
    if (full) {
        s->nunsent++;
        conn->blocked = true;
    }
}

void core_on_pubcomp(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    core_session *s = conn->s;
    core_out *o = inflight_take(s, p->packet_id, OUT_WAIT_COMP);
    if (!o) {
        core_clog(conn, "PUBCOMP for unknown packet id %u ignored", p->packet_id);
        return;
    }
    out_free(conn->core, s, o);
    core_session_pump(s, now);
}
