/* The few libc functions capsule-box calls, as bare system calls (x86-64).
 *
 * Why not glibc, even static: its startup probes the CPU's caches with dozens of CPUID
 * instructions (init_cpu_features, intel_check_word), and in a virtual machine every CPUID
 * traps to the hypervisor. Measured under capsule-bench on this 2-vCPU VM: 14 % of all the CPU
 * of a cached C hello throughput run went to that probe in the helper alone, about 0.5 ms per
 * box. The helper needs none of what it sets up (no threads, no locale, no stdio, no string
 * functions tuned to the cache size), so it starts at _start below and makes system calls.
 *
 * The declarations are glibc's own headers (the helper compiles against them, unfortified);
 * only these definitions replace libc. Other architectures (and compilers other than GCC,
 * see CMakeLists.txt) link static glibc instead. */
#if defined(CAPSULE_NOLIBC) && defined(__x86_64__)

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOLIBC __attribute__((visibility("hidden")))

static int errno_value;

int *__errno_location(void)
{
    return &errno_value;
}

static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret = n;

    __asm__ volatile("syscall"
                     : "+a"(ret)
                     : "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* glibc's convention: -1 and errno on failure */
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r = raw6(n, a, b, c, d, e, f);

    if (r < 0 && r > -4096) {
        errno_value = (int)-r;
        return -1;
    }
    return r;
}

#define SYS(n, ...) sys_args(n, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define sys_args(n, a, b, c, d, e, f, ...)                                                         \
    sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

