/*
 * mqws/common.h - types shared by every libmqws layer.
 *
 * Ownership rule of the whole library: libmqws never allocates memory on the
 * caller's behalf and never does I/O. Decoders return views (pointer + length)
 * into the caller's input buffer; a view is valid as long as that buffer is.
 */
#ifndef MQWS_COMMON_H
#define MQWS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqws/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MQWS_VERSION_STRING "0.1.0"

/** A view into caller memory: not NUL-terminated, may be empty (ptr may then be NULL). */
typedef struct mqws_str {
    const char *ptr;
    size_t len;
} mqws_str;

/** A view of binary data in caller memory. */
typedef struct mqws_bytes {
    const uint8_t *ptr;
    size_t len;
} mqws_bytes;

/** Builds a view of a NUL-terminated C string (NULL gives an empty view). */
mqws_str mqws_str_c(const char *s);

/** true when @p a equals the NUL-terminated @p b byte for byte. */
bool mqws_str_eq(mqws_str a, const char *b);

/** true when @p a equals @p b ignoring ASCII case. */
bool mqws_str_ieq(mqws_str a, const char *b);

/**
 * Validates UTF-8 (RFC 3629): rejects overlong forms, surrogates
 * (U+D800..U+DFFF), code points above U+10FFFF and truncated sequences.
 * With @p allow_nul false, U+0000 is rejected too (MQTT-1.5.3-2).
 *
 * @param[out] err_offset  if not NULL, receives the offset of the first bad byte.
 * @return MQWS_OK, MQWS_ERR_MQTT_UTF8 (ill-formed, MQTT-1.5.3-1) or
 *         MQWS_ERR_MQTT_UTF8_NUL (U+0000 with allow_nul false).
 */
mqws_err mqws_utf8_validate(const uint8_t *s, size_t len, bool allow_nul, size_t *err_offset);

#ifdef __cplusplus
}
#endif
#endif /* MQWS_COMMON_H */
