/* Loading package trees (PISTON-API.md 5.2, 5.3): order, duplicates, installed packages,
 * environments, provides and lookup (the version probe and run.argv: test-rt-probe.c). Each test
 * builds its own tree under a mkdtemp directory, removed at exit. */
#include "rt-fixture.h"

TEST(order_and_ignored_directories)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    simple_package("rt/zeta", "zeta", "1.0.0");
    simple_package("rt/alpha/2.0.0", "alpha", "2.0.0");
    simple_package("rt/alpha/10.0.0", "alpha", "10.0.0");
    simple_package("rt/alpha/1.0.0", "alpha", "1.0.0");
    simple_package("rt/alpha/1.0.0-rc.1", "alpha", "1.0.0-rc.1");
    simple_package("rt/mid/notaversion", "mid", "3.0.0");
    simple_package("rt/mid/0.5.0", "mid", "0.5.0");
    put("rt/registry/registry.c", "int x;\n", 0644); /* no metadata: silently ignored */
    put("rt/norun/metadata.json", "{\"language\":\"norun\",\"version\":\"1.0.0\"}", 0644);
    simple_package("rt/.hidden", "hidden", "1.0.0");
    put("rt/CMakeLists.txt", "# a file, not a package\n", 0644);
    reg = load("rt", NULL, false, &w);
    dump(&w);
    ASSERT_EQ(w.n, 0);
    ASSERT_EQ(rt_registry_count(reg), 7);
    assert_runtime(rt_registry_get(reg, 0), "alpha", "1.0.0-rc.1");
    assert_runtime(rt_registry_get(reg, 1), "alpha", "1.0.0");
    assert_runtime(rt_registry_get(reg, 2), "alpha", "2.0.0");
    assert_runtime(rt_registry_get(reg, 3), "alpha", "10.0.0");
    assert_runtime(rt_registry_get(reg, 4), "mid", "0.5.0"); /* versions before other names */
    assert_runtime(rt_registry_get(reg, 5), "mid", "3.0.0");
    assert_runtime(rt_registry_get(reg, 6), "zeta", "1.0.0");
    ASSERT_NULL(rt_registry_get(reg, 7));
    ASSERT_NULL(rt_registry_get(NULL, 0));
    ASSERT_EQ(rt_registry_count(NULL), 0);
    rt_registry_unref(reg);
}

TEST(missing_directories)
{
    struct rt_load_options opts = {.runtimes_dir = "/nonexistent/capsule-rt"};
    struct rt_registry *reg = NULL;
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    char *failed = NULL;

    ASSERT_EQ(rt_registry_load(&opts, collect, &w, &reg, &failed), -ENOENT);
    ASSERT_NULL(reg);
    ASSERT_NULL(failed);

    setup();
    simple_package("rt/a", "a", "1.0.0");
    mkdirs("data"); /* no data/packages: nothing installed, no warning */
    reg = load("rt", "data", false, &w);
    ASSERT_EQ(rt_registry_count(reg), 1);
    ASSERT_EQ(w.n, 0);
    rt_registry_unref(reg);

    opts = (struct rt_load_options){0};
    ASSERT_OK(rt_registry_load(&opts, NULL, NULL, &reg, NULL));
    ASSERT_EQ(rt_registry_count(reg), 0);
    rt_registry_unref(reg);
}

TEST(duplicates_skipped)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    simple_package("rt/a", "x", "1.0.0");
    simple_package("rt/b", "x", "1.0.0");
    simple_package("rt/c", "x", "1.0.1");
    package("rt/d", "{\"language\":\"dpkg\",\"version\":\"1.0.1\",\"provides\":["
                    "{\"language\":\"x\"},{\"language\":\"y\"}]}");
    reg = load("rt", NULL, false, &w);
    ASSERT_EQ(rt_registry_count(reg), 3);
    ASSERT_STREQ(rt_registry_get(reg, 0)->package_dir, at("rt/a"));
    assert_runtime(rt_registry_get(reg, 1), "x", "1.0.1");
    ASSERT_STREQ(rt_registry_get(reg, 1)->package_dir, at("rt/c"));
    assert_runtime(rt_registry_get(reg, 2), "y", "1.0.1");
    ASSERT_EQ(w.n, 2);
    ASSERT_TRUE(warned(&w, at("rt/b"), "already provided by"));
    ASSERT_TRUE(warned(&w, at("rt/d"), "skipping x 1.0.1"));
    rt_registry_unref(reg);
}

