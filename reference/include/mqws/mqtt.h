/*
 * mqws/mqtt.h - MQTT 3.1.1 and 5.0 control packet codec.
 *
 * Decoding takes ONE complete packet in a caller buffer (see mqws/stream.h for
 * getting packets out of a byte or WebSocket stream) and fills an mqws_packet
 * whose strings, payloads, property blocks and subscription lists are views
 * into that buffer. Everything is validated during decode (UTF-8, topic rules,
 * reserved bits, every property's id, type, value, duplicates and packet), so
 * the iterators below never fail on a decoded packet.
 *
 * Encoding is "size, then write" into a caller buffer (mqws_mqtt_encode with
 * out == NULL reports the size in *written). Property blocks and subscription
 * lists are written with the small builders below and passed as raw bytes, so encoding
 * needs no allocation either.
 *
 *   mqws_packet p;
 *   size_t used, bad_at;
 *   mqws_err r = mqws_mqtt_decode(buf, len, MQWS_MQTT_V5, NULL, &p, &used, &bad_at);
 *   if (r != MQWS_OK) disconnect(mqws_err_mqtt_reason(r, 5));
 */
#ifndef MQWS_MQTT_H
#define MQWS_MQTT_H

#include "mqws/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Protocol level byte of CONNECT. */
typedef enum mqws_mqtt_version {
    MQWS_MQTT_V311 = 4,
    MQWS_MQTT_V5 = 5
} mqws_mqtt_version;

#define MQWS_MQTT_MAX_REMAINING_LENGTH 268435455u /* 4-byte variable byte integer */
#define MQWS_MQTT_MAX_FIXED_HEADER 5u

typedef enum mqws_packet_type {
    MQWS_CONNECT = 1,
    MQWS_CONNACK = 2,
    MQWS_PUBLISH = 3,
    MQWS_PUBACK = 4,
    MQWS_PUBREC = 5,
    MQWS_PUBREL = 6,
    MQWS_PUBCOMP = 7,
    MQWS_SUBSCRIBE = 8,
    MQWS_SUBACK = 9,
    MQWS_UNSUBSCRIBE = 10,
    MQWS_UNSUBACK = 11,
    MQWS_PINGREQ = 12,
    MQWS_PINGRESP = 13,
    MQWS_DISCONNECT = 14,
    MQWS_AUTH = 15 /* 5.0 only */
} mqws_packet_type;

/** "CONNECT", "PUBLISH", ...; "RESERVED" for 0 and out of range. */
const char *mqws_packet_type_name(int type);

/** MQTT 5.0 property identifiers (section 2.2.2.2). */
typedef enum mqws_prop_id {
    MQWS_PROP_PAYLOAD_FORMAT_INDICATOR = 0x01,
    MQWS_PROP_MESSAGE_EXPIRY_INTERVAL = 0x02,
    MQWS_PROP_CONTENT_TYPE = 0x03,
    MQWS_PROP_RESPONSE_TOPIC = 0x08,
    MQWS_PROP_CORRELATION_DATA = 0x09,
    MQWS_PROP_SUBSCRIPTION_IDENTIFIER = 0x0B,
    MQWS_PROP_SESSION_EXPIRY_INTERVAL = 0x11,
    MQWS_PROP_ASSIGNED_CLIENT_IDENTIFIER = 0x12,
    MQWS_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQWS_PROP_AUTHENTICATION_METHOD = 0x15,
    MQWS_PROP_AUTHENTICATION_DATA = 0x16,
    MQWS_PROP_REQUEST_PROBLEM_INFORMATION = 0x17,
    MQWS_PROP_WILL_DELAY_INTERVAL = 0x18,
    MQWS_PROP_REQUEST_RESPONSE_INFORMATION = 0x19,
    MQWS_PROP_RESPONSE_INFORMATION = 0x1A,
    MQWS_PROP_SERVER_REFERENCE = 0x1C,
    MQWS_PROP_REASON_STRING = 0x1F,
    MQWS_PROP_RECEIVE_MAXIMUM = 0x21,
    MQWS_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQWS_PROP_TOPIC_ALIAS = 0x23,
    MQWS_PROP_MAXIMUM_QOS = 0x24,
    MQWS_PROP_RETAIN_AVAILABLE = 0x25,
    MQWS_PROP_USER_PROPERTY = 0x26,
    MQWS_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQWS_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28,
    MQWS_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29,
    MQWS_PROP_SHARED_SUBSCRIPTION_AVAILABLE = 0x2A
} mqws_prop_id;

