/* The bundled packages' extensions (README "Runtimes"): the `version` probe that replaces
 * the metadata's version at startup (and retargets minor aliases), its failures and bounds,
 * and `run.argv`, the argv a `run` script ends up exec'ing. */
#include "rt-fixture.h"

TEST(probe_replaces_version)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    package("rt/tool", "{\"language\":\"tool\",\"version\":\"1.0.0\",\"provides\":["
                       "{\"language\":\"t1\"},{\"language\":\"t2\"}]}");
    put("rt/tool/environment", "export PROBE_VERSION=2.5.0\n", 0644);
    /* Runs with the package environment, in the package directory; first line counts. */
    put("rt/tool/version",
        "#!/bin/bash\n"
        "[ \"$PWD\" = \"$(cd \"$(dirname \"$0\")\" && pwd -P)\" ] || exit 9\n"
        "echo \"  v$PROBE_VERSION  \"\n"
        "echo second line\n",
        0755);
    simple_package("rt/plain", "plain", "1.0.0");
    put("rt/plain/version", "#!/bin/bash\necho garbage\n", 0644); /* not executable: no probe */
    put("data/packages/inst/1.0.0/.ppman-installed", "1", 0644);
    put("data/packages/inst/1.0.0/pkg-info.json", "{\"language\":\"inst\",\"version\":\"1.0.0\"}",
        0644);
    put("data/packages/inst/1.0.0/version", "#!/bin/bash\nexit 1\n", 0755); /* never probed */

    reg = load("rt", "data", true, &w);
    dump(&w);
    ASSERT_EQ(w.n, 0);
    ASSERT_EQ(rt_registry_count(reg), 4);
    assert_runtime(rt_registry_get(reg, 0), "plain", "1.0.0");
    assert_runtime(rt_registry_get(reg, 1), "t1", "2.5.0");
    assert_runtime(rt_registry_get(reg, 2), "t2", "2.5.0");
    ASSERT_EQ(rt_registry_get(reg, 2)->semver.minor, 5);
    ASSERT_STREQ(rt_registry_get(reg, 2)->package_name, "tool");
    assert_runtime(rt_registry_get(reg, 3), "inst", "1.0.0");
    assert_runtime(rt_registry_find(reg, "t1", "2.5"), "t1", "2.5.0");
    rt_registry_unref(reg);

    reg = load("rt", "data", false, &w);
    assert_runtime(rt_registry_get(reg, 1), "t1", "1.0.0");
    rt_registry_unref(reg);
}

TEST(probe_retargets_minor_aliases)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;
    const struct rt_runtime *rt;

    setup();
    package("rt/python", "{\"language\":\"python\",\"version\":\"3.11.2\","
                         "\"aliases\":[\"py\",\"py3\",\"python3\",\"python3.11\"]}");
    put("rt/python/version", "#!/bin/bash\necho 3.10.12\n", 0755);
    reg = load("rt", "data", true, &w);
    rt = rt_registry_get(reg, 0);
    assert_runtime(rt, "python", "3.10.12");
    ASSERT_STREQ(rt->aliases[2], "python3");
    ASSERT_STREQ(rt->aliases[3], "python3.10");
    ASSERT_NOT_NULL(rt_registry_find(reg, "python3.10", "*"));
    ASSERT_NULL(rt_registry_find(reg, "python3.11", "*"));
    rt_registry_unref(reg);
}

static void expect_probe_failure(const char *script, const char *dir, const char *name)
{
    char rel[PATH_MAX];
    struct rt_load_options opts;
    struct rt_registry *reg = NULL;
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    char *failed = NULL;

    setup();
    simple_package("rt/aaa-good", "good", "1.0.0");
    snprintf(rel, sizeof(rel), "rt/%s", dir);
    simple_package(rel, "probed", "1.0.0");
    snprintf(rel, sizeof(rel), "rt/%s/version", dir);
    put(rel, script, 0755);
    opts = (struct rt_load_options){.runtimes_dir = at("rt"), .probe_versions = true};
    ASSERT_EQ(rt_registry_load(&opts, collect, &w, &reg, &failed), -ENOEXEC);
    ASSERT_NULL(reg);
    ASSERT_STREQ(failed, name);
    ASSERT_TRUE(warned(&w, "version probe", NULL));
    free(failed);
    remove_root();
}

