/* /metrics exposition (api/metrics.c): every line parses as Prometheus text 0.0.4, counters
 * land on the right labels, histograms are cumulative with _count equal to the +Inf bucket. */
#include "api-fixtures.h"
#include "macro.h"
#include "metrics.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct api_metrics *, api_metrics_free)

/* A sample line: name, optional {labels}, one space, a number. Returns false if malformed. */
static bool parse_sample(const char *line, char *name, size_t name_size, char *labels,
                         size_t labels_size, double *value)
{
    size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
    const char *p = line + n;
    char *end;

    if (n == 0 || n >= name_size || (line[0] >= '0' && line[0] <= '9'))
        return false;
    memcpy(name, line, n);
    name[n] = '\0';
    labels[0] = '\0';
    if (*p == '{') {
        const char *close = strchr(p, '}');
        if (!close || (size_t)(close - p - 1) >= labels_size || close == p + 1)
            return false; /* empty braces are not written */
        memcpy(labels, p + 1, (size_t)(close - p - 1));
        labels[close - p - 1] = '\0';
        p = close + 1;
    }
    if (*p != ' ')
        return false;
    *value = strtod(p + 1, &end);
    return end != p + 1 && *end == '\0';
}

/* The value of `name{labels}` in text, or -1 when absent; every line is checked. */
static double sample(const char *text, const char *want_name, const char *want_labels)
{
    _cleanup_free_ char *copy = strdup(text);
    double found = -1;
    char *save = NULL;

    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char name[128], labels[256];
        double v;

        if (strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0)
            continue;
        if (!parse_sample(l, name, sizeof(name), labels, sizeof(labels), &v))
            TEST_FAIL("malformed exposition line: %s", l);
        if (strcmp(name, want_name) == 0 && strcmp(labels, want_labels) == 0)
            found = v;
    }
    return found;
}

static char *render(struct api_metrics *m, struct rt_registry *reg)
{
    struct api_metrics_gauges g = {.slots = 4,
                                   .max_queue = 10,
                                   .draining = true,
                                   .start_time = 1700000000.5,
                                   .instance = "node-\"a\""};
    struct strbuf sb = {0};

    g.eng.running = 3;
    g.eng.queued = 7;
    g.eng.cache_hits = 11;
    g.eng.cache_misses = 12;
    g.eng.boxes_built = 13;
    ASSERT_OK(api_metrics_render(m, reg, &g, &sb));
    return strbuf_steal(&sb, NULL);
}

TEST(gauges_and_counters)
{
    struct rt_registry *reg = fixture_registry();
    _cleanup_(api_metrics_freep) struct api_metrics *m = api_metrics_new(rt_registry_count(reg));
    _cleanup_free_ char *text = NULL;

    api_metrics_request(m, API_ROUTE_EXECUTE, 200, 20000);
    api_metrics_request(m, API_ROUTE_EXECUTE, 200, 40000);
    api_metrics_request(m, API_ROUTE_EXECUTE, 429, 100);
    api_metrics_request(m, API_ROUTE_OTHER, 418, 100);
    api_metrics_request(m, API_ROUTE_HEALTH, 0, 100);
    api_metrics_auth_failure(m, API_AUTH_FAIL_REPLAYED);
    api_metrics_rate_limited(m);
    text = render(m, reg);
    ASSERT_EQ(sample(text, "capsule_http_requests_total", "route=\"execute\",code=\"200\""), 2);
    ASSERT_EQ(sample(text, "capsule_http_requests_total", "route=\"execute\",code=\"429\""), 1);
    ASSERT_EQ(sample(text, "capsule_http_requests_total", "route=\"other\",code=\"other\""), 1);
    ASSERT_EQ(sample(text, "capsule_http_requests_total", "route=\"health\",code=\"0\""), 1);
    ASSERT_EQ(sample(text, "capsule_http_requests_total", "route=\"root\",code=\"200\""), 0);
    ASSERT_EQ(sample(text, "capsule_jobs_running", ""), 3);
    ASSERT_EQ(sample(text, "capsule_jobs_queued", ""), 7);
    ASSERT_EQ(sample(text, "capsule_slots", ""), 4);
    ASSERT_EQ(sample(text, "capsule_draining", ""), 1);
    ASSERT_EQ(sample(text, "capsule_compile_cache_hits_total", ""), 11);
    ASSERT_EQ(sample(text, "capsule_compile_cache_misses_total", ""), 12);
    ASSERT_EQ(sample(text, "capsule_boxes_built_total", ""), 13);
    ASSERT_EQ(sample(text, "capsule_auth_failures_total", "reason=\"replayed\""), 1);
    ASSERT_EQ(sample(text, "capsule_rate_limited_total", ""), 1);
    ASSERT_NOT_NULL(strstr(text, ",instance=\"node-\\\"a\\\"\"} 1\n")); /* escaped */
    rt_registry_unref(reg);
}

