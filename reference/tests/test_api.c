/*
 * test_api.c - unit tests of the non-MQTT public API: error.h, common.h,
 * handshake.h, ws.h, stream.h. The last test checks that every documented
 * error of the HS_, WS_, STREAM_ and MQTT_ families can occur: each is the
 * expected error of at least one vector (vectors/) or is produced by a test here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqws/mqws.h"
#include "vectors.h"

/* Errors the tests below have seen returned by the library. */
static bool g_hit[MQWS_ERR_COUNT_];

static mqws_err hit(mqws_err e)
{
    if ((unsigned)e < (unsigned)MQWS_ERR_COUNT_)
        g_hit[e] = true;
    return e;
}

#define assert_err(expr, want)                                                                    \
    do {                                                                                          \
        mqws_err r_ = hit(expr);                                                                  \
        if (r_ != (want))                                                                         \
            fail_msg("%s:%d: %s\n  returned %s, expected %s", __FILE__, __LINE__, #expr,          \
                     mqws_err_name(r_), mqws_err_name(want));                                     \
    } while (0)

#define assert_bytes(got, got_len, want, want_len)                                                \
    do {                                                                                          \
        size_t gl_ = (got_len), wl_ = (want_len);                                                 \
        if (gl_ != wl_ || (wl_ && memcmp((got), (want), wl_) != 0)) {                             \
            char *g_ = vec_tohex((const uint8_t *)(got), gl_ > 64 ? 64 : gl_);                    \
            char *w_ = vec_tohex((const uint8_t *)(want), wl_ > 64 ? 64 : wl_);                   \
            fail_msg("%s:%d: bytes differ\n  got  %s (%zu)\n  want %s (%zu)", __FILE__, __LINE__, \
                     g_, gl_, w_, wl_);                                                           \
        }                                                                                         \
    } while (0)

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ================================================================ error.h */

static void test_err_names(void **state)
{
    (void)state;
    for (int i = 0; i < (int)MQWS_ERR_COUNT_; i++) {
        mqws_err e = (mqws_err)i;
        const char *name = mqws_err_name(e);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_string_not_equal(name, "UNKNOWN");
        for (const char *p = name; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
                fail_msg("error %d has name \"%s\": not [A-Z0-9_]", i, name);
        const char *text = mqws_strerror(e);
        assert_non_null(text);
        if (strlen(text) == 0)
            fail_msg("%s has no text", name);
        if (mqws_err_from_name(name) != e)
            fail_msg("mqws_err_from_name(\"%s\") = %d, expected %d", name,
                     mqws_err_from_name(name), i);
        assert_non_null(mqws_err_ref(e));
    }
    assert_int_equal(MQWS_OK, 0);
    assert_int_equal(MQWS_NEED_MORE, 1);
    assert_string_equal(mqws_err_name(MQWS_ERR_COUNT_), "UNKNOWN");
    assert_string_equal(mqws_err_name((mqws_err)-1), "UNKNOWN");
    assert_non_null(mqws_strerror(MQWS_ERR_COUNT_));
    assert_string_equal(mqws_err_ref(MQWS_ERR_COUNT_), "");
    assert_int_equal(mqws_err_from_name("NO_SUCH_ERROR"), MQWS_ERR_COUNT_);
    assert_int_equal(mqws_err_from_name(""), MQWS_ERR_COUNT_);
    assert_int_equal(mqws_err_from_name(NULL), MQWS_ERR_COUNT_);
    assert_int_equal(mqws_err_from_name("ws_rsv"), MQWS_ERR_COUNT_); /* names are exact */
    assert_int_equal(mqws_err_from_name("WS_RSV"), MQWS_ERR_WS_RSV);
    assert_int_equal(mqws_err_from_name("MQWS_ERR_WS_RSV"), MQWS_ERR_COUNT_);
    assert_int_equal(mqws_err_http_status(MQWS_ERR_COUNT_), 0);
    assert_int_equal(mqws_err_ws_close_code(MQWS_ERR_COUNT_), 0);
    assert_int_equal(mqws_err_mqtt_reason(MQWS_ERR_COUNT_, 5), 0);
}

/* ^(RFC\d+|MQTT)- */
static bool ref_well_formed(const char *ref)
{
    if (starts_with(ref, "MQTT-"))
        return ref[5] != 0;
    if (!starts_with(ref, "RFC"))
        return false;
    const char *p = ref + 3;
    if (!(*p >= '0' && *p <= '9'))
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '-' && p[1] != 0;
}

static void test_err_refs_and_reactions(void **state)
{
    (void)state;
    for (int i = 0; i < (int)MQWS_ERR_COUNT_; i++) {
        mqws_err e = (mqws_err)i;
        const char *name = mqws_err_name(e), *ref = mqws_err_ref(e);
        if (*ref && !ref_well_formed(ref))
            fail_msg("%s: ref \"%s\" does not match ^(RFC\\d+|MQTT)-", name, ref);
        bool family = starts_with(name, "HS_") || starts_with(name, "WS_") ||
                      starts_with(name, "STREAM_") || starts_with(name, "MQTT_");
        if (family && !*ref)
            fail_msg("%s: protocol error without a requirement id", name);
        int http = mqws_err_http_status(e);
        if (http != 0 && http != 400 && http != 404 && http != 426 && http != 431 && http != 500)
            fail_msg("%s: HTTP status %d", name, http);
        if (starts_with(name, "HS_") && http == 0 && !starts_with(name, "HS_STATUS") &&
            !starts_with(name, "HS_ACCEPT") && !starts_with(name, "HS_SUBPROTOCOL_") &&
            !starts_with(name, "HS_EXTENSION_"))
            fail_msg("%s: server-side handshake error without an HTTP status", name);
        uint16_t cc = mqws_err_ws_close_code(e);
        if (cc && (!mqws_ws_close_code_valid(cc) || cc < 1000 || cc > 1015))
            fail_msg("%s: close code %u is not a valid protocol close code", name, cc);
        if (starts_with(name, "WS_") && cc == 0)
            fail_msg("%s: WebSocket error without a close code", name);
        uint8_t rc5 = mqws_err_mqtt_reason(e, 5), rc4 = mqws_err_mqtt_reason(e, 4);
        if (starts_with(name, "MQTT_") && rc5 < 0x80)
            fail_msg("%s: MQTT 5 reason 0x%02x is not an error code", name, rc5);
        if (rc4 > 0x05)
            fail_msg("%s: MQTT 3.1.1 return code 0x%02x out of range", name, rc4);
    }
    assert_int_equal(mqws_err_http_status(MQWS_ERR_HS_VERSION), 426);
    assert_int_equal(mqws_err_http_status(MQWS_ERR_HS_PATH), 404);
    assert_int_equal(mqws_err_http_status(MQWS_ERR_HS_TOO_LARGE), 431);
    assert_int_equal(mqws_err_ws_close_code(MQWS_ERR_WS_CLOSE_UTF8), 1007);
    assert_int_equal(mqws_err_ws_close_code(MQWS_ERR_WS_TOO_BIG), 1009);
    assert_int_equal(mqws_err_ws_close_code(MQWS_ERR_STREAM_TEXT_FRAME), 1003);
    assert_int_equal(mqws_err_mqtt_reason(MQWS_ERR_MQTT_PROTOCOL_LEVEL, 4), 0x01);
    assert_int_equal(mqws_err_mqtt_reason(MQWS_ERR_MQTT_PROTOCOL_LEVEL, 5), 0x84);
    assert_int_equal(mqws_err_mqtt_reason(MQWS_ERR_MQTT_QOS, 4), 0x00);
    assert_int_equal(mqws_err_mqtt_reason(MQWS_ERR_MQTT_QOS, 5), 0x81);
    assert_int_equal(mqws_err_mqtt_reason(MQWS_ERR_MQTT_TOO_LARGE, 5), 0x95);
}

/* ================================================================ common.h */

typedef struct utf8_case {
    const char *hex;
    bool allow_nul;
    mqws_err want;
    size_t offset; /* checked when want != OK */
} utf8_case;

static void test_utf8_validate(void **state)
{
    (void)state;
    static const utf8_case cases[] = {
        {"", false, MQWS_OK, 0},
        {"61", false, MQWS_OK, 0},
        {"68656c6c6f20776f726c6421", false, MQWS_OK, 0},
        {"c2a9", false, MQWS_OK, 0},                 /* U+00A9 */
        {"dfbf", false, MQWS_OK, 0},                 /* U+07FF */
        {"e0a080", false, MQWS_OK, 0},               /* U+0800 */
        {"ed9fbf", false, MQWS_OK, 0},               /* U+D7FF */
        {"ee8080", false, MQWS_OK, 0},               /* U+E000 */
        {"efbfbf", false, MQWS_OK, 0},               /* U+FFFF */
        {"f0908080", false, MQWS_OK, 0},             /* U+10000 */
        {"f48fbfbf", false, MQWS_OK, 0},             /* U+10FFFF */
        {"e282ac", false, MQWS_OK, 0},               /* EURO SIGN */
        {"41f09f9880", false, MQWS_OK, 0},           /* A + emoji */
        {"00", true, MQWS_OK, 0},
        {"00", false, MQWS_ERR_MQTT_UTF8_NUL, 0},
        {"616100", false, MQWS_ERR_MQTT_UTF8_NUL, 2},
        {"6161616161616161616100", false, MQWS_ERR_MQTT_UTF8_NUL, 10}, /* past the 8-byte path */
        {"61616161616100616161616161", false, MQWS_ERR_MQTT_UTF8_NUL, 6},
        {"61616161616100616161616161", true, MQWS_OK, 0},
        {"80", false, MQWS_ERR_MQTT_UTF8, 0},        /* lone continuation */
        {"bf", false, MQWS_ERR_MQTT_UTF8, 0},
        {"c080", false, MQWS_ERR_MQTT_UTF8, 0},      /* overlong NUL */
        {"c0af", false, MQWS_ERR_MQTT_UTF8, 0},      /* overlong '/' */
        {"c1bf", false, MQWS_ERR_MQTT_UTF8, 0},
        {"e080af", false, MQWS_ERR_MQTT_UTF8, 1},    /* overlong 3-byte */
        {"e09fbf", false, MQWS_ERR_MQTT_UTF8, 1},
        {"f08fbfbf", false, MQWS_ERR_MQTT_UTF8, 1},  /* overlong 4-byte */
        {"eda080", false, MQWS_ERR_MQTT_UTF8, 1},    /* U+D800 surrogate */
        {"edbfbf", false, MQWS_ERR_MQTT_UTF8, 1},    /* U+DFFF surrogate */
        {"f4908080", false, MQWS_ERR_MQTT_UTF8, 1},  /* U+110000 */
        {"f5808080", false, MQWS_ERR_MQTT_UTF8, 0},
        {"fe", false, MQWS_ERR_MQTT_UTF8, 0},
        {"ff", false, MQWS_ERR_MQTT_UTF8, 0},
        {"c2", false, MQWS_ERR_MQTT_UTF8, 0},        /* truncated at the end */
        {"e282", false, MQWS_ERR_MQTT_UTF8, 0},
        {"f09f98", false, MQWS_ERR_MQTT_UTF8, 0},
        {"c241", false, MQWS_ERR_MQTT_UTF8, 1},      /* continuation missing */
        {"e241ac", false, MQWS_ERR_MQTT_UTF8, 1},
        {"6162636465666768c3", false, MQWS_ERR_MQTT_UTF8, 8},
        {"616263646566676880", false, MQWS_ERR_MQTT_UTF8, 8},
    };
    guard_buf g = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *raw = vec_hex(cases[i].hex, &n);
        assert_non_null(raw);
        const uint8_t *p = guard_put(&g, raw, n);
        size_t off = (size_t)-1;
        mqws_err r = mqws_utf8_validate(p, n, cases[i].allow_nul, &off);
        if (r != cases[i].want)
            fail_msg("utf8 \"%s\" (allow_nul %d): %s, expected %s", cases[i].hex,
                     cases[i].allow_nul, mqws_err_name(r), mqws_err_name(cases[i].want));
        if (r != MQWS_OK && off != cases[i].offset)
            fail_msg("utf8 \"%s\": offset %zu, expected %zu", cases[i].hex, off, cases[i].offset);
        hit(r);
        assert_int_equal(mqws_utf8_validate(p, n, cases[i].allow_nul, NULL), cases[i].want);
        tu_free(raw);
    }
    guard_free(&g);
}

