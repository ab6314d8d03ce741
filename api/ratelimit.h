/* Per-caller token buckets (CAPSULE_RATE_LIMIT requests per second, CAPSULE_RATE_BURST),
 * in a fixed table: memory stays bounded however many callers appear. Thread-safe. */
#pragma once

#include <stddef.h>

#include "time-util.h"

/* 16384 buckets of 40 bytes: 640 KiB, allocated only when rate limiting is on. */
#define API_RATELIMIT_BUCKETS 16384

struct api_ratelimit;

/** rate: tokens per second (> 0); burst: bucket size (>= 1); buckets: table size (a
 *  multiple of 8). NULL on out of memory. */
struct api_ratelimit *api_ratelimit_new(unsigned rate, unsigned burst, size_t buckets);
struct api_ratelimit *api_ratelimit_free(struct api_ratelimit *rl);
/** Takes one token from the bucket of `key` (any bytes, e.g. "ip:10.0.0.7"). Returns 0 when
 *  allowed, else the whole seconds until a token is available (>= 1, for Retry-After). */
unsigned api_ratelimit_take(struct api_ratelimit *rl, const char *key, size_t key_len, usec_t now);
