/* Per-connection state and routes (route.c, route-execute.c). */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>

#include "api.h"
#include "strbuf.h"

struct api_routes {
    const struct api_config *cfg;
    struct rt_registry *registry;
    struct eng_engine *engine;
    char *runtimes_json; /* encoded once: the registry is immutable */
    size_t runtimes_len;
};

struct api_conn {
    struct MHD_Connection *connection;
    const struct api_routes *routes;
    struct strbuf body;
    bool too_large;      /* Content-Length over the cap: 413 before reading */
    bool body_too_large; /* a chunked body went over the cap */
    bool suspended;      /* waiting for the engine */
    struct eng_result *result; /* set by the done callback before resume */
};

int api_routes_init(struct api_routes *routes, const struct api_config *cfg,
                    struct rt_registry *reg, struct eng_engine *eng);
void api_routes_done(struct api_routes *routes);
void api_conn_free(struct api_conn *c);

/** The request pipeline: 413, JSON parse, 415, route, 404 (PISTON-API.md 2.1). */
enum MHD_Result api_dispatch(struct api_conn *c, const char *url, const char *method);
enum MHD_Result api_reply_too_large(struct api_conn *c);
/** Queues a JSON reply (takes ownership of body). */
enum MHD_Result api_reply_json(struct api_conn *c, unsigned status, char *body, size_t len);
enum MHD_Result api_reply_message(struct api_conn *c, unsigned status, const char *message);

/* route-execute.c */
enum MHD_Result api_route_execute(struct api_conn *c, json_t *body);
/** Queues the response for c->result (called on the worker thread while suspended). */
enum MHD_Result api_execute_reply(struct api_conn *c);
