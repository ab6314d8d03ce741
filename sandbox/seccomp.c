/* Seccomp denylist (DESIGN.md D6): default allow on top of the namespaces, each listed call
 * failing with an errno rather than a kill, because glibc, the JVM and libuv probe syscalls at
 * start and must see an ordinary error. Built once with libseccomp at startup and exported to
 * raw BPF, so the child loads it with prctl(PR_SET_SECCOMP) and never calls libseccomp after
 * clone (its allocations and locks are not safe there).
 *
 * Arguments: a filter sees the full 64-bit registers while the kernel reads an int argument
 * from the low 32 bits only. So an allowlist of values is written as "deny anything not
 * exactly equal" (set high bits fail the equality and are denied), and a denied value of an
 * unsigned int argument is matched with a mask on the low 32 bits (high bits cannot hide it).
 * libseccomp 2.5.4 accepts one comparison per argument in a rule (-EINVAL otherwise), hence
 * one rule per value where a set is needed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"

#define A(n, o, a)                                                                                 \
    {                                                                                              \
        .arg = (n), .op = (o), .datum_a = (a)                                                      \
    }
/* Matches when the low 32 bits of argument n equal v (an unsigned int argument). */
#define LOW32(n, v)                                                                                \
    {                                                                                              \
        .arg = (n), .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffu, .datum_b = (v)               \
    }
/* Matches when every bit of flag is set in argument n. */
#define HAS(n, f)                                                                                  \
    {                                                                                              \
        .arg = (n), .op = SCMP_CMP_MASKED_EQ, .datum_a = (f), .datum_b = (f)                       \
    }

struct rule {
    const char *syscall;
    int err;
    unsigned n_args;
    struct scmp_arg_cmp args[2];
    int (*add)(scmp_filter_ctx ctx, const struct rule *rule); /* generated rule groups */
    const char *when;
    const char *reason;
    bool deny_locks_only; /* see LOCK_RULE */
};

static int add_socket_families(scmp_filter_ctx ctx, const struct rule *rule);
static int add_socketpair_families(scmp_filter_ctx ctx, const struct rule *rule);

#define NS_CLONE(flag)                                                                             \
    {                                                                                              \
        "clone", EPERM, 1, {HAS(0, flag)}, NULL, "flags include " #flag,                           \
            "a new namespace; a user namespace would grant every capability inside it (D5)"        \
    }

#define LOCK_RULE(name, n, cmp, w)                                                                 \
    {                                                                                              \
        name, ENOLCK, n, cmp, NULL, w,                                                             \
            "fallback for a slot without private inodes: locks on shared inodes are a channel "    \
            "between boxes",                                                                       \
            true                                                                                   \
    }

