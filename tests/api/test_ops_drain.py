#!/usr/bin/python3
"""SIGTERM drains (README "Operations"): the node keeps answering, /health says 503
"draining", new executes get 503 {"message":"server is draining"}, jobs already accepted
(running or queued) finish with 200, then the daemon exits 0. CAPSULE_DRAIN_TIMEOUT bounds
the wait."""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402


def sh(content):
    return {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}


def background(d, payload, box, key):
    def run():
        try:
            box[key] = d.execute(payload, timeout=60)
        except Exception as e:  # noqa: BLE001 - reported by the assertions
            box[key] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def wait_running(d, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if d.get("/health").json.get("running") == n:
            return
        time.sleep(0.02)
    raise AssertionError("never %d running jobs" % n)


class DrainTest(T.CapsuleTestCase):
    def test_drain_finishes_jobs_and_turns_unready(self):
        d = T.Daemon(runtimes="fixture", max_jobs=1)
        self.daemon = d
        d.start()
        box = {}
        t1 = background(d, sh("sleep 1.5; echo first"), box, "running")
        wait_running(d, 1)
        t2 = background(d, sh("echo second"), box, "queued")
        time.sleep(0.2)
        t0 = time.monotonic()
        d.terminate()
        time.sleep(0.2)
        # meanwhile: health 503 draining, new executes 503, other routes still answer
        r = d.get("/health")
        self.assertJsonResponse(r, 503)
        self.assertEqual(r.json["status"], "draining")
        self.assertEqual(r.json["running"], 1)
        self.assertEqual(r.header("connection"), "close")
        r = d.execute(sh("echo late"))
        self.assertMessage(r, 503, "server is draining")
        self.assertEqual(r.header("retry-after"), "1")
        self.assertEqual(d.get("/api/v2/runtimes").status, 200)
        m = d.get("/metrics")
        self.assertIn(b"\ncapsule_draining 1\n", m.body)
        t1.join(30)
        t2.join(30)
        self.assertRun(box["running"], stdout="first\n")
        self.assertRun(box["queued"], stdout="second\n")
        self.assertEqual(d.wait_exit(10), 0)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIn("drained, exiting", d.log_tail(50))
        self.assertEqual(d.stop(), [])

    def test_drain_deadline(self):
        # the wait ends at CAPSULE_DRAIN_TIMEOUT: queued jobs are answered 503 then, and the
        # running job is killed and answered 503 too (never a program verdict)
        d = T.Daemon(runtimes="fixture", max_jobs=1, env={"CAPSULE_DRAIN_TIMEOUT": "300"})
        self.daemon = d
        d.start()
        box = {}
        t1 = background(d, sh("sleep 2; echo slow"), box, "running")
        wait_running(d, 1)
        t2 = background(d, sh("echo never"), box, "queued")
        time.sleep(0.2)
        t0 = time.monotonic()
        d.terminate()
        t2.join(30)
        t1.join(30)
        self.assertMessage(box["queued"], 503, "server shutting down")
        self.assertMessage(box["running"], 503, "job cancelled: server shutting down")
        self.assertEqual(d.wait_exit(10), 0)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("drain deadline of 300 ms passed", d.log_tail(50))
        self.assertEqual(d.stop(), [])

    def test_second_signal_cuts_the_wait(self):
        d = T.Daemon(runtimes="fixture", max_jobs=1)
        self.daemon = d
        d.start()
        box = {}
        t1 = background(d, sh("sleep 1.5; echo x"), box, "running")
        wait_running(d, 1)
        t2 = background(d, sh("echo queued"), box, "queued")
        time.sleep(0.2)
        d.terminate()
        time.sleep(0.2)
        d.terminate()
        t1.join(30)
        t2.join(30)
        self.assertMessage(box["queued"], 503, "server shutting down")
        self.assertEqual(d.wait_exit(10), 0)
        self.assertIn("during the drain: stopping now", d.log_tail(50))
        self.assertEqual(d.stop(), [])

    def never_read_answer(self, warm):
        # The job is over, its answer (8 MB of 'a', twice: stdout and output) sits unsent in
        # a socket nobody reads; if it ran on the connection's thread, its slot stays lent
        # until the answer is gone. The drain waits for the answer as for a running job, up to
        # its deadline, and then the connection is closed: the exit is not held until
        # libmicrohttpd's 120 s idle timeout.
        d = T.Daemon(runtimes="fixture", max_jobs=2,
                     env={"PISTON_OUTPUT_MAX_SIZE": str(9 * 1000 * 1000),
                          "CAPSULE_DRAIN_TIMEOUT": "1000"})
        self.daemon = d
        d.start()
        if warm:  # a slot with a warm box: the next job runs on the connection's own thread
            self.assertRun(d.execute(sh("echo warm")), stdout="warm\n")
        body = json.dumps(sh("head -c 8000000 /dev/zero | tr '\\0' a")).encode()
        s = socket.create_connection(("127.0.0.1", d.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(60)
        s.sendall(b"POST /api/v2/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200 "))  # the job is done; read no more
        self.assertRun(d.execute(sh("echo alive")), stdout="alive\n")
        t0 = time.monotonic()
        d.terminate()
        self.assertEqual(d.wait_exit(15), 0)
        waited = time.monotonic() - t0
        self.assertIn("drain deadline of 1000 ms passed: killing 0 running, 0 queued jobs, "
                      "closing 1 requests", d.log_tail(50))
        self.assertGreater(waited, 0.9)  # the drain did wait for the answer...
        self.assertLess(waited, 10)  # ...and no longer than its deadline, give or take
        s.close()
        self.assertEqual(d.stop(), [])

    def test_an_answer_nobody_reads_holds_the_exit_only_until_the_deadline(self):
        self.never_read_answer(warm=True)

    def test_an_unread_answer_from_a_slot_worker_too(self):
        self.never_read_answer(warm=False)

    def test_idle_exits_at_once(self):
        d = T.Daemon(runtimes="fixture")
        self.daemon = d
        d.start()
        t0 = time.monotonic()
        d.terminate()
        self.assertEqual(d.wait_exit(10), 0)
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual(d.stop(), [])


if __name__ == "__main__":
    T.run_tests()
