/* v2 lane: leave processes that try to outlive the job (double fork, own session, every
 * catchable signal ignored, one stopped), print "hidden", exit 0. Only a kill of the whole
 * cgroup (cgroup.kill) or of the pid namespace gets them all. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void ignore_all(void)
{
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)signal(s, SIG_IGN);
}

int main(void)
{
    for (int i = 0; i < 3; i++) {
        if (fork() == 0) {
            setsid();
            if (fork() != 0)
                _exit(0);
            ignore_all();
            if (i == 2)
                raise(SIGSTOP);
            for (;;)
                pause();
        }
    }
    sleep(1);
    puts("hidden");
    return 0;
}
