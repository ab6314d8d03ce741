/* sbx_run(): a box per slot and package, built ahead of its first job when the slot is idle,
 * that serves stage after stage while every one of them ends on its own.
 *
 * Theory of operation. The slot worker (root, host namespaces) creates a job socket and the
 * first job's leaf cgroups, then clone3()s the supervisor with new PID, IPC and UTS namespaces
 * and a pidfd (its mount namespace comes from the template, below). The clone shares the
 * daemon's memory (CLONE_VM | CLONE_VFORK: the worker sleeps meanwhile) just long enough to
 * exec capsule-box (sandbox/helper/), so no page of the daemon is copied and no daemon thread
 * takes a copy-on-write fault for it; the worker then sends the box spec (mount plan, seccomp
 * program, descriptors, ids) over the job socket. capsule-box is PID 1 of the box: it joins
 * the slot's empty network namespace, joins the slot's root template for the box's plan
 * (template.c: the root, tmpfs, read-only binds and job tmpfs parts, built once per slot and
 * package by another capsule-box run) and unshares a private copy of it, mounts its own
 * procfs and clones the first program, which takes default signals, an IPC namespace of its
 * own and seccomp, then waits on the job socket. All of that can happen while the slot is
 * idle (sbx_slot_prepare), so a job pays only for what follows: the worker writes the stage's
 * limits into the leaf and sends argv, envp, rlimits and the job's descriptors (stdin, fresh
 * stdout and stderr pipes, the leaf's cgroup.procs files); the program joins the leaf,
 * takes its fds, limits and the slot uid, drops every capability, sets no_new_privs and
 * execs. Only it and its descendants are in the leaf, never PID 1. When the main program
 * ends, PID 1 kills everything else in its namespace (kill(-1)), reaps to the last process,
 * resets the namespace's pid counter and reports the wait status on the job socket (or the
 * step that failed before the execve, which ends the box); then it clones the next job's
 * program. Meanwhile this thread runs the monitor (monitor.c). A thread the slot is lent to
 * (sbx_slot_join) does the same for a warm box, and never builds one: a box dies with the
 * thread that cloned it (PR_SET_PDEATHSIG), and only the slot worker lives as long as the slot.
 *
 * The result is final once the report is in (or PID 1 is gone) and the pipes are read empty:
 * nothing of the job is alive by then to write more. The box then waits for
 * the slot's next job of its package (a new leaf is made for it; on v1 only its memory part,
 * the others kept with their counters read against a base); a box that was killed (a limit,
 * an abort, a failure) or whose template is no longer the slot's is torn down, and that
 * teardown (the namespaces' release, the reap) and the spent leaves' removal are left to
 * sbx_slot_quiesce(), which the caller runs before it touches the job directories again. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"
#include "time-util.h"

struct sbx_box {
    int pidfd;
    int job_fd; /* our end of the job socket: jobs out, reports in */
    /* the next job's, made ahead (or what of the last job's can serve it); NULL until then */
    struct sbx_cgroup_leaf *leaf;
    struct sbx_mount_plan plan;                         /* kept to name a failing mount op */
    char *package_dir, *package_box_dir, *prepared_dir; /* binds beyond the slot template */
    uint64_t template_id;                               /* the template it copied */
};

static void box_close_fds(struct sbx_box *b)
{
    b->job_fd = safe_close(b->job_fd);
}

/* A finished job's leaf, read already: removed by the next sbx_slot_quiesce(), after the
 * answer has gone out (the oldest at once when too many wait). */
static int slot_spend_leaf(struct sbx_slot *slot, struct sbx_cgroup_leaf *leaf)
{
    int r = 0;

    if (!leaf)
        return 0;
    if (slot->n_spent_leaves == SBX_SPENT_LEAVES_MAX) {
        r = sbx__cgroup_leaf_destroy(slot->spent_leaves[0]);
        memmove(&slot->spent_leaves[0], &slot->spent_leaves[1],
                (SBX_SPENT_LEAVES_MAX - 1) * sizeof(slot->spent_leaves[0]));
        slot->n_spent_leaves--;
    }
    slot->spent_leaves[slot->n_spent_leaves++] = leaf;
    return r;
}

/* Kills what is left, reaps PID 1 (its namespace, and so every process of the box, is gone
 * with it), removes the leaf. -EBUSY if a process would not leave the leaf. */