static void test_str_helpers(void **state)
{
    (void)state;
    mqws_str s = mqws_str_c("Upgrade");
    assert_int_equal(s.len, 7);
    assert_true(mqws_str_eq(s, "Upgrade"));
    assert_false(mqws_str_eq(s, "upgrade"));
    assert_true(mqws_str_ieq(s, "uPGRADE"));
    assert_false(mqws_str_ieq(s, "Upgrad"));
    mqws_str empty = mqws_str_c(NULL);
    assert_int_equal(empty.len, 0);
    assert_true(mqws_str_eq(empty, ""));
    assert_true(mqws_str_ieq(empty, ""));
}

/* ================================================================ handshake.h */

static const uint8_t k_rfc_nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                        'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static const char k_request[] = "GET /mqtt HTTP/1.1\r\n"
                                "Host: broker.example\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: " RFC_KEY "\r\n"
                                "Sec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Protocol: mqtt\r\n"
                                "\r\n";

static void parse_req_text(mqws_hs_request *req, guard_buf *g, const char *text, mqws_err want)
{
    memset(req, 0, sizeof *req);
    size_t n = strlen(text), head_len = 0;
    const char *p = (const char *)guard_put(g, text, n);
    assert_err(mqws_hs_parse_request(req, p, n, &head_len), want);
    if (want == MQWS_OK)
        assert_int_equal(head_len, n);
}

static void test_hs_accept_key(void **state)
{
    (void)state;
    char acc[MQWS_HS_ACCEPT_SIZE];
    assert_err(mqws_hs_accept_key(RFC_KEY, strlen(RFC_KEY), acc), MQWS_OK);
    assert_string_equal(acc, RFC_ACCEPT);
    assert_true(mqws_hs_key_valid(mqws_str_c(RFC_KEY)));
    assert_false(mqws_hs_key_valid(mqws_str_c("dGhlIHNhbXBsZSBub25jZQ=")));
    assert_false(mqws_hs_key_valid(mqws_str_c("")));
    assert_err(mqws_hs_accept_key(NULL, 24, acc), MQWS_ERR_ARG);
}

