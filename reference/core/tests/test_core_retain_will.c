/*
 * test_core_retain_will.c - retained messages (set, clear, on subscribe, 5.0
 * retain handling and retain-as-published) and wills (abrupt close, none after
 * DISCONNECT, 5.0 DISCONNECT 0x04, Will Delay Interval).
 */
#include <string.h>

#include "fake.h"

static void retained_set_clear_on_subscribe(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn p, s;
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "home/temp", "21", 1, 1, true, NULL, 1);
    fake_expect(&p, MQWS_PUBACK);
    fake_publish(&p, "home/temp", "22", 0, 0, true, NULL, 1); /* replaces */
    fake_publish(&p, "home/hum", "40", 0, 0, true, NULL, 1);
    fake_publish(&p, "$SYS/up", "1", 0, 0, true, NULL, 1);
    fake_connect_opts so = {.version = 4, .client_id = "s", .clean = true};
    fake_connect(core, &s, &so, 2);
    assert_int_equal(fake_subscribe(&s, "home/temp", 1, 1, NULL, 2), 1);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    assert_true(m.publish.retain); /* MQTT-3.3.1-8 */
    assert_string_equal(fake_payload(&m), "22");
    assert_int_equal(m.publish.qos, 0); /* min(QoS of the retained PUBLISH, granted) */
    fake_expect_none(&s);
    fake_subscribe(&s, "#", 0, 2, NULL, 2); /* two, not the "$SYS" one */
    fake_expect(&s, MQWS_PUBLISH);
    fake_expect(&s, MQWS_PUBLISH);
    fake_expect_none(&s);
    /* live forwarding: 3.1.1 clears the retain flag (MQTT-3.3.1-9) */
    fake_publish(&p, "home/temp", "23", 0, 0, true, NULL, 3);
    m = fake_expect(&s, MQWS_PUBLISH);
    assert_false(m.publish.retain);
    /* clear with an empty payload (MQTT-3.3.1-10), forwarded once */
    fake_publish(&p, "home/temp", "", 0, 0, true, NULL, 4);
    fake_expect(&s, MQWS_PUBLISH);
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.retained, 2);
    fake_conn t;
    fake_connect_opts to = {.version = 5, .client_id = "t", .clean = true};
    fake_connect(core, &t, &to, 5);
    fake_subscribe(&t, "home/temp", 0, 1, NULL, 5);
    fake_expect_none(&t);
    fake_done(&p, 6);
    fake_done(&s, 6);
    fake_done(&t, 6);
    mqws_core_free(core);
}

static void retain_handling_and_rap(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn p, s;
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "r", "v", 0, 0, true, NULL, 1);
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true};
    fake_connect(core, &s, &so, 1);
    fake_subscribe(&s, "r", 2u << 4, 1, NULL, 1); /* Retain Handling 2: none */
    fake_expect_none(&s);
    fake_subscribe(&s, "r", 1u << 4, 2, NULL, 1); /* 1: only for a new subscription */
    fake_expect_none(&s);
    fake_subscribe(&s, "r/+", 1u << 4, 3, NULL, 1);
    fake_expect_none(&s);
    fake_publish(&p, "r/x", "w", 0, 0, true, NULL, 1);
    fake_expect(&s, MQWS_PUBLISH);
    fake_subscribe(&s, "r/#", 1u << 4, 4, NULL, 1); /* new: retained "r" and "r/x" sent */
    assert_true(fake_expect(&s, MQWS_PUBLISH).publish.retain);
    assert_true(fake_expect(&s, MQWS_PUBLISH).publish.retain);
    fake_expect_none(&s);
    fake_subscribe(&s, "r", 0, 5, NULL, 1); /* 0: always */
    assert_true(fake_expect(&s, MQWS_PUBLISH).publish.retain);
    fake_expect_none(&s);
    /* the same filter three times in one SUBSCRIBE: three codes, the retained message once */
    uint8_t list[64];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        mqws_list_append_sub(list, sizeof list, &n, mqws_str_c("r"), true, 0);
    mqws_packet sp;
    memset(&sp, 0, sizeof sp);
    sp.type = MQWS_SUBSCRIBE;
    sp.packet_id = 7;
    sp.list.raw = list;
    sp.list.raw_len = n;
    sp.list.count = 3;
    fake_feed(&s, &sp, 1);
    assert_int_equal(fake_expect(&s, MQWS_SUBACK).list.count, 3);
    fake_expect(&s, MQWS_PUBLISH);
    fake_expect_none(&s);
    /* Retain As Published keeps the flag on live messages */
    fake_subscribe(&s, "rap", MQWS_SUB_RETAIN_AS_PUBLISHED | (2u << 4), 6, NULL, 1);
    fake_publish(&p, "rap", "1", 0, 0, true, NULL, 2);
    assert_true(fake_expect(&s, MQWS_PUBLISH).publish.retain);
    fake_publish(&p, "r", "2", 0, 0, true, NULL, 2);
    assert_false(fake_expect(&s, MQWS_PUBLISH).publish.retain);
    fake_done(&p, 3);
    fake_done(&s, 3);
    mqws_core_free(core);
}

