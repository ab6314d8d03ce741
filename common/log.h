/* Logging for engine, api and main only: library layers return -errno instead. */
#pragma once

#include "macro.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL_NONE };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/** Parses DEBUG/INFO/WARN/ERROR/NONE (exact case, as Piston); -EINVAL otherwise. */
int log_level_from_string(const char *s, enum log_level *ret);
void log_msg(enum log_level level, const char *fmt, ...) _printf_(2, 3);
/** Logs "<message>: <strerror(-err)>" and returns err (always negative), for `return log_errno(r,
 * ...)`. */
int log_errno(enum log_level level, int err, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
