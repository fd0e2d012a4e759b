/* mqtt_props.c - MQTT 5.0 properties (section 2.2.2): table, validation, iterator, builder. */
#include <string.h>

#include "mqtt_internal.h"

/* Bit of each place a property may appear: packet type t is bit t, Will properties bit 0. */
#define IN_(t) (1u << (t))
#define WILL_ IN_(MQWS_PROPS_IN_WILL)
#define ACKS_ (IN_(MQWS_PUBACK) | IN_(MQWS_PUBREC) | IN_(MQWS_PUBREL) | IN_(MQWS_PUBCOMP))
#define MSG_ (IN_(MQWS_PUBLISH) | WILL_)

typedef struct prop_info {
    uint8_t type; /* mqws_prop_type; 0: not defined */
    uint16_t where;
} prop_info;

#define PROP_ID_LIMIT 0x2B

/* The table of 5.0 section 2.2.2.2: wire type and the packets each id may appear in. */
static const prop_info k_props[PROP_ID_LIMIT] = {
    [0x01] = {MQWS_PROP_BYTE, MSG_},
    [0x02] = {MQWS_PROP_U32, MSG_},
    [0x03] = {MQWS_PROP_UTF8, MSG_},
    [0x08] = {MQWS_PROP_UTF8, MSG_},
    [0x09] = {MQWS_PROP_BINARY, MSG_},
    [0x0B] = {MQWS_PROP_VARINT, IN_(MQWS_PUBLISH) | IN_(MQWS_SUBSCRIBE)},
    [0x11] = {MQWS_PROP_U32, IN_(MQWS_CONNECT) | IN_(MQWS_CONNACK) | IN_(MQWS_DISCONNECT)},
    [0x12] = {MQWS_PROP_UTF8, IN_(MQWS_CONNACK)},
    [0x13] = {MQWS_PROP_U16, IN_(MQWS_CONNACK)},
    [0x15] = {MQWS_PROP_UTF8, IN_(MQWS_CONNECT) | IN_(MQWS_CONNACK) | IN_(MQWS_AUTH)},
    [0x16] = {MQWS_PROP_BINARY, IN_(MQWS_CONNECT) | IN_(MQWS_CONNACK) | IN_(MQWS_AUTH)},
    [0x17] = {MQWS_PROP_BYTE, IN_(MQWS_CONNECT)},
    [0x18] = {MQWS_PROP_U32, WILL_},
    [0x19] = {MQWS_PROP_BYTE, IN_(MQWS_CONNECT)},
    [0x1A] = {MQWS_PROP_UTF8, IN_(MQWS_CONNACK)},
    [0x1C] = {MQWS_PROP_UTF8, IN_(MQWS_CONNACK) | IN_(MQWS_DISCONNECT)},
    [0x1F] = {MQWS_PROP_UTF8, IN_(MQWS_CONNACK) | ACKS_ | IN_(MQWS_SUBACK) | IN_(MQWS_UNSUBACK) |
                                  IN_(MQWS_DISCONNECT) | IN_(MQWS_AUTH)},
    [0x21] = {MQWS_PROP_U16, IN_(MQWS_CONNECT) | IN_(MQWS_CONNACK)},
    [0x22] = {MQWS_PROP_U16, IN_(MQWS_CONNECT) | IN_(MQWS_CONNACK)},
    [0x23] = {MQWS_PROP_U16, IN_(MQWS_PUBLISH)},
    [0x24] = {MQWS_PROP_BYTE, IN_(MQWS_CONNACK)},
    [0x25] = {MQWS_PROP_BYTE, IN_(MQWS_CONNACK)},
    [0x26] = {MQWS_PROP_UTF8_PAIR, 0xFFFFu & ~(IN_(MQWS_PINGREQ) | IN_(MQWS_PINGRESP))},
    [0x27] = {MQWS_PROP_U32, IN_(MQWS_CONNECT) | IN_(MQWS_CONNACK)},
    [0x28] = {MQWS_PROP_BYTE, IN_(MQWS_CONNACK)},
    [0x29] = {MQWS_PROP_BYTE, IN_(MQWS_CONNACK)},
    [0x2A] = {MQWS_PROP_BYTE, IN_(MQWS_CONNACK)},
};

