/* Real boxes through sbx_run(): exit codes, signals, limits, the mount view, identity,
 * environment, fds, network and accounting. Needs root and cgroups (exit 77 otherwise). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "sandbox.h"
#include "sbx-fixture.h"
#include "test.h"

static void setup(void)
{
    sbx_fixture_setup("capsule-test-run", 64000, 500);
}

TEST(exit_code_and_output)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};

    setup();
    run_sh("echo out; echo err >&2; exit 3", &spec, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 3);
    ASSERT_STREQ(res.out.data, "out\n");
    ASSERT_STREQ(res.err.data, "err\n");
    ASSERT_EQ(res.output.len, 8);
    ASSERT_TRUE(res.memory_known);
    sbx_result_done(&res);
    teardown();
}

/* The streams end with PID 1's report, not at an EOF (the slot worker holds the write ends
 * too): what the job wrote is all read, whether the pipe was full at the exit, a stream was
 * closed early, or the last bytes came from a process killed at the end of the job. */
TEST(streams_end_with_the_job_not_at_eof)
{
    struct sbx_spec spec = {.wall_limit_ms = 20000, .output_limit = 1 << 20};
    struct sbx_result res = {0};

    setup();
    /* 64 KiB + 1 per stream: each pipe is full when its writer exits */
    run_sh("head -c 65537 /dev/zero | tr '\\0' o; head -c 65537 /dev/zero | tr '\\0' e >&2", &spec,
           &res);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.out.len, 65537);
    ASSERT_EQ(res.err.len, 65537);
    ASSERT_EQ(res.output.len, 2 * 65537);
    ASSERT_EQ(res.out.data[65536], 'o');
    ASSERT_EQ(res.err.data[65536], 'e');
    sbx_result_done(&res);
    /* stdout closed first: stderr is still read to the end of the job */
    run_sh("echo a; exec 1>&-; sleep 0.1; echo late >&2; exit 4", &spec, &res);
    ASSERT_EQ(res.exit_code, 4);
    ASSERT_STREQ(res.out.data, "a\n");
    ASSERT_STREQ(res.err.data, "late\n");
    sbx_result_done(&res);
    /* a background writer's bytes are read, and it does not outlive the job */
    run_sh("(echo bg; sleep 30) & sleep 0.2; echo main", &spec, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_STREQ(res.out.data, "bg\nmain\n");
    ASSERT_LE(res.wall_usec, 10000000);
    sbx_result_done(&res);
    /* killed at its wall limit: what it wrote before is kept */
    spec.wall_limit_ms = 3000; /* time enough for the echo in an emulated guest */
    run_sh("echo before; exec sleep 60", &spec, &res);
    ASSERT_EQ(res.time_trip, SBX_TIME_WALL);
    ASSERT_STREQ(res.out.data, "before\n");
    sbx_result_done(&res);
    teardown();
}

TEST(signal_is_reported)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};

    setup();
    run_sh("kill -SEGV $$", &spec, &res);
    ASSERT_FALSE(res.exited);
    ASSERT_EQ(res.signal, SIGSEGV);
    ASSERT_EQ(res.time_trip, SBX_TIME_OK);
    sbx_result_done(&res);
    teardown();
}

TEST(signals_start_from_defaults)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};

    sigset_t mask;

    setup();
    /* the daemon blocks SIGTERM and ignores SIGPIPE: none of that may reach the program */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    run_sh("kill -TERM $$; echo survived", &spec, &res);
    ASSERT_EQ(res.signal, SIGTERM);
    sbx_result_done(&res);
    run_sh("kill -PIPE $$; echo survived", &spec, &res);
    ASSERT_EQ(res.signal, SIGPIPE);
    sbx_result_done(&res);
    teardown();
}

TEST(wall_limit_kills)
{
    struct sbx_spec spec = {.wall_limit_ms = 300};
    struct sbx_result res = {0};

    setup();
    run_sh("trap '' TERM INT; sleep 10", &spec, &res);
    ASSERT_EQ(res.time_trip, SBX_TIME_WALL);
    ASSERT_EQ(res.signal, SIGKILL);
    ASSERT_GE(res.wall_usec, 300000);
    ASSERT_LE(res.wall_usec, 1500000);
    sbx_result_done(&res);
    teardown();
}

