/* Minimal unit-test harness: TEST() registers a function; the runner forks each test with a
 * timeout so a crash or hang fails one test, and `./test-x name` runs a single one. */
#pragma once

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit code ctest shows as "skipped" (SKIP_RETURN_CODE 77). */
#define TEST_SKIP_CODE 77

struct test_case {
    const char *name;
    void (*fn)(void);
    struct test_case *next;
};
void test_register(struct test_case *tc);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    static struct test_case test_case_##name = {#name, test_##name, NULL};                         \
    __attribute__((constructor)) static void test_register_##name(void)                            \
    {                                                                                              \
        test_register(&test_case_##name);                                                          \
    }                                                                                              \
    static void test_##name(void)

#define TEST_FAIL(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

/* Skips the current test (the whole executable reports 77 if every test skipped). */
#define TEST_SKIP(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "skip: ");                                                                 \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(TEST_SKIP_CODE);                                                                      \
    } while (0)

#define ASSERT_TRUE(x)                                                                             \
    do {                                                                                           \
        if (!(x))                                                                                  \
            TEST_FAIL("expected true: %s", #x);                                                    \
    } while (0)
#define ASSERT_FALSE(x) ASSERT_TRUE(!(x))

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);                                           \
        if (_a != _b)                                                                              \
            TEST_FAIL("%s == %s: %jd != %jd", #a, #b, _a, _b);                                     \
    } while (0)
#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);                                           \
        if (_a == _b)                                                                              \
            TEST_FAIL("%s != %s: both %jd", #a, #b, _a);                                           \
    } while (0)
#define ASSERT_GE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);                                           \
        if (!(_a >= _b))                                                                           \
            TEST_FAIL("%s >= %s: %jd < %jd", #a, #b, _a, _b);                                      \
    } while (0)
#define ASSERT_LE(a, b)                                                                            \
    do {                                                                                           \
        intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);                                           \
        if (!(_a <= _b))                                                                           \
            TEST_FAIL("%s <= %s: %jd > %jd", #a, #b, _a, _b);                                      \
    } while (0)
#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        intmax_t _r = (intmax_t)(expr);                                                            \
        if (_r < 0)                                                                                \
            TEST_FAIL("%s failed: %jd (%s)", #expr, _r, strerror((int)-_r));                       \
    } while (0)
#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0)                                                     \
            TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)",                    \
                      _b ? _b : "(null)");                                                         \
    } while (0)
#define ASSERT_NULL(p) ASSERT_TRUE((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)
