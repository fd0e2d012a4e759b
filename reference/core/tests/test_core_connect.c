/*
 * test_core_connect.c - CONNECT/CONNACK in 3.1.1 and 5.0, takeover, keepalive,
 * session expiry, authentication, protocol errors.
 */
#include <string.h>

#include "fake.h"

static void connack_v311_ok(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_connect_opts o = {.version = 4, .client_id = "a", .clean = true, .keepalive = 30};
    mqws_packet ack = fake_connect(core, &c, &o, 0);
    assert_int_equal(ack.reason_code, 0);
    assert_false(ack.session_present);
    assert_int_equal(mqws_core_conn_version(c.h), 4);
    assert_string_equal(mqws_core_conn_client_id(c.h), "a");
    /* PINGREQ -> PINGRESP */
    assert_int_equal(fake_ack(&c, MQWS_PINGREQ, 0, 10), MQWS_OK);
    fake_expect(&c, MQWS_PINGRESP);
    fake_done(&c, 20);
    mqws_core_free(core);
}

static void connack_v5_announces_limits(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.receive_maximum = 7;
    cfg.max_packet_size = 5000;
    cfg.topic_alias_maximum = 3;
    cfg.keepalive_max = 100;
    cfg.max_session_expiry = 60;
    mqws_core *core = fake_core(&cfg);
    uint8_t pb[32];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 3600);
    mqws_props props = mqws_props_from_builder(&b);
    fake_conn c;
    /* empty client id, keepalive 0: id assigned, Server Keep Alive announced */
    fake_connect_opts o = {.version = 5, .client_id = "", .clean = true, .props = &props};
    mqws_packet ack = fake_connect(core, &c, &o, 0);
    assert_int_equal(ack.reason_code, 0);
    mqws_prop pr;
    assert_true(mqws_props_get(&ack.props, MQWS_PROP_RECEIVE_MAXIMUM, &pr));
    assert_int_equal(pr.u32, 7);
    assert_true(mqws_props_get(&ack.props, MQWS_PROP_MAXIMUM_PACKET_SIZE, &pr));
    assert_int_equal(pr.u32, 5000);
    assert_true(mqws_props_get(&ack.props, MQWS_PROP_TOPIC_ALIAS_MAXIMUM, &pr));
    assert_int_equal(pr.u32, 3);
    assert_true(mqws_props_get(&ack.props, MQWS_PROP_SERVER_KEEP_ALIVE, &pr));
    assert_int_equal(pr.u32, 100);
    assert_true(mqws_props_get(&ack.props, MQWS_PROP_SESSION_EXPIRY_INTERVAL, &pr));
    assert_int_equal(pr.u32, 60);
    assert_true(mqws_props_get(&ack.props, MQWS_PROP_SHARED_SUBSCRIPTION_AVAILABLE, &pr));
    assert_int_equal(pr.u32, 0);
    assert_true(mqws_props_get(&ack.props, MQWS_PROP_ASSIGNED_CLIENT_IDENTIFIER, &pr));
    assert_true(pr.bin.len > 0);
    assert_memory_equal(pr.bin.ptr, mqws_core_conn_client_id(c.h), pr.bin.len);
    /* Server Keep Alive 100 s is enforced: 150 s */
    assert_int_equal(mqws_core_next_deadline(core, 0), 150000);
    fake_done(&c, 1);
    mqws_core_free(core);
}

static void enhanced_auth_refused(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[32];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_bytes(&b, MQWS_PROP_AUTHENTICATION_METHOD, "SCRAM-SHA-1", 11);
    mqws_props props = mqws_props_from_builder(&b);
    fake_conn c;
    fake_connect_opts o = {.version = 5, .client_id = "x", .clean = true, .props = &props};
    mqws_packet ack = fake_connect(core, &c, &o, 0);
    assert_int_equal(ack.reason_code, 0x8C);
    assert_true(c.closed);
    fake_done(&c, 1);
    mqws_core_free(core);
}

static void bad_protocol_level(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_open(core, &c, 0);
    c.version = 4;
    /* CONNECT, protocol level 6 */
    const uint8_t pkt[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 1, 'a'};
    assert_int_equal(fake_feed_raw(&c, pkt, sizeof pkt, 0), MQWS_ERR_MQTT_PROTOCOL_LEVEL);
    mqws_packet ack = fake_expect(&c, MQWS_CONNACK);
    assert_int_equal(ack.reason_code, 0x01);
    assert_true(c.closed);
    fake_done(&c, 1);
    mqws_core_free(core);
}

