#!/usr/bin/python3
"""Security property 4, no channel between jobs: job A makes every kind of shareable object
(abstract unix socket, SysV shm/msg/sem, POSIX mq and shm, files in /tmp, /dev/shm and its
work dir, a daemonized child); job B, running at the same time in another slot or afterwards
in the same slot, finds none of them, sees no foreign pid, and its kill(-1, SIGKILL) kills
only its own processes (A finishes normally). Keyrings are denied (EPERM); file locks are
granted (shared ones here, on /etc/passwd, /usr/bin/bash and a work-dir file): that no lock
crosses to another slot is test_locks.py's business. C (channels.c) and Python (channels.py).

A holds its objects until B is done: the test finds A's box process on the host, waits for
its /tmp/<tok>.ready (through /proc/<pid>/root) and releases it with /tmp/<tok>.release."""

import os
import threading

import seclib as S
from seclib import T

LOCK_PATHS = ["/etc/passwd", "/usr/bin/bash", "lockfile"]
LOCK_OPS = ["flock", "setlk", "setlkw", "ofdlk"]


def source(lang):
    return S.program("channels.c" if lang == "c" else "channels.py")


class ChannelMixin:

    def check_locks_and_keys(self, res, what):
        for p in LOCK_PATHS:
            for op in LOCK_OPS + (["setlk_hi"] if "setlk_hi:" + p in res else []) + \
                    (["lockf"] if "lockf:" + p in res else []):
                self.assertEqual(res.get("%s:%s" % (op, p)), "ok",
                                 "%s: shared file lock %s on %s refused" % (what, op, p))
        for k in ("add_key", "keyctl", "request_key"):
            self.assertEqual(res.get(k), "EPERM", "%s: keyring call %s not denied" % (what, k))

    def check_creator(self, run, hold, what):
        self.assertEqual((run["status"], run["code"]), (None, 0), "%s: %s" % (what, run))
        res = S.kv(run["stdout"])
        for k in ("abstract", "abstract_gc", "shm", "msg", "sem", "mq", "posix_shm", "tmpfile",
                  "shmfile", "cwdfile"):
            self.assertEqual(res.get(k), "ok", "%s: could not create %s (positive control)" % (what, k))
        self.assertEqual(res.get("sysvipc"), "1,1,1", "%s: own SysV objects not listed" % what)
        self.check_locks_and_keys(res, what)
        if hold:
            self.assertEqual(res.get("released"), "1", "%s: A did not live until released" % what)

    def check_prober(self, run, what):
        self.assertEqual((run["status"], run["code"]), (None, 0),
                         "%s: probe died (did kill(-1) reach itself?): %s" % (what, run))
        res = S.kv(run["stdout"])
        self.assertEqual(res.get("abstract"), "ECONNREFUSED", "%s: A's abstract socket reachable" % what)
        self.assertEqual(res.get("abstract_gc"), "ECONNREFUSED",
                         "%s: A's abstract socket kept alive by in-flight fds is reachable" % what)
        for k in ("shm", "msg", "sem", "mq", "posix_shm", "tmpfile", "shmfile", "cwdfile"):
            self.assertEqual(res.get(k), "ENOENT", "%s: A's %s visible" % (what, k))
        self.assertEqual(res.get("sysvipc"), "0,0,0", "%s: foreign SysV objects listed" % what)
        self.assertEqual(res.get("foreign_pids"), "0", "%s: foreign processes signalable" % what)
        self.assertIn(res.get("kill_pid1"), ("EPERM", "ESRCH"), "%s: PID 1 could be killed" % what)
        self.assertEqual(res.get("kill_all"), "ok", what)
        self.assertEqual(res.get("own_child"), "SIGKILL", "%s: kill(-1) missed its own child" % what)
        self.check_locks_and_keys(res, what)