TEST(request_histogram_cumulative)
{
    struct rt_registry *reg = fixture_registry();
    _cleanup_(api_metrics_freep) struct api_metrics *m = api_metrics_new(rt_registry_count(reg));
    _cleanup_free_ char *text = NULL;

    api_metrics_request(m, API_ROUTE_RUNTIMES, 200, 1000);      /* 1 ms */
    api_metrics_request(m, API_ROUTE_RUNTIMES, 200, 30000);     /* 30 ms */
    api_metrics_request(m, API_ROUTE_RUNTIMES, 200, 120000000); /* 2 min: only +Inf */
    text = render(m, reg);
    ASSERT_EQ(sample(text, "capsule_http_request_duration_seconds_bucket",
                     "route=\"runtimes\",le=\"0.005\""),
              1);
    ASSERT_EQ(sample(text, "capsule_http_request_duration_seconds_bucket",
                     "route=\"runtimes\",le=\"0.025\""),
              1);
    ASSERT_EQ(sample(text, "capsule_http_request_duration_seconds_bucket",
                     "route=\"runtimes\",le=\"0.05\""),
              2);
    ASSERT_EQ(sample(text, "capsule_http_request_duration_seconds_bucket",
                     "route=\"runtimes\",le=\"60\""),
              2);
    ASSERT_EQ(sample(text, "capsule_http_request_duration_seconds_bucket",
                     "route=\"runtimes\",le=\"+Inf\""),
              3);
    ASSERT_EQ(sample(text, "capsule_http_request_duration_seconds_count", "route=\"runtimes\""), 3);
    double sum = sample(text, "capsule_http_request_duration_seconds_sum", "route=\"runtimes\"");
    ASSERT_TRUE(sum > 120.030 && sum < 120.032);
    rt_registry_unref(reg);
}

TEST(jobs_by_language_and_status)
{
    struct rt_registry *reg = fixture_registry();
    _cleanup_(api_metrics_freep) struct api_metrics *m = api_metrics_new(rt_registry_count(reg));
    _cleanup_free_ char *text = NULL;
    struct eng_result ok = {.has_compile = true}, failed_compile = {.has_compile = true};
    struct eng_result error = {.error = -EIO}, rejected = {.error = -EAGAIN};

    ok.compile.wall_time_ms = 40;
    ok.compile.cpu_usec = 35250; /* cpu_time would say 35 */
    ok.run.wall_time_ms = 5;
    ok.run.cpu_usec = 420; /* and 0 here */
    failed_compile.compile.status = failed_compile.run.status = ENG_STATUS_RE;
    failed_compile.compile.wall_time_ms = failed_compile.run.wall_time_ms = 30;
    failed_compile.compile.cpu_usec = failed_compile.run.cpu_usec = 1000;
    size_t c = 0;

    while (strcmp(rt_registry_get(reg, c)->language, "c") != 0)
        c++;
    api_metrics_job(m, c, &ok, 50000);
    api_metrics_job(m, c, &failed_compile, 35000);
    api_metrics_job(m, c, &error, 1000);
    api_metrics_job(m, c, &rejected, 10);
    api_metrics_job(m, 99, &ok, 10); /* out of range: the "unknown" row */
    text = render(m, reg);
    ASSERT_EQ(sample(text, "capsule_jobs_total", "language=\"c\",version=\"12.2.0\",status=\"OK\""),
              1);
    ASSERT_EQ(sample(text, "capsule_jobs_total", "language=\"c\",version=\"12.2.0\",status=\"RE\""),
              1);
    ASSERT_EQ(
        sample(text, "capsule_jobs_total", "language=\"c\",version=\"12.2.0\",status=\"error\""),
        1);
    ASSERT_EQ(
        sample(text, "capsule_jobs_total", "language=\"c\",version=\"12.2.0\",status=\"rejected\""),
        1);
    ASSERT_EQ(
        sample(text, "capsule_jobs_total", "language=\"python\",version=\"3.11.2\",status=\"OK\""),
        0);
    ASSERT_EQ(sample(text, "capsule_jobs_total", "language=\"unknown\",version=\"\",status=\"OK\""),
              1);
    /* two compiles; one run (the failed compile's run never happened) plus the unknown one */
    ASSERT_EQ(sample(text, "capsule_stage_duration_seconds_count", "stage=\"compile\""), 3);
    ASSERT_EQ(sample(text, "capsule_stage_duration_seconds_count", "stage=\"run\""), 2);
    ASSERT_EQ(sample(text, "capsule_job_duration_seconds_count", ""), 3);
    /* exact CPU: two ok jobs and the failed compile (its copy in run not counted again) */
    ASSERT_TRUE(sample(text, "capsule_stage_cpu_seconds_total", "stage=\"compile\"") == 0.0715);
    ASSERT_TRUE(sample(text, "capsule_stage_cpu_seconds_total", "stage=\"run\"") == 0.00084);
    rt_registry_unref(reg);
}
