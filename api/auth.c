/* API tokens and HMAC-signed requests (see auth.h). Tokens are kept only as SHA-256 digests
 * and compared in constant time against every configured one, so neither timing nor the
 * token's length tells a guesser how close it came. */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "macro.h"

/* Replay cache: one entry per accepted signature until its timestamp leaves the window. The
 * table is fixed (2^17 entries of 24 bytes, 3 MiB), so memory is bounded whatever the load;
 * an entry lives within REPLAY_PROBE slots of its hash, so a lookup is O(1). At half load
 * the chance that 32 neighbours are all live is negligible; when it happens the request is
 * refused (429) rather than accepted unrecorded. */
#define REPLAY_SLOTS (1u << 17)
#define REPLAY_PROBE 32
#define REPLAY_KEY 16 /* a 128-bit prefix of a genuine MAC: collisions need ~2^64 requests */

struct replay_entry {
    uint8_t mac[REPLAY_KEY];
    int64_t expires; /* unix seconds; the entry is free once now > expires (0: never used) */
};

struct api_auth {
    uint8_t (*tokens)[DIGEST_SHA256_SIZE];
    size_t n_tokens;
    char *secret;
    size_t secret_len;
    struct replay_entry *replay;
    pthread_mutex_t replay_lock;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct api_auth *, api_auth_free)

static const char *const failure_names[API_AUTH_FAIL_COUNT] = {
    [API_AUTH_FAIL_MISSING] = "missing",     [API_AUTH_FAIL_TOKEN] = "token",
    [API_AUTH_FAIL_MALFORMED] = "malformed", [API_AUTH_FAIL_EXPIRED] = "expired",
    [API_AUTH_FAIL_SIGNATURE] = "signature", [API_AUTH_FAIL_REPLAYED] = "replayed",
};

const char *api_auth_failure_name(enum api_auth_failure failure)
{
    return failure < API_AUTH_FAIL_COUNT ? failure_names[failure] : "unknown";
}

static void sha256_of(const char *s, size_t len, uint8_t out[DIGEST_SHA256_SIZE])
{
    struct digest_sha256 d;

    digest_sha256_init(&d);
    digest_sha256_update(&d, s, len);
    digest_sha256_final(&d, out);
}

int api_auth_new(char *const *tokens, const char *secret, struct api_auth **ret)
{
    _cleanup_(api_auth_freep) struct api_auth *auth = calloc(1, sizeof(*auth));
    size_t n = 0;

    if (!auth)
        return -ENOMEM;
    pthread_mutex_init(&auth->replay_lock, NULL);
    while (tokens && tokens[n])
        n++;
    if (n > 0) {
        auth->tokens = calloc(n, sizeof(*auth->tokens));
        if (!auth->tokens)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            sha256_of(tokens[i], strlen(tokens[i]), auth->tokens[i]);
        auth->n_tokens = n;
    }
    if (secret && *secret) {
        auth->secret = strdup(secret);
        auth->replay = calloc(REPLAY_SLOTS, sizeof(*auth->replay));
        if (!auth->secret || !auth->replay)
            return -ENOMEM;
        auth->secret_len = strlen(secret);
    }
    *ret = TAKE_PTR(auth);
    return 0;
}

struct api_auth *api_auth_free(struct api_auth *auth)
{
    if (!auth)
        return NULL;
    if (auth->secret) {
        explicit_bzero(auth->secret, auth->secret_len);
        free(auth->secret);
    }
    free(auth->tokens);
    free(auth->replay);
    pthread_mutex_destroy(&auth->replay_lock);
    free(auth);
    return NULL;
}

bool api_auth_enabled(const struct api_auth *auth)
{
    return auth && (auth->n_tokens > 0 || auth->secret);
}

static enum api_auth_result deny(struct api_auth_outcome *out, enum api_auth_failure failure,
                                 const char *message)
{
    out->failure = failure;
    out->message = message;
    return API_AUTH_DENY;
}

