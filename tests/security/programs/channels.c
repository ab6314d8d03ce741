/* Cross-job channel probe (tests/security, property 4). Run as
 *   create <tok> <hold>   make every kind of shareable object, mark /tmp/<tok>.ready, then
 *                         (hold=1) wait for the host to create /tmp/<tok>.release
 *   probe <tok>           look for another job's objects, signal every pid, kill(-1, SIGKILL)
 * Prints key=value lines; every object must be private to the job that made it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY_SPEC_USER_KEYRING -4
#define KEYCTL_GET_KEYRING_ID 0

static const char *ename(int e)
{
    static char buf[16];
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

/* the SysV key: the token's first 8 hex digits (channels.py does the same) */
static key_t tok_key(const char *tok)
{
    char k[9] = {0};
    strncpy(k, tok, 8);
    return (key_t)(strtoul(k, NULL, 16) & 0x7fffffff);
}

#define RES(key, expr) printf("%s=%s\n", key, (expr) < 0 ? ename(errno) : "ok")

static int abstract_socket(const char *tok, int do_bind)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "capsule-sec-%s", tok);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);

    if (fd < 0)
        return -1;
    if (do_bind)
        return bind(fd, (struct sockaddr *)&a, len) < 0 || listen(fd, 4) < 0 ? -1 : fd;
    return connect(fd, (struct sockaddr *)&a, len);
}

/* A listening abstract socket kept alive only by a reference cycle of in-flight descriptors
 * (it sits in a socketpair's queue that holds itself): it outlives its process until the
 * kernel's unix garbage collector runs. */
static int abstract_gc_cycle(const char *tok)
{
    char gtok[64];
    int sv[2], l;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } c;
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};

    snprintf(gtok, sizeof(gtok), "%s-gc", tok);
    l = abstract_socket(gtok, 1);
    if (l < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
        return -1;
    memset(&c, 0, sizeof(c));
    c.h.cmsg_level = SOL_SOCKET;
    c.h.cmsg_type = SCM_RIGHTS;
    c.h.cmsg_len = CMSG_LEN(2 * sizeof(int));
    memcpy(CMSG_DATA(&c.h), (int[]){l, sv[0]}, 2 * sizeof(int));
    if (sendmsg(sv[1], &m, 0) < 0)
        return -1;
    close(l);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "re");
    char line[1024];
    int n = -1; /* header line */
    if (!f)
        return -100;
    while (fgets(line, sizeof(line), f))
        n++;
    fclose(f);
    return n;
}

static void locks(void)
{
    /* /etc/passwd: the generated template; /usr/bin/bash: a host file every box sees (both
     * through the slot's private overlay); a file of the box's own work dir */
    const char *paths[] = {"/etc/passwd", "/usr/bin/bash", "lockfile"};
    close(open("lockfile", O_WRONLY | O_CREAT, 0644));
    for (int i = 0; i < 3; i++) {
        char key[64];
        int fd = open(paths[i], O_RDONLY);
        struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
        snprintf(key, sizeof(key), "flock:%s", paths[i]);
        RES(key, flock(fd, LOCK_SH | LOCK_NB));
        snprintf(key, sizeof(key), "setlk:%s", paths[i]);
        RES(key, fcntl(fd, F_SETLK, &fl));
        snprintf(key, sizeof(key), "setlkw:%s", paths[i]);
        RES(key, fcntl(fd, F_SETLKW, &fl));
        snprintf(key, sizeof(key), "ofdlk:%s", paths[i]);
        RES(key, fcntl(fd, F_OFD_SETLK, &fl));
        /* high bits above the int command: the kernel reads only the low 32 */
        snprintf(key, sizeof(key), "setlk_hi:%s", paths[i]);
        RES(key, syscall(SYS_fcntl, fd, (long)F_SETLK | (1L << 32), &fl));
        close(fd);
    }
}

static void keyrings(void)
{
    RES("add_key", syscall(SYS_add_key, "user", "capsule-sec", "secret", 6, KEY_SPEC_USER_KEYRING));
    RES("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
    RES("request_key", syscall(SYS_request_key, "user", "capsule-sec", NULL, 0));
}

static int exists(const char *fmt, const char *tok)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), fmt, tok);
    return stat(p, &st);
}

