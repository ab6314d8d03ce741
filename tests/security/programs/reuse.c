/* Box reuse probe (tests/security/test_box_reuse.py): what one job leaves in a box that
 * serves the slot's next job, and what that next job can find of it. Modes:
 *   leave <tok>  start 60 short-lived processes (the pid counter moves on), try ptrace and
 *                kill on PID 1, then leave hiders behind and exit 0 at once: a double-forked,
 *                setsid, signal-ignoring grandchild holding an abstract socket and two timers
 *                (a POSIX timer and an alarm) that would write files after the job, and a
 *                "pid hopper" that forks anew and lets its parent exit every few ms
 *   probe <tok>  report its own pid, which processes it can see or signal, PID 1's
 *                visibility, SysV objects, then wait past the timers and look for their files
 *                and the abstract socket
 * Output: key=value lines. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *tok;

static const char *errname(int e)
{
    switch (e) {
    case 0:
        return "ok";
    case EPERM:
        return "EPERM";
    case ESRCH:
        return "ESRCH";
    case ENOENT:
        return "ENOENT";
    case EACCES:
        return "EACCES";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    default:
        return "other";
    }
}

static void sock_name(struct sockaddr_un *a, socklen_t *len)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "capsule-reuse-%s", tok);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void write_mark(const char *what)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/%s.%s", tok, what);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
    snprintf(path, sizeof(path), "/box/submission/%s.%s", tok, what);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
}

static void on_timer(int sig)
{
    write_mark(sig == SIGALRM ? "alarm" : "timer");
}

static void hider(void)
{
    struct sockaddr_un a;
    socklen_t len;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    struct itimerspec its = {.it_value = {.tv_nsec = 400 * 1000 * 1000}};
    timer_t t;

    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGALRM, on_timer);
    signal(SIGUSR1, on_timer);
    sock_name(&a, &len);
    if (s >= 0 && bind(s, (struct sockaddr *)&a, len) == 0)
        listen(s, 1);
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) == 0)
        timer_settime(t, 0, &its, NULL);
    alarm(1);
    for (;;)
        pause();
}

static void hopper(void)
{
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (int i = 0; i < 2000; i++) {
        pid_t p = fork();
        if (p > 0)
            _exit(0); /* the parent goes, the child carries on under a new pid */
        if (p < 0)
            usleep(1000);
        usleep(2000);
    }
    write_mark("hopper");
    _exit(0);
}

static int leave(void)
{
    for (int i = 0; i < 60; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        if (p > 0)
            waitpid(p, NULL, 0);
    }
    errno = 0;
    ptrace(PTRACE_ATTACH, 1, NULL, NULL);
    printf("ptrace_pid1=%s\n", errname(errno));
    errno = 0;
    kill(1, SIGKILL);
    printf("kill_pid1=%s\n", errname(errno));
    if (fork() == 0) {
        setsid();
        if (fork() == 0)
            hider();
        if (fork() == 0)
            hopper();
        _exit(0);
    }
    wait(NULL);
    usleep(50 * 1000); /* the hiders are set up */
    printf("pid=%d\n", (int)getpid());
    fflush(stdout);
    return 0;
}

static int probe(void)
{
    struct sockaddr_un a;
    socklen_t len;
    int others = 0, s;
    DIR *d = opendir("/proc");
    struct dirent *de;
    char path[128];

    printf("pid=%d\n", (int)getpid());
    while (d && (de = readdir(d)))
        if (de->d_name[0] >= '1' && de->d_name[0] <= '9' && atoi(de->d_name) != getpid())
            others++;
    if (d)
        closedir(d);
    printf("visible_others=%d\n", others);
    printf("pid1_visible=%d\n", access("/proc/1", F_OK) == 0);
    errno = 0;
    kill(-1, 0);
    printf("signalable=%s\n", errname(errno));
    for (const char *f = "/proc/sysvipc/shm"; f;
         f = strcmp(f, "/proc/sysvipc/shm") == 0   ? "/proc/sysvipc/msg"
             : strcmp(f, "/proc/sysvipc/msg") == 0 ? "/proc/sysvipc/sem"
                                                   : NULL) {
        FILE *fp = fopen(f, "r");
        int lines = 0, c;
        while (fp && (c = fgetc(fp)) != EOF)
            lines += c == '\n';
        if (fp)
            fclose(fp);
        printf("%s=%d\n", strrchr(f, '/') + 1, lines > 0 ? lines - 1 : 0);
    }
    usleep(1500 * 1000); /* past both timers and a hopper's worth of hops */
    const char *marks[] = {"timer", "alarm", "hopper"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/tmp/%s.%s", tok, marks[i]);
        int tmp = access(path, F_OK) == 0;
        snprintf(path, sizeof(path), "/box/submission/%s.%s", tok, marks[i]);
        printf("mark_%s=%d\n", marks[i], tmp || access(path, F_OK) == 0);
    }
    sock_name(&a, &len);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    connect(s, (struct sockaddr *)&a, len);
    printf("abstract=%s\n", errname(errno));
    errno = 0;
    kill(-1, 0);
    printf("signalable_later=%s\n", errname(errno));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    tok = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    return strcmp(argv[1], "leave") == 0 ? leave() : probe();
}