static void first_packet_not_connect(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_open(core, &c, 0);
    const uint8_t ping[] = {0xC0, 0};
    assert_int_not_equal(fake_feed_raw(&c, ping, sizeof ping, 0), MQWS_OK);
    assert_true(c.closed);
    fake_expect_none(&c);
    /* fed after close: ignored */
    assert_int_equal(fake_feed_raw(&c, ping, sizeof ping, 0), MQWS_ERR_ARG);
    fake_done(&c, 1);
    mqws_core_free(core);
}

static void connect_timeout(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL); /* 10 s */
    fake_conn c;
    fake_open(core, &c, 0);
    assert_int_equal(mqws_core_tick(core, 9000), 10000);
    /* never sooner than MQWS_CORE_TICK_MIN_MS */
    assert_int_equal(mqws_core_tick(core, 9999), 9999 + MQWS_CORE_TICK_MIN_MS);
    assert_false(c.closed);
    mqws_core_tick(core, 10000);
    assert_true(c.closed);
    fake_done(&c, 10001);
    mqws_core_free(core);
}

static uint8_t deny_bob(void *user, mqws_str id, const mqws_str *user_name,
                        const mqws_bytes *password)
{
    (void)user;
    (void)id;
    if (user_name && mqws_str_eq(*user_name, "bob") && password && password->len == 6 &&
        !memcmp(password->ptr, "secret", 6))
        return 0;
    return 0x86;
}

static void auth_hook(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.auth = deny_bob;
    mqws_core *core = fake_core(&cfg);
    fake_conn a, b, d;
    fake_connect_opts o = {.version = 4, .client_id = "a", .clean = true, .username = "bob",
                           .password = "wrong"};
    assert_int_equal(fake_connect(core, &a, &o, 0).reason_code, 0x04); /* 3.1.1 */
    assert_true(a.closed);
    o.version = 5;
    assert_int_equal(fake_connect(core, &b, &o, 0).reason_code, 0x86);
    o.password = "secret";
    assert_int_equal(fake_connect(core, &d, &o, 0).reason_code, 0);
    fake_done(&a, 1);
    fake_done(&b, 1);
    fake_done(&d, 1);
    mqws_core_free(core);
}

static void takeover_v5(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[16];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 100);
    mqws_props props = mqws_props_from_builder(&b);
    fake_conn old, nw;
    fake_connect_opts o = {.version = 5, .client_id = "dev", .clean = false, .props = &props,
                           .will_topic = "dev/status", .will_payload = "gone"};
    fake_connect(core, &old, &o, 0);
    assert_int_equal(fake_subscribe(&old, "cmd", 1, 1, NULL, 1), 1);
    fake_conn watcher;
    fake_connect_opts w = {.version = 5, .client_id = "w", .clean = true};
    fake_connect(core, &watcher, &w, 0);
    fake_subscribe(&watcher, "dev/status", 0, 1, NULL, 1);

    mqws_packet ack = fake_connect(core, &nw, &o, 5);
    assert_true(ack.session_present);
    mqws_packet d = fake_expect(&old, MQWS_DISCONNECT);
    assert_int_equal(d.reason_code, 0x8E);
    assert_true(old.closed);
    /* the old connection's will (no delay) is published */
    mqws_packet will = fake_expect(&watcher, MQWS_PUBLISH);
    assert_string_equal(fake_payload(&will), "gone");
    /* the subscription moved with the session */
    fake_publish(&watcher, "cmd", "go", 1, 9, false, NULL, 6);
    fake_expect(&watcher, MQWS_PUBACK);
    mqws_packet p = fake_expect(&nw, MQWS_PUBLISH);
    assert_string_equal(fake_payload(&p), "go");
    fake_expect_none(&old);
    fake_done(&old, 7); /* the shell reports the old transport gone: nothing more happens */
    fake_expect_none(&watcher);
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.clients, 2);
    fake_done(&nw, 8);
    fake_done(&watcher, 8);
    mqws_core_free(core);
}

