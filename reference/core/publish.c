/*
 * publish.c - PUBLISH from clients: Topic Alias, client-to-server QoS 1/2 flow
 * (exactly-once at QoS 2 across reconnects), routing to matching subscriptions.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

core_msg *core_msg_from_props(mqws_core *c, mqws_str topic, mqws_bytes payload,
                              const mqws_props *props, uint8_t qos, bool retain, uint64_t now)
{
    /* Forwarded unchanged (MQTT-3.3.2-4 .. -20): payload format, content type, response
     * topic, correlation data, user properties. Rewritten per delivery: message expiry.
     * Never forwarded: Topic Alias, Subscription Identifier, Will Delay Interval. */
    uint8_t *buf = NULL;
    mqws_props_builder b = {NULL, 0, 0, MQWS_OK};
    bool has_expiry = false;
    uint32_t expiry = 0;
    if (props && props->raw_len) {
        buf = malloc(props->raw_len);
        if (!buf)
            return NULL;
        b.buf = buf;
        b.cap = props->raw_len;
        size_t cur = 0;
        mqws_prop pr;
        while (mqws_props_next(props, &cur, &pr)) {
            switch (pr.id) {
            case MQWS_PROP_TOPIC_ALIAS:
            case MQWS_PROP_SUBSCRIPTION_IDENTIFIER:
            case MQWS_PROP_WILL_DELAY_INTERVAL: break;
            case MQWS_PROP_MESSAGE_EXPIRY_INTERVAL:
                has_expiry = true;
                expiry = pr.u32;
                break;
            default:
                if (pr.type == MQWS_PROP_UTF8_PAIR)
                    mqws_props_add_pair(&b, pr.id, (mqws_str){(const char *)pr.bin.ptr, pr.bin.len},
                                        (mqws_str){(const char *)pr.value.ptr, pr.value.len});
                else if (pr.type == MQWS_PROP_UTF8 || pr.type == MQWS_PROP_BINARY)
                    mqws_props_add_bytes(&b, pr.id, pr.bin.ptr, pr.bin.len);
                else
                    mqws_props_add_int(&b, pr.id, pr.u32);
            }
        }
    }
    (void)c;
    core_msg *m = core_msg_new(topic, payload, buf, b.len, qos, retain);
    free(buf);
    if (m && has_expiry) {
        m->has_expiry = true;
        m->expire_at_ms = now + (uint64_t)expiry * 1000;
    }
    return m;
}

static int rx_find(const core_session *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->nrx_qos2; i++)
        if (s->rx_qos2[i] == pid)
            return (int)i;
    return -1;
}

/* Client-to-server Topic Alias (3.3.2.3.4): resolves or records it. */
static mqws_err resolve_alias(mqws_core_conn *conn, const mqws_packet *p, mqws_str *topic,
                              uint64_t now)
{
    mqws_prop pr;
    if (!mqws_props_get(&p->props, MQWS_PROP_TOPIC_ALIAS, &pr))
        return MQWS_OK;
    mqws_core *c = conn->core;
    uint32_t alias = pr.u32;
    if (alias == 0 || alias > c->cfg.topic_alias_maximum) /* MQTT-3.3.2-9/10 */
        return core_fail(conn, MQWS_ERR_MQTT_PROPERTY_VALUE, 0x94, MQWS_CORE_CLOSE_PROTOCOL,
                         "Topic Alias above the announced Topic Alias Maximum", now);
    if (!conn->aliases) {
        conn->aliases = calloc((size_t)c->cfg.topic_alias_maximum + 1, sizeof(char *));
        if (!conn->aliases)
            return core_fail(conn, MQWS_ERR_INTERNAL, 0x83, MQWS_CORE_CLOSE_POLICY,
                             "out of memory for topic aliases", now);
    }
    if (topic->len) {
        char *t = malloc(topic->len + 1);
        if (!t)
            return core_fail(conn, MQWS_ERR_INTERNAL, 0x83, MQWS_CORE_CLOSE_POLICY,
                             "out of memory for topic aliases", now);
        memcpy(t, topic->ptr, topic->len);
        t[topic->len] = '\0';
        free(conn->aliases[alias]);
        conn->aliases[alias] = t;
        return MQWS_OK;
    }
    if (!conn->aliases[alias])
        return core_fail(conn, MQWS_ERR_MQTT_TOPIC_NAME, 0x82, MQWS_CORE_CLOSE_PROTOCOL,
                         "Topic Alias used before it was set", now);
    *topic = mqws_str_c(conn->aliases[alias]);
    return MQWS_OK;
}

