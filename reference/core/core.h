/*
 * core.h - the sans-IO core of mqws-broker: sessions, subscriptions, QoS state,
 * retained messages, wills and timers. No sockets, no clock reads, no globals.
 *
 * The shell (event loop, TCP/TLS/WebSocket, CLI) owns the transports. It tells
 * the core what happened, always with the current time in milliseconds of a
 * monotonic clock:
 *
 *   conn = mqws_core_conn_open(core, &ops, my_conn, "127.0.0.1:5555", "ws", now);
 *   for each whole MQTT packet the assembler/stream yields:
 *       mqws_core_conn_packet(conn, pkt, len, now);
 *   when a send buffer drained after ops.reserve returned NULL:
 *       mqws_core_conn_writable(conn, now);
 *   when the transport is gone (peer closed, read error, WebSocket close frame,
 *   transport-level protocol error, or after ops.close was asked for):
 *       mqws_core_conn_lost(conn, why, now);        -- exactly once; frees conn
 *   when the deadline returned by the last mqws_core_tick passes (or any time):
 *       next = mqws_core_tick(core, now);
 *
 * and the core answers through the transport operations of that connection:
 * reserve/commit put encoded MQTT packets into the connection's send buffer,
 * close asks the shell to flush and close the transport. The core never calls
 * back into itself from a callback; the shell must not call any mqws_core_*
 * function from inside a callback either.
 *
 * Memory: the core allocates (sessions, subscriptions, queued and retained
 * messages) but every count and byte total is bounded by mqws_core_config;
 * crossing a bound gives one log line and the protocol's wire reaction.
 * Nothing survives mqws_core_free or a process restart.
 *
 * Build: reference/core/part.mk makes build/libmqws-core.a (link it before
 * build/libmqws.a); include this header with -Ireference/core.
 *
 * Version: MQTT 3.1.1 (level 4) and 5.0 (level 5); the CONNECT packet fixes the
 * version of the connection.
 */
#ifndef MQWS_CORE_H
#define MQWS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqws/mqtt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqws_core mqws_core;
typedef struct mqws_core_conn mqws_core_conn;

/* WebSocket close codes the core asks for in mqws_core_transport.close (TCP/TLS: ignored). */
#define MQWS_CORE_CLOSE_NORMAL 1000u     /* DISCONNECT, takeover, refused CONNECT, shutdown */
#define MQWS_CORE_CLOSE_GOING_AWAY 1001u /* keepalive expired */
#define MQWS_CORE_CLOSE_PROTOCOL 1002u   /* MQTT protocol error / malformed packet */
#define MQWS_CORE_CLOSE_POLICY 1008u     /* slow consumer, limits */
#define MQWS_CORE_CLOSE_TOO_BIG 1009u    /* packet too large */

/* The core never asks for a tick sooner than this after the current one. */
#define MQWS_CORE_TICK_MIN_MS 100u

/**
 * Operations the shell provides per connection. @p user is the pointer given to
 * mqws_core_conn_open.
 */
typedef struct mqws_core_transport {
    /**
     * Room for @p len bytes of one MQTT packet at the end of the connection's send
     * buffer (the shell keeps headroom before it for a WebSocket frame header).
     * NULL when the per-connection send buffer limit would be exceeded: the core
     * then keeps QoS 1/2 PUBLISH packets queued in the session (sent again after
     * mqws_core_conn_writable), drops QoS 0 PUBLISH packets (counted, logged once
     * per episode), and closes the connection as a slow consumer
     * (MQWS_CORE_CLOSE_POLICY) when any other packet does not fit.
     */
    uint8_t *(*reserve)(void *user, size_t len);
    /** The @p len bytes (as reserved) are one whole packet: frame and send them. */
    void (*commit)(void *user, size_t len);
    /**
     * Flush what was committed, then close the transport (WebSocket: close frame
     * with @p ws_close_code, one of MQWS_CORE_CLOSE_*). @p reason is a short text
     * for the log. Called at most once per connection; the shell still calls
     * mqws_core_conn_lost once the transport is down (the handle stays valid until
     * then, and packets fed after close are ignored).
     */
    void (*close)(void *user, uint16_t ws_close_code, const char *reason);
} mqws_core_transport;

/**
 * Optional user name / password check, called for every CONNECT after the
 * protocol checks. Returns 0 to accept, or an MQTT 5.0 CONNACK reason code to
 * refuse: 0x86 (Bad User Name or Password) or 0x87 (Not authorized; also sent for
 * any other non-zero value); the core sends 3.1.1 return code 0x04 / 0x05 to
 * 3.1.1 clients.
 */
