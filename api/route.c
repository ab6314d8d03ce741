/* The request pipeline of PISTON-API.md 2.1 and the small routes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "macro.h"
#include "route.h"
#include "server.h"

#define API_PREFIX "/api/v2"
#define PUBLIC_PREFIX "/api/v2/piston" /* the public instance's layout, served as an alias */

static const char root_message[] = "{\"message\":\"Piston v3.1.1\"}";

int api_routes_init(struct api_routes *routes, const struct api_config *cfg,
                    struct rt_registry *reg, struct eng_engine *eng)
{
    *routes = (struct api_routes){.cfg = cfg, .registry = reg, .engine = eng};
    routes->runtimes_json = api_encode_runtimes(reg, &routes->runtimes_len);
    return routes->runtimes_json ? 0 : -ENOMEM;
}

void api_routes_done(struct api_routes *routes)
{
    free(routes->runtimes_json);
    routes->runtimes_json = NULL;
}

void api_conn_free(struct api_conn *c)
{
    if (!c)
        return;
    strbuf_done(&c->body);
    eng_result_free(c->result);
    free(c);
}

enum MHD_Result api_reply_json(struct api_conn *c, unsigned status, char *body, size_t len)
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
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                  "application/json; charset=utf-8");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    r = MHD_queue_response(c->connection, status, resp);
    MHD_destroy_response(resp);
    return r;
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

static enum MHD_Result route(struct api_conn *c, const char *path, const char *method,
                             json_t *root)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    if (get && strcmp(path, "/") == 0)
        return api_reply_json(c, MHD_HTTP_OK, strdup(root_message), sizeof(root_message) - 1);
    if (get && strcmp(path, API_PREFIX "/runtimes") == 0)
        return api_reply_json(c, MHD_HTTP_OK, strdup(c->routes->runtimes_json),
                              c->routes->runtimes_len);
    if (strcmp(method, "POST") == 0 && strcmp(path, API_PREFIX "/execute") == 0)
        return api_route_execute(c, root);
    return api_reply_message(c, MHD_HTTP_NOT_FOUND, "Not Found");
}

enum MHD_Result api_dispatch(struct api_conn *c, const char *url, const char *method)
{
    const char *ct = MHD_lookup_connection_value(c->connection, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    bool json_type = ct && strncmp(ct, "application/json", 16) == 0;
    bool safe = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                strcmp(method, "OPTIONS") == 0;
    json_t *root = NULL;
    char path[1024];
    enum MHD_Result r;

    if (c->suspended)
        return MHD_YES; /* resumed: the response was queued by the done callback */
    if (c->body_too_large)
        return api_reply_too_large(c);
    if (json_type) {
        char *detail = NULL;
        if (api_body_parse_json(c->body.data ? c->body.data : "", c->body.len, &root, &detail) < 0) {
            r = reply_malformed(c, detail ? detail : "invalid JSON");
            free(detail);
            return r;
        }
    }
    normalize_path(url, path, sizeof(path));
    if (is_under_api(path) && !safe && !json_type) {
        root = lenient_json(ct, &c->body);
        if (!root)
            return api_reply_message(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "requests must be of type application/json");
    }
    r = route(c, path, method, root);
    json_decref(root);
    return r;
}