TEST(cpu_limit_counts_children)
{
    struct sbx_spec spec = {.cpu_limit_ms = 400, .wall_limit_ms = 5000};
    struct sbx_result res = {0};

    setup();
    run_sh("(while :; do :; done) & (while :; do :; done) & wait", &spec, &res);
    ASSERT_EQ(res.time_trip, SBX_TIME_CPU);
    ASSERT_GE(res.cpu_usec, 400000);
    sbx_result_done(&res);
    teardown();
}

TEST(output_limit_trips_and_truncates)
{
    struct sbx_spec spec = {.output_limit = 1000};
    struct sbx_result res = {0};

    setup();
    run_sh("while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done", &spec, &res);
    ASSERT_EQ(res.output_trip, SBX_OUTPUT_STDOUT);
    ASSERT_EQ(res.out.len, 1000);
    ASSERT_LE(res.wall_usec, 1000000);
    sbx_result_done(&res);
    teardown();
}

TEST(memory_limit_oom)
{
    struct sbx_spec spec = {.memory_limit = 32 << 20};
    struct sbx_result res = {0};

    setup();
    /* /tmp is the box tmpfs, whose pages are charged to the box */
    run_sh("exec /usr/bin/python3 -c \"x = b'x' * (100 << 20); print('survived')\"", &spec, &res);
    ASSERT_TRUE(res.oom_killed);
    ASSERT_EQ(res.signal, SIGKILL);
    ASSERT_TRUE(res.memory_peak <= (uint64_t)(33 << 20));
    sbx_result_done(&res);
    teardown();
}

TEST(identity_env_fds_and_view)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};
    char expect[256];

    setup();
    run_sh("id -u; id -g; pwd; env | sort | tr '\\n' ' '; echo; ls /proc/self/fd | tr '\\n' ' ';"
           " echo; ls / | tr '\\n' ' '; echo; cat /proc/net/dev | wc -l;"
           " grep -c . /proc/1/cmdline 2>&1 | head -1; touch /usr/x 2>/dev/null || echo ro",
           &spec, &res);
    ASSERT_TRUE(res.exited);
    snprintf(expect, sizeof(expect), "%u\n%u\n/box/submission\n", (unsigned)sbx_slot_uid(slot),
             (unsigned)sbx_slot_gid(slot));
    ASSERT_TRUE(strncmp(res.out.data, expect, strlen(expect)) == 0);
    ASSERT_NOT_NULL(strstr(res.out.data, "HOME=/tmp PATH=/usr/bin:/bin PWD=/box/submission"));
    /* fds: 0 1 2 and the one ls itself opens */
    ASSERT_NOT_NULL(strstr(res.out.data, "\n0 1 2 3 \n"));
    ASSERT_NOT_NULL(strstr(res.out.data, "ro"));
    ASSERT_NULL(strstr(res.out.data, "root "));
    ASSERT_NULL(strstr(res.out.data, "home "));
    sbx_result_done(&res);
    teardown();
}

TEST(namespaces_and_privileges_denied)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};

    setup();
    run_sh("unshare -r true 2>/dev/null && echo userns-open;"
           " unshare -n true 2>/dev/null && echo netns-open;"
           " cat /root/.bashrc 2>/dev/null && echo root-readable;"
           " echo x > /etc/passwd 2>/dev/null && echo etc-writable;"
           " ip link 2>/dev/null | grep -q UP && echo lo-up; echo done",
           &spec, &res);
    ASSERT_STREQ(res.out.data, "done\n");
    sbx_result_done(&res);
    teardown();
}

TEST(pids_limit)
{
    struct sbx_spec spec = {.max_processes = 8};
    struct sbx_result res = {0};

    setup();
    /* builtins only once the cap is reached: nothing else could be started */
    run_sh("(for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done) 2>/dev/null;"
           " set -- /proc/[0-9]*; echo $#",
           &spec, &res);
    ASSERT_TRUE(res.exited);
    if (!res.out.data)
        TEST_FAIL("no output; stderr: %s", res.err.data ? res.err.data : "");
    ASSERT_LE(atoi(res.out.data), 10);
    sbx_result_done(&res);
    teardown();
}

static void *abort_later(void *arg)
{
    usleep(200 * 1000);
    sbx_slot_abort(arg);
    return NULL;
}