static void create(const char *tok, int hold)
{
    key_t key = tok_key(tok);
    char name[128], p[256];
    int id;

    snprintf(name, sizeof(name), "/capsule-sec-%s", tok);
    RES("abstract", abstract_socket(tok, 1));
    RES("abstract_gc", abstract_gc_cycle(tok));
    id = shmget(key, 4096, IPC_CREAT | 0666);
    RES("shm", id);
    if (id >= 0)
        strcpy(shmat(id, NULL, 0), "hello from A");
    id = msgget(key, IPC_CREAT | 0666);
    RES("msg", id);
    if (id >= 0) {
        struct {
            long t;
            char s[16];
        } m = {1, "hello"};
        msgsnd(id, &m, sizeof(m.s), IPC_NOWAIT);
    }
    RES("sem", semget(key, 1, IPC_CREAT | 0666));
    RES("mq", (int)mq_open(name, O_CREAT | O_RDWR, 0666, NULL));
    RES("posix_shm", shm_open(name, O_CREAT | O_RDWR, 0666));
    snprintf(p, sizeof(p), "/tmp/%s", tok);
    RES("tmpfile", open(p, O_CREAT | O_WRONLY, 0666));
    snprintf(p, sizeof(p), "/dev/shm/%s", tok);
    RES("shmfile", open(p, O_CREAT | O_WRONLY, 0666));
    RES("cwdfile", open(tok, O_CREAT | O_WRONLY, 0666));
    locks();
    keyrings();
    printf("sysvipc=%d,%d,%d\n", count_lines("/proc/sysvipc/shm"), count_lines("/proc/sysvipc/msg"),
           count_lines("/proc/sysvipc/sem"));
    /* a daemonized child that would hold everything open if it survived */
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            signal(SIGTERM, SIG_IGN);
            for (;;)
                pause();
        }
        _exit(0);
    }
    wait(NULL);
    fflush(stdout);
    snprintf(p, sizeof(p), "/tmp/%s.ready", tok);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    if (!hold)
        return;
    snprintf(p, sizeof(p), "/tmp/%s.release", tok);
    for (int i = 0; i < 3000; i++) { /* up to 30 s; the host releases us */
        struct stat st;
        if (stat(p, &st) == 0) {
            printf("released=1\n");
            return;
        }
        usleep(10000);
    }
    printf("released=timeout\n");
}

static void probe(const char *tok)
{
    key_t key = tok_key(tok);
    char name[128];
    int foreign = 0, child_status = 0;
    pid_t self = getpid(), child;

    snprintf(name, sizeof(name), "/capsule-sec-%s", tok);
    RES("abstract", abstract_socket(tok, 0));
    {
        char gtok[64];
        snprintf(gtok, sizeof(gtok), "%s-gc", tok);
        RES("abstract_gc", abstract_socket(gtok, 0));
    }
    RES("shm", shmget(key, 0, 0));
    RES("msg", msgget(key, 0));
    RES("sem", semget(key, 0, 0));
    RES("mq", (int)mq_open(name, O_RDONLY));
    RES("posix_shm", shm_open(name, O_RDONLY, 0));
    RES("tmpfile", exists("/tmp/%s", tok));
    RES("shmfile", exists("/dev/shm/%s", tok));
    RES("cwdfile", exists("%s", tok));
    locks();
    keyrings();
    printf("sysvipc=%d,%d,%d\n", count_lines("/proc/sysvipc/shm"), count_lines("/proc/sysvipc/msg"),
           count_lines("/proc/sysvipc/sem"));
    /* every pid a signal could reach, other than ourselves and PID 1 (the box's supervisor) */
    child = fork();
    if (child == 0) {
        for (;;)
            pause();
    }
    for (pid_t p = 2; p <= 65536; p++)
        if (p != self && p != child && (kill(p, 0) == 0 || errno == EPERM))
            foreign++;
    printf("foreign_pids=%d\n", foreign);
    printf("kill_pid1=%s\n", kill(1, SIGKILL) < 0 ? ename(errno) : "ok");
    fflush(stdout);
    /* kill(-1) reaches every process we may signal, but not ourselves */
    printf("kill_all=%s\n", kill(-1, SIGKILL) < 0 ? ename(errno) : "ok");
    waitpid(child, &child_status, 0);
    printf("own_child=%s\n",
           WIFSIGNALED(child_status) && WTERMSIG(child_status) == SIGKILL ? "SIGKILL" : "alive");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "create") == 0)
        create(argv[2], atoi(argv[3]));
    else if (argc >= 3 && strcmp(argv[1], "probe") == 0)
        probe(argv[2]);
    else
        return 2;
    return 0;
}
