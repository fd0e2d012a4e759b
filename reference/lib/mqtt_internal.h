/*
 * mqtt_internal.h - shared between mqtt.c (packets) and mqtt_props.c (5.0
 * properties). Not installed.
 */
#ifndef MQWS_MQTT_INTERNAL_H
#define MQWS_MQTT_INTERNAL_H

#include "mqws/mqtt.h"

/* Shared between the library's files only: kept out of libmqws.so's exported symbols. */
#if defined(__GNUC__)
#define MQWS_INTERNAL __attribute__((visibility("hidden")))
#else
#define MQWS_INTERNAL
#endif

/* Where a property block sits: a packet type (1..15) or the CONNECT Will properties. */
#define MQWS_PROPS_IN_WILL 0

/*
 * Validates the 5.0 property block that starts at buf[*pos] (with its Property
 * Length) and ends no later than buf[end]; where is a packet type or
 * MQWS_PROPS_IN_WILL. Fills *props and advances *pos past the block.
 * On error *err_at is the offset in buf of the offending byte.
 */
MQWS_INTERNAL mqws_err mqws_mqtt_props_decode(const uint8_t *buf, size_t *pos, size_t end, int where,
                                mqws_props *props, size_t *err_at);

/*
 * Reads a Variable Byte Integer (1.5.5) at buf[*pos], at most 4 bytes, before end.
 * Returns MQWS_OK, MQWS_NEED_MORE (cut off at end) or MQWS_ERR_MQTT_REMAINING_LENGTH
 * (continuation bit on the 4th byte, or not minimal: MQTT-1.5.5-1) with *err_at
 * the offending byte; *pos advances only on MQWS_OK.
 */
MQWS_INTERNAL mqws_err mqws_mqtt_varint_read(const uint8_t *buf, size_t *pos, size_t end, uint32_t *value,
                               size_t *err_at);

/* Bytes a Variable Byte Integer needs for @p v (1..4; v <= 268435455). */
MQWS_INTERNAL size_t mqws_mqtt_varint_size(uint32_t v);

/* Writes @p v as a Variable Byte Integer at out; returns the bytes written. */
MQWS_INTERNAL size_t mqws_mqtt_varint_write(uint8_t *out, uint32_t v);

/* Topic Name check on raw bytes; *bad receives the offending offset within s. */
MQWS_INTERNAL mqws_err mqws_mqtt_topic_name_check(const uint8_t *s, size_t len, bool allow_empty, size_t *bad);

/* mqws_mqtt_decode without its PUBLISH fast path (same contract): for tests that compare them. */
MQWS_INTERNAL mqws_err mqws_mqtt_decode_general(const uint8_t *buf, size_t len,
                                                mqws_mqtt_version version,
                                                const mqws_mqtt_limits *limits, mqws_packet *pkt,
                                                size_t *consumed, size_t *err_offset);

#endif /* MQWS_MQTT_INTERNAL_H */
