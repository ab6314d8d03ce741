/* Request body parsing (PISTON-API.md 2.1 step 2), compared with what Express's body-parser
 * and JSON.parse accept. */
#include <math.h>

#include "api.h"
#include "json-fast.h"
#include "macro.h"
#include "test.h"

static json_t *parse_ok(const char *body, size_t len)
{
    json_t *root = NULL;
    _cleanup_free_ char *detail = NULL;
    int r = api_body_parse_json(body, len, &root, &detail);

    if (r < 0)
        TEST_FAIL("\"%s\": %d (%s)", body, r, detail ? detail : "no detail");
    ASSERT_NOT_NULL(root);
    return root;
}
#define PARSE_OK(s) parse_ok(s, sizeof(s) - 1)

static void parse_bad(const char *body, const char *detail_want)
{
    json_t *root = NULL;
    _cleanup_free_ char *detail = NULL;

    ASSERT_EQ(api_body_parse_json(body, strlen(body), &root, &detail), -EBADMSG);
    ASSERT_NULL(root);
    ASSERT_STREQ(detail, detail_want);
}

static char *compact(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    json_decref(v);
    return s;
}

TEST(empty_body_is_empty_object)
{
    _cleanup_free_ char *a = compact(parse_ok("", 0));
    _cleanup_free_ char *b = compact(PARSE_OK("\xEF\xBB\xBF"));

    ASSERT_STREQ(a, "{}");
    ASSERT_STREQ(b, "{}");
}

TEST(objects_and_arrays)
{
    _cleanup_free_ char *a = compact(PARSE_OK("{\"a\":\"b\"}"));
    _cleanup_free_ char *b = compact(PARSE_OK(" [1,2] \n"));
    _cleanup_free_ char *c = compact(PARSE_OK("\xEF\xBB\xBF{\"x\":[]}"));

    ASSERT_STREQ(a, "{\"a\":\"b\"}");
    ASSERT_STREQ(b, "[1.0,2.0]"); /* numbers are JavaScript doubles */
    ASSERT_STREQ(c, "{\"x\":[]}");
}

TEST(duplicate_keys_last_wins)
{
    json_auto_t *root = PARSE_OK("{\"language\":\"a\",\"language\":\"b\"}");

    ASSERT_STREQ(json_string_value(json_object_get(root, "language")), "b");
    ASSERT_EQ(json_object_size(root), 1);
}

TEST(nul_in_strings)
{
    json_auto_t *root = PARSE_OK("{\"s\":\"a\\u0000b\"}");
    json_t *s = json_object_get(root, "s");

    ASSERT_EQ(json_string_length(s), 3);
    ASSERT_TRUE(memcmp(json_string_value(s), "a\0b", 3) == 0);
}

TEST(big_numbers)
{
    json_auto_t *root = PARSE_OK("{\"a\":99999999999999999999,\"b\":1e400,\"c\":-1E+999,"
                                 "\"d\":1e-400,\"e\":\"1e400\",\"f\":[2.5e999]}");

    ASSERT_TRUE(json_real_value(json_object_get(root, "a")) == 1e20);
    ASSERT_TRUE(json_real_value(json_object_get(root, "b")) >= 1e300);
    ASSERT_TRUE(json_real_value(json_object_get(root, "c")) <= -1e300);
    ASSERT_TRUE(json_real_value(json_object_get(root, "d")) == 0.0);
    ASSERT_STREQ(json_string_value(json_object_get(root, "e")), "1e400");
    ASSERT_TRUE(json_real_value(json_array_get(json_object_get(root, "f"), 0)) >= 1e300);
}

TEST(huge_integer_literal)
{
    /* 400 digits: JSON.parse gives Infinity. */
    char body[512] = "{\"a\":";
    size_t n = strlen(body);
    json_t *root;

    memset(body + n, '9', 400);
    strcpy(body + n + 400, "}");
    root = parse_ok(body, strlen(body));
    ASSERT_TRUE(json_real_value(json_object_get(root, "a")) >= 1e300);
    json_decref(root);
}

