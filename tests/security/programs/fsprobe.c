/* Filesystem, /proc and socket probe run inside a box (tests/security). Each argument is one
 * operation "<op>:<operand>"; each prints one line "<op>:<operand>=<result>", where the result
 * is "ok...", "exists:<type>" or the errno name. Never destructive if a host path turns out to
 * be writable: it only creates new entries, opens for writing without writing, and chmods to
 * the current mode. fsprobe.py implements the same protocol. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *ename(int e)
{
    static char buf[32];
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_escaped(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
            putchar(s[i]);
        else
            printf("\\x%02x", s[i]);
    }
}

static void op_ls(const char *p)
{
    DIR *d = opendir(p);
    struct dirent *de;
    char *names[4096];
    size_t n = 0;

    printf("ls:%s=", p);
    if (!d) {
        printf("%s\n", ename(errno));
        return;
    }
    while ((de = readdir(d)) && n < 4096)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof(char *), cmp);
    printf("ok:");
    for (size_t i = 0; i < n; i++) {
        printf("%s%s", i ? "," : "", names[i]);
        free(names[i]);
    }
    putchar('\n');
}

static void op_lstat(const char *p)
{
    struct stat st;
    char t = '?';

    if (lstat(p, &st) < 0) {
        printf("lstat:%s=%s\n", p, ename(errno));
        return;
    }
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        t = 'f';
        break;
    case S_IFDIR:
        t = 'd';
        break;
    case S_IFLNK:
        t = 'l';
        break;
    case S_IFCHR:
        t = 'c';
        break;
    case S_IFBLK:
        t = 'b';
        break;
    case S_IFIFO:
        t = 'p';
        break;
    case S_IFSOCK:
        t = 's';
        break;
    }
    printf("lstat:%s=exists:%c:%o:%u\n", p, t, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
}

static void op_read(const char *p)
{
    unsigned char buf[256];
    int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ssize_t k;

    printf("read:%s=", p);
    if (fd < 0) {
        printf("%s\n", ename(errno));
        return;
    }
    k = read(fd, buf, sizeof(buf));
    if (k < 0) {
        printf("%s\n", ename(errno));
    } else {
        printf("ok:");
        print_escaped(buf, (size_t)k);
        putchar('\n');
    }
    close(fd);
}

static void op_readlink(const char *p)
{
    char buf[4096];
    ssize_t k = readlink(p, buf, sizeof(buf) - 1);

    if (k < 0) {
        printf("readlink:%s=%s\n", p, ename(errno));
        return;
    }
    buf[k] = 0;
    printf("readlink:%s=ok:%s\n", p, buf);
}

static void result(const char *op, const char *p, int r)
{
    printf("%s:%s=%s\n", op, p, r < 0 ? ename(errno) : "ok");
}

static void op_writenew(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!write(fd, "x", 1);
        close(fd);
    }
    result("writenew", p, fd);
}

static void op_openw(const char *p)
{
    /* O_APPEND and nothing written: even a wrongly writable file is left intact */
    int fd = open(p, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    result("openw", p, fd);
}

static void op_chmod(const char *p)
{
    struct stat st;
    if (lstat(p, &st) < 0) {
        result("chmod", p, -1);
        return;
    }
    result("chmod", p, chmod(p, st.st_mode & 07777));
}

static void unix_connect(const char *op, const char *name, int abstract)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

    if (fd < 0 || n >= sizeof(a.sun_path) - 1) {
        result(op, name, -1);
        return;
    }
    if (abstract) {
        memcpy(a.sun_path + 1, name, n);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    } else {
        memcpy(a.sun_path, name, n);
        len = sizeof(a);
    }
    r = connect(fd, (struct sockaddr *)&a, len);
    printf("%s:%s=%s\n", op, name, r < 0 ? ename(errno) : "connected");
    close(fd);
}

/* tcp:<ipv4 or ipv6>:<port>, non-blocking with a 1 s bound */
static void op_tcp(const char *spec)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int fd, r, err = 0;

    if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
        printf("tcp:%s=EINVAL\n", spec);
        return;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)atoi(colon + 1));
        inet_pton(AF_INET6, host, &s6->sin6_addr);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)atoi(colon + 1));
        inet_pton(AF_INET, host, &s4->sin_addr);
        len = sizeof(*s4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("tcp:%s=%s\n", spec, ename(errno));
        return;
    }
    r = connect(fd, (struct sockaddr *)&ss, len);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        socklen_t el = sizeof(err);
        if (poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0)
            r = err ? -1 : 0;
        else
            err = ETIMEDOUT;
        errno = err;
    }
    printf("tcp:%s=%s\n", spec, r < 0 ? ename(errno) : "connected");
    close(fd);
}

static void op_mountinfo(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];

    if (!f) {
        printf("mountinfo:=%s\n", ename(errno));
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        printf("mi=%s\n", line);
    }
    fclose(f);
}

static void op_pids(void)
{
    DIR *d = opendir("/proc");
    struct dirent *de;

    printf("pids=");
    if (!d) {
        printf("%s\n", ename(errno));
        return;
    }
    int first = 1;
    while ((de = readdir(d)))
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9') {
            printf("%s%s", first ? "" : ",", de->d_name);
            first = 0;
        }
    closedir(d);
    printf("\nself=%d\n", (int)getpid());
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    for (int i = 1; i < argc; i++) {
        char *op = argv[i], *arg = strchr(op, ':');
        if (!arg) {
            printf("%s=EINVAL\n", op);
            continue;
        }
        *arg++ = 0;
        if (!strcmp(op, "ls"))
            op_ls(arg);
        else if (!strcmp(op, "lstat"))
            op_lstat(arg);
        else if (!strcmp(op, "read"))
            op_read(arg);
        else if (!strcmp(op, "readlink"))
            op_readlink(arg);
        else if (!strcmp(op, "writenew"))
            op_writenew(arg);
        else if (!strcmp(op, "openw"))
            op_openw(arg);
        else if (!strcmp(op, "mkdir"))
            result("mkdir", arg, mkdir(arg, 0755));
        else if (!strcmp(op, "symlink"))
            result("symlink", arg, symlink("/", arg));
        else if (!strcmp(op, "mkfifo"))
            result("mkfifo", arg, mkfifo(arg, 0644));
        else if (!strcmp(op, "chmod"))
            op_chmod(arg);
        else if (!strcmp(op, "link"))
            result("link", arg, link(arg, "/box/submission/.probe-link"));
        else if (!strcmp(op, "abstract"))
            unix_connect("abstract", arg, 1);
        else if (!strcmp(op, "unix"))
            unix_connect("unix", arg, 0);
        else if (!strcmp(op, "tcp"))
            op_tcp(arg);
        else if (!strcmp(op, "mountinfo"))
            op_mountinfo();
        else if (!strcmp(op, "pids"))
            op_pids();
        else if (!strcmp(op, "env"))
            printf("env:%s=%s\n", arg, getenv(arg) ? getenv(arg) : "(unset)");
        else
            printf("%s:%s=EINVAL\n", op, arg);
    }
    return 0;
}
