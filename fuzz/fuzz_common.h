/*
 * fuzz/fuzz_common.h - helpers shared by the libmqws fuzz targets.
 *
 * Every target defines LLVMFuzzerTestOneInput and is built two ways:
 *   - with clang -fsanitize=fuzzer,address,undefined (libFuzzer's main), and
 *   - with gcc against fuzz/replay_main.c, which replays corpus files (make replay).
 * An invariant violation prints what broke and calls abort(), which libFuzzer
 * (and the replay driver) report as a crash with the input that caused it.
 */
#ifndef MQWS_FUZZ_COMMON_H
#define MQWS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqws/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond)                                                                         \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* malloc that never returns NULL for 0 bytes and aborts on failure. */
static inline void *fz_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

/* A copy of data in a heap block of exactly n bytes (ASan catches a read past it). */
static inline uint8_t *fz_dup(const uint8_t *data, size_t n)
{
    uint8_t *p = fz_malloc(n);
    if (n)
        memcpy(p, data, n);
    return p;
}

/*
 * ASan's manual poisoning (a no-op without ASan, e.g. in the gcc replay build):
 * the chunk arena below makes a slice of one long-lived block look like an exactly
 * sized heap block, without an allocation per chunk.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(FZ_ASAN)
#define FZ_ASAN 1
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
#define FZ_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FZ_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FZ_POISON(p, n) ((void)(p), (void)(n))
#define FZ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* MemorySanitizer (OSS-Fuzz's msan build): memory reused across inputs is marked
 * uninitialised again, as a fresh malloc would be. */
#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define FZ_UNINIT(p, n) __msan_poison((p), (n))
#endif
#endif
#ifndef FZ_UNINIT
#define FZ_UNINIT(p, n) ((void)(p), (void)(n))
#endif

/*
 * Chunk arena: copies of input chunks in one heap block kept across inputs (an
 * allocation per chunk cost ASan a malloc, a 0xbe fill, a quarantine entry and a
 * stack trace each). The block stays poisoned except for the chunks handed out;
 * each chunk starts 8-byte aligned after FZ_ARENA_GAP poisoned bytes, so ASan
 * reports a read one byte past its end or up to FZ_ARENA_GAP bytes before its
 * start exactly as for a malloc'd block of n bytes, and a use after
 * fz_arena_release as a use of poisoned memory. Chunks of one run are laid out
 * one after another (never reusing a released chunk's bytes); fz_arena_begin
 * starts over for the next run.
 */
#define FZ_ARENA_GAP 32
typedef struct fz_arena {
    uint8_t *base;
    size_t cap, used;
} fz_arena;

/* Starts a run of at most `chunks` chunks of `total` bytes together. */
static inline void fz_arena_begin(fz_arena *a, size_t total, size_t chunks)
{
    size_t need = total + chunks * (FZ_ARENA_GAP + 8) + FZ_ARENA_GAP;
    if (need > a->cap) {
        if (a->base)
            FZ_UNPOISON(a->base, a->cap); /* hand the allocator back a clean block */
        free(a->base);
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < need)
            cap *= 2;
        a->base = malloc(cap);
        if (!a->base)
            abort();
        a->cap = cap;
        FZ_POISON(a->base, a->cap);
    }
    a->used = 0;
}

/* A copy of data[0..n) that ASan treats like an exactly sized heap block (data NULL:
 * uninitialised, for output). */
static inline uint8_t *fz_arena_copy(fz_arena *a, const uint8_t *data, size_t n)
{
    size_t off = ((a->used + 7) & ~(size_t)7) + FZ_ARENA_GAP;
    if (off + n > a->cap)
        abort(); /* fz_arena_begin was told too little */
    uint8_t *p = a->base + off;
    if (n) {
        FZ_UNPOISON(p, n);
        if (data)
            memcpy(p, data, n);
        else
            FZ_UNINIT(p, n);
    }
    a->used = off + n;
    return p;
}

/* Poisons a chunk again once the decoder is done with it. */
static inline void fz_arena_release(uint8_t *p, size_t n)
{
    if (n)
        FZ_POISON(p, n);
}

