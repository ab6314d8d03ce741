/* Syscall matrix (tests/security, property 6). Mode "matrix" (default) tries every dangerous
 * call once and prints "<name>=<errno name>" ("ok" if the call succeeded, which the test
 * treats as a hole); it must never be killed: the last line is "done=1" and it exits 0. It
 * also prints its credentials, capability sets, no_new_privs and seccomp mode, tries to raise
 * its limits and ids, and execs every setuid-root binary of /usr/bin to read the effective uid
 * it runs with. Mode "i386" issues an int $0x80 syscall, mode "x32" an x32-ABI syscall: both
 * must kill the process with SIGSYS. Nothing here is destructive if a call wrongly succeeds
 * (invalid magic numbers, empty arguments). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
    static char buf[16];
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

static void report(const char *name, long r)
{
    printf("%s=%s\n", name, r < 0 ? ename(errno) : "ok");
    fflush(stdout);
}

#define TRY(name, call)                                                                            \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long)(call);                                                                    \
        report(name, r_);                                                                          \
    } while (0)

/* a fork-like raw clone with extra flags: a child that should never exist leaves at once */
static long raw_clone(unsigned long flags)
{
    long r = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    return r;
}

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static long raw_clone3(uint64_t flags)
{
    struct clone_args_v0 a = {.flags = flags, .exit_signal = SIGCHLD};
    long r = syscall(SYS_clone3, &a, sizeof(a));
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    return r;
}

static void status_fields(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        const char *keys[] = {"Uid:",    "Gid:",    "Groups:", "CapInh:",     "CapPrm:",
                              "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strncmp(line, keys[i], strlen(keys[i])) == 0) {
                char *v = line + strlen(keys[i]);
                v[strcspn(v, "\n")] = 0;
                while (*v == ' ' || *v == '\t')
                    v++;
                for (char *p = v; *p; p++)
                    if (*p == '\t')
                        *p = ' ';
                printf("status.%.*s=%s\n", (int)strlen(keys[i]) - 1, keys[i], v);
            }
    }
    if (f)
        fclose(f);
}

/* Execs a setuid binary with stdin on a pipe nobody writes (it waits for a password) and
 * reads the effective uid it runs with from /proc. */
static void setuid_binary(const char *path, const char *name)
{
    int p[2];
    pid_t pid;
    char key[300], sp[64], line[256];
    int seen = 0;

    if (pipe(p) < 0)
        return;
    pid = fork();
    if (pid == 0) {
        dup2(p[0], 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(path, name, (char *)NULL);
        _exit(127);
    }
    snprintf(key, sizeof(key), "setuid:%s", path);
    snprintf(sp, sizeof(sp), "/proc/%d/status", (int)pid);
    for (int i = 0; i < 200 && !seen; i++) {
        FILE *f = fopen(sp, "re");
        char nm[64] = "", uid[128] = "";
        while (f && fgets(line, sizeof(line), f)) {
            if (!strncmp(line, "Name:", 5))
                sscanf(line + 5, "%63s", nm);
            if (!strncmp(line, "Uid:", 4)) {
                snprintf(uid, sizeof(uid), "%s", line + 4);
                uid[strcspn(uid, "\n")] = 0;
            }
        }
        if (f)
            fclose(f);
        /* after the exec the name is the binary's (the fork still has ours) */
        if (nm[0] && strncmp(nm, name, 15) == 0 && uid[0]) {
            unsigned r, e, s, fs;
            if (sscanf(uid, "%u %u %u %u", &r, &e, &s, &fs) == 4)
                printf("%s=euid:%u\n", key, e);
            seen = 1;
            break;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            printf("%s=exited\n", key);
            pid = -1;
            seen = 1;
            break;
        }
        usleep(5000);
    }
    if (!seen)
        printf("%s=unobserved\n", key);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    close(p[0]);
    close(p[1]);
    fflush(stdout);
}

static void setuid_binaries(void)
{
    DIR *d = opendir("/usr/bin");
    struct dirent *de;
    char path[512];
    struct stat st;

    while (d && (de = readdir(d))) {
        snprintf(path, sizeof(path), "/usr/bin/%s", de->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_ISUID) && st.st_uid == 0)
            setuid_binary(path, de->d_name);
    }
    if (d)
        closedir(d);
}

