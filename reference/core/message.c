/*
 * message.c - reference-counted application messages.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

/* One allocation: struct, topic (NUL-terminated), payload, properties. */
core_msg *core_msg_new(mqws_str topic, mqws_bytes payload, const uint8_t *props, size_t props_len,
                       uint8_t qos, bool retain)
{
    size_t size = sizeof(core_msg) + topic.len + 1 + payload.len + props_len;
    core_msg *m = malloc(size);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->topic = (char *)(m + 1);
    if (topic.len)
        memcpy(m->topic, topic.ptr, topic.len);
    m->topic[topic.len] = '\0';
    m->topic_len = topic.len;
    m->payload = (uint8_t *)m->topic + topic.len + 1;
    if (payload.len)
        memcpy(m->payload, payload.ptr, payload.len);
    m->payload_len = payload.len;
    m->props = m->payload + payload.len;
    if (props_len)
        memcpy(m->props, props, props_len);
    m->props_len = props_len;
    return m;
}

void core_msg_ref(core_msg *m)
{
    m->refs++;
}

void core_msg_unref(core_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

size_t core_msg_bytes(const core_msg *m)
{
    return m->topic_len + m->payload_len + m->props_len;
}
