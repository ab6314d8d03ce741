/* cgroup v2 backend: one unified hierarchy. v2 forbids processes in a non-root cgroup whose
 * cgroup.subtree_control enables controllers ("no internal processes"), so the daemon moves
 * itself into <instance>/daemon before memory, pids and cpu are enabled on the way down:
 * <own> -> <instance> -> boxes -> slot-<n>; the stage leaves enable nothing and hold the job. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "macro.h"

#define V2_MEMORY 1u
#define V2_PIDS 2u
#define V2_CPU 4u

/* ---- detection ---------------------------------------------------------------------------- */

/* True when cgroup.procs in dir lists a process other than this one. Unreadable: false (a
 * fake tree may have no such file; the writes that follow report real trouble). */
static bool v2_shared_with_others(const char *dir)
{
    _cleanup_free_ char *path = NULL, *text = NULL;
    long self = (long)getpid();

    if (asprintf(&path, "%s/cgroup.procs", dir) < 0 ||
        read_file_at(AT_FDCWD, path, 1u << 20, &text, NULL) < 0)
        return false;
    for (char *p = text, *end; *p; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0 && pid != self)
            return true;
        end += strspn(end, "\n");
    }
    return false;
}

/* Kills and removes dir/<instance> if a crashed daemon of this instance left it there. */
static int v2_remove_leftover(struct sbx_cgroup_root *root, const char *dir)
{
    _cleanup_close_ int fd = -1;
    int r;

    r = sbx__cg_open(AT_FDCWD, dir, O_PATH | O_DIRECTORY, &fd);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    return sbx__cg_tree_remove(root, fd, root->instance);
}

/* v2 forbids enabling controllers in a non-root cgroup that holds processes ("no internal
 * processes"). A daemon started from a login shell, by cloud-init or by a unit without
 * Delegate= shares its cgroup with others: it can neither build its tree below that cgroup
 * nor move the others out. It builds under <hierarchy root>/capsule instead (its own subtree,
 * as container engines' cgroupfs drivers do) and goes back where it started on exit. Alone
 * in its cgroup (the shipped unit, Delegate=yes; a container's init) nothing moves. */
static int v2_relocate_if_shared(struct sbx_cgroup_root *root, const char *prefix,
                                 const struct sbx_cg_mount *m, const char **ret_missing)
{
    struct sbx_cg_hier *hier = &root->hier[0];
    _cleanup_free_ char *top = NULL, *shared = NULL, *ctl_path = NULL, *ctl = NULL;
    size_t len = 0;
    int r;

    if (asprintf(&top, "%s%s", prefix, m->point) < 0)
        return -ENOMEM;
    if (strcmp(top, hier->own) == 0)
        return 0;
    if (asprintf(&shared, "%s/capsule", top) < 0 ||
        asprintf(&ctl_path, "%s/cgroup.controllers", shared) < 0)
        return -ENOMEM;
    if (!v2_shared_with_others(hier->own)) {
        /* Not relocated this time: a crashed start of this instance that was may have left
         * its tree (and processes) under capsule/. */
        return v2_remove_leftover(root, shared);
    }
    r = sbx__cg_mkdir(root, AT_FDCWD, shared);
    bool made = r >= 0;
    if (r < 0 && r != -EEXIST)
        return r;
    r = read_file_at(AT_FDCWD, ctl_path, 4096, &ctl, &len);
    if (r >= 0) {
        bool memory = sbx__cg_list_has(ctl, len, "memory", " \n");
        if (!memory || !sbx__cg_list_has(ctl, len, "pids", " \n")) {
            *ret_missing = memory ? "pids" : "memory";
            r = -ENOENT;
        }
    }
    /* The other way round: a crashed start that was not relocated left <own>/<instance>. */
    if (r >= 0)
        r = v2_remove_leftover(root, hier->own);
    if (r < 0) {
        if (made)
            (void)sbx__cg_rmdir(root, AT_FDCWD, shared, now_usec());
        return r;
    }
    root->v2_cpu = root->v2_cpu && sbx__cg_list_has(ctl, len, "cpu", " \n");
    root->v2_made_shared = made;
    root->v2_home = hier->own;
    hier->own = TAKE_PTR(shared);
    return 0;
}

/* A cgroup2 mount where this process's cgroup offers memory and pids. On a hybrid host the
 * unified mount exists but holds no controllers (they are bound to v1 hierarchies). */
