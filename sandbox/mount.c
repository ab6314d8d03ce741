/* Mount plan of a box, built by the daemon; the box's PID 1 applies it (mount-apply.c). */
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
