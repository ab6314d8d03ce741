#!/usr/bin/python3
"""/api/v2/connect with real toolchains and a real client: an interactive Python `input()`
round trip, a C program that reads stdin after its compile, and Piston's own CLI in `-t`
(interactive) mode driven through a pty, Ctrl-C included. The CLI is not part of this
repository: point PISTON_CLI_DIR at Piston's cli/ directory with its node_modules installed
(`npm ci`), or put it at /opt/piston-cli. Tests skip (77) without their toolchain or CLI."""

import os
import pty
import re
import select
import shutil
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402
import wsclient as W  # noqa: E402

CLI_DIR, NODE = T.PISTON_CLI_DIR, T.NODE


def cli_missing():
    return T.piston_cli_missing(("index.js", "commands/execute.js", "node_modules/ws", "node_modules/yargs"))


class LanguagesTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        if not (T.have_toolchain("python") or T.have_toolchain("c")):
            raise T.unittest.SkipTest("neither python3 nor gcc is installed")
        cls.daemon = cls.start_daemon(runtimes="real", max_jobs=2)

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def ws(self):
        c = W.WsClient(self.daemon.host, self.daemon.port)
        self.addCleanup(c.close)
        return c

    def until(self, c, text, timeout=30.0):
        seen = []
        deadline = time.monotonic() + timeout
        while text not in W.output_of(seen):
            m = c.recv(max(0.01, deadline - time.monotonic()))
            if m[0] == "close":
                self.fail("closed %r before %r; saw %r" % (m[1:], text, seen))
            seen.append(m[1])
        return seen

    def test_python_input_round_trip(self):
        T.require_toolchain("python")
        c = self.ws()
        c.send_json({"type": "init", "language": "python", "version": "3",
                     "files": [{"name": "main.py", "content":
                                "name = input('name? ')\nprint('hello', name)\n"
                                "age = input('age? ')\nprint('in ten years', int(age) + 10)\n"}]})
        seen = self.until(c, "name? ")  # the prompt arrives before any input is sent
        self.assertEqual(seen[0]["type"], "runtime")
        self.assertEqual(seen[0]["language"], "python")
        c.send_json({"type": "data", "stream": "stdin", "data": "bob\n"})
        seen += self.until(c, "age? ")
        c.send_json({"type": "data", "stream": "stdin", "data": "31\n"})
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(seen + msgs, "stdout"), "name? hello bob\nage? in ten years 41\n")
        self.assertEqual(msgs[-1], {"type": "exit", "stage": "run", "code": 0, "signal": None})

    def test_python_traceback_on_stderr(self):
        T.require_toolchain("python")
        c = self.ws()
        c.send_json({"type": "init", "language": "python", "version": "*",
                     "files": [{"content": "raise SystemExit(input())"}]})
        c.send_json({"type": "data", "stream": "stdin", "data": "bye\n"})
        msgs, close = c.collect()
        self.assertEqual(W.output_of(msgs, "stderr"), "bye\n")
        self.assertEqual(msgs[-1]["code"], 1)

    def test_c_reads_stdin_after_compile(self):
        T.require_toolchain("c")
        prog = r'''#include <stdio.h>
int main(void) {
    char line[128];
    int n = 0;
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        n++;
        printf("line %d: %s", n, line);
        fflush(stdout);
    }
    fprintf(stderr, "%d lines\n", n);
    return n;
}
'''
        c = self.ws()
        c.send_json({"type": "init", "language": "c", "version": "*",
                     "files": [{"name": "main.c", "content": prog}]})
        # sent while the compiler runs: held for the run stage, not fed to the compiler
        c.send_json({"type": "data", "stream": "stdin", "data": "early\n"})
        seen = self.until(c, "line 1: early\n", timeout=60)
        kinds = [(m["type"], m.get("stage")) for m in seen if m["type"] != "data"]
        self.assertEqual(kinds, [("runtime", None), ("stage", "compile"), ("exit", "compile"),
                                 ("stage", "run")])
        self.assertEqual([m for m in seen if m["type"] == "exit"][0]["code"], 0)
        c.send_json({"type": "data", "stream": "stdin", "data": "late\n"})
        c.send_json({"type": "eof"})
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(seen + msgs, "stdout"), "ready\nline 1: early\nline 2: late\n")
        self.assertEqual(W.output_of(msgs, "stderr"), "2 lines\n")
        self.assertEqual(msgs[-1], {"type": "exit", "stage": "run", "code": 2, "signal": None})

    def test_c_cached_compile_still_reports_its_stage(self):
        T.require_toolchain("c")
        prog = '#include <stdio.h>\nint main(void){puts("cached");return 0;}\n'
        req = {"language": "c", "version": "*", "files": [{"content": prog}]}
        r = self.daemon.execute(req)  # an HTTP compile fills the cache
        self.assertRun(r, stdout="cached\n", compiled=True)
        c = self.ws()
        c.send_json(dict(req, type="init"))
        msgs, close = c.collect(60)
        self.assertEqual(close, (4999, "Job Completed"))
        kinds = [(m["type"], m.get("stage")) for m in msgs if m["type"] != "data"]
        self.assertEqual(kinds, [("runtime", None), ("stage", "compile"), ("exit", "compile"),
                                 ("stage", "run"), ("exit", "run")])
        self.assertEqual(W.output_of(msgs), "cached\n")
        body = self.daemon.get("/metrics").body.decode()
        self.assertRegex(body, r"capsule_compile_cache_hits_total [1-9]")

    def test_c_compile_error_ends_the_job(self):
        T.require_toolchain("c")
        c = self.ws()
        c.send_json({"type": "init", "language": "c", "version": "*",
                     "files": [{"content": "int main(void){return x;}"}]})
        msgs, close = c.collect(60)
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertIn("error", W.output_of(msgs, "stderr"))
        self.assertEqual(msgs[-1]["stage"], "compile")
        self.assertEqual(msgs[-1]["code"], 1)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


class PistonCliTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        why = cli_missing()
        if why:
            raise T.unittest.SkipTest(why)
        cls.daemon = cls.start_daemon(runtimes="fixture")
        cls.tmp = tempfile.mkdtemp(prefix="capsule-cli-")

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cli_in_pty(self, script, interact, timeout=60.0):
        """Runs `piston run sh <file> -t -s` on a pty; interact(send, wait_for) drives it.
        Returns (exit status, everything the terminal showed)."""
        path = os.path.join(self.tmp, "prog-%d.sh" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(script)
        argv = [NODE, os.path.join(CLI_DIR, "index.js"), "-u",
                "http://127.0.0.1:%d" % self.daemon.port, "run", "sh", path, "-t", "-s"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FORCE_COLOR": "0",
               "TERM": "dumb", "HOME": self.tmp}
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(NODE, argv, env)
            finally:
                os._exit(127)
        out = bytearray()
        deadline = time.monotonic() + timeout

        def pump(until=None):
            while time.monotonic() < deadline:
                if until is not None and until in ANSI.sub("", out.decode(errors="replace")):
                    return True
                r, _, _ = select.select([fd], [], [], 0.1)
                if not r:
                    continue
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    return until is None
                if not chunk:
                    return until is None
                out.extend(chunk)
            return False

        def wait_for(text):
            if not pump(text):
                self.fail("%r never appeared; the terminal showed %r" % (text, out.decode(errors="replace")))

        try:
            interact(lambda b: os.write(fd, b), wait_for)
            pump()
            _, status = os.waitpid(pid, 0)
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(fd)
        return os.waitstatus_to_exitcode(status), ANSI.sub("", out.decode(errors="replace"))

    def test_interactive_round_trip(self):
        def interact(send, wait_for):
            wait_for("Stage: run")
            send(b"bob\n")
        code, shown = self.cli_in_pty('read name; echo "hello $name"; echo bye >&2', interact)
        self.assertEqual(code, 0, shown)
        self.assertIn("hello bob", shown)
        self.assertIn("bye", shown)
        self.assertIn("Runtime: sh 1.0.0", shown)
        self.assertIn("Stage run exited with code 0", shown)
        self.assertRegex(shown, r'Disconnected:\s+Reason:\s+"Job Completed"\s+Code:\s+"4999"')

    def test_ctrl_c_becomes_a_signal(self):
        def interact(send, wait_for):
            wait_for("ready")
            send(b"\x03")  # the terminal turns it into SIGINT for the CLI, which forwards it
        code, shown = self.cli_in_pty(
            "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.05; done", interact)
        self.assertIn("got-int", shown)
        self.assertIn("Stage run exited with code 7", shown)


if __name__ == "__main__":
    T.run_tests()
