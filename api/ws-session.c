/* The /api/v2/connect protocol (PISTON-API.md 2.5): client messages on the loop thread, the
 * job's events on its worker thread, both ending in the connection's out queue.
 *
 * Choices where the spec is silent (README "WebSocket"): the compile stage reads no stdin,
 * so `data` sent before or during a compile waits for the run stage; a `signal` reaches the
 * stage that runs when it arrives and is dropped while none does; `eof` before `init` is
 * ignored like an unknown type; a message that is valid JSON but not an object, or has no
 * string `type`, is ignored; a `data` whose `data` is not a string is a 4002 (Piston throws). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "utf8.h"
#include "ws-internal.h"

/* ---- encoding -------------------------------------------------------------------------- */

static char *dump(json_t *o, size_t *ret_len)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    if (s)
        *ret_len = strlen(s);
    return s;
}

static char *encode_error(const char *message, size_t *ret_len)
{
    return dump(json_pack("{s:s,s:s}", "type", "error", "message", message), ret_len);
}

int ws__queue_text(struct ws_conn *c, char *text, size_t len)
{
    struct ws_msg *m;

    if (!text)
        return -ENOMEM;
    m = malloc(sizeof(*m) + len);
    if (!m) {
        free(text);
        return -ENOMEM;
    }
    *m = (struct ws_msg){.len = len};
    memcpy(m->data, text, len);
    free(text);
    *c->out_tail = m;
    c->out_tail = &m->next;
    c->out_bytes += len;
    return 0;
}

static void queue_close(struct ws_conn *c, uint16_t code, const char *reason)
{
    size_t len = strlen(reason);
    struct ws_msg *m = malloc(sizeof(*m) + len);

    if (!m)
        return; /* the linger timer ends the connection instead */
    *m = (struct ws_msg){.close_code = code, .len = len};
    memcpy(m->data, reason, len);
    *c->out_tail = m;
    c->out_tail = &m->next;
}

/* error message, then 4002 (loop thread) */
static void notify_error(struct ws_conn *c, const char *message)
{
    size_t len;
    char *text = encode_error(message, &len);

    if (text)
        (void)ws__send_text(c, text, len);
    free(text);
    ws__close(c, 4002, "Notified Error");
}

static const char *stage_name(enum eng_stage stage)
{
    return stage == ENG_STAGE_COMPILE ? "compile" : "run";
}

/* ---- worker side: struct eng_stream callbacks --------------------------------------------- */

static void on_stage_begin(void *userdata, enum eng_stage stage)
{
    struct ws_conn *c = userdata;
    size_t len;
    char *text;

    pthread_mutex_lock(&c->lock);
    c->pending_signal = 0; /* meant for a stage that was not running */
    if (!c->runtime_sent && !c->cancel) {
        c->runtime_sent = true;
        text = dump(json_pack("{s:s,s:s,s:s}", "type", "runtime", "language", c->runtime->language,
                              "version", c->runtime->version),
                    &len);
        (void)ws__queue_text(c, text, len);
    }
    if (!c->cancel) {
        text = dump(json_pack("{s:s,s:s}", "type", "stage", "stage", stage_name(stage)), &len);
        (void)ws__queue_text(c, text, len);
    }
    pthread_mutex_unlock(&c->lock);
    ws__notify(c);
}

/* One `data` message for valid UTF-8 bytes (the converter replaces anything invalid). */
static char *encode_data(bool is_stderr, const char *bytes, size_t n, size_t *ret_len)
{
    _cleanup_free_ char *clean = NULL;
    size_t clean_len;

    if (utf8_sanitize(bytes, n, &clean, &clean_len) < 0)
        return NULL;
    return dump(json_pack("{s:s,s:s,s:s%}", "type", "data", "stream",
                          is_stderr ? "stderr" : "stdout", "data", clean, clean_len),
                ret_len);
}

/* Queues the bytes of one chunk; a character split by the chunk's end waits in the carry
 * for the next chunk of the same stream (final: flushed as it is, invalid -> U+FFFD). */
