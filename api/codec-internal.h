/* Shared by the execute request codec files (codec.c, codec-files.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"
#include "macro.h"

/** Formats a 400 message into *ret_message (malloc'd): returns -EINVAL, or -ENOMEM. */
int api__codec_fail(char **ret_message, const char *fmt, ...) _printf_(2, 3);

/** JavaScript falsiness: absent, null, false, 0 and "" (Piston tests fields with `!x`). */
bool api__json_is_falsy(const json_t *v);

/** Rows 10-12 of PISTON-API.md 2.3 on a `files` array already checked by rows 3-6: names,
 *  duplicates (later wins), base64/hex decoding and the disk quota. Fills req->files and
 *  req->n_files. -EINVAL with *ret_message, or -ENOMEM. */
int api__codec_decode_files(json_t *files, const struct eng_config *cfg, struct eng_request *req,
                            char **ret_message);
