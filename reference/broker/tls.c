/* tls.c - OpenSSL on non-blocking sockets: context, handshake, read, write. */
#include "broker.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

static const char *tls_error_text(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();
    if (e == 0) return errno ? strerror(errno) : "connection closed";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

int mqws_tls_init(mqws_broker *b)
{
    const mqws_broker_config *cfg = &b->cfg;
    bool need = false;
    for (size_t i = 0; i < cfg->num_listen; i++) need |= mqws_transport_is_tls(cfg->listen[i].transport);
    if (!need) return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) { mqws_log("tls: %s", tls_error_text()); return -1; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* partial writes from a buffer that may move between retries: the send queue compacts */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        mqws_log("tls: --tls-cert %s: %s", cfg->tls_cert, tls_error_text());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
        mqws_log("tls: --tls-key %s: %s", cfg->tls_key, tls_error_text());
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        mqws_log("tls: --tls-key %s does not match --tls-cert %s", cfg->tls_key, cfg->tls_cert);
        goto fail;
    }
    if (cfg->tls_ca) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
            mqws_log("tls: --tls-ca %s: %s", cfg->tls_ca, tls_error_text());
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    b->ssl_ctx = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return -1;
}

void mqws_tls_free(mqws_broker *b)
{
    SSL_CTX_free(b->ssl_ctx);
    b->ssl_ctx = NULL;
}

int mqws_tls_start(mqws_conn *c)
{
    SSL *ssl = SSL_new(c->broker->ssl_ctx);
    if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        return -1;
    }
    SSL_set_accept_state(ssl);
    c->ssl = ssl;
    return 0;
}

int mqws_tls_handshake(mqws_conn *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        mqws_trace("conn %llu %s tls: %s %s", (unsigned long long)c->id, c->peer,
                   SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
        return 1;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_WANT_WRITE) return 0; /* the kernel buffer of a new socket is empty: rare */
    if (!c->close_reason) {
        snprintf(c->reason_buf, sizeof c->reason_buf, "TLS handshake failed: %s", tls_error_text());
        c->close_reason = c->reason_buf;
    }
    return -1;
}

bool mqws_tls_wants_write(const mqws_conn *c)
{
    return c->ssl && SSL_want_write(c->ssl);
}

long mqws_tls_read(mqws_conn *c, void *buf, size_t len)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(c->ssl, buf, len > 0x40000000 ? 0x40000000 : (int)len);
    if (n > 0) {
        c->tls_read_pending = SSL_pending(c->ssl) > 0;
        return n;
    }
    c->tls_read_pending = false;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -1;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_SYSCALL && errno == 0) return 0; /* EOF without close_notify */
    if (!c->close_reason) {
        snprintf(c->reason_buf, sizeof c->reason_buf, "TLS read: %s", tls_error_text());
        c->close_reason = c->reason_buf;
    }
    return -2;
}

long mqws_tls_write(mqws_conn *c, const void *buf, size_t len)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(c->ssl, buf, len > 0x40000000 ? 0x40000000 : (int)len);
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -1;
    if (!c->close_reason) {
        snprintf(c->reason_buf, sizeof c->reason_buf, "TLS write: %s", tls_error_text());
        c->close_reason = c->reason_buf;
    }
    return -2;
}

void mqws_tls_shutdown(mqws_conn *c)
{
    if (c->ssl && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* one close_notify, best effort: the socket closes next */
        ERR_clear_error();
    }
}

void mqws_tls_conn_free(mqws_conn *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
}