TEST(abort_kills_the_running_box_and_later_ones)
{
    struct sbx_spec spec = {.wall_limit_ms = 10000};
    struct sbx_result res = {0};
    const char *argv[] = {"/bin/sleep", "5", NULL};
    static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct sbx_error e = {0};
    pthread_t t;

    setup();
    ASSERT_EQ(pthread_create(&t, NULL, abort_later, slot), 0);
    run_sh("sleep 5", &spec, &res);
    pthread_join(t, NULL);
    ASSERT_TRUE(res.aborted);
    ASSERT_EQ(res.signal, SIGKILL);
    ASSERT_LE(res.wall_usec, 2000000);
    sbx_result_done(&res);
    struct sbx_spec again = {.argv = argv, .envp = envp, .stdin_fd = stdin_fd("")};
    ASSERT_EQ(sbx_run(slot, &again, &res, &e), -ECANCELED);
    teardown();
}

TEST(daemonized_child_does_not_delay)
{
    struct sbx_spec spec = {.wall_limit_ms = 5000};
    struct sbx_result res = {0};

    setup();
    run_sh("setsid sleep 30 & echo started", &spec, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 0);
    ASSERT_LE(res.wall_usec, 1000000);
    sbx_result_done(&res);
    teardown();
}

/* VmRSS in kB of the box's PID 1: the child of this thread that runs capsule-box. */
static long box_rss_kb(void)
{
    char path[96], comm[32], line[256];
    long rss = -1;
    int pid;
    FILE *children, *f;

    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)gettid());
    children = fopen(path, "re");
    ASSERT_NOT_NULL(children);
    while (rss < 0 && fscanf(children, "%d", &pid) == 1) {
        snprintf(path, sizeof(path), "/proc/%d/comm", pid);
        f = fopen(path, "re");
        if (!f)
            continue;
        bool box = fgets(comm, sizeof(comm), f) && strcmp(comm, "capsule-box\n") == 0;
        fclose(f);
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        if (!box || !(f = fopen(path, "re")))
            continue;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "VmRSS: %ld", &rss) == 1)
                break;
        fclose(f);
    }
    fclose(children);
    ASSERT_GE(rss, 0);
    return rss;
}