/* `Bearer <token>` (scheme case-insensitive, RFC 6750) or the raw key Piston clients send. */
static const char *token_of(const char *authorization)
{
    const char *s = authorization;

    while (*s == ' ' || *s == '\t')
        s++;
    if (strncasecmp(s, "Bearer", 6) == 0 && (s[6] == ' ' || s[6] == '\t')) {
        s += 6;
        while (*s == ' ' || *s == '\t')
            s++;
    }
    return s;
}

/* Index of the matching token, or -1. Every configured digest is compared: no early exit. */
static int token_match(const struct api_auth *auth, const char *token, uint8_t *ret_digest)
{
    size_t len = strlen(token);
    int found = -1;

    while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t'))
        len--;
    sha256_of(token, len, ret_digest);
    for (size_t i = 0; i < auth->n_tokens; i++)
        if (digest_equal(auth->tokens[i], ret_digest, DIGEST_SHA256_SIZE) && found < 0)
            found = (int)i;
    return len > 0 ? found : -1;
}

static bool caller_is_valid(const char *s)
{
    size_t len = strlen(s);

    /* No ':' (it separates the signed fields) and nothing a log line would need quoting for. */
    return len > 0 && len <= API_AUTH_CALLER_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == len;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool parse_signature(const char *s, uint8_t out[DIGEST_SHA256_SIZE])
{
    if (strlen(s) != 2 * DIGEST_SHA256_SIZE)
        return false;
    for (size_t i = 0; i < DIGEST_SHA256_SIZE; i++) {
        int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Unix seconds: 1 to 12 digits, nothing else (no sign, no spaces, no fraction). */
static bool parse_timestamp(const char *s, int64_t *ret)
{
    size_t len = strlen(s);
    int64_t v = 0;

    if (len == 0 || len > 12 || strspn(s, "0123456789") != len)
        return false;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (s[i] - '0');
    *ret = v;
    return true;
}

static enum api_auth_result check_signed_headers(const struct api_auth_headers *h, int64_t now,
                                                 struct api_auth_outcome *out)
{
    uint8_t mac[DIGEST_SHA256_SIZE];
    int64_t ts;

    if (!h->timestamp || !h->caller || !h->signature)
        return deny(out, API_AUTH_FAIL_MALFORMED,
                    "signed requests need X-Capsule-Timestamp, X-Capsule-Caller and "
                    "X-Capsule-Signature");
    if (!parse_timestamp(h->timestamp, &ts))
        return deny(out, API_AUTH_FAIL_MALFORMED, "X-Capsule-Timestamp must be unix seconds");
    if (!caller_is_valid(h->caller))
        return deny(out, API_AUTH_FAIL_MALFORMED,
                    "X-Capsule-Caller must be 1 to 64 characters from A-Z a-z 0-9 . _ @ -");
    if (!parse_signature(h->signature, mac))
        return deny(out, API_AUTH_FAIL_MALFORMED,
                    "X-Capsule-Signature must be 64 hex digits (HMAC-SHA256)");
    if (ts < now - API_AUTH_WINDOW_SEC || ts > now + API_AUTH_WINDOW_SEC)
        return deny(out, API_AUTH_FAIL_EXPIRED,
                    "X-Capsule-Timestamp is more than 30 seconds away from the server's clock");
    return API_AUTH_NEED_BODY;
}

static const char *missing_message(const struct api_auth *auth)
{
    if (auth->n_tokens > 0 && auth->secret)
        return "authentication required: send Authorization: Bearer <token> or a signed request";
    if (auth->n_tokens > 0)
        return "authentication required: send Authorization: Bearer <token>";
    return "authentication required: sign the request (X-Capsule-Timestamp, X-Capsule-Caller, "
           "X-Capsule-Signature)";
}

enum api_auth_result api_auth_check_headers(struct api_auth *auth, const struct api_auth_headers *h,
                                            int64_t now, struct api_auth_outcome *out)
{
    bool signed_request = h->timestamp || h->caller || h->signature;
    uint8_t digest[DIGEST_SHA256_SIZE];

    out->caller[0] = '\0';
    if (!api_auth_enabled(auth))
        return API_AUTH_PASS;
    /* Either credential is enough when both kinds are configured: a valid token first. */
    if (auth->n_tokens > 0 && h->authorization) {
        if (token_match(auth, token_of(h->authorization), digest) >= 0) {
            snprintf(out->caller, sizeof(out->caller), "token:%02x%02x%02x%02x", digest[0],
                     digest[1], digest[2], digest[3]);
            return API_AUTH_PASS;
        }
        if (!auth->secret || !signed_request)
            return deny(out, API_AUTH_FAIL_TOKEN, "invalid API token");
    }
    if (auth->secret && signed_request)
        return check_signed_headers(h, now, out);
    return deny(out, API_AUTH_FAIL_MISSING, missing_message(auth));
}

/* Records a genuine MAC; API_AUTH_DENY if it is already recorded and still live. */
static enum api_auth_result replay_record(struct api_auth *auth, const uint8_t *mac, int64_t ts,
                                          int64_t now, struct api_auth_outcome *out)
{
    uint64_t h;
    struct replay_entry *free_entry = NULL;
    enum api_auth_result r = API_AUTH_PASS;

    memcpy(&h, mac, sizeof(h)); /* a MAC is uniformly distributed: its bytes are the hash */
    pthread_mutex_lock(&auth->replay_lock);
    for (unsigned i = 0; i < REPLAY_PROBE; i++) {
        struct replay_entry *e = &auth->replay[(h + i) & (REPLAY_SLOTS - 1)];

        if (e->expires < now) {
            if (!free_entry)
                free_entry = e;
        } else if (memcmp(e->mac, mac, REPLAY_KEY) == 0) {
            r = deny(out, API_AUTH_FAIL_REPLAYED, "request signature was already used");
            break;
        }
    }
    if (r == API_AUTH_PASS && !free_entry)
        r = API_AUTH_BUSY;
    if (r == API_AUTH_PASS) {
        memcpy(free_entry->mac, mac, REPLAY_KEY);
        free_entry->expires = ts + API_AUTH_WINDOW_SEC;
    }
    pthread_mutex_unlock(&auth->replay_lock);
    return r;
}

enum api_auth_result api_auth_verify_signature(struct api_auth *auth,
                                               const struct api_auth_headers *h, const void *body,
                                               size_t len, int64_t now,
                                               struct api_auth_outcome *out)
{
    uint8_t want[DIGEST_SHA256_SIZE], got[DIGEST_SHA256_SIZE];
    struct digest_hmac_sha256 mac;
    enum api_auth_result r;
    int64_t ts;

    /* The header checks again: the clock may have moved while the body arrived. */
    r = check_signed_headers(h, now, out);
    if (r != API_AUTH_NEED_BODY)
        return r;
    (void)parse_timestamp(h->timestamp, &ts);
    (void)parse_signature(h->signature, got);
    digest_hmac_sha256_init(&mac, auth->secret, auth->secret_len);
    digest_hmac_sha256_update(&mac, h->timestamp, strlen(h->timestamp));
    digest_hmac_sha256_update(&mac, ":", 1);
    digest_hmac_sha256_update(&mac, h->caller, strlen(h->caller));
    digest_hmac_sha256_update(&mac, ":", 1);
    digest_hmac_sha256_update(&mac, body, len);
    digest_hmac_sha256_final(&mac, want);
    explicit_bzero(&mac, sizeof(mac));
    if (!digest_equal(want, got, sizeof(want)))
        return deny(out, API_AUTH_FAIL_SIGNATURE, "invalid request signature");
    r = replay_record(auth, want, ts, now, out);
    if (r == API_AUTH_PASS)
        snprintf(out->caller, sizeof(out->caller), "hmac:%s", h->caller);
    return r;
}
