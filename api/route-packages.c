/* GET, POST, DELETE /api/v2/packages (PISTON-API.md 2.4). The body is validated on the
 * connection's thread; the operation (index fetch, download, unpack: seconds to minutes) runs
 * on a thread of its own, which the connection's thread waits for: that one may have joined a
 * slot's mount namespace (eng_run), where package directories are read-only covers. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "package-manager.h"
#include "route.h"

/* Operation threads at once; more get 503 (each may hold a download). */
#define MAX_OPERATIONS 8

enum op_kind { OP_LIST, OP_INSTALL, OP_UNINSTALL };

struct op {
    enum op_kind kind;
    struct api_conn *c;
    char *language, *version;
    struct api_pkg_reply out;
};

static atomic_uint operations;

static void op_free(struct op *op)
{
    free(op->language);
    free(op->version);
    free(op);
}

static void *op_main(void *arg)
{
    struct op *op = arg;
    struct api_packages *p = op->c->routes->packages;

    switch (op->kind) {
    case OP_LIST:
        api_packages_list(p, &op->out);
        break;
    case OP_INSTALL:
        api_packages_install(p, op->language, op->version, &op->out);
        break;
    case OP_UNINSTALL:
        api_packages_uninstall(p, op->language, op->version, &op->out);
        break;
    }
    return NULL; /* op->out is queued by the connection's thread: MHD takes it from no other */
}

/* Rows 1-2 of the execute validation, with Piston's texts (Piston itself checks nothing). */
static const char *check_body(json_t *body)
{
    json_t *language = json_object_get(body, "language");
    json_t *version = json_object_get(body, "version");

    if (!json_is_string(language) || json_string_length(language) == 0 ||
        strlen(json_string_value(language)) != json_string_length(language))
        return "language is required as a string";
    if (!json_is_string(version) || json_string_length(version) == 0 ||
        strlen(json_string_value(version)) != json_string_length(version))
        return "version is required as a string";
    return NULL;
}

static enum MHD_Result start(struct api_conn *c, struct op *op)
{
    struct api_packages *p = c->routes->packages;
    enum MHD_Result ret;
    pthread_t thread;
    int r;

    if (atomic_fetch_add(&operations, 1) >= MAX_OPERATIONS) {
        atomic_fetch_sub(&operations, 1);
        op_free(op);
        return api_reply_message(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "too many package operations under way");
    }
    if (!api_packages_begin(p)) {
        atomic_fetch_sub(&operations, 1);
        op_free(op);
        return api_reply_message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "server shutting down");
    }
    r = pthread_create(&thread, NULL, op_main, op);
    if (r != 0) {
        log_error("request %s: cannot start a package thread: %s", c->request_id, strerror(r));
        ret = api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, strerror(r));
    } else {
        pthread_join(thread, NULL);
        if (op->out.body)
            ret = api_reply_json(c, op->out.status, op->out.body, op->out.len);
        else
            ret = api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    op_free(op);
    atomic_fetch_sub(&operations, 1);
    api_packages_end(p);
    return ret;
}

enum MHD_Result api_route_packages(struct api_conn *c, const char *method, json_t *body)
{
    struct op *op = calloc(1, sizeof(*op));
    const char *problem;

    if (!op)
        return api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    op->c = c;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        op->kind = OP_LIST;
        return start(c, op);
    }
    op->kind = strcmp(method, "POST") == 0 ? OP_INSTALL : OP_UNINSTALL;
    problem = check_body(body);
    if (problem) {
        op_free(op);
        return api_reply_message(c, MHD_HTTP_BAD_REQUEST, problem);
    }
    op->language = strdup(json_string_value(json_object_get(body, "language")));
    op->version = strdup(json_string_value(json_object_get(body, "version")));
    if (!op->language || !op->version) {
        op_free(op);
        return api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return start(c, op);
}
