/* handshake.c - RFC 6455 section 4 opening handshake with MQTT subprotocol selection. */
/* SHA1_Init/Update/Final for the accept hash, see "accept hash" below. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "mqws/handshake.h"

static const char k_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 1.3 */

/* ------------------------------------------------------------ character classes */

/* RFC 7230 3.2.6 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(mqws_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.ptr[i]))
            return false;
    return true;
}

/* field-vchar / SP / HTAB / obs-text (RFC 7230 3.2); everything else is a control. */
static bool is_field_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static mqws_str trim_ows(const char *p, size_t n)
{
    while (n && is_ows(p[0])) {
        p++;
        n--;
    }
    while (n && is_ows(p[n - 1]))
        n--;
    mqws_str s = {p, n};
    return s;
}

/* ------------------------------------------------------------ HTTP head parsing */

static mqws_err head_fail(mqws_http_head *h, mqws_err e, size_t at)
{
    h->err_offset = at;
    return e;
}

/*
 * Finds the CRLF CRLF that ends the head, resuming where the last call stopped
 * (O(n) over a byte-at-a-time drip). A bare LF is refused at once: RFC 7230 3.5
 * lets a recipient accept it, but a strict reference does not guess line ends.
 */
static mqws_err find_head_end(mqws_http_head *h, const char *buf, size_t len, size_t *end)
{
    size_t max = h->max_bytes ? h->max_bytes : MQWS_HS_DEFAULT_MAX_BYTES;
    size_t i = h->scanned_ <= len ? h->scanned_ : 0;
    for (; i < len && i < max; i++) { /* bytes past the limit are never looked at */
        if (buf[i] != '\n')
            continue;
        if (i == 0 || buf[i - 1] != '\r')
            return head_fail(h, MQWS_ERR_HS_MALFORMED, i);
        if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            *end = i + 1; /* <= max: i < max */
            return MQWS_OK;
        }
    }
    h->scanned_ = i;
    if (len >= max)
        return head_fail(h, MQWS_ERR_HS_TOO_LARGE, max);
    return MQWS_NEED_MORE;
}

/* "HTTP/" DIGIT "." DIGIT (RFC 7230 2.6). */
static bool parse_http_version(const char *p, size_t n, int *major, int *minor)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.')
        return false;
    if (p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
        return false;
    *major = p[5] - '0';
    *minor = p[7] - '0';
    return true;
}

/* Splits "a SP b SP c"; c may contain spaces when @p rest_free (reason phrase). */
static bool split3(const char *p, size_t n, mqws_str part[3], bool rest_free)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1)
        return false;
    const char *q = sp1 + 1;
    size_t left = n - (size_t)(q - p);
    const char *sp2 = memchr(q, ' ', left);
    if (!sp2) {
        if (!rest_free)
            return false;
        sp2 = q + left; /* "HTTP/1.1 101" without a reason phrase */
    }
    part[0].ptr = p;
    part[0].len = (size_t)(sp1 - p);
    part[1].ptr = q;
    part[1].len = (size_t)(sp2 - q);
    part[2].ptr = sp2 < p + n ? sp2 + 1 : sp2;
    part[2].len = (size_t)(p + n - part[2].ptr);
    if (!rest_free && memchr(part[2].ptr, ' ', part[2].len))
        return false;
    return part[0].len > 0 && part[1].len > 0;
}

static mqws_err parse_start_line(mqws_http_head *h, const char *line, size_t n, bool request,
                                 size_t at)
{
    mqws_str part[3];
    /* HTAB may appear only in a reason-phrase (RFC 7230 3.1.2); in a status line's
     * version or code it fails the checks below. */
    for (size_t i = 0; i < n; i++)
        if (!is_field_char((unsigned char)line[i]) || (request && line[i] == '\t'))
            return head_fail(h, MQWS_ERR_HS_MALFORMED, at + i);
    if (!split3(line, n, part, !request))
        return head_fail(h, MQWS_ERR_HS_MALFORMED, at);
    if (request) {
        if (!is_token(part[0]) ||
            !parse_http_version(part[2].ptr, part[2].len, &h->http_major, &h->http_minor))
            return head_fail(h, MQWS_ERR_HS_MALFORMED, at);
        h->method = part[0];
        h->target = part[1];
        return MQWS_OK;
    }
    if (!parse_http_version(part[0].ptr, part[0].len, &h->http_major, &h->http_minor) ||
        part[1].len != 3)
        return head_fail(h, MQWS_ERR_HS_MALFORMED, at);
    h->status = 0;
    for (size_t i = 0; i < 3; i++) {
        char c = part[1].ptr[i];
        if (c < '0' || c > '9')
            return head_fail(h, MQWS_ERR_HS_MALFORMED, at + part[0].len + 1 + i);
        h->status = h->status * 10 + (c - '0');
    }
    h->reason = part[2];
    return MQWS_OK;
}

