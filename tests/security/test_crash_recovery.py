#!/usr/bin/python3
"""Security property 11, crash recovery: kill -9 of the daemon in the middle of long jobs
(run timeout raised to 60 s; each job leaves a daemonized SIGTERM-ignoring grandchild and a
stopped child) takes every box process with it within ~2 s (PR_SET_PDEATHSIG on the
supervisors, PID namespaces); a new daemon with the same CAPSULE_INSTANCE and uid range starts,
serves hellos, and removes the old one's cgroups: no stale stage directory, no process under
the uid range besides live jobs; stopping it leaves nothing named after the instance."""

import os
import threading
import time

import seclib as S
from seclib import T

ENV = {"PISTON_RUN_TIMEOUT": "60000", "PISTON_RUN_CPU_TIME": "60000",
       "PISTON_OUTPUT_MAX_SIZE": str(S.OUT)}


def run_dir(instance):
    return "/run/capsule/%s" % instance


class CrashRecovery(S.SecTestCase):
    # the class daemon is not used: each test manages its own pair

    @classmethod
    def setUpClass(cls):
        T.require_root()
        cls.canaries = S.Canaries()

    @classmethod
    def tearDownClass(cls):
        cls.canaries.remove()

    def new_daemon(self, like=None):
        d = T.Daemon(runtimes="real", env=dict(S.EMULATED_ROOM, **ENV), max_jobs=2,
                     canary_env={"ENGINE_CANARY_ENV": self.canaries.env_token})
        if like is not None:
            d.instance = like.instance
            d.uid_min, d.uid_max, d.gid_min, d.gid_max = like.uid_min, like.uid_max, like.gid_min, like.gid_max
        return d

    def test_kill9_mid_job_then_restart(self):
        langs = [l for l in ("python", "c") if T.have_toolchain(l)]
        if not langs:
            self.skipTest("neither python nor gcc installed")
        d1 = self.new_daemon()
        d1.start()
        self.daemon = d1
        answers = {}

        def submit(lang):
            p = self.payload(lang, S.program("lifetime.c" if lang == "c" else "lifetime.py"),
                             args=["timeout"], run_timeout=60000)
            try:
                answers[lang] = d1.execute(p, timeout=90)
            except Exception as e:  # noqa: BLE001 - the daemon dies under it
                answers[lang] = e

        threads = [threading.Thread(target=submit, args=(l,), daemon=True) for l in langs]
        for t in threads:
            t.start()
        try:
            # each job: main + daemonized grandchild + stopped child
            want = 3 * len(langs)
            procs = S.wait_for(lambda: len(S.box_processes(d1.uid_min, d1.uid_max)) >= want and
                               S.box_processes(d1.uid_min, d1.uid_max), 30 * T.TIME_FACTOR)
            self.assertTrue(procs, "the jobs never started: %r %s" % (answers, d1.log_tail(30)))
            time.sleep(0.2)
            stage_dirs_before = [d for d in d1.box_cgroups() if "/stage-" in d]
            self.assertTrue(stage_dirs_before, "no stage cgroup while jobs run")
            T.log("  %d box processes, %d stage cgroups; kill -9 %d" % (len(procs), len(stage_dirs_before), d1.pid))
            t0 = time.monotonic()
            d1.proc.kill()
            d1.proc.wait()
            left = S.wait_for(lambda: not S.box_processes(d1.uid_min, d1.uid_max), S.slack_ms(2000) / 1000.0)
            gone_ms = (time.monotonic() - t0) * 1000
            self.assertTrue(left, "box processes survived the daemon by %.0f ms: %s" % (
                gone_ms, T.procs_in_uid_range(d1.uid_min, d1.uid_max)))
            T.log("  box processes gone %.0f ms after kill -9" % gone_ms)
        finally:
            for t in threads:
                t.join(30)
            d1.stopped = True  # killed on purpose: no SIGTERM checks for it
        for lang in langs:
            self.assertIsInstance(answers.get(lang), Exception, "a job answered although its daemon died")
        d1.cgroup_roots(refresh=True)
        stale = [d for d in d1.box_cgroups() if "/stage-" in d]
        T.log("  stale stage cgroups left by the killed daemon: %d" % len(stale))

        # restart on the same instance and uid range
        d2 = self.new_daemon(like=d1)
        d2.start()
        self.daemon = d2
        try:
            self.assertEqual(d2.stage_leftovers(), [], "stale stage cgroups after restart")
            self.assertEqual(T.procs_in_uid_range(d2.uid_min, d2.uid_max, d2.gid_min, d2.gid_max), [])
            for lang in langs:
                src = S.C_HELLO if lang == "c" else S.PY_HELLO
                run = self.run_ok(lang, src, what="hello after restart")
                self.assertEqual(run["stdout"], "hello\n")
            self.no_leftovers()
        finally:
            problems = d2.stop()
        self.assertEqual(problems, [], "the restarted daemon did not clean up after itself")
        self.assertFalse(os.path.exists(run_dir(d1.instance)), "run directory left on the host")
        d1.cleanup()
        d2.cleanup()


if __name__ == "__main__":
    S.run_tests()
