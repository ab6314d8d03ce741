/* Formatted reasons beside -errno (errmsg.h). */
#include "errmsg.h"

#include <errno.h>
#include <stdio.h>

int errmsg_vset(char **reterr, int err, const char *fmt, va_list ap)
{
    if (vasprintf(reterr, fmt, ap) < 0) {
        *reterr = NULL;
        return -ENOMEM;
    }
    return err;
}

int errmsg_set(char **reterr, int err, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = errmsg_vset(reterr, err, fmt, ap);
    va_end(ap);
    return r;
}
