/* Mount plan, applied in the box's PID 1 (the capsule-box helper) before the pivot. The plan is
 * built by the daemon (mount.c) and arrives in the box spec. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Every bind is nosuid+nodev: a setuid binary or a device node reachable through a bind would
 * be a way back to privilege. Read-only needs a second, remount call: the kernel ignores
 * MS_RDONLY on the initial MS_BIND. */
static int bind_mount(const char *src, const char *dst, bool read_only)
{
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;

    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        return -errno;
    if (read_only)
        flags |= MS_RDONLY;
    if (mount(NULL, dst, NULL, flags, NULL) < 0)
        return -errno;
    return 0;
}

static int apply_one(const struct sbx_mount_op *op)
{
    int fd;

    switch (op->kind) {
    case SBX_MOUNT_MKDIR:
        if (mkdir(op->dst, 0755) < 0 && errno != EEXIST)
            return -errno;
        return 0;
    case SBX_MOUNT_SYMLINK:
        return symlink(op->src, op->dst) < 0 ? -errno : 0;
    case SBX_MOUNT_BIND_RO:
    case SBX_MOUNT_BIND_RW:
        if (mkdir(op->dst, 0755) < 0 && errno != EEXIST)
            return -errno;
        return bind_mount(op->src, op->dst, op->kind == SBX_MOUNT_BIND_RO);
    case SBX_MOUNT_BIND_FILE:
        fd = open(op->dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return -errno;
        close(fd);
        /* Device nodes keep working on a nodev mount? No: nodev would break /dev/null, so
         * device binds stay dev-enabled but read-only on the mount level is not wanted either
         * (writes to /dev/null must work). Only nosuid here. */
        if (mount(op->src, op->dst, NULL, MS_BIND, NULL) < 0)
            return -errno;
        if (mount(NULL, op->dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL) < 0)
            return -errno;
        return 0;
    case SBX_MOUNT_MASK:
        /* dst exists (a procfs file): no open, no create. Read-only, so the node behind it
         * only ever reads (EOF for /dev/null); nosuid, noexec; not nodev, or it would not open. */
        if (mount(op->src, op->dst, NULL, MS_BIND, NULL) < 0)
            return -errno;
        if (mount(NULL, op->dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                  NULL) < 0)
            return -errno;
        return 0;
    case SBX_MOUNT_PROC:
        if (mkdir(op->dst, 0555) < 0 && errno != EEXIST)
            return -errno;
        /* Read-only: /proc/sys and friends stay unwritable even for a root-owned file.
         * hidepid=invisible: the program sees only its own uid's processes, not PID 1 (root's
         * capsule-box, whose arguments name a descriptor number and nothing of the host). */
        if (mount("proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                  "hidepid=invisible") < 0)
            return -errno;
        return 0;
    }
    return -EINVAL;
}

int sbx__mount_plan_apply(const struct sbx_mount_plan *plan, size_t *failed_index)
{
    for (size_t i = 0; i < plan->n; i++) {
        int r = apply_one(&plan->ops[i]);
        if (r < 0) {
            *failed_index = i;
            return r;
        }
    }
    return 0;
}
