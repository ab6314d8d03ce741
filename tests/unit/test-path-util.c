/* Request file-name rules (PISTON-API.md 3.1). */
#include <stdlib.h>

#include "macro.h"
#include "path-util.h"
#include "test.h"

static void check_ok(const char *name, const char *want)
{
    _cleanup_free_ char *out = NULL;

    ASSERT_OK(path_normalize_request_name(name, strlen(name), &out));
    ASSERT_STREQ(out, want);
}

static void check_bad(const char *name, size_t len)
{
    char *out = NULL;

    ASSERT_EQ(path_normalize_request_name(name, len, &out), -EINVAL);
    ASSERT_NULL(out);
}
#define BAD(s) check_bad(s, strlen(s))

TEST(plain_names)
{
    check_ok("file0.code", "file0.code");
    check_ok("main.py", "main.py");
    check_ok("src/util/x.c", "src/util/x.c");
    check_ok("...", "...");
    check_ok("..a", "..a");
    check_ok("a..", "a..");
    check_ok(" ", " ");
}

TEST(dot_and_empty_components_dropped)
{
    check_ok("./a", "a");
    check_ok("a/./b", "a/b");
    check_ok("a//b", "a/b");
    check_ok("a/b/", "a/b");
    check_ok("./././x", "x");
}

TEST(rejected)
{
    BAD("");
    BAD("/etc/passwd");
    BAD("/");
    BAD("..");
    BAD("../x");
    BAD("a/../b");
    BAD("a/..");
    BAD(".");
    BAD("./");
    BAD(".//./");
    check_bad("a\0b", 3);
    check_bad("ab\0", 3);
}

TEST(length_limits)
{
    char buf[1100];

    memset(buf, 'a', 255);
    buf[255] = '\0';
    check_ok(buf, buf);
    memset(buf, 'a', 256);
    buf[256] = '\0';
    BAD(buf);

    /* 1024 bytes total is fine, 1025 is not. */
    for (size_t i = 0; i < 1024; i++)
        buf[i] = (i % 100 == 99) ? '/' : 'b';
    buf[1024] = '\0';
    check_ok(buf, buf);
    buf[1024] = 'b';
    buf[1025] = '\0';
    BAD(buf);
}
