/*
 * mqtt.c - MQTT 3.1.1 / 5.0 control packets: fixed header, decoder, encoder, topics.
 *
 * The decoder reads one whole packet with a bounds-checked cursor and checks
 * every rule while it goes, so the views it returns never need checking again.
 * The encoder writes the body twice: once to count, once to store.
 */
#include <stddef.h>
#include <string.h>

#include "mqtt_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char *const k_type_names[16] = {
    "RESERVED", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
    "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
    "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH",
};

const char *mqws_packet_type_name(int type)
{
    return (type > 0 && type < 16) ? k_type_names[type] : "RESERVED";
}

/* ================================================================ topics */

#define ONES_ 0x0101010101010101ull
#define HIGHS_ 0x8080808080808080ull

/* Non-zero when a byte of w equals the byte repeated in pat (has-zero-byte on w ^ pat). */
static uint64_t has_byte(uint64_t w, uint64_t pat)
{
    uint64_t x = w ^ pat;
    return (x - ONES_) & ~x & HIGHS_;
}

/* true when the 8 bytes of w are ASCII other than NUL, '+' and '#'. */
static bool plain_word(uint64_t w)
{
    return !((w & HIGHS_) | has_byte(w, 0) | has_byte(w, '+' * ONES_) | has_byte(w, '#' * ONES_));
}

/*
 * Length of the leading run of ASCII other than NUL, '+' and '#', found a word at
 * a time (len when the whole string is such ASCII): such a run cannot break any
 * Topic Name rule, so the checks below start after it. This keeps a PUBLISH topic
 * to a few word operations.
 */
static size_t plain_topic_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0;
    uint64_t w;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        if (!plain_word(w))
            return i;
    }
    if (i == len)
        return len;
    if (len >= 8) { /* the last 1..7 bytes: one word overlapping bytes already checked */
        memcpy(&w, s + len - 8, 8);
        return plain_word(w) ? len : i;
    }
    for (; i < len; i++) /* a short topic */
        if (s[i] >= 0x80u || s[i] == 0 || s[i] == '+' || s[i] == '#')
            break;
    return i;
}

#if defined(__SSE2__)
/*
 * 16 bytes at a time: a topic is plain when its smallest byte is not 0, its largest
 * below 0x80 (unsigned min and max over all vectors, one instruction each), and no
 * byte is '#' or '+' (0x23 and 0x2B are the only bytes x with x | 0x08 == 0x2B).
 */
#define MQWS_LOAD16_(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define MQWS_HASHPLUS_(v) _mm_cmpeq_epi8(_mm_or_si128((v), eight), plus)

/*
 * true when all of s[0..len) is ASCII other than NUL, '+' and '#' (such a topic
 * breaks no Topic Name rule); false can also mean "look closer" (len < 8).
 * Lengths 8..48 take overlapping loads (two words, or three 16-byte vectors) and
 * no branch on the exact length: varied topics cost no mispredicted loop exits.
 */
static inline void topic_bad16(__m128i *lo, __m128i *hi, __m128i *hp, const uint8_t *s)
{
    const __m128i eight = _mm_set1_epi8(8), plus = _mm_set1_epi8('+');
    __m128i v = MQWS_LOAD16_(s);
    *lo = _mm_min_epu8(*lo, v);
    *hi = _mm_max_epu8(*hi, v);
    *hp = _mm_or_si128(*hp, MQWS_HASHPLUS_(v));
}

/* Topics over 48 bytes: a loop, kept out of the PUBLISH fast path's registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static bool topic_plain_long(const uint8_t *s, size_t len)
{
    __m128i lo = _mm_set1_epi8(-1), hi = _mm_setzero_si128(), hp = _mm_setzero_si128();
    for (size_t i = 0; i + 16 < len; i += 16)
        topic_bad16(&lo, &hi, &hp, s + i);
    topic_bad16(&lo, &hi, &hp, s + len - 16);
    __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(lo, _mm_setzero_si128()), hi), hp);
    return _mm_movemask_epi8(bad) == 0;
}

static inline bool topic_plain(const uint8_t *s, size_t len)
{
    const __m128i eight = _mm_set1_epi8(8), plus = _mm_set1_epi8('+');
    __m128i lo, hi, hp;
    if (len > 48)
        return topic_plain_long(s, len);
    if (len >= 16) {
        size_t mid = len >= 32 ? 16 : len - 16;
        __m128i a = MQWS_LOAD16_(s), b = MQWS_LOAD16_(s + mid), c = MQWS_LOAD16_(s + len - 16);
        lo = _mm_min_epu8(_mm_min_epu8(a, b), c);
        hi = _mm_max_epu8(_mm_max_epu8(a, b), c);
        hp = _mm_or_si128(_mm_or_si128(MQWS_HASHPLUS_(a), MQWS_HASHPLUS_(b)), MQWS_HASHPLUS_(c));
    } else if (len >= 8) {
        lo = hi = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)s),
                                     _mm_loadl_epi64((const __m128i *)(const void *)(s + len - 8)));
        hp = MQWS_HASHPLUS_(lo);
    } else {
        return false;
    }
    __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(lo, _mm_setzero_si128()), hi), hp);
    return _mm_movemask_epi8(bad) == 0; /* the high bit of every byte */
}
/*
 * topic_plain for a topic of 1..48 bytes with at least 16 readable bytes from its
 * start (s[0..16) lies in the packet), with no branch on the length. With span =
 * max(len, 16), blocks at 0, (span - 16) / 2 and span - 16 cover s[0..span). A
 * byte x fails when min(x, (x | 8) ^ '+') is 0 (NUL, '#' or '+') or x >= 0x80: one
 * unsigned min and one max over all blocks. For a topic under 16 bytes, the lanes
 * past it (packet id, payload) are taken out: or-ed with 0xFF before the min test,
 * and-ed with 0 before the max test.
 */
static inline bool topic_plain_16(const uint8_t *s, size_t len)
{
    static const uint8_t k_keep[32] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    const __m128i eight = _mm_set1_epi8(8), plus = _mm_set1_epi8('+'), zero = _mm_setzero_si128();
    size_t span = len < 16 ? 16 : len;
    __m128i keep = MQWS_LOAD16_(k_keep + (span - len)); /* 0xFF for the topic's lanes */
    __m128i a = MQWS_LOAD16_(s), b = MQWS_LOAD16_(s + ((span - 16) >> 1));
    __m128i c = MQWS_LOAD16_(s + span - 16);
    __m128i lo = _mm_min_epu8(_mm_min_epu8(a, b), c);
    lo = _mm_min_epu8(lo, _mm_xor_si128(_mm_or_si128(a, eight), plus));
    lo = _mm_min_epu8(lo, _mm_xor_si128(_mm_or_si128(b, eight), plus));
    lo = _mm_min_epu8(lo, _mm_xor_si128(_mm_or_si128(c, eight), plus));
    __m128i hi = _mm_max_epu8(_mm_max_epu8(a, b), c);
    __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_or_si128(lo, _mm_cmpeq_epi8(keep, zero)), zero),
                               _mm_and_si128(hi, keep));
    return _mm_movemask_epi8(bad) == 0;
}
#undef MQWS_LOAD16_
#undef MQWS_HASHPLUS_
#else
/* true when all of s[0..len) is ASCII other than NUL, '+' and '#'; false can also
 * mean "look closer" (len < 8). Overlapping words. */
