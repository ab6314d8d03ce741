/* cgroup backend, common part: finds the hierarchies (v2 unified, or the v1 memory, pids,
 * cpuacct and freezer hierarchies) from /proc/self/mountinfo and /proc/self/cgroup, builds the
 * instance root `<own cgroup>/<instance>/` in each, and creates, counts, kills and removes the
 * per-stage leaves. cgroup-v1.c and cgroup-v2.c hold what differs.
 *
 * cgroupfs is written directly rather than through libcgroup: libcgroup 2.0.2 creates groups at
 * the top of each hierarchy instead of under the caller's own cgroup, uses one path for all
 * controllers (on this host memory is nested while pids and cpuacct sit at the root), writes
 * memsw before the memory limit (EINVAL) and has no v1/v2 name mapping (DESIGN.md 4).
 *
 * Threads: root_open/root_free run alone at startup and shutdown; leaf functions may run
 * concurrently for different slots (they only read the root). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "macro.h"

#define TREE_DEPTH_MAX 16

const char *const sbx__cg_controller_names[SBX_CG_CONTROLLER_MAX] = {
    [SBX_CG_MEMORY] = "memory",
    [SBX_CG_PIDS] = "pids",
    [SBX_CG_CPUACCT] = "cpuacct",
    [SBX_CG_FREEZER] = "freezer",
};

/* ---- small helpers ------------------------------------------------------------------------ */

int sbx__cg_fail(struct sbx_error *reterr, const char *step, int err, const char *path)
{
    if (reterr) {
        reterr->step = step;
        reterr->err = err;
        snprintf(reterr->path, sizeof(reterr->path), "%s", path ? path : "");
    }
    return err;
}

static void sleep_usec(usec_t u)
{
    struct timespec ts = {.tv_sec = (time_t)(u / USEC_PER_SEC),
                          .tv_nsec = (long)(u % USEC_PER_SEC) * 1000};

    (void)nanosleep(&ts, NULL);
}

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

int sbx__cg_open(int dirfd, const char *path, int flags, int *ret)
{
    int fd = openat(dirfd, path, flags | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return -errno;
    *ret = fd;
    return 0;
}

int sbx__cg_leaf_open(const struct sbx_cgroup_leaf *leaf, size_t h, const char *name, int flags,
                      int *ret)
{
    char path[SBX_CG_REL_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", leaf->rel[h], name);
    return sbx__cg_open(leaf->root->hier[h].boxes_fd, path, flags, ret);
}

int sbx__cg_leaf_write(const struct sbx_cgroup_leaf *leaf, size_t h, const char *name,
                       const char *value)
{
    char path[SBX_CG_REL_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", leaf->rel[h], name);
    return write_string_at(leaf->root->hier[h].boxes_fd, path, value);
}

int sbx__cg_leaf_write_u64(const struct sbx_cgroup_leaf *leaf, size_t h, const char *name,
                           uint64_t value)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, value);
    return sbx__cg_leaf_write(leaf, h, name, buf);
}

int sbx__cg_read_u64(int fd, uint64_t *ret)
{
    unsigned long long v;
    int r;

    r = pread_u64(fd, &v);
    if (r < 0)
        return r;
    *ret = (uint64_t)v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -EBADMSG;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || (*end != '\0' && *end != '\n' && *end != ' '))
        return -EBADMSG;
    *ret = (uint64_t)v;
    return 0;
}

