/* WebSocket /api/v2/connect (PISTON-API.md 2.5): the handshake on an MHD thread
 * (ws-handshake.c), then one event-loop thread for every upgraded socket (ws-loop.c) with
 * the protocol and the job (ws-session.c). */
#pragma once

#include <microhttpd.h>

struct api_routes;
struct api_conn;
struct api_ws_loop;

/** Starts the loop thread. -errno. */
int api_ws_loop_new(struct api_routes *routes, struct api_ws_loop **ret);
/** Closes every connection (1001, their jobs cancelled) and joins the thread; call before
 *  MHD stops: libmicrohttpd wants every upgraded connection closed first. Idempotent. */
void api_ws_loop_stop(struct api_ws_loop *loop);
/** Stops if needed and frees. NULL-safe; returns NULL. */
struct api_ws_loop *api_ws_loop_free(struct api_ws_loop *loop);

/** GET /api/v2/connect, after authentication: 101 and the socket goes to the loop, or 404
 *  (not an upgrade request, as Piston), 400 (bad key) or 426 (unsupported version). */
enum MHD_Result api_route_connect(struct api_conn *c);