int sbx__cg_detect_v2(struct sbx_cgroup_root *root, const char *prefix,
                      const struct sbx_cg_mount *mnts, size_t n, const char *proc,
                      const char **ret_missing)
{
    _cleanup_free_ char *own = NULL;
    int r;

    r = sbx__cg_proc_cgroup_find(proc, "", &own);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *dir = NULL, *ctl = NULL, *ctl_path = NULL;
        size_t len = 0;

        if (strcmp(mnts[i].fstype, "cgroup2") != 0 ||
            sbx__cg_hier_own_path(prefix, &mnts[i], own, &dir) < 0)
            continue;
        if (asprintf(&ctl_path, "%s/cgroup.controllers", dir) < 0)
            return -ENOMEM;
        if (read_file_at(AT_FDCWD, ctl_path, 4096, &ctl, &len) < 0)
            continue;
        bool memory = sbx__cg_list_has(ctl, len, "memory", " \n");
        bool pids = sbx__cg_list_has(ctl, len, "pids", " \n");
        if (!memory || !pids) {
            *ret_missing = memory ? "pids" : "memory";
            continue;
        }
        root->v2_cpu = sbx__cg_list_has(ctl, len, "cpu", " \n");
        root->hier[0] = (struct sbx_cg_hier){.own = TAKE_PTR(dir), .boxes_fd = -1};
        root->n_hier = 1;
        root->version = 2;
        root->ops = &sbx__cg_v2_ops;
        return v2_relocate_if_shared(root, prefix, &mnts[i], ret_missing);
    }
    return -ENOENT;
}

/* ---- root --------------------------------------------------------------------------------- */

/* "+memory +pids +cpu" (or with '-') for the bits in mask, written to dir/cgroup.subtree_control
 * in one go: the kernel applies all tokens or none. */
static int v2_subtree(int dirfd, const char *dir, char sign, unsigned mask)
{
    char buf[64] = "", path[SBX_CG_REL_MAX + 32];
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{V2_MEMORY, "memory"}, {V2_PIDS, "pids"}, {V2_CPU, "cpu"}};
    size_t n = 0;

    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (mask & names[i].bit)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%c%s", n ? " " : "", sign,
                                  names[i].name);
    if (n == 0)
        return 0;
    snprintf(path, sizeof(path), "%s%scgroup.subtree_control", dir, dir[0] ? "/" : "");
    return write_string_at(dirfd, path, buf);
}

static unsigned v2_mask(const struct sbx_cgroup_root *root)
{
    return V2_MEMORY | V2_PIDS | (root->v2_cpu ? V2_CPU : 0);
}

/* Enables in our own cgroup what it does not delegate yet (a systemd unit with Delegate=yes
 * starts with none): the one write outside <instance>, undone by teardown. cpu is optional
 * (it refuses while realtime tasks sit in non-root cgroups): without it, weights are lost but
 * cpu.stat still counts. */
static int v2_enable_own(struct sbx_cgroup_root *root, int own_fd, struct sbx_error *reterr)
{
    _cleanup_free_ char *cur = NULL;
    size_t len = 0;
    unsigned missing = 0;
    int r;

    r = read_file_at(own_fd, "cgroup.subtree_control", 4096, &cur, &len);
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-delegate", r, root->hier[0].own);
    if (!sbx__cg_list_has(cur, len, "memory", " \n"))
        missing |= V2_MEMORY;
    if (!sbx__cg_list_has(cur, len, "pids", " \n"))
        missing |= V2_PIDS;
    if (root->v2_cpu && !sbx__cg_list_has(cur, len, "cpu", " \n"))
        missing |= V2_CPU;
    r = v2_subtree(own_fd, "", '+', missing);
    if (r < 0 && (missing & V2_CPU)) {
        root->v2_cpu = false;
        missing &= ~V2_CPU;
        r = v2_subtree(own_fd, "", '+', missing);
    }
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-delegate", r, root->hier[0].own);
    root->v2_enabled_own = missing;
    return 0;
}

