/*
 * mqws-client - a command-line MQTT publisher/subscriber over tcp, tls, ws and
 * wss, built on libmqws (handshake, frame, stream and MQTT codecs) and OpenSSL.
 *
 *   mqws-client pub -L ws://127.0.0.1:8080/mqtt -t a/b -m hello -q 1
 *   mqws-client sub -L wss://host/mqtt -t 'a/#' -C 10 --cafile ca.pem
 *
 * Blocking sockets and poll(): one connection, one thread. Outgoing MQTT packets
 * are queued, then framed when the client is about to wait for an answer, so
 * --packets-per-frame and --frame-split can shape the WebSocket messages a
 * broker has to reassemble. Run with --help for options and exit codes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mqws/mqws.h"

/* Exit codes (documented in --help and the README). */
enum {
    EXIT_OK = 0,
    EXIT_PROTOCOL = 1, /* refused or failed at the MQTT level */
    EXIT_USAGE = 2,
    EXIT_CONNECT = 3, /* TCP, TLS, HTTP/WebSocket handshake or lost connection */
    EXIT_TIMEOUT = 4  /* -W expired */
};

#define MAX_TOPICS 64
#define MAX_SUBPROTOCOLS 16
#define DEFAULT_MAX_PACKET (16u * 1024u * 1024u)
#define RX_CHUNK 65536u

typedef enum transport { T_TCP, T_TLS, T_WS, T_WSS } transport;

typedef struct options {
    bool is_pub;
    /* URL */
    const char *url;
    transport tr;
    char host[256];
    char port[16];
    char path[1024];
    /* MQTT */
    const char *topics[MAX_TOPICS];
    size_t num_topics;
    int qos;
    bool retain;
    mqws_mqtt_version version;
    const char *client_id;
    char client_id_buf[64];
    const char *username, *password;
    const char *will_topic, *will_payload;
    int will_qos;
    bool will_retain;
    int keepalive;
    bool clean;              /* -c clears it */
    long session_expiry;     /* -x, 5.0; -1: not given */
    /* pub message sources */
    const char *message;
    bool null_message, stdin_lines, stdin_whole;
    const char *message_file;
    long repeat;
    long max_inflight;
    /* sub */
    long count;              /* -C, 0: forever */
    long timeout_s;          /* -W, 0: none */
    bool print_topic;
    bool no_retained;        /* -R */
    bool no_local;           /* 5.0 --nl */
    /* TLS */
    const char *cafile, *capath, *certfile, *keyfile;
    bool insecure;
    /* WebSocket */
    const char *subprotocols[MAX_SUBPROTOCOLS];
    size_t num_subprotocols;
    char subprotocol_buf[512];
    const char *origin;
    size_t frame_split;      /* 0: one frame per message */
    size_t packets_per_frame;
    /* misc */
    bool verbose;
    size_t max_packet;
} options;

typedef struct growbuf {
    uint8_t *ptr;
    size_t len, cap;
} growbuf;

typedef struct client {
    options *o;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    bool ws;
    /* receiving */
    uint8_t *rx;
    uint8_t *pkt_buf;
    mqws_stream stream;
    mqws_assembler assembler;
    mqws_ws_decoder trace_dec; /* -v: a second decoder on a copy, for frame headers */
    uint8_t *trace_copy;
    uint64_t trace_frame;      /* offset of the last frame traced */
    bool trace_frame_valid;
    bool ws_closed;            /* close frame received */
    /* sending: queued MQTT bytes and packet boundaries */
    growbuf out;
    size_t *bounds;
    size_t num_bounds, cap_bounds;
    growbuf wire;
    struct timespec last_send;
    struct timespec ping_sent;
    bool ping_outstanding;
    /* MQTT state */
    bool connected;            /* CONNACK 0 received */
    uint16_t next_id;
    uint32_t server_receive_max;
    uint8_t out_state[65536];  /* outgoing id: 0 free, 1 wait PUBACK, 2 wait PUBREC, 3 wait PUBCOMP */
    uint8_t in_qos2[65536 / 8];/* incoming QoS 2 ids between PUBREC and PUBREL */
    size_t in_qos2_count;
    size_t inflight;
    long received;             /* sub: messages printed */
    uint16_t sub_id;
    int failures;              /* pub: PUBACK/PUBREC error codes */
    int exit_code;             /* set by a fatal event */
    bool done;
} client;

static const char *prog = "mqws-client";

