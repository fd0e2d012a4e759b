/*
 * test_core_qos.c - QoS 0/1/2 flows both ways, in-flight windows, redelivery
 * with DUP on session resume, PUBREL state across reconnects, slow readers.
 */
#include <string.h>

#include "fake.h"

static mqws_props expiry_props(uint8_t *buf, size_t cap, uint32_t expiry)
{
    mqws_props_builder b = {buf, cap, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, expiry);
    return mqws_props_from_builder(&b);
}

static void qos0_and_wildcards(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn s, p;
    fake_connect_opts so = {.version = 4, .client_id = "s", .clean = true};
    fake_connect(core, &s, &so, 0);
    assert_int_equal(fake_subscribe(&s, "a/+/c", 0, 1, NULL, 0), 0);
    assert_int_equal(fake_subscribe(&s, "x/#", 2, 2, NULL, 0), 2);
    assert_int_equal(fake_subscribe(&s, "#", 0, 3, NULL, 0), 0);
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "a/b/c", "1", 0, 0, false, NULL, 1);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH); /* once, though two filters match */
    assert_true(fake_topic_is(&m, "a/b/c"));
    assert_int_equal(m.publish.qos, 0);
    fake_expect_none(&s);
    /* "$" topics are not matched by a leading wildcard (MQTT-4.7.2-1) */
    fake_publish(&p, "$SYS/x", "2", 0, 0, false, NULL, 1);
    fake_expect_none(&s);
    /* the highest QoS of overlapping subscriptions: x/# (2) and # (0) */
    fake_publish(&p, "x/y", "3", 1, 5, false, NULL, 1);
    fake_expect(&p, MQWS_PUBACK);
    m = fake_expect(&s, MQWS_PUBLISH);
    assert_int_equal(m.publish.qos, 1);
    fake_ack(&s, MQWS_PUBACK, m.packet_id, 2);
    /* unsubscribe */
    uint8_t list[32];
    size_t n = 0;
    mqws_list_append_sub(list, sizeof list, &n, mqws_str_c("#"), false, 0);
    mqws_list_append_sub(list, sizeof list, &n, mqws_str_c("nope"), false, 0);
    mqws_packet u;
    memset(&u, 0, sizeof u);
    u.type = MQWS_UNSUBSCRIBE;
    u.packet_id = 4;
    u.list.raw = list;
    u.list.raw_len = n;
    u.list.count = 2;
    fake_feed(&s, &u, 3);
    assert_int_equal(fake_expect(&s, MQWS_UNSUBACK).packet_id, 4);
    fake_publish(&p, "zzz", "4", 0, 0, false, NULL, 4);
    fake_expect_none(&s);
    fake_done(&s, 5);
    fake_done(&p, 5);
    mqws_core_free(core);
}

static void qos1_redelivery_with_dup(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[16];
    mqws_props props = expiry_props(pb, sizeof pb, 300);
    fake_conn s, p;
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true, .props = &props};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 1, 1, NULL, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "t", "one", 1, 1, false, NULL, 1);
    fake_expect(&p, MQWS_PUBACK);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    uint16_t pid = m.packet_id;
    assert_false(m.publish.dup);
    fake_lost(&s, MQWS_OK, 2); /* no PUBACK */
    fake_done(&s, 2);
    fake_publish(&p, "t", "two", 1, 2, false, NULL, 3); /* queued offline */
    fake_expect(&p, MQWS_PUBACK);
    so.clean = false;
    assert_true(fake_connect(core, &s, &so, 4).session_present);
    m = fake_expect(&s, MQWS_PUBLISH);
    assert_true(m.publish.dup); /* MQTT-4.4.0-1 */
    assert_int_equal(m.packet_id, pid);
    assert_string_equal(fake_payload(&m), "one");
    m = fake_expect(&s, MQWS_PUBLISH);
    assert_false(m.publish.dup);
    assert_string_equal(fake_payload(&m), "two");
    uint16_t pid2 = m.packet_id;
    assert_int_not_equal(pid2, pid);
    fake_ack(&s, MQWS_PUBACK, pid, 5);
    fake_ack(&s, MQWS_PUBACK, pid2, 5);
    fake_lost(&s, MQWS_OK, 6);
    fake_done(&s, 6);
    assert_true(fake_connect(core, &s, &so, 7).session_present);
    fake_expect_none(&s); /* acknowledged: never again */
    fake_done(&s, 8);
    fake_done(&p, 8);
    mqws_core_free(core);
}

