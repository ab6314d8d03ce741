/* File-lock channel probe (tests/security/test_locks.py). Run as
 *   hold <tok> <pkgfile>   lock every target as hard as it can be locked (flock exclusive
 *                          or shared, a POSIX write or read lock, an OFD one), let a child
 *                          probe them from inside the box (the positive control: the locks
 *                          are real and visible there), mark /tmp/<tok>.ready, then wait for
 *                          the host to create /tmp/<tok>.release
 *   probe <pkgfile>        for every target, what each kind of request answers: flock
 *                          exclusive and shared, F_SETLK and F_OFD_SETLK read and write,
 *                          F_GETLK and F_OFD_GETLK (type, range, pid of what they find)
 * Targets: files every box sees (toolchain, /etc, the package, device nodes), nsfs files of
 * namespaces shared with the host, the one anon inode behind eventfd/epoll/timerfd/inotify,
 * procfs, directories. Prints key=value lines; a probe in another slot must print exactly
 * what it prints when nothing else runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *targets[] = {
    "/usr/bin/python3",
    "/usr/bin/bash",
    "/etc/passwd",
    "/etc/ld.so.cache",
    "/etc/alternatives",
    "/",
    "/usr",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/proc/self/ns/user",
    "/proc/self/ns/cgroup",
    "/proc/self/ns/time",
    "/proc/self/ns/net",
    "/proc/sys/kernel/hostname",
    "@eventfd",
    "@epoll",
    "@timerfd",
    "@inotify",
    NULL /* the package file */
};
#define N_TARGETS (sizeof(targets) / sizeof(targets[0]))

static const char *ename(int e)
{
    static char buf[16];
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

/* Opens a target read-write where the box may (a writable fd is what a write lock needs),
 * else read-only. "@..." are fds without a path: all of them share the anon inode. */
static int open_target(const char *t)
{
    int fd;

    if (strcmp(t, "@eventfd") == 0)
        return eventfd(0, EFD_CLOEXEC);
    if (strcmp(t, "@epoll") == 0)
        return epoll_create1(EPOLL_CLOEXEC);
    if (strcmp(t, "@timerfd") == 0)
        return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (strcmp(t, "@inotify") == 0)
        return inotify_init1(IN_CLOEXEC);
    fd = open(t, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fd = open(t, O_RDONLY | O_CLOEXEC);
    return fd;
}

static const char *ltype(short t)
{
    return t == F_RDLCK ? "RD" : t == F_WRLCK ? "WR" : t == F_UNLCK ? "UN" : "?";
}

static void getlk(const char *key, int fd, int cmd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET};

    if (fcntl(fd, cmd, &fl) < 0)
        printf("%s=%s\n", key, ename(errno));
    else
        printf("%s=%s,%lld,%lld,%d\n", key, ltype(fl.l_type), (long long)fl.l_start,
               (long long)fl.l_len, (int)fl.l_pid);
}

/* A request that is granted is undone at once: the probe leaves nothing behind. */
static void setlk(const char *key, int fd, int cmd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET};

    if (fcntl(fd, cmd, &fl) < 0) {
        printf("%s=%s\n", key, ename(errno));
        return;
    }
    printf("%s=ok\n", key);
    fl.l_type = F_UNLCK;
    (void)fcntl(fd, cmd, &fl);
}

static void try_flock(const char *key, int fd, int op)
{
    if (flock(fd, op | LOCK_NB) < 0) {
        printf("%s=%s\n", key, ename(errno));
        return;
    }
    printf("%s=ok\n", key);
    (void)flock(fd, LOCK_UN);
}

static void probe_one(const char *prefix, const char *t)
{
    char key[160];
    int fd = open_target(t);

#define K(what) (snprintf(key, sizeof(key), "%s%s:%s", prefix, what, t), key)
    if (fd < 0) {
        printf("%s=%s\n", K("open"), ename(errno));
        return;
    }
    try_flock(K("flock_ex"), fd, LOCK_EX);
    try_flock(K("flock_sh"), fd, LOCK_SH);
    getlk(K("getlk_wr"), fd, F_GETLK, F_WRLCK);
    getlk(K("getlk_rd"), fd, F_GETLK, F_RDLCK);
    getlk(K("ofd_getlk_wr"), fd, F_OFD_GETLK, F_WRLCK);
    setlk(K("setlk_rd"), fd, F_SETLK, F_RDLCK);
    setlk(K("setlk_wr"), fd, F_SETLK, F_WRLCK);
    setlk(K("ofd_setlk_rd"), fd, F_OFD_SETLK, F_RDLCK);
    setlk(K("ofd_setlk_wr"), fd, F_OFD_SETLK, F_WRLCK);
#undef K
    close(fd);
}

static void probe_all(const char *prefix)
{
    char buf[4096];
    ssize_t n, total = 0;
    int fd;

    for (size_t i = 0; i < N_TARGETS; i++)
        probe_one(prefix, targets[i]);
    /* /proc/locks lists OFD locks of every PID namespace: the box reads it empty */
    fd = open("/proc/locks", O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        total += n;
    if (fd < 0)
        printf("%sproc_locks=%s\n", prefix, ename(errno));
    else
        printf("%sproc_locks=%zd bytes\n", prefix, total);
}

/* Holds every lock it can get on each target: the fds stay open until exit. */
static void hold_one(const char *t)
{
    struct flock posix = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100};
    struct flock ofd = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 200, .l_len = 100};
    int fd = open_target(t);

    if (fd < 0) {
        printf("hold_open:%s=%s\n", t, ename(errno));
        return;
    }
    printf("hold_flock:%s=%s\n", t,
           flock(fd, LOCK_EX | LOCK_NB) == 0 || flock(fd, LOCK_SH | LOCK_NB) == 0 ? "ok"
                                                                                  : ename(errno));
    if (fcntl(fd, F_SETLK, &posix) < 0) {
        posix.l_type = F_RDLCK;
        (void)fcntl(fd, F_SETLK, &posix);
    }
    if (fcntl(fd, F_OFD_SETLK, &ofd) < 0) {
        ofd.l_type = F_RDLCK;
        (void)fcntl(fd, F_OFD_SETLK, &ofd);
    }
    printf("hold_posix:%s=%s\n", t, ltype(posix.l_type));
    printf("hold_ofd:%s=%s\n", t, ltype(ofd.l_type));
}

static int hold(const char *tok)
{
    char ready[128], release[128];
    pid_t pid;
    int status;

    for (size_t i = 0; i < N_TARGETS; i++)
        hold_one(targets[i]);
    fflush(stdout);
    /* positive control: another process of this box does see the locks */
    pid = fork();
    if (pid == 0) {
        probe_all("inbox.");
        fflush(stdout);
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 1;
    snprintf(ready, sizeof(ready), "/tmp/%s.ready", tok);
    snprintf(release, sizeof(release), "/tmp/%s.release", tok);
    close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    for (int i = 0; i < 500 && access(release, F_OK) < 0; i++)
        usleep(5000);
    printf("released=%d\n", access(release, F_OK) == 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    targets[N_TARGETS - 1] = argv[argc - 1];
    if (strcmp(argv[1], "hold") == 0 && argc == 4)
        return hold(argv[2]);
    if (strcmp(argv[1], "probe") == 0) {
        probe_all("");
        return 0;
    }
    return 2;
}
