/*
 * mqws/handshake.h - the HTTP/1.1 Upgrade handshake of RFC 6455 section 4,
 * server and client side, with MQTT subprotocol selection (MQTT-6.0.0-3/4).
 *
 * Parsing is incremental in the picohttpparser style: the caller appends the
 * bytes it receives to ONE buffer of its own and calls the parse function
 * again with the whole buffer; the parser remembers how far it scanned, so a
 * byte-at-a-time drip costs O(n) in total. Results are views into that buffer.
 *
 * Server flow:
 *   mqws_hs_request req = {0};            // zero-filled state
 *   r = mqws_hs_parse_request(&req, buf, len, &head_len);   // MQWS_NEED_MORE: read more
 *   mqws_hs_server_result res;
 *   mqws_hs_server_accept(&req, &cfg, &res);      // validates, selects subprotocol
 *   mqws_hs_write_response(&res, out, sizeof out, &out_len);  // 101 or 4xx
 * Bytes after head_len already belong to the WebSocket stream.
 *
 * Client flow:
 *   mqws_hs_client_request(&ccfg, nonce16, out, cap, &n, key);  // request bytes
 *   r = mqws_hs_parse_response(&resp, buf, len, &head_len);
 *   mqws_hs_client_verify(&resp, &ccfg, key, &selected);
 */
#ifndef MQWS_HANDSHAKE_H
#define MQWS_HANDSHAKE_H

#include "mqws/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Defaults used when a limit in a config is 0. */
#define MQWS_HS_DEFAULT_MAX_BYTES 8192u
#define MQWS_HS_MAX_HEADERS 64u

/** Length of a Sec-WebSocket-Key / -Accept value plus NUL. */
#define MQWS_HS_KEY_SIZE 25u    /* base64 of 16 bytes: 24 chars + NUL */
#define MQWS_HS_ACCEPT_SIZE 29u /* base64 of 20 bytes: 28 chars + NUL */

typedef struct mqws_http_header {
    mqws_str name;  /* as sent; compare with mqws_str_ieq */
    mqws_str value; /* leading and trailing whitespace removed */
} mqws_http_header;

/**
 * A parsed HTTP head (request or response). Zero-fill before the first call;
 * keep it between calls on the same growing buffer.
 */
typedef struct mqws_http_head {
    /* request line: method SP target SP HTTP/1.x  |  status line: HTTP/1.x SP code SP reason */
    mqws_str method;
    mqws_str target;
    int http_major;
    int http_minor;
    int status; /* responses only */
    mqws_str reason;
    mqws_http_header headers[MQWS_HS_MAX_HEADERS];
    size_t num_headers;
    /* parser state */
    const char *buf_;  /* the buffer of the last parse (views point into it) */
    size_t scanned_;   /* offset up to which the end of the head was searched */
    size_t max_bytes; /* 0: MQWS_HS_DEFAULT_MAX_BYTES; set before the first call */
    size_t err_offset; /* on error: offset of the offending byte in the buffer */
} mqws_http_head;

typedef mqws_http_head mqws_hs_request;
typedef mqws_http_head mqws_hs_response;

/**
 * Parses an HTTP/1.1 request head (request line + header fields + empty line).
 * Call again with the same @p req and the grown buffer after MQWS_NEED_MORE.
 *
 * @param[in,out] req       zero-filled state (set max_bytes before the first call).
 * @param[in]     buf,len   all bytes received so far.
 * @param[out]    head_len  on MQWS_OK: length of the head including the final CRLF CRLF.
 * @return MQWS_OK; MQWS_NEED_MORE; MQWS_ERR_HS_TOO_LARGE (head longer than max_bytes);
 *         MQWS_ERR_HS_TOO_MANY_HEADERS; MQWS_ERR_HS_MALFORMED (bad request line,
 *         header line without ':', bare LF, obsolete line folding, control characters);
 *         MQWS_ERR_ARG (@p req or @p head_len NULL, @p buf NULL with @p len > 0).
 *         On MQWS_OK the views in @p req point into @p buf, which the caller owns and
 *         keeps while it uses them.
 */
mqws_err mqws_hs_parse_request(mqws_hs_request *req, const char *buf, size_t len,
                               size_t *head_len);

/** Parses an HTTP/1.1 response head; same contract as mqws_hs_parse_request. */
mqws_err mqws_hs_parse_response(mqws_hs_response *resp, const char *buf, size_t len,
                                size_t *head_len);

/**
 * First header named @p name (ASCII case-insensitive) in @p h, or NULL. The result
 * points into h->headers, its views into the parsed buffer. @p h and @p name
 * must not be NULL.
 */
const mqws_http_header *mqws_http_find(const mqws_http_head *h, const char *name);

