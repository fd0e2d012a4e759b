/*
 * fuzz/fuzz_stream.c - MQTT packet reassembly over WebSocket (mqws_stream) and
 * over a byte stream (mqws_assembler), MQTT-6.0.0-2.
 *
 * Input: one prefix byte, then the bytes a peer sends.
 *   prefix bit 0     role: 0 server (receives masked frames), 1 client
 *   prefix bit 1     transport: 0 WebSocket (mqws_stream), 1 raw MQTT bytes (mqws_assembler)
 *   prefix bit 2     MQTT version used to decode each packet: 0 -> 3.1.1, 1 -> 5.0
 *   prefix bits 3-7  k: packet buffer (maximum packet size) = k * 16 bytes, k = 0: 65536
 *
 * Invariants (abort on violation):
 *  1. Feeding the input whole and in up to 5 chunks (2 to 4 split points drawn from a
 *     hash of the input, fz_chunks_make; each chunk a copy that ASan treats as an exactly
 *     sized heap block, fz_arena_copy; fed until NEED_MORE) give the same events (packet bytes, ping/pong payloads, close code and
 *     reason), the same error, the same error offset and the same bytes consumed.
 *  2. A packet event is a whole packet: its fixed header parses and its length is
 *     header + Remaining Length, at most the buffer size; it points into the input
 *     chunk or into the packet buffer. mqws_mqtt_decode of it never says NEED_MORE
 *     nor REMAINING_LENGTH, and on OK consumes exactly the packet. (Decoded in the
 *     whole run; invariant 1 makes the chunked run's packets the same bytes.)
 *  3. Raw transport: the packets equal the slices a one-shot walk over the whole
 *     input with mqws_mqtt_fixed_header gives, and the error is the one that walk
 *     predicts (REMAINING_LENGTH / TOO_LARGE). Checked as the runs go: each packet
 *     must be the input's bytes where the previous one ended (invariant 2 already
 *     parsed its header and length, as the walk would), in the chunked run too (so
 *     only packet lengths are logged); after the last one, the walk's next step, one
 *     fixed header parse, predicts the result.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "mqws/error.h"
#include "mqws/mqtt.h"
#include "mqws/stream.h"
/* one feed call over either transport, shared with the stream vector test */
#include "../reference/tests/support/transport.h"

typedef struct config {
    mqws_role role;
    bool tcp;
    mqws_mqtt_version version;
    size_t cap;
} config;

/*
 * Packets already checked in this input, when short (a direct-mapped cache of 64):
 * fuzzed streams repeat packets (in a 30 s corpus 80 % of the raw-transport packets
 * repeat an earlier one of the same input), and the check below is a pure function
 * of the bytes and the configuration, so a repeat is not decoded again. The cache is
 * emptied for every input (a new generation), so what an input covers does not
 * depend on the inputs run before it.
 */
#define CHECKED_SLOTS 64
typedef struct checked_packet {
    uint8_t bytes[64];
    size_t len;
    uint64_t gen;
} checked_packet;
static checked_packet checked[CHECKED_SLOTS];
static uint64_t checked_gen;

static void check_packet(const config *cfg, const uint8_t *pkt, size_t len)
{
    FZ_CHECK(len >= 2 && len <= cfg->cap);
    checked_packet *m =
        &checked[(len * 31u + pkt[0] * 7u + pkt[len / 2] * 13u + pkt[len - 1]) % CHECKED_SLOTS];
    if (m->gen == checked_gen && len == m->len && fz_same(pkt, m->bytes, len))
        return;
    size_t header_len = 0;
    uint32_t remaining = 0;
    FZ_CHECK(mqws_mqtt_fixed_header(pkt, len, &header_len, &remaining) == MQWS_OK);
    FZ_CHECK(header_len + remaining == len);

    /* decoded in place: over-reads of the packet decoder are the packet targets' job,
     * which decode every input from an exactly sized block */
    mqws_packet p;
    size_t used = 0, bad_at = 0;
    mqws_err r = mqws_mqtt_decode(pkt, len, cfg->version, NULL, &p, &used, &bad_at);
    FZ_CHECK(r != MQWS_NEED_MORE && r != MQWS_ERR_MQTT_REMAINING_LENGTH &&
             r != MQWS_ERR_MQTT_TOO_LARGE);
    if (r == MQWS_OK) {
        FZ_CHECK(used == len);
    } else {
        FZ_CHECK(bad_at <= len);
    }
    if (len <= sizeof m->bytes) {
        fz_copy(m->bytes, pkt, len);
        m->len = len;
        m->gen = checked_gen;
    }
}

