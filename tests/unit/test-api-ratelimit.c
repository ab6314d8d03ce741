/* Token buckets (api/ratelimit.c): burst, refill, Retry-After, per-key isolation, bounded
 * table. Time is passed in, so nothing here sleeps. */
#include "macro.h"
#include "ratelimit.h"
#include "test.h"

#define SEC 1000000ULL
#define T0 (1000 * SEC)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct api_ratelimit *, api_ratelimit_free)

static unsigned take(struct api_ratelimit *rl, const char *key, usec_t now)
{
    return api_ratelimit_take(rl, key, strlen(key), now);
}

TEST(burst_then_refill)
{
    _cleanup_(api_ratelimit_freep) struct api_ratelimit *rl = api_ratelimit_new(2, 5, 64);

    ASSERT_NOT_NULL(rl);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(take(rl, "ip:1.2.3.4", T0), 0);
    ASSERT_EQ(take(rl, "ip:1.2.3.4", T0), 1); /* 2/s: half a second to the next token */
    ASSERT_EQ(take(rl, "ip:1.2.3.4", T0 + SEC / 2), 0);
    ASSERT_EQ(take(rl, "ip:1.2.3.4", T0 + SEC / 2), 1);
    /* a long pause refills to the burst, never beyond */
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(take(rl, "ip:1.2.3.4", T0 + 3600 * SEC), 0);
    ASSERT_GE(take(rl, "ip:1.2.3.4", T0 + 3600 * SEC), 1);
}

TEST(retry_after_rounds_up)
{
    _cleanup_(api_ratelimit_freep) struct api_ratelimit *rl = api_ratelimit_new(1, 1, 64);

    ASSERT_EQ(take(rl, "k", T0), 0);
    ASSERT_EQ(take(rl, "k", T0), 1);
    ASSERT_EQ(take(rl, "k", T0 + SEC - 1), 1);
    ASSERT_EQ(take(rl, "k", T0 + SEC), 0);
}

TEST(keys_are_independent)
{
    _cleanup_(api_ratelimit_freep) struct api_ratelimit *rl = api_ratelimit_new(1, 2, 64);

    ASSERT_EQ(take(rl, "token:aaaa", T0), 0);
    ASSERT_EQ(take(rl, "token:aaaa", T0), 0);
    ASSERT_EQ(take(rl, "token:aaaa", T0), 1);
    ASSERT_EQ(take(rl, "token:bbbb", T0), 0);
    ASSERT_EQ(take(rl, "hmac:aaaa", T0), 0);
}

/* A flood of new keys cannot grow memory; an active, drained key in a small table can be
 * evicted only by keys landing in its set, and then it starts full again (documented). */
TEST(table_is_bounded)
{
    _cleanup_(api_ratelimit_freep) struct api_ratelimit *rl = api_ratelimit_new(1, 1, 16);
    char key[32];

    for (unsigned i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "ip:10.0.%u.%u", i / 256, i % 256);
        ASSERT_EQ(take(rl, key, T0 + i), 0);
    }
}

TEST(huge_gap_no_overflow)
{
    _cleanup_(api_ratelimit_freep) struct api_ratelimit *rl = api_ratelimit_new(1000000, 3, 64);

    ASSERT_EQ(take(rl, "k", 1), 0);
    ASSERT_EQ(take(rl, "k", UINT64_MAX / 2), 0);
    ASSERT_EQ(take(rl, "k", UINT64_MAX / 2), 0);
    ASSERT_EQ(take(rl, "k", UINT64_MAX / 2), 0);
    ASSERT_EQ(take(rl, "k", UINT64_MAX / 2), 1);
}
