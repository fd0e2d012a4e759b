/*
 * fuzz/tools/time_main.c - per-input cost of a fuzz target, without the fuzzer.
 *
 * Usage: build-fuzz/time/<target> [-r ROUNDS] FILE...
 *
 * Loads every FILE into memory, then calls LLVMFuzzerTestOneInput on each, in a
 * heap block of exactly its size as libFuzzer does, ROUNDS times (default 3), and
 * prints the best round as executions per CPU-second. Linked like the fuzzing
 * build (ASan, UBSan, coverage callbacks) but with libFuzzer's no-main runtime:
 * no mutation, no corpus, no file I/O in the timed loop, so two builds of a target
 * compare on the same inputs (run them alternately; the machine's load varies).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint8_t *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        perror(path);
        exit(2);
    }
    long n = ftell(f);
    rewind(f);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p || n < 0 || fread(p, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    int rounds = 3, first = 1;
    if (argc > 2 && strcmp(argv[1], "-r") == 0) {
        rounds = atoi(argv[2]);
        first = 3;
    }
    int n = argc - first;
    if (n < 1 || rounds < 1) {
        fprintf(stderr, "usage: %s [-r ROUNDS] FILE...\n", argv[0]);
        return 2;
    }
    uint8_t **data = malloc((size_t)n * sizeof *data);
    size_t *len = malloc((size_t)n * sizeof *len);
    if (!data || !len)
        return 2;
    for (int i = 0; i < n; i++)
        data[i] = load(argv[first + i], &len[i]);
    double best = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = cpu_seconds();
        for (int i = 0; i < n; i++) {
            uint8_t *exact = malloc(len[i] ? len[i] : 1);
            if (!exact)
                return 2;
            memcpy(exact, data[i], len[i]);
            LLVMFuzzerTestOneInput(exact, len[i]);
            free(exact);
        }
        double t = cpu_seconds() - t0;
        if (best == 0 || t < best)
            best = t;
    }
    printf("%d inputs, best of %d rounds: %.0f exec per CPU-second\n", n, rounds,
           best > 0 ? n / best : 0.0);
    for (int i = 0; i < n; i++)
        free(data[i]);
    free(data);
    free(len);
    return 0;
}
