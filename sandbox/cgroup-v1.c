/* cgroup v1 backend: one hierarchy per controller (or per co-mounted group such as
 * "cpu,cpuacct"), each with its own path for this process; memory, pids and cpuacct required,
 * freezer optional. The leaf exists in every hierarchy and the program writes "0" to each
 * cgroup.procs (clone3's CLONE_INTO_CGROUP takes only a cgroup2 fd: EBADF on v1). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "macro.h"

/* How long kill waits for freezer.state to read FROZEN before killing anyway: a task in an
 * uninterruptible sleep freezes late, and the kill must stay within the 50 ms budget. */
#define FREEZE_WAIT_USEC (10 * USEC_PER_MSEC)

/* ---- detection ---------------------------------------------------------------------------- */

/* Adds controller c (found at mount mi) to the hierarchy list, merging co-mounted controllers
 * into one hierarchy. */
static int v1_add(struct sbx_cgroup_root *root, size_t *from_mnt, size_t mi, const char *prefix,
                  const struct sbx_cg_mount *m, const char *proc, enum sbx_cg_controller c)
{
    _cleanup_free_ char *own = NULL, *dir = NULL;
    int r;

    for (size_t h = 0; h < root->n_hier; h++)
        if (from_mnt[h] == mi) {
            root->hier[h].mask |= 1u << c;
            root->index[c] = (int)h;
            return 0;
        }
    r = sbx__cg_proc_cgroup_find(proc, sbx__cg_controller_names[c], &own);
    if (r < 0)
        return r;
    r = sbx__cg_hier_own_path(prefix, m, own, &dir);
    if (r < 0)
        return r;
    from_mnt[root->n_hier] = mi;
    root->index[c] = (int)root->n_hier;
    root->hier[root->n_hier++] =
        (struct sbx_cg_hier){.own = TAKE_PTR(dir), .boxes_fd = -1, .mask = 1u << c};
    return 0;
}

/* The first "cgroup" mount whose super options name each controller (bind mounts of the same
 * hierarchy come later in mountinfo). */
int sbx__cg_detect_v1(struct sbx_cgroup_root *root, const char *prefix,
                      const struct sbx_cg_mount *mnts, size_t n, const char *proc,
                      const char **ret_missing)
{
    size_t from_mnt[SBX_CG_HIER_MAX];
    int r;

    for (enum sbx_cg_controller c = 0; c < SBX_CG_CONTROLLER_MAX; c++) {
        const char *name = sbx__cg_controller_names[c];
        size_t mi = 0;

        while (mi < n && (strcmp(mnts[mi].fstype, "cgroup") != 0 ||
                          !sbx__cg_list_has(mnts[mi].super, strlen(mnts[mi].super), name, ",")))
            mi++;
        r = mi < n ? v1_add(root, from_mnt, mi, prefix, &mnts[mi], proc, c) : -ENOENT;
        if (r == -ENOENT && c == SBX_CG_FREEZER)
            continue; /* optional: the kill path falls back to a loop over cgroup.procs */
        if (r < 0) {
            *ret_missing = name;
            return r;
        }
    }
    root->version = 1;
    root->ops = &sbx__cg_v1_ops;
    return 0;
}

/* ---- root --------------------------------------------------------------------------------- */

static int v1_memory_root_setup(int dirfd, const char *dir, struct sbx_error *reterr)
{
    int r;

    /* Without use_hierarchy a child's pages are not charged to its parent. Since 5.11 it is
     * always on; before, writing 1 fails with EINVAL when the parent is hierarchical already
     * (so this one is too) and EBUSY once children exist: neither is a reason to stop. */
    r = write_string_at(dirfd, "memory.use_hierarchy", "1");
    if (r < 0 && r != -EINVAL && r != -EBUSY)
        return sbx__cg_fail(reterr, "cgroup-create", r, dir);
    /* A new memory cgroup copies oom_kill_disable from its parent: with it set, a job over its
     * limit would hang in the charge path instead of being OOM-killed. */
    r = write_string_at(dirfd, "memory.oom_control", "0");
    if (r < 0 && r != -EINVAL)
        return sbx__cg_fail(reterr, "cgroup-create", r, dir);
    return 0;
}

