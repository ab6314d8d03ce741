/* Stream mode helpers: delivering a signal to the box's main program.
 *
 * The daemon holds a pidfd of PID 1 only; the program is PID 1's first child (cloned before
 * anything else, so pid 2 of the box's namespace) and stays its child until PID 1 reaps it,
 * which ends the stage. So the program is the child of PID 1 whose innermost pid is 2. The
 * host pid found in /proc is turned into a pidfd and checked again after that: a pid reused
 * in between would not name a child of PID 1 (PID 1 itself cannot be reused: it is our
 * unreaped child). Signals then go through the pidfd, never through a bare pid. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"
#include "macro.h"

#define PROC_TEXT_MAX 4096

static int read_proc_text(const char *path, char *buf, size_t size)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t k;

    if (fd < 0)
        return -errno;
    k = read(fd, buf, size - 1);
    if (k < 0)
        return -errno;
    buf[k] = '\0';
    return 0;
}

/* The value after "<key>:" on its own line, as a long; -ENOENT when absent. */
static int status_field(const char *text, const char *key, long *ret)
{
    size_t n = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, n) == 0 && p[n] == ':') {
            *ret = strtol(p + n + 1, NULL, 10);
            return 0;
        }
    return -ENOENT;
}

/* Innermost namespace pid: the last number of the NSpid line. */
static int innermost_pid(const char *text, long *ret)
{
    const char *p = strstr(text, "\nNSpid:");
    const char *end;
    long v = -1;

    if (!p)
        return -ENOENT;
    p += strlen("\nNSpid:");
    end = strchr(p, '\n');
    while (p && (!end || p < end)) {
        char *next;
        long x = strtol(p, &next, 10);
        if (next == p)
            break;
        v = x;
        p = next;
    }
    if (v < 0)
        return -ENOENT;
    *ret = v;
    return 0;
}

static bool is_program_of(long pid, long sup_pid)
{
    char path[64], text[PROC_TEXT_MAX];
    long ppid, ns_pid;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    return read_proc_text(path, text, sizeof(text)) >= 0 &&
           status_field(text, "PPid", &ppid) >= 0 && ppid == sup_pid &&
           innermost_pid(text, &ns_pid) >= 0 && ns_pid == 2;
}

static int find_program(int sup_pidfd, int *ret_pidfd)
{
    char path[64], text[PROC_TEXT_MAX];
    long sup_pid;
    int r;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", sup_pidfd);
    r = read_proc_text(path, text, sizeof(text));
    if (r < 0)
        return r;
    if (status_field(text, "Pid", &sup_pid) < 0 || sup_pid <= 0)
        return -ESRCH; /* -1: PID 1 has exited */
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", sup_pid, sup_pid);
    r = read_proc_text(path, text, sizeof(text));
    if (r < 0)
        return r == -ENOENT ? -ESRCH : r;
    for (char *p = text, *next; *p; p = next) {
        long pid = strtol(p, &next, 10);
        if (next == p)
            break;
        if (!is_program_of(pid, sup_pid))
            continue;
        int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (fd < 0)
            continue;
        if (!is_program_of(pid, sup_pid)) { /* reused between the check and the open */
            safe_close(fd);
            continue;
        }
        *ret_pidfd = fd;
        return 0;
    }
    return -ESRCH;
}

int sbx__program_signal(int sup_pidfd, int *program_pidfd, int sig)
{
    int r;

    if (*program_pidfd < 0) {
        r = find_program(sup_pidfd, program_pidfd);
        if (r < 0)
            return r;
    }
    if (syscall(SYS_pidfd_send_signal, *program_pidfd, sig, NULL, 0) < 0)
        return -errno;
    return 0;
}
