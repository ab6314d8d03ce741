/* A formatted reason beside a -errno: library layers that never log hand their caller the
 * text to log or send (a package index's line, an archive entry, a metadata field). */
#pragma once

#include <stdarg.h>

#include "macro.h"

/** Sets *reterr to a malloc'd message and returns err; -ENOMEM (and *reterr NULL) when the
 *  message cannot be built. */
int errmsg_set(char **reterr, int err, const char *fmt, ...) _printf_(3, 4);
int errmsg_vset(char **reterr, int err, const char *fmt, va_list ap) _printf_(3, 0);
