"""Python twin of channels.c (tests/security, property 4): same modes, same key=value lines.
SysV IPC, POSIX message queues and keyrings through ctypes."""
import ctypes
import errno
import fcntl
import os
import signal
import socket
import struct
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mq_open.restype = ctypes.c_int
libc.shm_open.restype = ctypes.c_int
libc.syscall.restype = ctypes.c_long
SYS_add_key, SYS_request_key, SYS_keyctl = 248, 249, 250
KEY_SPEC_USER_KEYRING = -4
IPC_CREAT = 0o1000


def ename(e):
    return errno.errorcode.get(e, "E%d" % e)


def res(key, fn):
    try:
        r = fn()
        if isinstance(r, int) and r < 0:
            print("%s=%s" % (key, ename(ctypes.get_errno())))
        else:
            print("%s=ok" % key)
    except OSError as e:
        print("%s=%s" % (key, ename(e.errno)))


def abstract(tok, do_bind):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if do_bind:
        s.bind("\0capsule-sec-" + tok)
        s.listen(4)
        abstract.keep = s
    else:
        s.connect("\0capsule-sec-" + tok)


def abstract_gc_cycle(tok):
    """A listening abstract socket kept alive only by a cycle of in-flight descriptors: it
    outlives the process until the kernel's unix garbage collector runs."""
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    l.bind("\0capsule-sec-%s-gc" % tok)
    l.listen(4)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    socket.send_fds(b, [b"x"], [l.fileno(), a.fileno()])
    for s in (l, a, b):
        s.close()


def count_lines(path):
    try:
        with open(path) as f:
            return len(f.read().splitlines()) - 1
    except OSError:
        return -100


def locks():
    open("lockfile", "a").close()
    flock = struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0)
    for p in ("/etc/passwd", "/usr/bin/bash", "lockfile"):
        fd = os.open(p, os.O_RDONLY)
        res("flock:" + p, lambda: fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB))
        res("setlk:" + p, lambda: fcntl.fcntl(fd, fcntl.F_SETLK, flock))
        res("setlkw:" + p, lambda: fcntl.fcntl(fd, fcntl.F_SETLKW, flock))
        res("ofdlk:" + p, lambda: fcntl.fcntl(fd, 37, flock))  # F_OFD_SETLK
        res("lockf:" + p, lambda: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB))
        os.close(fd)


def keyrings():
    res("add_key", lambda: libc.syscall(SYS_add_key, b"user", b"capsule-sec", b"secret",
                                        ctypes.c_size_t(6), KEY_SPEC_USER_KEYRING))
    res("keyctl", lambda: libc.syscall(SYS_keyctl, 0, KEY_SPEC_USER_KEYRING, 0))
    res("request_key", lambda: libc.syscall(SYS_request_key, b"user", b"capsule-sec", None, 0))


def sysvipc():
    print("sysvipc=%d,%d,%d" % tuple(count_lines("/proc/sysvipc/" + k) for k in ("shm", "msg", "sem")))


def exists(p):
    os.stat(p)


def create(tok, hold):
    key = int(tok[:8], 16) & 0x7fffffff
    name = ("/capsule-sec-" + tok).encode()
    res("abstract", lambda: abstract(tok, True))
    res("abstract_gc", lambda: abstract_gc_cycle(tok))
    res("shm", lambda: libc.shmget(key, 4096, IPC_CREAT | 0o666))
    res("msg", lambda: libc.msgget(key, IPC_CREAT | 0o666))
    res("sem", lambda: libc.semget(key, 1, IPC_CREAT | 0o666))
    res("mq", lambda: libc.mq_open(name, os.O_CREAT | os.O_RDWR, 0o666, None))
    res("posix_shm", lambda: libc.shm_open(name, os.O_CREAT | os.O_RDWR, 0o666))
    for k, p in (("tmpfile", "/tmp/" + tok), ("shmfile", "/dev/shm/" + tok), ("cwdfile", tok)):
        res(k, lambda: open(p, "w").close())
    locks()
    keyrings()
    sysvipc()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                signal.pause()
        os._exit(0)
    os.wait()
    sys.stdout.flush()
    open("/tmp/%s.ready" % tok, "w").close()
    if not hold:
        return
    for _ in range(3000):
        if os.path.exists("/tmp/%s.release" % tok):
            print("released=1")
            return
        time.sleep(0.01)
    print("released=timeout")


def probe(tok):
    key = int(tok[:8], 16) & 0x7fffffff
    name = ("/capsule-sec-" + tok).encode()
    res("abstract", lambda: abstract(tok, False))
    res("abstract_gc", lambda: abstract(tok + "-gc", False))
    res("shm", lambda: libc.shmget(key, 0, 0))
    res("msg", lambda: libc.msgget(key, 0))
    res("sem", lambda: libc.semget(key, 0, 0))
    res("mq", lambda: libc.mq_open(name, os.O_RDONLY))
    res("posix_shm", lambda: libc.shm_open(name, os.O_RDONLY, 0))
    for k, p in (("tmpfile", "/tmp/" + tok), ("shmfile", "/dev/shm/" + tok), ("cwdfile", tok)):
        res(k, lambda: exists(p))
    locks()
    keyrings()
    sysvipc()
    child = os.fork()
    if child == 0:
        while True:
            signal.pause()
    me = os.getpid()
    foreign = 0
    for p in range(2, 65537):
        if p in (me, child):
            continue
        try:
            os.kill(p, 0)
            foreign += 1
        except PermissionError:
            foreign += 1
        except ProcessLookupError:
            pass
    print("foreign_pids=%d" % foreign)
    try:
        os.kill(1, signal.SIGKILL)
        print("kill_pid1=ok")
    except OSError as e:
        print("kill_pid1=%s" % ename(e.errno))
    sys.stdout.flush()
    try:
        os.kill(-1, signal.SIGKILL)
        print("kill_all=ok")
    except OSError as e:
        print("kill_all=%s" % ename(e.errno))
    _, st = os.waitpid(child, 0)
    print("own_child=%s" % ("SIGKILL" if os.WIFSIGNALED(st) and os.WTERMSIG(st) == 9 else "alive"))


sys.stdout.reconfigure(line_buffering=True)
if sys.argv[1] == "create":
    create(sys.argv[2], int(sys.argv[3]))
else:
    probe(sys.argv[2])
