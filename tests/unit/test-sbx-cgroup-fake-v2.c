/* The cgroup backend on fake v2 trees: delegation and relocation, leftovers, leaves, the
 * pre-5.19 and pre-5.14 fallbacks, v2 preferred over v1, and limits set after a leaf is made
 * (on both versions). */
#include "cgroup-fake.h"

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
