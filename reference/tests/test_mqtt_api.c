/*
 * test_mqtt_api.c - unit tests of the MQTT control packet API (mqws/mqtt.h):
 * names, fixed header, every MQWS_ERR_MQTT_* error with its offset, property
 * builder and iterator, list builder and iterator, encode sizes and errors,
 * round trips of every packet type in both versions, topic rules and matching,
 * and a small deterministic mutation loop over the round-trip invariants.
 *
 * Every decoded input sits in a heap block of exactly its size, so ASan
 * reports a read one byte past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqws/mqtt.h"

/* ---------------------------------------------------------------- helpers */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        assert_int_equal(sscanf(h, "%2x", &v), 1);
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* Decodes hex input from an exact-size heap copy; the packet views stay valid in *keep. */
static mqws_err dec(const char *hex, int version, const mqws_mqtt_limits *lim, mqws_packet *pkt,
                    size_t *bad, uint8_t **keep)
{
    uint8_t tmp[1024];
    size_t n = unhex(hex, tmp, sizeof tmp);
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    memcpy(buf, tmp, n);
    size_t used = 0, b = (size_t)-1;
    mqws_err e = mqws_mqtt_decode(buf, n, (mqws_mqtt_version)version, lim, pkt, &used, &b);
    if (e == MQWS_OK)
        assert_int_equal(used, n);
    if (bad)
        *bad = b;
    if (keep)
        *keep = buf;
    else
        free(buf);
    return e;
}

static void expect_err(const char *hex, int version, mqws_err want, long offset)
{
    mqws_packet pkt;
    size_t bad;
    mqws_err e = dec(hex, version, NULL, &pkt, &bad, NULL);
    if (e != want)
        fail_msg("%s (v%d): got %s, want %s", hex, version, mqws_err_name(e), mqws_err_name(want));
    if (offset >= 0 && (long)bad != offset)
        fail_msg("%s (v%d): %s at offset %zu, want %ld", hex, version, mqws_err_name(e), bad,
                 offset);
}

