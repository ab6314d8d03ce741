/* The request pipeline of PISTON-API.md 2.1 and the small routes, with the operations steps
 * (authentication, rate limit) between the body cap and the JSON parser. */
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "heap-util.h"
#include "log.h"
#include "macro.h"
#include "server.h"
#include "ws.h"

#define API_PREFIX "/api/v2"
#define PUBLIC_PREFIX "/api/v2/piston" /* the public instance's layout, served as an alias */

static const char root_message[] = "{\"message\":\"Piston v3.1.1\"}";

int api_routes_init(struct api_routes *routes, const struct api_config *cfg,
                    struct rt_registry *reg, struct eng_engine *eng)
{
    struct timespec ts;
    int r;

    *routes = (struct api_routes){.cfg = cfg, .registry = reg, .engine = eng};
    pthread_mutex_init(&routes->current_lock, NULL);
    /* Jobs get a copy: the startup registry is also held by main() until exit, so a job's
     * reference to it could not be told from main's when an uninstall waits for the jobs
     * of a package to end. */
    r = rt_registry_copy(reg, &routes->current);
    if (r < 0)
        return r;
    clock_gettime(CLOCK_REALTIME, &ts);
    routes->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (getrandom(&routes->id_prefix, sizeof(routes->id_prefix), GRND_NONBLOCK) < 0)
        routes->id_prefix = (uint32_t)getpid() ^ (uint32_t)ts.tv_nsec;
    routes->runtimes_json = api_encode_runtimes(reg, &routes->runtimes_len);
    routes->metrics = api_metrics_new(rt_registry_count(reg));
    if (!routes->runtimes_json || !routes->metrics)
        return -ENOMEM;
    r = api_auth_new(cfg->api_tokens, cfg->hmac_secret, &routes->auth);
    if (r < 0)
        return r;
    r = api_ws_loop_new(routes, &routes->ws);
    if (r < 0)
        return r;
    if (cfg->rate_limit > 0) {
        routes->ratelimit = api_ratelimit_new((unsigned)cfg->rate_limit, (unsigned)cfg->rate_burst,
                                              API_RATELIMIT_BUCKETS);
        if (!routes->ratelimit)
            return -ENOMEM;
    }
    return api_packages_new(routes, &routes->packages);
}

void api_routes_stop(struct api_routes *routes)
{
    api_packages_stop(routes->packages);
}

struct rt_registry *api_routes_registry(struct api_routes *routes)
{
    struct rt_registry *reg;

    pthread_mutex_lock(&routes->current_lock);
    reg = rt_registry_ref(routes->current);
    pthread_mutex_unlock(&routes->current_lock);
    return reg;
}

struct rt_registry *api_routes_swap_registry(struct api_routes *routes, struct rt_registry *reg,
                                             int *ret_error)
{
    struct rt_registry *old;
    size_t len;
    char *json = api_encode_runtimes(reg, &len);

    if (!json) {
        rt_registry_unref(reg);
        *ret_error = -ENOMEM;
        return NULL;
    }
    pthread_mutex_lock(&routes->current_lock);
    old = routes->current;
    routes->current = reg;
    free(routes->runtimes_json);
    routes->runtimes_json = json;
    routes->runtimes_len = len;
    pthread_mutex_unlock(&routes->current_lock);
    return old;
}

static enum MHD_Result reply_runtimes(struct api_conn *c)
{
    struct api_routes *routes = c->routes;
    char *body;
    size_t len;

    pthread_mutex_lock(&routes->current_lock);
    len = routes->runtimes_len;
    body = malloc(len + 1);
    if (body)
        memcpy(body, routes->runtimes_json, len + 1);
    pthread_mutex_unlock(&routes->current_lock);
    return api_reply_json(c, MHD_HTTP_OK, body, len);
}

void api_routes_done(struct api_routes *routes)
{
    routes->packages = api_packages_free(routes->packages);
    routes->current = rt_registry_unref(routes->current);
    pthread_mutex_destroy(&routes->current_lock);
    free(routes->runtimes_json);
    routes->runtimes_json = NULL;
    routes->auth = api_auth_free(routes->auth);
    routes->ratelimit = api_ratelimit_free(routes->ratelimit);
    routes->ws = api_ws_loop_free(routes->ws); /* before the metrics it records into */
    routes->metrics = api_metrics_free(routes->metrics);
}

/* Bodies past this size leave their memory to the system when their request ends. */
#define TRIM_AFTER_BODY (1u << 20)

static size_t stage_bytes(const struct eng_stage_result *st)
{
    return st->stdout_len + st->stderr_len + st->output_len;
}

