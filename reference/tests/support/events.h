/*
 * events.h - the event list of a decoder run and its comparison with a vector's
 * "expect" (vectors/README.md), shared by the ws/ and stream/ vector tests:
 * the feed-loop bookkeeping, events of every type, the final error and the
 * close code it maps to. What only one codec has (a data frame's opcode, fin)
 * is checked by that test's callback.
 */
#ifndef MQWS_TEST_EVENTS_H
#define MQWS_TEST_EVENTS_H

#include "mqws/error.h"
#include "vectors.h"

typedef struct vec_event {
    const char *type; /* "packet", "data", "ping", "pong", "close": the vector's "type" */
    int opcode;
    tu_bytes data; /* packet bytes, frame or control payload, or close reason */
    uint16_t close_code;
    bool message_start, fin;
    bool open; /* a data frame whose end has not been seen yet */
} vec_event;

typedef struct vec_events {
    vec_event *ev; /* tracked memory (tu_free) */
    size_t n, max; /* max: more events fail the test */
    mqws_err err;  /* MQWS_OK, or the error that ended the run */
} vec_events;

/** An empty list of at most @p max events. */
void vec_events_init(vec_events *l, size_t max);

/** Appends a zeroed event of @p type; fails the test when the list already holds max. */
vec_event *vec_events_add(const vec_case *vc, const tu_plan *plan, vec_events *l,
                          const char *type);

/** The last event when it is a data frame still open, else NULL. */
vec_event *vec_events_open(vec_events *l);

void vec_events_free(vec_events *l);

/**
 * Bookkeeping after one decoder call that was given *n bytes at *p, returned @p r and
 * consumed @p used: fails the test when used > *n, or on MQWS_NEED_MORE with bytes
 * left; advances *p and *n. Returns true on MQWS_OK (an event: call again); false on
 * MQWS_NEED_MORE (the chunk is done) and on an error, which goes to l->err.
 */
bool vec_events_step(const vec_case *vc, const tu_plan *plan, vec_events *l, mqws_err r,
                     size_t used, uint8_t **p, size_t *n);

/** Checks the codec-specific fields of event @p i against the vector's event @p want. */
typedef void (*vec_event_check_fn)(const vec_case *vc, const tu_plan *plan, size_t i,
                                   const json_t *want, const vec_event *got);

/**
 * Compares the run with vc->expect: each event's "type"; for a close its "close_code"
 * and "reason"; otherwise its bytes ("hex" for a packet, "payload" for the others),
 * then @p check (may be NULL); the number of events; "error" (default OK); and
 * "close_code", the code mqws_err_ws_close_code gives for the error.
 */
void vec_events_compare(const vec_case *vc, const tu_plan *plan, const vec_events *l,
                        vec_event_check_fn check);

#endif /* MQWS_TEST_EVENTS_H */
