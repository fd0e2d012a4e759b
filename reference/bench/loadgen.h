/*
 * loadgen.h - mqws-loadgen: an MQTT over WebSocket load generator on libmqws.
 *
 * One thread, one epoll loop, non-blocking sockets. Every byte on the wire goes
 * through libmqws: mqws_hs_client_* for the opening handshake, mqws_ws_encode_header
 * and mqws_ws_mask for the (masked) client frames, mqws_stream in the client role
 * for the broker's frames, mqws_mqtt_encode / mqws_mqtt_decode for MQTT.
 *
 * Files: loadgen.c (command line, phases, report), loadgen_conn.c (one
 * connection: handshake, CONNECT, SUBSCRIBE, publish, receive), loadgen_stats.c
 * (latency histogram, /proc readings, clocks).
 */
#ifndef MQWS_LOADGEN_H
#define MQWS_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mqws/mqws.h"

/* Payload layout written by publishers (little endian): sequence number,
 * send time (CLOCK_MONOTONIC ns; the scheduled time in rate mode), publisher
 * index, a magic word. The rest of the payload is filler. */
#define LG_PAYLOAD_HEADER 24u
#define LG_PAYLOAD_MAGIC 0x6d71776cu /* "lwqm" */

typedef enum lg_mode { LG_MODE_PAIRS, LG_MODE_FANOUT, LG_MODE_IDLE } lg_mode;

typedef struct lg_config {
    /* target */
    char host[256];
    char port[8];
    char path[256];
    char host_header[300]; /* host:port as sent in Host */
    /* workload */
    lg_mode mode;
    unsigned clients;    /* pairs: N publishers + N subscribers; fanout: 1 + N; idle: N */
    int qos;             /* 0 or 1 */
    size_t size;         /* payload bytes, >= LG_PAYLOAD_HEADER */
    double rate;         /* total publishes/s over all publishers; 0: closed loop */
    unsigned window;     /* per publisher: messages published but not yet delivered */
    int mqtt_version;    /* 4 or 5 */
    unsigned keepalive;  /* MQTT keep alive (s); 0: none */
    /* bounds */
    double warmup;       /* s of traffic before the measurement */
    double seconds;      /* measurement length (idle: hold time before the RSS reading) */
    uint64_t count;      /* stop after this many measured publishes (0: no bound) */
    double drain;        /* s to wait for outstanding deliveries after publishing stops */
    double setup_timeout;
    unsigned connect_concurrency; /* handshakes in progress at once */
    /* measurement */
    int broker_pid;      /* 0: no broker readings */
    const char *label;   /* copied into the JSON line */
    bool json_only;      /* no human line */
    bool quiet;          /* no progress lines */
} lg_config;

typedef enum lg_role { LG_ROLE_PUB, LG_ROLE_SUB, LG_ROLE_IDLE } lg_role;

typedef enum lg_state {
    LG_ST_NEW,       /* not started */
    LG_ST_TCP,       /* connect() in progress */
    LG_ST_WS,        /* request sent, waiting for 101 */
    LG_ST_CONNACK,   /* CONNECT sent */
    LG_ST_SUBACK,    /* SUBSCRIBE sent */
    LG_ST_READY,
    LG_ST_FAILED
} lg_state;

struct lg_pub;

typedef struct lg_conn {
    int fd;
    unsigned idx;
    lg_role role;
    lg_state state;
    bool out_armed;  /* EPOLLOUT registered (a write hit EAGAIN) */
    bool dirty;      /* on the flush list */
    uint8_t *rbuf;
    size_t rcap, rlen; /* rlen: handshake bytes gathered (0 afterwards) */
    uint8_t *wbuf;
    size_t wcap, woff, wlen;
    uint8_t *pkt;    /* assembler buffer: its size is the largest packet accepted */
    size_t pkt_cap;
    mqws_stream stream;
    mqws_hs_response *resp; /* during the handshake only */
    char key[MQWS_HS_KEY_SIZE];
    uint64_t last_send_ns;
    char topic[64];
    size_t topic_len;
    struct lg_pub *pub;     /* publishers: their state */
    struct lg_pub *src;     /* subscribers: the publisher they hear */
    uint64_t next_expected; /* subscribers: next sequence number from src */
    uint64_t received;      /* subscribers: in-order or ahead deliveries (for loss) */
    uint64_t duplicates;    /* subscribers: sequence numbers seen before */
    struct lg_conn *next_dirty;
} lg_conn;

typedef struct lg_pub {
    lg_conn *conn;
    unsigned index;
    unsigned nsubs;       /* subscribers expected to receive each message */
    uint64_t next_seq;    /* messages published */
    uint64_t seq0;        /* first sequence number published in the measurement */
    uint64_t low;         /* oldest sequence number not yet seen by every subscriber */
    uint32_t *remaining;  /* ring [window]: subscribers yet to see sequence number k */
    uint16_t next_pid;
    uint32_t unacked;     /* QoS 1 PUBLISH without PUBACK */
    uint64_t next_due_ns; /* rate mode: schedule */
    uint64_t interval_ns;
    bool listed;          /* on the ready list */
    struct lg_pub *next_ready;
    uint8_t *payload;     /* template, header rewritten per message */
    mqws_packet tmpl;     /* PUBLISH template */
    size_t pkt_size;      /* encoded PUBLISH size (constant per publisher) */
} lg_pub;

/* Latency histogram (ns): log-linear buckets, 256 per power of two (<= 0.4 % wide). */
#define LG_HIST_BUCKETS (256u * 58u)
typedef struct lg_hist {
    uint64_t n[LG_HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} lg_hist;

void lg_hist_add(lg_hist *h, uint64_t v);
uint64_t lg_hist_quantile(const lg_hist *h, double q);

uint64_t lg_now_ns(void);
/* VmRSS of @p pid in kB, -1 when unreadable. */
long lg_proc_rss_kb(int pid);
/* utime + stime of @p pid in seconds, -1 when unreadable. */
double lg_proc_cpu_s(int pid);
/* user + system CPU of this process, seconds. */
double lg_self_cpu_s(void);

/* The run, shared by the loop and the connection code. */
typedef struct lg_run {
    const lg_config *cfg;
    int epfd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    lg_conn *conns;
    unsigned nconns;
    lg_pub *pubs;
    unsigned npubs;
    lg_conn *dirty_head;
    lg_pub *ready_head;
    bool publishing;
    bool measuring;
    uint64_t rng;
    /* counters */
    unsigned started, ready, in_setup;
    uint64_t published_total, published_measured;
    uint64_t delivered_total, delivered_measured;
    uint64_t future_seq;   /* sequence numbers never published: corrupt deliveries */
    uint64_t window_full;  /* rate mode: a due publish found its window full */
    uint64_t late_resets;  /* rate mode: schedule dropped after falling 1 s behind */
    lg_hist hist;
    char error[512];       /* first fatal error */
} lg_run;

/* loadgen_conn.c */
int lg_conn_start(lg_run *run, lg_conn *c);
void lg_conn_event(lg_run *run, lg_conn *c, uint32_t events);
void lg_conn_flush(lg_run *run, lg_conn *c);
/* Publishes one message on @p p; false when the send buffer has no room. */
bool lg_publish(lg_run *run, lg_pub *p, uint64_t stamp_ns);
bool lg_send_pingreq(lg_run *run, lg_conn *c);
void lg_fail(lg_run *run, lg_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void lg_mark_ready(lg_run *run, lg_pub *p);
bool lg_pub_can_publish(const lg_run *run, const lg_pub *p);

#endif /* MQWS_LOADGEN_H */
