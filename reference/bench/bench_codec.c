/*
 * bench_codec.c - codec micro-benchmarks for `make bench-codec` (figures, not tests:
 * nothing here fails the build; a missed target is printed, not asserted).
 *
 *  (a) unmask 1 MiB with mqws_ws_mask vs memcpy of 1 MiB    target: <= 1.2x memcpy time
 *  (b) decode 64-byte masked binary frames (server role), mqws_ws_decode vs
 *      wslay_frame_recv (wslay's lowest layer, reading from memory through its
 *      recv callback: both parse the header and unmask the payload)
 *                                                            target: libmqws >= 5x faster
 *  (c) Sec-WebSocket-Accept: mqws_hs_accept_key vs OpenSSL's one-shot
 *      EVP_Q_digest(NULL, "SHA1", ...) + EVP_EncodeBlock
 *  (d) MQTT 3.1.1 QoS 0 PUBLISH decode ("sensors/room1/temperature", 8-byte payload)
 *
 * Method: CLOCK_MONOTONIC; a warm-up run, then the iteration count is grown until a
 * run takes >= 30 ms and scaled to ~0.3 s; the best of 3 such runs is reported.
 * Every loop feeds a checksum that is printed at the end, so no work is optimised away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "mqws/mqws.h"

#define MIB (1u << 20)
#define FRAME_PAYLOAD 64u
#define FRAME_SIZE (2u + 4u + FRAME_PAYLOAD)
#define NFRAMES 16384u /* ~1.1 MiB of frames back to back */

static uint64_t g_check; /* optimisation barrier: printed at the end */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef void (*bench_fn)(void *ctx, uint64_t iters);

/* Seconds per iteration: warm-up, calibrate to ~target_s, best of 3. */
static double measure(bench_fn fn, void *ctx, double target_s)
{
    fn(ctx, 1);
    uint64_t iters = 1;
    double t;
    for (;;) {
        double t0 = now_s();
        fn(ctx, iters);
        t = now_s() - t0;
        if (t >= 0.03 || iters >= (1ull << 40))
            break;
        iters *= 2;
    }
    uint64_t n = (uint64_t)((double)iters * (target_s / 3.0) / (t > 0 ? t : 1e-9));
    if (n < 1)
        n = 1;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        fn(ctx, n);
        double dt = (now_s() - t0) / (double)n;
        if (dt < best)
            best = dt;
    }
    return best;
}

/* ------------------------------------------------------------------ (a) unmask vs memcpy */

typedef struct mem_ctx {
    uint8_t *src, *dst;
} mem_ctx;

static void run_memcpy(void *p, uint64_t iters)
{
    mem_ctx *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        memcpy(c->dst, c->src, MIB);
        g_check += c->dst[i & (MIB - 1)];
        c->src[i & (MIB - 1)] ^= 1; /* the source changes: no copy can be skipped */
    }
}

static void run_unmask(void *p, uint64_t iters)
{
    mem_ctx *c = p;
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    for (uint64_t i = 0; i < iters; i++) {
        mqws_ws_mask(c->dst, MIB, key, 0);
        g_check += c->dst[i & (MIB - 1)];
    }
}

/* ------------------------------------------------------------------ (b) frame decode */

typedef struct frames_ctx {
    uint8_t *buf;
    size_t len;
    /* wslay */
    wslay_frame_context_ptr wslay;
    size_t rpos;
} frames_ctx;

static void run_mqws_frames(void *p, uint64_t iters)
{
    frames_ctx *c = p;
    for (uint64_t it = 0; it < iters; it++) {
        mqws_ws_decoder d;
        mqws_ws_decoder_init(&d, MQWS_ROLE_SERVER, 0);
        uint8_t *in = c->buf;
        size_t left = c->len, frames = 0;
        while (left > 0) {
            size_t used;
            mqws_ws_event ev;
            mqws_err r = mqws_ws_decode(&d, in, left, &used, &ev);
            in += used;
            left -= used;
            if (r != MQWS_OK)
                break;
            g_check += ev.len + ev.data[0];
            frames += ev.frame_end;
        }
        /* payloads are unmasked in place: the next pass masks them again, which a
         * binary frame does not care about; headers are untouched */
        if (frames != NFRAMES) {
            fprintf(stderr, "bench: mqws decoded %zu frames, expected %u\n", frames, NFRAMES);
            exit(1);
        }
    }
}

