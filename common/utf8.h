/* UTF-8 helpers for turning program output into JSON strings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strbuf;

/** Copies `in` replacing every invalid or overlong sequence, surrogate and code point above
 *  U+10FFFF with U+FFFD (one replacement per maximal invalid subpart, as WHATWG/Python do).
 *  NUL bytes are kept. *ret is malloc'd and NUL-terminated. -ENOMEM. */
int utf8_sanitize(const char *in, size_t len, char **ret, size_t *ret_len);
/** Length of `s` without a trailing incomplete (but so far valid) UTF-8 sequence: used when
 *  output was cut at the byte limit, so a character split by the cut is dropped. */
size_t utf8_trim_incomplete_tail(const char *s, size_t len);
/** True if the whole buffer is valid UTF-8. */
bool utf8_is_valid(const char *s, size_t len);
/** Appends `s` as a quoted JSON string, repaired as utf8_sanitize() does and escaped as
 *  jansson's compact encoder does (same bytes), in one pass. -ENOMEM (sb then holds a
 *  partial string). */
int utf8_append_json_string(struct strbuf *sb, const char *s, size_t len);
