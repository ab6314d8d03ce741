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

void ws__wake_fd(int fd)
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
        ws__wake_fd(loop->wake_fd);
}

/* ---- timers ---------------------------------------------------------------------------- */

void ws__timer_stop(struct ws_conn *c)
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

void ws__timer_start(struct ws_conn *c, struct ws_timer_list *t, usec_t from)
{
    ws__timer_stop(c);
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
        ws__timer_stop(c);
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
        ws__timer_start(c, &c->loop->linger_timers, now_usec());
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
    ws__wake_fd(loop->wake_fd);
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
        ws__wake_fd(c->control_fd);
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
        ws__wake_fd(c->control_fd);
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
    ws__timer_start(c, &c->loop->linger_timers, now_usec());
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
    ws__timer_stop(c);
    ws__stdin_close(c);
    ws__session_end(c);
    if (c->http) /* the job's figures are in: its log line can be written */
        api_conn_release_upgraded(TAKE_PTR(c->http));
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
void ws__socket_done(struct ws_conn *c)
{
    if (c->state == WS_DONE)
        return;
    c->state = WS_DONE;
    ws__unwatch(c, c->fd, &(bool){c->events != 0});
    c->events = 0;
    cancel_job(c);
    drop_worker_output(c);
    ws__timer_stop(c);
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
        ws__wake_fd(c->control_fd);
    if (done)
        ws__stdin_close(c); /* nobody reads it any more: later `data` is dropped */
    /* the job is over: the client has WS_LINGER to take the rest and answer the close */
    if ((done || c->state == WS_CLOSING) && c->timer != &c->loop->linger_timers)
        ws__timer_start(c, &c->loop->linger_timers, now_usec());
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
        ws__timer_start(c, &c->loop->linger_timers, now_usec());
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
        ws__socket_done(c); /* EOF or reset: the peer is gone */
        return;
    }
}

/* Whether the client's frames are read now (see WS_STDIN_HIGH, WS_PEER_BACKLOG). */
static bool reading(struct ws_conn *c)
{
    return wslay_event_want_read(c->ctx) && c->stdin_buf.len - c->stdin_off <= WS_STDIN_HIGH &&
           wslay_event_get_queued_msg_length(c->ctx) <= WS_PEER_BACKLOG;
}

void ws__pump(struct ws_conn *c)
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
            ws__socket_done(c);
            return;
        }
        if (wslay_event_want_write(c->ctx))
            break; /* the socket is full */
    }
    /* a slow client that still takes data keeps its connection; a silent one is dropped */
    if (c->sent != sent && c->timer == &c->loop->linger_timers)
        ws__timer_start(c, &c->loop->linger_timers, now_usec());
    if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx) && !c->close_pending) {
        if (wslay_event_get_close_received(c->ctx) || c->peer_gone)
            ws__socket_done(c); /* both closes are through */
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
    ws__timer_start(c, &c->loop->linger_timers, now_usec());
}

void ws__on_socket_event(struct ws_conn *c, uint32_t events)
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
        ws__socket_done(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
        bool idle_out = !wslay_event_want_write(c->ctx);
        r = wslay_event_recv(c->ctx);
        if (r == WSLAY_ERR_CALLBACK_FAILURE && !c->peer_gone) {
            protocol_error(c, idle_out);
        } else if (r < 0) {
            ws__socket_done(c); /* the peer is gone (EOF, reset) */
            return;
        }
    }
    ws__pump(c);
}
