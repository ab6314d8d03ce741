/* cgroup backend against fake cgroupfs trees: a temp directory holds regular files standing in
 * for control files, mountinfo and /proc/self/cgroup are fakes pointing into it, and the
 * fake_mkdir/fake_rmdir hooks play the kernel's part (control files appear on mkdir). No pid
 * in these trees is ever non-zero, so no kill() reaches a real process. */
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

static void put_at(int dirfd, const char *path, const char *content)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        TEST_FAIL("create %s: %s", path, strerror(errno));
    if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        TEST_FAIL("write %s", path);
    close(fd);
}

static void put(const struct fake *f, const char *rel, const char *content)
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

static bool exists(const char *dir, const char *rel)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof(path), "%s%s%s", dir, rel[0] ? "/" : "", rel);
    return stat(path, &st) == 0;
}

static void mkdirs(const struct fake *f, const char *rel)
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

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

static void fake_done(struct fake *f)
{
    (void)nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    cleanup_dir[0] = '\0';
}

/* ---- the kernel's part -------------------------------------------------------------------- */

static void fake_mkdir(int dirfd, const char *path, void *userdata)
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

static void fake_rmdir(int dirfd, const char *path, void *userdata)
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

static void fake_files(struct fake *f, const char *mountinfo, const char *proc_cgroup)
{
    snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", f->dir);
    snprintf(f->proc_cgroup, sizeof(f->proc_cgroup), "%s/proc-cgroup", f->dir);
    put_at(AT_FDCWD, f->mountinfo, mountinfo);
    put_at(AT_FDCWD, f->proc_cgroup, proc_cgroup);
}

static void cleanup_at_exit(void)
{
    if (cleanup_dir[0])
        (void)nftw(cleanup_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fake_init(struct fake *f, int version)
{
    *f = (struct fake){.version = version, .memsw = true, .peak = true, .kill = true, .swap = true};
    snprintf(f->dir, sizeof(f->dir), "/tmp/capsule-cgfake-XXXXXX");
    if (!mkdtemp(f->dir))
        TEST_FAIL("mkdtemp: %s", strerror(errno));
    if (!cleanup_dir[0])
        atexit(cleanup_at_exit);
    snprintf(cleanup_dir, sizeof(cleanup_dir), "%s", f->dir);
}

static void fake_v1(struct fake *f)
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

static void fake_v2(struct fake *f, const char *controllers)
{
    fake_init(f, 2);
    fake_files(f, v2_mountinfo, "0::/system.slice/capsuled.service\n");
    mkdirs(f, "/sys/fs/cgroup/system.slice/capsuled.service");
    put(f, "/sys/fs/cgroup/system.slice/capsuled.service/cgroup.controllers", controllers);
    put(f, "/sys/fs/cgroup/system.slice/capsuled.service/cgroup.subtree_control", "");
    put(f, "/sys/fs/cgroup/system.slice/capsuled.service/cgroup.procs", "");
}

static int open_root(struct fake *f, struct sbx_cgroup_root **ret, struct sbx_error *err)
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

static void assert_dir(const struct fake *f, const struct sbx_cgroup_root *root, size_t i,
                       const char *rel)
{
    char want[600];
    snprintf(want, sizeof(want), "%s%s", f->dir, rel);
    ASSERT_STREQ(sbx__cgroup_root_dir(root, i), want);
}

/* ---- v1 ----------------------------------------------------------------------------------- */

TEST(v1_detect_hybrid)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_error err = {0};

    fake_v1(&f);
    ASSERT_OK(open_root(&f, &root, &err));
    ASSERT_EQ(sbx__cgroup_root_version(root), 1);
    /* Hierarchy order follows the controller order: memory, pids, cpuacct, freezer. The pids
     * mount point has an escaped space; the later bind mount of pids is ignored. */
    assert_dir(&f, root, 0, V1_MEM);
    assert_dir(&f, root, 1, V1_PIDS);
    assert_dir(&f, root, 2, V1_CPU);
    assert_dir(&f, root, 3, V1_FRZ);
    ASSERT_NULL(sbx__cgroup_root_dir(root, 4));
    ASSERT_TRUE(exists(f.dir, V1_MEM "/boxes"));
    ASSERT_TRUE(exists(f.dir, V1_FRZ "/boxes"));
    ASSERT_STREQ(get_rel(&f, V1_MEM "/memory.use_hierarchy"), "1");
    ASSERT_STREQ(get_rel(&f, V1_MEM "/memory.oom_control"), "0");
    root = sbx__cgroup_root_free(root);
    ASSERT_FALSE(exists(f.dir, V1_MEM));
    ASSERT_FALSE(exists(f.dir, V1_PIDS));
    ASSERT_FALSE(exists(f.dir, V1_CPU));
    ASSERT_FALSE(exists(f.dir, V1_FRZ));
    ASSERT_TRUE(exists(f.dir, "/sys/fs/cgroup/memory/process_api/abc"));
    fake_done(&f);
}

static void expect_missing(const char *mountinfo, const char *proc, const char *missing)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_error err = {0};

    fake_v1(&f);
    fake_files(&f, mountinfo, proc);
    ASSERT_EQ(open_root(&f, &root, &err), -ENOENT);
    ASSERT_NULL(root);
    ASSERT_STREQ(err.step, "cgroup-detect");
    ASSERT_EQ(err.err, -ENOENT);
    ASSERT_STREQ(err.path, missing);
    ASSERT_FALSE(exists(f.dir, V1_MEM));
    fake_done(&f);
}

