/* Configuration from the environment (PISTON-API.md 4.1 and 4.3). One table row per variable:
 * name, parser, default and target, so adding a setting is one line, not a new branch. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "macro.h"
#include "parse-util.h"

#define DEFAULT_PORT "2000"
#define INSTANCE_NAME_MAX 64
#define HTTP_THREADS_MAX 1024
#define RATE_MAX 1000000 /* requests per second: keeps the bucket arithmetic far from overflow */

/* Parsing state: the result plus values that are only needed for cross-checks. */
struct config_state {
    struct api_config cfg;
    int64_t uid_max, gid_max;
    api_getenv_fn getenv_fn;
    void *userdata;
};

struct config_option;
/* `value` is NULL when the variable is unset and the row has no textual default. On a bad
 * value returns -EINVAL with *ret_reason (malloc'd) completing "failed validation: ". */
typedef int (*config_parse_fn)(struct config_state *st, const struct config_option *opt,
                               const char *value, char **ret_reason);

struct config_option {
    const char *name;
    config_parse_fn parse;
    const char *def;   /* used when unset; NULL: the parser computes the default */
    size_t offset;     /* target inside struct config_state */
    size_t width;      /* integer targets: 4 or 8 bytes */
    int64_t min, max;  /* integer targets: accepted range */
    const char *below; /* integer targets: Piston's reason for a value under min, if any */
};

#define FIELD(f)                                                                                   \
    .offset = offsetof(struct config_state, f), .width = sizeof(((struct config_state *)0)->f)
#define LIMIT(l) FIELD(cfg.eng.limits[l])

static int parse_integer(struct config_state *st, const struct config_option *opt,
                         const char *value, char **ret_reason);
static int parse_log_level(struct config_state *st, const struct config_option *opt,
                           const char *value, char **ret_reason);
static int parse_bind(struct config_state *st, const struct config_option *opt, const char *value,
                      char **ret_reason);
static int parse_data_dir(struct config_state *st, const struct config_option *opt,
                          const char *value, char **ret_reason);
static int parse_string(struct config_state *st, const struct config_option *opt, const char *value,
                        char **ret_reason);
static int parse_disable(struct config_state *st, const struct config_option *opt,
                         const char *value, char **ret_reason);
static int parse_overrides(struct config_state *st, const struct config_option *opt,
                           const char *value, char **ret_reason);
static int parse_instance(struct config_state *st, const struct config_option *opt,
                          const char *value, char **ret_reason);
static int parse_http_threads(struct config_state *st, const struct config_option *opt,
                              const char *value, char **ret_reason);
static int parse_tokens(struct config_state *st, const struct config_option *opt, const char *value,
                        char **ret_reason);
static int parse_secret(struct config_state *st, const struct config_option *opt, const char *value,
                        char **ret_reason);

