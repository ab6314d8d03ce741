/* Runtime registry: Piston package directories -> immutable list of runtimes.
 * Reads metadata.json / pkg-info.json, provides, aliases, limit_overrides, environment, and
 * matches node-semver ranges. Never forks except to evaluate a package's `environment` script
 * (and a bundled package's `version` probe) while loading. Thread-safe once built: the
 * registry is immutable and reference-counted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per-language limits (PISTON-API.md 4.2). A value of 0 means "not set here". */
enum rt_limit {
    RT_LIMIT_MAX_PROCESS_COUNT,
    RT_LIMIT_MAX_OPEN_FILES,
    RT_LIMIT_MAX_FILE_SIZE,
    RT_LIMIT_COMPILE_MEMORY_LIMIT,
    RT_LIMIT_RUN_MEMORY_LIMIT,
    RT_LIMIT_COMPILE_TIMEOUT,
    RT_LIMIT_RUN_TIMEOUT,
    RT_LIMIT_COMPILE_CPU_TIME,
    RT_LIMIT_RUN_CPU_TIME,
    RT_LIMIT_OUTPUT_MAX_SIZE,
    RT_LIMIT_COUNT,
};
/** Wire name of a limit key ("max_process_count", ..., "output_max_size"). */
const char *rt_limit_name(enum rt_limit limit);
/** Inverse of rt_limit_name; -EINVAL for an unknown key. */
int rt_limit_from_name(const char *name, enum rt_limit *ret);

struct rt_semver {
    uint64_t major, minor, patch;
    char *prerelease; /* NULL or the dot-separated prerelease identifiers */
};

struct rt_runtime {
    char *language; /* runtime language, e.g. "c++" */
    char *version;  /* raw version string reported on the wire */
    struct rt_semver semver;
    char **aliases;     /* NULL-terminated, possibly empty */
    char *package_name; /* value of the "runtime" key when from a `provides` list, else NULL */
    char *package_dir;  /* absolute (canonical) host path of the package directory */
    char *box_dir;      /* where boxes see it: RT_BOX_PACKAGES_DIR/<language>/<version> */
    bool compiled;      /* package has a `compile` script */
    char **env;         /* NULL-terminated "KEY=VALUE" list from environment/.env */
    char **run_argv;    /* `run.argv` template (tokens "$@", "${@:2}"), or NULL: bash `run` */
    int64_t limit_overrides[RT_LIMIT_COUNT]; /* from metadata; 0 = not set */
};

/* Every package appears in its boxes at <this>/<language>/<version> (as its metadata file
 * names them), wherever it lives on the host: Piston installs packages there (its data
 * directory defaults to /piston) and builds them with that path as their prefix, and a fixed
 * path shows a job nothing of the host's layout. Values of the package environment naming the
 * host directory are rewritten to it. */
#define RT_BOX_PACKAGES_DIR "/piston/packages"

struct rt_registry;

/** The argv `run` would exec, from the package's run.argv, with run_args (entry file, then
 *  the request's args) in place of its tokens. NULL when the runtime has no run.argv (run
 *  `run` with bash) or on out-of-memory. Free each string and the vector. */
char **rt_run_argv_expand(const struct rt_runtime *rt, const char *const *run_args, size_t n);

struct rt_load_options {
    const char *runtimes_dir; /* CAPSULE_RUNTIMES_DIR; may be NULL */
    const char *data_dir; /* PISTON_DATA_DIRECTORY; packages under <dir>/packages; may be NULL */
    /* Bundled packages may hold an executable `version` script printing the toolchain's real
     * version; when true it is run once at load and replaces metadata's version. */
    bool probe_versions;
};

/* One warning per skipped package or problem, for the caller to log (library never logs). */
typedef void (*rt_warn_fn)(void *userdata, const char *message);

/** Loads all packages in PISTON-API.md 5.3 order. Returns 0 and a registry with refcount 1, or
 *  -errno (-ENOENT: runtimes_dir missing). A bundled package whose `version` probe fails is a
 *  hard error: -ENOEXEC with *ret_failed_package set (malloc'd name) so startup can name it. */
int rt_registry_load(const struct rt_load_options *opts, rt_warn_fn warn, void *userdata,
                     struct rt_registry **ret, char **ret_failed_package);
struct rt_registry *rt_registry_ref(struct rt_registry *reg);
struct rt_registry *rt_registry_unref(struct rt_registry *reg);

size_t rt_registry_count(const struct rt_registry *reg);
const struct rt_runtime *rt_registry_get(const struct rt_registry *reg, size_t index);
/** Highest-version runtime whose language or alias equals `language` and whose version
 *  satisfies `range` (node-semver, non-loose). NULL if none. */
const struct rt_runtime *rt_registry_find(const struct rt_registry *reg, const char *language,
                                          const char *range);

/** Parses a full semver version ("1.2.3", "1.2.3-alpha.1", leading v/= allowed). -EINVAL. */
int rt_semver_parse(const char *s, struct rt_semver *ret);
void rt_semver_done(struct rt_semver *v);
int rt_semver_compare(const struct rt_semver *a, const struct rt_semver *b);
/** True if `version` satisfies the range expression (unparsable range → false). */
bool rt_semver_satisfies(const struct rt_semver *version, const char *range);

/* ---- Registries derived from another (package install and uninstall, no restart) ---- */

/** A new registry (refcount 1) holding every runtime of `reg` followed by those of the
 *  installed package directory `dir` (pkg-info.json, .env or environment; PISTON-API.md 5.3),
 *  in `provides` order. `reg` is left unchanged: jobs keep using it. *ret_added counts the
 *  package's runtimes that were added (0: invalid package or duplicates, each said through
 *  warn). -ENOMEM. */
int rt_registry_with_package(const struct rt_registry *reg, const char *dir, rt_warn_fn warn,
                             void *userdata, struct rt_registry **ret, size_t *ret_added);
/** A new registry (refcount 1): the runtimes of `reg` that are not installed packages (not
 *  under <data_dir>/packages), then every installed package of data_dir loaded afresh, in the
 *  order a restart would give (PISTON-API.md 5.3). -ENOMEM. */
int rt_registry_reload_installed(const struct rt_registry *reg, const char *data_dir,
                                 rt_warn_fn warn, void *userdata, struct rt_registry **ret);
/** A new registry (refcount 1) with copies of all the runtimes of `reg`. -ENOMEM. */
int rt_registry_copy(const struct rt_registry *reg, struct rt_registry **ret);
/** A new registry (refcount 1) holding the runtimes of `reg` whose package_dir is not `dir`.
 *  -ENOMEM. */
int rt_registry_without_package(const struct rt_registry *reg, const char *dir,
                                struct rt_registry **ret);
/** True if `dir` is the package directory of one of the registry's runtimes. */
bool rt_registry_has_package(const struct rt_registry *reg, const char *dir);
/** True while a reference other than the caller's exists. Meaningful only to a holder that
 *  no longer hands the registry out: then the count can only go down. */
bool rt_registry_is_shared(const struct rt_registry *reg);

/** A package's environment as the loader computes it (5.3): `.env` if present, else its
 *  `environment` sourced by bash with an empty environment in `dir`. NULL-terminated
 *  "KEY=VALUE" list for rt_strv_free. -EBADMSG with *reterr (malloc'd reason), -ENOMEM. */
int rt_package_environment(const char *dir, char ***ret, char **reterr);
/** Frees a NULL-terminated string vector; returns NULL. */
char **rt_strv_free(char **l);
