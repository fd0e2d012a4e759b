/*
 * fake.c - see fake.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

static char log_buf[1u << 16];
static size_t log_len;

static void log_line(void *user, const char *line)
{
    (void)user;
    size_t n = strlen(line);
    if (getenv("CORE_TEST_LOG"))
        fprintf(stderr, "log: %s\n", line);
    if (log_len + n + 2 > sizeof log_buf)
        log_len = 0;
    memcpy(log_buf + log_len, line, n);
    log_len += n;
    log_buf[log_len++] = '\n';
    log_buf[log_len] = '\0';
}

bool fake_log_has(const char *needle)
{
    return strstr(log_buf, needle) != NULL;
}

int fake_log_count(const char *needle)
{
    int n = 0;
    for (const char *p = strstr(log_buf, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

void fake_log_clear(void)
{
    log_len = 0;
    log_buf[0] = '\0';
}

mqws_core *fake_core(const mqws_core_config *cfg)
{
    mqws_core_config c;
    if (cfg)
        c = *cfg;
    else
        mqws_core_config_default(&c);
    c.log = log_line;
    c.trace = true;
    fake_log_clear();
    mqws_core *core = mqws_core_new(&c);
    assert_non_null(core);
    return core;
}

static uint8_t *fc_reserve(void *user, size_t len)
{
    fake_conn *fc = user;
    if (fc->limit && fc->len - fc->read + len > fc->limit)
        return NULL;
    assert_true(fc->len + len <= FAKE_OUT_CAP);
    return fc->out + fc->len;
}

static void fc_commit(void *user, size_t len)
{
    fake_conn *fc = user;
    fc->len += len;
}

static void fc_close(void *user, uint16_t code, const char *reason)
{
    fake_conn *fc = user;
    assert_false(fc->closed); /* at most once */
    fc->closed = true;
    fc->close_code = code;
    snprintf(fc->close_reason, sizeof fc->close_reason, "%s", reason);
}

static const mqws_core_transport fake_ops = {fc_reserve, fc_commit, fc_close};

void fake_open(mqws_core *core, fake_conn *fc, uint64_t now)
{
    memset(fc, 0, sizeof *fc);
    fc->core = core;
    fc->out = malloc(FAKE_OUT_CAP);
    assert_non_null(fc->out);
    fc->h = mqws_core_conn_open(core, &fake_ops, fc, "127.0.0.1:40000", "ws", now);
    assert_non_null(fc->h);
}

mqws_err fake_feed_raw(fake_conn *fc, const uint8_t *b, size_t n, uint64_t now)
{
    return mqws_core_conn_packet(fc->h, b, n, now);
}

mqws_err fake_feed(fake_conn *fc, const mqws_packet *p, uint64_t now)
{
    static uint8_t buf[1u << 20];
    size_t n = 0;
    mqws_err e = mqws_mqtt_encode(p, (mqws_mqtt_version)fc->version, buf, sizeof buf, &n);
    assert_int_equal(e, MQWS_OK);
    return fake_feed_raw(fc, buf, n, now);
}

bool fake_next(fake_conn *fc, mqws_packet *p)
{
    if (fc->read >= fc->len)
        return false;
    size_t used = 0;
    mqws_err e = mqws_mqtt_decode(fc->out + fc->read, fc->len - fc->read,
                                  (mqws_mqtt_version)fc->version, NULL, p, &used, NULL);
    if (e != MQWS_OK)
        fail_msg("core sent an undecodable packet: %s", mqws_err_name(e));
    fc->read += used;
    return true;
}

mqws_packet fake_expect(fake_conn *fc, mqws_packet_type t)
{
    mqws_packet p;
    if (!fake_next(fc, &p))
        fail_msg("expected %s, nothing was sent", mqws_packet_type_name(t));
    if (p.type != t)
        fail_msg("expected %s, got %s", mqws_packet_type_name(t), mqws_packet_type_name(p.type));
    return p;
}

void fake_expect_none(fake_conn *fc)
{
    mqws_packet p;
    if (fake_next(fc, &p))
        fail_msg("expected nothing, got %s", mqws_packet_type_name(p.type));
}

void fake_lost(fake_conn *fc, mqws_err why, uint64_t now)
{
    assert_false(fc->freed);
    mqws_core_conn_lost(fc->h, why, now);
    fc->freed = true;
}

void fake_done(fake_conn *fc, uint64_t now)
{
    if (!fc->freed)
        fake_lost(fc, MQWS_OK, now);
    free(fc->out);
    fc->out = NULL;
}