static const struct rule rules[] = {
    {"clone3", ENOSYS,
     .reason = "its flags sit in memory a filter cannot read; ENOSYS makes "
               "glibc and others fall back to clone, whose flags are checked"},
    {"io_uring_setup", ENOSYS,
     .reason = "io_uring runs operations from kernel workers that "
               "seccomp never sees; ENOSYS makes runtimes fall back"},
    {"io_uring_enter", ENOSYS, .reason = "as io_uring_setup"},
    {"io_uring_register", ENOSYS, .reason = "as io_uring_setup"},
    {"unshare",
     EPERM,
     1,
     {A(0, SCMP_CMP_NE, CLONE_NEWIPC)},
     NULL,
     "flags other than exactly CLONE_NEWIPC (PID 1 gives each job's program its own IPC "
     "namespace under this filter; without CAP_SYS_ADMIN the kernel refuses it with EPERM)",
     "new namespaces: a user namespace grants every capability in it "
     "and unlocks the rest (Debian allows unprivileged userns)"},
    {"setns", EPERM, .reason = "joining another namespace"},
    NS_CLONE(CLONE_NEWNS),
    NS_CLONE(CLONE_NEWCGROUP),
    NS_CLONE(CLONE_NEWUTS),
    NS_CLONE(CLONE_NEWIPC),
    NS_CLONE(CLONE_NEWUSER),
    NS_CLONE(CLONE_NEWPID),
    NS_CLONE(CLONE_NEWNET),
    /* CLONE_NEWTIME (0x80) lies in clone()'s exit-signal byte, where the kernel never reads it
     * as a flag; it is reachable through clone3 and unshare only, both denied above. */
    {"mount", EPERM, .reason = "the box's mount tree is fixed by the supervisor"},
    {"umount2", EPERM, .reason = "would uncover what the box root hides"},
    {"pivot_root", EPERM, .reason = "mount tree change"},
    {"chroot", EPERM, .reason = "mount tree change; also a classic escape with an open dirfd"},
    {"move_mount", EPERM, .reason = "new mount API: mount tree change"},
    {"open_tree", EPERM, .reason = "new mount API: detached copies of mounts"},
    {"fsopen", EPERM, .reason = "new mount API: filesystem contexts"},
    {"fsconfig", EPERM, .reason = "new mount API: filesystem contexts"},
    {"fsmount", EPERM, .reason = "new mount API: filesystem contexts"},
    {"fspick", EPERM, .reason = "new mount API: reconfigures mounted filesystems"},
    {"mount_setattr", EPERM, .reason = "new mount API: could drop read-only or nosuid"},
    {"bpf", EPERM, .reason = "verifier and maps are kernel attack surface"},
    {"userfaultfd", EPERM, .reason = "stalls kernel accesses to user memory: exploit primitive"},
    {"perf_event_open", EPERM, .reason = "side channels and a long record of kernel bugs"},
    {"keyctl", EPERM, .reason = "keyrings are per uid, not per box: a channel and attack surface"},
    {"add_key", EPERM, .reason = "keyrings, as keyctl"},
    {"request_key", EPERM, .reason = "keyrings, as keyctl; may also call out to user space"},
    {"init_module", EPERM, .reason = "loading kernel code"},
    {"finit_module", EPERM, .reason = "loading kernel code"},
    {"delete_module", EPERM, .reason = "unloading kernel code"},
    {"kexec_load", EPERM, .reason = "booting another kernel"},
    {"kexec_file_load", EPERM, .reason = "booting another kernel"},
    {"reboot", EPERM, .reason = "host power state"},
    {"swapon", EPERM, .reason = "host swap"},
    {"swapoff", EPERM, .reason = "host swap"},
    {"syslog", EPERM, .reason = "the kernel log shows host addresses and other jobs' events"},
    {"ptrace", EPERM, .reason = "inspecting or steering other processes"},
    {"process_vm_readv", EPERM, .reason = "reading another process's memory"},
    {"process_vm_writev", EPERM, .reason = "writing another process's memory"},
    {"open_by_handle_at", EPERM, .reason = "opens files by handle past the mount tree (shocker)"},
    {"name_to_handle_at", EPERM, .reason = "makes handles for open_by_handle_at"},
    {"acct", EPERM, .reason = "process accounting is host-wide"},
    {"quotactl", EPERM, .reason = "host filesystem quotas"},
    {"quotactl_fd", EPERM, .reason = "host filesystem quotas"},
    {"settimeofday", EPERM, .reason = "the clock is host-wide"},
    {"clock_settime", EPERM, .reason = "the clock is host-wide"},
    {"clock_adjtime", EPERM, .reason = "the clock is host-wide"},
    {"adjtimex", EPERM, .reason = "the clock is host-wide"},
    {"setdomainname", EPERM, .reason = "no use in a job; the name is fixed per box"},
    {"sethostname", EPERM, .reason = "no use in a job; the name is fixed per box"},
    {"vhangup", EPERM, .reason = "hangs up the terminal"},
    {"lookup_dcookie", EPERM, .reason = "profiling interface that reveals kernel paths"},
    {"fanotify_init", EPERM, .reason = "filesystem-wide event monitoring"},
    {"pidfd_getfd", EPERM, .reason = "takes descriptors out of another process"},
    {"process_madvise", EPERM, .reason = "acts on another process's memory"},
    {"iopl", EPERM, .reason = "raw I/O port access"},
    {"ioperm", EPERM, .reason = "raw I/O port access"},
    {"personality",
     EPERM,
     1,
     {A(0, SCMP_CMP_NE, 0xffffffffu)},
     NULL,
     "argument other than 0xffffffff (the query)",
     "READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE and the like weaken exploit mitigations; one "
     "comparison per argument in libseccomp 2.5 leaves room to allow only the query"},
    {"socket",
     EAFNOSUPPORT,
     0,
     {},
     add_socket_families,
     "domain other than AF_UNIX, AF_INET, AF_INET6, AF_NETLINK",
     "packet, vsock, bluetooth, tipc... reach past the slot's empty netns or add attack surface"},
    {"socket",
     EPROTONOSUPPORT,
     2,
     {A(0, SCMP_CMP_EQ, AF_NETLINK), A(2, SCMP_CMP_NE, NETLINK_ROUTE)},
     NULL,
     "AF_NETLINK with a protocol other than NETLINK_ROUTE",
     "audit, uevent, sock_diag and the rest expose the host; route serves getaddrinfo and ip"},
    {"socketpair",
     EAFNOSUPPORT,
     0,
     {},
     add_socketpair_families,
     "domain other than AF_UNIX",
     "as socket: only unix socket pairs have a use"},
    {"ioctl",
     EPERM,
     1,
     {LOW32(1, TIOCSTI)},
     NULL,
     "request TIOCSTI",
     "pushes input into a terminal that another process reads"},
    {"ioctl",
     EPERM,
     1,
     {LOW32(1, TIOCLINUX)},
     NULL,
     "request TIOCLINUX",
     "console selection paste injects input like TIOCSTI"},
    /* File locks: allowed, because no inode a box can lock is seen outside its slot (the
     * slot's private overlays and device nodes, the daemon's squat on the host-wide anon and
     * nsfs inodes: private.c). A box whose slot lacks any of that gets this filter with the
     * rules below: a lock on a shared read-only inode would be a channel between boxes. */
    LOCK_RULE("flock", 0, {}, NULL),
    LOCK_RULE("fcntl", 1, {LOW32(1, F_SETLK)}, "F_SETLK"),
    LOCK_RULE("fcntl", 1, {LOW32(1, F_SETLKW)}, "F_SETLKW"),
    LOCK_RULE("fcntl", 1, {LOW32(1, F_OFD_SETLK)}, "F_OFD_SETLK"),
    LOCK_RULE("fcntl", 1, {LOW32(1, F_OFD_SETLKW)}, "F_OFD_SETLKW"),
};

