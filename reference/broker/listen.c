/* listen.c - listener URLs, listening sockets, accepting connections. */
#define _GNU_SOURCE
#include "broker.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *mqws_transport_name(mqws_transport t)
{
    switch (t) {
    case MQWS_TR_TCP: return "tcp";
    case MQWS_TR_TLS: return "tls";
    case MQWS_TR_WS: return "ws";
    case MQWS_TR_WSS: return "wss";
    }
    return "?";
}

int mqws_listen_parse_url(const char *url, mqws_listen_spec *spec, const char **err)
{
    static const struct { const char *prefix; mqws_transport t; } schemes[] = {
        {"tcp://", MQWS_TR_TCP}, {"mqtt://", MQWS_TR_TCP}, {"tls://", MQWS_TR_TLS},
        {"mqtts://", MQWS_TR_TLS}, {"ws://", MQWS_TR_WS}, {"wss://", MQWS_TR_WSS}};
    memset(spec, 0, sizeof *spec);
    const char *p = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(url, schemes[i].prefix, n) == 0) {
            spec->transport = schemes[i].t;
            p = url + n;
            break;
        }
    }
    if (!p) { *err = "scheme must be tcp://, tls://, ws:// or wss://"; return -1; }
    const char *host_end, *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) { *err = "unterminated [IPv6] host"; return -1; }
        p++;
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        after = host_end;
    }
    size_t hlen = (size_t)(host_end - p);
    if (hlen == 0 || hlen >= sizeof spec->host) { *err = "missing or too long host"; return -1; }
    memcpy(spec->host, p, hlen);
    if (*after != ':') { *err = "missing :PORT"; return -1; }
    char *end;
    errno = 0;
    long port = strtol(after + 1, &end, 10);
    if (errno || end == after + 1 || port < 0 || port > 65535) { *err = "bad port (0..65535)"; return -1; }
    spec->port = (uint16_t)port;
    if (*end == '\0') {
        if (mqws_transport_is_ws(spec->transport)) strcpy(spec->path, "/mqtt");
        return 0;
    }
    if (*end != '/') { *err = "unexpected text after the port"; return -1; }
    if (!mqws_transport_is_ws(spec->transport)) {
        if (strcmp(end, "/") == 0) return 0;
        *err = "a path is only meaningful for ws:// and wss://";
        return -1;
    }
    if (strlen(end) >= sizeof spec->path) { *err = "path too long"; return -1; }
    for (const char *c = end; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || *c == '?' || *c == '#') { *err = "path must be plain printable ASCII without '?' or '#'"; return -1; }
    strcpy(spec->path, end);
    return 0;
}

static int open_one(mqws_broker *b, mqws_listener *l)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)l->spec.port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(l->spec.host, port, &hints, &res);
    if (rc != 0) {
        mqws_log("listen %s://%s:%s: %s", mqws_transport_name(l->spec.transport), l->spec.host,
                 port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) goto fail;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    unsigned actual = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    bool v6 = strchr(l->spec.host, ':') != NULL;
    snprintf(l->url, sizeof l->url, "%s://%s%s%s:%u%s", mqws_transport_name(l->spec.transport),
             v6 ? "[" : "", l->spec.host, v6 ? "]" : "", actual, l->spec.path);
    freeaddrinfo(res);
    l->fd = fd;
    if (mqws_poll_add(b->poller, fd, MQWS_POLL_READ, l) != 0) {
        mqws_log("listen %s: epoll: %s", l->url, strerror(errno));
        return -1;
    }
    return 0;
fail:
    mqws_log("listen %s://%s:%s: %s", mqws_transport_name(l->spec.transport), l->spec.host, port,
             strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return -1;
}

int mqws_listen_open(mqws_broker *b)
{
    for (size_t i = 0; i < b->cfg.num_listen; i++) {
        mqws_listener *l = &b->listeners[i];
        l->fd = -1;
        l->spec = b->cfg.listen[i];
        if (open_one(b, l) != 0) return -1;
        b->num_listeners++;
    }
    for (size_t i = 0; i < b->num_listeners; i++) {
        /* the shared contract: one line per listener, actual port, flushed */
        printf("listening %s\n", b->listeners[i].url);
        mqws_log("listening %s%s", b->listeners[i].url,
                 b->cfg.default_listeners ? " (default listener: no --listen given)" : "");
    }
    fflush(stdout);
    return 0;
}

void mqws_listen_close(mqws_broker *b)
{
    for (size_t i = 0; i < b->num_listeners; i++) {
        if (b->listeners[i].fd >= 0) {
            mqws_poll_del(b->poller, b->listeners[i].fd);
            close(b->listeners[i].fd);
            b->listeners[i].fd = -1;
        }
    }
}

/* A spare descriptor given up when accept() hits the descriptor limit, so the
 * pending connection can be taken and closed instead of spinning on it. */
static int spare_fd = -1;

static void refuse(mqws_broker *b, mqws_listener *l, int fd, const char *why)
{
    if (fd >= 0 && mqws_transport_is_ws(l->spec.transport) && !mqws_transport_is_tls(l->spec.transport)) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                                   "Content-Type: text/plain\r\nContent-Length: 30\r\n\r\n"
                                   "connection limit reached (503)";
        ssize_t w = write(fd, busy, sizeof busy - 1);
        (void)w;
    }
    if (fd >= 0) close(fd);
    /* one line per second at most: a flood must not flood the log too */
    static uint64_t last_ms;
    static unsigned long suppressed;
    if (last_ms && b->now_ms - last_ms < 1000) {
        suppressed++;
        return;
    }
    mqws_log("refused %s connection on %s: %s (%lu more refused since the last line)",
             mqws_transport_name(l->spec.transport), l->url, why, suppressed);
    last_ms = b->now_ms ? b->now_ms : 1;
    suppressed = 0;
}

void mqws_listen_accept(mqws_broker *b, mqws_listener *l)
{
    if (spare_fd < 0) spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                if (spare_fd >= 0) {
                    close(spare_fd);
                    fd = accept(l->fd, NULL, NULL);
                    if (fd >= 0) close(fd);
                    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                }
                refuse(b, l, -1, "out of file descriptors");
                continue;
            }
            return; /* EAGAIN, or a connection that died in the queue */
        }
        if (b->num_conns >= b->cfg.max_connections) {
            refuse(b, l, fd, "--max-connections reached");
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        mqws_conn_new(b, fd, l, &peer);
    }
}
