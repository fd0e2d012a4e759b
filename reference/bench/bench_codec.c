/*
 * bench_codec.c - codec benchmarks for `make bench-codec` on varied input (figures,
 * not tests: nothing here fails the build; a missed goal is printed, not asserted).
 *
 * Input, from a fixed seed (the same bytes on every run):
 *   frames   4096 distinct 64-byte masked binary frames, random payloads and keys
 *   1 MiB    one masked binary frame of 1 MiB
 *   publish  4096 distinct MQTT 3.1.1 QoS 1 PUBLISH packets: 12-40-byte topics
 *            (a-z 0-9 / _ -), random packet identifiers and 64-byte payloads
 *   chained  the same packets, each in its own masked frame (random keys)
 *   keys     1024 distinct Sec-WebSocket-Keys (random 16-byte nonces, base64)
 *
 * Each row against a peer run in the same process:
 *   frame    mqws_ws_decode vs wslay_frame_recv (wslay's frame layer reading from
 *            memory through its recv callback; both parse the header and unmask)
 *   1 MiB    mqws_ws_decode of the frame (header + unmask in place) vs memcpy of
 *            1 MiB; wslay_frame_recv on the same frame for information
 *   publish  mqws_mqtt_decode (every rule checked) vs mini_decode_publish below:
 *            a minimal decoder that locates the fixed header, topic and packet id
 *            and checks nothing but bounds. The goal is coreMQTT v2.3.1's rate,
 *            which is not linked here: its receive path for these packets
 *            (MQTT_ProcessIncomingPacketTypeAndLength + MQTT_DeserializePublish)
 *            was timed against this minimal decoder in one process on this
 *            machine (see COREMQTT_PER_MINIMAL), and the row prints the rate
 *            that implies. An external run measured coreMQTT at 7.4 ns.
 *            A build that links an object defining mqws_bench_publish_peer (a
 *            calibration build; the repository ships none) times that peer too.
 *   chained  mqws_stream_feed + mqws_mqtt_decode (frame decode, reassembly, packet
 *            decode: a broker's receive path) vs wslay_frame_recv + per-frame
 *            reassembly + mini_decode_publish
 *   accept   mqws_hs_accept_key vs OpenSSL SHA1_Init/Update/Final + EVP_EncodeBlock
 *            (the floor); a prefetched EVP_MD with one reused EVP_MD_CTX for information
 *
 * Before any timing, every implementation's output is compared with the input it
 * was made from (payload bytes, topic, packet id, accept value); a mismatch aborts.
 *
 * Method: CPU time of the benchmark thread (CLOCK_THREAD_CPUTIME_ID), so that on
 * a shared machine the time the scheduler gives other processes is not counted
 * (their cache and memory traffic still is). A sample is a number of passes over
 * all units, sized to ~20 ms; samples of an implementation and its peer
 * alternate (so a noisy neighbour hits both), SAMPLES of each, and the median per
 * unit is reported. Decoders that unmask in place get their input restored
 * between passes, outside the timed region, when the content matters (MQTT rows).
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1_Init/Update/Final: the floor for the accept row */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "mqws/mqws.h"

#define MIB (1u << 20)
#define NFRAMES 4096u
#define FRAME_PAYLOAD 64u
#define FRAME_SIZE (2u + 4u + FRAME_PAYLOAD)
#define NPUB 4096u
#define PUB_PAYLOAD 64u
#define NKEYS 1024u
#define SAMPLES 11
#define SAMPLE_S 0.02

static const char k_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static uint64_t g_check; /* optimisation barrier: printed at the end */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: time the scheduler gives other processes is not counted. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench-codec: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("out of memory");
    return p;
}

/* splitmix64, fixed seed: the same input on every run. */
static uint64_t g_rng = 0x6d717773u;

static uint64_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* ------------------------------------------------------------------ timing */

typedef uint64_t (*pass_fn)(void *ctx);  /* one pass over all units; returns a checksum */
typedef void (*restore_fn)(void *ctx);   /* untimed: puts the input back */

typedef struct impl {
    const char *name;
    pass_fn pass;
    restore_fn restore; /* may be NULL */
    void *ctx;
    unsigned units;     /* units per pass */
    unsigned passes;    /* passes per sample (calibrated) */
    double ns[SAMPLES]; /* ns per unit, per sample */
    double median;
} impl;

