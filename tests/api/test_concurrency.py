#!/usr/bin/python3
"""Job slots and the queue (PISTON-API.md 3.2): parallel requests beyond the slot count all
succeed, at most PISTON_MAX_CONCURRENT_JOBS run at once, HTTP threads never block on queued
jobs, CAPSULE_MAX_QUEUE gives 503, boxes of concurrent jobs are isolated."""

import json
import os
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402


def sh(content, **kw):
    p = {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}
    p.update(kw)
    return p


TIMED_SLEEP = 'date +%s%N; sleep {s}; date +%s%N'


def max_overlap(intervals):
    events = []
    for a, b in intervals:
        events.append((a, 1))
        events.append((b, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


class ConcurrencyTest(T.CapsuleTestCase):
    SLOTS = 4

    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", max_jobs=cls.SLOTS)

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_parallel_beyond_slots(self):
        n = 16
        t0 = time.monotonic()
        rs = T.parallel([lambda: self.daemon.execute(sh(TIMED_SLEEP.format(s=0.5)))] * n)
        elapsed = time.monotonic() - t0
        intervals = []
        for r in rs:
            run = self.assertRun(r)
            a, b = [int(x) for x in run["stdout"].split()]
            intervals.append((a, b))
        overlap = max_overlap(intervals)
        self.assertLessEqual(overlap, self.SLOTS, "more jobs ran at once than slots: %d" % overlap)
        self.assertGreaterEqual(overlap, 2, "jobs did not run concurrently")
        # 16 jobs of 0.5 s on 4 slots cannot finish in less than 4 rounds
        self.assertGreaterEqual(elapsed, 4 * 0.5 - 0.05)
        self.assertLess(elapsed, 60)

    def test_http_not_blocked_by_jobs(self):
        long_jobs = []
        results = []

        def job():
            results.append(self.daemon.execute(sh("sleep 2; echo done")))
        for _ in range(self.SLOTS * 2):  # all slots busy plus a queue
            t = threading.Thread(target=job)
            t.start()
            long_jobs.append(t)
        time.sleep(0.5)
        try:
            for path in ["/api/v2/runtimes", "/"]:
                r = self.daemon.get(path, timeout=30)
                self.assertEqual(r.status, 200)
                self.assertLess(r.elapsed, T.slack(0.5), "GET %s took %.2f s while jobs ran" % (path, r.elapsed))
            r = self.daemon.execute({"language": "nope", "version": "*", "files": [{"content": "x"}]}, timeout=30)
            self.assertMessage(r, 400, "nope-* runtime is unknown")
            self.assertLess(r.elapsed, T.slack(0.5), "validation waited for a slot")
        finally:
            for t in long_jobs:
                t.join(60)
        self.assertEqual(len(results), self.SLOTS * 2)
        for r in results:
            self.assertRun(r, stdout="done\n")

    def test_concurrent_boxes_isolated(self):
        # each job writes its own token in /tmp and cwd and sees only its own
        def job(i):
            def f():
                return self.daemon.execute(sh(
                    "echo %d > /tmp/tok; echo %d > tok; sleep 0.5; cat /tmp/tok tok; ls -A /tmp; "
                    "ls /proc | grep -cE '^[0-9]+$'" % (i, i)))
            return f
        rs = T.parallel([job(i) for i in range(8)])
        for i, r in enumerate(rs):
            out = self.assertRun(r)["stdout"].split("\n")
            self.assertEqual(out[:3], [str(i), str(i), "tok"], out)
            self.assertLess(int(out[3]), 10, "a box sees other boxes' processes: %s" % out)

    def test_slots_reused_cleanly(self):
        # sequential jobs rotate through slots: each starts with an empty /tmp and work dir
        for i in range(self.SLOTS * 2):
            r = self.daemon.execute(sh("ls -A /tmp /dev/shm .; echo x > /tmp/x; echo y > /dev/shm/y"))
            self.assertRun(r, stdout=".:\nfile0.code\n\n/dev/shm:\n\n/tmp:\n")

    def test_vanished_clients_give_their_slots_back_clean(self):
        # A job runs on its connection's thread, the slot lent to it until the answer has
        # gone. Clients that send a job and vanish while it runs, with a FIN or a reset (then
        # the answer cannot be written), never take the answer: every slot must still come
        # back, emptied of what their jobs left.
        def vanish(i):
            body = json.dumps(sh("echo x > /tmp/left; echo y > /dev/shm/left; touch left; "
                                 "sleep 0.%d; echo done" % (3 + i % 3))).encode()
            s = socket.create_connection((self.daemon.host, self.daemon.port))
            s.sendall(b"POST /api/v2/execute HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
            time.sleep(0.15)  # the request is read and its job runs
            if i % 2:  # a reset instead of a FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        T.parallel([lambda i=i: vanish(i) for i in range(3 * self.SLOTS)])
        deadline = time.monotonic() + T.slack(10000) / 1000
        while self.daemon.get("/health").json.get("running") and time.monotonic() < deadline:
            time.sleep(0.05)
        # every slot is back, and clean: as many jobs run at once as there are slots, so each
        # slot serves one, and none finds anything of the vanished clients' jobs
        check = "ls -A /tmp /dev/shm . | tr '\\n' ' '; echo; " + TIMED_SLEEP.format(s=1)
        rs = T.parallel([lambda: self.daemon.execute(sh(check), timeout=60)] * self.SLOTS)
        intervals = []
        for r in rs:
            seen, a, b = self.assertRun(r)["stdout"].split("\n")[:3]
            self.assertEqual(seen, ".: file0.code  /dev/shm:  /tmp: ")
            intervals.append((int(a), int(b)))
        self.assertEqual(max_overlap(intervals), self.SLOTS, intervals)


class QueueLimitTest(T.CapsuleTestCase):
    """One slot, CAPSULE_MAX_QUEUE=2: a third waiting job gets 503 and nothing runs."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", max_jobs=1, env={"CAPSULE_MAX_QUEUE": "2"})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_queue_full_503(self):
        results = {}

        def job(i, secs):
            results[i] = self.daemon.execute(sh("sleep %s; echo %d" % (secs, i)))
        threads = [threading.Thread(target=job, args=(0, 2))]
        threads[0].start()
        time.sleep(0.5)  # job 0 holds the slot
        for i in (1, 2):
            t = threading.Thread(target=job, args=(i, 0.1))
            t.start()
            threads.append(t)
        time.sleep(0.8)  # jobs 1 and 2 are queued (job 0 runs until ~2 s)
        r = self.daemon.execute(sh("echo should-not-run > /dev/null; echo 3"))
        self.assertMessage(r, 503, "too many queued jobs")
        self.assertEqual(r.header("retry-after"), "1", r.headers)
        for t in threads:
            t.join(60)
        for i in range(3):
            self.assertRun(results[i], stdout="%d\n" % i)
        # the queue drains: a new job runs again
        self.assertRun(self.daemon.execute(sh("echo again")), stdout="again\n")


if __name__ == "__main__":
    T.run_tests()