static void test_hs_write_response_size(void **state)
{
    (void)state;
    guard_buf g = {0}, go = {0};
    mqws_hs_request req;
    parse_req_text(&req, &g, k_request, MQWS_OK);
    mqws_hs_server_config cfg = {"/mqtt", {false, false, false, false}};
    mqws_hs_server_result res;
    memset(&res, 0, sizeof res);
    assert_err(mqws_hs_server_accept(&req, &cfg, &res), MQWS_OK);
    assert_int_equal(res.status, 101);
    assert_string_equal(res.accept, RFC_ACCEPT);
    assert_true(mqws_str_eq(res.subprotocol, "mqtt"));
    assert_false(res.non_strict);

    mqws_hs_server_result refusal;
    memset(&refusal, 0, sizeof refusal);
    refusal.err = MQWS_ERR_HS_VERSION;
    refusal.status = 426;
    const mqws_hs_server_result *results[] = {&res, &refusal};
    for (size_t k = 0; k < 2; k++) {
        size_t need = 0;
        assert_err(mqws_hs_write_response(results[k], (char *)guard_reserve(&go, 0), 0, &need),
                   MQWS_ERR_BUFFER_TOO_SMALL);
        assert_true(need > 20);
        for (size_t cap = 1; cap < need; cap += (cap < 40 ? 1 : 13)) {
            size_t w = 0;
            /* exact-size output right before a guard page: no write past cap */
            assert_err(mqws_hs_write_response(results[k], (char *)guard_reserve(&go, cap), cap, &w),
                       MQWS_ERR_BUFFER_TOO_SMALL);
            assert_int_equal(w, need);
        }
        char *out = (char *)guard_reserve(&go, need);
        size_t w = 0;
        assert_err(mqws_hs_write_response(results[k], out, need, &w), MQWS_OK);
        assert_true(w <= need && w + 1 >= need); /* the size may count a NUL */
        mqws_hs_response resp;
        memset(&resp, 0, sizeof resp);
        size_t hl = 0;
        assert_err(mqws_hs_parse_response(&resp, out, w, &hl), MQWS_OK);
        assert_int_equal(resp.status, results[k]->status);
        if (k == 1) {
            const mqws_http_header *v = mqws_http_find(&resp, "sec-websocket-version");
            assert_non_null(v);
            assert_true(mqws_str_eq(v->value, "13"));
            size_t cur = 0;
            mqws_str tok;
            bool close = false;
            while (mqws_http_next_token(&resp, "Connection", &cur, &tok))
                close |= mqws_str_ieq(tok, "close");
            assert_true(close);
        }
    }
    guard_free(&g);
    guard_free(&go);
}