static double run_sample(impl *m)
{
    double t = 0;
    if (!m->restore) { /* one clock read per sample */
        double t0 = cpu_s();
        for (unsigned p = 0; p < m->passes; p++)
            g_check += m->pass(m->ctx);
        t = cpu_s() - t0;
    } else {
        for (unsigned p = 0; p < m->passes; p++) {
            m->restore(m->ctx);
            double t0 = cpu_s();
            g_check += m->pass(m->ctx);
            t += cpu_s() - t0;
        }
    }
    return t * 1e9 / ((double)m->passes * m->units);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Calibrates each implementation, then alternates their samples. */
static void measure(impl *ms, int n)
{
    for (int i = 0; i < n; i++) {
        ms[i].passes = 1;
        run_sample(&ms[i]); /* warm-up */
        double per_pass = run_sample(&ms[i]) * ms[i].units * 1e-9;
        double want = SAMPLE_S / (per_pass > 0 ? per_pass : 1e-9);
        ms[i].passes = want < 1 ? 1u : want > 1e6 ? 1000000u : (unsigned)want;
    }
    for (int s = 0; s < SAMPLES; s++)
        for (int i = 0; i < n; i++)
            ms[i].ns[s] = run_sample(&ms[i]);
    for (int i = 0; i < n; i++) {
        double sorted[SAMPLES];
        memcpy(sorted, ms[i].ns, sizeof sorted);
        qsort(sorted, SAMPLES, sizeof sorted[0], cmp_double);
        ms[i].median = sorted[SAMPLES / 2];
    }
}

/* ------------------------------------------------------------------ wslay plumbing */

typedef struct mem_src {
    const uint8_t *buf;
    size_t len, pos;
} mem_src;

static ssize_t wslay_recv_mem(uint8_t *buf, size_t len, int flags, void *user)
{
    mem_src *s = user;
    (void)flags;
    size_t left = s->len - s->pos;
    if (left == 0)
        return WSLAY_ERR_WANT_READ;
    size_t n = len < left ? len : left;
    memcpy(buf, s->buf + s->pos, n);
    s->pos += n;
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

static wslay_frame_context_ptr wslay_new(mem_src *src)
{
    static const struct wslay_frame_callbacks cb = {wslay_send_none, wslay_recv_mem,
                                                    wslay_genmask_none};
    wslay_frame_context_ptr w;
    if (wslay_frame_context_init(&w, &cb, src) != 0)
        die("wslay_frame_context_init failed");
    return w;
}

/* ------------------------------------------------------------------ frames (64 B and 1 MiB) */

typedef struct frames_ctx {
    uint8_t *wire;          /* masked frames back to back (unmasked in place by mqws) */
    size_t len;
    unsigned nframes;
    const uint8_t *payload; /* all payloads concatenated, as sent */
    size_t payload_len;
    uint8_t *out;           /* check: payload bytes as delivered */
    mem_src src;
    wslay_frame_context_ptr wslay;
} frames_ctx;

/* Builds masked binary frames of the given payloads (random keys). */
static size_t build_frames(uint8_t *wire, size_t cap, const uint8_t *payload,
                           const size_t *sizes, unsigned n)
{
    size_t pos = 0, at = 0;
    for (unsigned i = 0; i < n; i++) {
        uint8_t key[4];
        rnd_bytes(key, 4);
        size_t w = 0;
        if (mqws_ws_encode_frame(wire + pos, cap - pos, &w, MQWS_WS_BINARY, true, payload + at,
                                 sizes[i], key) != MQWS_OK)
            die("frame encoding failed");
        pos += w;
        at += sizes[i];
    }
    return pos;
}

/* mqws: one decoder over the whole stream; with out != NULL the payloads are kept. */
static uint64_t mqws_frames_run(frames_ctx *c, uint8_t *out)
{
    mqws_ws_decoder d;
    mqws_ws_decoder_init(&d, MQWS_ROLE_SERVER, 0);
    uint8_t *in = c->wire;
    size_t left = c->len, frames = 0, at = 0;
    uint64_t sum = 0;
    while (left > 0) {
        size_t used;
        mqws_ws_event ev;
        mqws_err r = mqws_ws_decode(&d, in, left, &used, &ev);
        in += used;
        left -= used;
        if (r != MQWS_OK)
            die("mqws_ws_decode failed on a valid frame");
        if (out) {
            memcpy(out + at, ev.data, ev.len);
            at += ev.len;
        }
        sum += ev.len + ev.data[0];
        frames += ev.frame_end;
    }
    if (frames != c->nframes)
        die("mqws_ws_decode: frame count differs");
    return sum;
}

static uint64_t mqws_frames_pass(void *p) { return mqws_frames_run(p, NULL); }

static uint64_t wslay_frames_run(frames_ctx *c, uint8_t *out)
{
    c->src.pos = 0;
    uint64_t payload = 0, sum = 0;
    size_t frames = 0, in_frame = 0;
    for (;;) {
        struct wslay_frame_iocb iocb;
        memset(&iocb, 0, sizeof iocb);
        ssize_t r = wslay_frame_recv(c->wslay, &iocb);
        if (r < 0)
            break; /* WSLAY_ERR_WANT_READ at the end of the buffer */
        if (out)
            memcpy(out + payload, iocb.data, iocb.data_length);
        payload += iocb.data_length;
        in_frame += iocb.data_length;
        if (in_frame == iocb.payload_length) {
            frames++;
            in_frame = 0;
        }
        if (iocb.data_length)
            sum += iocb.data_length + iocb.data[0];
    }
    if (frames != c->nframes || payload != c->payload_len)
        die("wslay: frame count or payload size differs");
    return sum;
}

static uint64_t wslay_frames_pass(void *p) { return wslay_frames_run(p, NULL); }

static uint64_t memcpy_pass(void *p)
{
    frames_ctx *c = p;
    memcpy(c->out, c->wire, c->payload_len);
    return c->out[c->payload_len / 2];
}

static void frames_ctx_init(frames_ctx *c, const uint8_t *payload, const size_t *sizes,
                            unsigned n)
{
    memset(c, 0, sizeof *c);
    c->nframes = n;
    for (unsigned i = 0; i < n; i++)
        c->payload_len += sizes[i];
    size_t cap = c->payload_len + (size_t)n * MQWS_WS_MAX_HEADER;
    c->wire = xmalloc(cap);
    c->len = build_frames(c->wire, cap, payload, sizes, n);
    c->payload = payload;
    c->out = xmalloc(c->payload_len);
    c->src.buf = c->wire;
    c->src.len = c->len;
    c->wslay = wslay_new(&c->src);
}

/* Output check: both decoders deliver exactly the payload bytes that were sent. */
static void frames_check(frames_ctx *c)
{
    uint8_t *saved = xmalloc(c->len);
    memcpy(saved, c->wire, c->len);
    memset(c->out, 0, c->payload_len);
    wslay_frames_run(c, c->out);
    if (memcmp(c->out, c->payload, c->payload_len) != 0)
        die("wslay delivered different payload bytes");
    memset(c->out, 0, c->payload_len);
    mqws_frames_run(c, c->out);
    if (memcmp(c->out, c->payload, c->payload_len) != 0)
        die("mqws_ws_decode delivered different payload bytes");
    memcpy(c->wire, saved, c->len); /* masked again */
    free(saved);
}

static void frames_ctx_free(frames_ctx *c)
{
    wslay_frame_context_free(c->wslay);
    free(c->wire);
    free(c->out);
}

/* ------------------------------------------------------------------ PUBLISH */

typedef struct pub_ref { /* what the generator wrote */
    size_t off, len;     /* the packet in the packet buffer */
    size_t topic_len;
    uint16_t packet_id;
    const uint8_t *topic, *payload;
} pub_ref;

typedef struct pub_ctx {
    uint8_t *pkts; /* packets back to back */
    size_t pkts_len;
    pub_ref ref[NPUB];
    size_t off[NPUB], len[NPUB]; /* the same, as arrays for a linked peer */
    /* chained: each packet in its own masked frame */
    uint8_t *wire, *wire_orig;
    size_t wire_len;
    uint8_t pktbuf[4096]; /* mqws_stream packet buffer (max packet size) */
    mem_src src;
    wslay_frame_context_ptr wslay;
    uint8_t reasm[4096]; /* peer: frame reassembly buffer */
} pub_ctx;

/*
 * The floor: a minimal PUBLISH decoder. It locates the fixed header (type and flags,
 * Remaining Length), the topic, the packet id and the payload, and checks only that
 * each field lies inside the input: no flag, QoS, UTF-8, wildcard or id rule.
 */
typedef struct mini_publish {
    const uint8_t *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    uint16_t packet_id;
    uint8_t qos, retain, dup;
} mini_publish;

/*
 * coreMQTT v2.3.1's receive path per PUBLISH (MQTT_ProcessIncomingPacketTypeAndLength,
 * then MQTT_DeserializePublish, as core_mqtt.c's receiveSingleIteration calls them)
 * in time per packet over mini_decode_publish's, on these 4096 packets, measured by
 * this program itself with coreMQTT linked in through mqws_bench_publish_peer
 * (thread CPU time, alternating samples, medians): median of 36 runs on the 2-core
 * Debian 12 machine (AMD EPYC), gcc 12 -O2, range 1.56-2.14 (docs/measurements.md).
 * coreMQTT's rate = the minimal decoder's rate / COREMQTT_PER_MINIMAL.
 * MQTT_DeserializePublish alone, the packet info already parsed, takes about the
 * minimal decoder's time (median 1.01x).
 */
#define COREMQTT_PER_MINIMAL 1.92
#define COREMQTT_PER_MINIMAL_LO 1.56
#define COREMQTT_PER_MINIMAL_HI 2.14

/*
 * Calibration hook: an object linked in that defines this gets its own PUBLISH row
 * (same packets, same timing), and its measured ratio replaces the constant above.
 * decode (one packet, for the output check) returns 0 on success and fills the
 * views like mini_decode_publish; pass (timed) decodes packets
 * pkts[off[i]..off[i]+len[i]) for i < n in a loop of its own, as the other passes
 * do, and returns the sum of topic length + packet id + first payload byte.
 */
typedef struct mqws_bench_peer {
    const char *name;
    int (*decode)(const uint8_t *b, size_t len, const uint8_t **topic, size_t *topic_len,
                  uint16_t *packet_id, const uint8_t **payload, size_t *payload_len);
    uint64_t (*pass)(const uint8_t *pkts, const size_t *off, const size_t *len, unsigned n);
} mqws_bench_peer;
extern const mqws_bench_peer mqws_bench_publish_peer __attribute__((weak));

/* A real call, as into a library: no inlining, and (GCC) no interprocedural shortcuts. */
#if defined(__clang__)
#define BENCH_OPAQUE __attribute__((noinline))
#else
#define BENCH_OPAQUE __attribute__((noipa))
#endif

BENCH_OPAQUE static int mini_decode_publish(const uint8_t *b, size_t len, mini_publish *out,
                                            size_t *used)
{
    if (len < 2 || (b[0] >> 4) != 3)
        return -1;
    size_t i = 1;
    uint32_t rem = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (i >= len || i > 4)
            return -1;
        uint8_t c = b[i++];
        rem |= (uint32_t)(c & 0x7Fu) << shift;
        if (!(c & 0x80u))
            break;
    }
    if (len - i < rem || rem < 2)
        return -1;
    const uint8_t *p = b + i, *end = p + rem;
    size_t tl = (size_t)p[0] << 8 | p[1];
    p += 2;
    if ((size_t)(end - p) < tl)
        return -1;
    out->topic = p;
    out->topic_len = tl;
    p += tl;
    out->qos = (b[0] >> 1) & 3u;
    out->retain = b[0] & 1u;
    out->dup = (b[0] >> 3) & 1u;
    out->packet_id = 0;
    if (out->qos) {
        if (end - p < 2)
            return -1;
        out->packet_id = (uint16_t)(p[0] << 8 | p[1]);
        p += 2;
    }
    out->payload = p;
    out->payload_len = (size_t)(end - p);
    *used = (size_t)(end - b);
    return 0;
}

static void pub_build(pub_ctx *c)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789/_-";
    size_t cap = (size_t)NPUB * (4 + 2 + 40 + 2 + PUB_PAYLOAD);
    c->pkts = xmalloc(cap);
    size_t pos = 0;
    for (unsigned i = 0; i < NPUB; i++) {
        size_t tl = 12 + (size_t)(rnd() % 29); /* 12..40 */
        uint8_t topic[40], payload[PUB_PAYLOAD];
        for (size_t k = 0; k < tl; k++)
            topic[k] = (uint8_t)alphabet[rnd() % (sizeof alphabet - 1)];
        rnd_bytes(payload, sizeof payload);
        uint16_t id = (uint16_t)(1 + rnd() % 65535);
        mqws_packet p;
        memset(&p, 0, sizeof p);
        p.type = MQWS_PUBLISH;
        p.packet_id = id;
        p.publish.qos = 1;
        p.publish.retain = (rnd() & 1) != 0;
        p.publish.topic.ptr = (const char *)topic;
        p.publish.topic.len = tl;
        p.publish.payload.ptr = payload;
        p.publish.payload.len = sizeof payload;
        size_t w = 0;
        if (mqws_mqtt_encode(&p, MQWS_MQTT_V311, c->pkts + pos, cap - pos, &w) != MQWS_OK)
            die("PUBLISH encoding failed");
        pub_ref *r = &c->ref[i];
        r->off = c->off[i] = pos;
        r->len = c->len[i] = w;
        r->topic_len = tl;
        r->packet_id = id;
        r->topic = c->pkts + pos + 4;             /* 1 type + 1 length + 2 topic length */
        r->payload = c->pkts + pos + 4 + tl + 2;  /* after the packet id */
        if (w != 4 + tl + 2 + PUB_PAYLOAD || memcmp(r->topic, topic, tl) != 0 ||
            memcmp(r->payload, payload, PUB_PAYLOAD) != 0)
            die("PUBLISH layout differs from the expected one");
        pos += w;
    }
    c->pkts_len = pos;

    size_t sizes[NPUB];
    for (unsigned i = 0; i < NPUB; i++)
        sizes[i] = c->ref[i].len;
    size_t wcap = pos + (size_t)NPUB * MQWS_WS_MAX_HEADER;
    c->wire = xmalloc(wcap);
    c->wire_orig = xmalloc(wcap);
    c->wire_len = build_frames(c->wire_orig, wcap, c->pkts, sizes, NPUB);
    memcpy(c->wire, c->wire_orig, c->wire_len);
    c->src.buf = c->wire;
    c->src.len = c->wire_len;
    c->wslay = wslay_new(&c->src);
}

