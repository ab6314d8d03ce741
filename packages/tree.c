/* Removing a package tree: below directory fds, no symlink ever followed, so a package's
 * own links cannot point the removal at anything outside it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "packages.h"

static inline void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

int pkg_remove_tree_at(int parent_fd, const char *name)
{
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *de;
    struct stat st;
    int fd, r = 0;

    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        close(fd);
        return r;
    }
    while ((errno = 0, de = readdir(d))) {
        int k;

        if (dot_or_dotdot(de->d_name))
            continue;
        k = pkg_remove_tree_at(dirfd(d), de->d_name);
        if (k < 0 && r == 0)
            r = k; /* keep going: remove as much as possible */
    }
    if (errno != 0 && r == 0)
        r = -errno;
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}
