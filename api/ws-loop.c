/* One thread, one epoll set, every upgraded WebSocket. A connection waiting for `init` costs
 * a socket, a small struct and a wslay context: no MHD thread, no slot, no pipe, no timer fd
 * (timeouts of one length sit in a FIFO, so the head is always the next to fire).
 *
 * Threads. The loop thread owns the socket, the wslay context and the stdin pipe's write
 * end. A job's worker thread only appends encoded messages to the connection's out queue
 * (under its lock) and calls ws__notify(); the loop moves them into wslay in order, and
 * wakes the worker (the stream's eventfd) when the queue has drained below WS_OUT_LOW.
 * A connection is handed back to MHD (MHD_UPGRADE_ACTION_CLOSE, which closes the socket)
 * once both the socket and the job are finished; its memory goes with the last reference. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "utf8.h"
#include "ws-internal.h"

struct ws_timer_list {
    struct ws_conn *head, *tail;
    usec_t timeout;
};

struct api_ws_loop {
    struct api_routes *routes;
    int epfd, wake_fd;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    /* under lock */
    struct ws_conn *incoming; /* adopted on an MHD thread, linked by all_next */
    struct ws_conn *notify_head;
    bool stopping;
    /* loop thread only */
    struct ws_conn *all;
    struct ws_conn *dead; /* released during this round, unref'd after it (linked by all_next) */
    struct ws_timer_list init_timers, linger_timers;
};

struct api_routes *ws__routes(const struct ws_conn *c)
{
    return c->loop->routes;
}

