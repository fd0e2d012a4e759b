/* error.c - names, texts, requirement ids and wire reactions of mqws_err. */
#include <string.h>

#include "mqws/error.h"

typedef struct err_info {
    const char *name;
    const char *ref;
    int http_status;
    uint16_t ws_close;
    uint8_t mqtt5_reason;
    const char *text;
} err_info;

static const err_info k_errors[] = {
#define MQWS_ERR_ROW_(name, ref, http, ws, rc, text) {#name, ref, http, ws, rc, text},
    MQWS_ERRORS(MQWS_ERR_ROW_)
#undef MQWS_ERR_ROW_
};

static const err_info *info(mqws_err e)
{
    if ((unsigned)e >= (unsigned)MQWS_ERR_COUNT_)
        return NULL;
    return &k_errors[e];
}

const char *mqws_err_name(mqws_err e)
{
    const err_info *i = info(e);
    return i ? i->name : "UNKNOWN";
}

const char *mqws_strerror(mqws_err e)
{
    const err_info *i = info(e);
    return i ? i->text : "unknown error";
}

const char *mqws_err_ref(mqws_err e)
{
    const err_info *i = info(e);
    return i ? i->ref : "";
}

mqws_err mqws_err_from_name(const char *name)
{
    for (unsigned i = 0; name && i < (unsigned)MQWS_ERR_COUNT_; i++)
        if (strcmp(k_errors[i].name, name) == 0)
            return (mqws_err)i;
    return MQWS_ERR_COUNT_;
}

int mqws_err_http_status(mqws_err e)
{
    const err_info *i = info(e);
    return i ? i->http_status : 0;
}

uint16_t mqws_err_ws_close_code(mqws_err e)
{
    const err_info *i = info(e);
    return i ? i->ws_close : 0;
}

uint8_t mqws_err_mqtt_reason(mqws_err e, int version)
{
    const err_info *i = info(e);
    if (!i)
        return 0;
    if (version >= 5)
        return i->mqtt5_reason;
    /* 3.1.1 has no DISCONNECT reason; CONNACK return codes name two decode errors:
     * 0x01 unacceptable protocol version (5.0: 0x84), 0x02 identifier rejected (0x85). */
    switch (i->mqtt5_reason) {
    case 0x84: return 0x01;
    case 0x85: return 0x02;
    default: return 0x00;
    }
}
