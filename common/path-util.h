/* Request file-name rules (PISTON-API.md 3.1). */
#pragma once

#include <stddef.h>

/** Normalises a request file name: rejects (-EINVAL) absolute paths, NUL (pass the JSON
 *  length), any ".." component, a component over 255 bytes, a total over 1024 bytes, or an
 *  empty result after dropping "." and empty components. On success *ret is the normalised
 *  relative path ("a/./b//c" -> "a/b/c"), malloc'd. */
int path_normalize_request_name(const char *name, size_t len, char **ret);