static ssize_t wslay_recv_mem(uint8_t *buf, size_t len, int flags, void *user)
{
    frames_ctx *c = user;
    (void)flags;
    size_t left = c->len - c->rpos;
    if (left == 0)
        return WSLAY_ERR_WANT_READ;
    size_t n = len < left ? len : left;
    memcpy(buf, c->buf + c->rpos, n);
    c->rpos += n;
    return (ssize_t)n;
}

static ssize_t wslay_send_none(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)data, (void)len, (void)flags, (void)user;
    return -1;
}

static int wslay_genmask_none(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    memset(buf, 0, len);
    return 0;
}

static void run_wslay_frames(void *p, uint64_t iters)
{
    frames_ctx *c = p;
    for (uint64_t it = 0; it < iters; it++) {
        c->rpos = 0;
        uint64_t payload = 0;
        for (;;) {
            struct wslay_frame_iocb iocb;
            memset(&iocb, 0, sizeof iocb);
            ssize_t r = wslay_frame_recv(c->wslay, &iocb);
            if (r < 0)
                break; /* WSLAY_ERR_WANT_READ at the end of the buffer */
            payload += iocb.data_length;
            if (iocb.data_length)
                g_check += iocb.data_length + iocb.data[0];
        }
        if (payload != (uint64_t)NFRAMES * FRAME_PAYLOAD) {
            fprintf(stderr, "bench: wslay received %llu payload bytes, expected %u\n",
                    (unsigned long long)payload, NFRAMES * FRAME_PAYLOAD);
            exit(1);
        }
    }
}

/* ------------------------------------------------------------------ (c) accept key */

static const char k_key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static void run_mqws_accept(void *p, uint64_t iters)
{
    (void)p;
    char accept[MQWS_HS_ACCEPT_SIZE];
    for (uint64_t i = 0; i < iters; i++) {
        if (mqws_hs_accept_key(k_key, sizeof k_key - 1, accept) != MQWS_OK)
            exit(1);
        g_check += (uint8_t)accept[i % 28];
    }
}

static void run_openssl_accept(void *p, uint64_t iters)
{
    (void)p;
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char in[64], md[EVP_MAX_MD_SIZE];
    char accept[MQWS_HS_ACCEPT_SIZE];
    for (uint64_t i = 0; i < iters; i++) {
        size_t md_len = 0;
        memcpy(in, k_key, sizeof k_key - 1);
        memcpy(in + sizeof k_key - 1, guid, sizeof guid - 1);
        if (!EVP_Q_digest(NULL, "SHA1", NULL, in, sizeof k_key - 1 + sizeof guid - 1, md, &md_len))
            exit(1);
        EVP_EncodeBlock((unsigned char *)accept, md, (int)md_len);
        g_check += (uint8_t)accept[i % 28];
    }
}

/* ------------------------------------------------------------------ (d) PUBLISH decode */

typedef struct publish_ctx {
    uint8_t pkt[64];
    size_t len;
} publish_ctx;

static void run_publish(void *p, uint64_t iters)
{
    publish_ctx *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        mqws_packet pkt;
        size_t used;
        if (mqws_mqtt_decode(c->pkt, c->len, MQWS_MQTT_V311, NULL, &pkt, &used, NULL) != MQWS_OK)
            exit(1);
        g_check += pkt.publish.topic.len + pkt.publish.payload.ptr[0];
    }
}

/* ------------------------------------------------------------------ main */

static const char *verdict(int ok)
{
    return ok ? "meets target" : "BELOW TARGET";
}

