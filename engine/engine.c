/* Bounded FIFO of jobs and one worker thread per sandbox slot. A caller that can wait (an HTTP
 * connection's thread, eng_run) runs its job itself on an idle slot whose box is ready for it:
 * the slot is lent, its worker waits, and no thread hands the job over and back (two wakeups
 * of four per job between the client and the box). Everything else (a box to build, a
 * compile, a queued job, interactive jobs) runs on the slot's worker, which built the slot's
 * boxes and must outlive them (a box dies with the thread that cloned it).
 *
 * Dispatch. An idle slot keeps a box built ahead for the package of its last job (see
 * sbx_slot_prepare), so a job goes straight to an idle worker whose box fits it, else to the
 * most recently idle one (warm caches; the others' boxes stay for their packages). Only when
 * no worker is idle does it wait in the FIFO, which a worker drains before it builds a box
 * for an idle wait (a box for the wrong package would be built for nothing). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "heap-util.h"
#include "internal.h"
#include "macro.h"

/* Workers need little stack: the monitor's read buffer is the biggest frame. Small stacks
 * keep idle RSS low (they are virtual until touched anyway). */
#define WORKER_STACK_SIZE (512 * 1024)

struct job {
    struct eng_request *req;
    struct eng_cache_probe probe; /* made before it was handed over (eng_run), or not yet */
    eng_done_fn done;
    void *userdata;
    struct job *next;
};

struct eng_lease {
    struct worker *w;
    const struct rt_runtime *rt; /* the job's, for the slot's next box */
    struct rt_registry *reg;     /* keeps rt alive */
};

struct worker {
    struct eng_engine *eng;
    struct sbx_slot *slot;
    struct eng_box box; /* the slot's job tmpfs, kept from job to job */
    pthread_t thread;
    bool started;
    /* under eng->lock: */
    pthread_cond_t wake;
    struct job *handoff;  /* given by eng_submit to this idle worker */
    bool idle;            /* on the idle stack */
    struct worker *below; /* next on the idle stack */
    char *warm_package;   /* package_dir the slot's warm box is built for, or NULL */
    bool warm_released;   /* the drain took the warm box away (done once) */
    bool lent;            /* another thread runs a job on the slot (eng_run): wait */
    struct eng_lease lease;
    struct eng_lease recycle; /* .reg set: the slot came back from a lease, recycle it */
};

struct eng_engine {
    struct eng_config cfg;
    pthread_mutex_t lock;
    struct job *head, **tail;
    size_t queued;
    struct worker *idle_top; /* most recently idle worker */
    bool stopping;
    bool draining; /* no new jobs will come: idle slots give their warm boxes back */
    unsigned running;
    struct worker *workers;
    unsigned n_workers;
    atomic_uint_fast64_t completed, sandbox_failures, cache_hits, cache_misses;
    struct eng_cache *cache;
};

void eng_request_free(struct eng_request *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->n_files; i++) {
        free(req->files[i].name);
        free(req->files[i].content);
    }
    free(req->files);
    free(req->stdin_data);
    for (char **a = req->args; a && *a; a++)
        free(*a);
    free(req->args);
    rt_registry_unref(req->registry);
    free(req);
}

static void worker_recycle(struct worker *w, const struct rt_runtime *rt);

/* The next job for w: one handed to it, else the head of the queue; waits on the idle stack
 * when there is neither. NULL when the engine stops. */
static struct job *next_job(struct worker *w)
{
    struct eng_engine *eng = w->eng;
    struct job *job = NULL;

    pthread_mutex_lock(&eng->lock);
    for (;;) {
        if (w->lent) {
            pthread_cond_wait(&w->wake, &eng->lock);
            continue;
        }
        if (w->recycle.reg) { /* what a lease left to the slot's own thread */
            struct eng_lease back = w->recycle;
            w->recycle = (struct eng_lease){0};
            pthread_mutex_unlock(&eng->lock);
            worker_recycle(w, back.rt);
            rt_registry_unref(back.reg);
            pthread_mutex_lock(&eng->lock);
            continue;
        }
        if (w->handoff) { /* eng_submit took w off the idle stack and counted it running */
            job = TAKE_PTR(w->handoff);
            break;
        }
        if (eng->head) {
            job = eng->head;
            eng->head = job->next;
            if (!eng->head)
                eng->tail = &eng->head;
            eng->queued--;
            eng->running++;
            break;
        }
        if (eng->stopping)
            break;
        if (eng->draining && !w->warm_released) {
            /* Its processes and descriptors (and its root templates') would wait for a job that
             * will never come. The slot is this thread's: drop the lock while the box is
             * reaped. */
            w->warm_released = true;
            free(w->warm_package);
            w->warm_package = NULL;
            pthread_mutex_unlock(&eng->lock);
            sbx_slot_discard(w->slot);
            (void)sbx_slot_quiesce(w->slot);
            sbx_slot_drop_templates(w->slot);
            pthread_mutex_lock(&eng->lock);
            continue;
        }
        if (!w->idle) {
            w->idle = true;
            w->below = eng->idle_top;
            eng->idle_top = w;
        }
        pthread_cond_wait(&w->wake, &eng->lock);
    }
    if (job) { /* the job takes the warm box, or discards it */
        free(w->warm_package);
        w->warm_package = NULL;
    }
    pthread_mutex_unlock(&eng->lock);
    return job;
}

