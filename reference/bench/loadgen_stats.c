/*
 * loadgen_stats.c - latency histogram, clocks and /proc readings of mqws-loadgen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

/* Values below 512 get a bucket each; above, the top 9 significant bits pick
 * the bucket (256 buckets per power of two, each at most 0.4 % of its value wide):
 * idx = 256 * shift + (v >> shift), with v >> shift in [256, 512). */
static size_t hist_index(uint64_t v)
{
    if (v < 512u)
        return (size_t)v;
    unsigned shift = 63u - (unsigned)__builtin_clzll(v) - 8u;
    size_t idx = (size_t)shift * 256u + (size_t)(v >> shift);
    return idx < LG_HIST_BUCKETS ? idx : LG_HIST_BUCKETS - 1u;
}

/* Middle of bucket @p idx (inverse of hist_index). */
static uint64_t hist_value(size_t idx)
{
    if (idx < 512u)
        return idx;
    size_t shift = idx / 256u - 1u;
    uint64_t mant = idx - shift * 256u;
    return (mant << shift) + (((uint64_t)1 << shift) >> 1);
}

void lg_hist_add(lg_hist *h, uint64_t v)
{
    h->n[hist_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

uint64_t lg_hist_quantile(const lg_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->total + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long lg_proc_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

double lg_proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields restart after
     * the last ')'. utime and stime are fields 14 and 15 (proc(5)). */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
}

double lg_self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
