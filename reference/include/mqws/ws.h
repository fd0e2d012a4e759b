/*
 * mqws/ws.h - WebSocket frame codec (RFC 6455 section 5).
 *
 * The decoder is push-style and zero-copy: the caller passes the bytes it
 * received (a MUTABLE buffer: masked payload is unmasked in place) and gets one
 * event at a time. Data payload is delivered as chunks that point into the
 * caller's buffer, so a frame of any size needs no buffering; a frame header
 * split across calls is kept in the decoder (at most 14 bytes), and so is a
 * control frame payload (at most 125 bytes). The decoder struct holds all state;
 * zero-fill it or call mqws_ws_decoder_init.
 *
 * Text payloads are not checked for UTF-8 here (RFC 6455 8.1 asks the
 * application layer to fail on invalid text); MQTT never accepts text frames,
 * and mqws_stream refuses them at their first byte (MQTT-6.0.0-1).
 *
 *   mqws_ws_decoder d; mqws_ws_decoder_init(&d, MQWS_ROLE_SERVER, 1 << 20);
 *   while (len > 0) {
 *       size_t used; mqws_ws_event ev;
 *       mqws_err r = mqws_ws_decode(&d, buf, len, &used, &ev);
 *       buf += used; len -= used;
 *       if (r == MQWS_NEED_MORE) break;                  // all consumed, no event
 *       if (r != MQWS_OK) { send close mqws_err_ws_close_code(r); break; }
 *       handle(&ev);
 *   }
 */
#ifndef MQWS_WS_H
#define MQWS_WS_H

#include "mqws/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mqws_ws_opcode {
    MQWS_WS_CONTINUATION = 0x0,
    MQWS_WS_TEXT = 0x1,
    MQWS_WS_BINARY = 0x2,
    MQWS_WS_CLOSE = 0x8,
    MQWS_WS_PING = 0x9,
    MQWS_WS_PONG = 0xA
} mqws_ws_opcode;

/** Which end of the connection this codec runs at (decides the masking rule, RFC 6455 5.1). */
typedef enum mqws_role {
    MQWS_ROLE_SERVER = 0, /* receives masked frames, sends unmasked ones */
    MQWS_ROLE_CLIENT = 1  /* receives unmasked frames, sends masked ones */
} mqws_role;

#define MQWS_WS_MAX_HEADER 14u          /* 2 + 8 length + 4 mask */
#define MQWS_WS_MAX_CONTROL_PAYLOAD 125u
#define MQWS_WS_DEFAULT_MAX_MESSAGE (16u * 1024u * 1024u)

typedef enum mqws_ws_event_type {
    MQWS_WS_EV_DATA = 1,   /* a chunk of a text/binary message's payload */
    MQWS_WS_EV_CONTROL = 2 /* a complete ping, pong or close frame */
} mqws_ws_event_type;

typedef struct mqws_ws_event {
    mqws_ws_event_type type;
    mqws_ws_opcode opcode;   /* DATA: MQWS_WS_TEXT or MQWS_WS_BINARY (the message's opcode);
                                CONTROL: CLOSE, PING or PONG */
    const uint8_t *data;     /* unmasked payload chunk: into the caller's buffer for DATA,
                                into the decoder for CONTROL (valid until the next call) */
    size_t len;              /* may be 0 (empty frames are reported) */
    bool message_start;      /* DATA: first chunk of a message */
    bool frame_end;          /* DATA: last chunk of this frame */
    bool message_end;        /* DATA: last chunk of the message (frame_end and FIN) */
    uint16_t close_code;     /* CLOSE: status code, 1005 (no status) when the payload is empty */
    mqws_str close_reason;   /* CLOSE: validated UTF-8 reason, may be empty */
    uint64_t frame_offset;   /* stream offset of this frame's first header byte */
} mqws_ws_event;

typedef struct mqws_ws_decoder {
    mqws_role role;
    uint64_t max_message;     /* data message size limit (sum of its frames' payloads) */
    /* state: offset, err_offset and (for the last event's frame) fin and remaining
     * are meant to be read; the rest is the decoder's working state */
    uint8_t hdr[MQWS_WS_MAX_HEADER];
    uint8_t hdr_len;          /* header bytes collected so far */
    uint8_t hdr_need;         /* header bytes needed (2 until the length form is known) */
    bool in_payload;          /* header complete, payload being delivered */
    bool in_message;          /* a fragmented data message is open */
    bool frame_started_;      /* the current frame's first chunk was reported */
    bool closed;              /* a close frame was decoded: later bytes are an error */
    uint8_t opcode;           /* opcode of the current frame */
    uint8_t msg_opcode;       /* opcode of the open data message */
    bool fin;                 /* FIN bit of the current frame */
    uint8_t mask[4];
    bool masked;
    uint64_t remaining;       /* payload bytes left in the current frame */
    uint64_t mask_offset;     /* payload bytes of the current frame already unmasked */
    uint64_t message_len;     /* payload bytes of the open message so far */
    uint8_t control[MQWS_WS_MAX_CONTROL_PAYLOAD];
    uint8_t control_len;
    uint64_t frame_start;     /* stream offset of the current frame's header */
    uint64_t offset;          /* total bytes consumed so far */
    uint64_t err_offset;      /* on error: stream offset of the offending byte */
} mqws_ws_decoder;