/* field-name ":" OWS field-value OWS (RFC 7230 3.2); no space before the colon (3.2.4). */
static mqws_err parse_header_line(mqws_http_head *h, const char *line, size_t n, size_t at)
{
    if (is_ows(line[0])) /* obs-fold (3.2.4): refused */
        return head_fail(h, MQWS_ERR_HS_MALFORMED, at);
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == n || line[i] != ':')
        return head_fail(h, MQWS_ERR_HS_MALFORMED, at + i);
    for (size_t k = i + 1; k < n; k++)
        if (!is_field_char((unsigned char)line[k]))
            return head_fail(h, MQWS_ERR_HS_MALFORMED, at + k);
    if (h->num_headers == MQWS_HS_MAX_HEADERS)
        return head_fail(h, MQWS_ERR_HS_TOO_MANY_HEADERS, at);
    mqws_http_header *hd = &h->headers[h->num_headers++];
    hd->name.ptr = line;
    hd->name.len = i;
    hd->value = trim_ows(line + i + 1, n - i - 1);
    return MQWS_OK;
}

static mqws_err parse_head(mqws_http_head *h, const char *buf, size_t len, size_t *head_len,
                           bool request)
{
    if (!h || !head_len || (!buf && len))
        return MQWS_ERR_ARG;
    if (h->buf_ != buf) /* a new buffer: views and scan position start over */
        h->scanned_ = 0;
    h->buf_ = buf;
    size_t end = 0;
    mqws_err r = find_head_end(h, buf, len, &end);
    if (r != MQWS_OK)
        return r;
    h->num_headers = 0;
    size_t pos = 0;
    bool first = true;
    while (pos + 2 < end) { /* the last line is the empty one */
        const char *eol = memchr(buf + pos, '\r', end - pos);
        size_t n = (size_t)(eol - (buf + pos));
        if (buf[pos + n + 1] != '\n') /* CR inside a line */
            return head_fail(h, MQWS_ERR_HS_MALFORMED, pos + n);
        if (n == 0)
            return head_fail(h, MQWS_ERR_HS_MALFORMED, pos);
        r = first ? parse_start_line(h, buf + pos, n, request, pos)
                  : parse_header_line(h, buf + pos, n, pos);
        if (r != MQWS_OK)
            return r;
        first = false;
        pos += n + 2;
    }
    *head_len = end;
    return MQWS_OK;
}

mqws_err mqws_hs_parse_request(mqws_hs_request *req, const char *buf, size_t len,
                               size_t *head_len)
{
    return parse_head(req, buf, len, head_len, true);
}

mqws_err mqws_hs_parse_response(mqws_hs_response *resp, const char *buf, size_t len,
                                size_t *head_len)
{
    return parse_head(resp, buf, len, head_len, false);
}

const mqws_http_header *mqws_http_find(const mqws_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->num_headers; i++)
        if (mqws_str_ieq(h->headers[i].name, name))
            return &h->headers[i];
    return NULL;
}

static size_t count_headers(const mqws_http_head *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->num_headers; i++)
        n += mqws_str_ieq(h->headers[i].name, name);
    return n;
}

/*
 * The cursor is an offset into the parsed buffer: every value is a view into
 * it, in header order, so one number says which header and where in it.
 */
bool mqws_http_next_token(const mqws_http_head *h, const char *name, size_t *cursor,
                          mqws_str *token)
{
    for (size_t i = 0; i < h->num_headers; i++) {
        const mqws_http_header *hd = &h->headers[i];
        if (!mqws_str_ieq(hd->name, name))
            continue;
        size_t vs = (size_t)(hd->value.ptr - h->buf_);
        size_t ve = vs + hd->value.len;
        size_t p = *cursor > vs ? *cursor : vs;
        while (p < ve) {
            const char *start = h->buf_ + p;
            const char *comma = memchr(start, ',', ve - p);
            size_t n = comma ? (size_t)(comma - start) : ve - p;
            p += n + (comma ? 1 : 0);
            mqws_str t = trim_ows(start, n);
            if (t.len) { /* RFC 7230 7: empty list elements do not count */
                *cursor = p;
                *token = t;
                return true;
            }
        }
        if (*cursor < ve + 1)
            *cursor = ve + 1; /* past this header, even if it ended in a comma */
    }
    return false;
}

