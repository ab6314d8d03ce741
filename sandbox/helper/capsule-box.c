/* capsule-box: PID 1 of every box, and the builder of every root template. The daemon's clone
 * (new PID, IPC and UTS namespaces for a box, a new mount namespace for a template, sharing
 * the daemon's memory until this execve) runs this small static program, so a box never
 * copies the daemon's address space and the daemon takes no copy-on-write faults for it.
 * argv[1] is the job socket; the spec arrives on it first (internal.h), then, for a box, job
 * after job. Everything else is sbx__child_supervisor() (child.c): build a template and hand it
 * over, or join one and serve jobs: clone each job's program, reap, report. Not a command for
 * people: run by hand it finds no spec and exits 125. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;

    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k == 0 ? -EPROTO : -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static bool fd_ok(int32_t fd)
{
    return fd >= 3;
}

/* Next NUL-terminated string at *s before end, NULL if none. */
static const char *next_string(const char **s, const char *end)
{
    const char *start = *s, *nul = memchr(start, '\0', (size_t)(end - start));

    if (!nul)
        return NULL;
    *s = nul + 1;
    return start;
}

static int receive_spec(int job_fd, struct sbx_child_args *a, struct sbx_mount_plan *plan,
                        struct sock_fprog *prog)
{
    struct sbx_spec_header h;
    struct sock_filter *insns;
    const char *s, *end;
    char *strings;
    int r = read_full(job_fd, &h, sizeof(h));

    if (r < 0)
        return r;
    if (h.magic != SBX_SPEC_MAGIC || h.n_ops > SBX_SPEC_OPS_MAX || h.n_insns == 0 ||
        h.n_insns > BPF_MAXINSNS || h.strings_len == 0 || h.strings_len > SBX_SPEC_STRINGS_MAX ||
        h.job_fd != job_fd || (h.mode != SBX_SPEC_MODE_TEMPLATE && h.mode != SBX_SPEC_MODE_BOX))
        return -EPROTO;
    /* A template builder reports on its error pipe. A box has no descriptor of a job before
     * the job: every job brings its own (internal.h), and the box reports on the socket. */
    if (h.mode == SBX_SPEC_MODE_TEMPLATE && !fd_ok(h.error_fd))
        return -EPROTO;
    if (h.mode == SBX_SPEC_MODE_BOX &&
        (h.error_fd != -1 || !fd_ok(h.template_fd) || !fd_ok(h.template_root_fd)))
        return -EPROTO;
    insns = calloc(h.n_insns, sizeof(*insns));
    strings = malloc(h.strings_len);
    plan->ops = calloc(h.n_ops + 1, sizeof(*plan->ops));
    if (!insns || !strings || !plan->ops)
        return -ENOMEM;
    r = read_full(job_fd, insns, h.n_insns * sizeof(*insns));
    if (r >= 0)
        r = read_full(job_fd, strings, h.strings_len);
    if (r < 0)
        return r;
    s = strings;
    end = strings + h.strings_len;
    a->box_root = next_string(&s, end);
    if (!a->box_root)
        return -EPROTO;
    for (uint32_t i = 0; i < h.n_ops; i++) {
        struct sbx_mount_op *op = &plan->ops[i];
        if (s >= end)
            return -EPROTO;
        op->kind = (enum sbx_mount_kind)(unsigned char)*s++;
        /* the plan is read-only here: the casts only fit the daemon's owning struct */
        op->dst = (char *)next_string(&s, end);
        op->src = (char *)next_string(&s, end);
        if (!op->dst || !op->src || op->kind > SBX_MOUNT_MASK)
            return -EPROTO;
        if (!op->src[0])
            op->src = NULL;
    }
    plan->n = plan->alloc = h.n_ops;
    *prog = (struct sock_fprog){.len = (unsigned short)h.n_insns, .filter = insns};
    a->plan = plan;
    a->netns_fd = h.netns_fd >= 0 ? h.netns_fd : -1;
    a->job_fd = h.job_fd;
    a->error_fd = h.error_fd;
    a->uid = h.uid;
    a->gid = h.gid;
    a->seccomp = prog;
    a->mode = (int)h.mode;
    a->template_fd = h.mode == SBX_SPEC_MODE_BOX ? h.template_fd : -1;
    a->template_root_fd = h.mode == SBX_SPEC_MODE_BOX ? h.template_root_fd : -1;
    return 0;
}

int main(int argc, char **argv)
{
    static struct sbx_child_args args;
    static struct sbx_mount_plan plan;
    static struct sock_fprog prog;
    char *end;
    long job_fd;

    if (argc != 2)
        return 125;
    errno = 0;
    job_fd = strtol(argv[1], &end, 10);
    if (errno || *end || job_fd < 3 || job_fd > 1 << 20)
        return 125;
    /* no error pipe is known before the spec: the daemon sees PID 1 exit without a status */
    if (receive_spec((int)job_fd, &args, &plan, &prog) < 0)
        return 125;
    sbx__child_supervisor(&args);
}
