/*
 * broker.h - the shapes shared by the files of mqws-broker's event-loop shell:
 * configuration (cli.c), listeners (listen.c), connections (conn.c, ws.c,
 * tls.c) and the loop (main.c); conn.c is the one place that calls the core.
 *
 * The shell moves bytes and time only: it parses the WebSocket handshake with
 * mqws_hs_*, cuts the byte stream into MQTT packets with mqws_stream (ws/wss)
 * or mqws_assembler (tcp/tls), and hands whole packets to the core; packets
 * the core sends are framed into the connection's send buffer and written once
 * per loop turn.
 */
#ifndef MQWS_BROKER_H
#define MQWS_BROKER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mqws/mqws.h"
#include "../core/core.h"
#include "poll.h"

#define MQWS_BROKER_MAX_LISTENERS 32
#define MQWS_BROKER_MAX_ORIGINS 32
#define MQWS_BROKER_MAX_PROXIES 32
#define MQWS_BROKER_READ_CHUNK (64u * 1024u)

typedef enum mqws_transport {
    MQWS_TR_TCP = 0,
    MQWS_TR_TLS = 1,
    MQWS_TR_WS = 2,
    MQWS_TR_WSS = 3
} mqws_transport;

/** "tcp", "tls", "ws", "wss". */
const char *mqws_transport_name(mqws_transport t);
static inline bool mqws_transport_is_ws(mqws_transport t) { return t >= MQWS_TR_WS; }
static inline bool mqws_transport_is_tls(mqws_transport t)
{
    return t == MQWS_TR_TLS || t == MQWS_TR_WSS;
}

typedef struct mqws_listen_spec {
    mqws_transport transport;
    char host[256];  /* numeric address or name, without IPv6 brackets */
    uint16_t port;   /* 0: any free port */
    char path[256];  /* ws/wss: served path ("/mqtt"); empty for tcp/tls */
} mqws_listen_spec;

typedef struct mqws_addr_mask {
    struct sockaddr_storage addr;
    int prefix; /* bits compared */
} mqws_addr_mask;

typedef struct mqws_broker_config {
    mqws_listen_spec listen[MQWS_BROKER_MAX_LISTENERS];
    size_t num_listen;
    bool default_listeners; /* no --listen given */
    const char *tls_cert, *tls_key, *tls_ca;
    /* WebSocket: strict by default; each flag relaxes one rule */
    bool ws_any_path;
    bool ws_no_legacy;        /* refuse "mqttv3.1" even when it is the only MQTT value */
    bool ws_allow_no_subprotocol;
    bool ws_allow_unknown_subprotocol;
    bool ws_subprotocol_ignore_case;
    const char *ws_origins[MQWS_BROKER_MAX_ORIGINS];
    size_t num_origins;       /* 0: any Origin (or none) */
    unsigned ws_ping_interval; /* seconds, 0: never */
    mqws_addr_mask trusted_proxies[MQWS_BROKER_MAX_PROXIES];
    size_t num_trusted_proxies;
    /* limits */
    unsigned handshake_timeout_ms;
    size_t max_header_bytes;
    uint64_t max_message;
    size_t max_packet;
    size_t max_queue;
    unsigned slow_reader_ms;  /* queue above half the limit this long: disconnect */
    unsigned max_connections;
    int verbose;
} mqws_broker_config;

/**
 * Parses argv into @p cfg (defaults first). Returns 0 to run, 1 when the program
 * should exit 0 (--help, --version printed), 2 on a usage error (printed on stderr).
 */
int mqws_cli_parse(mqws_broker_config *cfg, int argc, char **argv);

/** Parses "scheme://host:port/path"; 0 or -1 with @p err (a static string) set. */
int mqws_listen_parse_url(const char *url, mqws_listen_spec *spec, const char **err);

typedef struct mqws_broker mqws_broker;
typedef struct mqws_conn mqws_conn;

