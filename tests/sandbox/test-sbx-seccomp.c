/* The seccomp denylist as BPF: each test forks a child that sets no_new_privs, loads the
 * program with prctl(PR_SET_SECCOMP) exactly as the box program does, and checks that denied
 * calls fail with their errno and allowed ones still work. Arguments are chosen so that a call
 * the filter failed to stop is harmless (bad magic, missing paths, fd -1). */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* In the filtered child: report and _exit (exit() would run sanitizer hooks that ptrace). */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s (errno %d)\n", __FILE__, __LINE__, #cond, errno);           \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)
#define DENIED(call, e)                                                                            \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long _r = (long)(call);                                                                    \
        if (_r == 0 && getpid() != self)                                                           \
            _exit(0); /* a clone that got through: the copy leaves, the check below fails */       \
        if (_r != -1 || errno != (e)) {                                                            \
            fprintf(stderr, "%s:%d: %s = %ld errno %d (%s), want errno %d\n", __FILE__, __LINE__,  \
                    #call, _r, errno, strerror(errno), e);                                         \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)
#define ALLOWED(call) CHECK((long)(call) >= 0)

static pid_t self;
/* Which of the context's two filters run_filtered loads: the fallback one adds ENOLCK for locks. */
static bool deny_locks;

/* Forks, loads the filter in the child, runs fn there; returns the child's wait status. The
 * BPF is built in the parent: the child, like the box program, calls no libseccomp. */
static int run_filtered(void (*fn)(void))
{
    struct sbx_bpf bpf = {0};
    struct sock_fprog prog;
    int status;
    pid_t pid;

    ASSERT_OK(sbx__seccomp_build(deny_locks, &bpf));
    prog = (struct sock_fprog){.len = bpf.len, .filter = bpf.insns};
    fflush(NULL);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        self = getpid();
        /* No controlling terminal: vhangup and TIOCSTI have nothing to act on. */
        (void)setsid();
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0);
        fn();
        _exit(0);
    }
    sbx__seccomp_done(&bpf);
    ASSERT_NULL(bpf.insns);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return status;
}

static void expect_ok(void (*fn)(void))
{
    int status = run_filtered(fn);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("filtered child failed: status 0x%x", status);
}

/* ---- the program ---------------------------------------------------------------------------- */

TEST(bpf_shape)
{
    struct sbx_bpf bpf = {0}, fallback = {0};

    ASSERT_OK(sbx__seccomp_build(false, &bpf));
    ASSERT_OK(sbx__seccomp_build(true, &fallback));
    ASSERT_NOT_NULL(bpf.insns);
    ASSERT_TRUE(fallback.len > bpf.len); /* the lock rules */
    sbx__seccomp_done(&fallback);
    ASSERT_GE(bpf.len, 10);
    ASSERT_LE(bpf.len, BPF_MAXINSNS);
    ASSERT_EQ(BPF_CLASS(bpf.insns[bpf.len - 1].code), BPF_RET);
    sbx__seccomp_done(&bpf);
    sbx__seccomp_done(&bpf); /* idempotent */
    sbx__seccomp_done(NULL);
}

TEST(rule_table)
{
    struct sbx_seccomp_rule_info info;
    size_t n = 0;

    for (; sbx__seccomp_rule_info(n, &info) == 0; n++) {
        /* A misspelt name would be skipped silently at build time: every one must resolve. */
        if (seccomp_syscall_resolve_name(info.syscall) == __NR_SCMP_ERROR)
            TEST_FAIL("rule %zu: unknown syscall %s", n, info.syscall);
        ASSERT_TRUE(info.err > 0);
        ASSERT_TRUE(info.reason && info.reason[0]);
    }
    ASSERT_GE(n, 60);
    ASSERT_EQ(sbx__seccomp_rule_info(n, &info), -ENOENT);
}

/* ---- allowed -------------------------------------------------------------------------------- */

static void *thread_main(void *arg)
{
    return arg;
}