static inline bool topic_plain(const uint8_t *s, size_t len)
{
    if (len >= 8) {
        uint64_t w;
        for (size_t i = 0; i + 8 < len; i += 8) {
            memcpy(&w, s + i, 8);
            if (!plain_word(w))
                return false;
        }
        memcpy(&w, s + len - 8, 8);
        return plain_word(w);
    }
    return false;
}

static inline bool topic_plain_16(const uint8_t *s, size_t len)
{
    return topic_plain(s, len);
}
#endif

mqws_err mqws_mqtt_topic_name_check(const uint8_t *s, size_t len, bool allow_empty, size_t *bad)
{
    *bad = 0;
    if (len == 0) /* MQTT-4.7.3-1 */
        return allow_empty ? MQWS_OK : MQWS_ERR_MQTT_TOPIC_NAME;
    if (topic_plain(s, len))
        return MQWS_OK;
    size_t start = plain_topic_prefix(s, len);
    if (start == len)
        return MQWS_OK;
    mqws_err e = mqws_utf8_validate(s + start, len - start, false, bad);
    if (e != MQWS_OK) {
        *bad += start;
        return e;
    }
    /* MQTT-3.3.2-2: wildcards are bytes < 0x80, so a byte scan is exact in UTF-8. */
    for (size_t i = start; i < len; i++) {
        if (s[i] == '+' || s[i] == '#') {
            *bad = i;
            return MQWS_ERR_MQTT_TOPIC_NAME;
        }
    }
    return MQWS_OK;
}

/* MQTT-4.7.1-2/3: '#' alone in the last level, '+' alone in its level. */
static mqws_err filter_levels(const uint8_t *s, size_t start, size_t len, size_t *bad)
{
    for (size_t i = start; i < len; i++) {
        if (s[i] != '+' && s[i] != '#')
            continue;
        bool level_start = i == start || s[i - 1] == '/';
        bool level_end = i + 1 == len || s[i + 1] == '/';
        if (!level_start || !level_end || (s[i] == '#' && i + 1 != len)) {
            *bad = i;
            return MQWS_ERR_MQTT_TOPIC_FILTER;
        }
    }
    return MQWS_OK;
}

static bool is_shared(const uint8_t *s, size_t len, int version)
{
    return version == MQWS_MQTT_V5 && len >= 7 && memcmp(s, "$share/", 7) == 0;
}

/* 5.0 4.8.2: "$share/" ShareName "/" filter; returns the filter's start or 0 on error. */
static size_t share_prefix(const uint8_t *s, size_t len, size_t *bad)
{
    size_t i = 7;
    for (; i < len && s[i] != '/'; i++) {
        if (s[i] == '+' || s[i] == '#') { /* MQTT-4.8.2-2 */
            *bad = i;
            return 0;
        }
    }
    if (i == 7 || i + 1 >= len) { /* MQTT-4.8.2-1: empty ShareName, or no filter after it */
        *bad = i < len ? i : len - 1;
        return 0;
    }
    return i + 1;
}

static mqws_err topic_filter_check(const uint8_t *s, size_t len, int version, size_t *bad)
{
    *bad = 0;
    if (len == 0) /* MQTT-4.7.3-1 */
        return MQWS_ERR_MQTT_TOPIC_FILTER;
    mqws_err e = mqws_utf8_validate(s, len, false, bad);
    if (e != MQWS_OK)
        return e;
    size_t start = 0;
    if (is_shared(s, len, version) && (start = share_prefix(s, len, bad)) == 0)
        return MQWS_ERR_MQTT_TOPIC_FILTER;
    return filter_levels(s, start, len, bad);
}

mqws_err mqws_mqtt_validate_topic_name(mqws_str topic, bool allow_empty)
{
    size_t bad;
    if (!topic.ptr && topic.len)
        return MQWS_ERR_ARG;
    return mqws_mqtt_topic_name_check((const uint8_t *)topic.ptr, topic.len, allow_empty, &bad);
}

mqws_err mqws_mqtt_validate_topic_filter(mqws_str filter, mqws_mqtt_version version)
{
    size_t bad;
    if (!filter.ptr && filter.len)
        return MQWS_ERR_ARG;
    return topic_filter_check((const uint8_t *)filter.ptr, filter.len, (int)version, &bad);
}

/* Walks filter and topic level by level (4.7.1); '#' also matches the parent level. */
bool mqws_mqtt_topic_matches(mqws_str filter, mqws_str topic)
{
    const char *f = filter.ptr, *t = topic.ptr;
    size_t fl = filter.len, tl = topic.len, fi = 0, ti = 0;
    if (fl == 0 || tl == 0 || !f || !t)
        return false;
    /* MQTT-4.7.2-1: a leading wildcard does not match topics starting with '$'. */
    if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
        return false;
    for (;;) {
        if (f[fi] == '#' && fi + 1 == fl)
            return true;
        if (f[fi] == '+' && (fi + 1 == fl || f[fi + 1] == '/')) {
            fi++;
            while (ti < tl && t[ti] != '/')
                ti++;
        } else {
            while (fi < fl && ti < tl && f[fi] != '/' && f[fi] == t[ti]) {
                fi++;
                ti++;
            }
            bool f_end = fi == fl || f[fi] == '/', t_end = ti == tl || t[ti] == '/';
            if (!f_end || !t_end)
                return false;
        }
        if (fi == fl || ti == tl) /* "a/#" matches "a": the '#' level may be empty */
            return fi == fl ? ti == tl : (fl - fi == 2 && f[fi + 1] == '#');
        fi++;
        ti++;
        if (fi == fl) /* filter "a/" : only a topic "a/" with an empty last level */
            return ti == tl;
    }
}

/* ================================================================ fixed header */

/* Type and flags of the first byte (2.1.2, 2.1.3). */
static mqws_err check_first_byte(uint8_t b0, int version)
{
    unsigned type = b0 >> 4, flags = b0 & 0x0Fu;
    if (type == 0 || (type == MQWS_AUTH && version != MQWS_MQTT_V5))
        return MQWS_ERR_MQTT_PACKET_TYPE;
    if (type == MQWS_PUBLISH) {
        if ((flags & 0x06u) == 0x06u) /* MQTT-3.3.1-4 */
            return MQWS_ERR_MQTT_QOS;
        if ((flags & 0x08u) && !(flags & 0x06u)) /* MQTT-3.3.1-2 */
            return MQWS_ERR_MQTT_FLAGS;
        return MQWS_OK;
    }
    /* MQTT-2.2.2-1/2: PUBREL, SUBSCRIBE, UNSUBSCRIBE carry 0b0010, the rest 0. */
    unsigned want =
        (type == MQWS_PUBREL || type == MQWS_SUBSCRIBE || type == MQWS_UNSUBSCRIBE) ? 2u : 0u;
    return flags == want ? MQWS_OK : MQWS_ERR_MQTT_FLAGS;
}