static int v1_root_setup(struct sbx_cgroup_root *root, struct sbx_error *reterr)
{
    int r;

    for (size_t h = 0; h < root->n_hier; h++) {
        struct sbx_cg_hier *hier = &root->hier[h];
        _cleanup_close_ int fd = -1;

        r = sbx__cg_open(AT_FDCWD, hier->dir, O_PATH | O_DIRECTORY, &fd);
        if (r < 0)
            return sbx__cg_fail(reterr, "cgroup-create", r, hier->dir);
        if (hier->mask & (1u << SBX_CG_MEMORY)) {
            r = v1_memory_root_setup(fd, hier->dir, reterr);
            if (r < 0)
                return r;
            /* Memory gets a directory per stage: max_usage_in_bytes resets only to the usage
             * of the moment, which still holds what the last stage left charged. */
            root->stage_hiers |= 1u << h;
        }
        r = sbx__cg_mkdir(root, fd, "boxes");
        if (r >= 0)
            r = sbx__cg_open(fd, "boxes", O_PATH | O_DIRECTORY, &hier->boxes_fd);
        if (r < 0)
            return sbx__cg_fail(reterr, "cgroup-create", r, hier->dir);
    }
    return 0;
}

/* ---- leaf --------------------------------------------------------------------------------- */

static int v1_leaf_limits(struct sbx_cgroup_leaf *leaf, const struct sbx_cgroup_limits *limits,
                          struct sbx_error *reterr)
{
    size_t mem = (size_t)leaf->root->index[SBX_CG_MEMORY];
    size_t pids = (size_t)leaf->root->index[SBX_CG_PIDS];
    int r;

    /* Unlimited writes nothing: a fresh cgroup starts unlimited. */
    if (limits->memory) {
        r = sbx__cg_leaf_write_u64(leaf, mem, "memory.limit_in_bytes", limits->memory);
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, mem, reterr, "cgroup-limit", r, "memory.limit_in_bytes");
        /* memsw (memory + swap) may never be below the memory limit, so it comes second; the
         * same value leaves no room for swap. Absent without swap accounting. */
        r = sbx__cg_leaf_write_u64(leaf, mem, "memory.memsw.limit_in_bytes", limits->memory);
        if (r < 0 && r != -ENOENT)
            return sbx__cg_leaf_fail(leaf, mem, reterr, "cgroup-limit", r,
                                     "memory.memsw.limit_in_bytes");
    }
    /* Written when it changes: a fresh directory starts at "max", a kept one has the limit
     * of the stage before ("max" lifts it). Only the daemon can write there. */
    if (limits->pids != leaf->pids_limit) {
        r = limits->pids ? sbx__cg_leaf_write_u64(leaf, pids, "pids.max", limits->pids)
                         : sbx__cg_leaf_write(leaf, pids, "pids.max", "max");
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, pids, reterr, "cgroup-limit", r, "pids.max");
        leaf->pids_limit = limits->pids;
    }
    return 0;
}

struct v1_file {
    enum sbx_cg_controller controller;
    const char *name;
    int flags;
    size_t fd_offset;
};

/* The counters read on the hot path, opened once per directory. On an OOM kill with memsw
 * limited and swap off, memory.failcnt stays 0 (memsw is charged first): oom_control's
 * oom_kill is the reliable signal. max_usage_in_bytes needs no reset: the memory directory is
 * fresh per stage. cpuacct.usage of a kept directory is read against its value at the start. */
static const struct v1_file v1_files[] = {
    {SBX_CG_CPUACCT, "cpuacct.usage", O_RDONLY, offsetof(struct sbx_cgroup_leaf, cpu_fd)},
    {SBX_CG_MEMORY, "memory.max_usage_in_bytes", O_RDONLY,
     offsetof(struct sbx_cgroup_leaf, peak_fd)},
    {SBX_CG_MEMORY, "memory.oom_control", O_RDONLY, offsetof(struct sbx_cgroup_leaf, oom_fd)},
    {SBX_CG_PIDS, "pids.current", O_RDONLY, offsetof(struct sbx_cgroup_leaf, pids_fd)},
    {SBX_CG_FREEZER, "freezer.state", O_RDWR, offsetof(struct sbx_cgroup_leaf, kill_fd)},
};

static int v1_leaf_setup(struct sbx_cgroup_leaf *leaf, const struct sbx_cgroup_limits *limits,
                         struct sbx_error *reterr)
{
    int r;

