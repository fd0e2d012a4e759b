/*
 * mqws/stream.h - getting whole MQTT packets out of a byte stream.
 *
 * MQTT packets are NOT aligned to WebSocket frames (MQTT-6.0.0-2): one packet
 * may span many frames and messages, one frame may hold many packets. Two layers:
 *
 *  - mqws_assembler: MQTT bytes in (any split), whole packets out. Used as is
 *    on TCP/TLS, and under mqws_stream on WebSocket.
 *  - mqws_stream: WebSocket bytes in (a mqws_ws_decoder + an mqws_assembler);
 *    yields MQTT packets and control frames, refuses text frames (MQTT-6.0.0-1).
 *
 * Memory: the caller gives the assembler its packet buffer; its size is the
 * maximum packet size, checked from the fixed header before any body byte is
 * buffered. A packet that lies wholly inside the input is returned as a view of
 * the input (no copy); one that is split is copied into the buffer.
 *
 * Input lifetime: a packet or control payload returned may point into the
 * caller's input, and the stream may hold a view of unprocessed data there. Keep
 * the input unchanged until a call returns MQWS_NEED_MORE (or an error).
 */
#ifndef MQWS_STREAM_H
#define MQWS_STREAM_H

#include "mqws/common.h"
#include "mqws/ws.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqws_assembler {
    uint8_t *buf;         /* caller-owned packet buffer */
    size_t cap;           /* its size = maximum packet size accepted */
    size_t have;          /* bytes of the current packet in buf */
    size_t need;          /* total size of the current packet, 0 while the header is incomplete */
    uint64_t offset;      /* bytes consumed so far (for error offsets) */
    uint64_t err_offset;  /* on error: stream offset of the offending byte */
} mqws_assembler;

/**
 * Sets up @p a with a caller buffer of @p cap bytes (at least MQWS_MQTT_MAX_FIXED_HEADER
 * = 5, else mqws_assembler_feed returns MQWS_ERR_ARG). The caller owns @p buf and keeps
 * it while @p a is in use.
 */
void mqws_assembler_init(mqws_assembler *a, uint8_t *buf, size_t cap);

/**
 * Consumes MQTT bytes until one packet is complete or the input ends.
 *
 * @param[out] consumed  bytes used from @p in (after an error: unspecified; the
 *                       assembler must not be used again).
 * @param[out] packet    on MQWS_OK: the whole packet (fixed header included),
 *                       a view into @p in or into the assembler's buffer, valid
 *                       until the next call.
 * @return MQWS_OK (a packet), MQWS_NEED_MORE (all input consumed),
 *         MQWS_ERR_MQTT_REMAINING_LENGTH, MQWS_ERR_MQTT_TOO_LARGE (checked on the
 *         fixed header, before the body is buffered); MQWS_ERR_ARG (@p a, @p consumed
 *         or @p packet NULL, @p in NULL with @p len > 0, no buffer or one smaller
 *         than 5 bytes; nothing is written). On an error a->err_offset is the
 *         stream offset of the offending byte.
 */
mqws_err mqws_assembler_feed(mqws_assembler *a, const uint8_t *in, size_t len, size_t *consumed,
                             mqws_bytes *packet);

/** true when no partial packet is buffered (a clean point to close at). */
bool mqws_assembler_idle(const mqws_assembler *a);

typedef enum mqws_stream_event_type {
    MQWS_STREAM_PACKET = 1, /* data: one whole MQTT packet */
    MQWS_STREAM_PING = 2,   /* data: ping payload; answer with a pong carrying it */
    MQWS_STREAM_PONG = 3,
    MQWS_STREAM_CLOSE = 4   /* close_code / close_reason; answer with a close, then shut down */
} mqws_stream_event_type;

typedef struct mqws_stream_event {
    mqws_stream_event_type type;
    mqws_bytes data;
    uint16_t close_code;
    mqws_str close_reason;
} mqws_stream_event;

typedef struct mqws_stream {
    mqws_ws_decoder ws;
    mqws_assembler mqtt;
    const uint8_t *pending;   /* unprocessed part of the last data chunk (into caller input) */
    size_t pending_len;
    uint64_t err_offset;      /* see mqws_stream_err_offset */
} mqws_stream;

/**
 * Sets up @p s for @p role with the caller's packet buffer (buf, cap; see
 * mqws_assembler_init) and WebSocket message limit @p max_message
 * (0: MQWS_WS_DEFAULT_MAX_MESSAGE).
 */
void mqws_stream_init(mqws_stream *s, mqws_role role, uint8_t *buf, size_t cap,
                      uint64_t max_message);

/**
 * Consumes WebSocket bytes until one event is ready or the input ends.
 * The input is unmasked in place.
 *
 * @param[in,out] in        received bytes, owned by the caller (see "Input lifetime").
 * @param[out]    consumed  bytes used from @p in (not written on MQWS_ERR_ARG).
 * @param[out]    ev        on MQWS_OK: the event; data points into @p in or into the
 *                          packet buffer (PACKET) or into the decoder (PING, PONG,
 *                          close reason), valid until the next call.
 * @return MQWS_OK (an event), MQWS_NEED_MORE (all input consumed, no event), or an
 *         error: any of mqws_ws_decode (MQWS_ERR_WS_*, MQWS_ERR_STREAM_CLOSED),
 *         MQWS_ERR_STREAM_TEXT_FRAME (a text frame, MQTT-6.0.0-1), those of
 *         mqws_assembler_feed (MQWS_ERR_MQTT_REMAINING_LENGTH, MQWS_ERR_MQTT_TOO_LARGE),
 *         MQWS_ERR_ARG (@p s, @p consumed or @p ev NULL, @p in NULL with @p len > 0,
 *         or an unusable packet buffer). After an error the stream must not be used
 *         again; mqws_err_ws_close_code() gives the close code.
 */
mqws_err mqws_stream_feed(mqws_stream *s, uint8_t *in, size_t len, size_t *consumed,
                          mqws_stream_event *ev);

/**
 * Offset of the offending byte after an error: in the WebSocket byte stream for
 * WS_* and STREAM_* errors, in the MQTT byte stream (concatenated payloads) for MQTT_* ones.
 */
uint64_t mqws_stream_err_offset(const mqws_stream *s);

#ifdef __cplusplus
}
#endif
#endif /* MQWS_STREAM_H */