TEST(v1_missing_controller_is_named)
{
    expect_missing("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                   "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
                   v1_proc_cgroup, "pids");
    expect_missing("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                   "39 31 0:36 / /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids\n",
                   v1_proc_cgroup, "cpuacct");
    expect_missing("39 31 0:36 / /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids\n",
                   v1_proc_cgroup, "memory");
    /* Mounted, but this process has no line for it in /proc/self/cgroup. */
    expect_missing(v1_mountinfo, "8:pids:/\n2:cpu,cpuacct:/\n", "memory");
}

TEST(v1_freezer_optional_and_subtree_mount)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *leaf = NULL;
    struct sbx_cgroup_limits limits = {0};
    const int *fds;

    fake_v1(&f);
    /* A container's view: the memory hierarchy is mounted from /docker/x, and our cgroup is
     * /docker/x/sub below it. No freezer anywhere. */
    fake_files(&f,
               "35 31 0:32 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
               "39 31 0:36 / /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids\n"
               "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n",
               "8:pids:/\n4:memory:/docker/x/sub\n2:cpu,cpuacct:/\n");
    mkdirs(&f, "/sys/fs/cgroup/memory/sub");
    ASSERT_OK(open_root(&f, &root, NULL));
    assert_dir(&f, root, 0, "/sys/fs/cgroup/memory/sub/capsule-t");
    ASSERT_NULL(sbx__cgroup_root_dir(root, 3));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 2, 7, &limits, &leaf, NULL));
    ASSERT_EQ(sbx__cgroup_leaf_procs_fds(leaf, &fds), 3);
    ASSERT_OK(sbx__cgroup_leaf_kill(leaf)); /* the loop: nobody listed */
    ASSERT_OK(sbx__cgroup_leaf_destroy(leaf));
    ASSERT_FALSE(exists(f.dir, "/sys/fs/cgroup/memory/sub/capsule-t/boxes/slot-2/stage-7"));
    root = sbx__cgroup_root_free(root);
    ASSERT_FALSE(exists(f.dir, "/sys/fs/cgroup/memory/sub/capsule-t"));
    fake_done(&f);
}