    if (leaf->pids_fd < 0) /* its directory is new */
        leaf->pids_limit = 0;
    r = limits ? v1_leaf_limits(leaf, limits, reterr) : 0;
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(v1_files); i++) {
        const struct v1_file *f = &v1_files[i];
        int h = leaf->root->index[f->controller];

        int *fd = (int *)(void *)((char *)leaf + f->fd_offset);

        if (h < 0)
            continue; /* only the optional freezer can be absent */
        if (*fd >= 0)
            continue; /* its directory serves another stage */
        r = sbx__cg_leaf_open(leaf, (size_t)h, f->name, f->flags, fd);
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, (size_t)h, reterr, "cgroup-open", r, f->name);
    }
    /* Nothing runs in the leaf between stages: the counter stands still until the job joins. */
    leaf->cpu_base = 0;
    if (leaf->kept[leaf->root->index[SBX_CG_CPUACCT]]) {
        r = sbx__cg_read_u64(leaf->cpu_fd, &leaf->cpu_base);
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, (size_t)leaf->root->index[SBX_CG_CPUACCT], reterr,
                                     "cgroup-open", r, "cpuacct.usage");
    }
    return 0;
}

static void v1_leaf_drop_hier(struct sbx_cgroup_leaf *leaf, size_t h)
{
    for (size_t i = 0; i < ARRAY_SIZE(v1_files); i++)
        if (leaf->root->index[v1_files[i].controller] == (int)h) {
            int *fd = (int *)(void *)((char *)leaf + v1_files[i].fd_offset);
            *fd = safe_close(*fd);
        }
}

static int v1_cpu_usec(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    uint64_t ns;
    int r;

    r = sbx__cg_read_u64(leaf->cpu_fd, &ns); /* cpuacct.usage counts nanoseconds */
    if (r < 0)
        return r;
    *ret = (ns > leaf->cpu_base ? ns - leaf->cpu_base : 0) / NSEC_PER_USEC;
    return 0;
}

static int v1_memory_peak(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return sbx__cg_read_u64(leaf->peak_fd, ret);
}

static int v1_oom_kills(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return sbx__cg_read_key(leaf->oom_fd, "oom_kill", ret);
}

/* memsw is charged first when it is limited (swap off: it always is here), so its failcnt is
 * the one that moves; memory.failcnt where there is no memsw. Read on a rare path only. */
static int v1_memory_limit_hits(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    size_t mem = (size_t)leaf->root->index[SBX_CG_MEMORY];
    uint64_t memsw = 0, plain = 0;
    int fd, r;

    r = sbx__cg_leaf_open(leaf, mem, "memory.memsw.failcnt", O_RDONLY, &fd);
    if (r >= 0) {
        r = sbx__cg_read_u64(fd, &memsw);
        safe_close(fd);
    }
    if (r < 0 && r != -ENOENT)
        return r;
    r = sbx__cg_leaf_open(leaf, mem, "memory.failcnt", O_RDONLY, &fd);
    if (r < 0)
        return r;
    r = sbx__cg_read_u64(fd, &plain);
    safe_close(fd);
    if (r < 0)
        return r;
    *ret = memsw + plain;
    return 0;
}

static void v1_wait_frozen(int fd)
{
    usec_t deadline = now_usec() + FREEZE_WAIT_USEC;
    struct timespec ts = {.tv_nsec = 200 * 1000};
    char buf[16];

    for (;;) {
        ssize_t k = pread(fd, buf, sizeof(buf) - 1, 0);
        if (k < 0 || (k >= 6 && memcmp(buf, "FROZEN", 6) == 0) || now_usec() >= deadline)
            return;
        (void)nanosleep(&ts, NULL);
    }
}

/* Freeze, kill what is listed, thaw: frozen tasks cannot fork between the listing and the
 * kill, and a SIGKILL queued to a frozen task takes effect on thaw (stopped tasks included).
 * Without a freezer, rounds of listing and killing. */
static int v1_kill(struct sbx_cgroup_leaf *leaf)
{
    int r;

    if (leaf->kill_fd < 0 || pwrite_string(leaf->kill_fd, "FROZEN") < 0)
        return sbx__cg_leaf_kill_rounds(leaf, 8);
    v1_wait_frozen(leaf->kill_fd);
    r = sbx__cg_leaf_kill_rounds(leaf, 1);
    int k = pwrite_string(leaf->kill_fd, "THAWED");
    return r < 0 ? r : k;
}

const struct sbx_cg_ops sbx__cg_v1_ops = {
    .root_setup = v1_root_setup,
    .leaf_setup = v1_leaf_setup,
    .leaf_limits = v1_leaf_limits,
    .cpu_usec = v1_cpu_usec,
    .memory_peak = v1_memory_peak,
    .oom_kills = v1_oom_kills,
    .memory_limit_hits = v1_memory_limit_hits,
    .kill = v1_kill,
    .leaf_drop_hier = v1_leaf_drop_hier,
};