static void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static void trace(const client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(const client *c, const char *fmt, ...) {
    if (!c->o->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die(EXIT_CONNECT, "out of memory (%zu bytes)", n);
    return q;
}

static void gb_reserve(growbuf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->ptr = xrealloc(b->ptr, cap);
    b->cap = cap;
}

static double elapsed_s(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------------ usage */

static void usage(FILE *f) {
    fprintf(f,
"usage: mqws-client pub -L URL -t TOPIC (-m MSG | -n | -f FILE | -l | -s) [options]\n"
"       mqws-client sub -L URL -t FILTER [-t FILTER ...] [options]\n"
"\n"
"MQTT 3.1.1 / 5.0 client over tcp, tls, WebSocket and secure WebSocket.\n"
"\n"
"Connection:\n"
"  -L, --url URL          mqtt://host[:port]  (tcp, default port 1883)\n"
"                         mqtts://host[:port] (TLS, 8883)\n"
"                         ws://host[:port][/path]  (WebSocket, 80, path /mqtt if none)\n"
"                         wss://host[:port][/path] (WebSocket over TLS, 443)\n"
"                         default: mqtt://127.0.0.1:1883\n"
"  -V, --protocol-version 3.1.1|311|mqttv311|5|mqttv5   (default 3.1.1)\n"
"  -i, --id ID            client identifier (default mqws-client-PID)\n"
"  -u, --username USER    -P, --pw PASS\n"
"  -k, --keepalive SEC    keep alive (default 60, 0 disables)\n"
"  -c, --disable-clean-session  keep the session (5.0: session expiry 'never' unless -x)\n"
"  -x, --session-expiry SEC     5.0 Session Expiry Interval\n"
"  --will-topic T --will-payload P --will-qos 0|1|2 --will-retain\n"
"\n"
"TLS (mqtts://, wss://):\n"
"  --cafile FILE, --capath DIR  trust these CAs (default: the system's)\n"
"  --cert FILE --key FILE       client certificate\n"
"  --insecure                   do not verify the server certificate or its name\n"
"\n"
"WebSocket (ws://, wss://):\n"
"  --subprotocol LIST     Sec-WebSocket-Protocol values offered, comma separated\n"
"                         (default mqtt; e.g. 'mqtt,mqttv3.1' or 'mqttv3.1')\n"
"  --origin ORIGIN        send an Origin header\n"
"  --frame-split N        cut each outgoing WebSocket message into frames of at most N\n"
"                         payload bytes (a binary frame, then continuation frames)\n"
"  --packets-per-frame N  put up to N queued MQTT packets in one message; with N > 1\n"
"                         packets after CONNECT are sent without waiting for CONNACK\n"
"\n"
"Publishing (pub):\n"
"  -t, --topic TOPIC      -q, --qos 0|1|2      -r, --retain\n"
"  -m, --message MSG      -n, --null-message   -f, --file FILE (whole file)\n"
"  -l, --stdin-line       one message per line of stdin\n"
"  -s, --stdin-file       all of stdin as one message\n"
"  --repeat N             publish the message(s) N times\n"
"  --max-inflight N       QoS 1/2 messages awaiting acknowledgement (default 20)\n"
"\n"
"Subscribing (sub):\n"
"  -t, --topic FILTER     repeatable          -q, --qos 0|1|2 (requested)\n"
"  -C, --count N          exit after N messages\n"
"  -W, --timeout SEC      exit with code 4 when SEC seconds pass before that\n"
"  --print-topic          print 'topic payload' (mosquitto_sub -v); payload alone otherwise\n"
"  -R, --no-retained      do not print retained (stale) messages\n"
"  --nl                   5.0 No Local\n"
"\n"
"Other:\n"
"  -v, --verbose          wire trace on stderr: handshake headers, frame headers,\n"
"                         MQTT packet summaries ('>' sent, '<' received)\n"
"  --max-packet-size N    largest packet accepted (default 16 MiB; announced in 5.0)\n"
"  -h, --help\n"
"\n"
"Exit codes:\n"
"  0  success\n"
"  1  MQTT refusal or protocol failure: CONNACK refused (code printed), SUBACK\n"
"     failure, PUBACK/PUBREC error code, DISCONNECT from the server, malformed packet\n"
"  2  usage error\n"
"  3  connection failure, naming the stage: name resolution, TCP connect, TLS\n"
"     handshake or certificate, HTTP/WebSocket handshake (status or header), or\n"
"     connection lost / closed by the server\n"
"  4  sub: -W timeout expired before -C messages arrived\n");
}

/* ------------------------------------------------------------------ options */

static long parse_long(const char *s, const char *what, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi)
        die(EXIT_USAGE, "%s: '%s' is not a number in %ld..%ld", what, s, lo, hi);
    return v;
}

static void parse_url(options *o) {
    const char *u = o->url;
    const char *rest;
    const char *def_port;
    if (strncmp(u, "mqtt://", 7) == 0 || strncmp(u, "tcp://", 6) == 0) {
        o->tr = T_TCP;
        def_port = "1883";
    } else if (strncmp(u, "mqtts://", 8) == 0 || strncmp(u, "tls://", 6) == 0 ||
               strncmp(u, "ssl://", 6) == 0) {
        o->tr = T_TLS;
        def_port = "8883";
    } else if (strncmp(u, "wss://", 6) == 0) {
        o->tr = T_WSS;
        def_port = "443";
    } else if (strncmp(u, "ws://", 5) == 0) {
        o->tr = T_WS;
        def_port = "80";
    } else {
        die(EXIT_USAGE, "URL '%s': scheme must be mqtt://, mqtts://, ws:// or wss://", u);
    }
    rest = strstr(u, "://") + 3;
    const char *slash = strchr(rest, '/');
    size_t auth_len = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *at = memchr(rest, '@', auth_len);
    if (at) die(EXIT_USAGE, "URL '%s': give credentials with -u/-P, not in the URL", u);
    const char *host = rest;
    size_t host_len;
    const char *port = NULL;
    size_t port_len = 0;
    if (*host == '[') {
        const char *close = memchr(host, ']', auth_len);
        if (!close) die(EXIT_USAGE, "URL '%s': unterminated IPv6 literal", u);
        host_len = (size_t)(close - host - 1);
        host++;
        if (close + 1 < rest + auth_len) {
            if (close[1] != ':') die(EXIT_USAGE, "URL '%s': junk after ']'", u);
            port = close + 2;
            port_len = (size_t)(rest + auth_len - port);
        }
    } else {
        const char *colon = memchr(host, ':', auth_len);
        host_len = colon ? (size_t)(colon - host) : auth_len;
        if (colon) {
            port = colon + 1;
            port_len = (size_t)(rest + auth_len - port);
        }
    }
    if (host_len == 0 || host_len >= sizeof o->host) die(EXIT_USAGE, "URL '%s': bad host", u);
    memcpy(o->host, host, host_len);
    o->host[host_len] = '\0';
    if (port) {
        if (port_len == 0 || port_len >= sizeof o->port) die(EXIT_USAGE, "URL '%s': bad port", u);
        memcpy(o->port, port, port_len);
        o->port[port_len] = '\0';
        parse_long(o->port, "URL port", 1, 65535);
    } else {
        snprintf(o->port, sizeof o->port, "%s", def_port);
    }
    if (slash && (o->tr == T_TCP || o->tr == T_TLS) && strcmp(slash, "/") != 0)
        die(EXIT_USAGE, "URL '%s': a path only makes sense with ws:// or wss://", u);
    const char *path = slash ? slash : "/mqtt";
    if (strlen(path) >= sizeof o->path) die(EXIT_USAGE, "URL '%s': path too long", u);
    snprintf(o->path, sizeof o->path, "%s", path);
}

static void parse_subprotocols(options *o, const char *list) {
    if (strlen(list) >= sizeof o->subprotocol_buf) die(EXIT_USAGE, "--subprotocol: list too long");
    snprintf(o->subprotocol_buf, sizeof o->subprotocol_buf, "%s", list);
    o->num_subprotocols = 0;
    char *save = NULL;
    for (char *tok = strtok_r(o->subprotocol_buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        if (o->num_subprotocols == MAX_SUBPROTOCOLS) die(EXIT_USAGE, "--subprotocol: too many values");
        o->subprotocols[o->num_subprotocols++] = tok;
    }
}

enum {
    OPT_WILL_TOPIC = 1000, OPT_WILL_PAYLOAD, OPT_WILL_QOS, OPT_WILL_RETAIN, OPT_CAFILE,
    OPT_CAPATH, OPT_CERT, OPT_KEY, OPT_INSECURE, OPT_SUBPROTOCOL, OPT_ORIGIN, OPT_FRAME_SPLIT,
    OPT_PPF, OPT_REPEAT, OPT_MAX_INFLIGHT, OPT_PRINT_TOPIC, OPT_NL, OPT_MAX_PACKET
};

static void parse_options(options *o, int argc, char **argv) {
    static const struct option longs[] = {
        {"url", required_argument, NULL, 'L'},
        {"protocol-version", required_argument, NULL, 'V'},
        {"id", required_argument, NULL, 'i'},
        {"username", required_argument, NULL, 'u'},
        {"pw", required_argument, NULL, 'P'},
        {"keepalive", required_argument, NULL, 'k'},
        {"disable-clean-session", no_argument, NULL, 'c'},
        {"session-expiry", required_argument, NULL, 'x'},
        {"topic", required_argument, NULL, 't'},
        {"qos", required_argument, NULL, 'q'},
        {"retain", no_argument, NULL, 'r'},
        {"message", required_argument, NULL, 'm'},
        {"null-message", no_argument, NULL, 'n'},
        {"file", required_argument, NULL, 'f'},
        {"stdin-line", no_argument, NULL, 'l'},
        {"stdin-file", no_argument, NULL, 's'},
        {"count", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 'W'},
        {"no-retained", no_argument, NULL, 'R'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"will-topic", required_argument, NULL, OPT_WILL_TOPIC},
        {"will-payload", required_argument, NULL, OPT_WILL_PAYLOAD},
        {"will-qos", required_argument, NULL, OPT_WILL_QOS},
        {"will-retain", no_argument, NULL, OPT_WILL_RETAIN},
        {"cafile", required_argument, NULL, OPT_CAFILE},
        {"capath", required_argument, NULL, OPT_CAPATH},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"subprotocol", required_argument, NULL, OPT_SUBPROTOCOL},
        {"origin", required_argument, NULL, OPT_ORIGIN},
        {"frame-split", required_argument, NULL, OPT_FRAME_SPLIT},
        {"packets-per-frame", required_argument, NULL, OPT_PPF},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
        {"print-topic", no_argument, NULL, OPT_PRINT_TOPIC},
        {"nl", no_argument, NULL, OPT_NL},
        {"max-packet-size", required_argument, NULL, OPT_MAX_PACKET},
        {NULL, 0, NULL, 0}};

    memset(o, 0, sizeof *o);
    o->url = "mqtt://127.0.0.1:1883";
    o->version = MQWS_MQTT_V311;
    o->keepalive = 60;
    o->clean = true;
    o->session_expiry = -1;
    o->repeat = 1;
    o->max_inflight = 20;
    o->packets_per_frame = 1;
    o->max_packet = DEFAULT_MAX_PACKET;
    parse_subprotocols(o, "mqtt");

    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        exit(EXIT_OK);
    }
    if (argc < 2 || (strcmp(argv[1], "pub") != 0 && strcmp(argv[1], "sub") != 0)) {
        fprintf(stderr, "usage: mqws-client pub|sub -L URL -t TOPIC [options]   (--help: all options)\n");
        die(EXIT_USAGE, "first argument must be 'pub' or 'sub'");
    }
    o->is_pub = strcmp(argv[1], "pub") == 0;
    int will_qos_given = 0;
    int opt;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "L:V:i:u:P:k:cx:t:q:rm:nf:lsC:W:Rvh", longs, NULL)) != -1) {
        switch (opt) {
        case 'L': o->url = optarg; break;
        case 'V':
            if (!strcmp(optarg, "5") || !strcmp(optarg, "mqttv5") || !strcmp(optarg, "5.0"))
                o->version = MQWS_MQTT_V5;
            else if (!strcmp(optarg, "3.1.1") || !strcmp(optarg, "mqttv311") || !strcmp(optarg, "311") ||
                     !strcmp(optarg, "4"))
                o->version = MQWS_MQTT_V311;
            else
                die(EXIT_USAGE, "-V: '%s' is not 3.1.1 or 5", optarg);
            break;
        case 'i': o->client_id = optarg; break;
        case 'u': o->username = optarg; break;
        case 'P': o->password = optarg; break;
        case 'k': o->keepalive = (int)parse_long(optarg, "-k", 0, 65535); break;
        case 'c': o->clean = false; break;
        case 'x': o->session_expiry = parse_long(optarg, "-x", 0, 4294967295L); break;
        case 't':
            if (o->num_topics == MAX_TOPICS) die(EXIT_USAGE, "-t: at most %d topics", MAX_TOPICS);
            o->topics[o->num_topics++] = optarg;
            break;
        case 'q': o->qos = (int)parse_long(optarg, "-q", 0, 2); break;
        case 'r': o->retain = true; break;
        case 'm': o->message = optarg; break;
        case 'n': o->null_message = true; break;
        case 'f': o->message_file = optarg; break;
        case 'l': o->stdin_lines = true; break;
        case 's': o->stdin_whole = true; break;
        case 'C': o->count = parse_long(optarg, "-C", 1, 1000000000L); break;
        case 'W': o->timeout_s = parse_long(optarg, "-W", 1, 86400L * 365); break;
        case 'R': o->no_retained = true; break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout); exit(EXIT_OK);
        case OPT_WILL_TOPIC: o->will_topic = optarg; break;
        case OPT_WILL_PAYLOAD: o->will_payload = optarg; break;
        case OPT_WILL_QOS: o->will_qos = (int)parse_long(optarg, "--will-qos", 0, 2); will_qos_given = 1; break;
        case OPT_WILL_RETAIN: o->will_retain = true; break;
        case OPT_CAFILE: o->cafile = optarg; break;
        case OPT_CAPATH: o->capath = optarg; break;
        case OPT_CERT: o->certfile = optarg; break;
        case OPT_KEY: o->keyfile = optarg; break;
        case OPT_INSECURE: o->insecure = true; break;
        case OPT_SUBPROTOCOL: parse_subprotocols(o, optarg); break;
        case OPT_ORIGIN: o->origin = optarg; break;
        case OPT_FRAME_SPLIT: o->frame_split = (size_t)parse_long(optarg, "--frame-split", 1, 1L << 30); break;
        case OPT_PPF: o->packets_per_frame = (size_t)parse_long(optarg, "--packets-per-frame", 1, 65535); break;
        case OPT_REPEAT: o->repeat = parse_long(optarg, "--repeat", 1, 100000000L); break;
        case OPT_MAX_INFLIGHT: o->max_inflight = parse_long(optarg, "--max-inflight", 1, 65535); break;
        case OPT_PRINT_TOPIC: o->print_topic = true; break;
        case OPT_NL: o->no_local = true; break;
        case OPT_MAX_PACKET: o->max_packet = (size_t)parse_long(optarg, "--max-packet-size", 64, 268435460L); break;
        default: die(EXIT_USAGE, "see '%s --help'", prog);
        }
    }
    if (optind < argc) die(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    parse_url(o);
    bool is_ws = o->tr == T_WS || o->tr == T_WSS;
    if (!is_ws && (o->frame_split || o->packets_per_frame > 1 || o->origin))
        die(EXIT_USAGE, "--frame-split, --packets-per-frame and --origin need a ws:// or wss:// URL");
    if (o->num_topics == 0) die(EXIT_USAGE, "-t TOPIC is required");
    if (o->is_pub) {
        if (o->num_topics > 1) die(EXIT_USAGE, "pub takes one -t");
        int sources = !!o->message + o->null_message + !!o->message_file + o->stdin_lines + o->stdin_whole;
        if (sources != 1) die(EXIT_USAGE, "pub needs exactly one of -m, -n, -f, -l, -s");
        mqws_err r = mqws_mqtt_validate_topic_name(mqws_str_c(o->topics[0]), false);
        if (r != MQWS_OK) die(EXIT_USAGE, "-t '%s': %s", o->topics[0], mqws_strerror(r));
    } else {
        for (size_t i = 0; i < o->num_topics; i++) {
            mqws_err r = mqws_mqtt_validate_topic_filter(mqws_str_c(o->topics[i]), o->version);
            if (r != MQWS_OK) die(EXIT_USAGE, "-t '%s': %s", o->topics[i], mqws_strerror(r));
        }
    }
    if (o->will_topic) {
        mqws_err r = mqws_mqtt_validate_topic_name(mqws_str_c(o->will_topic), false);
        if (r != MQWS_OK) die(EXIT_USAGE, "--will-topic '%s': %s", o->will_topic, mqws_strerror(r));
    } else if (o->will_payload || will_qos_given || o->will_retain) {
        die(EXIT_USAGE, "--will-payload/--will-qos/--will-retain need --will-topic");
    }
    if (o->password && !o->username && o->version == MQWS_MQTT_V311)
        die(EXIT_USAGE, "-P needs -u in MQTT 3.1.1");
    if (o->session_expiry >= 0 && o->version != MQWS_MQTT_V5) die(EXIT_USAGE, "-x needs -V 5");
    if (o->no_local && o->version != MQWS_MQTT_V5) die(EXIT_USAGE, "--nl needs -V 5");
    if ((o->certfile == NULL) != (o->keyfile == NULL)) die(EXIT_USAGE, "--cert and --key go together");
    if (!o->client_id) {
        snprintf(o->client_id_buf, sizeof o->client_id_buf, "mqws-client-%ld", (long)getpid());
        o->client_id = o->client_id_buf;
    }
    if (!o->clean && o->client_id[0] == '\0')
        die(EXIT_USAGE, "-c needs a client id (-i)");
}

