/*
 * test_vectors_mqtt.c - mqtt/v311.json and mqtt/v5.json through mqws_mqtt_decode.
 *
 * Invalid: the error name, mqws_err_mqtt_reason(err, version) == reason_code, and
 * the blamed offset when the vector gives one.
 * Valid: every expect field present; encode gives the input back (unless
 * "canonical": false) and decodes again; the packet followed by a stray byte
 * still decodes to the same length. Every proper prefix gives NEED_MORE (for an
 * invalid packet: NEED_MORE or the same error). All inputs sit right before a
 * guard page; the encoder writes into an exact-size buffer before one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqws/mqws.h"
#include "vectors.h"

static void want_int(const vec_case *vc, const json_t *obj, const char *key, long long got,
                     const char *where)
{
    if (!vec_has(obj, key))
        return;
    const json_t *v = json_object_get(obj, key);
    long long w = json_is_boolean(v) ? (json_is_true(v) ? 1 : 0) : vec_int(obj, key, -1);
    if (w != got)
        VFAIL(vc, "%s%s: expected %lld, got %lld", where, key, w, got);
}

static void want_bytes(const vec_case *vc, const char *what, const uint8_t *got, size_t got_len,
                       const uint8_t *want, size_t want_len)
{
    if (got_len != want_len || (want_len && memcmp(got, want, want_len) != 0)) {
        char *g = vec_tohex(got, got_len > 200 ? 200 : got_len);
        char *w = vec_tohex(want, want_len > 200 ? 200 : want_len);
        VFAIL(vc, "%s: expected %s (%zu bytes), got %s (%zu bytes)", what, w, want_len, g,
              got_len);
    }
}

static void want_str(const vec_case *vc, const json_t *obj, const char *key, const void *got,
                     size_t got_len, const char *where)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return;
    char what[128];
    snprintf(what, sizeof what, "%s%s (\"%s\")", where, key, json_string_value(v));
    want_bytes(vc, what, got, got_len, (const uint8_t *)json_string_value(v),
               json_string_length(v));
}

static void want_hex(const vec_case *vc, const json_t *obj, const char *key, const uint8_t *got,
                     size_t got_len, const char *where)
{
    const char *hex = vec_str(obj, key, NULL);
    if (!hex)
        return;
    size_t n;
    uint8_t *w = vec_hex(hex, &n);
    if (!w)
        VFAIL(vc, "bad hex in %s", key);
    char what[128];
    snprintf(what, sizeof what, "%s%s", where, key);
    want_bytes(vc, what, got, got_len, w, n);
    tu_free(w);
}

static void check_props(const vec_case *vc, const mqws_props *props, const json_t *want,
                        const char *where)
{
    if (!json_is_array(want))
        return;
    size_t cursor = 0, i = 0;
    mqws_prop p;
    while (mqws_props_next(props, &cursor, &p)) {
        if (i >= json_array_size(want))
            VFAIL(vc, "%sprops: more than the %zu expected properties (next id %u)", where,
                  json_array_size(want), p.id);
        const json_t *w = json_array_get(want, i);
        char at[96];
        snprintf(at, sizeof at, "%sprops[%zu].", where, i);
        want_int(vc, w, "id", p.id, at);
        if (p.type != mqws_prop_type_of(p.id))
            VFAIL(vc, "%sid %u: type %d, mqws_prop_type_of says %d", at, p.id, p.type,
                  mqws_prop_type_of(p.id));
        switch (p.type) {
        case MQWS_PROP_BYTE:
        case MQWS_PROP_U16:
        case MQWS_PROP_U32:
        case MQWS_PROP_VARINT:
            if (!json_is_integer(json_object_get(w, "value")))
                VFAIL(vc, "%s: integer property without an integer \"value\"", at);
            want_int(vc, w, "value", p.u32, at);
            break;
        case MQWS_PROP_UTF8:
            want_str(vc, w, "value", p.bin.ptr, p.bin.len, at);
            want_hex(vc, w, "hex", p.bin.ptr, p.bin.len, at);
            break;
        case MQWS_PROP_BINARY:
            want_hex(vc, w, "hex", p.bin.ptr, p.bin.len, at);
            want_str(vc, w, "value", p.bin.ptr, p.bin.len, at);
            break;
        case MQWS_PROP_UTF8_PAIR:
            want_str(vc, w, "key", p.bin.ptr, p.bin.len, at);
            want_str(vc, w, "value", p.value.ptr, p.value.len, at);
            break;
        default:
            VFAIL(vc, "%s: unknown property type %d", at, p.type);
        }
        i++;
    }
    if (i != json_array_size(want))
        VFAIL(vc, "%sprops: expected %zu properties, got %zu", where, json_array_size(want), i);
    if (props->count != i)
        VFAIL(vc, "%sprops: count says %u, the iterator gave %zu", where, props->count, i);
}

static void check_fields(const vec_case *vc, const mqws_packet *pkt)
{
    const json_t *e = vc->expect;
    const char *type = vec_str(e, "type", NULL);
    if (type && strcmp(type, mqws_packet_type_name(pkt->type)) != 0)
        VFAIL(vc, "type: expected %s, got %s", type, mqws_packet_type_name(pkt->type));
    want_int(vc, e, "flags", pkt->flags, "");
    want_int(vc, e, "packet_id", pkt->packet_id, "");
    want_int(vc, e, "reason_code", pkt->reason_code, "");
    want_int(vc, e, "session_present", pkt->session_present, "");
    check_props(vc, &pkt->props, json_object_get(e, "props"), "");

    const json_t *c = json_object_get(e, "connect");
    if (json_is_object(c)) {
        const mqws_connect *k = &pkt->connect;
        const char *w = "connect.";
        want_str(vc, c, "protocol_name", k->protocol_name.ptr, k->protocol_name.len, w);
        want_int(vc, c, "level", k->level, w);
        want_int(vc, c, "clean_start", k->clean_start, w);
        want_int(vc, c, "will", k->will, w);
        want_int(vc, c, "will_qos", k->will_qos, w);
        want_int(vc, c, "will_retain", k->will_retain, w);
        want_int(vc, c, "keep_alive", k->keep_alive, w);
        want_str(vc, c, "client_id", k->client_id.ptr, k->client_id.len, w);
        want_str(vc, c, "will_topic", k->will_topic.ptr, k->will_topic.len, w);
        want_hex(vc, c, "will_payload", k->will_payload.ptr, k->will_payload.len, w);
        if (vec_has(c, "username")) {
            bool present = !json_is_null(json_object_get(c, "username"));
            if (present != k->has_username)
                VFAIL(vc, "connect.username: expected %s", present ? "present" : "absent");
            want_str(vc, c, "username", k->username.ptr, k->username.len, w);
        }
        if (vec_has(c, "password")) {
            bool present = !json_is_null(json_object_get(c, "password"));
            if (present != k->has_password)
                VFAIL(vc, "connect.password: expected %s", present ? "present" : "absent");
            want_hex(vc, c, "password", k->password.ptr, k->password.len, w);
        }
        check_props(vc, &k->will_props, json_object_get(c, "will_props"), "connect.will_");
    }

    const json_t *p = json_object_get(e, "publish");
    if (json_is_object(p)) {
        const mqws_publish *u = &pkt->publish;
        want_str(vc, p, "topic", u->topic.ptr, u->topic.len, "publish.");
        want_int(vc, p, "qos", u->qos, "publish.");
        want_int(vc, p, "dup", u->dup, "publish.");
        want_int(vc, p, "retain", u->retain, "publish.");
        want_hex(vc, p, "payload", u->payload.ptr, u->payload.len, "publish.");
    }

    const json_t *subs = json_object_get(e, "subscriptions");
    const json_t *topics = json_object_get(e, "topics");
    if (json_is_array(subs) || json_is_array(topics)) {
        bool with_options = json_is_array(subs);
        const json_t *want = with_options ? subs : topics;
        size_t cursor = 0, i = 0;
        mqws_sub s;
        while (mqws_list_next_sub(&pkt->list, with_options, &cursor, &s)) {
            if (i >= json_array_size(want))
                VFAIL(vc, "more list entries than the %zu expected", json_array_size(want));
            const json_t *w = json_array_get(want, i);
            char at[64];
            snprintf(at, sizeof at, "%s[%zu].", with_options ? "subscriptions" : "topics", i);
            if (with_options) {
                want_str(vc, w, "filter", s.filter.ptr, s.filter.len, at);
                want_int(vc, w, "options", s.options, at);
            } else {
                if (!json_is_string(w))
                    VFAIL(vc, "topics[%zu] is not a string", i);
                want_bytes(vc, at, (const uint8_t *)s.filter.ptr, s.filter.len,
                           (const uint8_t *)json_string_value(w), json_string_length(w));
            }
            i++;
        }
        if (i != json_array_size(want) || pkt->list.count != i)
            VFAIL(vc, "list: expected %zu entries, iterator gave %zu, count says %zu",
                  json_array_size(want), i, pkt->list.count);
    }
    const json_t *codes = json_object_get(e, "codes");
    if (json_is_array(codes)) {
        size_t n = json_array_size(codes);
        uint8_t *w = tu_malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            w[i] = (uint8_t)json_integer_value(json_array_get(codes, i));
        want_bytes(vc, "codes", pkt->list.raw, pkt->list.raw_len, w, n);
        if (pkt->list.count != n)
            VFAIL(vc, "codes: count says %zu, expected %zu", pkt->list.count, n);
        tu_free(w);
    }
}

/* Encodes into an exact-size buffer right before a guard page. */
static uint8_t *encode(const vec_case *vc, const mqws_packet *pkt, mqws_mqtt_version version,
                       size_t *len, guard_buf *g)
{
    size_t need = 0;
    mqws_err r = mqws_mqtt_encode(pkt, version, NULL, 0, &need);
    if ((r != MQWS_OK && r != MQWS_ERR_BUFFER_TOO_SMALL) || need < 2)
        VFAIL(vc, "encode (size query): %s, size %zu", mqws_err_name(r), need);
    /* One byte short: must say so (with the size) and write nothing past the end. */
    size_t w2 = 0;
    r = mqws_mqtt_encode(pkt, version, guard_reserve(g, need - 1), need - 1, &w2);
    if (r != MQWS_ERR_BUFFER_TOO_SMALL || w2 != need)
        VFAIL(vc, "encode into %zu bytes: %s, size %zu (want BUFFER_TOO_SMALL, %zu)", need - 1,
              mqws_err_name(r), w2, need);
    uint8_t *out = guard_reserve(g, need);
    memset(out, 0xEE, need);
    size_t written = 0;
    r = mqws_mqtt_encode(pkt, version, out, need, &written);
    if (r != MQWS_OK || written != need)
        VFAIL(vc, "encode: %s, wrote %zu of %zu", mqws_err_name(r), written, need);
    *len = written;
    return out;
}

