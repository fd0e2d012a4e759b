/*
 * test_vectors_handshake.c - the handshake/ vector files through the handshake codec.
 *
 * accept.json           mqws_hs_accept_key, mqws_hs_key_valid
 * server_requests.json  mqws_hs_parse_request (whole, every 2-way split with the grown
 *                       buffer passed to the second call, byte by byte; every call on a
 *                       guard-page buffer) + mqws_hs_server_accept; the response written
 *                       by mqws_hs_write_response must parse back with the same status.
 * client_responses.json mqws_hs_parse_response (same splits) + mqws_hs_client_verify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqws/mqws.h"
#include "vectors.h"

typedef mqws_err (*parse_fn)(mqws_http_head *, const char *, size_t, size_t *);

static mqws_err parse_req(mqws_http_head *h, const char *b, size_t n, size_t *hl)
{
    return mqws_hs_parse_request(h, b, n, hl);
}

static mqws_err parse_resp(mqws_http_head *h, const char *b, size_t n, size_t *hl)
{
    return mqws_hs_parse_response(h, b, n, hl);
}

static void str_append(tu_bytes *s, mqws_str v)
{
    tu_bytes_append(s, v.ptr ? v.ptr : "", v.len);
    tu_bytes_append(s, "|", 1);
}

/* A printable summary of a parse outcome, to compare the runs of different splits. */
static char *summarize(mqws_err r, const mqws_http_head *h, size_t head_len)
{
    tu_bytes s = {0};
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", mqws_err_name(r));
    tu_bytes_append(&s, tmp, strlen(tmp));
    if (r == MQWS_OK) {
        snprintf(tmp, sizeof tmp, " head_len=%zu HTTP/%d.%d status=%d |", head_len, h->http_major,
                 h->http_minor, h->status);
        tu_bytes_append(&s, tmp, strlen(tmp));
        str_append(&s, h->method);
        str_append(&s, h->target);
        str_append(&s, h->reason);
        for (size_t i = 0; i < h->num_headers; i++) {
            str_append(&s, h->headers[i].name);
            str_append(&s, h->headers[i].value);
        }
    }
    tu_bytes_append(&s, "", 1);
    return (char *)s.p;
}

typedef struct split_ctx {
    const vec_case *vc;
    parse_fn parse;
    const uint8_t *in;
    size_t len;
    size_t max_bytes;
    const char *want; /* summary of the whole run */
    guard_buf g1, g2;
} split_ctx;

/*
 * Feeds the input as the plan says, the picohttpparser way: each call gets ALL
 * bytes received so far. Every call's buffer is a fresh copy right before a guard
 * page (so it also moves, like a realloc'd buffer would).
 */
static void run_split(void *vctx, const tu_plan *plan)
{
    split_ctx *c = vctx;
    mqws_http_head h;
    memset(&h, 0, sizeof h);
    h.max_bytes = c->max_bytes;
    mqws_err r = MQWS_NEED_MORE;
    size_t head_len = 0;
    for (size_t i = 0; i < plan->n; i++) {
        guard_buf *g = (i % 2) ? &c->g2 : &c->g1;
        const char *p = (const char *)guard_put(g, c->in, plan->ends[i]);
        head_len = 0;
        r = c->parse(&h, p, plan->ends[i], &head_len);
        if (r != MQWS_NEED_MORE) {
            char *got = summarize(r, &h, head_len);
            if (strcmp(got, c->want) != 0) {
                VFAIL(c->vc, "%s: call with %zu of %zu bytes gave\n  %s\nwhole input gave\n  %s",
                      plan->desc, plan->ends[i], c->len, got, c->want);
            }
            tu_free(got);
            return;
        }
    }
    char *got = summarize(r, &h, head_len);
    if (strcmp(got, c->want) != 0)
        VFAIL(c->vc, "%s: gave\n  %s\nwhole input gave\n  %s", plan->desc, got, c->want);
    tu_free(got);
}

/* Parses the whole input on a guard page (result in *h, views into *g), then checks
 * every split gives the same. */
