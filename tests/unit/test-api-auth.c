/* Authentication (api/auth.c) and HMAC-SHA256 (common/digest.c): RFC 4231 vectors, tokens
 * (Bearer and raw), signed requests accepted, rejected, expired, replayed. */
#include <ctype.h>
#include <stdio.h>

#include "auth.h"
#include "digest.h"
#include "macro.h"
#include "test.h"

#define NOW 1700000000
#define SECRET "0123456789abcdef0123456789abcdef-secret"
#define TOKEN_A "token-aaaaaaaaaaaaaaaa"
#define TOKEN_B "token-bbbbbbbbbbbbbbbb"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct api_auth *, api_auth_free)

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void hmac_hex(const char *key, const char *msg, size_t len, char out[65])
{
    struct digest_hmac_sha256 h;
    uint8_t mac[DIGEST_SHA256_SIZE];

    digest_hmac_sha256_init(&h, key, strlen(key));
    digest_hmac_sha256_update(&h, msg, len);
    digest_hmac_sha256_final(&h, mac);
    hex(mac, sizeof(mac), out);
}

/* The signature a client computes: hex HMAC over "<timestamp>:<caller>:<body>". */
static void sign(const char *ts, const char *caller, const char *body, char out[65])
{
    char msg[4096];
    int n = snprintf(msg, sizeof(msg), "%s:%s:%s", ts, caller, body);

    hmac_hex(SECRET, msg, (size_t)n, out);
}

TEST(hmac_rfc4231_vectors)
{
    char out[65];

    /* RFC 4231 test case 2: key "Jefe" */
    hmac_hex("Jefe", "what do ya want for nothing?", 28, out);
    ASSERT_STREQ(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 1: key 20 x 0x0b, "Hi There" */
    hmac_hex("\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b",
             "Hi There", 8, out);
    ASSERT_STREQ(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(digest_equal_compares_all_bytes)
{
    ASSERT_TRUE(digest_equal("abcdef", "abcdef", 6));
    ASSERT_FALSE(digest_equal("abcdef", "abcdeF", 6));
    ASSERT_FALSE(digest_equal("xbcdef", "abcdef", 6));
    ASSERT_TRUE(digest_equal("", "", 0));
}

static struct api_auth *make(bool tokens, bool secret)
{
    static char *const list[] = {TOKEN_A, TOKEN_B, NULL};
    struct api_auth *auth = NULL;

    ASSERT_OK(api_auth_new(tokens ? list : NULL, secret ? SECRET : NULL, &auth));
    return auth;
}

TEST(off_lets_everything_through)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(false, false);
    struct api_auth_headers h = {.authorization = "whatever"};
    struct api_auth_outcome out;

    ASSERT_FALSE(api_auth_enabled(auth));
    ASSERT_EQ(api_auth_check_headers(auth, &h, NOW, &out), API_AUTH_PASS);
    ASSERT_STREQ(out.caller, "");
}

TEST(tokens_bearer_and_raw)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(true, false);
    const char *good[] = {"Bearer " TOKEN_A, "bearer " TOKEN_B, TOKEN_A, "  Bearer   " TOKEN_B "  ",
                          TOKEN_B};
    const char *bad[] = {
        "Bearer " TOKEN_A "x", "Bearer",       "", "Bearer  ", "token-aaaaaaaaaaaaaaa",
        "Basic " TOKEN_A,      TOKEN_A TOKEN_B};
    struct api_auth_outcome out;

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct api_auth_headers h = {.authorization = good[i]};
        ASSERT_EQ(api_auth_check_headers(auth, &h, NOW, &out), API_AUTH_PASS);
        ASSERT_TRUE(strncmp(out.caller, "token:", 6) == 0 && strlen(out.caller) == 14);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct api_auth_headers h = {.authorization = bad[i]};
        ASSERT_EQ(api_auth_check_headers(auth, &h, NOW, &out), API_AUTH_DENY);
        ASSERT_EQ(out.failure, API_AUTH_FAIL_TOKEN);
        ASSERT_STREQ(out.message, "invalid API token");
    }
    struct api_auth_headers none = {0};
    ASSERT_EQ(api_auth_check_headers(auth, &none, NOW, &out), API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_MISSING);
    ASSERT_STREQ(out.message, "authentication required: send Authorization: Bearer <token>");
}