mqws_packet fake_connect(mqws_core *core, fake_conn *fc, const fake_connect_opts *o,
                         uint64_t now)
{
    fake_open(core, fc, now);
    fc->version = o->version ? o->version : MQWS_MQTT_V5;
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_CONNECT;
    p.connect.level = (uint8_t)fc->version;
    p.connect.clean_start = o->clean;
    p.connect.keep_alive = o->keepalive;
    p.connect.client_id = mqws_str_c(o->client_id);
    if (o->props)
        p.props = *o->props;
    if (o->will_topic) {
        p.connect.will = true;
        p.connect.will_topic = mqws_str_c(o->will_topic);
        p.connect.will_payload.ptr = (const uint8_t *)o->will_payload;
        p.connect.will_payload.len = o->will_payload ? strlen(o->will_payload) : 0;
        p.connect.will_qos = o->will_qos;
        p.connect.will_retain = o->will_retain;
        if (o->will_props)
            p.connect.will_props = *o->will_props;
    }
    if (o->username) {
        p.connect.has_username = true;
        p.connect.username = mqws_str_c(o->username);
    }
    if (o->password) {
        p.connect.has_password = true;
        p.connect.password.ptr = (const uint8_t *)o->password;
        p.connect.password.len = strlen(o->password);
    }
    fake_feed(fc, &p, now);
    return fake_expect(fc, MQWS_CONNACK);
}

static mqws_err publish(fake_conn *fc, const char *topic, const char *payload, uint8_t qos,
                        uint16_t pid, bool retain, bool dup, const mqws_props *props,
                        uint64_t now)
{
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_PUBLISH;
    p.packet_id = pid;
    p.publish.topic = mqws_str_c(topic);
    p.publish.payload.ptr = (const uint8_t *)payload;
    p.publish.payload.len = payload ? strlen(payload) : 0;
    p.publish.qos = qos;
    p.publish.retain = retain;
    p.publish.dup = dup;
    if (props)
        p.props = *props;
    return fake_feed(fc, &p, now);
}

mqws_err fake_publish(fake_conn *fc, const char *topic, const char *payload, uint8_t qos,
                      uint16_t pid, bool retain, const mqws_props *props, uint64_t now)
{
    return publish(fc, topic, payload, qos, pid, retain, false, props, now);
}

mqws_err fake_publish_dup(fake_conn *fc, const char *topic, const char *payload, uint8_t qos,
                          uint16_t pid, uint64_t now)
{
    return publish(fc, topic, payload, qos, pid, false, true, NULL, now);
}

mqws_err fake_subscribe_send(fake_conn *fc, const char *filter, uint8_t options, uint16_t pid,
                             const mqws_props *props, uint64_t now)
{
    uint8_t list[512];
    size_t n = 0;
    assert_int_equal(mqws_list_append_sub(list, sizeof list, &n, mqws_str_c(filter), true, options),
                     MQWS_OK);
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_SUBSCRIBE;
    p.packet_id = pid;
    p.list.raw = list;
    p.list.raw_len = n;
    p.list.count = 1;
    if (props)
        p.props = *props;
    return fake_feed(fc, &p, now);
}

uint8_t fake_subscribe(fake_conn *fc, const char *filter, uint8_t options, uint16_t pid,
                       const mqws_props *props, uint64_t now)
{
    uint8_t list[512];
    size_t n = 0;
    assert_int_equal(mqws_list_append_sub(list, sizeof list, &n, mqws_str_c(filter), true, options),
                     MQWS_OK);
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_SUBSCRIBE;
    p.packet_id = pid;
    p.list.raw = list;
    p.list.raw_len = n;
    p.list.count = 1;
    if (props)
        p.props = *props;
    assert_int_equal(fake_feed(fc, &p, now), MQWS_OK);
    mqws_packet a = fake_expect(fc, MQWS_SUBACK);
    assert_int_equal(a.packet_id, pid);
    assert_int_equal(a.list.count, 1);
    return a.list.raw[0];
}

mqws_err fake_ack(fake_conn *fc, mqws_packet_type t, uint16_t pid, uint64_t now)
{
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = t;
    p.packet_id = pid;
    return fake_feed(fc, &p, now);
}

const char *fake_payload(const mqws_packet *p)
{
    static char s[4096];
    size_t n = p->publish.payload.len < sizeof s - 1 ? p->publish.payload.len : sizeof s - 1;
    if (n)
        memcpy(s, p->publish.payload.ptr, n);
    s[n] = '\0';
    return s;
}

bool fake_topic_is(const mqws_packet *p, const char *topic)
{
    return mqws_str_eq(p->publish.topic, topic);
}
