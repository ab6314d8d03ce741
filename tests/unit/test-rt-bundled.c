/* The bundled packages in runtimes/ (PISTON-API.md 5.1) against the host's Debian
 * toolchains: catalogue, probed versions, and each package's smoke test run through its own
 * compile and run scripts. Skipped (77) when a toolchain is missing. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtimes.h"
#include "test.h"

#define RUNTIMES_DIR CAPSULE_SOURCE_DIR "/runtimes"

static void require_toolchains(void)
{
    static const char *const tools[] = {"/usr/bin/python3", "/usr/bin/node", "/usr/bin/gcc",
                                        "/usr/bin/g++",     "/usr/bin/java", "/usr/bin/sqlite3"};

    for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
        if (access(tools[i], X_OK) < 0)
            TEST_SKIP("%s is not installed", tools[i]);
}

static void fail_on_warning(void *userdata, const char *message)
{
    (void)userdata;
    TEST_FAIL("unexpected warning: %s", message);
}

static struct rt_registry *load_bundled(void)
{
    struct rt_load_options opts = {.runtimes_dir = RUNTIMES_DIR, .probe_versions = true};
    struct rt_registry *reg = NULL;
    char *failed = NULL;
    int r;

    require_toolchains();
    r = rt_registry_load(&opts, fail_on_warning, NULL, &reg, &failed);
    if (r < 0)
        TEST_FAIL("loading %s: %s (package %s)", RUNTIMES_DIR, strerror(-r), failed ? failed : "-");
    return reg;
}

static bool has_alias(const struct rt_runtime *rt, const char *alias)
{
    for (char **a = rt->aliases; *a; a++)
        if (strcmp(*a, alias) == 0)
            return true;
    return false;
}

static const char *env_get(char *const *env, const char *key)
{
    size_t n = strlen(key);

    for (; *env; env++)
        if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static const struct rt_runtime *expect(const struct rt_registry *reg, const char *language,
                                       const char *package_name, bool compiled)
{
    const struct rt_runtime *rt = rt_registry_find(reg, language, "*");

    if (!rt)
        TEST_FAIL("no runtime for %s", language);
    ASSERT_STREQ(rt->language, language);
    if (package_name)
        ASSERT_STREQ(rt->package_name, package_name);
    else
        ASSERT_NULL(rt->package_name);
    ASSERT_EQ(rt->compiled, compiled);
    ASSERT_STREQ(env_get(rt->env, "PATH"), "/usr/bin:/bin");
    ASSERT_NULL(rt->semver.prerelease);
    return rt;
}

TEST(catalogue)
{
    struct rt_registry *reg = load_bundled();
    const struct rt_runtime *py, *js, *c, *cpp, *java, *sql;

    ASSERT_EQ(rt_registry_count(reg), 6);
    py = expect(reg, "python", NULL, false);
    js = expect(reg, "javascript", "node", false);
    c = expect(reg, "c", "gcc", true);
    cpp = expect(reg, "c++", "gcc", true);
    java = expect(reg, "java", NULL, false);
    sql = expect(reg, "sqlite3", NULL, false);

    ASSERT_TRUE(has_alias(py, "py") && has_alias(py, "py3") && has_alias(py, "python3"));
    ASSERT_EQ(py->semver.major, 3);
    ASSERT_TRUE(has_alias(js, "node-javascript") && has_alias(js, "node-js") &&
                has_alias(js, "javascript") && has_alias(js, "js"));
    ASSERT_TRUE(has_alias(c, "gcc"));
    ASSERT_TRUE(has_alias(cpp, "cpp") && has_alias(cpp, "g++"));
    ASSERT_NULL(java->aliases[0]);
    ASSERT_STREQ(env_get(java->env, "LANG"), "C.UTF-8");
    ASSERT_TRUE(c->semver.major == cpp->semver.major && strcmp(c->version, cpp->version) == 0);
    ASSERT_TRUE(strcmp(c->package_dir, cpp->package_dir) == 0);
    ASSERT_TRUE(has_alias(sql, "sqlite") && has_alias(sql, "sql"));
    /* no shell on the run path but Java's (its run script renames the entry file) and
     * SQLite's (it feeds the file, then stdin, and makes the argv table) */
    ASSERT_TRUE(py->run_argv && js->run_argv && c->run_argv && cpp->run_argv);
    ASSERT_NULL(java->run_argv);
    ASSERT_NULL(sql->run_argv);

    ASSERT_TRUE(rt_registry_find(reg, "py", "3") == py);
    ASSERT_TRUE(rt_registry_find(reg, "js", "*") == js);
    ASSERT_TRUE(rt_registry_find(reg, "cpp", "*") == cpp);
    ASSERT_TRUE(rt_registry_find(reg, "gcc", "*") == c);
    ASSERT_TRUE(rt_registry_find(reg, "sql", "3") == sql);
    ASSERT_NULL(rt_registry_find(reg, "node", "*")); /* the package, not a language */
    rt_registry_unref(reg);
}

TEST(versions_are_the_toolchains)
{
    struct rt_registry *reg = load_bundled();
    char expected[64];
    FILE *p;

    /* Cross-check one probe against the toolchain directly. */
    p = popen("/usr/bin/gcc -dumpfullversion", "r");
    ASSERT_NOT_NULL(p);
    ASSERT_NOT_NULL(fgets(expected, sizeof(expected), p));
    pclose(p);
    expected[strcspn(expected, "\n")] = '\0';
    ASSERT_STREQ(rt_registry_find(reg, "c", "*")->version, expected);
    for (size_t i = 0; i < rt_registry_count(reg); i++) {
        const struct rt_runtime *rt = rt_registry_get(reg, i);
        struct rt_semver v;

        ASSERT_OK(rt_semver_parse(rt->version, &v));
        ASSERT_EQ(rt_semver_compare(&v, &rt->semver), 0);
        rt_semver_done(&v);
    }
    rt_registry_unref(reg);
}

