/* Accounting probe (tests/security, property 10). Modes:
 *   cpu <ms>    burn CPU until getrusage(RUSAGE_SELF) says <ms>; print self_cpu_ms (which
 *               covers the whole process, the bash that exec'd us included)
 *   sleep <ms>  sleep, nothing else
 *   mem <MiB>   allocate and touch <MiB> MiB, print the touched size
 *   hog         allocate and touch 1 MiB chunks until killed */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long self_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000L;
}

int main(int argc, char **argv)
{
    const char *mode = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 0;

    if (!strcmp(mode, "cpu")) {
        volatile unsigned long x = 0;
        while (self_cpu_ms() < n)
            for (int i = 0; i < 100000; i++)
                x++;
        printf("self_cpu_ms=%ld\n", self_cpu_ms());
    } else if (!strcmp(mode, "sleep")) {
        struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    } else if (!strcmp(mode, "mem")) {
        size_t size = (size_t)n << 20;
        char *p = malloc(size);
        memset(p, 1, size);
        printf("touched=%zu\n", size);
    } else if (!strcmp(mode, "hog")) {
        for (;;) {
            char *p = malloc(1 << 20);
            if (p)
                memset(p, 1, 1 << 20);
        }
    }
    return 0;
}