/* ------------------------------------------------------------------ transport */

static const char *ssl_error_text(void) {
    static char buf[256];
    unsigned long e = ERR_get_error();
    if (!e) return "no detail";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

static void net_connect(client *c) {
    options *o = c->o;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    int gai = getaddrinfo(o->host, o->port, &hints, &res);
    if (gai != 0) die(EXIT_CONNECT, "resolving '%s': %s", o->host, gai_strerror(gai));
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->fd = fd;
            break;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0) die(EXIT_CONNECT, "tcp connect to %s port %s failed: %s", o->host, o->port, strerror(err));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    trace(c, "* tcp connected to %s port %s", o->host, o->port);

    if (o->tr != T_TLS && o->tr != T_WSS) return;
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) die(EXIT_CONNECT, "tls: %s", ssl_error_text());
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (o->cafile || o->capath) {
        if (SSL_CTX_load_verify_locations(c->ctx, o->cafile, o->capath) != 1)
            die(EXIT_CONNECT, "tls: cannot load CA from %s: %s", o->cafile ? o->cafile : o->capath,
                ssl_error_text());
    } else {
        SSL_CTX_set_default_verify_paths(c->ctx);
    }
    if (o->certfile) {
        if (SSL_CTX_use_certificate_chain_file(c->ctx, o->certfile) != 1)
            die(EXIT_CONNECT, "tls: cannot load certificate %s: %s", o->certfile, ssl_error_text());
        if (SSL_CTX_use_PrivateKey_file(c->ctx, o->keyfile, SSL_FILETYPE_PEM) != 1)
            die(EXIT_CONNECT, "tls: cannot load key %s: %s", o->keyfile, ssl_error_text());
    }
    SSL_CTX_set_verify(c->ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl) die(EXIT_CONNECT, "tls: %s", ssl_error_text());
    SSL_set_fd(c->ssl, c->fd);
    struct in6_addr a6;
    struct in_addr a4;
    bool is_ip = inet_pton(AF_INET, o->host, &a4) == 1 || inet_pton(AF_INET6, o->host, &a6) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(c->ssl, o->host);
    if (!o->insecure) {
        X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(param, o->host);
        else
            X509_VERIFY_PARAM_set1_host(param, o->host, 0);
    }
    if (SSL_connect(c->ssl) != 1) {
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK)
            die(EXIT_CONNECT, "tls handshake with %s failed: certificate: %s%s", o->host,
                X509_verify_cert_error_string(vr),
                o->cafile ? "" : " (give the CA with --cafile, or --insecure)");
        die(EXIT_CONNECT, "tls handshake with %s failed: %s", o->host, ssl_error_text());
    }
    trace(c, "* tls %s %s, certificate %s", SSL_get_version(c->ssl), SSL_get_cipher(c->ssl),
          o->insecure ? "not verified (--insecure)" : "verified");
}

