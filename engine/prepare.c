/* Startup preparation of bundled packages: a package may hold an executable `prepare`
 * script (a capsuled extension) that builds files every box of the package can read, such
 * as Java's class-data sharing archive. It runs once per daemon start, as root, outside any
 * box, with the package environment: like the version probe, only trusted bundled packages
 * have one. Its output directory is bound read-only at SBX_PREPARED_PATH in the package's
 * boxes. A failing prepare costs speed, never correctness: it only warns. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"

#define DEFAULT_PREPARED_DIR "/var/cache/capsule"

const char *eng__prepared_base(const struct eng_config *cfg)
{
    return cfg->prepared_dir ? cfg->prepared_dir : DEFAULT_PREPARED_DIR;
}

int eng__prepared_dir_of(const struct eng_config *cfg, const struct rt_runtime *rt, char *buf,
                         size_t size)
{
    const char *name = strrchr(rt->package_dir, '/');
    struct stat st;

    name = name ? name + 1 : rt->package_dir;
    if ((size_t)snprintf(buf, size, "%s/%s", eng__prepared_base(cfg), name) >= size)
        return -ENAMETOOLONG;
    if (stat(buf, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int mkdir_p(char *path)
{
    for (char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
        if (p)
            *p = '\0';
        int r = mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
        if (p)
            *p = '/';
        if (r < 0)
            return r;
        if (!p)
            return 0;
    }
}

static int run_prepare(const struct rt_runtime *rt, const char *script, char *out)
{
    char *argv[] = {"/bin/bash", (char *)script, out, NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status, r;

    r = mkdir_p(out);
    if (r < 0)
        return r;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    r = -posix_spawn(&pid, argv[0], &fa, NULL, argv, rt->env ? rt->env : (char *[]){NULL});
    posix_spawn_file_actions_destroy(&fa);
    if (r < 0)
        return r;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ENOEXEC;
}

void eng_prepare_runtimes(const struct eng_config *cfg, const struct rt_registry *reg,
                          void (*warn)(void *userdata, const char *message), void *userdata)
{
    for (size_t i = 0; i < rt_registry_count(reg); i++) {
        const struct rt_runtime *rt = rt_registry_get(reg, i);
        char script[4096], out[4096], msg[4600];
        bool seen = false;
        int r;

        /* one package may provide several runtimes: prepare it once */
        for (size_t k = 0; k < i; k++)
            seen |= strcmp(rt_registry_get(reg, k)->package_dir, rt->package_dir) == 0;
        snprintf(script, sizeof(script), "%s/prepare", rt->package_dir);
        if (seen || access(script, X_OK) < 0)
            continue;
        snprintf(out, sizeof(out), "%s/%s", eng__prepared_base(cfg),
                 strrchr(rt->package_dir, '/') ? strrchr(rt->package_dir, '/') + 1
                                               : rt->package_dir);
        r = run_prepare(rt, script, out);
        if (r < 0 && warn) {
            snprintf(msg, sizeof(msg), "%s: prepare failed (%s); boxes run without it", script,
                     strerror(-r));
            warn(userdata, msg);
        }
    }
}

/* Box programs run as a slot uid that owns nothing on the host and is in no group of it: only
 * the "other" permission bits let them in (ACLs naming every slot uid aside). */
static int readable_by_slots(const char *path, bool dir, mode_t *ret_mode)
{
    mode_t need = dir ? S_IROTH | S_IXOTH : S_IROTH;
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    *ret_mode = st.st_mode & 07777;
    return (st.st_mode & need) == need ? 0 : -EACCES;
}

int eng_check_runtime_access(const struct rt_registry *reg, char **ret_message)
{
    for (size_t i = 0; i < rt_registry_count(reg); i++) {
        const struct rt_runtime *rt = rt_registry_get(reg, i);
        const char *scripts[] = {rt->compiled ? "compile" : NULL, rt->run_argv ? NULL : "run"};
        char path[4096];
        mode_t mode = 0;
        int r;

        snprintf(path, sizeof(path), "%s", rt->package_dir);
        r = readable_by_slots(path, true, &mode);
        for (size_t k = 0; r >= 0 && k < ARRAY_SIZE(scripts); k++) {
            if (!scripts[k])
                continue;
            snprintf(path, sizeof(path), "%s/%s", rt->package_dir, scripts[k]);
            r = readable_by_slots(path, false, &mode);
        }
        if (r == -EACCES) {
            if (asprintf(ret_message,
                         "runtime %s: %s (mode %04o) is not readable by the sandbox users, so "
                         "its jobs cannot start: other users need r-x on the package directory "
                         "and r on its scripts",
                         rt->language, path, (unsigned)mode) < 0)
                *ret_message = NULL;
            return r;
        }
    }
    return 0;
}
