/* Token buckets in a set-associative table: a key hashes (salted SHA-256, so nobody can aim
 * many keys at one set) to a set of 8 buckets. A new key takes a free bucket, else the set's
 * bucket refilled longest ago: a full bucket forgets nothing, and evicting a partly drained
 * one only forgives a caller whose set saw 8 newer callers since. */
#include "ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "digest.h"
#include "macro.h"

#define WAYS 8
#define MICRO 1000000ULL /* tokens are counted in millionths: integer arithmetic only */

struct bucket {
    uint8_t key[16];
    usec_t last;     /* refill time; 0: free */
    uint64_t tokens; /* millionths of a request */
};

struct api_ratelimit {
    pthread_mutex_t lock;
    uint64_t rate;  /* tokens per second */
    uint64_t burst; /* whole tokens */
    size_t n_sets;
    uint8_t salt[16];
    struct bucket *buckets;
};

struct api_ratelimit *api_ratelimit_new(unsigned rate, unsigned burst, size_t buckets)
{
    struct api_ratelimit *rl = calloc(1, sizeof(*rl));

    if (!rl)
        return NULL;
    rl->rate = MAX(rate, 1u);
    rl->burst = MAX(burst, 1u);
    rl->n_sets = MAX(buckets / WAYS, (size_t)1);
    rl->buckets = calloc(rl->n_sets * WAYS, sizeof(*rl->buckets));
    /* A predictable salt would only let a caller choose colliding keys; fall back quietly. */
    if (getrandom(rl->salt, sizeof(rl->salt), GRND_NONBLOCK) != (ssize_t)sizeof(rl->salt))
        memset(rl->salt, 0x5a, sizeof(rl->salt));
    pthread_mutex_init(&rl->lock, NULL);
    if (!rl->buckets)
        return api_ratelimit_free(rl);
    return rl;
}

struct api_ratelimit *api_ratelimit_free(struct api_ratelimit *rl)
{
    if (!rl)
        return NULL;
    pthread_mutex_destroy(&rl->lock);
    free(rl->buckets);
    free(rl);
    return NULL;
}

static void refill(const struct api_ratelimit *rl, struct bucket *b, usec_t now)
{
    uint64_t full = rl->burst * MICRO;
    usec_t elapsed = now > b->last ? now - b->last : 0;

    /* cap first: elapsed * rate cannot overflow once it is below the time to fill up */
    if (elapsed >= full / rl->rate + 1)
        b->tokens = full;
    else
        b->tokens = MIN(full, b->tokens + elapsed * rl->rate);
    b->last = now;
}

static struct bucket *find_bucket(struct api_ratelimit *rl, const uint8_t key[16], usec_t now)
{
    uint64_t h;
    struct bucket *set, *victim;

    memcpy(&h, key, sizeof(h));
    set = &rl->buckets[(h % rl->n_sets) * WAYS];
    victim = &set[0];
    for (unsigned i = 0; i < WAYS; i++) {
        if (set[i].last != 0 && memcmp(set[i].key, key, 16) == 0)
            return &set[i];
        if (set[i].last < victim->last)
            victim = &set[i];
    }
    /* oldest refill (a free bucket has last == 0): a new caller starts with a full bucket */
    memcpy(victim->key, key, 16);
    victim->last = now;
    victim->tokens = rl->burst * MICRO;
    return victim;
}

unsigned api_ratelimit_take(struct api_ratelimit *rl, const char *key, size_t key_len, usec_t now)
{
    uint8_t digest[DIGEST_SHA256_SIZE];
    struct digest_sha256 d;
    struct bucket *b;
    unsigned wait = 0;

    digest_sha256_init(&d);
    digest_sha256_update(&d, rl->salt, sizeof(rl->salt));
    digest_sha256_update(&d, key, key_len);
    digest_sha256_final(&d, digest);
    now = MAX(now, (usec_t)1); /* 0 marks a free bucket */
    pthread_mutex_lock(&rl->lock);
    b = find_bucket(rl, digest, now);
    refill(rl, b, now);
    if (b->tokens >= MICRO) {
        b->tokens -= MICRO;
    } else {
        uint64_t missing = MICRO - b->tokens; /* millionths; one second brings rate * MICRO */
        wait = (unsigned)((missing + rl->rate * MICRO - 1) / (rl->rate * MICRO));
    }
    pthread_mutex_unlock(&rl->lock);
    return wait;
}