/* Spec order: when several values are bad, the first row's error is the one reported. */
static const struct config_option options[] = {
    {"PISTON_LOG_LEVEL", parse_log_level, "INFO"},
    {"PISTON_BIND_ADDRESS", parse_bind, NULL},
    {"PISTON_DATA_DIRECTORY", parse_data_dir, NULL},
    /* Slot ids: 0 would be root. */
    {"PISTON_RUNNER_UID_MIN", parse_integer, "60000", FIELD(cfg.eng.uid_min), 1, UINT32_MAX - 1},
    {"PISTON_RUNNER_UID_MAX", parse_integer, "60999", FIELD(uid_max), 1, UINT32_MAX - 1},
    {"PISTON_RUNNER_GID_MIN", parse_integer, "60000", FIELD(cfg.eng.gid_min), 1, UINT32_MAX - 1},
    {"PISTON_RUNNER_GID_MAX", parse_integer, "60999", FIELD(gid_max), 1, UINT32_MAX - 1},
    {"PISTON_DISABLE_NETWORKING", parse_disable, "true"},
    {"PISTON_OUTPUT_MAX_SIZE", parse_integer, "1024", LIMIT(RT_LIMIT_OUTPUT_MAX_SIZE), 0,
     INT64_MAX},
    {"PISTON_MAX_PROCESS_COUNT", parse_integer, "64", LIMIT(RT_LIMIT_MAX_PROCESS_COUNT), 1,
     INT64_MAX},
    {"PISTON_MAX_OPEN_FILES", parse_integer, "2048", LIMIT(RT_LIMIT_MAX_OPEN_FILES), 1, INT64_MAX},
    {"PISTON_MAX_FILE_SIZE", parse_integer, "10000000", LIMIT(RT_LIMIT_MAX_FILE_SIZE), 0,
     INT64_MAX},
    /* Time and memory: 0 or below means "no limit", so every integer is meaningful. */
    {"PISTON_COMPILE_TIMEOUT", parse_integer, "10000", LIMIT(RT_LIMIT_COMPILE_TIMEOUT), INT64_MIN,
     INT64_MAX},
    {"PISTON_RUN_TIMEOUT", parse_integer, "3000", LIMIT(RT_LIMIT_RUN_TIMEOUT), INT64_MIN,
     INT64_MAX},
    {"PISTON_COMPILE_CPU_TIME", parse_integer, "10000", LIMIT(RT_LIMIT_COMPILE_CPU_TIME), INT64_MIN,
     INT64_MAX},
    {"PISTON_RUN_CPU_TIME", parse_integer, "3000", LIMIT(RT_LIMIT_RUN_CPU_TIME), INT64_MIN,
     INT64_MAX},
    {"PISTON_COMPILE_MEMORY_LIMIT", parse_integer, "1073741824",
     LIMIT(RT_LIMIT_COMPILE_MEMORY_LIMIT), INT64_MIN, INT64_MAX},
    {"PISTON_RUN_MEMORY_LIMIT", parse_integer, "536870912", LIMIT(RT_LIMIT_RUN_MEMORY_LIMIT),
     INT64_MIN, INT64_MAX},
    {"PISTON_REPO_URL", parse_string,
     "https://github.com/engineer-man/piston/releases/download/pkgs/index", FIELD(cfg.repo_url)},
    /* One worker thread and one uid per slot: bounded well below the uid space. */
    {"PISTON_MAX_CONCURRENT_JOBS", parse_integer, "64", FIELD(cfg.eng.max_concurrent_jobs), 1,
     65536, "cannot be negative"},
    {"PISTON_LIMIT_OVERRIDES", parse_overrides, "{}"},
    {"CAPSULE_RUNTIMES_DIR", parse_string, CAPSULE_DEFAULT_RUNTIMES_DIR, FIELD(cfg.runtimes_dir)},
    {"CAPSULE_MAX_BODY_SIZE", parse_integer, "10485760", FIELD(cfg.max_body_size), 1, INT64_MAX},
    {"CAPSULE_TMPFS_SIZE", parse_integer, "67108864", FIELD(cfg.eng.tmpfs_size), 1, INT64_MAX},
    {"CAPSULE_TMPFS_INODES", parse_integer, "4096", FIELD(cfg.eng.tmpfs_inodes), 1, INT64_MAX},
    {"CAPSULE_MAX_QUEUE", parse_integer, "1024", FIELD(cfg.eng.max_queue), 0, INT64_MAX},
    {"CAPSULE_COMPILE_CACHE_SIZE", parse_integer, "268435456", FIELD(cfg.eng.compile_cache_size), 0,
     INT64_MAX},
    {"CAPSULE_INSTANCE", parse_instance, NULL},
    {"CAPSULE_HTTP_THREADS", parse_http_threads, NULL, FIELD(cfg.http_threads), 1,
     HTTP_THREADS_MAX},
    /* Operations. Empty secrets mean "off", so /etc/default/capsuled can list every name. */
    {"CAPSULE_API_TOKENS", parse_tokens, ""},
    {"CAPSULE_HMAC_SECRET", parse_secret, ""},
    /* Above what the default inode quota (4096) holds, so the quota answers realistic requests
     * first; the cap bounds the name and decoding work of absurd ones (a 10 MiB body holds
     * ~700000 empty entries). */
    {"CAPSULE_MAX_FILES", parse_integer, "10000", FIELD(cfg.max_files), 1, INT64_MAX},
    {"CAPSULE_RATE_LIMIT", parse_integer, "0", FIELD(cfg.rate_limit), 0, RATE_MAX},
    {"CAPSULE_RATE_BURST", parse_integer, "0", FIELD(cfg.rate_burst), 0, RATE_MAX},
    /* A day at most: a drain longer than that is a hang, not a drain. */
    {"CAPSULE_DRAIN_TIMEOUT", parse_integer, "30000", FIELD(cfg.drain_timeout_ms), 0, 86400000},
    /* Packages API: Piston's largest packages are a few hundred MiB packed, ~2 GiB unpacked. */
    {"CAPSULE_PACKAGE_INDEX_TIMEOUT", parse_integer, "30000", FIELD(cfg.package_index_timeout_ms),
     1, 86400000},
    {"CAPSULE_PACKAGE_DOWNLOAD_TIMEOUT", parse_integer, "1800000",
     FIELD(cfg.package_download_timeout_ms), 1, 86400000},
    {"CAPSULE_PACKAGE_MAX_DOWNLOAD", parse_integer, "2147483648", FIELD(cfg.package_max_download),
     1, INT64_MAX},
    {"CAPSULE_PACKAGE_MAX_UNPACKED", parse_integer, "8589934592", FIELD(cfg.package_max_unpacked),
     1, INT64_MAX},
    {"CAPSULE_PACKAGE_MAX_ENTRIES", parse_integer, "500000", FIELD(cfg.package_max_entries), 1,
     INT64_MAX},
};

