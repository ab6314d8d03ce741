/* capsuled: startup phase, engine, server, signals, drain. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api.h"
#include "check.h"
#include "sandbox.h"
#include "server.h"
#include "time-util.h"

static const char *env_lookup(void *userdata, const char *name)
{
    (void)userdata;
    return getenv(name);
}

static void warn_runtime(void *userdata, const char *message)
{
    (void)userdata;
    log_warn("%s", message);
}

static int fail_sandbox(const char *what, int r, const struct sbx_error *e)
{
    log_error("%s failed at step %s%s%s: %s", what, e->step ? e->step : "?", e->path[0] ? " " : "",
              e->path, strerror(-(e->err ? e->err : r)));
    return EXIT_FAILURE;
}

/* SIGTERM: turn unready (health 503, new executes 503) but keep answering, so balancers see
 * it, and wait for queued and running jobs and for every begun request's answer to be sent
 * (a job that ran on its connection's thread keeps its slot lent until then), up to
 * CAPSULE_DRAIN_TIMEOUT. A second signal cuts the wait short. Returns when idle or at the
 * deadline. */
static void drain(struct api_server *srv, struct eng_engine *eng, int sfd, uint64_t timeout_ms)
{
    usec_t deadline = now_usec() + timeout_ms * USEC_PER_MSEC;
    struct signalfd_siginfo si;
    struct eng_stats st;

    api_server_set_draining(srv);
    eng_drain(eng);
    for (;;) {
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        usec_t now = now_usec();

        eng_get_stats(eng, &st);
        unsigned in_flight = api_server_requests_in_flight(srv);
        if (st.running == 0 && st.queued == 0 && in_flight == 0)
            return;
        if (now >= deadline) {
            log_warn("drain deadline of %" PRIu64
                     " ms passed: killing %u running, %zu queued jobs, closing %u requests",
                     timeout_ms, st.running, st.queued, in_flight);
            eng_abort(eng);
            return;
        }
        if (poll(&p, 1, (int)MIN((deadline - now) / USEC_PER_MSEC + 1, 50u)) > 0 &&
            read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGHUP) {
            log_warn("signal %u during the drain: stopping now", si.ssi_signo);
            return;
        }
    }
}

static int serve(struct api_config *cfg, struct rt_registry *reg, struct sbx_context *ctx)
{
    struct eng_engine *eng = NULL;
    struct api_server *srv = NULL;
    struct signalfd_siginfo si;
    sigset_t mask;
    uint16_t port;
    int sfd, r;

    /* blocked before any thread exists, so every thread inherits the mask */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    r = eng_new(&cfg->eng, ctx, &eng);
    if (r >= 0)
        r = api_server_start(cfg, reg, eng, &srv, &port);
    if (r < 0 || sfd < 0) {
        log_error("cannot serve on %s:%u: %s", cfg->bind_host, cfg->bind_port, strerror(-r));
        eng_free(eng);
        return EXIT_FAILURE;
    }
    printf("listening on %s:%u\n", cfg->bind_host, port);
    fflush(stdout);
    log_info("capsuled ready: %zu runtimes, %u slots, cgroup v%d", rt_registry_count(reg),
             sbx_context_slot_count(ctx), sbx_context_cgroup_version(ctx));
    while (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGHUP)
        ; /* SIGHUP: nothing to reopen, logs go to stderr */
    log_info("signal %u: draining (up to %" PRIu64 " ms)", si.ssi_signo, cfg->drain_timeout_ms);
    drain(srv, eng, sfd, cfg->drain_timeout_ms);
    api_server_quiesce(srv);
    eng_stop(eng);      /* queued jobs are answered now */
    usleep(100 * 1000); /* let the connection threads send the last responses */
    /* The connections go first: one whose client never reads its answer would hold its lent
     * slot, and eng_free with it, until libmicrohttpd's 120 s idle timeout. Closed, it gives
     * the slot back; running jobs are waited for by both. */
    srv = api_server_free(srv);
    eng = eng_free(eng);
    close(sfd);
    log_info("drained, exiting");
    return EXIT_SUCCESS;
}

