/* The RFC 6455 opening handshake of GET /api/v2/connect. It runs after the pipeline's 413,
 * 401 and 429 steps (route.c), so an upgrade is authenticated exactly like an execute. The
 * accept key is SHA-1 and base64 from nettle, never hand-rolled. */
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ws-internal.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static const char *header(struct api_conn *c, const char *name)
{
    return MHD_lookup_connection_value(c->connection, MHD_HEADER_KIND, name);
}

/* A comma-separated header holds `token`, any case ("keep-alive, Upgrade"). */
static bool has_token(const char *value, const char *token)
{
    size_t n = strlen(token);

    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end == n && strncasecmp(p, token, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* RFC 6455 4.1: the key is 16 random bytes in base64, so 24 characters. */
static bool key_is_valid(const char *key)
{
    struct base64_decode_ctx ctx;
    uint8_t raw[BASE64_DECODE_LENGTH(24)];
    size_t n = sizeof(raw);

    if (strlen(key) != 24)
        return false;
    base64_decode_init(&ctx);
    return base64_decode_update(&ctx, &n, raw, 24, key) && base64_decode_final(&ctx) && n == 16;
}

static void accept_key(const char *key, char out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1])
{
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_SIZE];

    sha1_init(&sha);
    sha1_update(&sha, strlen(key), (const uint8_t *)key);
    sha1_update(&sha, strlen(WS_GUID), (const uint8_t *)WS_GUID);
    sha1_digest(&sha, sizeof(digest), digest);
    base64_encode_raw(out, sizeof(digest), digest);
    out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
}

/* An MHD thread, once the 101 is on the wire: the socket goes to the loop thread, and this
 * thread is free again (no MHD thread is held per WebSocket). */
static void on_upgrade(void *cls, struct MHD_Connection *connection, void *con_cls,
                       const char *extra_in, size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    struct api_routes *routes = cls;
    struct api_conn *http = con_cls;
    int buf = WS_SOCKET_BUFFER;

    (void)connection;
    /* Fixed kernel buffers: autotuned ones grow to megabytes (tcp_rmem's 32 MiB here) for a
     * client that floods and reads nothing, all of it kernel memory read before back-pressure
     * (WS_PEER_BACKLOG) can stop it. Best effort: the defaults are only larger. */
    (void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    (void)setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    /* before the loop can see it: the loop may be done with it before MHD is */
    atomic_store(&http->upgrade_holds, 2);
    if (ws__adopt(ws__loop_of(routes), http, sock, urh, extra_in, extra_in_size) < 0) {
        atomic_store(&http->upgrade_holds, 0);
        (void)MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    }
}

static enum MHD_Result reply_version(struct api_conn *c)
{
    static const char text[] = "{\"message\":\"Sec-WebSocket-Version must be 13\"}";
    struct MHD_Response *resp;
    enum MHD_Result r;

    resp = MHD_create_response_from_buffer(sizeof(text) - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                  "application/json; charset=utf-8");
    /* RFC 6455 4.4: name the versions this server speaks */
    (void)MHD_add_response_header(resp, "Sec-WebSocket-Version", "13");
    c->status = MHD_HTTP_UPGRADE_REQUIRED;
    r = MHD_queue_response(c->connection, MHD_HTTP_UPGRADE_REQUIRED, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result api_route_connect(struct api_conn *c)
{
    const char *upgrade = header(c, MHD_HTTP_HEADER_UPGRADE);
    const char *connection = header(c, MHD_HTTP_HEADER_CONNECTION);
    const char *version = header(c, "Sec-WebSocket-Version");
    const char *key = header(c, "Sec-WebSocket-Key");
    char accept[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1];
    struct MHD_Response *resp;
    enum MHD_Result r;

    /* A plain GET: Piston's route exists for upgrades only, so it is a 404 there too. */
    if (!upgrade || !has_token(upgrade, "websocket") || !connection ||
        !has_token(connection, "upgrade"))
        return api_reply_message(c, MHD_HTTP_NOT_FOUND, "Not Found");
    if (!version || strcmp(version, "13") != 0)
        return reply_version(c);
    if (!key || !key_is_valid(key))
        return api_reply_message(c, MHD_HTTP_BAD_REQUEST, "Sec-WebSocket-Key is not valid");
    /* Draining: nothing new starts; the balancer sends the client to another node. */
    if (atomic_load(&c->routes->draining))
        return api_reply_message(c, MHD_HTTP_SERVICE_UNAVAILABLE, "server is draining");
    accept_key(key, accept);
    resp = MHD_create_response_for_upgrade(on_upgrade, c->routes);
    if (!resp)
        return MHD_NO;
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    (void)MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    (void)MHD_add_response_header(resp, "X-Request-Id", c->request_id);
    c->status = MHD_HTTP_SWITCHING_PROTOCOLS;
    r = MHD_queue_response(c->connection, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    return r;
}
