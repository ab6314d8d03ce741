/* sbx_run(): one box per stage.
 *
 * Theory of operation. The slot worker (root, host namespaces) creates fresh leaf cgroups for
 * the stage and the pipes, then clone3()s the supervisor with new PID, mount, IPC and UTS
 * namespaces and a pidfd. The supervisor is PID 1 of the box: it joins the slot's empty
 * network namespace, builds the root (tmpfs, read-only binds, job tmpfs parts, procfs),
 * pivots into it and clones the program. The program writes "0" into the leaf's cgroup.procs
 * files (opened by the daemon), so only it and its descendants are limited and counted, never
 * PID 1; then it takes fds 0-2, rlimits, the slot uid, drops every capability, sets
 * no_new_privs, loads the seccomp BPF and execs. PID 1 reaps everything and reports the main
 * program's wait status on the status pipe, then exits: the kernel kills whatever is left in
 * the namespace. Meanwhile this thread runs the monitor (monitor.c). Pipes: stdout, stderr,
 * status, error (setup failures; EOF at a successful execve). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"
#include "time-util.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* clone3's argument block, version 0 (64 bytes): declared here because <linux/sched.h> and
 * glibc's <sched.h> clash on older releases. */
struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* Writers share it, clone3 takes it alone: see sbx_file_write_lock() in sandbox.h. */
static pthread_rwlock_t clone_lock;
static pthread_once_t clone_lock_once = PTHREAD_ONCE_INIT;

static void clone_lock_init(void)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    /* a steady stream of file writes must not starve the clones */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&clone_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

void sbx_file_write_lock(void)
{
    pthread_once(&clone_lock_once, clone_lock_init);
    pthread_rwlock_rdlock(&clone_lock);
}

void sbx_file_write_unlock(void)
{
    pthread_rwlock_unlock(&clone_lock);
}

struct pipes {
    int fds[4][2]; /* stdout, stderr, status, error: [0] read end, [1] write end */
};

static void pipes_close(struct pipes *p)
{
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 2; j++)
            p->fds[i][j] = safe_close(p->fds[i][j]);
}

static int pipes_open(struct pipes *p)
{
    memset(p, -1, sizeof(*p));
    for (size_t i = 0; i < 4; i++)
        if (pipe2(p->fds[i], O_CLOEXEC) < 0)
            return -errno;
    /* The monitor reads only when epoll says so; non-blocking keeps a spurious wakeup cheap. */
    for (size_t i = 0; i < 4; i++)
        if (fcntl(p->fds[i][0], F_SETFL, O_NONBLOCK) < 0)
            return -errno;
    return 0;
}

static bool under_bound_dir(const struct sbx_mount_plan *plan, const char *root, const char *path)
{
    size_t rlen = strlen(root);

    for (size_t i = 0; i < plan->n; i++) {
        const char *box = plan->ops[i].dst + rlen;
        size_t n = strlen(box);
        if (plan->ops[i].kind == SBX_MOUNT_BIND_RO && strncmp(path, box, n) == 0 &&
            (path[n] == '/' || path[n] == '\0'))
            return true;
    }
    return false;
}

static int plan_for_spec(struct sbx_slot *slot, const struct sbx_spec *spec,
                         struct sbx_mount_plan *ret)
{
    const char *root = slot->ctx->box_root;
    struct sbx_mount_plan plan;
    int r;

    r = sbx__mount_plan_copy(&slot->plan, &plan);
    if (r < 0)
        return r;
    /* The package directory appears at its host path; its parents are empty directories of
     * the box root, so a package under /root/src shows nothing else of /root. */
    if (spec->package_dir && !under_bound_dir(&plan, root, spec->package_dir)) {
        r = sbx__mount_plan_add_parents(&plan, root, spec->package_dir);
        if (r >= 0)
            r = sbx__mount_plan_add(&plan, SBX_MOUNT_BIND_RO, spec->package_dir, root,
                                    spec->package_dir);
        if (r < 0) {
            sbx__mount_plan_done(&plan);
            return r;
        }
    }
    if (spec->prepared_dir) {
        r = sbx__mount_plan_add_parents(&plan, root, SBX_PREPARED_PATH);
        if (r >= 0)
            r = sbx__mount_plan_add(&plan, SBX_MOUNT_BIND_RO, spec->prepared_dir, root,
                                    SBX_PREPARED_PATH);
        if (r < 0) {
            sbx__mount_plan_done(&plan);
            return r;
        }
    }
    *ret = plan;
    return 0;
}

static void fill_args(struct sbx_slot *slot, const struct sbx_spec *spec,
                      const struct sbx_mount_plan *plan, const struct sbx_cgroup_leaf *leaf,
                      const struct pipes *p, struct sbx_child_args *a)
{
    const int *cg_fds;
    size_t n_cg = sbx__cgroup_leaf_procs_fds(leaf, &cg_fds);

    *a = (struct sbx_child_args){
        .box_root = slot->ctx->box_root,
        .plan = plan,
        .netns_fd = slot->netns_fd,
        .cgroup_fds = cg_fds,
        .n_cgroup_fds = n_cg,
        .stdin_fd = spec->stdin_fd,
        .stdout_fd = p->fds[0][1],
        .stderr_fd = p->fds[1][1],
        .status_fd = p->fds[2][1],
        .error_fd = p->fds[3][1],
        .argv = spec->argv,
        .envp = spec->envp,
        .uid = slot->uid,
        .gid = slot->gid,
        .rlimit_nofile = spec->max_open_files,
        .rlimit_fsize = spec->max_file_size,
        /* D3: stack = memory limit; deep recursion is bounded by the cgroup anyway. */
        .rlimit_stack = spec->memory_limit,
        .rlimit_cpu_sec = spec->cpu_limit_ms ? (spec->cpu_limit_ms + 999) / 1000 + 1 : 0,
        .rlimit_nproc = spec->max_processes,
        .seccomp = &slot->ctx->seccomp_prog,
    };
}

