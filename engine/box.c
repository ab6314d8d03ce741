/* The job's files: one tmpfs per slot on the slot directory, holding submission/, tmp/ and
 * shm/ (the box sees them as /box/submission, /tmp, /dev/shm), so one size and inode quota
 * covers all three. It lives as long as the slot's worker because the slot's next box is
 * built (and binds the three directories) before its job arrives; between jobs it is emptied
 * and the three directories get their owner, mode and extended attributes back, so nothing
 * of a job reaches the next. The daemon never follows a link in there: every open is
 * dirfd-relative with O_NOFOLLOW, every create O_EXCL, the walk that empties it too (Judge0's
 * CVE-2024-28185 was one open through a planted symlink). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"
#include "macro.h"
#include "strbuf.h"

static const char *const box_dirs[] = {"submission", "tmp", "shm"};
/* /tmp and /dev/shm are the box's own: sticky not needed, one uid uses them */
static const mode_t box_modes[] = {0755, 0700, 0700};

/* Returns an fd of the new directory. */
static int mkdir_owned(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
    _cleanup_close_ int fd = -1;

    if (mkdirat(dirfd, name, mode) < 0)
        return -errno;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* fchown/fchmod on the fd: the mode is exact whatever the umask */
    if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
        return -errno;
    return TAKE_FD(fd);
}

int eng__box_open(struct sbx_slot *slot, uint64_t size, uint64_t inodes, struct eng_box *ret)
{
    const char *dir = sbx_slot_dir(slot);
    uid_t uid = sbx_slot_uid(slot);
    gid_t gid = sbx_slot_gid(slot);
    char opts[128];
    int fd, r;

    *ret = (struct eng_box){.slot = slot, .dirfd = -1, .sub_fd = {-1, -1, -1}};
    snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu,mode=0755", (unsigned long long)size,
             (unsigned long long)inodes);
    if (mount("capsule-job", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return -errno;
    ret->mounted = true;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        eng__box_close(ret);
        return r;
    }
    ret->dirfd = fd;
    /* Their fds are kept for the tmpfs's life: only root may rename or remove what its root
     * (0755, root's) holds, so they name the same three directories job after job. */
    for (size_t i = 0; i < ARRAY_SIZE(box_dirs); i++) {
        r = mkdir_owned(fd, box_dirs[i], box_modes[i], uid, gid);
        if (r < 0) {
            eng__box_close(ret);
            return r;
        }
        ret->sub_fd[i] = r;
    }
    return 0;
}

/* Creates the parent directories of `name` below dirfd (mode 0700, slot-owned) and returns
 * an fd of the innermost one; *base points at the last component. */