/* libseccomp returns negative errno values, documented as a small set; anything else becomes
 * EINVAL so callers always see an errno. */
static int seccomp_errno(int r)
{
    return r < 0 ? (r > -4096 ? r : -EINVAL) : 0;
}

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

static int add_one(scmp_filter_ctx ctx, const char *syscall, int err, unsigned n_args,
                   const struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(syscall);

    /* Not a syscall of this architecture (iopl on arm64): nothing to deny. The unit test
     * checks every name resolves on x86_64, so a typo cannot hide here. */
    if (nr == __NR_SCMP_ERROR)
        return 0;
    return seccomp_errno(
        seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO((uint32_t)err), nr, n_args, args));
}

/* Deny `domain` in arg 0 unless it is exactly one of allowed[] (all <= max): one EQ rule per
 * value up to max, and GT max for the rest, high bits included. */
static int add_family_rules(scmp_filter_ctx ctx, const struct rule *rule, const int *allowed,
                            size_t n_allowed, int max)
{
    struct scmp_arg_cmp cmp = A(0, SCMP_CMP_GT, (scmp_datum_t)max);
    int r;

    for (int v = 0; v < max; v++) {
        bool ok = false;
        for (size_t i = 0; i < n_allowed; i++)
            ok = ok || allowed[i] == v;
        if (ok)
            continue;
        struct scmp_arg_cmp eq = A(0, SCMP_CMP_EQ, (scmp_datum_t)v);
        r = add_one(ctx, rule->syscall, rule->err, 1, &eq);
        if (r < 0)
            return r;
    }
    return add_one(ctx, rule->syscall, rule->err, 1, &cmp);
}

