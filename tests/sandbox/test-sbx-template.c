/* Real boxes through sbx_run() with packages: which package directory a box binds and where,
 * and the slot's root templates (template.c): built once per package, evicted, rebuilt when a
 * package directory is replaced, and a template that cannot be built. Needs root and cgroups
 * (exit 77 otherwise). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "sandbox.h"
#include "sbx-fixture.h"
#include "test.h"

static void setup(void)
{
    sbx_fixture_setup("capsule-test-template", 65000, 400);
}

/* A warm box for another package is not used: the run sees its own package, not the other. */
TEST(warm_box_for_another_package_is_replaced)
{
    char a[] = "/tmp/capsule-warm-a-XXXXXX", b[] = "/tmp/capsule-warm-b-XXXXXX", cmd[200];
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};
    struct sbx_error e = {0};

    setup();
    ASSERT_NOT_NULL(mkdtemp(a));
    ASSERT_NOT_NULL(mkdtemp(b));
    chmod(a, 0755);
    chmod(b, 0755);
    snprintf(cmd, sizeof(cmd), "touch %s/in-a %s/in-b", a, b);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_OK(sbx_slot_prepare(slot, a, "/opt/pkg", NULL, &e));
    spec.package_dir = b;
    spec.package_box_dir = "/opt/pkg";
    run_sh("ls /opt/pkg 2>&1", &spec, &res);
    ASSERT_NOT_NULL(strstr(res.out.data, "in-b"));
    ASSERT_NULL(strstr(res.out.data, "in-a"));
    sbx_result_done(&res);
    ASSERT_OK(sbx_slot_quiesce(slot));
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", a, b);
    ASSERT_EQ(system(cmd), 0);
    teardown();
}

/* A package directory under the host's /tmp (which the box replaces with its own) is bound
 * at its box path, and nothing of its host path shows in the box's root. */
TEST(package_under_tmp_is_bound_at_its_box_path)
{
    char dir[] = "/tmp/capsule-pkg-XXXXXX", cmd[200];
    struct sbx_spec spec = {.package_box_dir = "/piston/packages/t/1.0.0"};
    struct sbx_result res = {0};

    setup();
    ASSERT_NOT_NULL(mkdtemp(dir));
    chmod(dir, 0755);
    snprintf(cmd, sizeof(cmd), "echo 'echo from-package' > %s/run", dir);
    ASSERT_EQ(system(cmd), 0);
    spec.package_dir = dir;
    snprintf(cmd, sizeof(cmd), "/bin/sh /piston/packages/t/1.0.0/run; ls /tmp; ls -d %s", dir);
    run_sh(cmd, &spec, &res);
    ASSERT_STREQ(res.out.data, "from-package\n");
    ASSERT_NOT_NULL(strstr(res.err.data, "No such file or directory"));
    sbx_result_done(&res);
    ASSERT_OK(sbx_slot_quiesce(slot));
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
    teardown();
}

/* A box path inside what the template mounts (the box's /tmp, /usr) or not a plain absolute
 * path is refused before anything is built. */
TEST(package_box_path_must_be_outside_the_template)
{
    static const char *const bad[] = {"/tmp/pkg", "/usr/pkg", "relative/pkg", "/opt/../usr"};
    static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    const char *argv[] = {"/bin/true", NULL};
    struct sbx_result res = {0};
    struct sbx_error e = {0};

    setup();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sbx_spec spec = {.argv = argv,
                                .envp = envp,
                                .package_dir = "/usr/share",
                                .package_box_dir = bad[i],
                                .wall_limit_ms = 5000};
        spec.stdin_fd = stdin_fd("");
        ASSERT_EQ(sbx_run(slot, &spec, &res, &e), -EINVAL);
        close(spec.stdin_fd);
    }
    teardown();
}

/* Runs `script` with `dir` bound at /opt/pkg; returns the slot's template count after it. */
static unsigned run_with_package(const char *dir, const char *script, struct sbx_result *res)
{
    struct sbx_spec spec = {.package_dir = dir, .package_box_dir = "/opt/pkg"};

    run_sh(script, &spec, res);
    ASSERT_OK(sbx_slot_quiesce(slot));
    return slot->templates_built;
}

/* A slot builds a package's root once (template.c) and keeps the two it used last: every box
 * still sees its own package only, its own procfs (its PID namespace's) and a read-only root. */
TEST(boxes_of_a_slot_share_a_root_template_per_package)
{
    static const char order[] = "aabacb";
    static const unsigned built[] = {1, 1, 2, 2, 3, 4}; /* c evicts b, the least recent */
    char dirs[3][32], cmd[200];
    unsigned base;

    setup();
    base = slot->templates_built;
    for (int i = 0; i < 3; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "/tmp/capsule-tpl-%c-XXXXXX", 'a' + i);
        ASSERT_NOT_NULL(mkdtemp(dirs[i]));
        chmod(dirs[i], 0755);
        snprintf(cmd, sizeof(cmd), "touch %s/in-%c", dirs[i], 'a' + i);
        ASSERT_EQ(system(cmd), 0);
    }
    for (size_t i = 0; i < sizeof(order) - 1; i++) {
        struct sbx_result res = {0};
        char want[64];
        int pkg = order[i] - 'a';
        unsigned n = run_with_package(dirs[pkg],
                                      "ls /opt/pkg; echo $$; cut -d' ' -f1 /proc/$$/stat; "
                                      "touch /probe 2>/dev/null || echo read-only",
                                      &res);
        snprintf(want, sizeof(want), "in-%c\n2\n2\nread-only\n", order[i]);
        ASSERT_STREQ(res.out.data, want);
        ASSERT_EQ(n - base, built[i]);
        sbx_result_done(&res);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dirs[i]);
        ASSERT_EQ(system(cmd), 0);
    }
    teardown();
}