static void empty_tmp(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf %s/tmp/* %s/submission/*", sbx_slot_dir(slot),
             sbx_slot_dir(slot));
    ASSERT_EQ(system(cmd), 0);
}

/* One box serves job after job, and each job finds it as if it were new: the program is
 * PID 2 whatever the job before it started (its pids are handed out from 2 again), PID 1 is
 * not visible, the SysV queue the job before made is not in its IPC namespace, and nothing of the
 * previous job is alive or left in /tmp once the slot is quiesced, background processes included.
 */
TEST(one_box_serves_job_after_job_each_as_new)
{
    struct sbx_error e = {0};
    struct sbx_box *first = NULL;
    unsigned built;

    setup();
    for (int i = 0; i < 3; i++) {
        struct sbx_spec spec = {0};
        struct sbx_result res = {0};
        char pid[16], queues[16];
        ASSERT_OK(sbx_slot_prepare(slot, NULL, NULL, NULL, &e));
        ASSERT_NOT_NULL(slot->warm);
        if (i == 0) {
            first = slot->warm;
            built = slot->boxes_built;
        }
        ASSERT_TRUE(slot->warm == first);
        ASSERT_OK(sbx_slot_prepare(slot, NULL, NULL, NULL, &e)); /* no-op: it fits */
        run_sh("echo $$; tail -n +2 /proc/sysvipc/msg | wc -l; ipcmk -Q >/dev/null; "
               "test -e /proc/1 && echo pid1-visible; "
               "ls -A /tmp; touch /tmp/x; for n in 1 2 3 4 5 6 7 8 9 10; do true & done; wait; "
               "(setsid sleep 100 </dev/null >/dev/null 2>&1 &); "
               "sleep 100 </dev/null >/dev/null 2>&1 &",
               &spec, &res);
        ASSERT_TRUE(slot->warm == first); /* back, for the next job */
        ASSERT_EQ(slot->boxes_built, built);
        ASSERT_TRUE(res.exited);
        ASSERT_EQ(res.exit_code, 0);
        ASSERT_EQ(sscanf(res.out.data, "%15s %15s", pid, queues), 2);
        ASSERT_STREQ(pid, "2");
        ASSERT_STREQ(queues, "0"); /* the queue the job before made is not in this one's IPC */
        ASSERT_NULL(strstr(res.out.data, "pid1-visible"));
        ASSERT_NULL(strstr(res.out.data, "\nx\n")); /* the previous job's /tmp/x */
        sbx_result_done(&res);
        ASSERT_OK(sbx_slot_quiesce(slot));
        ASSERT_EQ(count_slot_processes(), 0);
        empty_tmp();
    }
    teardown();
}

/* PID 1 unmaps each job's strings once the program has exec'd: 20 jobs of 60 KB each leave
 * its memory as it was (it kept every one of them while it could not see what the program
 * left it). */
TEST(pid1_keeps_nothing_of_past_jobs)
{
    static char script[60 * 1024];
    struct sbx_result res = {0};
    long before = 0;
    unsigned built = 0;

    memset(script, 'x', sizeof(script) - 1);
    memcpy(script, "true #", 6);
    setup();
    for (int i = 0; i < 25; i++) { /* few enough for one box even in a slow guest (10 s) */
        struct sbx_spec spec = {0};
        if (i == 5) {
            before = box_rss_kb();
            built = slot->boxes_built;
        }
        run_sh(script, &spec, &res);
        ASSERT_TRUE(res.exited);
        ASSERT_EQ(res.exit_code, 0);
        sbx_result_done(&res);
        ASSERT_OK(sbx_slot_quiesce(slot));
    }
    ASSERT_EQ(slot->boxes_built, built); /* one box served them all */
    ASSERT_LE(box_rss_kb() - before, 256);
    teardown();
}

/* The box's next job is counted alone: the CPU time, memory peak and process limit of the job
 * before it are not in its result (on v1 the pids and cpuacct directories serve both jobs). */
TEST(a_box_s_next_job_counts_its_own_usage)
{
    /* wall limits far past the work: an emulated guest runs it 100 times slower */
    struct sbx_spec spec = {.max_processes = 4, .memory_limit = 256 << 20, .wall_limit_ms = 120000};
    struct sbx_result res = {0};
    struct sbx_error e = {0};
    struct sbx_box *first;
    uint64_t first_cpu;

    setup();
    /* The loop takes 5-15 s in the emulated v2 guest, past a root template's 10 s of service
     * after which the next job would get a new box (and prove nothing about this one). */
    ctx->template_max_age_usec = 600ULL * 1000 * 1000;
    ASSERT_OK(sbx_slot_prepare(slot, NULL, NULL, NULL, &e));
    first = slot->warm;
    run_sh("dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null; i=0; "
           "while [ $i -lt 300000 ]; do i=$((i+1)); done",
           &spec, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 0);
    ASSERT_GE(res.cpu_usec, 100000);
    ASSERT_GE(res.memory_peak, (uint64_t)48 << 20);
    first_cpu = res.cpu_usec;
    sbx_result_done(&res);
    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_TRUE(slot->warm == first); /* kept for the next job */
    empty_tmp();

    spec = (struct sbx_spec){.wall_limit_ms = 120000}; /* no process limit now */
    run_sh("for n in 1 2 3 4 5 6 7 8; do sleep 0.3 & done; wait", &spec, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 0);
    ASSERT_TRUE(slot->warm == first); /* the same box served, and is kept again */
    ASSERT_STREQ(res.err.data ? res.err.data : "", "");
    ASSERT_LE(res.cpu_usec, first_cpu / 4); /* its own forks only, not the loop before */
    ASSERT_LE(res.memory_peak, (uint64_t)24 << 20);
    ASSERT_FALSE(res.oom_killed);
    sbx_result_done(&res);
    teardown();
}

/* The slot with its box built ahead; returns the count of boxes built so far. */
static unsigned setup_with_a_warm_box(void)
{
    struct sbx_error e = {0};

    setup();
    ASSERT_OK(sbx_slot_prepare(slot, NULL, NULL, NULL, &e));
    return slot->boxes_built;
}

/* After a job that took its box along: nothing of it is left, and the next job gets a new
 * box (built is the count before), whose program is PID 2 again. */
static void assert_next_job_gets_a_new_box(unsigned built)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};

    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_EQ(count_slot_processes(), 0);
    run_sh("echo $$", &spec, &res);
    ASSERT_EQ(slot->boxes_built, built + 1);
    ASSERT_STREQ(res.out.data, "2\n");
    sbx_result_done(&res);
}

