/*
 * loadgen.c - mqws-loadgen: drives an MQTT over WebSocket broker with N clients
 * and reports deliveries/s, latency percentiles, lost messages and the broker's
 * RSS and CPU. Command line, run phases and the report; the wire work is in
 * loadgen_conn.c.
 *
 * Phases: setup (every connection through handshake, CONNECT and SUBSCRIBE),
 * warm-up (traffic, not counted), measurement (--seconds or --count), drain
 * (publishing stops; outstanding deliveries are awaited so that every message
 * is either delivered or counted lost), report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

enum {
    LG_EXIT_OK = 0,
    LG_EXIT_FAILED = 1, /* the run could not be completed */
    LG_EXIT_USAGE = 2,
    LG_EXIT_LOST = 3    /* completed, but QoS 1 messages were lost or corrupted */
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: mqws-loadgen [options]\n"
"\n"
"Load generator for MQTT over WebSocket brokers (RFC 6455 binary frames,\n"
"subprotocol \"mqtt\"). One thread, epoll; every byte goes through libmqws.\n"
"\n"
"Target and workload:\n"
"  -u, --url URL            ws://HOST:PORT/PATH (default ws://127.0.0.1:8080/mqtt)\n"
"  -m, --mode MODE          pairs   N publishers, N subscribers; publisher i publishes\n"
"                                   to topic i, subscriber i receives it (N->N)\n"
"                           fanout  1 publisher, N subscribers on its topic (1->N)\n"
"                           idle    N idle connections (handshake + CONNECT); reports\n"
"                                   the broker's RSS per connection\n"
"                           (default pairs)\n"
"  -n, --clients N          N of the mode (default 10)\n"
"  -q, --qos 0|1            QoS of PUBLISH and SUBSCRIBE (default 0)\n"
"  -s, --size BYTES         payload size, >= %u (default 64)\n"
"  -r, --rate MSGS          publishes per second over all publishers (open loop;\n"
"                           latency counts from the scheduled send time)\n"
"                           0: closed loop, each publisher keeps --window messages\n"
"                           in flight (default 0)\n"
"  -w, --window W           per publisher: messages published but not yet received\n"
"                           by all its subscribers (default 100; 10000 with --rate)\n"
"  -V, --mqtt-version 4|5   MQTT 3.1.1 (4, default) or 5.0\n"
"  -k, --keepalive S        MQTT keep alive; PINGREQ at half of it (default 0: none)\n"
"\n"
"Bounds:\n"
"      --warmup S           traffic before the measurement (default 1)\n"
"  -t, --seconds S          measurement length; idle: hold time before the RSS\n"
"                           reading (default 5)\n"
"  -c, --count N            publish N messages in the measurement, which ends when\n"
"                           all have been delivered (or at --seconds; default: none)\n"
"      --drain S            wait at most S for outstanding deliveries (default 5)\n"
"      --setup-timeout S    all connections must be up within S (default 60)\n"
"      --connect-concurrency N  handshakes in progress at once (default 256)\n"
"\n"
"Measurement and output:\n"
"  -p, --broker-pid PID     read the broker's VmRSS and utime+stime from /proc\n"
"  -l, --label TEXT         copied into the JSON line\n"
"      --quiet              no progress and no human summary on stderr\n"
"  -h, --help               this text\n"
"\n"
"Output: one JSON line on stdout per run (also on failure, with \"error\"), a\n"
"human summary and progress lines on stderr. Loss is counted from sequence\n"
"numbers in the payload, latency from the send time in the payload.\n"
"\n"
"Exit codes: 0 run completed; 1 run failed (connection refused, handshake or\n"
"protocol error, setup timeout, a connection closed); 2 usage error;\n"
"3 run completed but QoS 1 messages were lost or arrived corrupted.\n",
            LG_PAYLOAD_HEADER);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "mqws-loadgen: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see mqws-loadgen --help)\n");
    return LG_EXIT_USAGE;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (*s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* ws://host[:port][/path]; host may be [v6]. */
static bool parse_url(const char *url, lg_config *cfg)
{
    if (strncmp(url, "ws://", 5) != 0)
        return false;
    const char *h = url + 5;
    const char *hend, *p;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend)
            return false;
        p = hend + 1;
        h++;
    } else {
        hend = h + strcspn(h, ":/");
        p = hend;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= sizeof cfg->host)
        return false;
    memcpy(cfg->host, h, hl);
    cfg->host[hl] = '\0';
    snprintf(cfg->port, sizeof cfg->port, "80");
    if (*p == ':') {
        p++;
        size_t pl = strspn(p, "0123456789");
        if (pl == 0 || pl >= sizeof cfg->port)
            return false;
        memcpy(cfg->port, p, pl);
        cfg->port[pl] = '\0';
        p += pl;
    }
    if (*p == '\0')
        p = "/";
    if (*p != '/' || strlen(p) >= sizeof cfg->path)
        return false;
    snprintf(cfg->path, sizeof cfg->path, "%s", p);
    bool v6 = strchr(cfg->host, ':') != NULL;
    snprintf(cfg->host_header, sizeof cfg->host_header, "%s%s%s:%s", v6 ? "[" : "", cfg->host,
             v6 ? "]" : "", cfg->port);
    return true;
}

