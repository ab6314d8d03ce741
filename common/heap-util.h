/* Giving freed heap memory back to the kernel. */
#pragma once

#include <malloc.h>

/** Trims glibc's arenas (malloc_trim). Under AddressSanitizer the heap is the sanitizer's and
 *  glibc's arenas hold nothing, so there is nothing to trim, and the first malloc_trim is
 *  what initializes them: two threads making that first call at once race inside glibc (it
 *  marks itself initialized before its main arena is; seen as a NULL read in mtrim in the
 *  ASan lane, once in about ten runs of the api suite). */
static inline void heap_trim(void)
{
#if !defined(__SANITIZE_ADDRESS__)
    (void)malloc_trim(0);
#endif
}