static mqws_err parse_all_ways(const vec_case *vc, parse_fn parse, const uint8_t *in, size_t len,
                               mqws_http_head *h, guard_buf *g, size_t *head_len)
{
    size_t max_bytes = (size_t)vec_int(vc->params, "max_bytes", 0);
    memset(h, 0, sizeof *h);
    h->max_bytes = max_bytes;
    const char *p = (const char *)guard_put(g, in, len);
    *head_len = 0;
    mqws_err r = parse(h, p, len, head_len);

    split_ctx c;
    memset(&c, 0, sizeof c);
    c.vc = vc;
    c.parse = parse;
    c.in = in;
    c.len = len;
    c.max_bytes = max_bytes;
    char *want = summarize(r, h, *head_len);
    c.want = want;
    tu_for_each_split(len, run_split, &c);
    guard_free(&c.g1);
    guard_free(&c.g2);
    tu_free(want);
    return r;
}

static void check_str(const vec_case *vc, const char *what, mqws_str got, const char *want)
{
    if (!mqws_str_eq(got, want))
        VFAIL(vc, "%s: expected \"%s\", got \"%.*s\"", what, want, (int)got.len,
              got.ptr ? got.ptr : "");
}

/* ---------------------------------------------------------------- accept.json */

static void test_accept(const vec_case *vc)
{
    const json_t *jkey = json_object_get(vc->test, "key");
    if (!json_is_string(jkey))
        VFAIL(vc, "no \"key\"");
    mqws_str key = {json_string_value(jkey), json_string_length(jkey)};
    bool valid = mqws_hs_key_valid(key);
    if (vec_has(vc->expect, "key_valid") && valid != vec_bool(vc->expect, "key_valid", false))
        VFAIL(vc, "mqws_hs_key_valid(\"%s\") = %d, expected %d", key.ptr, valid,
              vec_bool(vc->expect, "key_valid", false));
    const char *want = vec_str(vc->expect, "accept", NULL);
    if (want) {
        if (!vec_has(vc->expect, "key_valid") && !valid)
            VFAIL(vc, "key \"%s\" has an expected accept value but mqws_hs_key_valid is false",
                  key.ptr);
        char acc[MQWS_HS_ACCEPT_SIZE];
        memset(acc, 0x55, sizeof acc);
        mqws_err r = mqws_hs_accept_key(key.ptr, key.len, acc);
        if (r != MQWS_OK)
            VFAIL(vc, "mqws_hs_accept_key: %s", mqws_err_name(r));
        if (memchr(acc, 0, sizeof acc) == NULL || strcmp(acc, want) != 0)
            VFAIL(vc, "accept: expected %s, got %.28s", want, acc);
    }
}

/* ---------------------------------------------------------------- server_requests.json */

static void policy_from(const json_t *params, mqws_subproto_policy *p)
{
    const json_t *pol = json_object_get(params, "policy");
    p->accept_legacy = vec_bool(pol, "accept_legacy", false);
    p->accept_missing = vec_bool(pol, "accept_missing", false);
    p->accept_unknown = vec_bool(pol, "accept_unknown", false);
    p->case_insensitive = vec_bool(pol, "case_insensitive", false);
}

