/* The install protocol under <data>/packages (layout: packages.h). Each step's crash leaves
 * only hidden names tagged with our instance, which pkg_store_cleanup() removes at the next
 * start; the one visible step is the final symlinkat(), atomic and never replacing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errmsg.h"
#include "fd-util.h"
#include "macro.h"
#include "packages.h"

#define MARKER ".ppman-installed"
#define DOTENV ".env"
/* Kinds of hidden names: .<version>.<kind>-<instance>-<token> */
static const char *const hidden_kinds[] = {"download", "tmp", "pkg"};

static inline void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

static int mkdir_0755(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* <data>/packages/<name>, created (with its parents) when `create`. */
static int open_package_parent(const struct pkg_store *st, const char *name, bool create,
                               char **ret_path)
{
    _cleanup_free_ char *packages = NULL, *path = NULL;
    int fd, r;

    if (asprintf(&packages, "%s/packages", st->data_dir) < 0 ||
        asprintf(&path, "%s/%s", packages, name) < 0)
        return -ENOMEM;
    if (create) {
        r = mkdir_0755(st->data_dir);
        if (r >= 0)
            r = mkdir_0755(packages);
        if (r >= 0)
            r = mkdir_0755(path);
        if (r < 0)
            return r;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ret_path)
        *ret_path = TAKE_PTR(path);
    return fd;
}

bool pkg_store_is_installed(const struct pkg_store *st, const char *name, const char *version)
{
    _cleanup_free_ char *path = NULL;

    if (asprintf(&path, "%s/packages/%s/%s/" MARKER, st->data_dir, name, version) < 0)
        return false;
    return access(path, F_OK) == 0;
}

int pkg_store_find_installed(const struct pkg_store *st, const char *name, const char *range,
                             char **ret)
{
    _cleanup_close_ int fd = open_package_parent(st, name, false, NULL);
    _cleanup_(closedirp) DIR *d = NULL;
    _cleanup_free_ char *best = NULL;
    struct rt_semver best_v = {0};
    struct dirent *de;

    if (fd < 0)
        return fd == -ENOENT || fd == -ENOTDIR ? -ENOENT : fd;
    d = opendir_dup(fd);
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        _cleanup_free_ char *marker = NULL;
        struct rt_semver v;

        if (de->d_name[0] == '.' || rt_semver_parse(de->d_name, &v) < 0)
            continue;
        if (asprintf(&marker, "%s/" MARKER, de->d_name) < 0) {
            rt_semver_done(&v);
            rt_semver_done(&best_v);
            return -ENOMEM;
        }
        if (faccessat(fd, marker, F_OK, 0) < 0 || !rt_semver_satisfies(&v, range) ||
            (best && rt_semver_compare(&v, &best_v) <= 0)) {
            rt_semver_done(&v);
            continue;
        }
        free(best);
        best = strdup(de->d_name);
        rt_semver_done(&best_v);
        best_v = v;
        if (!best) {
            rt_semver_done(&best_v);
            return -ENOMEM;
        }
    }
    rt_semver_done(&best_v);
    if (!best)
        return -ENOENT;
    *ret = TAKE_PTR(best);
    return 0;
}

static int hidden_name(const struct pkg_store *st, const char *version, const char *kind,
                       const char *token, char **ret)
{
    return asprintf(ret, ".%s.%s-%s-%s", version, kind, st->instance, token) < 0 ? -ENOMEM : 0;
}

