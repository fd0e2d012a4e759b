/*
 * vectors.h - test support for the JSON byte vectors (vectors/README.md).
 *
 *  - loading: vec_run() loads vector files (relative to the project root, or to
 *    $MQWS_VECTORS_DIR) and runs ONE cmocka test per vector, named by the
 *    vector's id, so a failure names the vector. A file that cannot be loaded
 *    becomes one failing test named after the file.
 *    $MQWS_VECTOR_FILTER (substring of an id) narrows a run while debugging.
 *  - hex / input helpers returning malloc'd buffers;
 *  - guard pages: a buffer whose last byte sits right before a PROT_NONE page,
 *    so a read one byte past the input crashes (picohttpparser's test trick);
 *  - split plans: whole, every 2-way split, byte by byte (tu_for_each_split).
 */
#ifndef MQWS_TEST_VECTORS_H
#define MQWS_TEST_VECTORS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

/* Every vector file, relative to the vectors directory. */
extern const char *const vec_all_files[];
extern const size_t vec_num_all_files;

typedef struct vec_case vec_case;
typedef void (*vec_test_fn)(const vec_case *vc);

struct vec_case {
    const char *file;   /* "ws/frames.json" */
    const char *id;     /* test id; the cmocka test name */
    const char *result; /* "valid" | "invalid" | "acceptable" */
    json_t *root;       /* the whole file */
    json_t *group;      /* the test group */
    json_t *params;     /* group params; an empty object when absent */
    json_t *test;
    json_t *expect;     /* an empty object when absent */
    vec_test_fn fn;
    char *load_error;   /* set: this "case" reports a file that failed to load */
};

/**
 * Loads @p rel ("ws/frames.json") from $MQWS_VECTORS_DIR or "vectors/".
 * Returns NULL and writes a message into err on failure.
 */
json_t *vec_load(const char *rel, char *err, size_t errlen);

/**
 * Builds and runs a cmocka group: one test per vector of @p files (each through
 * @p fn), then the @p extra static tests. Returns the number of failed tests.
 */
int vec_run(const char *group_name, const char *const *files, size_t nfiles, vec_test_fn fn,
            const struct CMUnitTest *extra, size_t nextra);

/* JSON accessors (obj may be NULL). */
bool vec_has(const json_t *obj, const char *key);
const char *vec_str(const json_t *obj, const char *key, const char *dflt);
long long vec_int(const json_t *obj, const char *key, long long dflt);
bool vec_bool(const json_t *obj, const char *key, bool dflt);

/** Decodes lower/upper-case hex into a tracked buffer (tu_free) (never NULL on success, even
 *  for ""). Returns NULL for odd length or a non-hex digit. */
uint8_t *vec_hex(const char *hex, size_t *len);

/** The test's input: "text" (the string's bytes) or "input" (hex). Fails the test if absent. */
uint8_t *vec_input(const vec_case *vc, size_t *len);

/** Lower-case hex of (p, n), tracked (tu_free), for messages. */
char *vec_tohex(const uint8_t *p, size_t n);

/** Fails the current test with "id: message". */
#define VFAIL(vc, ...) vec_fail_((vc), __FILE__, __LINE__, __VA_ARGS__)
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5), noreturn))
#endif
void vec_fail_(const vec_case *vc, const char *file, int line, const char *fmt, ...);

/* ---------------------------------------------------------------- guard page */

/**
 * A reusable region whose end touches a PROT_NONE page. guard_put copies len
 * bytes so that their last byte is the last readable byte: reading p[len] faults.
 */
typedef struct guard_buf {
    uint8_t *map;
    size_t map_len;
    size_t cap; /* usable bytes before the guard page */
} guard_buf;

void guard_init(guard_buf *g, size_t cap);
uint8_t *guard_put(guard_buf *g, const void *src, size_t len); /* grows if needed */
/** len bytes (content undefined) ending right before the guard page: an output buffer. */
uint8_t *guard_reserve(guard_buf *g, size_t len);
void guard_free(guard_buf *g);

/* ---------------------------------------------------------------- split plans */

/**
 * A way to cut an input of @c total bytes into chunks: ends[i] is the end offset
 * of chunk i (strictly increasing, the last is total; an empty input has one
 * empty chunk).
 */
typedef struct tu_plan {
    char desc[64]; /* "whole", "split at 17", "byte by byte", "as given" */
    const size_t *ends;
    size_t n;
    size_t total;
} tu_plan;

typedef void (*tu_plan_fn)(void *ctx, const tu_plan *plan);

/**
 * Calls @p fn with: the whole input, every 2-way split (split at 1..len-1), byte
 * by byte. For inputs longer than TU_ALL_SPLITS_MAX the 2-way splits are those
 * near both ends plus a stride through the middle.
 */
#define TU_ALL_SPLITS_MAX 4096u
void tu_for_each_split(size_t len, tu_plan_fn fn, void *ctx);

/** Calls @p fn with one plan made of the given chunk lengths. */
void tu_plan_chunks(const size_t *lens, size_t nchunks, const char *desc, tu_plan_fn fn,
                    void *ctx);

/* ---------------------------------------------------------------- tracked memory */

/*
 * A failed cmocka assertion longjmps out of the test, so memory freed at the end
 * of a test would leak (and LeakSanitizer would blame the harness). Test code
 * allocates through these; tu_teardown (installed by vec_run for every vector
 * test; use it as the teardown of other tests) frees whatever is left.
 */
void *tu_malloc(size_t n);
void *tu_calloc(size_t n, size_t size);
void *tu_realloc(void *p, size_t n);
void tu_free(void *p);
int tu_teardown(void **state);

/* ---------------------------------------------------------------- growable byte buffer */

typedef struct tu_bytes {
    uint8_t *p;
    size_t len, cap;
} tu_bytes;

void tu_bytes_append(tu_bytes *b, const void *src, size_t n);
void tu_bytes_free(tu_bytes *b);

#endif /* MQWS_TEST_VECTORS_H */