TEST(v1_leftover_cleanup)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    int fd;

    fake_v1(&f);
    /* What a crashed daemon of the same instance left, and a neighbour that is not ours. */
    mkdirs(&f, V1_MEM "/boxes/slot-3/stage-9");
    mkdirs(&f, V1_PIDS "/boxes/slot-3/stage-9");
    fd = open(f.dir, O_RDONLY | O_DIRECTORY);
    fake_mkdir(fd, V1_MEM + 1, &f);
    fake_mkdir(fd, V1_MEM "/boxes/slot-3/stage-9" + 1, &f);
    fake_mkdir(fd, V1_PIDS "/boxes/slot-3/stage-9" + 1, &f);
    close(fd);
    mkdirs(&f, "/sys/fs/cgroup/memory/process_api/abc/capsule-other/boxes");
    mkdirs(&f, "/sys/fs/cgroup/memory/process_api/abc/capsule-t2");

    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_FALSE(exists(f.dir, V1_MEM "/boxes/slot-3"));
    ASSERT_FALSE(exists(f.dir, V1_PIDS "/boxes/slot-3"));
    ASSERT_TRUE(exists(f.dir, V1_MEM "/boxes"));
    ASSERT_TRUE(exists(f.dir, "/sys/fs/cgroup/memory/process_api/abc/capsule-other/boxes"));
    ASSERT_TRUE(exists(f.dir, "/sys/fs/cgroup/memory/process_api/abc/capsule-t2"));
    root = sbx__cgroup_root_free(root);
    ASSERT_TRUE(exists(f.dir, "/sys/fs/cgroup/memory/process_api/abc/capsule-other/boxes"));
    fake_done(&f);
}

TEST(v1_leaf_limits_counters_kill_destroy)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *leaf = NULL;
    struct sbx_cgroup_limits limits = {.memory = 64 * MIB, .pids = 8};
    const int *fds;
    uint64_t v;

    fake_v1(&f);
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 0, 1, &limits, &leaf, NULL));
    ASSERT_EQ(sbx__cgroup_leaf_procs_fds(leaf, &fds), 4);
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ(fcntl(fds[i], F_GETFL) & O_ACCMODE, O_WRONLY);
    ASSERT_TRUE(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
#define LEAF "/boxes/slot-0/stage-1/"
    ASSERT_STREQ(get_rel(&f, V1_MEM LEAF "memory.limit_in_bytes"), "67108864");
    ASSERT_STREQ(get_rel(&f, V1_MEM LEAF "memory.memsw.limit_in_bytes"), "67108864");
    ASSERT_STREQ(get_rel(&f, V1_PIDS LEAF "pids.max"), "8");

    put(&f, V1_CPU LEAF "cpuacct.usage", "1234567\n");
    put(&f, V1_MEM LEAF "memory.max_usage_in_bytes", "5000\n");
    put(&f, V1_MEM LEAF "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    put(&f, V1_PIDS LEAF "pids.current", "2\n");
    ASSERT_OK(sbx__cgroup_leaf_cpu_usec(leaf, &v));
    ASSERT_EQ(v, 1234); /* ns -> usec */
    ASSERT_OK(sbx__cgroup_leaf_memory_peak(leaf, &v));
    ASSERT_EQ(v, 5000);
    ASSERT_OK(sbx__cgroup_leaf_oom_kills(leaf, &v));
    ASSERT_EQ(v, 3);
    ASSERT_OK(sbx__cgroup_leaf_pids_current(leaf, &v));
    ASSERT_EQ(v, 2);

    ASSERT_OK(sbx__cgroup_leaf_kill(leaf));
    /* FROZEN then THAWED, written over the fake file in place. */
    ASSERT_STREQ(get_rel(&f, V1_FRZ LEAF "freezer.state"), "THAWED\n");
    ASSERT_OK(sbx__cgroup_leaf_destroy(leaf));
    ASSERT_FALSE(exists(f.dir, V1_MEM LEAF));
    ASSERT_FALSE(exists(f.dir, V1_PIDS LEAF));
    ASSERT_FALSE(exists(f.dir, V1_CPU LEAF));
    ASSERT_FALSE(exists(f.dir, V1_FRZ LEAF));
    ASSERT_TRUE(exists(f.dir, V1_MEM "/boxes/slot-0"));
#undef LEAF
    root = sbx__cgroup_root_free(root);
    ASSERT_FALSE(exists(f.dir, V1_MEM));
    fake_done(&f);
}

TEST(v1_no_memsw_and_unlimited)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *a = NULL, *b = NULL;
    struct sbx_cgroup_limits limited = {.memory = 32 * MIB}, unlimited = {0};

    fake_v1(&f);
    f.memsw = false;
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 1, 1, &limited, &a, NULL));
    ASSERT_STREQ(get_rel(&f, V1_MEM "/boxes/slot-1/stage-1/memory.limit_in_bytes"), "33554432");
    ASSERT_FALSE(exists(f.dir, V1_MEM "/boxes/slot-1/stage-1/memory.memsw.limit_in_bytes"));
    ASSERT_STREQ(get_rel(&f, V1_PIDS "/boxes/slot-1/stage-1/pids.max"), "");
    ASSERT_OK(sbx__cgroup_leaf_create(root, 1, 2, &unlimited, &b, NULL));
    ASSERT_STREQ(get_rel(&f, V1_MEM "/boxes/slot-1/stage-2/memory.limit_in_bytes"), "");
    /* The same stage twice is a bug of the caller, never a silent reuse. */
    struct sbx_cgroup_leaf *dup = NULL;
    struct sbx_error err = {0};
    ASSERT_EQ(sbx__cgroup_leaf_create(root, 1, 2, &unlimited, &dup, &err), -EEXIST);
    ASSERT_STREQ(err.step, "cgroup-create");
    ASSERT_TRUE(exists(f.dir, V1_MEM "/boxes/slot-1/stage-2"));
    ASSERT_OK(sbx__cgroup_leaf_destroy(a));
    ASSERT_OK(sbx__cgroup_leaf_destroy(b));
    ASSERT_OK(sbx__cgroup_leaf_destroy(NULL));
    root = sbx__cgroup_root_free(root);
    fake_done(&f);
}