TEST(invalid_utf8_replaced)
{
    json_auto_t *root = PARSE_OK("{\"s\":\"a\xFF\xC3\"}");

    ASSERT_STREQ(json_string_value(json_object_get(root, "s")), "a\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(malformed)
{
    parse_bad("5", "'[' or '{' expected near '5' at position 1");
    parse_bad("\"s\"", "'[' or '{' expected near '\"s\"' at position 3");
    parse_bad("   ", "'[' or '{' expected near end of file at position 3");
    parse_bad("{\"a\":1", "'}' expected near end of file at position 6");
    parse_bad("{\"a\":1} x", "end of file expected near 'x' at position 9");
    parse_bad("{'a':1}", "string or '}' expected near ''' at position 2");
    parse_bad("{\"a\":\"\x01\"}", "control character 0x1 near '\"' at position 6");
    /* Still malformed once an overflowing number is clamped. */
    parse_bad("{\"a\":1e400x}", "'}' expected near 'x' at position 11");
    parse_bad("{\"a\":01e400}", "invalid token near '0' at position 6");
    /* After an overflow is clamped, a later error keeps its original position. */
    parse_bad("{\"a\":1e400,}", "string or '}' expected near '}' at position 12");
}

/* The fast path may only accept what jansson accepts, with the same values in the same key
 * order; whatever it declines jansson still parses. Checked on hand-picked documents and on
 * random single-byte mutations of a request (each one valid or invalid in its own way). */
static void check_fast(const char *doc, size_t len)
{
    json_t *fast = NULL, *slow;
    _cleanup_free_ char *a = NULL, *b = NULL;
    int r = api__json_parse_fast(doc, len, &fast);

    slow = json_loadb(doc, len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL);
    if (r < 0) {
        ASSERT_EQ(r, -EINVAL);
        json_decref(slow);
        return;
    }
    if (!slow)
        TEST_FAIL("fast path accepted what jansson rejects: %.*s", (int)len, doc);
    a = compact(fast);
    b = compact(slow);
    ASSERT_STREQ(a, b);
}
#define CHECK_FAST(s) check_fast(s, sizeof(s) - 1)

TEST(fast_path_agrees_with_jansson)
{
    static const char req[] =
        " {\"language\":\"python\",\"version\":\"*\",\"files\":[{\"name\":\"a.py\",\"content\":"
        "\"print(1)\\n\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\r\\t\"}],\"stdin\":\"x\\u0000y\","
        "\"args\":[\"-1\",1,-0,0.5e-3,1E+2,true,false,null,[],{}],\"run_timeout\":3000}\r\n";
    /* Mutation bytes; sizeof counts the terminating NUL, which is one of them. */
    static const char muts[] = "{}[]\",:\\u0-1e.tn \x01";
    unsigned seed = 7;
    char doc[sizeof(req)];
    json_t *v = NULL;

    ASSERT_OK(api__json_parse_fast(req, sizeof(req) - 1, &v)); /* the common case is fast */
    json_decref(v);
    CHECK_FAST(req);
    CHECK_FAST("[]");
    CHECK_FAST("{}");
    CHECK_FAST("{\"a\":1,\"b\":2,\"a\":3}");
    CHECK_FAST("[\"\\ud800\"]");
    CHECK_FAST("[\"\\udc00\"]");
    CHECK_FAST("[\"\\ud800\\u0041\"]");
    CHECK_FAST("{\"a\\u0000b\":1}");
    CHECK_FAST("[01]");
    CHECK_FAST("[1.]");
    CHECK_FAST("[.5]");
    CHECK_FAST("[1e]");
    CHECK_FAST("[-]");
    CHECK_FAST("[1e400]");
    CHECK_FAST("[1e-400]");
    CHECK_FAST("[0x10]");
    CHECK_FAST("[Infinity]");
    CHECK_FAST("[truex]");
    CHECK_FAST("[1,]");
    CHECK_FAST("{\"a\":1,}");
    CHECK_FAST("[1] [2]");
    CHECK_FAST("\"top\"");
    CHECK_FAST("[\"tab\there\"]");
    CHECK_FAST("[\"\\x\"]");
    CHECK_FAST("[\"\\u12\"]");
    /* depth: the fast path stops at 64 levels (its stack), jansson takes the rest */
    for (int depth = 60; depth <= 70; depth++) {
        char deep[160];
        json_t *d = NULL;

        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        check_fast(deep, 2 * (size_t)depth);
        ASSERT_EQ(api__json_parse_fast(deep, 2 * (size_t)depth, &d), depth <= 64 ? 0 : -EINVAL);
        json_decref(d);
    }
    for (int i = 0; i < 20000; i++) {
        memcpy(doc, req, sizeof(req));
        doc[rand_r(&seed) % (int)(sizeof(req) - 1)] = muts[rand_r(&seed) % (int)sizeof(muts)];
        check_fast(doc, sizeof(req) - 1);
    }
}
