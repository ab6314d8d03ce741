/* SHA-256 and HMAC-SHA256 through nettle (a Debian crypto library; never hand-rolled). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_SIZE 32

struct digest_sha256 {
    /* opaque storage for nettle's sha256_ctx (kept out of this header) */
    _Alignas(8) unsigned char state[128];
};

void digest_sha256_init(struct digest_sha256 *d);
void digest_sha256_update(struct digest_sha256 *d, const void *data, size_t len);
/** Adds a length-prefixed field, so ("ab","c") and ("a","bc") never hash alike. */
void digest_sha256_field(struct digest_sha256 *d, const void *data, size_t len);
void digest_sha256_final(struct digest_sha256 *d, uint8_t out[DIGEST_SHA256_SIZE]);

struct digest_hmac_sha256 {
    /* opaque storage for nettle's hmac_sha256_ctx */
    _Alignas(8) unsigned char state[512];
};

/** HMAC-SHA256 (RFC 2104) with a key of any length. */
void digest_hmac_sha256_init(struct digest_hmac_sha256 *h, const void *key, size_t key_len);
void digest_hmac_sha256_update(struct digest_hmac_sha256 *h, const void *data, size_t len);
/** Writes the MAC; the context is reset to the key and may be reused. */
void digest_hmac_sha256_final(struct digest_hmac_sha256 *h, uint8_t out[DIGEST_SHA256_SIZE]);

/** Compares n bytes in time independent of where they differ (secrets, MACs). */
bool digest_equal(const void *a, const void *b, size_t n);
