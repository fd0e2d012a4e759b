/* events.c - event lists of decoder runs and their comparison with vectors (events.h). */
#include "events.h"

#include <string.h>

void vec_events_init(vec_events *l, size_t max)
{
    memset(l, 0, sizeof *l);
    l->max = max;
    l->ev = tu_calloc(max, sizeof *l->ev);
}

vec_event *vec_events_add(const vec_case *vc, const tu_plan *plan, vec_events *l,
                          const char *type)
{
    if (l->n == l->max)
        VFAIL(vc, "%s: more than %zu events", plan->desc, l->max);
    vec_event *e = &l->ev[l->n++];
    memset(e, 0, sizeof *e);
    e->type = type;
    return e;
}

vec_event *vec_events_open(vec_events *l)
{
    return l->n && l->ev[l->n - 1].open ? &l->ev[l->n - 1] : NULL;
}

void vec_events_free(vec_events *l)
{
    for (size_t i = 0; i < l->n; i++)
        tu_bytes_free(&l->ev[i].data);
    tu_free(l->ev);
    memset(l, 0, sizeof *l);
}

bool vec_events_step(const vec_case *vc, const tu_plan *plan, vec_events *l, mqws_err r,
                     size_t used, uint8_t **p, size_t *n)
{
    if (used > *n)
        VFAIL(vc, "%s: consumed %zu of %zu bytes", plan->desc, used, *n);
    *p += used;
    *n -= used;
    if (r == MQWS_NEED_MORE) {
        if (*n != 0)
            VFAIL(vc, "%s: NEED_MORE with %zu bytes left", plan->desc, *n);
        return false;
    }
    if (r != MQWS_OK) {
        l->err = r;
        return false;
    }
    return true;
}

static void check_bytes(const vec_case *vc, const tu_plan *plan, size_t i, const char *type,
                        const char *hex, const tu_bytes *got)
{
    size_t wl;
    uint8_t *wp = vec_hex(hex, &wl);
    if (!wp)
        VFAIL(vc, "bad hex in event %zu", i);
    if (wl != got->len || (wl && memcmp(wp, got->p, wl) != 0)) {
        char *g = vec_tohex(got->p, got->len);
        VFAIL(vc, "%s: event %zu (%s): expected %zu bytes %.300s, got %zu bytes %.300s",
              plan->desc, i, type, wl, hex, got->len, g);
    }
    tu_free(wp);
}

static void check_close(const vec_case *vc, const tu_plan *plan, size_t i, const json_t *w,
                        const vec_event *e)
{
    if (vec_has(w, "close_code") && e->close_code != vec_int(w, "close_code", 0))
        VFAIL(vc, "%s: event %zu: close_code expected %lld, got %u", plan->desc, i,
              vec_int(w, "close_code", 0), e->close_code);
    const char *reason = vec_str(w, "reason", NULL);
    if (reason && (strlen(reason) != e->data.len ||
                   (e->data.len && memcmp(reason, e->data.p, e->data.len))))
        VFAIL(vc, "%s: event %zu: reason expected \"%s\", got \"%.*s\"", plan->desc, i, reason,
              (int)e->data.len, e->data.p ? (const char *)e->data.p : "");
}

void vec_events_compare(const vec_case *vc, const tu_plan *plan, const vec_events *l,
                        vec_event_check_fn check)
{
    const json_t *events = json_object_get(vc->expect, "events");
    size_t want_n = json_is_array(events) ? json_array_size(events) : 0;
    for (size_t i = 0; i < want_n && i < l->n; i++) {
        const json_t *w = json_array_get(events, i);
        const vec_event *e = &l->ev[i];
        const char *wt = vec_str(w, "type", "?");
        if (strcmp(wt, e->type) != 0)
            VFAIL(vc, "%s: event %zu: expected type %s, got %s", plan->desc, i, wt, e->type);
        if (strcmp(wt, "close") == 0) {
            check_close(vc, plan, i, w, e);
            continue;
        }
        const char *hex = vec_str(w, strcmp(wt, "packet") == 0 ? "hex" : "payload", NULL);
        if (hex)
            check_bytes(vc, plan, i, wt, hex, &e->data);
        if (check)
            check(vc, plan, i, w, e);
    }
    if (want_n != l->n)
        VFAIL(vc, "%s: expected %zu events, got %zu (error %s)", plan->desc, want_n, l->n,
              mqws_err_name(l->err));
    const char *want_err = vec_str(vc->expect, "error", "OK");
    if (strcmp(want_err, mqws_err_name(l->err)) != 0)
        VFAIL(vc, "%s: error: expected %s, got %s", plan->desc, want_err, mqws_err_name(l->err));
    if (vec_has(vc->expect, "close_code") &&
        mqws_err_ws_close_code(l->err) != vec_int(vc->expect, "close_code", 0))
        VFAIL(vc, "%s: close_code: expected %lld, mqws_err_ws_close_code(%s) = %u", plan->desc,
              vec_int(vc->expect, "close_code", 0), mqws_err_name(l->err),
              mqws_err_ws_close_code(l->err));
}