void ws__conn_ref(struct ws_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void conn_free(struct ws_conn *c)
{
    struct ws_msg *m = c->out_head;

    while (m) {
        struct ws_msg *next = m->next;
        free(m);
        m = next;
    }
    if (c->ctx)
        wslay_event_context_free(c->ctx);
    strbuf_done(&c->stdin_buf);
    safe_close(c->stdin_w);
    safe_close(c->stdin_r);
    safe_close(c->control_fd);
    eng_result_free(c->result);
    rt_registry_unref(c->registry);
    free(c->extra);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void ws__conn_unref(struct ws_conn *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        conn_free(c);
}

static void wake(int fd)
{
    uint64_t one = 1;

    (void)!write(fd, &one, sizeof(one));
}

void ws__notify(struct ws_conn *c)
{
    struct api_ws_loop *loop = c->loop;
    bool first;

    pthread_mutex_lock(&loop->lock);
    first = !c->notified;
    if (first) {
        c->notified = true;
        ws__conn_ref(c);
        c->notify_next = loop->notify_head;
        loop->notify_head = c;
    }
    pthread_mutex_unlock(&loop->lock);
    if (first)
        wake(loop->wake_fd);
}

/* ---- timers ---------------------------------------------------------------------------- */

static void timer_stop(struct ws_conn *c)
{
    struct ws_timer_list *t = c->timer;

    if (!t)
        return;
    if (c->timer_prev)
        c->timer_prev->timer_next = c->timer_next;
    else
        t->head = c->timer_next;
    if (c->timer_next)
        c->timer_next->timer_prev = c->timer_prev;
    else
        t->tail = c->timer_prev;
    c->timer = NULL;
    c->timer_prev = c->timer_next = NULL;
}

static void timer_start(struct ws_conn *c, struct ws_timer_list *t, usec_t from)
{
    timer_stop(c);
    c->deadline = from + t->timeout;
    c->timer = t;
    c->timer_prev = t->tail;
    if (t->tail)
        t->tail->timer_next = c;
    else
        t->head = c;
    t->tail = c;
}

void ws__init_done(struct ws_conn *c)
{
    if (c->timer == &c->loop->init_timers)
        timer_stop(c);
}

/* ---- wslay callbacks ------------------------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    struct ws_conn *c = user;
    ssize_t k;

    (void)flags;
    if (c->extra_off < c->extra_len) {
        size_t n = MIN(len, c->extra_len - c->extra_off);
        memcpy(buf, c->extra + c->extra_off, n);
        c->extra_off += n;
        return (ssize_t)n;
    }
    /* stdin back-pressure: leave the rest in the socket until the pipe takes what waits;
     * the same while the client does not take what it is sent */
    if (c->stdin_buf.len - c->stdin_off > WS_STDIN_HIGH ||
        wslay_event_get_queued_msg_length(ctx) > WS_PEER_BACKLOG) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    do
        k = recv(c->fd, buf, len, 0);
    while (k < 0 && errno == EINTR);
    if (k > 0)
        return k;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->peer_gone = true; /* EOF or a reset: tells this apart from a frame wslay refused */
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct ws_conn *c = user;
    ssize_t k;

    (void)flags;
    do
        k = send(c->fd, data, len, MSG_NOSIGNAL);
    while (k < 0 && errno == EINTR);
    if (k >= 0) {
        c->sent += (uint64_t)k;
        return k;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    c->peer_gone = true;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void cancel_job(struct ws_conn *c);
static void drop_worker_output(struct ws_conn *c);

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user)
{
    struct ws_conn *c = user;

    (void)ctx;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        if (c->state != WS_OPEN)
            return;
        /* RFC 6455 8.1: a text message that is not UTF-8 fails the connection */
        if (!utf8_is_valid((const char *)arg->msg, arg->msg_length)) {
            ws__close(c, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "Invalid UTF-8");
            return;
        }
        ws__on_message(c, (const char *)arg->msg, arg->msg_length);
        return;
    case WSLAY_BINARY_FRAME:
        ws__close(c, WSLAY_CODE_UNSUPPORTED_DATA, "Binary frames are not supported");
        return;
    case WSLAY_CONNECTION_CLOSE:
        /* wslay answers the close itself; the client leaving ends the job */
        c->state = WS_CLOSING;
        c->close_pending = false; /* wslay's answer is the close */
        cancel_job(c);
        drop_worker_output(c);
        timer_start(c, &c->loop->linger_timers, now_usec());
        return;
    default: /* ping (wslay queues the pong), pong */
        return;
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = on_recv,
    .send_callback = on_send,
    .on_msg_recv_callback = on_msg,
};

/* ---- the connection ---------------------------------------------------------------------- */

struct api_ws_loop *ws__loop_of(struct api_routes *routes)
{
    return routes->ws;
}

int ws__adopt(struct api_ws_loop *loop, struct api_conn *http, int fd,
              struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len)
{
    struct ws_conn *c = calloc(1, sizeof(*c));
    int r = 0;

    if (!loop || !c) {
        free(c);
        return -ENOMEM;
    }
    *c = (struct ws_conn){.loop = loop,
                          .fd = fd,
                          .urh = urh,
                          .http = http,
                          .stdin_w = -1,
                          .stdin_r = -1,
                          .control_fd = -1,
                          .w_sock = {c, WS_WATCH_SOCKET},
                          .w_stdin = {c, WS_WATCH_STDIN}};
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    c->out_tail = &c->out_head;
    c->deadline = now_usec(); /* the init timer counts from the upgrade */
    if (extra_len && !(c->extra = malloc(extra_len)))
        r = -ENOMEM;
    else if (extra_len)
        memcpy(c->extra, extra, extra_len);
    c->extra_len = extra_len;
    if (r >= 0 && wslay_event_context_server_init(&c->ctx, &callbacks, c) != 0)
        r = -ENOMEM;
    if (r >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        r = -errno;
    if (r < 0) {
        c->fd = -1; /* MHD closes it */
        conn_free(c);
        return r;
    }
    /* the largest message is an init with its files: the HTTP body limit applies (1009) */
    wslay_event_config_set_max_recv_msg_length(c->ctx, ws__routes(c)->cfg->max_body_size);
    pthread_mutex_lock(&loop->lock);
    if (loop->stopping)
        r = -ESHUTDOWN;
    else {
        c->all_next = loop->incoming;
        loop->incoming = c;
    }
    pthread_mutex_unlock(&loop->lock);
    if (r < 0) {
        c->fd = -1;
        conn_free(c);
        return r;
    }
    wake(loop->wake_fd);
    return 0;
}

static void cancel_job(struct ws_conn *c)
{
    bool running;

    if (!c->submitted)
        return;
    pthread_mutex_lock(&c->lock);
    running = !c->job_done && !c->cancel;
    c->cancel = true;
    pthread_mutex_unlock(&c->lock);
    if (running)
        wake(c->control_fd);
}

/* After a close is queued nothing more can be sent: what the worker queues is dropped, and a
 * worker waiting for room must not wait for a client that will never read it. */
static void drop_worker_output(struct ws_conn *c)
{
    struct ws_msg *m;
    bool was_full;

    pthread_mutex_lock(&c->lock);
    m = c->out_head;
    c->out_head = NULL;
    c->out_tail = &c->out_head;
    c->out_bytes = 0;
    was_full = c->worker_full;
    c->worker_full = false;
    pthread_mutex_unlock(&c->lock);
    while (m) {
        struct ws_msg *next = m->next;
        free(m);
        m = next;
    }
    if (was_full)
        wake(c->control_fd);
}

static void close_later(struct ws_conn *c, uint16_t code, const char *reason, size_t len)
{
    c->close_pending = true;
    c->close_code = code;
    len = MIN(len, sizeof(c->close_reason) - 1);
    memcpy(c->close_reason, reason, len);
    c->close_reason[len] = '\0';
    c->state = WS_CLOSING;
}

void ws__close(struct ws_conn *c, uint16_t code, const char *reason)
{
    if (c->state != WS_OPEN)
        return;
    close_later(c, code, reason, strlen(reason));
    cancel_job(c);
    drop_worker_output(c);
    timer_start(c, &c->loop->linger_timers, now_usec());
}

int ws__send_text(struct ws_conn *c, const char *text, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};

    if (c->state != WS_OPEN)
        return -EPIPE;
    return wslay_event_queue_msg(c->ctx, &msg) == 0 ? 0 : -ENOMEM;
}

void ws__watch(struct ws_conn *c, int fd, struct ws_watch *w, uint32_t events, bool *on)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    if (epoll_ctl(c->loop->epfd, *on ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0)
        *on = true;
}

void ws__unwatch(struct ws_conn *c, int fd, bool *on)
{
    if (*on)
        (void)epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    *on = false;
}

/* ---- one round for one connection ------------------------------------------------------- */

static void release(struct ws_conn *c)
{
    struct api_ws_loop *loop = c->loop;

    if (c->released || c->state != WS_DONE)
        return;
    pthread_mutex_lock(&c->lock);
    bool busy = c->submitted && !c->job_done;
    pthread_mutex_unlock(&c->lock);
    if (busy)
        return; /* cancelled; the done callback notifies us again */
    c->released = true;
    timer_stop(c);
    ws__stdin_close(c);
    ws__session_end(c);
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        loop->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    c->all_prev = NULL;
    c->all_next = loop->dead;
    loop->dead = c;
    (void)MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE); /* closes the socket */
    c->fd = -1;
}

/* The socket is finished with: the close handshake is over, the peer vanished, or it was
 * given up on. The job is cancelled; release() waits for it. */
static void socket_done(struct ws_conn *c)
{
    if (c->state == WS_DONE)
        return;
    c->state = WS_DONE;
    ws__unwatch(c, c->fd, &(bool){c->events != 0});
    c->events = 0;
    cancel_job(c);
    drop_worker_output(c);
    timer_stop(c);
    release(c);
}

/* Moves what the worker queued into wslay, in order, while wslay holds little. */
static void take_worker_output(struct ws_conn *c)
{
    bool wake_worker = false, done;

    pthread_mutex_lock(&c->lock);
    while (c->out_head && c->state == WS_OPEN &&
           wslay_event_get_queued_msg_length(c->ctx) < WS_WSLAY_QUEUE) {
        struct ws_msg *m = c->out_head;
        c->out_head = m->next;
        if (!c->out_head)
            c->out_tail = &c->out_head;
        if (m->close_code) {
            close_later(c, m->close_code, m->data, m->len);
        } else {
            c->out_bytes -= m->len;
            struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)m->data, m->len};
            (void)wslay_event_queue_msg(c->ctx, &msg); /* copies */
        }
        free(m);
    }
    if (c->worker_full && c->out_bytes <= WS_OUT_LOW) {
        c->worker_full = false;
        wake_worker = true;
    }
    done = c->job_done;
    pthread_mutex_unlock(&c->lock);
    if (wake_worker)
        wake(c->control_fd);
    if (done)
        ws__stdin_close(c); /* nobody reads it any more: later `data` is dropped */
    /* the job is over: the client has WS_LINGER to take the rest and answer the close */
    if ((done || c->state == WS_CLOSING) && c->timer != &c->loop->linger_timers)
        timer_start(c, &c->loop->linger_timers, now_usec());
}