static void net_write(client *c, const uint8_t *buf, size_t len) {
    while (len > 0) {
        ssize_t n;
        if (c->ssl) {
            int w = SSL_write(c->ssl, buf, (int)(len > 1u << 30 ? 1u << 30 : len));
            if (w <= 0) die(EXIT_CONNECT, "connection lost while sending (tls: %s)", ssl_error_text());
            n = w;
        } else {
            n = send(c->fd, buf, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                die(EXIT_CONNECT, "connection lost while sending: %s", strerror(errno));
            }
        }
        buf += n;
        len -= (size_t)n;
    }
    clock_gettime(CLOCK_MONOTONIC, &c->last_send);
}

/* Reads what is there, waiting at most timeout_ms (-1: forever).
 * Returns bytes read, 0 at end of stream, -2 on timeout. */
static ssize_t net_read(client *c, uint8_t *buf, size_t cap, int timeout_ms) {
    if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r;
        do r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0) die(EXIT_CONNECT, "poll: %s", strerror(errno));
        if (r == 0) return -2;
    }
    if (c->ssl) {
        int n = SSL_read(c->ssl, buf, (int)cap);
        if (n > 0) return n;
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) return 0;
        if (e == SSL_ERROR_WANT_READ) return -2;
        die(EXIT_CONNECT, "connection lost (tls: %s)", ssl_error_text());
    }
    ssize_t n;
    do n = recv(c->fd, buf, cap, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == ECONNRESET) return 0;
        die(EXIT_CONNECT, "connection lost: %s", strerror(errno));
    }
    return n;
}

/* ------------------------------------------------------------------ WebSocket */

static void random_bytes(uint8_t *out, size_t n) {
    if (RAND_bytes(out, (int)n) != 1) die(EXIT_CONNECT, "no randomness: %s", ssl_error_text());
}

static const char *opcode_name(int op) {
    switch (op) {
    case MQWS_WS_CONTINUATION: return "CONT";
    case MQWS_WS_TEXT: return "TEXT";
    case MQWS_WS_BINARY: return "BINARY";
    case MQWS_WS_CLOSE: return "CLOSE";
    case MQWS_WS_PING: return "PING";
    case MQWS_WS_PONG: return "PONG";
    default: return "?";
    }
}

/* Appends one masked frame to c->wire. */
static void ws_frame(client *c, mqws_ws_opcode op, bool fin, const uint8_t *payload, size_t len) {
    uint8_t mask[4];
    random_bytes(mask, sizeof mask);
    gb_reserve(&c->wire, MQWS_WS_MAX_HEADER + len);
    size_t hlen = 0;
    mqws_err r = mqws_ws_encode_header(c->wire.ptr + c->wire.len, MQWS_WS_MAX_HEADER, &hlen, op, fin,
                                       len, mask);
    if (r != MQWS_OK) die(EXIT_PROTOCOL, "frame header: %s", mqws_strerror(r));
    uint8_t *dst = c->wire.ptr + c->wire.len + hlen;
    if (len) memcpy(dst, payload, len);
    mqws_ws_mask(dst, len, mask, 0);
    c->wire.len += hlen + len;
    trace(c, "> ws %s fin=%d len=%zu masked", opcode_name(op), fin, len);
}

static void ws_send_control(client *c, mqws_ws_opcode op, const uint8_t *payload, size_t len) {
    c->wire.len = 0;
    ws_frame(c, op, true, payload, len);
    net_write(c, c->wire.ptr, c->wire.len);
    c->wire.len = 0;
}

static void ws_send_close(client *c, uint16_t code, const char *reason) {
    uint8_t payload[125];
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 123) rlen = 123;
    size_t plen = 0;
    if (code) {
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        if (rlen) memcpy(payload + 2, reason, rlen);
        plen = 2 + rlen;
    }
    ws_send_control(c, MQWS_WS_CLOSE, payload, plen);
}

static void ws_handshake(client *c, uint8_t *rx, size_t *leftover) {
    options *o = c->o;
    char host[300];
    bool v6 = strchr(o->host, ':') != NULL;
    bool default_port = (o->tr == T_WS && !strcmp(o->port, "80")) || (o->tr == T_WSS && !strcmp(o->port, "443"));
    if (default_port)
        snprintf(host, sizeof host, v6 ? "[%s]" : "%s", o->host);
    else
        snprintf(host, sizeof host, v6 ? "[%s]:%s" : "%s:%s", o->host, o->port);
    mqws_hs_client_config cfg = {.host = host, .path = o->path, .origin = o->origin,
                                 .subprotocols = o->subprotocols,
                                 .num_subprotocols = o->num_subprotocols};
    uint8_t nonce[16];
    random_bytes(nonce, sizeof nonce);
    char req[4096];
    size_t req_len = 0;
    char key[MQWS_HS_KEY_SIZE];
    mqws_err r = mqws_hs_client_request(&cfg, nonce, req, sizeof req, &req_len, key);
    if (r != MQWS_OK) die(EXIT_USAGE, "websocket request: %s (check host, path, --origin, --subprotocol)", mqws_strerror(r));
    if (o->verbose) {
        const char *line = req;
        while (line < req + req_len) {
            const char *eol = strstr(line, "\r\n");
            if (!eol || eol == line) break;
            fprintf(stderr, "> %.*s\n", (int)(eol - line), line);
            line = eol + 2;
        }
    }
    net_write(c, (const uint8_t *)req, req_len);

    static char buf[MQWS_HS_DEFAULT_MAX_BYTES + 4096];
    size_t have = 0, head_len = 0;
    mqws_hs_response resp;
    memset(&resp, 0, sizeof resp);
    for (;;) {
        ssize_t n = net_read(c, (uint8_t *)buf + have, sizeof buf - have - 1, 10000);
        if (n == -2) die(EXIT_CONNECT, "websocket handshake: no response from %s within 10 s", o->host);
        if (n == 0)
            die(EXIT_CONNECT, "websocket handshake: %s closed the connection before a complete HTTP response%s",
                o->host, have ? "" : " (is it a WebSocket listener? TLS where none is expected?)");
        have += (size_t)n;
        r = mqws_hs_parse_response(&resp, buf, have, &head_len);
        if (r == MQWS_OK) break;
        if (r != MQWS_NEED_MORE)
            die(EXIT_CONNECT, "websocket handshake: bad HTTP response at byte %zu: %s", resp.err_offset,
                mqws_strerror(r));
        if (have >= sizeof buf - 1) die(EXIT_CONNECT, "websocket handshake: response head too large");
    }
    if (o->verbose) {
        fprintf(stderr, "< HTTP/%d.%d %d %.*s\n", resp.http_major, resp.http_minor, resp.status,
                (int)resp.reason.len, resp.reason.ptr);
        for (size_t i = 0; i < resp.num_headers; i++)
            fprintf(stderr, "< %.*s: %.*s\n", (int)resp.headers[i].name.len, resp.headers[i].name.ptr,
                    (int)resp.headers[i].value.len, resp.headers[i].value.ptr);
    }
    if (resp.status != 101) {
        /* The body usually says which rule failed: show its first line. */
        size_t body_len = have - head_len;
        const char *body = buf + head_len;
        size_t show = 0;
        while (show < body_len && show < 200 && body[show] != '\n' && body[show] != '\r') show++;
        die(EXIT_CONNECT, "websocket handshake refused by %s: HTTP %d %.*s%s%.*s", o->host, resp.status,
            (int)resp.reason.len, resp.reason.ptr, show ? ": " : "", (int)show, body);
    }
    mqws_str selected = {0};
    r = mqws_hs_client_verify(&resp, &cfg, key, &selected);
    if (r != MQWS_OK) die(EXIT_CONNECT, "websocket handshake: %s (%s)", mqws_strerror(r), mqws_err_ref(r));
    trace(c, "* websocket open, subprotocol %.*s", selected.len ? (int)selected.len : 6,
          selected.len ? selected.ptr : "(none)");
    *leftover = have - head_len;
    memcpy(rx, buf + head_len, *leftover);
}