static int v2_root_setup(struct sbx_cgroup_root *root, struct sbx_error *reterr)
{
    struct sbx_cg_hier *hier = &root->hier[0];
    _cleanup_close_ int own_fd = -1, fd = -1;
    int r;

    /* One directory holds memory too, whose peak only 6.12 can reset: a leaf per stage. */
    root->stage_hiers = 1u;
    r = sbx__cg_open(AT_FDCWD, hier->own, O_PATH | O_DIRECTORY, &own_fd);
    if (r >= 0)
        r = sbx__cg_open(AT_FDCWD, hier->dir, O_PATH | O_DIRECTORY, &fd);
    if (r >= 0)
        r = sbx__cg_mkdir(root, fd, "daemon");
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-create", r, hier->dir);
    /* "0" moves the whole calling process (every thread) out of <own>. */
    r = write_string_at(fd, "daemon/cgroup.procs", "0");
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-delegate", r, hier->dir);
    root->v2_moved = true;
    r = v2_enable_own(root, own_fd, reterr);
    if (r < 0)
        return r;
    r = v2_subtree(fd, "", '+', v2_mask(root));
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-delegate", r, hier->dir);
    /* HTTP and supervision stay responsive while every box spins (boxes/ keeps 100). */
    if (root->v2_cpu)
        (void)write_string_at(fd, "daemon/cpu.weight", "1000");
    r = sbx__cg_mkdir(root, fd, "boxes");
    if (r >= 0)
        r = v2_subtree(fd, "boxes", '+', v2_mask(root));
    if (r >= 0)
        r = sbx__cg_open(fd, "boxes", O_PATH | O_DIRECTORY, &hier->boxes_fd);
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-create", r, hier->dir);
    return 0;
}

/* Removes boxes/ and moves the daemon back to <own>; false when it cannot leave daemon/
 * (<own> still delegates controllers we did not enable), which keeps the instance directory. */
static bool v2_root_teardown(struct sbx_cgroup_root *root)
{
    struct sbx_cg_hier *hier = &root->hier[0];
    _cleanup_close_ int own_fd = -1, fd = -1;

    _cleanup_free_ char *home_procs = NULL;

    if (!hier->made)
        return true;
    if (root->v2_home && asprintf(&home_procs, "%s/cgroup.procs", root->v2_home) < 0) {
        home_procs = NULL;
        return false;
    }
    if (sbx__cg_open(AT_FDCWD, hier->own, O_PATH | O_DIRECTORY, &own_fd) < 0 ||
        sbx__cg_open(AT_FDCWD, hier->dir, O_PATH | O_DIRECTORY, &fd) < 0)
        return false;
    hier->boxes_fd = safe_close(hier->boxes_fd);
    if (sbx__cg_tree_remove(root, fd, "boxes") < 0)
        return false;
    if (!root->v2_moved)
        return true;
    /* Disabling in a parent fails while a child still enables the controller: inner first. */
    (void)v2_subtree(fd, "", '-', v2_mask(root));
    (void)v2_subtree(own_fd, "", '-', root->v2_enabled_own);
    if (root->v2_home ? write_string_at(AT_FDCWD, home_procs, "0") < 0
                      : write_string_at(own_fd, "cgroup.procs", "0") < 0)
        return false;
    root->v2_moved = false;
    return true;
}

/* After the instance directory is gone: <hierarchy root>/capsule, if this root made it and no
 * other instance still builds under it. */
static void v2_root_release(struct sbx_cgroup_root *root)
{
    if (root->v2_made_shared)
        (void)sbx__cg_rmdir(root, AT_FDCWD, root->hier[0].own, now_usec());
    free(root->v2_home);
    root->v2_home = NULL;
}

static int v2_slot_setup(struct sbx_cgroup_root *root, size_t h, const char *slot_rel)
{
    return v2_subtree(root->hier[h].boxes_fd, slot_rel, '+', v2_mask(root));
}

/* ---- leaf --------------------------------------------------------------------------------- */

static int v2_leaf_limits(struct sbx_cgroup_leaf *leaf, const struct sbx_cgroup_limits *limits,
                          struct sbx_error *reterr)
{
    int r;

    /* Unlimited writes nothing: a fresh cgroup starts at "max". */
    if (limits->memory) {
        r = sbx__cg_leaf_write_u64(leaf, 0, "memory.max", limits->memory);
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, 0, reterr, "cgroup-limit", r, "memory.max");
    }
    /* No swap whatever the memory limit, so the peak is all resident. The file is absent
     * without swap accounting (CONFIG_MEMCG_SWAP off, or swapaccount=0). */
    r = sbx__cg_leaf_write_u64(leaf, 0, "memory.swap.max", 0);
    if (r < 0 && r != -ENOENT)
        return sbx__cg_leaf_fail(leaf, 0, reterr, "cgroup-limit", r, "memory.swap.max");
    if (limits->pids) {
        r = sbx__cg_leaf_write_u64(leaf, 0, "pids.max", limits->pids);
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, 0, reterr, "cgroup-limit", r, "pids.max");
    }
    return 0;
}