mqws_prop_type mqws_prop_type_of(int id)
{
    if (id < 0 || id >= PROP_ID_LIMIT)
        return (mqws_prop_type)0;
    return (mqws_prop_type)k_props[id].type;
}

/* ---------------------------------------------------------------- varint */

mqws_err mqws_mqtt_varint_read(const uint8_t *buf, size_t *pos, size_t end, uint32_t *value,
                               size_t *err_at)
{
    uint32_t v = 0;
    size_t p = *pos;
    for (unsigned i = 0; i < 4; i++, p++) {
        if (p >= end)
            return MQWS_NEED_MORE;
        uint8_t b = buf[p];
        v |= (uint32_t)(b & 0x7Fu) << (7 * i);
        if (b & 0x80u)
            continue;
        /* A trailing 0x00 after a continuation byte adds nothing: not minimal (MQTT-1.5.5-1). */
        if (b == 0 && i > 0) {
            *err_at = p;
            return MQWS_ERR_MQTT_REMAINING_LENGTH;
        }
        *value = v;
        *pos = p + 1;
        return MQWS_OK;
    }
    *err_at = p - 1; /* the 4th byte may not continue (1.5.5) */
    return MQWS_ERR_MQTT_REMAINING_LENGTH;
}

size_t mqws_mqtt_varint_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

size_t mqws_mqtt_varint_write(uint8_t *out, uint32_t v)
{
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7Fu);
        v >>= 7;
        out[n++] = (uint8_t)(v ? b | 0x80u : b);
    } while (v);
    return n;
}

/* ---------------------------------------------------------------- validation */

typedef struct prop_reader {
    const uint8_t *buf;
    size_t pos;
    size_t end; /* end of the property block */
    size_t *err_at;
} prop_reader;

static mqws_err prop_fail(prop_reader *r, mqws_err e, size_t at)
{
    *r->err_at = at;
    return e;
}

/* A value running past the block: the block does not hold what it says (MQTT-4.13.1). */
static mqws_err prop_take(prop_reader *r, size_t n, const uint8_t **at)
{
    if (r->end - r->pos < n)
        return prop_fail(r, MQWS_ERR_MQTT_MALFORMED, r->pos);
    *at = r->buf + r->pos;
    r->pos += n;
    return MQWS_OK;
}

static mqws_err prop_string(prop_reader *r, bool utf8, mqws_bytes *out)
{
    const uint8_t *p;
    mqws_err e = prop_take(r, 2, &p);
    if (e != MQWS_OK)
        return e;
    size_t n = (size_t)p[0] << 8 | p[1];
    size_t start = r->pos;
    if ((e = prop_take(r, n, &out->ptr)) != MQWS_OK)
        return e;
    out->len = n;
    size_t bad = 0;
    /* MQTT-1.5.4-1 (5.0): UTF-8 strings are well-formed and hold no U+0000. */
    if (utf8 && (e = mqws_utf8_validate(out->ptr, n, false, &bad)) != MQWS_OK)
        return prop_fail(r, e, start + bad);
    return MQWS_OK;
}

/* Range rules of 5.0 section 3.x for integer properties; true when v is allowed. */
static bool int_value_ok(uint8_t id, mqws_prop_type type, uint32_t v)
{
    if (type == MQWS_PROP_BYTE)
        return v <= 1; /* every 5.0 byte property is a 0/1 flag (Maximum QoS included) */
    switch (id) {
    case MQWS_PROP_RECEIVE_MAXIMUM:     /* 3.1.2.11.3 */
    case MQWS_PROP_MAXIMUM_PACKET_SIZE: /* 3.1.2.11.4 */
    case MQWS_PROP_TOPIC_ALIAS: /* 3.3.2.3.4 */ return v != 0;
    case MQWS_PROP_SUBSCRIPTION_IDENTIFIER: /* 3.3.2.3.8: 1 to 268,435,455 */ return v != 0;
    default: return true;
    }
}