/* ------------------------------------------------------------------ MQTT out */

static void describe(char *out, size_t cap, const mqws_packet *p) {
    int n = snprintf(out, cap, "%s", mqws_packet_type_name(p->type));
    if (n < 0 || (size_t)n >= cap) return;
    char *e = out + n;
    size_t left = cap - (size_t)n;
    switch (p->type) {
    case MQWS_CONNECT:
        snprintf(e, left, " v%s client-id='%.*s' clean=%d keepalive=%u%s%s", p->connect.level == 5 ? "5" : "3.1.1",
                 (int)p->connect.client_id.len, p->connect.client_id.ptr, p->connect.clean_start,
                 p->connect.keep_alive, p->connect.will ? " will" : "",
                 p->connect.has_username ? " username" : "");
        break;
    case MQWS_CONNACK:
        snprintf(e, left, " session-present=%d code=0x%02x", p->session_present, p->reason_code);
        break;
    case MQWS_PUBLISH:
        snprintf(e, left, " topic='%.*s' qos=%u id=%u retain=%d dup=%d payload=%zu bytes",
                 (int)p->publish.topic.len, p->publish.topic.ptr, p->publish.qos, p->packet_id,
                 p->publish.retain, p->publish.dup, p->publish.payload.len);
        break;
    case MQWS_PUBACK: case MQWS_PUBREC: case MQWS_PUBREL: case MQWS_PUBCOMP:
    case MQWS_UNSUBACK:
        snprintf(e, left, " id=%u code=0x%02x", p->packet_id, p->reason_code);
        break;
    case MQWS_SUBSCRIBE: {
        int k = snprintf(e, left, " id=%u", p->packet_id);
        size_t cur = 0;
        mqws_sub s;
        while (k >= 0 && (size_t)k < left && mqws_list_next_sub(&p->list, true, &cur, &s))
            k += snprintf(e + k, left - (size_t)k, " '%.*s'(qos %u)", (int)s.filter.len, s.filter.ptr,
                          MQWS_SUB_QOS(s.options));
        break;
    }
    case MQWS_SUBACK: {
        int k = snprintf(e, left, " id=%u codes=", p->packet_id);
        for (size_t i = 0; i < p->list.count && k >= 0 && (size_t)k < left; i++)
            k += snprintf(e + k, left - (size_t)k, "%s0x%02x", i ? "," : "", p->list.raw[i]);
        break;
    }
    case MQWS_DISCONNECT:
        snprintf(e, left, " code=0x%02x", p->reason_code);
        break;
    default: break;
    }
}

static void queue_packet(client *c, const mqws_packet *p) {
    size_t need = 0;
    mqws_err r = mqws_mqtt_encode(p, c->o->version, NULL, 0, &need);
    if (r != MQWS_ERR_BUFFER_TOO_SMALL) die(EXIT_USAGE, "cannot encode %s: %s", mqws_packet_type_name(p->type), mqws_strerror(r));
    gb_reserve(&c->out, need);
    size_t written = 0;
    r = mqws_mqtt_encode(p, c->o->version, c->out.ptr + c->out.len, need, &written);
    if (r != MQWS_OK) die(EXIT_USAGE, "cannot encode %s: %s", mqws_packet_type_name(p->type), mqws_strerror(r));
    c->out.len += written;
    if (c->num_bounds == c->cap_bounds) {
        c->cap_bounds = c->cap_bounds ? c->cap_bounds * 2 : 64;
        c->bounds = xrealloc(c->bounds, c->cap_bounds * sizeof *c->bounds);
    }
    c->bounds[c->num_bounds++] = c->out.len;
    if (c->o->verbose) {
        char d[512];
        describe(d, sizeof d, p);
        fprintf(stderr, "> %s\n", d);
    }
}

/* Sends every queued packet: as is on tcp/tls; on ws in messages of up to
 * packets_per_frame packets, each cut into frames of at most frame_split bytes. */
static void flush(client *c) {
    if (c->out.len == 0) return;
    if (!c->ws) {
        net_write(c, c->out.ptr, c->out.len);
    } else {
        size_t start = 0;
        for (size_t i = 0; i < c->num_bounds; i += c->o->packets_per_frame) {
            size_t last = i + c->o->packets_per_frame - 1;
            if (last >= c->num_bounds) last = c->num_bounds - 1;
            size_t end = c->bounds[last];
            size_t msg_len = end - start;
            size_t piece = c->o->frame_split ? c->o->frame_split : msg_len;
            c->wire.len = 0;
            size_t off = 0;
            do {
                size_t n = msg_len - off < piece ? msg_len - off : piece;
                ws_frame(c, off == 0 ? MQWS_WS_BINARY : MQWS_WS_CONTINUATION, off + n == msg_len,
                         c->out.ptr + start + off, n);
                off += n;
            } while (off < msg_len);
            net_write(c, c->wire.ptr, c->wire.len);
            start = end;
        }
        c->wire.len = 0;
    }
    c->out.len = 0;
    c->num_bounds = 0;
}

static void send_simple(client *c, mqws_packet_type type, uint16_t id) {
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.packet_id = id;
    queue_packet(c, &p);
}

static void send_connect(client *c) {
    options *o = c->o;
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_CONNECT;
    p.connect.level = (uint8_t)o->version;
    p.connect.clean_start = o->clean;
    p.connect.keep_alive = (uint16_t)o->keepalive;
    p.connect.client_id = mqws_str_c(o->client_id);
    if (o->will_topic) {
        p.connect.will = true;
        p.connect.will_qos = (uint8_t)o->will_qos;
        p.connect.will_retain = o->will_retain;
        p.connect.will_topic = mqws_str_c(o->will_topic);
        const char *wp = o->will_payload ? o->will_payload : "";
        p.connect.will_payload = (mqws_bytes){(const uint8_t *)wp, strlen(wp)};
    }
    if (o->username) {
        p.connect.has_username = true;
        p.connect.username = mqws_str_c(o->username);
    }
    if (o->password) {
        p.connect.has_password = true;
        p.connect.password = (mqws_bytes){(const uint8_t *)o->password, strlen(o->password)};
    }
    uint8_t props[64];
    if (o->version == MQWS_MQTT_V5) {
        mqws_props_builder b = {.buf = props, .cap = sizeof props};
        long expiry = o->session_expiry;
        if (expiry < 0 && !o->clean) expiry = 4294967295L; /* -c alone: keep the session */
        if (expiry > 0) mqws_props_add_int(&b, MQWS_PROP_SESSION_EXPIRY_INTERVAL, (uint32_t)expiry);
        mqws_props_add_int(&b, MQWS_PROP_MAXIMUM_PACKET_SIZE, (uint32_t)o->max_packet);
        if (b.err != MQWS_OK) die(EXIT_USAGE, "CONNECT properties: %s", mqws_strerror(b.err));
        p.props = mqws_props_from_builder(&b);
    }
    queue_packet(c, &p);
}

static uint16_t alloc_id(client *c) {
    for (int tries = 0; tries < 65535; tries++) {
        c->next_id = (uint16_t)(c->next_id == 65535 ? 1 : c->next_id + 1);
        if (c->out_state[c->next_id] == 0) return c->next_id;
    }
    die(EXIT_PROTOCOL, "no free packet identifier");
}