/* A box's next stage: memory gets a new directory (its peak cannot be reset), pids, cpuacct
 * and freezer keep theirs, the CPU counter reads from where the last stage left it, and a
 * limit the last stage had is lifted when this one has none. */
TEST(v1_recycled_leaf_keeps_all_but_memory)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *leaf = NULL, *spent = NULL;
    struct sbx_cgroup_limits first = {.memory = 64 * MIB, .pids = 8}, unlimited = {0};
    uint64_t seq = 1, v;
    const int *fds;

    fake_v1(&f);
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 6, seq, &first, &leaf, NULL));
#define ONE "/boxes/slot-6/stage-1/"
#define TWO "/boxes/slot-6/stage-2/"
    put(&f, V1_CPU ONE "cpuacct.usage", "300000000\n"); /* 300 ms: the first stage's */
    sbx__cgroup_leaf_recycle(&leaf, &spent);
    ASSERT_TRUE(leaf != NULL);
    ASSERT_TRUE(spent != NULL);
    ASSERT_EQ(sbx__cgroup_leaf_procs_fds(spent, &fds), 1);
    ASSERT_OK(sbx__cgroup_leaf_refill(leaf, &seq, NULL));
    ASSERT_EQ(seq, 2);
    ASSERT_TRUE(exists(f.dir, V1_MEM TWO));
    ASSERT_FALSE(exists(f.dir, V1_PIDS TWO));
    ASSERT_FALSE(exists(f.dir, V1_CPU TWO));
    ASSERT_FALSE(exists(f.dir, V1_FRZ TWO));
    ASSERT_EQ(sbx__cgroup_leaf_procs_fds(leaf, &fds), 4);
    ASSERT_OK(sbx__cgroup_leaf_refill(leaf, &seq, NULL)); /* whole already: nothing made */
    ASSERT_EQ(seq, 2);

    ASSERT_OK(sbx__cgroup_leaf_set_limits(leaf, &unlimited, NULL));
    ASSERT_STREQ(get_rel(&f, V1_PIDS ONE "pids.max"), "max");
    put(&f, V1_PIDS ONE "pids.max", "untouched");
    ASSERT_OK(sbx__cgroup_leaf_set_limits(leaf, &unlimited, NULL)); /* unchanged: not written */
    ASSERT_STREQ(get_rel(&f, V1_PIDS ONE "pids.max"), "untouched");
    ASSERT_STREQ(get_rel(&f, V1_MEM TWO "memory.limit_in_bytes"), ""); /* fresh: unlimited */
    ASSERT_OK(sbx__cgroup_leaf_cpu_usec(leaf, &v));
    ASSERT_EQ(v, 0);
    put(&f, V1_CPU ONE "cpuacct.usage", "302500000\n");
    ASSERT_OK(sbx__cgroup_leaf_cpu_usec(leaf, &v));
    ASSERT_EQ(v, 2500); /* this stage's 2.5 ms only */
    put(&f, V1_MEM TWO "memory.max_usage_in_bytes", "4096\n");
    ASSERT_OK(sbx__cgroup_leaf_memory_peak(leaf, &v));
    ASSERT_EQ(v, 4096);

    /* The spent part is the first stage's memory directory alone. */
    ASSERT_OK(sbx__cgroup_leaf_destroy(spent));
    ASSERT_FALSE(exists(f.dir, V1_MEM ONE));
    ASSERT_TRUE(exists(f.dir, V1_PIDS ONE));
    ASSERT_TRUE(exists(f.dir, V1_CPU ONE));
    ASSERT_TRUE(exists(f.dir, V1_FRZ ONE));
    ASSERT_OK(sbx__cgroup_leaf_kill(leaf));
    ASSERT_STREQ(get_rel(&f, V1_FRZ ONE "freezer.state"), "THAWED\n");
    ASSERT_OK(sbx__cgroup_leaf_destroy(leaf));
    ASSERT_FALSE(exists(f.dir, V1_MEM TWO));
    ASSERT_FALSE(exists(f.dir, V1_PIDS ONE));
    ASSERT_FALSE(exists(f.dir, V1_CPU ONE));
    ASSERT_FALSE(exists(f.dir, V1_FRZ ONE));
