"""Python twin of syscalls.c "matrix" (tests/security, property 6): the dangerous calls
through ctypes, the credentials and capability sets, limit and id raises, and the setuid-root
binaries of /usr/bin run with stdin on a silent pipe to read their effective uid. Prints
"<name>=<errno name>" ("ok" = the call succeeded) and "done=1"; must exit 0."""
import ctypes
import errno
import fcntl
import os
import resource
import socket
import stat
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(256)

NR = {"ptrace": 101, "mount": 165, "umount2": 166, "unshare": 272, "setns": 308, "clone": 56,
      "clone3": 435, "io_uring_setup": 425, "keyctl": 250, "add_key": 248, "bpf": 321,
      "userfaultfd": 323, "perf_event_open": 298, "kexec_load": 246, "init_module": 175,
      "reboot": 169, "syslog": 103, "process_vm_readv": 310, "open_by_handle_at": 304,
      "personality": 135, "pivot_root": 155, "chroot": 161}
CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000


def out(name, r, err=None):
    if err is None:
        err = ctypes.get_errno()
    print("%s=%s" % (name, "ok" if r >= 0 else errno.errorcode.get(err, "E%d" % err)), flush=True)


def sc(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(NR[name], *args)
    return r


def tryc(key, name, *args):
    r = sc(name, *args)
    if r == 0 and name in ("clone",):
        os._exit(0)  # the child of a clone that should not have happened
    if r > 0 and name == "clone":
        os.waitpid(r, 0)
    out(key, r)


def status_fields():
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                     "NoNewPrivs", "Seccomp"):
                print("status.%s=%s" % (k, " ".join(v.split())))


def setuid_binaries():
    for name in sorted(os.listdir("/usr/bin")):
        p = "/usr/bin/" + name
        try:
            st = os.stat(p)
        except OSError:
            continue
        if not (stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_ISUID and st.st_uid == 0):
            continue
        proc = subprocess.Popen([p], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        res = "unobserved"
        for _ in range(200):
            try:
                with open("/proc/%d/status" % proc.pid) as f:
                    fields = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
                if fields["Name"].strip() == name[:15]:
                    res = "euid:%s" % fields["Uid"].split()[1]
                    break
            except (OSError, KeyError):
                pass
            if proc.poll() is not None:
                res = "exited"
                break
            time.sleep(0.005)
        print("setuid:%s=%s" % (p, res))
        proc.kill()
        proc.wait()


def main():
    print("uid=%d\neuid=%d\ngid=%d\nngroups=%d" % (os.getuid(), os.geteuid(), os.getgid(),
                                                   len(os.getgroups())))
    status_fields()
    tryc("ptrace_traceme", "ptrace", 0, 0, 0, 0)
    tryc("ptrace_attach_1", "ptrace", 16, 1, 0, 0)
    tryc("mount", "mount", b"none", b"/tmp", b"tmpfs", 0, None)
    tryc("umount2", "umount2", b"/tmp", 2)
    tryc("pivot_root", "pivot_root", b"/tmp", b"/tmp")
    tryc("chroot", "chroot", b"/tmp")
    tryc("unshare_user", "unshare", CLONE_NEWUSER)
    tryc("unshare_net", "unshare", CLONE_NEWNET)
    tryc("unshare_ns", "unshare", CLONE_NEWNS)
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    tryc("setns", "setns", fd, 0)
    os.close(fd)
    tryc("clone_newuser", "clone", CLONE_NEWUSER | 17, None, None, None, None)
    args = (ctypes.c_uint64 * 8)(CLONE_NEWUSER, 0, 0, 0, 17, 0, 0, 0)
    tryc("clone3_newuser", "clone3", args, 64)
    tryc("io_uring_setup", "io_uring_setup", 1, buf)
    tryc("keyctl", "keyctl", 0, -4, 0)
    tryc("add_key", "add_key", b"user", b"capsule", b"x", ctypes.c_size_t(1), -4)
    tryc("bpf", "bpf", 0, buf, 72)
    tryc("userfaultfd", "userfaultfd", 0)
    attr = ctypes.create_string_buffer(128)
    attr[4] = 128  # size
    tryc("perf_event_open", "perf_event_open", attr, 0, -1, -1, 0)
    tryc("kexec_load", "kexec_load", 0, 0, None, 0)
    tryc("init_module", "init_module", buf, 0, b"")
    tryc("reboot", "reboot", 0, 0, 0, None)  # invalid magic: harmless even if allowed
    tryc("syslog_read", "syslog", 3, buf, 256)
    try:
        fcntl.ioctl(0, 0x5412, b"x")  # TIOCSTI
        out("ioctl_tiocsti", 0)
    except OSError as e:
        out("ioctl_tiocsti", -1, e.errno)
    for key, fam in (("socket_packet", 17), ("socket_vsock", 40)):
        try:
            socket.socket(fam, socket.SOCK_RAW if fam == 17 else socket.SOCK_STREAM, 0).close()
            out(key, 0)
        except OSError as e:
            out(key, -1, e.errno)
    iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 256)
    riov = (ctypes.c_void_p * 2)(0x400000, 256)
    tryc("process_vm_readv", "process_vm_readv", 1, iov, 1, riov, 1, 0)
    handle = ctypes.create_string_buffer(136)
    tryc("open_by_handle_at", "open_by_handle_at", -100, handle, 0)
    tryc("personality_read_implies_exec", "personality", 0x0400000)
    for key, fn in (("setuid_0", lambda: os.setuid(0)), ("setgid_0", lambda: os.setgid(0)),
                    ("setgroups_0", lambda: os.setgroups([0])),
                    ("chown_root", lambda: os.chown("/box/submission", 0, 0))):
        try:
            fn()
            out(key, 0)
        except OSError as e:
            out(key, -1, e.errno)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print("nofile=%d/%d" % (soft, hard))
    # through libc, not resource.setrlimit (CPython refuses a raise itself, with ValueError)
    rl = (ctypes.c_ulong * 2)(hard + 1, hard + 1)
    ctypes.set_errno(0)
    out("setrlimit_nofile_raise", libc.setrlimit(7, rl))  # RLIMIT_NOFILE
    tryc("personality_query", "personality", ctypes.c_ulong(0xffffffff))
    setuid_binaries()
    print("done=1")


main()
