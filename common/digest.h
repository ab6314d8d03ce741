/* SHA-256 through nettle (a Debian crypto library; never hand-rolled). */
#pragma once

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
