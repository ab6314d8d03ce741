/* Test runner: forks every registered test, with a per-test timeout. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static struct test_case *tests_head, **tests_tail = &tests_head;

void test_register(struct test_case *tc)
{
    *tests_tail = tc;
    tests_tail = &tc->next;
}

/* With CAPSULE_TEST_CGROUP_PARENT (the v2vm lane sets it), every test process gets a cgroup of
 * its own below that directory, as a systemd unit with Delegate=yes does: on cgroup v2 a
 * process that builds a tree under its own cgroup must be alone in it (no internal
 * processes), and the runner itself stays behind in the one it started in. */
static void test_cgroup_path(pid_t pid, char *buf, size_t size)
{
    snprintf(buf, size, "%s/test-%d.service", getenv("CAPSULE_TEST_CGROUP_PARENT"), (int)pid);
}

static void test_cgroup_enter(void)
{
    char dir[512], procs[600];
    int fd;

    if (!getenv("CAPSULE_TEST_CGROUP_PARENT"))
        return;
    test_cgroup_path(getpid(), dir, sizeof(dir));
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "runner: mkdir %s: %s\n", dir, strerror(errno));
        _exit(1);
    }
    fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
        fprintf(stderr, "runner: joining %s: %s\n", dir, strerror(errno));
        _exit(1);
    }
    close(fd);
}

/* The test's cgroup is empty once it has been reaped (unless it left a tree: then it stays,
 * for the lane's leftover check to report). */
static void test_cgroup_remove(pid_t pid)
{
    char dir[512];

    if (!getenv("CAPSULE_TEST_CGROUP_PARENT"))
        return;
    test_cgroup_path(pid, dir, sizeof(dir));
    if (rmdir(dir) < 0 && errno != ENOENT)
        fprintf(stderr, "runner: rmdir %s: %s\n", dir, strerror(errno));
}

static int run_one(struct test_case *tc, unsigned timeout)
{
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        test_cgroup_enter();
        alarm(timeout);
        tc->fn();
        exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    test_cgroup_remove(pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok   %s\n", tc->name);
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_CODE) {
        printf("skip %s\n", tc->name);
        return TEST_SKIP_CODE;
    }
    if (WIFSIGNALED(status))
        printf("FAIL %s (signal %d%s)\n", tc->name, WTERMSIG(status),
               WTERMSIG(status) == SIGALRM ? ", timeout" : "");
    else
        printf("FAIL %s (exit %d)\n", tc->name, WEXITSTATUS(status));
    return 1;
}

int main(int argc, char **argv)
{
    unsigned timeout = 60, ran = 0, failed = 0, skipped = 0;
    const char *env = getenv("TEST_TIMEOUT");

    if (env)
        timeout = (unsigned)atoi(env);
    for (struct test_case *tc = tests_head; tc; tc = tc->next) {
        bool selected = argc < 2;
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], tc->name) == 0)
                selected = true;
        if (!selected)
            continue;
        ran++;
        int r = run_one(tc, timeout);
        if (r == TEST_SKIP_CODE)
            skipped++;
        else if (r != 0)
            failed++;
    }
    printf("%u tests, %u failed, %u skipped\n", ran, failed, skipped);
    if (ran == 0)
        return argc < 2 ? 0 : 1;
    if (failed)
        return 1;
    return skipped == ran ? TEST_SKIP_CODE : 0;
}
