/* The package manager: index, install, uninstall (PISTON-API.md 2.4) on top of the
 * packages layer, and the registry swap that makes them visible without a restart.
 *
 * Registries. Each swap publishes a new immutable registry; the previous one is retired,
 * not freed: jobs that started with it still hold references. A retired registry is dropped
 * once only we hold it. An uninstalled package's directory is removed once no retired
 * registry names it (so a job that started before the uninstall finishes with its files,
 * including a run stage after a compile), by a janitor thread that looks every
 * JANITOR_PERIOD_MS while something waits. */
#include "packages.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "log.h"
#include "macro.h"
#include "package-manager.h"
#include "route.h"
#include "strbuf.h"

#define INDEX_MAX_BYTES (16 * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 10000
#define JANITOR_PERIOD_MS 200

/* A small growable list of strings. */
struct strv {
    char **v;
    size_t n, alloc;
};

static int strv_add(struct strv *l, const char *s)
{
    char *copy;

    if (l->n == l->alloc) {
        size_t n = l->alloc ? l->alloc * 2 : 8;
        char **grown = realloc(l->v, n * sizeof(*grown));

        if (!grown)
            return -ENOMEM;
        l->v = grown;
        l->alloc = n;
    }
    copy = strdup(s);
    if (!copy)
        return -ENOMEM;
    l->v[l->n++] = copy;
    return 0;
}

static ssize_t strv_index(const struct strv *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return (ssize_t)i;
    return -1;
}

static void strv_remove_at(struct strv *l, size_t i)
{
    free(l->v[i]);
    l->v[i] = l->v[--l->n];
}

static void strv_done(struct strv *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct strv){0};
}

struct api_packages {
    struct api_routes *routes;
    struct pkg_store store;
    struct pkg_fetch_options index_fetch;
    struct pkg_install_options install;
    const char *repo_url;
    atomic_bool stopping;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t changed;
    unsigned running;    /* operation threads */
    struct strv busy;    /* "<name>/<version>" of installs and uninstalls under way */
    struct strv pending; /* directories of uninstalled packages, removed once unused */
    struct rt_registry **retired;
    size_t n_retired, alloc_retired;
    bool janitor_started;
    pthread_t janitor;
    /* registry build, disk commit and swap, one operation at a time: two installs building
     * from the same registry would each publish one without the other's runtimes */
    pthread_mutex_t commit_lock;
};

static void reply_message(struct api_pkg_reply *out, unsigned status, const char *fmt, ...)
    _printf_(3, 4);
static void reply_message(struct api_pkg_reply *out, unsigned status, const char *fmt, ...)
{
    _cleanup_free_ char *text = NULL;
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vasprintf(&text, fmt, ap);
    va_end(ap);
    out->status = status;
    out->body = k >= 0 ? api_encode_message(text, &out->len) : NULL;
}

static void reply_json(struct api_pkg_reply *out, unsigned status, json_t *o)
{
    out->status = status;
    out->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    out->len = out->body ? strlen(out->body) : 0;
    json_decref(o);
}