static void send_publish(client *c, const uint8_t *payload, size_t len) {
    options *o = c->o;
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_PUBLISH;
    p.publish.topic = mqws_str_c(o->topics[0]);
    p.publish.qos = (uint8_t)o->qos;
    p.publish.retain = o->retain;
    p.publish.payload = (mqws_bytes){payload, len};
    if (o->qos > 0) {
        p.packet_id = alloc_id(c);
        c->out_state[p.packet_id] = o->qos == 1 ? 1 : 2;
        c->inflight++;
    }
    queue_packet(c, &p);
}

static void send_subscribe(client *c) {
    options *o = c->o;
    size_t cap = 0, len = 0;
    for (size_t i = 0; i < o->num_topics; i++) cap += 3 + strlen(o->topics[i]);
    uint8_t *list = xrealloc(NULL, cap);
    for (size_t i = 0; i < o->num_topics; i++) {
        uint8_t opts = (uint8_t)o->qos;
        if (o->no_local) opts |= MQWS_SUB_NO_LOCAL;
        mqws_err r = mqws_list_append_sub(list, cap, &len, mqws_str_c(o->topics[i]), true, opts);
        if (r != MQWS_OK) die(EXIT_USAGE, "SUBSCRIBE: %s", mqws_strerror(r));
    }
    mqws_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQWS_SUBSCRIBE;
    p.packet_id = c->sub_id = alloc_id(c);
    p.list = (mqws_list){list, len, o->num_topics};
    queue_packet(c, &p);
    free(list);
}

static void send_disconnect(client *c) {
    send_simple(c, MQWS_DISCONNECT, 0);
    flush(c);
}

/* ------------------------------------------------------------------ MQTT in */

static const char *reason_text(uint8_t code, bool v5, bool connack) {
    if (!v5 && connack) {
        static const char *const v3[] = {"accepted", "unacceptable protocol version", "identifier rejected",
                                         "server unavailable", "bad user name or password", "not authorized"};
        return code < 6 ? v3[code] : "unknown return code";
    }
    switch (code) {
    case 0x00: return "success";
    case 0x01: return "granted QoS 1";
    case 0x02: return "granted QoS 2";
    case 0x04: return "disconnect with will message";
    case 0x10: return "no matching subscribers";
    case 0x11: return "no subscription existed";
    case 0x80: return "unspecified error / failure";
    case 0x81: return "malformed packet";
    case 0x82: return "protocol error";
    case 0x83: return "implementation specific error";
    case 0x84: return "unsupported protocol version";
    case 0x85: return "client identifier not valid";
    case 0x86: return "bad user name or password";
    case 0x87: return "not authorized";
    case 0x88: return "server unavailable";
    case 0x89: return "server busy";
    case 0x8A: return "banned";
    case 0x8B: return "server shutting down";
    case 0x8C: return "bad authentication method";
    case 0x8D: return "keep alive timeout";
    case 0x8E: return "session taken over";
    case 0x8F: return "topic filter invalid";
    case 0x90: return "topic name invalid";
    case 0x91: return "packet identifier in use";
    case 0x92: return "packet identifier not found";
    case 0x93: return "receive maximum exceeded";
    case 0x94: return "topic alias invalid";
    case 0x95: return "packet too large";
    case 0x96: return "message rate too high";
    case 0x97: return "quota exceeded";
    case 0x98: return "administrative action";
    case 0x99: return "payload format invalid";
    case 0x9A: return "retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "use another server";
    case 0x9D: return "server moved";
    case 0x9E: return "shared subscriptions not supported";
    case 0x9F: return "connection rate exceeded";
    case 0xA0: return "maximum connect time";
    case 0xA1: return "subscription identifiers not supported";
    case 0xA2: return "wildcard subscriptions not supported";
    default: return "unknown reason code";
    }
}

