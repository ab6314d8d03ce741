/* Registries derived from an existing one. A registry is immutable once published (jobs hold
 * references to the one they started with), so an install or uninstall builds a copy with
 * the package's runtimes added or left out, and the caller swaps it in. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int runtime_copy(const struct rt_runtime *src, struct rt_runtime *ret)
{
    struct rt_runtime rt = {.compiled = src->compiled};
    int r;

    memcpy(rt.limit_overrides, src->limit_overrides, sizeof(rt.limit_overrides));
    rt.language = strdup(src->language);
    rt.version = strdup(src->version);
    rt.aliases = rt__strv_copy(src->aliases);
    rt.package_name = src->package_name ? strdup(src->package_name) : NULL;
    rt.package_dir = strdup(src->package_dir);
    rt.box_dir = strdup(src->box_dir);
    rt.env = rt__strv_copy(src->env);
    rt.run_argv = src->run_argv ? rt__strv_copy(src->run_argv) : NULL;
    r = rt__semver_copy(&src->semver, &rt.semver);
    if (r < 0 || !rt.language || !rt.version || !rt.aliases ||
        (src->package_name && !rt.package_name) || !rt.package_dir || !rt.box_dir || !rt.env ||
        (src->run_argv && !rt.run_argv)) {
        rt__runtime_done(&rt);
        return -ENOMEM;
    }
    *ret = rt;
    return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return prefix && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A new registry with the runtimes of `reg` except those of package `skip_dir` and those
 * whose directory starts with `skip_prefix`. */
static int registry_copy(const struct rt_registry *reg, const char *skip_dir,
                         const char *skip_prefix, struct rt_registry **ret)
{
    struct rt_registry *copy = NULL;
    struct rt__loader ld;
    int r;

    r = rt__registry_new(&copy);
    if (r < 0)
        return r;
    ld = (struct rt__loader){.reg = copy};
    for (size_t i = 0; i < rt_registry_count(reg); i++) {
        const struct rt_runtime *src = rt_registry_get(reg, i);
        struct rt_runtime rt;

        if ((skip_dir && strcmp(src->package_dir, skip_dir) == 0) ||
            has_prefix(src->package_dir, skip_prefix))
            continue;
        r = runtime_copy(src, &rt);
        if (r >= 0)
            r = rt__registry_add(&ld, &rt);
        if (r < 0) {
            rt_registry_unref(copy);
            return r;
        }
    }
    *ret = copy;
    return 0;
}

int rt_registry_with_package(const struct rt_registry *reg, const char *dir, rt_warn_fn warn,
                             void *userdata, struct rt_registry **ret, size_t *ret_added)
{
    struct rt_registry *copy = NULL;
    struct rt__loader ld;
    const char *name = strrchr(dir, '/');
    size_t before;
    int r;

    r = registry_copy(reg, NULL, NULL, &copy);
    if (r < 0)
        return r;
    before = rt_registry_count(copy);
    ld = (struct rt__loader){.reg = copy, .warn = warn, .userdata = userdata};
    r = rt__package_load(&ld, dir, name ? name + 1 : dir, RT__SOURCE_INSTALLED);
    free(ld.failed_package);
    if (r < 0) {
        rt_registry_unref(copy);
        return r;
    }
    *ret_added = rt_registry_count(copy) - before;
    *ret = copy;
    return 0;
}

int rt_registry_copy(const struct rt_registry *reg, struct rt_registry **ret)
{
    return registry_copy(reg, NULL, NULL, ret);
}

int rt_registry_without_package(const struct rt_registry *reg, const char *dir,
                                struct rt_registry **ret)
{
    return registry_copy(reg, dir, NULL, ret);
}

int rt_registry_reload_installed(const struct rt_registry *reg, const char *data_dir,
                                 rt_warn_fn warn, void *userdata, struct rt_registry **ret)
{
    _cleanup_free_ char *packages = NULL, *canonical = NULL, *prefix = NULL;
    struct rt_registry *copy = NULL;
    struct rt__loader ld;
    int r;

    if (asprintf(&packages, "%s/packages", data_dir) < 0)
        return -ENOMEM;
    /* installed runtimes carry canonical paths (the loader resolves them) */
    canonical = realpath(packages, NULL);
    if (canonical && asprintf(&prefix, "%s/", canonical) < 0)
        return -ENOMEM;
    r = registry_copy(reg, NULL, prefix, &copy);
    if (r < 0)
        return r;
    ld = (struct rt__loader){.reg = copy, .warn = warn, .userdata = userdata};
    r = rt__scan_data_dir(&ld, data_dir);
    free(ld.failed_package);
    if (r < 0) {
        rt_registry_unref(copy);
        return r;
    }
    *ret = copy;
    return 0;
}

bool rt_registry_has_package(const struct rt_registry *reg, const char *dir)
{
    for (size_t i = 0; i < rt_registry_count(reg); i++)
        if (strcmp(rt_registry_get(reg, i)->package_dir, dir) == 0)
            return true;
    return false;
}

int rt_package_environment(const char *dir, char ***ret, char **reterr)
{
    return rt__env_load(dir, ret, reterr);
}

char **rt_strv_free(char **l)
{
    return rt__strv_free(l);
}
