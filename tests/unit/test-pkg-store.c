/* The install protocol on disk (packages/store.c) with real file:// downloads: nothing is
 * visible before the commit, the commit never replaces, an uncommitted or failed install
 * leaves nothing, uninstall leaves the files for later removal, and startup cleanup removes
 * exactly this instance's leftovers. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fd-util.h"
#include "macro.h"
#include "packages.h"
#include "test.h"

/* snprintf through a function: paths here are short, and GCC's truncation warnings about
 * PATH_MAX buffers are noise in a test. */
static void fmt(char *buf, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    (void)vsnprintf(buf, size, f, ap);
    va_end(ap);
}

static char root[64];
static char data[128];
static char archive_url[PATH_MAX];
static char archive_sha[65];

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

static void put(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");

    if (!f)
        TEST_FAIL("fopen %s: %m", path);
    fputs(content, f);
    fclose(f);
}

static void sha256_file(const char *path, char ret[65])
{
    static const char hex[] = "0123456789abcdef";
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *text = NULL;
    uint8_t sum[DIGEST_SHA256_SIZE];
    struct digest_sha256 d;
    size_t len;

    ASSERT_GE(fd, 0);
    ASSERT_OK(read_full_fd(fd, 1 << 24, &text, &len));
    digest_sha256_init(&d);
    digest_sha256_update(&d, text, len);
    digest_sha256_final(&d, sum);
    for (size_t i = 0; i < sizeof(sum); i++) {
        ret[2 * i] = hex[sum[i] >> 4];
        ret[2 * i + 1] = hex[sum[i] & 15];
    }
    ret[64] = '\0';
}

/* A data directory and a Piston-style package archive (tar czf -C dir .). */
static void setup(void)
{
    char src[PATH_MAX], cmd[3 * PATH_MAX], path[PATH_MAX];

    strcpy(root, "/tmp/test-pkg-store-XXXXXX");
    if (!mkdtemp(root))
        TEST_FAIL("mkdtemp: %m");
    atexit(remove_root);
    fmt(data, sizeof(data), "%s/data", root);
    ASSERT_OK(mkdir(data, 0755));
    fmt(src, sizeof(src), "%s/src", root);
    ASSERT_OK(mkdir(src, 0755));
    fmt(path, sizeof(path), "%s/run", src);
    put(path, "#!/bin/bash\nexec /bin/bash \"$@\"\n");
    fmt(path, sizeof(path), "%s/pkg-info.json", src);
    put(path, "{\"language\":\"demo\",\"version\":\"1.2.0\"}");
    fmt(path, sizeof(path), "%s/environment", src);
    put(path, "export PKGDIR=$PWD\n");
    fmt(path, sizeof(path), "%s/.ppman-installed", src); /* the archive's own: dropped */
    put(path, "0");
    fmt(path, sizeof(path), "%s/demo.tgz", root);
    fmt(cmd, sizeof(cmd), "tar czf %s -C %s .", path, src);
    ASSERT_EQ(system(cmd), 0);
    fmt(archive_url, sizeof(archive_url), "file://%s", path);
    sha256_file(path, archive_sha);
    ASSERT_OK(pkg_fetch_global_init());
}

static struct pkg_index_entry entry(const char *sha)
{
    struct pkg_index_entry e = {.name = "demo", .version = "1.2.0", .url = archive_url};

    fmt(e.sha256, sizeof(e.sha256), "%s", sha);
    return e;
}

static const struct pkg_install_options opts = {
    .fetch = {.max_bytes = 1 << 20,
              .timeout_ms = 10000,
              .connect_timeout_ms = 1000,
              .allow_file = true},
    .unpack = {.max_bytes = 1 << 20, .max_entries = 100},
};

