/* POST /api/v2/execute: decode, validate and run the job on the connection's thread (the
 * engine lends it an idle slot whose box is ready, else a worker runs the job meanwhile). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"

enum MHD_Result api_submit(struct api_conn *c, struct eng_request *req)
{
    c->runtime = req->runtime;
    c->registry = rt_registry_ref(req->registry);
    api_metrics_waiting(c->routes->metrics, 1);
    c->submitted = now_usec();
    /* a lent slot is cleaned up when the answer has gone (on_completed, server.c) */
    c->result = eng_run(c->routes->engine, req, &c->lease);
    c->finished = now_usec();
    api_metrics_waiting(c->routes->metrics, -1);
    return c->reply(c);
}

enum MHD_Result api_route_execute(struct api_conn *c, json_t *body)
{
    const struct api_config *cfg = c->routes->cfg;
    json_t *empty = NULL;
    struct eng_request *req = NULL;
    char *message = NULL;
    enum MHD_Result ret;
    int r;

    /* Draining: nothing new starts; the balancer retries the request on another node. */
    if (atomic_load(&c->routes->draining))
        return api_reply_message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "server is draining");
    if (!body)
        body = empty = json_object();
    struct rt_registry *reg = api_routes_registry(c->routes); /* the request takes its own */
    r = api_execute_decode_capped(body, reg, &cfg->eng, cfg->max_files, &req, &message);
    rt_registry_unref(reg);
    json_decref(empty);
    if (r < 0) {
        ret = api_reply_message(
            c, r == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR,
            message ? message : strerror(-r));
        free(message);
        return ret;
    }
    c->reply = api_execute_reply;
    return api_submit(c, req);
}

/* The metrics' row: the same runtime in the startup registry (registries swapped in by
 * package installs hold copies); runtimes installed later share the "unknown" row. */
size_t api_runtime_index(const struct rt_registry *reg, const struct rt_runtime *rt)
{
    size_t n = rt_registry_count(reg);

    for (size_t i = 0; rt && i < n; i++) {
        const struct rt_runtime *x = rt_registry_get(reg, i);
        if (x == rt ||
            (strcmp(x->language, rt->language) == 0 && strcmp(x->version, rt->version) == 0 &&
             strcmp(x->package_dir, rt->package_dir) == 0))
            return i;
    }
    return n;
}

enum MHD_Result api_execute_reply(struct api_conn *c)
{
    struct eng_result *res = c->result;
    const char *msg;
    size_t len;

    api_metrics_job(c->routes->metrics, api_runtime_index(c->routes->registry, c->runtime), res,
                    c->finished - c->submitted);
    if (!res)
        return api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    msg = res->error_message ? res->error_message : strerror(-res->error);
    switch (res->error) {
    case 0: {
        char *body = api_encode_result(res, &len); /* before the call: len is its output */
        return api_reply_json(c, MHD_HTTP_OK, body, body ? len : 0);
    }
    case -ENOSPC:
    case -EDQUOT:
        return api_reply_message(c, MHD_HTTP_BAD_REQUEST, "files exceed the sandbox disk quota");
    case -EAGAIN:
    case -ESHUTDOWN:
    case -ECANCELED: /* killed at the drain deadline: never the program's doing */
        return api_reply_message(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    default:
        log_error("request %s: execute %s failed: %s", c->request_id,
                  res->runtime ? res->runtime->language : "?", msg);
        return api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
    }
}
