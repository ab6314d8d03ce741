/* metadata.json / pkg-info.json parsing (PISTON-API.md 5.3) and the limit-name table. */
#include <errno.h>

#include "registry/internal.h"
#include "test.h"

static struct rt__package *parse_ok(const char *text)
{
    struct rt__package *pkg = NULL;
    char *err = NULL;
    int r = rt__package_parse(text, strlen(text), &pkg, &err);

    if (r < 0)
        TEST_FAIL("parse failed (%d): %s\n%s", r, err ? err : "?", text);
    ASSERT_NULL(err);
    return pkg;
}

TEST(limit_names)
{
    for (int i = 0; i < RT_LIMIT_COUNT; i++) {
        enum rt_limit l;

        ASSERT_NOT_NULL(rt_limit_name((enum rt_limit)i));
        ASSERT_OK(rt_limit_from_name(rt_limit_name((enum rt_limit)i), &l));
        ASSERT_EQ(l, i);
    }
    ASSERT_STREQ(rt_limit_name(RT_LIMIT_MAX_PROCESS_COUNT), "max_process_count");
    ASSERT_STREQ(rt_limit_name(RT_LIMIT_OUTPUT_MAX_SIZE), "output_max_size");
    ASSERT_STREQ(rt_limit_name(RT_LIMIT_COMPILE_CPU_TIME), "compile_cpu_time");
    ASSERT_NULL(rt_limit_name(RT_LIMIT_COUNT));
    enum rt_limit l = RT_LIMIT_RUN_TIMEOUT;
    ASSERT_EQ(rt_limit_from_name("run_time", &l), -EINVAL);
    ASSERT_EQ(rt_limit_from_name("RUN_TIMEOUT", &l), -EINVAL);
    ASSERT_EQ(rt_limit_from_name(NULL, &l), -EINVAL);
    ASSERT_EQ(l, RT_LIMIT_RUN_TIMEOUT); /* untouched on failure */
}

TEST(parse_minimal)
{
    struct rt__package *pkg = parse_ok("{\"language\":\"bash\",\"version\":\"5.2.0\"}");

    ASSERT_STREQ(pkg->language, "bash");
    ASSERT_STREQ(pkg->version, "5.2.0");
    ASSERT_EQ(pkg->semver.major, 5);
    ASSERT_EQ(pkg->semver.minor, 2);
    ASSERT_NOT_NULL(pkg->aliases);
    ASSERT_NULL(pkg->aliases[0]);
    ASSERT_FALSE(pkg->has_provides);
    ASSERT_EQ(pkg->n_provides, 0);
    for (int i = 0; i < RT_LIMIT_COUNT; i++)
        ASSERT_EQ(pkg->limits[i], 0);
    ASSERT_NULL(pkg->build_platform);
    rt__package_free(pkg);
}

TEST(parse_full)
{
    struct rt__package *pkg = parse_ok(
        "{\"language\":\"gcc\",\"version\":\"10.2.0\",\"aliases\":[\"g\",\"gnu\"],"
        "\"build_platform\":\"docker-debian\",\"dependencies\":{\"x\":\"1\"},"
        "\"unknown_key\":[1,2],"
        "\"limit_overrides\":{\"max_process_count\":128,\"max_open_files\":1,"
        "\"max_file_size\":2,\"compile_memory_limit\":-1,\"run_memory_limit\":4,"
        "\"compile_timeout\":5,\"run_timeout\":6,\"compile_cpu_time\":7,\"run_cpu_time\":8,"
        "\"output_max_size\":9},"
        "\"provides\":[{\"language\":\"c\",\"aliases\":[\"gcc\"]},"
        "{\"language\":\"c++\",\"aliases\":[\"cpp\",\"g++\"],"
        "\"limit_overrides\":{\"run_timeout\":5000}}]}");

    ASSERT_STREQ(pkg->language, "gcc");
    ASSERT_STREQ(pkg->aliases[0], "g");
    ASSERT_STREQ(pkg->aliases[1], "gnu");
    ASSERT_NULL(pkg->aliases[2]);
    ASSERT_STREQ(pkg->build_platform, "docker-debian");
    ASSERT_EQ(pkg->limits[RT_LIMIT_MAX_PROCESS_COUNT], 128);
    ASSERT_EQ(pkg->limits[RT_LIMIT_COMPILE_MEMORY_LIMIT], -1);
    ASSERT_EQ(pkg->limits[RT_LIMIT_OUTPUT_MAX_SIZE], 9);
    ASSERT_EQ(pkg->limits[RT_LIMIT_RUN_CPU_TIME], 8);
    ASSERT_TRUE(pkg->has_provides);
    ASSERT_EQ(pkg->n_provides, 2);
    ASSERT_STREQ(pkg->provides[0].language, "c");
    ASSERT_STREQ(pkg->provides[0].aliases[0], "gcc");
    ASSERT_NULL(pkg->provides[0].aliases[1]);
    ASSERT_EQ(pkg->provides[0].limits[RT_LIMIT_RUN_TIMEOUT], 0);
    ASSERT_STREQ(pkg->provides[1].language, "c++");
    ASSERT_STREQ(pkg->provides[1].aliases[1], "g++");
    ASSERT_EQ(pkg->provides[1].limits[RT_LIMIT_RUN_TIMEOUT], 5000);
    /* A provides entry does not inherit the package's limit_overrides (as in Piston). */
    ASSERT_EQ(pkg->provides[1].limits[RT_LIMIT_MAX_PROCESS_COUNT], 0);
    rt__package_free(pkg);
}

