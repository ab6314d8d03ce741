/* The package index (PISTON-API.md 2.4): line format, blank lines, CRLF, refusal of a whole
 * index for one bad line, resolution by name and semver range (highest wins). */
#include <errno.h>

#include "packages.h"
#include "test.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"

static struct pkg_index *parse_ok(const char *text)
{
    struct pkg_index *index = NULL;
    char *err = NULL;
    int r = pkg_index_parse(text, strlen(text), &index, &err);

    if (r < 0)
        TEST_FAIL("parse failed: %d %s", r, err ? err : "?");
    return index;
}

static char *parse_error(const char *text)
{
    struct pkg_index *index = NULL;
    char *err = NULL;
    int r = pkg_index_parse(text, strlen(text), &index, &err);

    ASSERT_EQ(r, -EBADMSG);
    ASSERT_NULL(index);
    ASSERT_NOT_NULL(err);
    return err;
}

TEST(entries_in_index_order)
{
    struct pkg_index *index = parse_ok("python,3.12.0," SHA_A ",https://example.org/python.tgz\n"
                                       "\n"
                                       "node,20.11.1," SHA_B ",http://h/n.tar.gz?a=1,b=2\r\n"
                                       "\r\n");

    ASSERT_EQ(index->n, 2);
    ASSERT_STREQ(index->entries[0].name, "python");
    ASSERT_STREQ(index->entries[0].version, "3.12.0");
    ASSERT_STREQ(index->entries[0].sha256, SHA_A);
    ASSERT_STREQ(index->entries[0].url, "https://example.org/python.tgz");
    ASSERT_STREQ(index->entries[1].name, "node");
    /* hex digits are compared lower-case; the URL keeps its commas, the CR is dropped */
    ASSERT_STREQ(index->entries[1].sha256,
                 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
    ASSERT_STREQ(index->entries[1].url, "http://h/n.tar.gz?a=1,b=2");
    pkg_index_free(index);
}

TEST(empty_index_is_empty_list)
{
    struct pkg_index *index = parse_ok("\n\n");

    ASSERT_EQ(index->n, 0);
    pkg_index_free(index);
    index = parse_ok("");
    ASSERT_EQ(index->n, 0);
    pkg_index_free(index);
}

TEST(last_line_without_newline)
{
    struct pkg_index *index = parse_ok("a,1.0.0," SHA_A ",file:///x");

    ASSERT_EQ(index->n, 1);
    ASSERT_STREQ(index->entries[0].url, "file:///x");
    pkg_index_free(index);
}

TEST(one_bad_line_refuses_the_index)
{
    char *err;

    err = parse_error("ok,1.0.0," SHA_A ",http://h/x\n<html><body>Not Found</body></html>\n");
    ASSERT_STREQ(err, "line 2: expected name,version,sha256,url");
    free(err);
    err = parse_error("ok,1.0.0," SHA_A ",http://h/x\nbad,1.0," SHA_A ",http://h/y\n");
    ASSERT_STREQ(err, "line 2: invalid version");
    free(err);
    err = parse_error("x,1.0.0,abc,http://h/x\n");
    ASSERT_STREQ(err, "line 1: invalid sha256");
    free(err);
    err = parse_error("x,1.0.0," SHA_A ",\n");
    ASSERT_STREQ(err, "line 1: invalid url");
    free(err);
    err = parse_error("x,1.0.0," SHA_A ",http://h/a b\n");
    ASSERT_STREQ(err, "line 1: invalid url");
    free(err);
}

TEST(names_must_be_one_safe_component)
{
    static const char *const bad[] = {"../etc", ".hidden", "a/b", "", "a b", "..", "."};
    char line[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(line, sizeof(line), "%s,1.0.0," SHA_A ",http://h/x\n", bad[i]);
        char *err = parse_error(line);
        ASSERT_STREQ(err, "line 1: invalid package name");
        free(err);
        ASSERT_FALSE(pkg_name_is_safe(bad[i]));
    }
    ASSERT_TRUE(pkg_name_is_safe("c++"));
    ASSERT_TRUE(pkg_name_is_safe("dotnet_sdk-6.0"));
}

TEST(nul_bytes_refused)
{
    struct pkg_index *index = NULL;
    char *err = NULL;
    static const char text[] = "x,1.0.0," SHA_A ",http://h/x\0\n";

    ASSERT_EQ(pkg_index_parse(text, sizeof(text) - 1, &index, &err), -EBADMSG);
    ASSERT_STREQ(err, "the index holds NUL bytes");
    free(err);
}

TEST(find_highest_satisfying)
{
    struct pkg_index *index = parse_ok("python,3.10.0," SHA_A ",http://h/1\n"
                                       "python,3.12.0," SHA_A ",http://h/2\n"
                                       "python,3.11.4," SHA_A ",http://h/3\n"
                                       "node,20.0.0," SHA_A ",http://h/4\n"
                                       "python,3.12.0," SHA_A ",http://h/dup\n");

    ASSERT_STREQ(pkg_index_find(index, "python", "*")->url, "http://h/2"); /* first of equals */
    ASSERT_STREQ(pkg_index_find(index, "python", "3.11.x")->version, "3.11.4");
    ASSERT_STREQ(pkg_index_find(index, "python", "<3.11")->version, "3.10.0");
    ASSERT_STREQ(pkg_index_find(index, "node", "20")->version, "20.0.0");
    ASSERT_NULL(pkg_index_find(index, "python", "9"));
    ASSERT_NULL(pkg_index_find(index, "python", "not a range"));
    ASSERT_NULL(pkg_index_find(index, "Python", "*")); /* names are exact */
    pkg_index_free(index);
}