static void test_hs_client_request_roundtrip(void **state)
{
    (void)state;
    static const char *const protos[] = {"mqtt"};
    mqws_hs_client_config cc = {"broker.example:8080", "/mqtt", "https://app.example", protos, 1};
    char key[MQWS_HS_KEY_SIZE];
    size_t need = 0;
    char tiny[1];
    assert_err(mqws_hs_client_request(&cc, k_rfc_nonce, tiny, 0, &need, key),
               MQWS_ERR_BUFFER_TOO_SMALL);
    assert_true(need > 100);
    guard_buf go = {0};
    size_t w = 0;
    assert_err(mqws_hs_client_request(&cc, k_rfc_nonce, (char *)guard_reserve(&go, need - 1),
                                      need - 1, &w, key),
               MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(w, need);
    char *out = (char *)guard_reserve(&go, need);
    assert_err(mqws_hs_client_request(&cc, k_rfc_nonce, out, need, &w, key), MQWS_OK);
    assert_true(w <= need && w + 1 >= need); /* the size may count a NUL */
    assert_string_equal(key, RFC_KEY);

    mqws_hs_request req;
    memset(&req, 0, sizeof req);
    size_t hl = 0;
    assert_err(mqws_hs_parse_request(&req, out, w, &hl), MQWS_OK);
    assert_int_equal(hl, w);
    assert_true(mqws_str_eq(req.method, "GET"));
    assert_true(mqws_str_eq(req.target, "/mqtt"));
    assert_int_equal(req.http_major, 1);
    assert_int_equal(req.http_minor, 1);
    const mqws_http_header *h = mqws_http_find(&req, "HOST");
    assert_non_null(h);
    assert_true(mqws_str_eq(h->value, "broker.example:8080"));
    h = mqws_http_find(&req, "origin");
    assert_non_null(h);
    assert_true(mqws_str_eq(h->value, "https://app.example"));
    h = mqws_http_find(&req, "Sec-WebSocket-Key");
    assert_non_null(h);
    assert_true(mqws_str_eq(h->value, RFC_KEY));

    mqws_hs_server_config cfg = {"/mqtt", {false, false, false, false}};
    mqws_hs_server_result res;
    memset(&res, 0, sizeof res);
    assert_err(mqws_hs_server_accept(&req, &cfg, &res), MQWS_OK);
    assert_string_equal(res.accept, RFC_ACCEPT);
    assert_true(mqws_str_eq(res.subprotocol, "mqtt"));

    char resp_buf[512];
    size_t rl = 0;
    assert_err(mqws_hs_write_response(&res, resp_buf, sizeof resp_buf, &rl), MQWS_OK);
    mqws_hs_response resp;
    memset(&resp, 0, sizeof resp);
    assert_err(mqws_hs_parse_response(&resp, resp_buf, rl, &hl), MQWS_OK);
    assert_int_equal(resp.status, 101);
    mqws_str sel = {0};
    assert_err(mqws_hs_client_verify(&resp, &cc, key, &sel), MQWS_OK);
    assert_true(mqws_str_eq(sel, "mqtt"));
    assert_err(mqws_hs_client_verify(&resp, &cc, key, NULL), MQWS_OK);
    /* a different nonce: the accept no longer matches */
    assert_err(mqws_hs_client_verify(&resp, &cc, "AAAAAAAAAAAAAAAAAAAAAA==", &sel),
               MQWS_ERR_HS_ACCEPT);
    /* the same server refusing a different path */
    mqws_hs_server_config other = {"/other", {false, false, false, false}};
    assert_err(mqws_hs_server_accept(&req, &other, &res), MQWS_ERR_HS_PATH);
    assert_int_equal(res.status, 404);
    guard_free(&go);
}

static void test_hs_client_request_rejects_injection(void **state)
{
    (void)state;
    static const char *const ok_protos[] = {"mqtt"};
    static const char *const bad_protos[][1] = {{"mq\r\ntt"}, {"mq tt"}, {"a,b"}, {""},
                                                {"mqtt\n"}, {"x\"y"}};
    char out[1024], key[MQWS_HS_KEY_SIZE];
    size_t w;
    struct {
        const char *host, *path, *origin;
    } bad[] = {
        {"broker\r\nX-Evil: 1", "/mqtt", NULL}, {"broker\n", "/mqtt", NULL},
        {"broker\r", "/mqtt", NULL},            {"broker", "/mqtt\r\nX-Evil: 1", NULL},
        {"broker", "/mq\ntt", NULL},            {"broker", "/mqtt", "https://o\r\nX: y"},
        {"broker", "/mqtt", "o\n"},             {NULL, "/mqtt", NULL},
        {"broker", NULL, NULL},
        /* what the server side refuses (RFC7230-5.3, RFC7230-5.4): the writer refuses too */
        {"broker", "/mqtt#f", NULL},            {"broker", "mqtt", NULL},
        {"broker", "/a%zz", NULL},              {"[o]", "/mqtt", NULL},
        {"a%zz", "/mqtt", NULL},                {"", "/mqtt", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mqws_hs_client_config cc = {bad[i].host, bad[i].path, bad[i].origin, ok_protos, 1};
        mqws_err r = hit(mqws_hs_client_request(&cc, k_rfc_nonce, out, sizeof out, &w, key));
        if (r != MQWS_ERR_ARG)
            fail_msg("client_request host=%s path=%s origin=%s: %s, expected ARG",
                     bad[i].host ? bad[i].host : "(null)", bad[i].path ? bad[i].path : "(null)",
                     bad[i].origin ? bad[i].origin : "(null)", mqws_err_name(r));
    }
    for (size_t i = 0; i < sizeof bad_protos / sizeof bad_protos[0]; i++) {
        mqws_hs_client_config cc = {"broker", "/mqtt", NULL, bad_protos[i], 1};
        mqws_err r = hit(mqws_hs_client_request(&cc, k_rfc_nonce, out, sizeof out, &w, key));
        if (r != MQWS_ERR_ARG)
            fail_msg("client_request with subprotocol \"%s\": %s, expected ARG", bad_protos[i][0],
                     mqws_err_name(r));
    }
    /* a query, an absolute http URI and an IPv6 Host are fine */
    mqws_hs_client_config uri = {"[::1]:8080", "http://[::1]:8080/mqtt?x=1", NULL, ok_protos, 1};
    assert_err(mqws_hs_client_request(&uri, k_rfc_nonce, out, sizeof out, &w, key), MQWS_OK);
    /* no subprotocol at all is allowed (the server may then refuse) */
    mqws_hs_client_config none = {"broker", "/", NULL, NULL, 0};
    assert_err(mqws_hs_client_request(&none, k_rfc_nonce, out, sizeof out, &w, key), MQWS_OK);
    out[w < sizeof out ? w : sizeof out - 1] = 0;
    assert_null(strstr(out, "Sec-WebSocket-Protocol"));
}

static void test_http_next_token(void **state)
{
    (void)state;
    static const char text[] = "GET / HTTP/1.1\r\n"
                               "Host: h\r\n"
                               "Sec-WebSocket-Protocol: a, b\r\n"
                               "X-Other: q, r\r\n"
                               "sec-websocket-protocol: ,c ,, d \r\n"
                               "Sec-WebSocket-Protocol:\r\n"
                               "SEC-WEBSOCKET-PROTOCOL: e\t,\tf,g\r\n"
                               "Connection: keep-alive, Upgrade\r\n"
                               "\r\n";
    guard_buf g = {0};
    mqws_hs_request req;
    parse_req_text(&req, &g, text, MQWS_OK);
    const char *want[] = {"a", "b", "c", "d", "e", "f", "g"};
    size_t cursor = 0, i = 0;
    mqws_str tok;
    while (mqws_http_next_token(&req, "Sec-WebSocket-Protocol", &cursor, &tok)) {
        if (i >= 7)
            fail_msg("extra token \"%.*s\"", (int)tok.len, tok.ptr);
        if (!mqws_str_eq(tok, want[i]))
            fail_msg("token %zu: \"%.*s\", expected \"%s\"", i, (int)tok.len, tok.ptr, want[i]);
        i++;
    }
    assert_int_equal(i, 7);
    assert_false(mqws_http_next_token(&req, "Sec-WebSocket-Protocol", &cursor, &tok));
    cursor = 0;
    assert_false(mqws_http_next_token(&req, "Absent", &cursor, &tok));
    cursor = 0;
    assert_true(mqws_http_next_token(&req, "connection", &cursor, &tok));
    assert_true(mqws_str_eq(tok, "keep-alive"));
    assert_true(mqws_http_next_token(&req, "connection", &cursor, &tok));
    assert_true(mqws_str_eq(tok, "Upgrade"));
    assert_false(mqws_http_next_token(&req, "connection", &cursor, &tok));
    const mqws_http_header *h = mqws_http_find(&req, "x-other");
    assert_non_null(h);
    assert_true(mqws_str_eq(h->value, "q, r"));
    assert_null(mqws_http_find(&req, "X-Missing"));
    guard_free(&g);
}

/*
 * The picohttpparser contract: one buffer that grows in place, the same parser
 * state, one call per arriving byte. The resumed scan must give the result of a
 * one-shot parse, and nothing but the last call may complete.
 */
static void test_hs_parse_resumes_on_same_buffer(void **state)
{
    (void)state;
    static const char req[] = "GET /mqtt?x=1 HTTP/1.1\r\n"
                              "Host: broker.test:8080\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: keep-alive, Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n"
                              "\r\n";
    char buf[sizeof req];
    mqws_hs_request drip, whole;
    memset(&drip, 0, sizeof drip);
    memset(&whole, 0, sizeof whole);
    size_t head = 0, head_whole = 0;
    assert_int_equal(mqws_hs_parse_request(&whole, req, sizeof req - 1, &head_whole), MQWS_OK);
    for (size_t n = 1; n < sizeof req; n++) {
        buf[n - 1] = req[n - 1];
        mqws_err r = mqws_hs_parse_request(&drip, buf, n, &head);
        assert_int_equal(r, n == sizeof req - 1 ? MQWS_OK : MQWS_NEED_MORE);
    }
    assert_int_equal(head, head_whole);
    assert_int_equal(drip.num_headers, whole.num_headers);
    mqws_hs_server_result a, b;
    mqws_hs_server_config cfg = {"/mqtt", {0}};
    assert_int_equal(mqws_hs_server_accept(&drip, &cfg, &a), MQWS_OK);
    assert_int_equal(mqws_hs_server_accept(&whole, &cfg, &b), MQWS_OK);
    assert_string_equal(a.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_true(mqws_str_eq(a.subprotocol, "mqtt"));
    assert_string_equal(a.accept, b.accept);
}

static void test_hs_limits(void **state)
{
    (void)state;
    guard_buf g = {0};
    /* max_bytes: the head does not fit */
    mqws_hs_request req;
    memset(&req, 0, sizeof req);
    req.max_bytes = 64;
    size_t n = strlen(k_request), hl;
    const char *p = (const char *)guard_put(&g, k_request, n);
    assert_err(mqws_hs_parse_request(&req, p, n, &hl), MQWS_ERR_HS_TOO_LARGE);
    assert_int_equal(mqws_err_http_status(MQWS_ERR_HS_TOO_LARGE), 431);
    /* ... also when the bytes arrive one at a time and no end is in sight */
    memset(&req, 0, sizeof req);
    req.max_bytes = 64;
    mqws_err r = MQWS_NEED_MORE;
    for (size_t k = 1; k <= n && r == MQWS_NEED_MORE; k++)
        r = hit(mqws_hs_parse_request(&req, p, k, &hl));
    assert_int_equal(r, MQWS_ERR_HS_TOO_LARGE);

    /* the default limit */
    size_t big_len = MQWS_HS_DEFAULT_MAX_BYTES + 100;
    char *big = tu_malloc(big_len + 1);
    memset(big, 'a', big_len);
    memcpy(big, "GET / HTTP/1.1\r\nX-Pad: ", 23);
    memset(&req, 0, sizeof req);
    assert_err(mqws_hs_parse_request(&req, big, big_len, &hl), MQWS_ERR_HS_TOO_LARGE);
    tu_free(big);

    /* more header fields than MQWS_HS_MAX_HEADERS; exactly that many are fine */
    static const struct {
        unsigned fields;
        mqws_err want;
    } counts[] = {{MQWS_HS_MAX_HEADERS + 1, MQWS_ERR_HS_TOO_MANY_HEADERS},
                  {MQWS_HS_MAX_HEADERS, MQWS_OK}};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        tu_bytes t = {0};
        const char *line0 = "GET / HTTP/1.1\r\n";
        tu_bytes_append(&t, line0, strlen(line0));
        for (unsigned i = 0; i < counts[c].fields; i++) {
            char line[32];
            snprintf(line, sizeof line, "X-%u: v\r\n", i);
            tu_bytes_append(&t, line, strlen(line));
        }
        tu_bytes_append(&t, "\r\n", 2);
        memset(&req, 0, sizeof req);
        p = (const char *)guard_put(&g, t.p, t.len);
        assert_err(mqws_hs_parse_request(&req, p, t.len, &hl), counts[c].want);
        tu_bytes_free(&t);
    }
    assert_int_equal(mqws_err_http_status(MQWS_ERR_HS_TOO_MANY_HEADERS), 431);
    assert_int_equal(req.num_headers, MQWS_HS_MAX_HEADERS);
    guard_free(&g);
}

/* Client-side verification failures, one per documented code. */
static void test_hs_client_verify_errors(void **state)
{
    (void)state;
    static const char *const offer_mqtt[] = {"mqtt"};
    static const char *const offer_both[] = {"mqtt", "other"};
    static const struct {
        const char *text;
        const char *const *offered;
        size_t n;
        mqws_err want;
    } cases[] = {
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
         offer_mqtt, 1, MQWS_OK},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", offer_mqtt, 1, MQWS_ERR_HS_STATUS},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
         offer_mqtt, 1, MQWS_ERR_HS_UPGRADE},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
         offer_mqtt, 1, MQWS_ERR_HS_CONNECTION},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: x3JJHMbDL1EzLkh9GBhXDw7sr5Y=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
         offer_mqtt, 1, MQWS_ERR_HS_ACCEPT},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
         offer_mqtt, 1, MQWS_ERR_HS_SUBPROTOCOL_UNOFFERED},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Protocol: other\r\n\r\n",
         offer_both, 2, MQWS_ERR_HS_SUBPROTOCOL_NOT_MQTT},
    };
    guard_buf g = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mqws_hs_response resp;
        memset(&resp, 0, sizeof resp);
        size_t n = strlen(cases[i].text), hl = 0;
        const char *p = (const char *)guard_put(&g, cases[i].text, n);
        assert_err(mqws_hs_parse_response(&resp, p, n, &hl), MQWS_OK);
        mqws_hs_client_config cc = {"h", "/", NULL, cases[i].offered, cases[i].n};
        mqws_str sel = {0};
        mqws_err r = hit(mqws_hs_client_verify(&resp, &cc, RFC_KEY, &sel));
        if (r != cases[i].want)
            fail_msg("client_verify case %zu: %s, expected %s", i, mqws_err_name(r),
                     mqws_err_name(cases[i].want));
    }
    guard_free(&g);
}

