/*
 * test_core_limits.c - 5.0 features checked against session state (Topic
 * Alias, Subscription Identifiers, no-local, shared subscriptions, message
 * expiry, properties passed through) and every bounded queue and size.
 */
#include <stdio.h>
#include <string.h>

#include "fake.h"
#include "../core_internal.h"

static mqws_props one_int(uint8_t *buf, size_t cap, int id, uint32_t v)
{
    mqws_props_builder b = {buf, cap, 0, MQWS_OK};
    mqws_props_add_int(&b, id, v);
    return mqws_props_from_builder(&b);
}

static void pair(mqws_core *core, fake_conn *p, fake_conn *s, int pv, int sv)
{
    fake_connect_opts so = {.version = sv, .client_id = "s", .clean = true};
    fake_connect(core, s, &so, 0);
    fake_connect_opts po = {.version = pv, .client_id = "p", .clean = true};
    fake_connect(core, p, &po, 0);
}

static void topic_alias(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.topic_alias_maximum = 2;
    mqws_core *core = fake_core(&cfg);
    fake_conn p, s;
    pair(core, &p, &s, 5, 5);
    fake_subscribe(&s, "long/topic", 0, 1, NULL, 0);
    uint8_t ab[8];
    mqws_props a2 = one_int(ab, sizeof ab, MQWS_PROP_TOPIC_ALIAS, 2);
    assert_int_equal(fake_publish(&p, "long/topic", "1", 0, 0, false, &a2, 1), MQWS_OK);
    assert_int_equal(fake_publish(&p, "", "2", 0, 0, false, &a2, 1), MQWS_OK);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    assert_false(mqws_props_get(&m.props, MQWS_PROP_TOPIC_ALIAS, NULL)); /* not forwarded */
    m = fake_expect(&s, MQWS_PUBLISH);
    assert_true(fake_topic_is(&m, "long/topic"));
    assert_string_equal(fake_payload(&m), "2");
    /* an alias never set: Protocol Error */
    uint8_t bb[8];
    mqws_props a1 = one_int(bb, sizeof bb, MQWS_PROP_TOPIC_ALIAS, 1);
    assert_int_not_equal(fake_publish(&p, "", "3", 0, 0, false, &a1, 2), MQWS_OK);
    assert_int_equal(fake_expect(&p, MQWS_DISCONNECT).reason_code, 0x82);
    fake_done(&p, 3);
    /* above the announced maximum: 0x94 (MQTT-3.3.2-9) */
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 4);
    uint8_t cb[8];
    mqws_props a3 = one_int(cb, sizeof cb, MQWS_PROP_TOPIC_ALIAS, 3);
    assert_int_not_equal(fake_publish(&p, "long/topic", "4", 0, 0, false, &a3, 5), MQWS_OK);
    assert_int_equal(fake_expect(&p, MQWS_DISCONNECT).reason_code, 0x94);
    fake_done(&p, 6);
    fake_expect_none(&s);
    fake_done(&s, 6);
    mqws_core_free(core);
}

static void topic_alias_none_announced(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.topic_alias_maximum = 0;
    mqws_core *core = fake_core(&cfg);
    fake_conn p;
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    mqws_packet ack = fake_connect(core, &p, &po, 0);
    assert_false(mqws_props_get(&ack.props, MQWS_PROP_TOPIC_ALIAS_MAXIMUM, NULL));
    uint8_t ab[8];
    mqws_props a1 = one_int(ab, sizeof ab, MQWS_PROP_TOPIC_ALIAS, 1);
    assert_int_not_equal(fake_publish(&p, "t", "x", 0, 0, false, &a1, 1), MQWS_OK);
    assert_int_equal(fake_expect(&p, MQWS_DISCONNECT).reason_code, 0x94);
    fake_done(&p, 2);
    mqws_core_free(core);
}

static void subscription_identifier_in_publish(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn p;
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    uint8_t b[8];
    mqws_props id = one_int(b, sizeof b, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, 5);
    assert_int_not_equal(fake_publish(&p, "t", "x", 0, 0, false, &id, 1), MQWS_OK);
    assert_int_equal(fake_expect(&p, MQWS_DISCONNECT).reason_code, 0x82); /* MQTT-3.3.4-6 */
    assert_true(p.closed);
    fake_done(&p, 2);
    mqws_core_free(core);
}

