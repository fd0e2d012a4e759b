/*
 * will.c - Will Messages: kept from CONNECT, published when the connection ends
 * without a normal DISCONNECT (or with 5.0 reason 0x04), after the 5.0 Will
 * Delay Interval unless the session resumes first.
 */
#include <stdlib.h>

#include "core_internal.h"

bool core_will_from_connect(mqws_core_conn *conn, const mqws_connect *cn, core_will *out)
{
    out->delay_s = 0;
    mqws_prop pr;
    if (conn->version == MQWS_MQTT_V5 &&
        mqws_props_get(&cn->will_props, MQWS_PROP_WILL_DELAY_INTERVAL, &pr))
        out->delay_s = pr.u32;
    /* Will properties are kept raw; filtered and timed when published. */
    out->m = core_msg_new(cn->will_topic, cn->will_payload, cn->will_props.raw,
                          cn->will_props.raw_len, cn->will_qos, cn->will_retain);
    return out->m != NULL;
}

void core_will_publish(mqws_core *c, core_session *s, uint64_t now)
{
    core_msg *w = s->will.m;
    if (!w)
        return;
    s->will.m = NULL;
    s->will_at_ms = 0;
    mqws_props props = {w->props, w->props_len, 0, 0};
    core_msg *m = core_msg_from_props(c, (mqws_str){w->topic, w->topic_len},
                                      (mqws_bytes){w->payload, w->payload_len},
                                      w->props_len ? &props : NULL, w->qos, w->retain, now);
    core_msg_unref(w);
    if (!m) {
        core_log(c, "out of memory: will of '%.100s' lost", s->client_id);
        return;
    }
    core_log(c, "publishing the will of '%.100s' on '%.100s'", s->client_id, m->topic);
    m->origin_session = s->id;
    c->st.publishes_in++;
    if (m->retain)
        core_retain_store(c, m);
    core_route(c, m, now);
    core_msg_unref(m);
}

void core_will_drop(core_session *s)
{
    core_msg_unref(s->will.m);
    s->will.m = NULL;
    s->will_at_ms = 0;
}
