"""Python twin of netprobe.c (tests/security): same arguments, same key=value lines."""
import errno
import fcntl
import os
import socket
import struct
import sys


def ename(e):
    return errno.errorcode.get(e.errno, "E%s" % e.errno)


def netdev(key):
    with open("/proc/net/dev") as f:
        for line in f.read().splitlines()[2:]:
            name, _, rest = line.partition(":")
            v = rest.split()
            print("%s:%s=%s,%s,%s,%s" % (key, name.strip(), v[0], v[1], v[8], v[9]))


def addr(spec):
    host, _, port = spec.rpartition(":")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def tcp(spec):
    fam, a = addr(spec)
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError as e:
        print("tcp:%s=%s" % (spec, ename(e)))
        return
    s.settimeout(1.0)
    try:
        s.connect(a)
        print("tcp:%s=connected" % spec)
    except socket.timeout:
        print("tcp:%s=ETIMEDOUT" % spec)
    except OSError as e:
        print("tcp:%s=%s" % (spec, ename(e)))
    finally:
        s.close()


def udp(spec):
    fam, a = addr(spec)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.sendto(b"\0\0\1\0\0\1\0\0\0\0\0\0", a)
        print("udp:%s=sent" % spec)
    except OSError as e:
        print("udp:%s=%s" % (spec, ename(e)))
    finally:
        s.close()


def dns(name):
    try:
        socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
        print("dns:%s=ok" % name)
    except OSError:
        print("dns:%s=fail" % name)


def lo_flags():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r = fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sH14x", b"lo", 0))  # SIOCGIFFLAGS
        print("lo_up=%d" % (struct.unpack("16sH14x", r)[1] & 1))
    except OSError as e:
        print("lo_up=%s" % ename(e))
    finally:
        s.close()


def link_up():
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
    except OSError as e:
        print("link_up=%s" % ename(e))
        return
    try:
        idx = socket.if_nametoindex("lo")
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, idx, 1, 1)  # IFF_UP, change IFF_UP
        msg = struct.pack("=LHHLL", 16 + len(body), 16, 1 | 4, 1, 0) + body  # RTM_NEWLINK, REQUEST|ACK
        s.send(msg)
        r = s.recv(4096)
        typ = struct.unpack("=LHHLL", r[:16])[1]
        err = struct.unpack("=i", r[16:20])[0]
        print("link_up=%s" % (errno.errorcode.get(-err, err) if typ == 2 and err else "ok"))
    except OSError as e:
        print("link_up=%s" % ename(e))
    finally:
        s.close()


def main():
    netdev("netdev")
    print("ifaces=%s" % ",".join(n for _, n in socket.if_nameindex()))
    lo_flags()
    for a in sys.argv[1:]:
        tcp(a)
    udp("1.1.1.1:53")
    udp("127.0.0.1:53")
    dns("example.com")
    dns("localhost.localdomain.invalid")
    link_up()
    for key, args in (("packet", (17, socket.SOCK_RAW, 0)),
                      ("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))):
        try:
            socket.socket(*args).close()
            print("%s=opened" % key)
        except OSError as e:
            print("%s=%s" % (key, ename(e)))
    lo_flags()
    netdev("netdev_after")


main()