/* Under eng->lock: the idle worker for a job of `package`, taken off the stack; NULL if none
 * is idle. */
static struct worker *take_idle(struct eng_engine *eng, const char *package)
{
    struct worker **pick = &eng->idle_top, *w;

    for (struct worker **p = &eng->idle_top; *p; p = &(*p)->below)
        if ((*p)->warm_package && strcmp((*p)->warm_package, package) == 0) {
            pick = p;
            break;
        }
    w = *pick;
    if (w) {
        *pick = w->below;
        w->below = NULL;
        w->idle = false;
    }
    return w;
}

/* After a job: the box's teardown and the tmpfs emptied; then, unless a job waits (it is
 * taken at once), the slot's next box for the same package, the likeliest next job. */
/* A job that moved this much memory through the heap has the arenas trimmed after it. */
#define TRIM_AFTER_BYTES (1u << 20)

static size_t request_bytes(const struct eng_request *req)
{
    size_t n = req->stdin_len;

    for (size_t i = 0; i < req->n_files; i++)
        n += req->files[i].len;
    return n;
}

static void worker_recycle(struct worker *w, const struct rt_runtime *rt)
{
    struct eng_engine *eng = w->eng;
    bool waiting;
    char *package;

    eng__slot_clean(&w->box, &eng->cfg);
    pthread_mutex_lock(&eng->lock);
    waiting = eng->head != NULL || eng->stopping || eng->draining;
    pthread_mutex_unlock(&eng->lock);
    if (waiting || eng__slot_prepare(&w->box, &eng->cfg, rt) < 0)
        return;
    package = strdup(rt->package_dir);
    pthread_mutex_lock(&eng->lock);
    free(w->warm_package);
    w->warm_package = package; /* NULL if out of memory: no preference, no harm */
    pthread_mutex_unlock(&eng->lock);
}

static void count_job(struct eng_engine *eng, const struct rt_runtime *rt,
                      const struct eng_result *res, bool cache_hit)
{
    if (rt->compiled && eng->cache)
        atomic_fetch_add(cache_hit ? &eng->cache_hits : &eng->cache_misses, 1);
    if (res->error < 0 && res->error != -ENOSPC && res->error != -EDQUOT &&
        res->error != -ECANCELED && res->error != -ECONNABORTED)
        atomic_fetch_add(&eng->sandbox_failures, 1);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct eng_engine *eng = w->eng;
    struct job *job;

    /* The slot's own mount namespace keeps its job tmpfs out of other slots' boxes (a clone
     * copies every mount); without it boxes still work, only slower. A failure to mount is
     * retried (and reported) by the first job. */
    (void)sbx_slot_enter_thread(w->slot);
    (void)eng__box_open(w->slot, eng->cfg.tmpfs_size, eng->cfg.tmpfs_inodes, &w->box);
    while ((job = next_job(w))) {
        struct eng_result *res = calloc(1, sizeof(*res));
        /* the registry (and with it the runtime) lives as long as the request holds it */
        struct rt_registry *reg = rt_registry_ref(job->req->registry);
        const struct rt_runtime *rt = job->req->runtime;
        if (res) {
            (void)eng__job_run(&w->box, &eng->cfg, eng->cache, job->req, &job->probe, false, res);
            count_job(eng, rt, res, job->probe.hit != NULL);
        }
        eng__job_probe_done(eng->cache, &job->probe);
        bool big = request_bytes(job->req) >= TRIM_AFTER_BYTES;
        eng_request_free(job->req);
        pthread_mutex_lock(&eng->lock);
        eng->running--;
        pthread_mutex_unlock(&eng->lock);
        atomic_fetch_add(&eng->completed, 1);
        job->done(job->userdata, res); /* res NULL: out of memory, the api answers 500 */
        free(job);
        /* after the answer is on its way */
        worker_recycle(w, rt);
        rt_registry_unref(reg);
        /* Give freed pages back: a big request (thousands of files, megabytes of stdin)
         * would otherwise stay in glibc's arenas as RSS for the daemon's lifetime. Only then:
         * a trim walks every arena and hands back pages the next job faults in again (about
         * 2 % of the engine's CPU per cached C hello when it ran after every job). The result's
         * memory is the api's to give back once it has sent it (route.c). */
        if (big)
            heap_trim();
    }
    sbx_slot_discard(w->slot);
    (void)sbx_slot_quiesce(w->slot);
    eng__box_close(&w->box);
    return NULL;
}