static void matrix(void)
{
    char buf[256];
    struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};
    struct perf_event_attr pe = {.type = PERF_TYPE_HARDWARE,
                                 .size = sizeof(pe),
                                 .config = PERF_COUNT_HW_CPU_CYCLES,
                                 .disabled = 1};
    union bpf_attr battr;
    struct {
        unsigned int handle_bytes;
        int handle_type;
        unsigned char f_handle[128];
    } fh = {.handle_bytes = 128};
    int mount_id, nsfd;
    struct rlimit rl;

    memset(&battr, 0, sizeof(battr));
    printf("uid=%d\neuid=%d\ngid=%d\nngroups=%d\n", (int)getuid(), (int)geteuid(), (int)getgid(),
           getgroups(0, NULL));
    status_fields();

    TRY("ptrace_traceme", syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
    TRY("ptrace_attach_1", syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0));
    TRY("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    TRY("mount_bind", mount("/", "/tmp", NULL, MS_BIND, NULL));
    TRY("mount_remount_rw", mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
    TRY("umount2", umount2("/tmp", MNT_DETACH));
    TRY("umount2_proc", umount2("/proc", MNT_DETACH));
    TRY("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    TRY("chroot", chroot("/tmp"));
    TRY("unshare_user", unshare(CLONE_NEWUSER));
    TRY("unshare_net", unshare(CLONE_NEWNET));
    TRY("unshare_ns", unshare(CLONE_NEWNS));
    TRY("unshare_pid", unshare(CLONE_NEWPID));
    /* the one unshare the filter lets through (PID 1's per-job IPC namespace): the kernel
     * refuses it to a program without capabilities, alone or with a user namespace */
    TRY("unshare_ipc", unshare(CLONE_NEWIPC));
    TRY("unshare_ipc_user", unshare(CLONE_NEWIPC | CLONE_NEWUSER));
    nsfd = open("/proc/self/ns/net", O_RDONLY);
    TRY("setns", setns(nsfd, 0));
    TRY("setns_user", setns(nsfd, CLONE_NEWUSER));
    close(nsfd);
    TRY("clone_newuser", raw_clone(CLONE_NEWUSER));
    TRY("clone_newns", raw_clone(CLONE_NEWNS));
    TRY("clone_newnet", raw_clone(CLONE_NEWNET));
    TRY("clone_newpid", raw_clone(CLONE_NEWPID));
    TRY("clone_newuser_hi", raw_clone(CLONE_NEWUSER | (1UL << 40)));
    TRY("clone3", raw_clone3(0));
    TRY("clone3_newuser", raw_clone3(CLONE_NEWUSER));
    TRY("io_uring_setup", syscall(SYS_io_uring_setup, 1, buf));
    TRY("io_uring_enter", syscall(SYS_io_uring_enter, 0, 0, 0, 0, NULL, 0));
    TRY("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
    TRY("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -4 /* user */, 0));
    TRY("add_key", syscall(SYS_add_key, "user", "capsule", "x", 1, -4));
    TRY("request_key", syscall(SYS_request_key, "user", "capsule", NULL, 0));
    battr.map_type = BPF_MAP_TYPE_ARRAY;
    battr.key_size = 4;
    battr.value_size = 4;
    battr.max_entries = 1;
    TRY("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &battr, sizeof(battr)));
    TRY("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    TRY("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    TRY("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    TRY("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
    TRY("init_module", syscall(SYS_init_module, buf, 0, ""));
    TRY("finit_module", syscall(SYS_finit_module, -1, "", 0));
    TRY("delete_module", syscall(SYS_delete_module, "capsule_none", O_NONBLOCK));
    /* invalid magic: a reboot could not happen even if the call were allowed */
    TRY("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
    TRY("syslog_read", syscall(SYS_syslog, 3 /* READ_ALL */, buf, (int)sizeof(buf)));
    TRY("syslog_size", syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0));
    TRY("ioctl_tiocsti", ioctl(0, TIOCSTI, "x"));
    TRY("ioctl_tiocsti_hi", syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1UL << 32), "x"));
    TRY("ioctl_tioclinux", ioctl(0, TIOCLINUX, buf));
    TRY("socket_packet", socket(AF_PACKET, SOCK_RAW, 0));
    TRY("socket_packet_hi", syscall(SYS_socket, (long)AF_PACKET | (1L << 32), SOCK_RAW, 0));
    TRY("socket_vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
    TRY("socket_bluetooth", socket(31 /* AF_BLUETOOTH */, SOCK_RAW, 0));
    TRY("socket_netlink_audit", socket(AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */));
    TRY("socket_netlink_uevent", socket(AF_NETLINK, SOCK_RAW, 15 /* KOBJECT_UEVENT */));
    TRY("socket_netlink_diag", socket(AF_NETLINK, SOCK_RAW, 4 /* SOCK_DIAG */));
    TRY("socketpair_inet", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0}));
    TRY("process_vm_readv", syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0));
    TRY("process_vm_writev", syscall(SYS_process_vm_writev, 1, &local, 1, &remote, 1, 0));
    TRY("name_to_handle_at",
        syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc/passwd", &fh, &mount_id, 0));
    TRY("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY));
    TRY("personality_read_implies_exec", personality(READ_IMPLIES_EXEC));
    TRY("personality_addr_no_randomize", personality(ADDR_NO_RANDOMIZE));
    TRY("pidfd_getfd", syscall(SYS_pidfd_getfd, 0, 0, 0));
    TRY("process_madvise", syscall(SYS_process_madvise, 0, &local, 1, 0, 0));
    TRY("iopl", syscall(SYS_iopl, 3));
    TRY("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
    TRY("swapon", syscall(SYS_swapon, "/tmp/none", 0));
    TRY("acct", syscall(SYS_acct, NULL));
    TRY("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
    TRY("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, NULL));
    TRY("sethostname", sethostname("pwned", 5));
    TRY("setdomainname", setdomainname("pwned", 5));
    TRY("vhangup", syscall(SYS_vhangup));
    TRY("fanotify_init", syscall(SYS_fanotify_init, 0, 0));
    TRY("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/usr", 1 /* OPEN_TREE_CLONE */));
    TRY("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    TRY("fspick", syscall(SYS_fspick, AT_FDCWD, "/usr", 0));
    TRY("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, "/usr", 0, NULL, 0));
    TRY("move_mount", syscall(SYS_move_mount, -1, "", AT_FDCWD, "/tmp", 0));
    TRY("mknod_chr", mknod("/tmp/mem", S_IFCHR | 0666, makedev(1, 1)));
    /* identity and limits */
    TRY("setuid_0", setuid(0));
    TRY("setgid_0", setgid(0));
    TRY("setresuid_0", setresuid(0, 0, 0));
    TRY("setgroups_0", setgroups(1, (gid_t[]){0}));
    TRY("chown_root", chown("/box/submission", 0, 0));
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile=%llu/%llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    rl.rlim_cur = rl.rlim_max = rl.rlim_max + 1;
    TRY("setrlimit_nofile_raise", setrlimit(RLIMIT_NOFILE, &rl));
    TRY("no_new_privs_clear", prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0));
    TRY("personality_query", personality(0xffffffff));
    setuid_binaries();
    printf("done=1\n");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "matrix";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "i386") == 0) {
        long r;
        printf("before=1\n");
        fflush(stdout);
        /* i386 getpid (20) through the 32-bit entry point */
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
        printf("after=%ld\n", r);
        return 0;
    }
    if (strcmp(mode, "x32") == 0) {
        printf("before=1\n");
        fflush(stdout);
        long r = syscall(0x40000000L | SYS_getpid);
        printf("after=%ld errno=%s\n", r, r < 0 ? ename(errno) : "-");
        return 0;
    }
    matrix();
    return 0;
}