/* The outputs a result holds: megabytes of them are given back like a big body. */
static size_t result_bytes(const struct eng_result *res)
{
    return res ? stage_bytes(&res->compile) + stage_bytes(&res->run) : 0;
}

void api_conn_release_upgraded(struct api_conn *c)
{
    if (atomic_fetch_sub(&c->upgrade_holds, 1) != 1)
        return;
    api_conn_end(c, MHD_REQUEST_TERMINATED_COMPLETED_OK);
    api_conn_free(c);
}

void api_conn_free(struct api_conn *c)
{
    bool big;

    if (!c)
        return;
    big = c->body.alloc >= TRIM_AFTER_BODY || result_bytes(c->result) >= TRIM_AFTER_BODY;
    strbuf_done(&c->body);
    eng_result_free(c->result);
    rt_registry_unref(c->registry);
    free(c);
    /* A large body, its JSON tree and its decoded files were freed by now; glibc keeps such
     * memory in the MHD thread's arena (daemon RSS grew by ~5 MiB after one 5,000-file body
     * in the hostile battery's H18). Trimming costs a walk of the arenas, paid only here. */
    if (big)
        heap_trim();
}

static void add_status_headers(struct api_conn *c, struct MHD_Response *resp, unsigned status)
{
    char retry[16];

    (void)MHD_add_response_header(resp, "X-Request-Id", c->request_id);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == MHD_HTTP_TOO_MANY_REQUESTS) {
        snprintf(retry, sizeof(retry), "%u", MAX(c->retry_after, 1u));
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    if (status == MHD_HTTP_UNAUTHORIZED) /* RFC 9110: a 401 names the scheme it wants */
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                      "Bearer realm=\"capsuled\"");
    /* Draining: keep-alive clients come back on a fresh connection, which the balancer
     * sends to another node once our health check fails. */
    if (atomic_load(&c->routes->draining))
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

