/* log.c - timestamped stderr lines, escaping of peer-supplied text. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int mqws_log_verbose = 0;

void mqws_log(const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    /* one write per line keeps lines whole when stderr is shared */
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}

char *mqws_log_escape(char *out, size_t cap, const void *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = in;
    size_t o = 0, i = 0;
    if (cap < 8) { if (cap) out[0] = '\0'; return out; }
    for (; i < len && o + 8 < cap; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (i < len) { out[o++] = '.'; out[o++] = '.'; out[o++] = '.'; }
    out[o] = '\0';
    return out;
}
