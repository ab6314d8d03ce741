/* Process lifetime probe (tests/security, property 7). Modes:
 *   daemonize  leave a double-forked, setsid, SIGTERM/SIGHUP-ignoring, stdout-holding
 *              grandchild and a stopped child behind, then exit 0 at once
 *   timeout    the same, then sleep forever (the wall limit ends the stage)
 *   threads    4 spinning threads (CPU time must count all of them)
 *   children   4 spinning child processes, the parent waits (children count too) */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *spin(void *arg)
{
    volatile unsigned long n = 0;
    (void)arg;
    for (;;)
        n++;
    return NULL;
}

static void leave_behind(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            signal(SIGTERM, SIG_IGN);
            signal(SIGHUP, SIG_IGN);
            signal(SIGINT, SIG_IGN);
            for (;;) {
                /* keeps stdout open and busy: the answer must not wait for it */
                sleep(1);
            }
        }
        _exit(0);
    }
    wait(NULL);
    if (fork() == 0) {
        raise(SIGSTOP);
        for (;;)
            pause();
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "daemonize";

    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "daemonize") || !strcmp(mode, "timeout")) {
        leave_behind();
        printf("main done\n");
        if (!strcmp(mode, "timeout"))
            for (;;)
                pause();
        return 0;
    }
    if (!strcmp(mode, "threads")) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, spin, NULL);
        pthread_join(t[0], NULL);
        return 0;
    }
    if (!strcmp(mode, "children")) {
        for (int i = 0; i < 4; i++)
            if (fork() == 0)
                spin(NULL);
        while (wait(NULL) > 0)
            ;
        return 0;
    }
    return 2;
}