/* The written response must parse as a response with the same status and headers. */
static void check_written_response(const vec_case *vc, const mqws_hs_server_result *res,
                                   const mqws_hs_request *req)
{
    /* The exact-size contract (BUFFER_TOO_SMALL reports the size) is test_api's job;
     * here a roomy buffer checks what is written. */
    size_t cap = 4096, written = 0;
    char *out = tu_malloc(cap);
    mqws_err r = mqws_hs_write_response(res, out, cap, &written);
    if (r != MQWS_OK || written == 0 || written >= cap)
        VFAIL(vc, "write_response: %s, wrote %zu", mqws_err_name(r), written);

    guard_buf g = {0};
    const char *p = (const char *)guard_put(&g, out, written);
    mqws_hs_response resp;
    memset(&resp, 0, sizeof resp);
    size_t head_len = 0;
    r = mqws_hs_parse_response(&resp, p, written, &head_len);
    if (r != MQWS_OK)
        VFAIL(vc, "written response does not parse: %s\n%.*s", mqws_err_name(r), (int)written, out);
    if (resp.status != res->status)
        VFAIL(vc, "written response has status %d, result says %d", resp.status, res->status);
    if (res->status == 101) {
        if (head_len != written)
            VFAIL(vc, "101 response has %zu bytes after the head", written - head_len);
        const mqws_http_header *acc = mqws_http_find(&resp, "Sec-WebSocket-Accept");
        if (!acc || !mqws_str_eq(acc->value, res->accept))
            VFAIL(vc, "101 response lacks Sec-WebSocket-Accept: %s", res->accept);
        const mqws_http_header *proto = mqws_http_find(&resp, "Sec-WebSocket-Protocol");
        if (res->subprotocol.len == 0 && proto)
            VFAIL(vc, "101 response has Sec-WebSocket-Protocol but none was selected");
        if (res->subprotocol.len && (!proto || proto->value.len != res->subprotocol.len ||
                                     memcmp(proto->value.ptr, res->subprotocol.ptr,
                                            res->subprotocol.len) != 0))
            VFAIL(vc, "101 response does not carry the selected subprotocol");
        /* A strict success must satisfy a client that sent this request. */
        if (!res->non_strict && req) {
            const mqws_http_header *key = mqws_http_find(req, "Sec-WebSocket-Key");
            char keybuf[64] = {0};
            if (key && key->value.len < sizeof keybuf)
                memcpy(keybuf, key->value.ptr, key->value.len);
            char *offered[MQWS_HS_MAX_HEADERS];
            size_t n = 0, cursor = 0;
            mqws_str tok;
            while (n < MQWS_HS_MAX_HEADERS &&
                   mqws_http_next_token(req, "Sec-WebSocket-Protocol", &cursor, &tok)) {
                offered[n] = tu_calloc(1, tok.len + 1);
                memcpy(offered[n], tok.ptr, tok.len);
                n++;
            }
            mqws_hs_client_config cc = {"example", "/", NULL, (const char *const *)offered, n};
            mqws_str sel = {0};
            r = mqws_hs_client_verify(&resp, &cc, keybuf, &sel);
            if (r != MQWS_OK)
                VFAIL(vc, "client_verify of the written 101 response: %s", mqws_err_name(r));
            if (sel.len != res->subprotocol.len)
                VFAIL(vc, "client_verify selected %.*s", (int)sel.len, sel.ptr ? sel.ptr : "");
            for (size_t i = 0; i < n; i++)
                tu_free(offered[i]);
        }
    } else if (res->status == 426) {
        const mqws_http_header *v = mqws_http_find(&resp, "Sec-WebSocket-Version");
        if (!v || !mqws_str_eq(v->value, "13"))
            VFAIL(vc, "426 response lacks Sec-WebSocket-Version: 13");
    }
    guard_free(&g);
    tu_free(out);
}

