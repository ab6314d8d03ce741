/* File locks that are not a channel between jobs.
 *
 * A lock lives on an inode (inode->i_flctx), and seccomp cannot tell which inode an fd refers
 * to, so locking is either allowed for every fd or for none. Allowing it is safe only if no
 * inode a box can lock is visible outside its slot: jobs of one slot run one after the other
 * and every process, hence every lock, dies with its box. What a box can reach, and how each
 * part is made the slot's own (facts checked on Linux 6.18, see README "Security"):
 *
 *   read-only binds (/usr, /lib*, the /etc template and its host dirs, package and prepared
 *   dirs): host inodes, and a bind shares the inode. In the slot's own mount namespace each is
 *   covered, at its host path, by a read-only overlayfs mount of itself: an overlay has inodes
 *   of its own (a lock taken through one overlay is invisible through another and on the
 *   host), while its pages are the lower file's. Made once per slot and path; a box then binds
 *   the overlay where it bound the host directory. Overlayfs needs two lower layers without an
 *   upper one: the second is an empty directory.
 *
 *   device nodes (/dev/null...): bound from the host's devtmpfs, shared and writable. The slot
 *   gets its own nodes (same device numbers) on a small tmpfs of its namespace, bound over the
 *   host paths there.
 *
 *   inodes no mount can replace: every eventfd, epoll, timerfd, signalfd and inotify fd of the
 *   whole system is the one anon_inode inode, and /proc/self/ns/{user,cgroup,time} (also
 *   reached with the NS_GET_USERNS ioctl) are nsfs inodes shared with the host. The daemon
 *   holds a shared flock and an OFD read lock over the whole range on each, for its lifetime
 *   (squat_global_inodes): then every lock request a box can make there has one fixed answer
 *   (shared: granted, exclusive or write: refused, F_GETLK: the daemon's lock, found first
 *   because it was set first), so nothing one box does can change what another sees.
 *
 *   /proc/locks lists OFD locks of every PID namespace, with inode and range: the box's copy
 *   is masked by /dev/null (context.c plans that mount).
 *
 * A box whose slot lacks any of this (no namespace of its own, a mount that failed, a path
 * overlayfs options cannot carry) gets the seccomp filter that denies locks (ENOLCK). The
 * mounts are made by the slot's thread in its own namespace; nothing here runs after clone. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"

/* A directory or device node of the host, covered in the slot's namespace by a private one. */
struct private_path {
    char *path;
    dev_t dev; /* st_dev of the private cover: a changed value means it is gone */
};

struct sbx_private {
    ino_t mntns;   /* the slot thread's own mount namespace */
    char *dir;     /* <slot dir>.private: tmpfs of that namespace (empty/, device nodes) */
    dev_t dir_dev; /* its st_dev */
    char *empty;   /* dir/empty: the second lower layer of every overlay */
    bool broken;   /* a cover failed: boxes of this slot keep locks denied */
    struct private_path *paths;
    size_t n, alloc;
};

/* ---- inodes shared by the whole host --------------------------------------------------- */

static int squat_one(int fd)
{
    struct flock whole = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

    /* Shared locks, not exclusive ones: a second daemon on the host takes the same, and a
     * box's shared request is granted whether or not another box holds one too. An OFD lock
     * (not a POSIX one) because the daemon closes other fds of these inodes all the time
     * (every eventfd is the anon inode), and a close drops the closer's POSIX locks. */
    if (flock(fd, LOCK_SH | LOCK_NB) < 0)
        return -errno;
    if (fcntl(fd, F_OFD_SETLK, &whole) < 0)
        return -errno;
    return 0;
}