static int parse_args(int argc, char **argv, lg_config *cfg)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"mode", required_argument, NULL, 'm'},
        {"clients", required_argument, NULL, 'n'},
        {"qos", required_argument, NULL, 'q'},
        {"size", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"mqtt-version", required_argument, NULL, 'V'},
        {"keepalive", required_argument, NULL, 'k'},
        {"warmup", required_argument, NULL, 1},
        {"seconds", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'c'},
        {"drain", required_argument, NULL, 2},
        {"setup-timeout", required_argument, NULL, 3},
        {"connect-concurrency", required_argument, NULL, 4},
        {"broker-pid", required_argument, NULL, 'p'},
        {"label", required_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 5},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof *cfg);
    parse_url("ws://127.0.0.1:8080/mqtt", cfg);
    cfg->mode = LG_MODE_PAIRS;
    cfg->clients = 10;
    cfg->size = 64;
    cfg->mqtt_version = 4;
    cfg->warmup = 1;
    cfg->seconds = 5;
    cfg->drain = 5;
    cfg->setup_timeout = 60;
    cfg->connect_concurrency = 256;
    uint64_t u;
    int opt;
    while ((opt = getopt_long(argc, argv, "u:m:n:q:s:r:w:V:k:t:c:p:l:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            if (!parse_url(optarg, cfg))
                return usage_error("bad --url '%s': expected ws://HOST[:PORT][/PATH]", optarg);
            break;
        case 'm':
            if (strcmp(optarg, "pairs") == 0)
                cfg->mode = LG_MODE_PAIRS;
            else if (strcmp(optarg, "fanout") == 0)
                cfg->mode = LG_MODE_FANOUT;
            else if (strcmp(optarg, "idle") == 0)
                cfg->mode = LG_MODE_IDLE;
            else
                return usage_error("bad --mode '%s': pairs, fanout or idle", optarg);
            break;
        case 'n':
            if (!parse_u64(optarg, 1, 100000, &u))
                return usage_error("bad --clients '%s': 1..100000", optarg);
            cfg->clients = (unsigned)u;
            break;
        case 'q':
            if (!parse_u64(optarg, 0, 1, &u))
                return usage_error("bad --qos '%s': 0 or 1", optarg);
            cfg->qos = (int)u;
            break;
        case 's':
            if (!parse_u64(optarg, LG_PAYLOAD_HEADER, 16u << 20, &u))
                return usage_error("bad --size '%s': 24..16777216 bytes", optarg);
            cfg->size = (size_t)u;
            break;
        case 'r':
            if (!parse_double(optarg, 0, 1e9, &cfg->rate))
                return usage_error("bad --rate '%s': publishes per second, >= 0", optarg);
            break;
        case 'w':
            if (!parse_u64(optarg, 1, 60000, &u))
                return usage_error("bad --window '%s': 1..60000", optarg);
            cfg->window = (unsigned)u;
            break;
        case 'V':
            if (!parse_u64(optarg, 4, 5, &u))
                return usage_error("bad --mqtt-version '%s': 4 (3.1.1) or 5", optarg);
            cfg->mqtt_version = (int)u;
            break;
        case 'k':
            if (!parse_u64(optarg, 0, 65535, &u))
                return usage_error("bad --keepalive '%s': 0..65535 s", optarg);
            cfg->keepalive = (unsigned)u;
            break;
        case 1:
            if (!parse_double(optarg, 0, 3600, &cfg->warmup))
                return usage_error("bad --warmup '%s': 0..3600 s", optarg);
            break;
        case 't':
            if (!parse_double(optarg, 0.01, 86400, &cfg->seconds))
                return usage_error("bad --seconds '%s': 0.01..86400", optarg);
            break;
        case 'c':
            if (!parse_u64(optarg, 1, UINT64_MAX / 2, &cfg->count))
                return usage_error("bad --count '%s': >= 1", optarg);
            break;
        case 2:
            if (!parse_double(optarg, 0, 3600, &cfg->drain))
                return usage_error("bad --drain '%s': 0..3600 s", optarg);
            break;
        case 3:
            if (!parse_double(optarg, 0.1, 3600, &cfg->setup_timeout))
                return usage_error("bad --setup-timeout '%s': 0.1..3600 s", optarg);
            break;
        case 4:
            if (!parse_u64(optarg, 1, 100000, &u))
                return usage_error("bad --connect-concurrency '%s': 1..100000", optarg);
            cfg->connect_concurrency = (unsigned)u;
            break;
        case 'p':
            if (!parse_u64(optarg, 1, 1u << 30, &u))
                return usage_error("bad --broker-pid '%s'", optarg);
            cfg->broker_pid = (int)u;
            break;
        case 'l':
            cfg->label = optarg;
            break;
        case 5:
            cfg->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(LG_EXIT_OK);
        default:
            fprintf(stderr, "(see mqws-loadgen --help)\n");
            return LG_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (cfg->window == 0)
        cfg->window = cfg->rate > 0 ? 10000 : 100;
    if (cfg->broker_pid > 0 && lg_proc_rss_kb(cfg->broker_pid) < 0) {
        char pid[16];
        snprintf(pid, sizeof pid, "%d", cfg->broker_pid);
        return usage_error("--broker-pid %s: no such process readable in /proc", pid);
    }
    return -1;
}

/* ------------------------------------------------------------------ setup */

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static bool alloc_buffers(lg_conn *c, size_t frame_max)
{
    switch (c->role) {
    case LG_ROLE_PUB: /* sends PUBLISH, receives acks */
        c->rcap = 16384;
        c->wcap = max_size(256u * 1024u, 4 * frame_max);
        c->pkt_cap = 1024;
        break;
    case LG_ROLE_SUB: /* receives PUBLISH, sends acks */
        c->rcap = max_size(64u * 1024u, frame_max);
        c->wcap = 64u * 1024u;
        c->pkt_cap = frame_max + 64;
        break;
    case LG_ROLE_IDLE:
        c->rcap = 2048;
        c->wcap = 1024;
        c->pkt_cap = 512;
        break;
    }
    c->rbuf = malloc(c->rcap);
    c->wbuf = malloc(c->wcap);
    c->pkt = malloc(c->pkt_cap);
    return c->rbuf && c->wbuf && c->pkt;
}

static bool setup_publisher(lg_run *run, lg_pub *p, lg_conn *c, unsigned index, unsigned nsubs)
{
    const lg_config *cfg = run->cfg;
    p->conn = c;
    p->index = index;
    p->nsubs = nsubs;
    p->remaining = calloc(cfg->window, sizeof *p->remaining);
    p->payload = malloc(cfg->size);
    if (!p->remaining || !p->payload)
        return false;
    for (size_t i = 0; i < cfg->size; i++)
        p->payload[i] = (uint8_t)('a' + i % 26);
    memset(&p->tmpl, 0, sizeof p->tmpl);
    p->tmpl.type = MQWS_PUBLISH;
    p->tmpl.publish.topic = (mqws_str){c->topic, c->topic_len};
    p->tmpl.publish.qos = (uint8_t)cfg->qos;
    p->tmpl.publish.payload = (mqws_bytes){p->payload, cfg->size};
    p->tmpl.packet_id = cfg->qos > 0 ? 1 : 0;
    size_t n = 0;
    if (mqws_mqtt_encode(&p->tmpl, (mqws_mqtt_version)cfg->mqtt_version, NULL, 0, &n) !=
        MQWS_ERR_BUFFER_TOO_SMALL)
        return false;
    p->pkt_size = n;
    c->pub = p;
    return true;
}

static bool setup_run(lg_run *run)
{
    const lg_config *cfg = run->cfg;
    unsigned n = cfg->clients;
    switch (cfg->mode) {
    case LG_MODE_PAIRS:
        run->nconns = 2 * n;
        run->npubs = n;
        break;
    case LG_MODE_FANOUT:
        run->nconns = n + 1;
        run->npubs = 1;
        break;
    case LG_MODE_IDLE:
        run->nconns = n;
        run->npubs = 0;
        break;
    }
    run->conns = calloc(run->nconns, sizeof *run->conns);
    run->pubs = calloc(run->npubs ? run->npubs : 1, sizeof *run->pubs);
    if (!run->conns || !run->pubs)
        return false;
    size_t frame_max = cfg->size + 64 + MQWS_WS_MAX_HEADER + 16;
    int pid = (int)getpid();
    for (unsigned i = 0; i < run->nconns; i++) {
        lg_conn *c = &run->conns[i];
        c->fd = -1;
        c->idx = i;
        if (cfg->mode == LG_MODE_IDLE)
            c->role = LG_ROLE_IDLE;
        else if (cfg->mode == LG_MODE_PAIRS)
            c->role = i < n ? LG_ROLE_PUB : LG_ROLE_SUB;
        else
            c->role = i == 0 ? LG_ROLE_PUB : LG_ROLE_SUB;
        unsigned topic_no = cfg->mode == LG_MODE_PAIRS ? i % n : 0;
        int tl = snprintf(c->topic, sizeof c->topic, "mqws-lg/%d/%u", pid, topic_no);
        c->topic_len = (size_t)tl;
        if (!alloc_buffers(c, frame_max))
            return false;
    }
    for (unsigned i = 0; i < run->npubs; i++) {
        unsigned nsubs = cfg->mode == LG_MODE_PAIRS ? 1 : n;
        if (!setup_publisher(run, &run->pubs[i], &run->conns[i], i, nsubs))
            return false;
    }
    for (unsigned i = 0; i < run->nconns; i++) {
        lg_conn *c = &run->conns[i];
        if (c->role == LG_ROLE_SUB)
            c->src = cfg->mode == LG_MODE_PAIRS ? &run->pubs[i - n] : &run->pubs[0];
    }
    return true;
}

static int resolve(lg_run *run)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(run->cfg->host, run->cfg->port, &hints, &res);
    if (r != 0 || !res) {
        snprintf(run->error, sizeof run->error, "cannot resolve %s: %s", run->cfg->host,
                 gai_strerror(r));
        return -1;
    }
    memcpy(&run->addr, res->ai_addr, res->ai_addrlen);
    run->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Every connection is a file descriptor in this process and one in the broker. */
static int raise_nofile(lg_run *run)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    rlim_t want = (rlim_t)run->nconns + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        snprintf(run->error, sizeof run->error,
                 "%u connections need %lu file descriptors; RLIMIT_NOFILE allows %lu "
                 "(raise the hard limit: ulimit -Hn)",
                 run->nconns, (unsigned long)want, (unsigned long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ loop */

typedef enum { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD, PH_DONE } lg_phase;

typedef struct lg_times {
    uint64_t t_start, t_ready, t_measure0, t_measure1, t_end, deadline;
    double broker_cpu0, broker_cpu1, self_cpu0, self_cpu1;
    long rss_start, rss_end;
    bool drained;
} lg_times;

static void pump_publishers(lg_run *run, uint64_t now)
{
    const lg_config *cfg = run->cfg;
    if (!run->publishing ||
        (cfg->count > 0 && run->measuring && run->published_measured >= cfg->count))
        return;
    if (cfg->rate > 0) {
        for (unsigned i = 0; i < run->npubs; i++) {
            lg_pub *p = &run->pubs[i];
            if (now > p->next_due_ns + 1000000000ull) {
                run->late_resets++;
                p->next_due_ns = now;
            }
            while (p->next_due_ns <= now && run->conns[i].state == LG_ST_READY) {
                if (!lg_pub_can_publish(run, p)) {
                    run->window_full++;
                } else if (!lg_publish(run, p, p->next_due_ns)) {
                    break; /* send buffer full: try again next turn */
                }
                p->next_due_ns += p->interval_ns;
            }
        }
        return;
    }
    lg_pub *list = run->ready_head;
    run->ready_head = NULL;
    while (list) {
        lg_pub *p = list;
        list = p->next_ready;
        p->listed = false;
        while (lg_pub_can_publish(run, p) && lg_publish(run, p, now)) {
        }
    }
}

static void flush_dirty(lg_run *run)
{
    lg_conn *c = run->dirty_head;
    run->dirty_head = NULL;
    while (c) {
        lg_conn *next = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        lg_conn_flush(run, c);
        c = next;
    }
}

static bool all_delivered(const lg_run *run)
{
    for (unsigned i = 0; i < run->npubs; i++) {
        const lg_pub *p = &run->pubs[i];
        if (p->low != p->next_seq || p->unacked > 0)
            return false;
    }
    return true;
}

static void start_publishing(lg_run *run, uint64_t now)
{
    run->publishing = true;
    double per_pub = run->cfg->rate / (double)(run->npubs ? run->npubs : 1);
    for (unsigned i = 0; i < run->npubs; i++) {
        lg_pub *p = &run->pubs[i];
        if (run->cfg->rate > 0) {
            p->interval_ns = (uint64_t)(1e9 / per_pub);
            if (p->interval_ns == 0)
                p->interval_ns = 1;
            /* spread the publishers over one interval */
            p->next_due_ns = now + p->interval_ns * i / run->npubs;
        } else {
            lg_mark_ready(run, p);
        }
    }
}

static void begin_measure(lg_run *run, lg_times *t, uint64_t now)
{
    run->measuring = true;
    run->published_measured = run->delivered_measured = 0;
    for (unsigned i = 0; i < run->npubs; i++)
        run->pubs[i].seq0 = run->pubs[i].next_seq;
    memset(&run->hist, 0, sizeof run->hist);
    t->t_measure0 = now;
    t->broker_cpu0 = run->cfg->broker_pid ? lg_proc_cpu_s(run->cfg->broker_pid) : -1;
    t->self_cpu0 = lg_self_cpu_s();
}

static void end_measure(lg_run *run, lg_times *t, uint64_t now)
{
    run->measuring = false;
    t->t_measure1 = now;
    t->broker_cpu1 = run->cfg->broker_pid ? lg_proc_cpu_s(run->cfg->broker_pid) : -1;
    t->self_cpu1 = lg_self_cpu_s();
    t->rss_end = run->cfg->broker_pid ? lg_proc_rss_kb(run->cfg->broker_pid) : -1;
}

static void keepalive_sweep(lg_run *run, uint64_t now)
{
    uint64_t half = (uint64_t)run->cfg->keepalive * 500000000ull;
    for (unsigned i = 0; i < run->nconns; i++) {
        lg_conn *c = &run->conns[i];
        if (c->state == LG_ST_READY && now - c->last_send_ns >= half)
            lg_send_pingreq(run, c);
    }
}

static const char *phase_name(lg_phase ph)
{
    static const char *names[] = {"setup", "warm-up", "measure", "drain", "hold", "done"};
    return names[ph];
}

static void progress(const lg_run *run, lg_phase ph, uint64_t now, const lg_times *t,
                     uint64_t *last_delivered)
{
    double el = (double)(now - t->t_start) / 1e9;
    if (ph == PH_SETUP) {
        fprintf(stderr, "mqws-loadgen: %5.1fs setup: %u/%u connections ready\n", el, run->ready,
                run->nconns);
    } else {
        fprintf(stderr, "mqws-loadgen: %5.1fs %s: %llu deliveries in the last second\n", el,
                phase_name(ph), (unsigned long long)(run->delivered_total - *last_delivered));
    }
    *last_delivered = run->delivered_total;
}

static int run_loop(lg_run *run, lg_times *t)
{
    const lg_config *cfg = run->cfg;
    struct epoll_event evs[512];
    lg_phase ph = PH_SETUP;
    unsigned next_start = 0;
    uint64_t now = lg_now_ns();
    uint64_t next_tick = now + 1000000000ull, last_delivered = 0;
    t->t_start = now;
    t->deadline = now + (uint64_t)(cfg->setup_timeout * 1e9);
    while (ph != PH_DONE) {
        while (ph == PH_SETUP && next_start < run->nconns &&
               run->in_setup < cfg->connect_concurrency && run->error[0] == '\0')
            lg_conn_start(run, &run->conns[next_start++]);
        if (run->error[0] != '\0')
            return -1;
        /* Rate mode sleeps exactly until the next scheduled publish: latency
         * counts from the scheduled time, so a coarse timer would show up in it. */
        uint64_t wait_ns = 100000000ull;
        now = lg_now_ns();
        if (run->ready_head || run->dirty_head) {
            wait_ns = 0;
        } else if (run->publishing && cfg->rate > 0) {
            for (unsigned i = 0; i < run->npubs; i++) {
                uint64_t due = run->pubs[i].next_due_ns;
                uint64_t w = due > now ? due - now : 0;
                if (w < wait_ns)
                    wait_ns = w;
            }
        }
        struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
        int n = epoll_pwait2(run->epfd, evs, 512, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            snprintf(run->error, sizeof run->error, "epoll_wait: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++)
            lg_conn_event(run, evs[i].data.ptr, evs[i].events);
        if (run->error[0] != '\0')
            return -1;
        now = lg_now_ns();
        switch (ph) {
        case PH_SETUP:
            if (run->ready == run->nconns) {
                t->t_ready = now;
                if (cfg->mode == LG_MODE_IDLE) {
                    ph = PH_HOLD;
                    begin_measure(run, t, now);
                    t->deadline = now + (uint64_t)(cfg->seconds * 1e9);
                } else {
                    ph = PH_WARMUP;
                    start_publishing(run, now);
                    t->deadline = now + (uint64_t)(cfg->warmup * 1e9);
                }
            } else if (now >= t->deadline || g_stop) {
                snprintf(run->error, sizeof run->error,
                         "%s after %.1f s: %u of %u connections ready",
                         g_stop ? "interrupted" : "setup timeout", (double)(now - t->t_start) / 1e9,
                         run->ready, run->nconns);
                return -1;
            }
            break;
        case PH_WARMUP:
            if (now >= t->deadline || g_stop) {
                ph = PH_MEASURE;
                begin_measure(run, t, now);
                t->deadline = now + (uint64_t)(cfg->seconds * 1e9);
            }
            break;
        case PH_MEASURE:
            /* --count: the measurement ends when the N-th message has reached
             * every subscriber, so deliveries/s covers the whole batch. */
            if (now >= t->deadline || g_stop ||
                (cfg->count > 0 && run->published_measured >= cfg->count && all_delivered(run))) {
                end_measure(run, t, now);
                run->publishing = false;
                run->ready_head = NULL; /* listed flags are reset below */
                for (unsigned i = 0; i < run->npubs; i++)
                    run->pubs[i].listed = false;
                ph = PH_DRAIN;
                t->deadline = now + (uint64_t)(cfg->drain * 1e9);
            }
            break;
        case PH_DRAIN:
            if (all_delivered(run)) {
                t->drained = true;
                ph = PH_DONE;
            } else if (now >= t->deadline || g_stop) {
                ph = PH_DONE;
            }
            break;
        case PH_HOLD:
            if (now >= t->deadline || g_stop) {
                end_measure(run, t, now);
                t->drained = true;
                ph = PH_DONE;
            }
            break;
        case PH_DONE:
            break;
        }
        pump_publishers(run, now);
        flush_dirty(run);
        if (run->error[0] != '\0')
            return -1;
        if (now >= next_tick) {
            next_tick = now + 1000000000ull;
            if (cfg->keepalive > 0)
                keepalive_sweep(run, now);
            if (!cfg->quiet && ph != PH_DONE)
                progress(run, ph, now, t, &last_delivered);
        }
    }
    t->t_end = now;
    return 0;
}

/* ------------------------------------------------------------------ report */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static const char *mode_name(lg_mode m)
{
    return m == LG_MODE_PAIRS ? "pairs" : m == LG_MODE_FANOUT ? "fanout" : "idle";
}

static int report(lg_run *run, const lg_times *t, int exit_code)
{
    const lg_config *cfg = run->cfg;
    bool ok = run->error[0] == '\0';
    double dt = t->t_measure1 > t->t_measure0 ? (double)(t->t_measure1 - t->t_measure0) / 1e9 : 0;
    uint64_t expected = 0, lost = 0, dups = 0;
    unsigned nsubs = 0;
    for (unsigned i = 0; i < run->nconns; i++) {
        const lg_conn *c = &run->conns[i];
        if (c->role != LG_ROLE_SUB)
            continue;
        nsubs++;
        expected += c->src->next_seq;
        lost += c->src->next_seq - c->received;
        dups += c->duplicates;
    }
    if (ok && (run->future_seq > 0 || (cfg->qos > 0 && lost > 0)))
        exit_code = LG_EXIT_LOST;
    double dps = dt > 0 ? (double)run->delivered_measured / dt : 0;
    double pps = dt > 0 ? (double)run->published_measured / dt : 0;
    double p50 = (double)lg_hist_quantile(&run->hist, 0.50) / 1e3;
    double p90 = (double)lg_hist_quantile(&run->hist, 0.90) / 1e3;
    double p99 = (double)lg_hist_quantile(&run->hist, 0.99) / 1e3;
    double pmax = (double)run->hist.max / 1e3;
    double bcpu = t->broker_cpu1 >= 0 && t->broker_cpu0 >= 0 ? t->broker_cpu1 - t->broker_cpu0 : -1;
    double scpu = t->self_cpu1 - t->self_cpu0;
    double setup_s = t->t_ready > t->t_start ? (double)(t->t_ready - t->t_start) / 1e9 : 0;
    long rss_per_conn = -1;
    if (cfg->mode == LG_MODE_IDLE && t->rss_start > 0 && t->rss_end > 0 && run->nconns > 0)
        rss_per_conn = (long)llround((double)(t->rss_end - t->rss_start) * 1024.0 /
                                     (double)run->nconns);

    FILE *f = stdout;
    fprintf(f, "{\"tool\":\"mqws-loadgen\",\"label\":");
    json_string(f, cfg->label ? cfg->label : "");
    fprintf(f, ",\"url\":\"ws://%s%s\",\"mode\":\"%s\",\"clients\":%u,\"connections\":%u,"
               "\"publishers\":%u,\"subscribers\":%u,\"qos\":%d,\"size\":%zu,\"mqtt_version\":%d,"
               "\"rate\":%.0f,\"window\":%u,\"warmup_s\":%.3f,\"seconds\":%.3f,\"setup_s\":%.3f,",
            cfg->host_header, cfg->path, mode_name(cfg->mode), cfg->clients, run->nconns,
            run->npubs, nsubs, cfg->qos, cfg->size, cfg->mqtt_version, cfg->rate, cfg->window,
            cfg->warmup, dt, setup_s);
    fprintf(f, "\"published\":%llu,\"delivered\":%llu,\"publishes_per_s\":%.1f,"
               "\"deliveries_per_s\":%.1f,",
            (unsigned long long)run->published_measured,
            (unsigned long long)run->delivered_measured, pps, dps);
    fprintf(f, "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},", p50, p90,
            p99, pmax);
    fprintf(f, "\"published_total\":%llu,\"expected_deliveries\":%llu,\"lost\":%llu,"
               "\"duplicates\":%llu,\"corrupt\":%llu,\"window_full\":%llu,\"late_resets\":%llu,"
               "\"drained\":%s,",
            (unsigned long long)run->published_total, (unsigned long long)expected,
            (unsigned long long)lost, (unsigned long long)dups,
            (unsigned long long)run->future_seq, (unsigned long long)run->window_full,
            (unsigned long long)run->late_resets, t->drained ? "true" : "false");
    fprintf(f, "\"broker\":{\"pid\":%d,\"rss_start_kb\":%ld,\"rss_kb\":%ld,\"cpu_s\":%.3f,"
               "\"cpu_pct\":%.1f},",
            cfg->broker_pid, t->rss_start, t->rss_end, bcpu, dt > 0 && bcpu >= 0 ? 100 * bcpu / dt : -1);
    fprintf(f, "\"rss_per_conn_bytes\":%ld,\"loadgen_cpu_pct\":%.1f,\"error\":", rss_per_conn,
            dt > 0 ? 100 * scpu / dt : 0);
    if (ok)
        fprintf(f, "null");
    else
        json_string(f, run->error);
    fprintf(f, ",\"exit\":%d}\n", exit_code);
    fflush(f);

    if (cfg->quiet)
        return exit_code;
    if (!ok) {
        fprintf(stderr, "mqws-loadgen: FAILED: %s\n", run->error);
        return exit_code;
    }
    char what[96];
    if (cfg->mode == LG_MODE_IDLE)
        snprintf(what, sizeof what, "idle %u", run->nconns);
    else
        snprintf(what, sizeof what, "%s %u->%u qos%d %zuB", mode_name(cfg->mode), run->npubs,
                 cfg->mode == LG_MODE_PAIRS ? nsubs : cfg->clients, cfg->qos, cfg->size);
    if (cfg->mode == LG_MODE_IDLE) {
        fprintf(stderr, "%s: %u connections up in %.2f s; broker RSS %ld -> %ld kB = %ld B per "
                        "connection, CPU %.1f %% while idle\n",
                what, run->nconns, setup_s, t->rss_start, t->rss_end, rss_per_conn,
                dt > 0 && bcpu >= 0 ? 100 * bcpu / dt : -1);
    } else {
        fprintf(stderr, "%s: %.0f deliveries/s (%.0f publishes/s) over %.2f s; latency p50 %.0f "
                        "p90 %.0f p99 %.0f max %.0f us; lost %llu of %llu%s; broker RSS %ld kB CPU "
                        "%.0f %%; loadgen CPU %.0f %%\n",
                what, dps, pps, dt, p50, p90, p99, pmax, (unsigned long long)lost,
                (unsigned long long)expected, t->drained ? "" : " (drain timed out)", t->rss_end,
                dt > 0 && bcpu >= 0 ? 100 * bcpu / dt : -1, dt > 0 ? 100 * scpu / dt : 0);
    }
    if (exit_code == LG_EXIT_LOST)
        fprintf(stderr, "mqws-loadgen: %llu QoS 1 messages lost, %llu corrupt deliveries\n",
                (unsigned long long)lost, (unsigned long long)run->future_seq);
    return exit_code;
}

int main(int argc, char **argv)
{
    lg_config cfg;
    int r = parse_args(argc, argv, &cfg);
    if (r >= 0)
        return r;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    static lg_run run; /* the histogram is large: keep it off the stack */
    lg_times t;
    memset(&t, 0, sizeof t);
    t.broker_cpu0 = t.broker_cpu1 = -1;
    t.rss_start = t.rss_end = -1;
    run.cfg = &cfg;
    run.rng = lg_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    int code = LG_EXIT_OK;
    if (!setup_run(&run)) {
        snprintf(run.error, sizeof run.error, "out of memory for %u connections", run.nconns);
    } else if (resolve(&run) == 0 && raise_nofile(&run) == 0) {
        run.epfd = epoll_create1(EPOLL_CLOEXEC);
        if (run.epfd < 0) {
            snprintf(run.error, sizeof run.error, "epoll_create1: %s", strerror(errno));
        } else {
            t.rss_start = cfg.broker_pid ? lg_proc_rss_kb(cfg.broker_pid) : -1;
            run_loop(&run, &t);
        }
    }
    if (run.error[0] != '\0')
        code = LG_EXIT_FAILED;
    /* The process exits right after: the kernel closes the sockets. */
    return report(&run, &t, code);
}