/* The counters read on the hot path, opened once per leaf. cpu.stat's usage_usec is kept by
 * the core, with or without the cpu controller. */
static const struct {
    const char *name;
    size_t fd_offset;
} v2_files[] = {
    {"cpu.stat", offsetof(struct sbx_cgroup_leaf, cpu_fd)},
    {"memory.events", offsetof(struct sbx_cgroup_leaf, oom_fd)},
    {"pids.current", offsetof(struct sbx_cgroup_leaf, pids_fd)},
};

static int v2_leaf_setup(struct sbx_cgroup_leaf *leaf, const struct sbx_cgroup_limits *limits,
                         struct sbx_error *reterr)
{
    int r;

    r = limits ? v2_leaf_limits(leaf, limits, reterr) : 0;
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(v2_files); i++) {
        r = sbx__cg_leaf_open(leaf, 0, v2_files[i].name, O_RDONLY,
                              (int *)(void *)((char *)leaf + v2_files[i].fd_offset));
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, 0, reterr, "cgroup-open", r, v2_files[i].name);
    }
    /* memory.peak arrived in 5.19. Before it, the peak is the highest memory.current sampled
     * (each memory_peak call samples; the monitor's CPU poll should call it too): a spike
     * shorter than the poll interval is missed, and the README says so. */
    r = sbx__cg_leaf_open(leaf, 0, "memory.peak", O_RDONLY, &leaf->peak_fd);
    if (r == -ENOENT) {
        leaf->peak_sampled = true;
        r = sbx__cg_leaf_open(leaf, 0, "memory.current", O_RDONLY, &leaf->peak_fd);
    }
    if (r < 0)
        return sbx__cg_leaf_fail(leaf, 0, reterr, "cgroup-open", r, "memory.peak");
    /* cgroup.kill arrived in 5.14; before it, kill falls back to rounds over cgroup.procs. */
    r = sbx__cg_leaf_open(leaf, 0, "cgroup.kill", O_WRONLY, &leaf->kill_fd);
    if (r < 0 && r != -ENOENT)
        return sbx__cg_leaf_fail(leaf, 0, reterr, "cgroup-open", r, "cgroup.kill");
    return 0;
}

static int v2_cpu_usec(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return sbx__cg_read_key(leaf->cpu_fd, "usage_usec", ret);
}

static int v2_memory_peak(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    uint64_t v;
    int r;

    r = sbx__cg_read_u64(leaf->peak_fd, &v);
    if (r < 0)
        return r;
    if (leaf->peak_sampled) {
        leaf->peak_seen = MAX(leaf->peak_seen, v);
        v = leaf->peak_seen;
    }
    *ret = v;
    return 0;
}

static int v2_oom_kills(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return sbx__cg_read_key(leaf->oom_fd, "oom_kill", ret);
}

/* memory.events "max": charges that hit memory.max. */
static int v2_memory_limit_hits(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return sbx__cg_read_key(leaf->oom_fd, "max", ret);
}

/* cgroup.kill SIGKILLs every task of the cgroup in the kernel, new forks included. */
static int v2_kill(struct sbx_cgroup_leaf *leaf)
{
    if (leaf->kill_fd >= 0)
        return pwrite_string(leaf->kill_fd, "1");
    return sbx__cg_leaf_kill_rounds(leaf, 8);
}

const struct sbx_cg_ops sbx__cg_v2_ops = {
    .root_setup = v2_root_setup,
    .root_teardown = v2_root_teardown,
    .root_release = v2_root_release,
    .slot_setup = v2_slot_setup,
    .leaf_setup = v2_leaf_setup,
    .leaf_limits = v2_leaf_limits,
    .cpu_usec = v2_cpu_usec,
    .memory_peak = v2_memory_peak,
    .oom_kills = v2_oom_kills,
    .memory_limit_hits = v2_memory_limit_hits,
    .kill = v2_kill,
};
