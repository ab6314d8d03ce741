/* The request body decoder's fast path (json-fast.c), used by json-body.c. */
#pragma once

#include <jansson.h>
#include <stddef.h>

/** Parses s[0..len) (valid UTF-8) as json_loadb(JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)
 *  would, into *ret (a new reference). -EINVAL when it declines: the document may be invalid
 *  or merely unusual (deep, long numbers, overflow); jansson then decides and explains.
 *  -ENOMEM. Thread-safe (no state). */
int api__json_parse_fast(const char *s, size_t len, json_t **ret);
