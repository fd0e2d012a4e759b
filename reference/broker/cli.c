/* cli.c - mqws-broker's command line: defaults, options, --help. */
#define _GNU_SOURCE
#include "broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TCP "tcp://127.0.0.1:1883"
#define DEFAULT_WS "ws://127.0.0.1:8080/mqtt"

static const char usage_text[] =
    "Usage: mqws-broker [OPTIONS]\n"
    "MQTT 3.1.1 and 5.0 broker over tcp, tls, ws and wss: one thread, epoll, a sans-IO core.\n"
    "Without --listen it serves " DEFAULT_TCP " and " DEFAULT_WS ".\n"
    "State lives in memory only: nothing survives a restart.\n"
    "\n"
    "Listeners (repeatable):\n"
    "  -l, --listen URL        tcp://HOST:PORT  tls://HOST:PORT  ws://HOST:PORT/PATH  wss://HOST:PORT/PATH\n"
    "                          HOST: address or name ([::1] for IPv6); PORT 0 picks a free port.\n"
    "                          Each listener prints 'listening URL' (actual port) on stdout.\n"
    "TLS (for tls:// and wss://; TLS 1.2 or later):\n"
    "      --tls-cert FILE     PEM certificate (chain) of the server\n"
    "      --tls-key FILE      PEM private key\n"
    "      --tls-ca FILE       PEM CA bundle: clients must present a certificate it signed\n"
    "WebSocket (strict by default; each option relaxes or tightens one rule):\n"
    "      --ws-origin ORIGIN  allow only this Origin (repeatable); any other gets 403\n"
    "                          (cross-site WebSocket hijacking). Requests without Origin\n"
    "                          (non-browser clients) pass. Default: any.\n"
    "      --ws-any-path       serve every request path (default: only the URL's path, 404 else)\n"
    "      --ws-no-legacy      refuse 'mqttv3.1' (default: selected when it is the only\n"
    "                          MQTT value offered)\n"
    "      --ws-allow-no-subprotocol       accept a request without Sec-WebSocket-Protocol\n"
    "      --ws-allow-unknown-subprotocol  accept a request offering no MQTT value\n"
    "      --ws-subprotocol-ignore-case    let 'MQTT' match 'mqtt'\n"
    "      --ws-ping-interval S  ping a WebSocket client after S idle seconds so proxies keep\n"
    "                          the connection (default 30; 0: never)\n"
    "      --trusted-proxy ADDR[/BITS]  log the X-Forwarded-For address of requests from\n"
    "                          this proxy (repeatable; default: header ignored)\n"
    "Limits (sizes take a k or M suffix):\n"
    "      --handshake-timeout S  close a connection whose TLS or WebSocket handshake, or\n"
    "                          MQTT CONNECT, is not complete after S seconds (slowloris;\n"
    "                          WebSocket: 408; default 10)\n"
    "      --max-header-bytes N   handshake head limit, 431 beyond (default 8k)\n"
    "      --max-message N        WebSocket message limit, close 1009 beyond (default 16M)\n"
    "      --max-packet-size N    MQTT packet limit, checked on the fixed header: close 1009\n"
    "                          (ws) and DISCONNECT 0x95 (MQTT 5) beyond (default 1M)\n"
    "      --max-connections N    further connections are closed at accept (ws: 503 first;\n"
    "                          default 100000)\n"
    "      --max-queue N          per-client send queue: a client that does not read is\n"
    "                          refused more (QoS 0 dropped, QoS 1/2 kept in the session) when\n"
    "                          its queue would pass N; the client is not read while the queue\n"
    "                          is above N/2 (default 4M)\n"
    "      --slow-reader-timeout S  disconnect (close 1008) a client whose queue stays above\n"
    "                          N/2 for S seconds (default 30)\n"
    "Other:\n"
    "  -v, --verbose           wire trace on stderr: handshake headers, frame headers,\n"
    "                          MQTT packet summaries\n"
    "  -h, --help              this text\n"
    "  -V, --version           version\n"
    "\n"
    "Logs go to stderr, one line per connection event. SIGINT/SIGTERM: clean exit 0.\n"
    "Exit status: 0 clean shutdown, 1 start-up failure (listen, TLS files), 2 usage error.\n";