static mqws_err fixed_header(const uint8_t *buf, size_t len, size_t *header_len,
                             uint32_t *remaining, size_t *err_at)
{
    if (len >= 2 && buf[1] < 0x80u) { /* the common case: one length byte */
        *header_len = 2;
        *remaining = buf[1];
        return MQWS_OK;
    }
    size_t pos = 1;
    mqws_err e = mqws_mqtt_varint_read(buf, &pos, len, remaining, err_at);
    *header_len = pos;
    return e;
}

mqws_err mqws_mqtt_fixed_header(const uint8_t *buf, size_t len, size_t *header_len,
                                uint32_t *remaining)
{
    size_t hl = 0, bad = 0;
    uint32_t rem = 0;
    if (!buf && len)
        return MQWS_ERR_ARG;
    if (len < 2)
        return MQWS_NEED_MORE;
    mqws_err e = fixed_header(buf, len, &hl, &rem, &bad);
    if (e == MQWS_OK) {
        if (header_len)
            *header_len = hl;
        if (remaining)
            *remaining = rem;
    }
    return e;
}

/* ================================================================ decoder */

typedef struct reader {
    const uint8_t *buf;
    size_t pos;
    size_t end; /* end of the packet */
    size_t err_at;
    int version;
} reader;

static mqws_err fail(reader *r, mqws_err e, size_t at)
{
    r->err_at = at;
    return e;
}

/* A field running past the packet: the Remaining Length does not fit the body (MQTT-4.13.1). */
static mqws_err take(reader *r, size_t n, const uint8_t **at)
{
    if (r->end - r->pos < n)
        return fail(r, MQWS_ERR_MQTT_MALFORMED, r->pos);
    *at = r->buf + r->pos;
    r->pos += n;
    return MQWS_OK;
}

static mqws_err read_u8(reader *r, uint8_t *v)
{
    const uint8_t *p;
    mqws_err e = take(r, 1, &p);
    if (e == MQWS_OK)
        *v = p[0];
    return e;
}

static mqws_err read_u16(reader *r, uint16_t *v)
{
    const uint8_t *p;
    mqws_err e = take(r, 2, &p);
    if (e == MQWS_OK)
        *v = (uint16_t)(p[0] << 8 | p[1]);
    return e;
}

/* Binary Data (1.5.6): 2-byte length, then bytes. */
static mqws_err read_bin(reader *r, mqws_bytes *v)
{
    size_t at = r->pos;
    uint16_t n = 0;
    mqws_err e = read_u16(r, &n);
    if (e == MQWS_OK && (e = take(r, n, &v->ptr)) != MQWS_OK)
        r->err_at = at;
    v->len = n;
    return e;
}

static mqws_str as_str(mqws_bytes b)
{
    mqws_str s = {(const char *)b.ptr, b.len};
    return s;
}

/* UTF-8 Encoded String (1.5.3): MQTT-1.5.3-1/2. */
static mqws_err read_utf8(reader *r, mqws_str *v)
{
    mqws_bytes b = {NULL, 0};
    size_t bad = 0;
    mqws_err e = read_bin(r, &b);
    if (e != MQWS_OK)
        return e;
    if ((e = mqws_utf8_validate(b.ptr, b.len, false, &bad)) != MQWS_OK)
        return fail(r, e, (size_t)(b.ptr - r->buf) + bad);
    *v = as_str(b);
    return MQWS_OK;
}

/* Packet Identifier (2.2.1): non-zero where present (MQTT-2.3.1-1). */
static mqws_err read_packet_id(reader *r, uint16_t *id)
{
    size_t at = r->pos;
    mqws_err e = read_u16(r, id);
    if (e == MQWS_OK && *id == 0)
        return fail(r, MQWS_ERR_MQTT_PACKET_ID, at);
    return e;
}

static mqws_err read_props(reader *r, int where, mqws_props *props)
{
    if (r->version != MQWS_MQTT_V5)
        return MQWS_OK;
    if (r->pos < r->end && r->buf[r->pos] == 0) { /* the common empty block */
        props->raw = r->buf + ++r->pos;
        return MQWS_OK;
    }
    return mqws_mqtt_props_decode(r->buf, &r->pos, r->end, where, props, &r->err_at);
}

static mqws_err expect_end(reader *r)
{
    return r->pos == r->end ? MQWS_OK : fail(r, MQWS_ERR_MQTT_MALFORMED, r->pos);
}

/* ---- reason codes: 5.0 tables of 3.2.2.2, 3.4.2.1 ... 3.15.2.1; 3.1.1 3.2.2.3, 3.9.3 */

