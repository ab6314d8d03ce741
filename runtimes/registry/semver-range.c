/* node-semver range expressions (non-loose, no includePrerelease), desugared the way
 * node-semver does it: every form becomes a list of primitive comparators, so the prerelease
 * rule sees exactly the bounds node-semver would (e.g. "~1.2" -> ">=1.2.0 <1.3.0-0"). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum cmp_op { OP_ANY, OP_EQ, OP_LT, OP_LE, OP_GT, OP_GE };

struct comparator {
    enum cmp_op op;
    struct rt_semver v; /* unused for OP_ANY */
};

struct cmp_set {
    struct comparator *cmps;
    size_t n;
};

struct rt__range {
    struct cmp_set *sets; /* OR of ANDs */
    size_t n_sets;
};

/* One version term of a range ("1", "1.2.x", "v1.2.3-beta"): the leading concrete numbers
 * up to the first missing or wildcard part, as node-semver's isX() sees them. */
struct partial {
    uint64_t num[3];
    unsigned n_num;    /* 0 = "*", 1 = "1.x", 2 = "1.2.x", 3 = full version */
    char *pre;         /* prerelease of a full version */
    bool plain_prefix; /* prefix was "" or "v": allowed before a bare full version */
};

static void partial_done(struct partial *x)
{
    free(x->pre);
    x->pre = NULL;
}

struct rt__range *rt__range_free(struct rt__range *range)
{
    if (!range)
        return NULL;
    for (size_t i = 0; i < range->n_sets; i++) {
        for (size_t j = 0; j < range->sets[i].n; j++)
            rt_semver_done(&range->sets[i].cmps[j].v);
        free(range->sets[i].cmps);
    }
    free(range->sets);
    free(range);
    return NULL;
}

static int add_cmp(struct cmp_set *set, enum cmp_op op, uint64_t major, uint64_t minor,
                   uint64_t patch, const char *pre)
{
    struct comparator *grown = realloc(set->cmps, (set->n + 1) * sizeof(*grown));
    char *pre_copy = NULL;

    if (!grown)
        return -ENOMEM;
    set->cmps = grown;
    if (pre) {
        pre_copy = strdup(pre);
        if (!pre_copy)
            return -ENOMEM;
    }
    set->cmps[set->n++] = (struct comparator){
        .op = op,
        .v = {.major = major, .minor = minor, .patch = patch, .prerelease = pre_copy},
    };
    return 0;
}

static int add_any(struct cmp_set *set)
{
    return add_cmp(set, OP_ANY, 0, 0, 0, NULL);
}

/* Parses "[v=]*" then up to three identifiers (numbers or x/X/\*), then, after a third one,
 * an optional prerelease and build. The whole string must be used. */
static int parse_partial(const char *t, struct partial *ret)
{
    struct partial x = {0};
    const char *start = t;
    bool wildcard = false;
    unsigned parts;
    int r;

    while (*t == 'v' || *t == '=')
        t++;
    x.plain_prefix = t == start || (t == start + 1 && *start == 'v');
    for (parts = 0; parts < 3; parts++) {
        if (parts > 0) {
            if (*t != '.')
                break;
            t++;
        }
        if (*t == 'x' || *t == 'X' || *t == '*') {
            t++;
            wildcard = true;
            continue;
        }
        r = rt__semver_scan_number(&t, &x.num[parts]);
        if (r < 0)
            return r;
        if (!wildcard)
            x.n_num++;
    }
    if (parts == 3) {
        r = rt__semver_scan_tail(&t, &x.pre);
        if (r < 0)
            return r;
    }
    if (*t != '\0') {
        partial_done(&x);
        return -EINVAL;
    }
    /* "1.2.x-beta" parses, but a prerelease on a wildcard has no meaning. */
    if (x.n_num < 3)
        partial_done(&x);
    *ret = x;
    return 0;
}

