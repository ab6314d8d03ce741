/* Configuration (PISTON-API.md 4.1, 4.3) through a fake environment. */
#include <unistd.h>

#include "api.h"
#include "macro.h"
#include "test.h"

/* NULL-terminated name/value pairs. */
static const char *fake_getenv(void *userdata, const char *name)
{
    const char *const *kv = userdata;

    for (; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static void load_ok(const char *const *env, struct api_config *cfg)
{
    _cleanup_free_ char *err = NULL;
    int r = api_config_load(fake_getenv, (void *)env, cfg, &err);

    if (r < 0)
        TEST_FAIL("api_config_load: %d (%s)", r, err ? err : "no message");
}

static void load_bad(const char *const *env, const char *want)
{
    _cleanup_free_ char *err = NULL;
    struct api_config cfg = {0};

    ASSERT_EQ(api_config_load(fake_getenv, (void *)env, &cfg, &err), -EINVAL);
    ASSERT_STREQ(err, want);
    ASSERT_NULL(cfg.bind_host);
}
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define BAD(name, value, reason)                                                                   \
    load_bad(ENV(name, value), "Config option " name " failed validation: " reason)

TEST(defaults)
{
    struct api_config cfg;

    load_ok(ENV(NULL), &cfg);
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_INFO);
    ASSERT_STREQ(cfg.bind_host, "0.0.0.0");
    ASSERT_EQ(cfg.bind_port, 2000);
    ASSERT_STREQ(cfg.data_dir, "/var/lib/capsuled");
    ASSERT_FALSE(cfg.data_dir_explicit);
    ASSERT_EQ(cfg.eng.uid_min, 60000);
    ASSERT_EQ(cfg.eng.gid_min, 60000);
    ASSERT_FALSE(cfg.eng.networking);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_OUTPUT_MAX_SIZE], 1024);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_MAX_PROCESS_COUNT], 64);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_MAX_OPEN_FILES], 2048);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_MAX_FILE_SIZE], 10000000);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_COMPILE_TIMEOUT], 10000);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_RUN_TIMEOUT], 3000);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_COMPILE_CPU_TIME], 10000);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_RUN_CPU_TIME], 3000);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_COMPILE_MEMORY_LIMIT], 1073741824);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_RUN_MEMORY_LIMIT], 536870912);
    ASSERT_STREQ(cfg.repo_url,
                 "https://github.com/engineer-man/piston/releases/download/pkgs/index");
    ASSERT_EQ(cfg.eng.max_concurrent_jobs, 64);
    ASSERT_EQ(cfg.eng.n_overrides, 0);
    /* The compiled-in default is private to the api target: an absolute path. */
    ASSERT_TRUE(cfg.runtimes_dir && cfg.runtimes_dir[0] == '/');
    ASSERT_EQ(cfg.max_body_size, 10485760);
    ASSERT_EQ(cfg.eng.tmpfs_size, 67108864);
    ASSERT_EQ(cfg.eng.tmpfs_inodes, 4096);
    ASSERT_EQ(cfg.eng.max_queue, 1024);
    ASSERT_EQ(cfg.eng.compile_cache_size, 268435456);
    ASSERT_STREQ(cfg.eng.instance, "capsule-2000");
    ASSERT_STREQ(cfg.eng.run_dir, "/run/capsule/capsule-2000");
    ASSERT_GE(cfg.http_threads, 2);
    ASSERT_GE(cfg.http_threads, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    api_config_done(&cfg);
    api_config_done(&cfg); /* idempotent */
}

