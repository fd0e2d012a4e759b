/*
 * fuzz/fuzz_mqtt_packet_impl.h - body of the MQTT control packet fuzz targets.
 * Included by fuzz_mqtt_packet_v311.c and fuzz_mqtt_packet_v5.c, which define
 * MQWS_FUZZ_VERSION (4 or 5: the connection's version given to the decoder; a
 * CONNECT is decoded by its own protocol level whatever the connection's version).
 *
 * Input: the bytes of one packet (no prefix).
 *
 * Invariants (abort on violation):
 *  1. The result is OK, NEED_MORE or an error with a name; on OK consumed <= size,
 *     on error err_offset <= size.
 *  2. Only the size limit can refuse a decoded packet: with max_packet_size =
 *     consumed it decodes again, with consumed - 1 it fails with MQTT_TOO_LARGE.
 *  3. Views of a decoded packet: every property iterates (count, present bits and
 *     types agree, mqws_props_get finds each id), every SUBSCRIBE/UNSUBSCRIBE entry
 *     iterates and its filter validates, a PUBLISH topic validates.
 *  4. encode(decode(x)) succeeds; its size query agrees; one byte less is
 *     BUFFER_TOO_SMALL; decoding it succeeds with the same fields; encoding that
 *     again gives identical bytes (the canonical form is a fixed point).
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "mqws/error.h"
#include "mqws/mqtt.h"

#ifndef MQWS_FUZZ_VERSION
#error "define MQWS_FUZZ_VERSION to 4 or 5"
#endif

static bool str_same(mqws_str a, mqws_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool bytes_same(mqws_bytes a, mqws_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool props_same(const mqws_props *a, const mqws_props *b)
{
    return a->raw_len == b->raw_len && a->count == b->count && a->present == b->present &&
           (a->raw_len == 0 || memcmp(a->raw, b->raw, a->raw_len) == 0);
}

static bool list_same(const mqws_list *a, const mqws_list *b)
{
    return a->raw_len == b->raw_len && a->count == b->count &&
           (a->raw_len == 0 || memcmp(a->raw, b->raw, a->raw_len) == 0);
}

static void check_props(const mqws_props *props)
{
    size_t cursor = 0, steps = 0;
    uint64_t present = 0;
    mqws_prop p;
    while (mqws_props_next(props, &cursor, &p)) {
        FZ_CHECK(++steps <= props->raw_len); /* every property takes at least 2 bytes */
        FZ_CHECK(cursor <= props->raw_len);
        FZ_CHECK(p.type != 0 && p.type == mqws_prop_type_of(p.id));
        present |= 1ull << p.id;
        if (p.type == MQWS_PROP_UTF8 || p.type == MQWS_PROP_UTF8_PAIR) {
            FZ_CHECK(mqws_utf8_validate(p.bin.ptr, p.bin.len, false, NULL) == MQWS_OK);
        }
        if (p.type == MQWS_PROP_UTF8_PAIR) {
            FZ_CHECK(mqws_utf8_validate(p.value.ptr, p.value.len, false, NULL) == MQWS_OK);
        }
        if (p.bin.len) {
            FZ_CHECK(p.bin.ptr >= props->raw && p.bin.ptr + p.bin.len <= props->raw + props->raw_len);
        }
        mqws_prop first;
        FZ_CHECK(mqws_props_get(props, p.id, &first));
        FZ_CHECK(first.id == p.id);
    }
    FZ_CHECK(cursor == props->raw_len);
    FZ_CHECK(steps == props->count);
    FZ_CHECK(present == props->present);
}

static void check_views(const mqws_packet *pkt, mqws_mqtt_version version)
{
    check_props(&pkt->props);
    if (pkt->type == MQWS_CONNECT) {
        check_props(&pkt->connect.will_props);
        FZ_CHECK(pkt->connect.level == 4 || pkt->connect.level == 5);
        FZ_CHECK(pkt->connect.will_qos <= 2);
        if (pkt->connect.will) {
            FZ_CHECK(mqws_mqtt_validate_topic_name(pkt->connect.will_topic, false) == MQWS_OK);
        }
    }
    if (pkt->type == MQWS_PUBLISH) {
        FZ_CHECK(pkt->publish.qos <= 2);
        FZ_CHECK(mqws_mqtt_validate_topic_name(pkt->publish.topic, version == MQWS_MQTT_V5) ==
                 MQWS_OK);
        FZ_CHECK((pkt->publish.qos == 0) == (pkt->packet_id == 0));
    }
    if (pkt->type == MQWS_SUBSCRIBE || pkt->type == MQWS_UNSUBSCRIBE) {
        bool with_options = pkt->type == MQWS_SUBSCRIBE;
        size_t cursor = 0, n = 0;
        mqws_sub sub;
        while (mqws_list_next_sub(&pkt->list, with_options, &cursor, &sub)) {
            FZ_CHECK(++n <= pkt->list.raw_len);
            FZ_CHECK(mqws_mqtt_validate_topic_filter(sub.filter, version) == MQWS_OK);
            if (with_options) {
                FZ_CHECK(MQWS_SUB_QOS(sub.options) <= 2);
            }
        }
        FZ_CHECK(cursor == pkt->list.raw_len);
        FZ_CHECK(n == pkt->list.count && n >= 1);
    }
    if (pkt->type == MQWS_SUBACK || pkt->type == MQWS_UNSUBACK) {
        FZ_CHECK(pkt->list.count == pkt->list.raw_len);
    }
}