/* X-range with an optional operator ("1.x", ">=1.2", "<=1", "=1.2.3"). */
static int add_xrange(struct cmp_set *set, enum cmp_op op, const struct partial *x)
{
    uint64_t major = x->num[0], minor = x->n_num >= 2 ? x->num[1] : 0;
    int r;

    if (x->n_num == 3) {
        if (!x->plain_prefix)
            return -EINVAL;
        return add_cmp(set, op == OP_ANY ? OP_EQ : op, x->num[0], x->num[1], x->num[2], x->pre);
    }
    if (x->n_num == 0)
        /* ">*" and "<*" allow nothing; every other "*" allows everything. */
        return op == OP_GT || op == OP_LT ? add_cmp(set, OP_LT, 0, 0, 0, "0") : add_any(set);
    switch (op) {
    case OP_ANY:
    case OP_EQ:
        r = add_cmp(set, OP_GE, major, minor, 0, NULL);
        if (r < 0)
            return r;
        if (x->n_num == 1)
            return add_cmp(set, OP_LT, major + 1, 0, 0, "0");
        return add_cmp(set, OP_LT, major, minor + 1, 0, "0");
    case OP_GT: /* ">1" is ">=2.0.0", ">1.2" is ">=1.3.0" */
        return x->n_num == 1 ? add_cmp(set, OP_GE, major + 1, 0, 0, NULL)
                             : add_cmp(set, OP_GE, major, minor + 1, 0, NULL);
    case OP_LE: /* "<=1.2" is "<1.3.0-0": every 1.2.x passes */
        return x->n_num == 1 ? add_cmp(set, OP_LT, major + 1, 0, 0, "0")
                             : add_cmp(set, OP_LT, major, minor + 1, 0, "0");
    case OP_LT:
        return add_cmp(set, OP_LT, major, minor, 0, "0");
    case OP_GE:
        return add_cmp(set, OP_GE, major, minor, 0, NULL);
    }
    return -EINVAL;
}

/* "~1.2.3" := ">=1.2.3 <1.3.0-0", "~1.2" := ">=1.2.0 <1.3.0-0", "~1" := ">=1.0.0 <2.0.0-0". */
static int add_tilde(struct cmp_set *set, const struct partial *x)
{
    uint64_t major = x->num[0], minor = x->num[1];
    int r;

    if (x->n_num == 0)
        return add_any(set);
    if (x->n_num == 1)
        return add_xrange(set, OP_ANY, x);
    r = add_cmp(set, OP_GE, major, minor, x->n_num == 3 ? x->num[2] : 0, x->pre);
    if (r < 0)
        return r;
    return add_cmp(set, OP_LT, major, minor + 1, 0, "0");
}

/* "^" allows changes that do not modify the left-most non-zero part. */
static int add_caret(struct cmp_set *set, const struct partial *x)
{
    uint64_t major = x->num[0], minor = x->num[1], patch = x->num[2];
    int r;

    if (x->n_num <= 1)
        return x->n_num == 0 ? add_any(set) : add_xrange(set, OP_ANY, x);
    r = add_cmp(set, OP_GE, major, minor, x->n_num == 3 ? patch : 0, x->pre);
    if (r < 0)
        return r;
    if (major > 0)
        return add_cmp(set, OP_LT, major + 1, 0, 0, "0");
    if (minor > 0 || x->n_num == 2)
        return add_cmp(set, OP_LT, 0, minor + 1, 0, "0");
    return add_cmp(set, OP_LT, 0, 0, patch + 1, "0");
}

/* "A - B": inclusive bounds; a partial upper bound covers its whole span ("- 2.3" is
 * "<2.4.0-0"), a wildcard bound is no bound. */
static int add_hyphen(struct cmp_set *set, const struct partial *from, const struct partial *to)
{
    size_t before = set->n;
    int r = 0;

    if ((from->n_num == 3 && !from->plain_prefix) || (to->n_num == 3 && !to->plain_prefix))
        return -EINVAL;
    if (from->n_num > 0)
        r = add_cmp(set, OP_GE, from->num[0], from->n_num >= 2 ? from->num[1] : 0,
                    from->n_num == 3 ? from->num[2] : 0, from->pre);
    if (r < 0)
        return r;
    if (to->n_num == 3)
        r = add_cmp(set, OP_LE, to->num[0], to->num[1], to->num[2], to->pre);
    else if (to->n_num > 0)
        r = add_xrange(set, OP_LE, to);
    if (r < 0)
        return r;
    return set->n == before ? add_any(set) : 0;
}

static enum cmp_op scan_op(const char **t)
{
    const char *s = *t;
    enum cmp_op op = OP_ANY;

    if (s[0] == '<')
        op = s[1] == '=' ? OP_LE : OP_LT;
    else if (s[0] == '>')
        op = s[1] == '=' ? OP_GE : OP_GT;
    else if (s[0] == '=')
        op = OP_EQ;
    *t = s + (op == OP_LE || op == OP_GE ? 2 : op == OP_ANY ? 0 : 1);
    return op;
}

/* Parses the comparator starting at tok[*i]; an operator standing alone takes the next token
 * as its version (node-semver trims "> 1.2", "~ 1.2" and "^ 1.2" to one word). */
static int parse_comparator(struct cmp_set *set, char **tok, size_t n, size_t *i)
{
    _cleanup_(partial_done) struct partial x = {0};
    const char *t = tok[*i];
    char kind = '\0';
    enum cmp_op op = OP_ANY;
    int r;

    if (*t == '~' || *t == '^') {
        kind = *t++;
        if (kind == '~' && *t == '>')
            t++;
    } else
        op = scan_op(&t);
    if (*t == '\0') {
        if (++*i >= n)
            return -EINVAL;
        t = tok[*i];
    }
    r = parse_partial(t, &x);
    if (r < 0)
        return r;
    if (kind == '~')
        return add_tilde(set, &x);
    if (kind == '^')
        return add_caret(set, &x);
    return add_xrange(set, op, &x);
}

