/* vectors.c - JSON vector loading, cmocka test lists, guard pages, split plans. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *const vec_all_files[] = {
    "handshake/accept.json", "handshake/server_requests.json", "handshake/client_responses.json",
    "ws/frames.json",        "stream/reassembly.json",         "mqtt/v311.json",
    "mqtt/v5.json",
};
const size_t vec_num_all_files = sizeof vec_all_files / sizeof vec_all_files[0];

/* ---------------------------------------------------------------- tracked memory */

static void **g_tracked;
static size_t g_ntracked, g_captracked;

static void track(void *p)
{
    if (!p)
        abort();
    if (g_ntracked == g_captracked) {
        g_captracked = g_captracked ? 2 * g_captracked : 64;
        g_tracked = realloc(g_tracked, g_captracked * sizeof *g_tracked);
        if (!g_tracked)
            abort();
    }
    g_tracked[g_ntracked++] = p;
}

static void untrack(void *p)
{
    for (size_t i = g_ntracked; i-- > 0;)
        if (g_tracked[i] == p) {
            g_tracked[i] = g_tracked[--g_ntracked];
            return;
        }
    abort(); /* not allocated by tu_malloc */
}

void *tu_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    track(p);
    return p;
}

void *tu_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    track(p);
    return p;
}

void *tu_realloc(void *p, size_t n)
{
    if (!p)
        return tu_malloc(n);
    untrack(p);
    void *q = realloc(p, n ? n : 1);
    track(q);
    return q;
}

void tu_free(void *p)
{
    if (!p)
        return;
    untrack(p);
    free(p);
}

int tu_teardown(void **state)
{
    (void)state;
    while (g_ntracked)
        free(g_tracked[--g_ntracked]);
    return 0;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d)
        abort();
    memcpy(d, s, n);
    return d;
}

json_t *vec_load(const char *rel, char *err, size_t errlen)
{
    const char *dir = getenv("MQWS_VECTORS_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "vectors", rel);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "cannot load %s: %s (line %d)", path, je.text, je.line);
        return NULL;
    }
    if (!json_is_object(root) || !json_is_array(json_object_get(root, "testGroups"))) {
        snprintf(err, errlen, "%s: no testGroups array", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---------------------------------------------------------------- accessors */

bool vec_has(const json_t *obj, const char *key)
{
    return obj && json_object_get(obj, key) != NULL;
}

const char *vec_str(const json_t *obj, const char *key, const char *dflt)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : dflt;
}

long long vec_int(const json_t *obj, const char *key, long long dflt)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

bool vec_bool(const json_t *obj, const char *key, bool dflt)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *vec_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2)
        return NULL;
    uint8_t *out = tu_malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            tu_free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

char *vec_tohex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = tu_malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = 0;
    return s;
}

void vec_fail_(const vec_case *vc, const char *file, int line, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("%s (%s): %s\n", vc ? vc->id : "?", vc ? vc->file : "?", msg);
    _fail(file, line);
    abort(); /* _fail longjmps out of the test */
}

uint8_t *vec_input(const vec_case *vc, size_t *len)
{
    const json_t *text = json_object_get(vc->test, "text");
    if (json_is_string(text)) {
        size_t n = json_string_length(text);
        uint8_t *p = tu_malloc(n + 1);
        memcpy(p, json_string_value(text), n);
        *len = n;
        return p;
    }
    const char *hex = vec_str(vc->test, "input", NULL);
    if (!hex)
        VFAIL(vc, "test has neither \"text\" nor \"input\"");
    uint8_t *p = vec_hex(hex, len);
    if (!p)
        VFAIL(vc, "bad hex in \"input\"");
    return p;
}

/* ---------------------------------------------------------------- test list */

static void vec_dispatch(void **state)
{
    const vec_case *vc = *state;
    if (vc->load_error)
        fail_msg("%s", vc->load_error);
    vc->fn(vc);
}

