/*
 * test_core_random.c - seeded random sessions against the core: several
 * clients connecting, subscribing, publishing at every QoS, acknowledging or
 * not, vanishing, taking each other over, sending junk, with slow readers and
 * timers. Everything the core sends must decode; counters and limits must hold;
 * ASan/UBSan (test-core-asan) watch memory. Deterministic (fixed seeds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define NCONN 5
#define STEPS 4000

static uint32_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static const char *const topics[] = {"a", "a/b", "a/b/c", "$SYS/x", "b/c", "c"};
static const char *const filters[] = {"a", "a/+", "a/#", "#", "+/c", "$SYS/#", "$share/g/a", "c"};
static const char *const ids[] = {"c1", "c2", "c3", ""};

typedef struct slot {
    fake_conn fc;
    bool open;
} slot;

/* Reads what the core sent; acknowledges some of it like a client would. */
static void drain(slot *sl, uint64_t now)
{
    fake_conn *fc = &sl->fc;
    mqws_packet p;
    uint16_t acks[64][2];
    int nacks = 0;
    while (fake_next(fc, &p)) {
        if (p.type == MQWS_PUBLISH && p.publish.qos && nacks < 64 && rnd(4)) {
            acks[nacks][0] = p.publish.qos == 1 ? MQWS_PUBACK : MQWS_PUBREC;
            acks[nacks++][1] = p.packet_id;
        } else if (p.type == MQWS_PUBREL && nacks < 64 && rnd(4)) {
            acks[nacks][0] = MQWS_PUBCOMP;
            acks[nacks++][1] = p.packet_id;
        }
    }
    fc->len = fc->read = 0;
    for (int i = 0; i < nacks && !fc->closed; i++)
        fake_ack(fc, (mqws_packet_type)acks[i][0], acks[i][1], now);
    fc->len = fc->read = 0; /* answers to our acks are not checked */
}

static void connect_slot(mqws_core *core, slot *sl, uint64_t now)
{
    uint8_t pb[32], wb[32];
    mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
    if (rnd(2))
        mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, rnd(20));
    if (rnd(2))
        mqws_props_add_int(&b, MQWS_PROP_RECEIVE_MAXIMUM, 1 + rnd(3));
    if (rnd(4) == 0)
        mqws_props_add_int(&b, MQWS_PROP_MAXIMUM_PACKET_SIZE, 20 + rnd(40));
    mqws_props props = mqws_props_from_builder(&b);
    mqws_props_builder w = {wb, sizeof wb, 0, MQWS_OK};
    mqws_props_add_int(&w, MQWS_PROP_WILL_DELAY_INTERVAL, rnd(3));
    mqws_props wprops = mqws_props_from_builder(&w);
    int version = rnd(2) ? 5 : 4;
    fake_connect_opts o = {.version = version, .client_id = ids[rnd(4)], .clean = rnd(2),
                           .keepalive = (uint16_t)rnd(5), .props = version == 5 ? &props : NULL};
    if (o.client_id[0] == '\0')
        o.clean = true;
    if (rnd(2)) {
        o.will_topic = topics[rnd(6)];
        o.will_payload = "will";
        o.will_qos = (uint8_t)rnd(3);
        o.will_retain = rnd(2);
        o.will_props = version == 5 ? &wprops : NULL;
    }
    fake_connect(core, &sl->fc, &o, now);
    sl->open = true;
}

