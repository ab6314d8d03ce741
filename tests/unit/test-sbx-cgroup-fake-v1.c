/* The cgroup backend on fake v1 (and hybrid) trees: detection, missing and optional
 * controllers, leftovers, leaves with their limits, counters and kill, and a leaf recycled
 * between stages. */
#include "cgroup-fake.h"

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