int sbx__locks_squat(struct sbx_context *ctx)
{
    /* nsfs files of namespaces every box shares with the daemon; a box's pid, mount, ipc and
     * uts namespaces are its own, the network one the slot's (the host's with networking). */
    const char *const ns[] = {"user", "cgroup", "time", "time_for_children",
                              ctx->cfg.networking ? "net" : NULL};
    char path[64];
    int fd, r;

    ctx->n_squat_fds = 0;
    fd = eventfd(0, EFD_CLOEXEC); /* its inode is the anon inode of every such fd */
    if (fd < 0)
        return -errno;
    ctx->squat_fds[ctx->n_squat_fds++] = fd;
    r = squat_one(fd);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
        if (!ns[i])
            continue;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            continue; /* a kernel without time namespaces: no such inode to reach */
        if (fd < 0)
            return -errno;
        if (ctx->n_squat_fds == ARRAY_SIZE(ctx->squat_fds)) {
            close(fd);
            return -E2BIG;
        }
        ctx->squat_fds[ctx->n_squat_fds++] = fd;
        r = squat_one(fd);
        if (r < 0)
            return r;
    }
    ctx->locks_squatted = true;
    return 0;
}

void sbx__locks_unsquat(struct sbx_context *ctx)
{
    for (size_t i = 0; i < ctx->n_squat_fds; i++)
        close(ctx->squat_fds[i]);
    ctx->n_squat_fds = 0;
    ctx->locks_squatted = false;
}

/* ---- the slot's private covers ----------------------------------------------------------- */

static int current_mntns(ino_t *ret)
{
    struct stat st;

    if (stat("/proc/thread-self/ns/mnt", &st) < 0)
        return -errno;
    *ret = st.st_ino;
    return 0;
}

struct sbx_private *sbx__private_free(struct sbx_private *p)
{
    if (!p)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        free(p->paths[i].path);
    free(p->paths);
    free(p->dir);
    free(p->empty);
    free(p);
    return NULL;
}

/* The slot's tmpfs for device nodes and the empty layer. Not nodev: the nodes must open (a
 * bind keeps its source mount's flags). Nothing else may live there: noexec, nosuid, a few
 * inodes. It is mounted in this namespace only, on a directory of the daemon's run tmpfs. */
static int private_dir_mount(struct sbx_private *p)
{
    struct stat st;

    if (mkdir(p->dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (mount("capsule-slot-private", p->dir, "tmpfs", MS_NOSUID | MS_NOEXEC,
              "size=16k,nr_inodes=32,mode=0755") < 0)
        return -errno;
    if (mkdir(p->empty, 0555) < 0)
        return -errno;
    if (stat(p->dir, &st) < 0)
        return -errno;
    p->dir_dev = st.st_dev;
    return 0;
}

int sbx__slot_private_init(struct sbx_slot *slot)
{
    struct sbx_private *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return -ENOMEM;
    slot->priv = p;
    if (asprintf(&p->dir, "%s.private", slot->dir) < 0)
        p->dir = NULL;
    if (asprintf(&p->empty, "%s.private/empty", slot->dir) < 0)
        p->empty = NULL;
    if (!p->dir || !p->empty) {
        p->broken = true;
        return -ENOMEM;
    }
    r = current_mntns(&p->mntns);
    if (r >= 0)
        r = private_dir_mount(p);
    if (r < 0)
        p->broken = true;
    return r;
}

static struct private_path *private_find(struct sbx_private *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->paths[i].path, path) == 0)
            return &p->paths[i];
    return NULL;
}

static int private_record(struct sbx_private *p, const char *path, dev_t dev)
{
    struct private_path *e = private_find(p, path);

    if (!e) {
        if (p->n == p->alloc) {
            size_t alloc = p->alloc ? p->alloc * 2 : 16;
            struct private_path *v = realloc(p->paths, alloc * sizeof(*v));
            if (!v)
                return -ENOMEM;
            p->paths = v;
            p->alloc = alloc;
        }
        e = &p->paths[p->n];
        e->path = strdup(path);
        if (!e->path)
            return -ENOMEM;
        p->n++;
    }
    e->dev = dev;
    return 0;
}

/* Covered already, and the cover still there? An uninstalled package's directory takes the
 * mounts on it along when it is removed (the kernel detaches mounts on unlinked dentries in
 * every namespace); a directory made again at that path is bare. */
static bool private_covered(struct sbx_private *p, const char *path)
{
    struct private_path *e = private_find(p, path);
    struct stat st;

    return e && stat(path, &st) == 0 && st.st_dev == e->dev;
}