static int add_socket_families(scmp_filter_ctx ctx, const struct rule *rule)
{
    static const int allowed[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};

    return add_family_rules(ctx, rule, allowed, ARRAY_SIZE(allowed), AF_NETLINK);
}

static int add_socketpair_families(scmp_filter_ctx ctx, const struct rule *rule)
{
    static const int allowed[] = {AF_UNIX};

    return add_family_rules(ctx, rule, allowed, ARRAY_SIZE(allowed), AF_UNIX);
}

/* seccomp_export_bpf_mem only arrives in libseccomp 2.6: export to a memfd, read it back. */
static int export_bpf(scmp_filter_ctx ctx, struct sbx_bpf *ret)
{
    _cleanup_close_ int fd = memfd_create("capsule-seccomp", MFD_CLOEXEC);
    _cleanup_free_ struct sock_filter *insns = NULL;
    struct stat st;
    size_t size, done = 0;
    int r;

    if (fd < 0)
        return -errno;
    r = seccomp_errno(seccomp_export_bpf(ctx, fd));
    if (r < 0)
        return r;
    if (fstat(fd, &st) < 0)
        return -errno;
    size = (size_t)st.st_size;
    if (size == 0 || size % sizeof(struct sock_filter) != 0)
        return -EBADMSG;
    if (size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -E2BIG; /* the kernel would refuse it */
    insns = malloc(size);
    if (!insns)
        return -ENOMEM;
    while (done < size) {
        ssize_t k = pread(fd, (char *)insns + done, size - done, (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        done += (size_t)k;
    }
    ret->insns = TAKE_PTR(insns);
    ret->len = (unsigned short)(size / sizeof(struct sock_filter));
    return 0;
}

int sbx__seccomp_build(bool deny_locks, struct sbx_bpf *ret)
{
    _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int r;

    if (!ctx)
        return -ENOMEM;
    /* seccomp_init holds the native architecture only, and nothing is added: i386 through
     * int 0x80 and x32 (nr | 0x40000000, which libseccomp checks on x86_64) take the
     * bad-architecture action, a whole-process kill (plain KILL ends one thread only). */
    r = seccomp_errno(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS));
    if (r < 0)
        return r;
    /* Every allowed syscall (read, write...) runs the filter: a binary search over the listed
     * syscall numbers instead of a linear chain through all of them. */
    r = seccomp_errno(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2));
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct rule *rule = &rules[i];
        if (rule->deny_locks_only && !deny_locks)
            continue;
        r = rule->add ? rule->add(ctx, rule)
                      : add_one(ctx, rule->syscall, rule->err, rule->n_args, rule->args);
        if (r < 0)
            return r;
    }
    return export_bpf(ctx, ret);
}

void sbx__seccomp_done(struct sbx_bpf *bpf)
{
    if (!bpf)
        return;
    free(bpf->insns);
    bpf->insns = NULL;
    bpf->len = 0;
}

int sbx__seccomp_rule_info(size_t index, struct sbx_seccomp_rule_info *ret)
{
    if (index >= ARRAY_SIZE(rules))
        return -ENOENT;
    *ret = (struct sbx_seccomp_rule_info){
        .syscall = rules[index].syscall,
        .err = rules[index].err,
        .when = rules[index].when,
        .reason = rules[index].reason,
        .deny_locks_only = rules[index].deny_locks_only,
    };
    return 0;
}
