/*
 * demo.c - `make run`: an MQTT over WebSocket session between an in-memory client
 * and server, built from libmqws alone, with the wire bytes cut where real
 * networks cut them. Prints each step and a report; exits non-zero if a check fails.
 */
#include <stdio.h>
#include <string.h>

#include "mqws/mqws.h"

static int g_pass, g_fail;

static void check(bool ok, const char *what, const char *ref)
{
    printf("  %s  %-62s %s\n", ok ? "PASS" : "FAIL", what, ref);
    if (ok)
        g_pass++;
    else
        g_fail++;
}

/* --------------------------------------------------------------- handshake */

static mqws_err server_handshake(const char *req, size_t len, const mqws_hs_server_config *cfg,
                                 mqws_hs_server_result *res, char *out, size_t cap, size_t *n)
{
    mqws_hs_request parsed;
    memset(&parsed, 0, sizeof parsed);
    size_t head = 0;
    mqws_err r = MQWS_NEED_MORE;
    /* One byte at a time, as a slow client would send it. */
    for (size_t have = 1; have <= len && r == MQWS_NEED_MORE; have++)
        r = mqws_hs_parse_request(&parsed, req, have, &head);
    if (r != MQWS_OK)
        return r;
    mqws_hs_server_accept(&parsed, cfg, res);
    return mqws_hs_write_response(res, out, cap, n);
}

static void demo_handshake(void)
{
    printf("1. opening handshake (RFC 6455 section 4, MQTT section 6)\n");
    const char *offer[] = {"mqtt"};
    mqws_hs_client_config ccfg = {"broker.test", "/mqtt", "https://app.test", offer, 1};
    const uint8_t nonce[16] = {0x6d, 0x71, 0x77, 0x73, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    char req[512], resp[512], key[MQWS_HS_KEY_SIZE];
    size_t req_len = 0, resp_len = 0;
    mqws_err r = mqws_hs_client_request(&ccfg, nonce, req, sizeof req, &req_len, key);
    check(r == MQWS_OK, "client builds the Upgrade request", "RFC6455-4.1");

    mqws_hs_server_config scfg = {"/mqtt", {0}};
    mqws_hs_server_result res;
    r = server_handshake(req, req_len, &scfg, &res, resp, sizeof resp, &resp_len);
    check(r == MQWS_OK && res.status == 101, "server parses it byte by byte and answers 101",
          "RFC6455-4.2.2");
    check(mqws_str_eq(res.subprotocol, "mqtt"), "server selects the 'mqtt' subprotocol",
          "MQTT-6.0.0-4");

    mqws_hs_response parsed;
    memset(&parsed, 0, sizeof parsed);
    size_t head = 0;
    mqws_str selected = {0};
    r = mqws_hs_parse_response(&parsed, resp, resp_len, &head);
    if (r == MQWS_OK)
        r = mqws_hs_client_verify(&parsed, &ccfg, key, &selected);
    check(r == MQWS_OK && mqws_str_eq(selected, "mqtt"),
          "client verifies Sec-WebSocket-Accept and the subprotocol", "RFC6455-4.1");

    /* A legacy client offering only mqttv3.1: refused by the strict policy. */
    const char *legacy_offer[] = {"mqttv3.1"};
    mqws_hs_client_config lcfg = {"broker.test", "/mqtt", NULL, legacy_offer, 1};
    mqws_hs_client_request(&lcfg, nonce, req, sizeof req, &req_len, key);
    server_handshake(req, req_len, &scfg, &res, resp, sizeof resp, &resp_len);
    check(res.status == 400 && res.err == MQWS_ERR_HS_SUBPROTOCOL,
          "strict server refuses a client that offers only 'mqttv3.1'", "MQTT-6.0.0-3");
    scfg.subprotocol.accept_legacy = true;
    server_handshake(req, req_len, &scfg, &res, resp, sizeof resp, &resp_len);
    check(res.status == 101 && res.non_strict && mqws_str_eq(res.subprotocol, "mqttv3.1"),
          "the legacy policy accepts it and flags the result non-strict", "MQTT-6.0.0-4");
}

/* --------------------------------------------------------------- data path */

static size_t encode(const mqws_packet *p, uint8_t *out, size_t cap)
{
    size_t n = 0;
    mqws_err r = mqws_mqtt_encode(p, MQWS_MQTT_V5, out, cap, &n);
    return r == MQWS_OK ? n : 0;
}

/* The client's MQTT bytes: CONNECT, SUBSCRIBE, PUBLISH QoS 1, PINGREQ. */
static size_t client_packets(uint8_t *out, size_t cap)
{
    static uint8_t props[64], subs[64];
    size_t pos = 0;

    mqws_props_builder b = {props, sizeof props, 0, MQWS_OK};
    mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, 300);
    mqws_props_add_pair(&b, MQWS_PROP_USER_PROPERTY, mqws_str_c("agent"), mqws_str_c("demo"));
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_CONNECT;
    p.props = mqws_props_from_builder(&b);
    p.connect.protocol_name = mqws_str_c("MQTT");
    p.connect.level = MQWS_MQTT_V5;
    p.connect.clean_start = true;
    p.connect.keep_alive = 30;
    p.connect.client_id = mqws_str_c("browser-1");
    pos += encode(&p, out + pos, cap - pos);

    size_t subs_len = 0;
    mqws_list_append_sub(subs, sizeof subs, &subs_len, mqws_str_c("sensors/+/temp"), true, 1);
    memset(&p, 0, sizeof p);
    p.type = MQWS_SUBSCRIBE;
    p.packet_id = 1;
    p.list.raw = subs;
    p.list.raw_len = subs_len;
    p.list.count = 1;
    pos += encode(&p, out + pos, cap - pos);

    memset(&p, 0, sizeof p);
    p.type = MQWS_PUBLISH;
    p.packet_id = 2;
    p.publish.qos = 1;
    p.publish.topic = mqws_str_c("sensors/kitchen/temp");
    p.publish.payload.ptr = (const uint8_t *)"21.5";
    p.publish.payload.len = 4;
    pos += encode(&p, out + pos, cap - pos);

    memset(&p, 0, sizeof p);
    p.type = MQWS_PINGREQ;
    pos += encode(&p, out + pos, cap - pos);
    return pos;
}

