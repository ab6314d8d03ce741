/* POST /api/v2/execute: decode + validate on the MHD thread, then suspend the connection
 * while a slot worker runs the job; the done callback stores the result and resumes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"

/* Runs on the worker thread. libmicrohttpd allows queueing a response on a suspended
 * connection from any thread; it is sent once the connection is resumed. */
static void finish(struct api_conn *c, struct eng_result *result)
{
    c->result = result;
    (void)api_execute_reply(c);
    MHD_resume_connection(c->connection);
}

static void on_job_done(void *userdata, struct eng_result *result)
{
    finish(userdata, result);
}

enum MHD_Result api_route_execute(struct api_conn *c, json_t *body)
{
    json_t *empty = NULL;
    struct eng_request *req = NULL;
    char *message = NULL;
    enum MHD_Result ret;
    int r;

    if (!body)
        body = empty = json_object();
    r = api_execute_decode(body, c->routes->registry, &c->routes->cfg->eng, &req, &message);
    json_decref(empty);
    if (r < 0) {
        ret = api_reply_message(c, r == -EINVAL ? MHD_HTTP_BAD_REQUEST
                                                : MHD_HTTP_INTERNAL_SERVER_ERROR,
                                message ? message : strerror(-r));
        free(message);
        return ret;
    }
    /* suspend before submitting: the job may finish before this function returns */
    c->suspended = true;
    MHD_suspend_connection(c->connection);
    r = eng_submit(c->routes->engine, req, on_job_done, c);
    if (r < 0) {
        eng_request_free(req);
        struct eng_result *res = calloc(1, sizeof(*res));
        if (res) {
            res->error = r;
            res->error_message =
                strdup(r == -EAGAIN ? "too many queued jobs" : "server shutting down");
        }
        finish(c, res);
    }
    return MHD_YES;
}

enum MHD_Result api_execute_reply(struct api_conn *c)
{
    struct eng_result *res = c->result;
    const char *msg;
    size_t len;

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
        return api_reply_message(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    default:
        log_error("execute %s failed: %s", res->runtime ? res->runtime->language : "?", msg);
        return api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
    }
}