static const uint8_t k_rc_connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                       0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                       0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t k_rc_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t k_rc_pubrel[] = {0x00, 0x92}; /* PUBREL and PUBCOMP */
static const uint8_t k_rc_suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                      0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t k_rc_unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t k_rc_disconnect[] = {
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t k_rc_auth[] = {0x00, 0x18, 0x19};
static const uint8_t k_rc_suback_v311[] = {0x00, 0x01, 0x02, 0x80};

typedef struct code_set {
    const uint8_t *codes;
    size_t n;
} code_set;

/* Reason codes each 5.0 packet type may carry, by type (0: none). */
static const code_set k_rc_v5[16] = {
    [MQWS_CONNACK] = {k_rc_connack, sizeof k_rc_connack},
    [MQWS_PUBACK] = {k_rc_puback, sizeof k_rc_puback},
    [MQWS_PUBREC] = {k_rc_puback, sizeof k_rc_puback},
    [MQWS_PUBREL] = {k_rc_pubrel, sizeof k_rc_pubrel},
    [MQWS_PUBCOMP] = {k_rc_pubrel, sizeof k_rc_pubrel},
    [MQWS_SUBACK] = {k_rc_suback, sizeof k_rc_suback},
    [MQWS_UNSUBACK] = {k_rc_unsuback, sizeof k_rc_unsuback},
    [MQWS_DISCONNECT] = {k_rc_disconnect, sizeof k_rc_disconnect},
    [MQWS_AUTH] = {k_rc_auth, sizeof k_rc_auth},
};

static bool reason_ok(int type, int version, uint8_t rc)
{
    if (version != MQWS_MQTT_V5) { /* 3.1.1 has codes in CONNACK and SUBACK only */
        if (type == MQWS_CONNACK)
            return rc <= 5;
        return memchr(k_rc_suback_v311, rc, sizeof k_rc_suback_v311) != NULL;
    }
    const code_set *set = &k_rc_v5[type & 0x0F];
    return set->n && memchr(set->codes, rc, set->n) != NULL;
}

static mqws_err read_reason(reader *r, int type, uint8_t *rc)
{
    mqws_err e = read_u8(r, rc);
    if (e == MQWS_OK && !reason_ok(type, r->version, *rc))
        return fail(r, MQWS_ERR_MQTT_REASON_CODE, r->pos - 1);
    return e;
}

/* ---- CONNECT (3.1) */

static mqws_err connect_name_level(reader *r, mqws_connect *c)
{
    size_t name_at = r->pos;
    mqws_bytes name = {NULL, 0};
    mqws_err e = read_bin(r, &name);
    if (e != MQWS_OK)
        return e;
    bool mqtt = name.len == 4 && memcmp(name.ptr, "MQTT", 4) == 0;
    if (!mqtt) {
        /* "MQIsdp" level 3 is MQTT 3.1: a real protocol, just not one we speak. */
        bool v31 = name.len == 6 && memcmp(name.ptr, "MQIsdp", 6) == 0;
        if (v31 && r->pos < r->end && r->buf[r->pos] == 3)
            return fail(r, MQWS_ERR_MQTT_PROTOCOL_LEVEL, r->pos);
        return fail(r, MQWS_ERR_MQTT_PROTOCOL_NAME, name_at); /* MQTT-3.1.2-1 */
    }
    if ((e = read_u8(r, &c->level)) != MQWS_OK)
        return e;
    if (c->level != MQWS_MQTT_V311 && c->level != MQWS_MQTT_V5) /* MQTT-3.1.2-2 */
        return fail(r, MQWS_ERR_MQTT_PROTOCOL_LEVEL, r->pos - 1);
    c->protocol_name = as_str(name);
    r->version = c->level;
    return MQWS_OK;
}

/* Connect Flags (3.1.2.3). */
static mqws_err connect_flags(reader *r, mqws_connect *c)
{
    uint8_t f;
    mqws_err e = read_u8(r, &f);
    if (e != MQWS_OK)
        return e;
    size_t at = r->pos - 1;
    if (f & 0x01u) /* MQTT-3.1.2-3 */
        return fail(r, MQWS_ERR_MQTT_CONNECT_RESERVED, at);
    c->clean_start = f & 0x02u;
    c->will = f & 0x04u;
    c->will_qos = (uint8_t)((f >> 3) & 0x03u);
    c->will_retain = f & 0x20u;
    c->has_password = f & 0x40u;
    c->has_username = f & 0x80u;
    /* MQTT-3.1.2-11..15: Will QoS and Retain only with the Will Flag; Will QoS 3 is invalid. */
    if (c->will_qos == 3 || (!c->will && (c->will_qos || c->will_retain)))
        return fail(r, MQWS_ERR_MQTT_WILL_FLAGS, at);
    if (r->version == MQWS_MQTT_V311 && c->has_password && !c->has_username) /* MQTT-3.1.2-22 */
        return fail(r, MQWS_ERR_MQTT_PASSWORD_FLAG, at);
    return MQWS_OK;
}

static mqws_err connect_will(reader *r, mqws_connect *c)
{
    mqws_err e = read_props(r, MQWS_PROPS_IN_WILL, &c->will_props);
    if (e != MQWS_OK)
        return e;
    size_t at = r->pos;
    mqws_bytes topic = {NULL, 0};
    size_t bad = 0;
    if ((e = read_bin(r, &topic)) != MQWS_OK)
        return e;
    /* MQTT-3.1.3-10 (3.1.1): the Will Topic is a Topic Name; no alias can stand in for it. */
    if ((e = mqws_mqtt_topic_name_check(topic.ptr, topic.len, false, &bad)) != MQWS_OK)
        return fail(r, e, topic.len ? at + 2 + bad : at);
    c->will_topic = as_str(topic);
    return read_bin(r, &c->will_payload);
}

static mqws_err decode_connect(reader *r, mqws_packet *pkt)
{
    mqws_connect *c = &pkt->connect;
    mqws_err e;
    if ((e = connect_name_level(r, c)) != MQWS_OK || (e = connect_flags(r, c)) != MQWS_OK ||
        (e = read_u16(r, &c->keep_alive)) != MQWS_OK ||
        (e = read_props(r, MQWS_CONNECT, &pkt->props)) != MQWS_OK ||
        (e = read_utf8(r, &c->client_id)) != MQWS_OK)
        return e;
    /* 3.1.1 MQTT-3.1.3-7/8: a zero-byte ClientId needs CleanSession 1 (answered 0x02).
     * 5.0 lets the Server assign one either way (3.1.3.1). */
    if (c->level == MQWS_MQTT_V311 && c->client_id.len == 0 && !c->clean_start)
        return fail(r, MQWS_ERR_MQTT_CLIENT_ID, r->pos - 2);
    pkt->version = c->level;
    if (c->will && (e = connect_will(r, c)) != MQWS_OK)
        return e;
    if (c->has_username && (e = read_utf8(r, &c->username)) != MQWS_OK)
        return e;
    if (c->has_password && (e = read_bin(r, &c->password)) != MQWS_OK)
        return e;
    return expect_end(r);
}

/* ---- CONNACK (3.2) */

static mqws_err decode_connack(reader *r, mqws_packet *pkt)
{
    uint8_t f;
    size_t flags_at = r->pos;
    mqws_err e = read_u8(r, &f);
    if (e != MQWS_OK)
        return e;
    if (f & 0xFEu) /* 3.1.1 3.2.2.1 / 5.0 MQTT-3.2.2-1: bits 7-1 reserved */
        return fail(r, MQWS_ERR_MQTT_FLAGS, flags_at);
    pkt->session_present = f & 0x01u;
    if ((e = read_reason(r, MQWS_CONNACK, &pkt->reason_code)) != MQWS_OK)
        return e;
    /* 3.1.1 MQTT-3.2.2-4, 5.0 MQTT-3.2.2-6: a refused connection has no session. */
    if (pkt->session_present && pkt->reason_code != 0)
        return fail(r, MQWS_ERR_MQTT_FLAGS, flags_at);
    if ((e = read_props(r, MQWS_CONNACK, &pkt->props)) != MQWS_OK)
        return e;
    return expect_end(r);
}

/* ---- PUBLISH (3.3) */

static mqws_err decode_publish(reader *r, mqws_packet *pkt)
{
    mqws_publish *p = &pkt->publish;
    p->retain = pkt->flags & 0x01u;
    p->qos = (uint8_t)((pkt->flags >> 1) & 0x03u);
    p->dup = pkt->flags & 0x08u;
    size_t at = r->pos;
    mqws_bytes topic = {NULL, 0};
    size_t bad = 0;
    mqws_err e = read_bin(r, &topic);
    if (e != MQWS_OK)
        return e;
    /* 5.0 3.3.2.1: an empty Topic Name is allowed only with a Topic Alias (checked below). */
    bool v5 = r->version == MQWS_MQTT_V5;
    if ((e = mqws_mqtt_topic_name_check(topic.ptr, topic.len, v5, &bad)) != MQWS_OK)
        return fail(r, e, topic.len ? at + 2 + bad : at);
    p->topic = as_str(topic);
    if (p->qos && (e = read_packet_id(r, &pkt->packet_id)) != MQWS_OK)
        return e;
    if (v5) {
        if ((e = read_props(r, MQWS_PUBLISH, &pkt->props)) != MQWS_OK)
            return e;
        if (!topic.len && !(pkt->props.present & ((uint64_t)1 << MQWS_PROP_TOPIC_ALIAS)))
            return fail(r, MQWS_ERR_MQTT_TOPIC_NAME, at); /* MQTT-3.3.2-1 / 4.7.3-1 */
    }
    p->payload.ptr = r->buf + r->pos;
    p->payload.len = r->end - r->pos;
    r->pos = r->end;
    return MQWS_OK;
}

/* ---- PUBACK, PUBREC, PUBREL, PUBCOMP (3.4 - 3.7); 5.0 DISCONNECT, AUTH (3.14, 3.15) */

/* 5.0 3.4.2.1: the Reason Code and then the Property Length may be left out. */
static mqws_err optional_reason_props(reader *r, mqws_packet *pkt)
{
    mqws_err e = MQWS_OK;
    if (r->version != MQWS_MQTT_V5)
        return expect_end(r);
    if (r->pos < r->end && (e = read_reason(r, pkt->type, &pkt->reason_code)) != MQWS_OK)
        return e;
    if (r->pos < r->end && (e = read_props(r, pkt->type, &pkt->props)) != MQWS_OK)
        return e;
    return expect_end(r);
}

/*
 * 5.0 3.15.2.2.2: omitting the Authentication Method is a Protocol Error; only the
 * Success form without properties, which 3.15.2.1 lets drop the block, has none.
 * 3.15.2.1 drops the Reason Code and the Property Length together (Remaining Length
 * 0): unlike DISCONNECT and PUBACK, AUTH has no form with the Reason Code alone.
 */
static mqws_err decode_auth(reader *r, mqws_packet *pkt)
{
    size_t start = r->pos;
    mqws_err e;
    if (r->end - start == 1) { /* the Reason Code is checked first, as in parse order */
        e = read_reason(r, MQWS_AUTH, &pkt->reason_code);
        return e != MQWS_OK ? e : fail(r, MQWS_ERR_MQTT_MALFORMED, r->end);
    }
    e = optional_reason_props(r, pkt);
    if (e != MQWS_OK)
        return e;
    bool method = pkt->props.present & ((uint64_t)1 << MQWS_PROP_AUTHENTICATION_METHOD);
    if ((pkt->reason_code || pkt->props.count) && !method) /* blame the block, else the code */
        return fail(r, MQWS_ERR_MQTT_AUTH_METHOD, r->end - start > 1 ? start + 1 : start);
    return MQWS_OK;
}

static mqws_err decode_ack(reader *r, mqws_packet *pkt)
{
    mqws_err e = read_packet_id(r, &pkt->packet_id);
    return e != MQWS_OK ? e : optional_reason_props(r, pkt);
}

/* ---- SUBSCRIBE, UNSUBSCRIBE (3.8, 3.10) */

/*
 * Subscription Options. 3.1.1 (MQTT-3.8.3-4): reserved bits or QoS 3 make the packet
 * malformed. 5.0: reserved bits are malformed (MQTT-3.8.3-5, 0x81), while QoS 3,
 * Retain Handling 3 and No Local on a shared subscription (MQTT-3.8.3-4) are
 * Protocol Errors (3.8.3.1, 0x82).
 */
static mqws_err sub_options_check(uint8_t o, int version, bool shared)
{
    if (version != MQWS_MQTT_V5)
        return (o & 0xFCu) || MQWS_SUB_QOS(o) == 3 ? MQWS_ERR_MQTT_SUB_OPTIONS : MQWS_OK;
    if (o & 0xC0u)
        return MQWS_ERR_MQTT_SUB_OPTIONS;
    if (MQWS_SUB_QOS(o) == 3 || MQWS_SUB_RETAIN_HANDLING(o) == 3 ||
        (shared && (o & MQWS_SUB_NO_LOCAL)))
        return MQWS_ERR_MQTT_SUB_OPTIONS_VALUE;
    return MQWS_OK;
}

static mqws_err read_sub_entry(reader *r, bool with_options)
{
    size_t at = r->pos, bad = 0;
    mqws_bytes f = {NULL, 0};
    mqws_err e = read_bin(r, &f);
    if (e != MQWS_OK)
        return e;
    if ((e = topic_filter_check(f.ptr, f.len, r->version, &bad)) != MQWS_OK)
        return fail(r, e, f.len ? at + 2 + bad : at);
    if (!with_options)
        return MQWS_OK;
    uint8_t o;
    if ((e = read_u8(r, &o)) != MQWS_OK)
        return e;
    if ((e = sub_options_check(o, r->version, is_shared(f.ptr, f.len, r->version))) != MQWS_OK)
        return fail(r, e, r->pos - 1);
    return MQWS_OK;
}

static mqws_err decode_sub_unsub(reader *r, mqws_packet *pkt)
{
    bool with_options = pkt->type == MQWS_SUBSCRIBE;
    mqws_err e;
    if ((e = read_packet_id(r, &pkt->packet_id)) != MQWS_OK ||
        (e = read_props(r, pkt->type, &pkt->props)) != MQWS_OK)
        return e;
    size_t start = r->pos, count = 0;
    for (; r->pos < r->end; count++)
        if ((e = read_sub_entry(r, with_options)) != MQWS_OK)
            return e;
    if (count == 0) /* MQTT-3.8.3-3, MQTT-3.10.3-2 */
        return fail(r, MQWS_ERR_MQTT_NO_TOPICS, r->pos);
    pkt->list.raw = r->buf + start;
    pkt->list.raw_len = r->end - start;
    pkt->list.count = count;
    return MQWS_OK;
}

/* ---- SUBACK, UNSUBACK (3.9, 3.11) */

static mqws_err decode_suback_unsuback(reader *r, mqws_packet *pkt)
{
    mqws_err e;
    if ((e = read_packet_id(r, &pkt->packet_id)) != MQWS_OK)
        return e;
    if (pkt->type == MQWS_UNSUBACK && r->version != MQWS_MQTT_V5)
        return expect_end(r); /* 3.1.1 3.11.3: no payload */
    if ((e = read_props(r, pkt->type, &pkt->props)) != MQWS_OK)
        return e;
    size_t start = r->pos;
    if (start == r->end) /* one code per filter of a SUBSCRIBE that had at least one */
        return fail(r, MQWS_ERR_MQTT_MALFORMED, start);
    for (size_t i = start; i < r->end; i++)
        if (!reason_ok(pkt->type, r->version, r->buf[i]))
            return fail(r, MQWS_ERR_MQTT_REASON_CODE, i);
    pkt->list.raw = r->buf + start;
    pkt->list.raw_len = r->end - start;
    pkt->list.count = r->end - start;
    r->pos = r->end;
    return MQWS_OK;
}

/* ---- dispatch */

static mqws_err decode_body(reader *r, mqws_packet *pkt)
{
    switch (pkt->type) {
    case MQWS_CONNECT: return decode_connect(r, pkt);
    case MQWS_CONNACK: return decode_connack(r, pkt);
    case MQWS_PUBLISH: return decode_publish(r, pkt);
    case MQWS_PUBACK:
    case MQWS_PUBREC:
    case MQWS_PUBREL:
    case MQWS_PUBCOMP: return decode_ack(r, pkt);
    case MQWS_SUBSCRIBE:
    case MQWS_UNSUBSCRIBE: return decode_sub_unsub(r, pkt);
    case MQWS_SUBACK:
    case MQWS_UNSUBACK: return decode_suback_unsuback(r, pkt);
    case MQWS_DISCONNECT: return optional_reason_props(r, pkt);
    case MQWS_AUTH: return decode_auth(r, pkt);
    default: return expect_end(r); /* PINGREQ, PINGRESP: MQTT-3.12/3.13, no body */
    }
}

/*
 * PUBLISH fixed-header flags (3.3.1), by the low nibble: the qos, dup and retain
 * fields as they are stored into mqws_publish, one 4-byte copy (the last byte lands
 * in padding). Entries for flags a PUBLISH may not carry are never read.
 */
static const uint8_t k_publish_flags[16][4] = {
    {0, 0, 0, 0}, {0, 0, 1, 0}, {1, 0, 0, 0}, {1, 0, 1, 0}, {2, 0, 0, 0}, {2, 0, 1, 0},
    {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0},
    {2, 1, 0, 0}, {2, 1, 1, 0}, {0, 0, 0, 0}, {0, 0, 0, 0},
};

_Static_assert(sizeof(bool) == 1 &&
                   offsetof(mqws_publish, dup) == offsetof(mqws_publish, qos) + 1 &&
                   offsetof(mqws_publish, retain) == offsetof(mqws_publish, qos) + 2 &&
                   offsetof(mqws_publish, payload) >= offsetof(mqws_publish, qos) + 4,
               "publish_body stores qos, dup and retain as 4 bytes");

/*
 * The common PUBLISH (the bulk of a broker's input) decoded straight through: fixed
 * header of 1 or 2 length bytes, a plain ASCII topic, 5.0 without properties. It
 * applies the same rules as decode_publish and only accepts; anything else
 * (including every error) goes the general way, which then reports it.
 *
 * publish_total: flags, Remaining Length and size limit; the packet's total length
 * when it is all in buf[0..len) (len >= 4) within the limit, 0 for the general path.
 */
static inline size_t publish_total(const uint8_t *buf, size_t len, const mqws_mqtt_limits *limits)
{
    /* 3.3.1: QoS 3 (flags 6, 7, 14, 15) and DUP with QoS 0 (8, 9) are errors. */
    if (!((0x3C3Fu >> (buf[0] & 0x0Fu)) & 1u))
        return 0;
    size_t total = (size_t)buf[1] + 2;
    if (buf[1] >= 0x80u) { /* two length bytes; the second non-zero (minimal, MQTT-1.5.5-1) */
        if (buf[2] == 0 || buf[2] >= 0x80u)
            return 0;
        total = (buf[1] & 0x7Fu) + ((size_t)buf[2] << 7) + 3;
    }
    if (len < total || (limits && limits->max_packet_size && total > limits->max_packet_size))
        return 0;
    return total;
}

/*
 * publish_body: the rest, on the whole packet buf[0..total) with valid flags.
 * Everything is checked before the first store, and then only the fields a PUBLISH
 * defines are written (the other union members are left alone, see mqws_packet).
 * @p v5 is a constant at each call: one copy per version, no version arithmetic.
 */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline bool publish_body(const uint8_t *buf, size_t total, const bool v5,
                                mqws_packet *pkt, size_t *consumed)
{
    unsigned f = buf[0] & 0x0Fu;
    size_t hl = buf[1] >= 0x80u ? 3 : 2;
    if (total - hl < 2)
        return false;
    const uint8_t *t = buf + hl + 2; /* the topic */
    size_t tl = (size_t)t[-2] << 8 | t[-1], avail = total - hl - 2; /* bytes from the topic on */
    /* after the topic: packet id (QoS 1/2) and, in 5.0, the Property Length */
    size_t id_len = (f & 0x06u) ? 2 : 0;
    if (tl == 0 || avail < tl + id_len + (v5 ? 1u : 0u))
        return false;
    if (avail >= 16 && tl <= 48 ? !topic_plain_16(t, tl) : !topic_plain(t, tl))
        return false;
    const uint8_t *q = t + tl;
    uint16_t id = 0;
    if (id_len) {
        memcpy(&id, q, 2); /* zero in either byte order */
        if (id == 0) /* MQTT-2.3.1-1 */
            return false;
        id = (uint16_t)(q[0] << 8 | q[1]);
        q += 2;
    }
    if (v5 && *q++ != 0) /* properties: the general path */
        return false;
    pkt->type = MQWS_PUBLISH;
    pkt->flags = (uint8_t)f;
    pkt->version = v5 ? MQWS_MQTT_V5 : MQWS_MQTT_V311;
    pkt->packet_id = id;
    /* reason_code, session_present and props (with the padding between): zero in
     * three wide stores; then a 5.0 block's start, as read_props leaves it */
    memset((char *)pkt + offsetof(mqws_packet, reason_code), 0,
           offsetof(mqws_packet, props) + sizeof pkt->props - offsetof(mqws_packet, reason_code));
    if (v5)
        pkt->props.raw = q;
    pkt->publish.topic.ptr = (const char *)t;
    pkt->publish.topic.len = tl;
    memcpy(&pkt->publish.qos, k_publish_flags[f], 4);
    pkt->publish.payload.ptr = q;
    pkt->publish.payload.len = (size_t)(buf + total - q);
    if (consumed)
        *consumed = total;
    return true;
}

static mqws_err decode(const uint8_t *buf, size_t len, int version, const mqws_mqtt_limits *limits,
                       mqws_packet *pkt, size_t *consumed, size_t *err_at)
{
    if ((!buf && len) || !pkt)
        return MQWS_ERR_ARG;
    if (len == 0)
        return MQWS_NEED_MORE;
    int type = buf[0] >> 4;
    /* A CONNECT carries its own level; every other packet needs the connection's. */
    if (type != MQWS_CONNECT && version != MQWS_MQTT_V311 && version != MQWS_MQTT_V5)
        return MQWS_ERR_ARG;
    mqws_err e = check_first_byte(buf[0], type == MQWS_CONNECT ? MQWS_MQTT_V5 : version);
    if (e != MQWS_OK)
        return e; /* *err_at is 0: the first byte */
    size_t hl = 0;
    uint32_t rem = 0;
    if ((e = fixed_header(buf, len, &hl, &rem, err_at)) != MQWS_OK)
        return e;
    size_t total = hl + rem;
    if (limits && limits->max_packet_size && total > limits->max_packet_size) {
        *err_at = 1; /* the Remaining Length: MQTT-3.1.2-24 / 3.2.2.3.6 */
        return MQWS_ERR_MQTT_TOO_LARGE;
    }
    if (len < total)
        return MQWS_NEED_MORE;
    static const mqws_packet k_zero;
    *pkt = k_zero; /* the union too: every field of the decoded type starts at 0 */
    pkt->type = (mqws_packet_type)type;
    pkt->flags = buf[0] & 0x0Fu;
    pkt->version = (uint8_t)version;
    reader r = {buf, hl, total, 0, version};
    if ((e = decode_body(&r, pkt)) != MQWS_OK) {
        *err_at = r.err_at;
        return e;
    }
    if (consumed)
        *consumed = total;
    return MQWS_OK;
}

/* Every packet but the common PUBLISH: a function of its own, never inlined, so
 * that the fast path in mqws_mqtt_decode pays for no stack frame. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
mqws_err mqws_mqtt_decode_general(const uint8_t *buf, size_t len, mqws_mqtt_version version,
                                  const mqws_mqtt_limits *limits, mqws_packet *pkt,
                                  size_t *consumed, size_t *err_offset)
{
    size_t bad = 0;
    mqws_err e = decode(buf, len, (int)version, limits, pkt, consumed, &bad);
    if (e > MQWS_NEED_MORE && err_offset)
        *err_offset = bad;
    return e;
}

/*
 * The general decoder as a plain call, not a tail call: a tail call keeps the 7th
 * argument in a register from the function's start; a plain call sets up a frame
 * on the general path only, so the PUBLISH fast path saves fewer registers.
 */
static inline mqws_err general_call(const uint8_t *buf, size_t len, mqws_mqtt_version version,
                                    const mqws_mqtt_limits *limits, mqws_packet *pkt,
                                    size_t *consumed, size_t *err_offset)
{
    mqws_err e = mqws_mqtt_decode_general(buf, len, version, limits, pkt, consumed, err_offset);
#if defined(__GNUC__)
    __asm__ volatile("" ::: "memory");
#endif
    return e;
}

mqws_err mqws_mqtt_decode(const uint8_t *buf, size_t len, mqws_mqtt_version version,
                          const mqws_mqtt_limits *limits, mqws_packet *pkt, size_t *consumed,
                          size_t *err_offset)
{
    if (pkt && buf && len >= 4 && (buf[0] >> 4) == MQWS_PUBLISH &&
        (version == MQWS_MQTT_V311 || version == MQWS_MQTT_V5)) {
        size_t total = publish_total(buf, len, limits);
        if (!total)
            return general_call(buf, len, version, limits, pkt, consumed, err_offset);
        /* From here the general decoder, given the whole packet and no limit (which
         * it is within), answers as it would for (len, limits); each version's copy
         * calls it with its own constant, so few values stay live. */
        if (version == MQWS_MQTT_V311) {
            if (publish_body(buf, total, false, pkt, consumed))
                return MQWS_OK;
            return general_call(buf, total, MQWS_MQTT_V311, NULL, pkt, consumed, err_offset);
        }
        if (publish_body(buf, total, true, pkt, consumed))
            return MQWS_OK;
        return general_call(buf, total, MQWS_MQTT_V5, NULL, pkt, consumed, err_offset);
    }
    return general_call(buf, len, version, limits, pkt, consumed, err_offset);
}

/* ================================================================ lists */

bool mqws_list_next_sub(const mqws_list *list, bool with_options, size_t *cursor, mqws_sub *out)
{
    if (!list || !cursor || !out || !list->raw || *cursor >= list->raw_len)
        return false;
    const uint8_t *s = list->raw;
    size_t n = list->raw_len, p = *cursor;
    if (n - p < 2)
        return false;
    size_t flen = (size_t)s[p] << 8 | s[p + 1];
    size_t need = 2 + flen + (with_options ? 1 : 0);
    if (n - p < need)
        return false;
    out->filter.ptr = (const char *)s + p + 2;
    out->filter.len = flen;
    out->options = with_options ? s[p + 2 + flen] : 0;
    *cursor = p + need;
    return true;
}

mqws_err mqws_list_append_sub(uint8_t *buf, size_t cap, size_t *len, mqws_str filter,
                              bool with_options, uint8_t options)
{
    if (!len || (!filter.ptr && filter.len) || filter.len > 0xFFFFu || *len > cap)
        return MQWS_ERR_ARG;
    size_t need = 2 + filter.len + (with_options ? 1 : 0);
    if (!buf || cap - *len < need)
        return MQWS_ERR_BUFFER_TOO_SMALL;
    uint8_t *at = buf + *len;
    at[0] = (uint8_t)(filter.len >> 8);
    at[1] = (uint8_t)filter.len;
    if (filter.len)
        memcpy(at + 2, filter.ptr, filter.len);
    if (with_options)
        at[2 + filter.len] = options;
    *len += need;
    return MQWS_OK;
}

/* ================================================================ encoder */

typedef struct writer {
    uint8_t *out; /* NULL: count only */
    size_t pos;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->out && n)
        memcpy(w->out + w->pos, p, n);
    w->pos += n;
}

