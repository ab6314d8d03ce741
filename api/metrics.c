/* Prometheus text exposition (format 0.0.4). Every label combination that can occur is
 * written from the start, zeros included, so rate() and alerts work before the first event. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* Upper bounds in microseconds: jobs take from a few ms (cached, interpreted) to a minute. */
static const usec_t bucket_bounds[] = {5000,     10000,    25000,   50000,   100000,
                                       250000,   500000,   1000000, 2500000, 5000000,
                                       10000000, 30000000, 60000000};
#define N_BUCKETS (ARRAY_SIZE(bucket_bounds) + 1) /* the last one is +Inf */

/* The HTTP statuses capsuled answers with; anything else is counted as "other". */
static const unsigned codes[] = {101, 200, 400, 401, 404, 413, 415, 426, 429, 500, 503};
#define N_CODES (ARRAY_SIZE(codes) + 2) /* + "other", + "0" (no answer) */

enum job_outcome {
    JOB_OK,
    JOB_RE,
    JOB_SG,
    JOB_TO,
    JOB_OL,
    JOB_EL,
    JOB_XX,
    JOB_ERROR,     /* 500 after validation */
    JOB_REJECTED,  /* 503: queue full or shutting down */
    JOB_CANCELLED, /* the WebSocket client left: the job was killed or never started */
    JOB_OUTCOME_COUNT,
};
static const char *const outcome_names[JOB_OUTCOME_COUNT] = {
    "OK", "RE", "SG", "TO", "OL", "EL", "XX", "error", "rejected", "cancelled"};

static const char *const route_names[API_ROUTE_COUNT] = {
    [API_ROUTE_ROOT] = "root",       [API_ROUTE_RUNTIMES] = "runtimes",
    [API_ROUTE_EXECUTE] = "execute", [API_ROUTE_HEALTH] = "health",
    [API_ROUTE_METRICS] = "metrics", [API_ROUTE_PACKAGES] = "packages",
    [API_ROUTE_OTHER] = "other",     [API_ROUTE_CONNECT] = "connect",
};

struct histogram {
    atomic_uint_fast64_t buckets[N_BUCKETS]; /* per bucket, made cumulative when rendered */
    atomic_uint_fast64_t sum_usec;
};

struct api_metrics {
    atomic_uint_fast64_t requests[API_ROUTE_COUNT][N_CODES];
    struct histogram request_seconds[API_ROUTE_COUNT];
    struct histogram stage_seconds[2];      /* compile, run (wall time) */
    atomic_uint_fast64_t stage_cpu_usec[2]; /* compile, run: the programs' CPU, exact */
    struct histogram job_seconds;           /* submit to result: queue wait included */
    atomic_uint_fast64_t auth_failures[API_AUTH_FAIL_COUNT];
    atomic_uint_fast64_t rate_limited;
    atomic_int_fast64_t waiting;
    size_t n_runtimes;
    atomic_uint_fast64_t (*jobs)[JOB_OUTCOME_COUNT]; /* [n_runtimes] */
};

const char *api_route_name(enum api_route_id route)
{
    return route < API_ROUTE_COUNT ? route_names[route] : "other";
}

struct api_metrics *api_metrics_new(size_t n_runtimes)
{
    struct api_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->n_runtimes = n_runtimes;
    m->jobs = calloc(n_runtimes + 1, sizeof(*m->jobs));
    if (!m->jobs)
        return api_metrics_free(m);
    return m;
}

struct api_metrics *api_metrics_free(struct api_metrics *m)
{
    if (m)
        free(m->jobs);
    free(m);
    return NULL;
}

static void observe(struct histogram *h, usec_t v)
{
    size_t i = 0;

    while (i < ARRAY_SIZE(bucket_bounds) && v > bucket_bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_usec, v, memory_order_relaxed);
}

static size_t code_index(unsigned status)
{
    if (status == 0)
        return N_CODES - 1;
    for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
        if (codes[i] == status)
            return i;
    return N_CODES - 2;
}

void api_metrics_request(struct api_metrics *m, enum api_route_id route, unsigned status,
                         usec_t duration)
{
    if (!m || route >= API_ROUTE_COUNT)
        return;
    atomic_fetch_add_explicit(&m->requests[route][code_index(status)], 1, memory_order_relaxed);
    observe(&m->request_seconds[route], duration);
}

static enum job_outcome outcome_of(const struct eng_result *res)
{
    if (!res)
        return JOB_ERROR;
    if (res->error == -EAGAIN || res->error == -ESHUTDOWN || res->error == -ECANCELED)
        return JOB_REJECTED;
    if (res->error == -ECONNABORTED)
        return JOB_CANCELLED;
    if (res->error < 0)
        return JOB_ERROR;
    /* the status the client reads in `run` (a copy of `compile` when compilation failed) */
    switch (res->run.status) {
    case ENG_STATUS_OK:
        return JOB_OK;
    case ENG_STATUS_RE:
        return JOB_RE;
    case ENG_STATUS_SG:
        return JOB_SG;
    case ENG_STATUS_TO:
        return JOB_TO;
    case ENG_STATUS_OL:
        return JOB_OL;
    case ENG_STATUS_EL:
        return JOB_EL;
    case ENG_STATUS_XX:
        return JOB_XX;
    }
    return JOB_XX;
}

