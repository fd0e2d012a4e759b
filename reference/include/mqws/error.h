/*
 * mqws/error.h - the one result/error enum of libmqws.
 *
 * Every libmqws function that can fail returns an mqws_err. MQWS_OK (0) is
 * success; MQWS_NEED_MORE (1) means "input ends before the unit is complete:
 * call again with more bytes" and is not an error. Every value >= 2 is an
 * error. Each error maps to
 *   - a stable name used by the JSON vectors (mqws_err_name: "WS_RSV"),
 *   - a one-line English description (mqws_strerror),
 *   - the requirement it enforces (mqws_err_ref: "RFC6455-5.2", "MQTT-3.3.1-4"),
 *   - the wire reaction: HTTP status during the handshake, WebSocket close
 *     code on a WebSocket, MQTT reason code (CONNACK / DISCONNECT).
 * The numeric values are not stable across releases; the names are.
 */
#ifndef MQWS_ERROR_H
#define MQWS_ERROR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * X-macro: X(name, ref, http_status, ws_close_code, mqtt5_reason, text)
 *   http_status   0 when the error cannot occur during the handshake
 *   ws_close_code 0 when the error is not a WebSocket-level reaction
 *   mqtt5_reason  MQTT 5 reason code for CONNACK/DISCONNECT, 0 when none
 */