int eng_new(const struct eng_config *cfg, struct sbx_context *ctx, struct eng_engine **ret)
{
    struct eng_engine *eng = calloc(1, sizeof(*eng));
    pthread_attr_t attr;
    int r = 0;

    if (!eng)
        return -ENOMEM;
    eng->cfg = *cfg;
    eng->tail = &eng->head;
    /* emptied at every start: entries never outlive the daemon that recorded them */
    eng->cache = eng__cache_new(cfg->compile_cache_size);
    pthread_mutex_init(&eng->lock, NULL);
    eng->n_workers = sbx_context_slot_count(ctx);
    eng->workers = calloc(eng->n_workers, sizeof(*eng->workers));
    if (!eng->workers) {
        eng_free(eng);
        return -ENOMEM;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
    for (unsigned i = 0; i < eng->n_workers && r == 0; i++) {
        eng->workers[i] = (struct worker){.eng = eng, .slot = sbx_context_slot(ctx, i)};
        pthread_cond_init(&eng->workers[i].wake, NULL);
        r = pthread_create(&eng->workers[i].thread, &attr, worker_main, &eng->workers[i]);
        eng->workers[i].started = r == 0;
    }
    pthread_attr_destroy(&attr);
    if (r != 0) {
        eng_free(eng);
        return -r;
    }
    *ret = eng;
    return 0;
}

/* Stops the queue; jobs queued but never started are answered as failed (the api: 503). */
static void stop_queue(struct eng_engine *eng)
{
    struct job *job;

    pthread_mutex_lock(&eng->lock);
    eng->stopping = true;
    job = eng->head;
    eng->head = NULL;
    eng->tail = &eng->head;
    eng->queued = 0;
    for (unsigned i = 0; i < eng->n_workers; i++)
        pthread_cond_signal(&eng->workers[i].wake);
    pthread_mutex_unlock(&eng->lock);
    while (job) {
        struct job *next = job->next;
        struct eng_result *res = calloc(1, sizeof(*res));
        if (res) {
            res->error = -ESHUTDOWN;
            res->error_message = strdup("server shutting down");
        }
        eng_request_free(job->req);
        eng__job_probe_done(eng->cache, &job->probe);
        job->done(job->userdata, res);
        free(job);
        job = next;
    }
}

void eng_stop(struct eng_engine *eng)
{
    stop_queue(eng);
}

void eng_drain(struct eng_engine *eng)
{
    pthread_mutex_lock(&eng->lock);
    eng->draining = true;
    for (unsigned i = 0; i < eng->n_workers; i++)
        pthread_cond_signal(&eng->workers[i].wake);
    pthread_mutex_unlock(&eng->lock);
}

void eng_abort(struct eng_engine *eng)
{
    stop_queue(eng);
    /* running boxes die now; their jobs are answered "job cancelled: server shutting down" */
    for (unsigned i = 0; i < eng->n_workers; i++)
        sbx_slot_abort(eng->workers[i].slot);
}

struct eng_engine *eng_free(struct eng_engine *eng)
{
    if (!eng)
        return NULL;
    stop_queue(eng);
    for (unsigned i = 0; i < eng->n_workers; i++)
        if (eng->workers[i].started)
            pthread_join(eng->workers[i].thread, NULL);
    for (unsigned i = 0; i < eng->n_workers; i++) {
        pthread_cond_destroy(&eng->workers[i].wake);
        free(eng->workers[i].warm_package);
    }
    free(eng->workers);
    eng->cache = eng__cache_free(eng->cache);
    pthread_mutex_destroy(&eng->lock);
    free(eng);
    return NULL;
}

/* Hands job to an idle worker or queues it; the caller keeps job on failure. */
static int submit(struct eng_engine *eng, struct job *job)
{
    struct worker *w;
    int r = 0;

    pthread_mutex_lock(&eng->lock);
    if (eng->stopping)
        r = -ESHUTDOWN;
    else if ((w = take_idle(eng, job->req->runtime->package_dir))) {
        w->handoff = job;
        eng->running++;
        pthread_cond_signal(&w->wake);
    } else if (eng->cfg.max_queue && eng->queued >= eng->cfg.max_queue)
        r = -EAGAIN;
    else {
        *eng->tail = job;
        eng->tail = &job->next;
        eng->queued++;
    }
    pthread_mutex_unlock(&eng->lock);
    return r;
}

int eng_submit(struct eng_engine *eng, struct eng_request *req, eng_done_fn done, void *userdata)
{
    struct job *job = calloc(1, sizeof(*job));
    int r;

    if (!job)
        return -ENOMEM;
    *job = (struct job){.req = req, .done = done, .userdata = userdata};
    r = submit(eng, job);
    if (r < 0)
        free(job);
    return r;
}

/* ---- jobs run on the caller's thread (eng_run) ------------------------------------------- */

struct run_wait {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    struct eng_result *res;
    bool done;
};

static void run_wait_done(void *userdata, struct eng_result *res)
{
    struct run_wait *wait = userdata;

    pthread_mutex_lock(&wait->lock);
    wait->res = res;
    wait->done = true;
    pthread_cond_signal(&wait->done_cond);
    pthread_mutex_unlock(&wait->lock); /* the waiter's stack: untouched from here on */
}

static struct eng_result *error_result(int err, const char *message)
{
    struct eng_result *res = calloc(1, sizeof(*res));

    if (res) {
        res->error = err;
        res->error_message = strdup(message);
    }
    return res;
}

/* Under eng->lock: an idle worker whose warm box was made for `package`, lent to the
 * caller; NULL if none. */
static struct worker *lend_idle(struct eng_engine *eng, const char *package)
{
    for (struct worker **p = &eng->idle_top; *p; p = &(*p)->below) {
        struct worker *w = *p;
        if (!w->warm_package || strcmp(w->warm_package, package) != 0 || !w->box.mounted)
            continue;
        *p = w->below;
        w->below = NULL;
        w->idle = false;
        w->lent = true;
        free(w->warm_package);
        w->warm_package = NULL;
        eng->running++;
        return w;
    }
    return NULL;
}

/* The lent slot goes back to its worker, with `job` to run as if handed to it by eng_submit
 * (still counted running), or with none. */
static void give_back(struct worker *w, struct job *job)
{
    struct eng_engine *eng = w->eng;

    pthread_mutex_lock(&eng->lock);
    w->lent = false;
    w->handoff = job;
    if (!job)
        eng->running--;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&eng->lock);
}