/* A package directory swapped for a new one (what an install or removal does) is a new root:
 * the template of the old one, which pins the old directory, never serves it. */
TEST(a_replaced_package_directory_gets_its_own_template)
{
    char dir[] = "/tmp/capsule-tpl-swap-XXXXXX", cmd[300];
    struct sbx_result res = {0};
    unsigned first;

    setup();
    ASSERT_NOT_NULL(mkdtemp(dir));
    chmod(dir, 0755);
    snprintf(cmd, sizeof(cmd), "echo 1 > %s/v", dir);
    ASSERT_EQ(system(cmd), 0);
    first = run_with_package(dir, "cat /opt/pkg/v", &res);
    ASSERT_STREQ(res.out.data, "1\n");
    sbx_result_done(&res);
    snprintf(cmd, sizeof(cmd), "mv %s %s.old && mkdir -m 755 %s && echo 2 > %s/v", dir, dir, dir,
             dir);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_EQ(run_with_package(dir, "cat /opt/pkg/v", &res), first + 1);
    ASSERT_STREQ(res.out.data, "2\n");
    sbx_result_done(&res);
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s.old", dir, dir);
    ASSERT_EQ(system(cmd), 0);
    teardown();
}

/* A root that cannot be built fails the run with the mount op's path, and leaves no process. */
TEST(a_template_that_cannot_be_built_names_its_mount)
{
    static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    const char *argv[] = {"/bin/true", NULL};
    struct sbx_spec spec = {.argv = argv,
                            .envp = envp,
                            .package_dir = "/nonexistent/capsule-package",
                            .package_box_dir = "/opt/pkg",
                            .wall_limit_ms = 5000};
    struct sbx_result res = {0};
    struct sbx_error e = {0};

    setup();
    spec.stdin_fd = stdin_fd("");
    ASSERT_EQ(sbx_run(slot, &spec, &res, &e), -ENOENT);
    ASSERT_STREQ(e.step, "mount");
    ASSERT_NOT_NULL(strstr(e.path, "/opt/pkg"));
    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_EQ(count_slot_processes(), 0);
    close(spec.stdin_fd);
    teardown();
}

/* Another thread that joined the slot (eng_run's connection threads) runs a stage on the
 * warm box, never builds one (a box dies with the thread that cloned it), and the box goes
 * on serving after that thread has exited. */
struct joined_run {
    bool no_build;
    int run, ready;
    struct sbx_result res;
};

static void *joined_main(void *arg)
{
    struct joined_run *j = arg;
    const char *argv[] = {"/bin/sh", "-c", "echo joined", NULL};
    static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct sbx_spec spec = {.argv = argv,
                            .envp = envp,
                            .wall_limit_ms = 5000,
                            .output_limit = 4096,
                            .no_build = j->no_build};
    struct sbx_error e = {0};
    int r = sbx_slot_join(slot);

    if (r < 0) {
        j->run = j->ready = r;
        return NULL;
    }
    j->ready = sbx_slot_ready(slot, NULL, NULL, NULL, &e);
    spec.stdin_fd = stdin_fd("");
    j->run = sbx_run(slot, &spec, &j->res, &e);
    close(spec.stdin_fd);
    return NULL;
}

static void run_joined(struct joined_run *j)
{
    pthread_t t;

    ASSERT_EQ(pthread_create(&t, NULL, joined_main, j), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
}

TEST(a_joined_thread_runs_on_the_warm_box_and_never_builds)
{
    struct joined_run cold = {.no_build = true}, warm = {.no_build = true};
    struct sbx_spec spec = {0};
    struct sbx_result res = {0};
    struct sbx_error e = {0};
    int host_ns;

    setup();
    /* the slot's thread needs a namespace of its own to be joined; back to the host's at the
     * end, where teardown unmounts the fixture's tmpfs */
    host_ns = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(host_ns >= 0);
    ASSERT_OK(sbx_slot_enter_thread(slot));
    /* no warm box: nothing runs, nothing is built */
    run_joined(&cold);
    ASSERT_EQ(cold.ready, 0);
    ASSERT_EQ(cold.run, SBX_ENOBOX);
    ASSERT_EQ(sbx_slot_boxes_built(slot), 0);
    /* built by the slot's thread: the joined thread's stage runs on it */
    ASSERT_OK(sbx_slot_prepare(slot, NULL, NULL, NULL, &e));
    ASSERT_EQ(sbx_slot_boxes_built(slot), 1);
    run_joined(&warm);
    ASSERT_EQ(warm.ready, 1);
    ASSERT_OK(warm.run);
    ASSERT_TRUE(warm.res.exited && warm.res.exit_code == 0);
    ASSERT_STREQ(warm.res.out.data, "joined\n");
    sbx_result_done(&warm.res);
    ASSERT_EQ(sbx_slot_boxes_built(slot), 1);
    /* that thread is gone; the box it used was not its own and serves on */
    run_sh("echo again", &spec, &res);
    ASSERT_STREQ(res.out.data, "again\n");
    ASSERT_EQ(sbx_slot_boxes_built(slot), 1);
    sbx_result_done(&res);
    close(spec.stdin_fd);
    ASSERT_OK(sbx_slot_quiesce(slot));
    sbx_slot_discard(slot);
    ASSERT_OK(sbx_slot_quiesce(slot));
    ASSERT_OK(setns(host_ns, CLONE_NEWNS) < 0 ? -errno : 0);
    close(host_ns);
    teardown();
}