void api_metrics_job(struct api_metrics *m, size_t runtime_index, const struct eng_result *res,
                     usec_t duration)
{
    if (!m)
        return;
    runtime_index = MIN(runtime_index, m->n_runtimes); /* the extra row: unknown runtime */
    atomic_fetch_add_explicit(&m->jobs[runtime_index][outcome_of(res)], 1, memory_order_relaxed);
    if (!res || res->error < 0)
        return;
    observe(&m->job_seconds, duration);
    if (res->has_compile) {
        observe(&m->stage_seconds[0], res->compile.wall_time_ms * USEC_PER_MSEC);
        atomic_fetch_add_explicit(&m->stage_cpu_usec[0], res->compile.cpu_usec,
                                  memory_order_relaxed);
    }
    /* a failed compile copies itself into run: that run never happened */
    if (!res->has_compile || res->compile.status == ENG_STATUS_OK) {
        observe(&m->stage_seconds[1], res->run.wall_time_ms * USEC_PER_MSEC);
        atomic_fetch_add_explicit(&m->stage_cpu_usec[1], res->run.cpu_usec, memory_order_relaxed);
    }
}

void api_metrics_auth_failure(struct api_metrics *m, enum api_auth_failure failure)
{
    if (m && failure < API_AUTH_FAIL_COUNT)
        atomic_fetch_add_explicit(&m->auth_failures[failure], 1, memory_order_relaxed);
}

void api_metrics_rate_limited(struct api_metrics *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->rate_limited, 1, memory_order_relaxed);
}

void api_metrics_waiting(struct api_metrics *m, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->waiting, delta, memory_order_relaxed);
}

/* ---- rendering ---------------------------------------------------------------------------- */

struct out {
    struct strbuf *sb;
    int error;
};

static void emit(struct out *o, const char *fmt, ...) _printf_(2, 3);
static void emit(struct out *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    if (o->error < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        o->error = -ENAMETOOLONG;
        return;
    }
    if (strbuf_append(o->sb, line, (size_t)n) < 0)
        o->error = -ENOMEM;
}

