/* EINTR-safe I/O helpers. Every fd is born O_CLOEXEC. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** Writes all of buf; -errno on failure. */
int write_all(int fd, const void *buf, size_t n);
/** Reads until EOF or `max` bytes (more → -EFBIG) into a NUL-terminated malloc'd buffer. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
/** Same for a file relative to dirfd (AT_FDCWD allowed), opened O_NOFOLLOW. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/** Writes a whole small string to an existing file (sysfs/cgroupfs control files). */
int write_string_at(int dirfd, const char *path, const char *s);
/** pwrite of a string at offset 0 to an open control file. */
int pwrite_string(int fd, const char *s);
/** pread of a decimal unsigned integer at offset 0 (cgroup counters). */
int pread_u64(int fd, unsigned long long *ret);

#include <dirent.h>
/** Opens a directory stream on a duplicate of dirfd (the caller keeps dirfd); NULL with errno
 *  set on failure. closedir() releases the duplicate. */
DIR *opendir_dup(int dirfd);
/** True for "." and "..". */
bool dot_or_dotdot(const char *name);