static mqws_err prop_int(prop_reader *r, uint8_t id, mqws_prop_type type, size_t id_at)
{
    const uint8_t *p;
    uint32_t v = 0;
    mqws_err e;
    switch (type) {
    case MQWS_PROP_BYTE:
        e = prop_take(r, 1, &p);
        v = e == MQWS_OK ? p[0] : 0;
        break;
    case MQWS_PROP_U16:
        e = prop_take(r, 2, &p);
        v = e == MQWS_OK ? (uint32_t)p[0] << 8 | p[1] : 0;
        break;
    case MQWS_PROP_U32:
        e = prop_take(r, 4, &p);
        v = e == MQWS_OK ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                         : 0;
        break;
    default: /* VARINT */
        e = mqws_mqtt_varint_read(r->buf, &r->pos, r->end, &v, r->err_at);
        if (e == MQWS_NEED_MORE)
            return prop_fail(r, MQWS_ERR_MQTT_MALFORMED, r->pos);
        if (e != MQWS_OK) /* over 4 bytes or not minimal: malformed (MQTT-1.5.5-1) */
            return prop_fail(r, MQWS_ERR_MQTT_MALFORMED, id_at + 1);
        break;
    }
    if (e != MQWS_OK)
        return e;
    if (!int_value_ok(id, type, v))
        return prop_fail(r, MQWS_ERR_MQTT_PROPERTY_VALUE, id_at);
    return MQWS_OK;
}

static mqws_err prop_value(prop_reader *r, uint8_t id, mqws_prop_type type, size_t id_at)
{
    mqws_bytes a, b;
    mqws_err e;
    switch (type) {
    case MQWS_PROP_UTF8:
        if ((e = prop_string(r, true, &a)) != MQWS_OK)
            return e;
        if (id == MQWS_PROP_RESPONSE_TOPIC) { /* MQTT-3.3.2-14: a Topic Name, no wildcards */
            size_t bad;
            if (mqws_mqtt_topic_name_check(a.ptr, a.len, false, &bad) != MQWS_OK)
                return prop_fail(r, MQWS_ERR_MQTT_PROPERTY_VALUE, id_at);
        }
        return MQWS_OK;
    case MQWS_PROP_BINARY: return prop_string(r, false, &a);
    case MQWS_PROP_UTF8_PAIR:
        if ((e = prop_string(r, true, &a)) != MQWS_OK)
            return e;
        return prop_string(r, true, &b);
    default: return prop_int(r, id, type, id_at);
    }
}

/* Only User Property, and Subscription Identifier in PUBLISH (3.3.2.3.8), may repeat. */
static bool may_repeat(uint8_t id, int where)
{
    return id == MQWS_PROP_USER_PROPERTY ||
           (id == MQWS_PROP_SUBSCRIPTION_IDENTIFIER && where == MQWS_PUBLISH);
}

mqws_err mqws_mqtt_props_decode(const uint8_t *buf, size_t *pos, size_t end, int where,
                                mqws_props *props, size_t *err_at)
{
    size_t p = *pos;
    uint32_t plen = 0;
    if (p >= end) { /* the Property Length field itself is missing */
        *err_at = p;
        return MQWS_ERR_MQTT_MALFORMED;
    }
    mqws_err e = mqws_mqtt_varint_read(buf, &p, end, &plen, err_at);
    if (e != MQWS_OK || plen > end - p) { /* 2.2.2.1: cut off, not minimal, or too long */
        *err_at = *pos;
        return MQWS_ERR_MQTT_PROPERTY_LENGTH;
    }
    prop_reader r = {buf, p, p + plen, err_at};
    uint64_t present = 0;
    uint32_t count = 0;
    size_t data_at = 0;
    while (r.pos < r.end) {
        size_t id_at = r.pos;
        uint8_t id = buf[r.pos++];
        const prop_info *pi = id < PROP_ID_LIMIT ? &k_props[id] : NULL;
        if (!pi || !pi->type || !(pi->where & IN_(where)))
            return prop_fail(&r, MQWS_ERR_MQTT_PROPERTY_ID, id_at);
        uint64_t bit = (uint64_t)1 << id;
        if ((present & bit) && !may_repeat(id, where))
            return prop_fail(&r, MQWS_ERR_MQTT_PROPERTY_DUPLICATE, id_at);
        present |= bit;
        count++;
        if (id == MQWS_PROP_AUTHENTICATION_DATA)
            data_at = id_at;
        if ((e = prop_value(&r, id, (mqws_prop_type)pi->type, id_at)) != MQWS_OK)
            return e;
    }
    /* 5.0 3.1.2.11.10: Authentication Data without an Authentication Method is a Protocol Error. */
    if ((present & (uint64_t)1 << MQWS_PROP_AUTHENTICATION_DATA) &&
        !(present & (uint64_t)1 << MQWS_PROP_AUTHENTICATION_METHOD))
        return prop_fail(&r, MQWS_ERR_MQTT_AUTH_METHOD, data_at);
    props->raw = buf + p;
    props->raw_len = plen;
    props->present = present;
    props->count = count;
    *pos = r.end;
    return MQWS_OK;
}

