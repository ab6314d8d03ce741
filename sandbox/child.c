/* Code of the box's PID 1 (the capsule-box helper, sandbox/helper/) and of the one step the
 * daemon's clone takes before it execs that helper.
 *
 * That clone shares the daemon's memory (CLONE_VM | CLONE_VFORK, launch.c): the cloning thread
 * sleeps until the execve, no page of the daemon is copied, and the daemon's threads take no
 * copy-on-write faults afterwards (they, and their TLB shootdowns, were most of a box's cost).
 * Until its execve the child is a guest in the daemon's address space with the cloning
 * thread's TLS: a lock that any other thread held at that instant stays locked, so
 * sbx__child_exec_helper() only makes system calls. The helper is a program of its own,
 * single-threaded and static: everything after the execve may use libc as any program does,
 * and the rules below (no allocation, no stdio) are kept only because nothing needs more.
 * The box comes as a spec over the job socket (helper/capsule-box.c), then job after job
 * over the same socket, each into one anonymous mapping (receive_job) with its own
 descriptors. A failing step of a job's program leaves {step, errno} in the memory it shares
 * with PID 1 until its execve (PID 1 sleeps until then, vfork-style) and exits; PID 1 reports
 * on the job socket (sbx_box_report): each job's status, that failing step in its place, or
 * why the box cannot serve. A template builder, which has no PID 1, writes its failing step
 * to an O_CLOEXEC error pipe (EOF there means it succeeded: isolate, h2o's spawn helper). The
 daemon-side step is no_sanitize: the
 * sanitizer runtimes are not async-signal-safe. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"

#define CHILD_FN __attribute__((no_sanitize("address", "undefined"), noinline))

static const char *const step_names[] = {
    [SBX_STEP_PDEATHSIG] = "pdeathsig",
    [SBX_STEP_NETNS] = "setns-net",
    [SBX_STEP_HOSTNAME] = "hostname",
    [SBX_STEP_MOUNT_PRIVATE] = "mount-private",
    [SBX_STEP_ROOT_TMPFS] = "root-tmpfs",
    [SBX_STEP_MOUNT_OP] = "mount",
    [SBX_STEP_PIVOT] = "pivot-root",
    [SBX_STEP_ROOT_RDONLY] = "root-readonly",
    [SBX_STEP_CLONE_PROGRAM] = "clone-program",
    [SBX_STEP_CGROUP_JOIN] = "cgroup-join",
    [SBX_STEP_SIGNALS] = "signals",
    [SBX_STEP_FDS] = "fds",
    [SBX_STEP_RLIMIT] = "rlimit",
    [SBX_STEP_CREDENTIALS] = "credentials",
    [SBX_STEP_CAPABILITIES] = "capabilities",
    [SBX_STEP_NO_NEW_PRIVS] = "no-new-privs",
    [SBX_STEP_CHDIR] = "chdir",
    [SBX_STEP_SECCOMP] = "seccomp",
    [SBX_STEP_EXEC] = "exec",
    [SBX_STEP_JOB] = "job-receive",
    [SBX_STEP_HELPER] = "exec-helper",
    [SBX_STEP_ROOT_TEMPLATE] = "root-template",
    [SBX_STEP_TEMPLATE_SEND] = "template-send",
    [SBX_STEP_IPC] = "ipc-namespace",
    [SBX_STEP_PID_RESET] = "pid-reset",
};

const char *sbx__child_step_name(int step)
{
    if (step <= 0 || (size_t)step >= sizeof(step_names) / sizeof(step_names[0]) ||
        !step_names[step])
        return "child";
    return step_names[step];
}

CHILD_FN _Noreturn static void fail(int error_fd, int step, int err, int detail)
{
    struct sbx_child_error rec = {.step = step, .err = err > 0 ? err : EIO, .detail = detail};

    /* The record is one write into a pipe, whose buffer is charged to the box's memory
     * cgroup: under a limit of a few bytes it can fail. Dying by SIGKILL then, like an OOM
     * kill, beats an exit status that would pass for the program's own. */
    if (write(error_fd, &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
        (void)kill(getpid(), SIGKILL);
    _exit(127);
}

/* Closes every fd except the (few) listed ones, with close_range over the gaps. */
CHILD_FN static void close_all_except(int *keep, size_t n)
{
    unsigned next = 0;

    /* insertion sort: n is about ten */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < next)
            continue;
        if ((unsigned)keep[i] > next)
            syscall(SYS_close_range, next, (unsigned)keep[i] - 1, 0);
        next = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, next, ~0U, 0);
}