static void retained_limit(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_retained = 2;
    mqws_core *core = fake_core(&cfg);
    fake_conn p;
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "a", "1", 0, 0, true, NULL, 1);
    fake_publish(&p, "b", "1", 0, 0, true, NULL, 1);
    fake_publish(&p, "c", "1", 0, 0, true, NULL, 1);
    assert_true(fake_log_has("retained store full"));
    fake_publish(&p, "a", "2", 0, 0, true, NULL, 1); /* replacing stays possible */
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.retained, 2);
    assert_int_equal(st.dropped, 1);
    fake_done(&p, 2);
    mqws_core_free(core);
}

static void watcher(mqws_core *core, fake_conn *w, const char *filter)
{
    fake_connect_opts wo = {.version = 4, .client_id = "watcher", .clean = true};
    fake_connect(core, w, &wo, 0);
    fake_subscribe(w, filter, 1, 1, NULL, 0);
}

static void will_on_abrupt_close(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn w, c;
    watcher(core, &w, "will/#");
    fake_connect_opts o = {.version = 4, .client_id = "c", .clean = true,
                           .will_topic = "will/c", .will_payload = "bye", .will_qos = 1,
                           .will_retain = true};
    fake_connect(core, &c, &o, 0);
    fake_expect_none(&w);
    fake_lost(&c, MQWS_OK, 1); /* TCP closed / WebSocket closed without DISCONNECT */
    mqws_packet m = fake_expect(&w, MQWS_PUBLISH);
    assert_true(fake_topic_is(&m, "will/c"));
    assert_string_equal(fake_payload(&m), "bye");
    assert_int_equal(m.publish.qos, 1);
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.retained, 1); /* Will Retain */
    fake_done(&c, 1);
    fake_done(&w, 2);
    mqws_core_free(core);
}

static void will_on_protocol_error(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn w, c;
    watcher(core, &w, "will/#");
    fake_connect_opts o = {.version = 5, .client_id = "c", .clean = true,
                           .will_topic = "will/c", .will_payload = "bye"};
    fake_connect(core, &c, &o, 0);
    const uint8_t bad[] = {0x30, 2, 0, 0}; /* PUBLISH with an empty topic and no alias */
    assert_int_not_equal(fake_feed_raw(&c, bad, sizeof bad, 1), MQWS_OK);
    assert_true(c.closed);
    fake_expect(&w, MQWS_PUBLISH);
    fake_done(&c, 1);
    fake_expect_none(&w);
    fake_done(&w, 2);
    mqws_core_free(core);
}

static void no_will_after_disconnect(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn w, c;
    watcher(core, &w, "will/#");
    fake_connect_opts o = {.version = 4, .client_id = "c", .clean = true,
                           .will_topic = "will/c", .will_payload = "bye"};
    fake_connect(core, &c, &o, 0);
    assert_int_equal(fake_ack(&c, MQWS_DISCONNECT, 0, 1), MQWS_OK);
    assert_true(c.closed);
    assert_int_equal(c.close_code, MQWS_CORE_CLOSE_NORMAL);
    fake_done(&c, 1);
    fake_expect_none(&w); /* MQTT-3.1.2-10 */
    /* 5.0 DISCONNECT with 0x04 asks for the will */
    o.version = 5;
    fake_connect(core, &c, &o, 2);
    mqws_packet d;
    memset(&d, 0, sizeof d);
    d.type = MQWS_DISCONNECT;
    d.reason_code = 0x04;
    fake_feed(&c, &d, 3);
    fake_done(&c, 3);
    fake_expect(&w, MQWS_PUBLISH);
    fake_done(&w, 4);
    mqws_core_free(core);
}

