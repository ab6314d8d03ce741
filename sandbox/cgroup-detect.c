/* cgroup backend, topology: which mount holds which controller (/proc/self/mountinfo), where
 * this process sits in each hierarchy (/proc/self/cgroup), and so whether the host is v2
 * (a unified mount whose own cgroup offers memory and pids) or v1. Split from cgroup.c,
 * which builds and uses the tree found here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup-internal.h"
#include "fd-util.h"
#include "macro.h"

#define MOUNTINFO_MAX (4u << 20)
#define PROC_CGROUP_MAX (64u << 10)

/* True when `word` is one of the tokens of s[0..len) separated by any of `seps`. */
bool sbx__cg_list_has(const char *s, size_t len, const char *word, const char *seps)
{
    size_t wlen = strlen(word);

    for (size_t i = 0; i < len;) {
        size_t n = 0;
        while (i + n < len && !strchr(seps, s[i + n]))
            n++;
        if (n == wlen && memcmp(s + i, word, n) == 0)
            return true;
        i += n + 1;
    }
    return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
    char *w = s;

    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* "id parent maj:min root point options [optional...] - fstype source super", split in place. */
static bool mountinfo_parse_line(char *line, struct sbx_cg_mount *ret)
{
    char *f[6], *tok;

    for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
        f[i] = strsep(&line, " ");
        if (!f[i])
            return false;
    }
    do
        tok = strsep(&line, " ");
    while (tok && strcmp(tok, "-") != 0);
    ret->fstype = strsep(&line, " ");
    (void)strsep(&line, " ");
    ret->super = strsep(&line, " ");
    if (!tok || !ret->fstype || !ret->super)
        return false;
    ret->root = f[3];
    ret->point = f[4];
    unescape_octal(ret->root);
    unescape_octal(ret->point);
    return true;
}

/* Collects the cgroup and cgroup2 mounts, in mountinfo order (pointers into `text`). */
static int mountinfo_cgroups(char *text, struct sbx_cg_mount **ret, size_t *ret_n)
{
    _cleanup_free_ struct sbx_cg_mount *v = NULL;
    size_t n = 0, alloc = 0;
    char *line;

    while ((line = strsep(&text, "\n"))) {
        struct sbx_cg_mount m;
        if (!mountinfo_parse_line(line, &m))
            continue;
        if (strcmp(m.fstype, "cgroup") != 0 && strcmp(m.fstype, "cgroup2") != 0)
            continue;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            struct sbx_cg_mount *nv = realloc(v, alloc * sizeof(*v));
            if (!nv)
                return -ENOMEM;
            v = nv;
        }
        v[n++] = m;
    }
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

/* The path of this process's cgroup for `controller` ("" = the v2 line "0::/..."). */
int sbx__cg_proc_cgroup_find(const char *text, const char *controller, char **ret)
{
    for (const char *line = text; *line;) {
        const char *eol = strchrnul(line, '\n');
        const char *c1 = memchr(line, ':', (size_t)(eol - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
        bool match = false;

        if (c2 && controller[0])
            match = sbx__cg_list_has(c1 + 1, (size_t)(c2 - c1 - 1), controller, ",");
        else if (c2)
            match = c2 == c1 + 1 && c1 == line + 1 && line[0] == '0';
        if (match) {
            *ret = strndup(c2 + 1, (size_t)(eol - c2 - 1));
            return *ret ? 0 : -ENOMEM;
        }
        line = *eol ? eol + 1 : eol;
    }
    return -ENOENT;
}

/* <prefix><mount point><own path below the mounted root>; -ENOENT when this process's cgroup
 * is not visible through the mount (another subtree is mounted there). */
int sbx__cg_hier_own_path(const char *prefix, const struct sbx_cg_mount *m, const char *own,
                          char **ret)
{
    size_t rlen = strlen(m->root);
    const char *rel = own;

    if (strcmp(m->root, "/") != 0) {
        if (strncmp(own, m->root, rlen) != 0 || (own[rlen] != '/' && own[rlen] != '\0'))
            return -ENOENT;
        rel = own + rlen;
    }
    size_t len = strlen(rel);
    while (len > 0 && rel[len - 1] == '/')
        len--;
    if (asprintf(ret, "%s%s%.*s", prefix, m->point, (int)len, rel) < 0)
        return -ENOMEM;
    return 0;
}

int sbx__cg_detect(struct sbx_cgroup_root *root, const struct sbx_cgroup_paths *paths,
                   struct sbx_error *reterr)
{
    _cleanup_free_ char *mountinfo = NULL, *proc = NULL;
    _cleanup_free_ struct sbx_cg_mount *mnts = NULL;
    const char *prefix = paths->path_prefix ? paths->path_prefix : "";
    const char *mi_path = paths->mountinfo ? paths->mountinfo : "/proc/self/mountinfo";
    const char *pc_path = paths->proc_cgroup ? paths->proc_cgroup : "/proc/self/cgroup";
    const char *missing_v2 = NULL, *missing_v1 = NULL;
    bool any_v1 = false;
    size_t n = 0;
    int r;

    r = read_file_at(AT_FDCWD, mi_path, MOUNTINFO_MAX, &mountinfo, NULL);
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-detect", r, mi_path);
    r = read_file_at(AT_FDCWD, pc_path, PROC_CGROUP_MAX, &proc, NULL);
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-detect", r, pc_path);
    r = mountinfo_cgroups(mountinfo, &mnts, &n);
    if (r < 0)
        return sbx__cg_fail(reterr, "cgroup-detect", r, NULL);
    /* v2 is preferred where it holds the controllers. */
    r = sbx__cg_detect_v2(root, prefix, mnts, n, proc, &missing_v2);
    if (r != -ENOENT)
        return r < 0 ? sbx__cg_fail(reterr, "cgroup-detect", r, NULL) : 0;
    r = sbx__cg_detect_v1(root, prefix, mnts, n, proc, &missing_v1);
    if (r >= 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        any_v1 = any_v1 || strcmp(mnts[i].fstype, "cgroup") == 0;
    /* Name what a pure v2 host lacks rather than the absent v1 hierarchy. */
    if (!any_v1 && missing_v2)
        missing_v1 = missing_v2;
    return sbx__cg_fail(reterr, "cgroup-detect", r, r == -ENOENT ? missing_v1 : NULL);
}

/* ---- root --------------------------------------------------------------------------------- */