static void put_u8(writer *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u16(writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 2);
}

static void put_varint(writer *w, uint32_t v)
{
    uint8_t b[4];
    put(w, b, mqws_mqtt_varint_write(b, v));
}

static void put_bin(writer *w, const void *p, size_t n)
{
    put_u16(w, (uint16_t)n);
    put(w, p, n);
}

static void put_props(writer *w, const mqws_props *p)
{
    put_varint(w, (uint32_t)p->raw_len);
    put(w, p->raw, p->raw_len);
}

static void encode_connect(writer *w, const mqws_packet *pkt, int version)
{
    const mqws_connect *c = &pkt->connect;
    uint8_t f = (uint8_t)((c->clean_start ? 0x02u : 0) | (c->will ? 0x04u : 0) |
                          (unsigned)c->will_qos << 3 | (c->will_retain ? 0x20u : 0) |
                          (c->has_password ? 0x40u : 0) | (c->has_username ? 0x80u : 0));
    put_bin(w, "MQTT", 4);
    put_u8(w, (uint8_t)version);
    put_u8(w, f);
    put_u16(w, c->keep_alive);
    if (version == MQWS_MQTT_V5)
        put_props(w, &pkt->props);
    put_bin(w, c->client_id.ptr, c->client_id.len);
    if (c->will) {
        if (version == MQWS_MQTT_V5)
            put_props(w, &c->will_props);
        put_bin(w, c->will_topic.ptr, c->will_topic.len);
        put_bin(w, c->will_payload.ptr, c->will_payload.len);
    }
    if (c->has_username)
        put_bin(w, c->username.ptr, c->username.len);
    if (c->has_password)
        put_bin(w, c->password.ptr, c->password.len);
}

