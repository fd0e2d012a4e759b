/*
 * fuzz/replay_main.c - a plain main() for the fuzz targets, without libFuzzer.
 *
 * Usage: fuzz_xxx-replay PATH...   (each PATH a corpus directory or a single file)
 *
 * Calls LLVMFuzzerTestOneInput once on every regular file (directories are walked
 * recursively, in name order) and prints "replayed N inputs from PATH" per argument.
 * Each input is passed in a heap block of exactly its size, as libFuzzer does, so a
 * sanitizer build catches reads past the end. Exits 1 when an argument holds no
 * input at all (an empty seed corpus is a build bug, not a pass), 2 on I/O errors.
 * A violated invariant aborts inside the target, which fails the process.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, len = 0;
    uint8_t *buf = fz_malloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            uint8_t *q = realloc(buf, cap);
            if (!q)
                abort();
            buf = q;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

static int replay_one(const char *path)
{
    uint8_t *raw;
    size_t len;
    if (read_file(path, &raw, &len) != 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *exact = fz_dup(raw, len); /* exactly len bytes */
    free(raw);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

/* Skips ".", ".." and hidden files (libFuzzer writes none; editors do). */
static int keep_entry(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Returns the number of inputs replayed under path, or -1 on an I/O error. */
static long replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_one(path) == 0 ? 1 : -1;

    struct dirent **names;
    int n = scandir(path, &names, keep_entry, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", path, strerror(errno));
        return -1;
    }
    long total = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        size_t need = strlen(path) + strlen(names[i]->d_name) + 2;
        char *child = fz_malloc(need);
        snprintf(child, need, "%s/%s", path, names[i]->d_name);
        long c = replay_path(child);
        if (c < 0)
            failed = 1;
        else
            total += c;
        free(child);
        free(names[i]);
    }
    free(names);
    return failed ? -1 : total;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        long n = replay_path(argv[i]);
        if (n < 0) {
            rc = 2;
            continue;
        }
        printf("replayed %ld inputs from %s\n", n, argv[i]);
        if (n == 0) {
            fprintf(stderr, "replay: no input in %s\n", argv[i]);
            if (rc == 0)
                rc = 1;
        }
    }
    return rc;
}