/* ================================================================ ws.h */

static void test_ws_encode_header_forms(void **state)
{
    (void)state;
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    static const struct {
        mqws_ws_opcode op;
        bool fin;
        uint64_t len;
        bool masked;
        const char *hex;
    } cases[] = {
        {MQWS_WS_BINARY, true, 0, false, "8200"},
        {MQWS_WS_BINARY, true, 1, false, "8201"},
        {MQWS_WS_BINARY, true, 125, false, "827d"},
        {MQWS_WS_BINARY, true, 126, false, "827e007e"},
        {MQWS_WS_BINARY, true, 127, false, "827e007f"},
        {MQWS_WS_BINARY, true, 65535, false, "827effff"},
        {MQWS_WS_BINARY, true, 65536, false, "827f0000000000010000"},
        {MQWS_WS_BINARY, true, 0x7fffffffffffffffull, false, "827f7fffffffffffffff"},
        {MQWS_WS_TEXT, true, 5, true, "818537fa213d"},
        {MQWS_WS_TEXT, false, 3, false, "0103"},
        {MQWS_WS_CONTINUATION, true, 2, false, "8002"},
        {MQWS_WS_CONTINUATION, false, 126, true, "00fe007e37fa213d"},
        {MQWS_WS_BINARY, true, 65536, true, "82ff000000000001000037fa213d"},
        {MQWS_WS_PING, true, 125, false, "897d"},
        {MQWS_WS_PONG, true, 0, true, "8a8037fa213d"},
        {MQWS_WS_CLOSE, true, 2, false, "8802"},
    };
    guard_buf g = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t wl;
        uint8_t *want = vec_hex(cases[i].hex, &wl);
        const uint8_t *mask = cases[i].masked ? key : NULL;
        assert_int_equal(mqws_ws_header_size(cases[i].len, cases[i].masked), wl);
        size_t w = 0;
        uint8_t *out = guard_reserve(&g, wl);
        assert_err(mqws_ws_encode_header(out, wl, &w, cases[i].op, cases[i].fin, cases[i].len,
                                         mask),
                   MQWS_OK);
        assert_bytes(out, w, want, wl);
        /* one byte short: BUFFER_TOO_SMALL with the size */
        w = 0;
        assert_err(mqws_ws_encode_header(guard_reserve(&g, wl - 1), wl - 1, &w, cases[i].op,
                                         cases[i].fin, cases[i].len, mask),
                   MQWS_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(w, wl);
        tu_free(want);
    }
    guard_free(&g);

    uint8_t out[16];
    size_t w;
    assert_err(mqws_ws_encode_header(out, sizeof out, &w, MQWS_WS_PING, true, 126, NULL),
               MQWS_ERR_ARG);
    assert_err(mqws_ws_encode_header(out, sizeof out, &w, MQWS_WS_CLOSE, false, 2, NULL),
               MQWS_ERR_ARG);
    assert_err(mqws_ws_encode_header(out, sizeof out, &w, MQWS_WS_PONG, false, 0, NULL),
               MQWS_ERR_ARG);
    assert_err(mqws_ws_encode_header(out, sizeof out, &w, (mqws_ws_opcode)3, true, 0, NULL),
               MQWS_ERR_ARG);
    assert_err(mqws_ws_encode_header(out, sizeof out, &w, (mqws_ws_opcode)0xB, true, 0, NULL),
               MQWS_ERR_ARG);
    assert_err(mqws_ws_encode_header(out, sizeof out, &w, (mqws_ws_opcode)0x10, true, 0, NULL),
               MQWS_ERR_ARG);
    assert_err(mqws_ws_encode_header(out, sizeof out, &w, MQWS_WS_BINARY, true,
                                     0x8000000000000000ull, NULL),
               MQWS_ERR_ARG);
}

