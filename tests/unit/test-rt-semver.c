/* node-semver range matching and semver 2.0 ordering (PISTON-API.md 5.2). Vectors follow
 * node-semver's range-include / range-exclude fixtures (non-loose, no includePrerelease). */
#include <errno.h>

#include "runtimes.h"
#include "test.h"

struct vector {
    const char *range;
    const char *version;
    bool expect;
};

static const struct vector vectors[] = {
    /* exact, leading v and = */
    {"1.0.0", "1.0.0", true},
    {"1.0.0", "1.0.1", false},
    {"=1.0.0", "1.0.0", true},
    {"v1.0.0", "1.0.0", true},
    {"=v1.0.0", "1.0.0", true},
    {"1.0.0+build", "1.0.0", true},
    {"1.0.0", "1.0.0-beta", false},
    {"=1.2.3", "1.2.3-beta", false},
    {"1.2.3-alpha", "1.2.3-alpha", true},
    /* any */
    {"*", "1.2.3", true},
    {"", "1.0.0", true},
    {"x", "1.2.3", true},
    {"X", "0.0.0", true},
    {">=*", "0.2.4", true},
    {"||", "1.3.4", true},
    {"*", "1.2.3-foo", false},
    {"", "1.2.3-foo", false},
    {"x", "0.0.1-0", false},
    /* comparators, with spaces between operator and version */
    {">=1.0.0", "1.0.0", true},
    {">=1.0.0", "1.0.1", true},
    {">=1.0.0", "1.1.0", true},
    {">=1.0.0", "0.0.0", false},
    {">=1.0.0", "0.1.0", false},
    {">1.0.0", "1.0.1", true},
    {">1.0.0", "1.0.0", false},
    {">1.0.0", "0.1.0", false},
    {"<=2.0.0", "2.0.0", true},
    {"<=2.0.0", "1.9999.9999", true},
    {"<=2.0.0", "0.2.9", true},
    {"<=2.0.0", "3.0.0", false},
    {"<=2.0.0", "2.2.9", false},
    {"<2.0.0", "1.9999.9999", true},
    {"<2.0.0", "2.0.0", false},
    {"<2.0.0", "2.2.9", false},
    {">= 1.0.0", "1.0.0", true},
    {">=  1.0.0", "1.0.1", true},
    {"> 1.0.0", "1.0.1", true},
    {"<=   2.0.0", "2.0.0", true},
    {"<    2.0.0", "1.9999.9999", true},
    {"<\t2.0.0", "0.2.9", true},
    {">=0.1.97", "0.1.97", true},
    {">=0.1.97", "0.1.93", false},
    {"  >=1.0.0   <2.0.0  ", "1.5.0", true},
    /* OR */
    {"0.1.20 || 1.2.4", "1.2.4", true},
    {"0.1.20 || 1.2.4", "1.2.3", false},
    {">=0.2.3 || <0.0.1", "0.0.0", true},
    {">=0.2.3 || <0.0.1", "0.2.3", true},
    {">=0.2.3 || <0.0.1", "0.2.4", true},
    {">=0.2.3 || <0.0.1", "0.0.3", false},
    {">=0.2.3 || <0.0.1", "0.2.2", false},
    {"1.2.3||2.0.0", "2.0.0", true},
    {"1.2.3 ||", "9.9.9", true},
    /* X-ranges and partials */
    {"2.x.x", "2.1.3", true},
    {"2.x.x", "1.1.3", false},
    {"2.x.x", "3.1.3", false},
    {"1.2.x", "1.2.3", true},
    {"1.2.x", "1.3.3", false},
    {"1.2.x || 2.x", "2.1.3", true},
    {"1.2.x || 2.x", "1.2.3", true},
    {"1.2.x || 2.x", "3.1.3", false},
    {"1.2.x || 2.x", "1.1.3", false},
    {"2.*.*", "2.1.3", true},
    {"1.2.*", "1.2.3", true},
    {"1.2.* || 2.*", "2.1.3", true},
    {"2.*.*", "3.1.3", false},
    {"2", "2.1.2", true},
    {"2", "1.1.2", false},
    {"2", "3.0.0", false},
    {"2.3", "2.3.1", true},
    {"2.3", "2.4.1", false},
    {"1.X", "1.9.0", true},
    {"v1.x", "1.9.0", true},
    {"=0.7.x", "0.7.2", true},
    {"<=0.7.x", "0.7.2", true},
    {">=0.7.x", "0.7.2", true},
    {"<=0.7.x", "0.6.2", true},
    {"=0.7.x", "0.8.2", false},
    {">=0.7.x", "0.6.2", false},
    {"<0.7.x", "0.7.2", false},
    {"<=7.x", "7.9.9", true},
    {"<=7.x", "8.0.0", false},
    {">=1", "1.0.0", true},
    {">= 1", "1.0.0", true},
    {"<1.2", "1.1.1", true},
    {"< 1.2", "1.1.1", true},
    {"<1", "1.0.0", false},
    {">=1.2", "1.2.8", true},
    {">=1.2", "1.1.1", false},
    {">1.2", "1.2.8", false},
    {">1.2", "1.3.0", true},
    {">1", "1.9.9", false},
    {">1", "2.0.0", true},
    {">*", "1.0.0", false},
    {"<*", "1.0.0", false},
    {"<=*", "1.0.0", true},
    {"<0.x", "0.0.0", false},
    /* tilde */
    {"~0.0.1", "0.0.1", true},
    {"~0.0.1", "0.0.2", true},
    {"~0.0.1", "0.1.0", false},
    {"~0.0.1", "0.1.0-alpha", false},
    {"~x", "0.0.9", true},
    {"~2", "2.0.9", true},
    {"~2.4", "2.4.0", true},
    {"~2.4", "2.4.5", true},
    {"~2.4", "2.5.0", false},
    {"~2.4", "2.3.9", false},
    {"~>3.2.1", "3.2.2", true},
    {"~>3.2.1", "3.3.2", false},
    {"~>3.2.1", "3.2.0", false},
    {"~1", "1.2.3", true},
    {"~1", "0.2.3", false},
    {"~>1", "1.2.3", true},
    {"~>1", "2.2.3", false},
    {"~> 1", "1.2.3", true},
    {"~1.0", "1.0.2", true},
    {"~1.0", "1.1.0", false},
    {"~ 1.0", "1.0.2", true},
    {"~ 1.0.3", "1.0.12", true},
    {"~1.2.3", "1.2.3", true},
    {"~1.2.3", "1.2.99", true},
    {"~1.2.3", "1.3.0", false},
    {"~v0.5.4-pre", "0.5.5", true},
    {"~v0.5.4-pre", "0.5.4", true},
    {"~v0.5.4-beta", "0.5.4-alpha", false},
    {"~v0.5.4-beta", "0.5.4-beta.2", true},
    {"~1.2.1 >=1.2.3", "1.2.3", true},
    {"~1.2.1 =1.2.3", "1.2.3", true},
    {"~1.2.1 1.2.3", "1.2.3", true},
    {"~1.2.1 >=1.2.3 1.2.3", "1.2.3", true},
    {"~1.2.1 1.2.3 >=1.2.3", "1.2.3", true},
    {">=1.2.1 1.2.3", "1.2.3", true},
    {"1.2.3 >=1.2.1", "1.2.3", true},
    {">=1.2.3 >=1.2.1", "1.2.3", true},
    {">=1.2.1 >=1.2.3", "1.2.3", true},
    /* caret */
    {"^1.2.3", "1.8.1", true},
    {"^1.2.3", "1.2.2", false},
    {"^1.2.3", "2.0.0", false},
    {"^1.2.3", "2.0.0-alpha", false},
    {"^1.2.3", "1.2.3-pre", false},
    {"^1.2.3", "1.2.3-beta", false},
    {"^1.2.3+build", "1.2.3", true},
    {"^1.2.3+build", "1.3.0", true},
    {"^1.2.3+build", "2.0.0", false},
    {"^1.2.3+build", "1.2.0", false},
    {"^0.1.2", "0.1.2", true},
    {"^0.1.2", "0.1.9", true},
    {"^0.1.2", "0.2.0", false},
    {"^0.1", "0.1.2", true},
    {"^0.1", "0.2.0", false},
    {"^0.0.1", "0.0.1", true},
    {"^0.0.1", "0.0.2", false},
    {"^0.0.1", "0.0.2-alpha", false},
    {"^0.0.3", "0.0.3", true},
    {"^0.0.3", "0.0.4", false},
    {"^0.0", "0.0.9", true},
    {"^0.0", "0.1.0", false},
    {"^0.x", "0.9.0", true},
    {"^0.x", "1.0.0", false},
    {"^0.2.3", "0.2.9", true},
    {"^0.2.3", "0.3.0", false},
    {"^1.2", "1.4.2", true},
    {"^1.2", "1.1.9", false},
    {"^1.2", "1.2.0-pre", false},
    {"^1.2 ^1", "1.4.2", true},
    {"^ 1.2", "1.4.2", true},
    {"^1.2.3-alpha", "1.2.3-pre", true},
    {"^1.2.0-alpha", "1.2.0-pre", true},
    {"^0.0.1-alpha", "0.0.1-beta", true},
    {"^0.0.1-alpha", "0.0.1", true},
    {"^0.1.1-alpha", "0.1.1-beta", true},
    {"^1.2.3-alpha", "1.2.4-alpha", false},
    {"^x", "1.2.3", true},
    {"^1", "1.99.0", true},
    {"^1", "2.0.0", false},
    /* hyphen ranges */
    {"1.0.0 - 2.0.0", "1.2.3", true},
    {"1.0.0 - 2.0.0", "2.0.0", true},
    {"1.0.0 - 2.0.0", "2.2.3", false},
    {"1.2.3 - 2.3.4", "2.3.4", true},
    {"1.2.3 - 2.3.4", "2.3.5", false},
    {"1.2.3 - 2.3.4", "1.2.2", false},
    {"1.2 - 2.3", "1.2.0", true},
    {"1.2 - 2.3", "2.3.9", true},
    {"1.2 - 2.3", "2.4.0", false},
    {"1.2 - 2.3", "1.1.9", false},
    {"1.2 - 2.3", "2.4.0-0", false},
    {"1 - 2", "2.9.9", true},
    {"1 - 2", "3.0.0", false},
    {"1 - 2", "2.0.0-pre", false},
    {"1 - 2", "1.0.0-pre", false},
    {"1.0 - 2", "1.0.0-pre", false},
    {"x - 1.0.0", "0.9.7", true},
    {"x - 1.x", "0.9.7", true},
    {"1.0.0 - x", "1.9.7", true},
    {"1.x - x", "1.9.7", true},
    {"* - *", "5.0.0", true},
    {"1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3", true},
    {"1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3-pre.2", true},
    {"1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha", true},
    {"1.2.3+asdf - 2.4.3+asdf", "1.2.3", true},
    {"1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2", false},
    {"1.2.3+asdf - 2.4.3+asdf", "2.4.3-alpha", false},
    {"v1.2.3 - v2.0.0", "1.5.0", true},
    /* prerelease rule */
    {">1.2", "1.3.0-beta", false},
    {"<=1.2.3", "1.2.3-beta", false},
    {"<1.2.3", "1.2.3-beta", false},
    {"=0.7.x", "0.7.0-asdf", false},
    {">=0.7.x", "0.7.0-asdf", false},
    {"<=0.7.x", "0.7.0-asdf", false},
    {"1.1.x", "1.1.0-a", false},
    {"1.x", "1.2.0-a", false},
    {">=1.0.0 <1.1.0", "1.1.0-pre", false},
    {">=1.0.0 <1.1.0-pre", "1.1.0-pre", false},
    {">=1.0.0 <1.1.0", "1.1.0", false},
    {">=1.2.3-beta.1 <1.2.4", "1.2.3-beta.2", true},
    {">=1.2.3-beta.1", "1.2.4-beta.2", false},
    {">=1.2.3-beta.1 || >=1.2.4-alpha", "1.2.4-beta.2", true},
    {">1.2.3-alpha", "1.2.3-alpha.1", true},
    {">1.2.3-alpha.1", "1.2.3-alpha", false},
    {"3.10.0-alpha.7", "3.10.0-alpha.7", true},
    {">=3.10.0-alpha.1", "3.10.0-alpha.7", true},
    {">=3.10.0-alpha.1", "3.10.0", true},
    {">=3.9", "3.10.0-alpha.7", false},
    /* unparsable ranges match nothing */
    {"blerg", "1.2.3", false},
    {"1.2.3 - ", "1.2.3", false},
    {"- 1.2.3", "1.2.3", false},
    {"1 -2", "1.0.0", false},
    {">=", "1.0.0", false},
    {"~", "1.0.0", false},
    {"^", "1.0.0", false},
    {">=09090", "9090.0.0", false},
    {">01.2", "2.0.0", false},
    {"1.2.3.4", "1.2.3", false},
    {"1.2.", "1.2.0", false},
    {"1.2-beta", "1.2.0", false},
    {"1.2.3-", "1.2.3", false},
    {"1.2.3-01", "1.2.3-1", false},
    {"== 1.0.0 || foo", "2.0.0", false},
    {"1.0.0 || foo", "1.0.0", false},
    {"1.0.0 | 2.0.0", "1.0.0", false},
    {">=1.2.3 - 2", "1.5.0", false},
    {"v=1.2.3", "1.2.3", false},
    {"==1.2.3", "1.2.3", false},
    {"^>=1.2", "1.2.0", false},
    {"1.2.3 - 2.3.4 - 3", "2.0.0", false},
    {"1.x.x.x", "1.0.0", false},
    {"9007199254740992", "1.0.0", false},
};

