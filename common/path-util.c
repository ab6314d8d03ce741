/* Request file names (PISTON-API.md 3.1): checked before anything is created, so a name can
 * never leave the work directory whatever the engine later does with it. */
#include "path-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_TOTAL 1024
#define NAME_MAX_COMPONENT 255 /* NAME_MAX of every Linux file system we write to */

int path_normalize_request_name(const char *name, size_t len, char **ret)
{
    size_t i = 0, o = 0;
    char *out;

    if (len == 0 || len > NAME_MAX_TOTAL || name[0] == '/' || memchr(name, '\0', len))
        return -EINVAL;
    out = malloc(len + 1);
    if (!out)
        return -ENOMEM;
    while (i < len) {
        const char *c = name + i;
        const char *slash = memchr(c, '/', len - i);
        size_t n = slash ? (size_t)(slash - c) : len - i;

        i += n + 1;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue; /* "a//b" and "a/./b" name "a/b" */
        if ((n == 2 && c[0] == '.' && c[1] == '.') || n > NAME_MAX_COMPONENT) {
            free(out);
            return -EINVAL;
        }
        if (o > 0)
            out[o++] = '/';
        memcpy(out + o, c, n);
        o += n;
    }
    if (o == 0) {
        free(out);
        return -EINVAL;
    }
    out[o] = '\0';
    *ret = out;
    return 0;
}
