/* Compile cache: an identical compiled request (same runtime, version, compile script, files
 * and the limits that shape a compile's outcome) skips the compiler. An entry is the compile
 * stage object as recorded plus a snapshot of the work directory after the compile: regular
 * files and directories only, read with O_NOFOLLOW after every box process is dead, kept in
 * daemon memory where no job can reach it. LRU, bounded in bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fd-util.h"
#include "internal.h"
#include "macro.h"

#define SNAPSHOT_MAX_DEPTH 32
#define SNAPSHOT_MAX_ENTRIES 1024

struct snap_entry {
    char *path;  /* relative to submission/ */
    mode_t mode; /* S_IFDIR or S_IFREG plus permission bits */
    char *data;
    size_t len;
};

struct eng_cache_entry {
    uint8_t key[DIGEST_SHA256_SIZE];
    struct eng_stage_result compile;
    struct snap_entry *files;
    size_t n_files;
    size_t bytes;
    unsigned refs; /* the cache's own reference + jobs restoring from it */
    struct eng_cache_entry *prev, *next;
};

struct eng_cache {
    pthread_mutex_t lock;
    size_t max_bytes, bytes;
    struct eng_cache_entry *head, *tail; /* most recently used first */
};

struct eng_cache *eng__cache_new(size_t max_bytes)
{
    struct eng_cache *c;

    if (max_bytes == 0)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    return c;
}

static void entry_free(struct eng_cache_entry *e)
{
    for (size_t i = 0; i < e->n_files; i++) {
        free(e->files[i].path);
        free(e->files[i].data);
    }
    free(e->files);
    eng__stage_done(&e->compile);
    free(e);
}

void eng__cache_entry_unref(struct eng_cache *c, struct eng_cache_entry *e)
{
    bool last;

    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    last = --e->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last)
        entry_free(e);
}