TEST(invalid_packages_skipped_with_warning)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    package("rt/badjson", "{\"language\":");
    package("rt/badversion", "{\"language\":\"bv\",\"version\":\"3.10\"}");
    package("rt/badlimit", "{\"language\":\"bl\",\"version\":\"1.0.0\","
                           "\"limit_overrides\":{\"cpu\":1}}");
    package("rt/badalias", "{\"language\":\"ba\",\"version\":\"1.0.0\",\"aliases\":[true]}");
    simple_package("rt/good", "good", "1.0.0");
    reg = load("rt", NULL, false, &w);
    ASSERT_EQ(rt_registry_count(reg), 1);
    assert_runtime(rt_registry_get(reg, 0), "good", "1.0.0");
    ASSERT_EQ(w.n, 4);
    ASSERT_TRUE(warned(&w, at("rt/badjson"), "invalid JSON"));
    ASSERT_TRUE(warned(&w, at("rt/badversion"), "\"3.10\""));
    ASSERT_TRUE(warned(&w, at("rt/badlimit"), "\"cpu\""));
    ASSERT_TRUE(warned(&w, at("rt/badalias"), "aliases"));
    rt_registry_unref(reg);
}

static const char *host_os_id(void)
{
    static char id[64] = "unknown";
    char line[256];
    FILE *f = fopen("/etc/os-release", "re");

    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "ID=", 3) == 0) {
            snprintf(id, sizeof(id), "%s", line + 3 + (line[3] == '"'));
            id[strcspn(id, "\"\n")] = '\0';
        }
    if (f)
        fclose(f);
    return id;
}

/* Piston caches the environment in .env with the install path it computed on the host; the
 * values naming the package directory are rewritten to the box path, nothing else is. */
TEST(environment_values_follow_the_package_into_the_box)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    char dotenv[8 * PATH_MAX], host[1024];
    struct rt_registry *reg;
    const struct rt_runtime *rt;

    setup();
    snprintf(host, sizeof(host), "%s", at("data/packages/py/3.10.0"));
    snprintf(dotenv, sizeof(dotenv),
             "PATH=%s/bin:/usr/bin\nHOMEISH=%s\nLONGER=%s0/bin\nFLAGS=-I%s/include -O2\n"
             "PLAIN=/usr/lib\n",
             host, host, host, host);
    put("data/packages/py/3.10.0/.ppman-installed", "1", 0644);
    put("data/packages/py/3.10.0/pkg-info.json", "{\"language\":\"python\",\"version\":\"3.10.0\"}",
        0644);
    put("data/packages/py/3.10.0/.env", dotenv, 0644);
    put("data/packages/py/3.10.0/run", "exec true\n", 0644);
    reg = load(NULL, "data", false, &w);
    dump(&w);
    ASSERT_EQ(rt_registry_count(reg), 1);
    rt = rt_registry_get(reg, 0);
    /* the box path comes from the metadata (where Piston installs it), not the host dirs */
    ASSERT_STREQ(rt->box_dir, "/piston/packages/python/3.10.0");
    ASSERT_STREQ(env_get(rt->env, "PATH"), "/piston/packages/python/3.10.0/bin:/usr/bin");
    ASSERT_STREQ(env_get(rt->env, "HOMEISH"), "/piston/packages/python/3.10.0");
    ASSERT_STREQ(env_get(rt->env, "FLAGS"), "-I/piston/packages/python/3.10.0/include -O2");
    ASSERT_TRUE(strncmp(env_get(rt->env, "LONGER"), host, strlen(host)) == 0);
    ASSERT_STREQ(env_get(rt->env, "PLAIN"), "/usr/lib");
    rt_registry_unref(reg);
}

/* A language or version that cannot be one path component has no box path: skipped. */
TEST(package_without_a_box_path_is_skipped)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    simple_package("rt/dots", "..", "1.0.0");
    simple_package("rt/slash", "a/b", "1.0.0");
    simple_package("rt/ok", "ok", "1.0.0");
    reg = load("rt", NULL, false, &w);
    ASSERT_EQ(rt_registry_count(reg), 1);
    ASSERT_EQ(w.n, 2);
    ASSERT_NOT_NULL(strstr(w.msg[0], "not a valid directory name"));
    rt_registry_unref(reg);
}

