/* Startup of the sandbox layer: everything that can happen once per daemon or once per slot
 * happens here, before any other thread exists (unshare and setns change only the calling
 * thread, and the per-slot network namespaces are made by switching this one). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"
#include "macro.h"

/* Host directories a toolchain needs, bound read-only at the same path; where the host
 * merged them into /usr they are symlinks and are recreated as such. */
static const char *const toolchain_dirs[] = {"/usr",   "/bin",   "/sbin",  "/lib",
                                             "/lib32", "/lib64", "/libx32"};

/* The box /etc is generated, not the host's. Host entries copied or bound in, and why:
 *   ld.so.cache      the dynamic loader finds libraries without scanning every directory;
 *   alternatives/    /usr/bin/java and friends are symlinks through it;
 *   java-*           the JDK's conf/ and security/ files live there (a JVM won't start without);
 *   localtime        programs print local time as the host does. */
static const char *const etc_copied_files[] = {"ld.so.cache"};
static const char *const etc_bound_dirs[] = {"alternatives", "java-*"};
static const char *const etc_copied_links[] = {"localtime"};

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom"};

void sbx__set_error(struct sbx_error *e, const char *step, int err, const char *path)
{
    if (!e)
        return;
    e->step = step;
    e->err = err;
    /* a path longer than the record is cut: it only names the culprit in a log line */
    size_t n = path ? strnlen(path, sizeof(e->path) - 1) : 0;
    memcpy(e->path, path ? path : "", n);
    e->path[n] = '\0';
}

static int mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *copy = strdup(path);

    if (!copy)
        return -ENOMEM;
    for (char *p = strchr(copy + 1, '/');; p = strchr(p + 1, '/')) {
        if (p)
            *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return -errno;
        if (!p)
            return 0;
        *p = '/';
    }
}

