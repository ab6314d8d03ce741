#pragma once

#include <stdint.h>

typedef uint64_t usec_t;
#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL
#define NSEC_PER_USEC 1000ULL

/** CLOCK_MONOTONIC in microseconds. */
usec_t now_usec(void);
/** Milliseconds rounded up from microseconds (accounting is reported as whole ms). */
static inline uint64_t usec_to_msec_ceil(usec_t u)
{
    return (u + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
}
