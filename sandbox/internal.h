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
    const char *mountinfo;   /* "/proc/self/mountinfo" or a fake for tests */
    const char *proc_cgroup; /* "/proc/self/cgroup" or a fake */
    const char *path_prefix; /* "" normally; a fake tree's directory prepended to mount points */
    /* Fake trees only (tests), NULL on a real cgroupfs: the kernel creates a cgroup's control
     * files on mkdir and drops them on rmdir; a tree of regular files needs the test to play
     * that part. `path` is relative to `dirfd`. */
    void (*fake_mkdir)(int dirfd, const char *path, void *userdata);
    void (*fake_rmdir)(int dirfd, const char *path, void *userdata);
    void *fake_userdata;
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
/** The instance directory in hierarchy `index` (v2: only 0), NULL past the last one. For
 *  audits (--check) and tests. */
const char *sbx__cgroup_root_dir(const struct sbx_cgroup_root *root, size_t index);

/** Creates a fresh leaf `boxes/slot-<slot>/stage-<seq>` in every hierarchy, its control files
 *  opened (no path walk later), with `limits` applied unless NULL (then see set_limits). */
int sbx__cgroup_leaf_create(struct sbx_cgroup_root *root, unsigned slot, uint64_t seq,
                            const struct sbx_cgroup_limits *limits, struct sbx_cgroup_leaf **ret,
                            struct sbx_error *reterr);
/** After a stage whose every process has been reaped, for the box's next stage: keeps in
 *  *leaf the directories that can serve it and moves the rest to *ret_spent (NULL when none;
 *  destroy it once the answer is out). v1 keeps pids, cpuacct and freezer (their counters are
 *  read against a base, pids.max is rewritten) and spends memory: its peak cannot be reset and
 *  what the stage left charged to it (page cache, dentries) would count against the next one.
 *  v2 keeps nothing (memory.peak is resettable only since 6.12): *leaf becomes NULL. */
void sbx__cgroup_leaf_recycle(struct sbx_cgroup_leaf **leaf, struct sbx_cgroup_leaf **ret_spent);
/** Gives a recycled leaf new directories where it lacks them, as stage ++*seq (limits unset,
 *  see set_limits); 0 without a change when it lacks none. */
int sbx__cgroup_leaf_refill(struct sbx_cgroup_leaf *leaf, uint64_t *seq, struct sbx_error *reterr);
/** fds of the leaf's cgroup.procs files (one per hierarchy), opened O_WRONLY|O_CLOEXEC: a child
 *  still running as root writes "0" to each to enter the leaf. Returns the count. */
/** Applies limits to a leaf made (or refilled) with NULL limits, before anything joins it. */
int sbx__cgroup_leaf_set_limits(struct sbx_cgroup_leaf *leaf,
                                const struct sbx_cgroup_limits *limits, struct sbx_error *reterr);
