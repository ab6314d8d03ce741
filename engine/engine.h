/* The engine: bounded FIFO of jobs, one worker thread per slot, stage sequencing, effective
 * limits, status precedence. Knows neither HTTP nor JSON. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtimes.h"
#include "sandbox.h" /* struct sbx_stream */

/* Global configuration (PISTON_* / CAPSULE_* after parsing by the api layer). */
struct eng_language_overrides {
    char *language;                 /* runtime language, e.g. "c++" */
    int64_t limits[RT_LIMIT_COUNT]; /* 0 = not set */
};

struct eng_config {
    int64_t limits[RT_LIMIT_COUNT]; /* global PISTON_* values; <= 0 means unlimited for time/mem */
    struct eng_language_overrides *overrides; /* PISTON_LIMIT_OVERRIDES */
    size_t n_overrides;
    unsigned max_concurrent_jobs;
    size_t max_queue;
    uid_t uid_min;
    gid_t gid_min;
    bool networking;
    uint64_t tmpfs_size;
    uint64_t tmpfs_inodes;
    uint64_t compile_cache_size; /* bytes; 0 turns the compile cache off */
    const char *prepared_dir;    /* base of packages' prepared files; NULL: /var/cache/capsule */
    const char *instance;        /* "capsule-<port>" */
    const char *run_dir;         /* "/run/capsule/<instance>" */
};

/** Effective value of one limit for a runtime: env override for its language, else the
 *  package's limit_overrides, else the global value; 0 falls through (PISTON-API.md 4.2). */
int64_t eng_effective_limit(const struct eng_config *cfg, const struct rt_runtime *rt,
                            enum rt_limit limit);

struct eng_file {
    char *name;             /* validated relative path */
    unsigned char *content; /* decoded bytes */
    size_t len;
    bool utf8; /* written as text and passed to scripts (code file) */
};

struct eng_stage_limits {
    int64_t timeout_ms;   /* <= 0: unlimited */
    int64_t cpu_time_ms;  /* <= 0: unlimited */
    int64_t memory_bytes; /* <= 0: unlimited */
};

struct eng_stream;

/* A decoded, validated execute request; owns everything it points to but `stream`. */
struct eng_request {
    struct rt_registry *registry;     /* reference held for the job's lifetime */
    const struct rt_runtime *runtime; /* inside registry */
    struct eng_file *files;           /* duplicates already dropped (later wins), request order */
    size_t n_files;
    char *stdin_data; /* trailing newline already applied */
    size_t stdin_len;
    char **args; /* NULL-terminated */
    struct eng_stage_limits compile, run;
    int64_t max_process_count, max_open_files, max_file_size, output_max_size;
    struct eng_stream *stream; /* NULL: HTTP mode; else interactive, owned by the caller */
};
void eng_request_free(struct eng_request *req);

enum eng_status {
    ENG_STATUS_OK, /* null on the wire */
    ENG_STATUS_RE,
    ENG_STATUS_SG,
    ENG_STATUS_TO,
    ENG_STATUS_OL,
    ENG_STATUS_EL,
    ENG_STATUS_XX,
};
/** "RE", "SG", ...; NULL for ENG_STATUS_OK. */
const char *eng_status_name(enum eng_status status);

struct eng_stage_result {
    char *stdout_data, *stderr_data, *output_data; /* raw bytes, NUL-terminated */
    size_t stdout_len, stderr_len, output_len;
    bool has_code;
    int code;
    const char *signal_name; /* static, or NULL */
    enum eng_status status;
    char *message; /* NULL or text */
    bool memory_known;
    uint64_t memory; /* bytes */
    uint64_t cpu_time_ms, wall_time_ms;
    /* CPU the stage's programs took in this job, exact (0 for a compile served from the
     * cache, whose recorded cpu_time_ms is reported): for /metrics */
    uint64_t cpu_usec;
};

enum eng_stage { ENG_STAGE_COMPILE, ENG_STAGE_RUN };

/** Interactive jobs (WebSocket /api/v2/connect), a request with `stream` set:
 *  - the run stage's stdin is `stdin_fd`, the read end of a pipe the caller feeds and closes
 *    for EOF (stdin_data is not used); the compile stage gets an empty stdin, as in HTTP mode;
 *  - every stage's output goes to io.output() as it is read, with no output limit: io's
 *    back-pressure bounds memory instead; io.control() steers the running stage (pause,
 *    signal, cancel; see sbx_stream). A cancel also skips whatever has not started: the job
 *    ends with error -ECONNABORTED;
 *  - stage_begin() and stage_end() bracket each stage (a cached compile too: its recorded
 *    output is replayed through io.output()). The stage objects of the final result hold
 *    no output.
 *  Every callback runs on the worker thread, before the done callback; all get io.userdata.
 *  Interactive compiles are never stored in the compile cache (their output is not kept). */
