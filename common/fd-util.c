#include "fd-util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "strbuf.h"

int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
    struct strbuf sb = {0};
    char buf[16384];

    for (;;) {
        ssize_t k = read(fd, buf, sizeof(buf));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            strbuf_done(&sb);
            return r;
        }
        if (k == 0)
            break;
        if (sb.len + (size_t)k > max) {
            strbuf_done(&sb);
            return -EFBIG;
        }
        if (strbuf_append(&sb, buf, (size_t)k) < 0) {
            strbuf_done(&sb);
            return -ENOMEM;
        }
    }
    *ret = strbuf_steal(&sb, ret_len);
    if (!*ret)
        return -ENOMEM;
    return 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return -errno;
    return read_full_fd(fd, max, ret, ret_len);
}

int write_string_at(int dirfd, const char *path, const char *s)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    return write_all(fd, s, strlen(s));
}

int pwrite_string(int fd, const char *s)
{
    size_t n = strlen(s);
    ssize_t k;

    do
        k = pwrite(fd, s, n, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return -errno;
    return (size_t)k == n ? 0 : -EIO;
}

int pread_u64(int fd, unsigned long long *ret)
{
    char buf[64], *end;
    ssize_t k;

    do
        k = pread(fd, buf, sizeof(buf) - 1, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return -errno;
    buf[k] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || end == buf)
        return -EBADMSG;
    *ret = v;
    return 0;
}

DIR *opendir_dup(int dirfd)
{
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    DIR *d;

    if (fd < 0)
        return NULL;
    d = fdopendir(fd);
    if (!d)
        safe_close(fd);
    return d;
}

bool dot_or_dotdot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}