/**
 * Initialises @p d for @p role. @p max_message 0 selects MQWS_WS_DEFAULT_MAX_MESSAGE.
 */
void mqws_ws_decoder_init(mqws_ws_decoder *d, mqws_role role, uint64_t max_message);

/**
 * Consumes bytes until one event is complete or the input ends.
 *
 * @param[in,out] buf       received bytes, owned by the caller; masked payload is
 *                          unmasked in place.
 * @param[out]    consumed  bytes used from @p buf (also on error: up to the bad byte;
 *                          not written on MQWS_ERR_ARG).
 * @param[out]    ev        filled on MQWS_OK; its views point into @p buf (DATA) or into
 *                          the decoder (CONTROL: payload, close reason), see mqws_ws_event.
 * @return MQWS_OK (an event), MQWS_NEED_MORE (all input consumed, no event yet), or an
 *         error, after which the decoder must not be used again:
 *         MQWS_ERR_WS_RSV, MQWS_ERR_WS_OPCODE, MQWS_ERR_WS_UNMASKED, MQWS_ERR_WS_MASKED,
 *         MQWS_ERR_WS_LENGTH_NON_MINIMAL, MQWS_ERR_WS_LENGTH_MSB,
 *         MQWS_ERR_WS_CONTROL_TOO_LONG, MQWS_ERR_WS_CONTROL_FRAGMENTED,
 *         MQWS_ERR_WS_UNEXPECTED_CONTINUATION, MQWS_ERR_WS_EXPECTED_CONTINUATION,
 *         MQWS_ERR_WS_CLOSE_LENGTH, MQWS_ERR_WS_CLOSE_CODE, MQWS_ERR_WS_CLOSE_UTF8,
 *         MQWS_ERR_WS_TOO_BIG, MQWS_ERR_STREAM_CLOSED (bytes after a close frame),
 *         MQWS_ERR_ARG (@p d, @p consumed or @p ev NULL, or @p buf NULL with len > 0;
 *         nothing is consumed and the decoder is unchanged).
 *         mqws_err_ws_close_code() gives the close code to answer with.
 */
mqws_err mqws_ws_decode(mqws_ws_decoder *d, uint8_t *buf, size_t len, size_t *consumed,
                        mqws_ws_event *ev);

/** true when @p code may appear in a received close frame (RFC 6455 7.4 and the IANA registry). */
bool mqws_ws_close_code_valid(uint16_t code);

/** Size of a frame header for @p payload_len bytes (2..14). */
size_t mqws_ws_header_size(uint64_t payload_len, bool masked);

/**
 * Writes a frame header into the caller's @p out (@p cap bytes). @p mask NULL:
 * unmasked (server); else the 4-byte masking key chosen by the caller (client;
 * RFC 6455 5.3 wants it unpredictable). Uses the minimal length form.
 * @return MQWS_OK (*written = header size), MQWS_ERR_BUFFER_TOO_SMALL (@p out NULL or
 *         @p cap too small; *written = size needed), MQWS_ERR_ARG (@p written NULL,
 *         control frame longer than 125 or not FIN, opcode reserved, length >= 2^63).
 */
mqws_err mqws_ws_encode_header(uint8_t *out, size_t cap, size_t *written, mqws_ws_opcode opcode,
                               bool fin, uint64_t payload_len, const uint8_t *mask);

/**
 * Writes a whole frame into the caller's @p out: header plus a copy of @p payload,
 * masked when @p mask is not NULL (the caller's payload is not modified).
 * @return as mqws_ws_encode_header, except that on MQWS_ERR_BUFFER_TOO_SMALL
 *         *written is the size of the whole frame, and MQWS_ERR_ARG also for
 *         @p payload NULL with @p len > 0.
 */
mqws_err mqws_ws_encode_frame(uint8_t *out, size_t cap, size_t *written, mqws_ws_opcode opcode,
                              bool fin, const uint8_t *payload, size_t len, const uint8_t *mask);

/**
 * Writes a close frame with @p code (0: no status, empty payload) and a reason of at
 * most 123 bytes into the caller's @p out.
 * @return as mqws_ws_encode_frame; MQWS_ERR_ARG also for a reason longer than 123
 *         bytes, @p reason NULL with @p reason_len > 0, a reason with code 0, and a
 *         code that mqws_ws_close_code_valid() refuses.
 */
mqws_err mqws_ws_encode_close(uint8_t *out, size_t cap, size_t *written, uint16_t code,
                              const char *reason, size_t reason_len, const uint8_t *mask);

/**
 * XORs @p buf with the masking key, starting at position @p offset of the key
 * stream (the payload offset of buf[0] in its frame). Word-at-a-time.
 */
void mqws_ws_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t offset);

#ifdef __cplusplus
}
#endif
#endif /* MQWS_WS_H */