TEST(explicit_values)
{
    struct api_config cfg;

    load_ok(ENV("PISTON_LOG_LEVEL", "DEBUG", "PISTON_BIND_ADDRESS", "[::1]:0",
                "PISTON_DATA_DIRECTORY", "/tmp", "PISTON_RUNNER_UID_MIN", "1000",
                "PISTON_RUNNER_UID_MAX", "1001", "PISTON_RUNNER_GID_MIN", "2000",
                "PISTON_RUNNER_GID_MAX", "2001", "PISTON_MAX_CONCURRENT_JOBS", "2",
                "PISTON_RUN_MEMORY_LIMIT", "-1", "PISTON_RUN_TIMEOUT", "0",
                "PISTON_OUTPUT_MAX_SIZE", "1000000000", "PISTON_REPO_URL", "file:///srv/index",
                "CAPSULE_RUNTIMES_DIR", "/opt/rt", "CAPSULE_MAX_BODY_SIZE", "536870912",
                "CAPSULE_MAX_QUEUE", "0", "CAPSULE_COMPILE_CACHE_SIZE", "0", "CAPSULE_INSTANCE",
                "blue.1", "CAPSULE_HTTP_THREADS", "1", "RUNTIME_DIRECTORY", "/run/a:/run/b",
                "CAPSULE_TMPFS_SIZE", "1048576", "CAPSULE_TMPFS_INODES", "64"),
            &cfg);
    ASSERT_EQ(cfg.log_level, LOG_LEVEL_DEBUG);
    ASSERT_STREQ(cfg.bind_host, "::1");
    ASSERT_EQ(cfg.bind_port, 0);
    ASSERT_STREQ(cfg.data_dir, "/tmp");
    ASSERT_TRUE(cfg.data_dir_explicit);
    ASSERT_EQ(cfg.eng.uid_min, 1000);
    ASSERT_EQ(cfg.eng.gid_min, 2000);
    ASSERT_EQ(cfg.eng.max_concurrent_jobs, 2);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_RUN_MEMORY_LIMIT], -1);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_RUN_TIMEOUT], 0);
    ASSERT_EQ(cfg.eng.limits[RT_LIMIT_OUTPUT_MAX_SIZE], 1000000000);
    ASSERT_STREQ(cfg.repo_url, "file:///srv/index");
    ASSERT_STREQ(cfg.runtimes_dir, "/opt/rt");
    ASSERT_EQ(cfg.max_body_size, 536870912);
    ASSERT_EQ(cfg.eng.max_queue, 0);
    ASSERT_EQ(cfg.eng.compile_cache_size, 0);
    ASSERT_STREQ(cfg.eng.instance, "blue.1");
    ASSERT_STREQ(cfg.eng.run_dir, "/run/a/blue.1");
    ASSERT_EQ(cfg.http_threads, 1);
    ASSERT_EQ(cfg.eng.tmpfs_size, 1048576);
    ASSERT_EQ(cfg.eng.tmpfs_inodes, 64);
    api_config_done(&cfg);
}

TEST(port_default_and_instance)
{
    struct api_config cfg;

    load_ok(ENV("PORT", "3000"), &cfg);
    ASSERT_STREQ(cfg.bind_host, "0.0.0.0");
    ASSERT_EQ(cfg.bind_port, 3000);
    ASSERT_STREQ(cfg.eng.instance, "capsule-3000");
    api_config_done(&cfg);
    /* PORT only feeds the default address. */
    load_ok(ENV("PORT", "3000", "PISTON_BIND_ADDRESS", "127.0.0.1:4000"), &cfg);
    ASSERT_EQ(cfg.bind_port, 4000);
    ASSERT_STREQ(cfg.eng.instance, "capsule-4000");
    api_config_done(&cfg);
    load_bad(ENV("PORT", "http"), "Config option PISTON_BIND_ADDRESS failed validation: "
                                  "0.0.0.0:http is not a valid address (host:port or "
                                  "[ipv6]:port)");
}

TEST(networking_fail_safe)
{
    static const struct {
        const char *value;
        bool networking;
    } cases[] = {{"true", false}, {"TRUE", false}, {"1", false}, {"", false},  {"yes", false},
                 {"false", true}, {"FALSE", true}, {"0", true},  {"no", true}, {"No", true}};

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct api_config cfg;

        load_ok(ENV("PISTON_DISABLE_NETWORKING", cases[i].value), &cfg);
        if (cfg.eng.networking != cases[i].networking)
            TEST_FAIL("PISTON_DISABLE_NETWORKING=%s", cases[i].value);
        api_config_done(&cfg);
    }
}

TEST(integers_must_be_whole)
{
    BAD("PISTON_RUN_TIMEOUT", "256MB", "256MB is not a number");
    BAD("PISTON_RUN_TIMEOUT", "1e6", "1e6 is not a number");
    BAD("PISTON_RUN_TIMEOUT", "", " is not a number");
    BAD("PISTON_RUN_TIMEOUT", " 5", " 5 is not a number");
    BAD("PISTON_RUN_TIMEOUT", "+5", "+5 is not a number");
    BAD("PISTON_COMPILE_MEMORY_LIMIT", "99999999999999999999",
        "99999999999999999999 is out of range");
    BAD("CAPSULE_MAX_BODY_SIZE", "10MB", "10MB is not a number");
    BAD("PISTON_OUTPUT_MAX_SIZE", "1024.0", "1024.0 is not a number");
}