static void test_server_request(const vec_case *vc)
{
    size_t len;
    uint8_t *in = vec_input(vc, &len);
    mqws_hs_request req;
    guard_buf g = {0};
    size_t head_len;
    mqws_err r = parse_all_ways(vc, parse_req, in, len, &req, &g, &head_len);

    const char *want_err = vec_str(vc->expect, "error", "OK");
    mqws_hs_server_result res;
    memset(&res, 0, sizeof res);
    if (r == MQWS_OK) {
        mqws_hs_server_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.path = vec_str(vc->params, "path", NULL);
        policy_from(vc->params, &cfg.subprotocol);
        mqws_err r2 = mqws_hs_server_accept(&req, &cfg, &res);
        if (r2 != res.err)
            VFAIL(vc, "server_accept returned %s but res.err is %s", mqws_err_name(r2),
                  mqws_err_name(res.err));
        r = res.err;
        if (r == MQWS_OK && res.status != 101)
            VFAIL(vc, "success with status %d", res.status);
        if (r != MQWS_OK && res.status != mqws_err_http_status(r))
            VFAIL(vc, "refusal %s with status %d, mqws_err_http_status says %d",
                  mqws_err_name(r), res.status, mqws_err_http_status(r));
    } else if (r != MQWS_NEED_MORE) {
        res.err = r;
        res.status = mqws_err_http_status(r);
    }
    if (strcmp(mqws_err_name(r), want_err) != 0)
        VFAIL(vc, "error: expected %s, got %s (err_offset %zu)", want_err, mqws_err_name(r),
              req.err_offset);
    if (r == MQWS_NEED_MORE)
        goto done;
    if (vec_has(vc->expect, "status") && res.status != vec_int(vc->expect, "status", 0))
        VFAIL(vc, "status: expected %lld, got %d", vec_int(vc->expect, "status", 0), res.status);
    if (r == MQWS_OK) {
        const char *sp = vec_str(vc->expect, "subprotocol", NULL);
        if (sp)
            check_str(vc, "subprotocol", res.subprotocol, sp);
        const char *acc = vec_str(vc->expect, "accept", NULL);
        if (acc && strcmp(acc, res.accept) != 0)
            VFAIL(vc, "accept: expected %s, got %s", acc, res.accept);
        if (vec_has(vc->expect, "non_strict") &&
            res.non_strict != vec_bool(vc->expect, "non_strict", false))
            VFAIL(vc, "non_strict: expected %d, got %d", vec_bool(vc->expect, "non_strict", false),
                  res.non_strict);
    }
    if (res.status != 0)
        check_written_response(vc, &res, r == MQWS_OK ? &req : NULL);
done:
    guard_free(&g);
    tu_free(in);
}

/* ---------------------------------------------------------------- client_responses.json */

static void test_client_response(const vec_case *vc)
{
    size_t len;
    uint8_t *in = vec_input(vc, &len);
    mqws_hs_response resp;
    guard_buf g = {0};
    size_t head_len;
    mqws_err r = parse_all_ways(vc, parse_resp, in, len, &resp, &g, &head_len);

    const json_t *joff = json_object_get(vc->params, "offered");
    size_t n = json_is_array(joff) ? json_array_size(joff) : 0;
    const char **offered = tu_calloc(n + 1, sizeof *offered);
    for (size_t i = 0; i < n; i++)
        offered[i] = json_string_value(json_array_get(joff, i));
    mqws_hs_client_config cc;
    memset(&cc, 0, sizeof cc);
    cc.host = "example";
    cc.path = "/mqtt";
    cc.subprotocols = offered;
    cc.num_subprotocols = n;
    const char *key = vec_str(vc->params, "key", "");

    mqws_str sel = {0};
    if (r == MQWS_OK)
        r = mqws_hs_client_verify(&resp, &cc, key, &sel);
    const char *want_err = vec_str(vc->expect, "error", "OK");
    if (strcmp(mqws_err_name(r), want_err) != 0)
        VFAIL(vc, "error: expected %s, got %s", want_err, mqws_err_name(r));
    const char *sp = vec_str(vc->expect, "subprotocol", NULL);
    if (r == MQWS_OK && sp)
        check_str(vc, "subprotocol", sel, sp);
    tu_free(offered);
    guard_free(&g);
    tu_free(in);
}

/* ---------------------------------------------------------------- main */

static void dispatch(const vec_case *vc)
{
    const char *kind = vec_str(vc->root, "kind", "");
    if (strcmp(kind, "accept") == 0)
        test_accept(vc);
    else if (strcmp(kind, "handshake_request") == 0)
        test_server_request(vc);
    else if (strcmp(kind, "handshake_response") == 0)
        test_client_response(vc);
    else
        VFAIL(vc, "unexpected kind \"%s\"", kind);
}

int main(void)
{
    static const char *const files[] = {"handshake/accept.json", "handshake/server_requests.json",
                                        "handshake/client_responses.json"};
    return vec_run("handshake vectors", files, sizeof files / sizeof files[0], dispatch, NULL, 0);
}
