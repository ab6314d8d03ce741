#include "strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strbuf_reserve(struct strbuf *sb, size_t n)
{
    size_t want = sb->len + n + 1, alloc;
    char *p;

    if (want <= sb->alloc)
        return 0;
    alloc = sb->alloc ? sb->alloc : 256;
    while (alloc < want) {
        if (alloc > (size_t)-1 / 2)
            return -ENOMEM;
        alloc *= 2;
    }
    p = realloc(sb->data, alloc);
    if (!p)
        return -ENOMEM;
    if (!sb->data)
        p[0] = '\0'; /* a buffer is a valid empty string from its first allocation on */
    sb->data = p;
    sb->alloc = alloc;
    return 0;
}

long strbuf_append(struct strbuf *sb, const void *data, size_t n)
{
    int r;

    if (sb->cap > 0 && sb->len + n > sb->cap) {
        n = sb->cap - sb->len;
        sb->truncated = true;
    }
    r = strbuf_reserve(sb, n);
    if (r < 0)
        return r;
    if (n > 0)
        memcpy(sb->data + sb->len, data, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return (long)n;
}

int strbuf_append_str(struct strbuf *sb, const char *s)
{
    long r = strbuf_append(sb, s, strlen(s));
    return r < 0 ? (int)r : 0;
}

void strbuf_done(struct strbuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->alloc = 0;
    sb->truncated = false;
}

char *strbuf_steal(struct strbuf *sb, size_t *ret_len)
{
    char *p;

    if (!sb->data && strbuf_reserve(sb, 0) < 0)
        return NULL;
    p = sb->data;
    if (ret_len)
        *ret_len = sb->len;
    sb->data = NULL;
    sb->len = sb->alloc = 0;
    return p;
}