/* A step of the program that fails before its execve (here its rlimits: RLIMIT_NOFILE cannot
 * go past fs.nr_open) comes back in PID 1's report in place of a status, names the step, and
 * ends the box; the slot's next job gets a new one. */
TEST(a_step_failing_before_exec_is_reported_and_ends_the_box)
{
    const char *argv[] = {"/bin/true", NULL};
    struct sbx_spec spec = {
        .argv = argv, .wall_limit_ms = 5000, .output_limit = 4096, .max_open_files = 1ULL << 40};
    struct sbx_result res = {0};
    struct sbx_error e = {0};
    unsigned built = setup_with_a_warm_box();

    spec.stdin_fd = stdin_fd("");
    ASSERT_EQ(sbx_run(slot, &spec, &res, &e), -EPERM);
    ASSERT_STREQ(e.step, "rlimit");
    ASSERT_NULL(slot->warm);
    close(spec.stdin_fd);
    assert_next_job_gets_a_new_box(built);
    teardown();
}

/* A box whose job was killed (here by its wall limit) does not serve again: the next run
 * gets a new box, and nothing of the killed one is left. */
TEST(a_killed_job_takes_its_box_along)
{
    struct sbx_spec spec = {.wall_limit_ms = 200};
    struct sbx_result res = {0};
    unsigned built = setup_with_a_warm_box();

    run_sh("sleep 10", &spec, &res);
    ASSERT_EQ(res.time_trip, SBX_TIME_WALL);
    ASSERT_NULL(slot->warm);
    sbx_result_done(&res);
    assert_next_job_gets_a_new_box(built);
    teardown();
}

/* next_stage_follows: the stage's own box serves the next stage (no second box is built),
 * and a discarded warm box goes away with sbx_slot_quiesce (its supervisor exits, its leaf is
 * removed). */
TEST(next_stage_runs_in_the_same_box)
{
    struct sbx_spec spec = {.next_stage_follows = true};
    struct sbx_result res = {0};
    unsigned built;

    setup();
    run_sh("exit 0", &spec, &res);
    sbx_result_done(&res);
    built = slot->boxes_built;
    ASSERT_NOT_NULL(slot->warm);
    spec = (struct sbx_spec){0};
    run_sh("exit 0", &spec, &res);
    sbx_result_done(&res);
    ASSERT_EQ(slot->boxes_built, built);
    sbx_slot_discard(slot);
    ASSERT_NULL(slot->warm);
    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_EQ(slot->n_retiring, 0);
    ASSERT_EQ(slot->n_spent_leaves, 0);
    teardown();
}

static ino_t inode_of(int fd)
{
    struct stat st;

    ASSERT_OK(fstat(fd, &st) < 0 ? -errno : 0);
    return st.st_ino;
}

/* What the next box sees of the network namespace: its inode, and its socket count. */
static void run_netns_probe(struct sbx_result *res)
{
    struct sbx_spec spec = {0};

    run_sh("readlink /proc/self/ns/net; tail -n +2 /proc/net/unix | wc -l;"
           " head -n 1 /proc/net/sockstat",
           &spec, res);
    ASSERT_TRUE(res->exited);
    ASSERT_EQ(res->exit_code, 0);
}

/* A socket that the test makes in the slot's namespace and keeps open (its family's). */
static int socket_in_slot_netns(int family, int type)
{
    int host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), fd;

    ASSERT_TRUE(host >= 0);
    ASSERT_OK(setns(slot->netns_fd, CLONE_NEWNET) < 0 ? -errno : 0);
    fd = socket(family, type | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(fd >= 0);
    ASSERT_OK(setns(host, CLONE_NEWNET) < 0 ? -errno : 0);
    close(host);
    return fd;
}

/* A socket still alive in the slot's network namespace once its job is gone (what an
 * in-flight descriptor cycle is until the kernel's garbage collector frees it; here the test
 * holds one, so the timing is ours) costs the slot that namespace: quiesce swaps in a fresh
 * one, drops a warm box built in the old one, and the next box sees no socket. A socket of
 * any family counts (a bound UDP port would hold a bit, too). A clean slot keeps its
 * namespace. */
