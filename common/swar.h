/* Eight bytes at a time ("SIMD within a register"): the scans over request bodies and program
 * output test a whole word for the few bytes that need attention and step over the rest. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SWAR_ONES UINT64_C(0x0101010101010101)
#define SWAR_HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t swar_load(const void *p)
{
    uint64_t w;

    memcpy(&w, p, sizeof(w)); /* unaligned and aliasing-safe; compiles to one load */
    return w;
}

/* True if one of the eight bytes is below n (n <= 0x80): b - n borrows into the high bit only
 * for b < n, and & ~w drops bytes that had it set already. A borrow can also mark a byte above
 * a true hit, never one on its own, so the yes/no answer is exact. */
static inline bool swar_has_less(uint64_t w, unsigned char n)
{
    return ((w - SWAR_ONES * n) & ~w & SWAR_HIGHS) != 0;
}

static inline bool swar_has_byte(uint64_t w, unsigned char b)
{
    return swar_has_less(w ^ (SWAR_ONES * b), 1);
}

/* A word that may sit inside a JSON string literal as it is: no control byte, no '"', no
 * '\\'. Bytes >= 0x80 pass: whether they are valid UTF-8 is for the caller. */
static inline bool swar_json_string_safe(uint64_t w)
{
    return !swar_has_less(w, 0x20) && !swar_has_byte(w, '"') && !swar_has_byte(w, '\\');
}
