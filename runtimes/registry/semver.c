/* Semantic versions (semver 2.0 as node-semver reads them, non-loose). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* node-semver refuses longer version strings (MAX_LENGTH). */
#define SEMVER_MAX_LENGTH 256

static bool is_ident_char(char c)
{
    return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '-');
}

int rt__semver_scan_number(const char **p, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;

    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    /* Leading zeros are invalid in strict mode: "01" is not a number. */
    if (s[0] == '0' && isdigit((unsigned char)s[1]))
        return -EINVAL;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > RT_SEMVER_NUM_MAX)
            return -EINVAL;
    }
    *p = s;
    *ret = v;
    return 0;
}

/* Scans dot-separated identifiers; prerelease identifiers that are all digits must not have
 * leading zeros, build identifiers may. Returns the length scanned, 0 if malformed. */
static size_t scan_identifiers(const char *s, bool numeric_strict)
{
    const char *p = s;

    for (;;) {
        const char *start = p;
        bool all_digits = true;

        while (is_ident_char(*p)) {
            if (!isdigit((unsigned char)*p))
                all_digits = false;
            p++;
        }
        if (p == start)
            return 0;
        if (numeric_strict && all_digits && *start == '0' && p - start > 1)
            return 0;
        if (*p != '.')
            return (size_t)(p - s);
        p++;
    }
}

int rt__semver_scan_tail(const char **p, char **ret_pre)
{
    const char *s = *p;
    char *pre = NULL;
    size_t n;

    if (*s == '-') {
        n = scan_identifiers(s + 1, true);
        if (n == 0)
            return -EINVAL;
        pre = strndup(s + 1, n);
        if (!pre)
            return -ENOMEM;
        s += 1 + n;
    }
    if (*s == '+') {
        /* Build metadata never takes part in comparisons: checked, then dropped. */
        n = scan_identifiers(s + 1, false);
        if (n == 0) {
            free(pre);
            return -EINVAL;
        }
        s += 1 + n;
    }
    *p = s;
    *ret_pre = pre;
    return 0;
}

int rt_semver_parse(const char *s, struct rt_semver *ret)
{
    uint64_t num[3];
    char *pre = NULL;
    int r;

    if (!s || strlen(s) > SEMVER_MAX_LENGTH)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '=')
        s++;
    if (*s == 'v')
        s++;
    for (int i = 0; i < 3; i++) {
        if (i > 0 && *s++ != '.')
            return -EINVAL;
        r = rt__semver_scan_number(&s, &num[i]);
        if (r < 0)
            return r;
    }
    r = rt__semver_scan_tail(&s, &pre);
    if (r < 0)
        return r;
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '\0') {
        free(pre);
        return -EINVAL;
    }
    *ret = (struct rt_semver){.major = num[0], .minor = num[1], .patch = num[2], .prerelease = pre};
    return 0;
}

void rt_semver_done(struct rt_semver *v)
{
    if (!v)
        return;
    free(v->prerelease);
    v->prerelease = NULL;
}

int rt__semver_copy(const struct rt_semver *v, struct rt_semver *ret)
{
    char *pre = NULL;

    if (v->prerelease) {
        pre = strdup(v->prerelease);
        if (!pre)
            return -ENOMEM;
    }
    *ret = *v;
    ret->prerelease = pre;
    return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

static bool span_is_numeric(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* One prerelease identifier: numbers compare numerically (without leading zeros a longer
 * number is larger, so no overflow is possible), numbers sort before words, words by ASCII. */
static int compare_identifier(const char *a, size_t na, const char *b, size_t nb)
{
    bool a_num = span_is_numeric(a, na), b_num = span_is_numeric(b, nb);
    int c;

    if (a_num && b_num) {
        if (na != nb)
            return na < nb ? -1 : 1;
        c = memcmp(a, b, na);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a_num != b_num)
        return a_num ? -1 : 1;
    c = memcmp(a, b, MIN(na, nb));
    if (c != 0)
        return c < 0 ? -1 : 1;
    return cmp_u64(na, nb);
}

static int compare_prerelease(const char *a, const char *b)
{
    /* A release sorts above all of its prereleases. */
    if (!a || !b)
        return !a && !b ? 0 : !a ? 1 : -1;
    for (;;) {
        size_t na = strcspn(a, "."), nb = strcspn(b, ".");
        int c = compare_identifier(a, na, b, nb);

        if (c != 0)
            return c;
        a += na;
        b += nb;
        /* Equal so far: the list that ends first is lower. */
        if (*a == '\0' || *b == '\0')
            return *a == *b ? 0 : *a == '\0' ? -1 : 1;
        a++;
        b++;
    }
}

int rt_semver_compare(const struct rt_semver *a, const struct rt_semver *b)
{
    int c = cmp_u64(a->major, b->major);

    if (c == 0)
        c = cmp_u64(a->minor, b->minor);
    if (c == 0)
        c = cmp_u64(a->patch, b->patch);
    if (c == 0)
        c = compare_prerelease(a->prerelease, b->prerelease);
    return c;
}
