/* Growable byte buffer with a hard cap: output capture, request bodies, JSON building. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *data;     /* always NUL-terminated when non-NULL; may hold NUL bytes inside */
    size_t len;     /* bytes stored */
    size_t alloc;   /* bytes allocated */
    size_t cap;     /* maximum len; 0 = unlimited */
    bool truncated; /* an append was cut at the cap */
};

/** Appends up to the cap. Returns the number of bytes stored (< n when the cap cut it: then
 *  `truncated` is set) or -ENOMEM. */
long strbuf_append(struct strbuf *sb, const void *data, size_t n);
int strbuf_append_str(struct strbuf *sb, const char *s);
/** Ensures room for `n` more bytes (below the cap) without changing len. */
int strbuf_reserve(struct strbuf *sb, size_t n);
/** Frees the contents; the struct may be reused. */
void strbuf_done(struct strbuf *sb);
/** Hands out the data (NUL-terminated, never NULL on success) and resets the buffer. */
char *strbuf_steal(struct strbuf *sb, size_t *ret_len);
