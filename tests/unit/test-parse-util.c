/* Strict configuration parsers (PISTON-API.md 1.2 "Integer settings", fail-safe booleans). */
#include <stdlib.h>

#include "macro.h"
#include "parse-util.h"
#include "test.h"

TEST(int64_valid)
{
    int64_t v;

    ASSERT_OK(parse_int64("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(parse_int64("3000", &v));
    ASSERT_EQ(v, 3000);
    ASSERT_OK(parse_int64("-1", &v));
    ASSERT_EQ(v, -1);
    ASSERT_OK(parse_int64("007", &v));
    ASSERT_EQ(v, 7);
    ASSERT_OK(parse_int64("9223372036854775807", &v));
    ASSERT_EQ(v, INT64_MAX);
    ASSERT_OK(parse_int64("-9223372036854775808", &v));
    ASSERT_EQ(v, INT64_MIN);
}

TEST(int64_invalid)
{
    static const char *const bad[] = {"",     "-",   "+5",  " 5", "5 ",  "256MB", "1e6",
                                      "0x10", "1.5", "--1", "5-", "\t1", "1\n",   "abc"};
    int64_t v = 42;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (parse_int64(bad[i], &v) != -EINVAL)
            TEST_FAIL("accepted \"%s\"", bad[i]);
    }
    ASSERT_EQ(v, 42);
}

TEST(int64_range)
{
    int64_t v = 42;

    ASSERT_EQ(parse_int64("9223372036854775808", &v), -ERANGE);
    ASSERT_EQ(parse_int64("-9223372036854775809", &v), -ERANGE);
    ASSERT_EQ(parse_int64("99999999999999999999999", &v), -ERANGE);
    ASSERT_EQ(parse_int64("99999999999999999999999x", &v), -EINVAL);
    ASSERT_EQ(v, 42);
}

TEST(fail_safe_boolean)
{
    ASSERT_TRUE(parse_fail_safe_true(NULL));
    ASSERT_TRUE(parse_fail_safe_true("true"));
    ASSERT_TRUE(parse_fail_safe_true("TRUE"));
    ASSERT_TRUE(parse_fail_safe_true("1"));
    ASSERT_TRUE(parse_fail_safe_true(""));
    ASSERT_TRUE(parse_fail_safe_true("flase"));
    ASSERT_TRUE(parse_fail_safe_true("off"));
    ASSERT_TRUE(parse_fail_safe_true(" false"));
    ASSERT_FALSE(parse_fail_safe_true("false"));
    ASSERT_FALSE(parse_fail_safe_true("FALSE"));
    ASSERT_FALSE(parse_fail_safe_true("False"));
    ASSERT_FALSE(parse_fail_safe_true("0"));
    ASSERT_FALSE(parse_fail_safe_true("no"));
    ASSERT_FALSE(parse_fail_safe_true("NO"));
}

static void check_bind(const char *s, const char *host, uint16_t port)
{
    _cleanup_free_ char *h = NULL;
    uint16_t p = 1;

    ASSERT_OK(parse_bind_address(s, &h, &p));
    ASSERT_STREQ(h, host);
    ASSERT_EQ(p, port);
}

TEST(bind_address_valid)
{
    check_bind("0.0.0.0:2000", "0.0.0.0", 2000);
    check_bind("127.0.0.1:0", "127.0.0.1", 0);
    check_bind("localhost:65535", "localhost", 65535);
    check_bind("[::1]:2000", "::1", 2000);
    check_bind("[::]:80", "::", 80);
}

TEST(bind_address_invalid)
{
    static const char *const bad[] = {"",          "2000",         ":2000",      "0.0.0.0",
                                      "0.0.0.0:",  "0.0.0.0:-1",   "host:65536", "::1:2000",
                                      "[::1]2000", "[::1]:",       "[]:80",      "[nothex]:80",
                                      "a b:80",    "0.0.0.0:20x0", "[::1:80",    "0.0.0.0:+80"};
    char *h = NULL;
    uint16_t p;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (parse_bind_address(bad[i], &h, &p) != -EINVAL)
            TEST_FAIL("accepted \"%s\"", bad[i]);
    }
    ASSERT_NULL(h);
}