static void allowed_calls(void)
{
    int sv[2], status, fd;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    static int token;
    pthread_t t;
    void *out = NULL;
    pid_t pid;

    ALLOWED(getpid());
    ALLOWED(write(2, "", 0));
    /* fork is clone without namespace flags. */
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(7);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7);
    /* glibc tries clone3 first, sees ENOSYS and falls back to clone. */
    CHECK(pthread_create(&t, NULL, thread_main, &token) == 0);
    CHECK(pthread_join(t, &out) == 0 && out == &token);
    ALLOWED(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    close(fd);
    ALLOWED(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    close(fd);
    if (access("/proc/sys/net/ipv6", F_OK) == 0) {
        ALLOWED(fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        close(fd);
    }
    ALLOWED(fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    close(fd);
    ALLOWED(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    close(sv[0]);
    close(sv[1]);
    ALLOWED(personality(0xffffffff));
    ALLOWED(fd = memfd_create("lock", MFD_CLOEXEC));
    ALLOWED(fcntl(fd, F_GETLK, &fl));
    ALLOWED(fcntl(fd, F_GETFD));
    close(fd);
}

TEST(allowed_calls_work)
{
    expect_ok(allowed_calls);
}

/* ---- denied --------------------------------------------------------------------------------- */

static void namespaces(void)
{
    static const unsigned long flags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
                                          CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
                                          CLONE_NEWNET};

    DENIED(unshare(CLONE_NEWUSER), EPERM);
    DENIED(unshare(CLONE_NEWNS), EPERM);
    /* exactly CLONE_NEWIPC passes (PID 1's per-job IPC namespace): nothing more with it */
    DENIED(unshare(CLONE_NEWIPC | CLONE_NEWUSER), EPERM);
    DENIED(unshare(CLONE_NEWIPC | CLONE_NEWNS), EPERM);
    DENIED(syscall(SYS_unshare, (1UL << 32) | CLONE_NEWIPC), EPERM);
    DENIED(setns(-1, 0), EPERM);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        DENIED(syscall(SYS_clone, flags[i] | SIGCHLD, 0, 0, 0, 0), EPERM);
        /* The kernel reads the low 32 bits only: high garbage must not hide a flag. */
        DENIED(syscall(SYS_clone, (1UL << 32) | flags[i] | SIGCHLD, 0, 0, 0, 0), EPERM);
    }
    DENIED(syscall(SYS_clone3, NULL, 0), ENOSYS);
}

TEST(namespaces_denied)
{
    expect_ok(namespaces);
}

static void mounts(void)
{
    DENIED(mount("none", "/nonexistent-capsule", "tmpfs", 0, NULL), EPERM);
    DENIED(umount2("/nonexistent-capsule", 0), EPERM);
    DENIED(syscall(SYS_pivot_root, "/nonexistent-capsule", "/nonexistent-capsule"), EPERM);
    DENIED(chroot("/nonexistent-capsule"), EPERM);
    DENIED(syscall(SYS_move_mount, -1, "", -1, "", 0), EPERM);
    DENIED(syscall(SYS_open_tree, -1, "", 0), EPERM);
    DENIED(syscall(SYS_fsopen, "capsule-nonexistent", 0), EPERM);
    DENIED(syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0), EPERM);
    DENIED(syscall(SYS_fsmount, -1, 0, 0), EPERM);
    DENIED(syscall(SYS_fspick, -1, "", 0), EPERM);
    DENIED(syscall(SYS_mount_setattr, -1, "", 0, NULL, 0), EPERM);
}

TEST(mount_family_denied)
{
    expect_ok(mounts);
}

static void kernel_surface(void)
{
    DENIED(syscall(SYS_bpf, 0xffff, NULL, 0), EPERM);
    DENIED(syscall(SYS_userfaultfd, 0), EPERM);
    DENIED(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
    DENIED(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM);
    DENIED(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0), EPERM);
    DENIED(syscall(SYS_request_key, NULL, NULL, NULL, 0), EPERM);
    DENIED(syscall(SYS_init_module, NULL, 0, ""), EPERM);
    DENIED(syscall(SYS_finit_module, -1, "", 0), EPERM);
    DENIED(syscall(SYS_delete_module, "capsule_nonexistent", O_NONBLOCK), EPERM);
    DENIED(syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL), EPERM); /* bad flags */
    DENIED(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xdead0000UL), EPERM);
    DENIED(syscall(SYS_reboot, 0, 0, 0, NULL), EPERM); /* bad magic */
    DENIED(syscall(SYS_swapon, "/nonexistent-capsule", 0), EPERM);
    DENIED(syscall(SYS_swapoff, "/nonexistent-capsule"), EPERM);
    DENIED(syscall(SYS_syslog, 10, NULL, 0), EPERM);
    DENIED(syscall(SYS_ptrace, 0x7fffffff, 0, 0, 0), EPERM);
    DENIED(syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0), EPERM);
    DENIED(syscall(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0), EPERM);
    DENIED(syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
    DENIED(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0), EPERM);
    DENIED(syscall(SYS_acct, "/nonexistent-capsule/x"), EPERM);
    DENIED(syscall(SYS_quotactl, 0, NULL, 0, NULL), EPERM);
    DENIED(syscall(SYS_quotactl_fd, -1, 0, 0, NULL), EPERM);
    DENIED(syscall(SYS_pidfd_getfd, -1, 0, 0), EPERM);
    DENIED(syscall(SYS_process_madvise, -1, NULL, 0, 0, 0), EPERM);
    DENIED(syscall(SYS_fanotify_init, 0, 0), EPERM);
    DENIED(syscall(SYS_lookup_dcookie, 0, NULL, 0), EPERM);
    DENIED(syscall(SYS_vhangup), EPERM);
