/* The monitor: one epoll loop per stage on the thread that runs it (the slot worker, or a
 * thread the slot is lent to: sbx_slot_join). It reads both output
 * pipes with their caps, polls the cgroup's CPU counter, watches the wall clock, and kills the
 * box (SIGKILL to PID 1 through its pidfd, plus the cgroup) the moment a limit trips. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"
#include "time-util.h"

/* CPU usage is sampled this often: a trip is seen within ~10 ms of the limit (Piston: 100). */
#define CPU_POLL_USEC (10 * USEC_PER_MSEC)

/* Read buffer per stage, on the heap: 64 slot workers each touching 64 KiB of stack would
 * keep 4 MiB resident for the daemon's lifetime, while freed heap goes back (malloc_trim). */
#define MONITOR_READ_SIZE 65536

enum { SRC_STDOUT, SRC_STDERR, SRC_STATUS, SRC_PIDFD, SRC_ABORT, SRC_STREAM };

static void box_kill(struct sbx_monitor *mon)
{
    if (!mon->killed_usec)
        mon->killed_usec = now_usec();
    (void)syscall(SYS_pidfd_send_signal, mon->pidfd, SIGKILL, NULL, 0);
    (void)sbx__cgroup_leaf_kill(mon->leaf);
}

static int add_fd(int epfd, int fd, int src)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)src};

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Stream mode back-pressure: the output pipes leave the epoll set (a level-triggered EPOLLHUP
 * would fire even with no events asked for), so the program blocks in write() once a pipe
 * is full, and come back when the consumer has room. */
static void set_paused(struct sbx_monitor *mon, bool paused)
{
    if (mon->paused == paused)
        return;
    mon->paused = paused;
    if (mon->stdout_fd >= 0) {
        if (paused)
            (void)epoll_ctl(mon->epfd, EPOLL_CTL_DEL, mon->stdout_fd, NULL);
        else
            (void)add_fd(mon->epfd, mon->stdout_fd, SRC_STDOUT);
    }
    if (mon->stderr_fd >= 0) {
        if (paused)
            (void)epoll_ctl(mon->epfd, EPOLL_CTL_DEL, mon->stderr_fd, NULL);
        else
            (void)add_fd(mon->epfd, mon->stderr_fd, SRC_STDERR);
    }
}

/* Stream mode: whatever the caller asked for since the last call. */
static void stream_control(struct sbx_monitor *mon, struct sbx_result *res, bool ended)
{
    const struct sbx_stream *st = mon->spec->stream;
    struct sbx_stream_control ctl = {0};

    st->control(st->userdata, &ctl);
    if (ctl.cancel && !ended && !res->cancelled) {
        res->cancelled = true;
        box_kill(mon);
    }
    /* a signal for a program that is gone (or going) has nobody to reach: dropped */
    if (ctl.signal > 0 && !ended && !mon->killed_usec)
        (void)sbx__program_signal(mon->pidfd, &mon->program_pidfd, ctl.signal);
    if (!ended)
        set_paused(mon, ctl.paused);
}

/* Appends to one stream within its cap; the first byte beyond the cap trips the stream. */
static int capture(struct sbx_monitor *mon, struct sbx_result *res, int src, const char *buf,
                   size_t n)
{
    struct strbuf *sb = src == SRC_STDOUT ? &res->out : &res->err;
    uint64_t limit = mon->spec->output_limit;
    long stored;

    if (mon->spec->stream) {
        const struct sbx_stream *st = mon->spec->stream;
        if (st->output(st->userdata, src == SRC_STDERR, buf, n) && !mon->ended)
            set_paused(mon, true);
        return 0;
    }
    if (sb->truncated)
        return 0; /* this stream already overflowed: the rest is discarded */
    if (limit)
        sb->cap = limit;
    stored = strbuf_append(sb, buf, n);
    if (stored < 0)
        return (int)stored;
    if (strbuf_append(&res->output, buf, (size_t)stored) < 0)
        return -ENOMEM;
    if (sb->truncated && res->output_trip == SBX_OUTPUT_OK) {
        res->output_trip = src == SRC_STDOUT ? SBX_OUTPUT_STDOUT : SBX_OUTPUT_STDERR;
        box_kill(mon);
    }
    return 0;
}

/* Another slot's supervisor may briefly hold a copy of our pipe ends (inherited at its
 * clone, closed at its exec of capsule-box): while it does, closing our fd would not remove the
 * pipe from the epoll set, and a stale event would name a closed fd. So: delete, then close. */
static void close_watched(struct sbx_monitor *mon, int *fd)
{
    (void)epoll_ctl(mon->epfd, EPOLL_CTL_DEL, *fd, NULL);
    *fd = safe_close(*fd);
}