/* Canonical 5.0 tail: the Reason Code only when needed, the Property Length only when non-empty. */
static void put_reason_props(writer *w, const mqws_packet *pkt)
{
    if (pkt->reason_code || pkt->props.raw_len)
        put_u8(w, pkt->reason_code);
    if (pkt->props.raw_len)
        put_props(w, &pkt->props);
}

static void encode_body(writer *w, const mqws_packet *pkt, int version)
{
    bool v5 = version == MQWS_MQTT_V5;
    switch (pkt->type) {
    case MQWS_CONNECT: encode_connect(w, pkt, version); break;
    case MQWS_CONNACK:
        put_u8(w, pkt->session_present ? 1 : 0);
        put_u8(w, pkt->reason_code);
        if (v5)
            put_props(w, &pkt->props);
        break;
    case MQWS_PUBLISH:
        put_bin(w, pkt->publish.topic.ptr, pkt->publish.topic.len);
        if (pkt->publish.qos)
            put_u16(w, pkt->packet_id);
        if (v5)
            put_props(w, &pkt->props);
        put(w, pkt->publish.payload.ptr, pkt->publish.payload.len);
        break;
    case MQWS_PUBACK:
    case MQWS_PUBREC:
    case MQWS_PUBREL:
    case MQWS_PUBCOMP:
        put_u16(w, pkt->packet_id);
        if (v5)
            put_reason_props(w, pkt);
        break;
    case MQWS_SUBSCRIBE:
    case MQWS_UNSUBSCRIBE:
    case MQWS_SUBACK:
    case MQWS_UNSUBACK:
        put_u16(w, pkt->packet_id);
        if (v5)
            put_props(w, &pkt->props);
        put(w, pkt->list.raw, pkt->list.raw_len);
        break;
    case MQWS_DISCONNECT:
    case MQWS_AUTH:
        if (v5)
            put_reason_props(w, pkt);
        break;
    default: break; /* PINGREQ, PINGRESP */
    }
}