/**
 * Iterates the comma-separated elements of every header named @p name (ASCII
 * case-insensitive), in header order (RFC 7230 section 7 list syntax: empty
 * elements and optional whitespace are skipped). Start with *cursor = 0 (it is an
 * offset into the parsed buffer). Returns true and fills @p token, a view into the
 * parsed buffer, while one is left; false at the end. Elements are not checked to
 * be tokens (no quoted-string handling). No argument may be NULL.
 */
bool mqws_http_next_token(const mqws_http_head *h, const char *name, size_t *cursor,
                          mqws_str *token);

/**
 * Computes Sec-WebSocket-Accept = base64(SHA-1(key ++ GUID)) (RFC 6455 4.2.2).
 * SHA-1 comes from OpenSSL libcrypto: SHA1_Init/Update/Final on a stack context (no
 * allocation, no lock, thread-safe); in a libcrypto built without deprecated APIs,
 * an EVP_MD fetched once per process.
 * @p key is hashed as given (not checked with mqws_hs_key_valid).
 *
 * @param[out] accept  28 characters and a NUL (caller's buffer).
 * @return MQWS_OK, MQWS_ERR_ARG (@p key or @p accept NULL, @p key_len > 92),
 *         MQWS_ERR_INTERNAL (SHA-1 fetch or digest failed in libcrypto).
 */
mqws_err mqws_hs_accept_key(const char *key, size_t key_len, char accept[MQWS_HS_ACCEPT_SIZE]);

/**
 * true when @p key is base64 of exactly 16 bytes: 24 characters, 22 of the base64
 * alphabet (A-Z a-z 0-9 + /) then "==". Non-zero pad bits in the 22nd are accepted.
 */
bool mqws_hs_key_valid(mqws_str key);

/**
 * Subprotocol policy of the server. The zero value is strict MQTT (section 6):
 * only "mqtt" (compared byte for byte) is selected; a request without it is refused.
 * Each flag relaxes one rule; the handshake then still succeeds, and
 * mqws_hs_server_result.non_strict says so.
 */
typedef struct mqws_subproto_policy {
    bool accept_legacy;       /* select "mqttv3.1" when offered and "mqtt" is not */
    bool accept_missing;      /* no Sec-WebSocket-Protocol at all: answer without one */
    bool accept_unknown;      /* only other values offered: answer without one */
    bool case_insensitive;    /* "MQTT" matches "mqtt"; the client's spelling is echoed */
} mqws_subproto_policy;

typedef struct mqws_hs_server_config {
    const char *path;       /* path to serve, e.g. "/mqtt", compared exactly with the
                               request-target's path (up to any '?query'; the path of
                               an absolute http/https target, RFC 6455 4.2.1); NULL: any */
    mqws_subproto_policy subprotocol;
} mqws_hs_server_config;

typedef struct mqws_hs_server_result {
    mqws_err err;          /* MQWS_OK: upgrade; else the reason of the refusal */
    int status;            /* 101, or mqws_err_http_status(err): 400 / 404 / 426, 500
                              (MQWS_ERR_INTERNAL), 0 (MQWS_ERR_ARG) */
    mqws_str subprotocol;  /* selected value (a view into the request), empty if none */
    bool non_strict;       /* a policy flag relaxed a MUST to make this handshake succeed */
    char accept[MQWS_HS_ACCEPT_SIZE];
} mqws_hs_server_result;

/**
 * Validates a request parsed with MQWS_OK against RFC 6455 4.2.1 and selects the
 * subprotocol. Never selects a value the client did not offer and never echoes a
 * list (RFC 6455 4.2.2). @p cfg NULL: any path, strict subprotocol policy.
 * @p res is zero-filled, then gets err and status; on MQWS_OK also accept and
 * subprotocol (a view into the request buffer) and non_strict.
 *
 * @return the same value as @p res->err; the first check that fails, in order:
 *         MQWS_ERR_ARG (@p req NULL; @p res NULL: returned, @p res untouched),
 *         MQWS_ERR_HS_METHOD (not "GET"), MQWS_ERR_HS_HTTP_VERSION (below 1.1),
 *         MQWS_ERR_HS_PATH (path of the target, query excluded, is not cfg->path),
 *         MQWS_ERR_HS_HOST (not exactly one Host, or not uri-host [":" port]),
 *         MQWS_ERR_HS_UPGRADE (no "websocket" token), MQWS_ERR_HS_CONNECTION (no
 *         "Upgrade" token), MQWS_ERR_HS_KEY (not exactly one Sec-WebSocket-Key, or
 *         not 16 bytes base64), MQWS_ERR_HS_VERSION (not exactly one
 *         Sec-WebSocket-Version, or not "13"), MQWS_ERR_HS_SUBPROTOCOL_SYNTAX (an
 *         offered value not a token, or the header with no value),
 *         MQWS_ERR_HS_SUBPROTOCOL (no acceptable value under the policy),
 *         MQWS_ERR_INTERNAL (libcrypto failure). Header names and the Upgrade and
 *         Connection tokens compare ASCII case-insensitively, the rest byte for byte.
 */