/* lowerdir= separates layers with ':' and options with ','; a backslash escapes. Such a path
 * (rare) is refused rather than escaped: its box keeps locks denied. */
static bool overlay_path_ok(const char *path)
{
    return path[0] == '/' && !strpbrk(path, ":,\\");
}

static int cover_dir(struct sbx_private *p, const char *path)
{
    char opts[PATH_MAX * 2 + 32];
    struct stat lower, st;

    if (private_covered(p, path))
        return 0;
    if (!overlay_path_ok(path) || !overlay_path_ok(p->empty))
        return -EINVAL;
    if (stat(path, &lower) < 0)
        return -errno;
    if (snprintf(opts, sizeof(opts), "lowerdir=%s:%s", path, p->empty) >= (int)sizeof(opts))
        return -ENAMETOOLONG;
    /* Read-only (no upper layer), nosuid, nodev like the binds made of it. The lower path is
     * resolved before the new mount covers it, so the overlay shows what the path showed. */
    if (mount("capsule-ro", path, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts) < 0)
        return -errno;
    if (stat(path, &st) < 0)
        return -errno;
    if (st.st_dev == lower.st_dev)
        return -EIO; /* nothing new at that path: not covered */
    return private_record(p, path, st.st_dev);
}

static int cover_device(struct sbx_private *p, const char *path)
{
    char node[PATH_MAX];
    const char *base = strrchr(path, '/');
    struct stat host, st;

    if (private_covered(p, path))
        return 0;
    if (!base || !base[1] || lstat(path, &host) < 0)
        return base ? -errno : -EINVAL;
    if (!S_ISCHR(host.st_mode))
        return -EINVAL; /* only device nodes are bound as files today */
    if (snprintf(node, sizeof(node), "%s/%s", p->dir, base + 1) >= (int)sizeof(node))
        return -ENAMETOOLONG;
    if (mknod(node, S_IFCHR | 0600, host.st_rdev) < 0 && errno != EEXIST)
        return -errno;
    /* same node as the host's: device numbers, owner and mode (mknod applied the umask) */
    if (lstat(node, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != host.st_rdev)
        return -EEXIST;
    if (chown(node, host.st_uid, host.st_gid) < 0 || chmod(node, host.st_mode & 07777) < 0)
        return -errno;
    if (mount(node, path, NULL, MS_BIND, NULL) < 0)
        return -errno;
    if (stat(path, &st) < 0)
        return -errno;
    if (st.st_dev != p->dir_dev)
        return -EIO;
    return private_record(p, path, st.st_dev);
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

int sbx__slot_private_plan(struct sbx_slot *slot, const struct sbx_mount_plan *plan)
{
    struct sbx_private *p = slot->priv;
    ino_t ns;
    int r = 0;

    if (!p || p->broken)
        return -ENOLCK;
    /* Covers made in another namespace (a caller that never entered the slot's thread, such
     * as a test building boxes of several slots from one thread) cover nothing here. */
    if (current_mntns(&ns) < 0 || ns != p->mntns)
        return -ENOLCK;
    for (size_t i = 0; i < plan->n && r >= 0; i++) {
        const struct sbx_mount_op *op = &plan->ops[i];
        switch (op->kind) {
        case SBX_MOUNT_MKDIR:
        case SBX_MOUNT_SYMLINK:
        case SBX_MOUNT_PROC:
            break; /* the box's own root tmpfs and procfs */
        case SBX_MOUNT_BIND_RW:
            /* the job tmpfs: the slot's own, emptied between jobs */
            if (!under(op->src, slot->dir))
                r = -ENOLCK;
            break;
        case SBX_MOUNT_BIND_RO:
            r = cover_dir(p, op->src);
            break;
        case SBX_MOUNT_BIND_FILE:
        case SBX_MOUNT_MASK:
            r = cover_device(p, op->src);
            break;
        }
    }
    /* A half-made cover stays mounted, harmless (read-only, same content); the slot simply
     * keeps locks denied from now on rather than retrying a failing mount for every box. */
    if (r < 0)
        p->broken = true;
    return r;
}