TEST(installed_packages)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;
    const struct rt_runtime *rt;

    setup();
    simple_package("rt/zz", "bundled", "1.0.0");
    put("data/packages/foo/1.0.0/.ppman-installed", "1690000000000", 0644);
    put("data/packages/foo/1.0.0/pkg-info.json",
        "{\"language\":\"foo\",\"version\":\"1.0.0\",\"build_platform\":\"docker-nowhere-os\"}",
        0644);
    put("data/packages/foo/1.0.0/.env", "PATH=/foo/bin:/usr/bin\nFOO=1\n", 0644);
    put("data/packages/foo/1.0.0/environment", "export NOT_USED=1\n", 0644);
    put("data/packages/foo/1.0.0/run", "exec true\n", 0644);
    /* Not marked installed (e.g. an interrupted install): ignored. */
    put("data/packages/foo/2.0.0/pkg-info.json", "{\"language\":\"foo\",\"version\":\"2.0.0\"}",
        0644);
    put("data/packages/foo/2.0.0/run", "exec true\n", 0644);
    /* metadata.json is not read for installed packages. */
    put("data/packages/bar/1.0.0/.ppman-installed", "1", 0644);
    put("data/packages/bar/1.0.0/metadata.json", "{\"language\":\"bar\",\"version\":\"1.0.0\"}",
        0644);
    /* Built for this host's OS (Piston's "docker-debian" on Debian): no warning. */
    char pkginfo[256];
    snprintf(pkginfo, sizeof(pkginfo),
             "{\"language\":\"same\",\"version\":\"1.0.0\",\"build_platform\":\"docker-%s\"}",
             host_os_id());
    put("data/packages/same/1.0.0/.ppman-installed", "1", 0644);
    put("data/packages/same/1.0.0/pkg-info.json", pkginfo, 0644);
    reg = load("rt", "data", false, &w);
    dump(&w);
    ASSERT_EQ(rt_registry_count(reg), 3);
    assert_runtime(rt_registry_get(reg, 2), "same", "1.0.0");
    assert_runtime(rt_registry_get(reg, 0), "bundled", "1.0.0");
    rt = rt_registry_get(reg, 1);
    assert_runtime(rt, "foo", "1.0.0");
    ASSERT_STREQ(env_get(rt->env, "PATH"), "/foo/bin:/usr/bin");
    ASSERT_STREQ(env_get(rt->env, "FOO"), "1");
    ASSERT_NULL(env_get(rt->env, "NOT_USED"));
    ASSERT_FALSE(rt->compiled);
    ASSERT_EQ(w.n, 2);
    ASSERT_TRUE(warned(&w, at("data/packages/foo/1.0.0"), "built for platform docker-nowhere-os"));
    ASSERT_TRUE(warned(&w, at("data/packages/bar/1.0.0"), "pkg-info.json"));
    rt_registry_unref(reg);
}

TEST(pkg_info_in_runtimes_dir)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    put("rt/copied/3.0.0/pkg-info.json", "{\"language\":\"copied\",\"version\":\"3.0.0\"}", 0644);
    put("rt/copied/3.0.0/run", "exec true\n", 0644);
    reg = load("rt", NULL, false, &w);
    ASSERT_EQ(rt_registry_count(reg), 1);
    assert_runtime(rt_registry_get(reg, 0), "copied", "3.0.0");
    rt_registry_unref(reg);
}