static void subscription_identifiers_delivered(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn p, s;
    pair(core, &p, &s, 5, 5);
    uint8_t b1[8], b2[8];
    mqws_props i1 = one_int(b1, sizeof b1, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, 11);
    mqws_props i2 = one_int(b2, sizeof b2, MQWS_PROP_SUBSCRIPTION_IDENTIFIER, 22);
    fake_subscribe(&s, "a/+", 1, 1, &i1, 0);
    fake_subscribe(&s, "a/#", 0, 2, &i2, 0);
    fake_publish(&p, "a/b", "x", 1, 1, false, NULL, 1);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH); /* one copy, both identifiers */
    assert_int_equal(m.publish.qos, 1);
    size_t cur = 0;
    mqws_prop pr;
    uint32_t sum = 0, n = 0;
    while (mqws_props_next(&m.props, &cur, &pr))
        if (pr.id == MQWS_PROP_SUBSCRIPTION_IDENTIFIER) {
            sum += pr.u32;
            n++;
        }
    assert_int_equal(n, 2);
    assert_int_equal(sum, 33);
    fake_expect_none(&s);
    fake_done(&p, 2);
    fake_done(&s, 2);
    mqws_core_free(core);
}

static void no_local(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_connect_opts o = {.version = 5, .client_id = "c", .clean = true};
    fake_connect(core, &c, &o, 0);
    fake_subscribe(&c, "echo", MQWS_SUB_NO_LOCAL, 1, NULL, 0);
    fake_subscribe(&c, "loop", 0, 2, NULL, 0);
    fake_publish(&c, "echo", "x", 0, 0, false, NULL, 1);
    fake_expect_none(&c); /* MQTT-3.8.3-3 */
    fake_publish(&c, "loop", "y", 0, 0, false, NULL, 1);
    fake_expect(&c, MQWS_PUBLISH);
    fake_done(&c, 2);
    mqws_core_free(core);
}

static void shared_subscription_refused(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c, d;
    fake_connect_opts o = {.version = 5, .client_id = "c", .clean = true};
    fake_connect(core, &c, &o, 0);
    assert_int_equal(fake_subscribe(&c, "$share/g/t", 1, 1, NULL, 0), 0x9E);
    fake_connect_opts o4 = {.version = 4, .client_id = "d", .clean = true};
    fake_connect(core, &d, &o4, 0);
    assert_int_equal(fake_subscribe(&d, "$share/g/t", 1, 1, NULL, 0), 0x80);
    fake_done(&c, 1);
    fake_done(&d, 1);
    mqws_core_free(core);
}

static void properties_passed_through(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn p, s, old;
    pair(core, &p, &s, 5, 5);
    fake_connect_opts oo = {.version = 4, .client_id = "old", .clean = true};
    fake_connect(core, &old, &oo, 0);
    fake_subscribe(&s, "req", 1, 1, NULL, 0);
    fake_subscribe(&old, "req", 1, 1, NULL, 0);
    uint8_t pb[128];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    mqws_props_add_bytes(&b, MQWS_PROP_CONTENT_TYPE, "application/json", 16);
    mqws_props_add_bytes(&b, MQWS_PROP_RESPONSE_TOPIC, "resp/1", 6);
    mqws_props_add_bytes(&b, MQWS_PROP_CORRELATION_DATA, "\x01\x02", 2);
    mqws_props_add_pair(&b, MQWS_PROP_USER_PROPERTY, mqws_str_c("k"), mqws_str_c("v"));
    mqws_props_add_pair(&b, MQWS_PROP_USER_PROPERTY, mqws_str_c("k"), mqws_str_c("w"));
    mqws_props_add_int(&b, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, 60);
    mqws_props props = mqws_props_from_builder(&b);
    fake_publish(&p, "req", "{}", 1, 1, false, &props, 1000);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    mqws_prop pr;
    assert_true(mqws_props_get(&m.props, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, &pr));
    assert_true(mqws_props_get(&m.props, MQWS_PROP_CONTENT_TYPE, &pr));
    assert_int_equal(pr.bin.len, 16);
    assert_true(mqws_props_get(&m.props, MQWS_PROP_RESPONSE_TOPIC, &pr));
    assert_true(mqws_props_get(&m.props, MQWS_PROP_CORRELATION_DATA, &pr));
    assert_true(mqws_props_get(&m.props, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, &pr));
    assert_int_equal(pr.u32, 60);
    size_t cur = 0;
    int users = 0;
    while (mqws_props_next(&m.props, &cur, &pr))
        users += pr.id == MQWS_PROP_USER_PROPERTY; /* order and repeats kept (MQTT-3.3.2-17/18) */
    assert_int_equal(users, 2);
    /* 3.1.1 receivers get the message without properties */
    m = fake_expect(&old, MQWS_PUBLISH);
    assert_int_equal(m.props.raw_len, 0);
    fake_done(&p, 2000);
    fake_done(&s, 2000);
    fake_done(&old, 2000);
    mqws_core_free(core);
}