TEST(parse_nulls_reals_and_prerelease)
{
    struct rt__package *pkg =
        parse_ok("{\"language\":\"python\",\"version\":\"3.10.0-alpha.7\",\"aliases\":null,"
                 "\"provides\":null,\"limit_overrides\":{\"run_timeout\":5000.0}}");

    ASSERT_NULL(pkg->aliases[0]);
    ASSERT_FALSE(pkg->has_provides);
    ASSERT_EQ(pkg->limits[RT_LIMIT_RUN_TIMEOUT], 5000);
    ASSERT_STREQ(pkg->semver.prerelease, "alpha.7");
    rt__package_free(pkg);

    pkg = parse_ok("{\"language\":\"x\",\"version\":\"1.0.0\",\"provides\":[]}");
    ASSERT_TRUE(pkg->has_provides);
    ASSERT_EQ(pkg->n_provides, 0);
    rt__package_free(pkg);
}

TEST(parse_invalid)
{
    static const char *const bad[] = {
        "",
        "{",
        "not json",
        "[]",
        "\"python\"",
        "{\"version\":\"1.0.0\"}",
        "{\"language\":3,\"version\":\"1.0.0\"}",
        "{\"language\":\"\",\"version\":\"1.0.0\"}",
        "{\"language\":null,\"version\":\"1.0.0\"}",
        "{\"language\":\"x\"}",
        "{\"language\":\"x\",\"version\":1}",
        "{\"language\":\"x\",\"version\":\"1.2\"}",
        "{\"language\":\"x\",\"version\":\"latest\"}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"aliases\":\"y\"}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"aliases\":[\"y\",2]}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"limit_overrides\":[]}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"limit_overrides\":{\"timeout\":1}}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"limit_overrides\":{\"run_timeout\":\"1\"}}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"limit_overrides\":{\"run_timeout\":1.5}}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"limit_overrides\":{\"run_timeout\":1e300}}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"limit_overrides\":{\"run_timeout\":null}}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"provides\":{}}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"provides\":[\"c\"]}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"provides\":[{\"aliases\":[]}]}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"provides\":[{\"language\":\"c\"},"
        "{\"language\":\"d\",\"aliases\":[1]}]}",
        "{\"language\":\"x\",\"version\":\"1.0.0\",\"provides\":[{\"language\":\"c\","
        "\"limit_overrides\":{\"bogus\":1}}]}",
        "{\"language\":\"x\\u0000y\",\"version\":\"1.0.0\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rt__package *pkg = NULL;
        char *err = NULL;
        int r = rt__package_parse(bad[i], strlen(bad[i]), &pkg, &err);

        if (r != -EBADMSG)
            TEST_FAIL("expected -EBADMSG, got %d for: %s", r, bad[i]);
        ASSERT_NULL(pkg);
        ASSERT_NOT_NULL(err);
        ASSERT_TRUE(strlen(err) > 0);
        free(err);
    }
}

TEST(parse_error_messages)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"{\"language\":\"x\",\"version\":\"1.2\"}", "\"1.2\" is not a valid semver"},
        {"{\"language\":\"x\",\"version\":\"1.0.0\",\"limit_overrides\":{\"timeout\":1}}",
         "unknown key \"timeout\""},
        {"{\"language\":\"x\",\"version\":\"1.0.0\",\"provides\":[{},{}]}",
         "\"provides\"[0]: \"language\""},
        {"{oops", "invalid JSON"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt__package *pkg = NULL;
        char *err = NULL;

        ASSERT_EQ(rt__package_parse(cases[i].text, strlen(cases[i].text), &pkg, &err), -EBADMSG);
        if (!strstr(err, cases[i].needle))
            TEST_FAIL("error \"%s\" lacks \"%s\"", err, cases[i].needle);
        free(err);
    }
}

TEST(dotenv_parse)
{
    static const char text[] = "A=1\nB=x=y\n\nnoequals\n=novalue\nPWD=/x\nEMPTY=\nC=last";
    char **env = NULL;

    ASSERT_OK(rt__env_parse_dotenv(text, strlen(text), &env));
    ASSERT_STREQ(env[0], "A=1");
    ASSERT_STREQ(env[1], "B=x=y"); /* Piston cuts at the second '='; we keep the value */
    ASSERT_STREQ(env[2], "EMPTY=");
    ASSERT_STREQ(env[3], "C=last");
    ASSERT_NULL(env[4]);
    rt__strv_free(env);
}
