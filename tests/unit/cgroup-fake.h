/* Fake cgroupfs trees for the cgroup backend's unit tests (test-sbx-cgroup-fake-v1.c and
 * -v2.c): a temp directory holds regular files standing in for control files, mountinfo and
 * /proc/self/cgroup are fakes pointing into it, and the fake_mkdir/fake_rmdir hooks play the
 * kernel's part (control files appear on mkdir). No pid in these trees is ever non-zero, so
 * no kill() reaches a real process. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

#define MIB (1024ULL * 1024ULL)

struct fake {
    int version;
    bool memsw; /* v1: swap accounting present */
    bool peak;  /* v2: memory.peak present (5.19+) */
    bool kill;  /* v2: cgroup.kill present (5.14+) */
    bool swap;  /* v2: memory.swap.max present */
    char dir[256];
    char mountinfo[300], proc_cgroup[300];
};

/* A failing assertion exits: the temp tree still goes (atexit). */
static char cleanup_dir[256];

/* ---- helpers ------------------------------------------------------------------------------ */

static inline void put_at(int dirfd, const char *path, const char *content)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        TEST_FAIL("create %s: %s", path, strerror(errno));
    if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        TEST_FAIL("write %s", path);
    close(fd);
}

static inline void put(const struct fake *f, const char *rel, const char *content)
{
    char path[600];
    snprintf(path, sizeof(path), "%s%s", f->dir, rel);
    put_at(AT_FDCWD, path, content);
}

static char *get(const char *path)
{
    static char buf[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t k;

    if (fd < 0)
        return NULL;
    k = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[k < 0 ? 0 : k] = '\0';
    return buf;
}

static char *get_rel(const struct fake *f, const char *rel)
{
    char path[600];
    snprintf(path, sizeof(path), "%s%s", f->dir, rel);
    return get(path);
}

static inline bool exists(const char *dir, const char *rel)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof(path), "%s%s%s", dir, rel[0] ? "/" : "", rel);
    return stat(path, &st) == 0;
}