int sbx__cg_read_key(int fd, const char *key, uint64_t *ret)
{
    char buf[2048];
    size_t klen = strlen(key);
    ssize_t k;

    do
        k = pread(fd, buf, sizeof(buf) - 1, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return -errno;
    buf[k] = '\0';
    for (char *line = buf; *line;) {
        char *eol = strchrnul(line, '\n');
        /* "oom_kill 3" must not match "oom_group_kill 0": the key ends at the space. */
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return parse_u64(line + klen + 1, ret);
        line = *eol ? eol + 1 : eol;
    }
    return -ENODATA;
}

/* ---- killing and removing ----------------------------------------------------------------- */

static unsigned kill_one(long pid, pid_t self)
{
    /* 0 is a process outside our pid namespace (and what a fake tree holds): nothing to kill
     * or count. Never init, never ourselves (v2 keeps the daemon inside the instance). */
    if (pid <= 0)
        return 0;
    if (pid > 1 && pid != self)
        (void)kill((pid_t)pid, SIGKILL);
    return 1;
}

int sbx__cg_kill_procs(int dirfd, const char *path, unsigned *ret_seen)
{
    _cleanup_close_ int fd = -1;
    pid_t self = getpid();
    unsigned seen = 0;
    long cur = -1;
    char buf[1024];
    int r;

    r = sbx__cg_open(dirfd, path, O_RDONLY, &fd);
    if (r < 0)
        return r;
    for (;;) {
        ssize_t k = read(fd, buf, sizeof(buf));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break;
        for (ssize_t i = 0; i < k; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                cur = MIN((cur < 0 ? 0 : cur) * 10 + (buf[i] - '0'), (long)INT_MAX + 1);
                continue;
            }
            if (cur >= 0 && cur <= INT_MAX)
                seen += kill_one(cur, self);
            cur = -1;
        }
    }
    if (cur >= 0 && cur <= INT_MAX)
        seen += kill_one(cur, self);
    *ret_seen = seen;
    return 0;
}

int sbx__cg_leaf_kill_rounds(struct sbx_cgroup_leaf *leaf, unsigned rounds)
{
    char path[SBX_CG_REL_MAX + 16];

    /* Without cgroup.kill or a freezer a fork can race the listing: repeat until a listing
     * finds nobody. SIGKILLed processes cannot fork, and pids.max bounds the count. */
    for (unsigned round = 0; round < rounds; round++) {
        unsigned total = 0;
        for (size_t h = 0; h < leaf->root->n_hier; h++) {
            unsigned n = 0;
            if (!leaf->made[h])
                continue;
            snprintf(path, sizeof(path), "%s/cgroup.procs", leaf->rel[h]);
            int r = sbx__cg_kill_procs(leaf->root->hier[h].boxes_fd, path, &n);
            if (r < 0 && r != -ENOENT)
                return r;
            total += n;
        }
        if (total == 0)
            break;
    }
    return 0;
}

/* Kills what the procs file lists until it lists nobody, or -EBUSY at the deadline. */
static int drain(int dirfd, const char *procs_path, usec_t deadline)
{
    usec_t wait = 100;

    for (;;) {
        unsigned seen = 0;
        int r = sbx__cg_kill_procs(dirfd, procs_path, &seen);
        if (r == -ENOENT)
            return 0; /* no such cgroup (or a fake directory without the file) */
        if (r < 0)
            return r;
        if (seen == 0)
            return 0;
        if (now_usec() >= deadline)
            return -EBUSY;
        sleep_usec(wait);
        wait = MIN(wait * 2, 20 * USEC_PER_MSEC);
    }
}

int sbx__cg_mkdir(const struct sbx_cgroup_root *root, int dirfd, const char *path)
{
    if (mkdirat(dirfd, path, 0755) < 0)
        return -errno;
    if (root->fake_mkdir)
        root->fake_mkdir(dirfd, path, root->fake_userdata);
    return 0;
}

int sbx__cg_rmdir(const struct sbx_cgroup_root *root, int dirfd, const char *path, usec_t deadline)
{
    usec_t wait = 100;

    if (root->fake_rmdir)
        root->fake_rmdir(dirfd, path, root->fake_userdata);
    for (;;) {
        if (unlinkat(dirfd, path, AT_REMOVEDIR) >= 0)
            return 0;
        int r = -errno;
        if (r == -ENOENT)
            return 0;
        /* A task that got SIGKILL is listed no more but may still be exiting. */
        if (r != -EBUSY || now_usec() >= deadline)
            return r;
        sleep_usec(wait);
        wait = MIN(wait * 2, 10 * USEC_PER_MSEC);
    }
}

static bool dirent_is_dir(int dirfd, const struct dirent *de)
{
    struct stat st;

    if (de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    return fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode);
}

static int tree_remove_at(const struct sbx_cgroup_root *root, int parent_fd, const char *name,
                          unsigned depth, usec_t deadline);