bool api_packages_begin(struct api_packages *p)
{
    bool ok;

    pthread_mutex_lock(&p->lock);
    ok = !atomic_load(&p->stopping);
    if (ok)
        p->running++;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void api_packages_end(struct api_packages *p)
{
    pthread_mutex_lock(&p->lock);
    p->running--;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* ---- index ---- */

static int fetch_index(struct api_packages *p, struct pkg_index **ret, char **reterr)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r;

    r = pkg_fetch_memory(p->repo_url, &p->index_fetch, &text, &len, reterr);
    if (r < 0)
        return r;
    return pkg_index_parse(text, len, ret, reterr);
}

/* The index or the spec's 500; true when *ret holds it. */
static bool get_index(struct api_packages *p, struct api_pkg_reply *out, struct pkg_index **ret)
{
    _cleanup_free_ char *err = NULL;
    int r;

    r = fetch_index(p, ret, &err);
    if (r >= 0)
        return true;
    log_warn("package index %s: %s", p->repo_url, err ? err : strerror(-r));
    reply_message(out, 500, "Failed to fetch the package index: %s", err ? err : strerror(-r));
    return false;
}

void api_packages_list(struct api_packages *p, struct api_pkg_reply *out)
{
    struct pkg_index *index = NULL;
    json_t *a;

    if (!get_index(p, out, &index))
        return;
    a = json_array();
    for (size_t i = 0; a && i < index->n; i++) {
        const struct pkg_index_entry *e = &index->entries[i];
        bool installed = pkg_store_is_installed(&p->store, e->name, e->version);

        if (json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "language", e->name,
                                               "language_version", e->version, "installed",
                                               installed)) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    pkg_index_free(index);
    reply_json(out, 200, a);
}

/* ---- busy set, retired registries, pending directories ---- */

static int busy_key(const char *name, const char *version, char *key, size_t size)
{
    return snprintf(key, size, "%s/%s", name, version) < (int)size ? 0 : -ENAMETOOLONG;
}

/* True when this request may work on name/version (no other install or uninstall of it). */
static bool busy_take(struct api_packages *p, const char *name, const char *version)
{
    char key[512];
    bool taken = false;

    if (busy_key(name, version, key, sizeof(key)) < 0)
        return false;
    pthread_mutex_lock(&p->lock);
    if (strv_index(&p->busy, key) < 0)
        taken = strv_add(&p->busy, key) >= 0;
    pthread_mutex_unlock(&p->lock);
    return taken;
}

static void busy_release(struct api_packages *p, const char *name, const char *version)
{
    char key[512];
    ssize_t i;

    if (busy_key(name, version, key, sizeof(key)) < 0)
        return;
    pthread_mutex_lock(&p->lock);
    i = strv_index(&p->busy, key);
    if (i >= 0)
        strv_remove_at(&p->busy, (size_t)i);
    pthread_mutex_unlock(&p->lock);
}

/* Keeps a swapped-out registry until no job holds it. */
static void retire(struct api_packages *p, struct rt_registry *old)
{
    pthread_mutex_lock(&p->lock);
    if (p->n_retired == p->alloc_retired) {
        size_t n = p->alloc_retired ? p->alloc_retired * 2 : 8;
        struct rt_registry **grown = realloc(p->retired, n * sizeof(*grown));

        if (!grown) {
            /* cannot track it: keep it forever rather than free it under a running job */
            pthread_mutex_unlock(&p->lock);
            log_error("out of memory: a retired runtime registry is kept until exit");
            return;
        }
        p->retired = grown;
        p->alloc_retired = n;
    }
    p->retired[p->n_retired++] = old;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

static bool dir_is_pending(struct api_packages *p, const char *dir)
{
    bool hit;

    pthread_mutex_lock(&p->lock);
    hit = strv_index(&p->pending, dir) >= 0;
    pthread_mutex_unlock(&p->lock);
    return hit;
}

/* Under p->lock: drops retired registries only we hold, and takes out of `pending` the
 * directories no remaining one names. The caller removes what lands in *ret_free without the
 * lock. */
static void sweep_locked(struct api_packages *p, struct strv *ret_free)
{
    struct rt_registry *cur = api_routes_registry(p->routes);
    size_t kept = 0;

    for (size_t i = 0; i < p->n_retired; i++) {
        if (rt_registry_is_shared(p->retired[i]))
            p->retired[kept++] = p->retired[i];
        else
            rt_registry_unref(p->retired[i]);
    }
    p->n_retired = kept;
    for (size_t i = 0; i < p->pending.n;) {
        /* the current registry names it only if swapping it out failed (out of memory) */
        bool used = rt_registry_has_package(cur, p->pending.v[i]);

        for (size_t k = 0; !used && k < p->n_retired; k++)
            used = rt_registry_has_package(p->retired[k], p->pending.v[i]);
        if (used || strv_add(ret_free, p->pending.v[i]) < 0) {
            i++;
            continue;
        }
        strv_remove_at(&p->pending, i);
    }
    rt_registry_unref(cur);
}

static void remove_dirs(struct strv *dirs)
{
    for (size_t i = 0; i < dirs->n; i++) {
        int r = pkg_store_remove_dir(dirs->v[i]);

        if (r < 0)
            log_warn("cannot remove uninstalled package %s: %s", dirs->v[i], strerror(-r));
        else
            log_info("removed uninstalled package directory %s", dirs->v[i]);
    }
    strv_done(dirs);
}

static void *janitor_main(void *arg)
{
    struct api_packages *p = arg;

    pthread_mutex_lock(&p->lock);
    while (!atomic_load(&p->stopping)) {
        struct strv dirs = {0};
        struct timespec ts;

        if (p->n_retired == 0 && p->pending.n == 0) {
            pthread_cond_wait(&p->changed, &p->lock);
            continue;
        }
        sweep_locked(p, &dirs);
        pthread_mutex_unlock(&p->lock);
        remove_dirs(&dirs);
        pthread_mutex_lock(&p->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += JANITOR_PERIOD_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        (void)pthread_cond_timedwait(&p->changed, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- install and uninstall ---- */

static void collect_warning(void *userdata, const char *message)
{
    struct strbuf *sb = userdata;

    if (sb->len > 0)
        (void)strbuf_append_str(sb, "; ");
    (void)strbuf_append_str(sb, message);
}

/* Registers the staged package, commits it on disk and publishes the new registry. */
static int publish_install(struct api_packages *p, struct pkg_staged *staged, char **reterr)
{
    struct rt_registry *cur, *next = NULL, *sorted = NULL, *old;
    struct strbuf warnings = {.cap = 4096};
    size_t added = 0;
    int r;

    cur = api_routes_registry(p->routes);
    r = rt_registry_with_package(cur, staged->dir, collect_warning, &warnings, &next, &added);
    rt_registry_unref(cur);
    if (r >= 0 && added == 0) {
        rt_registry_unref(next);
        r = asprintf(reterr, "package registers no runtime: %s",
                     warnings.data ? warnings.data : "invalid pkg-info.json");
        strbuf_done(&warnings);
        return r < 0 ? -ENOMEM : -EBADMSG;
    }
    if (r >= 0 && warnings.len > 0) /* e.g. built for another platform: installed anyway */
        log_warn("%s", warnings.data);
    strbuf_done(&warnings);
    if (r < 0)
        return r;
    r = pkg_store_commit(staged, reterr);
    if (r < 0) {
        rt_registry_unref(next);
        return r;
    }
    /* Published in the order a restart gives (installed packages sorted by name, version),
     * when that can be had; `next` (the new runtimes at the end) otherwise. */
    cur = api_routes_registry(p->routes);
    if (rt_registry_reload_installed(cur, p->store.data_dir, NULL, NULL, &sorted) >= 0 &&
        rt_registry_count(sorted) == rt_registry_count(next)) {
        rt_registry_unref(next);
        next = sorted;
    } else {
        rt_registry_unref(sorted);
    }
    rt_registry_unref(cur);
    old = api_routes_swap_registry(p->routes, next, &r);
    if (!old)
        return r; /* on disk: a restart loads it */
    retire(p, old);
    return 0;
}

static int install(struct api_packages *p, const struct pkg_index_entry *e, char **reterr)
{
    _cleanup_free_ char *target = NULL, *dir = NULL;
    struct pkg_staged *staged = NULL;
    int r;

    /* a plain (Piston-layout) directory still used by a job of its uninstalled copy */
    if (asprintf(&target, "%s/packages/%s/%s", p->store.data_dir, e->name, e->version) < 0)
        return -ENOMEM;
    dir = realpath(target, NULL);
    if (dir && dir_is_pending(p, dir))
        return asprintf(reterr, "%s-%s is still being removed: a running job uses it", e->name,
                        e->version) < 0
                   ? -ENOMEM
                   : -EBUSY;
    r = pkg_store_stage(&p->store, e, &p->install, &staged, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&p->commit_lock);
    r = publish_install(p, staged, reterr);
    pthread_mutex_unlock(&p->commit_lock);
    pkg_staged_free(staged, r >= 0);
    return r;
}

void api_packages_install(struct api_packages *p, const char *language, const char *version,
                          struct api_pkg_reply *out)
{
    struct pkg_index *index = NULL;
    const struct pkg_index_entry *e;
    _cleanup_free_ char *err = NULL;
    int r;

    if (!get_index(p, out, &index))
        return;
    e = pkg_index_find(index, language, version);
    if (!e) {
        reply_message(out, 404, "Requested package %s-%s does not exist", language, version);
    } else if (pkg_store_is_installed(&p->store, e->name, e->version)) {
        reply_message(out, 500, "Already installed");
    } else if (!busy_take(p, e->name, e->version)) {
        reply_message(out, 500, "%s-%s is being installed or removed by another request", e->name,
                      e->version);
    } else {
        log_info("installing package %s-%s from %s", e->name, e->version, e->url);
        r = install(p, e, &err);
        busy_release(p, e->name, e->version);
        if (r < 0) {
            log_warn("installing package %s-%s failed: %s", e->name, e->version,
                     err ? err : strerror(-r));
            reply_message(out, 500, "%s", err ? err : strerror(-r));
        } else {
            log_info("installed package %s-%s", e->name, e->version);
            reply_json(out, 200,
                       json_pack("{s:s,s:s}", "language", e->name, "version", e->version));
        }
    }
    pkg_index_free(index);
}

static int uninstall(struct api_packages *p, const char *name, const char *version, char **reterr)
{
    struct rt_registry *cur, *next = NULL, *old;
    _cleanup_free_ char *dir = NULL;
    int r;

    pthread_mutex_lock(&p->commit_lock);
    r = pkg_store_uninstall(&p->store, name, version, &dir, reterr);
    if (r >= 0) {
        cur = api_routes_registry(p->routes);
        r = rt_registry_without_package(cur, dir, &next);
        rt_registry_unref(cur);
    }
    if (r >= 0) {
        old = api_routes_swap_registry(p->routes, next, &r);
        if (old)
            retire(p, old);
    }
    if (dir) {
        pthread_mutex_lock(&p->lock);
        if (strv_add(&p->pending, dir) < 0)
            log_warn("out of memory: %s stays on disk until the next start", dir);
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->commit_lock);
    return r;
}

void api_packages_uninstall(struct api_packages *p, const char *language, const char *version,
                            struct api_pkg_reply *out)
{
    _cleanup_free_ char *resolved = NULL, *err = NULL;
    int r;

    /* a name that cannot be a package directory ("../x") is looked up nowhere */
    r = pkg_name_is_safe(language)
            ? pkg_store_find_installed(&p->store, language, version, &resolved)
            : -ENOENT;
    if (r == -ENOENT) {
        reply_message(out, 500, "%s-%s is not installed", language, version);
        return;
    }
    if (r < 0) {
        reply_message(out, 500, "%s", strerror(-r));
        return;
    }
    if (!busy_take(p, language, resolved)) {
        reply_message(out, 500, "%s-%s is being installed or removed by another request", language,
                      resolved);
        return;
    }
    r = uninstall(p, language, resolved, &err);
    busy_release(p, language, resolved);
    if (r == -ENOENT) /* another daemon or request was faster */
        reply_message(out, 500, "%s-%s is not installed", language, version);
    else if (r < 0)
        reply_message(out, 500, "%s", err ? err : strerror(-r));
    else {
        log_info("uninstalled package %s-%s", language, resolved);
        reply_json(out, 200, json_pack("{s:s,s:s}", "language", language, "version", resolved));
    }
}

/* ---- lifetime ---- */

int api_packages_new(struct api_routes *routes, struct api_packages **ret)
{
    const struct api_config *cfg = routes->cfg;
    struct api_packages *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return -ENOMEM;
    p->routes = routes;
    p->repo_url = cfg->repo_url;
    p->store = (struct pkg_store){.data_dir = cfg->data_dir, .instance = cfg->eng.instance};
    p->index_fetch = (struct pkg_fetch_options){
        .max_bytes = INDEX_MAX_BYTES,
        .timeout_ms = cfg->package_index_timeout_ms,
        .connect_timeout_ms = MIN(cfg->package_index_timeout_ms, CONNECT_TIMEOUT_MS),
        .allow_file = true,
        .cancel = &p->stopping,
    };
    /* Packages may come from file:// only when the index does: a remote index must not make
     * the daemon read (and report the checksum of) local files. */
    p->install.fetch = (struct pkg_fetch_options){
        .max_bytes = cfg->package_max_download,
        .timeout_ms = cfg->package_download_timeout_ms,
        .connect_timeout_ms = MIN(cfg->package_download_timeout_ms, CONNECT_TIMEOUT_MS),
        .allow_file = strncasecmp(cfg->repo_url, "file:", 5) == 0,
        .cancel = &p->stopping,
    };
    p->install.unpack = (struct pkg_unpack_limits){.max_bytes = cfg->package_max_unpacked,
                                                   .max_entries = cfg->package_max_entries};
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->commit_lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    r = pkg_fetch_global_init();
    if (r >= 0) {
        r = pkg_store_cleanup(&p->store);
        if (r > 0)
            log_info("removed %d leftovers of interrupted package operations", r);
        else if (r < 0)
            log_warn("cannot clean up %s/packages: %s", p->store.data_dir, strerror(-r));
        r = -pthread_create(&p->janitor, NULL, janitor_main, p);
        p->janitor_started = r == 0;
    }
    if (r < 0) {
        api_packages_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void api_packages_stop(struct api_packages *p)
{
    struct strv dirs = {0};

    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stopping, true); /* transfers in flight stop at their next callback */
    pthread_cond_broadcast(&p->changed);
    while (p->running > 0)
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    if (p->janitor_started)
        pthread_join(p->janitor, NULL);
    p->janitor_started = false;
    /* the engine is gone by now: whatever no connection still holds can go */
    pthread_mutex_lock(&p->lock);
    sweep_locked(p, &dirs);
    pthread_mutex_unlock(&p->lock);
    remove_dirs(&dirs);
}

struct api_packages *api_packages_free(struct api_packages *p)
{
    if (!p)
        return NULL;
    api_packages_stop(p);
    for (size_t i = 0; i < p->n_retired; i++)
        rt_registry_unref(p->retired[i]);
    free(p->retired);
    strv_done(&p->busy);
    strv_done(&p->pending);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->commit_lock);
    pthread_mutex_destroy(&p->lock);
    pkg_fetch_global_done();
    free(p);
    return NULL;
}
