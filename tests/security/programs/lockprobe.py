"""File-lock channel probe in Python (tests/security/test_locks.py), the protocol of
lockprobe.c: `hold <tok> <pkgfile>` locks every target as hard as it can and waits for the
host's /tmp/<tok>.release (after a child probed from inside the box); `probe <pkgfile>` prints,
per target, what flock, F_SETLK, F_OFD_SETLK, F_GETLK and F_OFD_GETLK answer."""

import ctypes
import errno
import fcntl
import os
import select
import struct
import sys
import time

TARGETS = ["/usr/bin/python3", "/usr/bin/bash", "/etc/passwd", "/etc/ld.so.cache",
           "/etc/alternatives", "/", "/usr", "/dev/null", "/dev/zero", "/dev/urandom",
           "/proc/self/ns/user", "/proc/self/ns/cgroup", "/proc/self/ns/time", "/proc/self/ns/net",
           "/proc/sys/kernel/hostname", "@eventfd", "@epoll", "@timerfd", "@inotify"]
F_OFD_GETLK, F_OFD_SETLK = 36, 37
FLOCK = "hhqqi"  # struct flock on x86_64: type, whence, start, len, pid (native padding)
libc = ctypes.CDLL(None, use_errno=True)
keep = []  # objects whose fds must stay open (epoll)


def ename(e):
    return errno.errorcode.get(e, "E%d" % e)


def open_target(t):
    if t == "@eventfd":
        return os.eventfd(0, os.EFD_CLOEXEC)
    if t == "@epoll":
        ep = select.epoll()
        keep.append(ep)
        return ep.fileno()
    if t in ("@timerfd", "@inotify"):
        fd = libc.timerfd_create(1, 0o2000000) if t == "@timerfd" else libc.inotify_init1(0o2000000)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "")
        return fd
    try:
        return os.open(t, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return os.open(t, os.O_RDONLY | os.O_CLOEXEC)


def ltype(t):
    return {fcntl.F_RDLCK: "RD", fcntl.F_WRLCK: "WR", fcntl.F_UNLCK: "UN"}.get(t, "?")


def getlk(key, fd, cmd, typ):
    try:
        t, _, start, length, pid = struct.unpack(FLOCK, fcntl.fcntl(fd, cmd, struct.pack(FLOCK, typ, 0, 0, 0, 0)))
        print("%s=%s,%d,%d,%d" % (key, ltype(t), start, length, pid))
    except OSError as e:
        print("%s=%s" % (key, ename(e.errno)))


def setlk(key, fd, cmd, typ):
    try:
        fcntl.fcntl(fd, cmd, struct.pack(FLOCK, typ, 0, 0, 0, 0))
    except OSError as e:
        print("%s=%s" % (key, ename(e.errno)))
        return
    print("%s=ok" % key)
    fcntl.fcntl(fd, cmd, struct.pack(FLOCK, fcntl.F_UNLCK, 0, 0, 0, 0))


def try_flock(key, fd, op):
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
    except OSError as e:
        print("%s=%s" % (key, ename(e.errno)))
        return
    print("%s=ok" % key)
    fcntl.flock(fd, fcntl.LOCK_UN)


def probe_all(targets, prefix=""):
    for t in targets:
        try:
            fd = open_target(t)
        except OSError as e:
            print("%sopen:%s=%s" % (prefix, t, ename(e.errno)))
            continue
        k = lambda what: "%s%s:%s" % (prefix, what, t)  # noqa: E731
        try_flock(k("flock_ex"), fd, fcntl.LOCK_EX)
        try_flock(k("flock_sh"), fd, fcntl.LOCK_SH)
        getlk(k("getlk_wr"), fd, fcntl.F_GETLK, fcntl.F_WRLCK)
        getlk(k("getlk_rd"), fd, fcntl.F_GETLK, fcntl.F_RDLCK)
        getlk(k("ofd_getlk_wr"), fd, F_OFD_GETLK, fcntl.F_WRLCK)
        setlk(k("setlk_rd"), fd, fcntl.F_SETLK, fcntl.F_RDLCK)
        setlk(k("setlk_wr"), fd, fcntl.F_SETLK, fcntl.F_WRLCK)
        setlk(k("ofd_setlk_rd"), fd, F_OFD_SETLK, fcntl.F_RDLCK)
        setlk(k("ofd_setlk_wr"), fd, F_OFD_SETLK, fcntl.F_WRLCK)
        if not t.startswith("@epoll"):
            os.close(fd)
    try:
        with open("/proc/locks", "rb") as f:
            print("%sproc_locks=%d bytes" % (prefix, len(f.read())))
    except OSError as e:
        print("%sproc_locks=%s" % (prefix, ename(e.errno)))


def hold_one(t, held):
    try:
        fd = open_target(t)
    except OSError as e:
        print("hold_open:%s=%s" % (t, ename(e.errno)))
        return
    held.append(fd)
    ok = False
    for op in (fcntl.LOCK_EX, fcntl.LOCK_SH):
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            ok = True
            break
        except OSError:
            pass
    print("hold_flock:%s=%s" % (t, "ok" if ok else "refused"))
    for cmd, start, name in ((fcntl.F_SETLK, 0, "posix"), (F_OFD_SETLK, 200, "ofd")):
        got = "none"
        for typ in (fcntl.F_WRLCK, fcntl.F_RDLCK):
            try:
                fcntl.fcntl(fd, cmd, struct.pack(FLOCK, typ, 0, start, 100, 0))
                got = ltype(typ)
                break
            except OSError:
                pass
        print("hold_%s:%s=%s" % (name, t, got))


def main():
    mode, targets = sys.argv[1], TARGETS + [sys.argv[-1]]
    if mode == "probe":
        probe_all(targets)
        return 0
    tok, held = sys.argv[2], []
    for t in targets:
        hold_one(t, held)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # positive control: another process of this box does see the locks
        probe_all(targets, "inbox.")
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    open("/tmp/%s.ready" % tok, "w").close()
    for _ in range(500):
        if os.path.exists("/tmp/%s.release" % tok):
            break
        time.sleep(0.005)
    print("released=%d" % os.path.exists("/tmp/%s.release" % tok))
    return 0


sys.exit(main())
