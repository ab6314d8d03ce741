/* One job: box, files, compile stage (if the runtime has one), run stage, cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"
#include "macro.h"

/* stdin is a sealed memfd: no feeding loop, no SIGPIPE, no deadlock with a program that
 * never reads, and the program cannot change what a later reader sees. */
static int stdin_memfd(const char *data, size_t len)
{
    _cleanup_close_ int fd = memfd_create("capsule-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int r;

    if (fd < 0)
        return -errno;
    r = write_all(fd, data, len);
    if (r < 0)
        return r;
    if (lseek(fd, 0, SEEK_SET) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
        return -errno;
    return TAKE_FD(fd);
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)

/* envp = package environment + PISTON_LANGUAGE + HOME=/tmp; nothing of the daemon's. */
static char **build_envp(const struct rt_runtime *rt)
{
    _cleanup_(strv_freep) char **env = NULL;
    size_t n = 0, k = 0;

    while (rt->env && rt->env[n])
        n++;
    env = calloc(n + 3, sizeof(char *));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(rt->env[i], "HOME=", 5) == 0 ||
            strncmp(rt->env[i], "PISTON_LANGUAGE=", 16) == 0)
            continue; /* ours win */
        if (!(env[k++] = strdup(rt->env[i])))
            return NULL;
    }
    if (asprintf(&env[k], "PISTON_LANGUAGE=%s", rt->language) < 0) {
        env[k] = NULL;
        return NULL;
    }
    if (!(env[k + 1] = strdup("HOME=/tmp")))
        return NULL;
    return TAKE_PTR(env);
}

/* argv = /bin/bash <package>/<script> <extra...>, or for `run` the package's run.argv with
 * the extra arguments in place (no shell on the hot path). */
static char **build_argv(const struct rt_runtime *rt, const char *script, const char *const *extra,
                         size_t n_extra)
{
    if (rt->run_argv && strcmp(script, "run") == 0)
        return rt_run_argv_expand(rt, extra, n_extra);
    char **argv = calloc(n_extra + 3, sizeof(char *));

    if (!argv)
        return NULL;
    argv[0] = strdup("/bin/bash");
    if (asprintf(&argv[1], "%s/%s", rt->box_dir, script) < 0)
        argv[1] = NULL;
    if (!argv[0] || !argv[1]) {
        strv_free(argv);
        return NULL;
    }
    for (size_t i = 0; i < n_extra; i++)
        if (!(argv[i + 2] = strdup(extra[i]))) {
            strv_free(argv);
            return NULL;
        }
    return argv;
}

struct stage_input {
    const char *script;
    const char *const *extra;
    size_t n_extra;
    const char *stdin_data;
    size_t stdin_len;
    const struct eng_stage_limits *limits;
    const struct eng_config *cfg;
    bool next_stage_follows;
    bool no_build; /* a joined thread runs it: only the warm box may serve */
    enum eng_stage stage;
};

static uint64_t positive(int64_t v)
{
    return v > 0 ? (uint64_t)v : 0;
}

static int run_stage(struct sbx_slot *slot, const struct eng_request *req, char **envp,
                     const struct stage_input *in, struct eng_stage_result *ret,
                     struct sbx_error *reterr)
{
    _cleanup_(strv_freep) char **argv =
        build_argv(req->runtime, in->script, in->extra, in->n_extra);
    _cleanup_close_ int stdin_fd = -1;
    const struct eng_stream *st = req->stream;
    struct sbx_result sr = {0};
    int r;

    if (!argv)
        return -ENOMEM;
    /* interactive: the run stage reads the caller's pipe, the compile stage nothing */
    if (st && in->stage == ENG_STAGE_RUN) {
        stdin_fd = fcntl(st->stdin_fd, F_DUPFD_CLOEXEC, 3);
        if (stdin_fd < 0)
            return -errno;
    } else {
        stdin_fd = stdin_memfd(in->stdin_data, in->stdin_len);
        if (stdin_fd < 0)
            return stdin_fd;
    }
    char prepared[4096];
    bool has_prepared =
        eng__prepared_dir_of(in->cfg, req->runtime, prepared, sizeof(prepared)) >= 0;
    struct sbx_spec spec = {
        .prepared_dir = has_prepared ? prepared : NULL,
        .argv = (const char *const *)argv,
        .envp = (const char *const *)envp,
        .package_dir = req->runtime->package_dir,
        .package_box_dir = req->runtime->box_dir,
        .stdin_fd = stdin_fd,
        .wall_limit_ms = positive(in->limits->timeout_ms),
        .cpu_limit_ms = positive(in->limits->cpu_time_ms),
        .memory_limit = positive(in->limits->memory_bytes),
        .max_processes = positive(req->max_process_count),
        .max_open_files = positive(req->max_open_files),
        .max_file_size = positive(req->max_file_size),
        /* interactive: no output limit (PISTON-API.md 2.5), back-pressure instead */
        .output_limit = st ? 0 : positive(req->output_max_size),
        .next_stage_follows = in->next_stage_follows,
        .no_build = in->no_build,
        .stream = st ? &st->io : NULL,
    };
    if (st && eng__stream_cancelled(st))
        return -ECONNABORTED;
    if (st)
        st->stage_begin(st->io.userdata, in->stage);
    r = sbx_run(slot, &spec, &sr, reterr);
    if (r < 0)
        return r;
    if (sr.aborted || sr.cancelled) { /* shutdown or the client: no verdict on the program */
        sbx_result_done(&sr);
        return sr.aborted ? -ECANCELED : -ECONNABORTED;
    }
    r = eng__stage_from_sandbox(&sr, ret);
    sbx_result_done(&sr);
    if (r >= 0 && st)
        st->stage_end(st->io.userdata, in->stage, ret);
    return r;
}