/* ---------------------------------------------------------------- iterator */

static bool take_u16_string(const uint8_t *s, size_t n, size_t *p, mqws_bytes *out)
{
    if (n - *p < 2)
        return false;
    size_t len = (size_t)s[*p] << 8 | s[*p + 1];
    if (n - *p - 2 < len)
        return false;
    out->ptr = s + *p + 2;
    out->len = len;
    *p += 2 + len;
    return true;
}

/* Reads the value of a property of type t at s[*p]; bounds-checked, not validated. */
static bool take_value(const uint8_t *s, size_t n, size_t *p, mqws_prop_type t, mqws_prop *out)
{
    static const uint8_t k_fixed[] = {0, 1, 2, 4}; /* BYTE, U16, U32 sizes by type */
    size_t ignored;
    switch (t) {
    case MQWS_PROP_BYTE:
    case MQWS_PROP_U16:
    case MQWS_PROP_U32: {
        size_t w = k_fixed[t];
        if (n - *p < w)
            return false;
        uint32_t v = 0;
        for (size_t i = 0; i < w; i++)
            v = v << 8 | s[*p + i];
        out->u32 = v;
        *p += w;
        return true;
    }
    case MQWS_PROP_VARINT: return mqws_mqtt_varint_read(s, p, n, &out->u32, &ignored) == MQWS_OK;
    case MQWS_PROP_UTF8:
    case MQWS_PROP_BINARY: return take_u16_string(s, n, p, &out->bin);
    case MQWS_PROP_UTF8_PAIR:
        return take_u16_string(s, n, p, &out->bin) && take_u16_string(s, n, p, &out->value);
    default: return false;
    }
}

bool mqws_props_next(const mqws_props *props, size_t *cursor, mqws_prop *out)
{
    if (!props || !cursor || !out || !props->raw || *cursor >= props->raw_len)
        return false;
    size_t p = *cursor;
    memset(out, 0, sizeof *out);
    out->id = props->raw[p++];
    out->type = mqws_prop_type_of(out->id);
    if (!take_value(props->raw, props->raw_len, &p, out->type, out))
        return false;
    *cursor = p;
    return true;
}