static int remove_children(const struct sbx_cgroup_root *root, int fd, unsigned depth,
                           usec_t deadline)
{
    _cleanup_(closedirp) DIR *d = NULL;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    struct dirent *de;
    int r;

    if (dfd < 0)
        return -errno;
    d = fdopendir(dfd);
    if (!d) {
        r = -errno;
        safe_close(dfd);
        return r;
    }
    while ((errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (!dirent_is_dir(fd, de))
            continue; /* control files go with the directory */
        r = tree_remove_at(root, fd, de->d_name, depth + 1, deadline);
        if (r < 0)
            return r;
    }
    return errno ? -errno : 0;
}

static int tree_remove_at(const struct sbx_cgroup_root *root, int parent_fd, const char *name,
                          unsigned depth, usec_t deadline)
{
    _cleanup_close_ int fd = -1;
    unsigned seen;
    int r;

    if (depth > TREE_DEPTH_MAX)
        return -ELOOP;
    r = sbx__cg_open(parent_fd, name, O_RDONLY | O_DIRECTORY, &fd);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    /* This level first: its processes fork into this cgroup, never into a child. */
    (void)sbx__cg_kill_procs(fd, "cgroup.procs", &seen);
    r = remove_children(root, fd, depth, deadline);
    if (r < 0)
        return r;
    r = drain(fd, "cgroup.procs", deadline);
    if (r < 0)
        return r;
    return sbx__cg_rmdir(root, parent_fd, name, deadline);
}

int sbx__cg_tree_remove(const struct sbx_cgroup_root *root, int dirfd, const char *name)
{
    return tree_remove_at(root, dirfd, name, 0, now_usec() + 2 * SBX_CG_DRAIN_USEC);
}

/* ---- topology: /proc/self/mountinfo and /proc/self/cgroup --------------------------------- */

/* One path component the instance root is named by; never "." or "..". */
static bool instance_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct sbx_cgroup_root *, sbx__cgroup_root_free)

/* In every hierarchy: remove what a crashed daemon of the same instance left (killing its
 * processes), then create `<own>/<instance>` afresh. */
static int instance_create(struct sbx_cgroup_root *root, struct sbx_error *reterr)
{
    int r;

    for (size_t h = 0; h < root->n_hier; h++) {
        struct sbx_cg_hier *hier = &root->hier[h];
        _cleanup_close_ int own_fd = -1;

        if (asprintf(&hier->dir, "%s/%s", hier->own, root->instance) < 0) {
            hier->dir = NULL;
            return sbx__cg_fail(reterr, "cgroup-create", -ENOMEM, hier->own);
        }
        r = sbx__cg_open(AT_FDCWD, hier->own, O_PATH | O_DIRECTORY, &own_fd);
        if (r < 0)
            return sbx__cg_fail(reterr, "cgroup-create", r, hier->own);
        r = sbx__cg_tree_remove(root, own_fd, root->instance);
        if (r < 0)
            return sbx__cg_fail(reterr, "cgroup-cleanup", r, hier->dir);
        r = sbx__cg_mkdir(root, own_fd, root->instance);
        if (r < 0)
            return sbx__cg_fail(reterr, "cgroup-create", r, hier->dir);
        hier->made = true;
    }
    return 0;
}

int sbx__cgroup_root_open(const struct sbx_cgroup_paths *paths, const char *instance,
                          struct sbx_cgroup_root **ret, struct sbx_error *reterr)
{
    _cleanup_(sbx__cgroup_root_freep) struct sbx_cgroup_root *root = NULL;
    static const struct sbx_cgroup_paths defaults = {0};
    int r;

    if (!paths)
        paths = &defaults;
    if (!instance_valid(instance))
        return sbx__cg_fail(reterr, "cgroup-detect", -EINVAL, instance);
    root = calloc(1, sizeof(*root));
    if (!root)
        return sbx__cg_fail(reterr, "cgroup-detect", -ENOMEM, NULL);
    for (size_t i = 0; i < SBX_CG_CONTROLLER_MAX; i++)
        root->index[i] = -1;
    root->fake_mkdir = paths->fake_mkdir;
    root->fake_rmdir = paths->fake_rmdir;
    root->fake_userdata = paths->fake_userdata;
    root->instance = strdup(instance);
    if (!root->instance)
        return sbx__cg_fail(reterr, "cgroup-detect", -ENOMEM, NULL);
    r = sbx__cg_detect(root, paths, reterr);
    if (r < 0)
        return r;
    r = instance_create(root, reterr);
    if (r < 0)
        return r;
    r = root->ops->root_setup(root, reterr);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(root);
    return 0;
}

