/* The one-slot sandbox the sbx_run() tests share: a context named <prefix>-<pid> with a uid
 * pair of its own (uid_base + (pid % spread) * 2), its slot directory on a 16 MiB tmpfs
 * holding submission/, tmp/ and shm/ owned by the slot's uid. Skips (77) without root or a
 * usable cgroup controller. A failed assertion exits the test's process, so teardown runs
 * at exit too: the cgroup tree must go all the same. Include once per test program. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "test.h"

static struct sbx_context *ctx;
static struct sbx_slot *slot;

static void teardown(void)
{
    umount2(sbx_slot_dir(slot), MNT_DETACH);
    ctx = sbx_context_free(ctx);
}

static void teardown_at_exit(void)
{
    if (ctx)
        teardown();
}

static void sbx_fixture_setup(const char *prefix, unsigned uid_base, unsigned spread)
{
    struct sbx_error e = {0};
    char instance[64], run_dir[128];
    const char *dir;
    int r;

    if (geteuid() != 0)
        TEST_SKIP("needs root");
    snprintf(instance, sizeof(instance), "%s-%d", prefix, getpid());
    snprintf(run_dir, sizeof(run_dir), "/run/capsule/%s", instance);
    unsigned base = uid_base + ((unsigned)getpid() % spread) * 2;
    struct sbx_config cfg = {.n_slots = 1,
                             .uid_base = base,
                             .gid_base = base,
                             .instance = instance,
                             .run_dir = run_dir,
                             .box_helper = CAPSULE_BINARY_DIR "/capsule-box"};
    r = sbx_context_new(&cfg, &ctx, &e);
    if (r == -ENOENT && e.step && strcmp(e.step, "cgroup-detect") == 0)
        TEST_SKIP("no usable cgroup controller %s", e.path);
    if (r < 0)
        TEST_FAIL("sbx_context_new: step %s path %s: %s", e.step, e.path, strerror(-r));
    atexit(teardown_at_exit);
    slot = sbx_context_slot(ctx, 0);
    dir = sbx_slot_dir(slot);
    ASSERT_OK(mount("t", dir, "tmpfs", 0, "size=16m,mode=0755") < 0 ? -errno : 0);
    static const char *const sub[] = {"submission", "tmp", "shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
        ASSERT_OK(mkdir(p, 0755) < 0 ? -errno : 0);
        ASSERT_OK(chown(p, sbx_slot_uid(slot), sbx_slot_gid(slot)) < 0 ? -errno : 0);
    }
}

/* Helpers the sbx_run() test programs share (inline: a program that does not use one gets no
 * warning). */

static inline int stdin_fd(const char *text)
{
    int fd = memfd_create("in", MFD_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Runs `sh -c script` with the given spec tweaks. */
static inline void run_sh(const char *script, struct sbx_spec *spec, struct sbx_result *res)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    static const char *const envp[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", NULL};
    struct sbx_error e = {0};
    int r;

    spec->argv = argv;
    spec->envp = envp;
    if (!spec->stdin_fd)
        spec->stdin_fd = stdin_fd("");
    if (!spec->wall_limit_ms)
        spec->wall_limit_ms = 5000;
    if (!spec->output_limit)
        spec->output_limit = 65536;
    r = sbx_run(slot, spec, res, &e);
    if (r < 0)
        TEST_FAIL("sbx_run: step %s path %s: %s", e.step, e.path, strerror(-r));
}

/* Processes of the slot's uid anywhere on the host. */
static inline int count_slot_processes(void)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;

    ASSERT_NOT_NULL(d);
    while ((de = readdir(d))) {
        char path[300];
        struct stat st;
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s", de->d_name);
        if (stat(path, &st) == 0 && st.st_uid == sbx_slot_uid(slot))
            n++;
    }
    closedir(d);
    return n;
}
