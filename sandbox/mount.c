/* Mount plan of a box. Built in the parent (allocation allowed), applied after clone with raw
 * syscalls only (see child.c for why). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"

int sbx__mount_plan_add(struct sbx_mount_plan *plan, enum sbx_mount_kind kind, const char *src,
                        const char *root, const char *box_path)
{
    _cleanup_free_ char *dst = NULL, *src_copy = NULL;

    if (plan->n == plan->alloc) {
        size_t alloc = plan->alloc ? plan->alloc * 2 : 32;
        struct sbx_mount_op *ops = realloc(plan->ops, alloc * sizeof(*ops));
        if (!ops)
            return -ENOMEM;
        plan->ops = ops;
        plan->alloc = alloc;
    }
    if (asprintf(&dst, "%s%s", root, box_path) < 0)
        return -ENOMEM;
    if (src) {
        src_copy = strdup(src);
        if (!src_copy)
            return -ENOMEM;
    }
    plan->ops[plan->n++] =
        (struct sbx_mount_op){.kind = kind, .src = TAKE_PTR(src_copy), .dst = TAKE_PTR(dst)};
    return 0;
}

static bool plan_has_dir(const struct sbx_mount_plan *plan, const char *dst)
{
    for (size_t i = 0; i < plan->n; i++)
        if (plan->ops[i].kind != SBX_MOUNT_SYMLINK && plan->ops[i].kind != SBX_MOUNT_BIND_FILE &&
            plan->ops[i].kind != SBX_MOUNT_MASK && strcmp(plan->ops[i].dst, dst) == 0)
            return true;
    return false;
}

int sbx__mount_plan_add_parents(struct sbx_mount_plan *plan, const char *root, const char *box_path)
{
    _cleanup_free_ char *path = strdup(box_path);
    int r;

    if (!path)
        return -ENOMEM;
    for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        _cleanup_free_ char *dst = NULL;
        *slash = '\0';
        if (asprintf(&dst, "%s%s", root, path) < 0)
            return -ENOMEM;
        if (!plan_has_dir(plan, dst)) {
            r = sbx__mount_plan_add(plan, SBX_MOUNT_MKDIR, NULL, root, path);
            if (r < 0)
                return r;
        }
        *slash = '/';
    }
    return 0;
}

int sbx__mount_plan_copy(const struct sbx_mount_plan *base, struct sbx_mount_plan *ret)
{
    struct sbx_mount_plan plan = {0};

    plan.ops = calloc(base->n + 16, sizeof(*plan.ops));
    if (!plan.ops)
        return -ENOMEM;
    plan.alloc = base->n + 16;
    for (size_t i = 0; i < base->n; i++) {
        const struct sbx_mount_op *op = &base->ops[i];
        plan.ops[i].kind = op->kind;
        plan.ops[i].dst = strdup(op->dst);
        plan.ops[i].src = op->src ? strdup(op->src) : NULL;
        plan.n = i + 1;
        if (!plan.ops[i].dst || (op->src && !plan.ops[i].src)) {
            sbx__mount_plan_done(&plan);
            return -ENOMEM;
        }
    }
    *ret = plan;
    return 0;
}

void sbx__mount_plan_done(struct sbx_mount_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->ops[i].src);
        free(plan->ops[i].dst);
    }
    free(plan->ops);
    *plan = (struct sbx_mount_plan){0};
}

/* ---- after clone: raw syscalls only ------------------------------------------------------- */

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

__attribute__((no_sanitize("address", "undefined"))) static int
apply_one(const struct sbx_mount_op *op)
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
         * hidepid=invisible: the program sees only its own uid's processes, so PID 1 (the
         * supervisor, a copy of the daemon) does not show the daemon's command line. */
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