/*
 * FNV-1a over the input: seeds the split / chunk choices without consuming input
 * bytes. Past the first 256 bytes it takes 8 bytes per step (a byte-wise multiply
 * chain cost 4-5 cycles a byte); shorter inputs, such as the regression files,
 * keep the byte-wise hash and so their split points.
 */
static inline uint64_t fz_hash(const uint8_t *data, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i = 0, head = n < 256 ? n : 256;
    for (; i < head; i++) {
        h ^= data[i];
        h *= 1099511628211ull;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, data + i, sizeof w);
        h ^= w;
        h *= 1099511628211ull;
    }
    for (; i < n; i++) {
        h ^= data[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* xorshift64*: deterministic pseudo-random numbers from the input hash. */
static inline uint64_t fz_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

/*
 * Chunk boundaries for the whole-vs-split invariant: 2 to 4 split points in
 * [0, len] drawn from rng (seeded with a hash of the input, so an input always
 * gets the same ones), each either anywhere in the input or 1..16 bytes after
 * the previous one (a short chunk that can end inside a header). Sorted and
 * deduplicated, they cut the input into 1 to 5 non-empty chunks:
 * [at[i], at[i + 1]) for i < n. Few chunks keep a run cheap, so the fuzzer spends
 * its time on new inputs; the unit tests split every vector at every point.
 * rng NULL: one chunk, the whole input.
 */
#define FZ_MAX_SPLITS 4
typedef struct fz_chunks {
    size_t n;                      /* number of chunks */
    size_t at[FZ_MAX_SPLITS + 2];  /* at[0] = 0, at[n] = len */
} fz_chunks;

static inline void fz_chunks_make(fz_chunks *c, uint64_t *rng, size_t len)
{
    size_t pts[FZ_MAX_SPLITS], k = 0;
    if (rng && len > 1) {
        size_t want = 2 + (size_t)(fz_rand(rng) % (FZ_MAX_SPLITS - 1));
        size_t prev = 0;
        for (; k < want; k++) {
            uint64_t r = fz_rand(rng);
            size_t p = (r & 1) ? prev + 1 + (size_t)((r >> 1) % 16) : (size_t)((r >> 1) % len);
            pts[k] = prev = p < len ? p : len - 1;
        }
        for (size_t i = 1; i < k; i++) /* insertion sort: k <= 4 */
            for (size_t j = i; j > 0 && pts[j - 1] > pts[j]; j--) {
                size_t t = pts[j];
                pts[j] = pts[j - 1];
                pts[j - 1] = t;
            }
    }
    c->n = 0;
    c->at[0] = 0;
    for (size_t i = 0; i < k; i++)
        if (pts[i] > c->at[c->n]) /* drop 0 and repeats: no empty chunk */
            c->at[++c->n] = pts[i];
    if (len > c->at[c->n] || c->n == 0)
        c->at[++c->n] = len;
}

/*
 * Bookkeeping after one decoder call on chunk bytes [*off, n) that returned r
 * having consumed used: used is at most what was left; *off and *total (bytes
 * consumed over the whole input) advance. Returns 1 on MQWS_OK (an event: call
 * again); 0 when the chunk is done: on MQWS_NEED_MORE, which must have consumed
 * the rest of it, and on an error, which must be a known code and goes to *result.
 */
static inline int fz_step(mqws_err r, size_t used, size_t n, size_t *off, uint64_t *total,
                          mqws_err *result)
{
    FZ_CHECK(used <= n - *off);
    *off += used;
    *total += used;
    if (r == MQWS_NEED_MORE) {
        FZ_CHECK(*off == n);
        return 0;
    }
    if (r != MQWS_OK) {
        FZ_CHECK(r >= 2 && r < MQWS_ERR_COUNT_);
        *result = r;
        return 0;
    }
    return 1;
}

/*
 * Growable byte log: events are serialised into it, and two logs compared with memcmp.
 * A log can instead check against a recorded one as it goes (fz_log_check_against):
 * nothing is stored, each record is compared with the reference bytes at the same
 * position, and fz_log_eq then tells whether the two are equal. The second run of
 * an input writes no log of its own that way.
 */
typedef struct fz_log {
    uint8_t *p;
    size_t len, cap;
    const struct fz_log *ref; /* non-NULL: checking against ref, len counts the bytes */
    int differs;              /* checking: a byte differed or ran past ref's end */
} fz_log;

/*
 * Byte copy and compare for log records: most are a few bytes (a tiny packet, a
 * length), where a loop is cheaper than ASan's memcpy / memcmp interceptor call;
 * the loop's loads and stores are still checked by ASan.
 */
#define FZ_SMALL 32
static inline void fz_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n > FZ_SMALL) {
        memcpy(dst, src, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

static inline int fz_same(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n > FZ_SMALL)
        return memcmp(a, b, n) == 0;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

/* Checking mode: compares [l->len, l->len + n) of the reference with data. */
static inline void fz_log_cmp(fz_log *l, const void *data, size_t n)
{
    if (!l->differs && (n > l->ref->len - l->len || !fz_same(l->ref->p + l->len, data, n)))
        l->differs = 1;
    l->len = l->len + n <= l->ref->len ? l->len + n : l->ref->len + 1;
}

static inline void fz_log_reserve(fz_log *l, size_t n)
{
    if (l->len + n <= l->cap)
        return;
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + n)
        cap *= 2;
    uint8_t *q = realloc(l->p, cap);
    if (!q)
        abort();
    l->p = q;
    l->cap = cap;
}

static inline void fz_log_put(fz_log *l, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (l->ref) {
        fz_log_cmp(l, data, n);
        return;
    }
    fz_log_reserve(l, n);
    fz_copy(l->p + l->len, data, n);
    l->len += n;
}

static inline void fz_log_u64(fz_log *l, uint64_t v)
{
    if (l->ref) {
        fz_log_cmp(l, &v, sizeof v);
        return;
    }
    fz_log_reserve(l, sizeof v);
    memcpy(l->p + l->len, &v, sizeof v); /* constant size: a plain store */
    l->len += sizeof v;
}

/* A length-prefixed blob, so that concatenations cannot collide (one reservation for both). */
static inline void fz_log_blob(fz_log *l, const void *data, size_t n)
{
    uint64_t len = n;
    if (l->ref) {
        fz_log_cmp(l, &len, sizeof len);
        if (n)
            fz_log_cmp(l, data, n);
        return;
    }
    fz_log_reserve(l, sizeof len + n);
    memcpy(l->p + l->len, &len, sizeof len);
    fz_copy(l->p + l->len + sizeof len, data, n);
    l->len += sizeof len + n;
}

static inline int fz_log_eq(const fz_log *a, const fz_log *b)
{
    if (b->ref == a)
        return !b->differs && b->len == a->len;
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* On a mismatch: prints both logs in hex (the records are target-specific; a diff shows where). */
static inline void fz_log_dump_pair(const char *what, const fz_log *a, const fz_log *b)
{
    const fz_log *l[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        fprintf(stderr, "%s %s (%zu bytes):", what, k ? "chunked" : "whole", l[k]->len);
        for (size_t i = 0; i < l[k]->len; i++)
            fprintf(stderr, "%s%02x", i % 8 ? "" : " ", l[k]->p[i]);
        fprintf(stderr, "\n");
    }
}

/* Empties a log, keeping its buffer: a target's logs live across inputs (fewer allocations). */
static inline void fz_log_clear(fz_log *l)
{
    l->len = 0;
    l->ref = NULL;
    l->differs = 0;
}

/* Empties l and puts it in checking mode against ref (which must not change meanwhile). */
static inline void fz_log_check_against(fz_log *l, const fz_log *ref)
{
    fz_log_clear(l);
    l->ref = ref;
}

static inline void fz_log_free(fz_log *l)
{
    free(l->p);
    l->p = NULL;
    l->len = l->cap = 0;
}

#endif /* MQWS_FUZZ_COMMON_H */