#undef ONE
#undef TWO
    leaf = NULL;
    sbx__cgroup_leaf_recycle(&leaf, &spent); /* NULL-safe: nothing either way */
    ASSERT_TRUE(spent == NULL);
    root = sbx__cgroup_root_free(root);
    fake_done(&f);
}

TEST(invalid_instance)
{
    struct sbx_cgroup_root *root = NULL;
    static const char *const bad[] = {"", ".", "..", "a/b", "a b", NULL};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_EQ(sbx__cgroup_root_open(NULL, bad[i], &root, NULL), -EINVAL);
    ASSERT_NULL(sbx__cgroup_root_free(NULL));
}

/* ---- v2 ----------------------------------------------------------------------------------- */

/* Started from a shell (or a unit without Delegate=): <own> holds other processes, so v2
 * cannot enable controllers there. The tree goes under <root>/capsule, the daemon returns
 * to <own> at the end, and nothing of <own> is written but its cgroup.procs. */
TEST(v2_shared_own_cgroup_relocates)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    char others[64];

    fake_v2(&f, "cpuset cpu io memory pids\n");
    snprintf(others, sizeof(others), "1\n%d\n%d\n", (int)getpid(), (int)getpid() + 1);
    put(&f, V2_OWN "/cgroup.procs", others);
    put(&f, "/sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
    ASSERT_OK(open_root(&f, &root, NULL));
    assert_dir(&f, root, 0, "/sys/fs/cgroup/capsule/capsule-t");
    ASSERT_STREQ(get_rel(&f, "/sys/fs/cgroup/capsule/capsule-t/daemon/cgroup.procs"), "0");
    ASSERT_STREQ(get_rel(&f, "/sys/fs/cgroup/capsule/cgroup.subtree_control"),
                 "+memory +pids +cpu");
    ASSERT_STREQ(get_rel(&f, V2_OWN "/cgroup.subtree_control"), "");
    ASSERT_FALSE(exists(f.dir, V2_INST));
    put(&f, V2_OWN "/cgroup.procs", ""); /* a fake file keeps what follows a write */
    root = sbx__cgroup_root_free(root);
    ASSERT_STREQ(get_rel(&f, V2_OWN "/cgroup.procs"), "0");
    ASSERT_FALSE(exists(f.dir, "/sys/fs/cgroup/capsule"));
    fake_done(&f);
}