CHILD_FN static int set_limit(int resource, uint64_t value)
{
    struct rlimit rl = {.rlim_cur = value ? value : RLIM_INFINITY,
                        .rlim_max = value ? value : RLIM_INFINITY};
    return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

/* The job as received: argv/envp point into one anonymous mapping of the supervisor; fds are
 * SBX_JOB_FD_* then the leaf's cgroup.procs files. */
struct child_job {
    const struct sbx_job_header *h;
    char **argv, **envp;
    int fds[SBX_JOB_FDS + SBX_SPEC_CGROUP_FDS_MAX];
    size_t n_fds;
};

CHILD_FN static int apply_rlimits(const struct sbx_job_header *a)
{
    struct rlimit cpu = {.rlim_cur = a->rlimit_cpu_sec, .rlim_max = a->rlimit_cpu_sec + 1};
    struct rlimit core = {0, 0};

    if (a->rlimit_nofile && set_limit(RLIMIT_NOFILE, a->rlimit_nofile) < 0)
        return -errno;
    if (set_limit(RLIMIT_FSIZE, a->rlimit_fsize) < 0 ||
        set_limit(RLIMIT_STACK, a->rlimit_stack) < 0)
        return -errno;
    if (a->rlimit_nproc && set_limit(RLIMIT_NPROC, a->rlimit_nproc) < 0)
        return -errno;
    /* RLIMIT_CPU is only a backstop per process (SIGXCPU then SIGKILL a second later): the
     * monitor polls the cgroup, which counts every thread and child. */
    if (a->rlimit_cpu_sec && setrlimit(RLIMIT_CPU, &cpu) < 0)
        return -errno;
    if (setrlimit(RLIMIT_CORE, &core) < 0)
        return -errno;
    return 0;
}

/* The bounding set, emptied once by PID 1 (dropping needs CAP_SETPCAP) and inherited by every
 * program it clones. Capabilities are numbered 0 to the kernel's last (CAP_LAST_CAP, 40 on
 * 6.x) without a gap, and each drop is a credentials copy: stop at the first number it does
 * not know. */
CHILD_FN static int drop_bounding_set(void)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno != EINVAL || cap == 0)
                return -errno;
            break;
        }
    return 0;
}

/* Capabilities: the bounding set came empty from PID 1; ambient first, then the uid change
 * clears permitted and effective sets; a final capset makes that explicit whatever the
 * securebits say. */
CHILD_FN static int drop_privileges(const struct sbx_child_args *a, int *step)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};

    *step = SBX_STEP_CAPABILITIES;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    *step = SBX_STEP_CREDENTIALS;
    /* Raw syscalls, not glibc's wrappers: in a process glibc believes multi-threaded they
     * broadcast the change to every thread (__nptl_setxid) under a lock that another daemon
     * thread may have held at clone time: a deadlock seen once in the hostile battery (a
     * compile stuck at 1 ms of CPU until its wall limit). */
    if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, a->gid, a->gid, a->gid) < 0 ||
        syscall(SYS_setresuid, a->uid, a->uid, a->uid) < 0)
        return -errno;
    *step = SBX_STEP_CAPABILITIES;
    if (syscall(SYS_capset, &hdr, data) < 0)
        return -errno;
    *step = SBX_STEP_NO_NEW_PRIVS;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

CHILD_FN static int reset_signals(void)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t none;

    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL); /* EINVAL for the libc-reserved ones: fine */
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