TEST(satisfies_vectors)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *t = &vectors[i];
        struct rt_semver v;

        if (rt_semver_parse(t->version, &v) < 0)
            TEST_FAIL("vector %zu: version \"%s\" does not parse", i, t->version);
        if (rt_semver_satisfies(&v, t->range) != t->expect)
            TEST_FAIL("vector %zu: \"%s\" satisfies \"%s\": expected %s", i, t->version, t->range,
                      t->expect ? "true" : "false");
        rt_semver_done(&v);
    }
}

TEST(satisfies_null_range)
{
    struct rt_semver v;

    ASSERT_OK(rt_semver_parse("1.0.0", &v));
    ASSERT_FALSE(rt_semver_satisfies(&v, NULL));
    ASSERT_FALSE(rt_semver_satisfies(NULL, "*"));
    rt_semver_done(&v);
}

TEST(parse_valid)
{
    static const struct {
        const char *s;
        uint64_t major, minor, patch;
        const char *pre;
    } ok[] = {
        {"1.2.3", 1, 2, 3, NULL},
        {"v1.2.3", 1, 2, 3, NULL},
        {"=1.2.3", 1, 2, 3, NULL},
        {"=v1.2.3", 1, 2, 3, NULL},
        {" 1.2.3 ", 1, 2, 3, NULL},
        {"0.0.0", 0, 0, 0, NULL},
        {"1.2.3-alpha.1", 1, 2, 3, "alpha.1"},
        {"1.2.3-0a", 1, 2, 3, "0a"},
        {"1.2.3--", 1, 2, 3, "-"},
        {"1.2.3-x-y.0", 1, 2, 3, "x-y.0"},
        {"1.2.3+build.01", 1, 2, 3, NULL},
        {"1.2.3-rc.1+build", 1, 2, 3, "rc.1"},
        {"10.20.30", 10, 20, 30, NULL},
        {"9007199254740991.0.0", 9007199254740991ULL, 0, 0, NULL},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct rt_semver v;

        if (rt_semver_parse(ok[i].s, &v) < 0)
            TEST_FAIL("\"%s\" should parse", ok[i].s);
        ASSERT_EQ(v.major, ok[i].major);
        ASSERT_EQ(v.minor, ok[i].minor);
        ASSERT_EQ(v.patch, ok[i].patch);
        if (ok[i].pre)
            ASSERT_STREQ(v.prerelease, ok[i].pre);
        else
            ASSERT_NULL(v.prerelease);
        rt_semver_done(&v);
    }
}