struct sbx_cgroup_root *sbx__cgroup_root_free(struct sbx_cgroup_root *root)
{
    bool remove;

    if (!root)
        return NULL;
    /* v2 first takes the daemon back out of <instance>/daemon; if it cannot, the instance
     * stays and the next start of this instance removes it. */
    remove = !root->ops || !root->ops->root_teardown || root->ops->root_teardown(root);
    for (size_t h = 0; h < root->n_hier; h++) {
        struct sbx_cg_hier *hier = &root->hier[h];
        _cleanup_close_ int own_fd = -1;

        hier->boxes_fd = safe_close(hier->boxes_fd);
        if (remove && hier->made &&
            sbx__cg_open(AT_FDCWD, hier->own, O_PATH | O_DIRECTORY, &own_fd) >= 0)
            (void)sbx__cg_tree_remove(root, own_fd, root->instance);
    }
    if (root->ops && root->ops->root_release)
        root->ops->root_release(root);
    for (size_t h = 0; h < root->n_hier; h++) {
        free(root->hier[h].own);
        free(root->hier[h].dir);
    }
    free(root->instance);
    free(root);
    return NULL;
}

int sbx__cgroup_root_version(const struct sbx_cgroup_root *root)
{
    return root->version;
}

const char *sbx__cgroup_root_dir(const struct sbx_cgroup_root *root, size_t index)
{
    return index < root->n_hier ? root->hier[index].dir : NULL;
}

/* ---- leaves ------------------------------------------------------------------------------- */

static void leaf_close_fds(struct sbx_cgroup_leaf *leaf)
{
    for (size_t h = 0; h < SBX_CG_HIER_MAX; h++)
        leaf->procs_fd[h] = safe_close(leaf->procs_fd[h]);
    leaf->n_procs = 0;
    leaf->cpu_fd = safe_close(leaf->cpu_fd);
    leaf->peak_fd = safe_close(leaf->peak_fd);
    leaf->oom_fd = safe_close(leaf->oom_fd);
    leaf->pids_fd = safe_close(leaf->pids_fd);
    leaf->kill_fd = safe_close(leaf->kill_fd);
}

static int leaf_remove_dirs(struct sbx_cgroup_leaf *leaf, usec_t deadline)
{
    int r = 0;

    for (size_t h = 0; h < leaf->root->n_hier; h++) {
        if (!leaf->made[h])
            continue;
        int k = sbx__cg_rmdir(leaf->root, leaf->root->hier[h].boxes_fd, leaf->rel[h], deadline);
        if (k < 0 && r == 0)
            r = k;
        leaf->made[h] = k < 0;
    }
    return r;
}

/* Undo of a half-built leaf: nothing ran in it yet. */
static void leaf_abandonp(struct sbx_cgroup_leaf **p)
{
    struct sbx_cgroup_leaf *leaf = *p;

    if (!leaf)
        return;
    leaf_close_fds(leaf);
    (void)leaf_remove_dirs(leaf, now_usec());
    free(leaf);
}

/* slot-<n> is made on first use and kept for the daemon's life (v2: with its subtree_control). */
static int slot_create(struct sbx_cgroup_root *root, size_t h, const char *slot_rel)
{
    int r;

    r = sbx__cg_mkdir(root, root->hier[h].boxes_fd, slot_rel);
    if (r < 0 || !root->ops->slot_setup)
        return r;
    r = root->ops->slot_setup(root, h, slot_rel);
    if (r < 0)
        (void)sbx__cg_rmdir(root, root->hier[h].boxes_fd, slot_rel, now_usec());
    return r;
}

/* The stage directory first: only the first stage of a slot finds its parent missing. */
static int leaf_mkdir(struct sbx_cgroup_leaf *leaf, size_t h, const char *slot_rel)
{
    int r;

    r = sbx__cg_mkdir(leaf->root, leaf->root->hier[h].boxes_fd, leaf->rel[h]);
    if (r != -ENOENT)
        return r;
    r = slot_create(leaf->root, h, slot_rel);
    if (r < 0)
        return r;
    return sbx__cg_mkdir(leaf->root, leaf->root->hier[h].boxes_fd, leaf->rel[h]);
}