static inline void mkdirs(const struct fake *f, const char *rel)
{
    char path[600];
    snprintf(path, sizeof(path), "%s%s", f->dir, rel);
    for (char *p = path + strlen(f->dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(path, 0755);
            *p = '/';
        }
    (void)mkdir(path, 0755);
}

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

static inline void fake_done(struct fake *f)
{
    (void)nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    cleanup_dir[0] = '\0';
}

/* ---- the kernel's part -------------------------------------------------------------------- */

static inline void fake_mkdir(int dirfd, const char *path, void *userdata)
{
    const struct fake *f = userdata;
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    static const char *const v1_files[][2] = {
        {"cgroup.procs", ""},          {"tasks", ""},
        {"memory.use_hierarchy", ""},  {"memory.oom_control", ""},
        {"memory.limit_in_bytes", ""}, {"memory.max_usage_in_bytes", "0\n"},
        {"cpuacct.usage", "0\n"},      {"pids.max", ""},
        {"pids.current", "0\n"},       {"freezer.state", "THAWED\n"},
    };
    static const char *const v2_files[][2] = {
        {"cgroup.procs", ""},
        {"cgroup.subtree_control", ""},
        {"cgroup.controllers", "cpu memory pids\n"},
        {"memory.max", ""},
        {"pids.max", ""},
        {"cpu.stat", "usage_usec 0\n"},
        {"memory.current", "0\n"},
        {"memory.events", "oom_kill 0\n"},
        {"pids.current", "0\n"},
        {"cpu.weight", ""},
    };

    if (fd < 0)
        TEST_FAIL("fake_mkdir %s: %s", path, strerror(errno));
    if (f->version == 1) {
        for (size_t i = 0; i < sizeof(v1_files) / sizeof(v1_files[0]); i++)
            put_at(fd, v1_files[i][0], v1_files[i][1]);
        if (f->memsw)
            put_at(fd, "memory.memsw.limit_in_bytes", "");
    } else {
        for (size_t i = 0; i < sizeof(v2_files) / sizeof(v2_files[0]); i++)
            put_at(fd, v2_files[i][0], v2_files[i][1]);
        if (f->peak)
            put_at(fd, "memory.peak", "0\n");
        if (f->kill)
            put_at(fd, "cgroup.kill", "");
        if (f->swap)
            put_at(fd, "memory.swap.max", "");
    }
    close(fd);
}

static inline void fake_rmdir(int dirfd, const char *path, void *userdata)
{
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;

    (void)userdata;
    if (fd < 0)
        return;
    d = fdopendir(fd);
    while ((de = readdir(d)))
        if (de->d_type == DT_REG)
            (void)unlinkat(fd, de->d_name, 0);
    closedir(d);
}

/* ---- fake hosts ----------------------------------------------------------------------------- */

static const char v1_mountinfo[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "39 31 0:36 / /sys/fs/cgroup/my\\040pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    "42 39 0:36 / /mnt/pids-again rw,relatime - cgroup cgroup rw,pids\n";

static const char v1_proc_cgroup[] = "9:name=systemd:/\n"
                                     "8:pids:/\n"
                                     "6:freezer:/\n"
                                     "4:memory:/process_api/abc\n"
                                     "2:cpu,cpuacct:/\n"
                                     "0::/\n";

static inline void fake_files(struct fake *f, const char *mountinfo, const char *proc_cgroup)
{
    snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", f->dir);
    snprintf(f->proc_cgroup, sizeof(f->proc_cgroup), "%s/proc-cgroup", f->dir);
    put_at(AT_FDCWD, f->mountinfo, mountinfo);
    put_at(AT_FDCWD, f->proc_cgroup, proc_cgroup);
}

static inline void cleanup_at_exit(void)
{
    if (cleanup_dir[0])
        (void)nftw(cleanup_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void fake_init(struct fake *f, int version)
{
    *f = (struct fake){.version = version, .memsw = true, .peak = true, .kill = true, .swap = true};
    snprintf(f->dir, sizeof(f->dir), "/tmp/capsule-cgfake-XXXXXX");
    if (!mkdtemp(f->dir))
        TEST_FAIL("mkdtemp: %s", strerror(errno));
    if (!cleanup_dir[0])
        atexit(cleanup_at_exit);
    snprintf(cleanup_dir, sizeof(cleanup_dir), "%s", f->dir);
}

static inline void fake_v1(struct fake *f)
{
    fake_init(f, 1);
    fake_files(f, v1_mountinfo, v1_proc_cgroup);
    mkdirs(f, "/sys/fs/cgroup/cpu,cpuacct");
    mkdirs(f, "/sys/fs/cgroup/memory/process_api/abc");
    mkdirs(f, "/sys/fs/cgroup/freezer");
    mkdirs(f, "/sys/fs/cgroup/my pids");
    mkdirs(f, "/sys/fs/cgroup/unified");
    put(f, "/sys/fs/cgroup/unified/cgroup.controllers", "\n"); /* hybrid: nothing on v2 */
}

static const char v2_mountinfo[] =
    "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

static inline void fake_v2(struct fake *f, const char *controllers)
{
    fake_init(f, 2);
    fake_files(f, v2_mountinfo, "0::/system.slice/capsuled.service\n");
    mkdirs(f, "/sys/fs/cgroup/system.slice/capsuled.service");
    put(f, "/sys/fs/cgroup/system.slice/capsuled.service/cgroup.controllers", controllers);
    put(f, "/sys/fs/cgroup/system.slice/capsuled.service/cgroup.subtree_control", "");
    put(f, "/sys/fs/cgroup/system.slice/capsuled.service/cgroup.procs", "");
}

static inline int open_root(struct fake *f, struct sbx_cgroup_root **ret, struct sbx_error *err)
{
    struct sbx_cgroup_paths paths = {
        .mountinfo = f->mountinfo,
        .proc_cgroup = f->proc_cgroup,
        .path_prefix = f->dir,
        .fake_mkdir = fake_mkdir,
        .fake_rmdir = fake_rmdir,
        .fake_userdata = f,
    };
    return sbx__cgroup_root_open(&paths, "capsule-t", ret, err);
}

#define V1_MEM "/sys/fs/cgroup/memory/process_api/abc/capsule-t"
#define V1_PIDS "/sys/fs/cgroup/my pids/capsule-t"
#define V1_CPU "/sys/fs/cgroup/cpu,cpuacct/capsule-t"
#define V1_FRZ "/sys/fs/cgroup/freezer/capsule-t"
#define V2_OWN "/sys/fs/cgroup/system.slice/capsuled.service"
#define V2_INST V2_OWN "/capsule-t"

static inline void assert_dir(const struct fake *f, const struct sbx_cgroup_root *root, size_t i,
                              const char *rel)
{
    char want[600];
    snprintf(want, sizeof(want), "%s%s", f->dir, rel);
    ASSERT_STREQ(sbx__cgroup_root_dir(root, i), want);
}
