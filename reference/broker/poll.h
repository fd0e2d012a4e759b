/*
 * poll.h - the poller behind the event loop (Redis ae / mosquitto mux style):
 * register a descriptor with the events it wants and a pointer, wait, get the
 * pointers back with what fired. One backend: epoll, level-triggered.
 */
#ifndef MQWS_BROKER_POLL_H
#define MQWS_BROKER_POLL_H

#define MQWS_POLL_READ 1
#define MQWS_POLL_WRITE 2
#define MQWS_POLL_ERROR 4 /* hang-up or socket error: reading reports it */

typedef struct mqws_poller mqws_poller;

typedef struct mqws_poll_event {
    void *data;
    int mask;
} mqws_poll_event;

/** NULL on failure (errno set). */
mqws_poller *mqws_poll_create(void);
void mqws_poll_destroy(mqws_poller *p);

/** 0, or -1 with errno. @p mask: MQWS_POLL_READ | MQWS_POLL_WRITE (may be 0). */
int mqws_poll_add(mqws_poller *p, int fd, int mask, void *data);
int mqws_poll_mod(mqws_poller *p, int fd, int mask, void *data);
int mqws_poll_del(mqws_poller *p, int fd);

/**
 * Waits up to @p timeout_ms (-1: forever) and fills at most @p max events.
 * Returns their number, 0 on timeout or interruption by a signal, -1 on error.
 */
int mqws_poll_wait(mqws_poller *p, mqws_poll_event *out, int max, int timeout_ms);

#endif