static bool has_token(const mqws_http_head *h, const char *name, const char *want)
{
    size_t cur = 0;
    mqws_str t;
    while (mqws_http_next_token(h, name, &cur, &t))
        if (mqws_str_ieq(t, want))
            return true;
    return false;
}

/* ------------------------------------------------------------ accept hash */

/*
 * SHA-1 through OpenSSL's low-level SHA1_Init/Update/Final: a context on the stack,
 * no allocation, no lock. The EVP path costs 1.7-2x as much per key (a context and
 * a provider context allocated and freed on every digest, even with the algorithm
 * fetched once), measured by make bench-codec. The low-level calls are deprecated
 * in OpenSSL 3 but present in every 3.x; a build without them
 * (OPENSSL_NO_DEPRECATED_3_0) falls back to EVP with the algorithm fetched once.
 */
#if defined(OPENSSL_NO_DEPRECATED_3_0)
static const EVP_MD *g_sha1;
static pthread_once_t g_sha1_once = PTHREAD_ONCE_INIT;

/* OpenSSL 3 one-shot digests fetch the algorithm on every call; fetch it once. */
static void fetch_sha1(void) { g_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL); }

static bool sha1(const unsigned char *in, size_t len, unsigned char md[20])
{
    unsigned int md_len = 0;
    pthread_once(&g_sha1_once, fetch_sha1);
    return g_sha1 && EVP_Digest(in, len, md, &md_len, g_sha1, NULL) && md_len == 20;
}
#else
static bool sha1(const unsigned char *in, size_t len, unsigned char md[20])
{
    SHA_CTX c;
    return SHA1_Init(&c) && SHA1_Update(&c, in, len) && SHA1_Final(md, &c);
}
#endif