CHILD_FN static size_t child_strlen(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

/* What a job's program leaves for PID 1 in the memory they share until its execve (or its
 * exit): the mapping its job arrived in, which PID 1 unmaps once the program has a memory of
 * its own; whether the box is done (the daemon hung up, or the program could not even wait
 * for a job and has said why); and the step of the job that failed before its execve. */
struct program_handoff {
    void *area;
    size_t area_len;
    bool box_done;
    bool job_failed;
    struct sbx_child_error error;
};
static struct program_handoff handoff;

/* PID 1 reads the handoff once the program has exec'd or exited. The compiler cannot know
 * that the two share it (CLONE_VM): it would drop the program's stores to a static whose
 * address never escapes when only _exit or execve follows, and let PID 1 reuse what it wrote
 * before the clone. This barrier, after the stores on one side and before the loads on the
 * other, keeps both in place. */
#define HANDOFF_SYNC() __asm__ __volatile__("" ::: "memory")

/* A step of the job's program that failed before its execve: PID 1 reports it in place of a
 * wait status once the job is reaped (no pipe to write, so no memory limit can refuse it);
 * out of memory, it is the program's verdict instead. */
CHILD_FN _Noreturn static void fail_job(int step, int err, int detail)
{
    /* Out of memory with the job's leaf joined (capset's new credentials are charged to it,
     * for one): a limit too small to start in, the program's verdict as an OOM kill would
     * be, never the box's failure. */
    if (err == ENOMEM)
        (void)kill(getpid(), SIGKILL);
    handoff.error =
        (struct sbx_child_error){.step = step, .err = err > 0 ? err : EIO, .detail = detail};
    handoff.job_failed = true;
    HANDOFF_SYNC();
    _exit(127);
}

/* A program that is not there or cannot run (a package's run.argv naming ./a.out that a
 * program of the job removed, say) is the program's failure, reported as a shell would:
 * a line on stderr and 127 (not found) or 126 (not executable). Anything else is the box's. */
CHILD_FN _Noreturn static void exec_failed(const char *path, int err)
{
    const char *what = err == ENOENT    ? ": No such file or directory\n"
                       : err == EACCES  ? ": Permission denied\n"
                       : err == ENOEXEC ? ": Exec format error\n"
                       : err == ENOTDIR ? ": Not a directory\n"
                                        : NULL;

    /* ENOMEM (the new image is charged to the job's limit) is the program's verdict too:
     * fail_job makes it an OOM kill. */
    if (!what)
        fail_job(SBX_STEP_EXEC, err, 0);
    (void)!write(2, path, child_strlen(path));
    (void)!write(2, what, child_strlen(what));
    _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

/* Reads exactly n bytes; false at EOF or on an error. */
CHILD_FN static bool read_full(int fd, char *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = read(fd, buf, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        buf += k;
        n -= (size_t)k;
    }
    return true;
}

/* Splits `n` NUL-terminated strings at s into v (NULL-terminated); false if they do not fit. */
CHILD_FN static bool split_strings(char **v, size_t n, char **s, const char *end)
{
    for (size_t i = 0; i < n; i++) {
        char *p = *s;
        while (p < end && *p)
            p++;
        if (p >= end)
            return false;
        v[i] = *s;
        *s = p + 1;
    }
    v[n] = NULL;
    return true;
}

/* A failure of the box rather than of one job (PID 1's setup, a program that cannot wait for
 * its job, a job message that is not one): reported on the job socket, which the daemon reads
 * for every job, then the box ends. */
CHILD_FN _Noreturn static void fail_box(const struct sbx_child_args *a, int step, int err,
                                        int detail)
{
    struct sbx_box_report rep = {
        .kind = SBX_REPORT_ERROR,
        .error = {.step = step, .err = err > 0 ? err : EIO, .detail = detail},
    };

    handoff.box_done = true;
    HANDOFF_SYNC();
    (void)!write(a->job_fd, &rep, sizeof(rep));
    _exit(127);
}

/* Waits for a job. EOF before a header means the daemon is done with this box: exit quietly.
 * The descriptors are moved above 2, so the dup2s that put them in place never overwrite one
 * another; the strings land in one fresh anonymous mapping,
 * pointer arrays first. */
CHILD_FN static void receive_job(const struct sbx_child_args *a, struct sbx_job_header *h,
                                 struct child_job *job)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * (SBX_JOB_FDS + SBX_SPEC_CGROUP_FDS_MAX))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = h, .iov_len = sizeof(*h)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *cm;
    size_t ptrs, total, n_fds = 0;
    char *area, *str;
    ssize_t k;

    do
        k = recvmsg(a->job_fd, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);
    while (k < 0 && errno == EINTR);
    if (k == 0) {
        handoff.box_done = true;
        HANDOFF_SYNC();
        _exit(0);
    }
    cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
        n_fds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (k != (ssize_t)sizeof(*h) || h->magic != SBX_JOB_MAGIC || (msg.msg_flags & MSG_CTRUNC) ||
        h->n_cgroup_fds > SBX_SPEC_CGROUP_FDS_MAX || n_fds != SBX_JOB_FDS + h->n_cgroup_fds ||
        h->argc == 0 || h->strings_len > SBX_JOB_STRINGS_MAX ||
        h->argc + (uint64_t)h->envc > h->strings_len)
        fail_box(a, SBX_STEP_JOB, EPROTO, 0);
    __builtin_memcpy(job->fds, CMSG_DATA(cm), n_fds * sizeof(int));
    job->n_fds = n_fds;
    for (size_t i = 0; i < n_fds; i++)
        if (job->fds[i] <= 2) {
            int moved = fcntl(job->fds[i], F_DUPFD_CLOEXEC, 3);
            if (moved < 0)
                fail_box(a, SBX_STEP_JOB, errno, 0);
            close(job->fds[i]);
            job->fds[i] = moved;
        }
    ptrs = ((size_t)h->argc + h->envc + 2) * sizeof(char *);
    total = ptrs + h->strings_len;
    area = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        fail_box(a, SBX_STEP_JOB, errno, 0);
    handoff.area = area;
    handoff.area_len = total;
    if (!read_full(a->job_fd, area + ptrs, h->strings_len))
        fail_box(a, SBX_STEP_JOB, EPROTO, 0);
    job->h = h;
    job->argv = (char **)(void *)area;
    job->envp = job->argv + h->argc + 1;
    str = area + ptrs;
    if (!split_strings(job->argv, h->argc, &str, area + total) ||
        !split_strings(job->envp, h->envc, &str, area + total))
        fail_box(a, SBX_STEP_JOB, EPROTO, 0);
}