TEST(environment_evaluated_without_daemon_environment)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;
    const struct rt_runtime *rt;
    char real[PATH_MAX];

    setup();
    simple_package("rt/envpkg", "envpkg", "1.0.0");
    put("rt/envpkg/environment",
        "export FOO=bar\n"
        "export PATH=/opt/x:$PATH\n"
        "NOT_EXPORTED=1\n"
        "echo noise\n"
        "echo noise >&2\n"
        "export MULTI=$'line1\\nline2'\n"
        "export WHERE=$PWD\n"
        "export EMPTY=\n"
        "export DECLARED_ONLY\n"
        "declare -x DECLARED=yes\n"
        "cd /\n"
        "IFS=:\n",
        0644);
    ASSERT_OK(setenv("CAPSULE_LEAK_CHECK", "leaked", 1));
    reg = load("rt", NULL, false, &w);
    dump(&w);
    ASSERT_EQ(w.n, 0);
    rt = rt_registry_get(reg, 0);
    ASSERT_NOT_NULL(rt);
    ASSERT_NOT_NULL(realpath(at("rt/envpkg"), real));
    ASSERT_STREQ(env_get(rt->env, "FOO"), "bar");
    ASSERT_TRUE(strncmp(env_get(rt->env, "PATH"), "/opt/x:", 7) == 0);
    ASSERT_STREQ(env_get(rt->env, "MULTI"), "line1\nline2");
    /* boxes see the package at its box path, so $PWD means that path */
    ASSERT_STREQ(rt->box_dir, RT_BOX_PACKAGES_DIR "/envpkg/1.0.0");
    ASSERT_STREQ(env_get(rt->env, "WHERE"), rt->box_dir);
    ASSERT_STREQ(rt->package_dir, real);
    ASSERT_STREQ(env_get(rt->env, "EMPTY"), "");
    ASSERT_STREQ(env_get(rt->env, "DECLARED"), "yes");
    ASSERT_NULL(env_get(rt->env, "DECLARED_ONLY"));
    ASSERT_NULL(env_get(rt->env, "NOT_EXPORTED"));
    ASSERT_NULL(env_get(rt->env, "CAPSULE_LEAK_CHECK"));
    ASSERT_NULL(env_get(rt->env, "HOME"));
    ASSERT_NULL(env_get(rt->env, "PWD"));
    ASSERT_NULL(env_get(rt->env, "OLDPWD"));
    ASSERT_NULL(env_get(rt->env, "SHLVL"));
    ASSERT_NULL(env_get(rt->env, "_"));
    ASSERT_NULL(env_get(rt->env, "IFS"));
    rt_registry_unref(reg);
}

TEST(environment_dotenv_preferred_and_missing_is_empty)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    simple_package("rt/a", "a", "1.0.0");
    put("rt/a/.env", "A=1\nB=x=y\n", 0644);
    put("rt/a/environment", "export C=3\n", 0644);
    simple_package("rt/b", "b", "1.0.0");
    reg = load("rt", NULL, false, &w);
    ASSERT_EQ(w.n, 0);
    ASSERT_STREQ(env_get(rt_registry_get(reg, 0)->env, "A"), "1");
    ASSERT_STREQ(env_get(rt_registry_get(reg, 0)->env, "B"), "x=y");
    ASSERT_NULL(env_get(rt_registry_get(reg, 0)->env, "C"));
    ASSERT_NOT_NULL(rt_registry_get(reg, 1)->env);
    ASSERT_NULL(rt_registry_get(reg, 1)->env[0]);
    rt_registry_unref(reg);
}

TEST(environment_that_exits_skips_package)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    simple_package("rt/exits", "exits", "1.0.0");
    put("rt/exits/environment", "export A=1\nexit 0\n", 0644);
    simple_package("rt/fails", "fails", "1.0.0");
    put("rt/fails/environment", "set -e\nexport A=1\nfalse\n", 0644);
    simple_package("rt/ok", "ok", "1.0.0");
    put("rt/ok/environment", "export A=1\nfalse\n", 0644);
    reg = load("rt", NULL, false, &w);
    ASSERT_EQ(rt_registry_count(reg), 1);
    assert_runtime(rt_registry_get(reg, 0), "ok", "1.0.0");
    ASSERT_EQ(w.n, 2);
    ASSERT_TRUE(warned(&w, at("rt/exits"), "environment"));
    ASSERT_TRUE(warned(&w, at("rt/fails"), "environment"));
    rt_registry_unref(reg);
}