#ifdef SYS_iopl
    DENIED(syscall(SYS_iopl, 0), EPERM);
    DENIED(syscall(SYS_ioperm, 0, 0, 0), EPERM);
#endif
}

TEST(kernel_surface_denied)
{
    expect_ok(kernel_surface);
}

static void host_state(void)
{
    static char name[1000]; /* over 64 bytes: EINVAL if it got through */
    struct timespec ts = {0};
    struct timex tx = {0};

    DENIED(syscall(SYS_settimeofday, NULL, NULL), EPERM);
    DENIED(clock_settime(CLOCK_MONOTONIC, &ts), EPERM);
    DENIED(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx), EPERM);
    DENIED(adjtimex(&tx), EPERM);
    DENIED(sethostname(name, sizeof(name)), EPERM);
    DENIED(setdomainname(name, sizeof(name)), EPERM);
    /* Only the query: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, even PER_LINUX (0). */
    DENIED(personality(PER_LINUX32), EPERM);
    DENIED(personality(ADDR_NO_RANDOMIZE), EPERM);
    DENIED(personality(0), EPERM);
    DENIED(syscall(SYS_personality, 0x1ffffffffUL), EPERM);
}

TEST(host_state_denied)
{
    expect_ok(host_state);
}

static void sockets(void)
{
    int sv[2];

    DENIED(socket(AF_PACKET, SOCK_RAW, 0), EAFNOSUPPORT);
    DENIED(socket(AF_VSOCK, SOCK_STREAM, 0), EAFNOSUPPORT);
    DENIED(socket(AF_UNSPEC, SOCK_STREAM, 0), EAFNOSUPPORT);
    DENIED(socket(AF_BLUETOOTH, SOCK_STREAM, 0), EAFNOSUPPORT);
    DENIED(socket(AF_KEY, SOCK_RAW, 2), EAFNOSUPPORT);
    DENIED(socket(AF_ALG, SOCK_SEQPACKET, 0), EAFNOSUPPORT);
    /* The kernel would read AF_INET from the low 32 bits; the filter denies the whole value. */
    DENIED(syscall(SYS_socket, (1UL << 32) | AF_INET, SOCK_STREAM, 0), EAFNOSUPPORT);
    DENIED(socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT), EPROTONOSUPPORT);
    DENIED(socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT), EPROTONOSUPPORT);
    DENIED(socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG), EPROTONOSUPPORT);
    DENIED(syscall(SYS_socket, AF_NETLINK, SOCK_RAW, (1UL << 32) | NETLINK_ROUTE), EPROTONOSUPPORT);
    DENIED(socketpair(AF_INET, SOCK_STREAM, 0, sv), EAFNOSUPPORT);
    DENIED(socketpair(AF_VSOCK, SOCK_STREAM, 0, sv), EAFNOSUPPORT);
}