/* On a worker, waiting for it: `lent`'s when given (its slot goes back with the job), else
 * any. The probe, if made, goes with the job. */
static struct eng_result *run_on_worker(struct eng_engine *eng, struct worker *lent,
                                        struct eng_request *req, struct eng_cache_probe *probe)
{
    struct run_wait wait = {.done = false};
    struct job *job = calloc(1, sizeof(*job));
    int r = job ? 0 : -ENOMEM;

    if (job) {
        pthread_mutex_init(&wait.lock, NULL);
        pthread_cond_init(&wait.done_cond, NULL);
        *job = (struct job){.req = req, .probe = *probe, .done = run_wait_done, .userdata = &wait};
        if (lent)
            give_back(lent, job);
        else
            r = submit(eng, job);
    } else if (lent) {
        give_back(lent, NULL);
    }
    if (r < 0) {
        eng__job_probe_done(eng->cache, probe);
        eng_request_free(req);
        if (job) {
            free(job);
            pthread_cond_destroy(&wait.done_cond);
            pthread_mutex_destroy(&wait.lock);
        }
        return r == -ENOMEM   ? NULL
               : r == -EAGAIN ? error_result(r, "too many queued jobs")
                              : error_result(r, "server shutting down");
    }
    pthread_mutex_lock(&wait.lock);
    while (!wait.done)
        pthread_cond_wait(&wait.done_cond, &wait.lock);
    pthread_mutex_unlock(&wait.lock);
    pthread_cond_destroy(&wait.done_cond);
    pthread_mutex_destroy(&wait.lock);
    return wait.res;
}

struct eng_result *eng_run(struct eng_engine *eng, struct eng_request *req,
                           struct eng_lease **ret_lease)
{
    struct eng_cache_probe probe = {0};
    struct eng_result *res = NULL;
    struct worker *w = NULL;
    int r;