/* Alone in <own> (the shipped unit): the tree stays below it, whatever else lists there. */
TEST(v2_alone_in_own_cgroup_stays)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    char self[32];

    fake_v2(&f, "cpuset cpu io memory pids\n");
    snprintf(self, sizeof(self), "%d\n", (int)getpid());
    put(&f, V2_OWN "/cgroup.procs", self);
    ASSERT_OK(open_root(&f, &root, NULL));
    assert_dir(&f, root, 0, V2_INST);
    ASSERT_FALSE(exists(f.dir, "/sys/fs/cgroup/capsule"));
    root = sbx__cgroup_root_free(root);
    fake_done(&f);
}

TEST(v2_root_delegation)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;

    fake_v2(&f, "cpuset cpu io memory pids\n");
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_EQ(sbx__cgroup_root_version(root), 2);
    assert_dir(&f, root, 0, V2_INST);
    ASSERT_NULL(sbx__cgroup_root_dir(root, 1));
    /* The daemon left <own> before <own> delegated anything (no internal processes). */
    ASSERT_STREQ(get_rel(&f, V2_INST "/daemon/cgroup.procs"), "0");
    ASSERT_STREQ(get_rel(&f, V2_OWN "/cgroup.subtree_control"), "+memory +pids +cpu");
    ASSERT_STREQ(get_rel(&f, V2_INST "/cgroup.subtree_control"), "+memory +pids +cpu");
    ASSERT_STREQ(get_rel(&f, V2_INST "/boxes/cgroup.subtree_control"), "+memory +pids +cpu");
    ASSERT_STREQ(get_rel(&f, V2_INST "/daemon/cpu.weight"), "1000");
    root = sbx__cgroup_root_free(root);
    /* Back to <own>, the controllers we enabled disabled again, the instance gone. */
    ASSERT_STREQ(get_rel(&f, V2_OWN "/cgroup.procs"), "0");
    ASSERT_STREQ(get_rel(&f, V2_OWN "/cgroup.subtree_control"), "-memory -pids -cpu");
    ASSERT_FALSE(exists(f.dir, V2_INST));
    fake_done(&f);
}

TEST(v2_leftover_cleanup)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    int fd;

    fake_v2(&f, "cpu memory pids\n");
    /* What a crashed daemon of the same instance left, and a neighbour that is not ours. */
    mkdirs(&f, V2_INST "/boxes/slot-2/stage-7");
    fd = open(f.dir, O_RDONLY | O_DIRECTORY);
    fake_mkdir(fd, V2_INST + 1, &f);
    fake_mkdir(fd, V2_INST "/boxes/slot-2/stage-7" + 1, &f);
    close(fd);
    mkdirs(&f, V2_OWN "/capsule-other/boxes");

    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_EQ(sbx__cgroup_root_version(root), 2);
    ASSERT_FALSE(exists(f.dir, V2_INST "/boxes/slot-2"));
    ASSERT_TRUE(exists(f.dir, V2_INST "/boxes"));
    ASSERT_TRUE(exists(f.dir, V2_OWN "/capsule-other/boxes"));
    root = sbx__cgroup_root_free(root);
    ASSERT_TRUE(exists(f.dir, V2_OWN "/capsule-other/boxes"));
    fake_done(&f);
}

TEST(v2_already_delegated_without_cpu)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;

    fake_v2(&f, "memory pids\n");
    put(&f, V2_OWN "/cgroup.subtree_control", "memory pids\n");
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_STREQ(get_rel(&f, V2_OWN "/cgroup.subtree_control"), "memory pids\n");
    ASSERT_STREQ(get_rel(&f, V2_INST "/cgroup.subtree_control"), "+memory +pids");
    root = sbx__cgroup_root_free(root);
    ASSERT_STREQ(get_rel(&f, V2_OWN "/cgroup.subtree_control"), "memory pids\n");
    fake_done(&f);
}

TEST(v2_missing_controller_is_named)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_error err = {0};

    fake_v2(&f, "cpu memory\n");
    ASSERT_EQ(open_root(&f, &root, &err), -ENOENT);
    ASSERT_STREQ(err.step, "cgroup-detect");
    ASSERT_STREQ(err.path, "pids");
    ASSERT_FALSE(exists(f.dir, V2_INST));
    fake_done(&f);
}

