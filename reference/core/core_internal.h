/*
 * core_internal.h - state of the broker core shared by its source files.
 */
#ifndef MQWS_CORE_INTERNAL_H
#define MQWS_CORE_INTERNAL_H

#include "core.h"

/* ------------------------------------------------------------ hash table */

/* Intrusive chained hash table; keys are compared by the caller walking a bucket. */
typedef struct core_hnode {
    struct core_hnode *next;
    uint32_t hash;
} core_hnode;

typedef struct core_htab {
    core_hnode **b;
    size_t nb; /* power of two */
    size_t n;
} core_htab;

uint64_t core_siphash(const uint8_t key[16], const void *data, size_t len);
uint32_t core_hash(const struct mqws_core *c, const void *p, size_t len);
bool core_htab_init(core_htab *h);
void core_htab_free(core_htab *h);
core_hnode *core_htab_bucket(const core_htab *h, uint32_t hash);
void core_htab_insert(core_htab *h, core_hnode *n); /* n->hash set by the caller */
void core_htab_remove(core_htab *h, core_hnode *n);

/* ------------------------------------------------------------ messages */

/*
 * An application message, shared (reference counted) by every queue that holds
 * it and by the retained store. props: the 5.0 properties to forward (Topic
 * Alias, Message Expiry and Subscription Identifiers removed; they are written
 * per delivery).
 */
typedef struct core_msg {
    uint32_t refs;
    uint8_t qos;
    bool retain;
    bool has_expiry;
    uint64_t expire_at_ms;
    uint64_t origin_session; /* session id of the publisher (no-local); 0: none */
    char *topic;             /* NUL-terminated, inside this allocation */
    size_t topic_len;
    uint8_t *payload;
    size_t payload_len;
    uint8_t *props;
    size_t props_len;
} core_msg;

core_msg *core_msg_new(mqws_str topic, mqws_bytes payload, const uint8_t *props, size_t props_len,
                       uint8_t qos, bool retain);
void core_msg_ref(core_msg *m);
void core_msg_unref(core_msg *m);
size_t core_msg_bytes(const core_msg *m); /* what limits count: topic + payload + props */

/* One message on its way to one session. */
enum { OUT_QUEUED = 0, OUT_WAIT_ACK = 1, OUT_WAIT_COMP = 2 };

typedef struct core_out {
    struct core_out *next;
    core_msg *m;
    uint8_t qos;    /* min(publish QoS, subscription QoS) */
    bool retain;    /* retain flag to send */
    uint8_t state;
    bool unsent;    /* in flight from an earlier connection, not yet sent again */
    uint16_t pid;
    uint32_t nsubids;
    uint32_t subids[]; /* 5.0 Subscription Identifiers of the matching subscriptions */
} core_out;

typedef struct core_outq {
    core_out *head, *tail;
    uint32_t n;
} core_outq;

/* ------------------------------------------------------------ sessions */

struct core_session;

typedef struct core_sub {
    core_hnode node; /* exact filters: in core->exact */
    struct core_session *s;
    uint32_t wild_idx; /* wildcard filters: index in core->wild */
    bool wild;
    uint8_t options;  /* 5.0 subscription options; 3.1.1: QoS */
    uint32_t sub_id;  /* 0: none */
    uint64_t retain_epoch; /* the SUBSCRIBE that last asked for retained messages */
    size_t filter_len;
    char filter[];    /* NUL-terminated */
} core_sub;

typedef struct core_will {
    core_msg *m;
    uint32_t delay_s;
} core_will;

typedef struct core_session {
    core_hnode node; /* in core->sessions by client id */
    uint64_t id;
    char *client_id;
    size_t client_id_len;
    struct mqws_core_conn *conn; /* NULL: offline */
    uint8_t version;
    uint32_t expiry_s;        /* Session Expiry Interval; UINT32_MAX: never (capped by config) */
    uint64_t expire_at_ms;    /* offline: when it ends */
    core_sub **subs;
    uint32_t nsubs, subs_cap;
    core_outq inflight;       /* server to client, sent and not yet acknowledged */
    core_outq queue;          /* server to client, waiting for the window */
    uint64_t queued_bytes;
    uint32_t nunsent;         /* in-flight entries still to be sent again after a resume */
    bool dropping;            /* queue full: drops logged once per episode */
    uint16_t next_pid;
    uint16_t *rx_qos2;        /* client to server QoS 2 ids received, PUBREL not yet */
    uint32_t nrx_qos2, rx_qos2_cap;
    core_will will;           /* pending will of the last connection (delayed or live) */
    uint64_t will_at_ms;      /* 0: will belongs to the live connection / none */
    uint64_t match_epoch;     /* routing scratch */
    uint32_t match_idx;
} core_session;

/* ------------------------------------------------------------ connections */

enum { CONN_NEW = 0, CONN_ACTIVE = 1, CONN_CLOSING = 2 };

