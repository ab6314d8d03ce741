#!/usr/bin/python3
"""Scale-out with stock tools (ctest label `scaleout`, opt-in, ~25 s): three capsuled
instances on loopback ports (distinct CAPSULE_INSTANCE and uid ranges) behind HAProxy running
packaging/haproxy/haproxy.cfg with health checks on /health. Requests through the balancer
reach every node; one node SIGKILLed under load is routed around (no client sees a failure)
and rejoins when restarted; one node drained with SIGTERM finishes its jobs while the others
take the new ones."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

CFG = os.path.join(T.SOURCE_DIR, "packaging", "haproxy", "haproxy.cfg")
NODES = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(content):
    return {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}


class Load:
    """Client threads sending executes through the balancer until stopped."""

    def __init__(self, port, clients, content):
        self.port, self.content = port, content
        self.results = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(clients)]

    def loop(self):
        while not self.stop_flag.is_set():
            try:
                r = T.http_request("127.0.0.1", self.port, "POST", "/api/v2/execute",
                                   T.dumps_compact(sh(self.content)),
                                   {"Content-Type": "application/json"}, timeout=30)
                ok = r.status == 200 and r.json["run"]["stdout"] == "ok\n"
                outcome = "ok" if ok else "%s %r" % (r.status, r.body[:200])
            except Exception as e:  # noqa: BLE001 - counted as a failure
                outcome = "exception %r" % e
            with self.lock:
                self.results.append(outcome)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(60)

    def failures(self):
        with self.lock:
            return [r for r in self.results if r != "ok"]


class ScaleOutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            cls.start_all()
        except BaseException:
            cls.tearDownClass()  # unittest skips it when setUpClass fails
            raise

    @classmethod
    def start_all(cls):
        T.require_root()
        cls.haproxy_bin = shutil.which("haproxy")
        if not cls.haproxy_bin:
            raise unittest.SkipTest("haproxy missing (apt-get install haproxy)")
        cls.tmp = tempfile.mkdtemp(prefix="capsule-scaleout-", dir=os.path.dirname(T.CAPSULED))
        os.chmod(cls.tmp, 0o755)
        base = 62000 + (os.getpid() % 50) * 40
        cls.nodes = []
        for i in range(NODES):
            cls.nodes.append(cls.make_node(i, free_port(), "capsule-so%d-%d" % (os.getpid(), i),
                                           base + 10 * i))
            cls.nodes[-1].start()
        cls.lb_port = free_port()
        cls.sock = os.path.join(cls.tmp, "haproxy.sock")
        cfg = os.path.join(cls.tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(cls.config())
        check = subprocess.run([cls.haproxy_bin, "-c", "-f", cfg], capture_output=True, text=True)
        if check.returncode != 0:
            raise AssertionError("haproxy rejects the config: %s" % check.stdout + check.stderr)
        cls.lb_log = open(os.path.join(cls.tmp, "haproxy.log"), "wb")
        cls.lb = subprocess.Popen([cls.haproxy_bin, "-db", "-f", cfg], stdout=cls.lb_log,
                                  stderr=subprocess.STDOUT)
        cls.wait_states({"node%d" % (i + 1): "UP" for i in range(NODES)})

    @classmethod
    def make_node(cls, i, port, instance, uid_base):
        d = T.Daemon(runtimes="fixture", max_jobs=4,
                     env={"PISTON_BIND_ADDRESS": "127.0.0.1:%d" % port})
        # distinct, non-overlapping slot ids per node (the default ranges of Daemon overlap)
        d.instance = instance
        d.uid_min, d.uid_max = uid_base, uid_base + 9
        d.gid_min, d.gid_max = uid_base, uid_base + 9
        d.lb_port = port
        return d

    @classmethod
    def config(cls):
        with open(CFG) as f:
            text = f.read()
        text = re.sub(r"(?m)^\s*server node.*\n", "", text)
        text = re.sub(r"(?m)^(\s*)bind :2000$", r"\1bind 127.0.0.1:%d" % cls.lb_port, text)
        text = text.replace("default-server inter 1s", "default-server inter 300ms")
        text = re.sub(r"(?m)^\s*#?\s*stats socket .*$", "    stats socket %s mode 600 level admin" % cls.sock, text)
        for i, d in enumerate(cls.nodes):
            text += "    server node%d 127.0.0.1:%d check\n" % (i + 1, d.lb_port)
        return text

    @classmethod
    def server_states(cls):
        return {k: v["status"].split()[0] for k, v in cls.server_rows().items()}

    @classmethod
    def server_rows(cls):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(cls.sock)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "capsule_nodes" and row.get("svname", "").startswith("node"):
                out[row["svname"]] = row
        return out

    @classmethod
    def rerouted(cls, node):
        """Requests haproxy retried or redispatched away from `node` so far."""
        row = cls.server_rows()[node]
        return int(row["wretr"] or 0) + int(row["wredis"] or 0)

    @classmethod
    def wait_states(cls, want, timeout=15):
        deadline = time.monotonic() + timeout
        states = {}
        while time.monotonic() < deadline:
            try:
                states = cls.server_states()
            except OSError:  # the stats socket appears once haproxy is up
                time.sleep(0.05)
                continue
            if all(states.get(k) == v for k, v in want.items()):
                return states
            time.sleep(0.1)
        raise AssertionError("haproxy states %r, want %r" % (states, want))

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "lb", None):
            cls.lb.terminate()
            cls.lb.wait(10)
            cls.lb_log.close()
        problems = []
        for d in getattr(cls, "nodes", []):
            problems += d.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if problems:
            raise T.DaemonError("; ".join(problems))

    def jobs_done(self, d):
        m = re.search(rb'capsule_jobs_total\{language="sh",version="1.0.0",status="OK"\} (\d+)',
                      d.get("/metrics").body)
        return int(m.group(1))

    def lb_execute(self, content="echo ok"):
        return T.http_request("127.0.0.1", self.lb_port, "POST", "/api/v2/execute",
                              T.dumps_compact(sh(content)), {"Content-Type": "application/json"})

    def test_1_every_node_serves(self):
        before = [self.jobs_done(d) for d in self.nodes]
        T.parallel([lambda: self.assertEqual(self.lb_execute("sleep 0.2; echo ok").status, 200)
                    for _ in range(12)])
        after = [self.jobs_done(d) for d in self.nodes]
        served = [a - b for a, b in zip(after, before)]
        self.assertEqual(sum(served), 12)
        self.assertTrue(all(n > 0 for n in served), "leastconn left a node idle: %r" % served)
        r = T.http_request("127.0.0.1", self.lb_port, "GET", "/api/v2/runtimes")
        self.assertEqual(r.status, 200)

    def test_2_killed_node_routed_around(self):
        victim = self.nodes[1]
        with Load(self.lb_port, 8, "sleep 0.15; echo ok") as load:
            time.sleep(1.0)
            os.kill(victim.pid, signal.SIGKILL)  # mid-run: it holds jobs right now
            victim.proc.wait(10)
            self.wait_states({"node2": "DOWN"}, timeout=10)
            time.sleep(1.0)
        self.assertGreater(len(load.results), 40)
        self.assertEqual(load.failures(), [], "requests failed while node2 died")
        # not vacuous: some requests did hit the dead node and were sent elsewhere
        self.assertGreater(self.rerouted("node2"), 0)
        # back with the same instance name: it removes what the killed one left, rejoins
        shutil.rmtree(victim._tmp, ignore_errors=True)
        victim.stopped = True
        again = self.make_node(1, victim.lb_port, victim.instance, victim.uid_min)
        again.start()
        self.nodes[1] = again
        self.wait_states({"node2": "UP"}, timeout=10)
        before = self.jobs_done(again)
        T.parallel([lambda: self.assertEqual(self.lb_execute("sleep 0.2; echo ok").status, 200)
                    for _ in range(12)])
        self.assertGreater(self.jobs_done(again) - before, 0, "restarted node got no jobs")

    def test_3_drained_node_finishes_and_leaves(self):
        victim = self.nodes[0]
        with Load(self.lb_port, 8, "sleep 0.3; echo ok") as load:
            time.sleep(1.0)
            victim.terminate()  # SIGTERM: drain
            self.assertEqual(victim.wait_exit(15), 0)
            time.sleep(1.0)
        self.assertGreater(len(load.results), 30)
        self.assertEqual(load.failures(), [], "requests failed while node1 drained")
        self.assertEqual(victim.stop(), [])
        self.wait_states({"node1": "DOWN"}, timeout=10)


if __name__ == "__main__":
    T.run_tests()
