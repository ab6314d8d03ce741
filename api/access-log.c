/* One INFO line per request, key=value with every key always present ("-" when it does not
 * apply), so log pipelines parse it without knowing the route:
 *   request id=6f1c2a9b-17 method=POST path=/api/v2/execute status=200 duration_ms=31
 *   client=10.0.0.7 caller=token:1a2b3c4d auth=- language=python version=3.11.2 compile=-
 *   run=OK compile_ms=- run_ms=18 job_ms=27 end=ok
 * Values never hold spaces, quotes or control bytes: the path is %-escaped, every other
 * value comes from a closed set or was validated on the way in. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "route.h"

void api_log_escape(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (; *s && n + 4 <= size; s++) {
        unsigned char b = (unsigned char)*s;
        if (b > ' ' && b < 0x7f && b != '%' && b != '"' && b != '\\' && b != '=') {
            out[n++] = (char)b;
        } else {
            out[n++] = '%';
            out[n++] = hex[b >> 4];
            out[n++] = hex[b & 15];
        }
    }
    out[n] = '\0';
}

static const char *end_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return "ok";
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read_error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client_abort";
    }
    return "other";
}

static const char *stage_status(const struct eng_stage_result *st)
{
    return st->status == ENG_STATUS_OK ? "OK" : eng_status_name(st->status);
}

static void ms_or_dash(char *buf, size_t size, bool known, uint64_t ms)
{
    if (known)
        snprintf(buf, size, "%" PRIu64, ms);
    else
        snprintf(buf, size, "-");
}

/* The execute-specific part of the line. */
static void job_fields(const struct api_conn *c, char *out, size_t size)
{
    const struct eng_result *res = c->result;
    bool done = res && res->error == 0;
    bool compiled = done && res->has_compile;
    /* a failed compile is copied into run: no run stage happened */
    bool ran = done && (!compiled || res->compile.status == ENG_STATUS_OK);
    char compile_ms[24], run_ms[24], job_ms[24];
    /* submitted but no result to show (500, 503): "error" */
    const char *run = !c->runtime ? "-" : ran ? stage_status(&res->run) : done ? "-" : "error";

    ms_or_dash(compile_ms, sizeof(compile_ms), compiled, compiled ? res->compile.wall_time_ms : 0);
    ms_or_dash(run_ms, sizeof(run_ms), ran, ran ? res->run.wall_time_ms : 0);
    ms_or_dash(job_ms, sizeof(job_ms), c->submitted && c->finished,
               usec_to_msec_ceil(c->finished - c->submitted));
    snprintf(out, size,
             "language=%s version=%s compile=%s run=%s compile_ms=%s run_ms=%s job_ms=%s",
             c->runtime ? c->runtime->language : "-", c->runtime ? c->runtime->version : "-",
             compiled ? stage_status(&res->compile) : "-", run, compile_ms, run_ms, job_ms);
}

void api_conn_end(struct api_conn *c, enum MHD_RequestTerminationCode toe)
{
    usec_t duration = now_usec() - c->start;
    char job[384];

    api_metrics_request(c->routes->metrics, c->route, c->status, duration);
    if (log_get_level() > LOG_LEVEL_INFO)
        return;
    job_fields(c, job, sizeof(job));
    log_info("request id=%s method=%s path=%s status=%u duration_ms=%" PRIu64
             " client=%s caller=%s auth=%s %s end=%s",
             c->request_id, c->method[0] ? c->method : "-", c->path[0] ? c->path : "-", c->status,
             usec_to_msec_ceil(duration), c->client[0] ? c->client : "-",
             c->auth_outcome.caller[0] ? c->auth_outcome.caller : "-",
             c->status == MHD_HTTP_UNAUTHORIZED ? api_auth_failure_name(c->auth_outcome.failure)
                                                : "-",
             job, end_name(toe));
}
