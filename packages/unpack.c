/* Safe extraction of a package archive through libarchive's reader. The writing is ours,
 * below a directory fd with openat(O_NOFOLLOW | O_EXCL): archive_write_disk works on paths
 * relative to the process's cwd, which a multi-threaded daemon cannot move, and the rules
 * below are stricter than its SECURE_* flags.
 *
 * Containment. Every directory on an entry's path is opened with O_NOFOLLOW, so nothing is
 * ever written through a symlink. A symlink target must be relative, may climb with leading
 * `..` no higher than the package root, and holds no `..` after its first other component
 * (`a/../..` would climb from wherever `a` points, not from where it stands). Hence every
 * symlink resolves inside the package, whichever others it passes through. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "packages.h"

#define MAX_COMPONENTS 256
#define READ_BLOCK (64 * 1024)

struct unpack {
    struct archive *a;
    int root_fd;
    const struct pkg_unpack_limits *limits;
    uint64_t bytes, entries;
    char **reterr;
};

static int refuse(struct unpack *u, int r, const char *fmt, ...) _printf_(3, 4);
static int refuse(struct unpack *u, int r, const char *fmt, ...)
{
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vasprintf(u->reterr, fmt, ap);
    va_end(ap);
    if (k < 0) {
        *u->reterr = NULL;
        return -ENOMEM;
    }
    return r;
}

/* Splits a relative name into components in place, dropping "." and empty ones. Returns the
 * count, -EPERM for an absolute name or a ".." component, -E2BIG for too many. */
static int split_name(char *name, char **comp)
{
    int n = 0;

    if (name[0] == '/')
        return -EPERM;
    for (char *save = NULL, *c = strtok_r(name, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0)
            return -EPERM;
        if (n == MAX_COMPONENTS)
            return -E2BIG;
        comp[n++] = c;
    }
    return n;
}

/* Opens the directory holding comp[n-1], creating missing directories when `create`. */
static int open_parent(struct unpack *u, char **comp, int n, bool create, const char *entry)
{
    _cleanup_close_ int fd = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);

    if (fd < 0)
        return -errno;
    for (int i = 0; i < n - 1; i++) {
        int next = openat(fd, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comp[i], 0755) < 0 && errno != EEXIST)
                return -errno;
            next = openat(fd, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next >= 0 && fchmod(next, 0755) < 0) { /* whatever the daemon's umask */
                int r = -errno;
                close(next);
                return r;
            }
        }
        if (next < 0 && (errno == ELOOP || errno == ENOTDIR))
            return refuse(u, -EPERM, "%s: path passes through a symlink or a file", entry);
        if (next < 0)
            return errno == ENOENT ? refuse(u, -EPERM, "%s: no such directory", entry) : -errno;
        safe_close(fd);
        fd = next;
    }
    return TAKE_FD(fd);
}

static int check_symlink_target(const char *target, int depth)
{
    _cleanup_free_ char *copy = strdup(target);
    bool descended = false;
    int climb = 0;

    if (!copy)
        return -ENOMEM;
    if (target[0] == '\0' || target[0] == '/')
        return -EPERM;
    for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") != 0) {
            descended = true;
            continue;
        }
        if (descended || ++climb > depth)
            return -EPERM;
    }
    return 0;
}