bool mqws_props_get(const mqws_props *props, int id, mqws_prop *out)
{
    if (!props || id <= 0 || id >= PROP_ID_LIMIT)
        return false;
    /* The summary answers "absent" without a scan (builders and the decoder fill it). */
    if (props->present && !(props->present & ((uint64_t)1 << id)))
        return false;
    mqws_prop tmp;
    size_t cur = 0;
    while (mqws_props_next(props, &cur, &tmp)) {
        if (tmp.id == id) {
            if (out)
                *out = tmp;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- builder */

/* Reserves n bytes; false (with a sticky error) when the builder cannot take them. */
static uint8_t *builder_room(mqws_props_builder *b, size_t n)
{
    if (b->err != MQWS_OK)
        return NULL;
    if (!b->buf && b->cap) {
        b->err = MQWS_ERR_ARG;
        return NULL;
    }
    if (b->len > b->cap || b->cap - b->len < n) {
        b->err = MQWS_ERR_BUFFER_TOO_SMALL;
        return NULL;
    }
    uint8_t *at = b->buf + b->len;
    b->len += n;
    return at;
}

static void builder_fail(mqws_props_builder *b, mqws_err e)
{
    if (b->err == MQWS_OK)
        b->err = e;
}

static uint8_t *put_be(uint8_t *at, uint32_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        at[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return at + n;
}

void mqws_props_add_int(mqws_props_builder *b, int id, uint32_t value)
{
    if (!b)
        return;
    mqws_prop_type t = mqws_prop_type_of(id);
    size_t n;
    switch (t) {
    case MQWS_PROP_BYTE: n = value <= 0xFFu ? 1 : 0; break;
    case MQWS_PROP_U16: n = value <= 0xFFFFu ? 2 : 0; break;
    case MQWS_PROP_U32: n = 4; break;
    case MQWS_PROP_VARINT:
        n = value <= MQWS_MQTT_MAX_REMAINING_LENGTH ? mqws_mqtt_varint_size(value) : 0;
        break;
    default: n = 0; break;
    }
    if (n == 0) {
        builder_fail(b, MQWS_ERR_ARG);
        return;
    }
    uint8_t *at = builder_room(b, 1 + n);
    if (!at)
        return;
    *at++ = (uint8_t)id;
    if (t == MQWS_PROP_VARINT)
        mqws_mqtt_varint_write(at, value);
    else
        put_be(at, value, n);
}

/* A checked UTF-8 string (or binary) fits in a 2-byte length; MQWS_OK when usable. */
static mqws_err string_arg(const void *data, size_t len, bool utf8)
{
    if (len > 0xFFFFu || (!data && len))
        return MQWS_ERR_ARG;
    return utf8 ? mqws_utf8_validate(data, len, false, NULL) : MQWS_OK;
}

static uint8_t *put_string(uint8_t *at, const void *data, size_t len)
{
    at = put_be(at, (uint32_t)len, 2);
    if (len)
        memcpy(at, data, len);
    return at + len;
}

void mqws_props_add_bytes(mqws_props_builder *b, int id, const void *data, size_t len)
{
    if (!b)
        return;
    mqws_prop_type t = mqws_prop_type_of(id);
    mqws_err e = (t == MQWS_PROP_UTF8 || t == MQWS_PROP_BINARY)
                     ? string_arg(data, len, t == MQWS_PROP_UTF8)
                     : MQWS_ERR_ARG;
    if (e != MQWS_OK) {
        builder_fail(b, e);
        return;
    }
    uint8_t *at = builder_room(b, 3 + len);
    if (!at)
        return;
    *at++ = (uint8_t)id;
    put_string(at, data, len);
}

void mqws_props_add_pair(mqws_props_builder *b, int id, mqws_str key, mqws_str value)
{
    if (!b)
        return;
    mqws_err e = id != MQWS_PROP_USER_PROPERTY ? MQWS_ERR_ARG : string_arg(key.ptr, key.len, true);
    if (e == MQWS_OK)
        e = string_arg(value.ptr, value.len, true);
    if (e != MQWS_OK) {
        builder_fail(b, e);
        return;
    }
    uint8_t *at = builder_room(b, 5 + key.len + value.len);
    if (!at)
        return;
    *at++ = (uint8_t)id;
    at = put_string(at, key.ptr, key.len);
    put_string(at, value.ptr, value.len);
}

mqws_props mqws_props_from_builder(const mqws_props_builder *b)
{
    mqws_props p = {0};
    if (!b || !b->buf || b->len > b->cap)
        return p;
    p.raw = b->buf;
    p.raw_len = b->len;
    mqws_prop prop;
    size_t cur = 0;
    while (mqws_props_next(&p, &cur, &prop)) {
        p.present |= (uint64_t)1 << prop.id;
        p.count++;
    }
    return p;
}