static void deliver(client *c, const mqws_publish *pub) {
    if (c->o->is_pub) return;
    if (c->o->no_retained && pub->retain) return;
    if (c->o->count && c->received >= c->o->count) return;
    if (c->o->print_topic) {
        fwrite(pub->topic.ptr, 1, pub->topic.len, stdout);
        fputc(' ', stdout);
    }
    fwrite(pub->payload.ptr, 1, pub->payload.len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    c->received++;
}

static bool qos2_pending(const client *c, uint16_t id) { return c->in_qos2[id >> 3] & (1u << (id & 7)); }

static void handle_packet(client *c, const uint8_t *buf, size_t len) {
    options *o = c->o;
    bool v5 = o->version == MQWS_MQTT_V5;
    mqws_packet p;
    size_t bad = 0;
    mqws_err r = mqws_mqtt_decode(buf, len, o->version, NULL, &p, NULL, &bad);
    if (r != MQWS_OK) {
        fprintf(stderr, "%s: malformed %s from the server at byte %zu: %s (%s)\n", prog,
                len ? mqws_packet_type_name(buf[0] >> 4) : "packet", bad, mqws_strerror(r), mqws_err_ref(r));
        if (v5) {
            mqws_packet d;
            memset(&d, 0, sizeof d);
            d.type = MQWS_DISCONNECT;
            d.reason_code = mqws_err_mqtt_reason(r, 5);
            queue_packet(c, &d);
            flush(c);
        }
        c->exit_code = EXIT_PROTOCOL;
        c->done = true;
        return;
    }
    if (o->verbose) {
        char d[512];
        describe(d, sizeof d, &p);
        fprintf(stderr, "< %s\n", d);
    }
    if (!c->connected && p.type != MQWS_CONNACK && p.type != MQWS_AUTH && p.type != MQWS_DISCONNECT) {
        fprintf(stderr, "%s: %s from the server before CONNACK\n", prog, mqws_packet_type_name(p.type));
        c->exit_code = EXIT_PROTOCOL;
        c->done = true;
        return;
    }
    switch (p.type) {
    case MQWS_CONNACK:
        if (c->connected) {
            fprintf(stderr, "%s: second CONNACK from the server\n", prog);
            c->exit_code = EXIT_PROTOCOL;
            c->done = true;
            return;
        }
        if (p.reason_code != 0) {
            fprintf(stderr, "%s: connection refused by the server: CONNACK code 0x%02x (%s)\n", prog,
                    p.reason_code, reason_text(p.reason_code, v5, true));
            c->exit_code = EXIT_PROTOCOL;
            c->done = true;
            return;
        }
        c->connected = true;
        if (v5) {
            mqws_prop prop;
            if (mqws_props_get(&p.props, MQWS_PROP_RECEIVE_MAXIMUM, &prop)) c->server_receive_max = prop.u32;
            if (mqws_props_get(&p.props, MQWS_PROP_ASSIGNED_CLIENT_IDENTIFIER, &prop))
                trace(c, "* assigned client id '%.*s'", (int)prop.bin.len, (const char *)prop.bin.ptr);
            if (mqws_props_get(&p.props, MQWS_PROP_SERVER_KEEP_ALIVE, &prop)) o->keepalive = (int)prop.u32;
            if (mqws_props_get(&p.props, MQWS_PROP_MAXIMUM_QOS, &prop) && o->is_pub && o->qos > (int)prop.u32)
                fprintf(stderr, "%s: warning: the server's Maximum QoS is %u\n", prog, prop.u32);
        }
        break;
    case MQWS_PUBLISH:
        if (p.publish.qos == 0) {
            deliver(c, &p.publish);
        } else if (p.publish.qos == 1) {
            deliver(c, &p.publish);
            send_simple(c, MQWS_PUBACK, p.packet_id);
        } else {
            /* Deliver once: a DUP of an id between PUBREC and PUBREL was already delivered. */
            if (!qos2_pending(c, p.packet_id)) {
                deliver(c, &p.publish);
                c->in_qos2[p.packet_id >> 3] |= (uint8_t)(1u << (p.packet_id & 7));
                c->in_qos2_count++;
            }
            send_simple(c, MQWS_PUBREC, p.packet_id);
        }
        break;
    case MQWS_PUBREL:
        if (qos2_pending(c, p.packet_id)) {
            c->in_qos2[p.packet_id >> 3] &= (uint8_t) ~(1u << (p.packet_id & 7));
            c->in_qos2_count--;
        }
        send_simple(c, MQWS_PUBCOMP, p.packet_id);
        break;
    case MQWS_PUBACK:
    case MQWS_PUBREC:
    case MQWS_PUBCOMP: {
        uint8_t want = p.type == MQWS_PUBACK ? 1 : p.type == MQWS_PUBREC ? 2 : 3;
        if (c->out_state[p.packet_id] != want) {
            if (p.type == MQWS_PUBREC) { /* duplicate PUBREC after PUBREL: answer again */
                if (c->out_state[p.packet_id] == 3) send_simple(c, MQWS_PUBREL, p.packet_id);
                break;
            }
            fprintf(stderr, "%s: unexpected %s id=%u\n", prog, mqws_packet_type_name(p.type), p.packet_id);
            break;
        }
        if (p.reason_code >= 0x80) {
            fprintf(stderr, "%s: message id=%u refused: %s code 0x%02x (%s)\n", prog, p.packet_id,
                    mqws_packet_type_name(p.type), p.reason_code, reason_text(p.reason_code, v5, false));
            c->failures++;
            c->out_state[p.packet_id] = 0;
            c->inflight--;
        } else if (p.type == MQWS_PUBREC) {
            c->out_state[p.packet_id] = 3;
            send_simple(c, MQWS_PUBREL, p.packet_id);
        } else {
            c->out_state[p.packet_id] = 0;
            c->inflight--;
        }
        break;
    }
    case MQWS_SUBACK:
        if (p.packet_id != c->sub_id) break;
        for (size_t i = 0; i < p.list.count; i++) {
            uint8_t code = p.list.raw[i];
            if (code >= 0x80) {
                fprintf(stderr, "%s: subscription to '%s' refused: SUBACK code 0x%02x (%s)\n", prog,
                        i < o->num_topics ? o->topics[i] : "?", code, reason_text(code, v5, false));
                c->exit_code = EXIT_PROTOCOL;
                c->done = true;
            } else if (code < o->qos) {
                trace(c, "* '%s' granted QoS %u (asked %d)", o->topics[i], code, o->qos);
            }
        }
        c->out_state[c->sub_id] = 0;
        break;
    case MQWS_PINGRESP:
        c->ping_outstanding = false;
        break;
    case MQWS_DISCONNECT: {
        mqws_prop prop;
        bool has_reason = v5 && mqws_props_get(&p.props, MQWS_PROP_REASON_STRING, &prop);
        fprintf(stderr, "%s: disconnected by the server: code 0x%02x (%s)%s%.*s\n", prog, p.reason_code,
                reason_text(p.reason_code, v5, false), has_reason ? ": " : "",
                has_reason ? (int)prop.bin.len : 0, has_reason ? (const char *)prop.bin.ptr : "");
        c->exit_code = EXIT_PROTOCOL;
        c->done = true;
        break;
    }
    case MQWS_AUTH:
        fprintf(stderr, "%s: the server asked for enhanced authentication, which this client does not do\n", prog);
        c->exit_code = EXIT_PROTOCOL;
        c->done = true;
        break;
    default:
        fprintf(stderr, "%s: unexpected %s from the server\n", prog, mqws_packet_type_name(p.type));
        c->exit_code = EXIT_PROTOCOL;
        c->done = true;
        break;
    }
}

/* -v: frame headers of received bytes, from a second decoder over a copy. */
static void trace_frames(client *c, const uint8_t *in, size_t len) {
    memcpy(c->trace_copy, in, len);
    uint8_t *p = c->trace_copy;
    while (len > 0) {
        size_t used = 0;
        mqws_ws_event ev;
        mqws_err r = mqws_ws_decode(&c->trace_dec, p, len, &used, &ev);
        p += used;
        len -= used;
        if (r != MQWS_OK) return; /* NEED_MORE, or an error the stream reports itself */
        if (ev.type == MQWS_WS_EV_CONTROL) {
            if (ev.opcode == MQWS_WS_CLOSE)
                fprintf(stderr, "< ws CLOSE len=%zu code=%u\n", ev.len, ev.close_code);
            else
                fprintf(stderr, "< ws %s len=%zu\n", opcode_name(ev.opcode), ev.len);
        } else if (!c->trace_frame_valid || ev.frame_offset != c->trace_frame) {
            c->trace_frame = ev.frame_offset;
            c->trace_frame_valid = true;
            /* A frame wholly in this chunk is described by the event alone (the decoder's
             * fast path does not update its state fields for it); a frame cut by the
             * end of the input has its FIN bit and remaining length in the decoder. */
            bool fin = ev.frame_end ? ev.message_end : c->trace_dec.fin;
            uint64_t flen = ev.len + (ev.frame_end ? 0 : c->trace_dec.remaining);
            fprintf(stderr, "< ws %s fin=%d len=%llu\n",
                    opcode_name(ev.message_start ? ev.opcode : MQWS_WS_CONTINUATION), fin,
                    (unsigned long long)flen);
        }
    }
}

/* Feeds received bytes to the stream (ws) or the assembler (tcp). The stream
 * may hold further packets of a frame after the input is used up: it is called
 * until it answers MQWS_NEED_MORE, not until len is 0. */
static void feed(client *c, uint8_t *in, size_t len) {
    if (c->ws && c->o->verbose) trace_frames(c, in, len);
    while ((c->ws || len > 0) && !c->done) {
        size_t used = 0;
        if (c->ws) {
            mqws_stream_event ev;
            mqws_err r = mqws_stream_feed(&c->stream, in, len, &used, &ev);
            in += used;
            len -= used;
            if (r == MQWS_NEED_MORE) break;
            if (r != MQWS_OK) {
                uint16_t code = mqws_err_ws_close_code(r);
                fprintf(stderr, "%s: bad data from the server at byte %llu: %s (%s)\n", prog,
                        (unsigned long long)mqws_stream_err_offset(&c->stream), mqws_strerror(r), mqws_err_ref(r));
                if (code && !c->ws_closed) ws_send_close(c, code, mqws_err_name(r));
                c->exit_code = EXIT_PROTOCOL;
                c->done = true;
                return;
            }
            switch (ev.type) {
            case MQWS_STREAM_PACKET: handle_packet(c, ev.data.ptr, ev.data.len); break;
            case MQWS_STREAM_PING: ws_send_control(c, MQWS_WS_PONG, ev.data.ptr, ev.data.len); break;
            case MQWS_STREAM_PONG: break;
            case MQWS_STREAM_CLOSE:
                c->ws_closed = true;
                if (!c->done) {
                    fprintf(stderr, "%s: connection closed by the server: websocket close %u%s%.*s\n", prog,
                            ev.close_code, ev.close_reason.len ? " " : "", (int)ev.close_reason.len,
                            ev.close_reason.ptr);
                    ws_send_close(c, ev.close_code == 1005 ? 1000 : ev.close_code, NULL);
                    c->exit_code = EXIT_CONNECT;
                    c->done = true;
                }
                return;
            }
        } else {
            mqws_bytes pkt;
            mqws_err r = mqws_assembler_feed(&c->assembler, in, len, &used, &pkt);
            if (r == MQWS_NEED_MORE) break;
            if (r != MQWS_OK) {
                fprintf(stderr, "%s: bad data from the server at byte %llu: %s (%s)\n", prog,
                        (unsigned long long)c->assembler.err_offset, mqws_strerror(r), mqws_err_ref(r));
                c->exit_code = EXIT_PROTOCOL;
                c->done = true;
                return;
            }
            in += used;
            len -= used;
            handle_packet(c, pkt.ptr, pkt.len);
        }
    }
}

/* Waits up to timeout_ms for data and processes it. false: the server closed. */
static bool pump(client *c, int timeout_ms) {
    flush(c);
    ssize_t n = net_read(c, c->rx, RX_CHUNK, timeout_ms);
    if (n == -2) return true;
    if (n == 0) return false;
    feed(c, c->rx, (size_t)n);
    flush(c);
    return true;
}

/* Keep alive: a PINGREQ when we sent nothing for keepalive seconds; give up
 * when its PINGRESP does not come within another keepalive period. */
static int keepalive_tick(client *c) {
    int ka = c->o->keepalive;
    if (ka <= 0 || !c->connected) return 1000;
    if (c->ping_outstanding && elapsed_s(&c->ping_sent) > ka)
        die(EXIT_CONNECT, "no PINGRESP from the server within %d s: connection lost", ka);
    double idle = elapsed_s(&c->last_send);
    if (idle >= ka && !c->ping_outstanding) {
        send_simple(c, MQWS_PINGREQ, 0);
        flush(c);
        c->ping_outstanding = true;
        clock_gettime(CLOCK_MONOTONIC, &c->ping_sent);
        idle = 0;
    }
    /* Wake up at the next deadline, at least every second, never with a negative
     * (infinite) poll timeout. */
    double wait = (c->ping_outstanding ? ka - elapsed_s(&c->ping_sent) : ka - idle) * 1000.0;
    if (wait > 1000.0) return 1000;
    return wait < 1.0 ? 1 : (int)wait + 1;
}

static void lost(client *c, const char *while_) {
    if (c->ws_closed || c->done) return;
    die(EXIT_CONNECT, "connection closed by the server %s", while_);
}

/* Ends the connection politely: DISCONNECT, close frame, wait briefly for the peer's close. */
static void finish(client *c) {
    send_disconnect(c);
    if (c->ws && !c->ws_closed) {
        ws_send_close(c, 1000, NULL);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        c->done = false;
        int saved = c->exit_code;
        while (!c->ws_closed && elapsed_s(&t0) < 2.0) {
            ssize_t n = net_read(c, c->rx, RX_CHUNK, 200);
            if (n == 0) break;
            if (n > 0) {
                /* Only a close frame is expected now; anything else is dropped. */
                c->done = false;
                uint8_t *in = c->rx;
                size_t len = (size_t)n;
                for (;;) {
                    size_t used = 0;
                    mqws_stream_event ev;
                    mqws_err r = mqws_stream_feed(&c->stream, in, len, &used, &ev);
                    in += used;
                    len -= used;
                    if (r != MQWS_OK) break; /* NEED_MORE, or junk after DISCONNECT */
                    if (ev.type == MQWS_STREAM_CLOSE) {
                        trace(c, "< ws CLOSE code=%u", ev.close_code);
                        c->ws_closed = true;
                        break;
                    }
                }
                if (len > 0 && !c->ws_closed) break; /* stream error: stop waiting */
            }
        }
        c->exit_code = saved;
    }
    if (c->ssl) SSL_shutdown(c->ssl);
}

/* ------------------------------------------------------------------ pub / sub */

static uint8_t *read_all(FILE *f, size_t *len, const char *what) {
    growbuf b = {0};
    for (;;) {
        gb_reserve(&b, 65536);
        size_t n = fread(b.ptr + b.len, 1, b.cap - b.len, f);
        b.len += n;
        if (n == 0) break;
        if (b.len > MQWS_MQTT_MAX_REMAINING_LENGTH) die(EXIT_USAGE, "%s: message too large", what);
    }
    if (ferror(f)) die(EXIT_USAGE, "%s: read error", what);
    *len = b.len;
    return b.ptr;
}

static void wait_connack(client *c) {
    while (!c->connected && !c->done)
        if (!pump(c, 10000)) lost(c, "before CONNACK");
    if (!c->connected && !c->done) die(EXIT_CONNECT, "no CONNACK");
}

static size_t inflight_limit(const client *c) {
    size_t lim = (size_t)c->o->max_inflight;
    if (c->server_receive_max && c->server_receive_max < lim) lim = c->server_receive_max;
    return lim;
}

static void publish_one(client *c, const uint8_t *payload, size_t len) {
    while (c->o->qos > 0 && c->inflight >= inflight_limit(c) && !c->done)
        if (!pump(c, keepalive_tick(c))) lost(c, "while messages were in flight");
    if (c->done) return;
    send_publish(c, payload, len);
}

static int run_pub(client *c) {
    options *o = c->o;
    if (o->packets_per_frame == 1) wait_connack(c);
    if (c->done) return c->exit_code;
    for (long rep = 0; rep < o->repeat && !c->done; rep++) {
        if (o->message) {
            publish_one(c, (const uint8_t *)o->message, strlen(o->message));
        } else if (o->null_message) {
            publish_one(c, NULL, 0);
        } else if (o->message_file || o->stdin_whole) {
            static uint8_t *data;
            static size_t data_len;
            if (!data) {
                FILE *f = o->stdin_whole ? stdin : fopen(o->message_file, "rb");
                if (!f) die(EXIT_USAGE, "-f %s: %s", o->message_file, strerror(errno));
                data = read_all(f, &data_len, o->stdin_whole ? "stdin" : o->message_file);
                if (f != stdin) fclose(f);
            }
            publish_one(c, data, data_len);
        } else {
            char *line = NULL;
            size_t cap = 0;
            ssize_t n;
            if (rep > 0) break; /* stdin is read once */
            while ((n = getline(&line, &cap, stdin)) >= 0 && !c->done) {
                if (n > 0 && line[n - 1] == '\n') n--;
                publish_one(c, (const uint8_t *)line, (size_t)n);
                flush(c);
            }
            free(line);
        }
    }
    /* Wait for every acknowledgement (and CONNACK when pipelined). */
    while ((c->inflight > 0 || !c->connected) && !c->done)
        if (!pump(c, keepalive_tick(c))) lost(c, "while messages were in flight");
    if (c->done) return c->exit_code;
    finish(c);
    return c->failures ? EXIT_PROTOCOL : EXIT_OK;
}

static int run_sub(client *c) {
    options *o = c->o;
    if (o->packets_per_frame == 1) wait_connack(c);
    if (c->done) return c->exit_code;
    send_subscribe(c);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!c->done && !(o->count && c->received >= o->count)) {
        int wait = keepalive_tick(c);
        if (o->timeout_s) {
            double left = (double)o->timeout_s - elapsed_s(&t0);
            if (left <= 0) {
                fprintf(stderr, "%s: timeout: %ld of %ld messages in %ld s\n", prog, c->received,
                        o->count, o->timeout_s);
                finish(c);
                return EXIT_TIMEOUT;
            }
            if (left * 1000 < wait) wait = (int)(left * 1000) + 1;
        }
        if (!pump(c, wait)) lost(c, "while waiting for messages");
    }
    if (c->done) return c->exit_code;
    /* Complete QoS 2 exchanges in progress (bounded), so the server keeps nothing. */
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    while (c->in_qos2_count > 0 && !c->done && elapsed_s(&t1) < 5.0)
        if (!pump(c, 200)) break;
    if (c->done) return c->exit_code;
    finish(c);
    return EXIT_OK;
}