static char workdir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_workdir(void)
{
    if (workdir[0])
        (void)nftw(workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs argv in the work directory with the sandbox's environment (package env +
 * PISTON_LANGUAGE + HOME=/tmp, PISTON-API.md 3.3); returns the wait status and the captured
 * stdout. */
static int run_argv(const struct rt_runtime *rt, char *const *argv, char *out, size_t size)
{
    char lang[128], *envp[64];
    size_t n = 0, len = 0;
    int fds[2], status;
    pid_t pid;

    snprintf(lang, sizeof(lang), "PISTON_LANGUAGE=%s", rt->language);
    for (char **e = rt->env; *e && n < 60; e++)
        envp[n++] = *e;
    envp[n++] = lang;
    envp[n++] = "HOME=/tmp";
    envp[n] = NULL;
    ASSERT_OK(pipe(fds));
    pid = fork();
    ASSERT_OK(pid);
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        /* stdin as in a box without one: empty (SQLite's run script reads it to the end) */
        dup2(null, STDIN_FILENO);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (chdir(workdir) < 0)
            _exit(126);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fds[1]);
    for (ssize_t k; len + 1 < size && (k = read(fds[0], out + len, size - len - 1)) > 0;)
        len += (size_t)k;
    out[len] = '\0';
    close(fds[0]);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return status;
}

/* `/bin/bash <pkgdir>/<script> file0.code` */
static int run_script(const struct rt_runtime *rt, const char *script, char *out, size_t size)
{
    char path[PATH_MAX], *argv[] = {"/bin/bash", path, "file0.code", NULL};

    snprintf(path, sizeof(path), "%s/%s", rt->package_dir, script);
    return run_argv(rt, argv, out, size);
}

/* The run stage the engine execs: run.argv when the package has one (checked against the
 * `run` script it stands for: same status, same output), else the script. */
static int run_stage(const struct rt_runtime *rt, char *out, size_t size)
{
    static const char *const args[] = {"file0.code"};
    char *script_out = malloc(size);
    char **argv;
    int status, script_status;

    ASSERT_NOT_NULL(script_out);
    script_status = run_script(rt, "run", script_out, size);
    if (!rt->run_argv) {
        memcpy(out, script_out, size);
        free(script_out);
        return script_status;
    }
    argv = rt_run_argv_expand(rt, args, 1);
    ASSERT_NOT_NULL(argv);
    status = run_argv(rt, argv, out, size);
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
    if (status != script_status || strcmp(out, script_out) != 0)
        TEST_FAIL("%s: run.argv gave status %#x and \"%s\", run gave %#x and \"%s\"", rt->language,
                  status, out, script_status, script_out);
    free(script_out);
    return status;
}

/* Writes `source` as file0.code in a fresh work directory, compiles it if the runtime is
 * compiled (which must succeed) and returns the run stage's wait status and stdout. */
static int compile_and_run(const struct rt_runtime *rt, const char *source, char *out, size_t size)
{
    char path[PATH_MAX];
    FILE *f;
    int status;

    strcpy(workdir, "/tmp/test-rt-bundled-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(workdir));
    snprintf(path, sizeof(path), "%s/file0.code", workdir);
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(source, f);
    fclose(f);
    if (rt->compiled) {
        status = run_script(rt, "compile", out, size);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            TEST_FAIL("%s: compile failed (status %#x)", rt->language, status);
    }
    status = run_stage(rt, out, size);
    remove_workdir();
    workdir[0] = '\0';
    return status;
}

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n;

    ASSERT_NOT_NULL(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void smoke(const struct rt_registry *reg, const char *language, const char *test_file)
{
    const struct rt_runtime *rt = rt_registry_find(reg, language, "*");
    char src[PATH_MAX], out[4096];
    int status;

    ASSERT_NOT_NULL(rt);
    snprintf(src, sizeof(src), "%s/%s", rt->package_dir, test_file);
    status = compile_and_run(rt, slurp(src), out, sizeof(out));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("%s: run failed (status %#x)", language, status);
    ASSERT_STREQ(out, "OK\n");
}

TEST(smoke_tests)
{
    struct rt_registry *reg = load_bundled();

    atexit(remove_workdir);
    smoke(reg, "python", "test.py");
    smoke(reg, "javascript", "test.js");
    smoke(reg, "c", "test.c");
    smoke(reg, "c++", "test.cpp");
    smoke(reg, "java", "test.java");
    smoke(reg, "sqlite3", "test.sql");
    rt_registry_unref(reg);
}

TEST(run_scripts_exec_the_program)
{
    struct rt_registry *reg = load_bundled();
    char out[4096];
    int status;

    atexit(remove_workdir);
    /* No shell stays in between: the signal reaches the waiter as is, not as status 139. */
    status =
        compile_and_run(rt_registry_find(reg, "c", "*"),
                        "int main(void) { volatile int *p = 0; return *p; }\n", out, sizeof(out));
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGSEGV);
    status = compile_and_run(rt_registry_find(reg, "python", "*"), "import sys\nsys.exit(3)\n", out,
                             sizeof(out));
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 3);
    /* LANG=C.UTF-8 from the java environment: non-ASCII output is not turned into '?'. */
    status = compile_and_run(rt_registry_find(reg, "java", "*"),
                             "public class Main { public static void main(String[] a) {"
                             " System.out.println(\"caf\u00e9 \u00e9\"); } }\n",
                             out, sizeof(out));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_STREQ(out, "caf\xc3\xa9 \xc3\xa9\n");
    rt_registry_unref(reg);
}