static int count_entries(const char *dir)
{
    char cmd[PATH_MAX + 64];
    FILE *p;
    int n = -1;

    fmt(cmd, sizeof(cmd), "ls -A %s 2>/dev/null | wc -l", dir);
    p = popen(cmd, "r");
    if (p && fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

static const char *pkgdir(void)
{
    static char b[PATH_MAX];

    fmt(b, sizeof(b), "%s/packages/demo", data);
    return b;
}

TEST(stage_commit_uninstall)
{
    const struct pkg_store st = {.data_dir = data, .instance = "capsule-t1"};
    struct pkg_index_entry e;
    struct pkg_staged *sg = NULL, *again = NULL;
    char *err = NULL, *found = NULL, *dir = NULL, link[PATH_MAX], path[PATH_MAX];
    _cleanup_free_ char *env = NULL;
    ssize_t k;
    size_t len;

    setup();
    e = entry(archive_sha);
    ASSERT_OK(pkg_store_stage(&st, &e, &opts, &sg, &err));
    /* staged: complete but invisible */
    ASSERT_FALSE(pkg_store_is_installed(&st, "demo", "1.2.0"));
    ASSERT_EQ(count_entries(pkgdir()), 1);
    ASSERT_TRUE(strstr(sg->dir_name, ".1.2.0.pkg-capsule-t1-") == sg->dir_name);
    fmt(path, sizeof(path), "%s/.env", sg->dir);
    ASSERT_OK(read_file_at(AT_FDCWD, path, 4096, &env, &len));
    fmt(link, sizeof(link), "PKGDIR=%s\n", sg->dir); /* $PWD is where jobs see it */
    ASSERT_TRUE(strstr(env, link) != NULL);
    fmt(path, sizeof(path), "%s/.ppman-installed", sg->dir);
    free(env);
    env = NULL;
    ASSERT_OK(read_file_at(AT_FDCWD, path, 64, &env, &len));
    ASSERT_TRUE(atoll(env) > 1700000000000LL); /* ours (ms), not the archive's "0" */

    ASSERT_OK(pkg_store_commit(sg, &err));
    ASSERT_TRUE(pkg_store_is_installed(&st, "demo", "1.2.0"));
    fmt(path, sizeof(path), "%s/1.2.0", pkgdir());
    k = readlink(path, link, sizeof(link) - 1);
    ASSERT_GE(k, 0);
    link[k] = '\0';
    ASSERT_STREQ(link, sg->dir_name);
    ASSERT_OK(pkg_store_find_installed(&st, "demo", "1", &found));
    ASSERT_STREQ(found, "1.2.0");
    free(found);

    /* installed: a second install is refused before any download */
    ASSERT_EQ(pkg_store_stage(&st, &e, &opts, &again, &err), -EEXIST);
    ASSERT_STREQ(err, "Already installed");
    free(err);

    ASSERT_OK(pkg_store_uninstall(&st, "demo", "1.2.0", &dir, &err));
    ASSERT_STREQ(dir, sg->dir);
    ASSERT_FALSE(pkg_store_is_installed(&st, "demo", "1.2.0"));
    ASSERT_EQ(pkg_store_find_installed(&st, "demo", "*", &found), -ENOENT);
    ASSERT_TRUE(access(dir, F_OK) == 0); /* files stay for running jobs */
    ASSERT_OK(pkg_store_remove_dir(dir));
    ASSERT_EQ(count_entries(pkgdir()), 0);
    free(dir);
    pkg_staged_free(sg, true);
}

TEST(checksum_mismatch_leaves_nothing)
{
    const struct pkg_store st = {.data_dir = data, .instance = "capsule-t1"};
    struct pkg_index_entry e;
    struct pkg_staged *sg = NULL;
    char *err = NULL, want[256];

    setup();
    e = entry("1111111111111111111111111111111111111111111111111111111111111111");
    ASSERT_EQ(pkg_store_stage(&st, &e, &opts, &sg, &err), -EBADMSG);
    fmt(want, sizeof(want), "Checksum miss-match want: %s got: %s", e.sha256, archive_sha);
    ASSERT_STREQ(err, want);
    free(err);
    ASSERT_EQ(count_entries(pkgdir()), 0);
}

TEST(uncommitted_and_losing_installs_leave_nothing)
{
    /* two daemons on one data directory: both stage, the first commit wins */
    const struct pkg_store a = {.data_dir = data, .instance = "capsule-a"};
    const struct pkg_store b = {.data_dir = data, .instance = "capsule-b"};
    struct pkg_staged *sa = NULL, *sb = NULL;
    struct pkg_index_entry e;
    char *err = NULL;

    setup();
    e = entry(archive_sha);
    ASSERT_OK(pkg_store_stage(&a, &e, &opts, &sa, &err));
    ASSERT_OK(pkg_store_stage(&b, &e, &opts, &sb, &err));
    ASSERT_EQ(count_entries(pkgdir()), 2);
    ASSERT_OK(pkg_store_commit(sa, &err));
    ASSERT_EQ(pkg_store_commit(sb, &err), -EEXIST);
    ASSERT_STREQ(err, "Already installed");
    free(err);
    pkg_staged_free(sb, false);
    pkg_staged_free(sa, true);
    ASSERT_EQ(count_entries(pkgdir()), 2); /* the link and the winner's directory */
    ASSERT_TRUE(pkg_store_is_installed(&a, "demo", "1.2.0"));
}

TEST(cleanup_removes_only_our_leftovers)
{
    const struct pkg_store st = {.data_dir = data, .instance = "capsule-t1"};
    struct pkg_staged *sg = NULL;
    struct pkg_index_entry e;
    char *err = NULL, path[PATH_MAX];
    static const char *const ours[] = {".1.2.0.tmp-capsule-t1-aa", ".1.2.0.download-capsule-t1-bb",
                                       ".9.0.0.pkg-capsule-t1-cc"};

    setup();
    e = entry(archive_sha);
    ASSERT_OK(pkg_store_stage(&st, &e, &opts, &sg, &err));
    ASSERT_OK(pkg_store_commit(sg, &err)); /* a live package of ours: kept */
    for (size_t i = 0; i < 3; i++) {
        fmt(path, sizeof(path), "%s/%s", pkgdir(), ours[i]);
        ASSERT_OK(mkdir(path, 0755));
    }
    fmt(path, sizeof(path), "%s/.1.2.0.tmp-capsule-other-dd", pkgdir()); /* a neighbour's */
    ASSERT_OK(mkdir(path, 0755));
    fmt(path, sizeof(path), "%s/2.0.0", pkgdir()); /* not ours to judge: kept */
    ASSERT_OK(mkdir(path, 0755));
    ASSERT_EQ(pkg_store_cleanup(&st), 3);
    ASSERT_EQ(count_entries(pkgdir()), 4);
    ASSERT_TRUE(pkg_store_is_installed(&st, "demo", "1.2.0"));
    pkg_staged_free(sg, true);
}

TEST(find_installed_needs_the_marker)
{
    const struct pkg_store st = {.data_dir = data, .instance = "capsule-t1"};
    char path[PATH_MAX], *found = NULL;
    static const char *const versions[] = {"1.0.0", "1.5.0", "2.0.0", ".3.0.0.pkg-x-y"};

    setup();
    fmt(path, sizeof(path), "%s/packages", data);
    ASSERT_OK(mkdir(path, 0755));
    ASSERT_OK(mkdir(pkgdir(), 0755));
    for (size_t i = 0; i < 4; i++) {
        fmt(path, sizeof(path), "%s/%s", pkgdir(), versions[i]);
        ASSERT_OK(mkdir(path, 0755));
        if (i != 2) { /* 2.0.0: a leftover without the marker */
            fmt(path, sizeof(path), "%s/%s/.ppman-installed", pkgdir(), versions[i]);
            put(path, "1");
        }
    }
    ASSERT_OK(pkg_store_find_installed(&st, "demo", "*", &found));
    ASSERT_STREQ(found, "1.5.0");
    free(found);
    ASSERT_OK(pkg_store_find_installed(&st, "demo", "<1.5", &found));
    ASSERT_STREQ(found, "1.0.0");
    free(found);
    ASSERT_EQ(pkg_store_find_installed(&st, "demo", "3", &found), -ENOENT);
    ASSERT_EQ(pkg_store_find_installed(&st, "other", "*", &found), -ENOENT);
}
