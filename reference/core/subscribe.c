/*
 * subscribe.c - SUBSCRIBE / UNSUBSCRIBE and the subscription index: exact
 * filters in a hash table (one lookup per PUBLISH), wildcard filters in an
 * array matched one by one.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

static bool has_wildcard(mqws_str f)
{
    return memchr(f.ptr, '+', f.len) || memchr(f.ptr, '#', f.len);
}

static core_sub *session_sub(const core_session *s, mqws_str f, uint32_t *idx)
{
    for (uint32_t i = 0; i < s->nsubs; i++)
        if (s->subs[i]->filter_len == f.len && !memcmp(s->subs[i]->filter, f.ptr, f.len)) {
            *idx = i;
            return s->subs[i];
        }
    return NULL;
}

static core_sub *sub_add(mqws_core *c, core_session *s, mqws_str f)
{
    if (!core_grow((void **)&s->subs, &s->subs_cap, s->nsubs + 1, sizeof *s->subs))
        return NULL;
    core_sub *sub = calloc(1, sizeof *sub + f.len + 1);
    if (!sub)
        return NULL;
    sub->s = s;
    memcpy(sub->filter, f.ptr, f.len);
    sub->filter[f.len] = '\0';
    sub->filter_len = f.len;
    sub->wild = has_wildcard(f);
    if (sub->wild) {
        if (!core_grow((void **)&c->wild, &c->wild_cap, c->nwild + 1, sizeof *c->wild)) {
            free(sub);
            return NULL;
        }
        sub->wild_idx = c->nwild;
        c->wild[c->nwild++] = sub;
    } else {
        sub->node.hash = core_hash(c, f.ptr, f.len);
        core_htab_insert(&c->exact, &sub->node);
    }
    s->subs[s->nsubs++] = sub;
    c->st.subscriptions++;
    return sub;
}

static void sub_unindex(mqws_core *c, core_sub *sub)
{
    if (sub->wild) {
        core_sub *last = c->wild[--c->nwild];
        c->wild[sub->wild_idx] = last;
        last->wild_idx = sub->wild_idx;
    } else
        core_htab_remove(&c->exact, &sub->node);
    c->st.subscriptions--;
    free(sub);
}

static void sub_remove(mqws_core *c, core_session *s, uint32_t idx)
{
    core_sub *sub = s->subs[idx];
    s->subs[idx] = s->subs[--s->nsubs];
    sub_unindex(c, sub);
}

void core_sub_remove_all(mqws_core *c, core_session *s)
{
    while (s->nsubs)
        sub_remove(c, s, s->nsubs - 1);
}

static bool is_shared(mqws_str f)
{
    return f.len >= 7 && !memcmp(f.ptr, "$share/", 7);
}

mqws_err core_on_subscribe(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    mqws_core *c = conn->core;
    core_session *s = conn->s;
    bool v5 = conn->version == MQWS_MQTT_V5;
    uint32_t sub_id = 0;
    mqws_prop pr;
    if (v5 && mqws_props_get(&p->props, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, &pr))
        sub_id = pr.u32;
    /* Reason codes, and which subscriptions get retained messages after the SUBACK. */
    c->epoch++; /* marks the subscriptions of this packet */
    uint8_t *codes = malloc(p->list.count);
    core_sub **retained_for = calloc(p->list.count, sizeof *retained_for);
    if (!codes || !retained_for) {
        free(codes);
        free(retained_for);
        return core_fail(conn, MQWS_ERR_INTERNAL, 0x83, MQWS_CORE_CLOSE_POLICY, "out of memory",
                         now);
    }
    size_t cur = 0, i = 0, refused = 0;
    mqws_sub e;
    while (i < p->list.count && mqws_list_next_sub(&p->list, true, &cur, &e)) {
        uint8_t qos = MQWS_SUB_QOS(e.options);
        uint32_t idx;
        core_sub *sub = session_sub(s, e.filter, &idx);
        bool existed = sub != NULL;
        if (is_shared(e.filter)) {
            /* Shared subscriptions are not implemented: refused, and announced as
             * unavailable in CONNACK (Shared Subscription Available 0). */
            codes[i++] = v5 ? 0x9E : 0x80;
            refused++;
            continue;
        }
        if (!sub) {
            if (s->nsubs >= c->cfg.max_subscriptions) {
                codes[i++] = v5 ? 0x97 : 0x80;
                refused++;
                continue;
            }
            sub = sub_add(c, s, e.filter);
            if (!sub) {
                codes[i++] = v5 ? 0x97 : 0x80;
                refused++;
                continue;
            }
        }
        sub->options = e.options; /* a repeated filter replaces the subscription (MQTT-3.8.4-3) */
        sub->sub_id = sub_id;
        codes[i++] = qos;
        unsigned rh = v5 ? MQWS_SUB_RETAIN_HANDLING(e.options) : 0;
        /* a filter repeated in one SUBSCRIBE gets the retained messages once */
        if ((rh == 0 || (rh == 1 && !existed)) && sub->retain_epoch != c->epoch) {
            sub->retain_epoch = c->epoch;
            retained_for[i - 1] = sub;
        }
    }
    if (refused)
        core_clog(conn, "SUBSCRIBE: %zu of %zu filters refused (limit %u per session, "
                  "shared subscriptions unsupported)", refused, i, c->cfg.max_subscriptions);
    mqws_packet ack;
    memset(&ack, 0, sizeof ack);
    ack.type = MQWS_SUBACK;
    ack.packet_id = p->packet_id;
    ack.list.raw = codes;
    ack.list.raw_len = i;
    ack.list.count = i;
    core_send_ack_packet(conn, &ack);
    for (size_t k = 0; k < i && conn->state == CONN_ACTIVE; k++)
        if (retained_for[k])
            core_retain_deliver(c, s, retained_for[k], now);
    free(codes);
    free(retained_for);
    return MQWS_OK;
}

mqws_err core_on_unsubscribe(mqws_core_conn *conn, const mqws_packet *p, uint64_t now)
{
    mqws_core *c = conn->core;
    core_session *s = conn->s;
    bool v5 = conn->version == MQWS_MQTT_V5;
    uint8_t *codes = malloc(p->list.count);
    if (!codes)
        return core_fail(conn, MQWS_ERR_INTERNAL, 0x83, MQWS_CORE_CLOSE_POLICY, "out of memory",
                         now);
    size_t cur = 0, i = 0;
    mqws_sub e;
    while (i < p->list.count && mqws_list_next_sub(&p->list, false, &cur, &e)) {
        uint32_t idx;
        if (session_sub(s, e.filter, &idx)) {
            sub_remove(c, s, idx);
            codes[i++] = 0x00;
        } else
            codes[i++] = 0x11; /* No subscription existed */
    }
    mqws_packet ack;
    memset(&ack, 0, sizeof ack);
    ack.type = MQWS_UNSUBACK;
    ack.packet_id = p->packet_id;
    if (v5) {
        ack.list.raw = codes;
        ack.list.raw_len = i;
        ack.list.count = i;
    }
    core_send_ack_packet(conn, &ack);
    free(codes);
    return MQWS_OK;
}