mqws_err core_on_publish(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    mqws_core *c = conn->core;
    core_session *s = conn->s;
    bool v5 = conn->version == MQWS_MQTT_V5;
    mqws_str topic = p->publish.topic;
    if (v5) {
        if (mqws_props_get(&p->props, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, NULL)) /* MQTT-3.3.4-6 */
            return core_fail(conn, MQWS_ERR_MQTT_PROPERTY_ID, 0x82, MQWS_CORE_CLOSE_PROTOCOL,
                             "Subscription Identifier in a PUBLISH from a client", now);
        mqws_err e = resolve_alias(conn, p, &topic, now);
        if (e != MQWS_OK)
            return e;
    }
    uint8_t qos = p->publish.qos;
    mqws_prop pfi;
    if (v5 && mqws_props_get(&p->props, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, &pfi) && pfi.u32 == 1 &&
        mqws_utf8_validate(p->publish.payload.ptr, p->publish.payload.len, true, NULL) != MQWS_OK) {
        /* 3.3.2.3.2: the receiver may refuse a payload that is not the UTF-8 it claims */
        core_clog(conn, "PUBLISH on '%.*s': payload is not UTF-8 though the Payload Format "
                  "Indicator says so: refused (0x99)", (int)(topic.len > 100 ? 100 : topic.len),
                  topic.ptr);
        if (qos)
            core_send_ack(conn, qos == 1 ? MQWS_PUBACK : MQWS_PUBREC, p->packet_id, 0x99);
        return MQWS_OK;
    }
    if (qos == 2) {
        if (rx_find(s, p->packet_id) >= 0) { /* resent before PUBREL: not delivered again */
            core_send_ack(conn, MQWS_PUBREC, p->packet_id, 0);
            return MQWS_OK;
        }
        if (s->nrx_qos2 >= c->cfg.receive_maximum) /* MQTT-3.3.4-9 */
            return core_fail(conn, MQWS_ERR_ARG, 0x93, MQWS_CORE_CLOSE_POLICY,
                             "more QoS 2 messages in flight than Receive Maximum", now);
        if (!core_grow((void **)&s->rx_qos2, &s->rx_qos2_cap, s->nrx_qos2 + 1, sizeof(uint16_t)))
            return core_fail(conn, MQWS_ERR_INTERNAL, 0x83, MQWS_CORE_CLOSE_POLICY,
                             "out of memory", now);
    }
    core_msg *m = core_msg_from_props(c, topic, p->publish.payload, v5 ? &p->props : NULL, qos,
                                      p->publish.retain, now);
    if (!m)
        return core_fail(conn, MQWS_ERR_INTERNAL, 0x83, MQWS_CORE_CLOSE_POLICY, "out of memory",
                         now);
    m->origin_session = s->id;
    c->st.publishes_in++;
    if (p->publish.retain)
        core_retain_store(c, m);
    core_route(c, m, now);
    core_msg_unref(m);
    if (qos == 1)
        core_send_ack(conn, MQWS_PUBACK, p->packet_id, 0);
    else if (qos == 2) {
        s->rx_qos2[s->nrx_qos2++] = p->packet_id;
        core_send_ack(conn, MQWS_PUBREC, p->packet_id, 0);
    }
    return MQWS_OK;
}

