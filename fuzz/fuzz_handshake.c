/*
 * fuzz/fuzz_handshake.c - the HTTP/1.1 Upgrade handshake (RFC 6455 section 4).
 *
 * Input: raw bytes, read both as a client's request (server side) and as a
 * server's response (client side). No prefix byte.
 *
 * Invariants (abort on violation):
 *  1. Parsing one-shot and parsing the same buffer grown in three steps (two split
 *     points drawn from a hash of the input, the picohttpparser-style "call again
 *     with the longer buffer") agree: result, head length, error offset, request
 *     line / status line and every header view. Checked with the default head limit
 *     and with a small one, so HS_TOO_LARGE is reached.
 *  2. Views lie inside the head; header names are non-empty; token iteration
 *     (mqws_http_next_token) yields non-empty tokens and ends.
 *  3. mqws_hs_server_accept, for a strict, a relaxed and a path-restricted config:
 *     the result's err equals the return value; success is 101 with an accept key
 *     and a subprotocol that the client offered; refusal has the HTTP status of its
 *     error. mqws_hs_write_response reports the size needed when the buffer is one
 *     byte short, and its output parses as a response. For a 101 the client side
 *     (mqws_hs_client_verify with the request's key, offering the selected
 *     subprotocol) accepts it.
 *  4. Response side: mqws_hs_client_verify on the parsed input never crashes and
 *     returns one of its documented codes.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "mqws/error.h"
#include "mqws/handshake.h"

static bool in_buf(mqws_str s, const char *buf, size_t len)
{
    return s.len == 0 || (s.ptr >= buf && s.ptr + s.len <= buf + len);
}

/* Offsets of a view relative to its buffer, for comparing parses of two buffers. */
static void log_view(fz_log *l, mqws_str s, const char *buf)
{
    fz_log_u64(l, s.len ? (uint64_t)(s.ptr - buf) : 0);
    fz_log_u64(l, s.len);
}

static void log_head(fz_log *l, mqws_err r, size_t head_len, const mqws_http_head *h,
                     const char *buf, bool response)
{
    fz_log_u64(l, (uint64_t)r);
    if (r == MQWS_OK) {
        fz_log_u64(l, head_len);
        if (response) {
            fz_log_u64(l, (uint64_t)h->status);
            log_view(l, h->reason, buf);
        } else {
            log_view(l, h->method, buf);
            log_view(l, h->target, buf);
        }
        fz_log_u64(l, (uint64_t)h->http_major);
        fz_log_u64(l, (uint64_t)h->http_minor);
        fz_log_u64(l, h->num_headers);
        for (size_t i = 0; i < h->num_headers; i++) {
            log_view(l, h->headers[i].name, buf);
            log_view(l, h->headers[i].value, buf);
        }
    } else if (r != MQWS_NEED_MORE) {
        fz_log_u64(l, h->err_offset);
    }
}

static mqws_err parse(mqws_http_head *h, const char *buf, size_t len, size_t *head_len,
                      bool response)
{
    return response ? mqws_hs_parse_response(h, buf, len, head_len)
                    : mqws_hs_parse_request(h, buf, len, head_len);
}

static void check_views(const mqws_http_head *h, const char *buf, size_t head_len, bool response)
{
    if (!response) {
        FZ_CHECK(h->method.len > 0 && in_buf(h->method, buf, head_len));
        FZ_CHECK(h->target.len > 0 && in_buf(h->target, buf, head_len));
    } else {
        FZ_CHECK(h->status >= 0 && h->status <= 999);
        FZ_CHECK(in_buf(h->reason, buf, head_len));
    }
    FZ_CHECK(h->num_headers <= MQWS_HS_MAX_HEADERS);
    for (size_t i = 0; i < h->num_headers; i++) {
        FZ_CHECK(h->headers[i].name.len > 0 && in_buf(h->headers[i].name, buf, head_len));
        FZ_CHECK(in_buf(h->headers[i].value, buf, head_len));
    }
    static const char *const lists[] = {"Connection", "Upgrade", "Sec-WebSocket-Protocol",
                                        "Sec-WebSocket-Extensions"};
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        size_t cursor = 0, n = 0;
        mqws_str tok;
        while (mqws_http_next_token(h, lists[k], &cursor, &tok)) {
            FZ_CHECK(++n <= head_len);
            FZ_CHECK(tok.len > 0 && in_buf(tok, buf, head_len));
        }
    }
}

/*
 * Parses buf[0..len) one-shot and in three growing steps; checks both agree.
 * Returns the one-shot result; *out / *head_len hold the one-shot parse.
 */
