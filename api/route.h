/* Per-connection state and routes (route.c, route-execute.c, route-health.c, access-log.c). */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "api.h"
#include "auth.h"
#include "metrics.h"
#include "ratelimit.h"
#include "strbuf.h"
#include "time-util.h"

#define API_REQUEST_ID_MAX 64
#define API_LOG_PATH_MAX 200

struct api_packages;

struct api_routes {
    const struct api_config *cfg;
    struct rt_registry *registry; /* the startup registry: labels the metrics' job rows */
    struct eng_engine *engine;
    /* What new requests see. A package install or uninstall swaps in a new registry (each is
     * immutable); jobs keep a reference to the one they started with. */
    pthread_mutex_t current_lock;
    struct rt_registry *current; /* own reference */
    char *runtimes_json;         /* GET /api/v2/runtimes of `current` */
    size_t runtimes_len;
    struct api_packages *packages;
    struct api_auth *auth;           /* always set; lets everything through when off */
    struct api_ratelimit *ratelimit; /* NULL: CAPSULE_RATE_LIMIT=0 */
    struct api_metrics *metrics;
    struct api_ws_loop *ws; /* /api/v2/connect: every upgraded socket (ws.h) */
    atomic_bool draining;   /* SIGTERM: execute and health answer 503, the rest still works */
    atomic_uint_fast64_t requests; /* request counter, for request ids */
    uint32_t id_prefix;            /* random per daemon: ids from several nodes do not collide */
    double start_time;             /* unix seconds */
};

struct api_conn;
/** Queues the answer once the engine's result is in c->result. */
typedef enum MHD_Result (*api_reply_fn)(struct api_conn *c);

struct api_conn {
    struct MHD_Connection *connection;
    struct api_routes *routes;
    struct strbuf body;
    bool too_large;          /* Content-Length over the cap */
    bool body_too_large;     /* over the cap: read and dropped, 413 when it ends */
    uint64_t body_read;      /* bytes of body seen, kept or dropped */
    usec_t refused_at;       /* when body_too_large was set: the drain's clock */
    bool discard_body;       /* refused from the headers (401): the body is read and dropped */
    struct eng_lease *lease; /* the slot the job ran on, until the answer is sent */
    /* An upgraded request has two owners, MHD (done with it right after the upgrade) and the
     * WebSocket loop (after the close): the last one to let go writes the log line. */
    atomic_int upgrade_holds;
    bool exempt;               /* /health and /metrics: no authentication, no rate limit */
    struct eng_result *result; /* the job's, once it has run */
    api_reply_fn reply;        /* answers for c->result: execute or deep health */
    /* Bookkeeping for the access log and the metrics. */
    enum api_route_id route;
    unsigned status;                   /* HTTP status queued; 0 until then */
    unsigned retry_after;              /* seconds, for a 429 */
    usec_t start, submitted, finished; /* request head, job submitted, job done */
    const struct rt_runtime *runtime;  /* execute: the job's runtime, once decoded */
    struct rt_registry *registry;      /* keeps `runtime` alive until the access log */
    char request_id[API_REQUEST_ID_MAX + 1];
    char method[16];
    char path[API_LOG_PATH_MAX + 1];      /* printable, %-escaped: safe inside a log line */
    char client[64];                      /* peer address */
    struct api_auth_headers auth_headers; /* point into MHD's header storage */
    enum api_auth_result auth;
    struct api_auth_outcome auth_outcome;
};

int api_routes_init(struct api_routes *routes, const struct api_config *cfg,
                    struct rt_registry *reg, struct eng_engine *eng);
/** Waits for package operations in flight (before MHD stops: they hold connection
 *  threads). */
void api_routes_stop(struct api_routes *routes);
void api_routes_done(struct api_routes *routes);
/** A new reference to the registry new requests see. */
struct rt_registry *api_routes_registry(struct api_routes *routes);
/** Publishes `reg` (takes the reference) and re-encodes /runtimes. Returns the previous
 *  registry (its reference passes to the caller), or NULL with -ENOMEM in *ret_error (then
 *  nothing changed and reg was released). */
struct rt_registry *api_routes_swap_registry(struct api_routes *routes, struct rt_registry *reg,
                                             int *ret_error);
void api_conn_free(struct api_conn *c);
/** One owner of an upgraded request lets go (upgrade_holds); the last ends and frees it. */
void api_conn_release_upgraded(struct api_conn *c);

/** First call of a request (headers only): request id, route, client, and the header stage
 *  of authentication, so a refused client's body is dropped instead of stored. */
void api_conn_begin(struct api_conn *c, const char *url, const char *method);
/** The request pipeline: 413, 401, 429, JSON parse, 415, route, 404 (PISTON-API.md 2.1). */
enum MHD_Result api_dispatch(struct api_conn *c, const char *url, const char *method);
enum MHD_Result api_reply_too_large(struct api_conn *c);
/** Queues a reply (takes ownership of body); adds the headers its status calls for. */
enum MHD_Result api_reply(struct api_conn *c, unsigned status, const char *content_type, char *body,
                          size_t len);
enum MHD_Result api_reply_json(struct api_conn *c, unsigned status, char *body, size_t len);
enum MHD_Result api_reply_message(struct api_conn *c, unsigned status, const char *message);
/** Runs req (owned) and answers through c->reply. */
enum MHD_Result api_submit(struct api_conn *c, struct eng_request *req);

/* route-execute.c */
enum MHD_Result api_route_execute(struct api_conn *c, json_t *body);
/** Queues the response for c->result. */
enum MHD_Result api_execute_reply(struct api_conn *c);
/** The runtime's registry index (metrics label); the registry size when not in it. */
size_t api_runtime_index(const struct rt_registry *reg, const struct rt_runtime *rt);

/* route-packages.c: GET, POST, DELETE /api/v2/packages (PISTON-API.md 2.4). */
enum MHD_Result api_route_packages(struct api_conn *c, const char *method, json_t *body);
/* packages.c: the package manager behind those routes. */
int api_packages_new(struct api_routes *routes, struct api_packages **ret);
/** Waits for operations in flight, then removes what uninstalls left once no job uses it. */
void api_packages_stop(struct api_packages *p);
struct api_packages *api_packages_free(struct api_packages *p);

/* route-health.c: outside /api/v2, open without credentials. */
enum MHD_Result api_route_health(struct api_conn *c);
enum MHD_Result api_route_metrics(struct api_conn *c);

/* access-log.c */
/** Once per request, when MHD is done with it: metrics and the INFO access-log line. */
void api_conn_end(struct api_conn *c, enum MHD_RequestTerminationCode toe);
/** Copies a URL path into out (size bytes), %-escaping bytes a log line must not hold. */
void api_log_escape(const char *s, char *out, size_t size);
