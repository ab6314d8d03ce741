#!/usr/bin/python3
"""Daemon lifecycle: the `listening on` line, SIGTERM drains running jobs and exits 0 leaving
nothing behind, invalid configuration exits 1 with the spec's line (PISTON-API.md 4.1)."""

import os
import shutil
import subprocess
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


class LifecycleTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()

    def test_start_stop_clean(self):
        d = T.Daemon(runtimes="fixture")
        self.daemon = d
        d.start()
        self.assertEqual(d.stdout_lines, ["listening on 127.0.0.1:%d" % d.port])
        self.assertRun(d.execute(sh("echo hi")), stdout="hi\n")
        problems = d.stop()
        if not problems:
            d.cleanup()
        self.assertEqual(problems, [])

    def test_sigterm_drains_running_job(self):
        d = T.Daemon(runtimes="fixture")
        self.daemon = d
        d.start()
        try:
            box = {}

            def job():
                box["r"] = d.execute(sh("sleep 1.5; echo done"))
            t = threading.Thread(target=job)
            t.start()
            time.sleep(0.5)  # the job is running
            t0 = time.monotonic()
            d.terminate()
            t.join(30)
            self.assertIn("r", box, "no response for the running job")
            self.assertRun(box["r"], stdout="done\n")
            rc = d.wait_exit(10)
            self.assertEqual(rc, 0, "exit status after SIGTERM")
            self.assertLess(time.monotonic() - t0, 10)
        finally:
            problems = d.stop()
            if not problems:
                d.cleanup()
        self.assertEqual(problems, [])

    def test_sigterm_idle_fast(self):
        d = T.Daemon(runtimes="fixture")
        self.daemon = d
        d.start()
        t0 = time.monotonic()
        problems = d.stop()
        if not problems:
            d.cleanup()
        self.assertEqual(problems, [])
        self.assertLess(time.monotonic() - t0, 10)

    def test_sigterm_during_timeout_job(self):
        # a job still running at shutdown is finished or killed; exit 0, nothing left
        d = T.Daemon(runtimes="fixture", max_jobs=2)
        self.daemon = d
        d.start()
        threads = []
        for _ in range(4):
            t = threading.Thread(target=self._quiet_execute, args=(d, sh("sleep 2.5")))
            t.daemon = True
            t.start()
            threads.append(t)
        time.sleep(0.5)
        problems = d.stop()
        if not problems:
            d.cleanup()
        self.assertEqual(problems, [])

    @staticmethod
    def _quiet_execute(d, payload):
        try:
            d.execute(payload, timeout=30)
        except Exception:  # noqa: BLE001
            pass  # the daemon went away: fine for this test

    def test_second_daemon_of_an_instance_refused(self):
        # a second daemon on the same instance would share the cgroups and kill the first
        # one's boxes in its startup cleanup: it must refuse to start and leave them alone
        d = T.Daemon(runtimes="fixture")
        self.daemon = d
        d.start()
        try:
            p = subprocess.run([T.CAPSULED], env=d.env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                               cwd=d._tmp)
            out = (p.stdout + p.stderr).decode("utf-8", "replace")
            self.assertEqual(p.returncode, 1, out)
            self.assertIn("another capsuled runs this instance", out)
            run = self.assertExecOk(d.execute({"language": "sh", "version": "*",
                                               "files": [{"content": "echo still here"}]}))["run"]
            self.assertEqual(run["stdout"], "still here\n", run)
        finally:
            self.stop_daemon(d)

    def run_bad_config(self, env, want):
        d = T.Daemon(runtimes="fixture", env=env)
        self.daemon = d
        p = subprocess.run([T.CAPSULED], env=d.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, cwd=d._tmp)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertEqual(p.returncode, 1, out)
        self.assertIn(want, out)
        self.assertNotIn("listening on", p.stdout.decode("utf-8", "replace"))
        self.assertEqual(d.leftovers_after_stop(grace=0.5), [])
        shutil.rmtree(d._tmp, ignore_errors=True)

    def test_bad_config(self):
        cases = [
            ({"PISTON_RUN_TIMEOUT": "abc"}, "Config option PISTON_RUN_TIMEOUT failed validation: "),
            ({"PISTON_RUN_TIMEOUT": "3000ms"}, "Config option PISTON_RUN_TIMEOUT failed validation: "),
            ({"PISTON_MAX_PROCESS_COUNT": "1e6"}, "Config option PISTON_MAX_PROCESS_COUNT failed validation: "),
            ({"PISTON_RUN_MEMORY_LIMIT": "256MB"}, "Config option PISTON_RUN_MEMORY_LIMIT failed validation: "),
            ({"PISTON_OUTPUT_MAX_SIZE": "-"}, "Config option PISTON_OUTPUT_MAX_SIZE failed validation: "),
            ({"PISTON_LOG_LEVEL": "LOUD"}, "Log level LOUD does not exist"),
            ({"PISTON_LIMIT_OVERRIDES": "{"}, "Failed to parse the overrides"),
            ({"PISTON_LIMIT_OVERRIDES": '{"sh":{"bogus_key":1}}'}, "Failed to parse the overrides"),
            ({"PISTON_DATA_DIRECTORY": "/nonexistent/capsule-test-dir"}, "Directory /nonexistent/capsule-test-dir does not exist"),
        ]
        for env, want in cases:
            with self.subTest(env=env):
                self.run_bad_config(env, want)


if __name__ == "__main__":
    T.run_tests()
