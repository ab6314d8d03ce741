/* Shared by ws-handshake.c, ws-loop.c and ws-session.c only. */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <wslay/wslay.h>

#include "engine.h"
#include "route.h"
#include "strbuf.h"
#include "time-util.h"
#include "ws.h"

/* Timing rules: `init` within 1 s (PISTON-API.md 2.5); once the job is over (or a close was
 * queued) a client gets this long to read what is left and answer the close. */
#define WS_INIT_TIMEOUT_USEC (1 * USEC_PER_SEC)
#define WS_LINGER_USEC (5 * USEC_PER_SEC)

/* Back-pressure. Output waiting for the client, counted in encoded bytes: above HIGH the
 * worker stops reading the program's pipes (the program blocks in write), at LOW or below it
 * reads again. wslay's own queue is fed only while it holds less than WSLAY_QUEUE bytes. */
#define WS_OUT_HIGH (256 * 1024)
#define WS_OUT_LOW (64 * 1024)
#define WS_WSLAY_QUEUE (64 * 1024)
/* While wslay holds this much for a client (pongs included), its frames are not read: a
 * client that sends pings and reads nothing cannot grow the daemon. Above the largest data
 * message (64 KiB of output escaped as \u00XX: 384 KiB). */
#define WS_PEER_BACKLOG (1024 * 1024)
/* SO_SNDBUF and SO_RCVBUF of a WebSocket (the kernel doubles them for its bookkeeping). */
#define WS_SOCKET_BUFFER (256 * 1024)
/* stdin not yet taken by the pipe: above this the socket is not read (the client waits). */
#define WS_STDIN_HIGH (1024 * 1024)

enum ws_watch_kind { WS_WATCH_SOCKET, WS_WATCH_STDIN };
struct ws_conn;
struct ws_watch {
    struct ws_conn *conn;
    enum ws_watch_kind kind;
};

/* One queued frame from the worker: a text message, or (close_code != 0) the close. */
struct ws_msg {
    struct ws_msg *next;
    uint16_t close_code;
    size_t len;
    char data[]; /* text, or the close reason */
};

enum ws_state {
    WS_OPEN,    /* frames flow */
    WS_CLOSING, /* our close is queued or sent: waiting for it to go out and for the reply */
    WS_DONE,    /* the socket is finished with; waiting for the job, then released */
};

struct ws_conn {
    atomic_int refs; /* the loop's, one per notification pending, the job's */
    struct api_ws_loop *loop;

    /* ---- loop thread only ---- */
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    struct api_conn *http; /* MHD's request: the access log line is written after the close */
    wslay_event_context_ptr ctx;
    char *extra; /* bytes MHD read past the request head: the first frames */
    size_t extra_len, extra_off;
    enum ws_state state;
    struct ws_conn *all_prev, *all_next;     /* every connection */
    struct ws_conn *timer_prev, *timer_next; /* in one FIFO of equal timeouts, or none */
    struct ws_timer_list *timer;
    usec_t deadline;
    uint32_t events; /* registered on fd */
    struct ws_watch w_sock, w_stdin;
    /* Our close waits until wslay has written everything queued before it: wslay sends
     * control frames ahead of queued messages, and nothing after a close. */
    bool close_pending;
    uint16_t close_code;
    char close_reason[64];
    bool submitted; /* init accepted: a job exists until job_done */
    bool released;  /* handed back to MHD */
    bool peer_gone; /* a recv or send on the socket failed (EOF, reset) */
    bool draining;  /* our close is out, the peer's never came: reading to EOF, then done */
    uint64_t sent;  /* bytes written to the socket: progress restarts the linger timer */
    int stdin_w;    /* pipe write end (non-blocking), -1 once closed */
    bool stdin_watched;
    bool stdin_eof; /* `eof` received: close after the buffer is written */
    struct strbuf stdin_buf;
    size_t stdin_off;

