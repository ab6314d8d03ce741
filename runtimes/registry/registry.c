/* The registry object: an immutable, reference-counted list of runtimes in load order. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "internal.h"

struct rt_registry {
    atomic_uint n_ref;
    struct rt_runtime *runtimes;
    size_t n, alloc;
};

int rt__fail(char **reterr, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = errmsg_vset(reterr, -EBADMSG, fmt, ap);
    va_end(ap);
    return r;
}

void rt__warn(struct rt__loader *ld, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    int k;

    if (!ld->warn)
        return;
    va_start(ap, fmt);
    k = vasprintf(&msg, fmt, ap);
    va_end(ap);
    /* Out of memory for a warning's text: the warning is lost, loading goes on. */
    if (k >= 0)
        ld->warn(ld->userdata, msg);
}

void rt__runtime_done(struct rt_runtime *rt)
{
    free(rt->language);
    free(rt->version);
    rt_semver_done(&rt->semver);
    rt__strv_free(rt->aliases);
    free(rt->package_name);
    free(rt->package_dir);
    free(rt->box_dir);
    rt__strv_free(rt->env);
    rt__strv_free(rt->run_argv);
    *rt = (struct rt_runtime){0};
}

int rt__registry_add(struct rt__loader *ld, struct rt_runtime *rt)
{
    struct rt_registry *reg = ld->reg;

    for (size_t i = 0; i < reg->n; i++) {
        const struct rt_runtime *old = &reg->runtimes[i];

        if (strcmp(old->language, rt->language) == 0 &&
            rt_semver_compare(&old->semver, &rt->semver) == 0) {
            rt__warn(ld, "%s: skipping %s %s: already provided by %s", rt->package_dir,
                     rt->language, rt->version, old->package_dir);
            rt__runtime_done(rt);
            return 0;
        }
    }
    if (reg->n == reg->alloc) {
        size_t alloc = reg->alloc ? reg->alloc * 2 : 16;
        struct rt_runtime *grown = realloc(reg->runtimes, alloc * sizeof(*grown));

        if (!grown) {
            rt__runtime_done(rt);
            return -ENOMEM;
        }
        reg->runtimes = grown;
        reg->alloc = alloc;
    }
    reg->runtimes[reg->n++] = *rt;
    *rt = (struct rt_runtime){0};
    return 0;
}

struct rt_registry *rt_registry_ref(struct rt_registry *reg)
{
    if (reg)
        atomic_fetch_add_explicit(&reg->n_ref, 1, memory_order_relaxed);
    return reg;
}

struct rt_registry *rt_registry_unref(struct rt_registry *reg)
{
    if (!reg)
        return NULL;
    /* acq_rel: the last owner must see every other thread's reads finished before freeing. */
    if (atomic_fetch_sub_explicit(&reg->n_ref, 1, memory_order_acq_rel) != 1)
        return NULL;
    for (size_t i = 0; i < reg->n; i++)
        rt__runtime_done(&reg->runtimes[i]);
    free(reg->runtimes);
    free(reg);
    return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rt_registry *, rt_registry_unref);

int rt__registry_new(struct rt_registry **ret)
{
    struct rt_registry *reg = calloc(1, sizeof(*reg));

    if (!reg)
        return -ENOMEM;
    atomic_init(&reg->n_ref, 1);
    *ret = reg;
    return 0;
}

bool rt_registry_is_shared(const struct rt_registry *reg)
{
    /* acquire: pairs with the release in the other holders' unref, so what they did with the
     * runtimes (and the package directory) happened before the caller acts on "not shared" */
    return reg &&
           atomic_load_explicit(&((struct rt_registry *)reg)->n_ref, memory_order_acquire) > 1;
}

size_t rt_registry_count(const struct rt_registry *reg)
{
    return reg ? reg->n : 0;
}

const struct rt_runtime *rt_registry_get(const struct rt_registry *reg, size_t index)
{
    if (!reg || index >= reg->n)
        return NULL;
    return &reg->runtimes[index];
}

static bool runtime_answers_to(const struct rt_runtime *rt, const char *language)
{
    return strcmp(rt->language, language) == 0 || rt__strv_contains(rt->aliases, language);
}

const struct rt_runtime *rt_registry_find(const struct rt_registry *reg, const char *language,
                                          const char *range)
{
    _cleanup_(rt__range_freep) struct rt__range *parsed = NULL;
    const struct rt_runtime *best = NULL;

    if (!reg || !language || rt__range_parse(range ? range : "*", &parsed) < 0)
        return NULL;
    for (size_t i = 0; i < reg->n; i++) {
        const struct rt_runtime *rt = &reg->runtimes[i];

        if (!runtime_answers_to(rt, language) || !rt__range_test(parsed, &rt->semver))
            continue;
        /* Strictly higher: on a tie the runtime loaded first keeps the name. */
        if (!best || rt_semver_compare(&rt->semver, &best->semver) > 0)
            best = rt;
    }
    return best;
}

int rt_registry_load(const struct rt_load_options *opts, rt_warn_fn warn, void *userdata,
                     struct rt_registry **ret, char **ret_failed_package)
{
    _cleanup_(rt_registry_unrefp) struct rt_registry *reg = calloc(1, sizeof(*reg));
    struct rt__loader ld = {
        .reg = reg,
        .warn = warn,
        .userdata = userdata,
        .probe_versions = opts->probe_versions,
    };
    int r = 0;

    if (!reg)
        return -ENOMEM;
    atomic_init(&reg->n_ref, 1);
    if (opts->runtimes_dir)
        r = rt__scan_runtimes_dir(&ld, opts->runtimes_dir);
    if (r >= 0 && opts->data_dir)
        r = rt__scan_data_dir(&ld, opts->data_dir);
    if (r < 0) {
        if (r == -ENOEXEC && ret_failed_package)
            *ret_failed_package = TAKE_PTR(ld.failed_package);
        free(ld.failed_package);
        return r;
    }
    *ret = TAKE_PTR(reg);
    return 0;
}