static void keepalive_one_and_a_half(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_connect_opts o = {.version = 5, .client_id = "k", .clean = true, .keepalive = 10,
                           .will_topic = "k/will", .will_payload = "dead"};
    fake_connect(core, &c, &o, 1000);
    fake_conn w;
    fake_connect_opts wo = {.version = 4, .client_id = "w", .clean = true};
    fake_connect(core, &w, &wo, 1000);
    fake_subscribe(&w, "k/#", 0, 1, NULL, 1000);
    /* a packet at 5 s moves the deadline to 5 s + 15 s */
    fake_ack(&c, MQWS_PINGREQ, 0, 5000);
    fake_expect(&c, MQWS_PINGRESP);
    assert_int_equal(mqws_core_tick(core, 19000), 20000);
    mqws_core_tick(core, 19999);
    assert_false(c.closed);
    mqws_core_tick(core, 20000);
    assert_true(c.closed);
    assert_int_equal(c.close_code, MQWS_CORE_CLOSE_GOING_AWAY);
    mqws_packet d = fake_expect(&c, MQWS_DISCONNECT);
    assert_int_equal(d.reason_code, 0x8D);
    mqws_packet will = fake_expect(&w, MQWS_PUBLISH);
    assert_true(fake_topic_is(&will, "k/will"));
    fake_done(&c, 20001);
    fake_expect_none(&w); /* the will went once */
    fake_done(&w, 20001);
    mqws_core_free(core);
}

static void session_expiry_v5(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    uint8_t pb[16];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 10);
    mqws_props props = mqws_props_from_builder(&b);
    fake_conn c;
    fake_connect_opts o = {.version = 5, .client_id = "s", .clean = true, .props = &props};
    fake_connect(core, &c, &o, 0);
    fake_subscribe(&c, "t", 1, 1, NULL, 0);
    fake_lost(&c, MQWS_OK, 1000);
    fake_done(&c, 1000);
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(mqws_core_tick(core, 10000), 11000);
    /* resumed in time: session present */
    o.clean = false;
    assert_true(fake_connect(core, &c, &o, 10999).session_present);
    fake_lost(&c, MQWS_OK, 11000);
    fake_done(&c, 11000);
    mqws_core_tick(core, 20999);
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(mqws_core_tick(core, 21000), UINT64_MAX);
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.subscriptions, 0);
    assert_false(fake_connect(core, &c, &o, 22000).session_present);
    fake_done(&c, 22000);
    mqws_core_free(core);
}

static void session_expiry_zero_and_311_clean(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_connect_opts o = {.version = 5, .client_id = "z", .clean = false};
    assert_false(fake_connect(core, &c, &o, 0).session_present);
    fake_done(&c, 1); /* expiry absent = 0: the session ends with the connection */
    assert_false(fake_connect(core, &c, &o, 2).session_present);
    fake_done(&c, 3);
    /* 3.1.1 CleanSession 0 keeps the session (until the server cap) */
    fake_connect_opts p = {.version = 4, .client_id = "p", .clean = false};
    fake_connect(core, &c, &p, 0);
    fake_done(&c, 1);
    assert_true(fake_connect(core, &c, &p, 2).session_present);
    fake_done(&c, 3);
    /* ... and CleanSession 1 discards it */
    p.clean = true;
    assert_false(fake_connect(core, &c, &p, 4).session_present);
    fake_done(&c, 5);
    p.clean = false;
    assert_false(fake_connect(core, &c, &p, 6).session_present);
    fake_done(&c, 7);
    mqws_core_free(core);
}

static void disconnect_session_expiry_after_zero(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_connect_opts o = {.version = 5, .client_id = "z", .clean = true};
    fake_connect(core, &c, &o, 0);
    uint8_t pb[16];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 10);
    mqws_packet d;
    memset(&d, 0, sizeof d);
    d.type = MQWS_DISCONNECT;
    d.props = mqws_props_from_builder(&b);
    assert_int_not_equal(fake_feed(&c, &d, 1), MQWS_OK); /* MQTT-3.14.2-2 */
    mqws_packet r = fake_expect(&c, MQWS_DISCONNECT);
    assert_int_equal(r.reason_code, 0x82);
    fake_done(&c, 2);
    mqws_core_free(core);
}