static void payload_format_invalid(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn p, s;
    pair(core, &p, &s, 5, 5);
    fake_subscribe(&s, "t", 2, 1, NULL, 0);
    uint8_t b[8];
    mqws_props utf8 = one_int(b, sizeof b, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, 1);
    fake_publish(&p, "t", "\xff\xfe", 1, 1, false, &utf8, 1);
    assert_int_equal(fake_expect(&p, MQWS_PUBACK).reason_code, 0x99);
    fake_publish(&p, "t", "\xc0\x80", 2, 2, false, &utf8, 1);
    assert_int_equal(fake_expect(&p, MQWS_PUBREC).reason_code, 0x99);
    fake_publish(&p, "t", "\xff", 0, 0, false, &utf8, 1);
    fake_expect_none(&s);
    fake_expect_none(&p);
    fake_publish(&p, "t", "caf\xc3\xa9", 1, 3, false, &utf8, 1);
    assert_int_equal(fake_expect(&p, MQWS_PUBACK).reason_code, 0);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    assert_true(mqws_props_get(&m.props, MQWS_PROP_PAYLOAD_FORMAT_INDICATOR, NULL));
    /* a Will Payload announced as UTF-8 that is not: CONNACK 0x99 */
    fake_conn w;
    fake_connect_opts wo = {.version = 5, .client_id = "w", .clean = true, .will_topic = "x",
                            .will_payload = "\xff", .will_props = &utf8};
    assert_int_equal(fake_connect(core, &w, &wo, 2).reason_code, 0x99);
    fake_done(&w, 3);
    fake_done(&p, 3);
    fake_done(&s, 3);
    mqws_core_free(core);
}

static void message_expiry(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t sb[8];
    mqws_props se = one_int(sb, sizeof sb, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 1000);
    fake_conn p, s;
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true, .props = &se};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 1, 1, NULL, 0);
    fake_done(&s, 0);
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    uint8_t b1[8], b2[8];
    mqws_props e10 = one_int(b1, sizeof b1, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, 10);
    mqws_props e2 = one_int(b2, sizeof b2, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, 2);
    fake_publish(&p, "t", "long", 1, 1, false, &e10, 0);
    fake_publish(&p, "t", "short", 1, 2, false, &e2, 0);
    so.clean = false;
    fake_connect(core, &s, &so, 4000); /* "short" expired while queued (MQTT-3.3.2-5) */
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    assert_string_equal(fake_payload(&m), "long");
    mqws_prop pr;
    assert_true(mqws_props_get(&m.props, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, &pr));
    assert_int_equal(pr.u32, 6); /* time left (MQTT-3.3.2-6) */
    fake_expect_none(&s);
    fake_done(&s, 5000);
    fake_done(&p, 5000);
    mqws_core_free(core);
}

static void queue_overflow(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_queued = 3;
    mqws_core *core = fake_core(&cfg);
    fake_conn p, s;
    fake_connect_opts so = {.version = 4, .client_id = "s", .clean = false};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 1, 1, NULL, 0);
    fake_done(&s, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    for (uint16_t i = 1; i <= 5; i++) {
        char payload[8];
        payload[0] = (char)('0' + i);
        payload[1] = '\0';
        fake_publish(&p, "t", payload, 1, i, false, NULL, 1);
        fake_expect(&p, MQWS_PUBACK); /* accepted from the publisher in every case */
    }
    fake_publish(&p, "t", "q0", 0, 0, false, NULL, 1); /* QoS 0: not queued offline */
    assert_int_equal(fake_log_count("queue full"), 1); /* once per episode */
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.queued_bytes, 3 * 2); /* topic + payload of each */
    fake_connect(core, &s, &so, 2);
    assert_string_equal(fake_payload(&(mqws_packet){.publish = fake_expect(&s, MQWS_PUBLISH).publish}), "1");
    fake_expect(&s, MQWS_PUBLISH);
    assert_string_equal(fake_payload(&(mqws_packet){.publish = fake_expect(&s, MQWS_PUBLISH).publish}), "3");
    fake_expect_none(&s);
    fake_done(&s, 3);
    fake_done(&p, 3);
    mqws_core_free(core);
}