/* A job's program, cloned by PID 1 as soon as the box is ready for a job, under PID 1's
 * seccomp filter (which allows everything that follows). Before its job: default signals (PID 1's),
 * own session, an IPC namespace of its own (SysV objects and POSIX queues of an earlier job on this
 * box stay in that job's namespace, gone with it). Then it waits on the job socket; with the job:
 * the job's leaf cgroup, its fds, limits, the slot uid, no capabilities, no_new_privs, execve.
 */
CHILD_FN _Noreturn static void run_program(const struct sbx_child_args *a)
{
    int keep[] = {0, 1, 2}, step, r;
    struct sbx_job_header h;
    struct child_job job;

    /* Signals: PID 1's defaults, copied at the clone (serve_jobs). */
    /* Own session: no controlling terminal to inject into, a process group of its own. */
    if (setsid() < 0)
        fail_box(a, SBX_STEP_FDS, errno, 0);
    if (unshare(CLONE_NEWIPC) < 0)
        fail_box(a, SBX_STEP_IPC, errno, 0);

    /* Ready: everything above may happen long before the job. */
    receive_job(a, &h, &job);
    /* Only now into the job's leaf: a leaf that holds nothing yet takes any limit (v1
     * refuses a memory limit below what is already charged), and nothing of the setup above
     * is counted as the job's. "0" moves the writer itself; the daemon (root) opened the
     * files. */
    step = SBX_STEP_CGROUP_JOIN;
    for (size_t i = SBX_JOB_FDS; i < job.n_fds; i++)
        if (pwrite(job.fds[i], "0", 1, 0) < 0)
            fail_job(step, errno, (int)(i - SBX_JOB_FDS));
    /* Sources are all above 2 (receive_job saw to it), so 0-2 can be set in any order. */
    if (dup2(job.fds[SBX_JOB_FD_STDIN], 0) < 0 || dup2(job.fds[SBX_JOB_FD_STDOUT], 1) < 0 ||
        dup2(job.fds[SBX_JOB_FD_STDERR], 2) < 0)
        fail_job(SBX_STEP_FDS, errno, 0);
    close_all_except(keep, ARRAY_SIZE(keep));
    r = apply_rlimits(job.h);
    if (r < 0)
        fail_job(SBX_STEP_RLIMIT, -r, 0);
    r = drop_privileges(a, &step);
    if (r < 0)
        fail_job(step, -r, 0);
    if (chdir("/box/submission") < 0)
        fail_job(SBX_STEP_CHDIR, errno, 0);
    HANDOFF_SYNC(); /* the job's mapping, for PID 1 to unmap */
    execve(job.argv[0], job.argv, job.envp);
    exec_failed(job.argv[0], errno);
}