static bool emit(struct ws_conn *c, bool is_stderr, const char *data, size_t n, bool final)
{
    size_t *carry_len = &c->carry_len[is_stderr];
    unsigned char *carry = c->carry[is_stderr];
    _cleanup_free_ char *joined = NULL;
    size_t total = *carry_len + n, keep, len = 0;
    char *text = NULL;
    bool full;

    if (total == 0)
        return false;
    joined = malloc(total);
    if (!joined)
        return false;
    memcpy(joined, carry, *carry_len);
    if (n)
        memcpy(joined + *carry_len, data, n);
    keep = final ? total : utf8_trim_incomplete_tail(joined, total);
    /* only a tail that can still become a character is held back (at most 3 bytes) */
    *carry_len = total - keep;
    memcpy(carry, joined + keep, *carry_len);
    if (keep)
        text = encode_data(is_stderr, joined, keep, &len);
    pthread_mutex_lock(&c->lock);
    if (text && !c->cancel)
        (void)ws__queue_text(c, TAKE_PTR(text), len);
    full = !c->cancel && c->out_bytes >= WS_OUT_HIGH;
    if (full)
        c->worker_full = true;
    pthread_mutex_unlock(&c->lock);
    free(text);
    ws__notify(c);
    return full;
}

static bool on_output(void *userdata, bool is_stderr, const char *data, size_t len)
{

    return emit(userdata, is_stderr, data, len, false);
}

static void on_stage_end(void *userdata, enum eng_stage stage, const struct eng_stage_result *res)
{
    struct ws_conn *c = userdata;
    json_t *o;
    size_t len;
    char *text;

    (void)emit(c, false, NULL, 0, true);
    (void)emit(c, true, NULL, 0, true);
    o = json_pack("{s:s,s:s}", "type", "exit", "stage", stage_name(stage));
    if (o &&
        (json_object_set_new(o, "code", res->has_code ? json_integer(res->code) : json_null()) <
             0 ||
         json_object_set_new(o, "signal",
                             res->signal_name ? json_string(res->signal_name) : json_null()) < 0)) {
        json_decref(o);
        o = NULL;
    }
    text = dump(o, &len);
    pthread_mutex_lock(&c->lock);
    if (!c->cancel)
        (void)ws__queue_text(c, TAKE_PTR(text), len);
    pthread_mutex_unlock(&c->lock);
    free(text);
    ws__notify(c);
}

static void on_control(void *userdata, struct sbx_stream_control *ret)
{
    struct ws_conn *c = userdata;
    uint64_t v;

    (void)!read(c->control_fd, &v, sizeof(v));
    pthread_mutex_lock(&c->lock);
    ret->paused = c->worker_full;
    ret->signal = c->pending_signal;
    c->pending_signal = 0;
    ret->cancel = c->cancel;
    pthread_mutex_unlock(&c->lock);
}

static void on_done(void *userdata, struct eng_result *res)
{
    struct ws_conn *c = userdata;
    char buf[128];

    pthread_mutex_lock(&c->lock);
    c->job_done = true;
    c->result = res;
    c->finished_at = now_usec();
    if (!c->cancel && res && res->error == 0) {
        queue_close(c, 4999, "Job Completed");
    } else if (!c->cancel) {
        const char *msg = !res                 ? "out of memory"
                          : res->error_message ? res->error_message
                                               : strerror_r(-res->error, buf, sizeof(buf));
        size_t len = 0;
        char *text = encode_error(msg, &len); /* before the call: len is its output */
        (void)ws__queue_text(c, text, len);
        queue_close(c, 4002, "Notified Error");
    }
    pthread_mutex_unlock(&c->lock);
    ws__notify(c);
    ws__conn_unref(c); /* the job's reference */
}

void ws__stream_init(struct ws_conn *c)
{
    c->stream = (struct eng_stream){
        .io = {.control_fd = c->control_fd,
               .output = on_output,
               .control = on_control,
               .userdata = c},
        .stdin_fd = c->stdin_r,
        .stage_begin = on_stage_begin,
        .stage_end = on_stage_end,
    };
}

/* ---- loop side: client messages ----------------------------------------------------------- */

static int make_pipes(struct ws_conn *c)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    c->stdin_r = fds[0];
    c->stdin_w = fds[1];
    if (fcntl(c->stdin_w, F_SETFL, O_NONBLOCK) < 0)
        return -errno;
    c->control_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return c->control_fd < 0 ? -errno : 0;
}