TEST(v2_leaf_limits_counters_kill_destroy)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *leaf = NULL;
    struct sbx_cgroup_limits limits = {.memory = 64 * MIB, .pids = 8};
    const int *fds;
    uint64_t v;

    fake_v2(&f, "cpu memory pids\n");
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 5, 42, &limits, &leaf, NULL));
    ASSERT_EQ(sbx__cgroup_leaf_procs_fds(leaf, &fds), 1);
#define LEAF V2_INST "/boxes/slot-5/stage-42/"
    ASSERT_STREQ(get_rel(&f, V2_INST "/boxes/slot-5/cgroup.subtree_control"), "+memory +pids +cpu");
    ASSERT_STREQ(get_rel(&f, LEAF "memory.max"), "67108864");
    ASSERT_STREQ(get_rel(&f, LEAF "memory.swap.max"), "0");
    ASSERT_STREQ(get_rel(&f, LEAF "pids.max"), "8");

    put(&f, LEAF "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n");
    put(&f, LEAF "memory.peak", "7000\n");
    put(&f, LEAF "memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_group_kill 9\noom_kill 1\n");
    put(&f, LEAF "pids.current", "3\n");
    ASSERT_OK(sbx__cgroup_leaf_cpu_usec(leaf, &v));
    ASSERT_EQ(v, 2500);
    ASSERT_OK(sbx__cgroup_leaf_memory_peak(leaf, &v));
    ASSERT_EQ(v, 7000);
    ASSERT_OK(sbx__cgroup_leaf_oom_kills(leaf, &v));
    ASSERT_EQ(v, 1);
    ASSERT_OK(sbx__cgroup_leaf_pids_current(leaf, &v));
    ASSERT_EQ(v, 3);
    put(&f, LEAF "memory.events", "low 0\noom 0\n");
    ASSERT_EQ(sbx__cgroup_leaf_oom_kills(leaf, &v), -ENODATA);

    ASSERT_OK(sbx__cgroup_leaf_kill(leaf));
    ASSERT_STREQ(get_rel(&f, LEAF "cgroup.kill"), "1");
    ASSERT_OK(sbx__cgroup_leaf_destroy(leaf));
    ASSERT_FALSE(exists(f.dir, LEAF));
    ASSERT_TRUE(exists(f.dir, V2_INST "/boxes/slot-5"));
#undef LEAF
    root = sbx__cgroup_root_free(root);
    ASSERT_FALSE(exists(f.dir, V2_INST));
    fake_done(&f);
}

/* One directory holds memory on v2: the whole leaf is spent after a stage, never reused. */
TEST(v2_recycle_spends_the_whole_leaf)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *leaf = NULL, *spent = NULL, *was;
    struct sbx_cgroup_limits limits = {.pids = 8};

    fake_v2(&f, "cpu memory pids\n");
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 5, 1, &limits, &leaf, NULL));
    was = leaf;
    sbx__cgroup_leaf_recycle(&leaf, &spent);
    ASSERT_TRUE(leaf == NULL);
    ASSERT_TRUE(spent == was);
    ASSERT_OK(sbx__cgroup_leaf_destroy(spent));
    ASSERT_FALSE(exists(f.dir, V2_INST "/boxes/slot-5/stage-1"));
    root = sbx__cgroup_root_free(root);
    fake_done(&f);
}

TEST(v2_old_kernel_fallbacks)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *leaf = NULL;
    struct sbx_cgroup_limits limits = {.pids = 4};
    uint64_t v;

    fake_v2(&f, "memory pids\n");
    f.peak = f.kill = f.swap = false; /* before 5.19 / 5.14, no swap accounting */
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 0, 1, &limits, &leaf, NULL));
#define LEAF V2_INST "/boxes/slot-0/stage-1/"
    ASSERT_STREQ(get_rel(&f, LEAF "memory.max"), "");
    ASSERT_FALSE(exists(f.dir, LEAF "memory.swap.max"));
    ASSERT_STREQ(get_rel(&f, V2_INST "/boxes/slot-0/cgroup.subtree_control"), "+memory +pids");
    /* The peak is the highest memory.current sampled. */
    put(&f, LEAF "memory.current", "100\n");
    ASSERT_OK(sbx__cgroup_leaf_memory_peak(leaf, &v));
    ASSERT_EQ(v, 100);
    put(&f, LEAF "memory.current", "50\n");
    ASSERT_OK(sbx__cgroup_leaf_memory_peak(leaf, &v));
    ASSERT_EQ(v, 100);
    put(&f, LEAF "memory.current", "300\n");
    ASSERT_OK(sbx__cgroup_leaf_memory_peak(leaf, &v));
    ASSERT_EQ(v, 300);
    ASSERT_OK(sbx__cgroup_leaf_kill(leaf)); /* rounds over cgroup.procs */
    ASSERT_OK(sbx__cgroup_leaf_destroy(leaf));
    ASSERT_FALSE(exists(f.dir, LEAF));
