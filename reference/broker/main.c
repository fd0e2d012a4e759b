/*
 * main.c - mqws-broker: the event loop. One thread; each turn waits on epoll,
 * reads, hands packets to the core, runs timers, then writes every connection's
 * queued bytes once (Redis ae's beforesleep).
 */
#define _GNU_SOURCE
#include "broker.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100u          /* connection timers and the core's tick run this often */
#define SHUTDOWN_GRACE_MS 2000u

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

uint64_t mqws_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void core_log(void *user, const char *line)
{
    /* peer text (topics, client ids) may hold control characters: no forged lines */
    char safe[1024];
    size_t o = 0;
    (void)user;
    for (const unsigned char *p = (const unsigned char *)line; *p && o + 5 < sizeof safe; p++) {
        if (*p < 0x20 || *p == 0x7f) o += (size_t)snprintf(safe + o, sizeof safe - o, "\\x%02x", *p);
        else safe[o++] = (char)*p;
    }
    safe[o] = '\0';
    mqws_log("%s", safe);
}

static bool is_listener(const mqws_broker *b, const void *p)
{
    return p >= (const void *)&b->listeners[0] &&
           p < (const void *)&b->listeners[MQWS_BROKER_MAX_LISTENERS];
}

static void free_dead(mqws_broker *b)
{
    if (!b->dead) return;
    /* the lists that outlive a turn must not keep a connection about to be freed */
    mqws_conn **pp = &b->read_again;
    while (*pp) {
        if ((*pp)->state == MQWS_CONN_DEAD) *pp = (*pp)->read_next;
        else pp = &(*pp)->read_next;
    }
    pp = &b->flush_list;
    while (*pp) {
        if ((*pp)->state == MQWS_CONN_DEAD) *pp = (*pp)->flush_next;
        else pp = &(*pp)->flush_next;
    }
    while (b->dead) {
        mqws_conn *c = b->dead;
        b->dead = c->next;
        mqws_conn_free(c);
    }
}

static void run_timers(mqws_broker *b)
{
    for (mqws_conn *c = b->conns, *next; c; c = next) {
        next = c->next; /* tick may move c to the dead list */
        mqws_conn_tick(c);
    }
    /* every TICK_MS (the core's own minimum): one cheap pass, and a deadline that
     * another core call brought forward is never missed */
    b->in_core = true;
    mqws_core_tick(b->core, b->now_ms);
    b->in_core = false;
}

static void turn(mqws_broker *b, int timeout_ms)
{
    static mqws_poll_event events[256];
    if (b->read_again || b->flush_list) timeout_ms = 0; /* work left from the last turn */
    int n = mqws_poll_wait(b->poller, events, 256, timeout_ms);
    if (n < 0) {
        mqws_log("epoll_wait: %s", strerror(errno));
        return;
    }
    b->now_ms = mqws_now_ms();
    for (int i = 0; i < n; i++) {
        /* a later event may name a connection closed by an earlier one: it stays
         * DEAD, not freed, until the end of the turn, and on_event skips it */
        if (is_listener(b, events[i].data)) mqws_listen_accept(b, events[i].data);
        else mqws_conn_on_event(events[i].data, events[i].mask);
    }
    mqws_conn *again = b->read_again;
    b->read_again = NULL;
    while (again) {
        mqws_conn *c = again;
        again = c->read_next;
        c->read_listed = false;
        if (c->state != MQWS_CONN_DEAD && !c->read_paused) mqws_conn_read(c);
    }
}

static void raise_fd_limit(const mqws_broker_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)cfg->max_connections + 64)
        mqws_log("note: the descriptor limit (%llu) caps connections below --max-connections %u",
                 (unsigned long long)rl.rlim_cur, cfg->max_connections);
}

int main(int argc, char **argv)
{
    static mqws_broker broker;
    mqws_broker *b = &broker;
    int rc = mqws_cli_parse(&b->cfg, argc, argv);
    if (rc == 1) return 0;
    if (rc != 0) return 2;
    mqws_log_verbose = b->cfg.verbose > 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns on the signal */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(&b->cfg);

    b->now_ms = mqws_now_ms();
    b->poller = mqws_poll_create();
    b->rbuf = malloc(MQWS_BROKER_READ_CHUNK);
    mqws_core_config cc;
    mqws_core_config_default(&cc);
    cc.max_packet_size = (uint32_t)b->cfg.max_packet;
    cc.max_connections = b->cfg.max_connections;
    cc.connect_timeout = (uint16_t)(b->cfg.handshake_timeout_ms / 1000u);
    cc.log = core_log;
    cc.trace = b->cfg.verbose > 0;
    b->core = mqws_core_new(&cc);
    if (!b->poller || !b->rbuf || !b->core) {
        mqws_log("start-up failed: out of memory");
        return 1;
    }
    if (mqws_tls_init(b) != 0) return 1;
    if (b->cfg.default_listeners)
        mqws_log("no --listen given: serving the defaults, tcp://127.0.0.1:1883 and "
                 "ws://127.0.0.1:8080/mqtt (mqws-broker --help lists the options)");
    if (mqws_listen_open(b) != 0) return 1;

    uint64_t next_tick = b->now_ms + TICK_MS;
    while (!stop_signal) {
        uint64_t now = mqws_now_ms();
        int timeout = next_tick > now ? (int)(next_tick - now) : 0;
        turn(b, timeout);
        if (b->now_ms >= next_tick) {
            run_timers(b);
            next_tick = b->now_ms + TICK_MS;
        }
        mqws_conn_flush_all(b);
        free_dead(b);
    }

    /* clean shutdown: no new connections, 5.0 clients told why, queues flushed */
    mqws_log("%s received: shutting down (%zu connections)",
             stop_signal == SIGINT ? "SIGINT" : "SIGTERM", b->num_conns);
    mqws_listen_close(b);
    b->in_core = true;
    mqws_core_shutdown(b->core, b->now_ms);
    b->in_core = false;
    for (mqws_conn *c = b->conns, *next; c; c = next) {
        next = c->next;
        if (c->state < MQWS_CONN_OPEN) mqws_conn_abort(c, "server shutting down");
        else mqws_conn_close(c, 1001, "server shutting down");
    }
    uint64_t until = mqws_now_ms() + SHUTDOWN_GRACE_MS;
    while (b->num_conns > 0 && mqws_now_ms() < until) {
        mqws_conn_flush_all(b);
        free_dead(b);
        turn(b, 50);
        run_timers(b);
    }
    for (mqws_conn *c = b->conns, *next; c; c = next) {
        next = c->next;
        mqws_conn_abort(c, "server shutting down");
    }
    mqws_conn_flush_all(b);
    free_dead(b);
    mqws_core_free(b->core);
    mqws_tls_free(b);
    mqws_poll_destroy(b->poller);
    free(b->rbuf);
    mqws_log("stopped");
    return 0;
}