/* The template: a root for every box of this slot and plan, built once in a mount namespace
 * of its own (the clone's), which goes to the daemon as a descriptor; this process then exits
 * and the namespace lives on that descriptor alone. */
CHILD_FN _Noreturn static void build_template(const struct sbx_child_args *a)
{
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } control = {0};
    int fds[2]; /* the mount namespace, its root */
    char byte = 'T';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    size_t failed = 0;
    int r;

    /* opened before the pivot: the namespace is the same after it, /proc is not */
    fds[0] = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fds[0] < 0)
        fail(a->error_fd, SBX_STEP_TEMPLATE_SEND, errno, 0);
    /* Nothing mounted below may propagate back to the daemon's namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        fail(a->error_fd, SBX_STEP_MOUNT_PRIVATE, errno, 0);
    if (mount("capsule-root", a->box_root, "tmpfs", MS_NOSUID | MS_NODEV,
              "size=1m,nr_inodes=512,mode=0755") < 0)
        fail(a->error_fd, SBX_STEP_ROOT_TMPFS, errno, 0);
    r = sbx__mount_plan_apply(a->plan, SBX_APPLY_TEMPLATE, 0, &failed);
    if (r < 0)
        fail(a->error_fd, SBX_STEP_MOUNT_OP, -r, (int)failed);
    /* pivot_root(".", ".") stacks the old root on the new one; the detached unmount then
     * drops every host mount from this namespace, so nothing else of the host is reachable. */
    if (chdir(a->box_root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        fail(a->error_fd, SBX_STEP_PIVOT, errno, 0);
    /* Read-only for good: boxes share this tmpfs (a read-only mount updates no atime either),
     * and each box's copy keeps the flag. */
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        fail(a->error_fd, SBX_STEP_ROOT_RDONLY, errno, 0);
    /* The root goes along: a setns lands on the namespace's own root, which is this one
     * unless the daemon runs under chroot(2) (then the pivot replaced only the chroot's). */
    fds[1] = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fds[1] < 0)
        fail(a->error_fd, SBX_STEP_TEMPLATE_SEND, errno, 0);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(fds));
    __builtin_memcpy(CMSG_DATA(cm), fds, sizeof(fds));
    if (sendmsg(a->job_fd, &msg, MSG_NOSIGNAL) != 1)
        fail(a->error_fd, SBX_STEP_TEMPLATE_SEND, errno, 0);
    _exit(0);
}

/* A box's root: a private copy of the template's mounts (nothing of the host is in them), its
 * own procfs on top, its own host name. Returns a descriptor of the box's ns_last_pid. */
CHILD_FN static int enter_template(const struct sbx_child_args *a)
{
    size_t failed = 0;
    int r, last_pid_fd;

    /* into the template, onto its root, then a copy of it all: the copy takes this root and
     * working directory along, mapped onto its own mounts */
    if (setns(a->template_fd, CLONE_NEWNS) < 0 || fchdir(a->template_root_fd) < 0 ||
        chroot(".") < 0 || close(a->template_fd) < 0 || close(a->template_root_fd) < 0 ||
        unshare(CLONE_NEWNS) < 0)
        fail_box(a, SBX_STEP_ROOT_TEMPLATE, errno, 0);
    /* The UTS namespace is the box's own: the host's name is not the program's business. */
    if (sethostname("capsule", 7) < 0)
        fail_box(a, SBX_STEP_HOSTNAME, errno, 0);
    /* Every job's processes are numbered from 2 again (serve_jobs), so no job can count what
     * the jobs before it on this box started. Only a procfs mounted read-write lets PID 1
     * write that counter; this one lives just long enough to open it, before the box's
     * read-only /proc goes on the same mount point. */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        fail_box(a, SBX_STEP_PID_RESET, errno, 0);
    last_pid_fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (last_pid_fd < 0 || umount2("/proc", MNT_DETACH) < 0)
        fail_box(a, SBX_STEP_PID_RESET, errno, 0);
    r = sbx__mount_plan_apply(a->plan, SBX_APPLY_BOX, child_strlen(a->box_root), &failed);
    if (r < 0)
        fail_box(a, SBX_STEP_MOUNT_OP, -r, (int)failed);
    if (chdir("/") < 0)
        fail_box(a, SBX_STEP_ROOT_TEMPLATE, errno, 0);
    return last_pid_fd;
}