static void qos2_inbound_exactly_once(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn s, p;
    fake_connect_opts so = {.version = 4, .client_id = "s", .clean = true};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 0, 1, NULL, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = false};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "t", "x", 2, 7, false, NULL, 1);
    assert_int_equal(fake_expect(&p, MQWS_PUBREC).packet_id, 7);
    fake_expect(&s, MQWS_PUBLISH);
    /* resent before PUBREL: PUBREC again, not delivered again */
    fake_publish_dup(&p, "t", "x", 2, 7, 2);
    assert_int_equal(fake_expect(&p, MQWS_PUBREC).packet_id, 7);
    fake_expect_none(&s);
    /* ... also after a reconnect (the state lives in the session) */
    fake_lost(&p, MQWS_OK, 3);
    fake_done(&p, 3);
    assert_true(fake_connect(core, &p, &po, 4).session_present);
    fake_expect_none(&p);
    fake_publish_dup(&p, "t", "x", 2, 7, 5);
    assert_int_equal(fake_expect(&p, MQWS_PUBREC).packet_id, 7);
    fake_expect_none(&s);
    fake_ack(&p, MQWS_PUBREL, 7, 6);
    assert_int_equal(fake_expect(&p, MQWS_PUBCOMP).packet_id, 7);
    /* after PUBCOMP the id is free: a new message with it is delivered */
    fake_publish(&p, "t", "y", 2, 7, false, NULL, 7);
    fake_expect(&p, MQWS_PUBREC);
    assert_string_equal(fake_payload(&(mqws_packet){.publish = fake_expect(&s, MQWS_PUBLISH).publish}), "y");
    fake_done(&s, 8);
    fake_done(&p, 8);
    mqws_core_free(core);
}

static void qos2_pubrel_unknown_v5(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn p;
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_ack(&p, MQWS_PUBREL, 99, 1);
    mqws_packet c = fake_expect(&p, MQWS_PUBCOMP);
    assert_int_equal(c.reason_code, 0x92); /* Packet Identifier not found */
    fake_done(&p, 2);
    mqws_core_free(core);
}

static void qos2_outbound_resume(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[16];
    mqws_props props = expiry_props(pb, sizeof pb, 300);
    fake_conn s, p;
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true, .props = &props};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 2, 1, NULL, 0);
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "t", "a", 2, 1, false, NULL, 1);
    fake_expect(&p, MQWS_PUBREC);
    fake_publish(&p, "t", "b", 2, 2, false, NULL, 1);
    fake_expect(&p, MQWS_PUBREC);
    mqws_packet a = fake_expect(&s, MQWS_PUBLISH);
    mqws_packet b = fake_expect(&s, MQWS_PUBLISH);
    assert_int_equal(a.publish.qos, 2);
    uint16_t pa = a.packet_id, pbid = b.packet_id;
    fake_ack(&s, MQWS_PUBREC, pa, 2); /* a: PUBREL next; b: still waiting for PUBREC */
    assert_int_equal(fake_expect(&s, MQWS_PUBREL).packet_id, pa);
    fake_lost(&s, MQWS_OK, 3);
    fake_done(&s, 3);
    so.clean = false;
    assert_true(fake_connect(core, &s, &so, 4).session_present);
    /* resume: PUBLISH DUP for b, PUBREL (not PUBLISH) for a, in order (MQTT-4.4.0-1) */
    mqws_packet r1, r2;
    assert_true(fake_next(&s, &r1));
    assert_true(fake_next(&s, &r2));
    mqws_packet *rel = r1.type == MQWS_PUBREL ? &r1 : &r2;
    mqws_packet *pub = r1.type == MQWS_PUBLISH ? &r1 : &r2;
    assert_int_equal(rel->type, MQWS_PUBREL);
    assert_int_equal(rel->packet_id, pa);
    assert_int_equal(pub->type, MQWS_PUBLISH);
    assert_int_equal(pub->packet_id, pbid);
    assert_true(pub->publish.dup);
    fake_expect_none(&s);
    fake_ack(&s, MQWS_PUBCOMP, pa, 5);
    fake_ack(&s, MQWS_PUBREC, pbid, 5);
    assert_int_equal(fake_expect(&s, MQWS_PUBREL).packet_id, pbid);
    fake_ack(&s, MQWS_PUBREC, pbid, 5); /* repeated PUBREC: PUBREL again */
    assert_int_equal(fake_expect(&s, MQWS_PUBREL).reason_code, 0);
    fake_ack(&s, MQWS_PUBCOMP, pbid, 6);
    fake_lost(&s, MQWS_OK, 7);
    fake_done(&s, 7);
    assert_true(fake_connect(core, &s, &so, 8).session_present);
    fake_expect_none(&s);
    fake_done(&s, 9);
    fake_done(&p, 9);
    mqws_core_free(core);
}

