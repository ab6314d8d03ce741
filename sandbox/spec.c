/* The box spec as the daemon writes it on a new box's job socket (the format is internal.h's,
 * the reader helper/capsule-box.c). */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "strbuf.h"

static int plan_encode(const char *box_root, const struct sbx_mount_plan *plan, struct strbuf *ret)
{
    if (strbuf_append(ret, box_root, strlen(box_root) + 1) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < plan->n; i++) {
        const struct sbx_mount_op *op = &plan->ops[i];
        unsigned char kind = (unsigned char)op->kind;
        const char *src = op->src ? op->src : "";
        if (strbuf_append(ret, &kind, 1) < 0 ||
            strbuf_append(ret, op->dst, strlen(op->dst) + 1) < 0 ||
            strbuf_append(ret, src, strlen(src) + 1) < 0)
            return -ENOMEM;
    }
    return 0;
}

int sbx__spec_encode(const struct sbx_child_args *a, struct strbuf *ret)
{
    struct sbx_spec_header h = {
        .magic = SBX_SPEC_MAGIC,
        .n_ops = (uint32_t)a->plan->n,
        .n_insns = a->seccomp->len,
        .job_fd = a->job_fd,
        .error_fd = a->error_fd,
        .netns_fd = a->netns_fd,
        .mode = (uint32_t)a->mode,
        .template_fd = a->template_fd,
        .template_root_fd = a->template_root_fd,
        .uid = a->uid,
        .gid = a->gid,
    };
    struct strbuf strings = {0};
    int r = 0;

    if (a->plan->n > SBX_SPEC_OPS_MAX)
        return -E2BIG;
    r = plan_encode(a->box_root, a->plan, &strings);
    if (r >= 0 && strings.len > SBX_SPEC_STRINGS_MAX)
        r = -E2BIG;
    h.strings_len = (uint32_t)strings.len;
    if (r >= 0 && (strbuf_append(ret, &h, sizeof(h)) < 0 ||
                   strbuf_append(ret, a->seccomp->filter,
                                 a->seccomp->len * sizeof(*a->seccomp->filter)) < 0 ||
                   strbuf_append(ret, strings.data, strings.len) < 0))
        r = -ENOMEM;
    strbuf_done(&strings);
    return r;
}