    *ret_lease = NULL;
    /* an interactive job's callbacks are a worker's to call */
    if (!req->stream) {
        eng__job_probe(eng->cache, req, &probe);
        /* a compile needs the run box built while it runs: the slot's thread builds */
        if (!req->runtime->compiled || probe.hit) {
            pthread_mutex_lock(&eng->lock);
            if (!eng->stopping)
                w = lend_idle(eng, req->runtime->package_dir);
            pthread_mutex_unlock(&eng->lock);
        }
        if (w && sbx_slot_join(w->slot) < 0) {
            give_back(w, NULL);
            w = NULL;
        }
    }
    if (!w)
        return run_on_worker(eng, NULL, req, &probe);
    res = calloc(1, sizeof(*res));
    r = res ? eng__job_run(&w->box, &eng->cfg, eng->cache, req, &probe, true, res) : -ENOMEM;
    if (r == SBX_ENOBOX) {
        /* Rare: the box went between the lend and the stage. Nothing ran; the worker builds
         * and runs the job anew from empty directories. */
        eng_result_free(res);
        (void)eng__box_recycle(&w->box);
        return run_on_worker(eng, w, req, &probe);
    }
    if (res)
        count_job(eng, req->runtime, res, probe.hit != NULL);
    eng__job_probe_done(eng->cache, &probe);
    w->lease =
        (struct eng_lease){.w = w, .rt = req->runtime, .reg = rt_registry_ref(req->registry)};
    bool big = request_bytes(req) >= TRIM_AFTER_BYTES;
    eng_request_free(req);
    if (big)
        heap_trim();
    pthread_mutex_lock(&eng->lock);
    eng->running--;
    bool stopping = eng->stopping;
    pthread_mutex_unlock(&eng->lock);
    atomic_fetch_add(&eng->completed, 1);
    if (stopping) /* eng_free waits for the slot: no answer to wait for first */
        eng_lease_end(&w->lease);
    else
        *ret_lease = &w->lease;
    return res;
}

void eng_lease_end(struct eng_lease *lease)
{
    struct worker *w = lease ? lease->w : NULL;
    struct eng_engine *eng;
    struct eng_lease back;
    bool ready = false, waiting;
    char *package = NULL;
    int r;

    if (!w)
        return;
    eng = w->eng;
    back = *lease;
    *lease = (struct eng_lease){0};
    /* The usual end, here: the stage's leaf removed, the job's files gone, the box that
     * served it ready for the next job of its package. Anything more (a box to build, a
     * directory that would not empty, a queued job) is the worker's. */
    r = sbx_slot_join(w->slot);
    if (r >= 0)
        r = sbx_slot_quiesce(w->slot);
    if (r >= 0)
        r = eng__box_recycle(&w->box);
    pthread_mutex_lock(&eng->lock);
    waiting = eng->head != NULL || eng->stopping || eng->draining;
    pthread_mutex_unlock(&eng->lock);
    if (r >= 0 && !waiting && eng__slot_ready(&w->box, &eng->cfg, back.rt) > 0)
        ready = (package = strdup(back.rt->package_dir)) != NULL;
    pthread_mutex_lock(&eng->lock);
    w->lent = false;
    if (ready && !eng->head && !eng->stopping && !eng->draining) {
        w->warm_package = package;
        w->idle = true;
        w->below = eng->idle_top;
        eng->idle_top = w;
        package = NULL;
    } else {
        w->recycle = back; /* the worker recycles, then takes a queued job or idles */
        pthread_cond_signal(&w->wake);
        back.reg = NULL; /* the worker's now */
    }
    pthread_mutex_unlock(&eng->lock);
    rt_registry_unref(back.reg);
    free(package);
}

void eng_get_stats(struct eng_engine *eng, struct eng_stats *ret)
{
    pthread_mutex_lock(&eng->lock);
    ret->running = eng->running;
    ret->queued = eng->queued;
    pthread_mutex_unlock(&eng->lock);
    ret->completed = atomic_load(&eng->completed);
    ret->sandbox_failures = atomic_load(&eng->sandbox_failures);
    ret->cache_hits = atomic_load(&eng->cache_hits);
    ret->cache_misses = atomic_load(&eng->cache_misses);
    ret->boxes_built = 0;
    for (unsigned i = 0; i < eng->n_workers; i++)
        ret->boxes_built += sbx_slot_boxes_built(eng->workers[i].slot);
}