void core_on_pubrel(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    (void)now;
    core_session *s = conn->s;
    int i = rx_find(s, p->packet_id);
    if (i >= 0)
        s->rx_qos2[i] = s->rx_qos2[--s->nrx_qos2];
    core_send_ack(conn, MQWS_PUBCOMP, p->packet_id, i >= 0 ? 0 : 0x92);
}

static void add_match(mqws_core *c, const core_sub *sub, const core_msg *m)
{
    core_session *s = sub->s;
    if ((sub->options & MQWS_SUB_NO_LOCAL) && m->origin_session == s->id) /* MQTT-3.8.3-3 */
        return;
    core_match *mt;
    if (s->match_epoch != c->epoch) {
        if (!core_grow((void **)&c->matches, &c->matches_cap, c->nmatches + 1, sizeof *c->matches))
            return;
        s->match_epoch = c->epoch;
        s->match_idx = c->nmatches;
        mt = &c->matches[c->nmatches++];
        memset(mt, 0, sizeof *mt);
        mt->s = s;
    } else
        mt = &c->matches[s->match_idx];
    /* Overlapping subscriptions: one delivery with the highest QoS (MQTT-3.3.5-1),
     * every Subscription Identifier (MQTT-3.3.4-3). */
    if (MQWS_SUB_QOS(sub->options) > mt->qos)
        mt->qos = MQWS_SUB_QOS(sub->options);
    if (sub->options & MQWS_SUB_RETAIN_AS_PUBLISHED)
        mt->rap = true;
    if (sub->sub_id &&
        core_grow((void **)&c->pairs, &c->pairs_cap, c->npairs + 1, sizeof *c->pairs)) {
        c->pairs[c->npairs][0] = s->match_idx;
        c->pairs[c->npairs][1] = sub->sub_id;
        c->npairs++;
        mt->nsubids++;
    }
}

void core_route(mqws_core *c, core_msg *m, uint64_t now)
{
    c->epoch++;
    c->nmatches = 0;
    c->npairs = 0;
    uint32_t h = core_hash(c, m->topic, m->topic_len);
    for (core_hnode *n = core_htab_bucket(&c->exact, h); n; n = n->next) {
        core_sub *sub = (core_sub *)n;
        if (n->hash == h && sub->filter_len == m->topic_len &&
            !memcmp(sub->filter, m->topic, m->topic_len))
            add_match(c, sub, m);
    }
    mqws_str topic = {m->topic, m->topic_len};
    for (uint32_t i = 0; i < c->nwild; i++) {
        core_sub *sub = c->wild[i];
        if (mqws_mqtt_topic_matches((mqws_str){sub->filter, sub->filter_len}, topic))
            add_match(c, sub, m);
    }
    /* Subscription Identifiers grouped per session (counting sort by match). */
    if (c->npairs && !core_grow((void **)&c->subids, &c->subids_cap, c->npairs, sizeof(uint32_t)))
        c->npairs = 0;
    uint32_t at = 0;
    for (uint32_t i = 0; i < c->nmatches; i++) {
        c->matches[i].subid_at = at;
        at += c->npairs ? c->matches[i].nsubids : 0;
        c->matches[i].nsubids = 0;
    }
    for (uint32_t i = 0; i < c->npairs; i++) {
        core_match *mt = &c->matches[c->pairs[i][0]];
        c->subids[mt->subid_at + mt->nsubids++] = c->pairs[i][1];
    }
    for (uint32_t i = 0; i < c->nmatches; i++) {
        core_match *mt = &c->matches[i];
        uint8_t qos = m->qos < mt->qos ? m->qos : mt->qos;
        /* MQTT-3.3.1-9 (3.1.1) / 3.3.1-12 (5.0): the retain flag only with Retain As Published */
        bool retain = mt->rap && m->retain;
        core_session_enqueue(c, mt->s, m, qos, retain,
                             mt->nsubids ? c->subids + mt->subid_at : NULL, mt->nsubids, now);
    }
}