static struct sbx_cgroup_leaf *leaf_alloc(struct sbx_cgroup_root *root, unsigned slot)
{
    struct sbx_cgroup_leaf *leaf = calloc(1, sizeof(*leaf));

    if (!leaf)
        return NULL;
    leaf->root = root;
    leaf->slot = slot;
    for (size_t h = 0; h < SBX_CG_HIER_MAX; h++)
        leaf->procs_fd[h] = -1;
    leaf->cpu_fd = leaf->peak_fd = leaf->oom_fd = leaf->pids_fd = leaf->kill_fd = -1;
    return leaf;
}

/* Makes the directories the leaf lacks as stage `seq`, opens their procs files, then lets the
 * backend apply limits and open the counters it lacks. */
static int leaf_fill(struct sbx_cgroup_leaf *leaf, uint64_t seq,
                     const struct sbx_cgroup_limits *limits, struct sbx_error *reterr)
{
    struct sbx_cgroup_root *root = leaf->root;
    char slot_rel[24];
    int r;

    snprintf(slot_rel, sizeof(slot_rel), "slot-%u", leaf->slot);
    for (size_t h = 0; h < root->n_hier; h++) {
        if (leaf->made[h])
            continue;
        snprintf(leaf->rel[h], sizeof(leaf->rel[h]), "slot-%u/stage-%" PRIu64, leaf->slot, seq);
        r = leaf_mkdir(leaf, h, slot_rel);
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, h, reterr, "cgroup-create", r, NULL);
        leaf->made[h] = true;
        /* v1: the joining program writes "0" to `tasks`, not cgroup.procs. Moving one thread
         * that is `current` skips the global threadgroup rwsem, whose write side waits for an
         * RCU grace period: measured here, 2-20 ms per job across four hierarchies. The
         * program is single-threaded at that point, so the thread is the whole process. */
        r = sbx__cg_leaf_open(leaf, h, root->version == 1 ? "tasks" : "cgroup.procs", O_WRONLY,
                              &leaf->procs_fd[h]);
        if (r < 0)
            return sbx__cg_leaf_fail(leaf, h, reterr, "cgroup-open", r, "cgroup.procs");
        leaf->n_procs++;
    }
    return root->ops->leaf_setup(leaf, limits, reterr);
}

int sbx__cg_leaf_fail(const struct sbx_cgroup_leaf *leaf, size_t h, struct sbx_error *reterr,
                      const char *step, int err, const char *file)
{
    char path[sizeof(reterr->path)];

    snprintf(path, sizeof(path), "%s/boxes/%s%s%s", leaf->root->hier[h].dir, leaf->rel[h],
             file ? "/" : "", file ? file : "");
    return sbx__cg_fail(reterr, step, err, path);
}

int sbx__cgroup_leaf_create(struct sbx_cgroup_root *root, unsigned slot, uint64_t seq,
                            const struct sbx_cgroup_limits *limits, struct sbx_cgroup_leaf **ret,
                            struct sbx_error *reterr)
{
    _cleanup_(leaf_abandonp) struct sbx_cgroup_leaf *leaf = leaf_alloc(root, slot);
    int r;

    if (!leaf)
        return sbx__cg_fail(reterr, "cgroup-create", -ENOMEM, NULL);
    r = leaf_fill(leaf, seq, limits, reterr);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(leaf);
    return 0;
}

