/* GET /health and GET /metrics: outside /api/v2 (not part of the wire contract), open
 * without credentials or rate limit so balancers and scrapers always reach them.
 *
 * /health is 200 while the node can take jobs and 503 when it cannot: draining after
 * SIGTERM, queue full, or no runtime loaded. `?deep=1` also runs a trivial job through the
 * normal queue and a real box (an empty program in the first available runtime of
 * deep_programs), so it proves namespaces, cgroups, the toolchain and a slot worker; it
 * costs one slot for a few ms, so balancers should poll the plain form and keep the deep
 * one for readiness probes and canaries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"

/* Do-nothing programs, by preference: interpreted first (no compile stage to wait for). */
static const struct {
    const char *language;
    const char *content;
} deep_programs[] = {
    {"python", ""},
    {"javascript", ""},
    {"sh", ""},
    {"c", "int main(void){return 0;}\n"},
    {"c++", "int main(){return 0;}\n"},
    {"java", "class Main{public static void main(String[] a){}}\n"},
};

struct health {
    const char *status; /* "ok", "draining", "overloaded", "unavailable", "failing" */
    struct eng_stats stats;
    size_t runtimes;
};

static void health_state(struct api_conn *c, struct health *h)
{
    const struct api_config *cfg = c->routes->cfg;

    struct rt_registry *reg = api_routes_registry(c->routes); /* packages may have changed it */

    h->runtimes = rt_registry_count(reg);
    rt_registry_unref(reg);
    eng_get_stats(c->routes->engine, &h->stats);
    h->status = "ok";
    if (atomic_load(&c->routes->draining))
        h->status = "draining";
    else if (h->runtimes == 0)
        h->status = "unavailable";
    else if (cfg->eng.max_queue > 0 && h->stats.queued >= cfg->eng.max_queue)
        h->status = "overloaded"; /* a new job would get 503 "too many queued jobs" */
}

static enum MHD_Result health_reply(struct api_conn *c, const struct health *h, json_t *deep)
{
    json_t *o = json_object();
    char *body = NULL;
    bool ok = strcmp(h->status, "ok") == 0;

    if (o && json_object_set_new(o, "status", json_string(h->status)) == 0 &&
        json_object_set_new(o, "instance", json_string(c->routes->cfg->eng.instance)) == 0 &&
        json_object_set_new(o, "runtimes", json_integer((json_int_t)h->runtimes)) == 0 &&
        json_object_set_new(o, "slots", json_integer(c->routes->cfg->eng.max_concurrent_jobs)) ==
            0 &&
        json_object_set_new(o, "running", json_integer(h->stats.running)) == 0 &&
        json_object_set_new(o, "queued", json_integer((json_int_t)h->stats.queued)) == 0 &&
        (!deep || json_object_set(o, "deep", deep) == 0))
        body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return api_reply_json(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body,
                          body ? strlen(body) : 0);
}

/* The deep check's verdict: the job must have produced a clean exit in every stage. */
static const char *deep_problem(const struct eng_result *res, char *buf, size_t size)
{
    const struct eng_stage_result *st;

    if (!res)
        return "out of memory";
    if (res->error < 0)
        return res->error_message ? res->error_message : strerror(-res->error);
    st = res->has_compile && res->compile.status != ENG_STATUS_OK ? &res->compile : &res->run;
    if (st->status == ENG_STATUS_OK && st->has_code && st->code == 0)
        return NULL;
    snprintf(buf, size, "%s stage ended with status %s, code %d: %.200s",
             st == &res->compile ? "compile" : "run",
             st->status == ENG_STATUS_OK ? "null" : eng_status_name(st->status),
             st->has_code ? st->code : -1, st->stderr_data ? st->stderr_data : "");
    return buf;
}

static enum MHD_Result deep_reply(struct api_conn *c)
{
    const struct eng_result *res = c->result;
    struct health h;
    char buf[512];
    const char *problem = deep_problem(res, buf, sizeof(buf));
    json_t *deep;
    enum MHD_Result r;

