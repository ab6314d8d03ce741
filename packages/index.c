/* The package index (PISTON-API.md 2.4): one "name,version,sha256hex,url" per line. A line
 * that is not one of those refuses the whole index, so a captive portal's HTML page or a
 * truncated download is an error the operator sees, never a half-read list. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "macro.h"
#include "packages.h"

#define NAME_MAX_LEN 128
#define URL_MAX_LEN 4096

/* Every refusal of an index is a malformed message. */
#define fail(reterr, ...) errmsg_set(reterr, -EBADMSG, __VA_ARGS__)

bool pkg_name_is_safe(const char *name)
{
    size_t n = strlen(name);

    /* one path component that the loader does not skip as hidden */
    if (n == 0 || n > NAME_MAX_LEN || name[0] == '.')
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

static void entry_done(struct pkg_index_entry *e)
{
    free(e->name);
    free(e->version);
    rt_semver_done(&e->semver);
    free(e->url);
}

struct pkg_index *pkg_index_free(struct pkg_index *index)
{
    if (!index)
        return NULL;
    for (size_t i = 0; i < index->n; i++)
        entry_done(&index->entries[i]);
    free(index->entries);
    free(index);
    return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pkg_index *, pkg_index_free);

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool url_is_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* Splits one line (no newline, NUL-terminated copy) into an entry. */
static int parse_line(char *line, size_t lineno, struct pkg_index_entry *ret, char **reterr)
{
    struct pkg_index_entry e = {0};
    char *field[3], *url, *p = line;

    for (size_t i = 0; i < 3; i++) {
        char *comma = strchr(p, ',');

        if (!comma)
            return fail(reterr, "line %zu: expected name,version,sha256,url", lineno);
        *comma = '\0';
        field[i] = p;
        p = comma + 1;
    }
    /* The URL is the rest of the line: commas are legal in URLs. */
    url = p;
    if (!pkg_name_is_safe(field[0]))
        return fail(reterr, "line %zu: invalid package name", lineno);
    if (rt_semver_parse(field[1], &e.semver) < 0)
        return fail(reterr, "line %zu: invalid version", lineno);
    if (!is_hex64(field[2], strlen(field[2]))) {
        rt_semver_done(&e.semver);
        return fail(reterr, "line %zu: invalid sha256", lineno);
    }
    if (url[0] == '\0' || strlen(url) > URL_MAX_LEN || !url_is_printable(url)) {
        rt_semver_done(&e.semver);
        return fail(reterr, "line %zu: invalid url", lineno);
    }
    for (size_t i = 0; i < 64; i++)
        e.sha256[i] = (char)tolower((unsigned char)field[2][i]);
    e.name = strdup(field[0]);
    e.version = strdup(field[1]);
    e.url = strdup(url);
    if (!e.name || !e.version || !e.url) {
        entry_done(&e);
        return -ENOMEM;
    }
    *ret = e;
    return 0;
}

static int index_push(struct pkg_index *index, size_t *alloc, struct pkg_index_entry *e)
{
    if (index->n == *alloc) {
        size_t n = *alloc ? *alloc * 2 : 64;
        struct pkg_index_entry *grown = realloc(index->entries, n * sizeof(*grown));

        if (!grown)
            return -ENOMEM;
        index->entries = grown;
        *alloc = n;
    }
    index->entries[index->n++] = *e;
    *e = (struct pkg_index_entry){0};
    return 0;
}

int pkg_index_parse(const char *text, size_t len, struct pkg_index **ret, char **reterr)
{
    _cleanup_(pkg_index_freep) struct pkg_index *index = calloc(1, sizeof(*index));
    const char *p = text, *end = text + len;
    size_t alloc = 0, lineno = 0;
    int r;

    if (!index)
        return -ENOMEM;
    if (memchr(text, '\0', len))
        return fail(reterr, "the index holds NUL bytes");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p), advance = nl ? n + 1 : n;
        _cleanup_free_ char *line = NULL;
        struct pkg_index_entry e;

        lineno++;
        if (n > 0 && p[n - 1] == '\r')
            n--; /* an index saved with CRLF line ends */
        if (n > 0) {
            line = strndup(p, n);
            if (!line)
                return -ENOMEM;
            r = parse_line(line, lineno, &e, reterr);
            if (r < 0)
                return r;
            r = index_push(index, &alloc, &e);
            if (r < 0) {
                entry_done(&e);
                return r;
            }
        }
        p += advance;
    }
    *ret = TAKE_PTR(index);
    return 0;
}

const struct pkg_index_entry *pkg_index_find(const struct pkg_index *index, const char *name,
                                             const char *range)
{
    const struct pkg_index_entry *best = NULL;

    for (size_t i = 0; i < index->n; i++) {
        const struct pkg_index_entry *e = &index->entries[i];

        if (strcmp(e->name, name) != 0 || !rt_semver_satisfies(&e->semver, range))
            continue;
        if (!best || rt_semver_compare(&e->semver, &best->semver) > 0)
            best = e;
    }
    return best;
}