TEST(probe_failure_is_fatal)
{
    expect_probe_failure("#!/bin/bash\nexit 1\n", "tc", "tc");
    expect_probe_failure("#!/bin/bash\necho garbage\n", "tc", "tc");
    expect_probe_failure("#!/bin/bash\necho 1.2\n", "tc/1.0.0", "tc/1.0.0");
    expect_probe_failure("#!/bin/bash\n", "tc", "tc");
    expect_probe_failure("#!/bin/bash\nkill -SEGV $$\n", "tc", "tc");
    expect_probe_failure("#!/nonexistent/interpreter\n", "tc", "tc");
    expect_probe_failure("#!/bin/bash\nexec /nonexistent/toolchain --version\n", "tc", "tc");
}

TEST(probe_output_is_bounded)
{
    /* Endless output: the child is killed at the cap instead of filling memory. */
    expect_probe_failure("#!/bin/bash\nwhile :; do echo 1.0.0; done\n", "tc", "tc");
}

static void argv_package(const char *rel, const char *language, const char *run_argv)
{
    char p[PATH_MAX];

    simple_package(rel, language, "1.0.0");
    snprintf(p, sizeof(p), "%s/run.argv", rel);
    put(p, run_argv, 0644);
}

static char **expand(const struct rt_runtime *rt, const char *const *args, size_t n)
{
    char **v = rt_run_argv_expand(rt, args, n);

    ASSERT_NOT_NULL(v);
    return v;
}

static void assert_argv(char **v, const char *const *want)
{
    size_t i = 0;

    for (; want[i]; i++) {
        ASSERT_NOT_NULL(v[i]);
        ASSERT_STREQ(v[i], want[i]);
    }
    ASSERT_NULL(v[i]);
    for (i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

/* run.argv: loaded, its tokens expanded; an invalid one is ignored with a warning (the job
 * runs `run` with bash); none at all leaves run_argv NULL. */
TEST(run_argv_extension)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    static const char *const args[] = {"file0.code", "a b", "$HOME"};
    struct rt_registry *reg;
    const struct rt_runtime *rt;

    setup();
    argv_package("rt/interp", "interp", "# comment\n/usr/bin/interp\n-u\n\n$@\n");
    argv_package("rt/native", "native", "./a.out\n${@:2}");
    argv_package("rt/shell", "shell", "bash -c\n$@\n");
    argv_package("rt/expand", "expand", "/bin/echo\n$1\n");
    argv_package("rt/empty", "empty", "# nothing\n\n");
    simple_package("rt/plain", "plain", "1.0.0");
    reg = load("rt", NULL, false, &w);

    rt = rt_registry_find(reg, "interp", "*");
    assert_argv(expand(rt, args, 3),
                (const char *const[]){"/usr/bin/interp", "-u", "file0.code", "a b", "$HOME", NULL});
    rt = rt_registry_find(reg, "native", "*");
    assert_argv(expand(rt, args, 3), (const char *const[]){"./a.out", "a b", "$HOME", NULL});
    assert_argv(expand(rt, args, 1), (const char *const[]){"./a.out", NULL});
    for (size_t i = 0; i < 3; i++) {
        static const char *const bad[] = {"shell", "expand", "empty"};
        rt = rt_registry_find(reg, bad[i], "*");
        ASSERT_NOT_NULL(rt);
        ASSERT_NULL(rt->run_argv);
        ASSERT_NULL(rt_run_argv_expand(rt, args, 3));
    }
    ASSERT_TRUE(warned(&w, "rt/shell", "not a path"));
    ASSERT_TRUE(warned(&w, "rt/expand", "outside the tokens"));
    ASSERT_TRUE(warned(&w, "rt/empty", "no argument"));
    ASSERT_NULL(rt_registry_find(reg, "plain", "*")->run_argv);
    rt_registry_unref(reg);
}