int vec_run(const char *group_name, const char *const *files, size_t nfiles, vec_test_fn fn,
            const struct CMUnitTest *extra, size_t nextra)
{
    static json_t *empty_obj;
    if (!empty_obj)
        empty_obj = json_object();
    const char *filter = getenv("MQWS_VECTOR_FILTER");
    size_t cap = 16 + nextra, n = 0;
    vec_case **cases = malloc(cap * sizeof *cases);
    json_t **roots = calloc(nfiles + 1, sizeof *roots);
    if (!cases || !roots)
        abort();

    for (size_t f = 0; f < nfiles; f++) {
        char err[1200];
        json_t *root = vec_load(files[f], err, sizeof err);
        roots[f] = root;
        if (!root) {
            vec_case *vc = calloc(1, sizeof *vc);
            if (!vc)
                abort();
            vc->file = files[f];
            vc->id = files[f];
            vc->load_error = xstrdup(err);
            vc->fn = fn;
            cases[n++] = vc;
            continue;
        }
        size_t gi;
        json_t *group;
        json_array_foreach(json_object_get(root, "testGroups"), gi, group)
        {
            json_t *params = json_object_get(group, "params");
            size_t ti;
            json_t *test;
            json_array_foreach(json_object_get(group, "tests"), ti, test)
            {
                const char *id = vec_str(test, "id", NULL);
                if (filter && *filter && (!id || !strstr(id, filter)))
                    continue;
                vec_case *vc = calloc(1, sizeof *vc);
                if (!vc)
                    abort();
                vc->file = files[f];
                vc->id = id ? id : "(vector without id)";
                vc->result = vec_str(test, "result", "valid");
                vc->root = root;
                vc->group = group;
                vc->params = json_is_object(params) ? params : empty_obj;
                vc->test = test;
                json_t *expect = json_object_get(test, "expect");
                vc->expect = json_is_object(expect) ? expect : empty_obj;
                vc->fn = fn;
                if (n + nextra + 1 >= cap) {
                    cap *= 2;
                    cases = realloc(cases, cap * sizeof *cases);
                    if (!cases)
                        abort();
                }
                cases[n++] = vc;
            }
        }
    }

    struct CMUnitTest *tests = calloc(n + nextra + 1, sizeof *tests);
    if (!tests)
        abort();
    for (size_t i = 0; i < n; i++) {
        tests[i].name = cases[i]->id;
        tests[i].test_func = vec_dispatch;
        tests[i].initial_state = cases[i];
        tests[i].teardown_func = tu_teardown;
    }
    for (size_t i = 0; i < nextra; i++)
        tests[n + i] = extra[i];

    int failed = _cmocka_run_group_tests(group_name, tests, n + nextra, NULL, NULL);

    for (size_t i = 0; i < n; i++) {
        free(cases[i]->load_error);
        free(cases[i]);
    }
    free(cases);
    free(tests);
    for (size_t f = 0; f < nfiles; f++)
        json_decref(roots[f]);
    free(roots);
    return failed;
}

/* ---------------------------------------------------------------- guard page */

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096u;
}

void guard_init(guard_buf *g, size_t cap)
{
    size_t ps = page_size();
    size_t data_pages = (cap + ps - 1) / ps;
    if (data_pages == 0)
        data_pages = 1;
    g->map_len = (data_pages + 1) * ps;
    void *m = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        abort();
    g->map = m;
    g->cap = data_pages * ps;
    if (mprotect(g->map + g->cap, ps, PROT_NONE) != 0)
        abort();
}

uint8_t *guard_put(guard_buf *g, const void *src, size_t len)
{
    if (!g->map || len > g->cap) {
        guard_free(g);
        guard_init(g, len);
    }
    uint8_t *p = g->map + g->cap - len;
    if (len)
        memcpy(p, src, len);
    return p;
}

uint8_t *guard_reserve(guard_buf *g, size_t len)
{
    if (!g->map || len > g->cap) {
        guard_free(g);
        guard_init(g, len);
    }
    return g->map + g->cap - len;
}

void guard_free(guard_buf *g)
{
    if (g->map)
        munmap(g->map, g->map_len);
    g->map = NULL;
    g->map_len = g->cap = 0;
}

/* ---------------------------------------------------------------- split plans */

void tu_for_each_split(size_t len, tu_plan_fn fn, void *ctx)
{
    tu_plan plan;
    size_t whole = len;
    plan.total = len;

    snprintf(plan.desc, sizeof plan.desc, "whole");
    plan.ends = &whole;
    plan.n = 1;
    fn(ctx, &plan);

    size_t two[2] = {0, len};
    plan.ends = two;
    plan.n = 2;
    size_t stride = len > TU_ALL_SPLITS_MAX ? 97 : 1;
    for (size_t i = 1; i < len; i++) {
        bool edge = i <= 300 || len - i <= 300;
        if (!edge && (i % stride) != 0)
            continue;
        two[0] = i;
        snprintf(plan.desc, sizeof plan.desc, "2-way split at %zu", i);
        fn(ctx, &plan);
    }

    if (len > 1) {
        size_t *ends = tu_malloc(len * sizeof *ends);
        for (size_t i = 0; i < len; i++)
            ends[i] = i + 1;
        snprintf(plan.desc, sizeof plan.desc, "byte by byte");
        plan.ends = ends;
        plan.n = len;
        fn(ctx, &plan);
        tu_free(ends);
    }
}

void tu_plan_chunks(const size_t *lens, size_t nchunks, const char *desc, tu_plan_fn fn,
                    void *ctx)
{
    size_t *ends = tu_malloc((nchunks + 1) * sizeof *ends);
    size_t at = 0;
    for (size_t i = 0; i < nchunks; i++) {
        at += lens[i];
        ends[i] = at;
    }
    tu_plan plan;
    snprintf(plan.desc, sizeof plan.desc, "%s", desc);
    plan.total = at;
    if (nchunks == 0) {
        ends[0] = 0;
        nchunks = 1;
    }
    plan.ends = ends;
    plan.n = nchunks;
    fn(ctx, &plan);
    tu_free(ends);
}

/* ---------------------------------------------------------------- bytes */

void tu_bytes_append(tu_bytes *b, const void *src, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = tu_realloc(b->p, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

void tu_bytes_free(tu_bytes *b)
{
    tu_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