int main(int argc, char **argv) {
    static options o;
    parse_options(&o, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    static client c;
    c.o = &o;
    c.fd = -1;
    c.ws = o.tr == T_WS || o.tr == T_WSS;
    c.rx = xrealloc(NULL, RX_CHUNK + MQWS_HS_DEFAULT_MAX_BYTES + 4096);
    c.pkt_buf = xrealloc(NULL, o.max_packet);
    if (c.ws) {
        mqws_stream_init(&c.stream, MQWS_ROLE_CLIENT, c.pkt_buf, o.max_packet, 0);
        mqws_ws_decoder_init(&c.trace_dec, MQWS_ROLE_CLIENT, 0);
        c.trace_copy = xrealloc(NULL, RX_CHUNK + MQWS_HS_DEFAULT_MAX_BYTES + 4096);
    } else {
        mqws_assembler_init(&c.assembler, c.pkt_buf, o.max_packet);
    }
    clock_gettime(CLOCK_MONOTONIC, &c.last_send);

    net_connect(&c);
    if (c.ws) {
        size_t leftover = 0;
        ws_handshake(&c, c.rx, &leftover);
        send_connect(&c);
        if (o.packets_per_frame == 1) flush(&c);
        if (leftover) feed(&c, c.rx, leftover);
    } else {
        send_connect(&c);
        if (o.packets_per_frame == 1) flush(&c);
    }
    int rc = o.is_pub ? run_pub(&c) : run_sub(&c);
    if (c.ssl) SSL_free(c.ssl);
    if (c.ctx) SSL_CTX_free(c.ctx);
    if (c.fd >= 0) close(c.fd);
    free(c.rx);
    free(c.pkt_buf);
    free(c.trace_copy);
    free(c.out.ptr);
    free(c.wire.ptr);
    free(c.bounds);
    return rc;
}