typedef struct mqws_listener {
    int fd;
    mqws_listen_spec spec;
    char url[600]; /* with the actual port, as printed on "listening" */
} mqws_listener;

typedef enum mqws_conn_state {
    MQWS_CONN_TLS_HANDSHAKE = 1,
    MQWS_CONN_WS_HANDSHAKE = 2,
    MQWS_CONN_OPEN = 3,      /* MQTT packets flow */
    MQWS_CONN_CLOSING = 4,   /* flushing the last bytes, then a lingering close */
    MQWS_CONN_DRAIN = 5,     /* write side shut, reading until EOF or deadline */
    MQWS_CONN_DEAD = 6       /* socket closed, freed at the end of the loop turn */
} mqws_conn_state;

struct mqws_conn {
    mqws_broker *broker;
    uint64_t id;
    int fd;
    mqws_transport transport;
    mqws_conn_state state;
    const mqws_listener *listener;
    struct ssl_st *ssl;
    char peer[72];      /* "ip:port" of the socket peer */
    char client_addr[72]; /* X-Forwarded-For from a trusted proxy, else peer */
    char client_id[72]; /* escaped, for logs */
    uint64_t opened_ms;
    uint64_t deadline_ms;  /* handshake or lingering-close deadline, 0: none */
    uint64_t last_rx_ms;
    uint64_t next_ping_ms;
    /* handshake (freed once open) */
    char *head;
    size_t head_len;
    mqws_hs_request *req;
    /* inbound MQTT */
    mqws_stream stream;      /* ws, wss */
    mqws_assembler assembler; /* tcp, tls */
    uint8_t *packet_buf;     /* mmap'd, max_packet bytes, pages touched on demand */
    uint8_t mqtt_version;    /* from CONNECT, 0 before */
    bool mqtt_connected;     /* CONNECT seen */
    /* outbound */
    uint8_t *out;
    size_t out_head, out_len, out_cap;
    bool out_listed;         /* on the broker's flush list */
    bool want_write;         /* writable interest installed */
    bool read_paused;        /* own send queue above the high-water mark */
    bool tls_read_pending;   /* TLS has buffered plaintext epoll does not see */
    int poll_mask;
    const char *close_reason; /* first reason, logged once */
    char reason_buf[200];     /* a close reason built at run time */
    bool closed_logged;
    /* lists */
    mqws_conn *prev, *next;  /* all connections */
    mqws_conn *flush_next;   /* flush list */
    mqws_conn *read_next;    /* read_again list */
    bool read_listed;
    size_t reserved_hdr;     /* frame header written by the last reserve */
    mqws_ws_decoder *trace_dec; /* -v: shadow decoder that reports frame headers */
    uint64_t trace_frame;    /* offset of the last frame traced */
    mqws_core_conn *core;    /* the core's handle, NULL once lost */
    bool core_blocked;
    bool queue_full_logged;
    uint64_t over_since_ms;  /* send queue above half of --max-queue since, 0: not */       /* reserve returned NULL: tell the core when drained */
    bool core_lost_now;      /* inside mqws_core_conn_lost: its DISCONNECT may still go out */
    bool lost_deferred;      /* close asked from a core callback: report the loss later */
    uint16_t close_code;     /* WebSocket close code sent (0: none) */
};

struct mqws_broker {
    mqws_broker_config cfg;
    mqws_poller *poller;
    mqws_listener listeners[MQWS_BROKER_MAX_LISTENERS];
    size_t num_listeners;
    struct ssl_ctx_st *ssl_ctx;
    mqws_conn *conns;
    size_t num_conns;
    mqws_conn *flush_list;
    uint64_t next_conn_id;
    uint64_t now_ms;          /* monotonic, updated once per loop turn */
    uint8_t *rbuf;            /* shared read buffer, MQWS_BROKER_READ_CHUNK */
    volatile int stop;
    mqws_core *core;
    bool in_core;             /* inside a core call: no re-entry from its callbacks */
    mqws_conn *dead;          /* closed, freed at the end of the loop turn */
    mqws_conn *read_again;    /* TLS plaintext buffered inside OpenSSL */
};