/* A decoded packet against the generator's record (by content, not by address). */
static void pub_expect(const pub_ref *r, const uint8_t *topic, size_t tl, uint16_t id,
                       const uint8_t *payload, size_t pl, const char *who)
{
    if (tl != r->topic_len || memcmp(topic, r->topic, tl) != 0 || id != r->packet_id ||
        pl != PUB_PAYLOAD || memcmp(payload, r->payload, pl) != 0) {
        fprintf(stderr, "bench-codec: %s decoded a PUBLISH differently\n", who);
        exit(1);
    }
}

static uint64_t mqws_publish_run(pub_ctx *c, int check)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < NPUB; i++) {
        const pub_ref *r = &c->ref[i];
        mqws_packet p;
        size_t used;
        if (mqws_mqtt_decode(c->pkts + r->off, r->len, MQWS_MQTT_V311, NULL, &p, &used, NULL) !=
            MQWS_OK)
            die("mqws_mqtt_decode refused a valid PUBLISH");
        if (check)
            pub_expect(r, (const uint8_t *)p.publish.topic.ptr, p.publish.topic.len, p.packet_id,
                       p.publish.payload.ptr, p.publish.payload.len, "mqws_mqtt_decode");
        sum += p.publish.topic.len + p.packet_id + p.publish.payload.ptr[0];
    }
    return sum;
}