/* Our close went out but the peer's did not come (wslay stopped reading after a bad frame or
 * an oversized message): closing now, with the peer's bytes unread, would make the kernel
 * answer with a reset that can destroy our close frame in flight. So: no more writing,
 * read and drop until the peer closes or the linger timer gives up. */
static void start_drain(struct ws_conn *c)
{
    bool on = c->events != 0;

    c->draining = true;
    (void)shutdown(c->fd, SHUT_WR);
    ws__watch(c, c->fd, &c->w_sock, EPOLLIN | EPOLLRDHUP, &on);
    c->events = EPOLLIN | EPOLLRDHUP;
    if (c->timer != &c->loop->linger_timers)
        timer_start(c, &c->loop->linger_timers, now_usec());
}

static void drain_input(struct ws_conn *c)
{
    char buf[4096];

    for (;;) {
        ssize_t k = recv(c->fd, buf, sizeof(buf), 0);
        if (k > 0)
            continue;
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        socket_done(c); /* EOF or reset: the peer is gone */
        return;
    }
}

/* Whether the client's frames are read now (see WS_STDIN_HIGH, WS_PEER_BACKLOG). */
static bool reading(struct ws_conn *c)
{
    return wslay_event_want_read(c->ctx) && c->stdin_buf.len - c->stdin_off <= WS_STDIN_HIGH &&
           wslay_event_get_queued_msg_length(c->ctx) <= WS_PEER_BACKLOG;
}

