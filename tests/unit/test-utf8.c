/* UTF-8 repair: vectors from the Unicode "maximal subpart" practice (Unicode 15, table 3-8),
 * which WHATWG, Node and Python's errors='replace' all follow. */
#include <stdlib.h>

#include "macro.h"
#include "test.h"
#include "utf8.h"

#define FFFD "\xEF\xBF\xBD"

static void check_sanitize(const char *in, size_t len, const char *want, size_t want_len)
{
    _cleanup_free_ char *out = NULL;
    size_t out_len = 0;

    ASSERT_OK(utf8_sanitize(in, len, &out, &out_len));
    ASSERT_EQ(out_len, want_len);
    ASSERT_TRUE(memcmp(out, want, want_len) == 0);
    ASSERT_EQ(out[out_len], '\0');
    ASSERT_TRUE(utf8_is_valid(out, out_len));
}
#define SANITIZE(in, want) check_sanitize(in, sizeof(in) - 1, want, sizeof(want) - 1)

TEST(sanitize_valid_unchanged)
{
    SANITIZE("", "");
    SANITIZE("hello\n", "hello\n");
    SANITIZE("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    SANITIZE("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"); /* U+10FFFF */
    SANITIZE("\xED\x9F\xBF", "\xED\x9F\xBF");         /* U+D7FF, just below the surrogates */
}

TEST(sanitize_keeps_nul)
{
    SANITIZE("a\0b", "a\0b");
    SANITIZE("\0\xFF\0", "\0" FFFD "\0");
}

TEST(sanitize_unicode_table_3_8)
{
    /* The example of Unicode table 3-8 / WHATWG. */
    SANITIZE("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
             "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
}

TEST(sanitize_invalid_leads)
{
    SANITIZE("\xC0\xAF", FFFD FFFD); /* overlong '/' */
    SANITIZE("\xC1\xBF", FFFD FFFD);
    SANITIZE("\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD);
    SANITIZE("\xFF\xFE", FFFD FFFD);
    SANITIZE("\x80", FFFD);
}

TEST(sanitize_overlong_surrogate_and_range)
{
    SANITIZE("\xE0\x80\x80", FFFD FFFD FFFD); /* overlong: E0 needs A0..BF */
    SANITIZE("\xE0\x9F\xBF", FFFD FFFD FFFD);
    SANITIZE("\xED\xA0\x80", FFFD FFFD FFFD); /* U+D800 */
    SANITIZE("\xED\xBF\xBF", FFFD FFFD FFFD); /* U+DFFF */
    SANITIZE("\xF0\x80\x80\x80", FFFD FFFD FFFD FFFD);
    SANITIZE("\xF0\x8F\xBF\xBF", FFFD FFFD FFFD FFFD);
    SANITIZE("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* above U+10FFFF */
}

TEST(sanitize_truncated_sequences)
{
    SANITIZE("\xE2\x82", FFFD); /* one replacement per maximal subpart */
    SANITIZE("\xE2\x82x", FFFD "x");
    SANITIZE("\xF0\x9F\x98", FFFD);
    SANITIZE("\xF0\x9F\x98\xF0\x9F\x98\x80", FFFD "\xF0\x9F\x98\x80");
    SANITIZE("\xC3", FFFD);
    SANITIZE("a\xC3", "a" FFFD);
    SANITIZE("\xE2\x82\xE2\x82\xAC", FFFD "\xE2\x82\xAC");
}

TEST(is_valid)
{
    ASSERT_TRUE(utf8_is_valid("", 0));
    ASSERT_TRUE(utf8_is_valid("abc\0d", 5));
    ASSERT_TRUE(utf8_is_valid("\xF0\x9F\x98\x80", 4));
    ASSERT_FALSE(utf8_is_valid("\xF0\x9F\x98", 3));
    ASSERT_FALSE(utf8_is_valid("\xED\xA0\x80", 3));
    ASSERT_FALSE(utf8_is_valid("\xC0\x80", 2));
    ASSERT_FALSE(utf8_is_valid("a\x80", 2));
}

TEST(trim_incomplete_tail)
{
    ASSERT_EQ(utf8_trim_incomplete_tail("", 0), 0);
    ASSERT_EQ(utf8_trim_incomplete_tail("abc", 3), 3);
    ASSERT_EQ(utf8_trim_incomplete_tail("a\xC3", 2), 1);
    ASSERT_EQ(utf8_trim_incomplete_tail("a\xC3\xA9", 3), 3);
    ASSERT_EQ(utf8_trim_incomplete_tail("a\xE2\x82", 3), 1);
    ASSERT_EQ(utf8_trim_incomplete_tail("a\xE2", 2), 1);
    ASSERT_EQ(utf8_trim_incomplete_tail("a\xF0\x9F\x98", 4), 1);
    ASSERT_EQ(utf8_trim_incomplete_tail("\xF0\x9F\x98\x80", 4), 4);
    /* Already invalid tails are kept: sanitize replaces them, the cut did not make them. */
    ASSERT_EQ(utf8_trim_incomplete_tail("a\xFF", 2), 2);
    ASSERT_EQ(utf8_trim_incomplete_tail("a\xE0\x80", 3), 3);
    ASSERT_EQ(utf8_trim_incomplete_tail("a\x80\x80\x80\x80", 5), 5);
    ASSERT_EQ(utf8_trim_incomplete_tail("\xC3\xA9\xC3", 3), 2);
}
