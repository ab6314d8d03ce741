/* libmicrohttpd glue: body cap, request pipeline (PISTON-API.md 2.1). A thread per
 * connection, which runs the connection's jobs itself (eng_run): a pool thread serves many
 * connections and must never block, so a job would be handed to a worker and its answer
 * handed back, two thread wakeups per job that this saves. */
#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "route.h"
#include "strbuf.h"
#include "time-util.h"
#include "ws.h"

/* A connection's thread runs the monitor, the JSON codec and jansson's recursive parse of a
 * body nested as deep as the value cap allows: the default 8 MiB is virtual anyway, but at
 * the connection limit it would be 32 GiB of address space. */
#define CONNECTION_THREAD_STACK (2u << 20)

/* A refused body is still read (and dropped), so that a client which sends all of it before
 * reading the answer (Python's http.client, urllib, requests; Node's fetch) gets the 413
 * instead of EPIPE or a reset: closing with unread data makes the kernel send RST. The reading
 * is bounded, as in the lingering close of mature servers: up to this much past the cap and
 * for this long; past either the 413 is queued at once and MHD closes the connection. */
#define DRAIN_MAX_EXTRA (UINT64_C(64) << 20)
#define DRAIN_MAX_USEC (10 * USEC_PER_SEC)

struct api_server {
    struct MHD_Daemon *mhd;
    int listen_fd; /* MHD closes it on stop unless quiesced: then it is ours */
    bool quiesced;
    struct api_routes routes;
    uint64_t max_body_size;
    atomic_uint in_flight; /* requests begun and not completed (their answer unsent) */
};

static int listen_socket(const char *host, uint16_t port, uint16_t *ret_port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int fd, one = 1;

    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return -EINVAL;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return -EINVAL;
        len = sizeof(*s4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    *ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static struct api_conn *conn_new(struct MHD_Connection *connection, struct api_server *srv,
                                 const char *url, const char *method)
{
    struct api_conn *c = calloc(1, sizeof(*c));
    const char *cl;

    if (!c)
        return NULL;
    c->connection = connection;
    c->routes = &srv->routes;
    c->body.cap = srv->max_body_size;
    /* Content-Length over the limit: the body is drained and the 413 sent when it ends,
     * unless the client waits for "100 Continue" (it then sends nothing and reads the 413
     * at once) or announces more than the drain would read (answered before reading; MHD
     * closes after it). */
    cl = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > srv->max_body_size) {
            const char *expect =
                MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            c->too_large = (expect && strcasecmp(expect, "100-continue") == 0) ||
                           n - srv->max_body_size > DRAIN_MAX_EXTRA;
            c->body_too_large = !c->too_large;
            c->refused_at = now_usec();
        }
    }
    api_conn_begin(c, url, method);
    return c;
}

/* A refused body read past the drain's bounds. */
static bool drain_exhausted(const struct api_server *srv, const struct api_conn *c)
{
    return c->body_read > srv->max_body_size + DRAIN_MAX_EXTRA ||
           now_usec() - c->refused_at > DRAIN_MAX_USEC;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api_server *srv = cls;
    struct api_conn *c = *con_cls;

    (void)version;
    if (!c) {
        c = conn_new(connection, srv, url, method);
        if (!c)
            return MHD_NO;
        atomic_fetch_add(&srv->in_flight, 1);
        *con_cls = c;
        if (c->too_large)
            return api_reply_too_large(c);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* a body past the cap: nothing more is kept, the 413 goes out at the end; a refused
         * client's body (401) is read and dropped the same way, within the same bounds */
        c->body_read += *upload_data_size;
        if (!c->body_too_large && !c->discard_body &&
            strbuf_append(&c->body, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        if (c->body.truncated && !c->body_too_large) {
            c->body_too_large = true;
            c->refused_at = now_usec();
        }
        *upload_data_size = 0;
        if (c->discard_body && !c->refused_at)
            c->refused_at = now_usec();
        if ((c->body_too_large || c->discard_body) && drain_exhausted(srv, c))
            return c->body_too_large ? api_reply_too_large(c) : MHD_NO;
        return MHD_YES;
    }
    return api_dispatch(c, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    struct api_conn *c = *con_cls;

    (void)connection;
    *con_cls = NULL;
    if (!c)
        return;
    atomic_fetch_sub(&srv->in_flight, 1);
    if (atomic_load(&c->upgrade_holds) > 0) {
        api_conn_release_upgraded(c); /* the WebSocket loop has it too */
        return;
    }
    /* the answer has gone (or the client has): the job's slot is cleaned up now */
    eng_lease_end(c->lease);
    c->lease = NULL;
    api_conn_end(c, toe);
    api_conn_free(c);
}

int api_server_start(const struct api_config *cfg, struct rt_registry *reg, struct eng_engine *eng,
                     struct api_server **ret, uint16_t *ret_port)
{
    struct api_server *srv = calloc(1, sizeof(*srv));
    int r;

    if (!srv)
        return -ENOMEM;
    srv->listen_fd = -1;
    srv->max_body_size = cfg->max_body_size;
    r = api_routes_init(&srv->routes, cfg, reg, eng);
    if (r < 0) {
        api_server_free(srv);
        return r;
    }
    srv->listen_fd = listen_socket(cfg->bind_host, cfg->bind_port, ret_port);
    if (srv->listen_fd < 0) {
        r = srv->listen_fd;
        api_server_free(srv);
        return r;
    }
    /* poll() (thread-per-connection takes no epoll); the ITC lets MHD_quiesce_daemon() (the
     * drain) wake the accepting thread. Upgrades for /api/v2/connect (ws.h). */
    srv->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                    MHD_USE_POLL | MHD_USE_ITC | MHD_ALLOW_UPGRADE,
                                0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET,
                                srv->listen_fd, MHD_OPTION_THREAD_STACK_SIZE,
                                (size_t)CONNECTION_THREAD_STACK, MHD_OPTION_NOTIFY_COMPLETED,
                                on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_END);
    if (!srv->mhd) {
        api_server_free(srv);
        return -EADDRNOTAVAIL;
    }
    *ret = srv;
    return 0;
}

unsigned api_server_requests_in_flight(struct api_server *srv)
{
    return atomic_load(&srv->in_flight);
}

void api_server_set_draining(struct api_server *srv)
{
    atomic_store(&srv->routes.draining, true);
}

void api_server_quiesce(struct api_server *srv)
{
    if (srv && srv->mhd && !srv->quiesced)
        srv->quiesced = MHD_quiesce_daemon(srv->mhd) != MHD_INVALID_SOCKET;
}

struct api_server *api_server_free(struct api_server *srv)
{
    if (!srv)
        return NULL;
    api_routes_stop(&srv->routes); /* package operations hold connection threads */
    /* libmicrohttpd wants every upgraded socket handed back before it stops */
    api_ws_loop_stop(srv->routes.ws);
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd);
    if (!srv->mhd || srv->quiesced)
        safe_close(srv->listen_fd);
    api_routes_done(&srv->routes);
    free(srv);
    return NULL;
}