static uint64_t mqws_publish_pass(void *p) { return mqws_publish_run(p, 0); }

static uint64_t mini_publish_run(pub_ctx *c, int check)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < NPUB; i++) {
        const pub_ref *r = &c->ref[i];
        mini_publish p;
        size_t used;
        if (mini_decode_publish(c->pkts + r->off, r->len, &p, &used) != 0)
            die("minimal decoder refused a PUBLISH");
        if (check)
            pub_expect(r, p.topic, p.topic_len, p.packet_id, p.payload, p.payload_len,
                       "the minimal decoder");
        sum += p.topic_len + p.packet_id + p.payload[0];
    }
    return sum;
}

static uint64_t mini_publish_pass(void *p) { return mini_publish_run(p, 0); }

static uint64_t peer_publish_run(pub_ctx *c, int check)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < NPUB; i++) {
        const pub_ref *r = &c->ref[i];
        const uint8_t *topic, *payload;
        size_t tl, pl;
        uint16_t id;
        if (mqws_bench_publish_peer.decode(c->pkts + r->off, r->len, &topic, &tl, &id, &payload,
                                           &pl) != 0)
            die("the linked PUBLISH peer refused a PUBLISH");
        if (check)
            pub_expect(r, topic, tl, id, payload, pl, mqws_bench_publish_peer.name);
        sum += tl + id + payload[0];
    }
    return sum;
}