static void check_prefixes(const vec_case *vc, const uint8_t *in, size_t len,
                           mqws_mqtt_version version, const mqws_mqtt_limits *lim, mqws_err whole)
{
    guard_buf g = {0};
    for (size_t k = 0; k < len; k++) {
        const uint8_t *p = guard_put(&g, in, k);
        mqws_packet pkt;
        memset(&pkt, 0, sizeof pkt);
        size_t used = 0, bad = 0;
        mqws_err r = mqws_mqtt_decode(p, k, version, lim, &pkt, &used, &bad);
        if (r != MQWS_NEED_MORE && (whole == MQWS_OK || r != whole))
            VFAIL(vc, "prefix of %zu of %zu bytes: %s (expected NEED_MORE%s%s)", k, len,
                  mqws_err_name(r), whole == MQWS_OK ? "" : " or ",
                  whole == MQWS_OK ? "" : mqws_err_name(whole));
    }
    guard_free(&g);
}

static void test_packet(const vec_case *vc)
{
    size_t len;
    uint8_t *in = vec_input(vc, &len);
    long long ver = vec_int(vc->params, "version", 0);
    if (ver != 4 && ver != 5)
        VFAIL(vc, "group version must be 4 or 5, is %lld", ver);
    mqws_mqtt_version version = (mqws_mqtt_version)ver;
    mqws_mqtt_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.max_packet_size = (uint32_t)vec_int(vc->params, "max_packet_size", 0);

    guard_buf g = {0}, g2 = {0};
    const uint8_t *p = guard_put(&g, in, len);
    mqws_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    size_t used = 0, bad = (size_t)-1;
    mqws_err r = mqws_mqtt_decode(p, len, version, &lim, &pkt, &used, &bad);

    const char *want_err = vec_str(vc->expect, "error", "OK");
    if (strcmp(want_err, mqws_err_name(r)) != 0)
        VFAIL(vc, "error: expected %s, got %s (offset %zu)", want_err, mqws_err_name(r),
              r > MQWS_NEED_MORE ? bad : 0);
    check_prefixes(vc, in, len, version, &lim, r);

    if (r != MQWS_OK) {
        if (vec_has(vc->expect, "reason_code") &&
            mqws_err_mqtt_reason(r, version) != vec_int(vc->expect, "reason_code", -1))
            VFAIL(vc, "reason_code: expected %lld, mqws_err_mqtt_reason(%s, %d) = %u",
                  vec_int(vc->expect, "reason_code", -1), mqws_err_name(r), version,
                  mqws_err_mqtt_reason(r, version));
        if (vec_has(vc->expect, "offset") && r != MQWS_NEED_MORE &&
            (long long)bad != vec_int(vc->expect, "offset", -1))
            VFAIL(vc, "offset: expected %lld, got %zu", vec_int(vc->expect, "offset", -1), bad);
        goto done;
    }
    if (used != len)
        VFAIL(vc, "consumed %zu of %zu bytes (a vector holds exactly one packet)", used, len);
    check_fields(vc, &pkt);

    /* A stray byte after the packet is not part of it. */
    {
        uint8_t *more = tu_malloc(len + 1);
        memcpy(more, in, len);
        more[len] = 0x30;
        const uint8_t *q = guard_put(&g2, more, len + 1);
        mqws_packet p2;
        size_t used2 = 0;
        mqws_err r2 = mqws_mqtt_decode(q, len + 1, version, &lim, &p2, &used2, NULL);
        if (r2 != MQWS_OK || used2 != len)
            VFAIL(vc, "packet + 1 stray byte: %s, consumed %zu (want OK, %zu)", mqws_err_name(r2),
                  used2, len);
        tu_free(more);
    }

    /* Encode: the input again when canonical; the encoding must decode again. */
    guard_buf ge = {0};
    size_t elen;
    uint8_t *enc = encode(vc, &pkt, version, &elen, &ge);
    bool canonical = vec_bool(vc->expect, "canonical", true);
    if (canonical)
        want_bytes(vc, "re-encoded packet", enc, elen, in, len);
    mqws_packet again;
    memset(&again, 0, sizeof again);
    size_t used3 = 0;
    mqws_err r3 = mqws_mqtt_decode(enc, elen, version, &lim, &again, &used3, NULL);
    if (r3 != MQWS_OK || used3 != elen) {
        char *h = vec_tohex(enc, elen > 200 ? 200 : elen);
        VFAIL(vc, "re-encoded packet %s does not decode: %s", h, mqws_err_name(r3));
    }
    if (again.type != pkt.type)
        VFAIL(vc, "re-encoded packet decodes as %s", mqws_packet_type_name(again.type));
    if (!canonical) {
        /* Encoding is canonical, so encoding the re-decoded packet is a fixed point. */
        guard_buf ge2 = {0};
        size_t elen2;
        uint8_t *enc2 = encode(vc, &again, version, &elen2, &ge2);
        want_bytes(vc, "second re-encoding", enc2, elen2, enc, elen);
        guard_free(&ge2);
    }
    guard_free(&ge);
done:
    guard_free(&g);
    guard_free(&g2);
    tu_free(in);
}

int main(void)
{
    static const char *const files[] = {"mqtt/v311.json", "mqtt/v5.json"};
    return vec_run("mqtt packet vectors", files, 2, test_packet, NULL, 0);
}