mqws_err mqws_hs_accept_key(const char *key, size_t key_len, char accept[MQWS_HS_ACCEPT_SIZE])
{
    unsigned char in[128];
    unsigned char md[20];
    if (!key || !accept || key_len > sizeof in - (sizeof k_guid - 1))
        return MQWS_ERR_ARG;
    memcpy(in, key, key_len);
    memcpy(in + key_len, k_guid, sizeof k_guid - 1);
    if (!sha1(in, key_len + sizeof k_guid - 1, md))
        return MQWS_ERR_INTERNAL;
    EVP_EncodeBlock((unsigned char *)accept, md, 20); /* 28 chars + NUL */
    return MQWS_OK;
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

bool mqws_hs_key_valid(mqws_str key)
{
    /* 16 bytes encode as 22 characters and "==" (RFC 6455 4.1, RFC 4648 4). Non-zero
     * pad bits in the 22nd character still decode to 16 bytes: accepted. */
    if (key.len != 24 || key.ptr[22] != '=' || key.ptr[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key.ptr[i]))
            return false;
    return true;
}

/* ------------------------------------------------------------ server side */

/* RFC 3986 unreserved / pct-encoded ('%') / sub-delims: the characters of a reg-name. */
static bool is_host_char(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("-._~%!$&'()*+,;=", c) != NULL;
}

/*
 * Host = uri-host [ ":" port ] (RFC 7230 5.4, RFC 3986 3.2.2-3.2.3): an IP-literal in
 * brackets (hex digits, '.', ':', IPvFuture's characters) or a reg-name, then digits.
 * A value with a space, '@', '/' etc. is invalid, and 5.4 wants 400 for it.
 */
static bool host_valid(mqws_str v)
{
    size_t i = 0;
    if (v.len && v.ptr[0] == '[') {
        while (++i < v.len && v.ptr[i] != ']')
            if (!is_host_char((unsigned char)v.ptr[i]) && v.ptr[i] != ':')
                return false;
        if (i == v.len || i == 1)
            return false;
        i++;
    } else {
        while (i < v.len && v.ptr[i] != ':' && is_host_char((unsigned char)v.ptr[i]))
            i++;
        if (i == 0)
            return false;
    }
    if (i == v.len)
        return true;
    if (v.ptr[i] != ':')
        return false;
    while (++i < v.len)
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return false;
    return true;
}

/*
 * The path of the request-target: origin-form up to any '?query', or the path of an
 * absolute http/https URI, which RFC 6455 4.2.1 and RFC 7230 5.3.2 make a server
 * accept ("/" when the URI has none, RFC 7230 5.3.1).
 */
static mqws_str target_path(mqws_str t)
{
    static const char slash[] = "/";
    size_t skip = 0;
    if (t.len > 7 && mqws_str_ieq((mqws_str){t.ptr, 7}, "http://"))
        skip = 7;
    else if (t.len > 8 && mqws_str_ieq((mqws_str){t.ptr, 8}, "https://"))
        skip = 8;
    if (skip) {
        const char *p = memchr(t.ptr + skip, '/', t.len - skip);
        const char *q = memchr(t.ptr + skip, '?', t.len - skip);
        if (!p || (q && q < p)) /* no path: the URI names "/" */
            return (mqws_str){slash, 1};
        t.len -= (size_t)(p - t.ptr);
        t.ptr = p;
    }
    const char *q = memchr(t.ptr, '?', t.len);
    if (q)
        t.len = (size_t)(q - t.ptr);
    return t;
}

static mqws_err refuse(mqws_hs_server_result *res, mqws_err e)
{
    res->err = e;
    res->status = mqws_err_http_status(e);
    return e;
}

/* MQTT-6.0.0-3/4 with the policy's relaxations; RFC 6455 4.2.2: select one offered value. */
static mqws_err select_subprotocol(const mqws_hs_request *req, const mqws_subproto_policy *pol,
                                   mqws_hs_server_result *res)
{
    static const char name[] = "Sec-WebSocket-Protocol";
    mqws_str exact = {0}, folded = {0}, legacy = {0}, t;
    size_t cur = 0, offered = 0;
    while (mqws_http_next_token(req, name, &cur, &t)) {
        if (!is_token(t))
            return refuse(res, MQWS_ERR_HS_SUBPROTOCOL_SYNTAX);
        offered++;
        if (!exact.ptr && mqws_str_eq(t, "mqtt"))
            exact = t;
        if (!folded.ptr && mqws_str_ieq(t, "mqtt"))
            folded = t;
        if (!legacy.ptr &&
            (pol->case_insensitive ? mqws_str_ieq(t, "mqttv3.1") : mqws_str_eq(t, "mqttv3.1")))
            legacy = t;
    }
    if (offered == 0 && mqws_http_find(req, name))
        return refuse(res, MQWS_ERR_HS_SUBPROTOCOL_SYNTAX); /* present but empty */
    if (exact.ptr) {
        res->subprotocol = exact;
        return MQWS_OK;
    }
    res->non_strict = true;
    if (pol->case_insensitive && folded.ptr)
        res->subprotocol = folded;
    else if (pol->accept_legacy && legacy.ptr)
        res->subprotocol = legacy;
    else if (!((offered == 0 && pol->accept_missing) || (offered > 0 && pol->accept_unknown))) {
        res->non_strict = false;
        return refuse(res, MQWS_ERR_HS_SUBPROTOCOL);
    }
    return MQWS_OK;
}

mqws_err mqws_hs_server_accept(const mqws_hs_request *req, const mqws_hs_server_config *cfg,
                               mqws_hs_server_result *res)
{
    static const mqws_hs_server_config strict = {0};
    if (!res)
        return MQWS_ERR_ARG;
    memset(res, 0, sizeof *res);
    if (!req)
        return refuse(res, MQWS_ERR_ARG);
    if (!cfg)
        cfg = &strict;
    if (!mqws_str_eq(req->method, "GET"))
        return refuse(res, MQWS_ERR_HS_METHOD);
    if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
        return refuse(res, MQWS_ERR_HS_HTTP_VERSION);
    /* The query ("?token=…", common from browsers) is not part of the path. */
    if (cfg->path && !mqws_str_eq(target_path(req->target), cfg->path))
        return refuse(res, MQWS_ERR_HS_PATH);
    const mqws_http_header *host = mqws_http_find(req, "Host");
    if (!host || count_headers(req, "Host") != 1 || !host_valid(host->value))
        return refuse(res, MQWS_ERR_HS_HOST); /* RFC 7230 5.4 */
    if (!has_token(req, "Upgrade", "websocket"))
        return refuse(res, MQWS_ERR_HS_UPGRADE);
    if (!has_token(req, "Connection", "Upgrade"))
        return refuse(res, MQWS_ERR_HS_CONNECTION);
    const mqws_http_header *key = mqws_http_find(req, "Sec-WebSocket-Key");
    if (!key || count_headers(req, "Sec-WebSocket-Key") != 1 || !mqws_hs_key_valid(key->value))
        return refuse(res, MQWS_ERR_HS_KEY);
    const mqws_http_header *ver = mqws_http_find(req, "Sec-WebSocket-Version");
    if (!ver || count_headers(req, "Sec-WebSocket-Version") != 1 || !mqws_str_eq(ver->value, "13"))
        return refuse(res, MQWS_ERR_HS_VERSION);
    mqws_err r = select_subprotocol(req, &cfg->subprotocol, res);
    if (r != MQWS_OK)
        return r;
    r = mqws_hs_accept_key(key->value.ptr, key->value.len, res->accept);
    if (r != MQWS_OK)
        return refuse(res, r);
    res->status = 101;
    res->err = MQWS_OK;
    return MQWS_OK;
}

static const char *status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    default: return "Internal Server Error";
    }
}