/** Wire type of a property value. */
typedef enum mqws_prop_type {
    MQWS_PROP_BYTE = 1,
    MQWS_PROP_U16 = 2,
    MQWS_PROP_U32 = 3,
    MQWS_PROP_VARINT = 4,
    MQWS_PROP_UTF8 = 5,
    MQWS_PROP_BINARY = 6,
    MQWS_PROP_UTF8_PAIR = 7
} mqws_prop_type;

/** Wire type of property @p id, or 0 when the id is not defined. */
mqws_prop_type mqws_prop_type_of(int id);

/** One decoded property. */
typedef struct mqws_prop {
    uint8_t id;
    mqws_prop_type type;
    uint32_t u32;     /* BYTE, U16, U32, VARINT */
    mqws_bytes bin;   /* UTF8 (validated), BINARY, and the key of UTF8_PAIR */
    mqws_bytes value; /* UTF8_PAIR: the value */
} mqws_prop;

/**
 * A 5.0 property block: a view of the bytes after the Property Length, plus a
 * summary filled by the decoder. Empty (raw_len 0) for 3.1.1.
 */
typedef struct mqws_props {
    const uint8_t *raw;
    size_t raw_len;
    uint64_t present; /* bit (1 << id) for every id present */
    uint32_t count;   /* number of properties, repeats included */
} mqws_props;

/**
 * Iterates @p props; start with *cursor = 0. On true, @p out holds the next
 * property (its bin/value views point into props->raw) and *cursor moved past it.
 * Returns false at the end, when @p props, @p cursor, @p out or props->raw is NULL,
 * or (only for a block not made by the decoder) at an undefined id or a value cut
 * off by raw_len; *cursor is then unchanged. Bounds-checked, values not validated.
 */
bool mqws_props_next(const mqws_props *props, size_t *cursor, mqws_prop *out);

/**
 * Finds the first property @p id with mqws_props_next. @p out may be NULL (presence
 * test). Returns false when @p props is NULL, @p id is outside 1..0x2A, props->present
 * is non-zero without bit @p id (0 means "unknown": the block is scanned), or
 * the iteration ends without it.
 */
bool mqws_props_get(const mqws_props *props, int id, mqws_prop *out);

/**
 * Property block builder: appends properties to the caller's buf[len..cap); the
 * result (buf, len) goes into mqws_props.raw/raw_len for encoding. Start with
 * len 0 and err MQWS_OK. The first error is sticky: it is kept in b.err, nothing
 * is appended from then on (len stays where it was), so check b.err once at the end.
 * b.err can become:
 *   MQWS_ERR_ARG              @p id of another wire type (or undefined); int value
 *                             too big for the type (BYTE > 255, U16 > 65535, VARINT
 *                             > 268435455); string over 65535 bytes or data NULL
 *                             with len > 0; buf NULL with cap > 0.
 *   MQWS_ERR_BUFFER_TOO_SMALL the property does not fit in cap - len (or len > cap);
 *                             there is no size-only mode.
 *   MQWS_ERR_MQTT_UTF8, MQWS_ERR_MQTT_UTF8_NUL  a UTF8 value, pair key or value
 *                             that is ill-formed or holds U+0000.
 * A NULL @p b is ignored. Only encodability is checked: not the decoder's value
 * rules (0/1 flags, non-zero maxima, Response Topic), repeats, or where an id may go.
 */
typedef struct mqws_props_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    mqws_err err;
} mqws_props_builder;

void mqws_props_add_int(mqws_props_builder *b, int id, uint32_t value);  /* BYTE/U16/U32/VARINT */
void mqws_props_add_bytes(mqws_props_builder *b, int id, const void *data, size_t len); /* UTF8/BINARY */
void mqws_props_add_pair(mqws_props_builder *b, int id, mqws_str key, mqws_str value);   /* User Property */
/**
 * Wraps b->buf[0..len) as an mqws_props (a view: b->buf must outlive it) and fills
 * present/count by iterating it. Does not look at b->err: after an error it holds
 * the properties added before it. All-zero when @p b or b->buf is NULL or b->len > b->cap.
 */
mqws_props mqws_props_from_builder(const mqws_props_builder *b);

/** One entry of SUBSCRIBE (options) or UNSUBSCRIBE (options unused). */
typedef struct mqws_sub {
    mqws_str filter;
    uint8_t options; /* 3.1.1: requested QoS; 5.0: QoS | NL<<2 | RAP<<3 | RetainHandling<<4 */
} mqws_sub;