static uint64_t peer_publish_pass(void *p)
{
    pub_ctx *c = p;
    return mqws_bench_publish_peer.pass(c->pkts, c->off, c->len, NPUB);
}

/* Chained, libmqws: the broker's receive path. */
static uint64_t mqws_chained_run(pub_ctx *c, int check)
{
    mqws_stream s;
    mqws_stream_init(&s, MQWS_ROLE_SERVER, c->pktbuf, sizeof c->pktbuf, 0);
    uint8_t *in = c->wire;
    size_t left = c->wire_len;
    unsigned n = 0;
    uint64_t sum = 0;
    for (;;) {
        size_t used;
        mqws_stream_event ev;
        mqws_err r = mqws_stream_feed(&s, in, left, &used, &ev);
        in += used;
        left -= used;
        if (r == MQWS_NEED_MORE)
            break;
        if (r != MQWS_OK || ev.type != MQWS_STREAM_PACKET || n >= NPUB)
            die("mqws_stream_feed failed on valid frames");
        mqws_packet p;
        if (mqws_mqtt_decode(ev.data.ptr, ev.data.len, MQWS_MQTT_V311, NULL, &p, NULL, NULL) !=
            MQWS_OK)
            die("mqws_mqtt_decode refused a valid PUBLISH");
        if (check)
            pub_expect(&c->ref[n], (const uint8_t *)p.publish.topic.ptr, p.publish.topic.len,
                       p.packet_id, p.publish.payload.ptr, p.publish.payload.len,
                       "mqws_stream_feed + mqws_mqtt_decode");
        sum += p.publish.topic.len + p.packet_id + p.publish.payload.ptr[0];
        n++;
    }
    if (n != NPUB)
        die("mqws_stream_feed: packet count differs");
    return sum;
}

static uint64_t mqws_chained_pass(void *p) { return mqws_chained_run(p, 0); }

/*
 * Chained, the peer: wslay's frame layer, a frame's payload collected when wslay
 * hands it out in pieces (its 4 KiB read buffer splits some frames), then the
 * minimal decoder.
 */
static uint64_t wslay_chained_run(pub_ctx *c, int check)
{
    c->src.pos = 0;
    unsigned n = 0;
    size_t have = 0;
    uint64_t sum = 0;
    for (;;) {
        struct wslay_frame_iocb iocb;
        memset(&iocb, 0, sizeof iocb);
        ssize_t r = wslay_frame_recv(c->wslay, &iocb);
        if (r < 0)
            break;
        const uint8_t *pkt = iocb.data;
        size_t plen = iocb.data_length;
        if (have || plen != iocb.payload_length) { /* a frame in pieces */
            if (have + plen > sizeof c->reasm)
                die("wslay: frame larger than expected");
            memcpy(c->reasm + have, iocb.data, plen);
            have += plen;
            if (have < iocb.payload_length)
                continue;
            pkt = c->reasm;
            plen = have;
            have = 0;
        }
        mini_publish p;
        size_t used;
        if (n >= NPUB || mini_decode_publish(pkt, plen, &p, &used) != 0)
            die("wslay + minimal decoder failed on valid frames");
        if (check)
            pub_expect(&c->ref[n], p.topic, p.topic_len, p.packet_id, p.payload, p.payload_len,
                       "wslay + the minimal decoder");
        sum += p.topic_len + p.packet_id + p.payload[0];
        n++;
    }
    if (n != NPUB)
        die("wslay + minimal decoder: packet count differs");
    return sum;
}

static uint64_t wslay_chained_pass(void *p) { return wslay_chained_run(p, 0); }

static void chained_restore(void *p)
{
    pub_ctx *c = p;
    memcpy(c->wire, c->wire_orig, c->wire_len);
}

/* ------------------------------------------------------------------ accept */

