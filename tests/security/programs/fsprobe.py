"""Python twin of fsprobe.c (tests/security): same "<op>:<operand>" arguments, same
"<op>:<operand>=<result>" lines, never destructive on a wrongly writable host path."""
import errno
import os
import socket
import stat
import sys


def ename(e):
    return errno.errorcode.get(e.errno if isinstance(e, OSError) else e, "E%s" % e)


def esc(b):
    return "".join(chr(c) if 0x20 <= c < 0x7f and c != 0x5c else "\\x%02x" % c for c in b)


def res(op, p, fn):
    try:
        fn()
        print("%s:%s=ok" % (op, p))
    except OSError as e:
        print("%s:%s=%s" % (op, p, ename(e)))


def writenew(p):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"x")
    os.close(fd)


def openw(p):
    os.close(os.open(p, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK))


def chmod_same(p):
    os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode))


def unix(op, name, abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(("\0" + name) if abstract else name)
        print("%s:%s=connected" % (op, name))
    except OSError as e:
        print("%s:%s=%s" % (op, name, ename(e)))
    finally:
        s.close()


def tcp(spec):
    host, _, port = spec.rpartition(":")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError as e:
        print("tcp:%s=%s" % (spec, ename(e)))
        return
    s.settimeout(1.0)
    try:
        s.connect((host, int(port)))
        print("tcp:%s=connected" % spec)
    except socket.timeout:
        print("tcp:%s=ETIMEDOUT" % spec)
    except OSError as e:
        print("tcp:%s=%s" % (spec, ename(e)))
    finally:
        s.close()


def main():
    for a in sys.argv[1:]:
        op, sep, p = a.partition(":")
        if not sep:
            print("%s=EINVAL" % a)
            continue
        try:
            if op == "ls":
                print("ls:%s=ok:%s" % (p, ",".join(sorted(os.listdir(p)))))
            elif op == "lstat":
                st = os.lstat(p)
                t = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFCHR: "c",
                     stat.S_IFBLK: "b", stat.S_IFIFO: "p", stat.S_IFSOCK: "s"}.get(stat.S_IFMT(st.st_mode), "?")
                print("lstat:%s=exists:%s:%o:%d" % (p, t, stat.S_IMODE(st.st_mode), st.st_uid))
            elif op == "read":
                fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
                try:
                    print("read:%s=ok:%s" % (p, esc(os.read(fd, 256))))
                finally:
                    os.close(fd)
            elif op == "readlink":
                print("readlink:%s=ok:%s" % (p, os.readlink(p)))
            elif op == "writenew":
                res(op, p, lambda: writenew(p))
            elif op == "openw":
                res(op, p, lambda: openw(p))
            elif op == "mkdir":
                res(op, p, lambda: os.mkdir(p, 0o755))
            elif op == "symlink":
                res(op, p, lambda: os.symlink("/", p))
            elif op == "mkfifo":
                res(op, p, lambda: os.mkfifo(p, 0o644))
            elif op == "chmod":
                res(op, p, lambda: chmod_same(p))
            elif op == "link":
                res(op, p, lambda: os.link(p, "/box/submission/.probe-link"))
            elif op == "abstract":
                unix(op, p, True)
            elif op == "unix":
                unix(op, p, False)
            elif op == "tcp":
                tcp(p)
            elif op == "mountinfo":
                with open("/proc/self/mountinfo") as f:
                    for line in f.read().splitlines():
                        print("mi=%s" % line)
            elif op == "pids":
                print("pids=%s" % ",".join(x for x in os.listdir("/proc") if x.isdigit()))
                print("self=%d" % os.getpid())
            elif op == "env":
                print("env:%s=%s" % (p, os.environ.get(p, "(unset)")))
            else:
                print("%s:%s=EINVAL" % (op, p))
        except OSError as e:
            print("%s:%s=%s" % (op, p, ename(e)))


main()