TEST(parse_invalid)
{
    static const char *const bad[] = {
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "1.2.3-",
        "1.2.3-01",
        "1.2.3-a..b",
        "1.2.3+",
        "1.2.3+a..b",
        "v",
        "vv1.2.3",
        "==1.2.3",
        "v=1.2.3",
        "1.2.3 4",
        "a.b.c",
        "-1.2.3",
        "1.2.3-é",
        "1.2.x",
        "*",
        "1.2.3beta",
        ">1.2.3",
        "9007199254740992.0.0",
        "1.2.99999999999999999999",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rt_semver v;

        if (rt_semver_parse(bad[i], &v) != -EINVAL)
            TEST_FAIL("\"%s\" should not parse", bad[i]);
    }
    ASSERT_EQ(rt_semver_parse(NULL, &(struct rt_semver){0}), -EINVAL);
}

static int cmp(const char *a, const char *b)
{
    struct rt_semver va, vb;
    int c;

    if (rt_semver_parse(a, &va) < 0 || rt_semver_parse(b, &vb) < 0)
        TEST_FAIL("bad vector %s / %s", a, b);
    c = rt_semver_compare(&va, &vb);
    rt_semver_done(&va);
    rt_semver_done(&vb);
    return c;
}

TEST(compare_order)
{
    /* Strictly increasing (semver 2.0 section 11 and node-semver's comparison fixtures). */
    static const char *const order[] = {
        "0.0.0",
        "0.0.1",
        "0.1.0",
        "1.0.0-0",
        "1.0.0-1",
        "1.0.0-1.0",
        "1.0.0-2",
        "1.0.0-10",
        "1.0.0-a",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "1.10.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
        "10.0.0",
        "9007199254740991.0.0",
    };
    size_t n = sizeof(order) / sizeof(order[0]);

    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = cmp(order[i], order[j]), want = i < j ? -1 : i > j ? 1 : 0;

            if (c != want)
                TEST_FAIL("compare(%s, %s) = %d, want %d", order[i], order[j], c, want);
        }
}

TEST(compare_ignores_build_and_prefix)
{
    ASSERT_EQ(cmp("1.0.0+a", "1.0.0+b"), 0);
    ASSERT_EQ(cmp("v1.0.0", "=1.0.0"), 0);
    ASSERT_EQ(cmp("1.0.0-rc.1+x", "1.0.0-rc.1"), 0);
    /* Numeric identifiers compare as numbers, however long. */
    ASSERT_EQ(cmp("1.0.0-99999999999999999999", "1.0.0-100000000000000000000"), -1);
    ASSERT_EQ(cmp("1.0.0-a1", "1.0.0-a10"), -1);
    ASSERT_EQ(cmp("1.0.0-B", "1.0.0-a"), -1); /* ASCII order */
}