/* A leftover at <version> without the marker (Piston: "residual files") is removed. */
static int clear_target(int parent_fd, const char *version, char **reterr)
{
    _cleanup_free_ char *marker = NULL;
    struct stat s;

    if (fstatat(parent_fd, version, &s, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (asprintf(&marker, "%s/" MARKER, version) < 0)
        return -ENOMEM;
    if (faccessat(parent_fd, marker, F_OK, 0) == 0)
        return errmsg_set(reterr, -EEXIST, "Already installed");
    if (S_ISLNK(s.st_mode))
        return unlinkat(parent_fd, version, 0) < 0 ? -errno : 0;
    return pkg_remove_tree_at(parent_fd, version);
}

static int write_text_at(int dirfd, const char *name, const char *text, size_t len)
{
    _cleanup_close_ int fd =
        openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

    if (fd < 0)
        return -errno;
    if (fchmod(fd, 0644) < 0)
        return -errno;
    return write_all(fd, text, len);
}

/* .env as Piston writes it: KEY=VALUE per line, from `environment` run in the final dir (so
 * $PWD in it is the path jobs see). */
static int write_dotenv(int dirfd, const char *dir, char **reterr)
{
    char **env = NULL, *err = NULL;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    r = rt_package_environment(dir, &env, &err);
    if (r < 0) {
        r = err ? errmsg_set(reterr, r, "%s", err) : r;
        free(err);
        return r;
    }
    f = open_memstream(&text, &len);
    for (char **e = env; f && *e; e++) {
        if (strchr(*e, '\n')) {
            fclose(f);
            rt_strv_free(env);
            return errmsg_set(reterr, -EBADMSG, "environment: a value holds a newline");
        }
        fprintf(f, "%s\n", *e);
    }
    rt_strv_free(env);
    if (!f || fclose(f) != 0)
        return -ENOMEM;
    return write_text_at(dirfd, DOTENV, text, len);
}

static int write_marker(int dirfd)
{
    struct timespec ts;
    char text[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(text, sizeof(text), "%" PRId64,
             (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000));
    return write_text_at(dirfd, MARKER, text, strlen(text));
}

struct pkg_staged *pkg_staged_free(struct pkg_staged *staged, bool committed)
{
    if (!staged)
        return NULL;
    if (!committed && staged->parent_fd >= 0 && staged->dir_name)
        (void)pkg_remove_tree_at(staged->parent_fd, staged->dir_name);
    safe_close(staged->parent_fd);
    free(staged->dir);
    free(staged->link_path);
    free(staged->dir_name);
    free(staged->version);
    free(staged);
    return NULL;
}

static int random_token(char ret[17])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[8];

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return -errno;
    for (size_t i = 0; i < sizeof(b); i++) {
        ret[2 * i] = hex[b[i] >> 4];
        ret[2 * i + 1] = hex[b[i] & 15];
    }
    ret[16] = '\0';
    return 0;
}

/* Download beside the target, verified before anything is unpacked. */
static int download(int parent_fd, const char *name, const struct pkg_index_entry *entry,
                    const struct pkg_fetch_options *opts, int *ret_fd, char **reterr)
{
    _cleanup_close_ int fd =
        openat(parent_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    char got[65];
    int r;

    if (fd < 0)
        return -errno;
    r = pkg_fetch_file(entry->url, opts, fd, got, reterr);
    if (r < 0)
        return r;
    if (strcmp(got, entry->sha256) != 0)
        return errmsg_set(reterr, -EBADMSG, "Checksum miss-match want: %s got: %s", entry->sha256,
                          got);
    if (lseek(fd, 0, SEEK_SET) < 0)
        return -errno;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* Unpacks into the temporary directory and checks the package's required files. */
static int unpack(int archive_fd, int dir_fd, const struct pkg_unpack_limits *limits, char **reterr)
{
    static const char *const required[] = {"pkg-info.json", "run"};
    struct stat s;
    int r;

    r = pkg_unpack_fd(archive_fd, dir_fd, limits, reterr);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(required); i++)
        if (fstatat(dir_fd, required[i], &s, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(s.st_mode))
            return errmsg_set(reterr, -EBADMSG, "package has no %s", required[i]);
    /* state files are ours to write, never the archive's */
    r = pkg_remove_tree_at(dir_fd, DOTENV);
    if (r >= 0)
        r = pkg_remove_tree_at(dir_fd, MARKER);
    if (r >= 0 && fchmod(dir_fd, 0755) < 0)
        r = -errno;
    return r;
}

static int stage_files(struct pkg_staged *sg, const struct pkg_index_entry *entry,
                       const struct pkg_install_options *opts, const char *dl, const char *tmp,
                       char **reterr)
{
    _cleanup_close_ int archive_fd = -1, tmp_fd = -1, dir_fd = -1;
    char path[PATH_MAX];
    int r;

    r = download(sg->parent_fd, dl, entry, &opts->fetch, &archive_fd, reterr);
    if (r < 0)
        return r;
    if (mkdirat(sg->parent_fd, tmp, 0700) < 0)
        return -errno;
    tmp_fd = openat(sg->parent_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tmp_fd < 0)
        return -errno;
    r = unpack(archive_fd, tmp_fd, &opts->unpack, reterr);
    if (r < 0)
        return r;
    archive_fd = safe_close(archive_fd);
    (void)unlinkat(sg->parent_fd, dl, 0);
    /* into its final (still hidden) name: .env must be computed where jobs will see it */
    if (renameat(sg->parent_fd, tmp, sg->parent_fd, sg->dir_name) < 0)
        return -errno;
    snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", sg->parent_fd, sg->dir_name);
    sg->dir = realpath(path, NULL);
    if (!sg->dir)
        return -errno;
    dir_fd = openat(sg->parent_fd, sg->dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return -errno;
    r = write_dotenv(dir_fd, sg->dir, reterr);
    if (r >= 0)
        r = write_marker(dir_fd);
    return r;
}

int pkg_store_stage(const struct pkg_store *st, const struct pkg_index_entry *entry,
                    const struct pkg_install_options *opts, struct pkg_staged **ret, char **reterr)
{
    _cleanup_free_ char *parent = NULL, *dl = NULL, *tmp = NULL;
    struct pkg_staged *sg;
    char token[17];
    int r;

    *reterr = NULL;
    sg = calloc(1, sizeof(*sg));
    if (!sg)
        return -ENOMEM;
    sg->parent_fd = open_package_parent(st, entry->name, true, &parent);
    if (sg->parent_fd < 0) {
        r = sg->parent_fd;
        pkg_staged_free(sg, true);
        return r;
    }
    r = clear_target(sg->parent_fd, entry->version, reterr);
    if (r >= 0)
        r = random_token(token);
    if (r >= 0 && (hidden_name(st, entry->version, "download", token, &dl) < 0 ||
                   hidden_name(st, entry->version, "tmp", token, &tmp) < 0 ||
                   hidden_name(st, entry->version, "pkg", token, &sg->dir_name) < 0 ||
                   asprintf(&sg->link_path, "%s/%s", parent, entry->version) < 0 ||
                   !(sg->version = strdup(entry->version))))
        r = -ENOMEM;
    if (r >= 0)
        r = stage_files(sg, entry, opts, dl, tmp, reterr);
    if (r < 0) {
        if (dl)
            (void)unlinkat(sg->parent_fd, dl, 0);
        if (tmp)
            (void)pkg_remove_tree_at(sg->parent_fd, tmp);
        pkg_staged_free(sg, false);
        return r;
    }
    *ret = sg;
    return 0;
}

int pkg_store_commit(struct pkg_staged *staged, char **reterr)
{
    *reterr = NULL;
    /* The files reach the disk before the name that makes them a package: after a power
     * loss too, the link never points at a half-written tree. */
    if (syncfs(staged->parent_fd) < 0)
        return errmsg_set(reterr, -errno, "cannot flush the package to disk: %m");
    /* symlinkat() is atomic and fails on an existing name: an install that won meanwhile
     * (another daemon on the same data directory) keeps its package */
    if (symlinkat(staged->dir_name, staged->parent_fd, staged->version) < 0)
        return errno == EEXIST ? errmsg_set(reterr, -EEXIST, "Already installed") : -errno;
    (void)fsync(staged->parent_fd); /* the link itself; a loss now only undoes the install */
    return 0;
}

int pkg_store_uninstall(const struct pkg_store *st, const char *name, const char *version,
                        char **ret_dir, char **reterr)
{
    _cleanup_close_ int parent_fd = open_package_parent(st, name, false, NULL);
    _cleanup_free_ char *marker = NULL, *dir = NULL;
    char path[PATH_MAX];
    struct stat s;

    *reterr = NULL;
    if (parent_fd < 0)
        return parent_fd;
    if (asprintf(&marker, "%s/" MARKER, version) < 0)
        return -ENOMEM;
    if (fstatat(parent_fd, version, &s, AT_SYMLINK_NOFOLLOW) < 0 ||
        faccessat(parent_fd, marker, F_OK, 0) < 0)
        return -ENOENT;
    snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parent_fd, version);
    dir = realpath(path, NULL);
    if (!dir)
        return -errno;
    /* the one step that uninstalls: afterwards neither a restart nor GET sees the package */
    if (S_ISLNK(s.st_mode) ? unlinkat(parent_fd, version, 0) < 0
                           : unlinkat(parent_fd, marker, 0) < 0)
        return errmsg_set(reterr, -errno, "cannot remove %s/%s: %m", name, version);
    *ret_dir = TAKE_PTR(dir);
    return 0;
}

int pkg_store_remove_dir(const char *dir)
{
    _cleanup_free_ char *parent = strdup(dir);
    _cleanup_close_ int fd = -1;
    char *slash = parent ? strrchr(parent, '/') : NULL;

    if (!parent)
        return -ENOMEM;
    if (!slash || slash == parent || slash[1] == '\0')
        return -EINVAL;
    *slash = '\0';
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return pkg_remove_tree_at(fd, slash + 1);
}

/* The kind of one of our hidden names, or NULL. */
static const char *own_hidden_kind(const struct pkg_store *st, const char *name)
{
    char tag[128];

    if (name[0] != '.')
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(hidden_kinds); i++) {
        snprintf(tag, sizeof(tag), ".%s-%s-", hidden_kinds[i], st->instance);
        if (strstr(name + 1, tag))
            return hidden_kinds[i];
    }
    return NULL;
}

static bool is_link_target(int fd, const char *target)
{
    /* a file description of its own: a dup would share the caller's directory offset */
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_(closedirp) DIR *d = own >= 0 ? fdopendir(own) : NULL;
    struct dirent *de;
    char buf[PATH_MAX];

    if (own >= 0 && !d)
        close(own);
    while (d && (de = readdir(d))) {
        ssize_t n;

        if (de->d_name[0] == '.')
            continue;
        n = readlinkat(fd, de->d_name, buf, sizeof(buf) - 1);
        if (n < 0)
            continue;
        buf[n] = '\0';
        if (strcmp(buf, target) == 0)
            return true;
    }
    return !d; /* cannot tell: keep it */
}

static int cleanup_package(const struct pkg_store *st, int fd)
{
    _cleanup_(closedirp) DIR *d = opendir_dup(fd);
    struct dirent *de;
    int removed = 0;

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        const char *kind = own_hidden_kind(st, de->d_name);

        if (!kind || (strcmp(kind, "pkg") == 0 && is_link_target(fd, de->d_name)))
            continue;
        if (pkg_remove_tree_at(fd, de->d_name) >= 0)
            removed++;
    }
    return removed;
}

int pkg_store_cleanup(const struct pkg_store *st)
{
    _cleanup_free_ char *packages = NULL;
    _cleanup_close_ int fd = -1;
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *de;
    int removed = 0;

    if (asprintf(&packages, "%s/packages", st->data_dir) < 0)
        return -ENOMEM;
    fd = open(packages, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    d = opendir_dup(fd);
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        _cleanup_close_ int pfd = -1;
        int k;

        if (de->d_name[0] == '.')
            continue;
        pfd = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
            continue;
        k = cleanup_package(st, pfd);
        if (k > 0)
            removed += k;
    }
    return removed;
}