void sbx__cgroup_leaf_recycle(struct sbx_cgroup_leaf **leafp, struct sbx_cgroup_leaf **ret_spent)
{
    struct sbx_cgroup_leaf *leaf = *leafp, *spent;
    struct sbx_cgroup_root *root;
    bool keeps = false;

    *ret_spent = NULL;
    if (!leaf)
        return;
    root = leaf->root;
    for (size_t h = 0; h < root->n_hier; h++)
        keeps |= leaf->made[h] && !(root->stage_hiers & (1u << h));
    spent = keeps && root->ops->leaf_drop_hier ? leaf_alloc(root, leaf->slot) : NULL;
    if (!spent) { /* nothing to keep (v2), or no memory for the split: all of it is spent */
        *ret_spent = TAKE_PTR(*leafp);
        return;
    }
    for (size_t h = 0; h < root->n_hier; h++) {
        if (!leaf->made[h])
            continue;
        if (!(root->stage_hiers & (1u << h))) {
            leaf->kept[h] = true;
            continue;
        }
        root->ops->leaf_drop_hier(leaf, h);
        memcpy(spent->rel[h], leaf->rel[h], sizeof(spent->rel[h]));
        spent->made[h] = true;
        leaf->made[h] = false;
        spent->procs_fd[h] = TAKE_FD(leaf->procs_fd[h]);
        spent->n_procs++;
        leaf->n_procs--;
    }
    *ret_spent = spent;
}

int sbx__cgroup_leaf_refill(struct sbx_cgroup_leaf *leaf, uint64_t *seq, struct sbx_error *reterr)
{
    if (leaf->n_procs == leaf->root->n_hier)
        return 0;
    return leaf_fill(leaf, ++*seq, NULL, reterr);
}

int sbx__cgroup_leaf_set_limits(struct sbx_cgroup_leaf *leaf,
                                const struct sbx_cgroup_limits *limits, struct sbx_error *reterr)
{
    return leaf->root->ops->leaf_limits(leaf, limits, reterr);
}

size_t sbx__cgroup_leaf_procs_fds(const struct sbx_cgroup_leaf *leaf, const int **ret)
{
    *ret = leaf->procs_fd;
    return leaf->n_procs;
}

int sbx__cgroup_leaf_cpu_usec(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return leaf->root->ops->cpu_usec(leaf, ret);
}

bool sbx__cgroup_leaf_peak_is_sampled(const struct sbx_cgroup_leaf *leaf)
{
    return leaf->peak_sampled;
}

int sbx__cgroup_leaf_memory_peak(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return leaf->root->ops->memory_peak(leaf, ret);
}

int sbx__cgroup_leaf_oom_kills(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return leaf->root->ops->oom_kills(leaf, ret);
}

int sbx__cgroup_leaf_memory_limit_hits(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return leaf->root->ops->memory_limit_hits(leaf, ret);
}

int sbx__cgroup_leaf_pids_current(struct sbx_cgroup_leaf *leaf, uint64_t *ret)
{
    return sbx__cg_read_u64(leaf->pids_fd, ret);
}

int sbx__cgroup_leaf_kill(struct sbx_cgroup_leaf *leaf)
{
    return leaf->root->ops->kill(leaf);
}

/* Usually the box is gone already (its pid namespace died with the supervisor, or its stage
 * was reaped to the last process): the directories go at the first try, without listing,
 * killing or draining. rmdir of a cgroup that still holds a task fails with EBUSY, and then
 * the slow path kills and drains what is left; a directory removed meanwhile had nobody in it
 * (a task joins the hierarchies in order and cannot join a removed one). */
static bool leaf_destroy_fast(struct sbx_cgroup_leaf *leaf)
{
    return leaf_remove_dirs(leaf, now_usec()) >= 0;
}

int sbx__cgroup_leaf_destroy(struct sbx_cgroup_leaf *leaf)
{
    char procs[SBX_CG_REL_MAX + 16];
    usec_t deadline = now_usec() + SBX_CG_DRAIN_USEC;
    int r = 0, k;

    if (!leaf)
        return 0;
    if (!leaf_destroy_fast(leaf)) {
        (void)sbx__cgroup_leaf_kill(leaf);
        for (size_t h = 0; h < leaf->root->n_hier; h++) {
            if (!leaf->made[h])
                continue;
            snprintf(procs, sizeof(procs), "%s/cgroup.procs", leaf->rel[h]);
            k = drain(leaf->root->hier[h].boxes_fd, procs, deadline);
            if (k < 0 && r == 0)
                r = k;
        }
        /* A little past the drain deadline: an exiting task may hold the directory a moment. */
        k = leaf_remove_dirs(leaf, MAX(deadline, now_usec() + 100 * USEC_PER_MSEC));
        if (k < 0 && r == 0)
            r = k;
    }
    leaf_close_fds(leaf);
    free(leaf);
    return r;
}
