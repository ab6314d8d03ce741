/* The HTTP server: libmicrohttpd thread pool, request pipeline, routes. */
#pragma once

#include "api.h"

struct api_server;

/** Parses a request body for the pipeline of PISTON-API.md 2.1 step 2 (codec.c). */
int api_body_parse_json(const char *body, size_t len, json_t **ret, char **ret_detail);

/** Listens on cfg's bind address and serves. The registry and engine must outlive it.
 *  *ret_port receives the bound port (useful with port 0). */
int api_server_start(const struct api_config *cfg, struct rt_registry *reg, struct eng_engine *eng,
                     struct api_server **ret, uint16_t *ret_port);
/** Drain starts: /health answers 503 "draining" and new executes 503 "server is draining",
 *  while connections are still accepted so balancers can see it. */
void api_server_set_draining(struct api_server *srv);
/** Requests begun whose answer is not sent yet (a body still arriving, a job running, an
 *  answer being written); any thread. */
unsigned api_server_requests_in_flight(struct api_server *srv);
/** Stops accepting new connections (drain is over); in-flight requests continue. */
void api_server_quiesce(struct api_server *srv);
/** Stops the server: closes every connection and joins its thread (one running or waiting
 *  for a job ends with that job; queued jobs should have been answered, eng_stop). Call it
 *  before eng_free: a closed connection ends its slot's lease, which eng_free waits for. */
struct api_server *api_server_free(struct api_server *srv);
