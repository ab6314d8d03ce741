/* Safe extraction (packages/unpack.c): each test writes a real tar.gz with libarchive's
 * writer, extracts it into a fresh directory and checks what landed, or that the archive
 * was refused with nothing written outside the directory. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "packages.h"
#include "test.h"

enum kind { FILE_, DIR_, SYMLINK, HARDLINK, CHARDEV, FIFO };

struct ent {
    enum kind kind;
    const char *name;
    const char *data; /* file content, symlink or hard link target */
    mode_t perm;
};

static char root[64];  /* holds dest/ and the canary outside it */
static char dest[128]; /* extraction target */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_root(void)
{
    if (root[0])
        (void)nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh root per archive (a test may extract several). */
static void setup(void)
{
    if (root[0])
        remove_root();
    else
        atexit(remove_root);
    strcpy(root, "/tmp/test-pkg-unpack-XXXXXX");
    if (!mkdtemp(root))
        TEST_FAIL("mkdtemp: %m");
    snprintf(dest, sizeof(dest), "%s/dest", root);
    if (mkdir(dest, 0700) < 0)
        TEST_FAIL("mkdir: %m");
}

static int make_archive(const struct ent *ents, size_t n)
{
    int fd = memfd_create("archive", MFD_CLOEXEC);
    struct archive *a = archive_write_new();

    if (fd < 0 || !a)
        TEST_FAIL("setup: %m");
    ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    ASSERT_EQ(archive_write_open_fd(a, fd), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        const struct ent *x = &ents[i];
        size_t len = x->kind == FILE_ && x->data ? strlen(x->data) : 0;

        archive_entry_set_pathname(e, x->name);
        archive_entry_set_perm(e, x->perm ? x->perm : 0644);
        switch (x->kind) {
        case FILE_:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)len);
            break;
        case DIR_:
            archive_entry_set_filetype(e, AE_IFDIR);
            break;
        case SYMLINK:
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, x->data);
            break;
        case HARDLINK:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, x->data);
            break;
        case CHARDEV:
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_rdev(e, makedev(1, 3));
            break;
        case FIFO:
            archive_entry_set_filetype(e, AE_IFIFO);
            break;
        }
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        if (len)
            ASSERT_EQ(archive_write_data(a, x->data, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static int unpack(const struct ent *ents, size_t n, uint64_t max_bytes, uint64_t max_entries,
                  char **err)
{
    struct pkg_unpack_limits limits = {.max_bytes = max_bytes, .max_entries = max_entries};
    int afd = make_archive(ents, n), dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r;

    ASSERT_GE(dfd, 0);
    r = pkg_unpack_fd(afd, dfd, &limits, err);
    close(afd);
    close(dfd);
    return r;
}

static const char *in(const char *base, const char *rel)
{
    static char bufs[4][PATH_MAX];
    static int i;
    char *b = bufs[i++ % 4];

    snprintf(b, PATH_MAX, "%s/%s", base, rel);
    return b;
}

static void expect_refused(const struct ent *ents, size_t n, int want, const char *words)
{
    char *err = NULL;

    setup();
    ASSERT_EQ(unpack(ents, n, 1 << 20, 1000, &err), want);
    ASSERT_NOT_NULL(err);
    if (!strstr(err, words))
        TEST_FAIL("reason \"%s\" does not say \"%s\"", err, words);
    free(err);
    /* nothing escaped next to the target */
    ASSERT_TRUE(access(in(root, "escaped"), F_OK) < 0);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

TEST(package_extracts_with_links_inside)
{
    static const struct ent ents[] = {
        {DIR_, "./"},
        {FILE_, "./run", "#!/bin/bash\nexec /bin/bash \"$@\"\n", 0700},
        {FILE_, "./pkg-info.json", "{}", 0600},
        {FILE_, "lib/deep/x.so", "ELF"}, /* parents not listed: created 0755 */
        {SYMLINK, "bin/python3", "python3.12"},
        {FILE_, "bin/python3.12", "py", 04755},
        {SYMLINK, "bin/up", "../lib/deep/x.so"},
        {HARDLINK, "lib/deep/y.so", "lib/deep/x.so"},
        {DIR_, "lib", NULL, 0700}, /* again, as tar lists it after its content: fine */
    };
    char *err = NULL, buf[64];
    struct stat st, st2;
    ssize_t k;

    setup();
    ASSERT_OK(unpack(ents, N(ents), 1 << 20, 1000, &err));
    ASSERT_NULL(err);
    ASSERT_OK(lstat(in(dest, "run"), &st));
    ASSERT_EQ(st.st_mode & 07777, 0755); /* executable for every sandbox uid */
    ASSERT_OK(lstat(in(dest, "pkg-info.json"), &st));
    ASSERT_EQ(st.st_mode & 07777, 0644);
    ASSERT_OK(lstat(in(dest, "bin/python3.12"), &st));
    ASSERT_EQ(st.st_mode & 07777, 0755); /* setuid dropped */
    ASSERT_OK(lstat(in(dest, "lib"), &st));
    ASSERT_EQ(st.st_mode & 07777, 0755);
    k = readlink(in(dest, "bin/python3"), buf, sizeof(buf) - 1);
    ASSERT_EQ(k, 10);
    buf[k] = '\0';
    ASSERT_STREQ(buf, "python3.12");
    ASSERT_OK(stat(in(dest, "bin/up"), &st)); /* resolves inside */
    ASSERT_OK(lstat(in(dest, "lib/deep/x.so"), &st));
    ASSERT_OK(lstat(in(dest, "lib/deep/y.so"), &st2));
    ASSERT_EQ(st.st_ino, st2.st_ino);
    ASSERT_EQ(st.st_size, 3);
}

TEST(absolute_name_refused)
{
    static const struct ent ents[] = {{FILE_, "/tmp/escaped", "x"}};
    expect_refused(ents, N(ents), -EPERM, "absolute name or `..`");
}

TEST(dotdot_refused)
{
    static const struct ent ents[] = {{FILE_, "a/../../escaped", "x"}};
    expect_refused(ents, N(ents), -EPERM, "absolute name or `..`");
}

TEST(absolute_symlink_refused)
{
    static const struct ent ents[] = {{SYMLINK, "etc", "/etc"}};
    expect_refused(ents, N(ents), -EPERM, "leaves the package");
}

TEST(climbing_symlink_refused)
{
    static const struct ent a[] = {{SYMLINK, "up", "../escaped"}};
    static const struct ent b[] = {{SYMLINK, "d/up", "../../escaped"}};
    /* `x/..` climbs from wherever x points: refused even though it reads as inside */
    static const struct ent c[] = {{SYMLINK, "d/x", ".."}, {SYMLINK, "d/y", "x/../.."}};

    expect_refused(a, N(a), -EPERM, "leaves the package");
    expect_refused(b, N(b), -EPERM, "leaves the package");
    expect_refused(c, N(c), -EPERM, "leaves the package");
}

TEST(write_through_symlink_refused)
{
    /* the classic: a link to a directory, then a file "inside" it */
    static const struct ent ents[] = {{DIR_, "d"}, {SYMLINK, "l", "d"}, {FILE_, "l/escaped", "x"}};
    expect_refused(ents, N(ents), -EPERM, "passes through a symlink");
    ASSERT_TRUE(access(in(dest, "d/escaped"), F_OK) < 0);
}

TEST(hardlink_outside_refused)
{
    static const struct ent a[] = {{HARDLINK, "passwd", "/etc/passwd"}};
    static const struct ent b[] = {{HARDLINK, "passwd", "../../../../etc/passwd"}};
    static const struct ent c[] = {{HARDLINK, "x", "not-extracted"}};

    expect_refused(a, N(a), -EPERM, "hard link");
    expect_refused(b, N(b), -EPERM, "hard link");
    expect_refused(c, N(c), -EPERM, "hard link");
}

TEST(device_and_fifo_refused)
{
    static const struct ent a[] = {{CHARDEV, "null"}};
    static const struct ent b[] = {{FIFO, "fifo"}};

    expect_refused(a, N(a), -EPERM, "device nodes");
    expect_refused(b, N(b), -EPERM, "device nodes");
}

TEST(duplicate_file_refused)
{
    static const struct ent ents[] = {{FILE_, "run", "a"}, {FILE_, "run", "b"}};
    expect_refused(ents, N(ents), -EPERM, "duplicate entry");
}

TEST(size_cap)
{
    static const struct ent ents[] = {{FILE_, "a", "0123456789"}, {FILE_, "b", "0123456789"}};
    char *err = NULL;

    setup();
    ASSERT_EQ(unpack(ents, N(ents), 15, 1000, &err), -EFBIG);
    ASSERT_TRUE(strstr(err, "over the limit of 15 bytes") != NULL);
    free(err);
    setup();
    ASSERT_OK(unpack(ents, N(ents), 20, 1000, &err)); /* exactly the cap is fine */
}

TEST(entry_cap)
{
    static const struct ent ents[] = {{DIR_, "a"}, {DIR_, "b"}, {DIR_, "c"}};
    char *err = NULL;

    setup();
    ASSERT_EQ(unpack(ents, N(ents), 1 << 20, 2, &err), -EFBIG);
    ASSERT_STREQ(err, "archive has more than 2 entries");
    free(err);
    setup();
    ASSERT_OK(unpack(ents, N(ents), 1 << 20, 3, &err));
}

TEST(garbage_refused)
{
    struct pkg_unpack_limits limits = {.max_bytes = 1 << 20, .max_entries = 100};
    int fd = memfd_create("garbage", MFD_CLOEXEC), dfd;
    char *err = NULL;

    setup();
    dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(write(fd, "<html>not a tarball</html>\n", 27), 0);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    ASSERT_EQ(pkg_unpack_fd(fd, dfd, &limits, &err), -EBADMSG);
    ASSERT_NOT_NULL(err);
    free(err);
    close(fd);
    close(dfd);
}