static int box_reap(struct sbx_box *b)
{
    siginfo_t si;
    int r;

    box_close_fds(b);
    if (b->pidfd >= 0) {
        (void)syscall(SYS_pidfd_send_signal, b->pidfd, SIGKILL, NULL, 0);
        while (waitid(P_PIDFD, (id_t)b->pidfd, &si, WEXITED) < 0 && errno == EINTR)
            ;
        safe_close(b->pidfd);
    }
    r = sbx__cgroup_leaf_destroy(b->leaf);
    sbx__mount_plan_done(&b->plan);
    free(b->package_dir);
    free(b->package_box_dir);
    free(b->prepared_dir);
    free(b);
    return r;
}

/* A box whose stage is over (or that will never get one) waits for sbx_slot_quiesce(). */
static int slot_retire(struct sbx_slot *slot, struct sbx_box *b)
{
    int r = 0;

    if (!b)
        return 0;
    box_close_fds(b); /* an idle supervisor sees EOF and exits */
    (void)syscall(SYS_pidfd_send_signal, b->pidfd, SIGKILL, NULL, 0);
    if (slot->n_retiring == SBX_RETIRING_MAX) {
        r = box_reap(slot->retiring[0]);
        memmove(&slot->retiring[0], &slot->retiring[1],
                (SBX_RETIRING_MAX - 1) * sizeof(slot->retiring[0]));
        slot->n_retiring--;
    }
    slot->retiring[slot->n_retiring++] = b;
    return r;
}

int sbx_slot_quiesce(struct sbx_slot *slot)
{
    int r = 0;

    for (size_t i = 0; i < slot->n_spent_leaves; i++) {
        int k = sbx__cgroup_leaf_destroy(slot->spent_leaves[i]);
        if (k < 0 && r == 0)
            r = k;
    }
    slot->n_spent_leaves = 0;
    for (size_t i = 0; i < slot->n_retiring; i++) {
        int k = box_reap(slot->retiring[i]);
        if (k < 0 && r == 0)
            r = k;
    }
    slot->n_retiring = 0;
    /* Nothing of the slot's past boxes runs now: what is still alive in its network
     * namespace is held by in-flight descriptors alone (netns.c). */
    int k = sbx__slot_netns_recycle(slot);
    if (k > 0 && slot->warm) { /* built in the namespace just dropped */
        sbx_slot_discard(slot);
        k = box_reap(slot->retiring[--slot->n_retiring]);
    }
    return r < 0 ? r : k < 0 ? k : 0;
}

void sbx_slot_discard(struct sbx_slot *slot)
{
    (void)slot_retire(slot, slot->warm);
    slot->warm = NULL;
}

void sbx__slot_release(struct sbx_slot *slot)
{
    sbx_slot_discard(slot);
    (void)sbx_slot_quiesce(slot);
    sbx_slot_drop_templates(slot);
}

/* The package's box path must be a plain absolute path outside what the slot template
 * mounts (a bind under /tmp or /usr would land in, or under, another mount). */