static int fail_job(struct eng_result *res, int err, const char *what, const struct sbx_error *e)
{
    char buf[128];

    res->error = err < 0 ? err : -EIO;
    if (res->error == -ECANCELED) {
        res->error_message = strdup("job cancelled: server shutting down");
        return res->error;
    }
    if (res->error == -ECONNABORTED) {
        res->error_message = strdup("job cancelled: client disconnected");
        return res->error;
    }
    if (e && e->step) {
        if (asprintf(&res->error_message, "sandbox failure at %s%s%s: %s", e->step,
                     e->path[0] ? " " : "", e->path, strerror_r(-e->err, buf, sizeof(buf))) < 0)
            res->error_message = NULL;
    } else if (asprintf(&res->error_message, "%s: %s", what,
                        strerror_r(-res->error, buf, sizeof(buf))) < 0) {
        res->error_message = NULL;
    }
    return res->error;
}

struct job_ctx {
    const struct eng_config *cfg;
    struct sbx_slot *slot;
    const struct eng_request *req;
    struct eng_box *box;
    struct eng_result *res;
    struct eng_cache *cache; /* NULL: off */
    struct eng_cache_probe *probe;
    bool no_build;
};

static void cache_store(struct job_ctx *j)
{
    int fd;

    if (!j->cache || !j->probe->keyed || j->req->stream) /* a streamed compile kept no output */
        return;
    fd = openat(j->box->dirfd, "submission", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    /* not cacheable (links, FIFOs, too big) or out of memory: simply not cached */
    (void)eng__cache_store(j->cache, j->probe->key, &j->res->compile, fd);
    safe_close(fd);
}

static int compile_stage(struct job_ctx *j, char **envp, const char **code_files, size_t n_code,
                         bool *ret_failed)
{
    /* the run box is built while the compiler runs */
    struct stage_input in = {"compile",        code_files, n_code, "",    0,
                             &j->req->compile, j->cfg,     true,   false, ENG_STAGE_COMPILE};
    struct eng_result *res = j->res;
    struct sbx_error e = {0};
    int r;

    res->has_compile = true;
    *ret_failed = false;
    if (j->probe->hit) {
        if (eng__stage_copy(eng__cache_entry_compile(j->probe->hit), &res->compile) < 0)
            return fail_job(res, -ENOMEM, "job", NULL);
        res->compile.cpu_usec = 0; /* nothing ran */
        eng__stream_replay(j->req->stream, ENG_STAGE_COMPILE, &res->compile);
        return 0;
    }
    r = run_stage(j->slot, j->req, envp, &in, &res->compile, &e);
    if (r < 0)
        return fail_job(res, r, "compile stage", &e);
    if (!res->compile.has_code || res->compile.code != 0) {
        *ret_failed = true;
        return eng__stage_copy(&res->compile, &res->run) < 0 ? fail_job(res, -ENOMEM, "job", NULL)
                                                             : 0;
    }
    /* nothing of the compile box may still write when /tmp is emptied and the cache reads */
    r = sbx_slot_quiesce(j->slot);
    if (r < 0)
        return fail_job(res, r, "ending the compile box", NULL);
    cache_store(j);
    r = eng__box_reset_scratch(j->box);
    if (r < 0)
        return fail_job(res, r, "resetting /tmp between stages", NULL);
    return 0;
}

static int run_stages(struct job_ctx *j)
{
    const struct eng_request *req = j->req;
    _cleanup_(strv_freep) char **envp = build_envp(req->runtime);
    _cleanup_free_ const char **code_files = calloc(req->n_files + 1, sizeof(char *));
    _cleanup_free_ const char **run_extra = NULL;
    struct sbx_error e = {0};
    size_t n_code = 0, n_args = 0;
    bool failed;
    int r;

    if (!envp || !code_files)
        return fail_job(j->res, -ENOMEM, "job", NULL);
    for (size_t i = 0; i < req->n_files; i++)
        if (req->files[i].utf8)
            code_files[n_code++] = req->files[i].name;
    if (req->runtime->compiled) {
        r = compile_stage(j, envp, code_files, n_code, &failed);
        if (r < 0 || failed)
            return r;
    }
    while (req->args && req->args[n_args])
        n_args++;
    run_extra = calloc(n_args + 2, sizeof(char *));
    if (!run_extra)
        return fail_job(j->res, -ENOMEM, "job", NULL);
    /* entry = the first utf8 file (validation guarantees one, except for the `file` runtime) */
    run_extra[0] = n_code ? code_files[0] : req->files[0].name;
    for (size_t i = 0; i < n_args; i++)
        run_extra[i + 1] = req->args[i];
    struct stage_input in = {"run",     run_extra, n_args + 1, req->stdin_data, req->stdin_len,
                             &req->run, j->cfg,    false,      j->no_build,     ENG_STAGE_RUN};
    r = run_stage(j->slot, req, envp, &in, &j->res->run, &e);
    if (r == SBX_ENOBOX && j->no_build)
        return r; /* nothing ran: the slot's thread takes the job */
    if (r < 0)
        return fail_job(j->res, r, "run stage", &e);
    return 0;
}

static int place_files(struct job_ctx *j)
{
    if (!j->probe->hit)
        return eng__box_write_files(j->box, j->req->files, j->req->n_files);
    return eng__cache_restore(j->probe->hit, j->box->sub_fd[0], sbx_slot_uid(j->slot),
                              sbx_slot_gid(j->slot));
}

void eng__job_probe(struct eng_cache *cache, const struct eng_request *req,
                    struct eng_cache_probe *ret)
{
    *ret = (struct eng_cache_probe){.done = true};
    if (cache && req->runtime->compiled && eng__cache_key(req, ret->key) >= 0) {
        ret->keyed = true;
        ret->hit = eng__cache_lookup(cache, ret->key, &req->compile);
    }
}

void eng__job_probe_done(struct eng_cache *cache, struct eng_cache_probe *probe)
{
    eng__cache_entry_unref(cache, probe->hit);
    *probe = (struct eng_cache_probe){0};
}

int eng__job_run(struct eng_box *box, const struct eng_config *cfg, struct eng_cache *cache,
                 const struct eng_request *req, struct eng_cache_probe *probe, bool no_build,
                 struct eng_result *res)
{
    struct job_ctx j = {.cfg = cfg,
                        .slot = box->slot,
                        .req = req,
                        .box = box,
                        .res = res,
                        .cache = cache,
                        .probe = probe,
                        .no_build = no_build};
    int r;

    res->runtime = req->runtime;
    if (req->stream && eng__stream_cancelled(req->stream)) /* gone while queued */
        return fail_job(res, -ECONNABORTED, "job", NULL);
    if (!probe->done)
        eng__job_probe(cache, req, probe);
    if (!box->mounted) { /* a failed recycle could not mount a fresh one: try again */
        if (no_build)
            return SBX_ENOBOX; /* a mount is the slot thread's: its namespace */
        r = eng__box_open(box->slot, cfg->tmpfs_size, cfg->tmpfs_inodes, box);
        if (r < 0)
            return fail_job(res, r, "creating the job directory", NULL);
    }
    r = place_files(&j);
    if (r == -ENOSPC || r == -EDQUOT) {
        res->error = r;
        res->error_message = strdup("files exceed the sandbox disk quota");
        return r;
    }
    if (r < 0)
        return fail_job(res, r, "writing the files", NULL);
    return run_stages(&j);
}

void eng__slot_clean(struct eng_box *box, const struct eng_config *cfg)
{
    int r;

    r = sbx_slot_quiesce(box->slot);
    if (r >= 0 && box->mounted)
        r = eng__box_recycle(box);
    if (r < 0 || !box->mounted) {
        /* Whatever is left (a process that would not leave its cgroup, a tree that would not
         * go) stays with the detached tmpfs; boxes built on it must not serve again. */
        sbx_slot_discard(box->slot);
        sbx_slot_drop_templates(box->slot); /* they bind the old tmpfs's directories */
        eng__box_close(box);
        (void)eng__box_open(box->slot, cfg->tmpfs_size, cfg->tmpfs_inodes, box);
        /* on failure the next job retries and reports it */
    }
}

/* The slot's box for rt's next job: built if `build` (the slot's thread), else only looked at
 * (sbx_slot_ready). */
static int slot_box(struct eng_box *box, const struct eng_config *cfg, const struct rt_runtime *rt,
                    bool build)
{
    char prepared[4096];
    const char *dir =
        eng__prepared_dir_of(cfg, rt, prepared, sizeof(prepared)) >= 0 ? prepared : NULL;

    if (!box->mounted)
        return build ? -ENOENT : 0;
    if (build)
        return sbx_slot_prepare(box->slot, rt->package_dir, rt->box_dir, dir, NULL);
    return sbx_slot_ready(box->slot, rt->package_dir, rt->box_dir, dir, NULL);
}

int eng__slot_prepare(struct eng_box *box, const struct eng_config *cfg,
                      const struct rt_runtime *rt)
{
    return slot_box(box, cfg, rt, true);
}

int eng__slot_ready(struct eng_box *box, const struct eng_config *cfg, const struct rt_runtime *rt)
{
    return slot_box(box, cfg, rt, false);
}