#define MQWS_ERRORS(X)                                                                             \
    X(OK, "", 0, 0, 0x00, "success")                                                               \
    X(NEED_MORE, "", 0, 0, 0x00, "input incomplete: more bytes are needed")                        \
    X(ARG, "", 0, 0, 0x00, "invalid argument")                                                     \
    X(BUFFER_TOO_SMALL, "", 0, 0, 0x00, "output buffer too small")                                 \
    X(INTERNAL, "", 500, 1011, 0x83, "internal error (crypto library failure)")                   \
    /* HTTP/1.1 Upgrade handshake (RFC 6455 section 4) */                                          \
    X(HS_TOO_LARGE, "RFC6455-4.2.1", 431, 0, 0, "handshake exceeds the header size limit")        \
    X(HS_TOO_MANY_HEADERS, "RFC6455-4.2.1", 431, 0, 0, "handshake has too many header fields")    \
    X(HS_MALFORMED, "RFC7230-3", 400, 0, 0, "malformed HTTP/1.1 message")                         \
    X(HS_METHOD, "RFC6455-4.2.1", 400, 0, 0, "request method is not GET")                         \
    X(HS_HTTP_VERSION, "RFC6455-4.2.1", 400, 0, 0, "HTTP version is not 1.1 or higher")           \
    X(HS_TARGET, "RFC7230-5.3", 400, 0, 0,                                                         \
      "request-target is not a path [?query] or an absolute http/https URI, or has a fragment")  \
    X(HS_HOST, "RFC6455-4.2.1", 400, 0, 0, "missing, repeated or invalid Host header")          \
    X(HS_UPGRADE, "RFC6455-4.2.1", 400, 0, 0, "Upgrade header is not 'websocket'")                \
    X(HS_CONNECTION, "RFC6455-4.2.1", 400, 0, 0, "Connection header lacks the 'Upgrade' token")   \
    X(HS_KEY, "RFC6455-4.2.1", 400, 0, 0, "Sec-WebSocket-Key is missing or not 16 bytes base64")  \
    X(HS_VERSION, "RFC6455-4.2.2", 426, 0, 0, "Sec-WebSocket-Version is not 13")                  \
    X(HS_PATH, "RFC6455-4.2.1", 404, 0, 0, "request path is not served")                          \
    X(HS_SUBPROTOCOL, "MQTT-6.0.0-3", 400, 0, 0, "client does not offer the 'mqtt' subprotocol")  \
    X(HS_SUBPROTOCOL_SYNTAX, "RFC6455-4.1", 400, 0, 0, "Sec-WebSocket-Protocol is not a token list") \
    X(HS_STATUS, "RFC6455-4.1", 0, 0, 0, "server did not answer 101 Switching Protocols")         \
    X(HS_ACCEPT, "RFC6455-4.1", 0, 0, 0, "Sec-WebSocket-Accept does not match the key")           \
    X(HS_SUBPROTOCOL_UNOFFERED, "RFC6455-4.1", 0, 0, 0,                                            \
      "server selected a subprotocol the client did not offer")                                   \
    X(HS_SUBPROTOCOL_NOT_MQTT, "MQTT-6.0.0-4", 0, 0, 0, "server did not select the 'mqtt' subprotocol") \
    X(HS_EXTENSION_UNOFFERED, "RFC6455-4.1", 0, 0, 0,                                              \
      "server selected an extension the client did not offer")                                    \
    /* WebSocket framing (RFC 6455 section 5) */                                                  \
    X(WS_RSV, "RFC6455-5.2", 0, 1002, 0, "RSV bit set without a negotiated extension")            \
    X(WS_OPCODE, "RFC6455-5.2", 0, 1002, 0, "reserved opcode")                                    \
    X(WS_UNMASKED, "RFC6455-5.1", 0, 1002, 0, "client frame is not masked")                       \
    X(WS_MASKED, "RFC6455-5.1", 0, 1002, 0, "server frame is masked")                             \
    X(WS_LENGTH_NON_MINIMAL, "RFC6455-5.2", 0, 1002, 0,                                            \
      "payload length not in the minimal number of bytes")                                        \
    X(WS_LENGTH_MSB, "RFC6455-5.2", 0, 1002, 0, "64-bit payload length has the top bit set")      \
    X(WS_CONTROL_TOO_LONG, "RFC6455-5.5", 0, 1002, 0, "control frame payload exceeds 125 bytes") \
    X(WS_CONTROL_FRAGMENTED, "RFC6455-5.5", 0, 1002, 0, "control frame is fragmented")            \
    X(WS_UNEXPECTED_CONTINUATION, "RFC6455-5.4", 0, 1002, 0,                                       \
      "continuation frame without a message in progress")                                         \
    X(WS_EXPECTED_CONTINUATION, "RFC6455-5.4", 0, 1002, 0,                                         \
      "new data frame while a fragmented message is in progress")                                 \
    X(WS_CLOSE_LENGTH, "RFC6455-5.5.1", 0, 1002, 0, "close frame payload of 1 byte")              \
    X(WS_CLOSE_CODE, "RFC6455-7.4", 0, 1002, 0, "close frame carries an invalid status code")     \
    X(WS_CLOSE_UTF8, "RFC6455-8.1", 0, 1007, 0, "close reason is not valid UTF-8")                \
    X(WS_TOO_BIG, "RFC6455-10.4", 0, 1009, 0x95, "message exceeds the size limit")                \
    /* MQTT over WebSocket (MQTT 3.1.1 / 5.0 section 6) */                                        \
    X(STREAM_TEXT_FRAME, "MQTT-6.0.0-1", 0, 1003, 0x81, "MQTT received in a text frame")          \
    X(STREAM_CLOSED, "RFC6455-5.5.1", 0, 0, 0, "data after the close frame")                      \
    /* MQTT control packets */                                                                     \
    X(MQTT_PACKET_TYPE, "MQTT-2.2.1", 0, 1002, 0x81, "reserved MQTT packet type")                 \
    X(MQTT_FLAGS, "MQTT-2.2.2-2", 0, 1002, 0x81, "reserved fixed-header flag bits are wrong")     \
    X(MQTT_REMAINING_LENGTH, "MQTT-1.5.5-1", 0, 1002, 0x81,                                        \
      "remaining length longer than 4 bytes or not minimal")                                      \
    X(MQTT_MALFORMED, "MQTT-4.13.1", 0, 1002, 0x81,                                                \
      "packet body does not match its remaining length")                                          \
    X(MQTT_TOO_LARGE, "MQTT-3.2.2.3.6", 0, 1009, 0x95, "packet exceeds the maximum packet size")   \
    X(MQTT_UTF8, "MQTT-1.5.3-1", 0, 1002, 0x81, "ill-formed UTF-8 string")                        \
    X(MQTT_UTF8_NUL, "MQTT-1.5.3-2", 0, 1002, 0x81, "UTF-8 string contains U+0000")               \
    X(MQTT_PROTOCOL_NAME, "MQTT-3.1.2-1", 0, 1002, 0x84, "protocol name is not 'MQTT'")           \
    X(MQTT_PROTOCOL_LEVEL, "MQTT-3.1.2-2", 0, 1002, 0x84, "unsupported protocol level")           \
    X(MQTT_CONNECT_RESERVED, "MQTT-3.1.2-3", 0, 1002, 0x81, "CONNECT reserved flag is set")       \
    X(MQTT_WILL_FLAGS, "MQTT-3.1.2-11", 0, 1002, 0x81,                                             \
      "Will QoS/Retain set without Will Flag, or Will QoS 3")                                     \
    X(MQTT_PASSWORD_FLAG, "MQTT-3.1.2-22", 0, 1002, 0x81,                                          \
      "Password Flag set without User Name Flag (3.1.1)")                                         \
    X(MQTT_QOS, "MQTT-3.3.1-4", 0, 1002, 0x81, "QoS 3")                                           \
    X(MQTT_PACKET_ID, "MQTT-2.3.1-1", 0, 1002, 0x81, "packet identifier is zero")                 \
    X(MQTT_TOPIC_NAME, "MQTT-3.3.2-2", 0, 1002, 0x82, "invalid topic name")                       \
    X(MQTT_TOPIC_FILTER, "MQTT-4.7.1-1", 0, 1002, 0x8F, "invalid topic filter")                   \
    X(MQTT_NO_TOPICS, "MQTT-3.8.3-3", 0, 1002, 0x82, "SUBSCRIBE/UNSUBSCRIBE without a topic")     \
    X(MQTT_SUB_OPTIONS, "MQTT-3.8.3-4", 0, 1002, 0x81,                                             \
      "subscription options reserved bits set (or QoS 3 in 3.1.1)")                               \
    X(MQTT_SUB_OPTIONS_VALUE, "MQTT-3.8.3.1", 0, 1002, 0x82,                                       \
      "subscription option QoS 3, Retain Handling 3, or No Local on a shared subscription (5.0)") \
    X(MQTT_CLIENT_ID, "MQTT-3.1.3-8", 0, 1002, 0x85,                                               \
      "zero-byte ClientId with CleanSession 0 (3.1.1)")                                          \
    X(MQTT_REASON_CODE, "MQTT-2.4", 0, 1002, 0x81, "reason code not allowed for this packet")      \
    X(MQTT_PROPERTY_ID, "MQTT-2.2.2.2", 0, 1002, 0x81, "unknown property or not allowed here")    \
    X(MQTT_PROPERTY_DUPLICATE, "MQTT-2.2.2.2", 0, 1002, 0x82, "property included more than once") \
    X(MQTT_PROPERTY_VALUE, "MQTT-2.2.2.2", 0, 1002, 0x82, "property value out of range")          \
    X(MQTT_PROPERTY_LENGTH, "MQTT-2.2.2.1", 0, 1002, 0x81, "property length exceeds the packet") \
    X(MQTT_AUTH_METHOD, "MQTT-3.15.2.2.2", 0, 1002, 0x82,                                          \
      "Authentication Data, or an AUTH other than the short Success form, without Authentication Method")