static void header(struct out *o, const char *name, const char *type, const char *help)
{
    emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values: backslash, double quote and newline escaped (exposition format). */
static void label_value(const char *s, char *buf, size_t size)
{
    size_t n = 0;

    for (; *s && n + 3 < size; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            buf[n++] = '\\';
            buf[n++] = *s == '\n' ? 'n' : *s;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
}

static void histogram(struct out *o, const char *name, const char *labels, struct histogram *h)
{
    uint64_t cumulative = 0;
    const char *sep = labels[0] ? "," : "";

    for (size_t i = 0; i < N_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < ARRAY_SIZE(bucket_bounds))
            emit(o, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep,
                 (double)bucket_bounds[i] / USEC_PER_SEC, cumulative);
        else
            emit(o, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cumulative);
    }
    /* no empty braces: "name{} 1" is not in every parser's grammar */
    emit(o, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
         (double)atomic_load_explicit(&h->sum_usec, memory_order_relaxed) / USEC_PER_SEC);
    emit(o, "%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "", labels,
         labels[0] ? "}" : "", cumulative);
}

static void render_requests(struct out *o, struct api_metrics *m)
{
    char labels[64];

    header(o, "capsule_http_requests_total", "counter", "HTTP requests by route and status.");
    for (size_t r = 0; r < API_ROUTE_COUNT; r++)
        for (size_t c = 0; c < N_CODES; c++) {
            char code[16];
            if (c < ARRAY_SIZE(codes))
                snprintf(code, sizeof(code), "%u", codes[c]);
            else
                snprintf(code, sizeof(code), "%s", c == N_CODES - 1 ? "0" : "other");
            emit(o, "capsule_http_requests_total{route=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                 route_names[r], code,
                 atomic_load_explicit(&m->requests[r][c], memory_order_relaxed));
        }
    header(o, "capsule_http_request_duration_seconds", "histogram",
           "Time from the request head to the end of the answer, by route.");
    for (size_t r = 0; r < API_ROUTE_COUNT; r++) {
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
        histogram(o, "capsule_http_request_duration_seconds", labels, &m->request_seconds[r]);
    }
}

static void render_jobs(struct out *o, struct api_metrics *m, const struct rt_registry *reg)
{
    header(o, "capsule_jobs_total", "counter",
           "Execute jobs by runtime and the status of their run stage (OK: status null).");
    for (size_t i = 0; i <= m->n_runtimes; i++) {
        const struct rt_runtime *rt = i < m->n_runtimes ? rt_registry_get(reg, i) : NULL;
        char lang[128], version[128];

        label_value(rt ? rt->language : "unknown", lang, sizeof(lang));
        label_value(rt ? rt->version : "", version, sizeof(version));
        for (size_t s = 0; s < JOB_OUTCOME_COUNT; s++) {
            uint64_t v = atomic_load_explicit(&m->jobs[i][s], memory_order_relaxed);
            if (rt || v) /* the "unknown" row only once something landed there */
                emit(o,
                     "capsule_jobs_total{language=\"%s\",version=\"%s\",status=\"%s\"} %" PRIu64
                     "\n",
                     lang, version, outcome_names[s], v);
        }
    }
    header(o, "capsule_stage_duration_seconds", "histogram",
           "Wall time of compile and run stages as reported to clients.");
    histogram(o, "capsule_stage_duration_seconds", "stage=\"compile\"", &m->stage_seconds[0]);
    histogram(o, "capsule_stage_duration_seconds", "stage=\"run\"", &m->stage_seconds[1]);
    /* Exact where cpu_time is whole milliseconds: capsule-bench takes the programs' own CPU
     * from here, since rounding a sub-millisecond program would hide the engine's share. */
    header(o, "capsule_stage_cpu_seconds_total", "counter",
           "CPU time of the programs of compile and run stages (cgroup), cached compiles not "
           "counted.");
    for (size_t i = 0; i < 2; i++)
        emit(o, "capsule_stage_cpu_seconds_total{stage=\"%s\"} %.6f\n", i ? "run" : "compile",
             (double)atomic_load_explicit(&m->stage_cpu_usec[i], memory_order_relaxed) /
                 USEC_PER_SEC);
    header(o, "capsule_job_duration_seconds", "histogram",
           "Time from submission to result: queue wait, box setup and every stage.");
    histogram(o, "capsule_job_duration_seconds", "", &m->job_seconds);
}

static void gauge(struct out *o, const char *name, const char *help, double v)
{
    header(o, name, "gauge", help);
    emit(o, "%s %.17g\n", name, v);
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    header(o, name, "counter", help);
    emit(o, "%s %" PRIu64 "\n", name, v);
}

static void render_engine(struct out *o, struct api_metrics *m, const struct api_metrics_gauges *g)
{
    char instance[128];

    label_value(g->instance ? g->instance : "", instance, sizeof(instance));
    header(o, "capsule_build_info", "gauge", "Version and instance of this daemon.");
    emit(o, "capsule_build_info{version=\"%s\",instance=\"%s\"} 1\n", CAPSULE_VERSION, instance);
    gauge(o, "capsule_start_time_seconds", "Unix time the daemon started.", g->start_time);
    gauge(o, "capsule_draining", "1 while draining after SIGTERM.", g->draining ? 1 : 0);
    gauge(o, "capsule_slots", "Job slots (PISTON_MAX_CONCURRENT_JOBS).", g->slots);
    gauge(o, "capsule_jobs_running", "Jobs in a slot now (busy slots).", g->eng.running);
    gauge(o, "capsule_jobs_queued", "Jobs waiting for a slot (queue depth).",
          (double)g->eng.queued);
    gauge(o, "capsule_queue_capacity", "CAPSULE_MAX_QUEUE (0: unbounded).", (double)g->max_queue);
    gauge(o, "capsule_http_requests_waiting", "Connections waiting for their job.",
          (double)atomic_load_explicit(&m->waiting, memory_order_relaxed));
    counter(o, "capsule_jobs_completed_total", "Jobs the engine finished (any outcome).",
            g->eng.completed);
    counter(o, "capsule_sandbox_failures_total", "Jobs that failed because a box failed.",
            g->eng.sandbox_failures);
    counter(o, "capsule_compile_cache_hits_total", "Compile stages served from the cache.",
            g->eng.cache_hits);
    counter(o, "capsule_compile_cache_misses_total", "Compile stages that ran.",
            g->eng.cache_misses);
    counter(o, "capsule_boxes_built_total",
            "Boxes built (a box serves its slot's jobs while they end on their own).",
            g->eng.boxes_built);
}

static void render_security(struct out *o, struct api_metrics *m)
{
    header(o, "capsule_auth_failures_total", "counter", "Requests refused with 401, by reason.");
    for (size_t i = 0; i < API_AUTH_FAIL_COUNT; i++)
        emit(o, "capsule_auth_failures_total{reason=\"%s\"} %" PRIu64 "\n",
             api_auth_failure_name((enum api_auth_failure)i),
             atomic_load_explicit(&m->auth_failures[i], memory_order_relaxed));
    counter(o, "capsule_rate_limited_total", "Requests refused with 429.",
            atomic_load_explicit(&m->rate_limited, memory_order_relaxed));
}

int api_metrics_render(struct api_metrics *m, const struct rt_registry *reg,
                       const struct api_metrics_gauges *g, struct strbuf *out)
{
    struct out o = {.sb = out};

    render_engine(&o, m, g);
    render_requests(&o, m);
    render_jobs(&o, m, reg);
    render_security(&o, m);
    return o.error;
}