mqws_err mqws_hs_server_accept(const mqws_hs_request *req, const mqws_hs_server_config *cfg,
                               mqws_hs_server_result *res);

/**
 * Writes the response for @p res: "101 Switching Protocols" with Upgrade,
 * Connection, Sec-WebSocket-Accept and (if selected) Sec-WebSocket-Protocol;
 * or the error status with "Connection: close", a text/plain one-line body
 * naming the failed rule, and for 426 "Sec-WebSocket-Version: 13".
 *
 * @param[out] written  bytes written (a NUL follows them); on MQWS_ERR_BUFFER_TOO_SMALL
 *                      the buffer size needed, NUL included.
 * @return MQWS_OK, MQWS_ERR_BUFFER_TOO_SMALL, MQWS_ERR_ARG (@p res or @p written
 *         NULL, @p out NULL with @p cap > 0), MQWS_ERR_INTERNAL (formatting failed;
 *         not expected).
 */
mqws_err mqws_hs_write_response(const mqws_hs_server_result *res, char *out, size_t cap,
                                size_t *written);

/** Client side. */
typedef struct mqws_hs_client_config {
    const char *host;                 /* Host header value, e.g. "broker.example:8080" */
    const char *path;                 /* request-target, e.g. "/mqtt" */
    const char *origin;               /* Origin header, NULL: none */
    const char *const *subprotocols;  /* offered, in preference order; e.g. {"mqtt"} */
    size_t num_subprotocols;
} mqws_hs_client_config;

/**
 * Writes the GET request into the caller's @p out (@p out NULL with @p cap 0 asks
 * for the size). The caller supplies the 16 random bytes (the codec has no random
 * source); @p key receives their base64 (24 characters and a NUL) for
 * mqws_hs_client_verify, on MQWS_ERR_BUFFER_TOO_SMALL too.
 *
 * @param[out] written  bytes written (a NUL follows them); on MQWS_ERR_BUFFER_TOO_SMALL
 *                      the buffer size needed, NUL included.
 * @return MQWS_OK, MQWS_ERR_BUFFER_TOO_SMALL, MQWS_ERR_ARG (@p cfg, @p nonce,
 *         @p written or @p key NULL; @p out NULL with @p cap > 0; host or path NULL
 *         or empty, path not starting with '/', an empty origin, a space or control
 *         character (CR/LF...) in host, path or origin; num_subprotocols > 0 with
 *         subprotocols NULL, a subprotocol NULL or not an RFC 7230 token),
 *         MQWS_ERR_INTERNAL (snprintf failed; not expected).
 */
mqws_err mqws_hs_client_request(const mqws_hs_client_config *cfg, const uint8_t nonce[16],
                                char *out, size_t cap, size_t *written,
                                char key[MQWS_HS_KEY_SIZE]);

/**
 * Verifies a response parsed with MQWS_OK (RFC 6455 4.1, client steps 1-6) against
 * @p cfg and @p key (the NUL-terminated key from mqws_hs_client_request).
 *
 * @param[out] selected  may be NULL; emptied once the arguments are checked, then on
 *                       MQWS_OK the selected subprotocol (a view into the response
 *                       buffer; empty if none).
 * @return MQWS_OK, or the first check that fails, in order:
 *         MQWS_ERR_ARG (@p resp, @p cfg or @p key NULL; num_subprotocols > 0 with
 *         subprotocols NULL, or a subprotocol NULL),
 *         MQWS_ERR_HS_STATUS (status not 101), MQWS_ERR_HS_UPGRADE (not exactly one
 *         Upgrade field, or its value not "websocket", ASCII case-insensitive),
 *         MQWS_ERR_HS_CONNECTION (no "Upgrade" token), MQWS_ERR_ARG (@p key longer
 *         than 92 bytes), MQWS_ERR_INTERNAL (libcrypto failure), MQWS_ERR_HS_ACCEPT (not exactly one Sec-WebSocket-Accept, or not
 *         the expected value byte for byte), MQWS_ERR_HS_EXTENSION_UNOFFERED (any
 *         Sec-WebSocket-Extensions element: the client offers none),
 *         MQWS_ERR_HS_SUBPROTOCOL_UNOFFERED (more than one Sec-WebSocket-Protocol field,
 *         a value that is not one token, or one not offered byte for byte),
 *         MQWS_ERR_HS_SUBPROTOCOL_NOT_MQTT ("mqtt" offered but none or another
 *         value selected, MQTT-6.0.0-4).
 */
mqws_err mqws_hs_client_verify(const mqws_hs_response *resp, const mqws_hs_client_config *cfg,
                               const char *key, mqws_str *selected);

#ifdef __cplusplus
}
#endif
#endif /* MQWS_HANDSHAKE_H */