static void inflight_window_receive_maximum(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[16];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_RECEIVE_MAXIMUM, 2);
    mqws_props props = mqws_props_from_builder(&b);
    fake_conn s, p;
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true, .props = &props};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 1, 1, NULL, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    for (uint16_t i = 1; i <= 4; i++) {
        fake_publish(&p, "t", "m", 1, i, false, NULL, 1);
        fake_expect(&p, MQWS_PUBACK);
    }
    mqws_packet m1 = fake_expect(&s, MQWS_PUBLISH);
    fake_expect(&s, MQWS_PUBLISH);
    fake_expect_none(&s); /* window of 2 (MQTT-3.3.4-7) */
    fake_ack(&s, MQWS_PUBACK, m1.packet_id, 2);
    fake_expect(&s, MQWS_PUBLISH);
    fake_expect_none(&s);
    fake_done(&s, 3);
    fake_done(&p, 3);
    mqws_core_free(core);
}

static void resume_with_smaller_receive_maximum(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[16];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 100);
    mqws_props_add_int(&b, MQWS_PROP_RECEIVE_MAXIMUM, 3);
    mqws_props props3 = mqws_props_from_builder(&b);
    fake_conn s, p;
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true, .props = &props3};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 1, 1, NULL, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    for (uint16_t i = 1; i <= 4; i++) {
        fake_publish(&p, "t", "m", 1, i, false, NULL, 1);
        fake_expect(&p, MQWS_PUBACK);
    }
    uint16_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = fake_expect(&s, MQWS_PUBLISH).packet_id;
    fake_expect_none(&s);
    fake_done(&s, 2);
    /* back with Receive Maximum 1: one message in flight at a time (MQTT-3.3.4-7) */
    uint8_t pb1[16];
    mqws_props_builder b1 = {pb1, sizeof pb1, 0, MQWS_OK};
    mqws_props_add_int(&b1, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 100);
    mqws_props_add_int(&b1, MQWS_PROP_RECEIVE_MAXIMUM, 1);
    mqws_props props1 = mqws_props_from_builder(&b1);
    so.clean = false;
    so.props = &props1;
    assert_true(fake_connect(core, &s, &so, 3).session_present);
    for (int i = 0; i < 3; i++) {
        mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
        assert_true(m.publish.dup);
        assert_int_equal(m.packet_id, ids[i]);
        fake_expect_none(&s);
        fake_ack(&s, MQWS_PUBACK, m.packet_id, 4);
    }
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH); /* the fourth, never sent before */
    assert_false(m.publish.dup);
    fake_expect_none(&s);
    fake_done(&s, 5);
    fake_done(&p, 5);
    mqws_core_free(core);
}