/* Reaps every child until the main program has ended, then kills everything else of the job
 * (every process of the PID namespace but this one: kill(-1) from its PID 1) and reaps until
 * none is left. A process that is forking while the kill goes out has its child killed too
 * (the kernel delivers such signals to forks in flight); one that is still alive when no
 * zombie is waiting is killed again. Returns the main program's wait status. */
CHILD_FN static int reap_job(pid_t program)
{
    bool program_done = false;
    int status, program_status = 0;

    for (;;) {
        pid_t pid =
            (pid_t)syscall(SYS_wait4, -1, &status, __WALL | (program_done ? WNOHANG : 0), NULL);
        if (pid == 0) { /* WNOHANG: something lives on */
            (void)kill(-1, SIGKILL);
            pid = (pid_t)syscall(SYS_wait4, -1, &status, __WALL, NULL);
        }
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD && program_done)
                return program_status;
            _exit(126); /* ECHILD before the program ended cannot happen; fail loudly */
        }
        if (pid == program) {
            program_status = status;
            program_done = true;
            (void)kill(-1, SIGKILL);
        }
    }
}

#define PROGRAM_STACK_SIZE (256 * 1024)

CHILD_FN static int program_main(void *arg)
{
    run_program(arg);
}

/* Job after job: clone the program (which waits for its job), wait until it has exec'd,
 * reap the job, make its pids free again, report. vfork-style, as posix_spawn does: the
 * program borrows this small address space on a stack of its own until its execve, and PID 1
 * sleeps until then, so nothing is copied or torn down by the execve. CLONE_VFORK also keeps
 * the OOM killer off the program until then (it skips a child in vfork: the kill would take
 * the parent sharing its memory), so a limit too small for the program's own setup fails that
 * allocation (ENOMEM: fail_job, the program's verdict). Without it the kill took PID 1 too,
 * and the leaf's counters did not show it (failcnt 0, measured on 6.18): a lost box. A limit
 * too small for the exec gets the new image OOM-killed: the monitor reads that from the leaf.
 * The stack serves program after program: each is done with it once it has exec'd or exited. */