struct eng_stream {
    struct sbx_stream io;
    int stdin_fd; /* never closed by the engine */
    void (*stage_begin)(void *userdata, enum eng_stage stage);
    void (*stage_end)(void *userdata, enum eng_stage stage, const struct eng_stage_result *res);
};

struct eng_result {
    int error;           /* < 0: the job failed before producing a result (HTTP 500) */
    char *error_message; /* with error < 0 */
    bool has_compile;
    struct eng_stage_result compile, run;
    const struct rt_runtime *runtime;
};
void eng_result_free(struct eng_result *res);

struct eng_engine;

/** Called once per submitted job, from a worker thread. Owns `result`. */
typedef void (*eng_done_fn)(void *userdata, struct eng_result *result);

struct sbx_context;
/** Creates the workers (one per slot of ctx). */
int eng_new(const struct eng_config *cfg, struct sbx_context *ctx, struct eng_engine **ret);
/** Stops accepting, answers queued jobs (-ESHUTDOWN), waits for running jobs and every lease
 *  (eng_run), joins workers. */
struct eng_engine *eng_free(struct eng_engine *eng);
/** End of the drain, any thread: no new job starts and queued jobs are answered -ESHUTDOWN
 *  ("server shutting down"); running jobs and leases go on. eng_free() must still follow. */
void eng_stop(struct eng_engine *eng);
/** Shutdown deadline, any thread: no new job starts, queued jobs are answered -ESHUTDOWN
 *  ("server shutting down"), running jobs are killed and answered -ECANCELED ("job
 *  cancelled: server shutting down"). eng_free() must still follow. */
void eng_abort(struct eng_engine *eng);
/** The drain has begun (no new jobs will be submitted; queued and running ones go on): idle
 *  slots give up their warm boxes now, busy ones when their job ends, and no slot builds a new
 *  one. Any thread. */
void eng_drain(struct eng_engine *eng);
/** Queues a job; takes ownership of req on success. -EAGAIN: queue full (503). -ESHUTDOWN:
 *  draining. */
int eng_submit(struct eng_engine *eng, struct eng_request *req, eng_done_fn done, void *userdata);

/** Runs a job (req owned) and waits for it; any thread that may block, and not a slot worker.
 *  When an idle slot's box is ready for it (an interpreted runtime or a cached compile, the
 *  box built ahead for its package) it runs on the calling thread, the slot lent to it;
 *  otherwise on a worker as eng_submit would run it. Returns the result (NULL: out of
 *  memory); errors as eng_submit's are results with error -EAGAIN or -ESHUTDOWN. A lent slot
 *  stays the caller's until eng_lease_end(*ret_lease), which cleans it up: call it once the
 *  answer is sent, so the clean-up is off the answer's path. *ret_lease is NULL when no slot
 *  is held. */
struct eng_lease;
struct eng_result *eng_run(struct eng_engine *eng, struct eng_request *req,
                           struct eng_lease **ret_lease);
/** Gives a lent slot back (NULL: nothing). eng_free() waits for every lease to end. */
void eng_lease_end(struct eng_lease *lease);

struct eng_stats {
    unsigned running;
    size_t queued;
    uint64_t completed;
    uint64_t sandbox_failures;
    uint64_t cache_hits, cache_misses;
    uint64_t boxes_built; /* over all slots: jobs per box is completed / boxes_built */
};
void eng_get_stats(struct eng_engine *eng, struct eng_stats *ret);

struct sbx_error;
/** Runs `/bin/sh -c 'exit 0'` in a real box on slot 0 (startup check). -errno, reterr says
 *  which step failed. Call before eng_new (uses slot 0 directly). */
int eng_self_test(const struct eng_config *cfg, struct sbx_context *ctx, struct sbx_error *reterr);

/** Startup: every runtime's package directory (and the `compile` and `run` scripts its jobs
 *  start with bash) must be readable by the sandbox users, or every job of it fails.
 *  -EACCES with *ret_message (malloc'd, one line naming the runtime and path) for the first
 *  that is not; missing files are the loader's business and pass. */
int eng_check_runtime_access(const struct rt_registry *reg, char **ret_message);

/** Runs each bundled package's `prepare` script once (startup, before workers exist); a
 *  failure only costs speed and is reported through warn. */
void eng_prepare_runtimes(const struct eng_config *cfg, const struct rt_registry *reg,
                          void (*warn)(void *userdata, const char *message), void *userdata);