#undef LEAF
    root = sbx__cgroup_root_free(root);
    fake_done(&f);
}

TEST(v2_preferred_over_v1)
{
    struct fake f;
    struct sbx_cgroup_root *root = NULL;

    fake_v2(&f, "memory pids\n");
    /* A v1 memory hierarchy too: v2 still wins where it holds the controllers. */
    fake_files(&f,
               "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
               "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
               "4:memory:/\n0::/system.slice/capsuled.service\n");
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_EQ(sbx__cgroup_root_version(root), 2);
    root = sbx__cgroup_root_free(root);
    fake_done(&f);
}

/* A box built ahead makes its leaf without limits; the job's limits arrive later, once. */
TEST(limits_set_after_create)
{
    static const struct sbx_cgroup_limits limits = {.memory = 64 * MIB, .pids = 8};
    struct sbx_cgroup_root *root = NULL;
    struct sbx_cgroup_leaf *leaf = NULL;
    struct fake f;

    fake_v2(&f, "memory pids\n");
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 3, 1, NULL, &leaf, NULL));
#define LEAF V2_INST "/boxes/slot-3/stage-1/"
    ASSERT_STREQ(get_rel(&f, LEAF "memory.max"), "");
    ASSERT_STREQ(get_rel(&f, LEAF "pids.max"), "");
    ASSERT_OK(sbx__cgroup_leaf_set_limits(leaf, &limits, NULL));
    ASSERT_STREQ(get_rel(&f, LEAF "memory.max"), "67108864");
    ASSERT_STREQ(get_rel(&f, LEAF "memory.swap.max"), "0");
    ASSERT_STREQ(get_rel(&f, LEAF "pids.max"), "8");
    /* the limit-hit count the monitor reads when PID 1 died with its program */
    uint64_t hits = 9;
    put(&f, LEAF "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    ASSERT_OK(sbx__cgroup_leaf_memory_limit_hits(leaf, &hits));
    ASSERT_EQ(hits, 3);
    ASSERT_OK(sbx__cgroup_leaf_destroy(leaf));
#undef LEAF
    root = sbx__cgroup_root_free(root);
    fake_done(&f);

    fake_v1(&f);
    ASSERT_OK(open_root(&f, &root, NULL));
    ASSERT_OK(sbx__cgroup_leaf_create(root, 3, 1, NULL, &leaf, NULL));
#define LEAF "/boxes/slot-3/stage-1/"
    ASSERT_STREQ(get_rel(&f, V1_MEM LEAF "memory.limit_in_bytes"), "");
    ASSERT_OK(sbx__cgroup_leaf_set_limits(leaf, &limits, NULL));
    ASSERT_STREQ(get_rel(&f, V1_MEM LEAF "memory.limit_in_bytes"), "67108864");
    ASSERT_STREQ(get_rel(&f, V1_MEM LEAF "memory.memsw.limit_in_bytes"), "67108864");
    ASSERT_STREQ(get_rel(&f, V1_PIDS LEAF "pids.max"), "8");
    put(&f, V1_MEM LEAF "memory.memsw.failcnt", "2\n");
    put(&f, V1_MEM LEAF "memory.failcnt", "1\n");
    ASSERT_OK(sbx__cgroup_leaf_memory_limit_hits(leaf, &hits));
    ASSERT_EQ(hits, 3);
    ASSERT_OK(sbx__cgroup_leaf_destroy(leaf));
#undef LEAF
    root = sbx__cgroup_root_free(root);
    fake_done(&f);
}