static const char *env(const struct config_state *st, const char *name)
{
    return st->getenv_fn(st->userdata, name);
}

static int reason(char **ret_reason, const char *fmt, ...) _printf_(2, 3);
static int reason(char **ret_reason, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(ret_reason, fmt, ap);
    va_end(ap);
    if (r < 0) {
        *ret_reason = NULL;
        return -ENOMEM;
    }
    return -EINVAL;
}

static int range_reason(const struct config_option *opt, const char *raw, int64_t v,
                        char **ret_reason)
{
    if (v < opt->min && opt->below)
        return reason(ret_reason, "%s %s", raw, opt->below);
    if (opt->max == INT64_MAX)
        return reason(ret_reason, "%s must be at least %" PRId64, raw, opt->min);
    return reason(ret_reason, "%s must be between %" PRId64 " and %" PRId64, raw, opt->min,
                  opt->max);
}

static void store_integer(struct config_state *st, const struct config_option *opt, int64_t v)
{
    char *p = (char *)st + opt->offset;

    /* Every 4-byte target (unsigned, uid_t, gid_t) has a range within uint32_t. */
    if (opt->width == sizeof(int64_t)) {
        memcpy(p, &v, sizeof(v));
    } else {
        uint32_t u = (uint32_t)v;
        memcpy(p, &u, sizeof(u));
    }
}

/* Whole value must be a decimal integer within the row's range (PISTON-API.md 1.2). */
static int check_integer(const struct config_option *opt, const char *value, int64_t *ret,
                         char **ret_reason)
{
    int64_t v = 0;
    int r;

    r = parse_int64(value, &v);
    if (r < 0)
        return reason(ret_reason, r == -ERANGE ? "%s is out of range" : "%s is not a number",
                      value);
    if (v < opt->min || v > opt->max)
        return range_reason(opt, value, v, ret_reason);
    *ret = v;
    return 0;
}

static int parse_integer(struct config_state *st, const struct config_option *opt,
                         const char *value, char **ret_reason)
{
    int64_t v = 0;
    int r;

    r = check_integer(opt, value, &v, ret_reason);
    if (r < 0)
        return r;
    store_integer(st, opt, v);
    return 0;
}

static int parse_log_level(struct config_state *st, _unused_ const struct config_option *opt,
                           const char *value, char **ret_reason)
{
    if (log_level_from_string(value, &st->cfg.log_level) < 0)
        return reason(ret_reason, "Log level %s does not exist", value);
    return 0;
}