static void will_delay(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn w, c;
    watcher(core, &w, "will/#");
    uint8_t sb[16], wb[64];
    mqws_props_builder b = {sb, sizeof sb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 100);
    mqws_props sprops = mqws_props_from_builder(&b);
    mqws_props_builder bw = {wb, sizeof wb, 0, MQWS_OK};
    mqws_props_add_int(&bw, MQWS_PROP_WILL_DELAY_INTERVAL, 5);
    mqws_props_add_bytes(&bw, MQWS_PROP_CONTENT_TYPE, "text/plain", 10);
    mqws_props wprops = mqws_props_from_builder(&bw);
    fake_connect_opts o = {.version = 5, .client_id = "c", .clean = true, .props = &sprops,
                           .will_topic = "will/c", .will_payload = "bye", .will_props = &wprops};
    /* resumed within the delay: no will */
    fake_connect(core, &c, &o, 0);
    fake_lost(&c, MQWS_OK, 1000);
    fake_done(&c, 1000);
    assert_int_equal(mqws_core_tick(core, 2000), 6000);
    o.clean = false;
    assert_true(fake_connect(core, &c, &o, 3000).session_present);
    mqws_core_tick(core, 7000);
    fake_expect_none(&w);
    /* not resumed: will at the end of the delay, with its properties */
    fake_lost(&c, MQWS_OK, 10000);
    fake_done(&c, 10000);
    mqws_core_tick(core, 14999);
    fake_expect_none(&w);
    mqws_core_tick(core, 15000);
    fake_done(&w, 15001); /* 3.1.1 watcher: properties not checked there */
    mqws_core_free(core);

    /* with a 5.0 watcher the Content Type arrives; the Will Delay does not */
    core = fake_core(NULL);
    fake_connect_opts wo = {.version = 5, .client_id = "watcher", .clean = true};
    fake_connect(core, &w, &wo, 0);
    fake_subscribe(&w, "will/#", 0, 1, NULL, 0);
    o.clean = true;
    fake_connect(core, &c, &o, 0);
    fake_lost(&c, MQWS_OK, 0);
    fake_done(&c, 0);
    fake_expect_none(&w);
    mqws_core_tick(core, 5000);
    mqws_packet m = fake_expect(&w, MQWS_PUBLISH);
    mqws_prop pr;
    assert_true(mqws_props_get(&m.props, MQWS_PROP_CONTENT_TYPE, &pr));
    assert_false(mqws_props_get(&m.props, MQWS_PROP_WILL_DELAY_INTERVAL, NULL));
    fake_done(&w, 5001);
    mqws_core_free(core);
}

static void will_delay_longer_than_session(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn w, c;
    watcher(core, &w, "will/#");
    uint8_t sb[16], wb[16];
    mqws_props_builder b = {sb, sizeof sb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 2);
    mqws_props sprops = mqws_props_from_builder(&b);
    mqws_props_builder bw = {wb, sizeof wb, 0, MQWS_OK};
    mqws_props_add_int(&bw, MQWS_PROP_WILL_DELAY_INTERVAL, 60);
    mqws_props wprops = mqws_props_from_builder(&bw);
    fake_connect_opts o = {.version = 5, .client_id = "c", .clean = true, .props = &sprops,
                           .will_topic = "will/c", .will_payload = "bye", .will_props = &wprops};
    fake_connect(core, &c, &o, 0);
    fake_lost(&c, MQWS_OK, 0);
    fake_done(&c, 0);
    mqws_core_tick(core, 1999);
    fake_expect_none(&w);
    mqws_core_tick(core, 2000); /* the session ends first: the will goes then */
    fake_expect(&w, MQWS_PUBLISH);
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.sessions, 1); /* the watcher's */
    fake_done(&w, 2001);
    mqws_core_free(core);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retained_set_clear_on_subscribe),
        cmocka_unit_test(retain_handling_and_rap),
        cmocka_unit_test(retained_limit),
        cmocka_unit_test(will_on_abrupt_close),
        cmocka_unit_test(will_on_protocol_error),
        cmocka_unit_test(no_will_after_disconnect),
        cmocka_unit_test(will_delay),
        cmocka_unit_test(will_delay_longer_than_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
