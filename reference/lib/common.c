/* common.c - views and UTF-8 validation shared by every layer. */
#include <string.h>

#include "mqws/common.h"

mqws_str mqws_str_c(const char *s)
{
    mqws_str v = {s, s ? strlen(s) : 0};
    return v;
}

bool mqws_str_eq(mqws_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && (n == 0 || memcmp(a.ptr, b, n) == 0);
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool mqws_str_ieq(mqws_str a, const char *b)
{
    size_t n = strlen(b);
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)a.ptr[i]) != ascii_lower((unsigned char)b[i]))
            return false;
    return true;
}

/*
 * RFC 3629 section 4 well-formed sequences. Checking the second byte's range per
 * lead byte rejects overlongs (C0, C1, E0 80..9F, F0 80..8F), surrogates
 * (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF) in one place.
 */
mqws_err mqws_utf8_validate(const uint8_t *s, size_t len, bool allow_nul, size_t *err_offset)
{
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path: 8 bytes at a time while none has the top bit set. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            /* a zero byte inside the word: (w - 0x01..) & ~w & 0x80.. */
            if (!allow_nul && ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull))
                break;
            i += 8;
        }
        if (i >= len)
            break;
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0 && !allow_nul) {
                if (err_offset)
                    *err_offset = i;
                return MQWS_ERR_MQTT_UTF8_NUL;
            }
            i++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            if (err_offset)
                *err_offset = i;
            return MQWS_ERR_MQTT_UTF8;
        }
        for (size_t k = 1; k <= n; k++) {
            uint8_t lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
            if (i + k >= len || s[i + k] < lo_k || s[i + k] > hi_k) {
                if (err_offset)
                    *err_offset = i + k < len ? i + k : i;
                return MQWS_ERR_MQTT_UTF8;
            }
        }
        i += n + 1;
    }
    return MQWS_OK;
}