typedef uint8_t (*mqws_core_auth_fn)(void *user, mqws_str client_id, const mqws_str *username,
                                     const mqws_bytes *password);

/**
 * Log sink (core-wide, in the config rather than per connection): one line, no
 * newline, per event. Connection lines start with peer address, transport and
 * client id: "1.2.3.4:5678 ws client 'dev': keepalive expired (...)".
 */
typedef void (*mqws_core_log_fn)(void *user, const char *line);

/**
 * Limits and announced values. mqws_core_config_default fills every field with a
 * sane default; 0 in a count field means "the default", never "unlimited".
 */
typedef struct mqws_core_config {
    uint32_t max_connections;      /* connected clients; CONNECT beyond: 3.1.1 0x03, 5.0 0x97 */
    uint32_t max_sessions;         /* live + offline sessions; a new one beyond: 0x03 / 0x97 */
    uint16_t receive_maximum;      /* QoS 1/2 PUBLISH in flight from a client (announced, 5.0);
                                      exceeding it: DISCONNECT 0x93 */
    uint16_t max_inflight;         /* QoS 1/2 PUBLISH in flight to a client (also capped by the
                                      client's Receive Maximum) */
    uint32_t max_queued;           /* messages queued per session beyond the in-flight window
                                      (offline sessions included); overflow: newest dropped, logged */
    uint64_t max_queued_bytes;     /* payload + topic bytes queued per session, same reaction */
    uint64_t max_total_queued_bytes; /* the same over all sessions (a message queued for n
                                      sessions counts n times), same reaction */
    uint32_t max_packet_size;      /* largest packet accepted (announced, 5.0); the shell sizes
                                      its assembler buffer with it */
    uint16_t topic_alias_maximum;  /* client-to-server aliases (announced, 5.0); above: 0x94 */
    uint16_t keepalive_max;        /* seconds; a client asking more (or 0) gets this as Server
                                      Keep Alive (5.0); 3.1.1 clients keep their own value */
    uint32_t max_subscriptions;    /* per session; beyond: SUBACK 0x80 (3.1.1) / 0x97 (5.0) */
    uint32_t max_retained;         /* retained messages; a new topic beyond: not retained, logged */
    uint64_t max_retained_bytes;   /* payload + topic bytes of all retained messages */
    uint32_t max_session_expiry;   /* seconds; a longer 5.0 Session Expiry Interval is cut to it
                                      (and announced in CONNACK) */
    uint16_t connect_timeout;      /* seconds from conn_open to CONNECT */
    uint32_t max_client_id_len;    /* bytes; longer: CONNACK 0x02 / 0x85 */
    mqws_core_auth_fn auth;        /* NULL: everyone is accepted */
    void *auth_user;
    mqws_core_log_fn log;          /* NULL: no log */
    void *log_user;
    bool trace;                    /* also log one summary line per MQTT packet in and out */
    uint8_t hash_key[16];          /* key of the hash tables (SipHash): random bytes from the
                                      shell (getrandom), so clients cannot aim colliding client
                                      ids or topics at one bucket; all zero works, unkeyed */
} mqws_core_config;

/** Counters for logs, tests and benchmarks. */
typedef struct mqws_core_stats {
    uint32_t connections;          /* handles open */
    uint32_t clients;              /* connected (CONNECT accepted) */
    uint32_t sessions;             /* live + offline */
    uint32_t subscriptions;
    uint32_t retained;
    uint64_t retained_bytes;
    uint64_t publishes_in;
    uint64_t deliveries;           /* PUBLISH packets written to clients */
    uint64_t dropped;              /* messages dropped by a limit (queue, size, slow reader) */
    uint64_t queued_bytes;         /* bytes queued and in flight over all sessions */
} mqws_core_stats;

/** Fills @p cfg with the defaults (documented in docs/broker-core.md). */
void mqws_core_config_default(mqws_core_config *cfg);

/**
 * Creates a core. @p cfg is copied; zero count fields take their defaults.
 * @return NULL on allocation failure or when @p cfg is NULL.
 */
mqws_core *mqws_core_new(const mqws_core_config *cfg);

/**
 * Frees the core with every session, subscription and message. No callback is
 * made; connection handles still open become invalid (close their transports
 * yourself, or call mqws_core_shutdown first).
 */
void mqws_core_free(mqws_core *core);