static void resume_with_smaller_maximum_packet_size(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[16];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 100);
    mqws_props_add_int(&b, MQWS_PROP_RECEIVE_MAXIMUM, 1);
    mqws_props big = mqws_props_from_builder(&b);
    fake_conn s, p;
    fake_connect_opts so = {.version = 5, .client_id = "s", .clean = true, .props = &big};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "t", 1, 1, NULL, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "t", "a rather long payload of forty bytes....", 1, 1, false, NULL, 1);
    fake_publish(&p, "t", "short", 1, 2, false, NULL, 1);
    fake_expect(&s, MQWS_PUBLISH);
    fake_expect_none(&s); /* window 1 */
    fake_done(&s, 2);
    uint8_t pb2[16];
    mqws_props_builder b2 = {pb2, sizeof pb2, 0, MQWS_OK};
    mqws_props_add_int(&b2, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 100);
    mqws_props_add_int(&b2, MQWS_PROP_MAXIMUM_PACKET_SIZE, 30);
    mqws_props small = mqws_props_from_builder(&b2);
    so.clean = false;
    so.props = &small;
    fake_connect(core, &s, &so, 3);
    /* the long one cannot be resent: dropped, and its slot goes to the next */
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    assert_string_equal(fake_payload(&m), "short");
    assert_false(m.publish.dup);
    fake_expect_none(&s);
    fake_done(&s, 4);
    fake_done(&p, 4);
    mqws_core_free(core);
}

static void receive_maximum_exceeded(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.receive_maximum = 2;
    mqws_core *core = fake_core(&cfg);
    fake_conn p;
    fake_connect_opts po = {.version = 5, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    fake_publish(&p, "t", "1", 2, 1, false, NULL, 1);
    fake_publish(&p, "t", "2", 2, 2, false, NULL, 1);
    fake_expect(&p, MQWS_PUBREC);
    fake_expect(&p, MQWS_PUBREC);
    assert_int_not_equal(fake_publish(&p, "t", "3", 2, 3, false, NULL, 1), MQWS_OK);
    assert_int_equal(fake_expect(&p, MQWS_DISCONNECT).reason_code, 0x93);
    assert_true(p.closed);
    fake_done(&p, 2);
    mqws_core_free(core);
}

static void slow_reader(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn s, p;
    fake_connect_opts so = {.version = 4, .client_id = "s", .clean = true};
    fake_connect(core, &s, &so, 0);
    fake_subscribe(&s, "q0", 0, 1, NULL, 0);
    fake_subscribe(&s, "q1", 1, 2, NULL, 0);
    fake_connect_opts po = {.version = 4, .client_id = "p", .clean = true};
    fake_connect(core, &p, &po, 0);
    s.limit = 1; /* nothing fits any more */
    fake_publish(&p, "q0", "lost", 0, 0, false, NULL, 1);
    fake_publish(&p, "q1", "kept", 1, 1, false, NULL, 1);
    fake_expect(&p, MQWS_PUBACK);
    fake_expect_none(&s);
    assert_true(fake_log_has("slow reader"));
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.dropped, 1);
    s.limit = 0;
    mqws_core_conn_writable(s.h, 2);
    mqws_packet m = fake_expect(&s, MQWS_PUBLISH);
    assert_string_equal(fake_payload(&m), "kept");
    fake_expect_none(&s);
    /* an acknowledgement that does not fit: slow consumer, closed, */
    s.limit = 1;
    fake_ack(&s, MQWS_PINGREQ, 0, 3);
    assert_true(s.closed);
    assert_int_equal(s.close_code, MQWS_CORE_CLOSE_POLICY);
    fake_done(&s, 4);
    fake_done(&p, 4);
    mqws_core_free(core);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qos0_and_wildcards),
        cmocka_unit_test(qos1_redelivery_with_dup),
        cmocka_unit_test(qos2_inbound_exactly_once),
        cmocka_unit_test(qos2_pubrel_unknown_v5),
        cmocka_unit_test(qos2_outbound_resume),
        cmocka_unit_test(inflight_window_receive_maximum),
        cmocka_unit_test(resume_with_smaller_receive_maximum),
        cmocka_unit_test(resume_with_smaller_maximum_packet_size),
        cmocka_unit_test(receive_maximum_exceeded),
        cmocka_unit_test(slow_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
