#!/usr/bin/python3
"""Stage outcomes with the fixture runtime (PISTON-API.md 3.4-3.8): RE, SG and signal names,
TO (wall and CPU), OL/EL with exact truncation, output conversion (U+FFFD, NUL), memory limit,
measured values. Default PISTON_OUTPUT_MAX_SIZE (1024)."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

OUT = 1024
SIGNALS = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
           7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
           13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 24: "SIGXCPU",
           25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
           34: "SIGRTMIN", 35: "SIGRTMIN+1", 40: "SIGRTMIN+6", 49: "SIGRTMIN+15",
           50: "SIGRTMAX-14", 55: "SIGRTMAX-9", 63: "SIGRTMAX-1", 64: "SIGRTMAX"}


def sh(content, **kw):
    p = {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}
    p.update(kw)
    return p


class StatusTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture")

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def run_sh(self, content, **kw):
        return self.assertExecOk(self.daemon.execute(sh(content, **kw)))["run"]

    # -- exit codes -------------------------------------------------------------------------
    def test_exit_codes(self):
        for n in [1, 2, 3, 42, 127, 255]:
            with self.subTest(code=n):
                run = self.run_sh("echo out; echo err >&2; exit %d" % n)
                self.assertEqual((run["status"], run["code"], run["signal"]), ("RE", n, None), run)
                self.assertEqual(run["message"], "Exited with error status %d" % n)
                self.assertEqual(run["stdout"], "out\n")
                self.assertEqual(run["stderr"], "err\n")

    def test_success(self):
        run = self.run_sh("true")
        self.assertEqual((run["status"], run["code"], run["signal"], run["message"]), (None, 0, None, None))

    # -- signals ----------------------------------------------------------------------------
    def test_segv(self):
        run = self.run_sh("kill -SEGV $$")
        self.assertEqual(run["status"], "SG", run)
        self.assertEqual(run["signal"], "SIGSEGV", run)
        self.assertIsNone(run["code"], run)
        self.assertEqual(run["message"], "Caught fatal signal 11", run)

    def test_signal_names(self):
        for n, name in sorted(SIGNALS.items()):
            if n in (3, 17, 18, 19, 20, 21, 22, 23, 28):
                continue  # default action is not "terminate" (and bash always ignores SIGQUIT)
            with self.subTest(signal=n):
                run = self.run_sh("kill -%d $$; sleep 1" % n)
                self.assertEqual((run["status"], run["signal"], run["code"]), ("SG", name, None), run)
                self.assertEqual(run["message"], "Caught fatal signal %d" % n, run)

    def test_sigkill_self_is_not_memory(self):
        run = self.run_sh("kill -KILL $$")
        self.assertEqual((run["status"], run["signal"], run["message"]), ("SG", "SIGKILL", "Caught fatal signal 9"), run)

    def test_child_signal_is_not_main(self):
        run = self.run_sh("bash -c 'kill -SEGV $$'; echo after $?")
        self.assertEqual((run["status"], run["code"]), (None, 0), run)
        self.assertEqual(run["stdout"], "after 139\n")

    # -- time limits ------------------------------------------------------------------------
    def test_wall_timeout(self):
        run = self.run_sh("echo start; sleep 10", run_timeout=1000)
        self.assertEqual((run["status"], run["signal"], run["code"]), ("TO", "SIGKILL", None), run)
        self.assertEqual(run["message"], "Time limit exceeded (wall clock)", run)
        self.assertEqual(run["stdout"], "start\n", run)
        self.assertGreaterEqual(run["wall_time"], 1000 - 2, run)
        self.assertLessEqual(run["wall_time"], 1000 + T.slack(200), run)
        self.assertLess(run["cpu_time"], 500, run)

    def test_cpu_timeout(self):
        run = self.run_sh("while :; do :; done", run_cpu_time=1000, run_timeout=3000)
        T.skip_if_starved(self, run, 1000)
        self.assertEqual((run["status"], run["signal"], run["code"]), ("TO", "SIGKILL", None), run)
        self.assertEqual(run["message"], "Time limit exceeded", run)
        self.assertGreaterEqual(run["cpu_time"], 1000, run)
        self.assertLessEqual(run["cpu_time"], 1000 + T.slack(250), run)
        self.assertLess(run["wall_time"], 3000, run)

    def test_timeout_ignores_sigterm(self):
        run = self.run_sh("trap '' TERM INT HUP; sleep 5 & wait; sleep 5", run_timeout=800)
        self.assertEqual((run["status"], run["message"]), ("TO", "Time limit exceeded (wall clock)"), run)
        self.assertLessEqual(run["wall_time"], 800 + T.slack(200), run)

    def test_background_child_does_not_delay(self):
        # the stage ends when the main process exits, even if a child holds stdout open
        r = self.daemon.execute(sh("(sleep 5; echo late) & echo main"))
        run = self.assertExecOk(r)["run"]
        self.assertEqual((run["status"], run["code"], run["stdout"]), (None, 0, "main\n"), run)
        self.assertLess(r.elapsed, 2.5, "response waited for the background child")

    # -- output limits ----------------------------------------------------------------------
    def test_stdout_limit_exact(self):
        run = self.run_sh("head -c 2000 /dev/zero | tr '\\0' a")
        self.assertEqual((run["status"], run["signal"], run["code"]), ("OL", "SIGKILL", None), run)
        self.assertEqual(run["message"], "stdout length exceeded", run)
        self.assertEqual(run["stdout"], "a" * OUT)
        self.assertEqual(run["output"], "a" * OUT)

    def test_stderr_limit_exact(self):
        run = self.run_sh("head -c 5000 /dev/zero | tr '\\0' e >&2")
        self.assertEqual((run["status"], run["signal"], run["code"]), ("EL", "SIGKILL", None), run)
        self.assertEqual(run["message"], "stderr length exceeded", run)
        self.assertEqual(run["stderr"], "e" * OUT)
        self.assertEqual(run["stdout"], "")

    def test_exactly_at_limit(self):
        run = self.run_sh("head -c %d /dev/zero | tr '\\0' b; head -c %d /dev/zero | tr '\\0' c >&2" % (OUT, OUT))
        self.assertEqual((run["status"], run["code"]), (None, 0), run)
        self.assertEqual(run["stdout"], "b" * OUT)
        self.assertEqual(run["stderr"], "c" * OUT)
        self.assertEqual(len(run["output"]), 2 * OUT)

    def test_one_over_limit(self):
        run = self.run_sh("head -c %d /dev/zero | tr '\\0' b; sleep 2; echo never" % (OUT + 1))
        self.assertEqual(run["status"], "OL", run)
        self.assertEqual(run["stdout"], "b" * OUT)
        self.assertLess(run["wall_time"], 1500, "overflow must kill at once, not at the timeout")

    def test_limit_cuts_utf8_sequence(self):
        # 1023 bytes of 'a', then a 2-byte character across the boundary: the cut half is dropped
        run = self.run_sh("head -c 1023 /dev/zero | tr '\\0' a; printf '\\xc3\\xa9'; echo more")
        self.assertEqual(run["status"], "OL", run)
        self.assertEqual(run["stdout"], "a" * 1023)

    def test_limit_after_multibyte(self):
        # 512 two-byte characters = 1024 bytes exactly: fine
        run = self.run_sh("for i in $(seq 512); do printf '\\xc3\\xa9'; done")
        self.assertEqual((run["status"], run["stdout"]), (None, "\u00e9" * 512), run)

    # -- output conversion ------------------------------------------------------------------
    def test_invalid_utf8_replaced(self):
        r = self.daemon.execute(sh("printf 'a\\xffb\\xfe'; printf 'c\\x80' >&2"))
        run = self.assertExecOk(r)["run"]
        self.assertEqual(run["stdout"], "a\ufffdb\ufffd")
        self.assertEqual(run["stderr"], "c\ufffd")
        r.body.decode("utf-8")  # the response is valid UTF-8

    def test_nul_and_controls_escaped(self):
        r = self.daemon.execute(sh("printf 'x\\0y\\001z\\033[31m\\x7f\"\\\\q'"))
        run = self.assertExecOk(r)["run"]
        self.assertEqual(run["stdout"], 'x\x00y\x01z\x1b[31m\x7f"\\q')
        self.assertIn(b"x\\u0000y\\u0001z\\u001b[31m", r.body.lower())

    def test_split_utf8_across_writes(self):
        run = self.run_sh("printf '\\xc3'; sleep 0.2; printf '\\xa9'; printf '\\xe2\\x98' >&2; sleep 0.2; printf '\\x83' >&2")
        self.assertEqual(run["stdout"], "\u00e9")
        self.assertEqual(run["stderr"], "\u2603")

    def test_fake_json_in_output(self):
        evil = '"},"status":"OK","run":{"code":0}}\\n{"message":"x"}'
        run = self.run_sh("printf '%%s' '%s'; exit 3" % evil.replace("'", ""))
        self.assertEqual(run["status"], "RE", run)
        self.assertEqual(run["code"], 3)

    def test_output_interleaving(self):
        run = self.run_sh("echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; sleep 0.1; echo err2 >&2")
        self.assertEqual(run["stdout"], "out1\nout2\n")
        self.assertEqual(run["stderr"], "err1\nerr2\n")
        self.assertEqual(run["output"], "out1\nerr1\nout2\nerr2\n")

    # -- memory -----------------------------------------------------------------------------
    def run_at_memory_ceiling(self, script, limit):
        """Runs a script that outgrows `limit`; one retry when the kernel thrashed instead.

        At its ceiling without swap the kernel may keep evicting and refaulting the
        pipeline's text pages instead of OOM-killing (seen under CI's parallel ASan run, in
        this test and in test_child_oom: 3 s of CPU at the limit, then TO). That is the
        kernel's reclaim, not our verdict, and the README says so; a second try must not
        thrash too."""
        run = self.run_sh(script, run_memory_limit=limit)
        if run["status"] == "TO" and run["memory"] >= limit * 0.9:
            run = self.run_sh(script, run_memory_limit=limit)
        return run

    def test_memory_limit_exceeded(self):
        limit = 50000000
        script = "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived ${#x}"
        run = self.run_at_memory_ceiling(script, limit)
        self.assertEqual((run["status"], run["signal"], run["code"]), ("SG", "SIGKILL", None), run)
        self.assertEqual(run["message"], "Memory limit exceeded", run)
        self.assertEqual(run["stdout"], "", run)
        self.assertIsInstance(run["memory"], int)
        self.assertGreaterEqual(run["memory"], int(limit * 0.9), run)
        self.assertLessEqual(run["memory"], limit + 4 * T.MiB, run)

    def test_child_oom(self):
        # only a child is OOM-killed: status/code stay the main process's, message says so
        run = self.run_at_memory_ceiling("bash -c 'x=$(head -c 300000000 /dev/zero | tr \"\\0\" a)'; echo rc=$?",
                                         50000000)
        self.assertEqual((run["status"], run["code"]), (None, 0), run)
        self.assertEqual(run["stdout"], "rc=137\n", run)
        self.assertEqual(run["message"], "Memory limit exceeded (child process)", run)

    def test_memory_reported_in_bytes(self):
        run = self.run_sh("x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ${#x}", run_memory_limit=200000000)
        self.assertEqual(run["stdout"], "20000000\n", run)
        self.assertGreaterEqual(run["memory"], 20000000, run)  # bytes, not KiB
        self.assertLess(run["memory"], 200000000, run)

    def test_small_job_memory_small(self):
        run = self.run_sh("echo hi")
        self.assertGreater(run["memory"], 0)
        self.assertLess(run["memory"], 64 * T.MiB, run)

    def test_tiny_memory_limit_is_program_verdict(self):
        # a limit too small for the runtime to start gives an ordinary SG, never XX or 500
        r = self.daemon.execute(sh("echo hi", run_memory_limit=1))
        run = self.assertExecOk(r)["run"]
        self.assertIn(run["status"], (None, "SG"), run)

    def test_measured_values_are_integers(self):
        run = self.run_sh("for i in $(seq 20000); do :; done; sleep 0.2")
        for k in ("cpu_time", "wall_time", "memory"):
            self.assertIs(type(run[k]), int, k)
        self.assertGreaterEqual(run["wall_time"], 200)
        self.assertGreater(run["cpu_time"], 0)
        self.assertLessEqual(run["cpu_time"], run["wall_time"] + 50)

    # -- files ----------------------------------------------------------------------------
    def test_file_size_limit(self):
        # default max_file_size 10000000: SIGXFSZ for the writer
        run = self.run_sh("head -c 12000000 /dev/zero > big; echo rc=$?; stat -c %s big")
        self.assertEqual(run["status"], None, run)
        self.assertEqual(run["stdout"], "rc=153\n10000000\n", run)


if __name__ == "__main__":
    T.run_tests()
