/* Status precedence and message texts (PISTON-API.md 3.5), output trimming at a cut. */
#include <signal.h>

#include "../../engine/internal.h"
#include "test.h"

static void from(struct sbx_result *sr, struct eng_stage_result *st)
{
    ASSERT_OK(eng__stage_from_sandbox(sr, st));
}

TEST(success_is_null_status)
{
    struct sbx_result sr = {.exited = true, .exit_code = 0, .cpu_usec = 1499, .wall_usec = 2500};
    struct eng_stage_result st;

    strbuf_append_str(&sr.out, "hi\n");
    strbuf_append_str(&sr.output, "hi\n");
    from(&sr, &st);
    ASSERT_EQ(st.status, ENG_STATUS_OK);
    ASSERT_NULL(st.message);
    ASSERT_NULL(st.signal_name);
    ASSERT_TRUE(st.has_code);
    ASSERT_EQ(st.code, 0);
    ASSERT_STREQ(st.stdout_data, "hi\n");
    ASSERT_STREQ(st.stderr_data, "");
    ASSERT_EQ(st.cpu_time_ms, 1);
    ASSERT_EQ(st.wall_time_ms, 3);
    eng__stage_done(&st);
}

TEST(exit_status_is_re)
{
    struct sbx_result sr = {.exited = true, .exit_code = 3};
    struct eng_stage_result st;

    from(&sr, &st);
    ASSERT_EQ(st.status, ENG_STATUS_RE);
    ASSERT_STREQ(st.message, "Exited with error status 3");
    ASSERT_STREQ(eng_status_name(st.status), "RE");
    eng__stage_done(&st);
}

TEST(signal_is_sg_with_name)
{
    struct sbx_result sr = {.signal = SIGSEGV};
    struct eng_stage_result st;

    from(&sr, &st);
    ASSERT_EQ(st.status, ENG_STATUS_SG);
    ASSERT_STREQ(st.message, "Caught fatal signal 11");
    ASSERT_STREQ(st.signal_name, "SIGSEGV");
    ASSERT_FALSE(st.has_code);
    eng__stage_done(&st);
}

TEST(oom_kill_of_main_is_memory)
{
    struct sbx_result sr = {.signal = SIGKILL, .oom_killed = true};
    struct eng_stage_result st;

    from(&sr, &st);
    ASSERT_EQ(st.status, ENG_STATUS_SG);
    ASSERT_STREQ(st.message, "Memory limit exceeded");
    ASSERT_STREQ(st.signal_name, "SIGKILL");
    eng__stage_done(&st);
}

TEST(oom_kill_of_child_only_is_a_note)
{
    struct sbx_result sr = {.exited = true, .exit_code = 0, .oom_killed = true};
    struct eng_stage_result st;

    from(&sr, &st);
    ASSERT_EQ(st.status, ENG_STATUS_OK);
    ASSERT_STREQ(st.message, "Memory limit exceeded (child process)");
    eng__stage_done(&st);
}

TEST(oom_kill_of_child_with_error_exit)
{
    struct sbx_result sr = {.exited = true, .exit_code = 1, .oom_killed = true};
    struct eng_stage_result st;

    from(&sr, &st);
    ASSERT_EQ(st.status, ENG_STATUS_RE);
    ASSERT_EQ(st.code, 1);
    ASSERT_STREQ(st.message, "Memory limit exceeded (child process)");
    eng__stage_done(&st);
}

TEST(output_beats_time_beats_memory)
{
    struct sbx_result sr = {.signal = SIGKILL,
                            .oom_killed = true,
                            .time_trip = SBX_TIME_CPU,
                            .output_trip = SBX_OUTPUT_STDERR};
    struct eng_stage_result st;

    from(&sr, &st);
    ASSERT_EQ(st.status, ENG_STATUS_EL);
    ASSERT_STREQ(st.message, "stderr length exceeded");
    ASSERT_STREQ(st.signal_name, "SIGKILL");
    eng__stage_done(&st);

    struct sbx_result sr2 = {.exited = true, .time_trip = SBX_TIME_WALL, .oom_killed = true};
    from(&sr2, &st);
    ASSERT_EQ(st.status, ENG_STATUS_TO);
    ASSERT_STREQ(st.message, "Time limit exceeded (wall clock)");
    ASSERT_FALSE(st.has_code);
    eng__stage_done(&st);

    struct sbx_result sr3 = {.signal = SIGKILL, .time_trip = SBX_TIME_CPU};
    from(&sr3, &st);
    ASSERT_STREQ(st.message, "Time limit exceeded");
    eng__stage_done(&st);
}

TEST(cut_utf8_character_is_dropped)
{
    struct sbx_result sr = {.signal = SIGKILL, .output_trip = SBX_OUTPUT_STDOUT};
    struct eng_stage_result st;

    /* "aé" cut after the first byte of é */
    strbuf_append(&sr.out, "a\xc3", 2);
    strbuf_append(&sr.output, "a\xc3", 2);
    from(&sr, &st);
    ASSERT_EQ(st.stdout_len, 1);
    ASSERT_EQ(st.output_len, 1);
    ASSERT_STREQ(st.message, "stdout length exceeded");
    eng__stage_done(&st);
}

TEST(stage_copy_is_deep)
{
    struct sbx_result sr = {.exited = true, .exit_code = 1};
    struct eng_stage_result a, b;

    strbuf_append_str(&sr.err, "boom");
    from(&sr, &a);
    ASSERT_OK(eng__stage_copy(&a, &b));
    ASSERT_TRUE(a.stderr_data != b.stderr_data);
    ASSERT_STREQ(b.stderr_data, "boom");
    ASSERT_STREQ(b.message, a.message);
    eng__stage_done(&a);
    eng__stage_done(&b);
}
