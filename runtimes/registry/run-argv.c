/* `run.argv`, a capsuled extension: the argv a package's `run` script ends up exec'ing, so
 * the engine can exec it directly instead of starting bash first (2-3 ms per job here, as
 * long as a precompiled C program's whole run). One argument per line, taken literally (no
 * quoting, no expansion) except two whole-line tokens: `$@` (the run arguments: entry file,
 * then the request's args) and `${@:2}` (the request's args only). Empty lines and lines
 * starting with '#' are skipped. The first argument must be a path ("/usr/bin/python3" or
 * "./a.out", relative to the work directory). A package without the file, or whose file is
 * not valid, runs through `run` as in Piston; the two must mean the same. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "internal.h"

#define RT_RUN_ARGV_MAX (64 * 1024)

int rt__run_argv_parse(const char *text, size_t len, char ***ret, const char **err)
{
    _cleanup_(rt__strv_freep) char **argv = calloc(1, sizeof(char *));
    const char *end = text + len;
    int r;

    if (!argv)
        return -ENOMEM;
    if (memchr(text, '\0', len)) {
        *err = "contains a NUL byte";
        return -EINVAL;
    }
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (n > 0 && line[0] != '#') {
            r = rt__strv_consume(&argv, strndup(line, n));
            if (r < 0)
                return r;
        }
        line += n + 1;
    }
    if (!argv[0]) {
        *err = "no argument";
        return -EINVAL;
    }
    if (argv[0][0] != '/' && strncmp(argv[0], "./", 2) != 0) {
        *err = "the first argument is not a path (/... or ./...)";
        return -EINVAL;
    }
    for (char **a = argv; *a; a++)
        if (strchr(*a, '$') && strcmp(*a, "$@") != 0 && strcmp(*a, "${@:2}") != 0) {
            *err = "a '$' outside the tokens $@ and ${@:2} (no other expansion is done)";
            return -EINVAL;
        }
    *ret = TAKE_PTR(argv);
    return 0;
}

int rt__run_argv_load(const char *dir, char ***ret, const char **err)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r;

    *ret = NULL;
    if (dfd < 0)
        return -errno;
    r = read_file_at(dfd, "run.argv", RT_RUN_ARGV_MAX, &text, &len);
    if (r == -ENOENT)
        return 0;
    if (r < 0) {
        *err = r == -EFBIG ? "larger than 64 KiB" : "unreadable";
        return r;
    }
    return rt__run_argv_parse(text, len, ret, err);
}

char **rt_run_argv_expand(const struct rt_runtime *rt, const char *const *run_args, size_t n)
{
    _cleanup_(rt__strv_freep) char **argv = calloc(1, sizeof(char *));

    if (!argv || !rt->run_argv)
        return NULL;
    for (char **t = rt->run_argv; *t; t++) {
        size_t from = strcmp(*t, "$@") == 0 ? 0 : strcmp(*t, "${@:2}") == 0 ? 1 : SIZE_MAX;
        if (from == SIZE_MAX) {
            if (rt__strv_push(&argv, *t) < 0)
                return NULL;
            continue;
        }
        for (size_t i = from; i < n; i++)
            if (rt__strv_push(&argv, run_args[i]) < 0)
                return NULL;
    }
    return TAKE_PTR(argv);
}
