/* Package trees for the runtimes tests: a mkdtemp root removed at exit, files and packages
 * under it, and loading it with the warnings collected. Shared by test-rt-registry.c and
 * test-rt-probe.c (_unused_: each program uses what it needs). */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "runtimes.h"
#include "test.h"

static char root[64];

static _unused_ int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static _unused_ void remove_root(void)
{
    if (root[0])
        (void)nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static _unused_ void setup(void)
{
    strcpy(root, "/tmp/test-rt-registry-XXXXXX");
    if (!mkdtemp(root))
        TEST_FAIL("mkdtemp: %m");
    atexit(remove_root);
}

/* Rotating buffers so a few paths can be alive at once. */
static _unused_ const char *at(const char *rel)
{
    static char bufs[8][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 8];

    if (snprintf(b, PATH_MAX, "%s/%s", root, rel) >= (int)(PATH_MAX))
        TEST_FAIL("fixture text too long");
    return b;
}

static _unused_ void mkdirs(const char *rel)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)(sizeof(path)))
        TEST_FAIL("fixture text too long");
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(path, 0755);
            *p = '/';
        }
    (void)mkdir(path, 0755);
}

static _unused_ void put(const char *rel, const char *content, mode_t mode)
{
    char dir[PATH_MAX];
    FILE *f;

    if (snprintf(dir, sizeof(dir), "%s", rel) >= (int)(sizeof(dir)))
        TEST_FAIL("fixture text too long");
    if (strrchr(dir, '/')) {
        *strrchr(dir, '/') = '\0';
        mkdirs(dir);
    }
    f = fopen(at(rel), "w");
    if (!f)
        TEST_FAIL("fopen %s: %m", at(rel));
    fputs(content, f);
    fclose(f);
    ASSERT_OK(chmod(at(rel), mode));
}

/* A package with metadata.json, run and an environment setting PATH. */
static _unused_ void package(const char *rel, const char *metadata)
{
    char p[PATH_MAX];

    if (snprintf(p, sizeof(p), "%s/metadata.json", rel) >= (int)(sizeof(p)))
        TEST_FAIL("fixture text too long");
    put(p, metadata, 0644);
    if (snprintf(p, sizeof(p), "%s/run", rel) >= (int)(sizeof(p)))
        TEST_FAIL("fixture text too long");
    put(p, "#!/bin/bash\nexec /bin/bash \"$@\"\n", 0755);
}

static _unused_ void simple_package(const char *rel, const char *language, const char *version)
{
    char metadata[512];

    if (snprintf(metadata, sizeof(metadata), "{\"language\":\"%s\",\"version\":\"%s\"}", language,
                 version) >= (int)(sizeof(metadata)))
        TEST_FAIL("fixture text too long");
    package(rel, metadata);
}

struct warnings {
    char *msg[64];
    size_t n;
};

static _unused_ void collect(void *userdata, const char *message)
{
    struct warnings *w = userdata;

    if (w->n < 64)
        w->msg[w->n++] = strdup(message);
}

static _unused_ void warnings_done(struct warnings *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->msg[i]);
    w->n = 0;
}

static _unused_ bool warned(const struct warnings *w, const char *a, const char *b)
{
    for (size_t i = 0; i < w->n; i++)
        if (strstr(w->msg[i], a) && (!b || strstr(w->msg[i], b)))
            return true;
    return false;
}

static _unused_ void dump(const struct warnings *w)
{
    for (size_t i = 0; i < w->n; i++)
        fprintf(stderr, "warning: %s\n", w->msg[i]);
}

static _unused_ struct rt_registry *load(const char *rt_rel, const char *data_rel, bool probe,
                                         struct warnings *w)
{
    struct rt_load_options opts = {
        .runtimes_dir = rt_rel ? at(rt_rel) : NULL,
        .data_dir = data_rel ? at(data_rel) : NULL,
        .probe_versions = probe,
    };
    struct rt_registry *reg = NULL;
    char *failed = NULL;
    int r = rt_registry_load(&opts, collect, w, &reg, &failed);

    if (r < 0) {
        dump(w);
        TEST_FAIL("rt_registry_load: %d (%s), failed package %s", r, strerror(-r),
                  failed ? failed : "-");
    }
    return reg;
}

static _unused_ const char *env_get(char *const *env, const char *key)
{
    size_t n = strlen(key);

    for (; env && *env; env++)
        if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static _unused_ void assert_runtime(const struct rt_runtime *rt, const char *language,
                                    const char *version)
{
    ASSERT_NOT_NULL(rt);
    ASSERT_STREQ(rt->language, language);
    ASSERT_STREQ(rt->version, version);
}
