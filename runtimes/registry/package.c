/* One package directory -> its runtimes (PISTON-API.md 5.3). A broken package is skipped
 * with a warning naming its directory; only a failed version probe stops loading. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "internal.h"

static int read_metadata(const char *dir, enum rt__source source, char **ret, size_t *ret_len,
                         const char **ret_name)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = -ENOENT;

    if (dfd < 0)
        return -errno;
    /* A source package has metadata.json; an installed one (or a copy of one dropped into
     * the runtimes directory) has pkg-info.json. */
    if (source == RT__SOURCE_BUNDLED) {
        *ret_name = "metadata.json";
        r = read_file_at(dfd, *ret_name, RT_METADATA_MAX, ret, ret_len);
    }
    if (r == -ENOENT) {
        *ret_name = "pkg-info.json";
        r = read_file_at(dfd, *ret_name, RT_METADATA_MAX, ret, ret_len);
    }
    return r;
}

bool rt__has_file(const char *dir, const char *name)
{
    _cleanup_free_ char *path = NULL;
    struct stat st;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Piston's platform is "<docker|baremetal>-<os-release ID>"; only the OS part says anything
 * about whether the binaries inside can run here. */
static void check_build_platform(struct rt__loader *ld, const char *dir, const char *platform)
{
    _cleanup_close_ int fd = open("/etc/os-release", O_RDONLY | O_CLOEXEC); /* a symlink */
    _cleanup_free_ char *text = NULL;
    const char *os = strchr(platform, '-'), *id;
    size_t n;

    if (fd < 0 || read_full_fd(fd, 65536, &text, NULL) < 0)
        return;
    id = strncmp(text, "ID=", 3) == 0 ? text : strstr(text, "\nID=");
    if (!id)
        return;
    id += id[0] == '\n' ? 4 : 3;
    if (*id == '"')
        id++;
    n = strcspn(id, "\"\n");
    os = os ? os + 1 : platform;
    if (strlen(os) != n || strncmp(os, id, n) != 0)
        rt__warn(ld, "%s: package was built for platform %s, this host is %.*s", dir, platform,
                 (int)n, id);
}

struct pkg_ctx {
    const struct rt__package *pkg;
    const char *dir;
    const char *box_dir;
    char *const *env;
    char *const *run_argv; /* NULL: none */
    bool compiled;
};

static int add_runtime(struct rt__loader *ld, const struct pkg_ctx *c, const char *language,
                       char *const *aliases, const int64_t limits[RT_LIMIT_COUNT], bool provided)
{
    struct rt_runtime rt = {.compiled = c->compiled};
    int r;

    memcpy(rt.limit_overrides, limits, sizeof(rt.limit_overrides));
    rt.language = strdup(language);
    rt.version = strdup(c->pkg->version);
    rt.aliases = rt__strv_copy(aliases);
    rt.package_name = provided ? strdup(c->pkg->language) : NULL;
    rt.package_dir = strdup(c->dir);
    rt.box_dir = strdup(c->box_dir);
    rt.env = rt__strv_copy(c->env);
    rt.run_argv = c->run_argv ? rt__strv_copy(c->run_argv) : NULL;
    r = rt__semver_copy(&c->pkg->semver, &rt.semver);
    if (r < 0 || !rt.language || !rt.version || !rt.aliases || (provided && !rt.package_name) ||
        !rt.package_dir || !rt.box_dir || !rt.env || (c->run_argv && !rt.run_argv)) {
        rt__runtime_done(&rt);
        return -ENOMEM;
    }
    return rt__registry_add(ld, &rt);
}

static int add_runtimes(struct rt__loader *ld, const struct pkg_ctx *c)
{
    const struct rt__package *pkg = c->pkg;
    int r;

    if (!pkg->has_provides)
        return add_runtime(ld, c, pkg->language, pkg->aliases, pkg->limits, false);
    for (size_t i = 0; i < pkg->n_provides; i++) {
        const struct rt__provide *p = &pkg->provides[i];

        r = add_runtime(ld, c, p->language, p->aliases, p->limits, true);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Replaces the metadata version with the probed one. -ENOEXEC stops loading. */

/* An alias that ends in the metadata version's "major.minor" ("python3.11" for 3.11.2)
 * names that minor release: it follows the probed toolchain (3.10.12 -> "python3.10"), so
 * one package serves Debian 12 and Ubuntu 22.04 alike. */
static int retarget_versioned_aliases(char **aliases, const struct rt_semver *meta,
                                      const struct rt_semver *probed)
{
    char old_suffix[48], *renamed;
    size_t n;

    snprintf(old_suffix, sizeof(old_suffix), "%" PRIu64 ".%" PRIu64, meta->major, meta->minor);
    n = strlen(old_suffix);
    for (char **a = aliases; a && *a; a++) {
        size_t len = strlen(*a);
        if (len <= n || strcmp(*a + len - n, old_suffix) != 0 ||
            !((*a)[len - n - 1] >= 'a' && (*a)[len - n - 1] <= 'z'))
            continue;
        if (asprintf(&renamed, "%.*s%" PRIu64 ".%" PRIu64, (int)(len - n), *a, probed->major,
                     probed->minor) < 0)
            return -ENOMEM;
        free(*a);
        *a = renamed;
    }
    return 0;
}

static int probe_version(struct rt__loader *ld, struct rt__package *pkg, const char *dir,
                         const char *name, char *const *env)
{
    _cleanup_free_ char *err = NULL, *version = NULL;
    struct rt_semver semver;
    int r;

    r = rt__version_probe(dir, env, &version, &err);
    if (r == -ENOEXEC) {
        rt__warn(ld, "%s: %s", dir, err ? err : "version probe failed");
        ld->failed_package = strdup(name);
        return ld->failed_package ? -ENOEXEC : -ENOMEM;
    }
    if (r < 0 || !version)
        return r;
    r = rt_semver_parse(version, &semver);
    if (r < 0)
        return r;
    r = retarget_versioned_aliases(pkg->aliases, &pkg->semver, &semver);
    for (size_t i = 0; r >= 0 && i < pkg->n_provides; i++)
        r = retarget_versioned_aliases(pkg->provides[i].aliases, &pkg->semver, &semver);
    if (r < 0) {
        rt_semver_done(&semver);
        return r;
    }
    rt_semver_done(&pkg->semver);
    pkg->semver = semver;
    free(pkg->version);
    pkg->version = TAKE_PTR(version);
    return 0;
}

/* A language or version becomes one path component of the box path. */
static bool is_path_component(const char *s)
{
    return s[0] != '\0' && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/');
}

/* RT_BOX_PACKAGES_DIR/<language>/<version>, from the metadata before any version probe (the
 * names Piston installed and built the package under). -EINVAL: not usable as a path. */
static int box_dir_of(const struct rt__package *pkg, char **ret)
{
    if (!is_path_component(pkg->language) || !is_path_component(pkg->version))
        return -EINVAL;
    if (asprintf(ret, RT_BOX_PACKAGES_DIR "/%s/%s", pkg->language, pkg->version) < 0)
        return -ENOMEM;
    return 0;
}

/* The environment was evaluated (or cached by Piston) on the host, so values naming the
 * package directory ($PWD in `environment`, Piston's install path in `.env`) name the host
 * path: boxes see the package at box_dir. */
static int relocate_env(char **env, const char *path, const char *dir, const char *box_dir)
{
    int r = rt__env_relocate(env, dir, box_dir);

    if (r >= 0 && path[0] == '/' && strcmp(path, dir) != 0)
        r = rt__env_relocate(env, path, box_dir);
    return r;
}

int rt__package_load(struct rt__loader *ld, const char *path, const char *name,
                     enum rt__source source)
{
    _cleanup_(rt__package_freep) struct rt__package *pkg = NULL;
    _cleanup_(rt__strv_freep) char **env = NULL;
    _cleanup_(rt__strv_freep) char **run_argv = NULL;
    _cleanup_free_ char *dir = NULL, *text = NULL, *err = NULL, *box_dir = NULL;
    const char *file = NULL;
    size_t len;
    int r;

    /* The sandbox binds the package from this path: the canonical one, so a symlink swapped
     * later cannot redirect a box. */
    dir = realpath(path, NULL);
    if (!dir) {
        r = -errno;
        if (r == -ENOMEM)
            return r;
        rt__warn(ld, "%s: skipping package: cannot resolve path: %s", path, strerror(-r));
        return 0;
    }
    r = read_metadata(dir, source, &text, &len, &file);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        rt__warn(ld, "%s: skipping package: cannot read %s: %s", dir, file ? file : "metadata",
                 strerror(-r));
        return 0;
    }
    r = rt__package_parse(text, len, &pkg, &err);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        rt__warn(ld, "%s: skipping package: %s: %s", dir, file, err);
        return 0;
    }
    r = box_dir_of(pkg, &box_dir);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        rt__warn(ld, "%s: skipping package: language or version is not a valid directory name",
                 dir);
        return 0;
    }
    if (source == RT__SOURCE_INSTALLED && pkg->build_platform)
        check_build_platform(ld, dir, pkg->build_platform);
    r = rt__env_load(dir, &env, &err);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        rt__warn(ld, "%s: skipping package: %s", dir, err);
        return 0;
    }
    if (source == RT__SOURCE_BUNDLED && ld->probe_versions) {
        r = probe_version(ld, pkg, dir, name, env);
        if (r < 0)
            return r;
    }
    r = relocate_env(env, path, dir, box_dir); /* after the probe, which runs on the host */
    if (r < 0)
        return r;
    const char *argv_err = "?";
    r = rt__run_argv_load(dir, &run_argv, &argv_err);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        rt__warn(ld, "%s: run.argv ignored (jobs run `run` with bash): %s", dir, argv_err);
    struct pkg_ctx c = {.pkg = pkg,
                        .dir = dir,
                        .box_dir = box_dir,
                        .env = env,
                        .run_argv = run_argv,
                        .compiled = rt__has_file(dir, "compile")};
    return add_runtimes(ld, &c);
}