int main(void)
{
    const double T = 0.3;
    double t0 = now_s();

    /* (a) */
    mem_ctx m;
    m.src = malloc(MIB);
    m.dst = malloc(MIB);
    if (!m.src || !m.dst)
        return 1;
    for (size_t i = 0; i < MIB; i++) {
        m.src[i] = (uint8_t)(i * 131u);
        m.dst[i] = (uint8_t)i;
    }
    double s_memcpy = measure(run_memcpy, &m, T);
    double s_unmask = measure(run_unmask, &m, T);

    /* (b) */
    frames_ctx f;
    memset(&f, 0, sizeof f);
    f.len = (size_t)NFRAMES * FRAME_SIZE;
    f.buf = malloc(f.len);
    if (!f.buf)
        return 1;
    {
        uint8_t payload[FRAME_PAYLOAD];
        for (size_t i = 0; i < FRAME_PAYLOAD; i++)
            payload[i] = (uint8_t)(i + 1);
        size_t pos = 0;
        for (uint32_t k = 0; k < NFRAMES; k++) {
            uint8_t key[4] = {(uint8_t)k, (uint8_t)(k >> 8), 0x5a, 0xa5};
            size_t w = 0;
            if (mqws_ws_encode_frame(f.buf + pos, f.len - pos, &w, MQWS_WS_BINARY, true, payload,
                                     sizeof payload, key) != MQWS_OK ||
                w != FRAME_SIZE) {
                fprintf(stderr, "bench: frame encoding failed\n");
                return 1;
            }
            pos += w;
        }
    }
    struct wslay_frame_callbacks cb = {wslay_send_none, wslay_recv_mem, wslay_genmask_none};
    if (wslay_frame_context_init(&f.wslay, &cb, &f) != 0)
        return 1;
    double s_mqws_frames = measure(run_mqws_frames, &f, T) / NFRAMES;
    double s_wslay_frames = measure(run_wslay_frames, &f, T) / NFRAMES;
    wslay_frame_context_free(f.wslay);

    /* (c) */
    double s_mqws_accept = measure(run_mqws_accept, NULL, T);
    double s_ossl_accept = measure(run_openssl_accept, NULL, T);
    {
        char a[MQWS_HS_ACCEPT_SIZE];
        if (mqws_hs_accept_key(k_key, sizeof k_key - 1, a) != MQWS_OK ||
            strcmp(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0)
            fprintf(stderr, "bench: warning: accept key differs from RFC 6455 1.3\n");
    }

    /* (d) */
    publish_ctx pc;
    {
        static const char topic[] = "sensors/room1/temperature";
        static const uint8_t payload[8] = {0x41, 0xb4, 0xcc, 0xcd, 0, 0, 0, 1};
        size_t tl = sizeof topic - 1;
        pc.pkt[0] = 0x30; /* PUBLISH, QoS 0 */
        pc.pkt[1] = (uint8_t)(2 + tl + sizeof payload);
        pc.pkt[2] = 0;
        pc.pkt[3] = (uint8_t)tl;
        memcpy(pc.pkt + 4, topic, tl);
        memcpy(pc.pkt + 4 + tl, payload, sizeof payload);
        pc.len = 4 + tl + sizeof payload;
    }
    double s_publish = measure(run_publish, &pc, T);

    double gbs_memcpy = (double)MIB / s_memcpy / 1e9;
    double gbs_unmask = (double)MIB / s_unmask / 1e9;
    double r_unmask = s_unmask / s_memcpy;
    double r_frames = s_wslay_frames / s_mqws_frames;

    printf("libmqws %s codec benchmarks (best of 3 runs of ~%.1f s each figure)\n\n",
           MQWS_VERSION_STRING, T / 3);
    printf("%-44s %16s %18s %10s  %s\n", "figure", "libmqws", "reference", "ratio", "target");
    printf("%-44s %11.2f GB/s %13.2f GB/s %9.2fx  <= 1.20x time of memcpy: %s\n",
           "(a) unmask 1 MiB vs memcpy 1 MiB", gbs_unmask, gbs_memcpy, r_unmask,
           verdict(r_unmask <= 1.2));
    printf("%-44s %11.1f ns   %13.1f ns   %9.1fx  >= 5x faster than wslay: %s\n",
           "(b) decode 64-byte masked frame vs wslay", s_mqws_frames * 1e9, s_wslay_frames * 1e9,
           r_frames, verdict(r_frames >= 5.0));
    printf("%-44s %11.2f M/s  %13.2f M/s  \n", "    frames per second", 1e-6 / s_mqws_frames,
           1e-6 / s_wslay_frames);
    printf("%-44s %11.1f ns   %13.1f ns   %9.2fx  (EVP_Q_digest / mqws)\n",
           "(c) Sec-WebSocket-Accept vs EVP_Q_digest", s_mqws_accept * 1e9, s_ossl_accept * 1e9,
           s_ossl_accept / s_mqws_accept);
    printf("%-44s %11.1f ns   %18s %10s  (%.1f M packets/s)\n",
           "(d) MQTT 3.1.1 QoS 0 PUBLISH decode", s_publish * 1e9, "-", "-", 1e-6 / s_publish);
    printf("\nchecksum %016llx, total %.1f s\n", (unsigned long long)g_check, now_s() - t0);

    free(m.src);
    free(m.dst);
    free(f.buf);
    return 0;
}
