/* Counters and histograms for GET /metrics (Prometheus text format 0.0.4). Lock-free: every
 * MHD and worker thread records with relaxed atomics; rendering reads a consistent-enough
 * snapshot (each sample on its own, as Prometheus clients do). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "engine.h"
#include "strbuf.h"
#include "time-util.h"

enum api_route_id {
    API_ROUTE_ROOT,
    API_ROUTE_RUNTIMES,
    API_ROUTE_EXECUTE,
    API_ROUTE_CONNECT, /* the WebSocket upgrade; its job is counted like an execute's */
    API_ROUTE_HEALTH,
    API_ROUTE_METRICS,
    API_ROUTE_PACKAGES,
    API_ROUTE_OTHER, /* 404s, and requests refused before routing (413, 401, 429) */
    API_ROUTE_COUNT,
};

/** "root", "runtimes", "execute", "health", "metrics", "packages", "other". */
const char *api_route_name(enum api_route_id route);

struct api_metrics;

/** n_runtimes: registry size (languages are labelled by registry index). NULL on ENOMEM. */
struct api_metrics *api_metrics_new(size_t n_runtimes);
struct api_metrics *api_metrics_free(struct api_metrics *m);

/** One finished HTTP request: status 0 means the client went away before an answer. */
void api_metrics_request(struct api_metrics *m, enum api_route_id route, unsigned status,
                         usec_t duration);
/** One finished execute job. runtime_index: the runtime's registry index; res NULL or with
 *  error < 0: the job failed (500) or was refused (503). duration: submit to done. */
void api_metrics_job(struct api_metrics *m, size_t runtime_index, const struct eng_result *res,
                     usec_t duration);
void api_metrics_auth_failure(struct api_metrics *m, enum api_auth_failure failure);
void api_metrics_rate_limited(struct api_metrics *m);
/** Connections waiting while their job is queued or running: +1 / -1. */
void api_metrics_waiting(struct api_metrics *m, int delta);

struct api_metrics_gauges {
    struct eng_stats eng;
    unsigned slots;
    size_t max_queue;
    bool draining;
    double start_time; /* unix seconds */
    const char *instance;
};

/** Appends the whole exposition to out. -ENOMEM. */
int api_metrics_render(struct api_metrics *m, const struct rt_registry *reg,
                       const struct api_metrics_gauges *g, struct strbuf *out);