static mqws_err parse_both_ways(const char *buf, size_t len, size_t max_bytes, uint64_t *rng,
                                bool response, mqws_http_head *out, size_t *head_len)
{
    static fz_log a, b; /* buffers kept across inputs */
    fz_log_clear(&a);
    fz_log_clear(&b);

    memset(out, 0, sizeof *out);
    out->max_bytes = max_bytes;
    *head_len = 0;
    mqws_err r1 = parse(out, buf, len, head_len, response);
    FZ_CHECK(r1 == MQWS_OK || r1 == MQWS_NEED_MORE || r1 == MQWS_ERR_HS_TOO_LARGE ||
             r1 == MQWS_ERR_HS_TOO_MANY_HEADERS || r1 == MQWS_ERR_HS_MALFORMED);
    if (r1 == MQWS_OK) {
        FZ_CHECK(*head_len >= 4 && *head_len <= len);
        FZ_CHECK(*head_len <= (max_bytes ? max_bytes : MQWS_HS_DEFAULT_MAX_BYTES));
        check_views(out, buf, *head_len, response);
    } else if (r1 != MQWS_NEED_MORE) {
        FZ_CHECK(out->err_offset <= len || r1 == MQWS_ERR_HS_TOO_LARGE);
    }
    log_head(&a, r1, *head_len, out, buf, response);

    /* the same buffer, grown in steps: s1 <= s2 <= len */
    size_t s1 = len ? (size_t)(fz_rand(rng) % (len + 1)) : 0;
    size_t s2 = len ? s1 + (size_t)(fz_rand(rng) % (len - s1 + 1)) : 0;
    size_t steps[3] = {s1, s2, len};
    mqws_http_head grown, *h = &grown;
    memset(h, 0, sizeof *h);
    h->max_bytes = max_bytes;
    size_t hl = 0;
    mqws_err r2 = MQWS_NEED_MORE;
    for (int i = 0; i < 3 && r2 == MQWS_NEED_MORE; i++)
        r2 = parse(h, buf, steps[i], &hl, response);
    log_head(&b, r2, hl, h, buf, response);
    if (r1 != r2 || !fz_log_eq(&a, &b))
        fprintf(stderr, "one-shot %s, split at %zu/%zu: %s (len %zu, max %zu)\n",
                mqws_err_name(r1), s1, s2, mqws_err_name(r2), len, max_bytes);
    FZ_CHECK(r1 == r2);
    FZ_CHECK(fz_log_eq(&a, &b));
    return r1;
}

static void server_side(const mqws_hs_request *req)
{
    static const char *const paths[] = {NULL, NULL, "/mqtt"};
    for (int c = 0; c < 3; c++) {
        mqws_hs_server_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.path = paths[c];
        if (c == 1) {
            cfg.subprotocol.accept_legacy = true;
            cfg.subprotocol.accept_missing = true;
            cfg.subprotocol.accept_unknown = true;
            cfg.subprotocol.case_insensitive = true;
        }
        mqws_hs_server_result res;
        mqws_err r = mqws_hs_server_accept(req, &cfg, &res);
        FZ_CHECK(r == res.err);
        if (r == MQWS_OK) {
            FZ_CHECK(res.status == 101);
            FZ_CHECK(strlen(res.accept) == MQWS_HS_ACCEPT_SIZE - 1);
            /* non_strict only from the relaxed policy or an empty line before the request */
            FZ_CHECK(c == 1 || !res.non_strict || req->method.ptr != req->buf_);
            if (res.subprotocol.len) {
                /* the selected value is one the client offered (RFC 6455 4.2.2) */
                size_t cursor = 0;
                mqws_str tok;
                bool offered = false;
                while (mqws_http_next_token(req, "Sec-WebSocket-Protocol", &cursor, &tok))
                    offered |= tok.ptr == res.subprotocol.ptr && tok.len == res.subprotocol.len;
                FZ_CHECK(offered);
            } else {
                FZ_CHECK(c == 1);
            }
        } else {
            FZ_CHECK(r >= 2 && r < MQWS_ERR_COUNT_);
            FZ_CHECK(res.status == mqws_err_http_status(r) || r == MQWS_ERR_INTERNAL);
            FZ_CHECK(res.status >= 400);
        }

        /* size query: BUFFER_TOO_SMALL with the buffer size needed, NUL included */
        char probe[1];
        size_t need = 0;
        mqws_err w = mqws_hs_write_response(&res, probe, 0, &need);
        FZ_CHECK(w == MQWS_ERR_BUFFER_TOO_SMALL);
        FZ_CHECK(need > 1);
        char *out = fz_malloc(need);
        size_t written = 0, w2 = 0;
        FZ_CHECK(mqws_hs_write_response(&res, out, need - 1, &w2) == MQWS_ERR_BUFFER_TOO_SMALL);
        FZ_CHECK(w2 == need);
        w = mqws_hs_write_response(&res, out, need, &written);
        FZ_CHECK(w == MQWS_OK && written == need - 1 && out[written] == '\0');

        mqws_hs_response resp;
        memset(&resp, 0, sizeof resp);
        size_t head_len = 0;
        FZ_CHECK(mqws_hs_parse_response(&resp, out, written, &head_len) == MQWS_OK);
        FZ_CHECK(resp.status == res.status);
        if (r == MQWS_OK) {
            FZ_CHECK(head_len == written);
            const mqws_http_header *key = mqws_http_find(req, "Sec-WebSocket-Key");
            FZ_CHECK(key && key->value.len == MQWS_HS_KEY_SIZE - 1);
            char k[MQWS_HS_KEY_SIZE];
            memcpy(k, key->value.ptr, key->value.len);
            k[MQWS_HS_KEY_SIZE - 1] = '\0';
            char *sub = fz_malloc(res.subprotocol.len + 1);
            const char *offered[1] = {sub};
            mqws_hs_client_config ccfg;
            memset(&ccfg, 0, sizeof ccfg);
            ccfg.host = "h";
            ccfg.path = "/";
            if (res.subprotocol.len) {
                memcpy(sub, res.subprotocol.ptr, res.subprotocol.len);
                sub[res.subprotocol.len] = '\0';
                ccfg.subprotocols = offered;
                ccfg.num_subprotocols = 1;
            }
            mqws_str selected;
            mqws_err v = mqws_hs_client_verify(&resp, &ccfg, k, &selected);
            if (v != MQWS_OK)
                fprintf(stderr, "client_verify of our own 101: %s\n", mqws_err_name(v));
            FZ_CHECK(v == MQWS_OK || (res.subprotocol.len && !mqws_str_eq(selected, "mqtt") &&
                                      v == MQWS_ERR_HS_SUBPROTOCOL_NOT_MQTT));
            free(sub);
        } else {
            FZ_CHECK(head_len <= written);
        }
        free(out);
    }
}

