/* Shared inside the runtimes layer only (rt__ prefix). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "runtimes.h"

/* Size caps for what a package may make us read: metadata is small, an environment is a few
 * variables; a runaway script must not exhaust the daemon's memory at startup. */
#define RT_METADATA_MAX (1024 * 1024)
#define RT_ENV_MAX (1024 * 1024)
#define RT_PROBE_OUTPUT_MAX (64 * 1024)
/* A package script that hangs must not hang startup forever. */
#define RT_SCRIPT_TIMEOUT_MS 30000
/* node-semver's Number.MAX_SAFE_INTEGER bound on version components. */
#define RT_SEMVER_NUM_MAX UINT64_C(9007199254740991)

/* ---- strv.c: NULL-terminated string vectors ---- */
char **rt__strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, rt__strv_free);
size_t rt__strv_length(char *const *l);
/** Appends a copy of s (l may be NULL). -ENOMEM. */
int rt__strv_push(char ***l, const char *s);
/** Takes ownership of s (freed on failure too). -ENOMEM. */
int rt__strv_consume(char ***l, char *s);
/** Deep copy; an empty vector for NULL. NULL on out-of-memory. */
char **rt__strv_copy(char *const *l);
bool rt__strv_contains(char *const *l, const char *s);

/* ---- run-argv.c: the `run.argv` extension ---- */
/** -EINVAL with *err set for an invalid template, -ENOMEM. */
int rt__run_argv_parse(const char *text, size_t len, char ***ret, const char **err);
/** *ret NULL (and 0) when the package has no run.argv. */
int rt__run_argv_load(const char *dir, char ***ret, const char **err);

/* ---- semver.c ---- */
/** Scans a numeric identifier (0 or no leading zero, at most RT_SEMVER_NUM_MAX) at *p,
 *  advancing *p. -EINVAL if none. */
int rt__semver_scan_number(const char **p, uint64_t *ret);
/** Scans an optional "-prerelease" and "+build" at *p, advancing *p. *ret_pre is the malloc'd
 *  prerelease or NULL. -EINVAL (malformed), -ENOMEM. */
int rt__semver_scan_tail(const char **p, char **ret_pre);
int rt__semver_copy(const struct rt_semver *v, struct rt_semver *ret);

/* ---- semver-range.c: node-semver ranges, parsed once and tested many times ---- */
struct rt__range;
/** -EINVAL if unparsable, -ENOMEM. */
int rt__range_parse(const char *s, struct rt__range **ret);
bool rt__range_test(const struct rt__range *range, const struct rt_semver *v);
struct rt__range *rt__range_free(struct rt__range *range);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rt__range *, rt__range_free);

/* ---- metadata.c: metadata.json / pkg-info.json ---- */
struct rt__provide {
    char *language;
    char **aliases;
    int64_t limits[RT_LIMIT_COUNT];
};

struct rt__package {
    char *language;
    char *version;
    struct rt_semver semver;
    char **aliases;
    int64_t limits[RT_LIMIT_COUNT];
    bool has_provides; /* a provides array, even an empty one, replaces the package runtime */
    struct rt__provide *provides;
    size_t n_provides;
    char *build_platform; /* pkg-info.json only; NULL if absent */
};

/** Parses metadata text. -EBADMSG with *reterr (malloc'd reason) for invalid metadata,
 *  -ENOMEM. */
int rt__package_parse(const char *text, size_t len, struct rt__package **ret, char **reterr);
struct rt__package *rt__package_free(struct rt__package *pkg);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rt__package *, rt__package_free);

/* ---- spawn.c ---- */
struct rt__spawn {
    const char *path;    /* absolute executable */
    char *const *argv;   /* argv[0] included */
    char *const *envp;   /* exactly the child's environment */
    const char *cwd;     /* child's working directory */
    size_t max_output;   /* more stdout → the child is killed, -EFBIG */
    unsigned timeout_ms; /* longer → the child is killed, -ETIMEDOUT */
};
/** Runs a helper with stdin and stderr on /dev/null, capturing stdout. *ret_status is the
 *  waitpid() status. Signals are reset to default and unblocked in the child. */
int rt__spawn_capture(const struct rt__spawn *s, char **ret_out, size_t *ret_len, int *ret_status);

/* ---- environment.c ---- */
/** Parses a cached `.env` file (KEY=VALUE per line). -ENOMEM. */
int rt__env_parse_dotenv(const char *text, size_t len, char ***ret);
/** Computes a package environment: `.env` if present, else `environment` sourced by bash with
 *  an empty environment; no `environment` file gives an empty list. -EBADMSG when the
 *  evaluation fails (*reterr says why), -ENOMEM. */
int rt__env_load(const char *pkgdir, char ***ret, char **reterr);
/** Rewrites the host package directory `from` to `to` (its box path) in every value, where
 *  it ends a path component. -ENOMEM. */
int rt__env_relocate(char **env, const char *from, const char *to);
/** Runs an executable `version` script if the package has one. 0 with *ret = NULL when there
 *  is none; -ENOEXEC (*reterr says why) when it fails or prints no valid version. */
int rt__version_probe(const char *pkgdir, char *const *env, char **ret, char **reterr);

/* ---- registry.c ---- */
/** Sets *reterr to a formatted reason and returns -EBADMSG (-ENOMEM if that fails). */
int rt__fail(char **reterr, const char *fmt, ...) _printf_(2, 3);
struct rt__loader {
    struct rt_registry *reg;
    rt_warn_fn warn;
    void *userdata;
    bool probe_versions;
    char *failed_package; /* set when a version probe failed: stop loading */
};
void rt__warn(struct rt__loader *ld, const char *fmt, ...) _printf_(2, 3);
/** Adds a runtime built from a package, always taking its contents (*rt is zeroed). A
 *  duplicate (language, version) is dropped with a warning (returns 0). -ENOMEM. */
int rt__registry_add(struct rt__loader *ld, struct rt_runtime *rt);
void rt__runtime_done(struct rt_runtime *rt);
/** An empty registry with refcount 1. -ENOMEM. */
int rt__registry_new(struct rt_registry **ret);

/* ---- package.c ---- */
enum rt__source {
    RT__SOURCE_BUNDLED,   /* CAPSULE_RUNTIMES_DIR: metadata.json or pkg-info.json, may probe */
    RT__SOURCE_INSTALLED, /* <data_dir>/packages: pkg-info.json */
};
/** True if dir/name is (or links to) a regular file. */
bool rt__has_file(const char *dir, const char *name);
/** Loads one package directory (already known to qualify) into the registry. Invalid packages
 *  are skipped with a warning (0). -ENOEXEC when a version probe fails (ld->failed_package is
 *  set to `name`), -ENOMEM. */
int rt__package_load(struct rt__loader *ld, const char *path, const char *name,
                     enum rt__source source);

/* ---- scan.c ---- */
/** Loads every package under a runtimes directory. -ENOENT if it does not exist. */
int rt__scan_runtimes_dir(struct rt__loader *ld, const char *dir);
/** Loads <data_dir>/packages/<name>/<version>/ marked installed; a missing tree is fine. */
int rt__scan_data_dir(struct rt__loader *ld, const char *data_dir);