static bool view_ok(const void *p, size_t n, size_t max)
{
    return n <= max && (p || n == 0);
}

#define STR_MAX_ 0xFFFFu

static mqws_err check_connect(const mqws_connect *c, int version)
{
    if (c->protocol_name.len && !mqws_str_eq(c->protocol_name, "MQTT"))
        return MQWS_ERR_ARG;
    if (c->will_qos > 2 || (!c->will && (c->will_qos || c->will_retain)))
        return MQWS_ERR_ARG;
    if (c->will && c->will_topic.len == 0) /* MQTT-3.1.3-10: a Topic Name, never empty */
        return MQWS_ERR_ARG;
    if (version == MQWS_MQTT_V311 &&
        (c->will_props.raw_len || (c->has_password && !c->has_username) ||
         (c->client_id.len == 0 && !c->clean_start))) /* MQTT-3.1.3-7 */
        return MQWS_ERR_ARG;
    bool ok = view_ok(c->client_id.ptr, c->client_id.len, STR_MAX_) &&
              view_ok(c->will_topic.ptr, c->will_topic.len, STR_MAX_) &&
              view_ok(c->will_payload.ptr, c->will_payload.len, STR_MAX_) &&
              view_ok(c->username.ptr, c->username.len, STR_MAX_) &&
              view_ok(c->password.ptr, c->password.len, STR_MAX_) &&
              view_ok(c->will_props.raw, c->will_props.raw_len, MQWS_MQTT_MAX_REMAINING_LENGTH);
    return ok ? MQWS_OK : MQWS_ERR_ARG;
}