/* No argument: serve. --check: audit the host and exit. */
static int parse_args(int argc, char **argv, bool *ret_check)
{
    *ret_check = false;
    if (argc == 2 && strcmp(argv[1], "--check") == 0) {
        *ret_check = true;
    } else if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("capsuled %s\n", CAPSULE_VERSION);
        return EXIT_SUCCESS;
    } else if (argc > 1) {
        fprintf(stderr, "usage: capsuled [--check | --version]\n"
                        "Configuration comes from PISTON_* and CAPSULE_* environment variables.\n");
        return strcmp(argv[1], "--help") == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct api_config cfg = {0};
    struct rt_registry *reg = NULL;
    struct sbx_context *ctx = NULL;
    struct sbx_error e = {0};
    char *error = NULL, *failed = NULL;
    bool check;
    int r, status;

    /* Few malloc arenas: 64 slot workers and the HTTP pool would otherwise each grow an
     * arena of their own, kept resident between bursts (idle RSS is a latency target too). */
    mallopt(M_ARENA_MAX, 2);
    /* Blocks of 128 KiB and more (big bodies, outputs, answers) always come from mmap and go
     * back at free. glibc would otherwise raise this threshold to the largest block freed so
     * far, and with it the trim threshold, so that after a burst of large answers (H16 x 8:
     * 64 KiB of garbage each, escaped to about 800 KB of JSON) the arenas kept 1.0-1.2 MB
     * more resident (0.4-0.7 MB with this, six runs each). The 1 MiB echo costs the same
     * either way (overhead p50 +5.0/+5.5 ms before, +4.9/+5.6 ms after, two pairs). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* Each busy slot holds a dozen fds (pipes, pidfd, epoll, cgroup files) and every HTTP
     * connection one: 64 slots need more than the usual soft limit of 1024. Boxes get their
     * own RLIMIT_NOFILE (max_open_files) whatever this is. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }
    /* fds 0-2 must exist: box pipes are assumed to land at 3 and above */
    while ((r = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && r <= 2)
        (void)fcntl(r, F_SETFD, 0);
    if (r > 2)
        close(r);
    status = parse_args(argc, argv, &check);
    if (status >= 0)
        return status;
    if (api_config_load(env_lookup, NULL, &cfg, &error) < 0) {
        fprintf(stderr, "%s\n", error ? error : "invalid configuration");
        free(error);
        api_config_done(&cfg);
        return EXIT_FAILURE;
    }
    log_set_level(cfg.log_level);
    if (check) {
        status = api_check(&cfg, stdout);
        api_config_done(&cfg);
        return status;
    }
    struct rt_load_options opts = {
        .runtimes_dir = cfg.runtimes_dir, .data_dir = cfg.data_dir, .probe_versions = true};
    r = rt_registry_load(&opts, warn_runtime, NULL, &reg, &failed);
    if (r < 0) {
        if (failed)
            log_error("runtime %s: its toolchain is missing or broken (version probe failed)",
                      failed);
        else
            log_error("cannot load runtimes from %s: %s", cfg.runtimes_dir, strerror(-r));
        free(failed);
        api_config_done(&cfg);
        return EXIT_FAILURE;
    }
    if (eng_check_runtime_access(reg, &error) < 0) {
        log_error("%s", error ? error : "a runtime package is not readable by the sandbox users");
        free(error);
        rt_registry_unref(reg);
        api_config_done(&cfg);
        return EXIT_FAILURE;
    }
    eng_prepare_runtimes(&cfg.eng, reg, warn_runtime, NULL);
    struct sbx_config sc = {.n_slots = cfg.eng.max_concurrent_jobs,
                            .uid_base = cfg.eng.uid_min,
                            .gid_base = cfg.eng.gid_min,
                            .networking = cfg.eng.networking,
                            .instance = cfg.eng.instance,
                            .run_dir = cfg.eng.run_dir};
    r = sbx_context_new(&sc, &ctx, &e);
    if (r < 0) {
        status = fail_sandbox("sandbox setup", r, &e);
    } else if ((r = eng_self_test(&cfg.eng, ctx, &e)) < 0) {
        status = fail_sandbox("sandbox self-test", r, &e);
    } else {
        status = serve(&cfg, reg, ctx);
    }
    sbx_context_free(ctx);
    rt_registry_unref(reg);
    api_config_done(&cfg);
    free(failed);
    return status;
}