TEST(slot_netns_with_a_surviving_socket_is_replaced)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct sbx_result res = {0};
    struct sbx_error e = {0};
    char expect[64];
    int left;

    setup();
    ino_t first = inode_of(slot->netns_fd);
    run_netns_probe(&res);
    snprintf(expect, sizeof(expect), "net:[%lu]\n0\nsockets: used 0\n", (unsigned long)first);
    ASSERT_STREQ(res.out.data, expect);
    sbx_result_done(&res);
    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_EQ(inode_of(slot->netns_fd), first);
    ASSERT_EQ(slot->netns_replaced, 0);

    /* an abstract name belongs to the namespace the socket was made in */
    left = socket_in_slot_netns(AF_UNIX, SOCK_STREAM);
    memcpy(addr.sun_path + 1, "capsule-left", 12);
    ASSERT_OK(bind(left, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 13) < 0
                  ? -errno
                  : 0);
    ASSERT_OK(listen(left, 1) < 0 ? -errno : 0);
    ASSERT_OK(sbx_slot_prepare(slot, NULL, NULL, NULL, &e));
    ASSERT_NOT_NULL(slot->warm);

    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_NULL(slot->warm);
    ASSERT_EQ(slot->n_retiring, 0);
    ASSERT_EQ(slot->netns_replaced, 1);
    ino_t second = inode_of(slot->netns_fd);
    ASSERT_NE(second, first);
    run_netns_probe(&res);
    snprintf(expect, sizeof(expect), "net:[%lu]\n0\nsockets: used 0\n", (unsigned long)second);
    ASSERT_STREQ(res.out.data, expect);
    sbx_result_done(&res);
    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_EQ(inode_of(slot->netns_fd), second); /* the old one's socket is not the new one's */

    int udp = socket_in_slot_netns(AF_INET, SOCK_DGRAM);
    struct sockaddr_in any = {.sin_family = AF_INET};
    ASSERT_OK(bind(udp, (struct sockaddr *)&any, sizeof(any)) < 0 ? -errno : 0);
    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_EQ(slot->netns_replaced, 2);
    ASSERT_NE(inode_of(slot->netns_fd), second);
    close(udp);
    close(left);
    teardown();
}

/* Locks are allowed only in a box whose slot has its own mount namespace with its private
 * inodes (sandbox/private.c); a box cloned from anywhere else keeps the ENOLCK filter. */
TEST(locks_denied_outside_the_slot_namespace)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};

    setup();
    run_sh("flock -n /tmp/l true 2>&1; echo $?", &spec, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_STREQ(res.out.data, "flock: /tmp/l: No locks available\n71\n");
    sbx_result_done(&res);
    teardown();
}

TEST(locks_allowed_in_the_slot_namespace_on_private_inodes)
{
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};

    setup();
    ASSERT_OK(sbx_slot_enter_thread(slot));
    /* a lock on the job tmpfs and on /usr; /usr and the device nodes are the slot's own
     * (overlay, slot tmpfs); /proc/locks reads empty */
    run_sh("flock -n /tmp/l echo tmp; flock -n /usr/bin/sh echo usr;"
           " grep -c ' /usr ro,.* - overlay capsule-ro ' /proc/self/mountinfo;"
           " grep -c ' /dev/null .* - tmpfs capsule-slot-private ' /proc/self/mountinfo;"
           " wc -c < /proc/locks",
           &spec, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_TRUE(!res.err.data || !res.err.data[0]);
    ASSERT_STREQ(res.out.data, "tmp\nusr\n1\n1\n0\n");
    sbx_result_done(&res);
    teardown();
}

/* A program that is not there is the program's failure (as a shell reports it), not the
 * box's: a package's run.argv may name ./a.out, which a job could have removed. */
TEST(missing_program_is_exit_127)
{
    static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    const char *argv[] = {"./a.out", NULL};
    struct sbx_spec spec = {.argv = argv, .envp = envp, .wall_limit_ms = 5000};
    struct sbx_result res = {0};
    struct sbx_error e = {0};

    setup();
    spec.stdin_fd = stdin_fd("");
    ASSERT_OK(sbx_run(slot, &spec, &res, &e));
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 127);
    ASSERT_STREQ(res.err.data, "./a.out: No such file or directory\n");
    sbx_result_done(&res);
    teardown();
}