/* Fields the wire cannot carry for this type and version (the API's MQWS_ERR_ARG cases). */
static mqws_err check_encodable(const mqws_packet *pkt, int version)
{
    int t = pkt->type;
    bool v5 = version == MQWS_MQTT_V5;
    if ((version != MQWS_MQTT_V311 && !v5) || t < MQWS_CONNECT || t > MQWS_AUTH ||
        (t == MQWS_AUTH && !v5))
        return MQWS_ERR_ARG;
    if (!view_ok(pkt->props.raw, pkt->props.raw_len, v5 ? MQWS_MQTT_MAX_REMAINING_LENGTH : 0))
        return MQWS_ERR_ARG;
    const mqws_publish *p = &pkt->publish;
    /* MQTT-2.3.1-1: a Packet Identifier, where the packet has one, is non-zero. */
    bool has_id = (t >= MQWS_PUBACK && t <= MQWS_UNSUBACK) || (t == MQWS_PUBLISH && p->qos);
    if (has_id && pkt->packet_id == 0)
        return MQWS_ERR_ARG;
    switch (t) {
    case MQWS_CONNECT: return check_connect(&pkt->connect, version);
    case MQWS_CONNACK: /* 3.1.1 MQTT-3.2.2-4, 5.0 MQTT-3.2.2-6 */
        return pkt->session_present && pkt->reason_code ? MQWS_ERR_ARG : MQWS_OK;
    case MQWS_PUBLISH:
        if (p->qos > 2 || (p->dup && p->qos == 0) ||
            !view_ok(p->topic.ptr, p->topic.len, STR_MAX_) ||
            !view_ok(p->payload.ptr, p->payload.len, MQWS_MQTT_MAX_REMAINING_LENGTH))
            return MQWS_ERR_ARG;
        /* MQTT-4.7.3-1; 5.0 MQTT-3.3.2-1: an empty Topic Name stands only beside a Topic Alias. */
        if (p->topic.len == 0 && !(v5 && mqws_props_get(&pkt->props, MQWS_PROP_TOPIC_ALIAS, NULL)))
            return MQWS_ERR_ARG;
        return MQWS_OK;
    case MQWS_SUBSCRIBE:
    case MQWS_UNSUBSCRIBE:
    case MQWS_SUBACK:
    case MQWS_UNSUBACK: {
        /* 3.1.1 UNSUBACK has no payload; the others need at least one entry. */
        bool empty_ok = t == MQWS_UNSUBACK && !v5;
        size_t n = pkt->list.raw_len;
        if (!view_ok(pkt->list.raw, n, MQWS_MQTT_MAX_REMAINING_LENGTH) ||
            (empty_ok ? n != 0 : n == 0))
            return MQWS_ERR_ARG;
        return MQWS_OK;
    }
    default: return MQWS_OK;
    }
}

static uint8_t first_byte(const mqws_packet *pkt)
{
    unsigned t = (unsigned)pkt->type, flags = 0;
    if (t == MQWS_PUBLISH)
        flags = (pkt->publish.dup ? 8u : 0) | (unsigned)pkt->publish.qos << 1 |
                (pkt->publish.retain ? 1u : 0);
    else if (t == MQWS_PUBREL || t == MQWS_SUBSCRIBE || t == MQWS_UNSUBSCRIBE)
        flags = 2u; /* MQTT-2.2.2-1 */
    return (uint8_t)(t << 4 | flags);
}

mqws_err mqws_mqtt_encode(const mqws_packet *pkt, mqws_mqtt_version version, uint8_t *out,
                          size_t cap, size_t *written)
{
    if (!pkt)
        return MQWS_ERR_ARG;
    int v = pkt->type == MQWS_CONNECT ? pkt->connect.level : (int)version;
    mqws_err e = check_encodable(pkt, v);
    if (e != MQWS_OK)
        return e;
    writer count = {NULL, 0};
    encode_body(&count, pkt, v);
    if (count.pos > MQWS_MQTT_MAX_REMAINING_LENGTH)
        return MQWS_ERR_ARG;
    uint32_t rem = (uint32_t)count.pos;
    size_t total = 1 + mqws_mqtt_varint_size(rem) + rem;
    if (written)
        *written = total;
    if (!out || cap < total)
        return MQWS_ERR_BUFFER_TOO_SMALL;
    writer w = {out, 0};
    put_u8(&w, first_byte(pkt));
    put_varint(&w, rem);
    encode_body(&w, pkt, v);
    return MQWS_OK;
}