size_t sbx__cgroup_leaf_procs_fds(const struct sbx_cgroup_leaf *leaf, const int **ret);
int sbx__cgroup_leaf_cpu_usec(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
int sbx__cgroup_leaf_memory_peak(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
/** True on v2 before 5.19: the peak is the highest memory.current seen, so the monitor
 *  samples it on every poll. */
bool sbx__cgroup_leaf_peak_is_sampled(const struct sbx_cgroup_leaf *leaf);
int sbx__cgroup_leaf_oom_kills(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
/** Charges that hit the memory limit (v1 memsw/memory failcnt, v2 memory.events max). */
int sbx__cgroup_leaf_memory_limit_hits(struct sbx_cgroup_leaf *leaf, uint64_t *ret);
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
 *  with prctl(PR_SET_SECCOMP) after PR_SET_NO_NEW_PRIVS (no libseccomp after clone).
 *  deny_locks adds the file-lock rules (ENOLCK): the filter of boxes whose slot has no
 *  private inodes (private.c). */
int sbx__seccomp_build(bool deny_locks, struct sbx_bpf *ret);
void sbx__seccomp_done(struct sbx_bpf *bpf);

/** One denylist rule as data, for documentation and audits. */
struct sbx_seccomp_rule_info {
    const char *syscall; /* libseccomp's name */
    int err;             /* positive errno the call fails with */
    const char *when;    /* the argument condition in words, NULL when unconditional */
    const char *reason;
    bool deny_locks_only; /* in the deny_locks filter only */
};
/** Rule `index` of the denylist; -ENOENT past the last one. */
int sbx__seccomp_rule_info(size_t index, struct sbx_seccomp_rule_info *ret);

/* ---- mount plan (mount.c): built in the parent, applied in the child ---------------------- */

enum sbx_mount_kind {
    SBX_MOUNT_MKDIR,     /* mkdir dst (EEXIST ignored) */
    SBX_MOUNT_SYMLINK,   /* symlink src -> dst */
    SBX_MOUNT_BIND_RO,   /* bind src on dst, then remount read-only, nosuid, nodev */
    SBX_MOUNT_BIND_RW,   /* bind src on dst, nosuid, nodev (the job tmpfs parts) */
    SBX_MOUNT_BIND_FILE, /* create empty file dst, bind the host node src on it (devices) */
    SBX_MOUNT_PROC,      /* fresh read-only procfs of the box's pid namespace */
    SBX_MOUNT_MASK,      /* bind the device node src over the existing dst, read-only */
};

struct sbx_mount_op {
    enum sbx_mount_kind kind;
    char *src;
    char *dst; /* absolute host path under the box root mount point */
};

struct sbx_mount_plan {
    struct sbx_mount_op *ops;
    size_t n, alloc;
};

int sbx__mount_plan_add(struct sbx_mount_plan *plan, enum sbx_mount_kind kind, const char *src,
                        const char *root, const char *box_path);
/** Adds mkdir ops for every missing parent of box_path (already planned ones are skipped). */
int sbx__mount_plan_add_parents(struct sbx_mount_plan *plan, const char *root,
                                const char *box_path);
/** Copies `base` then appends; used to extend the per-context template per run. */
int sbx__mount_plan_copy(const struct sbx_mount_plan *base, struct sbx_mount_plan *ret);
void sbx__mount_plan_done(struct sbx_mount_plan *plan);
/** After clone: applies every op. Raw syscalls only. Returns -errno, *failed_index set. */
/* Which part of a plan a step applies: the shared root (everything but procfs, whose mount
 * point is only made) or a box's own part on top of a template (procfs and its masks). */
enum sbx_apply_part { SBX_APPLY_TEMPLATE, SBX_APPLY_BOX };
/** Applies one part of the plan; in the box part every path loses its first `strip` bytes (the
 * box root, which is `/` there). */
int sbx__mount_plan_apply(const struct sbx_mount_plan *plan, enum sbx_apply_part part, size_t strip,
                          size_t *failed_index);

/* ---- context and slots (context.c) -------------------------------------------------------- */

/* Boxes a slot may leave unreaped between jobs (a compile's and a run's, plus a discarded
 * warm one); more and the next one is reaped on the spot. */
#define SBX_RETIRING_MAX 4
/* Finished stages' leaves a slot may leave unremoved (a compile's and a run's; the caller
 * quiesces between them and after the job); more and the oldest is removed on the spot. */
#define SBX_SPENT_LEAVES_MAX 2
/* Root templates a slot keeps (one per package it ran lately), and for how long one serves:
 * a template's binds resolved their sources when it was built, so an old one is rebuilt. */
#define SBX_TEMPLATES_MAX 2
#define SBX_TEMPLATE_MAX_AGE_USEC (10 * 1000 * 1000)
struct sbx_root_template {
    char *key; /* the package and prepared directories, their box path and identities */
    size_t key_len;
    int mntns_fd; /* -1: free */
    int root_fd;  /* its root, O_PATH: where a box's setns must land (template.c) */
    uint64_t built_usec, last_used;
    uint64_t id;        /* unique in the slot: a box remembers the template it copied */
    bool locks_private; /* its binds are the slot's covers (private.c): locks allowed */
};
struct sbx_box;
/** Kills and reaps every box of the slot, warm ones included (context teardown). */
void sbx__slot_release(struct sbx_slot *slot);

struct sbx_slot {
    struct sbx_context *ctx;
    unsigned index;
    uid_t uid;
    gid_t gid;
    char *dir;               /* run_dir/slot-<n>: the caller's job tmpfs mount point */
    int netns_fd;            /* empty network namespace of the slot, -1 with networking */
    int sockstat_fd;         /* its /proc/net/sockstat, opened from inside it (netns.c) */
    bool netns_dirty;        /* a job left sockets in it and no fresh one could be made yet */
    unsigned netns_replaced; /* namespaces dropped because a job left sockets in them */
    int abort_fd;            /* eventfd: sbx_slot_abort() wakes the monitor through it */
    pid_t thread_tid;        /* the slot's thread (sbx_slot_enter_thread), for sbx_slot_join() */
    ino_t mntns_ino;         /* its mount namespace's inode number; 0: none of its own */
    _Atomic bool aborted;
    uint64_t stage_seq;
    struct sbx_mount_plan plan; /* template: root, devices, toolchains, /etc, job dirs */
    struct sbx_private *priv;   /* private inodes of the slot's mount namespace (private.c) */
    struct sbx_box *warm;       /* built ahead, waiting for its job; NULL if none */
    struct sbx_box *retiring[SBX_RETIRING_MAX]; /* done or discarded, not yet reaped */
    size_t n_retiring;
    /* leaves of finished jobs of a box that serves on: removed by sbx_slot_quiesce() */
    struct sbx_cgroup_leaf *spent_leaves[SBX_SPENT_LEAVES_MAX];
    size_t n_spent_leaves;
    struct sbx_root_template templates[SBX_TEMPLATES_MAX];
    uint64_t template_uses, template_ids;
    unsigned templates_built;     /* for tests and audits */
    _Atomic unsigned boxes_built; /* a box serves job after job: /metrics, tests, audits */
};

struct sbx_context {
    struct sbx_config cfg;
    char *instance;
    char *run_dir;
    char *box_root;    /* run_dir/root: every box mounts its root tmpfs here, in its own mount ns */
    char *etc_dir;     /* run_dir/etc: generated /etc template */
    int lock_fd;       /* flock on <run_dir>.lock: one daemon per instance */
    int host_netns_fd; /* the daemon's own network namespace, to return to after making one */
    int helper_fd;     /* O_PATH of the capsule-box helper, exec'd as every box's PID 1 */
    char *helper_path; /* where it was found, for audits */
    char *lock_path;
    bool lock_held; /* the lock is ours: the file goes when the context does */
    struct sbx_cgroup_root *cgroup;
    struct sbx_bpf bpf;
    struct sock_fprog seccomp_prog; /* points into bpf */
    struct sbx_bpf bpf_deny_locks;  /* the same plus ENOLCK for locks (private.c) */
    struct sock_fprog seccomp_prog_deny_locks;
    int squat_fds[8]; /* host-wide inodes the daemon holds shared locks on (private.c) */
    size_t n_squat_fds;
    bool locks_squatted;
    struct sbx_slot *slots;
    unsigned n_slots;
    /* SBX_TEMPLATE_MAX_AGE_USEC; a white-box test that needs one box over a long emulated
     * job (where 10 s pass in a few host seconds' work) lengthens it */
    uint64_t template_max_age_usec;
};

/* ---- the slot's network namespace (netns.c) ----------------------------------------------- */

/** Makes an empty network namespace on the calling thread and returns there (host_netns):
 *  *ret_netns is the namespace, *ret_sockstat its /proc/net/sockstat. */
int sbx__netns_make(int host_netns, int *ret_netns, int *ret_sockstat);
/** Once the slot's boxes are gone: if a socket is still alive in the slot's namespace (an
 *  in-flight descriptor cycle the kernel has not collected yet), gives the slot a fresh
 *  namespace. 0 clean, 1 replaced, -errno if it could not be (the slot then builds no box
 *  until a retry succeeds). */
int sbx__slot_netns_recycle(struct sbx_slot *slot);

/* ---- file locks that are not a channel (private.c) ---------------------------------------- */

struct sbx_private;
/** Takes a shared flock and an OFD read lock on each inode every box shares with the host
 *  (the anon inode, nsfs of the user, cgroup and time namespaces, the host network one with
 *  networking), held until sbx__locks_unsquat. Sets ctx->locks_squatted on success. */
int sbx__locks_squat(struct sbx_context *ctx);
void sbx__locks_unsquat(struct sbx_context *ctx);
/** On the slot's thread, right after it entered its own mount namespace: records that
 *  namespace and mounts the slot's private tmpfs (device nodes, the empty overlay layer). */
int sbx__slot_private_init(struct sbx_slot *slot);
/** Before a box of `plan` is cloned, on the slot's thread: covers every host directory the
 *  plan binds with a read-only overlay and every device node with the slot's own, in the
 *  slot's namespace (once per path). 0: nothing the box can lock is seen outside the slot;
 *  -errno otherwise (the box must deny locks). */
int sbx__slot_private_plan(struct sbx_slot *slot, const struct sbx_mount_plan *plan);
struct sbx_private *sbx__private_free(struct sbx_private *p);

/* ---- child (child.c): code that runs after clone, raw syscalls only ----------------------- */

enum sbx_child_step {
    SBX_STEP_PDEATHSIG = 1,
    SBX_STEP_NETNS,
    SBX_STEP_HOSTNAME,
    SBX_STEP_MOUNT_PRIVATE,
    SBX_STEP_ROOT_TMPFS,
    SBX_STEP_MOUNT_OP,
    SBX_STEP_PIVOT,
    SBX_STEP_ROOT_RDONLY,
    SBX_STEP_CLONE_PROGRAM,
    SBX_STEP_CGROUP_JOIN,
    SBX_STEP_SIGNALS,
    SBX_STEP_FDS,
    SBX_STEP_RLIMIT,
    SBX_STEP_CREDENTIALS,
    SBX_STEP_CAPABILITIES,
    SBX_STEP_NO_NEW_PRIVS,
    SBX_STEP_CHDIR,
    SBX_STEP_SECCOMP,
    SBX_STEP_EXEC,
    SBX_STEP_JOB,
    SBX_STEP_HELPER,
    SBX_STEP_ROOT_TEMPLATE, /* joining the slot's prebuilt root (setns + unshare) */
    SBX_STEP_TEMPLATE_SEND, /* a template builder handing its namespace to the daemon */
    SBX_STEP_IPC,           /* each job's program in an IPC namespace of its own */
    SBX_STEP_PID_RESET,     /* PID 1 numbering each job's processes from 2 again */
};
const char *sbx__child_step_name(int step);

struct sbx_child_error {
    int32_t step;
    int32_t err;    /* positive errno */
    int32_t detail; /* mount op index for SBX_STEP_MOUNT_OP */
};

/* What a box's PID 1 writes on the job socket, one record at a time: after each job, the
 * main program's wait status once nothing else of the job is alive (SBX_REPORT_STATUS); or
 * why the box cannot take a job (SBX_REPORT_ERROR), after which PID 1 exits. */
enum { SBX_REPORT_STATUS = 1, SBX_REPORT_ERROR = 2 };
struct sbx_box_report {
    int32_t kind;
    int32_t wait_status; /* as from wait4() for the main program */
    struct sbx_child_error error;
};

/* What the supervisor knows when it is cloned: everything but the job. */
struct sbx_child_args {
    const char *box_root;
    const struct sbx_mount_plan *plan;
    int netns_fd;
    int job_fd;   /* socket the spec, then each job, arrives on (sbx_job_header + fds, strings) */
    int error_fd; /* SBX_SPEC_MODE_TEMPLATE: the builder's failing step; a box has none */
    uid_t uid;
    gid_t gid;
    const struct sock_fprog *seccomp;
    int mode;             /* SBX_SPEC_MODE_* */
    int template_fd;      /* SBX_SPEC_MODE_BOX: mount namespace of the prebuilt root */
    int template_root_fd; /* and that root (O_PATH) */
};

/* A job, sent to a built box (one after another to the same box): this header with the job's
 * descriptors as SCM_RIGHTS (stdin, the stdout and stderr pipes' write ends, then
 * n_cgroup_fds cgroup.procs files of the job's leaf), then `strings_len` bytes of argc + envc
 * NUL-terminated strings (argv first). */
#define SBX_JOB_MAGIC 0x43415053u
/* Far above what the api admits (args are capped at 1 MiB in all). */
#define SBX_JOB_STRINGS_MAX (64u << 20)
enum { SBX_JOB_FD_STDIN, SBX_JOB_FD_STDOUT, SBX_JOB_FD_STDERR, SBX_JOB_FDS };
struct sbx_job_header {
    uint32_t magic;
    uint32_t argc, envc;
    uint32_t n_cgroup_fds;
    uint64_t strings_len;
    uint64_t rlimit_nofile, rlimit_fsize, rlimit_stack, rlimit_cpu_sec, rlimit_nproc;
};

/* The box spec, first on the job socket (the daemon writes it, the helper reads it): this
 * header, n_insns struct sock_filter (the seccomp program), then strings_len bytes of
 * NUL-terminated strings: the box root, then per mount op its kind as one byte, its dst and
 * its src ("" for none). Fd numbers are the daemon's, which the helper inherits. */
#define SBX_SPEC_MAGIC 0x58425343u
#define SBX_SPEC_CGROUP_FDS_MAX 8
#define SBX_SPEC_OPS_MAX 4096
#define SBX_SPEC_STRINGS_MAX (1u << 20)
/* A root template is a mount namespace holding only a box's finished root (tmpfs, binds,
 * pivoted, read-only) and no process: its builder sends the namespace to the daemon over the
 * job socket and exits. A box joins a copy of it and adds only what is its own (procfs). */
enum {
    SBX_SPEC_MODE_TEMPLATE = 1, /* build the root from the plan, send its mount namespace */
    SBX_SPEC_MODE_BOX = 2,      /* copy template_fd's root, mount procfs, run the program */
};
struct sbx_spec_header {
    uint32_t magic;
    uint32_t n_ops, n_insns, strings_len;
    uint32_t mode;
    int32_t job_fd, error_fd, netns_fd, template_fd, template_root_fd;
    uint32_t uid, gid;
};
struct strbuf;
/** Fills *e (when not NULL): the step, the negative errno, the path cut to fit (context.c). */
void sbx__set_error(struct sbx_error *e, const char *step, int err, const char *path);
struct sbx_child_error;
/** Fills *e from a box's error record: its step, and for a mount op the op's path (launch.c). */
void sbx__set_child_error(struct sbx_error *e, const struct sbx_child_error *rec, int err,
                          const struct sbx_mount_plan *plan);
/** The spec of a box, ready to send (launch.c). */
int sbx__spec_encode(const struct sbx_child_args *a, struct strbuf *ret);
/** Clones PID 1 with `namespaces` (CLONE_NEW* flags), execs the helper in it, sends the spec;
 * the pidfd is the caller's to reap whatever is returned once it is set (clone.c). */
int sbx__clone_supervisor(const struct sbx_context *ctx, const struct sbx_child_args *args,
                          uint64_t namespaces, int our_job_fd, int *ret_pidfd);
/** All of p on a stream socket (MSG_NOSIGNAL, EINTR retried); -errno. */
int sbx__send_all(int fd, const char *p, size_t n);

/* ---- root templates (template.c) ---------------------------------------------------------- */

/** The slot's template for this plan, built if it has none (or only a stale one): the slot
 * keeps it; the caller passes it on to a box and never closes it. With no_build, SBX_ENOBOX
 * instead of a build. */
int sbx__slot_template(struct sbx_slot *slot, const struct sbx_mount_plan *plan,
                       const char *package_dir, const char *package_box_dir,
                       const char *prepared_dir, bool no_build,
                       const struct sbx_root_template **ret, struct sbx_error *reterr);

/* What the daemon's clone needs to exec the helper (sbx__child_exec_helper). */
struct sbx_helper_exec {
    int helper_fd; /* O_PATH of the capsule-box binary */
    const int *keep;
    size_t n_keep;
    int error_fd;
    char *const *argv;
};
/** In the daemon's CLONE_VM clone: execs the helper with only `keep` open. Never returns. */
_Noreturn void sbx__child_exec_helper(const struct sbx_helper_exec *h);

/** Body of the box's PID 1 (in the helper): never returns. */
_Noreturn void sbx__child_supervisor(const struct sbx_child_args *args);

/* ---- monitor (monitor.c) ------------------------------------------------------------------ */

struct sbx_monitor {
    int epfd;
    int abort_fd; /* the slot's eventfd, watched, never closed here */
    char *read_buf;
    int pidfd;
    int stdout_fd, stderr_fd; /* the job's read ends (no EOF while the worker holds the writes) */
    int status_fd; /* the box's job socket (its reports), not closed here; -1 once read */
    struct sbx_cgroup_leaf *leaf;
    const struct sbx_spec *spec;
    uint64_t start_usec;
    uint64_t killed_usec;   /* first kill by the monitor, 0 if none */
    uint64_t next_cpu_usec; /* the CPU counter's next reading (CPU_POLL_USEC apart) */
    bool paused;            /* stream mode: output pipes out of the epoll set */
    bool ended;             /* the program ended or is being killed: pipes are drained */
    int program_pidfd;      /* stream mode: the main program, once a signal needed it; or -1 */
    bool box_reusable;      /* set by the run: the job ended on its own, the box is clean */
};
/** Stream mode: sends sig to the box's main program (the first child of PID 1, pid 2 of its
 *  namespace), found from PID 1's pidfd and kept in *program_pidfd. -ESRCH once it is gone. */
int sbx__program_signal(int sup_pidfd, int *program_pidfd, int sig);
/** The monitor's epoll set (every descriptor of the stage in it) and read buffer: made
 *  before the job is sent, so that the slot worker sleeps right after waking the program. */
int sbx__monitor_open(struct sbx_monitor *mon);
void sbx__monitor_close(struct sbx_monitor *mon);
/** Runs until the supervisor has reported (or is dead) and every pipe is drained. Fills the
 * result's trips, wait status, buffers and wall time. -errno only for a box failure (child error
 * record or supervisor lost); *child_error is set when the failure came from the child. */
int sbx__monitor_run(struct sbx_monitor *mon, struct sbx_result *res,
                     struct sbx_child_error *child_error);
