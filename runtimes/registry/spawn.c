/* Runs a package helper (environment evaluation, version probe) at load time and captures
 * its stdout. posix_spawn keeps this safe even if the caller already has threads. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"
#include "strbuf.h"
#include "time-util.h"

static int read_bounded(int fd, size_t max, usec_t deadline, char **ret, size_t *ret_len)
{
    _cleanup_(strbuf_done) struct strbuf sb = {0};
    char buf[4096];

    for (;;) {
        usec_t now = now_usec();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t k;
        int n;

        if (now >= deadline)
            return -ETIMEDOUT;
        n = poll(&p, 1, (int)usec_to_msec_ceil(deadline - now));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ETIMEDOUT;
        k = read(fd, buf, sizeof(buf));
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break;
        if (sb.len + (size_t)k > max)
            return -EFBIG;
        if (strbuf_append(&sb, buf, (size_t)k) < 0)
            return -ENOMEM;
    }
    /* Empty output: strbuf_steal() would hand out a buffer that is not NUL-terminated. */
    if (sb.data) {
        *ret = strbuf_steal(&sb, ret_len);
        return 0;
    }
    *ret = strdup("");
    *ret_len = 0;
    return *ret ? 0 : -ENOMEM;
}

/* Waits for the child to exit without reaping it; kills it at the deadline (it may close
 * stdout early and keep running). */
static void wait_exit(pid_t pid, usec_t deadline)
{
    for (;;) {
        siginfo_t info = {0};
        int k = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT | WNOHANG);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 || info.si_pid != 0)
            return;
        if (now_usec() >= deadline) {
            (void)kill(-pid, SIGKILL);
            return;
        }
        (void)usleep(1000);
    }
}

/* stdin and stderr go to /dev/null: a helper must not read the daemon's stdin or write into
 * its log. The child gets default signal dispositions and an empty mask (the daemon may
 * block or ignore signals, and exec would pass that on), and its own process group so a
 * timeout kills whatever it started too. */
static int spawn_child(const struct rt__spawn *s, int out_fd, pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int r;

    r = posix_spawn_file_actions_init(&fa);
    if (r != 0)
        return -r;
    r = posix_spawnattr_init(&attr);
    if (r != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -r;
    }
    (void)sigemptyset(&none);
    (void)sigfillset(&all);
    if (!r)
        r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    if (!r)
        r = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
    if (!r)
        r = posix_spawnattr_setsigmask(&attr, &none);
    if (!r)
        r = posix_spawnattr_setsigdefault(&attr, &all);
    if (!r)
        r = posix_spawnattr_setpgroup(&attr, 0);
    if (!r)
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                POSIX_SPAWN_SETPGROUP);
    if (!r)
        r = posix_spawn(ret_pid, s->path, &fa, &attr, s->argv, s->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return -r;
}

int rt__spawn_capture(const struct rt__spawn *s, char **ret_out, size_t *ret_len, int *ret_status)
{
    _cleanup_close_ int rfd = -1, wfd = -1;
    _cleanup_free_ char *out = NULL;
    size_t len = 0;
    int fds[2], status, r, k;
    usec_t deadline;
    pid_t pid;

    deadline = now_usec() + (usec_t)s->timeout_ms * USEC_PER_MSEC;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    rfd = fds[0];
    wfd = fds[1];
    r = spawn_child(s, wfd, &pid);
    if (r < 0)
        return r;
    /* Our copy of the write end must go, or EOF never comes. */
    wfd = safe_close(wfd);
    r = read_bounded(rfd, s->max_output, deadline, &out, &len);
    if (r < 0)
        (void)kill(-pid, SIGKILL);
    rfd = safe_close(rfd);
    wait_exit(pid, deadline);
    /* The zombie still holds the pid, so killing its process group cannot hit a stranger;
     * background leftovers of the script die with it. */
    (void)kill(-pid, SIGKILL);
    do
        k = waitpid(pid, &status, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return r < 0 ? r : -errno;
    if (r < 0)
        return r;
    *ret_out = TAKE_PTR(out);
    if (ret_len)
        *ret_len = len;
    *ret_status = status;
    return 0;
}