/*
 * snprintf wrote (or wanted to write) n characters. On success *written is n;
 * when it did not fit, the buffer size needed, which includes snprintf's NUL.
 */
static mqws_err finish_write(int n, size_t cap, size_t *written)
{
    if (n < 0)
        return MQWS_ERR_INTERNAL;
    if ((size_t)n < cap) {
        *written = (size_t)n;
        return MQWS_OK;
    }
    *written = (size_t)n + 1;
    return MQWS_ERR_BUFFER_TOO_SMALL;
}

mqws_err mqws_hs_write_response(const mqws_hs_server_result *res, char *out, size_t cap,
                                size_t *written)
{
    if (!res || !written || (!out && cap))
        return MQWS_ERR_ARG;
    if (res->err == MQWS_OK) {
        const mqws_str sp = res->subprotocol;
        int n = snprintf(out, cap,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n"
                         "%s%.*s%s"
                         "\r\n",
                         res->accept, sp.len ? "Sec-WebSocket-Protocol: " : "", (int)sp.len,
                         sp.len ? sp.ptr : "", sp.len ? "\r\n" : "");
        return finish_write(n, cap, written);
    }
    int status = res->status ? res->status : 400;
    char body[160];
    int blen = snprintf(body, sizeof body, "%s (%s)\n", mqws_strerror(res->err),
                        mqws_err_ref(res->err)[0] ? mqws_err_ref(res->err) : "RFC6455-4.2.1");
    if (blen < 0 || (size_t)blen >= sizeof body)
        return MQWS_ERR_INTERNAL;
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: close\r\n"
                     "%s"
                     "\r\n%s",
                     status, status_text(status), blen,
                     status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", body);
    return finish_write(n, cap, written);
}

/* ------------------------------------------------------------ client side */

static bool safe_value(const char *s, bool allow_space)
{
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7F || (!allow_space && c == ' '))
            return false; /* CR/LF would inject header lines */
    }
    return true;
}

mqws_err mqws_hs_client_request(const mqws_hs_client_config *cfg, const uint8_t nonce[16],
                                char *out, size_t cap, size_t *written,
                                char key[MQWS_HS_KEY_SIZE])
{
    if (!cfg || !nonce || !written || !key || (!out && cap))
        return MQWS_ERR_ARG;
    if (!safe_value(cfg->host, false) || !safe_value(cfg->path, false) || cfg->path[0] != '/' ||
        (cfg->origin && !safe_value(cfg->origin, false)))
        return MQWS_ERR_ARG;
    if (cfg->num_subprotocols && !cfg->subprotocols)
        return MQWS_ERR_ARG;
    for (size_t i = 0; i < cfg->num_subprotocols; i++)
        if (!cfg->subprotocols[i] || !is_token(mqws_str_c(cfg->subprotocols[i])))
            return MQWS_ERR_ARG;
    EVP_EncodeBlock((unsigned char *)key, nonce, 16); /* 24 chars + NUL */

    size_t pos = 0;
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n",
                     cfg->path, cfg->host, key);
    if (n < 0)
        return MQWS_ERR_INTERNAL;
    pos = (size_t)n;
    /* Appends keep counting past the end of a short buffer, to report the size needed. */