static int write_file(const char *dir, const char *name, const char *content, size_t len)
{
    _cleanup_close_ int dfd = open(dir, O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int fd = -1;

    if (dfd < 0)
        return -errno;
    fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    return write_all(fd, content, len);
}

/* passwd/group name every slot uid (Java and Python look the user up; HOME is /tmp). */
static int write_identity(const struct sbx_context *ctx)
{
    struct strbuf pw = {0}, gr = {0};
    char line[256];
    int r = 0;

    (void)strbuf_append_str(&pw, "root:x:0:0:root:/root:/usr/sbin/nologin\n");
    (void)strbuf_append_str(&gr, "root:x:0:\n");
    for (unsigned i = 0; i < ctx->n_slots && r >= 0; i++) {
        snprintf(line, sizeof(line), "runner%u:x:%u:%u:runner:/tmp:/bin/bash\n", i,
                 (unsigned)ctx->slots[i].uid, (unsigned)ctx->slots[i].gid);
        r = strbuf_append_str(&pw, line);
        snprintf(line, sizeof(line), "runner%u:x:%u:\n", i, (unsigned)ctx->slots[i].gid);
        if (r >= 0)
            r = strbuf_append_str(&gr, line);
    }
    if (r >= 0 && (!pw.data || !gr.data))
        r = -ENOMEM;
    if (r >= 0)
        r = write_file(ctx->etc_dir, "passwd", pw.data, pw.len);
    if (r >= 0)
        r = write_file(ctx->etc_dir, "group", gr.data, gr.len);
    strbuf_done(&pw);
    strbuf_done(&gr);
    return r;
}

static int prepare_etc(struct sbx_context *ctx)
{
    static const char hosts[] = "127.0.0.1 localhost\n::1 localhost\n";
    char target[PATH_MAX];
    int r;

    if (mkdir(ctx->etc_dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    r = write_identity(ctx);
    if (r < 0)
        return r;
    r = write_file(ctx->etc_dir, "hosts", hosts, sizeof(hosts) - 1);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(etc_copied_files); i++) {
        _cleanup_free_ char *text = NULL, *src = NULL;
        size_t len;
        if (asprintf(&src, "/etc/%s", etc_copied_files[i]) < 0)
            return -ENOMEM;
        if (read_file_at(AT_FDCWD, src, 64 << 20, &text, &len) < 0)
            continue; /* optional on the host */
        r = write_file(ctx->etc_dir, etc_copied_files[i], text, len);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < ARRAY_SIZE(etc_copied_links); i++) {
        _cleanup_free_ char *src = NULL, *dst = NULL;
        ssize_t n;
        if (asprintf(&src, "/etc/%s", etc_copied_links[i]) < 0 ||
            asprintf(&dst, "%s/%s", ctx->etc_dir, etc_copied_links[i]) < 0)
            return -ENOMEM;
        n = readlink(src, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (symlink(target, dst) < 0 && errno != EEXIST)
            return -errno;
    }
    return 0;
}

/* /etc template bind plus a bind of each allowlisted host /etc directory onto its
 * (empty) mount point in the template. */
static int plan_etc(struct sbx_context *ctx, struct sbx_mount_plan *plan)
{
    const char *root = ctx->box_root;
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *de;
    int r;

    r = sbx__mount_plan_add(plan, SBX_MOUNT_BIND_RO, ctx->etc_dir, root, "/etc");
    if (r < 0)
        return r;
    d = opendir("/etc");
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        char host[PATH_MAX], box[PATH_MAX];
        struct stat st;
        bool wanted = false;
        for (size_t i = 0; i < ARRAY_SIZE(etc_bound_dirs); i++)
            wanted |= fnmatch(etc_bound_dirs[i], de->d_name, 0) == 0;
        snprintf(host, sizeof(host), "/etc/%s", de->d_name);
        if (!wanted || lstat(host, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        snprintf(box, sizeof(box), "%s/%s", ctx->etc_dir, de->d_name);
        if (mkdir(box, 0755) < 0 && errno != EEXIST)
            return -errno;
        r = sbx__mount_plan_add(plan, SBX_MOUNT_BIND_RO, host, root, host);
        if (r < 0)
            return r;
    }
    return 0;
}

static int plan_toolchains(struct sbx_context *ctx, struct sbx_mount_plan *plan)
{
    const char *root = ctx->box_root;
    char target[PATH_MAX];
    struct stat st;
    int r = 0;

    for (size_t i = 0; i < ARRAY_SIZE(toolchain_dirs) && r >= 0; i++) {
        if (lstat(toolchain_dirs[i], &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(toolchain_dirs[i], target, sizeof(target) - 1);
            if (n < 0)
                return -errno;
            target[n] = '\0';
            r = sbx__mount_plan_add(plan, SBX_MOUNT_SYMLINK, target, root, toolchain_dirs[i]);
        } else if (S_ISDIR(st.st_mode)) {
            r = sbx__mount_plan_add(plan, SBX_MOUNT_BIND_RO, toolchain_dirs[i], root,
                                    toolchain_dirs[i]);
        }
    }
    return r;
}

static int plan_devices(struct sbx_context *ctx, struct sbx_mount_plan *plan, const char *slot)
{
    static const char *const links[][2] = {{"/proc/self/fd", "/dev/fd"},
                                           {"/proc/self/fd/0", "/dev/stdin"},
                                           {"/proc/self/fd/1", "/dev/stdout"},
                                           {"/proc/self/fd/2", "/dev/stderr"}};
    const char *root = ctx->box_root;
    char src[PATH_MAX], dst[64];
    int r;

    r = sbx__mount_plan_add(plan, SBX_MOUNT_MKDIR, NULL, root, "/dev");
    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes) && r >= 0; i++) {
        snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i]);
        snprintf(dst, sizeof(dst), "/dev/%s", dev_nodes[i]);
        r = sbx__mount_plan_add(plan, SBX_MOUNT_BIND_FILE, src, root, dst);
    }
    for (size_t i = 0; i < ARRAY_SIZE(links) && r >= 0; i++)
        r = sbx__mount_plan_add(plan, SBX_MOUNT_SYMLINK, links[i][0], root, links[i][1]);
    snprintf(src, sizeof(src), "%s/shm", slot);
    if (r >= 0)
        r = sbx__mount_plan_add(plan, SBX_MOUNT_BIND_RW, src, root, "/dev/shm");
    return r;
}

static int plan_slot(struct sbx_context *ctx, struct sbx_slot *slot)
{
    const char *root = ctx->box_root;
    struct sbx_mount_plan *plan = &slot->plan;
    char src[PATH_MAX];
    int r;

    r = plan_toolchains(ctx, plan);
    if (r >= 0)
        r = plan_etc(ctx, plan);
    if (r >= 0)
        r = plan_devices(ctx, plan, slot->dir);
    if (r >= 0)
        r = sbx__mount_plan_add(plan, SBX_MOUNT_PROC, NULL, root, "/proc");
    /* /proc/locks lists the OFD locks of every PID namespace, inode and range included: a
     * channel between boxes once locks are allowed. /dev/null reads as an empty list. */
    if (r >= 0)
        r = sbx__mount_plan_add(plan, SBX_MOUNT_MASK, "/dev/null", root, "/proc/locks");
    if (r >= 0)
        r = sbx__mount_plan_add(plan, SBX_MOUNT_MKDIR, NULL, root, "/box");
    snprintf(src, sizeof(src), "%s/submission", slot->dir);
    if (r >= 0)
        r = sbx__mount_plan_add(plan, SBX_MOUNT_BIND_RW, src, root, "/box/submission");
    snprintf(src, sizeof(src), "%s/tmp", slot->dir);
    if (r >= 0)
        r = sbx__mount_plan_add(plan, SBX_MOUNT_BIND_RW, src, root, "/tmp");
    return r;
}

static int setup_run_dir(struct sbx_context *ctx)
{
    int r = mkdir_p(ctx->run_dir, 0755);

    if (r < 0)
        return r;
    /* A tmpfs of our own on the run directory: slot mount points, the /etc template and box
     * root live in the daemon's private mount namespace and vanish with it, even on kill -9. */
    if (mount("capsule-run", ctx->run_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=64m,mode=0755") < 0)
        return -errno;
    if (mkdir(ctx->box_root, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* The helper runs as root before any isolation is complete: it must be root's own file,
 * writable by nobody else, as the daemon's binary is. */
static int open_helper_at(const char *path, int *ret)
{
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        safe_close(fd);
        return -errno;
    }
    if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR)) {
        safe_close(fd);
        return -ENOEXEC;
    }
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        safe_close(fd);
        return -EPERM;
    }
    *ret = fd;
    return 0;
}

static int open_helper(struct sbx_context *ctx, struct sbx_error *reterr)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n;
    char *slash;
    int r;

    if (ctx->cfg.box_helper) {
        snprintf(path, sizeof(path), "%s", ctx->cfg.box_helper);
        r = open_helper_at(path, &ctx->helper_fd);
        goto out;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0) {
        sbx__set_error(reterr, "box-helper", -errno, "/proc/self/exe");
        return -errno;
    }
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(path, sizeof(path), "%s/capsule-box", exe);
    r = open_helper_at(path, &ctx->helper_fd);
    if (r != -ENOENT)
        goto out;
    snprintf(path, sizeof(path), "%s/../libexec/capsule/capsule-box", exe);
    r = open_helper_at(path, &ctx->helper_fd);
out:
    if (r >= 0 && !(ctx->helper_path = strdup(path)))
        r = -ENOMEM;
    if (r < 0)
        sbx__set_error(reterr, "box-helper", r, path);
    return r;
}

static int setup_slots(struct sbx_context *ctx, struct sbx_error *reterr)
{
    ctx->host_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ctx->host_netns_fd < 0)
        return -errno;
    ctx->slots = calloc(ctx->n_slots, sizeof(*ctx->slots));
    if (!ctx->slots)
        return -ENOMEM;
    /* all of them first: teardown closes only what was opened, set up or not */
    for (unsigned i = 0; i < ctx->n_slots; i++) {
        ctx->slots[i] = (struct sbx_slot){.ctx = ctx,
                                          .index = i,
                                          .netns_fd = -1,
                                          .sockstat_fd = -1,
                                          .abort_fd = -1,
                                          .uid = ctx->cfg.uid_base + i,
                                          .gid = ctx->cfg.gid_base + i};
        for (size_t t = 0; t < SBX_TEMPLATES_MAX; t++)
            ctx->slots[i].templates[t].mntns_fd = ctx->slots[i].templates[t].root_fd = -1;
    }
    for (unsigned i = 0; i < ctx->n_slots; i++) {
        struct sbx_slot *s = &ctx->slots[i];
        if (asprintf(&s->dir, "%s/slot-%u", ctx->run_dir, i) < 0)
            return -ENOMEM;
        s->abort_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->abort_fd < 0)
            return -errno;
        if (mkdir(s->dir, 0755) < 0 && errno != EEXIST) {
            int r = -errno;
            sbx__set_error(reterr, "slot-dir", r, s->dir);
            return r;
        }
        if (!ctx->cfg.networking) {
            int r = sbx__netns_make(ctx->host_netns_fd, &s->netns_fd, &s->sockstat_fd);
            if (r < 0) {
                sbx__set_error(reterr, "netns", r, NULL);
                return r;
            }
        }
    }
    return 0;
}