CHILD_FN _Noreturn static void serve_jobs(const struct sbx_child_args *a, int last_pid_fd)
{
    void *stack = mmap(NULL, PROGRAM_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

    if (stack == MAP_FAILED)
        fail_box(a, SBX_STEP_CLONE_PROGRAM, errno, 0);
    /* The daemon blocks SIGTERM/SIGINT/SIGHUP (signalfd) and ignores SIGPIPE; a blocked mask
     * and ignored dispositions survive execve, and a clone copies them: reset once here, every
     * program starts from the defaults (a program's clone without CLONE_SIGHAND gets a copy of
     * this table, and PID 1 installs no handler). PID 1 itself loses nothing: a namespace's init
     * never receives a signal it has no handler for, only SIGKILL and SIGSTOP from outside.
     * Once per box, not per program: 62 sigaction calls fewer per job. */
    if (reset_signals() < 0)
        fail_box(a, SBX_STEP_SIGNALS, errno, 0);
    for (;;) {
        struct sbx_box_report rep = {.kind = SBX_REPORT_STATUS};
        long pid;

        handoff = (struct program_handoff){0};
        pid = clone(program_main, (char *)stack + PROGRAM_STACK_SIZE,
                    CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)a);
        if (pid < 0)
            fail_box(a, SBX_STEP_CLONE_PROGRAM, errno, 0);
        HANDOFF_SYNC();
        /* the program has exec'd (or exited): what it left in this memory is PID 1's to free */
        if (handoff.area)
            (void)munmap(handoff.area, handoff.area_len);
        if (handoff.box_done) {
            (void)reap_job((pid_t)pid);
            _exit(0);
        }
        rep.wait_status = reap_job((pid_t)pid);
        if (handoff.job_failed) { /* as a failing step always did, it ends the box */
            rep.kind = SBX_REPORT_ERROR;
            rep.error = handoff.error;
            (void)!write(a->job_fd, &rep, sizeof(rep));
            _exit(0);
        }
        if (pwrite(last_pid_fd, "1", 1, 0) != 1)
            fail_box(a, SBX_STEP_PID_RESET, errno, 0);
        if (write(a->job_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            _exit(0); /* the daemon has gone or given up on this box */
    }
}

/* The capabilities PID 1 keeps to start each job's program as root: the program's uid and
 * groups (SETUID, SETGID), its IPC namespace (SYS_ADMIN, which also resets ns_last_pid and
 * lets PID 1 load seccomp before no_new_privs), its rlimits (SYS_RESOURCE), and killing what
 * is left of a job (KILL). The program gives up all of them before its execve; the bounding
 * set is empty already. */
#define PID1_CAPS                                                                                  \
    ((1u << CAP_SETUID) | (1u << CAP_SETGID) | (1u << CAP_SYS_ADMIN) | (1u << CAP_SYS_RESOURCE) |  \
     (1u << CAP_KILL))

CHILD_FN void sbx__child_supervisor(const struct sbx_child_args *a)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    int keep[5];
    size_t n = 0;
    int last_pid_fd, r;

    /* Dies with the daemon thread that cloned it (slot workers live as long as the daemon).
     * getppid() cannot check for a race here: it is 0 across the PID namespace boundary. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
        if (a->mode == SBX_SPEC_MODE_TEMPLATE)
            fail(a->error_fd, SBX_STEP_PDEATHSIG, errno, 0);
        fail_box(a, SBX_STEP_PDEATHSIG, errno, 0);
    }
    /* Other slots' pipes were inherited by the clone: keep only ours. */
    keep[n++] = a->job_fd;
    keep[n++] = a->error_fd;
    keep[n++] = a->netns_fd;
    keep[n++] = a->template_fd;
    keep[n++] = a->template_root_fd;
    close_all_except(keep, n);
    if (a->mode == SBX_SPEC_MODE_TEMPLATE)
        build_template(a);
    if (a->netns_fd >= 0 && (setns(a->netns_fd, CLONE_NEWNET) < 0 || close(a->netns_fd) < 0))
        fail_box(a, SBX_STEP_NETNS, errno, 0);
    last_pid_fd = enter_template(a);
    /* PID 1 keeps nothing the program could use: only what it needs to start programs, not
     * dumpable (so /proc/1 stays closed to the program, which hidepid hides it from anyway),
     * only the job socket and the counter. */
    r = drop_bounding_set();
    if (r < 0)
        fail_box(a, SBX_STEP_CAPABILITIES, -r, 0);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* of those, what the daemon has (a container may have withheld some) */
    if (syscall(SYS_capget, &hdr, data) < 0)
        fail_box(a, SBX_STEP_CAPABILITIES, errno, 0);
    data[0].permitted &= PID1_CAPS;
    data[0].effective = data[0].permitted;
    data[0].inheritable = 0;
    data[1] = (struct __user_cap_data_struct){0, 0, 0};
    if (syscall(SYS_capset, &hdr, data) < 0)
        fail_box(a, SBX_STEP_CAPABILITIES, errno, 0);
    /* Seccomp once, for PID 1 and every program it clones (a filter is inherited, never
     * copied): as root with CAP_SYS_ADMIN, so without no_new_privs; every call PID 1 and a
     * program before its execve make afterwards is one the filter allows. */
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, a->seccomp, 0, 0) < 0)
        fail_box(a, SBX_STEP_SECCOMP, errno, 0);
    serve_jobs(a, last_pid_fd);
}

/* In the daemon's clone, on a stack of its own, the cloning thread asleep (CLONE_VFORK): the
 * descriptors the helper needs lose close-on-exec, every other one gains it, and the helper
 * replaces this image. glibc's syscall() may write errno, into the sleeping thread's TLS: it
 * reads errno only after a call of its own fails, and clone3 returned a pid there. */
CHILD_FN _Noreturn void sbx__child_exec_helper(const struct sbx_helper_exec *h)
{
    static char *const no_env[] = {NULL};
    /* before the execve too (it keeps the setting for a plain binary): a daemon killed
     * while the helper starts takes the box with it, whatever instant it dies at */
    long r = syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

    if (r >= 0)
        r = syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);

    for (size_t i = 0; r >= 0 && i < h->n_keep; i++)
        if (h->keep[i] >= 0)
            r = syscall(SYS_fcntl, h->keep[i], F_SETFD, 0);
    if (r >= 0)
        (void)syscall(SYS_execveat, h->helper_fd, "", h->argv, no_env, AT_EMPTY_PATH);
    fail(h->error_fd, SBX_STEP_HELPER, errno, 0);
}
