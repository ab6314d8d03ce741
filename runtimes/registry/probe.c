/* Version probe of a bundled package: its executable `version` script prints the installed
 * toolchain's real version (PISTON-API.md 5.1), so the wire never reports a guess. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* Trims the first line of the output; a leading "v" ("v20.1.0", as node prints it) is
 * dropped so the wire shows the bare version. */
static char *first_line(char *out)
{
    char *s = out, *e;

    s[strcspn(s, "\n")] = '\0';
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (*s == 'v')
        s++;
    return s;
}

static int probe_failed(int r)
{
    return r == -ENOMEM ? r : -ENOEXEC;
}

static int describe_status(int status, char **reterr)
{
    if (WIFEXITED(status))
        return rt__fail(reterr, "version probe exited with status %d", WEXITSTATUS(status));
    return rt__fail(reterr, "version probe killed by signal %d", WTERMSIG(status));
}

int rt__version_probe(const char *pkgdir, char *const *env, char **ret, char **reterr)
{
    _cleanup_free_ char *path = NULL, *out = NULL, *version = NULL;
    struct rt_semver semver;
    struct stat st;
    int status, r;
    char *line;

    if (asprintf(&path, "%s/version", pkgdir) < 0)
        return -ENOMEM;
    /* Only an executable regular file is a probe; anything else means "no probe". */
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
        *ret = NULL;
        return 0;
    }
    char *argv[] = {path, NULL};
    struct rt__spawn s = {
        .path = path,
        .argv = argv,
        .envp = env,
        .cwd = pkgdir,
        .max_output = RT_PROBE_OUTPUT_MAX,
        .timeout_ms = RT_SCRIPT_TIMEOUT_MS,
    };
    r = rt__spawn_capture(&s, &out, NULL, &status);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return probe_failed(rt__fail(reterr, "version probe failed: %s", strerror(-r)));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return probe_failed(describe_status(status, reterr));
    line = first_line(out);
    if (rt_semver_parse(line, &semver) < 0)
        return probe_failed(rt__fail(reterr,
                                     "version probe printed \"%.64s\", not a "
                                     "semver version",
                                     line));
    rt_semver_done(&semver);
    version = strdup(line);
    if (!version)
        return -ENOMEM;
    *ret = TAKE_PTR(version);
    return 0;
}