static size_t enc(const mqws_packet *pkt, int version, uint8_t *out, size_t cap)
{
    size_t need = 0, w = 0;
    assert_int_equal(mqws_mqtt_encode(pkt, (mqws_mqtt_version)version, NULL, 0, &need),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    assert_true(need <= cap);
    if (need > 1) {
        assert_int_equal(mqws_mqtt_encode(pkt, (mqws_mqtt_version)version, out, need - 1, &w),
                         MQWS_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(w, need);
    }
    assert_int_equal(mqws_mqtt_encode(pkt, (mqws_mqtt_version)version, out, cap, &w), MQWS_OK);
    assert_int_equal(w, need);
    return w;
}

/* encode(decode(hex)) == hex */
static void expect_canonical(const char *hex, int version)
{
    mqws_packet pkt;
    uint8_t *keep, out[1024], want[1024];
    mqws_err e = dec(hex, version, NULL, &pkt, NULL, &keep);
    if (e != MQWS_OK)
        fail_msg("%s (v%d): %s", hex, version, mqws_err_name(e));
    size_t n = enc(&pkt, version, out, sizeof out), wn = unhex(hex, want, sizeof want);
    assert_int_equal(n, wn);
    assert_memory_equal(out, want, n);
    free(keep);
}

/* encode(decode(hex)) == canon_hex */
static void expect_reencodes_as(const char *hex, int version, const char *canon_hex)
{
    mqws_packet pkt;
    uint8_t *keep, out[1024], want[1024];
    assert_int_equal(dec(hex, version, NULL, &pkt, NULL, &keep), MQWS_OK);
    size_t n = enc(&pkt, version, out, sizeof out), wn = unhex(canon_hex, want, sizeof want);
    assert_int_equal(n, wn);
    assert_memory_equal(out, want, n);
    free(keep);
}

/* Encodes pkt, decodes it, re-encodes: same bytes. *back gets the decoded packet. */
static uint8_t *round_trip(const mqws_packet *pkt, int version, mqws_packet *back)
{
    uint8_t tmp[2048], out2[2048];
    size_t n = enc(pkt, version, tmp, sizeof tmp);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    memcpy(buf, tmp, n);
    size_t used = 0, bad = 0;
    mqws_err e = mqws_mqtt_decode(buf, n, (mqws_mqtt_version)version, NULL, back, &used, &bad);
    if (e != MQWS_OK)
        fail_msg("%s v%d: decode of encoding failed: %s at %zu", mqws_packet_type_name(pkt->type),
                 version, mqws_err_name(e), bad);
    assert_int_equal(used, n);
    assert_int_equal(back->type, pkt->type);
    size_t n2 = enc(back, version, out2, sizeof out2);
    assert_int_equal(n2, n);
    assert_memory_equal(out2, buf, n);
    return buf;
}

static mqws_str S(const char *s)
{
    return mqws_str_c(s);
}

static void assert_str(mqws_str got, const char *want)
{
    if (!mqws_str_eq(got, want))
        fail_msg("got '%.*s', want '%s'", (int)got.len, got.ptr ? got.ptr : "", want);
}

/* ---------------------------------------------------------------- names, fixed header */

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(mqws_packet_type_name(MQWS_CONNECT), "CONNECT");
    assert_string_equal(mqws_packet_type_name(MQWS_PUBLISH), "PUBLISH");
    assert_string_equal(mqws_packet_type_name(MQWS_UNSUBSCRIBE), "UNSUBSCRIBE");
    assert_string_equal(mqws_packet_type_name(MQWS_DISCONNECT), "DISCONNECT");
    assert_string_equal(mqws_packet_type_name(MQWS_AUTH), "AUTH");
    assert_string_equal(mqws_packet_type_name(0), "RESERVED");
    assert_string_equal(mqws_packet_type_name(16), "RESERVED");
    assert_string_equal(mqws_packet_type_name(-1), "RESERVED");

    assert_int_equal(mqws_prop_type_of(MQWS_PROP_PAYLOAD_FORMAT_INDICATOR), MQWS_PROP_BYTE);
    assert_int_equal(mqws_prop_type_of(MQWS_PROP_SERVER_KEEP_ALIVE), MQWS_PROP_U16);
    assert_int_equal(mqws_prop_type_of(MQWS_PROP_SESSION_EXPIRY_INTERVAL), MQWS_PROP_U32);
    assert_int_equal(mqws_prop_type_of(MQWS_PROP_SUBSCRIPTION_IDENTIFIER), MQWS_PROP_VARINT);
    assert_int_equal(mqws_prop_type_of(MQWS_PROP_CONTENT_TYPE), MQWS_PROP_UTF8);
    assert_int_equal(mqws_prop_type_of(MQWS_PROP_CORRELATION_DATA), MQWS_PROP_BINARY);
    assert_int_equal(mqws_prop_type_of(MQWS_PROP_USER_PROPERTY), MQWS_PROP_UTF8_PAIR);
    assert_int_equal(mqws_prop_type_of(MQWS_PROP_SHARED_SUBSCRIPTION_AVAILABLE), MQWS_PROP_BYTE);
    int undefined[] = {0,    4,    5,    6,    7,    0x0A, 0x0C, 0x10,
                       0x14, 0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0xFF, -3};
    for (size_t i = 0; i < sizeof undefined / sizeof undefined[0]; i++)
        assert_int_equal(mqws_prop_type_of(undefined[i]), 0);
}

static void test_fixed_header(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        mqws_err err;
        size_t hl;
        uint32_t rem;
    } cases[] = {
        {"3000", MQWS_OK, 2, 0},
        {"307f", MQWS_OK, 2, 127},
        {"308001", MQWS_OK, 3, 128},
        {"30ff7f", MQWS_OK, 3, 16383},
        {"30808001", MQWS_OK, 4, 16384},
        {"30ffff7f", MQWS_OK, 4, 2097151},
        {"3080808001", MQWS_OK, 5, 2097152},
        {"30ffffff7f", MQWS_OK, 5, 268435455},
        {"", MQWS_NEED_MORE, 0, 0},
        {"30", MQWS_NEED_MORE, 0, 0},
        {"3080", MQWS_NEED_MORE, 0, 0},
        {"30ffffff", MQWS_NEED_MORE, 0, 0},
        {"30ffffff80", MQWS_ERR_MQTT_REMAINING_LENGTH, 0, 0}, /* 5th length byte would follow */
        {"308000", MQWS_ERR_MQTT_REMAINING_LENGTH, 0, 0},     /* 0 in two bytes */
        {"30ff8000", MQWS_ERR_MQTT_REMAINING_LENGTH, 0, 0},   /* 127 in three bytes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t b[8];
        size_t n = unhex(cases[i].hex, b, sizeof b), hl = 99;
        uint32_t rem = 99;
        mqws_err e = mqws_mqtt_fixed_header(b, n, &hl, &rem);
        if (e != cases[i].err)
            fail_msg("%s: %s", cases[i].hex, mqws_err_name(e));
        if (e == MQWS_OK) {
            assert_int_equal(hl, cases[i].hl);
            assert_int_equal(rem, cases[i].rem);
        }
    }
}

/* ---------------------------------------------------------------- every decode error */

static void test_decode_errors(void **state)
{
    (void)state;
    static const struct {
        int v;
        const char *hex;
        mqws_err err;
        long off;
    } cases[] = {
        /* 2.1.2: type 0 always, type 15 in 3.1.1 */
        {4, "0000", MQWS_ERR_MQTT_PACKET_TYPE, 0},
        {5, "0000", MQWS_ERR_MQTT_PACKET_TYPE, 0},
        {4, "f000", MQWS_ERR_MQTT_PACKET_TYPE, 0},
        /* MQTT-2.2.2-1/2 fixed-header flags */
        {4, "c100", MQWS_ERR_MQTT_FLAGS, 0},
        {4, "60020001", MQWS_ERR_MQTT_FLAGS, 0},
        {4, "62020001", MQWS_OK, -1},
        {4, "8006000100016100", MQWS_ERR_MQTT_FLAGS, 0},
        {4, "a3050001000161", MQWS_ERR_MQTT_FLAGS, 0},
        {5, "e800", MQWS_ERR_MQTT_FLAGS, 0},
        {4, "3803000161", MQWS_ERR_MQTT_FLAGS, 0}, /* DUP with QoS 0: MQTT-3.3.1-2 */
        {4, "36050001610001", MQWS_ERR_MQTT_QOS, 0},
        /* MQTT-1.5.5-1 */
        {4, "c08000", MQWS_ERR_MQTT_REMAINING_LENGTH, 2},
        {4, "30ffffffff01", MQWS_ERR_MQTT_REMAINING_LENGTH, 4},
        /* body does not fit the remaining length */
        {4, "c00100", MQWS_ERR_MQTT_MALFORMED, 2},
        {4, "30020005", MQWS_ERR_MQTT_MALFORMED, 2},
        {4, "4003000100", MQWS_ERR_MQTT_MALFORMED, 4},
        {4, "20020000", MQWS_OK, -1},
        {4, "200100", MQWS_ERR_MQTT_MALFORMED, 3},
        {5, "20020000", MQWS_ERR_MQTT_MALFORMED, 4},   /* 5.0 CONNACK needs its Property Length */
        {4, "b003000100", MQWS_ERR_MQTT_MALFORMED, 4}, /* 3.1.1 UNSUBACK has no payload */
        {4, "90020001", MQWS_ERR_MQTT_MALFORMED, 4},   /* SUBACK without a code */
        {4, "e00100", MQWS_ERR_MQTT_MALFORMED, 2},
        {4, "d00100", MQWS_ERR_MQTT_MALFORMED, 2},
        /* need more */
        {4, "300500016161", MQWS_NEED_MORE, -1},
        {4, "", MQWS_NEED_MORE, -1},
        /* MQTT-1.5.3-1/2 */
        {4, "30030001ff", MQWS_ERR_MQTT_UTF8, 4},
        {4, "3006000461c3a8ed", MQWS_ERR_MQTT_UTF8, 7},
        {4, "3003000100", MQWS_ERR_MQTT_UTF8_NUL, 4},
        {4, "100e00044d5154540402003c000261ff", MQWS_ERR_MQTT_UTF8, 15},
        /* CONNECT */
        {4, "100c00044d5154580402003c0000", MQWS_ERR_MQTT_PROTOCOL_NAME, 2},
        {4, "100c00044d5154540302003c0000", MQWS_ERR_MQTT_PROTOCOL_LEVEL, 8},
        {4, "100c00044d5154540602003c0000", MQWS_ERR_MQTT_PROTOCOL_LEVEL, 8},
        {4, "100e00064d51497364700302003c0000", MQWS_ERR_MQTT_PROTOCOL_LEVEL, 10},
        {4, "100e00064d51497364700402003c0000", MQWS_ERR_MQTT_PROTOCOL_NAME, 2},
        {4, "100c00044d5154540403003c0000", MQWS_ERR_MQTT_CONNECT_RESERVED, 9},
        {4, "100c00044d5154540408003c0000", MQWS_ERR_MQTT_WILL_FLAGS, 9},
        {4, "100c00044d5154540420003c0000", MQWS_ERR_MQTT_WILL_FLAGS, 9},
        {4, "100c00044d515454041c003c0000", MQWS_ERR_MQTT_WILL_FLAGS, 9},
        {4, "100c00044d5154540442003c0000", MQWS_ERR_MQTT_PASSWORD_FLAG, 9},
        {5, "101000044d5154540540003c000000000170", MQWS_OK, -1},
        {4, "100d00044d5154540402003c000000", MQWS_ERR_MQTT_MALFORMED, 14},
        /* Will topic is a Topic Name */
        {4, "101200044d5154540406003c00000002612b0000", MQWS_ERR_MQTT_TOPIC_NAME, 17},
        {4, "101000044d5154540406003c000000000000", MQWS_ERR_MQTT_TOPIC_NAME, 14},
        /* packet identifiers: MQTT-2.3.1-1 */
        {4, "40020000", MQWS_ERR_MQTT_PACKET_ID, 2},
        {4, "50020000", MQWS_ERR_MQTT_PACKET_ID, 2},
        {4, "62020000", MQWS_ERR_MQTT_PACKET_ID, 2},
        {4, "70020000", MQWS_ERR_MQTT_PACKET_ID, 2},
        {4, "32050001610000", MQWS_ERR_MQTT_PACKET_ID, 5},
        {4, "8206000000016100", MQWS_ERR_MQTT_PACKET_ID, 2},
        {4, "9003000000", MQWS_ERR_MQTT_PACKET_ID, 2},
        {4, "a2050000000161", MQWS_ERR_MQTT_PACKET_ID, 2},
        {4, "b0020000", MQWS_ERR_MQTT_PACKET_ID, 2},
        /* topic names and filters */
        {4, "30040002612b", MQWS_ERR_MQTT_TOPIC_NAME, 5},
        {4, "3003000123", MQWS_ERR_MQTT_TOPIC_NAME, 4},
        {4, "30020000", MQWS_ERR_MQTT_TOPIC_NAME, 2},
        {5, "3003000000", MQWS_ERR_MQTT_TOPIC_NAME, 2}, /* empty without a Topic Alias */
        {5, "3006000003230001", MQWS_OK, -1},           /* empty with a Topic Alias */
        {4, "820700010002612300", MQWS_ERR_MQTT_TOPIC_FILTER, 7},
        {4, "82050001000000", MQWS_ERR_MQTT_TOPIC_FILTER, 4},
        {4, "a206000100022361", MQWS_ERR_MQTT_TOPIC_FILTER, 6},
        {5, "820f00010000092473686172652f2f6100", MQWS_ERR_MQTT_TOPIC_FILTER, 14},
        {4, "820e000100092473686172652f2f6100", MQWS_OK, -1}, /* not special in 3.1.1 */
        /* MQTT-3.8.3-3 / 3.10.3-2 */
        {4, "82020001", MQWS_ERR_MQTT_NO_TOPICS, 4},
        {4, "a2020001", MQWS_ERR_MQTT_NO_TOPICS, 4},
        {5, "8203000100", MQWS_ERR_MQTT_NO_TOPICS, 5},
        /* subscription options */
        {4, "8206000100016104", MQWS_ERR_MQTT_SUB_OPTIONS, 7},
        {4, "8206000100016103", MQWS_ERR_MQTT_SUB_OPTIONS, 7},
        {5, "820700010000016103", MQWS_ERR_MQTT_SUB_OPTIONS_VALUE, 8},
        {5, "820700010000016140", MQWS_ERR_MQTT_SUB_OPTIONS, 8},
        {5, "820700010000016130", MQWS_ERR_MQTT_SUB_OPTIONS_VALUE, 8},
        {5, "82070001000001612e", MQWS_OK, -1},
        {5, "8210000100000a2473686172652f672f6104", MQWS_ERR_MQTT_SUB_OPTIONS_VALUE, 17},
        {5, "8210000100000a2473686172652f672f6101", MQWS_OK, -1},
        {5, "8206000100000161", MQWS_ERR_MQTT_MALFORMED, 8}, /* options byte missing */
        /* reason codes */
        {4, "20020006", MQWS_ERR_MQTT_REASON_CODE, 3},
        {4, "20020005", MQWS_OK, -1},
        {4, "20020200", MQWS_ERR_MQTT_FLAGS, 2},
        {5, "2003008b00", MQWS_ERR_MQTT_REASON_CODE, 3},
        {5, "2003009f00", MQWS_OK, -1},
        {4, "9003000103", MQWS_ERR_MQTT_REASON_CODE, 4},
        {4, "9003000180", MQWS_OK, -1},
        {4, "9003000183", MQWS_ERR_MQTT_REASON_CODE, 4},
        {5, "900400010083", MQWS_OK, -1},
        {5, "900400010011", MQWS_ERR_MQTT_REASON_CODE, 5},
        {5, "b00400010011", MQWS_OK, -1},
        {5, "b00400010001", MQWS_ERR_MQTT_REASON_CODE, 5},
        {5, "4003000101", MQWS_ERR_MQTT_REASON_CODE, 4},
        {5, "4003000110", MQWS_OK, -1},
        {5, "5003000199", MQWS_OK, -1},
        {5, "6203000192", MQWS_OK, -1},
        {5, "6203000110", MQWS_ERR_MQTT_REASON_CODE, 4},
        {5, "7003000192", MQWS_OK, -1},
        {5, "e00104", MQWS_OK, -1},
        {5, "e00118", MQWS_ERR_MQTT_REASON_CODE, 2},
        {5, "f00118", MQWS_ERR_MQTT_MALFORMED, 3},     /* 3.15.2.1: no Property Length */
        {5, "f00100", MQWS_ERR_MQTT_MALFORMED, 3},     /* 3.15.2.1: only RL 0 drops both */
        {5, "f006180415000161", MQWS_OK, -1},
        {5, "f0021800", MQWS_ERR_MQTT_AUTH_METHOD, 3},
        {5, "20070100041500016d", MQWS_OK, -1},
        {5, "2003018000", MQWS_ERR_MQTT_FLAGS, 2},     /* MQTT-3.2.2-6 */
        {4, "20020101", MQWS_ERR_MQTT_FLAGS, 2},       /* MQTT-3.2.2-4 */
        {5, "2007000004160001ff", MQWS_ERR_MQTT_AUTH_METHOD, 5},
        {5, "f00104", MQWS_ERR_MQTT_REASON_CODE, 2},
        /* properties */
        {5, "4009000100051100000000", MQWS_ERR_MQTT_PROPERTY_ID, 6},
        {5, "400600010002ff00", MQWS_ERR_MQTT_PROPERTY_ID, 6},
        {5, "400a000100061f00001f0000", MQWS_ERR_MQTT_PROPERTY_DUPLICATE, 9},
        {5, "400e0001000926000000002600000000", MQWS_ERR_MQTT_MALFORMED, 14},
        {5, "400e0001000a26000000002600000000", MQWS_OK, -1},
        {5, "300700016103230000", MQWS_ERR_MQTT_PROPERTY_VALUE, 6},
        {5, "3006000161020102", MQWS_ERR_MQTT_PROPERTY_VALUE, 6},
        {5, "3006000161020b80", MQWS_ERR_MQTT_MALFORMED, 7},
        {5, "3006000161020b00", MQWS_ERR_MQTT_PROPERTY_VALUE, 6},
        {5, "3007000161030b8000", MQWS_ERR_MQTT_MALFORMED, 7}, /* MQTT-1.5.5-1 */
        {5, "3008000161040b010b02", MQWS_OK, -1},
        {5, "82090001020b0100016100", MQWS_OK, -1},
        {5, "820b0001040b010b0200016100", MQWS_ERR_MQTT_PROPERTY_DUPLICATE, 7},
        {5, "300900016105080002612b", MQWS_ERR_MQTT_PROPERTY_VALUE, 6},
        {5, "3009000161040800016100", MQWS_OK, -1},
        {5, "3008000161040300016f", MQWS_OK, -1},
        {5, "30080001610403000100", MQWS_ERR_MQTT_UTF8_NUL, 9},
        {5, "400400010005", MQWS_ERR_MQTT_PROPERTY_LENGTH, 5},
        {5, "40050001008000", MQWS_ERR_MQTT_PROPERTY_LENGTH, 5},
        {5, "400400010080", MQWS_ERR_MQTT_PROPERTY_LENGTH, 5},
        {5, "200400002402", MQWS_ERR_MQTT_PROPERTY_LENGTH, 4},
        {5, "20050000022402", MQWS_ERR_MQTT_PROPERTY_VALUE, 5},
        {5, "20050000022401", MQWS_OK, -1},
        {5, "2006000003210000", MQWS_ERR_MQTT_PROPERTY_VALUE, 5},
        {5, "20080000052700000000", MQWS_ERR_MQTT_PROPERTY_VALUE, 5},
        /* Will properties: a will-only id in CONNECT's own block is refused */
        {5, "101200044d5154540502003c05180000000a0000", MQWS_ERR_MQTT_PROPERTY_ID, 13},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_err(cases[i].hex, cases[i].v, cases[i].err, cases[i].off);
}

static void test_too_large(void **state)
{
    (void)state;
    mqws_packet pkt;
    size_t bad;
    mqws_mqtt_limits lim = {5};
    assert_int_equal(dec("3003000161", 4, &lim, &pkt, &bad, NULL), MQWS_OK);
    lim.max_packet_size = 4;
    assert_int_equal(dec("3003000161", 4, &lim, &pkt, &bad, NULL), MQWS_ERR_MQTT_TOO_LARGE);
    /* refused from the header alone, before the body arrives */
    assert_int_equal(dec("30ff7f", 4, &lim, &pkt, &bad, NULL), MQWS_ERR_MQTT_TOO_LARGE);
    lim.max_packet_size = 0;
    assert_int_equal(dec("30ff7f", 4, &lim, &pkt, &bad, NULL), MQWS_NEED_MORE);
}

static void test_decode_args(void **state)
{
    (void)state;
    mqws_packet pkt;
    uint8_t b[2] = {0xC0, 0};
    size_t used;
    assert_int_equal(mqws_mqtt_decode(NULL, 2, MQWS_MQTT_V5, NULL, &pkt, &used, NULL),
                     MQWS_ERR_ARG);
    assert_int_equal(mqws_mqtt_decode(b, 2, MQWS_MQTT_V5, NULL, NULL, &used, NULL), MQWS_ERR_ARG);
    assert_int_equal(mqws_mqtt_decode(b, 2, (mqws_mqtt_version)3, NULL, &pkt, &used, NULL),
                     MQWS_ERR_ARG);
    assert_int_equal(mqws_mqtt_decode(b, 2, MQWS_MQTT_V5, NULL, &pkt, NULL, NULL), MQWS_OK);
    assert_int_equal(pkt.type, MQWS_PINGREQ);
    /* a CONNECT ignores the connection version */
    uint8_t c5[15];
    size_t n = unhex("100d00044d5154540502003c000000", c5, sizeof c5);
    assert_int_equal(mqws_mqtt_decode(c5, n, (mqws_mqtt_version)0, NULL, &pkt, &used, NULL),
                     MQWS_OK);
    assert_int_equal(pkt.version, 5);
    assert_int_equal(pkt.connect.level, 5);
    assert_int_equal(mqws_mqtt_decode(c5, n, MQWS_MQTT_V311, NULL, &pkt, &used, NULL), MQWS_OK);
    assert_int_equal(pkt.version, 5);
}

/* ---------------------------------------------------------------- canonical forms */

static void test_canonical(void **state)
{
    (void)state;
    const char *v4[] = {
        "100c00044d5154540402003c0000",
        "102600044d51545404ee001e0003636c69000577696c6c2f00026869000475736572000470617373",
        "20020100",
        "20020005",
        "3003000161",
        "3d0a00036162630007686579",
        "40020001",
        "50020002",
        "62020003",
        "70020004",
        "820c000a0003612f2b0100012300",
        "90050001000280",
        "a20a00010001610003622f23",
        "b0020007",
        "c000",
        "d000",
        "e000",
    };
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++)
        expect_canonical(v4[i], 4);
    expect_canonical("101200044d5154540502003c051100000e100000", 5);
    expect_canonical("2003000000", 5);
    expect_canonical("20080080051f00026162", 5);
    expect_canonical("30050001610068", 5);
    expect_canonical("40020001", 5);
    expect_canonical("4003000110", 5);
    expect_canonical("400a000191061f0003616263", 5);
    expect_canonical("e000", 5);
    expect_canonical("e00104", 5);
    expect_canonical("f000", 5);
    expect_canonical("f006180415000161", 5);
    expect_canonical("f00718051500026869", 5);
    expect_canonical("82070001000001612d", 5);
    expect_canonical("a206000100000161", 5);
    expect_canonical("90050001008f02", 5);
    expect_canonical("b0050001000011", 5);
    /* non-canonical but valid: reason 0 and empty properties written out */
    expect_reencodes_as("400400010000", 5, "40020001");
    expect_reencodes_as("4003000100", 5, "40020001");
    expect_reencodes_as("620400010000", 5, "62020001");
    expect_reencodes_as("e00100", 5, "e000");
    expect_reencodes_as("e0020000", 5, "e000");
    expect_reencodes_as("f0020000", 5, "f000");
    expect_reencodes_as("e0028e00", 5, "e0018e");
    /* non-minimal remaining length: refused, not re-encoded */
    expect_err("c08000", 5, MQWS_ERR_MQTT_REMAINING_LENGTH, 2);
}

/* ---------------------------------------------------------------- properties */

static void test_props_builder(void **state)
{
    (void)state;
    uint8_t buf[256];
    mqws_props_builder b = {buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    mqws_props_add_int(&b, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, 0x01020304);
    mqws_props_add_bytes(&b, MQWS_PROP_CONTENT_TYPE, "text/plain", 10);
    mqws_props_add_bytes(&b, MQWS_PROP_RESPONSE_TOPIC, "r/t", 3);
    mqws_props_add_bytes(&b, MQWS_PROP_CORRELATION_DATA, "\x00\x01", 2);
    mqws_props_add_int(&b, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, 268435455);
    mqws_props_add_int(&b, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, 200);
    mqws_props_add_int(&b, MQWS_PROP_TOPIC_ALIAS, 7);
    mqws_props_add_pair(&b, MQWS_PROP_USER_PROPERTY, S("k"), S("v"));
    mqws_props_add_pair(&b, MQWS_PROP_USER_PROPERTY, S(""), S("v2"));
    assert_int_equal(b.err, MQWS_OK);
    mqws_props p = mqws_props_from_builder(&b);
    assert_ptr_equal(p.raw, buf);
    assert_int_equal(p.raw_len, b.len);
    assert_int_equal(p.count, 10);
    assert_true(p.present & (1ull << MQWS_PROP_USER_PROPERTY));
    assert_false(p.present & (1ull << MQWS_PROP_REASON_STRING));

    size_t cur = 0;
    mqws_prop pr;
    static const uint8_t ids[] = {1, 2, 3, 8, 9, 0x0B, 0x0B, 0x23, 0x26, 0x26};
    for (size_t i = 0; i < sizeof ids; i++) {
        assert_true(mqws_props_next(&p, &cur, &pr));
        assert_int_equal(pr.id, ids[i]);
        assert_int_equal(pr.type, mqws_prop_type_of(ids[i]));
    }
    assert_false(mqws_props_next(&p, &cur, &pr));
    assert_int_equal(cur, p.raw_len);

    assert_true(mqws_props_get(&p, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, &pr));
    assert_int_equal(pr.u32, 0x01020304);
    assert_true(mqws_props_get(&p, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, &pr));
    assert_int_equal(pr.u32, 268435455); /* the first one */
    assert_true(mqws_props_get(&p, MQWS_PROP_CONTENT_TYPE, &pr));
    assert_int_equal(pr.bin.len, 10);
    assert_memory_equal(pr.bin.ptr, "text/plain", 10);
    assert_true(mqws_props_get(&p, MQWS_PROP_USER_PROPERTY, &pr));
    assert_int_equal(pr.bin.len, 1);
    assert_memory_equal(pr.value.ptr, "v", 1);
    assert_false(mqws_props_get(&p, MQWS_PROP_REASON_STRING, &pr));
    assert_false(mqws_props_get(&p, 0, &pr));
    assert_false(mqws_props_get(&p, 99, &pr));

    /* the block is valid in a PUBLISH: encode and decode it */
    mqws_packet pkt = {0}, back;
    pkt.type = MQWS_PUBLISH;
    pkt.publish.topic = S("a/b");
    pkt.publish.qos = 1;
    pkt.packet_id = 9;
    pkt.props = p;
    uint8_t *keep = round_trip(&pkt, 5, &back);
    assert_int_equal(back.props.count, 10);
    assert_int_equal(back.props.present, p.present);
    assert_int_equal(back.props.raw_len, p.raw_len);
    assert_memory_equal(back.props.raw, buf, p.raw_len);
    free(keep);
}

static void test_props_builder_errors(void **state)
{
    (void)state;
    uint8_t buf[8];
    mqws_props_builder b = {buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_CONTENT_TYPE, 1); /* a string id */
    assert_int_equal(b.err, MQWS_ERR_ARG);
    mqws_props_add_int(&b, MQWS_PROP_TOPIC_ALIAS, 1); /* sticky: nothing added */
    assert_int_equal(b.len, 0);

    static const struct {
        int id;
        uint32_t v;
    } bad_ints[] = {{MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, 256},
                    {MQWS_PROP_TOPIC_ALIAS, 65536},
                    {MQWS_PROP_SUBSCRIPTION_IDENTIFIER, 268435456},
                    {0x55, 1},
                    {MQWS_PROP_USER_PROPERTY, 1}};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
        mqws_props_builder c = {buf, sizeof buf, 0, MQWS_OK};
        mqws_props_add_int(&c, bad_ints[i].id, bad_ints[i].v);
        assert_int_equal(c.err, MQWS_ERR_ARG);
    }
    mqws_props_builder c = {buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_bytes(&c, MQWS_PROP_TOPIC_ALIAS, "x", 1);
    assert_int_equal(c.err, MQWS_ERR_ARG);
    c = (mqws_props_builder){buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_bytes(&c, MQWS_PROP_REASON_STRING, "\xff", 1);
    assert_int_equal(c.err, MQWS_ERR_MQTT_UTF8);
    c = (mqws_props_builder){buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_bytes(&c, MQWS_PROP_REASON_STRING, "a\0", 2);
    assert_int_equal(c.err, MQWS_ERR_MQTT_UTF8_NUL);
    c = (mqws_props_builder){buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_bytes(&c, MQWS_PROP_CORRELATION_DATA, "a\0", 2); /* binary may hold NUL */
    assert_int_equal(c.err, MQWS_OK);
    c = (mqws_props_builder){buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_pair(&c, MQWS_PROP_REASON_STRING, S("k"), S("v"));
    assert_int_equal(c.err, MQWS_ERR_ARG);

    /* too small: sticky, len unchanged */
    c = (mqws_props_builder){buf, sizeof buf, 0, MQWS_OK};
    mqws_props_add_int(&c, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 5); /* 5 bytes */
    mqws_props_add_int(&c, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 5); /* 10 > 8 */
    assert_int_equal(c.err, MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(c.len, 5);
    mqws_props_add_int(&c, MQWS_PROP_MAXIMUM_QOS, 1);
    assert_int_equal(c.len, 5);
    mqws_props pp = mqws_props_from_builder(&c);
    assert_int_equal(pp.count, 1);

    /* varint sizes of the Subscription Identifier */
    static const struct {
        uint32_t v;
        size_t n;
    } sizes[] = {{1, 2}, {127, 2}, {128, 3}, {16383, 3}, {16384, 4}, {2097151, 4}, {2097152, 5}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t t[8];
        mqws_props_builder d = {t, sizeof t, 0, MQWS_OK};
        mqws_props_add_int(&d, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, sizes[i].v);
        assert_int_equal(d.len, sizes[i].n);
        mqws_props q = mqws_props_from_builder(&d);
        mqws_prop pr;
        assert_true(mqws_props_get(&q, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, &pr));
        assert_int_equal(pr.u32, sizes[i].v);
    }

    /* the iterator survives garbage (it is not a validator, but never overreads) */
    static const uint8_t junk[][4] = {{0x02, 0, 0, 0},
                                      {0x26, 0, 5, 0},
                                      {0x0B, 0x80, 0x80, 0x80},
                                      {0x55, 0, 0, 0},
                                      {0x03, 0, 3, 'a'}};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        uint8_t *h = malloc(3);
        memcpy(h, junk[i], 3);
        mqws_props q = {h, 3, 0, 0};
        size_t cur = 0;
        mqws_prop pr;
        while (mqws_props_next(&q, &cur, &pr))
            assert_true(cur <= 3);
        free(h);
    }
    mqws_props empty = {0};
    size_t cur = 0;
    mqws_prop pr;
    assert_false(mqws_props_next(&empty, &cur, &pr));
    assert_false(mqws_props_get(&empty, MQWS_PROP_TOPIC_ALIAS, &pr));
}

/* Each property id is accepted exactly where the 5.0 table (2.2.2.2) allows it. */
static void test_props_placement(void **state)
{
    (void)state;
    /* packet type -> allowed ids */
    struct {
        int type;
        const uint8_t *ids;
        size_t n;
    } allowed[16];
    static const uint8_t connect_ids[] = {0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27};
    static const uint8_t connack_ids[] = {0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21,
                                          0x22, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A};
    static const uint8_t publish_ids[] = {0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26};
    static const uint8_t ack_ids[] = {0x1F, 0x26};
    static const uint8_t subscribe_ids[] = {0x0B, 0x26};
    static const uint8_t unsubscribe_ids[] = {0x26};
    static const uint8_t disconnect_ids[] = {0x11, 0x1C, 0x1F, 0x26};
    static const uint8_t auth_ids[] = {0x15, 0x16, 0x1F, 0x26};
    memset(allowed, 0, sizeof allowed);
    allowed[1].ids = connect_ids, allowed[1].n = sizeof connect_ids;
    allowed[2].ids = connack_ids, allowed[2].n = sizeof connack_ids;
    allowed[3].ids = publish_ids, allowed[3].n = sizeof publish_ids;
    for (int t = 4; t <= 7; t++)
        allowed[t].ids = ack_ids, allowed[t].n = sizeof ack_ids;
    allowed[8].ids = subscribe_ids, allowed[8].n = sizeof subscribe_ids;
    allowed[9].ids = ack_ids, allowed[9].n = sizeof ack_ids;
    allowed[10].ids = unsubscribe_ids, allowed[10].n = sizeof unsubscribe_ids;
    allowed[11].ids = ack_ids, allowed[11].n = sizeof ack_ids;
    allowed[14].ids = disconnect_ids, allowed[14].n = sizeof disconnect_ids;
    allowed[15].ids = auth_ids, allowed[15].n = sizeof auth_ids;

    for (int t = 2; t <= 15; t++) { /* CONNECT is checked through its own test below */
        if (t == MQWS_PINGREQ || t == MQWS_PINGRESP)
            continue;
        for (int id = 1; id < 0x2B; id++) {
            mqws_prop_type ty = mqws_prop_type_of(id);
            if (!ty)
                continue;
            /* a valid value of the id's type */
            uint8_t blk[16];
            mqws_props_builder b = {blk, sizeof blk, 0, MQWS_OK};
            /* AUTH, and Authentication Data anywhere, need an Authentication Method (4.12) */
            if ((t == MQWS_AUTH || id == MQWS_PROP_AUTHENTICATION_DATA) &&
                id != MQWS_PROP_AUTHENTICATION_METHOD)
                mqws_props_add_bytes(&b, MQWS_PROP_AUTHENTICATION_METHOD, "m", 1);
            if (ty == MQWS_PROP_UTF8 || ty == MQWS_PROP_BINARY)
                mqws_props_add_bytes(&b, id, "x", 1);
            else if (ty == MQWS_PROP_UTF8_PAIR)
                mqws_props_add_pair(&b, id, S("k"), S("v"));
            else
                mqws_props_add_int(&b, id, 1);
            assert_int_equal(b.err, MQWS_OK);
            mqws_packet pkt = {0};
            pkt.type = (mqws_packet_type)t;
            pkt.packet_id = 1;
            uint8_t list[8];
            size_t ll = 0;
            if (t == MQWS_SUBSCRIBE || t == MQWS_UNSUBSCRIBE)
                mqws_list_append_sub(list, sizeof list, &ll, S("t"), t == MQWS_SUBSCRIBE, 0);
            else
                list[ll++] = 0;
            /* the body members share storage: only the one of the type */
            if (t == MQWS_PUBLISH) {
                pkt.publish.topic = S("t");
            } else if (t >= MQWS_SUBSCRIBE && t <= MQWS_UNSUBACK) {
                pkt.list.raw = list;
                pkt.list.raw_len = ll;
                pkt.list.count = 1;
            }
            pkt.props = mqws_props_from_builder(&b);
            uint8_t out[64];
            size_t n = enc(&pkt, 5, out, sizeof out);
            uint8_t *h = malloc(n);
            memcpy(h, out, n);
            mqws_packet back;
            size_t used, bad = 0;
            mqws_err e = mqws_mqtt_decode(h, n, MQWS_MQTT_V5, NULL, &back, &used, &bad);
            bool ok = memchr(allowed[t].ids, id, allowed[t].n) != NULL;
            if (ok != (e == MQWS_OK))
                fail_msg("%s with property 0x%02x: %s", mqws_packet_type_name(t), id,
                         mqws_err_name(e));
            if (!ok)
                assert_int_equal(e, MQWS_ERR_MQTT_PROPERTY_ID);
            free(h);
        }
    }
}

static void test_will_props(void **state)
{
    (void)state;
    uint8_t wb[32], cb[32];
    mqws_props_builder w = {wb, sizeof wb, 0, MQWS_OK}, c = {cb, sizeof cb, 0, MQWS_OK};
    mqws_props_add_int(&w, MQWS_PROP_WILL_DELAY_INTERVAL, 10);
    mqws_props_add_int(&w, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    mqws_props_add_pair(&w, MQWS_PROP_USER_PROPERTY, S("a"), S("b"));
    mqws_props_add_int(&c, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 60);
    mqws_props_add_int(&c, MQWS_PROP_RECEIVE_MAXIMUM, 10);
    mqws_packet pkt = {0}, back;
    pkt.type = MQWS_CONNECT;
    pkt.connect.level = 5;
    pkt.connect.will = true;
    pkt.connect.will_qos = 2;
    pkt.connect.will_retain = true;
    pkt.connect.will_topic = S("w/t");
    pkt.connect.will_payload = (mqws_bytes){(const uint8_t *)"bye", 3};
    pkt.connect.will_props = mqws_props_from_builder(&w);
    pkt.props = mqws_props_from_builder(&c);
    pkt.connect.client_id = S("id");
    uint8_t *keep = round_trip(&pkt, 5, &back);
    assert_int_equal(back.connect.will_props.count, 3);
    assert_int_equal(back.props.count, 2);
    mqws_prop pr;
    assert_true(mqws_props_get(&back.connect.will_props, MQWS_PROP_WILL_DELAY_INTERVAL, &pr));
    assert_int_equal(pr.u32, 10);
    free(keep);

    /* Will Delay Interval in CONNECT's own block, Session Expiry in the Will block */
    mqws_packet bad = pkt;
    bad.props = pkt.connect.will_props;
    uint8_t out[128];
    size_t n = enc(&bad, 5, out, sizeof out), off;
    uint8_t *h = malloc(n);
    memcpy(h, out, n);
    mqws_packet r;
    size_t used;
    assert_int_equal(mqws_mqtt_decode(h, n, MQWS_MQTT_V5, NULL, &r, &used, &off),
                     MQWS_ERR_MQTT_PROPERTY_ID);
    assert_int_equal(h[off], MQWS_PROP_WILL_DELAY_INTERVAL);
    free(h);
    bad = pkt;
    bad.connect.will_props = pkt.props;
    n = enc(&bad, 5, out, sizeof out);
    h = malloc(n);
    memcpy(h, out, n);
    assert_int_equal(mqws_mqtt_decode(h, n, MQWS_MQTT_V5, NULL, &r, &used, &off),
                     MQWS_ERR_MQTT_PROPERTY_ID);
    assert_int_equal(h[off], MQWS_PROP_SESSION_EXPIRY_INTERVAL);
    free(h);
}

/* ---------------------------------------------------------------- lists */

static void test_lists(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = 0;
    assert_int_equal(mqws_list_append_sub(buf, sizeof buf, &len, S("a/+"), true, 1), MQWS_OK);
    assert_int_equal(
        mqws_list_append_sub(buf, sizeof buf, &len, S("#"), true,
                             2 | MQWS_SUB_NO_LOCAL | MQWS_SUB_RETAIN_AS_PUBLISHED | 0x20),
        MQWS_OK);
    assert_int_equal(len, 6 + 4);
    mqws_list list = {buf, len, 2};
    size_t cur = 0;
    mqws_sub s;
    assert_true(mqws_list_next_sub(&list, true, &cur, &s));
    assert_str(s.filter, "a/+");
    assert_int_equal(s.options, 1);
    assert_true(mqws_list_next_sub(&list, true, &cur, &s));
    assert_str(s.filter, "#");
    assert_int_equal(MQWS_SUB_QOS(s.options), 2);
    assert_true(s.options & MQWS_SUB_NO_LOCAL);
    assert_true(s.options & MQWS_SUB_RETAIN_AS_PUBLISHED);
    assert_int_equal(MQWS_SUB_RETAIN_HANDLING(s.options), 2);
    assert_false(mqws_list_next_sub(&list, true, &cur, &s));

    /* too small leaves len as it was */
    size_t before = len;
    assert_int_equal(mqws_list_append_sub(buf, len + 3, &len, S("ab"), true, 0),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, before);
    assert_int_equal(mqws_list_append_sub(buf, len + 4, &len, S("ab"), false, 0), MQWS_OK);
    size_t zero = 0;
    assert_int_equal(mqws_list_append_sub(NULL, 0, &zero, S("ab"), false, 0),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(mqws_list_append_sub(buf, 2, &len, S("ab"), false, 0), MQWS_ERR_ARG);
    static char big[70000];
    memset(big, 'a', sizeof big);
    mqws_str huge = {big, 65536};
    size_t l2 = 0;
    assert_int_equal(mqws_list_append_sub(buf, sizeof buf, &l2, huge, false, 0), MQWS_ERR_ARG);
    assert_int_equal(mqws_list_append_sub(buf, sizeof buf, NULL, S("a"), false, 0), MQWS_ERR_ARG);

    /* UNSUBSCRIBE lists */
    size_t ul = 0;
    mqws_list_append_sub(buf, sizeof buf, &ul, S("x/y"), false, 0);
    mqws_list_append_sub(buf, sizeof buf, &ul, S(""), false, 0);
    mqws_list u = {buf, ul, 2};
    cur = 0;
    assert_true(mqws_list_next_sub(&u, false, &cur, &s));
    assert_str(s.filter, "x/y");
    assert_int_equal(s.options, 0);
    assert_true(mqws_list_next_sub(&u, false, &cur, &s));
    assert_int_equal(s.filter.len, 0);
    assert_false(mqws_list_next_sub(&u, false, &cur, &s));

    /* truncated list: the iterator stops */
    mqws_list t = {buf, 4, 1};
    cur = 0;
    assert_false(mqws_list_next_sub(&t, false, &cur, &s));
}

/* ---------------------------------------------------------------- round trips */

static void rt_simple(int type, int version, uint16_t id, uint8_t rc, const mqws_props *props)
{
    mqws_packet pkt = {0}, back;
    pkt.type = (mqws_packet_type)type;
    pkt.packet_id = id;
    pkt.reason_code = rc;
    if (props)
        pkt.props = *props;
    uint8_t *keep = round_trip(&pkt, version, &back);
    assert_int_equal(back.packet_id, id);
    assert_int_equal(back.reason_code, rc);
    assert_int_equal(back.props.raw_len, props ? props->raw_len : 0);
    assert_int_equal(back.flags, (type == MQWS_PUBREL) ? 2 : 0);
    free(keep);
}

static void test_round_trip_all_types(void **state)
{
    (void)state;
    uint8_t pb[32];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_bytes(&b, MQWS_PROP_REASON_STRING, "why", 3);
    mqws_props_add_pair(&b, MQWS_PROP_USER_PROPERTY, S("k"), S("v"));
    mqws_props rs = mqws_props_from_builder(&b);

    for (int v = 4; v <= 5; v++) {
        /* CONNECT: every flag combination that is legal */
        for (unsigned f = 0; f < 64; f++) {
            mqws_packet pkt = {0}, back;
            pkt.type = MQWS_CONNECT;
            pkt.connect.level = (uint8_t)v;
            pkt.connect.clean_start = f & 1;
            pkt.connect.will = f & 2;
            pkt.connect.will_qos = pkt.connect.will ? (uint8_t)((f >> 2) % 3) : 0;
            pkt.connect.will_retain = pkt.connect.will && (f & 16);
            pkt.connect.has_username = f & 32;
            pkt.connect.has_password = (f & 32) ? (f & 8) : (v == 5 && (f & 8));
            pkt.connect.keep_alive = (uint16_t)(f * 1000);
            /* a zero-byte ClientId needs Clean Session in 3.1.1 (MQTT-3.1.3-7) */
            pkt.connect.client_id = S((f & 4) && (v == 5 || (f & 1)) ? "" : "client-1");
            pkt.connect.will_topic = S("last/will");
            pkt.connect.will_payload = (mqws_bytes){(const uint8_t *)"\0\1\2", 3};
            pkt.connect.username = S("user");
            pkt.connect.password = (mqws_bytes){(const uint8_t *)"p\0w", 3};
            uint8_t *keep = round_trip(&pkt, v == 4 ? 5 : 4 /* ignored for CONNECT */, &back);
            assert_int_equal(back.version, v);
            assert_int_equal(back.connect.level, v);
            assert_str(back.connect.protocol_name, "MQTT");
            assert_int_equal(back.connect.clean_start, pkt.connect.clean_start);
            assert_int_equal(back.connect.will, pkt.connect.will);
            assert_int_equal(back.connect.will_qos, pkt.connect.will_qos);
            assert_int_equal(back.connect.will_retain, pkt.connect.will_retain);
            assert_int_equal(back.connect.has_username, pkt.connect.has_username);
            assert_int_equal(back.connect.has_password, pkt.connect.has_password);
            assert_int_equal(back.connect.keep_alive, pkt.connect.keep_alive);
            assert_int_equal(back.connect.client_id.len, pkt.connect.client_id.len);
            if (back.connect.will) {
                assert_str(back.connect.will_topic, "last/will");
                assert_int_equal(back.connect.will_payload.len, 3);
            } else {
                assert_int_equal(back.connect.will_topic.len, 0);
            }
            if (back.connect.has_password)
                assert_memory_equal(back.connect.password.ptr, "p\0w", 3);
            free(keep);
        }

        /* CONNACK */
        for (int sp = 0; sp <= 1; sp++) {
            mqws_packet pkt = {0}, back;
            pkt.type = MQWS_CONNACK;
            pkt.session_present = sp;
            pkt.reason_code = sp ? 0 : v == 4 ? 5 : 0x9F; /* MQTT-3.2.2-4 / 3.2.2-6 */
            if (v == 5)
                pkt.props = rs;
            uint8_t *keep = round_trip(&pkt, v, &back);
            assert_int_equal(back.session_present, sp);
            assert_int_equal(back.reason_code, pkt.reason_code);
            free(keep);
        }

        /* PUBLISH, every QoS/DUP/RETAIN */
        for (unsigned f = 0; f < 16; f++) {
            mqws_packet pkt = {0}, back;
            pkt.type = MQWS_PUBLISH;
            pkt.publish.qos = (uint8_t)(f & 3) % 3;
            pkt.publish.dup = pkt.publish.qos && (f & 4);
            pkt.publish.retain = f & 8;
            pkt.packet_id = pkt.publish.qos ? (uint16_t)(f + 1) : 0;
            pkt.publish.topic = S("sensors/\xc3\xa9t\xc3\xa9/1");
            pkt.publish.payload = (mqws_bytes){(const uint8_t *)"\x00\xff payload", 10};
            uint8_t *keep = round_trip(&pkt, v, &back);
            assert_int_equal(back.publish.qos, pkt.publish.qos);
            assert_int_equal(back.publish.dup, pkt.publish.dup);
            assert_int_equal(back.publish.retain, pkt.publish.retain);
            assert_int_equal(back.packet_id, pkt.packet_id);
            assert_int_equal(back.flags, (pkt.publish.dup ? 8 : 0) | pkt.publish.qos << 1 |
                                             (pkt.publish.retain ? 1 : 0));
            assert_str(back.publish.topic, "sensors/\xc3\xa9t\xc3\xa9/1");
            assert_int_equal(back.publish.payload.len, 10);
            assert_memory_equal(back.publish.payload.ptr, "\x00\xff payload", 10);
            free(keep);
        }
        /* empty payload */
        {
            mqws_packet pkt = {0}, back;
            pkt.type = MQWS_PUBLISH;
            pkt.publish.topic = S("t");
            uint8_t *keep = round_trip(&pkt, v, &back);
            assert_int_equal(back.publish.payload.len, 0);
            free(keep);
        }

        /* PUBACK .. PUBCOMP: short forms, reason codes, properties */
        for (int t = MQWS_PUBACK; t <= MQWS_PUBCOMP; t++) {
            rt_simple(t, v, 0xFFFF, 0, NULL);
            if (v == 5) {
                uint8_t rc = (t == MQWS_PUBREL || t == MQWS_PUBCOMP) ? 0x92 : 0x10;
                rt_simple(t, v, 1, rc, NULL);
                rt_simple(t, v, 1, 0, &rs);
                rt_simple(t, v, 1, rc, &rs);
            }
        }

        /* SUBSCRIBE / UNSUBSCRIBE */
        for (int t = MQWS_SUBSCRIBE; t <= MQWS_UNSUBSCRIBE; t += 2) {
            bool opt = t == MQWS_SUBSCRIBE;
            uint8_t lb[64];
            size_t ll = 0;
            mqws_list_append_sub(lb, sizeof lb, &ll, S("a/+/c"), opt, 1);
            mqws_list_append_sub(lb, sizeof lb, &ll, S("#"), opt, 2);
            mqws_list_append_sub(lb, sizeof lb, &ll, S(v == 5 ? "$share/g/x/#" : "+"), opt,
                                 v == 5 ? 0x28 : 0);
            mqws_packet pkt = {0}, back;
            pkt.type = (mqws_packet_type)t;
            pkt.packet_id = 77;
            pkt.list = (mqws_list){lb, ll, 3};
            uint8_t sb[8];
            mqws_props_builder sbb = {sb, sizeof sb, 0, MQWS_OK};
            if (v == 5 && opt)
                mqws_props_add_int(&sbb, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, 300);
            if (v == 5)
                pkt.props = mqws_props_from_builder(&sbb);
            uint8_t *keep = round_trip(&pkt, v, &back);
            assert_int_equal(back.flags, 2);
            assert_int_equal(back.packet_id, 77);
            assert_int_equal(back.list.count, 3);
            size_t cur = 0;
            mqws_sub s;
            assert_true(mqws_list_next_sub(&back.list, opt, &cur, &s));
            assert_str(s.filter, "a/+/c");
            assert_int_equal(s.options, opt ? 1 : 0);
            free(keep);
        }

        /* SUBACK / UNSUBACK */
        {
            uint8_t codes[] = {0, 1, 2, 0x80};
            mqws_packet pkt = {0}, back;
            pkt.type = MQWS_SUBACK;
            pkt.packet_id = 5;
            pkt.list = (mqws_list){codes, 4, 4};
            if (v == 5)
                pkt.props = rs;
            uint8_t *keep = round_trip(&pkt, v, &back);
            assert_int_equal(back.list.count, 4);
            assert_memory_equal(back.list.raw, codes, 4);
            free(keep);

            uint8_t ucodes[] = {0, 0x11, 0x8F};
            pkt.type = MQWS_UNSUBACK;
            pkt.list = v == 5 ? (mqws_list){ucodes, 3, 3} : (mqws_list){NULL, 0, 0};
            keep = round_trip(&pkt, v, &back);
            assert_int_equal(back.list.count, v == 5 ? 3 : 0);
            free(keep);
        }

        /* PINGREQ, PINGRESP, DISCONNECT, AUTH */
        rt_simple(MQWS_PINGREQ, v, 0, 0, NULL);
        rt_simple(MQWS_PINGRESP, v, 0, 0, NULL);
        rt_simple(MQWS_DISCONNECT, v, 0, 0, NULL);
        if (v == 5) {
            rt_simple(MQWS_DISCONNECT, v, 0, 0x04, NULL);
            rt_simple(MQWS_DISCONNECT, v, 0, 0x8E, &rs);
            rt_simple(MQWS_DISCONNECT, v, 0, 0, &rs);
            rt_simple(MQWS_AUTH, v, 0, 0, NULL);
            uint8_t ab[32];
            mqws_props_builder a = {ab, sizeof ab, 0, MQWS_OK};
            mqws_props_add_bytes(&a, MQWS_PROP_AUTHENTICATION_METHOD, "SCRAM", 5);
            mqws_props am = mqws_props_from_builder(&a); /* 3.15.2.2.2: method required */
            rt_simple(MQWS_AUTH, v, 0, 0x18, &am);
            mqws_props_add_bytes(&a, MQWS_PROP_AUTHENTICATION_DATA, "\x01\x02", 2);
            mqws_props ap = mqws_props_from_builder(&a);
            rt_simple(MQWS_AUTH, v, 0, 0x19, &ap);
        }
    }
}

/* ---------------------------------------------------------------- encoder */

static void test_encode_sizes_and_args(void **state)
{
    (void)state;
    mqws_packet pkt = {0};
    size_t w = 0;
    uint8_t out[16];
    pkt.type = MQWS_PINGREQ;
    assert_int_equal(mqws_mqtt_encode(&pkt, MQWS_MQTT_V311, NULL, 0, &w),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(w, 2);
    assert_int_equal(mqws_mqtt_encode(&pkt, MQWS_MQTT_V311, out, 1, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(mqws_mqtt_encode(&pkt, MQWS_MQTT_V311, out, 2, &w), MQWS_OK);
    assert_int_equal(out[0], 0xC0);
    assert_int_equal(out[1], 0);

    /* remaining length sizes: 127 -> 1 byte, 128 -> 2 bytes, 16384 -> 3 bytes */
    static uint8_t payload[20000];
    pkt = (mqws_packet){0};
    pkt.type = MQWS_PUBLISH;
    pkt.publish.topic = S("t");
    static const struct {
        size_t pl;
        size_t total;
    } sz[] = {{124, 2 + 127}, {125, 3 + 128}, {16381, 4 + 16384}, {16380, 3 + 16383}};
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        pkt.publish.payload = (mqws_bytes){payload, sz[i].pl};
        assert_int_equal(mqws_mqtt_encode(&pkt, MQWS_MQTT_V311, NULL, 0, &w),
                         MQWS_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(w, sz[i].total);
    }

    /* 3.1.1: a zero-byte ClientId without Clean Session (MQTT-3.1.3-7); fine in 5.0 */
    mqws_packet conn = {0};
    conn.type = MQWS_CONNECT;
    conn.connect.level = MQWS_MQTT_V311;
    assert_int_equal(mqws_mqtt_encode(&conn, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    conn.connect.clean_start = true;
    assert_int_equal(mqws_mqtt_encode(&conn, MQWS_MQTT_V311, NULL, 0, &w),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    conn.connect.clean_start = false;
    conn.connect.level = MQWS_MQTT_V5;
    assert_int_equal(mqws_mqtt_encode(&conn, MQWS_MQTT_V5, NULL, 0, &w),
                     MQWS_ERR_BUFFER_TOO_SMALL);

    /* impossible fields */
    mqws_packet bad = pkt;
    bad.publish.payload = (mqws_bytes){0};
    bad.publish.qos = 3;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    bad.publish.qos = 0;
    bad.publish.dup = true;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    bad = pkt;
    static char big[65536];
    bad.publish.topic = (mqws_str){big, 65536};
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    bad.publish.topic = (mqws_str){big, 65535};
    bad.publish.payload = (mqws_bytes){0};
    memset(big, 'a', sizeof big);
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(w, 1 + 3 + 2 + 65535);
    bad = pkt;
    bad.publish.payload = (mqws_bytes){NULL, 5};
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    /* over the Remaining Length maximum (a view need not be readable to be sized) */
    bad = pkt;
    bad.publish.payload = (mqws_bytes){payload, MQWS_MQTT_MAX_REMAINING_LENGTH - 4};
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(w, 1 + 4 + MQWS_MQTT_MAX_REMAINING_LENGTH - 1);
    bad.publish.payload.len++;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w),
                     MQWS_ERR_BUFFER_TOO_SMALL);
    bad.publish.payload.len++;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);

    /* properties in 3.1.1, AUTH in 3.1.1, bad version, bad type */
    uint8_t pb[8];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_TOPIC_ALIAS, 1);
    bad = pkt;
    bad.props = mqws_props_from_builder(&b);
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(mqws_mqtt_encode(&pkt, (mqws_mqtt_version)3, NULL, 0, &w), MQWS_ERR_ARG);
    bad = (mqws_packet){0};
    bad.type = MQWS_AUTH;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    bad.type = (mqws_packet_type)0;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    assert_int_equal(mqws_mqtt_encode(NULL, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);

    /* what the decoder would reject: empty topic without Topic Alias (MQTT-4.7.3-1,
     * 5.0 MQTT-3.3.2-1), Packet Identifier 0 (MQTT-2.3.1-1), Session Present with a
     * refusal (MQTT-3.2.2-4 / 3.2.2-6) */
    bad = pkt;
    bad.publish.topic = S("");
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    bad.props = mqws_props_from_builder(&b); /* Topic Alias 1 */
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    bad.props.present = 0; /* a hand-made block without the summary is scanned */
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    bad = pkt;
    bad.publish.qos = 1;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);
    bad.packet_id = 1;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    for (int t = MQWS_PUBACK; t <= MQWS_UNSUBACK; t++) {
        bad = (mqws_packet){0};
        bad.type = (mqws_packet_type)t;
        bad.list = (mqws_list){(const uint8_t *)"\0\1a\0", 4, 1};
        assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
        bad.packet_id = 7;
        assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w),
                         MQWS_ERR_BUFFER_TOO_SMALL);
    }
    bad = (mqws_packet){0};
    bad.type = MQWS_CONNACK;
    bad.session_present = true;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    bad.reason_code = 5;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);

    /* SUBSCRIBE without entries; 3.1.1 UNSUBACK with codes */
    bad = (mqws_packet){0};
    bad.type = MQWS_SUBSCRIBE;
    bad.packet_id = 1;
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    bad.type = MQWS_UNSUBACK;
    bad.list = (mqws_list){pb, 1, 1};
    assert_int_equal(mqws_mqtt_encode(&bad, MQWS_MQTT_V311, NULL, 0, &w), MQWS_ERR_ARG);

    /* CONNECT field rules */
    mqws_packet c = {0};
    c.type = MQWS_CONNECT;
    c.connect.level = 4;
    c.connect.clean_start = true; /* a zero-byte ClientId needs it in 3.1.1 */
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(w, 14);
    c.connect.level = 3;
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    c.connect.level = 4;
    c.connect.has_password = true;
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    c.connect.level = 5;
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    c.connect.has_password = false;
    c.connect.will_qos = 1;
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    c.connect.will = true;
    c.connect.will_topic = S("w");
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_BUFFER_TOO_SMALL);
    c.connect.will_topic = S(""); /* MQTT-3.1.3-10 / 4.7.3-1: the Will Topic is a Topic Name */
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    c.connect.will_topic = S("w");
    c.connect.will_qos = 3;
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    c.connect.will_qos = 0;
    c.connect.protocol_name = S("MQIsdp");
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
    c.connect.protocol_name = S("MQTT");
    c.connect.level = 4;
    c.connect.will_props = mqws_props_from_builder(&b);
    assert_int_equal(mqws_mqtt_encode(&c, MQWS_MQTT_V5, NULL, 0, &w), MQWS_ERR_ARG);
}

/* ---------------------------------------------------------------- topics */

static void test_topic_names(void **state)
{
    (void)state;
    static const struct {
        const char *t;
        bool allow_empty;
        mqws_err want;
    } cases[] = {
        {"a", false, MQWS_OK},
        {"/", false, MQWS_OK},
        {"a/b/c", false, MQWS_OK},
        {"$SYS/x", false, MQWS_OK},
        {" ", false, MQWS_OK},
        {"\xe2\x82\xac/x", false, MQWS_OK},
        {"", false, MQWS_ERR_MQTT_TOPIC_NAME},
        {"", true, MQWS_OK},
        {"a/+", false, MQWS_ERR_MQTT_TOPIC_NAME},
        {"#", false, MQWS_ERR_MQTT_TOPIC_NAME},
        {"a#b", true, MQWS_ERR_MQTT_TOPIC_NAME},
        {"\xc0\xaf", false, MQWS_ERR_MQTT_UTF8},
        {"\xed\xa0\x80", false, MQWS_ERR_MQTT_UTF8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mqws_err e = mqws_mqtt_validate_topic_name(S(cases[i].t), cases[i].allow_empty);
        if (e != cases[i].want)
            fail_msg("topic '%s': %s", cases[i].t, mqws_err_name(e));
    }
    mqws_str nul = {"a\0b", 3};
    assert_int_equal(mqws_mqtt_validate_topic_name(nul, false), MQWS_ERR_MQTT_UTF8_NUL);
    mqws_str null_view = {NULL, 3};
    assert_int_equal(mqws_mqtt_validate_topic_name(null_view, false), MQWS_ERR_ARG);
}

static void test_topic_filters(void **state)
{
    (void)state;
    static const struct {
        const char *f;
        int v4, v5; /* 1: valid */
    } cases[] = {
        {"a", 1, 1},
        {"#", 1, 1},
        {"+", 1, 1},
        {"a/#", 1, 1},
        {"a/+/b", 1, 1},
        {"+/+", 1, 1},
        {"/+", 1, 1},
        {"/#", 1, 1},
        {"a//b", 1, 1},
        {"$SYS/#", 1, 1},
        {"", 0, 0},
        {"a#", 0, 0},
        {"a/#/b", 0, 0},
        {"#/", 0, 0},
        {"a+", 0, 0},
        {"+a", 0, 0},
        {"a/b+/c", 0, 0},
        {"++", 0, 0},
        {"##", 0, 0},
        {"$share/g/a/b", 1, 1},
        {"$share/g/#", 1, 1},
        {"$share/g/+", 1, 1},
        {"$share//a", 1, 0},
        {"$share/g", 1, 0},
        {"$share/g/", 1, 0},
        {"$share/+/a", 1, 0},
        {"$share/g+/a", 0, 0},
        {"$share/#/a", 0, 0},
        {"$share/", 1, 0},
        {"$share", 1, 1},
        {"$shared/g/a", 1, 1},
        {"$share/g/a#", 0, 0},
        {"x/$share/g", 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mqws_err e4 = mqws_mqtt_validate_topic_filter(S(cases[i].f), MQWS_MQTT_V311);
        mqws_err e5 = mqws_mqtt_validate_topic_filter(S(cases[i].f), MQWS_MQTT_V5);
        if ((e4 == MQWS_OK) != cases[i].v4 || (e5 == MQWS_OK) != cases[i].v5)
            fail_msg("filter '%s': 3.1.1 %s, 5.0 %s", cases[i].f, mqws_err_name(e4),
                     mqws_err_name(e5));
        if (e4 != MQWS_OK)
            assert_int_equal(e4, MQWS_ERR_MQTT_TOPIC_FILTER);
        if (e5 != MQWS_OK)
            assert_int_equal(e5, MQWS_ERR_MQTT_TOPIC_FILTER);
    }
    assert_int_equal(mqws_mqtt_validate_topic_filter(S("a/\xff"), MQWS_MQTT_V5),
                     MQWS_ERR_MQTT_UTF8);
}

static void test_topic_matching(void **state)
{
    (void)state;
    static const struct {
        const char *f, *t;
        bool m;
    } cases[] = {
        /* 4.7.1.2 examples */
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/#", "sport", true},
        {"#", "sport", true},
        {"#", "/", true},
        {"sport/#", "sport/", true},
        /* 4.7.1.3 examples */
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"+", "finance", true},
        /* 4.7.2 '$' topics */
        {"#", "$SYS/x", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"a/$x", "a/$x", true},
        {"+/$x", "a/$x", true},
        /* literal */
        {"a/b", "a/b", true},
        {"a/b", "a/b/", false},
        {"a/b/", "a/b", false},
        {"a/b/", "a/b/", true},
        {"a/b", "a/bc", false},
        {"a/bc", "a/b", false},
        {"A", "a", false},
        {"a//b", "a//b", true},
        {"a/+/b", "a//b", true},
        {"a/+/+", "a/x", false},
        {"a/#", "b", false},
        {"", "a", false},
        {"a", "", false},
        {"+/#", "a", true},
        {"+/#", "a/b/c", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool m = mqws_mqtt_topic_matches(S(cases[i].f), S(cases[i].t));
        if (m != cases[i].m)
            fail_msg("'%s' vs '%s': %d", cases[i].f, cases[i].t, m);
    }
}

/* ---------------------------------------------------------------- prefixes and mutations */

static void check_decoded_views(const mqws_packet *p)
{
    const mqws_props *blocks[2] = {&p->props, &p->connect.will_props};
    for (int k = 0; k < 2; k++) {
        size_t cur = 0, n = 0;
        mqws_prop pr;
        while (mqws_props_next(blocks[k], &cur, &pr))
            n++;
        assert_int_equal(cur, blocks[k]->raw_len);
        assert_int_equal(n, blocks[k]->count);
    }
    if (p->type == MQWS_SUBSCRIBE || p->type == MQWS_UNSUBSCRIBE) {
        size_t cur = 0, n = 0;
        mqws_sub s;
        while (mqws_list_next_sub(&p->list, p->type == MQWS_SUBSCRIBE, &cur, &s))
            n++;
        assert_int_equal(cur, p->list.raw_len);
        assert_int_equal(n, p->list.count);
    }
}

static uint32_t rng_state = 12345u;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* Every proper prefix of a valid packet is NEED_MORE; mutants either fail or round-trip. */
static void test_prefixes_and_mutants(void **state)
{
    (void)state;
    static const struct {
        int v;
        const char *hex;
    } seeds[] = {
        {4, "102600044d51545404ee001e0003636c69000577696c6c2f00026869000475736572000470617373"},
        {4, "3d0a00036162630007686579"},
        {4, "820c000a0003612f2b0100012300"},
        {4, "a20a00010001610003622f23"},
        {4, "90050001000280"},
        {5, "101200044d5154540502003c051100000e100000"},
        {5, "20080080051f00026162"},
        {5, "321600016100070e0b012600016b00017626000000007061"},
        {5, "82070001000001612d"},
        {5, "400a000191061f0003616263"},
        {5, "f00718051500026869"},
        {5, "e0028e00"},
    };
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        uint8_t in[256];
        size_t n = unhex(seeds[s].hex, in, sizeof in);
        for (size_t k = 0; k < n; k++) {
            uint8_t *h = malloc(k ? k : 1);
            memcpy(h, in, k);
            mqws_packet p;
            size_t used;
            mqws_err e =
                mqws_mqtt_decode(h, k, (mqws_mqtt_version)seeds[s].v, NULL, &p, &used, NULL);
            if (e != MQWS_NEED_MORE)
                fail_msg("seed %zu prefix %zu: %s", s, k, mqws_err_name(e));
            free(h);
        }
        for (int m = 0; m < 3000; m++) {
            uint8_t mut[256];
            memcpy(mut, in, n);
            size_t mn = n;
            for (int j = 0, cnt = 1 + (int)(rnd() % 3); j < cnt; j++) {
                switch (rnd() % 4) {
                case 0: mut[rnd() % mn] ^= (uint8_t)(1u << (rnd() % 8)); break;
                case 1: mut[rnd() % mn] = (uint8_t)rnd(); break;
                case 2: /* drop the last byte, keeping a one-byte length consistent */
                    if (mn > 2) {
                        mn--;
                        if (mut[1] > 0 && mut[1] < 0x80)
                            mut[1]--;
                    }
                    break;
                default: /* small values hit lengths, flags and ids */
                    if (mn > 2)
                        mut[2 + rnd() % (mn - 2)] = (uint8_t)(rnd() % 4);
                    break;
                }
            }
            uint8_t *h = malloc(mn);
            memcpy(h, mut, mn);
            for (int v = 4; v <= 5; v++) {
                mqws_packet p;
                size_t used = 0, bad = 0;
                mqws_err e = mqws_mqtt_decode(h, mn, (mqws_mqtt_version)v, NULL, &p, &used, &bad);
                if (e > MQWS_NEED_MORE) {
                    assert_true(bad <= mn);
                    continue;
                }
                if (e != MQWS_OK)
                    continue;
                check_decoded_views(&p);
                mqws_packet back;
                uint8_t *keep = round_trip(&p, v, &back);
                check_decoded_views(&back);
                free(keep);
            }
            free(h);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_fixed_header),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_decode_args),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_props_builder),
        cmocka_unit_test(test_props_builder_errors),
        cmocka_unit_test(test_props_placement),
        cmocka_unit_test(test_will_props),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_round_trip_all_types),
        cmocka_unit_test(test_encode_sizes_and_args),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_topic_filters),
        cmocka_unit_test(test_topic_matching),
        cmocka_unit_test(test_prefixes_and_mutants),
    };
    return cmocka_run_group_tests_name("mqtt_api", tests, NULL, NULL);
}