static void unlink_entry(struct eng_cache *c, struct eng_cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(struct eng_cache *c, struct eng_cache_entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

struct eng_cache *eng__cache_free(struct eng_cache *c)
{
    if (!c)
        return NULL;
    while (c->head) {
        struct eng_cache_entry *e = c->head;
        unlink_entry(c, e);
        if (--e->refs == 0)
            entry_free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

int eng__cache_key(const struct eng_request *req, uint8_t key[DIGEST_SHA256_SIZE])
{
    const struct rt_runtime *rt = req->runtime;
    int64_t shaping[] = {req->max_process_count, req->max_file_size, req->output_max_size,
                         req->max_open_files};
    _cleanup_free_ char *path = NULL, *script = NULL;
    struct digest_sha256 d;
    size_t len;
    int r;

    if (asprintf(&path, "%s/compile", rt->package_dir) < 0)
        return -ENOMEM;
    r = read_file_at(AT_FDCWD, path, 1 << 20, &script, &len);
    if (r < 0)
        return r;
    digest_sha256_init(&d);
    digest_sha256_field(&d, rt->language, strlen(rt->language));
    digest_sha256_field(&d, rt->version, strlen(rt->version));
    digest_sha256_field(&d, rt->package_dir, strlen(rt->package_dir));
    digest_sha256_field(&d, script, len);
    digest_sha256_field(&d, shaping, sizeof(shaping));
    for (size_t i = 0; i < req->n_files; i++) {
        const struct eng_file *f = &req->files[i];
        uint8_t utf8 = f->utf8;
        digest_sha256_field(&d, f->name, strlen(f->name));
        digest_sha256_field(&d, &utf8, 1);
        digest_sha256_field(&d, f->content, f->len);
    }
    digest_sha256_final(&d, key);
    return 0;
}

/* A recorded compile is reused only if it fits this request's compile limits, so a tighter
 * limit still fails as it would. */
static bool fits(const struct eng_stage_result *st, const struct eng_stage_limits *lim)
{
    if (lim->cpu_time_ms > 0 && st->cpu_time_ms > (uint64_t)lim->cpu_time_ms)
        return false;
    if (lim->timeout_ms > 0 && st->wall_time_ms > (uint64_t)lim->timeout_ms)
        return false;
    if (lim->memory_bytes > 0 && (!st->memory_known || st->memory > (uint64_t)lim->memory_bytes))
        return false;
    return true;
}

struct eng_cache_entry *eng__cache_lookup(struct eng_cache *c,
                                          const uint8_t key[DIGEST_SHA256_SIZE],
                                          const struct eng_stage_limits *limits)
{
    struct eng_cache_entry *e;

    pthread_mutex_lock(&c->lock);
    for (e = c->head; e; e = e->next)
        if (memcmp(e->key, key, DIGEST_SHA256_SIZE) == 0)
            break;
    if (e && fits(&e->compile, limits)) {
        unlink_entry(c, e);
        push_front(c, e);
        e->refs++;
    } else {
        e = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

const struct eng_stage_result *eng__cache_entry_compile(const struct eng_cache_entry *e)
{
    return &e->compile;
}

struct snapshot {
    struct snap_entry *files;
    size_t n, alloc, bytes, max_bytes;
};

static void snapshot_done(struct snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->files[i].path);
        free(s->files[i].data);
    }
    free(s->files);
}

static int snapshot_add(struct snapshot *s, const char *path, mode_t mode, char *data, size_t len)
{
    if (s->n == SNAPSHOT_MAX_ENTRIES)
        return -E2BIG;
    if (s->n == s->alloc) {
        size_t alloc = s->alloc ? s->alloc * 2 : 16;
        struct snap_entry *f = realloc(s->files, alloc * sizeof(*f));
        if (!f)
            return -ENOMEM;
        s->files = f;
        s->alloc = alloc;
    }
    s->files[s->n] =
        (struct snap_entry){.path = strdup(path), .mode = mode, .data = data, .len = len};
    if (!s->files[s->n].path)
        return -ENOMEM;
    s->n++;
    s->bytes += len + strlen(path) + sizeof(struct snap_entry);
    return s->bytes > s->max_bytes ? -E2BIG : 0;
}

static int snapshot_file(struct snapshot *s, int dirfd, const char *name, const char *path)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    _cleanup_free_ char *data = NULL;
    struct stat st;
    size_t len;
    int r;

    if (fd < 0)
        return -errno;
    /* re-checked on the open fd: what was stat'ed by name may have been swapped */
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > s->max_bytes)
        return -E2BIG;
    r = read_full_fd(fd, s->max_bytes, &data, &len);
    if (r < 0)
        return r;
    r = snapshot_add(s, path, S_IFREG | (st.st_mode & 0777), data, len);
    if (r >= 0)
        data = NULL; /* owned by the snapshot now */
    return r;
}

/* Walks dirfd without following anything; a symlink, FIFO, socket or device anywhere means
 * the compile is not cached (only regular files and directories are). */
static int snapshot_dir(struct snapshot *s, int dirfd, const char *prefix, unsigned depth)
{
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (depth > SNAPSHOT_MAX_DEPTH)
        return -E2BIG;
    d = opendir_dup(dirfd);
    if (!d)
        return -errno;
    while (r >= 0 && (de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        if (dot_or_dotdot(de->d_name))
            continue;
        if (asprintf(&path, "%s%s", prefix, de->d_name) < 0) {
            r = -ENOMEM;
            break;
        }
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = -errno;
        } else if (S_ISREG(st.st_mode)) {
            r = snapshot_file(s, dirfd, de->d_name, path);
        } else if (S_ISDIR(st.st_mode)) {
            _cleanup_free_ char *sub_prefix = NULL;
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            r = sub < 0 ? -errno : snapshot_add(s, path, S_IFDIR | (st.st_mode & 0777), NULL, 0);
            if (r >= 0 && asprintf(&sub_prefix, "%s/", path) < 0)
                r = -ENOMEM;
            if (r >= 0)
                r = snapshot_dir(s, sub, sub_prefix, depth + 1);
            safe_close(sub);
        } else {
            r = -EPERM;
        }
    }
    closedir(d);
    return r;
}

static void evict(struct eng_cache *c)
{
    while (c->bytes > c->max_bytes && c->tail) {
        struct eng_cache_entry *e = c->tail;
        unlink_entry(c, e);
        c->bytes -= e->bytes;
        if (--e->refs == 0)
            entry_free(e);
    }
}

int eng__cache_store(struct eng_cache *c, const uint8_t key[DIGEST_SHA256_SIZE],
                     const struct eng_stage_result *compile, int submission_fd)
{
    struct snapshot s = {.max_bytes = c->max_bytes / 4};
    struct eng_cache_entry *e;
    int r;

    r = snapshot_dir(&s, submission_fd, "", 0);
    if (r < 0) {
        snapshot_done(&s);
        return r;
    }
    e = calloc(1, sizeof(*e));
    if (!e || eng__stage_copy(compile, &e->compile) < 0) {
        free(e);
        snapshot_done(&s);
        return -ENOMEM;
    }
    memcpy(e->key, key, DIGEST_SHA256_SIZE);
    e->files = s.files;
    e->n_files = s.n;
    e->bytes = s.bytes + compile->stdout_len + compile->stderr_len + compile->output_len;
    e->refs = 1;
    pthread_mutex_lock(&c->lock);
    push_front(c, e);
    c->bytes += e->bytes;
    evict(c); /* may drop an older twin of this key too: lookups find the newest first */
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* Writes the snapshot into an empty submission/ (O_EXCL, O_NOFOLLOW, slot-owned). Paths were
 * recorded parent-first, so every parent exists before its children. */
static int restore_one(const struct snap_entry *f, int submission_fd, uid_t uid, gid_t gid)
{
    _cleanup_close_ int fd = -1;

    if (S_ISDIR(f->mode)) {
        if (mkdirat(submission_fd, f->path, f->mode & 0777) < 0)
            return -errno;
        fd = openat(submission_fd, f->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } else {
        fd = openat(submission_fd, f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    f->mode & 0777);
    }
    if (fd < 0)
        return -errno;
    if (fchown(fd, uid, gid) < 0 || fchmod(fd, f->mode & 0777) < 0)
        return -errno;
    return S_ISREG(f->mode) ? write_all(fd, f->data, f->len) : 0;
}

int eng__cache_restore(const struct eng_cache_entry *e, int submission_fd, uid_t uid, gid_t gid)
{
    for (size_t i = 0; i < e->n_files; i++) {
        int r;
        /* a.out is executed right after: no box may be cloned while it is open for writing */
        sbx_file_write_lock();
        r = restore_one(&e->files[i], submission_fd, uid, gid);
        sbx_file_write_unlock();
        if (r < 0)
            return r;
    }
    return 0;
}