static bool points_into(const uint8_t *p, size_t n, const uint8_t *base, size_t cap)
{
    return p >= base && p + n <= base + cap;
}

/*
 * Feeds buf[0..len) in chunks (rng NULL: whole); logs events; returns the error or
 * NEED_MORE. Whole run: checks each packet (invariant 2). Raw transport, both runs:
 * each packet must be the input's slice where the previous one ended (invariant 3),
 * so its bytes are checked against the input and only its length is logged (equal
 * lengths then mean equal bytes); *packets_end is where the last one ended.
 */
static mqws_err run(const config *cfg, const uint8_t *buf, size_t len, uint64_t *rng, fz_log *log,
                    uint8_t *pbuf, size_t *packets_end)
{
    size_t pkt_end = 0; /* raw transport: end of the last packet in buf */
    static fz_arena arena; /* chunk copies: kept across inputs */
    tu_transport t;
    tu_transport_init(&t, cfg->tcp, cfg->role, pbuf, cfg->cap, 0);

    mqws_err result = MQWS_NEED_MORE;
    uint64_t total = 0;
    size_t events = 0;
    fz_chunks chunks;
    fz_chunks_make(&chunks, rng, len);
    fz_arena_begin(&arena, len, chunks.n);
    for (size_t c = 0; c < chunks.n && len && result == MQWS_NEED_MORE; c++) {
        size_t pos = chunks.at[c], n = chunks.at[c + 1] - pos;
        uint8_t *chunk = fz_arena_copy(&arena, buf + pos, n);
        size_t off = 0;
        for (;;) {
            size_t used = (size_t)-1;
            mqws_stream_event ev;
            mqws_err r = tu_transport_feed(&t, chunk + off, n - off, &used, &ev);
            if (!fz_step(r, used, n, &off, &total, &result))
                break;
            uint8_t type = (uint8_t)ev.type;
            const mqws_bytes payload = ev.data;
            FZ_CHECK(++events <= 2 * len + 16);
            fz_log_put(log, &type, 1);
            switch (type) {
            case MQWS_STREAM_PACKET:
                FZ_CHECK(points_into(payload.ptr, payload.len, chunk, n) ||
                         points_into(payload.ptr, payload.len, pbuf, cfg->cap));
                if (!rng) /* the chunked run's packets are compared byte for byte instead */
                    check_packet(cfg, payload.ptr, payload.len);
                if (cfg->tcp) { /* invariant 3: the walk's next slice */
                    FZ_CHECK(payload.len <= len - pkt_end);
                    /* a view at the same place in the chunk (a copy of buf + pos, and
                     * the assembler's input is const) holds the same bytes */
                    FZ_CHECK((pkt_end >= pos && payload.ptr == chunk + (pkt_end - pos)) ||
                             fz_same(payload.ptr, buf + pkt_end, payload.len));
                    pkt_end += payload.len;
                    fz_log_u64(log, payload.len);
                } else {
                    fz_log_blob(log, payload.ptr, payload.len);
                }
                break;
            case MQWS_STREAM_PING:
            case MQWS_STREAM_PONG:
                FZ_CHECK(!cfg->tcp && payload.len <= MQWS_WS_MAX_CONTROL_PAYLOAD);
                fz_log_blob(log, payload.ptr, payload.len);
                break;
            case MQWS_STREAM_CLOSE:
                FZ_CHECK(!cfg->tcp);
                fz_log_u64(log, ev.close_code);
                fz_log_blob(log, ev.close_reason.ptr, ev.close_reason.len);
                break;
            default:
                FZ_CHECK(!"unknown stream event type");
            }
        }
        fz_arena_release(chunk, n);
    }
    if (packets_end)
        *packets_end = pkt_end;
    fz_log_u64(log, (uint64_t)result);
    /* bytes consumed: compared when the input ended cleanly; after an error the
     * stream's consumed count is not specified beyond "at most the input" */
    fz_log_u64(log, result == MQWS_NEED_MORE ? total : 0);
    uint64_t err_off = 0;
    if (result != MQWS_NEED_MORE)
        err_off = tu_transport_err_offset(&t);
    FZ_CHECK(err_off <= len);
    fz_log_u64(log, err_off);
    return result;
}