TEST(provides_and_package_fields)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;
    const struct rt_runtime *c, *cpp, *solo;

    setup();
    package("rt/gcc", "{\"language\":\"gcc\",\"version\":\"10.2.0\",\"aliases\":[\"ignored\"],"
                      "\"limit_overrides\":{\"run_timeout\":1},\"provides\":["
                      "{\"language\":\"c\",\"aliases\":[\"gcc\"]},"
                      "{\"language\":\"c++\",\"aliases\":[\"cpp\",\"g++\"],"
                      "\"limit_overrides\":{\"max_process_count\":128}}]}");
    put("rt/gcc/compile", "exec true\n", 0644);
    package("rt/none", "{\"language\":\"none\",\"version\":\"1.0.0\",\"provides\":[]}");
    package("rt/solo", "{\"language\":\"solo\",\"version\":\"2.0.0\",\"aliases\":[\"s\"],"
                       "\"limit_overrides\":{\"run_timeout\":5000}}");
    /* The registry mounts package_dir at the same path: it must be canonical. */
    ASSERT_OK(symlink(at("rt"), at("link")));
    reg = load("link", NULL, false, &w);
    ASSERT_EQ(w.n, 0);
    ASSERT_EQ(rt_registry_count(reg), 3);
    c = rt_registry_get(reg, 0);
    cpp = rt_registry_get(reg, 1);
    solo = rt_registry_get(reg, 2);
    assert_runtime(c, "c", "10.2.0");
    assert_runtime(cpp, "c++", "10.2.0");
    assert_runtime(solo, "solo", "2.0.0");
    ASSERT_STREQ(c->package_name, "gcc");
    ASSERT_STREQ(cpp->package_name, "gcc");
    ASSERT_NULL(solo->package_name);
    ASSERT_STREQ(c->aliases[0], "gcc");
    ASSERT_NULL(c->aliases[1]);
    ASSERT_STREQ(cpp->aliases[1], "g++");
    ASSERT_STREQ(solo->aliases[0], "s");
    ASSERT_EQ(c->limit_overrides[RT_LIMIT_RUN_TIMEOUT], 0);
    ASSERT_EQ(cpp->limit_overrides[RT_LIMIT_MAX_PROCESS_COUNT], 128);
    ASSERT_EQ(solo->limit_overrides[RT_LIMIT_RUN_TIMEOUT], 5000);
    ASSERT_TRUE(c->compiled);
    ASSERT_TRUE(cpp->compiled);
    ASSERT_FALSE(solo->compiled);
    ASSERT_EQ(c->semver.major, 10);
    ASSERT_STREQ(c->package_dir, at("rt/gcc"));
    ASSERT_TRUE(c->package_dir[0] == '/');
    ASSERT_NULL(strstr(c->package_dir, "link"));
    rt_registry_unref(reg);
}

TEST(find_highest_version_across_packages)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    package("rt/deno", "{\"language\":\"deno\",\"version\":\"1.32.3\",\"provides\":["
                       "{\"language\":\"typescript\",\"aliases\":[\"deno-ts\",\"deno\"]},"
                       "{\"language\":\"javascript\",\"aliases\":[\"deno-js\",\"js\"]}]}");
    package("rt/node/18.15.0", "{\"language\":\"node\",\"version\":\"18.15.0\",\"provides\":["
                               "{\"language\":\"javascript\",\"aliases\":[\"node-js\",\"js\"]}]}");
    package("rt/node/20.11.1", "{\"language\":\"node\",\"version\":\"20.11.1\",\"provides\":["
                               "{\"language\":\"javascript\",\"aliases\":[\"node-js\",\"js\"]}]}");
    package("rt/python/3.10.0-alpha.7", "{\"language\":\"python\",\"version\":\"3.10.0-alpha.7\"}");
    package("rt/python/3.9.4", "{\"language\":\"python\",\"version\":\"3.9.4\",\"aliases\":"
                               "[\"py\"]}");
    reg = load("rt", NULL, false, &w);
    ASSERT_EQ(w.n, 0);
    assert_runtime(rt_registry_find(reg, "javascript", "*"), "javascript", "20.11.1");
    assert_runtime(rt_registry_find(reg, "js", "*"), "javascript", "20.11.1");
    assert_runtime(rt_registry_find(reg, "js", ""), "javascript", "20.11.1");
    assert_runtime(rt_registry_find(reg, "js", NULL), "javascript", "20.11.1");
    assert_runtime(rt_registry_find(reg, "javascript", "1.x"), "javascript", "1.32.3");
    ASSERT_STREQ(rt_registry_find(reg, "javascript", "1.x")->package_name, "deno");
    assert_runtime(rt_registry_find(reg, "node-js", "18"), "javascript", "18.15.0");
    assert_runtime(rt_registry_find(reg, "js", "<20"), "javascript", "18.15.0");
    assert_runtime(rt_registry_find(reg, "deno", "*"), "typescript", "1.32.3");
    ASSERT_NULL(rt_registry_find(reg, "node", "*")); /* a package name is not a language */
    ASSERT_NULL(rt_registry_find(reg, "JS", "*"));   /* case-sensitive */
    ASSERT_NULL(rt_registry_find(reg, "js", "21"));
    ASSERT_NULL(rt_registry_find(reg, "js", "not a range"));
    ASSERT_NULL(rt_registry_find(reg, NULL, "*"));
    ASSERT_NULL(rt_registry_find(NULL, "js", "*"));
    /* Prereleases: only a range naming a prerelease of 3.10.0 reaches it. */
    assert_runtime(rt_registry_find(reg, "python", "*"), "python", "3.9.4");
    assert_runtime(rt_registry_find(reg, "python", "3.x"), "python", "3.9.4");
    assert_runtime(rt_registry_find(reg, "python", ">=3.10.0-alpha.1"), "python", "3.10.0-alpha.7");
    assert_runtime(rt_registry_find(reg, "python", "3.10.0-alpha.7"), "python", "3.10.0-alpha.7");
    ASSERT_NULL(rt_registry_find(reg, "python", "3.10"));
    ASSERT_NULL(rt_registry_find(reg, "py", "3.10.0-alpha.7")); /* alias only on 3.9.4 */
    rt_registry_unref(reg);
}