static void client_side(const mqws_hs_response *resp)
{
    static const char *const offered[] = {"mqtt", "mqttv3.1"};
    mqws_hs_client_config ccfg;
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.host = "broker.example";
    ccfg.path = "/mqtt";
    for (size_t n = 0; n <= 2; n++) {
        ccfg.subprotocols = n ? offered : NULL;
        ccfg.num_subprotocols = n;
        mqws_str selected;
        /* the RFC 6455 section 1.3 sample key, which the vectors use */
        mqws_err v = mqws_hs_client_verify(resp, &ccfg, "dGhlIHNhbXBsZSBub25jZQ==", &selected);
        FZ_CHECK(v == MQWS_OK || v == MQWS_ERR_HS_STATUS || v == MQWS_ERR_HS_UPGRADE ||
                 v == MQWS_ERR_HS_CONNECTION || v == MQWS_ERR_HS_ACCEPT ||
                 v == MQWS_ERR_HS_SUBPROTOCOL_UNOFFERED ||
                 v == MQWS_ERR_HS_SUBPROTOCOL_NOT_MQTT || v == MQWS_ERR_HS_EXTENSION_UNOFFERED ||
                 v == MQWS_ERR_INTERNAL);
        if (v == MQWS_OK && n > 0)
            FZ_CHECK(mqws_str_eq(selected, "mqtt"));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    uint64_t rng = fz_hash(data, size);
    /* a small head limit too, so that HS_TOO_LARGE is reachable with short inputs */
    size_t small = 16 + (size_t)(fz_rand(&rng) % 256);

    mqws_http_head head, *h = &head;
    size_t head_len = 0;
    if (parse_both_ways(buf, size, 0, &rng, false, h, &head_len) == MQWS_OK)
        server_side(h);
    (void)parse_both_ways(buf, size, small, &rng, false, h, &head_len);

    if (parse_both_ways(buf, size, 0, &rng, true, h, &head_len) == MQWS_OK)
        client_side(h);
    (void)parse_both_ways(buf, size, small, &rng, true, h, &head_len);

    /* the accept key of any header value the request may carry */
    mqws_str key = {buf, size < 64 ? size : 64};
    if (mqws_hs_key_valid(key)) {
        FZ_CHECK(key.len == MQWS_HS_KEY_SIZE - 1);
    }
    char accept[MQWS_HS_ACCEPT_SIZE];
    FZ_CHECK(mqws_hs_accept_key(key.ptr, key.len, accept) == MQWS_OK || key.len == 0);
    return 0;
}