    health_state(c, &h);
    if (problem && strcmp(h.status, "ok") == 0)
        h.status = "failing";
    deep = json_pack("{s:s,s:s,s:s,s:I,s:s?}", "status", problem ? "failing" : "ok", "language",
                     c->runtime->language, "version", c->runtime->version, "duration_ms",
                     (json_int_t)usec_to_msec_ceil(c->finished - c->submitted), "message", problem);
    r = health_reply(c, &h, deep);
    json_decref(deep);
    return r;
}

static const struct rt_runtime *deep_runtime(const struct rt_registry *reg, const char **ret)
{
    for (size_t p = 0; p < ARRAY_SIZE(deep_programs); p++)
        for (size_t i = 0; i < rt_registry_count(reg); i++) {
            const struct rt_runtime *rt = rt_registry_get(reg, i);
            if (strcmp(rt->language, deep_programs[p].language) == 0) {
                *ret = deep_programs[p].content;
                return rt;
            }
        }
    /* any other interpreted runtime: an empty program is a no-op in nearly every language */
    for (size_t i = 0; i < rt_registry_count(reg); i++)
        if (!rt_registry_get(reg, i)->compiled) {
            *ret = "";
            return rt_registry_get(reg, i);
        }
    return NULL;
}

/* The job goes through the execute decoder, so it gets the configured limits like any job. */
static enum MHD_Result deep_submit(struct api_conn *c, const struct health *h)
{
    const char *content = NULL, *problem = NULL;
    struct rt_registry *reg = api_routes_registry(c->routes); /* the job takes its own */
    const struct rt_runtime *rt = deep_runtime(reg, &content);
    struct eng_request *req = NULL;
    char *message = NULL;
    json_t *body = NULL;
    int r = -ENOENT;

    if (rt)
        body = json_pack("{s:s,s:s,s:[{s:s}]}", "language", rt->language, "version", rt->version,
                         "files", "content", content);
    if (body)
        r = api_execute_decode(body, reg, &c->routes->cfg->eng, &req, &message);
    json_decref(body);
    rt_registry_unref(reg);
    if (r >= 0) {
        c->reply = deep_reply;
        return api_submit(c, req);
    }
    problem = !rt ? "no runtime to run the deep check with" : message ? message : strerror(-r);
    json_t *deep = json_pack("{s:s,s:s}", "status", "failing", "message", problem);
    struct health failed = *h;
    failed.status = "failing";
    enum MHD_Result ret = health_reply(c, &failed, deep);
    json_decref(deep);
    free(message);
    return ret;
}

static bool want_deep(struct api_conn *c)
{
    const char *v = MHD_lookup_connection_value(c->connection, MHD_GET_ARGUMENT_KIND, "deep");

    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

enum MHD_Result api_route_health(struct api_conn *c)
{
    struct health h;

    health_state(c, &h);
    /* a node that cannot take jobs is not probed further: the answer is already 503 */
    if (want_deep(c) && strcmp(h.status, "ok") == 0)
        return deep_submit(c, &h);
    return health_reply(c, &h, NULL);
}

enum MHD_Result api_route_metrics(struct api_conn *c)
{
    const struct api_config *cfg = c->routes->cfg;
    struct api_metrics_gauges g = {
        .slots = cfg->eng.max_concurrent_jobs,
        .max_queue = cfg->eng.max_queue,
        .draining = atomic_load(&c->routes->draining),
        .start_time = c->routes->start_time,
        .instance = cfg->eng.instance,
    };
    struct strbuf sb = {0};
    size_t len;
    char *text;

    eng_get_stats(c->routes->engine, &g.eng);
    if (api_metrics_render(c->routes->metrics, c->routes->registry, &g, &sb) < 0) {
        strbuf_done(&sb);
        return api_reply_message(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    text = strbuf_steal(&sb, &len);
    return api_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
