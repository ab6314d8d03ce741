#include "digest.h"

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

_Static_assert(sizeof(struct sha256_ctx) <= sizeof(((struct digest_sha256 *)0)->state),
               "digest_sha256 storage too small for nettle's sha256_ctx");
_Static_assert(sizeof(struct hmac_sha256_ctx) <= sizeof(((struct digest_hmac_sha256 *)0)->state),
               "digest_hmac_sha256 storage too small for nettle's hmac_sha256_ctx");

static struct sha256_ctx *ctx_of(struct digest_sha256 *d)
{
    return (struct sha256_ctx *)(void *)d->state;
}

static struct hmac_sha256_ctx *hmac_of(struct digest_hmac_sha256 *h)
{
    return (struct hmac_sha256_ctx *)(void *)h->state;
}

void digest_sha256_init(struct digest_sha256 *d)
{
    sha256_init(ctx_of(d));
}

void digest_sha256_update(struct digest_sha256 *d, const void *data, size_t len)
{
    sha256_update(ctx_of(d), len, data);
}

void digest_sha256_field(struct digest_sha256 *d, const void *data, size_t len)
{
    uint64_t n = len;

    sha256_update(ctx_of(d), sizeof(n), (const uint8_t *)&n);
    sha256_update(ctx_of(d), len, data);
}

void digest_sha256_final(struct digest_sha256 *d, uint8_t out[DIGEST_SHA256_SIZE])
{
    sha256_digest(ctx_of(d), DIGEST_SHA256_SIZE, out);
}

void digest_hmac_sha256_init(struct digest_hmac_sha256 *h, const void *key, size_t key_len)
{
    hmac_sha256_set_key(hmac_of(h), key_len, key);
}

void digest_hmac_sha256_update(struct digest_hmac_sha256 *h, const void *data, size_t len)
{
    hmac_sha256_update(hmac_of(h), len, data);
}

void digest_hmac_sha256_final(struct digest_hmac_sha256 *h, uint8_t out[DIGEST_SHA256_SIZE])
{
    hmac_sha256_digest(hmac_of(h), DIGEST_SHA256_SIZE, out);
}

bool digest_equal(const void *a, const void *b, size_t n)
{
    /* nettle's memeql_sec touches every byte whatever the first difference */
    return memeql_sec(a, b, n) != 0;
}
