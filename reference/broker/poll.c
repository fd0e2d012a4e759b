/* poll.c - epoll backend of poll.h. */
#include "poll.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MQWS_POLL_BATCH 256

struct mqws_poller {
    int epfd;
    struct epoll_event events[MQWS_POLL_BATCH];
};

mqws_poller *mqws_poll_create(void)
{
    mqws_poller *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        free(p);
        return NULL;
    }
    return p;
}

void mqws_poll_destroy(mqws_poller *p)
{
    if (!p) return;
    close(p->epfd);
    free(p);
}

static int poll_ctl(mqws_poller *p, int op, int fd, int mask, void *data)
{
    struct epoll_event ev = {0};
    ev.events = (mask & MQWS_POLL_READ ? EPOLLIN | EPOLLRDHUP : 0u) |
                (mask & MQWS_POLL_WRITE ? EPOLLOUT : 0u);
    ev.data.ptr = data;
    return epoll_ctl(p->epfd, op, fd, &ev);
}

int mqws_poll_add(mqws_poller *p, int fd, int mask, void *data)
{
    return poll_ctl(p, EPOLL_CTL_ADD, fd, mask, data);
}

int mqws_poll_mod(mqws_poller *p, int fd, int mask, void *data)
{
    return poll_ctl(p, EPOLL_CTL_MOD, fd, mask, data);
}

int mqws_poll_del(mqws_poller *p, int fd)
{
    struct epoll_event ev = {0};
    return epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, &ev);
}

int mqws_poll_wait(mqws_poller *p, mqws_poll_event *out, int max, int timeout_ms)
{
    if (max > MQWS_POLL_BATCH) max = MQWS_POLL_BATCH;
    int n = epoll_wait(p->epfd, p->events, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        uint32_t e = p->events[i].events;
        out[i].data = p->events[i].data.ptr;
        out[i].mask = (e & (EPOLLIN | EPOLLRDHUP) ? MQWS_POLL_READ : 0) |
                      (e & EPOLLOUT ? MQWS_POLL_WRITE : 0) |
                      (e & (EPOLLERR | EPOLLHUP) ? MQWS_POLL_ERROR : 0);
    }
    return n;
}