/**
 * Server shutdown: 5.0 clients get DISCONNECT 0x8B (Server shutting down), every
 * connection gets ops->close(MQWS_CORE_CLOSE_GOING_AWAY). Wills are not sent
 * (the server, not the client, ends the connection). The shell then calls
 * mqws_core_conn_lost for each and mqws_core_free.
 */
void mqws_core_shutdown(mqws_core *core, uint64_t now_ms);

/**
 * A new transport connection (after the WebSocket handshake on ws/wss). @p ops is
 * copied; @p peer_addr ("1.2.3.4:5678", "[::1]:5678") and @p transport_name
 * ("tcp", "tls", "ws", "wss") are copied and used in log lines.
 * The client must send CONNECT first (anything else: closed, MQTT-3.1.0-1) and
 * within config.connect_timeout seconds (else closed by mqws_core_tick).
 * @return the handle, or NULL on allocation failure or a NULL argument.
 */
mqws_core_conn *mqws_core_conn_open(mqws_core *core, const mqws_core_transport *ops, void *user,
                                    const char *peer_addr, const char *transport_name,
                                    uint64_t now_ms);

/**
 * Feeds one whole MQTT packet (fixed header included), as produced by
 * mqws_assembler_feed / mqws_stream_feed. The bytes are only read during the
 * call (the core copies what it keeps).
 * @return MQWS_OK; any other value means ops->close has been called (or the
 *         connection was already closing): decode errors are those of
 *         mqws_mqtt_decode, protocol-state and refused-CONNECT errors are
 *         logged with their reason; MQWS_ERR_ARG also when @p conn is NULL or
 *         already closing (the packet is ignored). MQWS_OK does not exclude a
 *         close (after the client's DISCONNECT, or a slow consumer's ack).
 */
mqws_err mqws_core_conn_packet(mqws_core_conn *conn, const uint8_t *pkt, size_t len,
                               uint64_t now_ms);

/** The send buffer has room again after ops->reserve returned NULL: resume sending. */
void mqws_core_conn_writable(mqws_core_conn *conn, uint64_t now_ms);

/**
 * The transport is gone or going (peer closed, read/TLS error, WebSocket close
 * frame, a transport-level error such as MQWS_ERR_STREAM_TEXT_FRAME or
 * MQWS_ERR_MQTT_TOO_LARGE from the assembler, or after ops->close). Call exactly
 * once per handle; @p conn is freed. @p why is MQWS_OK for an orderly close.
 * For an MQTT_* error or MQWS_ERR_WS_TOO_BIG / STREAM_TEXT_FRAME on a 5.0
 * connection the core first writes a DISCONNECT with mqws_err_mqtt_reason(why, 5)
 * (through reserve/commit; it never calls ops->close here). Unless the client
 * sent a normal DISCONNECT (or the core already handled the end), the Will
 * Message is published now or after its Will Delay Interval, and a session with
 * expiry 0 ends.
 */
void mqws_core_conn_lost(mqws_core_conn *conn, mqws_err why, uint64_t now_ms);

/**
 * Fires due timers: CONNECT timeout, keepalive (1.5 x Keep Alive without a packet
 * from the client: 5.0 DISCONNECT 0x8D, will sent, connection closed), delayed
 * wills, session expiry. (Queued messages past their Message Expiry Interval are
 * dropped when their turn to be sent comes.) One pass over connections and
 * sessions: O(connections + sessions), hence the MQWS_CORE_TICK_MIN_MS floor.
 * @return the next time (ms) tick wants to run, never sooner than
 *         now_ms + MQWS_CORE_TICK_MIN_MS; UINT64_MAX when nothing is pending.
 *         Any other core call may bring the next deadline forward: call
 *         mqws_core_next_deadline after it.
 */
uint64_t mqws_core_tick(mqws_core *core, uint64_t now_ms);

/** The deadline tick would return now (UINT64_MAX: none), without firing anything. */
uint64_t mqws_core_next_deadline(mqws_core *core, uint64_t now_ms);

/** Client Identifier of the connection ("" before CONNECT), NUL-terminated. */
const char *mqws_core_conn_client_id(const mqws_core_conn *conn);

/** MQTT version of the connection: 4, 5, or 0 before CONNECT. */
int mqws_core_conn_version(const mqws_core_conn *conn);

/** Copies the counters into @p out. */
void mqws_core_get_stats(const mqws_core *core, mqws_core_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* MQWS_CORE_H */