/** SUBSCRIBE option helpers (5.0 section 3.8.3.1). */
#define MQWS_SUB_QOS(o) ((o)&0x03u)
#define MQWS_SUB_NO_LOCAL 0x04u
#define MQWS_SUB_RETAIN_AS_PUBLISHED 0x08u
#define MQWS_SUB_RETAIN_HANDLING(o) (((o) >> 4) & 0x03u)

/**
 * A SUBSCRIBE/UNSUBSCRIBE payload, or the reason-code list of SUBACK/UNSUBACK:
 * a view of the raw bytes plus the number of entries.
 */
typedef struct mqws_list {
    const uint8_t *raw;
    size_t raw_len;
    size_t count;
} mqws_list;

/**
 * Iterates topic filters of a SUBSCRIBE (@p with_options true) or UNSUBSCRIBE list.
 * Start with *cursor = 0. On true, out->filter is a view into list->raw, out->options
 * the options byte (0 without options) and *cursor moved past the entry. Returns
 * false at the end, when @p list, @p cursor, @p out or list->raw is NULL, or (only for
 * a list not made by the decoder) at an entry cut off by raw_len; *cursor is then
 * unchanged. Bounds-checked, filters and options not validated.
 */
bool mqws_list_next_sub(const mqws_list *list, bool with_options, size_t *cursor,
                        mqws_sub *out);

/**
 * Appends one entry (2-byte length, filter, and with @p with_options the @p options
 * byte) to a SUBSCRIBE or UNSUBSCRIBE list being built in the caller's buf[0..cap),
 * *len bytes used so far; *len grows only on MQWS_OK. The filter is copied, not
 * validated. The result (buf, *len) goes into mqws_list.raw/raw_len.
 * @return MQWS_OK, MQWS_ERR_BUFFER_TOO_SMALL (@p buf NULL, or the entry does not
 *         fit in cap - *len), MQWS_ERR_ARG (@p len NULL, *len > cap, filter.ptr NULL
 *         with filter.len > 0, filter longer than 65535).
 */
mqws_err mqws_list_append_sub(uint8_t *buf, size_t cap, size_t *len, mqws_str filter,
                              bool with_options, uint8_t options);

typedef struct mqws_connect {
    mqws_str protocol_name; /* "MQTT" */
    uint8_t level;          /* 4 or 5: the version the rest of the connection uses */
    bool clean_start;       /* Clean Session in 3.1.1 */
    bool will;
    uint8_t will_qos;
    bool will_retain;
    bool has_username;
    bool has_password;
    uint16_t keep_alive;
    mqws_str client_id;
    mqws_props will_props; /* 5.0 */
    mqws_str will_topic;
    mqws_bytes will_payload;
    mqws_str username;
    mqws_bytes password;
} mqws_connect;

typedef struct mqws_publish {
    mqws_str topic; /* may be empty in 5.0 when a Topic Alias is present */
    uint8_t qos;
    bool dup;
    bool retain;
    mqws_bytes payload;
} mqws_publish;

/**
 * A decoded (or to-be-encoded) control packet. The fields before the union are
 * defined for every type (0 where the type has none):
 *  - packet_id: PUBLISH with QoS 1/2, PUBACK..PUBCOMP, SUBSCRIBE..UNSUBACK.
 *  - reason_code: CONNACK return/reason code; 5.0 PUBACK..PUBCOMP, DISCONNECT,
 *    AUTH reason code (0 when the packet omitted it).
 *  - session_present: CONNACK.
 *  - props: 5.0 CONNECT, CONNACK, PUBLISH, PUBACK..PUBCOMP, SUBSCRIBE..UNSUBACK,
 *    DISCONNECT, AUTH (raw_len 0 when empty or 3.1.1).
 * The type-specific bodies share storage (an anonymous union): after a decode
 * only the one member of pkt->type is defined, and its fields all are:
 *  - connect: CONNECT.   - publish: PUBLISH.
 *  - list: SUBSCRIBE, UNSUBSCRIBE (entries), SUBACK, UNSUBACK (reason codes).
 * No other type has a body member; reading another member (say p.list of a
 * PUBLISH) gives unspecified values. For encoding, fill only the member of the
 * type (start from a zeroed packet): the encoder reads no other member.
 */
typedef struct mqws_packet {
    mqws_packet_type type;
    uint8_t flags; /* low nibble of the fixed header, as received */
    uint8_t version; /* version used to decode (CONNECT: its own level) */
    uint16_t packet_id;
    uint8_t reason_code;
    bool session_present;
    mqws_props props; /* 5.0 */
    union {
        mqws_connect connect; /* CONNECT */
        mqws_publish publish; /* PUBLISH */
        mqws_list list;       /* SUBSCRIBE, UNSUBSCRIBE, SUBACK, UNSUBACK */
    };
} mqws_packet;