static void pump(struct ws_conn *c)
{
    uint64_t sent = c->sent;
    uint32_t events = 0;

    if (c->state == WS_DONE) {
        release(c);
        return;
    }
    if (c->draining)
        return;
    /* Until the socket is full (EPOLLOUT brings us back) or nothing is left to send: wslay
     * is fed a little at a time, so one round may empty it many times. */
    for (;;) {
        take_worker_output(c);
        if (c->close_pending && !wslay_event_want_write(c->ctx)) {
            c->close_pending = false;
            (void)wslay_event_queue_close(c->ctx, c->close_code, (const uint8_t *)c->close_reason,
                                          strlen(c->close_reason));
        }
        if (!wslay_event_want_write(c->ctx))
            break;
        if (wslay_event_send(c->ctx) < 0) {
            socket_done(c);
            return;
        }
        if (wslay_event_want_write(c->ctx))
            break; /* the socket is full */
    }
    /* a slow client that still takes data keeps its connection; a silent one is dropped */
    if (c->sent != sent && c->timer == &c->loop->linger_timers)
        timer_start(c, &c->loop->linger_timers, now_usec());
    if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx) && !c->close_pending) {
        if (wslay_event_get_close_received(c->ctx) || c->peer_gone)
            socket_done(c); /* both closes are through */
        else
            start_drain(c);
        return;
    }
    /* EPOLLRDHUP even while not reading: a client that vanishes is noticed at once */
    events = EPOLLRDHUP;
    if (reading(c))
        events |= EPOLLIN;
    if (wslay_event_want_write(c->ctx))
        events |= EPOLLOUT;
    if (events != c->events) {
        bool on = c->events != 0;
        if (events)
            ws__watch(c, c->fd, &c->w_sock, events, &on);
        else
            ws__unwatch(c, c->fd, &on);
        c->events = events;
    }
}

/* A frame wslay's frame layer refuses (a fragmented or oversized control frame, a bad
 * length encoding): wslay 1.1 then queues a close without a status code and answers
 * WSLAY_ERR_CALLBACK_FAILURE, as for a vanished peer. RFC 6455 7.4.1 wants 1002: when
 * nothing of the old context was on its way out (so no frame is half written), a fresh
 * wslay context writes that close instead; otherwise the status-less close goes out. */
static void protocol_error(struct ws_conn *c, bool idle_out)
{
    static const char reason[] = "Protocol error";
    wslay_event_context_ptr fresh;

    c->state = WS_CLOSING;
    c->close_pending = false;
    cancel_job(c);
    drop_worker_output(c);
    if (idle_out && wslay_event_context_server_init(&fresh, &callbacks, c) == 0) {
        wslay_event_context_free(c->ctx);
        c->ctx = fresh;
        wslay_event_shutdown_read(c->ctx);
        (void)wslay_event_queue_close(c->ctx, WSLAY_CODE_PROTOCOL_ERROR, (const uint8_t *)reason,
                                      sizeof(reason) - 1);
    }
    timer_start(c, &c->loop->linger_timers, now_usec());
}

static void on_socket_event(struct ws_conn *c, uint32_t events)
{
    int r;

    if (c->state == WS_DONE)
        return;
    if (c->draining) {
        drain_input(c);
        return;
    }
    /* the peer hung up while its frames wait unread (back-pressure): it is gone */
    if ((events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) && !reading(c)) {
        socket_done(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
        bool idle_out = !wslay_event_want_write(c->ctx);
        r = wslay_event_recv(c->ctx);
        if (r == WSLAY_ERR_CALLBACK_FAILURE && !c->peer_gone) {
            protocol_error(c, idle_out);
        } else if (r < 0) {
            socket_done(c); /* the peer is gone (EOF, reset) */
            return;
        }
    }
    pump(c);
}

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
        timer_start(c, &loop->init_timers, c->deadline);
        pump(c); /* registers the socket */
        /* frames that came with the request head: MHD read them for us */
        if (c->extra_off < c->extra_len && c->state != WS_DONE)
            on_socket_event(c, EPOLLIN);
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
            pump(c);
        ws__conn_unref(c);
    }
}

static void expire(struct api_ws_loop *loop, usec_t now)
{
    struct ws_conn *c;

    while ((c = loop->init_timers.head) && c->deadline <= now) {
        timer_stop(c);
        if (!c->submitted) {
            ws__close(c, 4001, "Initialization Timeout");
            pump(c);
        }
    }
    while ((c = loop->linger_timers.head) && c->deadline <= now)
        socket_done(c); /* it would not take the rest or answer the close: given up */
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
            pump(c); /* best effort: the socket may be full */
        }
        socket_done(c);
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
                on_socket_event(w->conn, events[i].events);
            pump(w->conn);
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
    wake(loop->wake_fd);
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