/* Splits on ASCII whitespace in place; *ret holds pointers into s. */
static int tokenize(char *s, char ***ret, size_t *ret_n)
{
    char **tok = calloc(strlen(s) / 2 + 2, sizeof(char *));
    size_t n = 0;

    if (!tok)
        return -ENOMEM;
    for (;;) {
        while (isspace((unsigned char)*s))
            *s++ = '\0';
        if (*s == '\0')
            break;
        tok[n++] = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
    }
    *ret = tok;
    *ret_n = n;
    return 0;
}

static int parse_set(struct rt__range *range, char *part)
{
    _cleanup_free_ char **tok = NULL;
    struct cmp_set *grown, *set;
    size_t n;
    int r;

    r = tokenize(part, &tok, &n);
    if (r < 0)
        return r;
    grown = realloc(range->sets, (range->n_sets + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    range->sets = grown;
    set = &range->sets[range->n_sets++];
    *set = (struct cmp_set){0};
    if (n == 0) /* "" and the empty side of "1 ||" mean "*" */
        return add_any(set);
    if (n == 3 && strcmp(tok[1], "-") == 0) {
        _cleanup_(partial_done) struct partial from = {0};
        _cleanup_(partial_done) struct partial to = {0};

        r = parse_partial(tok[0], &from);
        if (r < 0)
            return r;
        r = parse_partial(tok[2], &to);
        if (r < 0)
            return r;
        return add_hyphen(set, &from, &to);
    }
    for (size_t i = 0; i < n; i++) {
        r = parse_comparator(set, tok, n, &i);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool is_ident_char(char c)
{
    return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '-');
}

/* node-semver first deletes every "+build" from the whole range, wherever it stands ("1+b"
 * is "1"), so build metadata can never change what a range means. */
static void strip_build(char *s)
{
    char *w = s;

    for (const char *r = s; *r;) {
        if (r[0] != '+' || !is_ident_char(r[1])) {
            *w++ = *r++;
            continue;
        }
        do {
            r++;
            while (is_ident_char(*r))
                r++;
        } while (r[0] == '.' && is_ident_char(r[1]));
    }
    *w = '\0';
}

int rt__range_parse(const char *s, struct rt__range **ret)
{
    _cleanup_(rt__range_freep) struct rt__range *range = NULL;
    _cleanup_free_ char *buf = NULL;
    char *part;
    int r;

    if (!s)
        return -EINVAL;
    buf = strdup(s);
    range = calloc(1, sizeof(*range));
    if (!buf || !range)
        return -ENOMEM;
    strip_build(buf);
    for (part = buf;;) {
        char *bar = strstr(part, "||");

        if (bar)
            *bar = '\0';
        r = parse_set(range, part);
        if (r < 0)
            return r;
        if (!bar)
            break;
        part = bar + 2;
    }
    *ret = TAKE_PTR(range);
    return 0;
}

static bool comparator_test(const struct comparator *c, const struct rt_semver *v)
{
    int d;

    if (c->op == OP_ANY)
        return true;
    d = rt_semver_compare(v, &c->v);
    switch (c->op) {
    case OP_ANY:
        return true;
    case OP_EQ:
        return d == 0;
    case OP_LT:
        return d < 0;
    case OP_LE:
        return d <= 0;
    case OP_GT:
        return d > 0;
    case OP_GE:
        return d >= 0;
    }
    return false;
}

static bool set_test(const struct cmp_set *set, const struct rt_semver *v)
{
    for (size_t i = 0; i < set->n; i++)
        if (!comparator_test(&set->cmps[i], v))
            return false;
    if (!v->prerelease)
        return true;
    /* A prerelease passes only if this set opted into prereleases of its exact
     * major.minor.patch by naming one (node-semver's testSet). */
    for (size_t i = 0; i < set->n; i++) {
        const struct comparator *c = &set->cmps[i];

        if (c->op != OP_ANY && c->v.prerelease && c->v.major == v->major &&
            c->v.minor == v->minor && c->v.patch == v->patch)
            return true;
    }
    return false;
}

bool rt__range_test(const struct rt__range *range, const struct rt_semver *v)
{
    for (size_t i = 0; i < range->n_sets; i++)
        if (set_test(&range->sets[i], v))
            return true;
    return false;
}

bool rt_semver_satisfies(const struct rt_semver *version, const char *range)
{
    _cleanup_(rt__range_freep) struct rt__range *parsed = NULL;

    if (!version || rt__range_parse(range, &parsed) < 0)
        return false;
    return rt__range_test(parsed, version);
}
