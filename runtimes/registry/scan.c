/* Finding package directories, in PISTON-API.md 5.3 order: the runtimes directory first
 * (<name>/ or <name>/<version>/), then <data_dir>/packages/<name>/<version>/, each sorted by
 * name, then by version. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Version directories: valid versions in semver order before anything else, by name. */
static int compare_versions(const void *a, const void *b)
{
    const char *na = *(char *const *)a, *nb = *(char *const *)b;
    struct rt_semver va, vb;
    bool ok_a = rt_semver_parse(na, &va) >= 0, ok_b = rt_semver_parse(nb, &vb) >= 0;
    int c = 0;

    if (ok_a && ok_b)
        c = rt_semver_compare(&va, &vb);
    else if (ok_a != ok_b)
        c = ok_a ? -1 : 1;
    if (ok_a)
        rt_semver_done(&va);
    if (ok_b)
        rt_semver_done(&vb);
    return c != 0 ? c : strcmp(na, nb);
}

static inline void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

/* Subdirectories of `dir` (symlinks followed), hidden ones left out, sorted. */
static int list_subdirs(const char *dir, bool by_version, char ***ret)
{
    _cleanup_(closedirp) DIR *d = opendir(dir); /* glibc opens it O_CLOEXEC */
    _cleanup_(rt__strv_freep) char **names = calloc(1, sizeof(char *));
    struct dirent *de;
    int r;

    if (!d)
        return -errno;
    if (!names)
        return -ENOMEM;
    while ((errno = 0, de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
            return -ENOMEM;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        r = rt__strv_push(&names, de->d_name);
        if (r < 0)
            return r;
    }
    if (errno != 0)
        return -errno;
    qsort(names, rt__strv_length(names), sizeof(char *),
          by_version ? compare_versions : compare_names);
    *ret = TAKE_PTR(names);
    return 0;
}

static bool is_bundled_package(const char *dir)
{
    return (rt__has_file(dir, "metadata.json") || rt__has_file(dir, "pkg-info.json")) &&
           rt__has_file(dir, "run");
}

/* Loads <parent>/<name>/<version>/ for every version directory `accept`ed. */
static int scan_versions(struct rt__loader *ld, const char *parent, const char *name,
                         enum rt__source source)
{
    _cleanup_(rt__strv_freep) char **versions = NULL;
    _cleanup_free_ char *dir = NULL;
    int r;

    if (asprintf(&dir, "%s/%s", parent, name) < 0)
        return -ENOMEM;
    r = list_subdirs(dir, true, &versions);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        rt__warn(ld, "%s: cannot list directory: %s", dir, strerror(-r));
        return 0;
    }
    for (char **v = versions; *v; v++) {
        _cleanup_free_ char *path = NULL, *id = NULL;
        bool accept;

        if (asprintf(&path, "%s/%s", dir, *v) < 0 || asprintf(&id, "%s/%s", name, *v) < 0)
            return -ENOMEM;
        accept = source == RT__SOURCE_BUNDLED ? is_bundled_package(path)
                                              : rt__has_file(path, ".ppman-installed");
        if (!accept)
            continue;
        r = rt__package_load(ld, path, id, source);
        if (r < 0)
            return r;
    }
    return 0;
}

int rt__scan_runtimes_dir(struct rt__loader *ld, const char *dir)
{
    _cleanup_(rt__strv_freep) char **names = NULL;
    int r;

    r = list_subdirs(dir, false, &names);
    if (r < 0)
        return r;
    for (char **n = names; *n; n++) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", dir, *n) < 0)
            return -ENOMEM;
        /* A directory that is a package is not searched for versions; one that is neither
         * (registry/, build directories) is silently ignored. */
        if (is_bundled_package(path))
            r = rt__package_load(ld, path, *n, RT__SOURCE_BUNDLED);
        else
            r = scan_versions(ld, dir, *n, RT__SOURCE_BUNDLED);
        if (r < 0)
            return r;
    }
    return 0;
}

int rt__scan_data_dir(struct rt__loader *ld, const char *data_dir)
{
    _cleanup_(rt__strv_freep) char **names = NULL;
    _cleanup_free_ char *dir = NULL;
    int r;

    if (asprintf(&dir, "%s/packages", data_dir) < 0)
        return -ENOMEM;
    r = list_subdirs(dir, false, &names);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0; /* nothing installed */
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        rt__warn(ld, "%s: cannot list directory: %s", dir, strerror(-r));
        return 0;
    }
    for (char **n = names; *n; n++) {
        r = scan_versions(ld, dir, *n, RT__SOURCE_INSTALLED);
        if (r < 0)
            return r;
    }
    return 0;
}