static void set_error(struct sbx_error *e, const char *step, int err, const char *path)
{
    if (!e)
        return;
    e->step = step;
    e->err = err;
    snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
}

static int clone_supervisor(const struct sbx_child_args *args, int *ret_pidfd)
{
    int pidfd = -1;
    struct clone_args_v0 ca = {
        .flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
    };
    long pid;

    pthread_once(&clone_lock_once, clone_lock_init);
    pthread_rwlock_wrlock(&clone_lock);
    pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0)
        sbx__child_supervisor(args); /* never returns; the lock is the parent's business */
    pthread_rwlock_unlock(&clone_lock);
    if (pid < 0)
        return -errno;
    *ret_pidfd = pidfd;
    return 0;
}

static void account(struct sbx_cgroup_leaf *leaf, struct sbx_result *res)
{
    uint64_t v;

    if (sbx__cgroup_leaf_cpu_usec(leaf, &v) >= 0)
        res->cpu_usec = v;
    if (sbx__cgroup_leaf_memory_peak(leaf, &v) >= 0) {
        res->memory_known = true;
        res->memory_peak = v;
    }
    if (sbx__cgroup_leaf_oom_kills(leaf, &v) >= 0 && v > 0)
        res->oom_killed = true;
}

static int run_box(struct sbx_slot *slot, const struct sbx_spec *spec, struct sbx_cgroup_leaf *leaf,
                   const struct sbx_mount_plan *plan, struct sbx_result *res,
                   struct sbx_error *reterr)
{
    struct sbx_child_error cerr = {0};
    struct sbx_child_args args;
    struct pipes p;
    siginfo_t si;
    int pidfd = -1, r;

    r = pipes_open(&p);
    if (r < 0) {
        pipes_close(&p);
        set_error(reterr, "pipes", r, NULL);
        return r;
    }
    fill_args(slot, spec, plan, leaf, &p, &args);
    struct sbx_monitor mon = {
        .leaf = leaf, .spec = spec, .abort_fd = slot->abort_fd, .start_usec = now_usec()};
    r = clone_supervisor(&args, &pidfd);
    for (size_t i = 0; i < 4; i++) /* the write ends now belong to the box */
        p.fds[i][1] = safe_close(p.fds[i][1]);
    if (r < 0) {
        pipes_close(&p);
        set_error(reterr, "clone3", r, NULL);
        return r;
    }
    mon.pidfd = pidfd;
    mon.stdout_fd = TAKE_FD(p.fds[0][0]);
    mon.stderr_fd = TAKE_FD(p.fds[1][0]);
    mon.status_fd = TAKE_FD(p.fds[2][0]);
    mon.error_fd = TAKE_FD(p.fds[3][0]);
    r = sbx__monitor_run(&mon, res, &cerr);
    if (r < 0) {
        if (cerr.step)
            set_error(reterr, sbx__child_step_name(cerr.step), r,
                      cerr.step == SBX_STEP_MOUNT_OP && (size_t)cerr.detail < plan->n
                          ? plan->ops[cerr.detail].dst
                          : NULL);
        else
            set_error(reterr, "monitor", r, NULL);
        (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    }
    safe_close(mon.stdout_fd);
    safe_close(mon.stderr_fd);
    safe_close(mon.status_fd);
    safe_close(mon.error_fd);
    /* Reap PID 1; its namespace, and so every process of the box, is gone with it. */
    while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
        ;
    safe_close(pidfd);
    return r;
}

int sbx_run(struct sbx_slot *slot, const struct sbx_spec *spec, struct sbx_result *ret,
            struct sbx_error *reterr)
{
    struct sbx_cgroup_limits limits = {.memory = spec->memory_limit, .pids = spec->max_processes};
    struct sbx_result res = {0};
    struct sbx_mount_plan plan = {0};
    struct sbx_cgroup_leaf *leaf = NULL;
    int r;

    if (slot->aborted) {
        set_error(reterr, "aborted", -ECANCELED, NULL);
        return -ECANCELED;
    }
    r = plan_for_spec(slot, spec, &plan);
    if (r < 0) {
        set_error(reterr, "plan", r, NULL);
        return r;
    }
    r = sbx__cgroup_leaf_create(slot->ctx->cgroup, slot->index, ++slot->stage_seq, &limits, &leaf,
                                reterr);
    if (r < 0) {
        sbx__mount_plan_done(&plan);
        return r;
    }
    r = run_box(slot, spec, leaf, &plan, &res, reterr);
    sbx__mount_plan_done(&plan);
    if (r >= 0)
        account(leaf, &res);
    int k = sbx__cgroup_leaf_destroy(leaf);
    if (r >= 0 && k < 0) {
        /* A process that will not leave its cgroup is a box failure: never report success
         * while something of the job may still run. */
        set_error(reterr, "cgroup-destroy", k, NULL);
        r = k;
    }
    if (r < 0) {
        sbx_result_done(&res);
        return r;
    }
    *ret = res;
    return 0;
}

void sbx_result_done(struct sbx_result *r)
{
    strbuf_done(&r->out);
    strbuf_done(&r->err);
    strbuf_done(&r->output);
}