/*
 * Frames the MQTT bytes the way no broker may assume they are not
 * (MQTT-6.0.0-2): one fragmented binary message of 7-byte frames, with a ping
 * between two fragments, every frame masked as a client must (RFC 6455 5.3).
 */
static size_t frame_misaligned(const uint8_t *mqtt, size_t len, uint8_t *out, size_t cap)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t pos = 0, n = 0;
    for (size_t off = 0; off < len; off += 7) {
        size_t chunk = len - off < 7 ? len - off : 7;
        mqws_ws_opcode op = off == 0 ? MQWS_WS_BINARY : MQWS_WS_CONTINUATION;
        mqws_ws_encode_frame(out + pos, cap - pos, &n, op, off + chunk == len, mqtt + off, chunk,
                             mask);
        pos += n;
        if (off == 14) {
            mqws_ws_encode_frame(out + pos, cap - pos, &n, MQWS_WS_PING, true,
                                 (const uint8_t *)"hb", 2, mask);
            pos += n;
        }
    }
    return pos;
}

static void demo_data_path(void)
{
    printf("2. MQTT 5.0 packets across misaligned, fragmented, masked frames\n");
    uint8_t mqtt[512], wire[2048], pkt_buf[1024];
    size_t mqtt_len = client_packets(mqtt, sizeof mqtt);
    size_t wire_len = frame_misaligned(mqtt, mqtt_len, wire, sizeof wire);
    printf("     %zu MQTT bytes in %zu WebSocket bytes, read in 5-byte pieces\n", mqtt_len,
           wire_len);

    mqws_stream s;
    mqws_stream_init(&s, MQWS_ROLE_SERVER, pkt_buf, sizeof pkt_buf, 0);
    int packets = 0, pings = 0, decoded_ok = 0;
    mqws_err last = MQWS_OK;
    for (size_t off = 0; off < wire_len; off += 5) {
        uint8_t *in = wire + off;
        size_t left = wire_len - off < 5 ? wire_len - off : 5;
        for (;;) {
            size_t used = 0;
            mqws_stream_event ev;
            last = mqws_stream_feed(&s, in, left, &used, &ev);
            in += used;
            left -= used;
            if (last != MQWS_OK)
                break;
            if (ev.type == MQWS_STREAM_PING) {
                pings++;
                continue;
            }
            if (ev.type != MQWS_STREAM_PACKET)
                continue;
            packets++;
            mqws_packet p;
            size_t consumed = 0, bad = 0;
            mqws_err r = mqws_mqtt_decode(ev.data.ptr, ev.data.len, MQWS_MQTT_V5, NULL, &p,
                                          &consumed, &bad);
            decoded_ok += r == MQWS_OK;
            printf("     server got %-10s (%zu bytes)%s\n", mqws_packet_type_name(p.type),
                   ev.data.len, r == MQWS_OK ? "" : " -- decode error");
        }
        if (last != MQWS_NEED_MORE)
            break;
    }
    check(last == MQWS_NEED_MORE && packets == 4 && decoded_ok == 4,
          "server reassembles and decodes all 4 packets", "MQTT-6.0.0-2");
    check(pings == 1, "ping between fragments is delivered", "RFC6455-5.4");

    /* A text frame carrying MQTT: the receiver must close (1003). */
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t text[32];
    size_t n = 0;
    mqws_ws_encode_frame(text, sizeof text, &n, MQWS_WS_TEXT, true, (const uint8_t *)"\xc0\x00",
                         2, mask);
    mqws_stream_init(&s, MQWS_ROLE_SERVER, pkt_buf, sizeof pkt_buf, 0);
    size_t used = 0;
    mqws_stream_event ev;
    mqws_err r = mqws_stream_feed(&s, text, n, &used, &ev);
    check(r == MQWS_ERR_STREAM_TEXT_FRAME && mqws_err_ws_close_code(r) == 1003,
          "a text frame is refused with close code 1003", mqws_err_ref(r));
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\nRuns an in-memory MQTT over WebSocket session on libmqws %s and\n"
               "prints a report; exit status 1 when a check fails.\n",
               argv[0], MQWS_VERSION_STRING);
        return 0;
    }
    printf("mqws demo (libmqws %s)\n", MQWS_VERSION_STRING);
    demo_handshake();
    demo_data_path();
    printf("demo: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
