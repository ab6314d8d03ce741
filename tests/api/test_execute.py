#!/usr/bin/python3
"""Execute semantics with the fixture runtimes (PISTON-API.md 2.3 response, 3.1-3.3):
response shape and key order, compile/run sequencing (shc), stdin rule, args, files and
encodings, default and duplicate names, the sandbox environment and working directory."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402


def sh(content, **kw):
    p = {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}
    p.update(kw)
    return p


def shf(*files, **kw):
    p = {"language": "sh", "version": "1.0.0", "files": list(files)}
    p.update(kw)
    return p


def shc(*files, **kw):
    p = {"language": "shc", "version": "1.0.0", "files": list(files)}
    p.update(kw)
    return p


class ExecuteTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture")

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    # -- shape ------------------------------------------------------------------------------
    def test_interpreted_shape(self):
        r = self.daemon.execute(sh("echo hello"))
        j = self.assertExecOk(r, compiled=False, language="sh", version="1.0.0")
        self.assertEqual(list(j.keys()), ["run", "language", "version"])
        run = j["run"]
        self.assertEqual(list(run.keys()), T.STAGE_KEYS)
        self.assertEqual(run["stdout"], "hello\n")
        self.assertEqual(run["stderr"], "")
        self.assertEqual(run["output"], "hello\n")
        self.assertEqual(run["code"], 0)
        self.assertIsNone(run["signal"])
        self.assertIsNone(run["message"])
        self.assertIsNone(run["status"])
        self.assertIsInstance(run["memory"], int)
        self.assertGreater(run["memory"], 0)
        masked = T.mask_measured(r.body)
        self.assertEqual(masked, '{"run":{"signal":null,"stdout":"hello\\n","stderr":"","code":0,'
                                 '"output":"hello\\n","memory":"<M>","message":null,"status":null,'
                                 '"cpu_time":"<M>","wall_time":"<M>"},"language":"sh","version":"1.0.0"}')

    def test_alias_response_language(self):
        r = self.daemon.execute({"language": "fixture-sh", "version": "1", "files": [{"content": "echo x"}]})
        j = self.assertExecOk(r, language="sh", version="1.0.0")
        self.assertEqual(j["run"]["stdout"], "x\n")

    def test_compiled_shape(self):
        r = self.daemon.execute(shc({"content": "echo compiled"}))
        j = self.assertExecOk(r, compiled=True, language="shc", version="1.0.0")
        self.assertEqual(list(j.keys()), ["compile", "run", "language", "version"])
        c = j["compile"]
        self.assertEqual((c["code"], c["status"], c["message"], c["signal"]), (0, None, None, None), c)
        self.assertEqual(j["run"]["stdout"], "compiled\n")
        self.assertEqual(j["run"]["status"], None)

    def test_compile_failure_run_is_copy(self):
        r = self.daemon.execute(shc({"content": "echo before\nif then fi ((\n"}))
        j = self.assertExecOk(r, compiled=True)
        c = j["compile"]
        self.assertNotEqual(c["code"], 0, c)
        self.assertEqual(c["status"], "RE", c)
        self.assertEqual(c["message"], "Exited with error status %d" % c["code"], c)
        self.assertIn("syntax error", c["stderr"], c)
        self.assertEqual(j["run"], c)  # an exact copy, measured values included
        body = r.body.decode()
        cpart = body[len('{"compile":'):body.index(',"run":')]
        rpart = body[body.index(',"run":') + len(',"run":'):body.index(',"language":')]
        self.assertEqual(cpart, rpart)

    def test_compile_then_run_multi_file(self):
        # shc concatenates the code files in request order into prog.sh
        r = self.daemon.execute(shc({"content": "greet() { echo \"hi $1\"; }\n"},
                                    {"name": "two.sh", "content": "greet \"$1\""}, args=["there"]))
        j = self.assertExecOk(r, compiled=True)
        self.assertEqual(j["run"]["stdout"], "hi there\n", j)

    def test_compile_gets_only_code_files(self):
        # base64/hex files are written but not passed to the compile script
        r = self.daemon.execute(shc({"content": "echo main; ls"},
                                    {"name": "blob", "content": T.b64(b"exit 42\n"), "encoding": "base64"}))
        j = self.assertExecOk(r, compiled=True)
        self.assertEqual(j["run"]["code"], 0, j)
        self.assertEqual(j["run"]["stdout"].split("\n")[0], "main", j)
        self.assertIn("blob", j["run"]["stdout"])

    def test_compile_stage_empty_stdin_and_run_stdin(self):
        r = self.daemon.execute(shc({"content": "cat"}, stdin="for run"))
        j = self.assertExecOk(r, compiled=True)
        self.assertEqual(j["run"]["stdout"], "for run\n")

    def test_run_keeps_compile_products_fresh_tmp(self):
        # the work dir carries over from compile to run; the compile script made prog.sh
        r = self.daemon.execute(shc({"content": "ls; ls -A /tmp | wc -l"}))
        j = self.assertExecOk(r, compiled=True)
        lines = j["run"]["stdout"].split("\n")
        self.assertIn("prog.sh", lines, j)
        self.assertEqual(lines[-2], "0", j)

    # -- stdin ------------------------------------------------------------------------------
    def test_stdin_newline_rule(self):
        for stdin, want in [("hello", "hello\n"), ("", "\n"), ("a\n", "a\n"), ("a\n\n", "a\n\n"),
                            ("a\nb", "a\nb\n"), ("h\u00e9llo \u2603", "h\u00e9llo \u2603\n"),
                            ("\n", "\n"), ("x\r", "x\r\n"), (None, "\n")]:
            with self.subTest(stdin=stdin):
                p = sh("cat")
                if stdin is not None:
                    p["stdin"] = stdin
                self.assertRun(self.daemon.execute(p), stdout=want)
        self.assertRun(self.daemon.execute(sh("cat")), stdout="\n")  # absent = ""

    def test_stdin_exact_bytes(self):
        r = self.daemon.execute(sh("od -An -c", stdin="a\tb"))
        self.assertEqual(r.json["run"]["stdout"].split(), ["a", "\\t", "b", "\\n"], r)

    def test_stdin_eof(self):
        r = self.daemon.execute(sh("while read -r l; do echo \"<$l>\"; done; echo eof", stdin="1\n2"))
        self.assertRun(r, stdout="<1>\n<2>\neof\n")

    def test_stdin_not_read(self):
        # a program that never reads a large stdin must not deadlock
        r = self.daemon.execute(sh("echo skip", stdin="z" * 1000000))
        self.assertRun(r, stdout="skip\n")

    def test_large_stdin(self):
        r = self.daemon.execute(sh("wc -c", stdin="z" * 3000000))
        self.assertRun(r, stdout="3000001\n")

    # -- args -------------------------------------------------------------------------------
    def test_args(self):
        args = ["a", "b c", "", "$HOME", "-x", "--", "*", "\u00e9\u2603", "'\"", "a\nb"]
        r = self.daemon.execute(sh('printf "[%s]" "$0" "$@"; echo; echo $#', args=args))
        out = self.assertRun(r)["stdout"]
        want = "".join("[%s]" % a for a in ["file0.code"] + args) + "\n%d\n" % len(args)
        self.assertEqual(out, want)

    def test_no_args(self):
        self.assertRun(self.daemon.execute(sh('echo "$0 $#"')), stdout="file0.code 0\n")
        self.assertRun(self.daemon.execute(sh('echo "$0 $#"', args=[])), stdout="file0.code 0\n")

    # -- files ------------------------------------------------------------------------------
    def test_default_names(self):
        r = self.daemon.execute(shf({"content": "ls -A"}, {"content": "x"}, {"name": "", "content": "y"},
                                    {"name": None, "content": "z"}))
        self.assertRun(r, stdout="file0.code\nfile1.code\nfile2.code\nfile3.code\n")

    def test_only_submitted_files_in_workdir(self):
        r = self.daemon.execute(shf({"name": "main.sh", "content": "ls -A; pwd"}, {"name": "b.txt", "content": ""}))
        self.assertRun(r, stdout="b.txt\nmain.sh\n/box/submission\n")

    def test_subdirectories(self):
        r = self.daemon.execute(shf({"name": "main.sh", "content": "source lib/util.sh; hi; cat a/b/c/d.txt"},
                                    {"name": "lib/util.sh", "content": "hi() { echo hi; }"},
                                    {"name": "a/b/c/d.txt", "content": "deep"},
                                    {"name": "./e.txt", "content": "dot"}))
        self.assertRun(r, stdout="hi\ndeep")
        r = self.daemon.execute(shf({"name": "m.sh", "content": "cat e.txt"}, {"name": "./e.txt", "content": "dot"}))
        self.assertRun(r, stdout="dot")

    def test_file_content_exact(self):
        content = "line1\r\nline2\n\u00e9\u2603\U0001F600\ttab\u0000nul\n"
        r = self.daemon.execute(shf({"name": "m.sh", "content": "sha256sum data.txt; wc -c < data.txt"},
                                    {"name": "data.txt", "content": content}))
        data = content.encode()
        self.assertRun(r, stdout="%s  data.txt\n%d\n" % (T.sha256_hex(data), len(data)))

    def test_empty_content(self):
        r = self.daemon.execute(shf({"name": "m.sh", "content": "wc -c < e"}, {"name": "e", "content": ""}))
        self.assertRun(r, stdout="0\n")
        self.assertRun(self.daemon.execute(sh("")), stdout="")

    def test_base64_hex_byte_exact(self):
        blob = bytes(range(256)) * 3 + b"\0\0\xff"
        r = self.daemon.execute(shf(
            {"name": "m.sh", "content": "sha256sum b64.bin hex.bin hexu.bin url.bin nopad.bin"},
            {"name": "b64.bin", "content": T.b64(blob), "encoding": "base64"},
            {"name": "hex.bin", "content": blob.hex(), "encoding": "hex"},
            {"name": "hexu.bin", "content": blob.hex().upper(), "encoding": "hex"},
            {"name": "url.bin", "content": T.b64(blob).replace("+", "-").replace("/", "_"), "encoding": "base64"},
            {"name": "nopad.bin", "content": T.b64(b"ab").rstrip("="), "encoding": "base64"}))
        h = T.sha256_hex(blob)
        want = "".join("%s  %s\n" % (x, n) for x, n in [(h, "b64.bin"), (h, "hex.bin"), (h, "hexu.bin"),
                                                          (h, "url.bin"), (T.sha256_hex(b"ab"), "nopad.bin")])
        self.assertRun(r, stdout=want)

    def test_base64_whitespace(self):
        enc = T.b64(b"hello world, this is base64")
        spaced = "\n".join(enc[i:i + 8] for i in range(0, len(enc), 8)) + "\n"
        r = self.daemon.execute(shf({"name": "m.sh", "content": "cat x"},
                                    {"name": "x", "content": spaced, "encoding": "base64"}))
        self.assertRun(r, stdout="hello world, this is base64")

    def test_entry_is_first_utf8_file(self):
        r = self.daemon.execute(shf({"name": "d.bin", "content": T.b64(b"echo wrong"), "encoding": "base64"},
                                    {"name": "main.sh", "content": "echo \"main $0\""}))
        self.assertRun(r, stdout="main main.sh\n")

    def test_duplicate_names_later_wins(self):
        r = self.daemon.execute(shf({"name": "a.sh", "content": "echo first"},
                                    {"name": "a.sh", "content": "echo second"}))
        self.assertRun(r, stdout="second\n")
        r = self.daemon.execute(shf({"name": "m.sh", "content": "cat y; ls -A"}, {"name": "y", "content": "1"},
                                    {"name": "y", "content": "2"}))
        self.assertRun(r, stdout="2m.sh\ny\n")
        # files[1]'s default name equals files[2]'s explicit one: the later file wins
        r = self.daemon.execute(shf({"content": "cat file1.code; ls -A"}, {"content": "A"},
                                    {"name": "file1.code", "content": "B"}))
        self.assertRun(r, stdout="Bfile0.code\nfile1.code\n")

    def test_files_owned_and_writable(self):
        r = self.daemon.execute(shf({"name": "m.sh", "content": "echo new > n.txt && cat n.txt; "
                                                                "echo more >> d/x && cat d/x; mkdir -p q && echo ok"},
                                    {"name": "d/x", "content": "orig\n"}))
        self.assertRun(r, stdout="new\norig\nmore\nok\n")

    # -- sandbox environment ----------------------------------------------------------------
    def test_environment_exact(self):
        pkgdir, _ = T.find_package(T.FIXTURE_RUNTIMES, "sh")
        want = T.package_env(pkgdir)
        want["PISTON_LANGUAGE"] = "sh"
        want["HOME"] = "/tmp"
        r = self.daemon.execute(sh("env -0"))
        out = self.assertRun(r)["stdout"]
        got = {}
        for item in out.split("\0"):
            if item:
                k, _, v = item.partition("=")
                got[k] = v
        for k in ("PWD", "OLDPWD", "SHLVL", "_"):  # set by bash itself
            got.pop(k, None)
        self.assertEqual(got, want)
        self.assertNotIn(self.daemon.canary_name, out)
        self.assertNotIn(self.daemon.canary_value, out)

    def test_daemon_env_absent_everywhere(self):
        r = self.daemon.execute(sh("cat /proc/self/environ /proc/1/environ 2>/dev/null | tr '\\0' '\\n'; "
                                   "cat /proc/$PPID/environ 2>/dev/null | tr '\\0' '\\n'"))
        run = self.assertExecOk(r)["run"]
        self.assertNotIn(self.daemon.canary_value, run["stdout"])
        self.assertNotIn("CAPSULE_INSTANCE", run["stdout"])
        self.assertNotIn("PISTON_RUNNER", run["stdout"])

    def test_cwd_home_tmp(self):
        r = self.daemon.execute(sh('pwd; pwd -P; echo "$HOME"; echo x > /tmp/t && cat /tmp/t; '
                                   'echo y > /dev/shm/s && cat /dev/shm/s; echo "$PISTON_LANGUAGE"'))
        self.assertRun(r, stdout="/box/submission\n/box/submission\n/tmp\nx\ny\nsh\n")

    def test_not_root_uid_in_range(self):
        r = self.daemon.execute(sh("id -u; id -g; cat /proc/self/status | grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)'"))
        out = self.assertRun(r)["stdout"].split("\n")
        uid, gid = int(out[0]), int(out[1])
        self.assertTrue(self.daemon.uid_min <= uid <= self.daemon.uid_max, out)
        self.assertTrue(self.daemon.gid_min <= gid <= self.daemon.gid_max, out)
        caps = {l.split(":")[0]: l.split(":")[1].strip() for l in out[2:] if l}
        self.assertEqual(caps.get("CapEff"), "0000000000000000", caps)
        self.assertEqual(caps.get("CapPrm"), "0000000000000000", caps)

    def test_not_pid1_own_pid_namespace(self):
        r = self.daemon.execute(sh("echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l"))
        out = self.assertRun(r)["stdout"].split()
        self.assertNotEqual(out[0], "1")
        self.assertLess(int(out[0]), 100, "program pid %s: not in its own pid namespace?" % out[0])
        self.assertLess(int(out[1]), 10, "processes visible in the box: %s" % out[1])

    def test_fresh_tmp_per_job(self):
        self.assertRun(self.daemon.execute(sh("echo leak > /tmp/leak; echo s > /dev/shm/leak; echo ok")), stdout="ok\n")
        for _ in range(self.daemon.max_jobs + 1):
            r = self.daemon.execute(sh("ls -A /tmp /dev/shm"))
            self.assertRun(r, stdout="/dev/shm:\n\n/tmp:\n")

    def test_no_network(self):
        r = self.daemon.execute(sh("exec 3<>/dev/tcp/127.0.0.1/%d && echo connected || echo refused" % self.daemon.port))
        run = self.assertExecOk(r)["run"]
        self.assertEqual(run["stdout"], "refused\n", run)


if __name__ == "__main__":
    T.run_tests()