static int parse_bind(struct config_state *st, _unused_ const struct config_option *opt,
                      const char *value, char **ret_reason)
{
    _cleanup_free_ char *def = NULL;
    const char *port;
    int r;

    if (!value) {
        /* Piston: `0.0.0.0:${PORT:-2000}`; PORT is used for nothing else. */
        port = env(st, "PORT");
        if (!port || !*port)
            port = DEFAULT_PORT;
        if (asprintf(&def, "0.0.0.0:%s", port) < 0)
            return -ENOMEM;
        value = def;
    }
    r = parse_bind_address(value, &st->cfg.bind_host, &st->cfg.bind_port);
    if (r == -EINVAL)
        return reason(ret_reason, "%s is not a valid address (host:port or [ipv6]:port)", value);
    return r;
}

static int parse_data_dir(struct config_state *st, _unused_ const struct config_option *opt,
                          const char *value, char **ret_reason)
{
    struct stat sb;

    /* The default may be absent (no installed packages); an explicit one must exist. */
    st->cfg.data_dir_explicit = value != NULL;
    if (!value)
        value = "/var/lib/capsuled";
    else if (stat(value, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return reason(ret_reason, "Directory %s does not exist", value);
    st->cfg.data_dir = strdup(value);
    return st->cfg.data_dir ? 0 : -ENOMEM;
}

static int parse_string(struct config_state *st, const struct config_option *opt, const char *value,
                        _unused_ char **ret_reason)
{
    char *copy = strdup(value);

    if (!copy)
        return -ENOMEM;
    memcpy((char *)st + opt->offset, &copy, sizeof(copy));
    return 0;
}

static int parse_disable(struct config_state *st, _unused_ const struct config_option *opt,
                         const char *value, _unused_ char **ret_reason)
{
    st->cfg.eng.networking = !parse_fail_safe_true(value);
    return 0;
}

/* The global row of a limit, so an override obeys the same range as the variable. */
static const struct config_option *limit_option(enum rt_limit limit)
{
    size_t off = offsetof(struct config_state, cfg.eng.limits) + (size_t)limit * sizeof(int64_t);

    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (options[i].parse == parse_integer && options[i].offset == off)
            return &options[i];
    return NULL;
}

static int override_limits(json_t *limits, struct eng_language_overrides *o)
{
    const char *key;
    json_t *v;

    if (!json_is_object(limits))
        return -EINVAL;
    json_object_foreach(limits, key, v)
    {
        const struct config_option *opt;
        enum rt_limit limit;
        int64_t x;

        if (rt_limit_from_name(key, &limit) < 0 || !json_is_integer(v))
            return -EINVAL;
        x = json_integer_value(v);
        opt = limit_option(limit);
        /* 0 is always allowed: it means "not set here" (falls through, PISTON-API.md 4.2). */
        if (x != 0 && opt && (x < opt->min || x > opt->max))
            return -EINVAL;
        o->limits[limit] = x;
    }
    return 0;
}

static int parse_overrides(struct config_state *st, _unused_ const struct config_option *opt,
                           const char *value, char **ret_reason)
{
    _cleanup_(json_decrefp) json_t *root = json_loads(value, 0, NULL);
    struct eng_config *eng = &st->cfg.eng;
    const char *language;
    json_t *limits;

    if (!root || !json_is_object(root))
        return reason(ret_reason, "Failed to parse the overrides");
    eng->overrides = calloc(json_object_size(root) + 1, sizeof(*eng->overrides));
    if (!eng->overrides)
        return -ENOMEM;
    json_object_foreach(root, language, limits)
    {
        struct eng_language_overrides *o = &eng->overrides[eng->n_overrides];

        o->language = strdup(language);
        if (!o->language)
            return -ENOMEM;
        eng->n_overrides++;
        if (override_limits(limits, o) < 0)
            return reason(ret_reason, "Failed to parse the overrides");
    }
    return 0;
}

/* The instance names a cgroup and a directory: keep it to one safe path component. */
static bool instance_is_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > INSTANCE_NAME_MAX || s[0] == '.')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

static int parse_instance(struct config_state *st, _unused_ const struct config_option *opt,
                          const char *value, char **ret_reason)
{
    char *name;

    if (value && !instance_is_valid(value))
        return reason(ret_reason,
                      "%s is not a valid instance name (up to %d letters, digits, '.', '_' "
                      "or '-', not starting with '.')",
                      value, INSTANCE_NAME_MAX);
    if (value)
        name = strdup(value);
    else if (asprintf(&name, "capsule-%u", (unsigned)st->cfg.bind_port) < 0)
        name = NULL;
    if (!name)
        return -ENOMEM;
    st->cfg.eng.instance = name;
    return 0;
}

static int parse_http_threads(struct config_state *st, const struct config_option *opt,
                              const char *value, char **ret_reason)
{
    long cpus;

    if (value)
        return parse_integer(st, opt, value, ret_reason);
    /* One thread per CPU, but at least two so a slow client never stalls the rest. */
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    st->cfg.http_threads = (unsigned)MIN(MAX(cpus, 2L), (long)HTTP_THREADS_MAX);
    return 0;
}

/* Secrets are never echoed: the startup line goes to logs. */
static bool is_token_char(char c)
{
    return c > ' ' && c < 0x7f && c != ',';
}

static int check_token(const char *s, size_t len, char **ret_reason)
{
    for (size_t i = 0; i < len; i++)
        if (!is_token_char(s[i]))
            return reason(ret_reason, "tokens must be visible ASCII, separated by commas");
    if (len < API_AUTH_TOKEN_MIN)
        return reason(ret_reason, "each token must be at least %d characters", API_AUTH_TOKEN_MIN);
    return 0;
}

/* Comma-separated; spaces around a token and empty items are ignored. */
static int parse_tokens(struct config_state *st, _unused_ const struct config_option *opt,
                        const char *value, char **ret_reason)
{
    size_t n = 0, max = 2;
    int r;

    for (const char *c = value; *c; c++)
        max += *c == ',';
    st->cfg.api_tokens = calloc(max, sizeof(char *));
    if (!st->cfg.api_tokens)
        return -ENOMEM;
    for (const char *p = value;; p++) {
        size_t len = strcspn(p, ",");
        const char *start = p, *end = p + len;

        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > start) {
            r = check_token(start, (size_t)(end - start), ret_reason);
            if (r < 0)
                return r;
            st->cfg.api_tokens[n] = strndup(start, (size_t)(end - start));
            if (!st->cfg.api_tokens[n++])
                return -ENOMEM;
        }
        p += len;
        if (!*p)
            break;
    }
    return 0;
}

