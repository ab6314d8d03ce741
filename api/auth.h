/* Request authentication, off by default (Piston has none): API tokens sent as
 * `Authorization: Bearer <token>` or raw `Authorization: <token>`, and HMAC-SHA256 signed
 * requests (X-Capsule-Timestamp, X-Capsule-Caller, X-Capsule-Signature over
 * "<timestamp>:<caller>:<body>"), each signature accepted once within +-30 s. Knows no HTTP:
 * the server hands in header values and the body. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_AUTH_WINDOW_SEC 30
#define API_AUTH_CALLER_MAX 64
/* Secrets shorter than these are guessable: configuration refuses them. */
#define API_AUTH_TOKEN_MIN 16
#define API_AUTH_SECRET_MIN 32

enum api_auth_result {
    API_AUTH_PASS,      /* authenticated, or authentication is off */
    API_AUTH_NEED_BODY, /* well-formed signed request: call api_auth_verify_signature() */
    API_AUTH_DENY,      /* 401 */
    API_AUTH_BUSY,      /* the replay cache is full of live signatures: 429 */
};

enum api_auth_failure {
    API_AUTH_FAIL_MISSING,
    API_AUTH_FAIL_TOKEN,
    API_AUTH_FAIL_MALFORMED,
    API_AUTH_FAIL_EXPIRED,
    API_AUTH_FAIL_SIGNATURE,
    API_AUTH_FAIL_REPLAYED,
    API_AUTH_FAIL_COUNT,
};

struct api_auth_headers {
    const char *authorization; /* each NULL when absent */
    const char *timestamp;
    const char *caller;
    const char *signature;
};

struct api_auth_outcome {
    enum api_auth_failure failure; /* with API_AUTH_DENY */
    const char *message;           /* static 401 text with API_AUTH_DENY */
    /* Who is asking, for rate limits and logs (never the secret): "token:<8 hex of its
     * SHA-256>" or "hmac:<caller>"; "" while unknown or with authentication off. */
    char caller[API_AUTH_CALLER_MAX + 8];
};

struct api_auth;

/** tokens: NULL-terminated list (NULL or empty: no tokens); secret: NULL or "" for none.
 *  The replay cache (a few MiB, fixed) is allocated only when a secret is set. -ENOMEM. */
int api_auth_new(char *const *tokens, const char *secret, struct api_auth **ret);
struct api_auth *api_auth_free(struct api_auth *auth);
/** False when neither tokens nor a secret are configured: every request passes. */
bool api_auth_enabled(const struct api_auth *auth);

/** First stage, from the headers alone (so a stranger's body is never stored): a valid token
 *  passes, well-formed signature headers within the time window need the body, anything else
 *  is denied. `now` is the wall clock in unix seconds. */
enum api_auth_result api_auth_check_headers(struct api_auth *auth, const struct api_auth_headers *h,
                                            int64_t now, struct api_auth_outcome *out);
/** Second stage for API_AUTH_NEED_BODY: the MAC over the raw body in constant time, then the
 *  replay cache (the signature is recorded only once it is known to be genuine). */
enum api_auth_result api_auth_verify_signature(struct api_auth *auth,
                                               const struct api_auth_headers *h, const void *body,
                                               size_t len, int64_t now,
                                               struct api_auth_outcome *out);

/** "missing", "token", "malformed", "expired", "signature", "replayed" (metric labels). */
const char *api_auth_failure_name(enum api_auth_failure failure);