#define MQWS_APPEND_(...)                                                                         \
    do {                                                                                          \
        int m_ = snprintf(pos < cap ? out + pos : NULL, pos < cap ? cap - pos : 0, __VA_ARGS__); \
        if (m_ < 0)                                                                               \
            return MQWS_ERR_INTERNAL;                                                             \
        pos += (size_t)m_;                                                                        \
    } while (0)
    if (cfg->origin)
        MQWS_APPEND_("Origin: %s\r\n", cfg->origin);
    for (size_t i = 0; i < cfg->num_subprotocols; i++)
        MQWS_APPEND_("%s%s%s", i == 0 ? "Sec-WebSocket-Protocol: " : ", ", cfg->subprotocols[i],
                     i + 1 == cfg->num_subprotocols ? "\r\n" : "");
    MQWS_APPEND_("\r\n");
#undef MQWS_APPEND_
    return finish_write((int)pos, cap, written);
}

mqws_err mqws_hs_client_verify(const mqws_hs_response *resp, const mqws_hs_client_config *cfg,
                               const char *key, mqws_str *selected)
{
    if (!resp || !cfg || !key || (cfg->num_subprotocols && !cfg->subprotocols))
        return MQWS_ERR_ARG;
    for (size_t i = 0; i < cfg->num_subprotocols; i++)
        if (!cfg->subprotocols[i])
            return MQWS_ERR_ARG;
    mqws_str none = {0};
    if (selected)
        *selected = none;
    if (resp->status != 101)
        return MQWS_ERR_HS_STATUS;
    /* 4.1 step 2: the value must match "websocket", not merely list it. */
    const mqws_http_header *up = mqws_http_find(resp, "Upgrade");
    if (!up || count_headers(resp, "Upgrade") != 1 || !mqws_str_ieq(up->value, "websocket"))
        return MQWS_ERR_HS_UPGRADE;
    if (!has_token(resp, "Connection", "Upgrade"))
        return MQWS_ERR_HS_CONNECTION;
    char want[MQWS_HS_ACCEPT_SIZE];
    mqws_err r = mqws_hs_accept_key(key, strlen(key), want);
    if (r != MQWS_OK)
        return r;
    const mqws_http_header *acc = mqws_http_find(resp, "Sec-WebSocket-Accept");
    if (!acc || count_headers(resp, "Sec-WebSocket-Accept") != 1 || !mqws_str_eq(acc->value, want))
        return MQWS_ERR_HS_ACCEPT;

    /* 4.1 step 5: this client offers no extension, so any one named fails. */
    size_t cur = 0;
    mqws_str ext;
    if (mqws_http_next_token(resp, "Sec-WebSocket-Extensions", &cur, &ext))
        return MQWS_ERR_HS_EXTENSION_UNOFFERED;

    bool offered_mqtt = false;
    for (size_t i = 0; i < cfg->num_subprotocols; i++)
        offered_mqtt |= strcmp(cfg->subprotocols[i], "mqtt") == 0;
    const mqws_http_header *sp = mqws_http_find(resp, "Sec-WebSocket-Protocol");
    if (!sp)
        return offered_mqtt ? MQWS_ERR_HS_SUBPROTOCOL_NOT_MQTT : MQWS_OK;
    /* Exactly one value, and one the client offered (RFC 6455 4.1 step 6). */
    if (count_headers(resp, "Sec-WebSocket-Protocol") != 1 || !is_token(sp->value))
        return MQWS_ERR_HS_SUBPROTOCOL_UNOFFERED;
    bool was_offered = false;
    for (size_t i = 0; i < cfg->num_subprotocols; i++)
        was_offered |= mqws_str_eq(sp->value, cfg->subprotocols[i]);
    if (!was_offered)
        return MQWS_ERR_HS_SUBPROTOCOL_UNOFFERED;
    if (offered_mqtt && !mqws_str_eq(sp->value, "mqtt"))
        return MQWS_ERR_HS_SUBPROTOCOL_NOT_MQTT;
    if (selected)
        *selected = sp->value;
    return MQWS_OK;
}
