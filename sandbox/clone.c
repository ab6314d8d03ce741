/* How the daemon starts capsule-box: clone3 with the box's namespaces and a pidfd, sharing
 * the daemon's memory (CLONE_VM | CLONE_VFORK, x86-64) only until the helper's execve, on a
 * stack of its own; the clone lock that keeps file writes from racing it (sbx_file_write_lock
 * in sandbox.h); the box spec sent after it. Split from launch.c, which decides when a box is
 * built; template.c starts its template builders the same way. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* clone3's argument block, version 0 (64 bytes): declared here because <linux/sched.h> and
 * glibc's <sched.h> clash on older releases. */
struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* Writers share it, clone3 takes it alone: see sbx_file_write_lock() in sandbox.h. */
static pthread_rwlock_t clone_lock;
static pthread_once_t clone_lock_once = PTHREAD_ONCE_INIT;

static void clone_lock_init(void)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    /* a steady stream of file writes must not starve the clones */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&clone_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

void sbx_file_write_lock(void)
{
    pthread_once(&clone_lock_once, clone_lock_init);
    pthread_rwlock_rdlock(&clone_lock);
}

void sbx_file_write_unlock(void)
{
    pthread_rwlock_unlock(&clone_lock);
}

int sbx__send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The helper runs on this stack until its execve: system calls and a few words of frame. */
#define EXEC_STACK_SIZE (64 * 1024)

#if defined(__x86_64__)
/* clone3 whose child starts fn(arg) on the stack clone3 gives it and never returns: with
 * CLONE_VM a child may not return through the parent's frames, hence the few instructions
 * (the kernel hands the child that stack's top, 16-byte aligned, and rax = 0). */
__attribute__((no_sanitize("address", "undefined"), noinline)) static long
clone3_call(struct clone_args_v0 *ca, void (*fn)(const struct sbx_helper_exec *),
            const struct sbx_helper_exec *arg)
{
    register void (*r12)(const struct sbx_helper_exec *) __asm__("r12") = fn;
    register const struct sbx_helper_exec *r13 __asm__("r13") = arg;
    long ret = SYS_clone3;

    __asm__ volatile("syscall\n\t"
                     "testq %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xorl %%ebp, %%ebp\n\t"
                     "movq %%r13, %%rdi\n\t"
                     "callq *%%r12\n\t"
                     "ud2\n"
                     "1:\n"
                     : "+a"(ret)
                     : "D"(ca), "S"(sizeof(*ca)), "r"(r12), "r"(r13)
                     : "rcx", "r11", "memory");
    return ret;
}
#define CLONE_SHARES_MEMORY (CLONE_VM | CLONE_VFORK)
#define CLONE_OWN_STACK true
#else
/* Elsewhere the child gets its own copy of the daemon (what CLONE_VM avoids on x86-64) and
 * execs the helper from it at once. */
static long clone3_call(struct clone_args_v0 *ca, void (*fn)(const struct sbx_helper_exec *),
                        const struct sbx_helper_exec *arg)
{
    long pid = syscall(SYS_clone3, ca, sizeof(*ca));
    if (pid == 0)
        fn(arg);
    return pid < 0 ? -errno : pid;
}
#define CLONE_SHARES_MEMORY 0
#define CLONE_OWN_STACK false /* a copy returns through its own copy of these frames */
#endif

/* The supervisor: new namespaces, the helper exec'd in them with the box's descriptors, the
 * spec sent after it (the socket buffers it if the helper is still starting). */
int sbx__clone_supervisor(const struct sbx_context *ctx, const struct sbx_child_args *args,
                          uint64_t namespaces, int our_job_fd, int *ret_pidfd)
{
    int keep[5], pidfd = -1, r;
    size_t n = 0;
    char fd_arg[16];
    char *argv[] = {"capsule-box", fd_arg, NULL};
    struct strbuf spec = {0};
    void *stack;
    long pid;

    r = sbx__spec_encode(args, &spec);
    if (r < 0)
        return r;
    keep[n++] = args->job_fd;
    keep[n++] = args->error_fd;
    keep[n++] = args->netns_fd;
    keep[n++] = args->template_fd;
    keep[n++] = args->template_root_fd;
    snprintf(fd_arg, sizeof(fd_arg), "%d", args->job_fd);
    struct sbx_helper_exec h = {.helper_fd = ctx->helper_fd,
                                .keep = keep,
                                .n_keep = n,
                                .error_fd = args->error_fd,
                                .argv = argv};
    stack = CLONE_OWN_STACK ? malloc(EXEC_STACK_SIZE) : NULL;
    if (CLONE_OWN_STACK && !stack) {
        strbuf_done(&spec);
        return -ENOMEM;
    }
    struct clone_args_v0 ca = {
        .flags = namespaces | CLONE_PIDFD | CLONE_SHARES_MEMORY,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
        .stack = (uint64_t)(uintptr_t)stack,
        .stack_size = stack ? EXEC_STACK_SIZE : 0,
    };

    pthread_once(&clone_lock_once, clone_lock_init);
    pthread_rwlock_wrlock(&clone_lock);
    pid = clone3_call(&ca, sbx__child_exec_helper, &h);
    pthread_rwlock_unlock(&clone_lock);
    free(stack); /* the child has exec'd or exited: CLONE_VFORK waited for that */
    if (pid < 0) {
        strbuf_done(&spec);
        return (int)pid;
    }
    *ret_pidfd = pidfd; /* reaped by the caller whatever follows */
    r = sbx__send_all(our_job_fd, spec.data, spec.len);
    strbuf_done(&spec);
    return r;
}
