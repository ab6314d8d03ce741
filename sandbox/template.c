/* Root templates: a box's root built once per slot and plan, copied by every box that needs it.
 *
 * Building a root takes a tmpfs, some thirty mount calls (a bind and a remount per directory and
 * device), directories and symlinks, a pivot and the detach of the host's mounts, and the
 * box's exit undoes all of it: about a tenth of the CPU a cached C hello costs the engine. A
 * template is that root made once, by a capsule-box run in SBX_SPEC_MODE_TEMPLATE: it builds
 * the root exactly as a box did (same plan, same code), makes it read-only, hands its mount
 * namespace to the daemon as a descriptor and exits. A box then joins that namespace and
 * unshares a private copy of it (the kernel copies the few mounts, no path is looked up), and
 * mounts only what is its own: procfs, for its PID namespace, and the masks inside it.
 *
 * What a box sees is what it saw before: the same mounts with the same flags, a read-only root
 * (now one tmpfs per template, shared by the slot's boxes of that plan: nothing can write to it,
 * so nothing passes through it, and a read-only mount updates no access time either). A
 * template belongs to one slot, so it binds that slot's job directories and covers only.
 *
 * A template's binds resolved their sources when it was built. The package directories are the
 * ones that change under a running daemon (an install or removal swaps a link): their device and
 * inode are part of the key, and a template pins its own, so a new directory can never pass for
 * the old one. Anything else a template binds is rebuilt after SBX_TEMPLATE_MAX_AGE_USEC. The
 * slot's covers (private.c) are checked when a template is built, not per box: its binds hold
 * the covers they were made of. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"
#include "strbuf.h"
#include "time-util.h"

/* A builder makes a root in a few milliseconds; one that takes this long is stuck (a mount
 * source on a hung file system) and is killed. */
#define TEMPLATE_BUILD_TIMEOUT_MS 10000

