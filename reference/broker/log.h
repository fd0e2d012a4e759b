/*
 * log.h - the broker's stderr log: one line per connection event, and with -v
 * a wire trace (handshake headers, frame headers, MQTT packet summaries).
 */
#ifndef MQWS_BROKER_LOG_H
#define MQWS_BROKER_LOG_H

#include <stddef.h>

/* 0: events only; 1 (-v): wire trace too. */
extern int mqws_log_verbose;

#if defined(__GNUC__)
#define MQWS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MQWS_PRINTF(a, b)
#endif

/** A timestamped line on stderr. */
void mqws_log(const char *fmt, ...) MQWS_PRINTF(1, 2);

/** Like mqws_log, only with -v. */
#define mqws_trace(...) \
    do { if (mqws_log_verbose) mqws_log(__VA_ARGS__); } while (0)

/**
 * Writes @p len bytes of @p in into @p out (@p cap bytes, NUL-terminated) with
 * everything outside printable ASCII escaped, so peer-supplied text cannot
 * forge log lines. Returns @p out.
 */
char *mqws_log_escape(char *out, size_t cap, const void *in, size_t len);

#endif