static void check_same_fields(const mqws_packet *a, const mqws_packet *b)
{
    FZ_CHECK(a->type == b->type);
    FZ_CHECK(a->packet_id == b->packet_id);
    FZ_CHECK(a->reason_code == b->reason_code);
    FZ_CHECK(a->session_present == b->session_present);
    FZ_CHECK(props_same(&a->props, &b->props));
    /* the body members share storage: list is defined for these types only */
    if (a->type == MQWS_SUBSCRIBE || a->type == MQWS_UNSUBSCRIBE || a->type == MQWS_SUBACK ||
        a->type == MQWS_UNSUBACK) {
        FZ_CHECK(list_same(&a->list, &b->list));
    }
    if (a->type == MQWS_PUBLISH) {
        FZ_CHECK(a->publish.qos == b->publish.qos && a->publish.dup == b->publish.dup &&
                 a->publish.retain == b->publish.retain);
        FZ_CHECK(str_same(a->publish.topic, b->publish.topic));
        FZ_CHECK(bytes_same(a->publish.payload, b->publish.payload));
    }
    if (a->type == MQWS_CONNECT) {
        const mqws_connect *x = &a->connect, *y = &b->connect;
        FZ_CHECK(x->level == y->level && x->clean_start == y->clean_start && x->will == y->will &&
                 x->will_qos == y->will_qos && x->will_retain == y->will_retain &&
                 x->has_username == y->has_username && x->has_password == y->has_password &&
                 x->keep_alive == y->keep_alive);
        FZ_CHECK(str_same(x->protocol_name, y->protocol_name));
        FZ_CHECK(str_same(x->client_id, y->client_id));
        FZ_CHECK(props_same(&x->will_props, &y->will_props));
        FZ_CHECK(str_same(x->will_topic, y->will_topic));
        FZ_CHECK(bytes_same(x->will_payload, y->will_payload));
        FZ_CHECK(str_same(x->username, y->username));
        FZ_CHECK(bytes_same(x->password, y->password));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const mqws_mqtt_version version = (mqws_mqtt_version)MQWS_FUZZ_VERSION;
    mqws_packet pkt;
    memset(&pkt, 0x5a, sizeof pkt); /* the decoder must fill it */
    size_t used = (size_t)-1, bad_at = (size_t)-1;
    mqws_err r = mqws_mqtt_decode(data, size, version, NULL, &pkt, &used, &bad_at);
    if (r == MQWS_NEED_MORE)
        return 0;
    if (r != MQWS_OK) {
        FZ_CHECK(r >= 2 && r < MQWS_ERR_COUNT_);
        FZ_CHECK(strcmp(mqws_err_name(r), "UNKNOWN") != 0);
        FZ_CHECK(bad_at <= size);
        (void)mqws_err_mqtt_reason(r, version);
        return 0;
    }
    FZ_CHECK(used >= 2 && used <= size);
    FZ_CHECK(pkt.type >= MQWS_CONNECT && pkt.type <= MQWS_AUTH);

    /* 2. the size limit */
    {
        mqws_mqtt_limits lim = {(uint32_t)used};
        mqws_packet p2;
        size_t u2 = 0;
        FZ_CHECK(mqws_mqtt_decode(data, size, version, &lim, &p2, &u2, NULL) == MQWS_OK);
        FZ_CHECK(u2 == used);
        lim.max_packet_size = (uint32_t)(used - 1);
        FZ_CHECK(mqws_mqtt_decode(data, size, version, &lim, &p2, &u2, NULL) ==
                 MQWS_ERR_MQTT_TOO_LARGE);
    }

    /* 3. views */
    check_views(&pkt, version);

    /* 4. encode -> decode -> encode */
    size_t need = 0;
    mqws_err e = mqws_mqtt_encode(&pkt, version, NULL, 0, &need);
    /* a size query answers BUFFER_TOO_SMALL (or OK) with the size needed */
    if (e != MQWS_OK && e != MQWS_ERR_BUFFER_TOO_SMALL)
        fprintf(stderr, "encode of a decoded %s failed: %s\n", mqws_packet_type_name(pkt.type),
                mqws_err_name(e));
    FZ_CHECK(e == MQWS_OK || e == MQWS_ERR_BUFFER_TOO_SMALL);
    FZ_CHECK(need >= 2);
    uint8_t *enc = fz_malloc(need);
    size_t written = 0;
    FZ_CHECK(mqws_mqtt_encode(&pkt, version, enc, need, &written) == MQWS_OK);
    FZ_CHECK(written == need);
    {
        size_t w2 = 0;
        uint8_t *small = fz_malloc(need - 1);
        FZ_CHECK(mqws_mqtt_encode(&pkt, version, small, need - 1, &w2) ==
                 MQWS_ERR_BUFFER_TOO_SMALL);
        FZ_CHECK(w2 == need);
        free(small);
    }

    mqws_packet again;
    size_t used2 = 0;
    e = mqws_mqtt_decode(enc, written, version, NULL, &again, &used2, NULL);
    if (e != MQWS_OK)
        fprintf(stderr, "re-decode of the encoded packet failed: %s\n", mqws_err_name(e));
    FZ_CHECK(e == MQWS_OK);
    FZ_CHECK(used2 == written);
    check_same_fields(&pkt, &again);
    check_views(&again, version);

    uint8_t *enc2 = fz_malloc(written);
    size_t written2 = 0;
    FZ_CHECK(mqws_mqtt_encode(&again, version, enc2, written, &written2) == MQWS_OK);
    FZ_CHECK(written2 == written && memcmp(enc, enc2, written) == 0);

    free(enc);
    free(enc2);
    return 0;
}