TEST(token_fingerprints_differ)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(true, false);
    struct api_auth_headers a = {.authorization = TOKEN_A}, b = {.authorization = TOKEN_B};
    struct api_auth_outcome oa, ob;

    ASSERT_EQ(api_auth_check_headers(auth, &a, NOW, &oa), API_AUTH_PASS);
    ASSERT_EQ(api_auth_check_headers(auth, &b, NOW, &ob), API_AUTH_PASS);
    ASSERT_TRUE(strcmp(oa.caller, ob.caller) != 0);
    ASSERT_TRUE(strstr(oa.caller, "aaaa") == NULL); /* a digest prefix, never the token */
}

static enum api_auth_result signed_request(struct api_auth *auth, const char *ts,
                                           const char *caller, const char *signature,
                                           const char *body, int64_t now,
                                           struct api_auth_outcome *out)
{
    struct api_auth_headers h = {.timestamp = ts, .caller = caller, .signature = signature};
    enum api_auth_result r = api_auth_check_headers(auth, &h, now, out);

    if (r != API_AUTH_NEED_BODY)
        return r;
    return api_auth_verify_signature(auth, &h, body, strlen(body), now, out);
}

TEST(signed_accepted_once)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(false, true);
    const char *body = "{\"language\":\"python\"}";
    struct api_auth_outcome out;
    char sig[65];

    sign("1700000000", "svc-a", body, sig);
    ASSERT_EQ(signed_request(auth, "1700000000", "svc-a", sig, body, NOW, &out), API_AUTH_PASS);
    ASSERT_STREQ(out.caller, "hmac:svc-a");
    /* the same signature again, even a second later: replay */
    ASSERT_EQ(signed_request(auth, "1700000000", "svc-a", sig, body, NOW + 1, &out), API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_REPLAYED);
    ASSERT_STREQ(out.message, "request signature was already used");
    /* upper-case hex is the same signature */
    for (char *p = sig; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    ASSERT_EQ(signed_request(auth, "1700000000", "svc-a", sig, body, NOW, &out), API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_REPLAYED);
}

TEST(signed_window)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(false, true);
    struct api_auth_outcome out;
    char sig[65];

    /* exactly 30 s either way is accepted, 31 s is not */
    sign("1699999970", "c", "", sig);
    ASSERT_EQ(signed_request(auth, "1699999970", "c", sig, "", NOW, &out), API_AUTH_PASS);
    sign("1700000030", "c", "", sig);
    ASSERT_EQ(signed_request(auth, "1700000030", "c", sig, "", NOW, &out), API_AUTH_PASS);
    sign("1699999969", "c", "", sig);
    ASSERT_EQ(signed_request(auth, "1699999969", "c", sig, "", NOW, &out), API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_EXPIRED);
    sign("1700000031", "c", "", sig);
    ASSERT_EQ(signed_request(auth, "1700000031", "c", sig, "", NOW, &out), API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_EXPIRED);
}

TEST(signed_tampering_rejected)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(false, true);
    struct api_auth_outcome out;
    char sig[65];

    sign("1700000000", "svc", "{\"a\":1}", sig);
    ASSERT_EQ(signed_request(auth, "1700000000", "svc", sig, "{\"a\":2}", NOW, &out),
              API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_SIGNATURE);
    ASSERT_STREQ(out.message, "invalid request signature");
    ASSERT_EQ(signed_request(auth, "1700000000", "svd", sig, "{\"a\":1}", NOW, &out),
              API_AUTH_DENY);
    ASSERT_EQ(signed_request(auth, "1700000001", "svc", sig, "{\"a\":1}", NOW, &out),
              API_AUTH_DENY);
    /* a rejected signature was not recorded: the genuine request still passes */
    ASSERT_EQ(signed_request(auth, "1700000000", "svc", sig, "{\"a\":1}", NOW, &out),
              API_AUTH_PASS);
}

