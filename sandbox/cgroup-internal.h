/* Private to cgroup.c, cgroup-v1.c and cgroup-v2.c: the shapes of a root and a leaf, the
 * per-version operations and the cgroupfs helpers both backends share. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "time-util.h"

/* v1 controllers this backend uses; v2 has one hierarchy holding them all. */
enum sbx_cg_controller {
    SBX_CG_MEMORY,
    SBX_CG_PIDS,
    SBX_CG_CPUACCT,
    SBX_CG_FREEZER,
    SBX_CG_CONTROLLER_MAX,
};

/* At most one hierarchy per controller. */
#define SBX_CG_HIER_MAX SBX_CG_CONTROLLER_MAX
/* "slot-4294967295/stage-18446744073709551615" plus NUL fits. */
#define SBX_CG_REL_MAX 48
/* Bounded waits: processes SIGKILLed in a pid namespace take a moment to leave their cgroup. */
#define SBX_CG_DRAIN_USEC (1 * USEC_PER_SEC)

struct sbx_cg_hier {
    char *own;     /* this process's cgroup in the hierarchy (path_prefix included) */
    char *dir;     /* own + "/" + instance */
    int boxes_fd;  /* O_PATH fd of dir/boxes: leaves are reached relative to it */
    unsigned mask; /* 1u << enum sbx_cg_controller held (v1) */
    bool made;     /* dir created by this root (only then is it removed) */
};

struct sbx_cg_ops;

struct sbx_cgroup_root {
    const struct sbx_cg_ops *ops;
    int version;
    char *instance;
    size_t n_hier;
    struct sbx_cg_hier hier[SBX_CG_HIER_MAX];
    int index[SBX_CG_CONTROLLER_MAX]; /* v1: hierarchy holding each controller, -1 if none */
    bool v2_cpu;                      /* v2: cpu enabled below the instance */
    bool v2_moved;                    /* v2: the calling process sits in <instance>/daemon */
    /* v2: where the daemon started when that cgroup held other processes (the tree then lives
     * under <hierarchy root>/capsule); NULL if not */
    char *v2_home;
    bool v2_made_shared; /* v2: <hierarchy root>/capsule was created by this root */
    /* Bits (1u << h) of the hierarchies whose leaf directory serves one stage only; the
     * others may serve every stage of a box (sbx__cgroup_leaf_recycle). */
    unsigned stage_hiers;
    unsigned v2_enabled_own; /* v2: bits of SBX_CG_V2_* we enabled in own's subtree */
    void (*fake_mkdir)(int dirfd, const char *path, void *userdata);
    void (*fake_rmdir)(int dirfd, const char *path, void *userdata);
    void *fake_userdata;
};

struct sbx_cgroup_leaf {
    struct sbx_cgroup_root *root;
    unsigned slot;
    /* "slot-<n>/stage-<seq>" relative to each boxes_fd; a directory kept across stages keeps
     * the name of the stage it was made for */
    char rel[SBX_CG_HIER_MAX][SBX_CG_REL_MAX];
    bool made[SBX_CG_HIER_MAX];
    bool kept[SBX_CG_HIER_MAX];    /* served an earlier stage: limits are rewritten, not assumed */
    size_t n_procs;                /* hierarchies with procs_fd open */
    int procs_fd[SBX_CG_HIER_MAX]; /* cgroup.procs (v1: tasks) per hierarchy, O_WRONLY */
    int cpu_fd;                    /* v2 cpu.stat, v1 cpuacct.usage */
    int peak_fd;                   /* v2 memory.peak (or memory.current), v1 max_usage_in_bytes */
    int oom_fd;                    /* v2 memory.events, v1 memory.oom_control */
    int pids_fd;                   /* pids.current */
    int kill_fd;                   /* v2 cgroup.kill, v1 freezer.state; -1 when absent */
    bool peak_sampled;             /* v2 before 5.19: peak_fd reads memory.current */
    uint64_t peak_seen;
    uint64_t cpu_base;   /* v1: cpuacct.usage (ns) when a kept directory's next stage began */
    uint64_t pids_limit; /* v1: what pids.max holds, 0 for "max" */
};

