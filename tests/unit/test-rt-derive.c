/* Registries derived from another (runtimes/registry/derive.c): a package added at the end
 * or left out, the original untouched (jobs keep using it), and the sharing test the package
 * manager relies on before it removes an uninstalled package's files. */
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtimes.h"
#include "test.h"

static char root[64];

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

static void put(const char *dir, const char *name, const char *content)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (!f)
        TEST_FAIL("fopen %s: %m", path);
    fputs(content, f);
    fclose(f);
}

/* An installed package directory: pkg-info.json, run, .env. */
static void installed(char *ret, size_t size, const char *name, const char *info)
{
    snprintf(ret, size, "%s/%s", root, name);
    ASSERT_OK(mkdir(ret, 0755));
    put(ret, "pkg-info.json", info);
    put(ret, "run", "#!/bin/bash\nexec /bin/bash \"$@\"\n");
    put(ret, ".env", "PATH=/usr/bin:/bin\n");
}

static struct rt_registry *base_registry(void)
{
    struct rt_load_options opts = {.runtimes_dir = CAPSULE_FIXTURES_DIR "/packages"};
    struct rt_registry *reg = NULL;

    ASSERT_OK(rt_registry_load(&opts, NULL, NULL, &reg, NULL));
    return reg;
}

static void setup(void)
{
    strcpy(root, "/tmp/test-rt-derive-XXXXXX");
    if (!mkdtemp(root))
        TEST_FAIL("mkdtemp: %m");
    atexit(remove_root);
}

TEST(with_and_without_package)
{
    struct rt_registry *base, *with = NULL, *without = NULL;
    char dir[PATH_MAX];
    size_t n, added = 0;

    setup();
    installed(dir, sizeof(dir), "pw",
              "{\"language\":\"pw\",\"version\":\"1.2.3\",\"provides\":["
              "{\"language\":\"pwa\",\"aliases\":[\"a\"]},{\"language\":\"pwb\"}]}");
    base = base_registry();
    n = rt_registry_count(base);
    ASSERT_OK(rt_registry_with_package(base, dir, NULL, NULL, &with, &added));
    ASSERT_EQ(added, 2);
    ASSERT_EQ(rt_registry_count(with), n + 2);
    ASSERT_EQ(rt_registry_count(base), n); /* untouched */
    ASSERT_NULL(rt_registry_find(base, "a", "*"));
    /* appended in provides order, the package name as `runtime` */
    ASSERT_STREQ(rt_registry_get(with, n)->language, "pwa");
    ASSERT_STREQ(rt_registry_get(with, n + 1)->language, "pwb");
    ASSERT_STREQ(rt_registry_get(with, n)->package_name, "pw");
    ASSERT_STREQ(rt_registry_find(with, "a", "1.x")->language, "pwa");
    ASSERT_STREQ(rt_registry_find(with, "a", "1.x")->env[0], "PATH=/usr/bin:/bin");
    /* the bundled ones were copied, not shared */
    ASSERT_TRUE(rt_registry_get(with, 0) != rt_registry_get(base, 0));
    ASSERT_STREQ(rt_registry_get(with, 0)->language, rt_registry_get(base, 0)->language);
    /* ...every field of them: a copy without its box path could not be run */
    ASSERT_STREQ(rt_registry_get(with, 0)->box_dir, rt_registry_get(base, 0)->box_dir);
    ASSERT_STREQ(rt_registry_get(with, n)->box_dir, "/piston/packages/pw/1.2.3");
    ASSERT_TRUE(rt_registry_has_package(with, rt_registry_get(with, n)->package_dir));

    ASSERT_OK(rt_registry_without_package(with, rt_registry_get(with, n)->package_dir, &without));
    ASSERT_EQ(rt_registry_count(without), n); /* every runtime of the package goes */
    ASSERT_NULL(rt_registry_find(without, "pwb", "*"));
    ASSERT_NOT_NULL(rt_registry_find(with, "pwb", "*"));
    rt_registry_unref(without);
    rt_registry_unref(with);
    rt_registry_unref(base);
}

TEST(invalid_or_duplicate_package_adds_nothing)
{
    struct rt_registry *base, *with = NULL;
    char bad[PATH_MAX], dup[PATH_MAX];
    size_t added = 7;

    setup();
    installed(bad, sizeof(bad), "bad", "{\"language\":\"bad\"}");
    installed(dup, sizeof(dup), "dup", "{\"language\":\"sh\",\"version\":\"1.0.0\"}");
    base = base_registry();
    ASSERT_OK(rt_registry_with_package(base, bad, NULL, NULL, &with, &added));
    ASSERT_EQ(added, 0);
    rt_registry_unref(with);
    ASSERT_OK(rt_registry_with_package(base, dup, NULL, NULL, &with, &added));
    ASSERT_EQ(added, 0); /* sh 1.0.0 is the fixture's already */
    rt_registry_unref(with);
    rt_registry_unref(base);
}

TEST(is_shared_counts_other_holders)
{
    struct rt_registry *reg = base_registry();

    ASSERT_FALSE(rt_registry_is_shared(reg));
    rt_registry_ref(reg);
    ASSERT_TRUE(rt_registry_is_shared(reg));
    rt_registry_unref(reg);
    ASSERT_FALSE(rt_registry_is_shared(reg));
    rt_registry_unref(reg);
}

TEST(reload_installed_gives_restart_order)
{
    struct rt_registry *base, *with = NULL, *reloaded = NULL;
    char data[128], dir[PATH_MAX], b[PATH_MAX];
    size_t n, added = 0;

    setup();
    snprintf(data, sizeof(data), "%s/data", root);
    ASSERT_OK(mkdir(data, 0755));
    snprintf(dir, sizeof(dir), "%s/packages", data);
    ASSERT_OK(mkdir(dir, 0755));
    /* installed as <data>/packages/<name>/<version>/ with the marker */
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "bpkg" : "apkg";
        char info[128];

        snprintf(dir, sizeof(dir), "%s/packages/%s", data, name);
        ASSERT_OK(mkdir(dir, 0755));
        snprintf(dir, sizeof(dir), "%s/packages/%s/1.0.0", data, name);
        ASSERT_OK(mkdir(dir, 0755));
        snprintf(info, sizeof(info), "{\"language\":\"%s\",\"version\":\"1.0.0\"}", name);
        put(dir, "pkg-info.json", info);
        put(dir, "run", "#!/bin/bash\n");
        put(dir, ".env", "PATH=/usr/bin\n");
        put(dir, ".ppman-installed", "1");
        if (i)
            snprintf(b, sizeof(b), "%s", dir);
    }
    base = base_registry();
    n = rt_registry_count(base);
    /* bpkg was installed first: it sits at the end, apkg not yet registered */
    ASSERT_OK(rt_registry_with_package(base, b, NULL, NULL, &with, &added));
    ASSERT_EQ(added, 1);
    ASSERT_OK(rt_registry_reload_installed(with, data, NULL, NULL, &reloaded));
    ASSERT_EQ(rt_registry_count(reloaded), n + 2); /* bpkg not twice */
    ASSERT_STREQ(rt_registry_get(reloaded, n)->language, "apkg");
    ASSERT_STREQ(rt_registry_get(reloaded, n + 1)->language, "bpkg");
    ASSERT_STREQ(rt_registry_get(reloaded, 0)->language, rt_registry_get(base, 0)->language);
    rt_registry_unref(reloaded);
    rt_registry_unref(with);
    rt_registry_unref(base);
}