long syscall(long n, ...)
{
    va_list ap;
    long a[6];

    va_start(ap, n);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    return sys6(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

_Noreturn void _exit(int status)
{
    for (;;)
        (void)raw6(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

ssize_t read(int fd, void *buf, size_t n)
{
    return SYS(SYS_read, fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    return SYS(SYS_write, fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return SYS(SYS_pwrite64, fd, buf, n, off);
}

int close(int fd)
{
    return (int)SYS(SYS_close, fd);
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
    return (int)SYS(SYS_openat, AT_FDCWD, path, flags, mode);
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    long arg;

    va_start(ap, cmd);
    arg = va_arg(ap, long);
    va_end(ap);
    return (int)SYS(SYS_fcntl, fd, cmd, arg);
}

int dup2(int from, int to)
{
    return (int)SYS(SYS_dup2, from, to);
}

int dup3(int from, int to, int flags)
{
    return (int)SYS(SYS_dup3, from, to, flags);
}

int chdir(const char *path)
{
    return (int)SYS(SYS_chdir, path);
}

int chroot(const char *path)
{
    return (int)SYS(SYS_chroot, path);
}

int fchdir(int fd)
{
    return (int)SYS(SYS_fchdir, fd);
}

int mkdir(const char *path, mode_t mode)
{
    return (int)SYS(SYS_mkdir, path, mode);
}

int symlink(const char *target, const char *path)
{
    return (int)SYS(SYS_symlink, target, path);
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    return (int)SYS(SYS_execve, path, argv, envp);
}

int mount(const char *src, const char *dst, const char *type, unsigned long flags, const void *data)
{
    return (int)SYS(SYS_mount, src, dst, type, flags, data);
}

int umount2(const char *dst, int flags)
{
    return (int)SYS(SYS_umount2, dst, flags);
}

int sethostname(const char *name, size_t len)
{
    return (int)SYS(SYS_sethostname, name, len);
}

int setns(int fd, int nstype)
{
    return (int)SYS(SYS_setns, fd, nstype);
}

int unshare(int flags)
{
    return (int)SYS(SYS_unshare, flags);
}

pid_t setsid(void)
{
    return (pid_t)SYS(SYS_setsid, 0);
}

pid_t getpid(void)
{
    return (pid_t)SYS(SYS_getpid, 0);
}

int kill(pid_t pid, int sig)
{
    return (int)SYS(SYS_kill, pid, sig);
}

int prctl(int option, ...)
{
    va_list ap;
    long a[4];

    va_start(ap, option);
    for (int i = 0; i < 4; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    return (int)sys6(SYS_prctl, option, a[0], a[1], a[2], a[3], 0);
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
    return (int)SYS(SYS_prlimit64, 0, resource, rl, NULL);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    return SYS(SYS_recvmsg, fd, msg, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return SYS(SYS_sendmsg, fd, msg, flags);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    long r = raw6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);

    if (r < 0 && r > -4096) {
        errno_value = (int)-r;
        return MAP_FAILED;
    }
    return (void *)r;
}

int munmap(void *addr, size_t len)
{
    return (int)SYS(SYS_munmap, addr, len);
}

/* The kernel's sigaction layout (glibc's has a 128-byte mask and another field order). Only
 * SIG_DFL without flags is ever set here, so no restorer is needed. */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct kernel_sigaction k = {.handler = act ? act->sa_handler : NULL};

    if (old || (act && (act->sa_flags || act->sa_handler != SIG_DFL))) {
        errno_value = EINVAL;
        return -1;
    }
    return (int)SYS(SYS_rt_sigaction, sig, act ? &k : NULL, NULL, sizeof(k.mask));
}

int sigemptyset(sigset_t *set)
{
    memset(set, 0, sizeof(*set));
    return 0;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return (int)SYS(SYS_rt_sigprocmask, how, set, old, sizeof(uint64_t));
}

/* clone(fn, stack, flags, arg): the child starts fn(arg) on `stack` and exits with its
 * return value; it never comes back through this frame (with CLONE_VM it may not). */
int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    register int (*r12)(void *) __asm__("r12") = fn;
    register void *r13 __asm__("r13") = arg;
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    long ret = SYS_clone;

    stack = (void *)((uintptr_t)stack & ~(uintptr_t)15);
    __asm__ volatile("syscall\n\t"
                     "testq %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xorl %%ebp, %%ebp\n\t"
                     "movq %%r13, %%rdi\n\t"
                     "callq *%%r12\n\t"
                     "movl %%eax, %%edi\n\t"
                     "movl %[exit], %%eax\n\t"
                     "syscall\n\t"
                     "ud2\n"
                     "1:\n"
                     : "+a"(ret)
                     : "D"((long)flags), "S"(stack), "d"(0L), "r"(r10), "r"(r8), "r"(r12),
                       "r"(r13), [exit] "i"(SYS_exit)
                     : "rcx", "r11", "memory");
    if (ret < 0) {
        errno_value = (int)-ret;
        return -1;
    }
    return (int)ret;
}

/* Memory for the spec: never freed (the helper's life is one box). */
void *calloc(size_t n, size_t size)
{
    size_t total;
    void *p;

    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    p = mmap(NULL, total ? total : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p; /* anonymous memory comes zeroed */
}

void *malloc(size_t size)
{
    return calloc(1, size);
}

/* What the compiler may call for copies and zeroing, and the helper's own string needs. */
void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if (d < s)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;

    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;

    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

void *memchr(const void *p, int c, size_t n)
{
    const unsigned char *s = p;

    for (; n; n--, s++)
        if (*s == (unsigned char)c)
            return (void *)s;
    return NULL;
}

size_t strlen(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

long strtol(const char *s, char **end, int base)
{
    long v = 0;

    (void)base; /* decimal only: the helper's one argument is a descriptor number */
    while (*s >= '0' && *s <= '9' && v < (1L << 40))
        v = v * 10 + (*s++ - '0');
    if (end)
        *end = (char *)s;
    return v;
}

int main(int argc, char **argv);

NOLIBC _Noreturn void nolibc_start(long *sp);

/* Entry from the kernel: the stack holds argc, then argv. */
NOLIBC _Noreturn void nolibc_start(long *sp)
{
    _exit(main((int)sp[0], (char **)(sp + 1)));
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n\t"
        "xorl %ebp, %ebp\n\t"
        "movq %rsp, %rdi\n\t"
        "andq $-16, %rsp\n\t"
        "callq nolibc_start\n\t"
        "ud2\n");

#endif