static int parse_secret(struct config_state *st, _unused_ const struct config_option *opt,
                        const char *value, char **ret_reason)
{
    if (!*value)
        return 0;
    if (strlen(value) < API_AUTH_SECRET_MIN)
        return reason(ret_reason, "the secret must be at least %d characters", API_AUTH_SECRET_MIN);
    st->cfg.hmac_secret = strdup(value);
    return st->cfg.hmac_secret ? 0 : -ENOMEM;
}

/* Each slot runs under its own uid and gid, so the ranges must hold one id per job. */
static int check_id_range(int64_t min, int64_t max, unsigned jobs, char **ret_reason)
{
    if (max >= min && (uint64_t)(max - min) + 1 >= jobs)
        return 0;
    return reason(ret_reason,
                  "range %" PRId64 "..%" PRId64
                  " holds fewer than %u ids (PISTON_MAX_CONCURRENT_JOBS)",
                  min, max, jobs);
}

static int set_run_dir(struct config_state *st)
{
    const char *base = env(st, "RUNTIME_DIRECTORY");
    size_t base_len;
    char *dir;

    /* systemd's RuntimeDirectory=; several directories come colon-separated, use the first. */
    if (base && base[0] == '/') {
        base_len = strcspn(base, ":");
    } else {
        base = "/run/capsule";
        base_len = strlen(base);
    }
    if (asprintf(&dir, "%.*s/%s", (int)base_len, base, st->cfg.eng.instance) < 0)
        return -ENOMEM;
    st->cfg.eng.run_dir = dir;
    return 0;
}

/* The daemon mounts a private tmpfs on its run directory before the first box: a package
 * directory below it would be hidden from every box. Anywhere else works (boxes bind each
 * package at a fixed path). A directory that does not exist yet is left to the loader. */