static void total_queue_budget(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_total_queued_bytes = 10;
    mqws_core *core = fake_core(&cfg);
    fake_conn p, a, b;
    fake_connect_opts o = {.version = 4, .client_id = "a", .clean = false};
    fake_connect(core, &a, &o, 0);
    fake_subscribe(&a, "t", 1, 1, NULL, 0);
    fake_done(&a, 0);
    o.client_id = "b";
    fake_connect(core, &b, &o, 0);
    fake_subscribe(&b, "t", 1, 1, NULL, 0);
    fake_done(&b, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "t", "1234", 1, 1, false, NULL, 1); /* 5 bytes for a, 5 for b */
    fake_publish(&p, "t", "5678", 1, 2, false, NULL, 1); /* over the budget for both */
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.queued_bytes, 10);
    assert_int_equal(st.dropped, 2);
    o.client_id = "a";
    fake_connect(core, &a, &o, 2);
    mqws_packet m = fake_expect(&a, MQWS_PUBLISH);
    fake_expect_none(&a);
    fake_ack(&a, MQWS_PUBACK, m.packet_id, 3);
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.queued_bytes, 5);
    fake_done(&a, 4);
    fake_done(&p, 4);
    mqws_core_free(core);
    /* (freeing the core with b's queue in it is checked by ASan) */
}

static void too_many_subscriptions(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_subscriptions = 2;
    mqws_core *core = fake_core(&cfg);
    fake_conn c, d;
    fake_connect_opts o = {.version = 5, .client_id = "c", .clean = true};
    fake_connect(core, &c, &o, 0);
    assert_int_equal(fake_subscribe(&c, "a", 1, 1, NULL, 0), 1);
    assert_int_equal(fake_subscribe(&c, "b/#", 2, 2, NULL, 0), 2);
    assert_int_equal(fake_subscribe(&c, "c", 0, 3, NULL, 0), 0x97);
    assert_int_equal(fake_subscribe(&c, "a", 0, 4, NULL, 0), 0); /* replacing is fine */
    fake_connect_opts o4 = {.version = 4, .client_id = "d", .clean = true};
    fake_connect(core, &d, &o4, 0);
    fake_subscribe(&d, "a", 0, 1, NULL, 0);
    fake_subscribe(&d, "b", 0, 2, NULL, 0);
    assert_int_equal(fake_subscribe(&d, "c", 0, 3, NULL, 0), 0x80);
    assert_true(fake_log_has("refused"));
    /* one SUBSCRIBE with many filters: each beyond the limit refused */
    fake_done(&d, 1);
    fake_connect(core, &d, &o4, 2);
    static uint8_t list[4096 * 10];
    size_t n = 0;
    for (int i = 0; i < 4096; i++) {
        char f[16];
        int len = snprintf(f, sizeof f, "t/%d", i);
        assert_int_equal(mqws_list_append_sub(list, sizeof list, &n,
                                              (mqws_str){f, (size_t)len}, true, 0), MQWS_OK);
    }
    mqws_packet sp;
    memset(&sp, 0, sizeof sp);
    sp.type = MQWS_SUBSCRIBE;
    sp.packet_id = 9;
    sp.list.raw = list;
    sp.list.raw_len = n;
    sp.list.count = 4096;
    fake_feed(&d, &sp, 3);
    mqws_packet ack = fake_expect(&d, MQWS_SUBACK);
    assert_int_equal(ack.list.count, 4096);
    assert_int_equal(ack.list.raw[0], 0);
    assert_int_equal(ack.list.raw[1], 0);
    assert_int_equal(ack.list.raw[2], 0x80);
    assert_int_equal(ack.list.raw[4095], 0x80);
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.subscriptions, 4);
    fake_done(&c, 4);
    fake_done(&d, 4);
    mqws_core_free(core);
}

