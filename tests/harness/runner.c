/* Test runner: forks every registered test, with a per-test timeout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static struct test_case *tests_head, **tests_tail = &tests_head;

void test_register(struct test_case *tc)
{
    *tests_tail = tc;
    tests_tail = &tc->next;
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
        alarm(timeout);
        tc->fn();
        exit(0);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
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
