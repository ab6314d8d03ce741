/* Strict parsers for configuration values: a value is either entirely valid or rejected, so
 * "256MB" or "1e6" can never silently become 256 or 1 (PISTON-API.md 1.2). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/** Parses a whole decimal integer: an optional leading '-' then digits only (no '+', no
 *  spaces, no suffix). -EINVAL for anything else, -ERANGE when it does not fit. */
int parse_int64(const char *s, int64_t *ret);

/** Fail-safe boolean for "disable" switches such as PISTON_DISABLE_NETWORKING: only "false",
 *  "0" and "no" (any case) turn the feature off, so a typo keeps the safe setting. NULL (unset)
 *  counts as true. */
bool parse_fail_safe_true(const char *s);

/** Parses "host:port" or "[ipv6]:port" (port 0..65535; 0 lets the kernel choose). *ret_host
 *  is the host without brackets, malloc'd. -EINVAL for a malformed address, -ENOMEM. */
int parse_bind_address(const char *s, char **ret_host, uint16_t *ret_port);
