/* The WebSocket loop thread: one epoll set for every upgraded socket, the wake eventfd that
 * MHD threads and job workers ring, the init and linger timer FIFOs, and the loop's life
 * (new, stop, free). What one connection does on an event is in ws-loop.c. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "ws-internal.h"

/* ---- the loop -------------------------------------------------------------------------- */

static void adopt_incoming(struct api_ws_loop *loop, struct ws_conn *list)
{
    struct ws_conn *oldest_first = NULL;

    /* pushed newest first: reversed, so the init timers go into their FIFO in order */
    while (list) {
        struct ws_conn *c = list;
        list = c->all_next;
        c->all_next = oldest_first;
        oldest_first = c;
    }
    list = oldest_first;
    while (list) {
        struct ws_conn *c = list;
        list = c->all_next;
        c->all_prev = NULL;
        c->all_next = loop->all;
        if (loop->all)
            loop->all->all_prev = c;
        loop->all = c;
        ws__timer_start(c, &loop->init_timers, c->deadline);
        ws__pump(c); /* registers the socket */
        /* frames that came with the request head: MHD read them for us */
        if (c->extra_off < c->extra_len && c->state != WS_DONE)
            ws__on_socket_event(c, EPOLLIN);
    }
}

static void take_lists(struct api_ws_loop *loop, struct ws_conn **ret_incoming,
                       struct ws_conn **ret_notify)
{
    uint64_t v;

    (void)!read(loop->wake_fd, &v, sizeof(v));
    pthread_mutex_lock(&loop->lock);
    *ret_incoming = TAKE_PTR(loop->incoming);
    *ret_notify = TAKE_PTR(loop->notify_head);
    for (struct ws_conn *c = *ret_notify; c; c = c->notify_next)
        c->notified = false;
    pthread_mutex_unlock(&loop->lock);
}

static void on_wake(struct api_ws_loop *loop)
{
    struct ws_conn *incoming, *notify;

    take_lists(loop, &incoming, &notify);
    adopt_incoming(loop, incoming);
    while (notify) {
        struct ws_conn *c = notify;
        notify = c->notify_next;
        if (!c->released)
            ws__pump(c);
        ws__conn_unref(c);
    }
}

static void expire(struct api_ws_loop *loop, usec_t now)
{
    struct ws_conn *c;

    while ((c = loop->init_timers.head) && c->deadline <= now) {
        ws__timer_stop(c);
        if (!c->submitted) {
            ws__close(c, 4001, "Initialization Timeout");
            ws__pump(c);
        }
    }
    while ((c = loop->linger_timers.head) && c->deadline <= now)
        ws__socket_done(c); /* it would not take the rest or answer the close: given up */
}

static int next_timeout_ms(struct api_ws_loop *loop, usec_t now)
{
    usec_t next = UINT64_MAX;

    if (loop->init_timers.head)
        next = MIN(next, loop->init_timers.head->deadline);
    if (loop->linger_timers.head)
        next = MIN(next, loop->linger_timers.head->deadline);
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)((next - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
}

static void shut_all(struct api_ws_loop *loop)
{
    for (struct ws_conn *c = loop->all, *next; c; c = next) {
        next = c->all_next;
        if (c->state == WS_OPEN) {
            ws__close(c, WSLAY_CODE_GOING_AWAY, "Server shutting down");
            ws__pump(c); /* best effort: the socket may be full */
        }
        ws__socket_done(c);
    }
}

static void bury(struct api_ws_loop *loop)
{
    while (loop->dead) {
        struct ws_conn *c = loop->dead;
        loop->dead = c->all_next;
        ws__conn_unref(c);
    }
}

static void *loop_main(void *arg)
{
    struct api_ws_loop *loop = arg;
    bool stopping = false;

    for (;;) {
        struct epoll_event events[64];
        usec_t now = now_usec();
        int n = epoll_wait(loop->epfd, events, (int)ARRAY_SIZE(events), next_timeout_ms(loop, now));

        if (n < 0 && errno != EINTR) {
            log_error("websocket loop: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct ws_watch *w = events[i].data.ptr;
            if (!w) {
                on_wake(loop);
                continue;
            }
            if (w->conn->released)
                continue; /* released earlier in this round; freed after it */
            if (w->kind == WS_WATCH_STDIN)
                ws__stdin_flush(w->conn);
            else
                ws__on_socket_event(w->conn, events[i].events);
            ws__pump(w->conn);
        }
        expire(loop, now_usec());
        pthread_mutex_lock(&loop->lock);
        stopping = loop->stopping;
        pthread_mutex_unlock(&loop->lock);
        if (stopping)
            shut_all(loop);
        bury(loop);
        if (stopping && !loop->all)
            break; /* every job has ended and every socket went back to MHD */
    }
    return NULL;
}

int api_ws_loop_new(struct api_routes *routes, struct api_ws_loop **ret)
{
    struct api_ws_loop *loop = calloc(1, sizeof(*loop));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    pthread_attr_t attr;
    int r;

    if (!loop)
        return -ENOMEM;
    loop->routes = routes;
    loop->init_timers.timeout = WS_INIT_TIMEOUT_USEC;
    loop->linger_timers.timeout = WS_LINGER_USEC;
    pthread_mutex_init(&loop->lock, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epfd < 0 || loop->wake_fd < 0 ||
        epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0) {
        r = -errno;
        api_ws_loop_free(loop);
        return r;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    r = -pthread_create(&loop->thread, &attr, loop_main, loop);
    pthread_attr_destroy(&attr);
    if (r < 0) {
        api_ws_loop_free(loop);
        return r;
    }
    loop->started = true;
    *ret = loop;
    return 0;
}

void api_ws_loop_stop(struct api_ws_loop *loop)
{
    if (!loop || !loop->started)
        return;
    pthread_mutex_lock(&loop->lock);
    loop->stopping = true;
    pthread_mutex_unlock(&loop->lock);
    ws__wake_fd(loop->wake_fd);
    pthread_join(loop->thread, NULL);
    loop->started = false;
}

struct api_ws_loop *api_ws_loop_free(struct api_ws_loop *loop)
{
    struct ws_conn *incoming, *notify;

    if (!loop)
        return NULL;
    api_ws_loop_stop(loop);
    /* the thread is gone: whatever arrived after its last round */
    pthread_mutex_lock(&loop->lock);
    incoming = TAKE_PTR(loop->incoming);
    notify = TAKE_PTR(loop->notify_head);
    pthread_mutex_unlock(&loop->lock);
    while (incoming) {
        struct ws_conn *c = incoming;
        incoming = c->all_next;
        (void)MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
        ws__conn_unref(c);
    }
    while (notify) {
        struct ws_conn *c = notify;
        notify = c->notify_next;
        ws__conn_unref(c);
    }
    safe_close(loop->epfd);
    safe_close(loop->wake_fd);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
    return NULL;
}