/** Decoder limits. Zero-filled: no limit beyond the protocol's own. */
typedef struct mqws_mqtt_limits {
    uint32_t max_packet_size; /* whole packet, fixed header included; 0: 268435460 */
} mqws_mqtt_limits;

/**
 * Reads the fixed header at @p buf.
 *
 * @param[out] header_len   1 + length of the Remaining Length field (2..5).
 * @param[out] remaining    Remaining Length value.
 * @return MQWS_OK, MQWS_NEED_MORE (the length field is cut off),
 *         MQWS_ERR_MQTT_REMAINING_LENGTH (5th byte has the continuation bit, or
 *         the encoding is not minimal, MQTT-1.5.5-1), MQWS_ERR_ARG (@p buf NULL with
 *         @p len > 0).
 */
mqws_err mqws_mqtt_fixed_header(const uint8_t *buf, size_t len, size_t *header_len,
                                uint32_t *remaining);

/**
 * Decodes the one packet at the start of @p buf (bytes after it are not read).
 *
 * @param version   MQWS_MQTT_V311 or MQWS_MQTT_V5: the connection's version. A
 *                  CONNECT is decoded by its own protocol level (@p version unused).
 * @param limits    may be NULL.
 * @param[out] pkt        filled on MQWS_OK; its views point into @p buf, which the
 *                        caller owns and keeps while it uses them. Unspecified on error.
 * @param[out] consumed   on MQWS_OK: the packet's total length (may be NULL).
 * @param[out] err_offset on an error (>= 2): offset in @p buf of the offending byte,
 *                        0 for MQWS_ERR_ARG (may be NULL).
 * @return MQWS_OK; MQWS_NEED_MORE (@p buf holds less than one packet; the first byte,
 *         Remaining Length and size limit are checked as soon as they are there);
 *         MQWS_ERR_ARG (@p pkt NULL, @p buf NULL with @p len > 0, or @p version
 *         neither 4 nor 5 for a packet other than CONNECT); or the first rule broken
 *         (mqws_err_ref names the requirement, mqws_err_mqtt_reason the reason code):
 *   MQTT_PACKET_TYPE      type 0; AUTH (15) in 3.1.1
 *   MQTT_FLAGS            reserved fixed-header flags; PUBLISH DUP with QoS 0; CONNACK
 *                         reserved flag bits, or Session Present with a non-zero code
 *   MQTT_QOS              PUBLISH QoS 3
 *   MQTT_REMAINING_LENGTH Remaining Length over 4 bytes or not minimal
 *   MQTT_TOO_LARGE        packet longer than limits->max_packet_size
 *   MQTT_MALFORMED        a field runs past the packet or bytes follow the last one
 *                         (e.g. a PINGREQ/PINGRESP/3.1.1 DISCONNECT body, bytes after
 *                         the Packet Identifier of a 3.1.1 ack or UNSUBACK);
 *                         missing Property Length (5.0 AUTH with Remaining Length 1:
 *                         a Reason Code alone); property value past its block or
 *                         bad VARINT; SUBACK (5.0 UNSUBACK) without reason codes
 *   MQTT_UTF8, MQTT_UTF8_NUL  a UTF-8 string (Client Id, User Name, topic, filter,
 *                         property) ill-formed or holding U+0000
 *   MQTT_PROTOCOL_NAME    name not "MQTT"
 *   MQTT_PROTOCOL_LEVEL   level not 4 or 5; "MQIsdp" level 3 (MQTT 3.1)
 *   MQTT_CONNECT_RESERVED CONNECT reserved flag set
 *   MQTT_WILL_FLAGS       Will QoS 3, or Will QoS/Retain without the Will Flag
 *   MQTT_PASSWORD_FLAG    3.1.1 Password Flag without User Name Flag
 *   MQTT_CLIENT_ID        3.1.1 zero-byte Client Id with CleanSession 0
 *   MQTT_PACKET_ID        Packet Identifier 0
 *   MQTT_TOPIC_NAME       empty or wildcard PUBLISH/Will Topic (5.0 PUBLISH: empty
 *                         without a Topic Alias)
 *   MQTT_TOPIC_FILTER     empty filter, misplaced '+'/'#', bad 5.0 "$share/" filter
 *   MQTT_NO_TOPICS        SUBSCRIBE/UNSUBSCRIBE without an entry
 *   MQTT_SUB_OPTIONS      reserved option bits (3.1.1: also QoS 3)
 *   MQTT_SUB_OPTIONS_VALUE 5.0 QoS 3, Retain Handling 3, No Local on "$share/"
 *   MQTT_REASON_CODE      reason/return code not defined for the packet and version
 *   MQTT_PROPERTY_ID      undefined property, or not allowed in this packet/Will
 *   MQTT_PROPERTY_DUPLICATE a property other than User Property (and Subscription
 *                         Identifier in PUBLISH) repeated
 *   MQTT_PROPERTY_VALUE   byte property not 0/1; Receive Maximum, Maximum Packet Size,
 *                         Topic Alias or Subscription Identifier 0; Response Topic
 *                         not a Topic Name
 *   MQTT_PROPERTY_LENGTH  Property Length cut off, not minimal, or past the packet
 *   MQTT_AUTH_METHOD      Authentication Data without Authentication Method; AUTH
 *                         with a reason code or properties but no Method
 */