static void protocol_errors(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn c;
    fake_connect_opts o = {.version = 4, .client_id = "e", .clean = true};
    /* 3.1.1: second CONNECT -> closed without a reply */
    fake_connect(core, &c, &o, 0);
    const uint8_t connect[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'a'};
    assert_int_not_equal(fake_feed_raw(&c, connect, sizeof connect, 1), MQWS_OK);
    assert_true(c.closed);
    assert_int_equal(c.close_code, MQWS_CORE_CLOSE_PROTOCOL);
    fake_expect_none(&c);
    fake_done(&c, 2);
    /* 5.0: malformed packet -> DISCONNECT 0x81; AUTH -> 0x82 */
    o.version = 5;
    fake_connect(core, &c, &o, 0);
    const uint8_t bad[] = {0xC0, 1, 0}; /* PINGREQ with a body */
    assert_int_equal(fake_feed_raw(&c, bad, sizeof bad, 1), MQWS_ERR_MQTT_MALFORMED);
    assert_int_equal(fake_expect(&c, MQWS_DISCONNECT).reason_code, 0x81);
    fake_done(&c, 2);
    fake_connect(core, &c, &o, 0);
    const uint8_t auth[] = {0xF0, 0};
    assert_int_not_equal(fake_feed_raw(&c, auth, sizeof auth, 1), MQWS_OK);
    assert_int_equal(fake_expect(&c, MQWS_DISCONNECT).reason_code, 0x82);
    fake_done(&c, 2);
    /* 5.0: a second CONNECT with an unknown level: 0x84 is CONNACK-only, DISCONNECT 0x82 */
    fake_connect(core, &c, &o, 0);
    const uint8_t connect6[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 1, 'a'};
    assert_int_not_equal(fake_feed_raw(&c, connect6, sizeof connect6, 1), MQWS_OK);
    assert_int_equal(fake_expect(&c, MQWS_DISCONNECT).reason_code, 0x82);
    fake_done(&c, 2);
    /* transport-level error reported by the shell: DISCONNECT 0x95 first */
    fake_connect(core, &c, &o, 0);
    fake_lost(&c, MQWS_ERR_MQTT_TOO_LARGE, 1);
    assert_int_equal(fake_expect(&c, MQWS_DISCONNECT).reason_code, 0x95);
    fake_done(&c, 2);
    mqws_core_free(core);
}

static void connection_limit(void **state)
{
    (void)state;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_connections = 1;
    mqws_core *core = fake_core(&cfg);
    fake_conn a, b, d;
    fake_connect_opts o = {.version = 5, .client_id = "a", .clean = true};
    assert_int_equal(fake_connect(core, &a, &o, 0).reason_code, 0);
    o.client_id = "b";
    assert_int_equal(fake_connect(core, &b, &o, 0).reason_code, 0x97);
    o.version = 4;
    assert_int_equal(fake_connect(core, &d, &o, 0).reason_code, 0x03);
    assert_true(fake_log_has("connection limit"));
    /* a takeover does not need a second slot */
    fake_conn e;
    o.client_id = "a";
    assert_int_equal(fake_connect(core, &e, &o, 0).reason_code, 0);
    assert_true(a.closed);
    fake_done(&a, 1);
    fake_done(&b, 1);
    fake_done(&d, 1);
    fake_done(&e, 1);
    mqws_core_free(core);
}

static void shutdown_all(void **state)
{
    (void)state;
    mqws_core *core = fake_core(NULL);
    fake_conn a, b;
    fake_connect_opts o = {.version = 5, .client_id = "a", .clean = true, .will_topic = "w",
                           .will_payload = "x"};
    fake_connect(core, &a, &o, 0);
    fake_connect_opts p = {.version = 4, .client_id = "b", .clean = true};
    fake_connect(core, &b, &p, 0);
    fake_subscribe(&b, "w", 0, 1, NULL, 0);
    mqws_core_shutdown(core, 1);
    assert_int_equal(fake_expect(&a, MQWS_DISCONNECT).reason_code, 0x8B);
    assert_true(a.closed && b.closed);
    fake_expect_none(&b); /* no will on shutdown */
    fake_done(&a, 2);
    fake_done(&b, 2);
    mqws_core_free(core);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connack_v311_ok),
        cmocka_unit_test(connack_v5_announces_limits),
        cmocka_unit_test(enhanced_auth_refused),
        cmocka_unit_test(bad_protocol_level),
        cmocka_unit_test(first_packet_not_connect),
        cmocka_unit_test(connect_timeout),
        cmocka_unit_test(auth_hook),
        cmocka_unit_test(takeover_v5),
        cmocka_unit_test(keepalive_one_and_a_half),
        cmocka_unit_test(session_expiry_v5),
        cmocka_unit_test(session_expiry_zero_and_311_clean),
        cmocka_unit_test(disconnect_session_expiry_after_zero),
        cmocka_unit_test(protocol_errors),
        cmocka_unit_test(connection_limit),
        cmocka_unit_test(shutdown_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