/** Monotonic milliseconds. */
uint64_t mqws_now_ms(void);

/* listen.c */
int mqws_listen_open(mqws_broker *b);            /* opens every cfg.listen; prints "listening" */
void mqws_listen_accept(mqws_broker *b, mqws_listener *l);
void mqws_listen_close(mqws_broker *b);

/* tls.c */
int mqws_tls_init(mqws_broker *b);               /* no-op without tls/wss listeners */
void mqws_tls_free(mqws_broker *b);
int mqws_tls_start(mqws_conn *c);                 /* SSL for an accepted socket */
/* one step of the TLS handshake: 1 done, 0 again later, -1 failed (reason set) */
int mqws_tls_handshake(mqws_conn *c);
/* the handshake waits for the socket to take its next flight */
bool mqws_tls_wants_write(const mqws_conn *c);
/* >0 bytes, 0 EOF, -1 would block, -2 error */
long mqws_tls_read(mqws_conn *c, void *buf, size_t len);
long mqws_tls_write(mqws_conn *c, const void *buf, size_t len);
void mqws_tls_shutdown(mqws_conn *c);
void mqws_tls_conn_free(mqws_conn *c);

/* conn.c */
mqws_conn *mqws_conn_new(mqws_broker *b, int fd, const mqws_listener *l,
                         const struct sockaddr_storage *peer);
void mqws_conn_on_event(mqws_conn *c, int mask);
void mqws_conn_read(mqws_conn *c);
void mqws_conn_tick(mqws_conn *c);                /* timers: handshake, ping, drain */
void mqws_conn_flush_all(mqws_broker *b);        /* beforesleep: one write per conn */
void mqws_conn_free(mqws_conn *c);
/** Starts the MQTT phase (after TLS and WebSocket handshakes). */
void mqws_conn_open_mqtt(mqws_conn *c);
/** Feeds MQTT-layer bytes (tcp/tls after TLS). 0, or -1 when the conn is closing. */
int mqws_conn_feed_mqtt(mqws_conn *c, uint8_t *data, size_t len);
/**
 * Reserves room for a packet of @p len bytes at the end of the send queue, behind
 * the frame header on ws/wss, and returns where to encode it (NULL: over the limit,
 * the connection is closing). Commit with mqws_conn_commit.
 */
uint8_t *mqws_conn_reserve(mqws_conn *c, size_t len);
void mqws_conn_commit(mqws_conn *c, size_t len);
/** Queues raw bytes (handshake response, control frames). -1 over the limit. */
int mqws_conn_send_raw(mqws_conn *c, const void *data, size_t len);
/**
 * Closes after flushing what is queued. @p ws_code: close frame sent first on
 * ws/wss (0: none). @p reason is logged (a static string).
 */
void mqws_conn_close(mqws_conn *c, uint16_t ws_code, const char *reason);
/** Closes at once, dropping what is queued. */
void mqws_conn_abort(mqws_conn *c, const char *reason);
/** Remembers the client identifier for log lines. */
void mqws_conn_set_client_id(mqws_conn *c, const void *id, size_t len);

/* ws.c */
/** Consumes handshake bytes already appended to c->head. */
void mqws_ws_handshake_step(mqws_conn *c);
/** Feeds WebSocket bytes (after the handshake). 0, or -1 when the conn is closing. */
int mqws_ws_feed(mqws_conn *c, uint8_t *data, size_t len);
void mqws_ws_send_ping(mqws_conn *c);

/* conn.c: calls into the core, never from inside one of its callbacks */
/** Hands one packet to the core. 0, or -1 when the connection is closing. */
int mqws_broker_core_packet(mqws_conn *c, const uint8_t *pkt, size_t len);
/** Tells the core the transport of @p c is gone (once; no-op without a core handle). */
void mqws_broker_core_lost(mqws_conn *c, mqws_err why);

#endif
