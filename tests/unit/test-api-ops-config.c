/* Operations settings (api/config.c rows CAPSULE_API_TOKENS ... CAPSULE_DRAIN_TIMEOUT) and
 * the CAPSULE_MAX_FILES row of the execute decoder. Secrets never appear in a startup error. */
#include "api-fixtures.h"
#include "macro.h"

static const char *fake_getenv(void *userdata, const char *name)
{
    const char *const *kv = userdata;

    for (; kv && kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void load_ok(const char *const *env, struct api_config *cfg)
{
    _cleanup_free_ char *err = NULL;

    if (api_config_load(fake_getenv, (void *)env, cfg, &err) < 0)
        TEST_FAIL("api_config_load: %s", err ? err : "no message");
}

static void load_bad(const char *const *env, const char *want)
{
    _cleanup_free_ char *err = NULL;
    struct api_config cfg = {0};

    ASSERT_EQ(api_config_load(fake_getenv, (void *)env, &cfg, &err), -EINVAL);
    ASSERT_STREQ(err, want);
}

TEST(defaults)
{
    struct api_config cfg;

    load_ok(ENV(NULL), &cfg);
    ASSERT_TRUE(cfg.api_tokens == NULL || cfg.api_tokens[0] == NULL);
    ASSERT_NULL(cfg.hmac_secret);
    ASSERT_EQ(cfg.max_files, 10000);
    ASSERT_EQ(cfg.rate_limit, 0);
    ASSERT_EQ(cfg.rate_burst, 0);
    ASSERT_EQ(cfg.drain_timeout_ms, 30000);
    ASSERT_EQ(cfg.uid_max, 60999);
    ASSERT_EQ(cfg.gid_max, 60999);
    api_config_done(&cfg);
}

TEST(empty_values_mean_off)
{
    struct api_config cfg;

    load_ok(ENV("CAPSULE_API_TOKENS", "", "CAPSULE_HMAC_SECRET", ""), &cfg);
    ASSERT_TRUE(cfg.api_tokens == NULL || cfg.api_tokens[0] == NULL);
    ASSERT_NULL(cfg.hmac_secret);
    api_config_done(&cfg);
    load_ok(ENV("CAPSULE_API_TOKENS", " , ,"), &cfg);
    ASSERT_NULL(cfg.api_tokens[0]);
    api_config_done(&cfg);
}

TEST(tokens_split_and_trimmed)
{
    struct api_config cfg;

    load_ok(ENV("CAPSULE_API_TOKENS", " aaaaaaaaaaaaaaaa ,bbbbbbbbbbbbbbbb-2,,\tcccccccccccccccc "),
            &cfg);
    ASSERT_STREQ(cfg.api_tokens[0], "aaaaaaaaaaaaaaaa");
    ASSERT_STREQ(cfg.api_tokens[1], "bbbbbbbbbbbbbbbb-2");
    ASSERT_STREQ(cfg.api_tokens[2], "cccccccccccccccc");
    ASSERT_NULL(cfg.api_tokens[3]);
    api_config_done(&cfg);
}

TEST(bad_tokens_not_echoed)
{
    load_bad(ENV("CAPSULE_API_TOKENS", "short-secret"),
             "Config option CAPSULE_API_TOKENS failed validation: each token must be at least 16 "
             "characters");
    load_bad(ENV("CAPSULE_API_TOKENS", "aaaaaaaaaaaaaaaa, has space inside x"),
             "Config option CAPSULE_API_TOKENS failed validation: tokens must be visible ASCII, "
             "separated by commas");
    load_bad(ENV("CAPSULE_API_TOKENS", "aaaaaaaaaaaaaaaa\xc3\xa9"),
             "Config option CAPSULE_API_TOKENS failed validation: tokens must be visible ASCII, "
             "separated by commas");
}

TEST(secret)
{
    struct api_config cfg;

    load_bad(ENV("CAPSULE_HMAC_SECRET", "too-short-secret"),
             "Config option CAPSULE_HMAC_SECRET failed validation: the secret must be at least 32 "
             "characters");
    load_ok(ENV("CAPSULE_HMAC_SECRET", "0123456789abcdef0123456789abcdef"), &cfg);
    ASSERT_STREQ(cfg.hmac_secret, "0123456789abcdef0123456789abcdef");
    api_config_done(&cfg);
}

TEST(rate_and_burst)
{
    struct api_config cfg;

    load_ok(ENV("CAPSULE_RATE_LIMIT", "5"), &cfg);
    ASSERT_EQ(cfg.rate_limit, 5);
    ASSERT_EQ(cfg.rate_burst, 5); /* burst defaults to the rate */
    api_config_done(&cfg);
    load_ok(ENV("CAPSULE_RATE_LIMIT", "5", "CAPSULE_RATE_BURST", "20"), &cfg);
    ASSERT_EQ(cfg.rate_burst, 20);
    api_config_done(&cfg);
    load_bad(
        ENV("CAPSULE_RATE_LIMIT", "-1"),
        "Config option CAPSULE_RATE_LIMIT failed validation: -1 must be between 0 and 1000000");
    load_bad(ENV("CAPSULE_RATE_LIMIT", "1.5"),
             "Config option CAPSULE_RATE_LIMIT failed validation: 1.5 is not a number");
}

TEST(drain_and_files)
{
    struct api_config cfg;

    load_ok(ENV("CAPSULE_DRAIN_TIMEOUT", "0", "CAPSULE_MAX_FILES", "3"), &cfg);
    ASSERT_EQ(cfg.drain_timeout_ms, 0);
    ASSERT_EQ(cfg.max_files, 3);
    api_config_done(&cfg);
    load_bad(ENV("CAPSULE_MAX_FILES", "0"),
             "Config option CAPSULE_MAX_FILES failed validation: 0 must be at least 1");
    load_bad(ENV("CAPSULE_DRAIN_TIMEOUT", "30s"),
             "Config option CAPSULE_DRAIN_TIMEOUT failed validation: 30s is not a number");
}

static int decode_capped(const char *json, size_t max_files, char **msg)
{
    static struct rt_registry *reg;
    struct eng_config cfg = fixture_config();
    struct eng_request *req = NULL;
    json_auto_t *root = json_loads(json, 0, NULL);
    int r;

    if (!reg)
        reg = fixture_registry();
    ASSERT_NOT_NULL(root);
    r = api_execute_decode_capped(root, reg, &cfg, max_files, &req, msg);
    eng_request_free(req);
    return r;
}

TEST(max_files_row)
{
    _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
    const char *three = "{\"language\":\"python\",\"version\":\"*\",\"files\":[{\"content\":\"a\"},"
                        "{\"content\":\"b\"},{\"content\":\"c\"}]}";

    ASSERT_OK(decode_capped(three, 3, &m1));
    ASSERT_EQ(decode_capped(three, 2, &m2), -EINVAL);
    ASSERT_STREQ(m2, "files must not have more than 2 entries");
    /* Piston's rows come first: an unknown runtime keeps its message */
    ASSERT_EQ(decode_capped("{\"language\":\"cobol\",\"version\":\"*\",\"files\":[{\"content\":"
                            "\"a\"},{\"content\":\"b\"}]}",
                            1, &m3),
              -EINVAL);
    ASSERT_STREQ(m3, "cobol-* runtime is unknown");
    /* and it comes before the file-name row */
    ASSERT_EQ(decode_capped("{\"language\":\"python\",\"version\":\"*\",\"files\":[{\"content\":"
                            "\"a\"},{\"name\":\"../x\",\"content\":\"b\"}]}",
                            1, &m4),
              -EINVAL);
    ASSERT_STREQ(m4, "files must not have more than 1 entries");
}

TEST(json_value_bound)
{
    /* structure outside strings counts; commas, brackets and escaped quotes inside do not */
    ASSERT_FALSE(api_body_json_too_complex("{}", 2, 1));
    ASSERT_TRUE(api_body_json_too_complex("{\"a\":1}", 7, 1));
    ASSERT_FALSE(api_body_json_too_complex("{\"a\":1}", 7, 3));
    ASSERT_TRUE(api_body_json_too_complex("[{},{},{}]", 10, 5));
    ASSERT_FALSE(api_body_json_too_complex("[{},{},{}]", 10, 6));
    const char *s = "[\"a,b,[{:\\\",x\"]";
    ASSERT_FALSE(api_body_json_too_complex(s, strlen(s), 1));
    ASSERT_TRUE(api_body_json_too_complex("[\"\\\\\",1,2]", 10, 2)); /* "\\" ends the string */
    /* the same past the word-at-a-time skip: quotes and escapes at every offset of a word */
    for (size_t at = 0; at < 24; at++) {
        char b[64];
        int n = snprintf(b, sizeof(b), "[\"%.*s\\\",[,%s\",1,2]", (int)at,
                         "abcdefghijklmnopqrstuvwxyz", "0123456789abcdef");

        ASSERT_FALSE(api_body_json_too_complex(b, (size_t)n, 3));
        ASSERT_TRUE(api_body_json_too_complex(b, (size_t)n, 2));
    }
}