static int append_identity(struct strbuf *key, const char *dir)
{
    struct stat st;
    char id[64];
    int n;

    if (!dir)
        n = snprintf(id, sizeof(id), "-");
    else if (stat(dir, &st) < 0)
        n = snprintf(id, sizeof(id), "?"); /* the build will say what is wrong */
    else
        n = snprintf(id, sizeof(id), "%llu:%llu", (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
    return strbuf_append(key, id, (size_t)n + 1);
}

/* The plan of a box is the slot's template plan plus the package and prepared directories at
 * their box paths (launch.c, plan_for), so those three and the directories' identities are the
 * key: no need to encode the whole plan again. */
static int template_key(const char *package_dir, const char *package_box_dir,
                        const char *prepared_dir, struct strbuf *key)
{
    const char *parts[] = {package_dir, package_box_dir, prepared_dir};
    int r = 0;

    for (size_t i = 0; i < ARRAY_SIZE(parts) && r >= 0; i++) {
        const char *p = parts[i] ? parts[i] : "-"; /* box paths are absolute: never "-" */
        r = strbuf_append(key, p, strlen(p) + 1) < 0 ? -ENOMEM : 0;
    }
    if (r >= 0)
        r = append_identity(key, package_dir);
    if (r >= 0)
        r = append_identity(key, prepared_dir);
    return r;
}

static void template_drop(struct sbx_root_template *t)
{
    t->mntns_fd = safe_close(t->mntns_fd);
    t->root_fd = safe_close(t->root_fd);
    free(t->key);
    t->key = NULL;
    t->key_len = 0;
}

void sbx_slot_drop_templates(struct sbx_slot *slot)
{
    for (size_t i = 0; i < SBX_TEMPLATES_MAX; i++)
        template_drop(&slot->templates[i]);
}

/* The builder's namespace, or the reason it has none: its error record, read once it is dead. */
static int receive_template(int sock, int error_fd, int pidfd, const struct sbx_mount_plan *plan,
                            int ret_fds[2], struct sbx_error *reterr)
{
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } control;
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct pollfd pfd = {.fd = sock, .events = POLLIN};
    struct sbx_child_error rec = {0};
    struct cmsghdr *cm;
    ssize_t k = -1;
    int r;

    do
        r = poll(&pfd, 1, TEMPLATE_BUILD_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        do
            k = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (k < 0 && errno == EINTR);
    }
    cm = k > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[2] = {-1, -1};
        memcpy(fds, CMSG_DATA(cm), MIN(n, 2) * sizeof(int));
        if (k == 1 && n == 2 && !(msg.msg_flags & MSG_CTRUNC)) {
            memcpy(ret_fds, fds, sizeof(fds));
            return 0;
        }
        safe_close(fds[0]); /* not what a builder sends: nothing of it is kept */
        safe_close(fds[1]);
    }
    (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    if (read(error_fd, &rec, sizeof(rec)) == (ssize_t)sizeof(rec) && rec.step > 0) {
        r = rec.err > 0 ? -rec.err : -EIO;
        sbx__set_child_error(reterr, &rec, r, plan);
        return r;
    }
    r = r == 0 ? -ETIMEDOUT : -EPROTO;
    sbx__set_error(reterr, "root-template", r, NULL);
    return r;
}

static int template_build(struct sbx_slot *slot, const struct sbx_mount_plan *plan, int ret_fds[2],
                          struct sbx_error *reterr)
{
    struct sbx_context *ctx = slot->ctx;
    int errp[2] = {-1, -1}, sock[2] = {-1, -1}, pidfd = -1, r = 0;
    siginfo_t si;

    if (pipe2(errp, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0)
        r = -errno;
    if (r < 0) {
        sbx__set_error(reterr, "pipes", r, NULL);
        goto done;
    }
    struct sbx_child_args args = {
        .box_root = ctx->box_root,
        .plan = plan,
        .netns_fd = -1,
        .template_fd = -1,
        .template_root_fd = -1,
        .job_fd = sock[1],
        .error_fd = errp[1],
        .uid = slot->uid,
        .gid = slot->gid,
        .seccomp = &ctx->seccomp_prog,
        .mode = SBX_SPEC_MODE_TEMPLATE,
    };
    r = sbx__clone_supervisor(ctx, &args, CLONE_NEWNS, sock[0], &pidfd);
    errp[1] = safe_close(errp[1]);
    sock[1] = safe_close(sock[1]);
    if (r < 0) {
        sbx__set_error(reterr, "clone3", r, NULL);
        goto done;
    }
    r = receive_template(sock[0], errp[0], pidfd, plan, ret_fds, reterr);
    if (r >= 0)
        slot->templates_built++;
done:
    if (pidfd >= 0) {
        while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
            ;
        safe_close(pidfd);
    }
    safe_close(errp[0]);
    safe_close(errp[1]);
    safe_close(sock[0]);
    safe_close(sock[1]);
    return r;
}

int sbx__slot_template(struct sbx_slot *slot, const struct sbx_mount_plan *plan,
                       const char *package_dir, const char *package_box_dir,
                       const char *prepared_dir, bool no_build,
                       const struct sbx_root_template **ret, struct sbx_error *reterr)
{
    struct sbx_root_template *t = NULL, *victim = &slot->templates[0];
    struct strbuf key = {0};
    uint64_t now = now_usec();
    int fds[2], r;

    r = template_key(package_dir, package_box_dir, prepared_dir, &key);
    if (r < 0) {
        strbuf_done(&key);
        sbx__set_error(reterr, "root-template", r, NULL);
        return r;
    }
    for (size_t i = 0; i < SBX_TEMPLATES_MAX; i++) {
        struct sbx_root_template *c = &slot->templates[i];
        if (c->mntns_fd >= 0 && now - c->built_usec > slot->ctx->template_max_age_usec)
            template_drop(c);
        if (c->mntns_fd >= 0 && c->key_len == key.len && memcmp(c->key, key.data, key.len) == 0)
            t = c;
        else if (c->mntns_fd < 0 || (victim->mntns_fd >= 0 && c->last_used < victim->last_used))
            victim = c;
    }
    if (!t && no_build) {
        strbuf_done(&key);
        sbx__set_error(reterr, "root-template", SBX_ENOBOX, NULL);
        return SBX_ENOBOX;
    }
    if (!t) {
        /* The covers first: a template binds what the slot's namespace shows, and keeps it
         * (a package directory made again, which would be bare, has another key). */
        bool locks_private = slot->ctx->locks_squatted && sbx__slot_private_plan(slot, plan) >= 0;
        /* and the key again: a package directory seen through its new cover is another
         * inode, and the next lookup, made after it, must find this template */
        strbuf_done(&key);
        r = template_key(package_dir, package_box_dir, prepared_dir, &key);
        if (r < 0)
            sbx__set_error(reterr, "root-template", r, NULL);
        else
            r = template_build(slot, plan, fds, reterr);
        if (r < 0) {
            strbuf_done(&key);
            return r;
        }
        t = victim;
        template_drop(t);
        t->mntns_fd = fds[0];
        t->root_fd = fds[1];
        t->key = key.data;
        t->key_len = key.len;
        t->built_usec = now;
        t->id = ++slot->template_ids;
        t->locks_private = locks_private;
        key = (struct strbuf){0};
    }
    strbuf_done(&key);
    t->last_used = ++slot->template_uses;
    *ret = t;
    return 0;
}