typedef enum mqws_err {
#define MQWS_ERR_ENUM_(name, ref, http, ws, rc, text) MQWS_ERR_##name,
    MQWS_ERRORS(MQWS_ERR_ENUM_)
#undef MQWS_ERR_ENUM_
    MQWS_ERR_COUNT_
} mqws_err;

/* Aliases for the two non-error results. */
#define MQWS_OK MQWS_ERR_OK
#define MQWS_NEED_MORE MQWS_ERR_NEED_MORE

/** Stable name of @p e without prefix ("WS_RSV", "OK"); "UNKNOWN" if out of range. */
const char *mqws_err_name(mqws_err e);

/** One-line English description of @p e; "unknown error" if out of range; never NULL. */
const char *mqws_strerror(mqws_err e);

/** Requirement enforced by @p e ("RFC6455-5.2", "MQTT-3.3.1-4"); "" if none or out of range. */
const char *mqws_err_ref(mqws_err e);

/**
 * Looks an error up by its stable name (exact, case-sensitive, without the
 * "MQWS_ERR_" prefix: "WS_RSV", "OK"); MQWS_ERR_COUNT_ if unknown or @p name is NULL.
 */
mqws_err mqws_err_from_name(const char *name);

/**
 * HTTP status to answer a failed handshake with: 400, 404, 426 or 431 for the
 * request-side MQWS_ERR_HS_* codes, 500 for MQWS_ERR_INTERNAL; 0 for every other
 * value (client-side HS codes, OK, ARG, out of range).
 */
int mqws_err_http_status(mqws_err e);

/**
 * WebSocket close code (RFC 6455 section 7.4) the receiver sends: 1002, 1003, 1007,
 * 1009 or 1011 (MQWS_ERR_INTERNAL); 0 if none applies (HS_*, STREAM_CLOSED, OK,
 * NEED_MORE, ARG, BUFFER_TOO_SMALL, out of range).
 */
uint16_t mqws_err_ws_close_code(mqws_err e);

/**
 * MQTT reason code to send for @p e with protocol level @p version (>= 5: 5.0,
 * anything else: 3.1.1).
 * For 5.0 it is the CONNACK/DISCONNECT reason code (0x81 Malformed Packet,
 * 0x82 Protocol Error, 0x83 Implementation specific error, 0x84 Unsupported Protocol
 * Version, 0x85 Client Identifier not valid, 0x8F Topic Filter invalid, 0x95 Packet
 * too large) of every MQTT_* code, STREAM_TEXT_FRAME, WS_TOO_BIG and INTERNAL; 0 for
 * the rest and out of range.
 * For 3.1.1 it is the CONNACK return code where one exists (0x01 unacceptable
 * protocol version for MQTT_PROTOCOL_NAME/LEVEL, 0x02 identifier rejected for
 * MQTT_CLIENT_ID) and 0 otherwise, meaning "close the connection without a reply"
 * (MQTT-4.8.0-1 in 3.1.1).
 */
uint8_t mqws_err_mqtt_reason(mqws_err e, int version);

#ifdef __cplusplus
}
#endif
#endif /* MQWS_ERROR_H */