static void test_ws_encode_frame_rfc_examples(void **state)
{
    (void)state;
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t out[300];
    size_t w;
    /* RFC 6455 5.7 */
    static const struct {
        mqws_ws_opcode opcode;
        bool fin, masked;
        const char *payload, *want;
        size_t want_len;
    } rfc[] = {
        {MQWS_WS_TEXT, true, false, "Hello", "\x81\x05\x48\x65\x6c\x6c\x6f", 7},
        {MQWS_WS_TEXT, true, true, "Hello", "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11},
        {MQWS_WS_TEXT, false, false, "Hel", "\x01\x03\x48\x65\x6c", 5},
        {MQWS_WS_CONTINUATION, true, false, "lo", "\x80\x02\x6c\x6f", 4},
        {MQWS_WS_PING, true, false, "Hello", "\x89\x05\x48\x65\x6c\x6c\x6f", 7},
        {MQWS_WS_PONG, true, true, "Hello", "\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11},
    };
    for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
        assert_err(mqws_ws_encode_frame(out, sizeof out, &w, rfc[i].opcode, rfc[i].fin,
                                        (const uint8_t *)rfc[i].payload, strlen(rfc[i].payload),
                                        rfc[i].masked ? key : NULL),
                   MQWS_OK);
        assert_bytes(out, w, rfc[i].want, rfc[i].want_len);
    }
    uint8_t payload[256];
    memset(payload, 0x5a, sizeof payload);
    assert_err(mqws_ws_encode_frame(out, sizeof out, &w, MQWS_WS_BINARY, true, payload, 256, NULL),
               MQWS_OK);
    assert_int_equal(w, 260);
    assert_bytes(out, 4, "\x82\x7e\x01\x00", 4);
    assert_bytes(out + 4, 256, payload, 256);
    /* the caller's payload is not modified by masking */
    assert_err(mqws_ws_encode_frame(out, sizeof out, &w, MQWS_WS_BINARY, true, payload, 200, key),
               MQWS_OK);
    for (size_t i = 0; i < 256; i++)
        assert_int_equal(payload[i], 0x5a);
    assert_err(mqws_ws_encode_frame(out, 10, &w, MQWS_WS_BINARY, true, payload, 200, key),
               MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(w, 2 + 2 + 4 + 200);
}

/* Decodes one frame with a fresh decoder and returns its single event. */
static mqws_err decode_one(mqws_role role, uint8_t *buf, size_t len, mqws_ws_event *ev)
{
    mqws_ws_decoder d;
    mqws_ws_decoder_init(&d, role, 0);
    size_t used = 0;
    mqws_err r = mqws_ws_decode(&d, buf, len, &used, ev);
    if (r == MQWS_OK && used != len)
        fail_msg("decoder used %zu of %zu bytes", used, len);
    return r;
}

static void test_ws_encode_close(void **state)
{
    (void)state;
    static const uint8_t key[4] = {1, 2, 3, 4};
    uint8_t out[200];
    size_t w;
    assert_err(mqws_ws_encode_close(out, sizeof out, &w, 1000, "bye", 3, NULL), MQWS_OK);
    assert_bytes(out, w, "\x88\x05\x03\xe8\x62\x79\x65", 7);
    assert_err(mqws_ws_encode_close(out, sizeof out, &w, 0, NULL, 0, NULL), MQWS_OK);
    assert_bytes(out, w, "\x88\x00", 2);
    assert_err(mqws_ws_encode_close(out, sizeof out, &w, 1002, NULL, 0, NULL), MQWS_OK);
    assert_bytes(out, w, "\x88\x02\x03\xea", 4);
    char reason[124];
    memset(reason, 'r', sizeof reason);
    assert_err(mqws_ws_encode_close(out, sizeof out, &w, 4000, reason, 123, NULL), MQWS_OK);
    assert_int_equal(w, 2 + 125);
    assert_err(mqws_ws_encode_close(out, sizeof out, &w, 4000, reason, 124, NULL), MQWS_ERR_ARG);
    assert_err(mqws_ws_encode_close(out, 3, &w, 1000, "bye", 3, NULL), MQWS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(w, 7);

    /* masked close from a client decodes on the server side */
    assert_err(mqws_ws_encode_close(out, sizeof out, &w, 1001, "going away", 10, key), MQWS_OK);
    assert_int_equal(w, 2 + 4 + 12);
    mqws_ws_event ev;
    memset(&ev, 0, sizeof ev);
    assert_err(decode_one(MQWS_ROLE_SERVER, out, w, &ev), MQWS_OK);
    assert_int_equal(ev.type, MQWS_WS_EV_CONTROL);
    assert_int_equal(ev.opcode, MQWS_WS_CLOSE);
    assert_int_equal(ev.close_code, 1001);
    assert_true(mqws_str_eq(ev.close_reason, "going away"));
    /* empty close: 1005 */
    assert_err(mqws_ws_encode_close(out, sizeof out, &w, 0, NULL, 0, NULL), MQWS_OK);
    memset(&ev, 0, sizeof ev);
    assert_err(decode_one(MQWS_ROLE_CLIENT, out, w, &ev), MQWS_OK);
    assert_int_equal(ev.close_code, 1005);
    assert_int_equal(ev.close_reason.len, 0);
}

static void test_ws_mask_offsets(void **state)
{
    (void)state;
    static const uint8_t key[4] = {0xa1, 0x3c, 0x07, 0xf0};
    static const uint64_t offsets[] = {0, 1, 2, 3, 4, 5, 6, 7, 125, (1ull << 33) + 1,
                                       0xffffffffffffffffull};
    uint8_t base[128 + 16], ref[128 + 16], orig[128 + 16];
    for (size_t i = 0; i < sizeof orig; i++)
        orig[i] = (uint8_t)(i * 37 + 11);
    for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++) {
        for (size_t align = 0; align < 8; align++) {
            for (size_t len = 0; len <= 100; len++) {
                memcpy(base, orig, sizeof base);
                memcpy(ref, orig, sizeof ref);
                for (size_t i = 0; i < len; i++)
                    ref[align + i] ^= key[(offsets[oi] + i) % 4];
                mqws_ws_mask(base + align, len, key, offsets[oi]);
                if (memcmp(base, ref, sizeof base) != 0)
                    fail_msg("mqws_ws_mask len %zu, offset %llu, alignment %zu differs from "
                             "byte-wise XOR (or wrote outside the range)",
                             len, (unsigned long long)offsets[oi], align);
                /* round trip: masking twice restores the data */
                mqws_ws_mask(base + align, len, key, offsets[oi]);
                assert_memory_equal(base, orig, sizeof base);
            }
        }
    }
    /* unmasking in pieces with running offsets equals unmasking at once */
    uint8_t a[100], b[100];
    memcpy(a, orig, 100);
    memcpy(b, orig, 100);
    mqws_ws_mask(a, 100, key, 0);
    size_t at = 0;
    static const size_t pieces[] = {1, 2, 3, 5, 7, 11, 13, 17, 41};
    for (size_t i = 0; i < 9; i++) {
        mqws_ws_mask(b + at, pieces[i], key, at);
        at += pieces[i];
    }
    assert_int_equal(at, 100);
    assert_memory_equal(a, b, 100);
    /* on a guard page: no access past the end */
    guard_buf g = {0};
    for (size_t len = 0; len <= 40; len++) {
        uint8_t *p = guard_put(&g, orig, len);
        mqws_ws_mask(p, len, key, len % 4);
    }
    guard_free(&g);
}

static void test_ws_close_code_valid(void **state)
{
    (void)state;
    static const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                     1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const uint16_t invalid[] = {0,    1,    999,  1004, 1005, 1006, 1015, 1016,
                                       1100, 2000, 2999, 5000, 6000, 65535};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        if (!mqws_ws_close_code_valid(valid[i]))
            fail_msg("close code %u should be valid", valid[i]);
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        if (mqws_ws_close_code_valid(invalid[i]))
            fail_msg("close code %u should be invalid", invalid[i]);
}

static void test_ws_decoder_basics(void **state)
{
    (void)state;
    /* the RFC's masked "Hello" from a client; unmasked in place */
    uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    mqws_ws_event ev;
    memset(&ev, 0, sizeof ev);
    assert_err(decode_one(MQWS_ROLE_SERVER, masked, sizeof masked, &ev), MQWS_OK);
    assert_int_equal(ev.type, MQWS_WS_EV_DATA);
    assert_int_equal(ev.opcode, MQWS_WS_TEXT);
    assert_true(ev.message_start && ev.frame_end && ev.message_end);
    assert_bytes(ev.data, ev.len, "Hello", 5);
    assert_ptr_equal(ev.data, masked + 6); /* zero-copy */
    /* roles: a server refuses unmasked frames, a client refuses masked ones */
    uint8_t plain[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    assert_err(decode_one(MQWS_ROLE_SERVER, plain, sizeof plain, &ev), MQWS_ERR_WS_UNMASKED);
    uint8_t masked2[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    assert_err(decode_one(MQWS_ROLE_CLIENT, masked2, sizeof masked2, &ev), MQWS_ERR_WS_MASKED);
    /* the decoder's own limit */
    mqws_ws_decoder d;
    mqws_ws_decoder_init(&d, MQWS_ROLE_CLIENT, 4);
    uint8_t five[] = {0x82, 0x05, 1, 2, 3, 4, 5};
    size_t used;
    assert_err(mqws_ws_decode(&d, five, sizeof five, &used, &ev), MQWS_ERR_WS_TOO_BIG);
    /* a zero-filled decoder is a usable server decoder */
    memset(&d, 0, sizeof d);
    uint8_t masked3[] = {0x82, 0x80, 1, 2, 3, 4};
    assert_err(mqws_ws_decode(&d, masked3, sizeof masked3, &used, &ev), MQWS_OK);
    assert_int_equal(ev.len, 0);
    assert_true(ev.message_end);
}

/* ================================================================ stream.h */

static void test_assembler_zero_copy(void **state)
{
    (void)state;
    /* PINGREQ + 3.1.1 PUBLISH "a" "hi" */
    static const uint8_t two[] = {0xc0, 0x00, 0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i'};
    uint8_t buf[64];
    mqws_assembler a;
    mqws_assembler_init(&a, buf, sizeof buf);
    assert_true(mqws_assembler_idle(&a));
    guard_buf g = {0};
    const uint8_t *in = guard_put(&g, two, sizeof two);
    size_t used = 0;
    mqws_bytes pkt = {0};
    assert_err(mqws_assembler_feed(&a, in, sizeof two, &used, &pkt), MQWS_OK);
    assert_int_equal(used, 2);
    assert_ptr_equal(pkt.ptr, in); /* a view into the input, no copy */
    assert_int_equal(pkt.len, 2);
    assert_err(mqws_assembler_feed(&a, in + 2, sizeof two - 2, &used, &pkt), MQWS_OK);
    assert_int_equal(used, 7);
    assert_ptr_equal(pkt.ptr, in + 2);
    assert_int_equal(pkt.len, 7);
    assert_true(mqws_assembler_idle(&a));
    assert_err(mqws_assembler_feed(&a, in + sizeof two, 0, &used, &pkt), MQWS_NEED_MORE);
    assert_int_equal(used, 0);

    /* split: the packet is copied into the caller's buffer */
    in = guard_put(&g, two + 2, 3);
    assert_err(mqws_assembler_feed(&a, in, 3, &used, &pkt), MQWS_NEED_MORE);
    assert_int_equal(used, 3);
    assert_false(mqws_assembler_idle(&a));
    in = guard_put(&g, two + 5, 4);
    assert_err(mqws_assembler_feed(&a, in, 4, &used, &pkt), MQWS_OK);
    assert_int_equal(used, 4);
    assert_ptr_equal(pkt.ptr, buf);
    assert_bytes(pkt.ptr, pkt.len, two + 2, 7);
    assert_true(mqws_assembler_idle(&a));

    /* remaining length errors */
    static const uint8_t five_bytes[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    mqws_assembler_init(&a, buf, sizeof buf);
    assert_err(mqws_assembler_feed(&a, five_bytes, sizeof five_bytes, &used, &pkt),
               MQWS_ERR_MQTT_REMAINING_LENGTH);
    static const uint8_t non_minimal[] = {0x30, 0x80, 0x00};
    mqws_assembler_init(&a, buf, sizeof buf);
    assert_err(mqws_assembler_feed(&a, non_minimal, sizeof non_minimal, &used, &pkt),
               MQWS_ERR_MQTT_REMAINING_LENGTH);
    guard_free(&g);
}

static void test_assembler_max_packet_before_body(void **state)
{
    (void)state;
    uint8_t buf[8];
    mqws_assembler a;
    size_t used;
    mqws_bytes pkt;
    /* header declares 2 + 127 bytes > 8: refused on the header, body never buffered */
    uint8_t in[2 + 127];
    memset(in, 0x42, sizeof in);
    in[0] = 0x30;
    in[1] = 0x7f;
    for (size_t split = 1; split <= 2; split++) {
        memset(buf, 0xAA, sizeof buf);
        mqws_assembler_init(&a, buf, sizeof buf);
        mqws_err r = hit(mqws_assembler_feed(&a, in, split, &used, &pkt));
        if (split == 1) {
            assert_int_equal(r, MQWS_NEED_MORE);
            r = hit(mqws_assembler_feed(&a, in + 1, sizeof in - 1, &used, &pkt));
        }
        if (r != MQWS_ERR_MQTT_TOO_LARGE)
            fail_msg("split %zu: %s, expected MQTT_TOO_LARGE", split, mqws_err_name(r));
        assert_true(used <= 2);
        for (size_t i = 2; i < sizeof buf; i++)
            if (buf[i] != 0xAA)
                fail_msg("body byte buffered at buf[%zu] before the size check", i);
    }
    /* exactly the buffer size is accepted, one more is not, in any split */
    uint8_t fits[8] = {0x30, 0x06, 0x00, 0x01, 'a', 'x', 'y', 'z'};
    uint8_t over[9] = {0x30, 0x07, 0x00, 0x01, 'a', 'x', 'y', 'z', 'w'};
    for (size_t split = 0; split < sizeof fits; split++) {
        mqws_assembler_init(&a, buf, sizeof buf);
        assert_err(mqws_assembler_feed(&a, fits, split, &used, &pkt), MQWS_NEED_MORE);
        assert_err(mqws_assembler_feed(&a, fits + split, sizeof fits - split, &used, &pkt),
                   MQWS_OK);
        assert_bytes(pkt.ptr, pkt.len, fits, sizeof fits);
        mqws_assembler_init(&a, buf, sizeof buf);
        mqws_err r = hit(mqws_assembler_feed(&a, over, split, &used, &pkt));
        if (r == MQWS_NEED_MORE)
            r = hit(mqws_assembler_feed(&a, over + split, sizeof over - split, &used, &pkt));
        if (r != MQWS_ERR_MQTT_TOO_LARGE)
            fail_msg("9-byte packet, 8-byte buffer, split %zu: %s", split, mqws_err_name(r));
    }
}

static void test_stream_basics(void **state)
{
    (void)state;
    uint8_t pbuf[64];
    mqws_stream s;
    mqws_stream_init(&s, MQWS_ROLE_CLIENT, pbuf, sizeof pbuf, 0);
    /* one binary frame holding two PINGRESPs, then a ping, then a text frame */
    uint8_t in[] = {0x82, 0x04, 0xd0, 0x00, 0xd0, 0x00, 0x89, 0x01, 'p', 0x81, 0x01, 'x'};
    uint8_t *p = in;
    size_t n = sizeof in, used;
    mqws_stream_event ev;
    const char *want[] = {"packet", "packet", "ping"};
    for (size_t k = 0; k < 3; k++) {
        memset(&ev, 0, sizeof ev);
        assert_err(mqws_stream_feed(&s, p, n, &used, &ev), MQWS_OK);
        p += used;
        n -= used;
        const char *t = ev.type == MQWS_STREAM_PACKET ? "packet"
                        : ev.type == MQWS_STREAM_PING ? "ping"
                                                      : "?";
        assert_string_equal(t, want[k]);
        if (k < 2)
            assert_bytes(ev.data.ptr, ev.data.len, "\xd0\x00", 2);
        else
            assert_bytes(ev.data.ptr, ev.data.len, "p", 1);
    }
    assert_err(mqws_stream_feed(&s, p, n, &used, &ev), MQWS_ERR_STREAM_TEXT_FRAME);
    assert_int_equal(mqws_err_ws_close_code(MQWS_ERR_STREAM_TEXT_FRAME), 1003);

    /* bytes after a close frame */
    mqws_stream_init(&s, MQWS_ROLE_CLIENT, pbuf, sizeof pbuf, 0);
    uint8_t closed[] = {0x88, 0x02, 0x03, 0xe8, 0x82, 0x02, 0xc0, 0x00};
    memset(&ev, 0, sizeof ev);
    assert_err(mqws_stream_feed(&s, closed, sizeof closed, &used, &ev), MQWS_OK);
    assert_int_equal(ev.type, MQWS_STREAM_CLOSE);
    assert_int_equal(ev.close_code, 1000);
    assert_err(mqws_stream_feed(&s, closed + used, sizeof closed - used, &used, &ev),
               MQWS_ERR_STREAM_CLOSED);
}

/* The offending byte of a text frame is its first header byte (opcode 0x1). */
static void test_stream_err_offset(void **state)
{
    (void)state;
    uint8_t pbuf[64];
    mqws_stream s;
    mqws_stream_init(&s, MQWS_ROLE_CLIENT, pbuf, sizeof pbuf, 0);
    /* a frame-level error: RSV1 set on the second frame's first byte */
    mqws_stream_event ev;
    size_t used;
    uint8_t rsv[] = {0x82, 0x02, 0xd0, 0x00, 0xc2, 0x02, 0xd0, 0x00};
    assert_err(mqws_stream_feed(&s, rsv, sizeof rsv, &used, &ev), MQWS_OK);
    mqws_err r = hit(mqws_stream_feed(&s, rsv + used, sizeof rsv - used, &used, &ev));
    assert_int_equal(r, MQWS_ERR_WS_RSV);
    assert_int_equal(mqws_stream_err_offset(&s), 4);
    mqws_stream_init(&s, MQWS_ROLE_CLIENT, pbuf, sizeof pbuf, 0);
    uint8_t in[] = {0x82, 0x02, 0xd0, 0x00, 0x81, 0x01, 'x'};
    assert_err(mqws_stream_feed(&s, in, sizeof in, &used, &ev), MQWS_OK);
    assert_int_equal(used, 4);
    r = hit(mqws_stream_feed(&s, in + used, sizeof in - used, &used, &ev));
    assert_int_equal(r, MQWS_ERR_STREAM_TEXT_FRAME);
    if (mqws_stream_err_offset(&s) != 4)
        fail_msg("text frame at stream offset 4: mqws_stream_err_offset = %llu",
                 (unsigned long long)mqws_stream_err_offset(&s));
}

/* ================================================================ coverage */

static void collect_vector_errors(bool seen[MQWS_ERR_COUNT_], char *bad, size_t badlen,
                                  bool verbose)
{
    for (size_t f = 0; f < vec_num_all_files; f++) {
        char err[1200];
        json_t *root = vec_load(vec_all_files[f], err, sizeof err);
        if (!root) {
            if (verbose)
                print_message("[   INFO   ] %s\n", err);
            continue;
        }
        size_t gi, ti;
        json_t *group, *test;
        json_array_foreach(json_object_get(root, "testGroups"), gi, group)
        {
            json_array_foreach(json_object_get(group, "tests"), ti, test)
            {
                const char *name = vec_str(json_object_get(test, "expect"), "error", NULL);
                if (!name)
                    continue;
                mqws_err e = mqws_err_from_name(name);
                if (e == MQWS_ERR_COUNT_) {
                    size_t used = strlen(bad);
                    snprintf(bad + used, badlen - used, " %s(%s)", name,
                             vec_str(test, "id", "?"));
                } else {
                    seen[e] = true;
                }
            }
        }
        json_decref(root);
    }
}

/* Every expect.error of every vector is a known error name. */
static void test_vector_error_names_known(void **state)
{
    (void)state;
    bool seen[MQWS_ERR_COUNT_] = {0};
    char bad[4096] = "";
    collect_vector_errors(seen, bad, sizeof bad, false);
    if (bad[0])
        fail_msg("vectors name unknown errors:%s", bad);
}

/* Must stay the last test: it reads what the tests above hit. */
static void test_every_error_can_occur(void **state)
{
    (void)state;
    bool seen[MQWS_ERR_COUNT_] = {0};
    char bad[4096] = "";
    collect_vector_errors(seen, bad, sizeof bad, true);
    char missing[4096] = "", api_only[4096] = "";
    size_t nmissing = 0;
    for (int i = 0; i < (int)MQWS_ERR_COUNT_; i++) {
        const char *name = mqws_err_name((mqws_err)i);
        if (!(starts_with(name, "HS_") || starts_with(name, "WS_") || starts_with(name, "STREAM_") ||
              starts_with(name, "MQTT_")))
            continue;
        if (!seen[i] && !g_hit[i]) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof missing - used, " %s", name);
            nmissing++;
        } else if (!seen[i]) {
            size_t used = strlen(api_only);
            snprintf(api_only + used, sizeof api_only - used, " %s", name);
        }
    }
    if (api_only[0])
        print_message("[   INFO   ] covered by API tests only, no vector:%s\n", api_only);
    if (nmissing)
        fail_msg("%zu documented error codes occur in no vector and no test:%s", nmissing, missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_err_names, tu_teardown),
        cmocka_unit_test_teardown(test_err_refs_and_reactions, tu_teardown),
        cmocka_unit_test_teardown(test_utf8_validate, tu_teardown),
        cmocka_unit_test_teardown(test_str_helpers, tu_teardown),
        cmocka_unit_test_teardown(test_hs_accept_key, tu_teardown),
        cmocka_unit_test_teardown(test_hs_write_response_size, tu_teardown),
        cmocka_unit_test_teardown(test_hs_client_request_roundtrip, tu_teardown),
        cmocka_unit_test_teardown(test_hs_client_request_rejects_injection, tu_teardown),
        cmocka_unit_test_teardown(test_http_next_token, tu_teardown),
        cmocka_unit_test(test_hs_parse_resumes_on_same_buffer),
        cmocka_unit_test_teardown(test_hs_limits, tu_teardown),
        cmocka_unit_test_teardown(test_hs_client_verify_errors, tu_teardown),
        cmocka_unit_test_teardown(test_ws_encode_header_forms, tu_teardown),
        cmocka_unit_test_teardown(test_ws_encode_frame_rfc_examples, tu_teardown),
        cmocka_unit_test_teardown(test_ws_encode_close, tu_teardown),
        cmocka_unit_test_teardown(test_ws_mask_offsets, tu_teardown),
        cmocka_unit_test_teardown(test_ws_close_code_valid, tu_teardown),
        cmocka_unit_test_teardown(test_ws_decoder_basics, tu_teardown),
        cmocka_unit_test_teardown(test_assembler_zero_copy, tu_teardown),
        cmocka_unit_test_teardown(test_assembler_max_packet_before_body, tu_teardown),
        cmocka_unit_test_teardown(test_stream_basics, tu_teardown),
        cmocka_unit_test_teardown(test_stream_err_offset, tu_teardown),
        cmocka_unit_test_teardown(test_vector_error_names_known, tu_teardown),
        cmocka_unit_test_teardown(test_every_error_can_occur, tu_teardown),
    };
    return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