struct sbx_cg_ops {
    /* After the instance directories exist: creates boxes/ (and v2 daemon/), opens boxes_fd. */
    int (*root_setup)(struct sbx_cgroup_root *root, struct sbx_error *reterr);
    /* Before the instance directories are removed; false leaves them in place. */
    bool (*root_teardown)(struct sbx_cgroup_root *root);
    /* After the instance directories are removed (may be NULL). */
    void (*root_release)(struct sbx_cgroup_root *root);
    /* After mkdir of a slot directory in hierarchy h. */
    int (*slot_setup)(struct sbx_cgroup_root *root, size_t h, const char *slot_rel);
    /* After the leaf directories exist and procs fds are open: limits and counter fds. Also
     * after a recycled leaf got new directories: only fds still -1 are opened. */
    int (*leaf_setup)(struct sbx_cgroup_leaf *leaf, const struct sbx_cgroup_limits *limits,
                      struct sbx_error *reterr);
    /* Limits of a fresh leaf (from leaf_setup, or later when the leaf was made ahead). */
    int (*leaf_limits)(struct sbx_cgroup_leaf *leaf, const struct sbx_cgroup_limits *limits,
                       struct sbx_error *reterr);
    int (*cpu_usec)(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
    int (*memory_peak)(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
    int (*oom_kills)(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
    /* How often a charge hit the memory limit (failed or had to reclaim). */
    int (*memory_limit_hits)(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
    int (*kill)(struct sbx_cgroup_leaf *leaf);
    /* Closes the counter fds of hierarchy h before its directory leaves the leaf (NULL when
     * the backend never keeps part of a leaf). */
    void (*leaf_drop_hier)(struct sbx_cgroup_leaf *leaf, size_t h);
};

extern const struct sbx_cg_ops sbx__cg_v1_ops;
extern const struct sbx_cg_ops sbx__cg_v2_ops;

/** Fills reterr (when non-NULL) and returns err. */
int sbx__cg_fail(struct sbx_error *reterr, const char *step, int err, const char *path);

/** Fills reterr with "<hierarchy dir>/boxes/<rel>[/<file>]" and returns err. */
int sbx__cg_leaf_fail(const struct sbx_cgroup_leaf *leaf, size_t h, struct sbx_error *reterr,
                      const char *step, int err, const char *file);
/** mkdirat(0755) then, in a fake tree, the test's hook. -EEXIST when it already exists. */
int sbx__cg_mkdir(const struct sbx_cgroup_root *root, int dirfd, const char *path);
/** Removes an empty cgroup directory, retrying EBUSY until deadline (monotonic usec). */
int sbx__cg_rmdir(const struct sbx_cgroup_root *root, int dirfd, const char *path, usec_t deadline);
/** Kills every process under dirfd/name (depth-first), removes the directories bottom-up.
 *  0 when it did not exist. Nothing outside dirfd/name is touched. */
int sbx__cg_tree_remove(const struct sbx_cgroup_root *root, int dirfd, const char *name);

/** openat(O_CLOEXEC|O_NOFOLLOW); *ret set on success. */
int sbx__cg_open(int dirfd, const char *path, int flags, int *ret);
/** Same for a file of the leaf in hierarchy h ("<rel>/<name>"). */
int sbx__cg_leaf_open(const struct sbx_cgroup_leaf *leaf, size_t h, const char *name, int flags,
                      int *ret);
/** Writes a string to a file of the leaf in hierarchy h. */
int sbx__cg_leaf_write(const struct sbx_cgroup_leaf *leaf, size_t h, const char *name,
                       const char *value);
/** Writes a decimal to a file of the leaf in hierarchy h. */
int sbx__cg_leaf_write_u64(const struct sbx_cgroup_leaf *leaf, size_t h, const char *name,
                           uint64_t value);

/** pread at offset 0 of a decimal counter. */
int sbx__cg_read_u64(int fd, uint64_t *ret);
/** pread at offset 0 of a "key value" file (memory.events, cpu.stat, oom_control). -ENODATA
 *  when the key is absent. */
int sbx__cg_read_key(int fd, const char *key, uint64_t *ret);

/** SIGKILLs every pid listed in dirfd/path (a cgroup.procs file), never pid 0, 1 or the
 *  caller; *ret_seen counts the pids listed. */
int sbx__cg_kill_procs(int dirfd, const char *path, unsigned *ret_seen);
/** Up to `rounds` passes SIGKILLing what the leaf's cgroup.procs list in every hierarchy,
 *  stopping at a pass that finds nobody; never waits. */
int sbx__cg_leaf_kill_rounds(struct sbx_cgroup_leaf *leaf, unsigned rounds);

/* ---- topology (cgroup.c parses, cgroup-v1.c / cgroup-v2.c decide) -------------------------- */

extern const char *const sbx__cg_controller_names[SBX_CG_CONTROLLER_MAX];

/** One cgroup or cgroup2 line of mountinfo, pointers into the parsed text. */
struct sbx_cg_mount {
    char *root;   /* the hierarchy's directory mounted here ("/" unless a subtree is) */
    char *point;  /* mount point, octal escapes decoded */
    char *fstype; /* "cgroup" or "cgroup2" */
    char *super;  /* super options: the v1 controllers, comma separated */
};

/** True when `word` is one of the tokens of s[0..len) separated by any of `seps`. */
bool sbx__cg_list_has(const char *s, size_t len, const char *word, const char *seps);
/** This process's cgroup path for `controller` in /proc/self/cgroup text ("" = the v2 "0::"
 *  line), malloc'd; -ENOENT when absent. */
int sbx__cg_proc_cgroup_find(const char *text, const char *controller, char **ret);
/** <prefix><mount point><own path below the mounted root>, malloc'd; -ENOENT when this
 *  process's cgroup is not visible through the mount. */
int sbx__cg_hier_own_path(const char *prefix, const struct sbx_cg_mount *m, const char *own,
                          char **ret);
/* cgroup-detect.c */
int sbx__cg_detect(struct sbx_cgroup_root *root, const struct sbx_cgroup_paths *paths,
                   struct sbx_error *reterr);
/** Fill root->hier, n_hier, version and ops; -ENOENT with *ret_missing naming a controller. */
int sbx__cg_detect_v2(struct sbx_cgroup_root *root, const char *prefix,
                      const struct sbx_cg_mount *mnts, size_t n, const char *proc,
                      const char **ret_missing);
int sbx__cg_detect_v1(struct sbx_cgroup_root *root, const char *prefix,
                      const struct sbx_cg_mount *mnts, size_t n, const char *proc,
                      const char **ret_missing);
