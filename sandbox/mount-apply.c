/* Mount plan, applied in the box's PID 1 (the capsule-box helper) before the pivot. The plan is
 * built by the daemon (mount.c) and arrives in the box spec. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
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

static int apply_one(const struct sbx_mount_op *op, const char *dst)
{
    int fd;

    switch (op->kind) {
    case SBX_MOUNT_MKDIR:
        if (mkdir(dst, 0755) < 0 && errno != EEXIST)
            return -errno;
        return 0;
    case SBX_MOUNT_SYMLINK:
        return symlink(op->src, dst) < 0 ? -errno : 0;
    case SBX_MOUNT_BIND_RO:
    case SBX_MOUNT_BIND_RW:
        if (mkdir(dst, 0755) < 0 && errno != EEXIST)
            return -errno;
        return bind_mount(op->src, dst, op->kind == SBX_MOUNT_BIND_RO);
    case SBX_MOUNT_BIND_FILE:
        fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return -errno;
        close(fd);
        /* Device nodes keep working on a nodev mount? No: nodev would break /dev/null, so
         * device binds stay dev-enabled but read-only on the mount level is not wanted either
         * (writes to /dev/null must work). Only nosuid here. */
        if (mount(op->src, dst, NULL, MS_BIND, NULL) < 0)
            return -errno;
        if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL) < 0)
            return -errno;
        return 0;
    case SBX_MOUNT_MASK:
        /* dst exists (a procfs file): no open, no create. Read-only, so the node behind it
         * only ever reads (EOF for /dev/null); nosuid, noexec; not nodev, or it would not open. */
        if (mount(op->src, dst, NULL, MS_BIND, NULL) < 0)
            return -errno;
        if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) <
            0)
            return -errno;
        return 0;
    case SBX_MOUNT_PROC:
        if (mkdir(dst, 0555) < 0 && errno != EEXIST)
            return -errno;
        /* Read-only: /proc/sys and friends stay unwritable even for a root-owned file.
         * hidepid=invisible: the program sees only its own uid's processes, not PID 1 (root's
         * capsule-box, whose arguments name a descriptor number and nothing of the host). */
        if (mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                  "hidepid=invisible") < 0)
            return -errno;
        return 0;
    }
    return -EINVAL;
}

/* procfs belongs to the box's PID namespace, so a template only makes its mount point; the
 * masks inside it come with it. Everything else is the template's. */
static bool in_box_part(enum sbx_mount_kind kind)
{
    return kind == SBX_MOUNT_PROC || kind == SBX_MOUNT_MASK;
}

int sbx__mount_plan_apply(const struct sbx_mount_plan *plan, enum sbx_apply_part part, size_t strip,
                          size_t *failed_index)
{
    for (size_t i = 0; i < plan->n; i++) {
        const struct sbx_mount_op *op = &plan->ops[i];
        int r = 0;

        if (part == SBX_APPLY_TEMPLATE && op->kind == SBX_MOUNT_PROC)
            r = mkdir(op->dst, 0555) < 0 && errno != EEXIST ? -errno : 0;
        else if (part == SBX_APPLY_TEMPLATE && !in_box_part(op->kind))
            r = apply_one(op, op->dst);
        else if (part == SBX_APPLY_BOX && in_box_part(op->kind))
            r = strlen(op->dst) > strip ? apply_one(op, op->dst + strip) : -EINVAL;
        if (r < 0) {
            *failed_index = i;
            return r;
        }
    }
    return 0;
}