/*
 * Raw transport oracle, the walk's step after the last packet (which ended at pos):
 * no more bytes or an incomplete header or packet: NEED_MORE; a bad Remaining Length:
 * that error; a packet over the buffer size: TOO_LARGE. A whole packet that fits
 * means the run missed one. (The packets before pos were checked as they came.)
 */
static void check_tcp_oracle(const config *cfg, const uint8_t *buf, size_t len, size_t pos,
                             mqws_err got)
{
    mqws_err expect = MQWS_NEED_MORE;
    if (pos < len) {
        size_t header_len = 0;
        uint32_t remaining = 0;
        mqws_err r = mqws_mqtt_fixed_header(buf + pos, len - pos, &header_len, &remaining);
        if (r != MQWS_OK && r != MQWS_NEED_MORE) {
            expect = r;
        } else if (r == MQWS_OK) {
            uint64_t total = (uint64_t)header_len + remaining;
            if (total > cfg->cap)
                expect = MQWS_ERR_MQTT_TOO_LARGE;
            else
                FZ_CHECK(total > len - pos); /* else a whole packet the run did not yield */
        }
    }
    FZ_CHECK(got == expect);
}

/*
 * The packet buffer: the last cap bytes of one 64 KiB heap block kept across inputs,
 * the bytes before them poisoned, so ASan catches an access outside the cap bytes as
 * for an exactly sized block (an allocation per input cost a 4 KiB fill and the
 * shadow of 64 KiB twice). cap is a multiple of 16, so the poisoned part ends aligned.
 */
#define PBUF_MAX 65536u
static uint8_t *packet_buffer(size_t cap)
{
    static uint8_t *block;
    static size_t cur_cap;
    if (!block) {
        block = fz_malloc(PBUF_MAX);
        cur_cap = PBUF_MAX;
    }
    if (cap != cur_cap) {
        FZ_UNPOISON(block, PBUF_MAX);
        FZ_POISON(block, PBUF_MAX - cap);
        cur_cap = cap;
    }
    FZ_UNINIT(block + PBUF_MAX - cap, cap);
    return block + PBUF_MAX - cap;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    config cfg;
    cfg.role = (data[0] & 1) ? MQWS_ROLE_CLIENT : MQWS_ROLE_SERVER;
    cfg.tcp = (data[0] & 2) != 0;
    cfg.version = (data[0] & 4) ? MQWS_MQTT_V5 : MQWS_MQTT_V311;
    cfg.cap = (data[0] >> 3) ? (size_t)(data[0] >> 3) * 16u : 65536u;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    uint64_t rng = fz_hash(data, size);

    checked_gen++; /* no packet counts as checked from an earlier input */
    static fz_log whole, chunked; /* buffers kept across inputs */
    fz_log_clear(&whole);
    fz_log_check_against(&chunked, &whole); /* compared as it goes, not stored */
    uint8_t *pbuf = packet_buffer(cfg.cap);
    size_t packets_end = 0;
    mqws_err r1 = run(&cfg, in, len, NULL, &whole, pbuf, &packets_end);
    uint64_t rng0 = rng;
    mqws_err r2 = run(&cfg, in, len, &rng, &chunked, pbuf, NULL);
    if (r1 != r2 || !fz_log_eq(&whole, &chunked)) {
        fz_log_clear(&chunked); /* again, recording, to show both logs */
        rng = rng0;
        run(&cfg, in, len, &rng, &chunked, pbuf, NULL);
        fprintf(stderr, "whole: %s, chunked: %s\n", mqws_err_name(r1), mqws_err_name(r2));
        fz_log_dump_pair("events", &whole, &chunked);
    }
    FZ_CHECK(r1 == r2);
    FZ_CHECK(fz_log_eq(&whole, &chunked));
    if (cfg.tcp)
        check_tcp_oracle(&cfg, in, len, packets_end, r1);
    return 0;
}