struct mqws_core_conn {
    struct mqws_core *core;
    struct mqws_core_conn *prev, *next;
    mqws_core_transport ops;
    void *user;
    char peer[64];
    char transport[8];
    char client_id[64];    /* for log lines after the session is detached */
    uint8_t state;
    uint8_t version;
    bool blocked;          /* reserve returned NULL for a PUBLISH: wait for writable */
    bool dropping;         /* QoS 0 drops logged once per blocked episode */
    bool ended;            /* session detached, will handled */
    bool normal_disconnect;
    bool too_big_logged;   /* drops for the client's Maximum Packet Size: logged once */
    uint64_t opened_ms;
    uint64_t last_rx_ms;
    uint64_t keepalive_ms; /* 1.5 x Keep Alive; 0: none */
    uint32_t client_max_packet; /* 5.0 Maximum Packet Size of the client; 0: none */
    uint16_t client_receive_max;
    core_session *s;
    char **aliases;        /* client to server Topic Aliases, config.topic_alias_maximum slots */
};

/* ------------------------------------------------------------ core */

typedef struct core_match {
    core_session *s;
    uint8_t qos;
    bool rap;
    uint32_t nsubids;
    uint32_t subid_at;
} core_match;

struct mqws_core {
    mqws_core_config cfg;
    mqws_core_stats st;
    struct mqws_core_conn *conns;
    core_htab sessions;
    core_htab exact;     /* core_sub by filter */
    core_sub **wild;     /* subscriptions with '+' or '#' */
    uint32_t nwild, wild_cap;
    core_htab retained;  /* core_retained by topic */
    uint64_t next_session_id;
    uint64_t epoch;
    uint64_t assigned_ids;
    core_match *matches;
    uint32_t nmatches, matches_cap;
    uint32_t (*pairs)[2]; /* (match index, subscription id) */
    uint32_t npairs, pairs_cap;
    uint32_t *subids;
    uint32_t subids_cap;
    bool retain_full_logged;
    uint8_t *scratch;    /* property blocks of outgoing packets */
    size_t scratch_cap;
};

typedef struct core_retained {
    core_hnode node;
    core_msg *m;
} core_retained;

/* log.c / core.c */
void core_log(mqws_core *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void core_clog(mqws_core_conn *conn, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
bool core_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem);

/* send.c */
typedef enum { SEND_OK, SEND_FULL, SEND_TOO_BIG } core_send_result;
core_send_result core_send(mqws_core_conn *conn, const mqws_packet *p);
void core_send_ack(mqws_core_conn *conn, mqws_packet_type t, uint16_t pid, uint8_t rc);
void core_send_disconnect(mqws_core_conn *conn, uint8_t rc);
/* Any non-PUBLISH packet; a full send buffer makes the client a slow consumer. */
void core_send_ack_packet(mqws_core_conn *conn, const mqws_packet *p);
void core_close(mqws_core_conn *conn, uint16_t ws_code, const char *reason);
/* Protocol error: 5.0 DISCONNECT with @p rc, will published, transport closed. */
mqws_err core_fail(mqws_core_conn *conn, mqws_err err, uint8_t rc, uint16_t ws_code,
                   const char *why, uint64_t now);
void core_trace(mqws_core_conn *conn, const char *dir, const uint8_t *pkt, size_t len);

/* connect.c */
mqws_err core_on_connect(mqws_core_conn *conn, const uint8_t *raw, size_t len, uint64_t now);
mqws_err core_on_disconnect(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);
/* Detaches the session from the connection, handles the will and session end. */
void core_conn_end(mqws_core_conn *conn, bool send_will, uint64_t now);

/* session.c */
core_session *core_session_find(mqws_core *c, mqws_str client_id);
core_session *core_session_new(mqws_core *c, mqws_str client_id);
void core_session_free(mqws_core *c, core_session *s);
void core_session_enqueue(mqws_core *c, core_session *s, core_msg *m, uint8_t qos, bool retain,
                          const uint32_t *subids, uint32_t nsubids, uint64_t now);
void core_session_pump(core_session *s, uint64_t now);
void core_session_resend(core_session *s, uint64_t now);
void core_on_puback(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);
void core_on_pubrec(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);
void core_on_pubcomp(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);

/* publish.c */
mqws_err core_on_publish(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);
void core_on_pubrel(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);
void core_route(mqws_core *c, core_msg *m, uint64_t now);
/* A message from a PUBLISH or a will: properties filtered, Message Expiry made absolute. */
core_msg *core_msg_from_props(mqws_core *c, mqws_str topic, mqws_bytes payload,
                              const mqws_props *props, uint8_t qos, bool retain, uint64_t now);

/* subscribe.c */
mqws_err core_on_subscribe(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);
mqws_err core_on_unsubscribe(mqws_core_conn *conn, const mqws_packet *p, uint64_t now);
void core_sub_remove_all(mqws_core *c, core_session *s);

/* retain.c */
void core_retain_store(mqws_core *c, core_msg *m);
void core_retain_deliver(mqws_core *c, core_session *s, const core_sub *sub, uint64_t now);
void core_retain_free_all(mqws_core *c);

/* will.c */
bool core_will_from_connect(mqws_core_conn *conn, const mqws_connect *cn, core_will *out);
void core_will_publish(mqws_core *c, core_session *s, uint64_t now);
void core_will_drop(core_session *s);

#endif /* MQWS_CORE_INTERNAL_H */