TEST(ranges)
{
    BAD("PISTON_MAX_CONCURRENT_JOBS", "0", "0 cannot be negative");
    BAD("PISTON_MAX_CONCURRENT_JOBS", "-4", "-4 cannot be negative");
    BAD("PISTON_MAX_CONCURRENT_JOBS", "100000", "100000 must be between 1 and 65536");
    BAD("PISTON_RUNNER_UID_MIN", "0", "0 must be between 1 and 4294967294");
    BAD("PISTON_RUNNER_GID_MAX", "4294967295", "4294967295 must be between 1 and 4294967294");
    BAD("PISTON_MAX_PROCESS_COUNT", "0", "0 must be at least 1");
    BAD("PISTON_OUTPUT_MAX_SIZE", "-1", "-1 must be at least 0");
    BAD("CAPSULE_TMPFS_SIZE", "0", "0 must be at least 1");
    BAD("CAPSULE_HTTP_THREADS", "0", "0 must be between 1 and 1024");
}

TEST(id_ranges_hold_every_slot)
{
    load_bad(ENV("PISTON_MAX_CONCURRENT_JOBS", "2000"),
             "Config option PISTON_RUNNER_UID_MAX failed validation: range 60000..60999 holds "
             "fewer than 2000 ids (PISTON_MAX_CONCURRENT_JOBS)");
    load_bad(ENV("PISTON_RUNNER_UID_MIN", "70000"),
             "Config option PISTON_RUNNER_UID_MAX failed validation: range 70000..60999 holds "
             "fewer than 64 ids (PISTON_MAX_CONCURRENT_JOBS)");
    load_bad(ENV("PISTON_RUNNER_GID_MAX", "60062"),
             "Config option PISTON_RUNNER_GID_MAX failed validation: range 60000..60062 holds "
             "fewer than 64 ids (PISTON_MAX_CONCURRENT_JOBS)");
    {
        struct api_config cfg;

        load_ok(ENV("PISTON_RUNNER_GID_MAX", "60063"), &cfg);
        api_config_done(&cfg);
    }
}

TEST(strings)
{
    BAD("PISTON_LOG_LEVEL", "debug", "Log level debug does not exist");
    BAD("PISTON_LOG_LEVEL", "VERBOSE", "Log level VERBOSE does not exist");
    BAD("PISTON_DATA_DIRECTORY", "/nonexistent/capsule",
        "Directory /nonexistent/capsule does not exist");
    BAD("PISTON_DATA_DIRECTORY", "/etc/passwd", "Directory /etc/passwd does not exist");
    BAD("PISTON_BIND_ADDRESS", "2000", "2000 is not a valid address (host:port or [ipv6]:port)");
    BAD("CAPSULE_INSTANCE", "../x",
        "../x is not a valid instance name (up to 64 letters, digits, '.', '_' or '-', not "
        "starting with '.')");
    BAD("CAPSULE_INSTANCE", "",
        " is not a valid instance name (up to 64 letters, digits, '.', '_' or '-', not "
        "starting with '.')");
}

TEST(first_bad_row_wins)
{
    load_bad(ENV("PISTON_RUN_TIMEOUT", "x", "PISTON_LOG_LEVEL", "x"),
             "Config option PISTON_LOG_LEVEL failed validation: Log level x does not exist");
}

TEST(limit_overrides)
{
    struct api_config cfg;

    load_ok(ENV("PISTON_LIMIT_OVERRIDES",
                "{\"c++\":{\"max_process_count\":128},\"java\":{\"run_timeout\":5000,"
                "\"run_memory_limit\":-1,\"output_max_size\":0}}"),
            &cfg);
    ASSERT_EQ(cfg.eng.n_overrides, 2);
    ASSERT_STREQ(cfg.eng.overrides[0].language, "c++");
    ASSERT_EQ(cfg.eng.overrides[0].limits[RT_LIMIT_MAX_PROCESS_COUNT], 128);
    ASSERT_EQ(cfg.eng.overrides[0].limits[RT_LIMIT_RUN_TIMEOUT], 0);
    ASSERT_STREQ(cfg.eng.overrides[1].language, "java");
    ASSERT_EQ(cfg.eng.overrides[1].limits[RT_LIMIT_RUN_TIMEOUT], 5000);
    ASSERT_EQ(cfg.eng.overrides[1].limits[RT_LIMIT_RUN_MEMORY_LIMIT], -1);
    api_config_done(&cfg);
}

TEST(limit_overrides_invalid)
{
    static const char *const bad[] = {
        "",
        "nope",
        "[]",
        "5",
        "{\"c\":5}",
        "{\"c\":{\"max_process_count\":\"128\"}}",
        "{\"c\":{\"max_process_count\":1.5}}",
        "{\"c\":{\"max_process_count\":-2}}",
        "{\"c\":{\"stdin\":1}}",
        "{\"c\":{\"timeout\":1}}",
        "{\"c\":{}} x",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        load_bad(ENV("PISTON_LIMIT_OVERRIDES", bad[i]),
                 "Config option PISTON_LIMIT_OVERRIDES failed validation: Failed to parse the "
                 "overrides");
}