static void step(mqws_core *core, slot *slots, uint64_t now)
{
    slot *sl = &slots[rnd(NCONN)];
    fake_conn *fc = &sl->fc;
    if (!sl->open) {
        connect_slot(core, sl, now);
        return;
    }
    if (fc->closed) { /* the shell reports the transport gone */
        fake_done(fc, now);
        sl->open = false;
        return;
    }
    uint16_t pid = (uint16_t)(1 + rnd(6));
    switch (rnd(12)) {
    case 0:
    case 1:
        fake_subscribe_send(fc, filters[rnd(8)], (uint8_t)(rnd(3) | (fc->version == 5 ? rnd(4) << 2 : 0)),
                       pid, NULL, now);
        break;
    case 2:
    case 3:
    case 4:
    case 5: {
        uint8_t pb[16];
        mqws_props_builder b = {pb, sizeof pb, 0, MQWS_OK};
        if (rnd(3) == 0)
            mqws_props_add_int(&b, MQWS_PROP_MESSAGE_EXPIRY_INTERVAL, rnd(5));
        if (rnd(4) == 0)
            mqws_props_add_int(&b, MQWS_PROP_TOPIC_ALIAS, 1 + rnd(3));
        mqws_props props = mqws_props_from_builder(&b);
        uint8_t qos = (uint8_t)rnd(3);
        fake_publish(fc, topics[rnd(6)], rnd(8) ? "payload" : "", qos, qos ? pid : 0, rnd(3) == 0,
                     fc->version == 5 ? &props : NULL, now);
        break;
    }
    case 6:
        fake_ack(fc, (mqws_packet_type)(MQWS_PUBACK + rnd(4)), pid, now);
        break;
    case 7:
        fake_lost(fc, rnd(2) ? MQWS_OK : MQWS_ERR_STREAM_TEXT_FRAME, now);
        fake_done(fc, now);
        sl->open = false;
        break;
    case 8:
        fake_ack(fc, rnd(2) ? MQWS_PINGREQ : MQWS_DISCONNECT, 0, now);
        break;
    case 9: { /* junk: random bytes behind a plausible fixed header */
        uint8_t junk[16];
        junk[0] = (uint8_t)rnd(256);
        junk[1] = 14;
        for (int i = 2; i < 16; i++)
            junk[i] = (uint8_t)rnd(256);
        fake_feed_raw(fc, junk, sizeof junk, now);
        break;
    }
    case 10:
        fc->limit = fc->limit ? 0 : 1 + rnd(64);
        if (!fc->limit)
            mqws_core_conn_writable(fc->h, now);
        break;
    default:
        mqws_core_tick(core, now);
    }
}

static void run(uint32_t seed)
{
    rng_state = seed;
    mqws_core_config cfg;
    mqws_core_config_default(&cfg);
    cfg.max_queued = 8;
    cfg.max_subscriptions = 4;
    cfg.max_retained = 3;
    cfg.topic_alias_maximum = 2;
    cfg.receive_maximum = 3;
    cfg.max_inflight = 4;
    cfg.max_sessions = 4;
    mqws_core *core = fake_core(&cfg);
    slot slots[NCONN];
    memset(slots, 0, sizeof slots);
    uint64_t now = 0;
    for (int i = 0; i < STEPS; i++) {
        now += rnd(700);
        step(core, slots, now);
        for (int k = 0; k < NCONN; k++)
            if (slots[k].open)
                drain(&slots[k], now);
        mqws_core_stats st;
        mqws_core_get_stats(core, &st);
        assert_true(st.sessions <= cfg.max_sessions);
        assert_true(st.retained <= cfg.max_retained);
        assert_true(st.subscriptions <= cfg.max_subscriptions * st.sessions);
        assert_true(st.clients <= st.connections);
        assert_true(st.clients <= st.sessions);
    }
    for (int k = 0; k < NCONN; k++)
        if (slots[k].open)
            fake_done(&slots[k].fc, now);
    mqws_core_stats st;
    mqws_core_get_stats(core, &st);
    if (getenv("CORE_RANDOM_VERBOSE"))
        fprintf(stderr, "seed %u: %llu publishes in, %llu deliveries, %llu dropped, %u sessions\n",
                seed, (unsigned long long)st.publishes_in, (unsigned long long)st.deliveries,
                (unsigned long long)st.dropped, st.sessions);
    now += 1000000000ull;
    mqws_core_tick(core, now); /* every session expires: the counters come back to zero */
    mqws_core_get_stats(core, &st);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.subscriptions, 0);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(st.connections, 0);
    mqws_core_free(core);
}

static void random_sessions(void **state)
{
    (void)state;
    /* CORE_RANDOM_SEEDS=N runs more seeds (a longer soak, not in make test) */
    const char *env = getenv("CORE_RANDOM_SEEDS");
    uint32_t seeds = env ? (uint32_t)strtoul(env, NULL, 10) : 12;
    for (uint32_t seed = 1; seed <= seeds; seed++)
        run(seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
