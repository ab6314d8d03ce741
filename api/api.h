/* api layer internals: configuration, request codec, response encoding, HTTP server. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "log.h"
#include "runtimes.h"

struct api_config {
    struct eng_config eng;
    char *bind_host; /* "0.0.0.0", "::1", ... */
    uint16_t bind_port;
    char *runtimes_dir;
    char *data_dir;
    bool data_dir_explicit;
    uint64_t max_body_size;
    enum log_level log_level;
    char *repo_url;
    unsigned http_threads;
    /* Operations (README "Operations"): authentication is off while both are empty. */
    char **api_tokens;         /* CAPSULE_API_TOKENS, NULL-terminated; NULL: none */
    char *hmac_secret;         /* CAPSULE_HMAC_SECRET; NULL: none */
    uint64_t max_files;        /* CAPSULE_MAX_FILES: entries of `files` per request */
    uint64_t rate_limit;       /* CAPSULE_RATE_LIMIT: requests per second per caller; 0: off */
    uint64_t rate_burst;       /* CAPSULE_RATE_BURST: bucket size (defaults to rate_limit) */
    uint64_t drain_timeout_ms; /* CAPSULE_DRAIN_TIMEOUT: SIGTERM waits this long for jobs */
    uint32_t uid_max, gid_max; /* ends of the slot id ranges (--check uses the last id) */
    /* CAPSULE_PACKAGE_*: limits of the packages API (README "Packages") */
    uint64_t package_index_timeout_ms;
    uint64_t package_download_timeout_ms;
    uint64_t package_max_download; /* bytes of one archive */
    uint64_t package_max_unpacked; /* bytes of its files */
    uint64_t package_max_entries;  /* entries of its archive */
};

typedef const char *(*api_getenv_fn)(void *userdata, const char *name);

/** Parses every PISTON_* / CAPSULE_* variable (PISTON-API.md 4) through getenv_fn. On an
 *  invalid value returns -EINVAL and *ret_error holds the exact startup line, e.g.
 *  "Config option PISTON_RUN_TIMEOUT failed validation: ..." (malloc'd). */
int api_config_load(api_getenv_fn getenv_fn, void *userdata, struct api_config *ret,
                    char **ret_error);
void api_config_done(struct api_config *cfg);

/** Parses a request body per PISTON-API.md 2.1 step 2: an empty body is `{}`, otherwise it
 *  must be a JSON object or array (duplicate keys: last wins; `\u0000` allowed; numbers are
 *  read as JavaScript would, so 1e30 or 1e400 reach validation as huge values instead of
 *  failing). Invalid UTF-8 is replaced by U+FFFD first, as Piston's body parser does.
 *  Returns 0 with *ret (new reference), or -EBADMSG with *ret_detail (malloc'd parser detail
 *  for "Malformed JSON in request body: <detail>" / "SyntaxError: <detail>"), or -ENOMEM. */
int api_body_parse_json(const char *body, size_t len, json_t **ret, char **ret_detail);

/** True when the body holds more than max_values JSON values (an upper bound counted without
 *  parsing): checked before the parser, so a 10 MiB body of `{},{},...` is refused in one
 *  pass instead of costing ~100 bytes of parser memory per value. */
bool api_body_json_too_complex(const char *body, size_t len, size_t max_values);
/* Values a request may hold: a file entry is an object with three members, and CAPSULE_MAX_FILES
 * of them plus stdin, args and limits fit well within this. */
#define API_JSON_VALUES_PER_FILE 16
#define API_JSON_VALUES_BASE 4096

/** Decodes and validates an execute request in the wire order of PISTON-API.md 2.3. On a
 *  validation failure returns -EINVAL with the exact 400 message in *ret_message (malloc'd);
 *  -ENOMEM on allocation failure. On success *ret owns a reference to reg. */
int api_execute_decode(json_t *root, struct rt_registry *reg, const struct eng_config *cfg,
                       struct eng_request **ret, char **ret_message);
/** The same with a cap on the number of `files` entries (CAPSULE_MAX_FILES), checked after
 *  Piston's rows and before any name or content is looked at:
 *  "files must not have more than <max_files> entries". */
int api_execute_decode_capped(json_t *root, struct rt_registry *reg, const struct eng_config *cfg,
                              size_t max_files, struct eng_request **ret, char **ret_message);

/** Compact JSON texts (malloc'd, NUL-terminated) in the wire key order. */
char *api_encode_result(const struct eng_result *res, size_t *ret_len);
char *api_encode_runtimes(const struct rt_registry *reg, size_t *ret_len);
char *api_encode_message(const char *message, size_t *ret_len);
/** `{"message":"<message>","stack":"<stack>"}`, for the 413 and malformed-JSON answers. */
char *api_encode_message_stack(const char *message, const char *stack, size_t *ret_len);