class ConcurrentJobs(ChannelMixin, S.SecTestCase):
    MAX_JOBS = 2

    def find_ready(self, tok):
        d = self.daemon
        for pid in S.box_processes(d.uid_min, d.uid_max):
            if os.path.exists("/proc/%d/root/tmp/%s.ready" % (pid, tok)):
                return pid
        return None

    def concurrent(self, lang):
        self.need(lang)
        tok = os.urandom(4).hex()
        out = {}

        def job_a():
            try:
                out["a"] = self.daemon.execute(self.payload(lang, source(lang), args=["create", tok, "1"],
                                                            run_timeout=3000), timeout=120)
            except Exception as e:  # noqa: BLE001
                out["a_error"] = e

        ta = threading.Thread(target=job_a, daemon=True)
        ta.start()
        try:
            pid = S.wait_for(lambda: self.find_ready(tok) or ("a" in out or "a_error" in out) and -1,
                             30 * T.TIME_FACTOR)
            self.assertTrue(pid and pid > 0, "job A never got ready: %r" % out)
            rb = self.submit(self.payload(lang, source(lang), args=["probe", tok]), what="job B")
            self.assertTrue(os.path.exists("/proc/%d" % pid), "job A died while B ran")
        finally:
            # release A (or let its own timeout end it)
            p = S.wait_for(lambda: self.find_ready(tok), 0.1)
            if p:
                with open("/proc/%d/root/tmp/%s.release" % (p, tok), "w"):
                    pass
            ta.join(120)
        self.assertNotIn("a_error", out)
        ra = out["a"]
        self.assertEqual(ra.status, 200, ra)
        self.assertNoSecrets(ra)
        self.check_creator(ra.json["run"], True, "%s job A" % lang)
        self.check_prober(rb.json["run"], "%s job B (concurrent)" % lang)
        self.no_leftovers()

    def test_c_concurrent(self):
        self.concurrent("c")

    def test_python_concurrent(self):
        self.concurrent("python")


class SequentialJobs(ChannelMixin, S.SecTestCase):
    MAX_JOBS = 1  # A and B run in the same slot: same uid, same network namespace

    def sequential(self, lang):
        self.need(lang)
        tok = os.urandom(4).hex()
        ra = self.run_job(lang, source(lang), what="job A", args=["create", tok, "0"])
        self.check_creator(ra["run"], False, "%s job A" % lang)
        self.no_leftovers()
        rb = self.run_job(lang, source(lang), what="job B", args=["probe", tok])
        self.check_prober(rb["run"], "%s job B (same slot, after A)" % lang)

    def test_c_sequential(self):
        self.sequential("c")

    def test_python_sequential(self):
        self.sequential("python")

    def test_job_dirs_come_back_pristine(self):
        # The slot's job tmpfs outlives the job (the next box binds it before its job), and
        # the program owns its three directories: whatever it does to them (mode, user xattr,
        # default ACL) must not reach the next job of the slot.
        self.need("python")
        acl = (b"\x02\x00\x00\x00" + b"\x01\x00\x07\x00\xff\xff\xff\xff"
               + b"\x04\x00\x00\x00\xff\xff\xff\xff" + b"\x20\x00\x00\x00\xff\xff\xff\xff")
        spoil = ("import os\n"
                 "for d in ('/tmp', '/dev/shm', '.'):\n"
                 "    for name, value in (('user.capsule', b'1'), ('system.posix_acl_default', %r)):\n"
                 "        try:\n"
                 "            os.setxattr(d, name, value)\n"
                 "        except OSError as e:\n"
                 "            print(d, name, e.errno)\n"
                 "    os.chmod(d, 0)\n" % acl)
        self.run_ok("python", spoil, what="job A spoils its directories")
        self.no_leftovers()
        look = ("import os\n"
                "for d in ('/tmp', '/dev/shm', '.'):\n"
                "    print(d, oct(os.stat(d).st_mode & 0o7777), sorted(os.listxattr(d)))\n"
                "    open(os.path.join(d, 'f'), 'w').close()\n")
        run = self.run_ok("python", look, what="job B, same slot")
        self.assertEqual(run["stdout"], "/tmp 0o700 []\n/dev/shm 0o700 []\n. 0o755 []\n", run)


if __name__ == "__main__":
    S.run_tests()