static bool valid_box_dir(const struct sbx_mount_plan *plan, const char *root, const char *path)
{
    size_t rlen = strlen(root);

    if (path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//"))
        return false;
    for (size_t i = 0; i < plan->n; i++) {
        const char *box = plan->ops[i].dst + rlen;
        size_t n = strlen(box);
        if (strncmp(path, box, n) == 0 && (path[n] == '/' || path[n] == '\0'))
            return false;
    }
    return true;
}

static int plan_for(struct sbx_slot *slot, const char *package_dir, const char *package_box_dir,
                    const char *prepared_dir, struct sbx_mount_plan *ret)
{
    const char *root = slot->ctx->box_root;
    struct sbx_mount_plan plan;
    int r;

    r = sbx__mount_plan_copy(&slot->plan, &plan);
    if (r < 0)
        return r;
    /* The package directory appears at its box path, not its host path: wherever it lives
     * (under /tmp, which the box has its own of, under /etc or /dev, which the box builds
     * itself, under a private home) it is reachable, and `/` tells nothing of the host. Its
     * parents are empty directories of the box root. */
    if (package_dir) {
        r = package_box_dir && valid_box_dir(&plan, root, package_box_dir) ? 0 : -EINVAL;
        if (r >= 0)
            r = sbx__mount_plan_add_parents(&plan, root, package_box_dir);
        if (r >= 0)
            r = sbx__mount_plan_add(&plan, SBX_MOUNT_BIND_RO, package_dir, root, package_box_dir);
        if (r < 0) {
            sbx__mount_plan_done(&plan);
            return r;
        }
    }
    if (prepared_dir) {
        r = sbx__mount_plan_add_parents(&plan, root, SBX_PREPARED_PATH);
        if (r >= 0)
            r = sbx__mount_plan_add(&plan, SBX_MOUNT_BIND_RO, prepared_dir, root,
                                    SBX_PREPARED_PATH);
        if (r < 0) {
            sbx__mount_plan_done(&plan);
            return r;
        }
    }
    *ret = plan;
    return 0;
}

void sbx__set_child_error(struct sbx_error *e, const struct sbx_child_error *rec, int err,
                          const struct sbx_mount_plan *plan)
{
    bool op = rec->step == SBX_STEP_MOUNT_OP && rec->detail >= 0 && (size_t)rec->detail < plan->n;

    sbx__set_error(e, sbx__child_step_name(rec->step), err, op ? plan->ops[rec->detail].dst : NULL);
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool box_fits(const struct sbx_box *b, const char *package_dir, const char *package_box_dir,
                     const char *prepared_dir)
{
    return same_str(b->package_dir, package_dir) && same_str(b->package_box_dir, package_box_dir) &&
           same_str(b->prepared_dir, prepared_dir);
}

static int strdup_or_null(const char *s, char **ret)
{
    *ret = s ? strdup(s) : NULL;
    return s && !*ret ? -ENOMEM : 0;
}

/* The job socket, the first job's leaf (limits come with the job), then the supervisor. Each
 * job brings its own pipes (box_start). */
static int box_build(struct sbx_slot *slot, const char *package_dir, const char *package_box_dir,
                     const char *prepared_dir, struct sbx_box **ret, struct sbx_error *reterr)
{
    struct sbx_box *b;
    int sock[2] = {-1, -1}, r;

    /* a namespace a job left sockets in is never joined: swap it first (netns.c) */
    if (slot->netns_dirty && (r = sbx__slot_netns_recycle(slot)) < 0) {
        sbx__set_error(reterr, "netns", r, NULL);
        return r;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        sbx__set_error(reterr, "box", -ENOMEM, NULL);
        return -ENOMEM;
    }
    *b = (struct sbx_box){.pidfd = -1, .job_fd = -1};
    r = strdup_or_null(package_dir, &b->package_dir);
    if (r >= 0)
        r = strdup_or_null(package_box_dir, &b->package_box_dir);
    if (r >= 0)
        r = strdup_or_null(prepared_dir, &b->prepared_dir);
    if (r >= 0)
        r = plan_for(slot, package_dir, package_box_dir, prepared_dir, &b->plan);
    if (r < 0) {
        sbx__set_error(reterr, "plan", r, NULL);
        goto fail;
    }
    r = sbx__cgroup_leaf_create(slot->ctx->cgroup, slot->index, ++slot->stage_seq, NULL, &b->leaf,
                                reterr);
    if (r < 0)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0) {
        r = -errno;
        sbx__set_error(reterr, "pipes", r, NULL);
        goto fail;
    }
    const struct sbx_root_template *tpl;
    r = sbx__slot_template(slot, &b->plan, package_dir, package_box_dir, prepared_dir, false, &tpl,
                           reterr);
    if (r < 0)
        goto fail_fds;
    b->template_id = tpl->id;
    /* Locks only where no inode the box can lock is seen outside the slot (private.c). */
    bool locks_private = tpl->locks_private;
    struct sbx_child_args args = {
        .box_root = slot->ctx->box_root,
        .plan = &b->plan,
        .netns_fd = slot->netns_fd,
        .job_fd = sock[1],
        .error_fd = -1,
        .uid = slot->uid,
        .gid = slot->gid,
        .seccomp = locks_private ? &slot->ctx->seccomp_prog : &slot->ctx->seccomp_prog_deny_locks,
        .mode = SBX_SPEC_MODE_BOX,
        .template_fd = tpl->mntns_fd,
        .template_root_fd = tpl->root_fd,
    };
    /* no CLONE_NEWNS: PID 1 unshares its mount namespace from the template's */
    r = sbx__clone_supervisor(slot->ctx, &args, CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS, sock[0],
                              &b->pidfd);
    if (r < 0) {
        sbx__set_error(reterr, "clone3", r, NULL);
        goto fail_fds;
    }
    slot->boxes_built++;
    b->job_fd = TAKE_FD(sock[0]);
    r = 0;
fail_fds:
    /* the far end of the socket belongs to the box now (or to nobody) */
    safe_close(sock[0]);
    safe_close(sock[1]);
    if (r >= 0) {
        *ret = b;
        return 0;
    }
fail:
    (void)box_reap(b);
    return r;
}

/* A box serves the next job if it was built for the same package directories and from the
 * template the slot would use now: a package replaced since, or a template past its age,
 * gets a new box on a new template. Then its next job's leaf, made ahead. */
static int box_ready(struct sbx_slot *slot, struct sbx_box *b, const char *package_dir,
                     const char *package_box_dir, const char *prepared_dir, bool no_build,
                     bool *fits, struct sbx_error *reterr)
{
    const struct sbx_root_template *tpl;
    int r;

    *fits = box_fits(b, package_dir, package_box_dir, prepared_dir);
    if (!*fits)
        return 0;
    r = sbx__slot_template(slot, &b->plan, package_dir, package_box_dir, prepared_dir, no_build,
                           &tpl, reterr);
    if (r == SBX_ENOBOX) { /* its template is past its age: a new box on a new one */
        *fits = false;
        return 0;
    }
    if (r < 0)
        return r;
    *fits = tpl->id == b->template_id;
    if (!*fits)
        return 0;
    if (b->leaf)
        return sbx__cgroup_leaf_refill(b->leaf, &slot->stage_seq, reterr);
    return sbx__cgroup_leaf_create(slot->ctx->cgroup, slot->index, ++slot->stage_seq, NULL,
                                   &b->leaf, reterr);
}

int sbx_slot_prepare(struct sbx_slot *slot, const char *package_dir, const char *package_box_dir,
                     const char *prepared_dir, struct sbx_error *reterr)
{
    bool fits = false;
    int r;

    if (slot->aborted) {
        sbx__set_error(reterr, "aborted", -ECANCELED, NULL);
        return -ECANCELED;
    }
    if (slot->warm) {
        r = box_ready(slot, slot->warm, package_dir, package_box_dir, prepared_dir, false, &fits,
                      reterr);
        if (r < 0 || fits)
            return r;
    }
    sbx_slot_discard(slot);
    r = box_build(slot, package_dir, package_box_dir, prepared_dir, &slot->warm, reterr);
    if (r < 0)
        slot->warm = NULL;
    return r;
}

int sbx_slot_ready(struct sbx_slot *slot, const char *package_dir, const char *package_box_dir,
                   const char *prepared_dir, struct sbx_error *reterr)
{
    bool fits = false;
    int r;

    if (slot->aborted || !slot->warm)
        return 0;
    r = box_ready(slot, slot->warm, package_dir, package_box_dir, prepared_dir, true, &fits,
                  reterr);
    return r < 0 ? r : fits;
}

static size_t strv_bytes(const char *const *v, uint32_t *ret_count)
{
    size_t n = 0;
    uint32_t c = 0;

    for (; v && v[c]; c++)
        n += strlen(v[c]) + 1;
    *ret_count = c;
    return n;
}

/* header + argv + envp, one buffer */
static int job_message(const struct sbx_job_header *h, const struct sbx_spec *spec,
                       struct strbuf *ret)
{
    if (strbuf_reserve(ret, sizeof(*h) + h->strings_len) < 0 ||
        strbuf_append(ret, h, sizeof(*h)) < 0)
        return -ENOMEM;
    for (const char *const *v = spec->argv; *v; v++)
        if (strbuf_append(ret, *v, strlen(*v) + 1) < 0)
            return -ENOMEM;
    for (const char *const *v = spec->envp; v && *v; v++)
        if (strbuf_append(ret, *v, strlen(*v) + 1) < 0)
            return -ENOMEM;
    return 0;
}

/* One job's pipes, stdout and stderr: the read ends (non-blocking, the monitor's) and the
 * write ends, which this thread keeps until the stage is over. Holding them, the streams never
 * reach EOF while the stage runs: the program's exit costs no wakeup of its own, and the
 * monitor ends the streams with PID 1's report instead (monitor.c). */
struct job_pipes {
    int fd[2];
    int wr[2];
};

static void job_pipes_close(struct job_pipes *p)
{
    for (size_t i = 0; i < ARRAY_SIZE(p->fd); i++) {
        p->fd[i] = safe_close(p->fd[i]);
        p->wr[i] = safe_close(p->wr[i]);
    }
}

/* Fresh pipes for a job; the read ends non-blocking (the monitor reads when epoll says so). */
static int job_pipes_open(struct job_pipes *ret, struct sbx_error *reterr)
{
    for (size_t i = 0; i < ARRAY_SIZE(ret->fd); i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            goto fail;
        ret->fd[i] = p[0];
        ret->wr[i] = p[1];
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
            goto fail;
    }
    return 0;
fail : {
    int r = -errno;
    sbx__set_error(reterr, "pipes", r, NULL);
    return r;
}
}

/* Hands the job to the waiting program: limits into the leaf first (nothing is in it yet),
 * then one message (header and strings) with the job's descriptors attached to its first
 * byte: stdin, the write ends of the job's pipes, the leaf's cgroup.procs files. The last
 * thing this thread does before the monitor waits: the program it wakes has the core. */
static int box_start(struct sbx_box *b, const struct sbx_spec *spec, const struct job_pipes *pipes,
                     struct sbx_error *reterr)
{
    struct sbx_cgroup_limits limits = {.memory = spec->memory_limit, .pids = spec->max_processes};
    struct sbx_job_header h = {
        .magic = SBX_JOB_MAGIC,
        .rlimit_nofile = spec->max_open_files,
        .rlimit_fsize = spec->max_file_size,
        /* D3: stack = memory limit; deep recursion is bounded by the cgroup anyway. */
        .rlimit_stack = spec->memory_limit,
        .rlimit_cpu_sec = spec->cpu_limit_ms ? (spec->cpu_limit_ms + 999) / 1000 + 1 : 0,
        .rlimit_nproc = spec->max_processes,
    };
    int fds[SBX_JOB_FDS + SBX_SPEC_CGROUP_FDS_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } control = {0};
    struct strbuf job = {0};
    struct iovec iov;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf};
    struct cmsghdr *cm;
    size_t argv_len = strv_bytes(spec->argv, &h.argc);
    size_t env_len = strv_bytes(spec->envp, &h.envc);
    const int *cg_fds;
    size_t n_cg = sbx__cgroup_leaf_procs_fds(b->leaf, &cg_fds), n_fds = SBX_JOB_FDS + n_cg;
    ssize_t k;
    int r = 0;

    h.strings_len = argv_len + env_len;
    h.n_cgroup_fds = (uint32_t)n_cg;
    if (h.argc == 0 || h.strings_len > SBX_JOB_STRINGS_MAX || n_cg > SBX_SPEC_CGROUP_FDS_MAX) {
        sbx__set_error(reterr, "job", -E2BIG, NULL);
        return -E2BIG;
    }
    r = sbx__cgroup_leaf_set_limits(b->leaf, &limits, reterr);
    if (r < 0)
        return r;
    fds[SBX_JOB_FD_STDIN] = spec->stdin_fd;
    fds[SBX_JOB_FD_STDOUT] = pipes->wr[0];
    fds[SBX_JOB_FD_STDERR] = pipes->wr[1];
    memcpy(fds + SBX_JOB_FDS, cg_fds, n_cg * sizeof(int));
    r = job_message(&h, spec, &job);
    if (r >= 0) {
        iov = (struct iovec){.iov_base = job.data, .iov_len = job.len};
        msg.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n_fds * sizeof(int));
        do
            k = sendmsg(b->job_fd, &msg, MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
        /* a message larger than the socket buffer goes on in pieces, read as it arrives */
        r = k < 0 ? -errno : sbx__send_all(b->job_fd, job.data + k, job.len - (size_t)k);
    }
    if (r < 0)
        sbx__set_error(reterr, "job-send", r, NULL);
    strbuf_done(&job);
    return r;
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

static int run_box(struct sbx_slot *slot, struct sbx_box *b, const struct sbx_spec *spec,
                   struct sbx_result *res, bool *reusable, struct sbx_error *reterr)
{
    struct sbx_child_error cerr = {0};
    struct sbx_monitor mon = {.epfd = -1,
                              .leaf = b->leaf,
                              .spec = spec,
                              .abort_fd = slot->abort_fd,
                              .pidfd = b->pidfd,
                              .program_pidfd = -1,
                              .start_usec = now_usec()};
    struct job_pipes pipes = {{-1, -1}, {-1, -1}};
    int r;

    r = job_pipes_open(&pipes, reterr);
    if (r < 0)
        goto out;
    mon.stdout_fd = TAKE_FD(pipes.fd[0]);
    mon.stderr_fd = TAKE_FD(pipes.fd[1]);
    mon.status_fd = b->job_fd; /* the box's: watched, never closed by the monitor */
    r = sbx__monitor_open(&mon);
    if (r < 0) {
        sbx__set_error(reterr, "monitor", r, NULL);
        goto out;
    }
    r = box_start(b, spec, &pipes, reterr);
    /* A supervisor that died while building the root closed its end: its report says why,
     * and the monitor reads it. */
    if (r < 0 && r != -EPIPE && r != -ECONNRESET)
        goto out;
    r = sbx__monitor_run(&mon, res, &cerr);
    if (r < 0) {
        if (cerr.step)
            sbx__set_child_error(reterr, &cerr, r, &b->plan);
        else if (!reterr || !reterr->step)
            sbx__set_error(reterr, "monitor", r, NULL);
        (void)syscall(SYS_pidfd_send_signal, b->pidfd, SIGKILL, NULL, 0);
    }
    *reusable = r >= 0 && mon.box_reusable;
out:
    sbx__monitor_close(&mon);
    safe_close(mon.stdout_fd);
    safe_close(mon.stderr_fd);
    job_pipes_close(&pipes);
    safe_close(mon.program_pidfd);
    return r;
}

int sbx_run(struct sbx_slot *slot, const struct sbx_spec *spec, struct sbx_result *ret,
            struct sbx_error *reterr)
{
    struct sbx_result res = {0};
    struct sbx_box *b;
    bool fits = false, reusable = false;
    int r;

    if (slot->aborted) {
        sbx__set_error(reterr, "aborted", -ECANCELED, NULL);
        return -ECANCELED;
    }
    b = TAKE_PTR(slot->warm);
    if (b) {
        r = box_ready(slot, b, spec->package_dir, spec->package_box_dir, spec->prepared_dir,
                      spec->no_build, &fits, reterr);
        if (r >= 0 && !fits && spec->no_build) {
            slot->warm = b; /* the slot's thread decides what becomes of it */
            sbx__set_error(reterr, "box", SBX_ENOBOX, NULL);
            return SBX_ENOBOX;
        }
        if (r < 0 || !fits) {
            (void)slot_retire(slot, b);
            b = NULL;
            if (r < 0)
                return r;
        }
    }
    if (!b && spec->no_build) {
        sbx__set_error(reterr, "box", SBX_ENOBOX, NULL);
        return SBX_ENOBOX;
    }
    if (!b) {
        r = box_build(slot, spec->package_dir, spec->package_box_dir, spec->prepared_dir, &b,
                      reterr);
        if (r < 0)
            return r;
    }
    if (reterr)
        reterr->step = NULL;
    r = run_box(slot, b, spec, &res, &reusable, reterr);
    if (r >= 0)
        account(b->leaf, &res);
    /* A box whose job ended on its own, reaped to the last process, takes the next job, and
     * so does what of its leaf can serve that job; one that was killed or failed is torn
     * down. */
    bool keep = reusable && !slot->warm;
    struct sbx_cgroup_leaf *spent = NULL;
    if (keep)
        sbx__cgroup_leaf_recycle(&b->leaf, &spent);
    else
        spent = TAKE_PTR(b->leaf);
    int k = slot_spend_leaf(slot, spent), k2 = 0;
    if (keep)
        slot->warm = b;
    else
        k2 = slot_retire(slot, b);
    if (k == 0)
        k = k2;
    if (r >= 0 && k < 0) {
        /* A process that will not leave its cgroup is a box failure: never report success
         * while something of an earlier job may still run. */
        sbx__set_error(reterr, "cgroup-destroy", k, NULL);
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