enum {
    OPT_TLS_CERT = 256, OPT_TLS_KEY, OPT_TLS_CA, OPT_WS_ORIGIN, OPT_WS_ANY_PATH,
    OPT_WS_NO_LEGACY, OPT_WS_NO_SUBPROTO, OPT_WS_UNKNOWN_SUBPROTO, OPT_WS_IGNORE_CASE,
    OPT_WS_PING, OPT_TRUSTED_PROXY, OPT_HS_TIMEOUT, OPT_MAX_HEADER, OPT_MAX_MESSAGE,
    OPT_MAX_PACKET, OPT_MAX_CONN, OPT_MAX_QUEUE, OPT_SLOW_READER
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"ws-origin", required_argument, NULL, OPT_WS_ORIGIN},
    {"ws-any-path", no_argument, NULL, OPT_WS_ANY_PATH},
    {"ws-no-legacy", no_argument, NULL, OPT_WS_NO_LEGACY},
    {"ws-allow-no-subprotocol", no_argument, NULL, OPT_WS_NO_SUBPROTO},
    {"ws-allow-unknown-subprotocol", no_argument, NULL, OPT_WS_UNKNOWN_SUBPROTO},
    {"ws-subprotocol-ignore-case", no_argument, NULL, OPT_WS_IGNORE_CASE},
    {"ws-ping-interval", required_argument, NULL, OPT_WS_PING},
    {"trusted-proxy", required_argument, NULL, OPT_TRUSTED_PROXY},
    {"handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT},
    {"max-header-bytes", required_argument, NULL, OPT_MAX_HEADER},
    {"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
    {"max-packet-size", required_argument, NULL, OPT_MAX_PACKET},
    {"max-connections", required_argument, NULL, OPT_MAX_CONN},
    {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
    {"slow-reader-timeout", required_argument, NULL, OPT_SLOW_READER},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

/* "123", "64k", "16M" within [lo, hi]; 0 or -1 */
static int parse_size(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return -1;
    if (*end == 'k' || *end == 'K') { v *= 1024ull; end++; }
    else if (*end == 'm' || *end == 'M') { v *= 1024ull * 1024ull; end++; }
    if (*end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_proxy(const char *s, mqws_addr_mask *m)
{
    char host[128];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof host) return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    memset(m, 0, sizeof *m);
    int maxbits;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&m->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&m->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        maxbits = 128;
    } else {
        return -1;
    }
    m->prefix = maxbits;
    if (slash) {
        uint64_t bits;
        if (parse_size(slash + 1, 0, (uint64_t)maxbits, &bits) != 0) return -1;
        m->prefix = (int)bits;
    }
    return 0;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "mqws-broker: %s%s%s\nTry 'mqws-broker --help'.\n", what, arg ? ": " : "",
            arg ? arg : "");
    return 2;
}

int mqws_cli_parse(mqws_broker_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ws_ping_interval = 30;
    cfg->handshake_timeout_ms = 10000;
    cfg->max_header_bytes = MQWS_HS_DEFAULT_MAX_BYTES;
    cfg->max_message = MQWS_WS_DEFAULT_MAX_MESSAGE;
    cfg->max_packet = 1024 * 1024;
    cfg->max_queue = 4 * 1024 * 1024;
    cfg->max_connections = 100000;
    cfg->slow_reader_ms = 30000;

    int opt;
    uint64_t v;
    const char *err;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "l:vhV", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (cfg->num_listen == MQWS_BROKER_MAX_LISTENERS)
                return usage_error("too many --listen (at most 32)", NULL);
            if (mqws_listen_parse_url(optarg, &cfg->listen[cfg->num_listen], &err) != 0) {
                fprintf(stderr, "mqws-broker: --listen %s: %s\n", optarg, err);
                return 2;
            }
            cfg->num_listen++;
            break;
        case OPT_TLS_CERT: cfg->tls_cert = optarg; break;
        case OPT_TLS_KEY: cfg->tls_key = optarg; break;
        case OPT_TLS_CA: cfg->tls_ca = optarg; break;
        case OPT_WS_ORIGIN:
            if (cfg->num_origins == MQWS_BROKER_MAX_ORIGINS)
                return usage_error("too many --ws-origin (at most 32)", NULL);
            cfg->ws_origins[cfg->num_origins++] = optarg;
            break;
        case OPT_WS_ANY_PATH: cfg->ws_any_path = true; break;
        case OPT_WS_NO_LEGACY: cfg->ws_no_legacy = true; break;
        case OPT_WS_NO_SUBPROTO: cfg->ws_allow_no_subprotocol = true; break;
        case OPT_WS_UNKNOWN_SUBPROTO: cfg->ws_allow_unknown_subprotocol = true; break;
        case OPT_WS_IGNORE_CASE: cfg->ws_subprotocol_ignore_case = true; break;
        case OPT_WS_PING:
            if (parse_size(optarg, 0, 86400, &v)) return usage_error("bad --ws-ping-interval (0..86400 s)", optarg);
            cfg->ws_ping_interval = (unsigned)v;
            break;
        case OPT_TRUSTED_PROXY:
            if (cfg->num_trusted_proxies == MQWS_BROKER_MAX_PROXIES)
                return usage_error("too many --trusted-proxy (at most 32)", NULL);
            if (parse_proxy(optarg, &cfg->trusted_proxies[cfg->num_trusted_proxies]))
                return usage_error("bad --trusted-proxy (numeric ADDR[/BITS])", optarg);
            cfg->num_trusted_proxies++;
            break;
        case OPT_HS_TIMEOUT:
            if (parse_size(optarg, 1, 3600, &v)) return usage_error("bad --handshake-timeout (1..3600 s)", optarg);
            cfg->handshake_timeout_ms = (unsigned)v * 1000u;
            break;
        case OPT_MAX_HEADER:
            if (parse_size(optarg, 256, 1024 * 1024, &v)) return usage_error("bad --max-header-bytes (256..1M)", optarg);
            cfg->max_header_bytes = (size_t)v;
            break;
        case OPT_MAX_MESSAGE:
            if (parse_size(optarg, 16, (uint64_t)1 << 40, &v)) return usage_error("bad --max-message (16..1T)", optarg);
            cfg->max_message = v;
            break;
        case OPT_MAX_PACKET:
            if (parse_size(optarg, 16, MQWS_MQTT_MAX_REMAINING_LENGTH + 5ull, &v))
                return usage_error("bad --max-packet-size (16..268435460)", optarg);
            cfg->max_packet = (size_t)v;
            break;
        case OPT_MAX_CONN:
            if (parse_size(optarg, 1, 10000000, &v)) return usage_error("bad --max-connections (1..10000000)", optarg);
            cfg->max_connections = (unsigned)v;
            break;
        case OPT_MAX_QUEUE:
            if (parse_size(optarg, 4096, (uint64_t)1 << 32, &v)) return usage_error("bad --max-queue (4k..4G)", optarg);
            cfg->max_queue = (size_t)v;
            break;
        case OPT_SLOW_READER:
            if (parse_size(optarg, 1, 3600, &v)) return usage_error("bad --slow-reader-timeout (1..3600 s)", optarg);
            cfg->slow_reader_ms = (unsigned)v * 1000u;
            break;
        case 'v': cfg->verbose++; break;
        case 'h': fputs(usage_text, stdout); return 1;
        case 'V': printf("mqws-broker %s\n", MQWS_VERSION_STRING); return 1;
        default: return usage_error("unknown option", NULL);
        }
    }
    if (optind < argc) return usage_error("unexpected argument", argv[optind]);
    if (cfg->num_listen == 0) {
        cfg->default_listeners = true;
        mqws_listen_parse_url(DEFAULT_TCP, &cfg->listen[0], &err);
        mqws_listen_parse_url(DEFAULT_WS, &cfg->listen[1], &err);
        cfg->num_listen = 2;
    }
    bool need_tls = false;
    for (size_t i = 0; i < cfg->num_listen; i++)
        need_tls |= mqws_transport_is_tls(cfg->listen[i].transport);
    if (need_tls && (!cfg->tls_cert || !cfg->tls_key))
        return usage_error("tls:// and wss:// listeners need --tls-cert and --tls-key", NULL);
    if ((cfg->tls_cert || cfg->tls_key || cfg->tls_ca) && !need_tls)
        return usage_error("--tls-cert/--tls-key/--tls-ca given without a tls:// or wss:// listener", NULL);
    return 0;
}