static int write_file(struct unpack *u, int dirfd, const char *last, struct archive_entry *e,
                      const char *entry)
{
    mode_t mode = (archive_entry_perm(e) & 0100) ? 0755 : 0644;
    _cleanup_close_ int fd = -1;
    char buf[READ_BLOCK];
    int r;

    if (archive_entry_size_is_set(e) &&
        (uint64_t)archive_entry_size(e) > u->limits->max_bytes - u->bytes)
        return refuse(u, -EFBIG, "unpacked size is over the limit of %llu bytes",
                      (unsigned long long)u->limits->max_bytes);
    fd = openat(dirfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return errno == EEXIST ? refuse(u, -EPERM, "%s: duplicate entry", entry) : -errno;
    for (;;) {
        la_ssize_t k = archive_read_data(u->a, buf, sizeof(buf));

        if (k == 0)
            break;
        if (k < 0)
            return refuse(u, -EBADMSG, "damaged archive: %s", archive_error_string(u->a));
        if ((uint64_t)k > u->limits->max_bytes - u->bytes)
            return refuse(u, -EFBIG, "unpacked size is over the limit of %llu bytes",
                          (unsigned long long)u->limits->max_bytes);
        u->bytes += (uint64_t)k;
        r = write_all(fd, buf, (size_t)k);
        if (r < 0)
            return r;
    }
    /* exact modes whatever the daemon's umask; the mtime keeps caches (.pyc) valid */
    if (fchmod(fd, mode) < 0)
        return -errno;
    struct timespec times[2] = {
        {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
        {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
    };
    (void)futimens(fd, times);
    return 0;
}

static int make_dir(struct unpack *u, int dirfd, const char *last, const char *entry)
{
    struct stat st;

    if (mkdirat(dirfd, last, 0755) < 0) {
        if (errno != EEXIST)
            return -errno;
        if (fstatat(dirfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        if (!S_ISDIR(st.st_mode))
            return refuse(u, -EPERM, "%s: duplicate entry", entry);
    }
    _cleanup_close_ int fd = openat(dirfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return fchmod(fd, 0755) < 0 ? -errno : 0;
}

static int make_hardlink(struct unpack *u, int dirfd, const char *last, const char *target,
                         const char *entry)
{
    _cleanup_free_ char *copy = strdup(target);
    _cleanup_close_ int tdir = -1;
    char *comp[MAX_COMPONENTS];
    struct stat st;
    int n;

    if (!copy)
        return -ENOMEM;
    n = split_name(copy, comp);
    if (n <= 0)
        return refuse(u, -EPERM, "%s: hard link target %s leaves the package", entry, target);
    tdir = open_parent(u, comp, n, false, entry);
    if (tdir < 0)
        return tdir;
    if (fstatat(tdir, comp[n - 1], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return refuse(u, -EPERM, "%s: hard link to %s, which is not a file extracted before", entry,
                      target);
    if (linkat(tdir, comp[n - 1], dirfd, last, 0) < 0)
        return errno == EEXIST ? refuse(u, -EPERM, "%s: duplicate entry", entry) : -errno;
    return 0;
}

static int extract_entry(struct unpack *u, struct archive_entry *e)
{
    const char *raw = archive_entry_pathname(e);
    _cleanup_free_ char *entry = raw ? strdup(raw) : NULL, *name = raw ? strdup(raw) : NULL;
    const char *hardlink = archive_entry_hardlink(e), *symlink = archive_entry_symlink(e);
    mode_t type = archive_entry_filetype(e);
    _cleanup_close_ int dirfd = -1;
    char *comp[MAX_COMPONENTS];
    int n;

    if (!raw)
        return refuse(u, -EPERM, "entry without a name");
    if (!entry || !name)
        return -ENOMEM;
    n = split_name(name, comp);
    if (n == -EPERM)
        return refuse(u, -EPERM, "%s: absolute name or `..` component", entry);
    if (n == -E2BIG)
        return refuse(u, -EPERM, "%s: too deep", entry);
    if (n == 0) /* "./": the package directory itself */
        return type == AE_IFDIR ? 0 : refuse(u, -EPERM, "%s: not a directory", entry);
    if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return refuse(u, -EPERM, "%s: device nodes, FIFOs and sockets are refused", entry);
    if (type == AE_IFLNK && (!symlink || check_symlink_target(symlink, n - 1) < 0))
        return refuse(u, -EPERM, "%s: symlink to %s leaves the package", entry,
                      symlink ? symlink : "(nothing)");
    dirfd = open_parent(u, comp, n, true, entry);
    if (dirfd < 0)
        return dirfd;
    if (hardlink)
        return make_hardlink(u, dirfd, comp[n - 1], hardlink, entry);
    if (type == AE_IFDIR)
        return make_dir(u, dirfd, comp[n - 1], entry);
    if (type == AE_IFLNK) {
        if (symlinkat(symlink, dirfd, comp[n - 1]) < 0)
            return errno == EEXIST ? refuse(u, -EPERM, "%s: duplicate entry", entry) : -errno;
        return 0;
    }
    return write_file(u, dirfd, comp[n - 1], e, entry);
}

static inline void archive_freep(struct archive **a)
{
    if (*a)
        (void)archive_read_free(*a);
}

int pkg_unpack_fd(int archive_fd, int dest_dirfd, const struct pkg_unpack_limits *limits,
                  char **reterr)
{
    _cleanup_(archive_freep) struct archive *a = archive_read_new();
    struct unpack u = {.a = a, .root_fd = dest_dirfd, .limits = limits, .reterr = reterr};
    struct archive_entry *e;
    int r;

    *reterr = NULL;
    if (!a)
        return -ENOMEM;
    /* tar (ustar, pax, GNU) only, and only filters built into the library: the *_all
     * variants may run external programs (lrzip, lzop, ...) from inside the daemon. */
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_filter_none(a) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(a) != ARCHIVE_OK)
        return refuse(&u, -EIO, "archive reader setup failed: %s", archive_error_string(a));
    (void)archive_read_support_filter_xz(a);
    (void)archive_read_support_filter_bzip2(a);
    (void)archive_read_support_filter_zstd(a);
    if (archive_read_open_fd(a, archive_fd, READ_BLOCK) != ARCHIVE_OK)
        return refuse(&u, -EBADMSG, "not a package archive: %s", archive_error_string(a));
    for (;;) {
        r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return refuse(&u, -EBADMSG, "damaged archive: %s", archive_error_string(a));
        if (++u.entries > limits->max_entries)
            return refuse(&u, -EFBIG, "archive has more than %llu entries",
                          (unsigned long long)limits->max_entries);
        r = extract_entry(&u, e);
        if (r < 0) {
            if (!*reterr)
                return refuse(&u, r, "%s: %s", archive_entry_pathname(e), strerror(-r));
            return r;
        }
    }
    return 0;
}
