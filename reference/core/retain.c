/*
 * retain.c - retained messages: one per topic, set by a retained PUBLISH,
 * cleared by an empty one (MQTT-3.3.1-10/11), sent on subscribe.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

static core_retained *find(mqws_core *c, const char *topic, size_t len, uint32_t h)
{
    for (core_hnode *n = core_htab_bucket(&c->retained, h); n; n = n->next) {
        core_retained *r = (core_retained *)n;
        if (n->hash == h && r->m->topic_len == len && !memcmp(r->m->topic, topic, len))
            return r;
    }
    return NULL;
}

static void drop(mqws_core *c, core_retained *r)
{
    core_htab_remove(&c->retained, &r->node);
    c->st.retained--;
    c->st.retained_bytes -= core_msg_bytes(r->m);
    core_msg_unref(r->m);
    free(r);
}

void core_retain_store(mqws_core *c, core_msg *m)
{
    uint32_t h = core_hash(c, m->topic, m->topic_len);
    core_retained *r = find(c, m->topic, m->topic_len, h);
    if (m->payload_len == 0) {
        if (r)
            drop(c, r);
        return;
    }
    size_t bytes = core_msg_bytes(m);
    uint64_t total = c->st.retained_bytes + bytes - (r ? core_msg_bytes(r->m) : 0);
    if ((!r && c->st.retained >= c->cfg.max_retained) || total > c->cfg.max_retained_bytes) {
        c->st.dropped++;
        if (!c->retain_full_logged)
            core_log(c, "retained store full (%u messages, %llu bytes): '%.100s' not retained, "
                     "nor further new topics until there is room", c->st.retained,
                     (unsigned long long)c->st.retained_bytes, m->topic);
        c->retain_full_logged = true;
        return;
    }
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) {
            core_log(c, "out of memory: '%.100s' not retained", m->topic);
            return;
        }
        r->node.hash = h;
        core_htab_insert(&c->retained, &r->node);
        c->st.retained++;
    } else {
        c->st.retained_bytes -= core_msg_bytes(r->m);
        core_msg_unref(r->m);
    }
    core_msg_ref(m);
    r->m = m;
    c->st.retained_bytes += bytes;
    c->retain_full_logged = false;
}

static void deliver_one(mqws_core *c, core_session *s, const core_sub *sub, core_msg *m,
                        uint64_t now)
{
    uint8_t qos = MQWS_SUB_QOS(sub->options);
    if (m->qos < qos)
        qos = m->qos;
    /* Sent because of a new subscription: retain flag set (MQTT-3.3.1-8 / 5.0 3.3.1-9). */
    core_session_enqueue(c, s, m, qos, true, sub->sub_id ? &sub->sub_id : NULL,
                         sub->sub_id ? 1 : 0, now);
}

void core_retain_deliver(mqws_core *c, core_session *s, const core_sub *sub, uint64_t now)
{
    if (!sub->wild) {
        core_retained *r = find(c, sub->filter, sub->filter_len, sub->node.hash);
        if (r && !(r->m->has_expiry && now >= r->m->expire_at_ms))
            deliver_one(c, s, sub, r->m, now);
        return;
    }
    mqws_str filter = {sub->filter, sub->filter_len};
    for (size_t i = 0; i < c->retained.nb; i++) {
        core_hnode *n = c->retained.b[i];
        while (n) {
            /* nothing more can reach this client now: stop scanning */
            mqws_core_conn *conn = s->conn;
            if (!conn || conn->state != CONN_ACTIVE ||
                (conn->blocked && s->queue.n >= c->cfg.max_queued)) {
                core_log(c, "session '%.100s': retained messages for '%.100s' cut short: "
                         "the client does not read", s->client_id, sub->filter);
                return;
            }
            core_retained *r = (core_retained *)n;
            n = n->next;
            if (r->m->has_expiry && now >= r->m->expire_at_ms) { /* MQTT-3.3.2-5 */
                drop(c, r);
                continue;
            }
            if (mqws_mqtt_topic_matches(filter, (mqws_str){r->m->topic, r->m->topic_len}))
                deliver_one(c, s, sub, r->m, now);
        }
    }
}

void core_retain_free_all(mqws_core *c)
{
    for (size_t i = 0; c->retained.b && i < c->retained.nb; i++)
        while (c->retained.b[i])
            drop(c, (core_retained *)c->retained.b[i]);
}