mqws_err mqws_mqtt_decode(const uint8_t *buf, size_t len, mqws_mqtt_version version,
                          const mqws_mqtt_limits *limits, mqws_packet *pkt, size_t *consumed,
                          size_t *err_offset);

/**
 * Encodes @p pkt for @p version (CONNECT uses pkt->connect.level; its name is always
 * written as "MQTT") in canonical form: minimal Remaining Length, 5.0 acks,
 * DISCONNECT and AUTH without reason code and properties when the code is 0 and
 * there are none. The fixed-header flags are derived (PUBLISH from qos/dup/retain;
 * SUBSCRIBE, UNSUBSCRIBE, PUBREL: 0b0010), not taken from pkt->flags. The views in
 * @p pkt are only read; the bytes go to the caller's @p out.
 *
 * @param out  may be NULL to ask for the size (MQWS_ERR_BUFFER_TOO_SMALL, *written set).
 * @param[out] written  on MQWS_OK the bytes written, on MQWS_ERR_BUFFER_TOO_SMALL the
 *                      size needed (may be NULL).
 * @return MQWS_OK, MQWS_ERR_BUFFER_TOO_SMALL (@p out NULL or @p cap too small),
 *         MQWS_ERR_ARG: @p pkt NULL; version (or connect.level) not 4/5, type not
 *         1..15, AUTH in 3.1.1; a view NULL with a length, a string or binary over 65535
 *         bytes, body over 268435455; properties (or Will properties) in 3.1.1;
 *         Packet Identifier 0 where the packet has one; PUBLISH qos > 2, or DUP with
 *         QoS 0, or empty topic without a 5.0 Topic Alias property; CONNECT
 *         protocol_name neither empty nor "MQTT", will_qos > 2, Will QoS/Retain without
 *         Will, Will with an empty topic, and in 3.1.1 password without username or an
 *         empty client_id without clean_start; CONNACK session_present with a non-zero
 *         code; SUBSCRIBE/UNSUBSCRIBE/SUBACK/5.0 UNSUBACK with an empty list, or 3.1.1
 *         UNSUBACK with a non-empty one.
 *         Strings, property blocks, reason codes and list entries are written as
 *         given, not validated.
 */
mqws_err mqws_mqtt_encode(const mqws_packet *pkt, mqws_mqtt_version version, uint8_t *out,
                          size_t cap, size_t *written);

/**
 * Topic Name rules (MQTT-4.7.3-1: not empty unless @p allow_empty; MQTT-3.3.2-2: no
 * wildcards; UTF-8 without U+0000).
 * @return MQWS_OK, MQWS_ERR_MQTT_TOPIC_NAME (empty, or a wildcard), MQWS_ERR_MQTT_UTF8,
 *         MQWS_ERR_MQTT_UTF8_NUL, MQWS_ERR_ARG (ptr NULL with len > 0).
 */
mqws_err mqws_mqtt_validate_topic_name(mqws_str topic, bool allow_empty);

/**
 * Topic Filter rules (MQTT-4.7.1-2/3, 4.7.3-1, 5.0 shared subscriptions MQTT-4.8.2-1/2;
 * UTF-8 without U+0000).
 * @return MQWS_OK, MQWS_ERR_MQTT_TOPIC_FILTER, MQWS_ERR_MQTT_UTF8, MQWS_ERR_MQTT_UTF8_NUL,
 *         MQWS_ERR_ARG (ptr NULL with len > 0).
 */
mqws_err mqws_mqtt_validate_topic_filter(mqws_str filter, mqws_mqtt_version version);

/** true when @p filter matches @p topic (4.7; "$" topics are not matched by a leading wildcard). */
bool mqws_mqtt_topic_matches(mqws_str filter, mqws_str topic);

#ifdef __cplusplus
}
#endif
#endif /* MQWS_MQTT_H */
