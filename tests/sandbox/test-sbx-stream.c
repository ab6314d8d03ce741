/* Stream mode of sbx_run() (sbx_spec.stream, the WebSocket path): output handed over as it
 * is read, back-pressure that blocks the program, a signal delivered to the main program,
 * a cancel, and limits that hold while the consumer is full. Needs root and cgroups. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "sbx-fixture.h"
#include "strbuf.h"
#include "test.h"

static void setup(void)
{
    sbx_fixture_setup("capsule-test-stream", 63000, 400);
}

/* The consumer's side, shared with a helper thread in the back-pressure test. */
struct consumer {
    int control_fd;
    struct strbuf out, err;
    atomic_bool paused;
    atomic_int signal;
    atomic_bool cancel;
    size_t pause_after;  /* answer "full" once this many bytes arrived; 0: never */
    const char *trigger; /* when stdout holds this ... */
    int trigger_signal;  /* ... ask for this signal */
    bool trigger_cancel; /* ... or for a cancel */
    atomic_size_t taken; /* bytes seen so far */
    unsigned calls;
};

static void poke(struct consumer *c)
{
    uint64_t one = 1;
    ASSERT_EQ(write(c->control_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static bool on_output(void *userdata, bool is_stderr, const char *data, size_t len)
{
    struct consumer *c = userdata;

    c->calls++;
    ASSERT_TRUE(strbuf_append(is_stderr ? &c->err : &c->out, data, len) >= 0);
    atomic_fetch_add(&c->taken, len);
    if (c->trigger && c->out.data && strstr(c->out.data, c->trigger)) {
        c->trigger = NULL;
        if (c->trigger_signal)
            atomic_store(&c->signal, c->trigger_signal);
        if (c->trigger_cancel)
            atomic_store(&c->cancel, true);
        poke(c);
    }
    if (c->pause_after && atomic_load(&c->taken) >= c->pause_after)
        atomic_store(&c->paused, true);
    return atomic_load(&c->paused);
}

static void on_control(void *userdata, struct sbx_stream_control *ret)
{
    struct consumer *c = userdata;
    uint64_t v;

    (void)!read(c->control_fd, &v, sizeof(v));
    ret->paused = atomic_load(&c->paused);
    ret->signal = atomic_exchange(&c->signal, 0);
    ret->cancel = atomic_load(&c->cancel);
}

static void consumer_init(struct consumer *c)
{
    *c = (struct consumer){0};
    c->control_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ASSERT_TRUE(c->control_fd >= 0);
}

static void consumer_done(struct consumer *c)
{
    strbuf_done(&c->out);
    strbuf_done(&c->err);
    close(c->control_fd);
}

static void run_stream(const char *script, int stdin_fd, uint64_t wall_ms, struct consumer *c,
                       struct sbx_result *res)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    static const char *const envp[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", NULL};
    struct sbx_stream st = {
        .control_fd = c->control_fd, .output = on_output, .control = on_control, .userdata = c};
    struct sbx_spec spec = {.argv = argv,
                            .envp = envp,
                            .stdin_fd = stdin_fd,
                            .wall_limit_ms = wall_ms,
                            .output_limit = 16, /* ignored in stream mode */
                            .stream = &st};
    struct sbx_error e = {0};
    int null_fd = -1, r;

    if (stdin_fd < 0)
        spec.stdin_fd = null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    r = sbx_run(slot, &spec, res, &e);
    if (null_fd >= 0)
        close(null_fd);
    if (r < 0)
        TEST_FAIL("sbx_run: step %s path %s: %s", e.step, e.path, strerror(-r));
}

TEST(output_streams_and_stdin_is_a_pipe)
{
    struct consumer c;
    struct sbx_result res = {0};
    int p[2];

    setup();
    consumer_init(&c);
    ASSERT_OK(pipe2(p, O_CLOEXEC) < 0 ? -errno : 0);
    ASSERT_EQ(write(p[1], "hello\n", 6), 6);
    close(p[1]); /* EOF after the line */
    run_stream("cat; head -c 100000 /dev/zero | tr '\\0' x; echo err >&2", p[0], 5000, &c, &res);
    close(p[0]);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 0);
    ASSERT_EQ(c.out.len, 6 + 100000); /* no output limit in stream mode */
    ASSERT_TRUE(memcmp(c.out.data, "hello\nxxx", 9) == 0);
    ASSERT_STREQ(c.err.data, "err\n");
    ASSERT_EQ(res.out.len, 0); /* nothing captured */
    ASSERT_EQ(res.output_trip, SBX_OUTPUT_OK);
    consumer_done(&c);
    sbx_result_done(&res);
    teardown();
}

static void *resume_later(void *arg)
{
    struct consumer *c = arg;

    /* 400 ms from the pause itself: the program has started by then, so its wall time
     * cannot be shorter (counted from thread start, a slow box build ate into it) */
    while (!atomic_load(&c->paused))
        usleep(1000);
    usleep(400 * 1000);
    /* what arrived while paused: at most the pipe's capacity (the program is blocked) */
    size_t seen = atomic_load(&c->taken);
    ASSERT_TRUE(seen < 4000000);
    c->pause_after = 0;
    atomic_store(&c->paused, false);
    poke(c);
    return NULL;
}

TEST(full_consumer_blocks_the_program)
{
    struct consumer c;
    struct sbx_result res = {0};
    pthread_t t;

    setup();
    consumer_init(&c);
    c.pause_after = 1;
    ASSERT_EQ(pthread_create(&t, NULL, resume_later, &c), 0);
    run_stream("head -c 4000000 /dev/zero", -1, 10000, &c, &res);
    pthread_join(t, NULL);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 0);
    ASSERT_EQ(c.out.len, 4000000); /* nothing lost across the pause */
    ASSERT_TRUE(res.wall_usec >= 400 * 1000);
    consumer_done(&c);
    sbx_result_done(&res);
    teardown();
}

/* A consumer still full when the job ends gets the rest all the same: the job's end, not an
 * EOF, ends the streams, and what the pipes hold then is read out (monitor.c). */
TEST(output_left_in_the_pipes_at_the_end_is_delivered)
{
    struct consumer c;
    struct sbx_result res = {0};

    setup();
    consumer_init(&c);
    c.pause_after = 1; /* full after the first read, never resumed */
    run_stream("printf a; sleep 0.3; head -c 30000 /dev/zero | tr '\\0' b; printf e >&2", -1, 20000,
               &c, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 0);
    ASSERT_EQ(c.out.len, 30001);
    ASSERT_EQ(c.out.data[0], 'a');
    ASSERT_EQ(c.out.data[30000], 'b');
    ASSERT_STREQ(c.err.data, "e");
    consumer_done(&c);
    sbx_result_done(&res);
    teardown();
}

TEST(full_consumer_cannot_outlast_the_wall_limit)
{
    struct consumer c;
    struct sbx_result res = {0};

    setup();
    consumer_init(&c);
    c.pause_after = 1; /* never resumes */
    run_stream("while :; do echo aaaaaaaaaaaaaaaaaaaaaaaa; done", -1, 300, &c, &res);
    ASSERT_EQ(res.time_trip, SBX_TIME_WALL);
    ASSERT_EQ(res.signal, SIGKILL);
    consumer_done(&c);
    sbx_result_done(&res);
    teardown();
}

TEST(signal_reaches_the_main_program)
{
    struct consumer c;
    struct sbx_result res = {0};

    setup();
    consumer_init(&c);
    c.trigger = "ready";
    c.trigger_signal = SIGTERM;
    run_stream("trap 'echo trapped; exit 4' TERM; echo ready; while :; do sleep 0.05; done", -1,
               10000, &c, &res);
    ASSERT_TRUE(res.exited);
    ASSERT_EQ(res.exit_code, 4);
    ASSERT_TRUE(strstr(c.out.data, "trapped\n") != NULL);
    ASSERT_EQ(res.time_trip, SBX_TIME_OK);
    consumer_done(&c);
    sbx_result_done(&res);
    teardown();
}

TEST(cancel_kills_the_box)
{
    struct consumer c;
    struct sbx_result res = {0};

    setup();
    consumer_init(&c);
    c.trigger = "ready";
    c.trigger_cancel = true;
    run_stream("echo ready; sleep 30", -1, 20000, &c, &res);
    ASSERT_TRUE(res.cancelled);
    ASSERT_FALSE(res.exited);
    ASSERT_TRUE(res.wall_usec < 10 * 1000 * 1000);
    consumer_done(&c);
    sbx_result_done(&res);
    teardown();
}