    /* ---- shared with the worker, under lock ---- */
    pthread_mutex_t lock;
    struct ws_msg *out_head, **out_tail;
    size_t out_bytes;
    bool worker_full; /* output() answered full: wake the worker once drained */
    bool notified;    /* on the loop's notify list (under the loop's lock) */
    struct ws_conn *notify_next;
    int pending_signal; /* for the running stage */
    bool cancel;        /* the socket is gone: kill the job */
    bool job_done;
    bool runtime_sent;
    struct eng_result *result; /* from the done callback */
    usec_t submitted_at, finished_at;

    /* ---- set at init, read by the worker ---- */
    const struct rt_runtime *runtime;
    struct rt_registry *registry; /* keeps `runtime` alive (a package swap may replace it) */
    int control_fd;               /* eventfd for sbx_stream.control_fd */
    int stdin_r;                  /* the run stage's stdin */
    struct eng_stream stream;
    /* worker thread only: an incomplete UTF-8 sequence at the end of the last chunk */
    unsigned char carry[2][4];
    size_t carry_len[2];
};

/* The loop (ws-thread.c runs it; ws-loop.c handles one connection's events). */
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

/* ws-loop.c: one connection's round (the loop thread calls these) */
void ws__wake_fd(int fd);
void ws__timer_stop(struct ws_conn *c);
void ws__timer_start(struct ws_conn *c, struct ws_timer_list *t, usec_t from);
void ws__socket_done(struct ws_conn *c);
void ws__pump(struct ws_conn *c);
void ws__on_socket_event(struct ws_conn *c, uint32_t events);

/* ws-loop.c */
/** Worker side: the loop looks at c soon (queued output, job done). Any thread. */
void ws__notify(struct ws_conn *c);
void ws__conn_ref(struct ws_conn *c);
void ws__conn_unref(struct ws_conn *c);
/** Loop side: a close with code and reason goes out after what the worker queued
 *  before; the job (if any) is cancelled. */
void ws__close(struct ws_conn *c, uint16_t code, const char *reason);
/** Loop side: a text frame now (handshake-level answers such as `error`). */
int ws__send_text(struct ws_conn *c, const char *text, size_t len);
/** Loop side: stdin bytes for the job's pipe; they wait in the buffer while the pipe is
 *  full (the socket is not read past WS_STDIN_HIGH). */
void ws__stdin_write(struct ws_conn *c, const char *data, size_t len);
void ws__stdin_eof(struct ws_conn *c);
/** Writes what the pipe takes (EPOLLOUT on it brings the rest); closes it after eof. */
void ws__stdin_flush(struct ws_conn *c);
/** Closes the write end and drops what waits (the job is over). */
void ws__stdin_close(struct ws_conn *c);
/** Adds or changes fd in the loop's epoll set (*on: already in it); unwatch removes it. */
void ws__watch(struct ws_conn *c, int fd, struct ws_watch *w, uint32_t events, bool *on);
void ws__unwatch(struct ws_conn *c, int fd, bool *on);
/** Loop side: the init timer is off (a valid init came). */
void ws__init_done(struct ws_conn *c);
struct api_routes *ws__routes(const struct ws_conn *c);
/** MHD thread, from the upgrade callback: the loop takes the socket (extra: bytes MHD read
 *  past the request head). On failure the caller hands the socket back to MHD. */
int ws__adopt(struct api_ws_loop *loop, struct api_conn *http, int fd,
              struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len);
struct api_ws_loop *ws__loop_of(struct api_routes *routes);

/* ws-session.c */
/** A complete text message from the client (loop thread). */
void ws__on_message(struct ws_conn *c, const char *text, size_t len);
/** Worker-side encoders, under c->lock: append one message to the out queue. */
int ws__queue_text(struct ws_conn *c, char *text, size_t len);
/** Fills in the stream callbacks of c->stream (after init, before the submit). */
void ws__stream_init(struct ws_conn *c);
/** Called once the socket is finished and the job (if any) has ended: metrics, the access
 *  log fields; ownership of the result moves to the HTTP request. */
void ws__session_end(struct ws_conn *c);
