#!/usr/bin/python3
"""Security property 3, no network whatever the request says: a box has only `lo`, down, with
zero counters; no route anywhere (1.1.1.1, the host's own addresses, the daemon's port on
127.0.0.1 and ::1); no DNS; `lo` cannot be brought up; packet and raw sockets are refused; and
unknown request keys such as "network": true change nothing. Probes in C (netprobe.c) and
Python (netprobe.py)."""

import os
import socket

import seclib as S
from seclib import T

NET_DENIED = {"ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL", "ECONNREFUSED", "EACCES", "EPERM",
              "ETIMEDOUT", "EAFNOSUPPORT"}
# What a request might try to switch networking on with: all must be ignored.
NETWORK_KEYS = {"network": True, "networking": True, "enable_network": True,
                "disable_networking": False, "PISTON_DISABLE_NETWORKING": "false",
                "network_mode": "host", "sandbox": False, "isolation": "none"}


def host_ipv4():
    """The host's own local IPv4 addresses (fib_trie LOCAL /32 entries), loopback excluded."""
    out = set()
    try:
        with open("/proc/net/fib_trie") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for prev, line in zip(lines, lines[1:]):
        if "/32 host LOCAL" in line:
            ip = prev.strip().split()[-1]
            if not ip.startswith("127."):
                out.add(ip)
    return sorted(out)


class NoNetwork(S.SecTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a TCP listener on every host address: reachable from the host, never from a box
        cls.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.listener.bind(("0.0.0.0", 0))
        cls.listener.listen(8)
        cls.lport = cls.listener.getsockname()[1]

    @classmethod
    def tearDownClass(cls):
        cls.listener.close()
        super().tearDownClass()

    def targets(self):
        port = self.daemon.port
        t = ["1.1.1.1:53", "8.8.8.8:443", "127.0.0.1:%d" % port, "::1:%d" % port,
             "127.0.0.1:%d" % self.lport, "2606:4700:4700::1111:53"]
        t += ["%s:%d" % (ip, self.lport) for ip in host_ipv4()]
        t += ["%s:%d" % (ip, port) for ip in host_ipv4()]
        return t

    def check(self, lang, out):
        res = S.kv(out)
        what = "%s netprobe" % lang
        self.assertEqual(res["ifaces"], "lo", "%s: interfaces besides lo" % what)
        self.assertEqual(res["lo_up"], "0", "%s: lo is up" % what)
        for key in ("netdev:lo", "netdev_after:lo"):
            self.assertEqual(res[key], "0,0,0,0", "%s: %s counters not zero" % (what, key))
        self.assertEqual([k for k in res if k.startswith("netdev:")], ["netdev:lo"], what)
        for t in self.targets():
            self.assertIn(res["tcp:" + t], NET_DENIED, "%s: reached %s" % (what, t))
        for k in ("udp:1.1.1.1:53", "udp:127.0.0.1:53"):
            self.assertIn(res[k], NET_DENIED, "%s: %s" % (what, k))
        self.assertEqual(res["dns:example.com"], "fail", what)
        self.assertEqual(res["link_up"], "EPERM", "%s: lo could be brought up" % what)
        self.assertEqual(res["packet"], "EAFNOSUPPORT", what)
        self.assertIn(res["raw"], ("EPERM", "EACCES", "EAFNOSUPPORT"), what)

    def probe(self, lang, extra=None):
        prog = S.program("netprobe.c" if lang == "c" else "netprobe.py")
        p = self.payload(lang, prog, args=self.targets())
        p.update(extra or {})
        r = self.submit(p, what="%s netprobe" % lang)
        if "compile" in r.json:
            self.assertEqual(r.json["compile"]["code"], 0, r.json["compile"])
        run = r.json["run"]
        self.assertEqual((run["status"], run["code"]), (None, 0), run)
        return run["stdout"]

    def test_c_no_network(self):
        self.need("c")
        out = self.probe("c")
        self.check("c", out)
        self.assertEqual(self.probe("c", NETWORK_KEYS), out,
                         "request keys asking for networking changed the box's network")

    def test_python_no_network(self):
        self.need("python")
        out = self.probe("python")
        self.check("python", out)
        self.assertEqual(self.probe("python", NETWORK_KEYS), out,
                         "request keys asking for networking changed the box's network")

    def test_host_listener_is_reachable_from_host(self):
        """Positive control: the listener the boxes cannot reach is reachable on the host."""
        with socket.create_connection(("127.0.0.1", self.lport), timeout=2):
            pass


if __name__ == "__main__":
    S.run_tests()