typedef struct accept_ctx {
    char keys[NKEYS][25];
    char want[NKEYS][MQWS_HS_ACCEPT_SIZE];
    char out[MQWS_HS_ACCEPT_SIZE];
    EVP_MD *md;
    EVP_MD_CTX *mdctx;
} accept_ctx;

static void sha1_floor(const char *key, char out[MQWS_HS_ACCEPT_SIZE])
{
    SHA_CTX c;
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1_Init(&c);
    SHA1_Update(&c, key, 24);
    SHA1_Update(&c, k_guid, sizeof k_guid - 1);
    SHA1_Final(md, &c);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

static void evp_reused(accept_ctx *a, const char *key, char out[MQWS_HS_ACCEPT_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_DigestInit_ex(a->mdctx, a->md, NULL) || !EVP_DigestUpdate(a->mdctx, key, 24) ||
        !EVP_DigestUpdate(a->mdctx, k_guid, sizeof k_guid - 1) ||
        !EVP_DigestFinal_ex(a->mdctx, md, &n))
        die("EVP digest failed");
    EVP_EncodeBlock((unsigned char *)out, md, (int)n);
}

static uint64_t mqws_accept_pass(void *p)
{
    accept_ctx *a = p;
    uint64_t sum = 0;
    for (unsigned i = 0; i < NKEYS; i++) {
        if (mqws_hs_accept_key(a->keys[i], 24, a->out) != MQWS_OK)
            die("mqws_hs_accept_key failed");
        sum += (uint8_t)a->out[i % 27];
    }
    return sum;
}

static uint64_t floor_accept_pass(void *p)
{
    accept_ctx *a = p;
    uint64_t sum = 0;
    for (unsigned i = 0; i < NKEYS; i++) {
        sha1_floor(a->keys[i], a->out);
        sum += (uint8_t)a->out[i % 27];
    }
    return sum;
}

static uint64_t evp_accept_pass(void *p)
{
    accept_ctx *a = p;
    uint64_t sum = 0;
    for (unsigned i = 0; i < NKEYS; i++) {
        evp_reused(a, a->keys[i], a->out);
        sum += (uint8_t)a->out[i % 27];
    }
    return sum;
}

static void accept_build(accept_ctx *a)
{
    a->md = EVP_MD_fetch(NULL, "SHA1", NULL);
    a->mdctx = EVP_MD_CTX_new();
    if (!a->md || !a->mdctx)
        die("EVP SHA1 unavailable");
    for (unsigned i = 0; i < NKEYS; i++) {
        uint8_t nonce[16];
        rnd_bytes(nonce, sizeof nonce);
        EVP_EncodeBlock((unsigned char *)a->keys[i], nonce, sizeof nonce);
    }
    /* RFC 6455 1.3's example first, then every key through all three paths. */
    char got[MQWS_HS_ACCEPT_SIZE];
    if (mqws_hs_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, got) != MQWS_OK ||
        strcmp(got, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0)
        die("mqws_hs_accept_key differs from RFC 6455 1.3's example");
    for (unsigned i = 0; i < NKEYS; i++) {
        sha1_floor(a->keys[i], a->want[i]);
        if (mqws_hs_accept_key(a->keys[i], 24, got) != MQWS_OK || strcmp(got, a->want[i]) != 0)
            die("mqws_hs_accept_key differs from SHA1 + base64");
        evp_reused(a, a->keys[i], got);
        if (strcmp(got, a->want[i]) != 0)
            die("EVP digest differs from SHA1 + base64");
    }
}

/* ------------------------------------------------------------------ report */

static void row(const char *what, const impl *ours, const impl *peer, const char *unit,
                double ratio, const char *ratio_what, int met, const char *goal)
{
    printf("%-34s %8.2f ns %7.1f M%s/s | %-24s %8.2f ns %7.1f M/s | %6.2fx %-14s | %-22s %s\n",
           what, ours->median, 1e3 / ours->median, unit, peer->name, peer->median,
           1e3 / peer->median, ratio, ratio_what, goal, met ? "met" : "NOT MET");
}

static void spread(const impl *m)
{
    double lo = m->ns[0], hi = m->ns[0];
    for (int s = 1; s < SAMPLES; s++) {
        lo = m->ns[s] < lo ? m->ns[s] : lo;
        hi = m->ns[s] > hi ? m->ns[s] : hi;
    }
    printf("    %-30s median %9.3f ns, samples %.3f..%.3f ns (%d x %u passes x %u units)\n",
           m->name, m->median, lo, hi, SAMPLES, m->passes, m->units);
}

/* --profile ROW: libmqws' side of one row only, a fixed number of passes, untimed. */
static int profile(const char *what, impl *ms, int n, unsigned passes)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(what, ms[i].name) != 0)
            continue;
        for (unsigned p = 0; p < passes; p++) {
            if (ms[i].restore)
                ms[i].restore(ms[i].ctx);
            g_check += ms[i].pass(ms[i].ctx);
        }
        printf("%s: %u passes x %u units, checksum %016llx\n", what, passes, ms[i].units,
               (unsigned long long)g_check);
        return 0;
    }
    return 1;
}