static void handle_init(struct ws_conn *c, json_t *root)
{
    struct api_routes *routes = ws__routes(c);
    const struct api_config *cfg = routes->cfg;
    struct eng_request *req = NULL;
    char *message = NULL;
    int r;

    if (atomic_load(&routes->draining)) {
        notify_error(c, "server is draining");
        return;
    }
    /* same fields, defaults and validation as execute, without stdin (row 8 skipped) */
    (void)json_object_del(root, "stdin");
    struct rt_registry *reg = api_routes_registry(routes); /* the request takes its own */
    r = api_execute_decode_capped(root, reg, &cfg->eng, cfg->max_files, &req, &message);
    rt_registry_unref(reg);
    if (r < 0) {
        notify_error(c, message ? message : strerror(-r));
        free(message);
        return;
    }
    r = make_pipes(c);
    if (r < 0) {
        eng_request_free(req);
        notify_error(c, strerror(-r));
        return;
    }
    c->runtime = req->runtime;
    c->registry = rt_registry_ref(req->registry);
    ws__stream_init(c);
    req->stream = &c->stream;
    ws__init_done(c);
    c->submitted = true;
    c->submitted_at = now_usec();
    ws__conn_ref(c); /* the job's */
    r = eng_submit(routes->engine, req, on_done, c);
    if (r < 0) {
        struct eng_result rejected = {.error = r};
        eng_request_free(req);
        c->submitted = false;
        ws__conn_unref(c);
        api_metrics_job(routes->metrics, api_runtime_index(routes->registry, c->runtime), &rejected,
                        0);
        notify_error(c, r == -EAGAIN ? "too many queued jobs" : "server shutting down");
    }
}

static void handle_signal(struct ws_conn *c, json_t *root)
{
    json_t *v = json_object_get(root, "signal");
    int sig = json_is_string(v) ? sbx_signal_from_name(json_string_value(v)) : 0;
    bool running;

    if (sig <= 0) {
        ws__close(c, 4005, "Invalid signal");
        return;
    }
    pthread_mutex_lock(&c->lock);
    running = !c->job_done;
    if (running)
        c->pending_signal = sig;
    pthread_mutex_unlock(&c->lock);
    if (running) {
        uint64_t one = 1;
        (void)!write(c->control_fd, &one, sizeof(one));
    }
}

static void handle_data(struct ws_conn *c, json_t *root)
{
    json_t *stream = json_object_get(root, "stream"), *data = json_object_get(root, "data");

    if (!json_is_string(stream) || strcmp(json_string_value(stream), "stdin") != 0) {
        ws__close(c, 4004, "Can only write to stdin");
        return;
    }
    if (!json_is_string(data)) {
        notify_error(c, "data must be a string");
        return;
    }
    ws__stdin_write(c, json_string_value(data), json_string_length(data));
}

static size_t max_values(const struct api_config *cfg)
{
    if (cfg->max_files > (SIZE_MAX - API_JSON_VALUES_BASE) / API_JSON_VALUES_PER_FILE)
        return SIZE_MAX;
    return (size_t)cfg->max_files * API_JSON_VALUES_PER_FILE + API_JSON_VALUES_BASE;
}

void ws__on_message(struct ws_conn *c, const char *text, size_t len)
{
    const struct api_config *cfg = ws__routes(c)->cfg;
    _cleanup_free_ char *detail = NULL, *message = NULL;
    json_t *root = NULL;
    const char *type;

    /* the parser's memory grows with the number of values: capped first, as for a body */
    if (api_body_json_too_complex(text, len, max_values(cfg))) {
        if (asprintf(&message, "message holds more than %zu JSON values", max_values(cfg)) < 0)
            message = NULL;
        notify_error(c, message ? message : "message too complex");
        return;
    }
    if (api_body_parse_json(text, len, &root, &detail) < 0) {
        if (asprintf(&message, "Malformed JSON: %s", detail ? detail : "invalid JSON") < 0)
            message = NULL;
        notify_error(c, message ? message : "Malformed JSON");
        return;
    }
    type = json_is_object(root) ? json_string_value(json_object_get(root, "type")) : NULL;
    if (!type)
        ; /* nothing to act on: ignored, as any unknown type */
    else if (strcmp(type, "init") == 0) {
        if (c->submitted || c->runtime)
            ws__close(c, 4000, "Already Initialized");
        else
            handle_init(c, root);
    } else if (strcmp(type, "data") == 0 || strcmp(type, "signal") == 0) {
        if (!c->submitted)
            ws__close(c, 4003, "Not yet initialized");
        else if (type[0] == 'd')
            handle_data(c, root);
        else
            handle_signal(c, root);
    } else if (strcmp(type, "eof") == 0) {
        if (c->submitted)
            ws__stdin_eof(c);
    }
    json_decref(root);
}

void ws__session_end(struct ws_conn *c)
{
    struct api_routes *routes = ws__routes(c);
    struct api_conn *h = c->http;

    if (c->submitted)
        api_metrics_job(routes->metrics, api_runtime_index(routes->registry, c->runtime), c->result,
                        c->finished_at - c->submitted_at);
    if (!h)
        return;
    /* read by the access log line, written when MHD completes the request after the close */
    h->runtime = c->runtime;
    h->submitted = c->submitted ? c->submitted_at : 0;
    h->finished = c->submitted ? c->finished_at : 0;
    if (c->submitted) {
        eng_result_free(h->result);
        h->result = TAKE_PTR(c->result);
    }
}