/* One read: 1 if it got data, 0 if there was none (or EOF), else -errno. */
static int drain(struct sbx_monitor *mon, struct sbx_result *res, int src, int *fd)
{
    char *buf = mon->read_buf;
    ssize_t k;
    int r;

    if (*fd < 0)
        return 0;
    k = read(*fd, buf, MONITOR_READ_SIZE);
    if (k < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    if (k == 0) {
        close_watched(mon, fd);
        return 0;
    }
    r = capture(mon, res, src, buf, (size_t)k);
    return r < 0 ? r : 1;
}

/* Once nothing of the job is alive: what the pipes hold is all there will be (their capacity
 * at most), read until they are empty. */
static int drain_rest(struct sbx_monitor *mon, struct sbx_result *res, int src, int *fd)
{
    int r;

    while ((r = drain(mon, res, src, fd)) > 0)
        ;
    return r;
}

/* The box's report on the job socket: one record (a single write far below the socket's
 * buffer, so it arrives whole). The socket stays the box's; it is only unwatched. EOF, an
 * error or a record of another size: the box is lost, and the pidfd tells the rest. */
static int read_report(struct sbx_monitor *mon, struct sbx_box_report *rep, bool *got)
{
    ssize_t k;

    if (mon->status_fd < 0)
        return 0;
    k = recv(mon->status_fd, rep, sizeof(*rep), MSG_DONTWAIT);
    /* ECONNRESET: PID 1 died with bytes unread on its side (a job it never took): as EOF */
    if (k < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (k == (ssize_t)sizeof(*rep) &&
        (rep->kind == SBX_REPORT_STATUS || rep->kind == SBX_REPORT_ERROR))
        *got = true;
    (void)epoll_ctl(mon->epfd, EPOLL_CTL_DEL, mon->status_fd, NULL);
    mon->status_fd = -1;
    return 0;
}

static void check_limits(struct sbx_monitor *mon, struct sbx_result *res, usec_t now)
{
    const struct sbx_spec *spec = mon->spec;
    uint64_t cpu;

    if (sbx__cgroup_leaf_peak_is_sampled(mon->leaf))
        (void)sbx__cgroup_leaf_memory_peak(mon->leaf, &cpu); /* keeps the running maximum */
    if (res->time_trip != SBX_TIME_OK || res->output_trip != SBX_OUTPUT_OK)
        return;
    if (spec->wall_limit_ms && now - mon->start_usec >= spec->wall_limit_ms * USEC_PER_MSEC) {
        res->time_trip = SBX_TIME_WALL;
        box_kill(mon);
        return;
    }
    /* on its schedule, not at every event: a program that writes line by line wakes the loop
     * far more often than the counter needs reading */
    if (!spec->cpu_limit_ms || now < mon->next_cpu_usec)
        return;
    mon->next_cpu_usec = now + CPU_POLL_USEC;
    if (sbx__cgroup_leaf_cpu_usec(mon->leaf, &cpu) >= 0 &&
        cpu >= spec->cpu_limit_ms * USEC_PER_MSEC) {
        res->time_trip = SBX_TIME_CPU;
        box_kill(mon);
    }
}

static int next_timeout_ms(const struct sbx_monitor *mon, usec_t now, bool dead)
{
    const struct sbx_spec *spec = mon->spec;
    usec_t wait =
        spec->cpu_limit_ms && mon->next_cpu_usec > now ? mon->next_cpu_usec - now : CPU_POLL_USEC;

    if (dead)
        return -1; /* PID 1 is gone: only its socket's last bytes and EOF are left to read */
    if (spec->wall_limit_ms) {
        usec_t deadline = mon->start_usec + spec->wall_limit_ms * USEC_PER_MSEC;
        wait = deadline > now ? MIN(wait, deadline - now) : 0;
    }
    if (!spec->cpu_limit_ms && !spec->wall_limit_ms)
        return -1;
    return (int)((wait + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
}

static int handle_event(struct sbx_monitor *mon, struct sbx_result *res, uint32_t src,
                        struct sbx_box_report *st, bool *got_status, bool *dead)
{
    switch (src) {
    case SRC_STDOUT:
        return MIN(drain(mon, res, SRC_STDOUT, &mon->stdout_fd), 0);
    case SRC_STDERR:
        return MIN(drain(mon, res, SRC_STDERR, &mon->stderr_fd), 0);
    case SRC_STATUS:
        if (!*got_status)
            res->wall_usec = now_usec() - mon->start_usec;
        return read_report(mon, st, got_status);
    case SRC_PIDFD:
        *dead = true;
        return 0;
    case SRC_STREAM:
        stream_control(mon, res, *dead || *got_status);
        return 0;
    case SRC_ABORT:
        /* the eventfd stays readable: stop watching it, one kill is enough */
        (void)epoll_ctl(mon->epfd, EPOLL_CTL_DEL, mon->abort_fd, NULL);
        if (!*dead) {
            res->aborted = true;
            box_kill(mon);
        }
        return 0;
    }
    return 0;
}

int sbx__monitor_open(struct sbx_monitor *mon)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC), r;

    if (epfd < 0)
        return -errno;
    mon->epfd = epfd;
    /* nothing of the job has run yet: the first reading is one period in */
    mon->next_cpu_usec = mon->start_usec + CPU_POLL_USEC;
    mon->read_buf = malloc(MONITOR_READ_SIZE);
    if (!mon->read_buf)
        return -ENOMEM;
    if ((r = add_fd(epfd, mon->stdout_fd, SRC_STDOUT)) < 0 ||
        (r = add_fd(epfd, mon->stderr_fd, SRC_STDERR)) < 0 ||
        (r = add_fd(epfd, mon->status_fd, SRC_STATUS)) < 0 ||
        (r = add_fd(epfd, mon->pidfd, SRC_PIDFD)) < 0 ||
        (r = add_fd(epfd, mon->abort_fd, SRC_ABORT)) < 0 ||
        (mon->spec->stream && (r = add_fd(epfd, mon->spec->stream->control_fd, SRC_STREAM)) < 0))
        return r;
    return 0;
}

void sbx__monitor_close(struct sbx_monitor *mon)
{
    mon->epfd = safe_close(mon->epfd);
    free(mon->read_buf);
    mon->read_buf = NULL;
}

int sbx__monitor_run(struct sbx_monitor *mon, struct sbx_result *res,
                     struct sbx_child_error *child_error)
{
    struct sbx_box_report st = {0};
    bool got_status = false, got_error = false, dead = false;
    int epfd = mon->epfd, r;

    /* Done when the box has reported, or when PID 1 is gone and its socket read to the end
     * (a failing step's report comes before its exit). PID 1 reports the main program's
     * status only once every other process of the job is dead and reaped, and the PID
     * namespace takes every process with its PID 1; either way nothing of the job can write
     * to the pipes any more. The write ends are the running thread's as well as the program's
     * (launch.c), so no EOF marks that: the pipes are read empty after the loop. */
    while (!got_status && !(dead && mon->status_fd < 0)) {
        struct epoll_event events[8];
        usec_t now = now_usec();
        int n;

        check_limits(mon, res, now);
        n = epoll_wait(epfd, events, (int)ARRAY_SIZE(events), next_timeout_ms(mon, now, dead));
        if (n < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < n; i++) {
            if (events[i].data.u32 == SRC_PIDFD && dead)
                continue;
            r = handle_event(mon, res, events[i].data.u32, &st, &got_status, &dead);
            if (r < 0) {
                box_kill(mon);
                return r;
            }
            if (events[i].data.u32 == SRC_PIDFD)
                (void)epoll_ctl(epfd, EPOLL_CTL_DEL, mon->pidfd, NULL);
        }
        /* A failing step of the program, or of the box, is reported in place of a status */
        if (got_status && st.kind == SBX_REPORT_ERROR && !got_error) {
            *child_error = st.error;
            got_error = true;
            got_status = false;
        }
        if (got_error)
            box_kill(mon);
        /* The program has ended or is being killed: what is left in the pipes (their
         * capacity at most) is read now whether or not the consumer has room, so a client
         * that stops reading cannot hold the box beyond its limits. */
        if ((got_status || dead || mon->killed_usec) && !mon->ended) {
            mon->ended = true;
            set_paused(mon, false);
            if (mon->spec->stream)
                (void)epoll_ctl(epfd, EPOLL_CTL_DEL, mon->spec->stream->control_fd, NULL);
        }
    }
    mon->ended = true;
    if ((r = drain_rest(mon, res, SRC_STDOUT, &mon->stdout_fd)) < 0 ||
        (r = drain_rest(mon, res, SRC_STDERR, &mon->stderr_fd)) < 0)
        return r;
    if (got_error)
        return child_error->err > 0 ? -child_error->err : -EIO;
    if (!got_status) {
        /* PID 1 died without a report: fine when a limit made us kill it (the program died
         * with it, by SIGKILL); anything else means the supervisor itself was lost. */
        uint64_t hits = 0;
        /* Until its execve the program shares PID 1's memory, and an OOM kill takes every
         * process of a memory: a limit too small for the exec itself ends both. That is the
         * program's verdict (memory), not a lost box. */
        bool oom = sbx__cgroup_leaf_memory_limit_hits(mon->leaf, &hits) >= 0 && hits > 0;
        if (res->time_trip == SBX_TIME_OK && res->output_trip == SBX_OUTPUT_OK && !res->aborted &&
            !res->cancelled && !oom)
            return -ECHILD;
        res->oom_killed |= oom;
        res->signal = SIGKILL;
        res->wall_usec = (mon->killed_usec ? mon->killed_usec : now_usec()) - mon->start_usec;
        return 0;
    }
    if (!res->wall_usec)
        res->wall_usec = now_usec() - mon->start_usec;
    mon->box_reusable = !dead && !mon->killed_usec;
    if (WIFEXITED(st.wait_status)) {
        res->exited = true;
        res->exit_code = WEXITSTATUS(st.wait_status);
    } else if (WIFSIGNALED(st.wait_status)) {
        res->signal = WTERMSIG(st.wait_status);
    }
    return 0;
}