static int usage(const char *argv0, int rc)
{
    printf("usage: %s [-v | --profile ROW [PASSES]]\n"
           "  Codec benchmarks on varied input, each figure a ratio to a peer in the same run.\n"
           "  -v               also every implementation's sample spread\n"
           "  --profile ROW    run only one implementation, PASSES times (default 200), for a\n"
           "                   profiler (valgrind --tool=callgrind, perf); ROW is one of:\n"
           "                   frame, 1mib, publish, chained, accept (libmqws) or\n"
           "                   wslay-frame, minimal, wslay-chained, sha1 (peers)\n",
           argv0);
    return rc;
}

int main(int argc, char **argv)
{
    int verbose = argc == 2 && strcmp(argv[1], "-v") == 0;
    const char *prof = NULL;
    unsigned prof_passes = 200;
    if (argc >= 3 && strcmp(argv[1], "--profile") == 0) {
        prof = argv[2];
        if (argc == 4)
            prof_passes = (unsigned)strtoul(argv[3], NULL, 10);
        if (argc > 4 || prof_passes == 0)
            return usage(argv[0], 2);
    } else if (argc > 1 && !verbose) {
        return usage(argv[0], strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2);
    }
    double t0 = now_s();

    /* 64-byte frames */
    uint8_t *fpay = xmalloc((size_t)NFRAMES * FRAME_PAYLOAD);
    rnd_bytes(fpay, (size_t)NFRAMES * FRAME_PAYLOAD);
    size_t fsizes[NFRAMES];
    for (unsigned i = 0; i < NFRAMES; i++)
        fsizes[i] = FRAME_PAYLOAD;
    frames_ctx fr;
    frames_ctx_init(&fr, fpay, fsizes, NFRAMES);
    if (fr.len != (size_t)NFRAMES * FRAME_SIZE)
        die("64-byte frames: unexpected size");
    frames_check(&fr);

    /* 1 MiB frame */
    uint8_t *bpay = xmalloc(MIB);
    rnd_bytes(bpay, MIB);
    size_t bsize = MIB;
    frames_ctx big;
    frames_ctx_init(&big, bpay, &bsize, 1);
    frames_check(&big);

    /* PUBLISH and chained */
    pub_ctx *pc = xmalloc(sizeof *pc);
    pub_build(pc);
    mqws_publish_run(pc, 1);
    mini_publish_run(pc, 1);
    const bool have_peer = &mqws_bench_publish_peer != NULL;
    if (have_peer)
        peer_publish_run(pc, 1);
    mqws_chained_run(pc, 1);
    chained_restore(pc);
    wslay_chained_run(pc, 1);

    /* accept */
    accept_ctx *ac = xmalloc(sizeof *ac);
    accept_build(ac);

    impl m_frames[] = {
        {"mqws_ws_decode", mqws_frames_pass, NULL, &fr, NFRAMES, 0, {0}, 0},
        {"wslay_frame_recv", wslay_frames_pass, NULL, &fr, NFRAMES, 0, {0}, 0},
    };
    impl m_big[] = {
        {"mqws_ws_decode 1 MiB", mqws_frames_pass, NULL, &big, 1, 0, {0}, 0},
        {"memcpy 1 MiB", memcpy_pass, NULL, &big, 1, 0, {0}, 0},
        {"wslay_frame_recv 1 MiB", wslay_frames_pass, NULL, &big, 1, 0, {0}, 0},
    };
    impl m_pub[] = {
        {"mqws_mqtt_decode", mqws_publish_pass, NULL, pc, NPUB, 0, {0}, 0},
        {"minimal decoder", mini_publish_pass, NULL, pc, NPUB, 0, {0}, 0},
        {have_peer ? mqws_bench_publish_peer.name : "", peer_publish_pass, NULL, pc, NPUB, 0,
         {0}, 0},
    };
    impl m_chain[] = {
        {"mqws stream+decode", mqws_chained_pass, chained_restore, pc, NPUB, 0, {0}, 0},
        {"wslay + minimal decoder", wslay_chained_pass, chained_restore, pc, NPUB, 0, {0}, 0},
    };
    impl m_acc[] = {
        {"mqws_hs_accept_key", mqws_accept_pass, NULL, ac, NKEYS, 0, {0}, 0},
        {"SHA1_Init/Update/Final", floor_accept_pass, NULL, ac, NKEYS, 0, {0}, 0},
        {"EVP_MD + reused ctx", evp_accept_pass, NULL, ac, NKEYS, 0, {0}, 0},
    };
    if (prof) {
        impl by_name[] = {
            {"frame", mqws_frames_pass, NULL, &fr, NFRAMES, 0, {0}, 0},
            {"wslay-frame", wslay_frames_pass, NULL, &fr, NFRAMES, 0, {0}, 0},
            {"1mib", mqws_frames_pass, NULL, &big, 1, 0, {0}, 0},
            {"publish", mqws_publish_pass, NULL, pc, NPUB, 0, {0}, 0},
            {"minimal", mini_publish_pass, NULL, pc, NPUB, 0, {0}, 0},
            {"chained", mqws_chained_pass, chained_restore, pc, NPUB, 0, {0}, 0},
            {"wslay-chained", wslay_chained_pass, chained_restore, pc, NPUB, 0, {0}, 0},
            {"accept", mqws_accept_pass, NULL, ac, NKEYS, 0, {0}, 0},
            {"sha1", floor_accept_pass, NULL, ac, NKEYS, 0, {0}, 0},
        };
        if (profile(prof, by_name, (int)(sizeof by_name / sizeof by_name[0]), prof_passes) != 0)
            return usage(argv[0], 2);
        return 0;
    }
    measure(m_frames, 2);
    measure(m_big, 3);
    measure(m_pub, have_peer ? 3 : 2);
    measure(m_chain, 2);
    measure(m_acc, 3);

    printf("libmqws %s codec benchmarks on varied input (median of %d samples of ~%.0f ms, "
           "alternating with the peer)\n\n",
           MQWS_VERSION_STRING, SAMPLES, SAMPLE_S * 1e3);
    printf("%-34s %21s | %-24s %20s | %-21s | %-22s %s\n", "unit", "libmqws", "peer (same run)", "",
           "ratio", "goal", "");
    double r;
    r = m_frames[1].median / m_frames[0].median;
    row("64-byte masked frame", &m_frames[0], &m_frames[1], "", r, "wslay's time", r >= 5.0,
        ">= 5x wslay");
    r = m_big[0].median / m_big[1].median;
    printf("%-34s %8.1f us %6.1f GB/s | %-24s %8.1f us %6.1f GB/s | %5.2fx %-15s | %-22s %s\n",
           "1 MiB masked frame, unmask", m_big[0].median / 1e3, (double)MIB / m_big[0].median,
           m_big[1].name, m_big[1].median / 1e3, (double)MIB / m_big[1].median, r,
           "memcpy's time", "<= 1.2x memcpy's time", r <= 1.2 ? "met" : "NOT MET");
    printf("%-34s %21s | %-24s %8.1f us %6.1f GB/s | %5.1fx %-15s |\n", "", "", m_big[2].name,
           m_big[2].median / 1e3, (double)MIB / m_big[2].median,
           m_big[2].median / m_big[0].median, "libmqws' speed");
    /* PUBLISH: the ratio to the minimal decoder, and what it implies against coreMQTT */
    r = m_pub[1].median / m_pub[0].median;
    double cal = COREMQTT_PER_MINIMAL, core_r = r * cal;
    if (have_peer) {
        cal = m_pub[2].median / m_pub[1].median;
        core_r = m_pub[2].median / m_pub[0].median;
    }
    row("PUBLISH decode, full validation", &m_pub[0], &m_pub[1], "", r, "floor's rate",
        core_r >= 1.0, ">= 1.0x coreMQTT's rate");
    if (have_peer) {
        printf("%-34s %21s | %-24s %8.2f ns %7.1f M/s | %5.2fx %-15s | measured, %.2fx the floor's time\n",
               "", "", m_pub[2].name, m_pub[2].median, 1e3 / m_pub[2].median, core_r,
               "its rate", cal);
    } else {
        double core_ns = m_pub[1].median * cal;
        printf("%-34s %21s | %-24s %8.2f ns %7.1f M/s | %5.2fx %-15s | floor x %.2f (calibrated %.2f-%.2f:"
               " %.2f-%.2fx); external run 7.4 ns\n",
               "", "", "coreMQTT v2.3.1 (implied)", core_ns, 1e3 / core_ns, core_r, "its rate", cal,
               COREMQTT_PER_MINIMAL_LO, COREMQTT_PER_MINIMAL_HI, r * COREMQTT_PER_MINIMAL_LO,
               r * COREMQTT_PER_MINIMAL_HI);
    }
    r = m_chain[1].median / m_chain[0].median;
    row("frame + reassembly + decode", &m_chain[0], &m_chain[1], "", r, "peer's time", r >= 4.0,
        ">= 4x wslay+minimal");
    r = m_acc[1].median / m_acc[0].median;
    row("Sec-WebSocket-Accept", &m_acc[0], &m_acc[1], "", r, "floor's rate", r >= 0.8,
        ">= 0.8x SHA-1 floor");
    printf("%-34s %21s | %-24s %8.2f ns %7.1f M/s | %5.2fx %-15s |\n", "", "", m_acc[2].name,
           m_acc[2].median, 1e3 / m_acc[2].median, m_acc[2].median / m_acc[0].median,
           "libmqws' rate");

    if (verbose) {
        printf("\nsamples (ns per unit):\n");
        impl *all[] = {&m_frames[0], &m_frames[1], &m_big[0], &m_big[1],  &m_big[2],
                       &m_pub[0],    &m_pub[1],    &m_chain[0], &m_chain[1], &m_acc[0],
                       &m_acc[1],    &m_acc[2]};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            spread(all[i]);
        if (have_peer)
            spread(&m_pub[2]);
    }
    printf("\nchecksum %016llx, total %.1f s\n", (unsigned long long)g_check, now_s() - t0);

    frames_ctx_free(&fr);
    frames_ctx_free(&big);
    wslay_frame_context_free(pc->wslay);
    free(pc->pkts);
    free(pc->wire);
    free(pc->wire_orig);
    free(pc);
    EVP_MD_CTX_free(ac->mdctx);
    EVP_MD_free(ac->md);
    free(ac);
    free(fpay);
    free(bpay);
    return 0;
}
