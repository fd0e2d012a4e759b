/* ws.c - WebSocket frame codec (RFC 6455 section 5), push-style and zero-copy. */
#include <string.h>

#include "ws_internal.h"

static bool is_control(uint8_t opcode) { return (opcode & 0x8u) != 0; }

static bool opcode_defined(uint8_t opcode)
{
    return opcode <= MQWS_WS_BINARY || (opcode >= MQWS_WS_CLOSE && opcode <= MQWS_WS_PONG);
}

void mqws_ws_decoder_init(mqws_ws_decoder *d, mqws_role role, uint64_t max_message)
{
    memset(d, 0, sizeof *d);
    d->role = role;
    d->max_message = max_message ? max_message : MQWS_WS_DEFAULT_MAX_MESSAGE;
}

bool mqws_ws_close_code_valid(uint16_t code)
{
    /* RFC 6455 7.4.1 plus IANA's later 1012-1014; 1004-1006 and 1015 must not be
     * sent; 1016-2999 are reserved; 3000-4999 are for libraries and applications. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

void mqws_ws_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t offset)
{
    mask_bytes(buf, len, key, offset);
}

/* ------------------------------------------------------------------ decoder */

static mqws_err fail(mqws_ws_decoder *d, mqws_err e, uint64_t at)
{
    d->err_offset = at;
    return e;
}

/* Rules decidable from the first header byte (RFC 6455 5.2, 5.4, 5.5). */
static inline mqws_err check_byte0(const mqws_ws_decoder *d, uint8_t b0)
{
    uint8_t opcode = b0 & 0x0Fu;
    if (b0 & 0x70u)
        return MQWS_ERR_WS_RSV; /* no extension is ever negotiated */
    if (!opcode_defined(opcode))
        return MQWS_ERR_WS_OPCODE;
    if (is_control(opcode)) {
        if (!(b0 & 0x80u))
            return MQWS_ERR_WS_CONTROL_FRAGMENTED;
    } else if (opcode == MQWS_WS_CONTINUATION) {
        if (!d->in_message)
            return MQWS_ERR_WS_UNEXPECTED_CONTINUATION;
    } else if (d->in_message) {
        return MQWS_ERR_WS_EXPECTED_CONTINUATION;
    }
    return MQWS_OK;
}

/* Rules decidable from the second byte: masking per role (5.1), control length (5.5). */
static inline mqws_err check_byte1(const mqws_ws_decoder *d, uint8_t b0, uint8_t b1)
{
    bool masked = (b1 & 0x80u) != 0;
    if (d->role == MQWS_ROLE_SERVER && !masked)
        return MQWS_ERR_WS_UNMASKED;
    if (d->role == MQWS_ROLE_CLIENT && masked)
        return MQWS_ERR_WS_MASKED;
    if (is_control(b0 & 0x0Fu) && (b1 & 0x7Fu) > MQWS_WS_MAX_CONTROL_PAYLOAD)
        return MQWS_ERR_WS_CONTROL_TOO_LONG;
    return MQWS_OK;
}

/* Header length from its second byte: 2, +2 or +8 length bytes, +4 mask bytes. */
static inline size_t header_need(uint8_t b1)
{
    size_t len7 = b1 & 0x7Fu;
    return 2u + (len7 == 126 ? 2u : 0u) + (len7 == 127 ? 8u : 0u) + ((size_t)(b1 >> 7) << 2);
}

/* Header complete: decode the length (minimal form, top bit clear; 5.2) and start the payload. */
static mqws_err start_payload(mqws_ws_decoder *d, const uint8_t *h, uint64_t hdr_start)
{
    uint8_t len7 = h[1] & 0x7Fu;
    uint64_t plen = len7;
    size_t pos = 2;
    if (len7 == 126) {
        plen = ((uint64_t)h[2] << 8) | h[3];
        pos = 4;
        if (plen < 126)
            return fail(d, MQWS_ERR_WS_LENGTH_NON_MINIMAL, hdr_start + 2);
    } else if (len7 == 127) {
        plen = 0;
        for (size_t i = 2; i < 10; i++)
            plen = (plen << 8) | h[i];
        pos = 10;
        if (plen >> 63)
            return fail(d, MQWS_ERR_WS_LENGTH_MSB, hdr_start + 2);
        if (plen <= 0xFFFFu)
            return fail(d, MQWS_ERR_WS_LENGTH_NON_MINIMAL, hdr_start + 2);
    }
    d->masked = (h[1] & 0x80u) != 0;
    if (d->masked)
        memcpy(d->mask, h + pos, 4);
    d->opcode = h[0] & 0x0Fu;
    d->fin = (h[0] & 0x80u) != 0;
    if (!is_control(d->opcode)) {
        /* 10.4: bound what a peer can make us accept before the payload arrives. */
        if (plen > d->max_message || d->message_len > d->max_message - plen)
            return fail(d, MQWS_ERR_WS_TOO_BIG, hdr_start + 1);
        if (d->opcode != MQWS_WS_CONTINUATION)
            d->msg_opcode = d->opcode;
    }
    d->remaining = plen;
    d->mask_offset = 0;
    d->control_len = 0;
    d->frame_started_ = false;
    d->in_payload = true;
    return MQWS_OK;
}

/* A complete close payload: 5.5.1 (length), 7.4 (code), 8.1 (UTF-8 reason). */
static mqws_err check_close(mqws_ws_decoder *d, mqws_ws_event *ev, uint64_t payload_start)
{
    const uint8_t *p = d->control;
    size_t n = d->control_len;
    ev->close_code = 1005; /* 7.1.5: "no status code was present" */
    ev->close_reason.ptr = NULL;
    ev->close_reason.len = 0;
    if (n == 0)
        return MQWS_OK;
    if (n == 1)
        return fail(d, MQWS_ERR_WS_CLOSE_LENGTH, payload_start);
    uint16_t code = (uint16_t)((p[0] << 8) | p[1]);
    if (!mqws_ws_close_code_valid(code))
        return fail(d, MQWS_ERR_WS_CLOSE_CODE, payload_start);
    size_t bad = 0;
    if (mqws_utf8_validate(p + 2, n - 2, true, &bad) != MQWS_OK)
        return fail(d, MQWS_ERR_WS_CLOSE_UTF8, payload_start + 2 + bad);
    ev->close_code = code;
    ev->close_reason.ptr = (const char *)p + 2;
    ev->close_reason.len = n - 2;
    return MQWS_OK;
}

static void end_frame(mqws_ws_decoder *d)
{
    d->in_payload = false;
    d->hdr_len = 0; /* hdr_need is reset by collect_header, if the next header is split */
    if (!is_control(d->opcode)) {
        d->in_message = !d->fin;
        if (d->fin)
            d->message_len = 0;
    }
}

/*
 * Header split across calls: collects it byte by byte in d->hdr, checking bytes 0 and
 * 1 as they arrive. false on an error (in *r) or when the input ends first.
 */
static bool collect_header(mqws_ws_decoder *d, const uint8_t *buf, size_t len, size_t *pos,
                           mqws_err *r)
{
    if (d->hdr_len == 0)
        d->hdr_need = 2; /* until the length form is known */
    while (d->hdr_len < d->hdr_need && *pos < len) {
        uint8_t b = buf[*pos];
        if (d->hdr_len == 0)
            *r = check_byte0(d, b);
        else if (d->hdr_len == 1)
            *r = check_byte1(d, d->hdr[0], b);
        if (*r != MQWS_OK) {
            *r = fail(d, *r, d->offset + *pos);
            return false;
        }
        d->hdr[d->hdr_len++] = b;
        (*pos)++;
        if (d->hdr_len == 2)
            d->hdr_need = (uint8_t)header_need(b);
    }
    return d->hdr_len == d->hdr_need;
}

mqws_err mqws_ws_decode(mqws_ws_decoder *d, uint8_t *buf, size_t len, size_t *consumed,
                        mqws_ws_event *ev)
{
    if (!d || !consumed || !ev || (!buf && len))
        return MQWS_ERR_ARG;
    if (decode_whole_frame(d, buf, len, consumed, ev))
        return MQWS_OK;
    return mqws_ws_decode_general(d, buf, len, consumed, ev);
}

mqws_err mqws_ws_decode_general(mqws_ws_decoder *d, uint8_t *buf, size_t len, size_t *consumed,
                                mqws_ws_event *ev)
{
    if (!d || !consumed || !ev || (!buf && len))
        return MQWS_ERR_ARG;
    size_t pos = 0;
    mqws_err r = MQWS_OK;
    if (d->max_message == 0)
        d->max_message = MQWS_WS_DEFAULT_MAX_MESSAGE;

    for (;;) {
        if (!d->in_payload) {
            if (pos == len)
                break;
            if (d->closed) {
                r = fail(d, MQWS_ERR_STREAM_CLOSED, d->offset + pos);
                break;
            }
            uint64_t hdr_start = d->offset + pos - d->hdr_len;
            d->frame_start = hdr_start;
            const uint8_t *h = d->hdr;
            size_t need = len - pos >= 2 ? header_need(buf[pos + 1]) : MQWS_WS_MAX_HEADER + 1;
            if (d->hdr_len == 0 && len - pos >= need) {
                /* The whole header is in the input (the usual case): check and decode it
                 * in place. Collecting it byte by byte into d->hdr costs a store-forwarding
                 * stall on the 4-byte mask load, about a third of a small frame's time. */
                h = buf + pos;
                r = check_byte0(d, h[0]);
                if (r == MQWS_OK) {
                    pos++; /* as in collect_header: consumed up to the bad byte */
                    r = check_byte1(d, h[0], h[1]);
                }
                if (r != MQWS_OK) {
                    r = fail(d, r, d->offset + pos);
                    break;
                }
                pos += need - 1u;
            } else if (!collect_header(d, buf, len, &pos, &r)) {
                break; /* an error, or the header is cut off: the bytes are kept */
            }
            if ((r = start_payload(d, h, hdr_start)) != MQWS_OK)
                break;
        }

        if (is_control(d->opcode)) {
            size_t n = (size_t)(d->remaining < len - pos ? d->remaining : len - pos);
            memcpy(d->control + d->control_len, buf + pos, n);
            d->control_len = (uint8_t)(d->control_len + n);
            d->remaining -= n;
            pos += n;
            if (d->remaining > 0)
                break;
            if (d->masked)
                mqws_ws_mask(d->control, d->control_len, d->mask, 0);
            memset(ev, 0, sizeof *ev);
            ev->type = MQWS_WS_EV_CONTROL;
            ev->opcode = (mqws_ws_opcode)d->opcode;
            ev->data = d->control;
            ev->len = d->control_len;
            ev->frame_offset = d->frame_start;
            if (d->opcode == MQWS_WS_CLOSE) {
                r = check_close(d, ev, d->offset + pos - d->control_len);
                if (r != MQWS_OK)
                    break;
                d->closed = true;
            }
            end_frame(d);
            d->offset += pos;
            *consumed = pos;
            return MQWS_OK;
        }

        /* Data frame: hand out what is here, unmasked in place. Empty frames are
         * reported too, so a consumer sees every message boundary. */
        size_t n = (size_t)(d->remaining < len - pos ? d->remaining : len - pos);
        if (n == 0 && d->remaining > 0)
            break;
        if (d->masked) {
            mask_bytes(buf + pos, n, d->mask, d->mask_offset);
            /* Updated apart from remaining: GCC pairs the two neighbours into one
             * 16-byte load that stalls on start_payload's 8-byte stores. */
            d->mask_offset += n;
        }
        bool message_start = !d->frame_started_ && d->opcode != MQWS_WS_CONTINUATION;
        d->frame_started_ = true;
        d->remaining -= n;
        d->message_len += n;
        bool frame_end = d->remaining == 0;
        /* Every field written once (no memset first): this runs once per data chunk. */
        ev->type = MQWS_WS_EV_DATA;
        ev->opcode = (mqws_ws_opcode)d->msg_opcode;
        ev->data = buf + pos;
        ev->len = n;
        ev->message_start = message_start;
        ev->frame_end = frame_end;
        ev->message_end = frame_end && d->fin;
        ev->close_code = 0;
        ev->close_reason.ptr = NULL;
        ev->close_reason.len = 0;
        ev->frame_offset = d->frame_start;
        pos += n;
        if (frame_end)
            end_frame(d);
        d->offset += pos;
        *consumed = pos;
        return MQWS_OK;
    }

    d->offset += pos;
    *consumed = pos;
    return r == MQWS_OK ? MQWS_NEED_MORE : r;
}

/* ------------------------------------------------------------------ encoder */

size_t mqws_ws_header_size(uint64_t payload_len, bool masked)
{
    size_t n = 2;
    if (payload_len > 0xFFFFu)
        n += 8;
    else if (payload_len >= 126)
        n += 2;
    return n + (masked ? 4 : 0);
}

mqws_err mqws_ws_encode_header(uint8_t *out, size_t cap, size_t *written, mqws_ws_opcode opcode,
                               bool fin, uint64_t payload_len, const uint8_t *mask)
{
    if (!written || !opcode_defined((uint8_t)opcode) || (payload_len >> 63))
        return MQWS_ERR_ARG;
    if (is_control((uint8_t)opcode) && (!fin || payload_len > MQWS_WS_MAX_CONTROL_PAYLOAD))
        return MQWS_ERR_ARG;
    size_t need = mqws_ws_header_size(payload_len, mask != NULL);
    *written = need;
    if (!out || cap < need)
        return MQWS_ERR_BUFFER_TOO_SMALL;
    size_t pos = 0;
    out[pos++] = (uint8_t)((fin ? 0x80u : 0u) | (uint8_t)opcode);
    uint8_t mbit = mask ? 0x80u : 0u;
    if (payload_len < 126) {
        out[pos++] = (uint8_t)(mbit | payload_len);
    } else if (payload_len <= 0xFFFFu) {
        out[pos++] = (uint8_t)(mbit | 126u);
        out[pos++] = (uint8_t)(payload_len >> 8);
        out[pos++] = (uint8_t)payload_len;
    } else {
        out[pos++] = (uint8_t)(mbit | 127u);
        for (int shift = 56; shift >= 0; shift -= 8)
            out[pos++] = (uint8_t)(payload_len >> shift);
    }
    if (mask) {
        memcpy(out + pos, mask, 4);
        pos += 4;
    }
    return MQWS_OK;
}

mqws_err mqws_ws_encode_frame(uint8_t *out, size_t cap, size_t *written, mqws_ws_opcode opcode,
                              bool fin, const uint8_t *payload, size_t len, const uint8_t *mask)
{
    size_t hlen = 0;
    if (!written || (!payload && len))
        return MQWS_ERR_ARG;
    mqws_err r = mqws_ws_encode_header(out, cap, &hlen, opcode, fin, len, mask);
    if (r == MQWS_ERR_BUFFER_TOO_SMALL || (r == MQWS_OK && cap - hlen < len)) {
        *written = hlen + len;
        return MQWS_ERR_BUFFER_TOO_SMALL;
    }
    if (r != MQWS_OK)
        return r;
    if (len)
        memcpy(out + hlen, payload, len);
    if (mask)
        mqws_ws_mask(out + hlen, len, mask, 0);
    *written = hlen + len;
    return MQWS_OK;
}

mqws_err mqws_ws_encode_close(uint8_t *out, size_t cap, size_t *written, uint16_t code,
                              const char *reason, size_t reason_len, const uint8_t *mask)
{
    uint8_t payload[MQWS_WS_MAX_CONTROL_PAYLOAD];
    if (!written || (!reason && reason_len) || reason_len > MQWS_WS_MAX_CONTROL_PAYLOAD - 2)
        return MQWS_ERR_ARG;
    if (code == 0) /* no status: then no reason either (5.5.1) */
        return reason_len ? MQWS_ERR_ARG
                          : mqws_ws_encode_frame(out, cap, written, MQWS_WS_CLOSE, true, NULL, 0,
                                                 mask);
    if (!mqws_ws_close_code_valid(code))
        return MQWS_ERR_ARG;
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (reason_len)
        memcpy(payload + 2, reason, reason_len);
    return mqws_ws_encode_frame(out, cap, written, MQWS_WS_CLOSE, true, payload, reason_len + 2,
                                mask);
}
