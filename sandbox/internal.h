/* Shared inside the sandbox layer only (sbx__ prefix). */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox.h"

/* ---- cgroup backend (cgroup.c, cgroup-v1.c, cgroup-v2.c) ---------------------------------- */

struct sbx_cgroup_root;
struct sbx_cgroup_leaf;

struct sbx_cgroup_paths {
    const char *mountinfo;  /* "/proc/self/mountinfo" or a fake for tests */
    const char *proc_cgroup; /* "/proc/self/cgroup" or a fake */
    const char *path_prefix; /* "" normally; a fake tree's directory prepended to mount points */
};

struct sbx_cgroup_limits {
    uint64_t memory; /* bytes, 0 = unlimited; swap is always limited to 0 where possible */
    uint64_t pids;   /* 0 = unlimited */
};

/** Detects v2 (unified mount with memory+pids) or v1 (memory, pids, cpuacct hierarchies;
 *  freezer optional), finds this process's cgroup in each, creates `<own>/<instance>/` with
 *  `boxes/` below it (v2: also `daemon/`, into which the calling process moves, and enables
 *  memory/pids/cpu in subtree_control). Leftover children of `boxes/` are killed and removed.
 *  -ENOENT with reterr->path naming a missing controller. */
int sbx__cgroup_root_open(const struct sbx_cgroup_paths *paths, const char *instance,
                          struct sbx_cgroup_root **ret, struct sbx_error *reterr);
/** Kills and removes everything under the instance root and the root itself. NULL-safe. */
struct sbx_cgroup_root *sbx__cgroup_root_free(struct sbx_cgroup_root *root);
int sbx__cgroup_root_version(const struct sbx_cgroup_root *root);

/** Creates a fresh leaf `boxes/slot-<slot>/stage-<seq>` in every hierarchy with limits applied,
 *  its control files opened (no path walk later). */
int sbx__cgroup_leaf_create(struct sbx_cgroup_root *root, unsigned slot, uint64_t seq,
                            const struct sbx_cgroup_limits *limits, struct sbx_cgroup_leaf **ret,
                            struct sbx_error *reterr);
/** fds of the leaf's cgroup.procs files (one per hierarchy), opened O_WRONLY|O_CLOEXEC: a child
 *  still running as root writes "0" to each to enter the leaf. Returns the count. */
size_t sbx__cgroup_leaf_procs_fds(const struct sbx_cgroup_leaf *leaf, const int **ret);
int sbx__cgroup_leaf_cpu_usec(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
int sbx__cgroup_leaf_memory_peak(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
int sbx__cgroup_leaf_oom_kills(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
int sbx__cgroup_leaf_pids_current(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
/** SIGKILLs every process in the leaf (v2 cgroup.kill; v1 freeze + kill loop + thaw). */
int sbx__cgroup_leaf_kill(struct sbx_cgroup_leaf *leaf);
/** Kills, waits (bounded, ~1 s) until empty, removes the directories, frees. -EBUSY if a
 *  process would not leave (leaf freed anyway; directory left for startup cleanup). */
int sbx__cgroup_leaf_destroy(struct sbx_cgroup_leaf *leaf);

/* ---- seccomp (seccomp.c) ------------------------------------------------------------------ */

struct sbx_bpf {
    struct sock_filter *insns;
    unsigned short len;
};
/** Builds the denylist with libseccomp and exports it once as raw BPF for the child to load
 *  with prctl(PR_SET_SECCOMP) after PR_SET_NO_NEW_PRIVS (no libseccomp after clone). */
int sbx__seccomp_build(struct sbx_bpf *ret);
void sbx__seccomp_done(struct sbx_bpf *bpf);