enum MHD_Result api_reply(struct api_conn *c, unsigned status, const char *content_type, char *body,
                          size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result r;

    if (!body)
        return MHD_NO; /* out of memory: MHD closes the connection */
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    add_status_headers(c, resp, status);
    c->status = status;
    r = MHD_queue_response(c->connection, status, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result api_reply_json(struct api_conn *c, unsigned status, char *body, size_t len)
{
    return api_reply(c, status, "application/json; charset=utf-8", body, len);
}

enum MHD_Result api_reply_message(struct api_conn *c, unsigned status, const char *message)
{
    size_t len;
    char *body = api_encode_message(message, &len);

    return api_reply_json(c, status, body, len);
}

enum MHD_Result api_reply_too_large(struct api_conn *c)
{
    static const char text[] = "{\"message\":\"request entity too large\","
                               "\"stack\":\"PayloadTooLargeError: request entity too large\"}";
    char *body = strdup(text);

    return api_reply_json(c, MHD_HTTP_CONTENT_TOO_LARGE, body, sizeof(text) - 1);
}

static enum MHD_Result reply_malformed(struct api_conn *c, const char *detail)
{
    _cleanup_free_ char *message = NULL, *stack = NULL;
    json_t *o = NULL;
    char *body = NULL;

    if (asprintf(&message, "Malformed JSON in request body: %s", detail) >= 0 &&
        asprintf(&stack, "SyntaxError: %s", detail) >= 0)
        o = json_pack("{s:s,s:s}", "message", message, "stack", stack);
    if (o)
        body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return api_reply_json(c, MHD_HTTP_BAD_REQUEST, body, body ? strlen(body) : 0);
}

/* Case-insensitive, one optional trailing slash, /api/v2/piston/x == /api/v2/x. */
static void normalize_path(const char *url, char *out, size_t size)
{
    size_t n = 0;

    for (; url[n] && n + 1 < size; n++)
        out[n] = (char)((url[n] >= 'A' && url[n] <= 'Z') ? url[n] + 32 : url[n]);
    out[n] = '\0';
    if (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    if (strncmp(out, PUBLIC_PREFIX "/", sizeof(PUBLIC_PREFIX)) == 0)
        memmove(out + strlen(API_PREFIX), out + strlen(PUBLIC_PREFIX),
                n - strlen(PUBLIC_PREFIX) + 1);
}

static bool is_under_api(const char *path)
{
    size_t n = strlen(API_PREFIX);
    return strncmp(path, API_PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* node-piston posts JSON with no Content-Type (node-fetch sends text/plain;charset=UTF-8):
 * accepted when the body is a JSON object (PISTON-API.md 2.1 step 3, deliberate exception). */
static json_t *lenient_json(const char *ct, const struct strbuf *body)
{
    json_t *root = NULL;
    char *detail = NULL;

    if (ct && strncasecmp(ct, "text/plain", 10) != 0)
        return NULL;
    if (ct && ct[10] != '\0' && ct[10] != ';' && ct[10] != ' ')
        return NULL;
    if (body->len == 0 || api_body_parse_json(body->data, body->len, &root, &detail) < 0) {
        free(detail);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static enum api_route_id classify(const char *path)
{
    static const struct {
        const char *path;
        enum api_route_id id;
    } table[] = {
        {"/", API_ROUTE_ROOT},
        {API_PREFIX "/runtimes", API_ROUTE_RUNTIMES},
        {API_PREFIX "/execute", API_ROUTE_EXECUTE},
        {API_PREFIX "/packages", API_ROUTE_PACKAGES},
        {API_PREFIX "/connect", API_ROUTE_CONNECT},
        {"/health", API_ROUTE_HEALTH},
        {"/metrics", API_ROUTE_METRICS},
    };

    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (strcmp(path, table[i].path) == 0)
            return table[i].id;
    return API_ROUTE_OTHER;
}

static int64_t wall_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* A balancer's X-Request-Id is kept when it is short and plain; otherwise one is made. */
static void set_request_id(struct api_conn *c)
{
    const char *given = MHD_lookup_connection_value(c->connection, MHD_HEADER_KIND, "X-Request-Id");
    size_t len = given ? strlen(given) : 0;

    if (len > 0 && len <= API_REQUEST_ID_MAX &&
        strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") ==
            len) {
        memcpy(c->request_id, given, len + 1);
        return;
    }
    snprintf(c->request_id, sizeof(c->request_id), "%08" PRIx32 "-%" PRIuFAST64,
             c->routes->id_prefix, atomic_fetch_add(&c->routes->requests, 1) + 1);
}

static void set_client(struct api_conn *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;

    snprintf(c->client, sizeof(c->client), "-");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, c->client,
                  sizeof(c->client));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, c->client,
                  sizeof(c->client));
}

static const char *header(struct api_conn *c, const char *name)
{
    return MHD_lookup_connection_value(c->connection, MHD_HEADER_KIND, name);
}

void api_conn_begin(struct api_conn *c, const char *url, const char *method)
{
    char path[1024];

    c->start = now_usec();
    snprintf(c->method, sizeof(c->method), "%s", method);
    api_log_escape(url, c->path, sizeof(c->path));
    normalize_path(url, path, sizeof(path));
    c->route = classify(path);
    /* Balancers and scrapers must reach these without credentials or quota. */
    c->exempt = c->route == API_ROUTE_HEALTH || c->route == API_ROUTE_METRICS;
    set_request_id(c);
    set_client(c);
    c->auth = API_AUTH_PASS;
    if (c->exempt)
        return;
    c->auth_headers = (struct api_auth_headers){
        .authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION),
        .timestamp = header(c, "X-Capsule-Timestamp"),
        .caller = header(c, "X-Capsule-Caller"),
        .signature = header(c, "X-Capsule-Signature"),
    };
    c->auth =
        api_auth_check_headers(c->routes->auth, &c->auth_headers, wall_seconds(), &c->auth_outcome);
    c->discard_body = c->auth == API_AUTH_DENY;
}

static enum MHD_Result too_many(struct api_conn *c, unsigned wait)
{
    c->retry_after = wait;
    api_metrics_rate_limited(c->routes->metrics);
    return api_reply_message(c, MHD_HTTP_TOO_MANY_REQUESTS, "too many requests");
}

/* Pipeline steps after 413 (PISTON-API.md 2.1 with the operations extension): 401 for a
 * stranger, 429 for a caller over its rate, so neither learns anything from the parser or
 * the routes. True when a reply was queued (*ret is its result). */
static bool refuse(struct api_conn *c, enum MHD_Result *ret)
{
    struct api_routes *routes = c->routes;
    char key[sizeof(c->client) + 8];
    unsigned wait;

    if (c->exempt)
        return false;
    if (c->auth == API_AUTH_NEED_BODY)
        c->auth = api_auth_verify_signature(routes->auth, &c->auth_headers,
                                            c->body.data ? c->body.data : "", c->body.len,
                                            wall_seconds(), &c->auth_outcome);
    if (c->auth == API_AUTH_DENY) {
        api_metrics_auth_failure(routes->metrics, c->auth_outcome.failure);
        *ret = api_reply_message(c, MHD_HTTP_UNAUTHORIZED, c->auth_outcome.message);
        return true;
    }
    if (c->auth == API_AUTH_BUSY) {
        *ret = too_many(c, 1);
        return true;
    }
    if (!routes->ratelimit)
        return false;
    /* the authenticated caller, else the peer (behind a balancer: the balancer) */
    if (c->auth_outcome.caller[0])
        snprintf(key, sizeof(key), "%s", c->auth_outcome.caller);
    else
        snprintf(key, sizeof(key), "ip:%s", c->client);
    wait = api_ratelimit_take(routes->ratelimit, key, strlen(key), now_usec());
    if (wait == 0)
        return false;
    *ret = too_many(c, wait);
    return true;
}

static size_t max_json_values(const struct api_conn *c)
{
    uint64_t files = c->routes->cfg->max_files;

    if (files > (SIZE_MAX - API_JSON_VALUES_BASE) / API_JSON_VALUES_PER_FILE)
        return SIZE_MAX;
    return (size_t)files * API_JSON_VALUES_PER_FILE + API_JSON_VALUES_BASE;
}

static enum MHD_Result too_complex(struct api_conn *c)
{
    char message[128];

    snprintf(message, sizeof(message), "request body holds more than %zu JSON values",
             max_json_values(c));
    return api_reply_message(c, MHD_HTTP_BAD_REQUEST, message);
}

static enum MHD_Result route(struct api_conn *c, const char *path, const char *method, json_t *root)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    if (get && strcmp(path, "/") == 0)
        return api_reply_json(c, MHD_HTTP_OK, strdup(root_message), sizeof(root_message) - 1);
    if (get && strcmp(path, API_PREFIX "/runtimes") == 0)
        return reply_runtimes(c);
    if (strcmp(path, API_PREFIX "/packages") == 0 &&
        (get || strcmp(method, "POST") == 0 || strcmp(method, "DELETE") == 0))
        return api_route_packages(c, method, root);
    if (strcmp(method, "POST") == 0 && strcmp(path, API_PREFIX "/execute") == 0)
        return api_route_execute(c, root);
    if (strcmp(method, "GET") == 0 && strcmp(path, API_PREFIX "/connect") == 0)
        return api_route_connect(c);
    if (get && strcmp(path, "/health") == 0)
        return api_route_health(c);
    if (get && strcmp(path, "/metrics") == 0)
        return api_route_metrics(c);
    return api_reply_message(c, MHD_HTTP_NOT_FOUND, "Not Found");
}

/* Step 2: the JSON parse. NULL root with MHD_YES from *ret: nothing to parse (not JSON). */
static bool parse_body(struct api_conn *c, const char *ct, bool lenient, json_t **root,
                       enum MHD_Result *ret)
{
    bool json_type = ct && strncmp(ct, "application/json", 16) == 0;
    char *detail = NULL;

    /* only bodies a parser will read: JSON, or the node-piston exception (no or text/plain) */
    if (!json_type && (!lenient || (ct && strncasecmp(ct, "text/plain", 10) != 0)))
        return false;
    /* Before any parser runs: the parser's memory grows with the number of values, not bytes
     * (a body of empty objects costs ~80x its size), so the count is capped first. */
    if (c->body.len > 0 &&
        api_body_json_too_complex(c->body.data, c->body.len, max_json_values(c))) {
        *ret = too_complex(c);
        return true;
    }
    if (!json_type)
        return false; /* the lenient parse comes after the 415 rule */
    if (api_body_parse_json(c->body.data ? c->body.data : "", c->body.len, root, &detail) < 0) {
        *ret = reply_malformed(c, detail ? detail : "invalid JSON");
        free(detail);
        return true;
    }
    return false;
}

enum MHD_Result api_dispatch(struct api_conn *c, const char *url, const char *method)
{
    const char *ct =
        MHD_lookup_connection_value(c->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    bool json_type = ct && strncmp(ct, "application/json", 16) == 0;
    bool safe =
        strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0;
    json_t *root = NULL;
    char path[1024];
    bool lenient;
    enum MHD_Result r;

    if (c->body_too_large)
        return api_reply_too_large(c);
    if (refuse(c, &r))
        return r;
    normalize_path(url, path, sizeof(path));
    lenient = is_under_api(path) && !safe && !json_type;
    if (parse_body(c, ct, lenient, &root, &r))
        return r;
    if (lenient) {
        root = lenient_json(ct, &c->body);
        if (!root)
            return api_reply_message(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "requests must be of type application/json");
    }
    r = route(c, path, method, root);
    json_decref(root);
    return r;
}
