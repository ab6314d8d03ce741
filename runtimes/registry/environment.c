/* Package environments (PISTON-API.md 5.3) and the bundled packages' version probe. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"
#include "strbuf.h"

/* Bash's own bookkeeping, not the package's (Piston drops the same names). */
static const char *const env_excluded[] = {"PWD", "OLDPWD", "_", "SHLVL"};

/* Marks a complete listing: an `exit` inside `environment` would otherwise look like an
 * empty environment. A name cannot start with '.', so no variable can look like it. */
#define ENV_DONE_MARK ".capsule-env-done"

/* Sourced with cwd = package dir and an empty environment; then every exported, set
 * variable is printed NUL-terminated, with builtins only (no dependency on env(1), and
 * immune to IFS or function names the script may have changed). The names come through a
 * here-string, not a process substitution: `<(...)` needs /dev/fd, which a host without
 * systemd's /dev links lacks (found on the v2vm guest: every package lost its PATH). */
static const char env_script[] =
    "source ./environment >/dev/null 2>&1\n"
    "set +e +u +a +o pipefail\n"
    "builtin mapfile -t __capsule_names <<<\"$(builtin compgen -e)\"\n"
    "for __capsule_n in \"${__capsule_names[@]}\"; do\n"
    "  [[ -v $__capsule_n ]] && builtin printf '%s=%s\\0' \"$__capsule_n\" \"${!__capsule_n}\"\n"
    "done\n"
    "builtin printf '%s\\0' " ENV_DONE_MARK "\n";

static bool env_keep(const char *entry, size_t len)
{
    const char *eq = memchr(entry, '=', len);

    if (!eq || eq == entry)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(env_excluded); i++)
        if (strlen(env_excluded[i]) == (size_t)(eq - entry) &&
            memcmp(entry, env_excluded[i], (size_t)(eq - entry)) == 0)
            return false;
    return true;
}

/* Splits `text` on `sep` and keeps KEY=VALUE entries; `done_mark`, if given, must appear
 * as an entry and ends the list. -EBADMSG if it is missing. */
static int env_split(const char *text, size_t len, char sep, const char *done_mark, char ***ret)
{
    _cleanup_(rt__strv_freep) char **env = calloc(1, sizeof(char *));
    const char *p = text, *end = text + len;
    int r;

    if (!env)
        return -ENOMEM;
    while (p < end) {
        const char *q = memchr(p, sep, (size_t)(end - p));
        size_t n = q ? (size_t)(q - p) : (size_t)(end - p);

        if (done_mark && n == strlen(done_mark) && memcmp(p, done_mark, n) == 0) {
            done_mark = NULL;
            break;
        }
        if (env_keep(p, n) && !memchr(p, '\0', n)) {
            r = rt__strv_consume(&env, strndup(p, n));
            if (r < 0)
                return r;
        }
        p += n + 1;
    }
    if (done_mark)
        return -EBADMSG;
    *ret = TAKE_PTR(env);
    return 0;
}

int rt__env_parse_dotenv(const char *text, size_t len, char ***ret)
{
    return env_split(text, len, '\n', NULL, ret);
}

static int env_evaluate(const char *pkgdir, char ***ret, char **reterr)
{
    char *argv[] = {"bash", "--noprofile", "--norc", "-c", (char *)env_script, NULL};
    char *envp[] = {NULL};
    struct rt__spawn s = {
        .path = "/bin/bash",
        .argv = argv,
        .envp = envp,
        .cwd = pkgdir,
        .max_output = RT_ENV_MAX,
        .timeout_ms = RT_SCRIPT_TIMEOUT_MS,
    };
    _cleanup_free_ char *out = NULL;
    size_t len;
    int status, r;

    r = rt__spawn_capture(&s, &out, &len, &status);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return rt__fail(reterr, "evaluating environment failed: %s", strerror(-r));
    r = env_split(out, len, '\0', ENV_DONE_MARK, ret);
    if (r == -ENOMEM)
        return r;
    if (r >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (r >= 0)
        *ret = rt__strv_free(*ret);
    return rt__fail(reterr, "sourcing environment did not finish (it exits or fails)");
}

int rt__env_load(const char *pkgdir, char ***ret, char **reterr)
{
    _cleanup_close_ int dfd = open(pkgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r;

    if (dfd < 0)
        return rt__fail(reterr, "cannot open package directory: %m");
    r = read_file_at(dfd, ".env", RT_ENV_MAX, &text, &len);
    if (r >= 0)
        return rt__env_parse_dotenv(text, len, ret);
    if (r != -ENOENT)
        return rt__fail(reterr, "cannot read .env: %s", strerror(-r));
    if (faccessat(dfd, "environment", F_OK, 0) < 0) {
        if (errno != ENOENT)
            return rt__fail(reterr, "cannot access environment: %m");
        *ret = calloc(1, sizeof(char *));
        return *ret ? 0 : -ENOMEM;
    }
    return env_evaluate(pkgdir, ret, reterr);
}

/* Rewrites every occurrence of `from` that ends a path component (followed by '/', ':', a space
 * or the end) in the value of each entry to `to`. Returns -ENOMEM (entries already rewritten
 * stay rewritten). */
static int env_entry_relocate(char **entry, const char *from, const char *to)
{
    _cleanup_(strbuf_done) struct strbuf out = {0};
    size_t from_len = strlen(from);
    const char *eq = strchr(*entry, '='), *p, *hit;
    bool changed = false;

    if (!eq)
        return 0;
    if (strbuf_append(&out, *entry, (size_t)(eq + 1 - *entry)) < 0)
        return -ENOMEM;
    for (p = eq + 1; (hit = strstr(p, from)); p = hit + from_len) {
        char next = hit[from_len];
        bool boundary = next == '\0' || next == '/' || next == ':' || next == ' ';
        if (strbuf_append(&out, p, (size_t)(hit - p)) < 0 ||
            strbuf_append(&out, boundary ? to : from, strlen(boundary ? to : from)) < 0)
            return -ENOMEM;
        changed |= boundary;
    }
    if (!changed)
        return 0;
    if (strbuf_append(&out, p, strlen(p)) < 0)
        return -ENOMEM;
    free(*entry);
    *entry = strbuf_steal(&out, NULL);
    return *entry ? 0 : -ENOMEM;
}

int rt__env_relocate(char **env, const char *from, const char *to)
{
    int r;

    if (strcmp(from, to) == 0)
        return 0;
    for (char **e = env; e && *e; e++) {
        r = env_entry_relocate(e, from, to);
        if (r < 0)
            return r;
    }
    return 0;
}