static int open_parent(int dirfd, char *name, uid_t uid, gid_t gid, const char **base)
{
    _cleanup_close_ int cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    char *component = name;
    int r;

    if (cur < 0)
        return -errno;
    for (char *slash; (slash = strchr(component, '/')); component = slash + 1) {
        int next;
        *slash = '\0';
        r = mkdir_owned(cur, component, 0700, uid, gid);
        if (r < 0 && r != -EEXIST)
            return r;
        next = openat(cur, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        *slash = '/';
        if (next < 0)
            return -errno;
        safe_close(cur);
        cur = next;
    }
    *base = component;
    return TAKE_FD(cur);
}

static int write_one(int subfd, const struct eng_file *f, uid_t uid, gid_t gid)
{
    _cleanup_free_ char *name = strdup(f->name);
    _cleanup_close_ int parent = -1;
    const char *base = NULL;
    int fd, r;

    if (!name)
        return -ENOMEM;
    if (strchr(name, '/')) {
        parent = open_parent(subfd, name, uid, gid, &base);
        if (parent < 0)
            return parent;
    } else {
        base = name;
    }
    sbx_file_write_lock();
    fd = openat(parent >= 0 ? parent : subfd, base,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        r = -errno;
    else if (fchown(fd, uid, gid) < 0)
        r = -errno;
    else
        r = write_all(fd, f->content, f->len);
    fd = safe_close(fd);
    sbx_file_write_unlock();
    return r;
}

int eng__box_write_files(struct eng_box *box, const struct eng_file *files, size_t n)
{
    int r;

    for (size_t i = 0; i < n; i++) {
        r = write_one(box->sub_fd[0], &files[i], sbx_slot_uid(box->slot), sbx_slot_gid(box->slot));
        if (r < 0)
            return r;
    }
    return 0;
}

/* Deletes every non-directory entry of dirfd; *ret_sub gets the name of one subdirectory
 * left (malloc'd), or NULL when dirfd holds nothing more. */
static int sweep_dir(int dirfd, char **ret_sub)
{
    /* getdents64 on dirfd itself from its start: no duplicate fd, no DIR to set up */
    char buf[4096] __attribute__((aligned(8)));
    ssize_t n = 0;
    int r = 0;

    *ret_sub = NULL;
    if (lseek(dirfd, 0, SEEK_SET) < 0)
        return -errno;
    while (r >= 0 && (n = getdents64(dirfd, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n && r >= 0;) {
            const struct dirent64 *de = (const struct dirent64 *)(void *)(buf + off);
            off += de->d_reclen;
            if (dot_or_dotdot(de->d_name))
                continue;
            if (de->d_type != DT_DIR && (unlinkat(dirfd, de->d_name, 0) == 0 || errno == ENOENT))
                continue;
            if (de->d_type != DT_DIR && errno != EISDIR)
                r = -errno;
            else if (!*ret_sub && !(*ret_sub = strdup(de->d_name)))
                r = -ENOMEM;
        }
    }
    if (n < 0 && r >= 0)
        r = -errno;
    if (r < 0) {
        free(*ret_sub);
        *ret_sub = NULL;
    }
    return r;
}

/* Removes everything below dirfd without following links and with two fds at most, however
 * deep the tree (a job may nest thousands of directories; one fd per level would exhaust the
 * daemon's descriptors). It goes down by name and back up through "..": every box process
 * is dead, so nothing moves meanwhile. The names on the way down are the only state. */
static int remove_contents(int dirfd)
{
    int fd = dirfd;           /* ours to close once it is not dirfd */
    struct strbuf path = {0}; /* NUL-separated names from dirfd down to fd */
    size_t depth = 0;
    int r = 0;

    while (r >= 0) {
        _cleanup_free_ char *sub = NULL;
        r = sweep_dir(fd, &sub);
        if (r < 0)
            break;
        if (sub) { /* go down */
            int child = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0 || strbuf_append(&path, sub, strlen(sub) + 1) < 0) {
                r = child < 0 ? -errno : -ENOMEM;
                safe_close(child);
                break;
            }
            if (fd != dirfd)
                safe_close(fd);
            fd = child;
            depth++;
            continue;
        }
        if (depth == 0)
            break; /* dirfd itself is empty now */
        /* go up and remove the directory just emptied */
        int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent < 0) {
            r = -errno;
            break;
        }
        if (fd != dirfd)
            safe_close(fd);
        fd = parent;
        path.len--; /* drop the terminating NUL, then find the start of the last name */
        while (path.len > 0 && path.data[path.len - 1] != '\0')
            path.len--;
        if (unlinkat(fd, path.data + path.len, AT_REMOVEDIR) < 0)
            r = -errno;
        depth--;
    }
    if (fd != dirfd)
        safe_close(fd);
    strbuf_done(&path);
    return r;
}

/* The job's program owned the directory: it may have changed its mode, or left ACLs (a
 * default ACL is inherited by the next job's files) or user xattrs on it. */
static int reset_dir(int fd, mode_t mode, uid_t uid, gid_t gid)
{
    char names[4096];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) < 0)
        return -errno;
    if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)
        return -errno;
    if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
        return -errno;
    n = flistxattr(fd, names, sizeof(names));
    if (n < 0)
        return errno == ENOTSUP ? 0 : -errno;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
        if (fremovexattr(fd, names + i) < 0 && errno != ENODATA)
            return -errno;
    return 0;
}

/* Empties box_dirs[first...] and, with `reset`, gives them back owner, mode and xattrs. */
static int empty_dirs(struct eng_box *box, size_t first, bool reset)
{
    for (size_t i = first; i < ARRAY_SIZE(box_dirs); i++) {
        int fd = box->sub_fd[i], r;
        r = remove_contents(fd);
        if (r >= 0 && reset)
            r = reset_dir(fd, box_modes[i], sbx_slot_uid(box->slot), sbx_slot_gid(box->slot));
        if (r < 0)
            return r;
    }
    return 0;
}

int eng__box_reset_scratch(struct eng_box *box)
{
    return empty_dirs(box, 1, false); /* tmp/ and shm/ */
}

int eng__box_recycle(struct eng_box *box)
{
    return empty_dirs(box, 0, true);
}

void eng__box_close(struct eng_box *box)
{
    for (size_t i = 0; i < ARRAY_SIZE(box->sub_fd); i++)
        box->sub_fd[i] = safe_close(box->sub_fd[i]);
    box->dirfd = safe_close(box->dirfd);
    if (box->mounted)
        (void)umount2(sbx_slot_dir(box->slot), MNT_DETACH);
    box->mounted = false;
}