TEST(socket_families_denied)
{
    expect_ok(sockets);
}

static void ioctls(void)
{
    char c = 'x';
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    CHECK(fd >= 0);
    DENIED(ioctl(fd, TIOCSTI, &c), EPERM);
    DENIED(syscall(SYS_ioctl, fd, (1UL << 32) | TIOCSTI, &c), EPERM);
    DENIED(ioctl(fd, TIOCLINUX, &c), EPERM);
    DENIED(ioctl(fd, TCGETS, NULL), ENOTTY); /* other requests reach the driver */
    DENIED(syscall(SYS_io_uring_setup, 1, NULL), ENOSYS);
    DENIED(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0), ENOSYS);
    DENIED(syscall(SYS_io_uring_register, -1, 0, NULL, 0), ENOSYS);
}

TEST(ioctls_io_uring_denied)
{
    deny_locks = false;
    expect_ok(ioctls);
    deny_locks = true;
    expect_ok(ioctls);
}

/* A memfd is the caller's own inode: what is checked here is the filter, not the policy
 * (private.c and tests/security/test_locks.py check where locks may be taken). */
static void locks_work(void)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int mfd = memfd_create("lock", MFD_CLOEXEC), ofd = memfd_create("ofd", MFD_CLOEXEC);

    CHECK(mfd >= 0 && ofd >= 0);
    ALLOWED(flock(mfd, LOCK_EX));
    ALLOWED(fcntl(mfd, F_SETLK, &fl));
    ALLOWED(fcntl(mfd, F_SETLKW, &fl));
    ALLOWED(fcntl(mfd, F_GETLK, &fl));
    fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET}; /* OFD wants l_pid 0 */
    ALLOWED(fcntl(ofd, F_OFD_SETLK, &fl));
    ALLOWED(fcntl(ofd, F_OFD_SETLKW, &fl));
}

static void locks_denied(void)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int mfd = memfd_create("lock", MFD_CLOEXEC);

    CHECK(mfd >= 0);
    DENIED(flock(mfd, LOCK_EX), ENOLCK);
    DENIED(fcntl(mfd, F_SETLK, &fl), ENOLCK);
    DENIED(fcntl(mfd, F_SETLKW, &fl), ENOLCK);
    DENIED(fcntl(mfd, F_OFD_SETLK, &fl), ENOLCK);
    DENIED(fcntl(mfd, F_OFD_SETLKW, &fl), ENOLCK);
    DENIED(syscall(SYS_fcntl, mfd, (1UL << 32) | F_SETLK, &fl), ENOLCK);
    ALLOWED(fcntl(mfd, F_GETLK, &fl)); /* a probe finds nothing a box could have set */
}

TEST(locks_allowed_by_filter_denied_by_fallback)
{
    deny_locks = false;
    expect_ok(locks_work);
    deny_locks = true;
    expect_ok(locks_denied);
    deny_locks = false;
}

/* ---- foreign architectures ------------------------------------------------------------------ */

#ifdef __x86_64__
static void i386_getpid(void)
{
    long r;
    /* int 0x80 enters the i386 syscall table: another architecture for seccomp. */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    (void)r;
    _exit(0);
}

static void x32_getpid(void)
{
    (void)syscall(0x40000000L | SYS_getpid);
    _exit(0);
}

static void expect_sigsys(void (*fn)(void))
{
    int status = run_filtered(fn);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
        TEST_FAIL("foreign-architecture call not killed: status 0x%x", status);
}

TEST(foreign_architectures_kill)
{
    expect_sigsys(i386_getpid);
    expect_sigsys(x32_getpid);
}
#endif
