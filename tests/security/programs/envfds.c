/* Environment and descriptor probe (tests/security, property 5): prints every environment
 * entry, the open descriptors (from /proc/self/fd, without the directory's own, and by
 * fcntl over 0..4095), what 0-2 are, signal mask and ignored set, session and tty. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(void)
{
    DIR *d;
    struct dirent *de;
    char path[64], target[512];
    FILE *f;
    char line[256];
    int first = 1;

    for (char **e = environ; *e; e++)
        printf("env=%s\n", *e);
    d = opendir("/proc/self/fd");
    printf("procfds=");
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
            continue;
        printf("%s%s", first ? "" : ",", de->d_name);
        first = 0;
    }
    printf("\n");
    if (d)
        closedir(d);
    first = 1;
    printf("fcntlfds=");
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0) {
            printf("%s%d", first ? "" : ",", fd);
            first = 0;
        }
    printf("\n");
    for (int fd = 0; fd < 3; fd++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, target, sizeof(target) - 1);
        target[k > 0 ? k : 0] = 0;
        printf("fd%d=%s\n", fd, target);
    }
    f = fopen("/proc/self/status", "re");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "SigBlk:", 7) || !strncmp(line, "SigIgn:", 7)) {
            line[strcspn(line, "\n")] = 0;
            line[6] = 0;
            printf("%s=%s\n", line, line + 7 + strspn(line + 7, " \t"));
        }
    if (f)
        fclose(f);
    printf("session_leader=%d\n", getsid(0) == getpid());
    int tty = open("/dev/tty", O_RDWR);
    printf("tty=%s\n", tty < 0 ? strerrorname_np(errno) : "opened");
    printf("cwd=%s\n", getcwd(target, sizeof(target)));
    return 0;
}