static void packet_too_large(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_packet_size = 100;
    mqws_core *core = fake_core(&cfg);
    fake_conn p, s;
    /* the client's own Maximum Packet Size: larger messages are not sent to it */
    uint8_t mb[8];
    mqws_props mps = one_int(mb, sizeof mb, MQWS_PROP_MAXIMUM_PACKET_SIZE, 30);
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true, .props = &mps};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 1, 1, NULL, 0);
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "t", "0123456789012345678901234567890123456789", 1, 1, false, NULL, 1);
    fake_expect(&p, MQWS_PUBACK);
    fake_publish(&p, "t", "small", 1, 2, false, NULL, 1);
    fake_expect(&p, MQWS_PUBACK);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    assert_string_equal(fake_payload(&m), "small"); /* MQTT-3.1.2-25: the large one dropped */
    fake_expect_none(&s);
    assert_true(fake_log_has("Maximum Packet Size"));
    /* a SUBACK over it cannot be sent: DISCONNECT 0x83, closed; the CONNACK
     * properties did not fit either, the bare CONNACK went */
    fake_conn t;
    uint8_t tb[8];
    mqws_props tiny = one_int(tb, sizeof tb, MQWS_PROP_MAXIMUM_PACKET_SIZE, 20);
    fake_connect_opts to = {.version = 5, .client_id = "t", .clean = true, .props = &tiny};
    mqws_packet ack = fake_connect(core, &t, &to, 1);
    assert_int_equal(ack.reason_code, 0);
    assert_int_equal(ack.props.raw_len, 0);
    static uint8_t list[64 * 4];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        mqws_list_append_sub(list, sizeof list, &n, mqws_str_c("x"), true, 0);
    mqws_packet sp;
    memset(&sp, 0, sizeof sp);
    sp.type = MQWS_SUBSCRIBE;
    sp.packet_id = 3;
    sp.list.raw = list;
    sp.list.raw_len = n;
    sp.list.count = 20;
    fake_feed(&t, &sp, 1);
    assert_int_equal(fake_expect(&t, MQWS_DISCONNECT).reason_code, 0x83);
    assert_true(t.closed);
    fake_done(&t, 2);
    /* a packet over our maximum: DISCONNECT 0x95, close 1009 */
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fake_publish(&p, "t", big, 0, 0, false, NULL, 2), MQWS_ERR_MQTT_TOO_LARGE);
    assert_int_equal(fake_expect(&p, MQWS_DISCONNECT).reason_code, 0x95);
    assert_int_equal(p.close_code, MQWS_CORE_CLOSE_TOO_BIG);
    fake_done(&p, 3);
    fake_done(&s, 3);
    mqws_core_free(core);
}

static void session_and_client_id_limits(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_sessions = 1;
    cfg.max_client_id_len = 4;
    mqws_core *core = fake_core(&cfg);
    fake_conn a, b, d;
    fake_connect_opts o = {.version = 5, .client_id = "toolong", .clean = true};
    assert_int_equal(fake_connect(core, &a, &o, 0).reason_code, 0x85);
    fake_done(&a, 0);
    o.client_id = "a";
    o.clean = false;
    assert_int_equal(fake_connect(core, &a, &o, 0).reason_code, 0);
    o.client_id = "b";
    assert_int_equal(fake_connect(core, &b, &o, 0).reason_code, 0x97);
    o.client_id = "a"; /* the same session again: takeover, allowed */
    assert_int_equal(fake_connect(core, &d, &o, 0).reason_code, 0);
    assert_true(a.closed);
    fake_done(&a, 1);
    fake_done(&b, 1);
    fake_done(&d, 1);
    mqws_core_free(core);
}

/* The hash behind the tables: SipHash-2-4 against the vectors of its paper. */
static void siphash_reference_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[15];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_true(core_siphash(key, msg, 15) == 0xa129ca6149be45e5ull);
    assert_true(core_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(core_siphash(key, msg, 8) == 0x93f5f5799a932462ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(siphash_reference_vectors),
        cmocka_unit_test(topic_alias),
        cmocka_unit_test(topic_alias_none_announced),
        cmocka_unit_test(subscription_identifier_in_publish),
        cmocka_unit_test(subscription_identifiers_delivered),
        cmocka_unit_test(no_local),
        cmocka_unit_test(shared_subscription_refused),
        cmocka_unit_test(properties_passed_through),
        cmocka_unit_test(payload_format_invalid),
        cmocka_unit_test(message_expiry),
        cmocka_unit_test(queue_overflow),
        cmocka_unit_test(total_queue_budget),
        cmocka_unit_test(too_many_subscriptions),
        cmocka_unit_test(packet_too_large),
        cmocka_unit_test(session_and_client_id_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