TEST(signed_malformed_headers)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(false, true);
    const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";
    struct {
        const char *ts, *caller, *sig;
    } cases[] = {
        {"1700000000", "svc", NULL},
        {NULL, "svc", zeros},
        {"1700000000", NULL, zeros},
        {"-1700000000", "svc", zeros},
        {"1700000000.5", "svc", zeros},
        {" 1700000000", "svc", zeros},
        {"1700000000", "a:b", zeros},
        {"1700000000", "a b", zeros},
        {"1700000000", "", zeros},
        {"1700000000", "svc", "abc"},
        {"1700000000", "svc", "zz00000000000000000000000000000000000000000000000000000000000000"},
    };
    struct api_auth_outcome out;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct api_auth_headers h = {
            .timestamp = cases[i].ts, .caller = cases[i].caller, .signature = cases[i].sig};
        ASSERT_EQ(api_auth_check_headers(auth, &h, NOW, &out), API_AUTH_DENY);
        ASSERT_EQ(out.failure, API_AUTH_FAIL_MALFORMED);
    }
}

TEST(both_kinds_either_credential)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(true, true);
    struct api_auth_outcome out;
    char sig[65];

    struct api_auth_headers tok = {.authorization = "Bearer " TOKEN_A};
    ASSERT_EQ(api_auth_check_headers(auth, &tok, NOW, &out), API_AUTH_PASS);
    /* a wrong token with a genuine signature: the signature decides */
    sign("1700000000", "svc", "x", sig);
    struct api_auth_headers both = {.authorization = "wrong-token-value-here",
                                    .timestamp = "1700000000",
                                    .caller = "svc",
                                    .signature = sig};
    ASSERT_EQ(api_auth_check_headers(auth, &both, NOW, &out), API_AUTH_NEED_BODY);
    ASSERT_EQ(api_auth_verify_signature(auth, &both, "x", 1, NOW, &out), API_AUTH_PASS);
    ASSERT_STREQ(out.caller, "hmac:svc");
    struct api_auth_headers none = {0};
    ASSERT_EQ(api_auth_check_headers(auth, &none, NOW, &out), API_AUTH_DENY);
    ASSERT_STREQ(out.message,
                 "authentication required: send Authorization: Bearer <token> or a signed request");
    struct api_auth_headers wrong = {.authorization = "wrong-token-value-here"};
    ASSERT_EQ(api_auth_check_headers(auth, &wrong, NOW, &out), API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_TOKEN);
}

TEST(secret_only_ignores_authorization)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(false, true);
    struct api_auth_headers h = {.authorization = "Bearer " TOKEN_A};
    struct api_auth_outcome out;

    ASSERT_EQ(api_auth_check_headers(auth, &h, NOW, &out), API_AUTH_DENY);
    ASSERT_EQ(out.failure, API_AUTH_FAIL_MISSING);
}

/* Many distinct genuine signatures within one window: each accepted once, memory fixed. */
TEST(replay_cache_many)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = make(false, true);
    struct api_auth_outcome out;
    char sig[65], body[32];
    unsigned busy = 0;

    for (unsigned i = 0; i < 20000; i++) {
        snprintf(body, sizeof(body), "%u", i);
        sign("1700000000", "bulk", body, sig);
        enum api_auth_result r = signed_request(auth, "1700000000", "bulk", sig, body, NOW, &out);
        ASSERT_TRUE(r == API_AUTH_PASS || r == API_AUTH_BUSY);
        busy += r == API_AUTH_BUSY;
    }
    ASSERT_EQ(busy, 0);
    /* once the window has passed, old entries are free again and nothing is a replay */
    snprintf(body, sizeof(body), "%u", 7u);
    sign("1700000100", "bulk", body, sig);
    ASSERT_EQ(signed_request(auth, "1700000100", "bulk", sig, body, NOW + 100, &out),
              API_AUTH_PASS);
}

TEST(failure_names)
{
    ASSERT_STREQ(api_auth_failure_name(API_AUTH_FAIL_MISSING), "missing");
    ASSERT_STREQ(api_auth_failure_name(API_AUTH_FAIL_REPLAYED), "replayed");
}