/* Two daemons of one instance would share cgroups and run directory, and the second's
 * startup cleanup would kill the first one's boxes: the first holds a lock on the host's
 * <run_dir>.lock for its lifetime (the kernel drops it when the daemon dies, however). */
static int lock_instance(struct sbx_context *ctx, struct sbx_error *reterr)
{
    char *slash;
    int r;

    if (asprintf(&ctx->lock_path, "%s.lock", ctx->run_dir) < 0) {
        ctx->lock_path = NULL;
        return -ENOMEM;
    }
    slash = strrchr(ctx->lock_path, '/');
    if (slash && slash != ctx->lock_path) {
        *slash = '\0';
        r = mkdir_p(ctx->lock_path, 0755);
        *slash = '/';
        if (r < 0) {
            sbx__set_error(reterr, "instance-lock", r, ctx->lock_path);
            return r;
        }
    }
    /* The holder unlinks the file when it stops (so /run does not collect one per instance
     * ever run): a lock taken on a file unlinked meanwhile is retried on the new one. */
    for (unsigned attempt = 0;; attempt++) {
        struct stat held, now;
        ctx->lock_fd = open(ctx->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (ctx->lock_fd < 0) {
            r = -errno;
            sbx__set_error(reterr, "instance-lock", r, ctx->lock_path);
            return r;
        }
        if (flock(ctx->lock_fd, LOCK_EX | LOCK_NB) < 0) {
            r = errno == EWOULDBLOCK ? -EBUSY : -errno;
            sbx__set_error(reterr, "instance-lock (another capsuled runs this instance)", r,
                           ctx->lock_path);
            return r;
        }
        if (fstat(ctx->lock_fd, &held) == 0 && lstat(ctx->lock_path, &now) == 0 &&
            held.st_dev == now.st_dev && held.st_ino == now.st_ino)
            break;
        ctx->lock_fd = safe_close(ctx->lock_fd);
        if (attempt == 8) {
            sbx__set_error(reterr, "instance-lock", -EAGAIN, ctx->lock_path);
            return -EAGAIN;
        }
    }
    ctx->lock_held = true;
    return 0;
}

static int context_init(struct sbx_context *ctx, struct sbx_error *reterr)
{
    struct sbx_cgroup_paths paths = {
        .mountinfo = ctx->cfg.mountinfo_path ? ctx->cfg.mountinfo_path : "/proc/self/mountinfo",
        .proc_cgroup = ctx->cfg.proc_cgroup_path ? ctx->cfg.proc_cgroup_path : "/proc/self/cgroup",
        .path_prefix = "",
    };
    int r;

    r = lock_instance(ctx, reterr);
    if (r < 0)
        return r;
    /* Before the private namespace: a path from /proc/self/exe read in there is the old
     * namespace's (under a chroot, one this process cannot reach). */
    r = open_helper(ctx, reterr);
    if (r < 0)
        return r;
    /* A private mount namespace for the daemon: job mounts never show on the host, and
     * MS_SLAVE still lets host mounts (a new toolchain) propagate in. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
        sbx__set_error(reterr, "mount-namespace", -errno, NULL);
        return -errno;
    }
    r = setup_run_dir(ctx);
    if (r < 0) {
        sbx__set_error(reterr, "run-dir", r, ctx->run_dir);
        return r;
    }
    r = setup_slots(ctx, reterr);
    if (r < 0)
        return r;
    r = sbx__cgroup_root_open(&paths, ctx->instance, &ctx->cgroup, reterr);
    if (r < 0)
        return r;
    r = sbx__seccomp_build(false, &ctx->bpf);
    if (r >= 0)
        r = sbx__seccomp_build(true, &ctx->bpf_deny_locks);
    if (r < 0) {
        sbx__set_error(reterr, "seccomp", r, NULL);
        return r;
    }
    ctx->seccomp_prog = (struct sock_fprog){.len = ctx->bpf.len, .filter = ctx->bpf.insns};
    ctx->seccomp_prog_deny_locks =
        (struct sock_fprog){.len = ctx->bpf_deny_locks.len, .filter = ctx->bpf_deny_locks.insns};
    /* Not fatal: without the squat every box simply keeps locks denied. */
    if (sbx__locks_squat(ctx) < 0)
        sbx__locks_unsquat(ctx);
    r = prepare_etc(ctx);
    if (r < 0) {
        sbx__set_error(reterr, "etc", r, ctx->etc_dir);
        return r;
    }
    for (unsigned i = 0; i < ctx->n_slots; i++) {
        r = plan_slot(ctx, &ctx->slots[i]);
        if (r < 0) {
            sbx__set_error(reterr, "mount-plan", r, NULL);
            return r;
        }
    }
    return 0;
}

int sbx_context_new(const struct sbx_config *cfg, struct sbx_context **ret,
                    struct sbx_error *reterr)
{
    struct sbx_context *ctx;
    int r;

    if (cfg->n_slots == 0 || !cfg->instance || !cfg->run_dir)
        return -EINVAL;
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -ENOMEM;
    ctx->cfg = *cfg;
    ctx->lock_fd = -1;
    ctx->host_netns_fd = -1;
    ctx->helper_fd = -1;
    ctx->template_max_age_usec = SBX_TEMPLATE_MAX_AGE_USEC;
    ctx->n_slots = cfg->n_slots;
    ctx->instance = strdup(cfg->instance);
    ctx->run_dir = strdup(cfg->run_dir);
    if (!ctx->instance || !ctx->run_dir || asprintf(&ctx->box_root, "%s/root", cfg->run_dir) < 0 ||
        asprintf(&ctx->etc_dir, "%s/etc", cfg->run_dir) < 0) {
        sbx_context_free(ctx);
        return -ENOMEM;
    }
    ctx->cfg.instance = ctx->instance;
    ctx->cfg.run_dir = ctx->run_dir;
    r = context_init(ctx, reterr);
    /* the caller's cgroupfs paths are only used during init, not kept */
    ctx->cfg.mountinfo_path = ctx->cfg.proc_cgroup_path = NULL;
    if (r < 0) {
        sbx_context_free(ctx);
        return r;
    }
    *ret = ctx;
    return 0;
}

struct sbx_context *sbx_context_free(struct sbx_context *ctx)
{
    if (!ctx)
        return NULL;
    for (unsigned i = 0; ctx->slots && ctx->cgroup && i < ctx->n_slots; i++)
        sbx__slot_release(&ctx->slots[i]);
    ctx->cgroup = sbx__cgroup_root_free(ctx->cgroup);
    for (unsigned i = 0; ctx->slots && i < ctx->n_slots; i++) {
        safe_close(ctx->slots[i].netns_fd);
        safe_close(ctx->slots[i].sockstat_fd);
        safe_close(ctx->slots[i].abort_fd);
        free(ctx->slots[i].dir);
        sbx__mount_plan_done(&ctx->slots[i].plan);
        ctx->slots[i].priv = sbx__private_free(ctx->slots[i].priv);
    }
    free(ctx->slots);
    sbx__seccomp_done(&ctx->bpf);
    sbx__seccomp_done(&ctx->bpf_deny_locks);
    sbx__locks_unsquat(ctx);
    if (ctx->run_dir && umount2(ctx->run_dir, MNT_DETACH) >= 0)
        (void)rmdir(ctx->run_dir); /* the empty mount point is all the host ever saw */
    if (ctx->lock_held)
        (void)unlink(ctx->lock_path); /* still holding the lock: see lock_instance() */
    safe_close(ctx->lock_fd);
    safe_close(ctx->host_netns_fd);
    safe_close(ctx->helper_fd);
    free(ctx->helper_path);
    free(ctx->lock_path);
    free(ctx->box_root);
    free(ctx->etc_dir);
    free(ctx->run_dir);
    free(ctx->instance);
    free(ctx);
    return NULL;
}

const char *sbx_context_box_helper(const struct sbx_context *ctx)
{
    return ctx->helper_path;
}

int sbx_context_cgroup_version(const struct sbx_context *ctx)
{
    return sbx__cgroup_root_version(ctx->cgroup);
}

unsigned sbx_context_slot_count(const struct sbx_context *ctx)
{
    return ctx->n_slots;
}

struct sbx_slot *sbx_context_slot(struct sbx_context *ctx, unsigned index)
{
    return index < ctx->n_slots ? &ctx->slots[index] : NULL;
}

unsigned sbx_slot_index(const struct sbx_slot *slot)
{
    return slot->index;
}

unsigned sbx_slot_boxes_built(const struct sbx_slot *slot)
{
    return atomic_load_explicit(&slot->boxes_built, memory_order_relaxed);
}

uid_t sbx_slot_uid(const struct sbx_slot *slot)
{
    return slot->uid;
}

gid_t sbx_slot_gid(const struct sbx_slot *slot)
{
    return slot->gid;
}

void sbx_slot_abort(struct sbx_slot *slot)
{
    uint64_t one = 1;

    slot->aborted = true;
    (void)!write(slot->abort_fd, &one, sizeof(one));
}

int sbx_slot_enter_thread(struct sbx_slot *slot)
{
    /* CLONE_FS first: a mount namespace cannot change under a shared fs_struct, and the
     * thread's own copy is the one thing a thread may unshare in a threaded process. The
     * copy keeps the daemon's propagation (slave of the host), so host mounts still show. */
    if (unshare(CLONE_FS | CLONE_NEWNS) < 0)
        return -errno;
    /* no descriptor kept: sbx_slot_join opens the namespace through the thread's tid */
    struct stat st;
    slot->thread_tid = gettid();
    slot->mntns_ino = stat("/proc/thread-self/ns/mnt", &st) == 0 ? st.st_ino : 0;
    /* The namespace holds the slot's private inodes too; failing that, locks stay denied. */
    if (!slot->priv)
        (void)sbx__slot_private_init(slot);
    return 0;
}

/* The slot a joining thread's mount namespace is now, so a thread that serves one slot job
 * after job enters its namespace once. */
static _Thread_local ino_t joined_mntns; /* the thread holds it: no other namespace has it */
static _Thread_local bool fs_unshared;

int sbx_slot_join(struct sbx_slot *slot)
{
    char path[64];
    struct stat st;
    int fd, r = 0;

    if (slot->mntns_ino && joined_mntns == slot->mntns_ino)
        return 0;
    if (!slot->mntns_ino)
        return -ENOENT; /* the slot's thread has no namespace of its own: it runs the jobs */
    /* a mount namespace cannot change under a shared fs_struct (as in enter_thread) */
    if (!fs_unshared) {
        if (unshare(CLONE_FS) < 0)
            return -errno;
        fs_unshared = true;
    }
    snprintf(path, sizeof(path), "/proc/self/task/%d/ns/mnt", (int)slot->thread_tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* the inode proves it is still the slot thread's namespace (a tid can be reused) */
    if (fstat(fd, &st) < 0)
        r = -errno;
    else if (st.st_ino != slot->mntns_ino)
        r = -ESRCH;
    else if (setns(fd, CLONE_NEWNS) < 0)
        r = -errno;
    close(fd);
    if (r >= 0)
        joined_mntns = slot->mntns_ino;
    return r;
}

const char *sbx_slot_dir(const struct sbx_slot *slot)
{
    return slot->dir;
}