TEST(find_tie_keeps_first_loaded)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;

    setup();
    package("rt/a", "{\"language\":\"one\",\"version\":\"1.0.0\",\"aliases\":[\"shared\"]}");
    package("rt/b", "{\"language\":\"two\",\"version\":\"1.0.0\",\"aliases\":[\"shared\"]}");
    reg = load("rt", NULL, false, &w);
    assert_runtime(rt_registry_find(reg, "shared", "*"), "one", "1.0.0");
    rt_registry_unref(reg);
}

TEST(refcount)
{
    struct rt_load_options opts = {0};
    struct rt_registry *reg = NULL;

    ASSERT_OK(rt_registry_load(&opts, NULL, NULL, &reg, NULL));
    ASSERT_TRUE(rt_registry_ref(reg) == reg);
    ASSERT_NULL(rt_registry_unref(reg));
    ASSERT_EQ(rt_registry_count(reg), 0); /* still alive: one reference left */
    ASSERT_NULL(rt_registry_unref(reg));
    ASSERT_NULL(rt_registry_ref(NULL));
    ASSERT_NULL(rt_registry_unref(NULL));
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    ASSERT_NOT_NULL(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

TEST(no_descriptor_or_child_left_behind)
{
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg;
    int before;

    setup();
    simple_package("rt/a", "a", "1.0.0");
    /* A background process started by the environment must not outlive the load. */
    put("rt/a/environment", "export A=1\nsleep 1000 &\n", 0644);
    put("rt/a/version", "#!/bin/bash\necho 1.2.3\n", 0755);
    put("data/packages/b/1.0.0/.ppman-installed", "1", 0644);
    put("data/packages/b/1.0.0/pkg-info.json", "{\"language\":\"b\",\"version\":\"1.0.0\"}", 0644);
    before = count_fds();
    reg = load("rt", "data", true, &w);
    ASSERT_EQ(count_fds(), before);
    ASSERT_EQ(rt_registry_count(reg), 2);
    assert_runtime(rt_registry_get(reg, 0), "a", "1.2.3");
    ASSERT_TRUE(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD); /* every child reaped */
    rt_registry_unref(reg);
}

TEST(fixture_packages)
{
    struct rt_load_options opts = {.runtimes_dir = CAPSULE_FIXTURES_DIR "/packages",
                                   .probe_versions = true};
    __attribute__((cleanup(warnings_done))) struct warnings w = {0};
    struct rt_registry *reg = NULL;
    const struct rt_runtime *sh, *shc;

    ASSERT_OK(rt_registry_load(&opts, collect, &w, &reg, NULL));
    ASSERT_EQ(w.n, 0);
    ASSERT_EQ(rt_registry_count(reg), 2);
    sh = rt_registry_find(reg, "fixture-sh", "1");
    shc = rt_registry_find(reg, "shc", "*");
    assert_runtime(sh, "sh", "1.0.0");
    assert_runtime(shc, "shc", "1.0.0");
    ASSERT_FALSE(sh->compiled);
    ASSERT_TRUE(shc->compiled);
    ASSERT_STREQ(env_get(sh->env, "PATH"), "/usr/bin:/bin");
    ASSERT_STREQ(env_get(shc->env, "PATH"), "/usr/bin:/bin");
    rt_registry_unref(reg);
}