static int check_outside_run_dir(const char *dir, const char *run_dir, char **ret_reason)
{
    _cleanup_free_ char *real = dir ? realpath(dir, NULL) : NULL;
    size_t n = strlen(run_dir);

    if (!real || strncmp(real, run_dir, n) != 0 || (real[n] != '/' && real[n] != '\0'))
        return 0;
    return reason(ret_reason,
                  "%s is inside the run directory %s, which capsuled covers with its own tmpfs "
                  "(boxes would not see it)",
                  dir, run_dir);
}

static int check_package_dirs(struct config_state *st, char **ret_error);

static int fail(const char *name, char *why, char **ret_error)
{
    int r;

    if (!why)
        return -ENOMEM;
    r = asprintf(ret_error, "Config option %s failed validation: %s", name, why);
    free(why);
    return r < 0 ? -ENOMEM : -EINVAL;
}

static int load_all(struct config_state *st, char **ret_error)
{
    char *why = NULL;
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct config_option *opt = &options[i];
        const char *value = env(st, opt->name);

        r = opt->parse(st, opt, value ? value : opt->def, &why);
        if (r == -EINVAL)
            return fail(opt->name, why, ret_error);
        if (r < 0)
            return r;
    }
    r = check_id_range(st->cfg.eng.uid_min, st->uid_max, st->cfg.eng.max_concurrent_jobs, &why);
    if (r == -EINVAL)
        return fail("PISTON_RUNNER_UID_MAX", why, ret_error);
    if (r < 0)
        return r;
    r = check_id_range(st->cfg.eng.gid_min, st->gid_max, st->cfg.eng.max_concurrent_jobs, &why);
    if (r == -EINVAL)
        return fail("PISTON_RUNNER_GID_MAX", why, ret_error);
    if (r < 0)
        return r;
    st->cfg.uid_max = (uint32_t)st->uid_max;
    st->cfg.gid_max = (uint32_t)st->gid_max;
    if (st->cfg.rate_burst == 0)
        st->cfg.rate_burst = st->cfg.rate_limit;
    r = set_run_dir(st);
    if (r < 0)
        return r;
    return check_package_dirs(st, ret_error);
}

static int check_package_dirs(struct config_state *st, char **ret_error)
{
    char *why = NULL;
    int r;

    r = check_outside_run_dir(st->cfg.runtimes_dir, st->cfg.eng.run_dir, &why);
    if (r == -EINVAL)
        return fail("CAPSULE_RUNTIMES_DIR", why, ret_error);
    if (r < 0)
        return r;
    r = check_outside_run_dir(st->cfg.data_dir, st->cfg.eng.run_dir, &why);
    if (r == -EINVAL)
        return fail("PISTON_DATA_DIRECTORY", why, ret_error);
    return r;
}

int api_config_load(api_getenv_fn getenv_fn, void *userdata, struct api_config *ret,
                    char **ret_error)
{
    struct config_state st = {.getenv_fn = getenv_fn, .userdata = userdata};
    int r;

    r = load_all(&st, ret_error);
    if (r < 0) {
        api_config_done(&st.cfg);
        return r;
    }
    *ret = st.cfg;
    return 0;
}

void api_config_done(struct api_config *cfg)
{
    free(cfg->bind_host);
    free(cfg->runtimes_dir);
    free(cfg->data_dir);
    free(cfg->repo_url);
    for (char **t = cfg->api_tokens; t && *t; t++) {
        explicit_bzero(*t, strlen(*t));
        free(*t);
    }
    free(cfg->api_tokens);
    if (cfg->hmac_secret)
        explicit_bzero(cfg->hmac_secret, strlen(cfg->hmac_secret));
    free(cfg->hmac_secret);
    for (size_t i = 0; i < cfg->eng.n_overrides; i++)
        free(cfg->eng.overrides[i].language);
    free(cfg->eng.overrides);
    /* eng_config exposes these as const for the engine; this struct owns them. */
    free((char *)cfg->eng.instance);
    free((char *)cfg->eng.run_dir);
    *cfg = (struct api_config){0};
}
