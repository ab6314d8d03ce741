#!/usr/bin/python3
"""Execute request validation (PISTON-API.md 2.3, rows 1-12, limit rules, 4.2 overrides).
Exact 400 texts and the order in which errors are detected. Fixture runtimes only."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

GLOBAL_LIMITS = {  # capsuled defaults (PISTON-API.md 4.1)
    "compile_memory_limit": 1073741824, "run_memory_limit": 536870912,
    "compile_timeout": 10000, "run_timeout": 3000,
    "compile_cpu_time": 10000, "run_cpu_time": 3000,
}
LIMIT_FIELDS = ["compile_memory_limit", "run_memory_limit", "compile_timeout", "run_timeout",
                "compile_cpu_time", "run_cpu_time"]


def sh_limits():
    _, meta = T.find_package(T.FIXTURE_RUNTIMES, "sh")
    out = dict(GLOBAL_LIMITS)
    for k, v in ((meta or {}).get("limit_overrides") or {}).items():
        if k in out and v:
            out[k] = v
    return out


def ok(content="echo ok", **kw):
    p = {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}
    p.update(kw)
    return p


def files(*fs, **kw):
    p = {"language": "sh", "version": "1.0.0", "files": list(fs)}
    p.update(kw)
    return p


class ValidationTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture")
        cls.L = sh_limits()

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def check_table(self, table):
        for i, (payload, message) in enumerate(table):
            with self.subTest(i=i, payload=str(payload)[:200]):
                r = self.daemon.execute(payload)
                if message is None:
                    self.assertExecOk(r)
                    self.assertIsNone(r.json["run"]["status"], r)
                else:
                    self.assertMessage(r, 400, message)

    # -- rows 1-3 ---------------------------------------------------------------------------
    def test_row1_language(self):
        m = "language is required as a string"
        base = {"version": "1.0.0", "files": [{"content": "echo"}]}
        self.check_table([
            ({}, m),
            (base, m),
            (dict(base, language=None), m),
            (dict(base, language=""), m),
            (dict(base, language=0), m),
            (dict(base, language=5), m),
            (dict(base, language=False), m),
            (dict(base, language=True), m),
            (dict(base, language=["sh"]), m),
            (dict(base, language={"x": "sh"}), m),
            ({"version": 1}, m),  # row 1 before row 2
        ])

    def test_row2_version(self):
        m = "version is required as a string"
        base = {"language": "sh", "files": [{"content": "echo"}]}
        self.check_table([
            ({"language": "sh"}, m),
            ({"language": "nope"}, m),  # row 2 before the runtime lookup
            (dict(base, version=None), m),
            (dict(base, version=""), m),
            (dict(base, version=0), m),
            (dict(base, version=1), m),
            (dict(base, version=1.0), m),
            (dict(base, version=False), m),
            (dict(base, version=["*"]), m),
            ({"language": "sh", "files": 5}, m),  # row 2 before row 3
        ])

    def test_row3_files(self):
        m = "files is required as an array"
        base = {"language": "sh", "version": "1.0.0"}
        self.check_table([
            (base, m),
            (dict(base, files=None), m),
            (dict(base, files={}), m),
            (dict(base, files={"0": {"content": "x"}}), m),
            (dict(base, files="echo"), m),
            (dict(base, files=0), m),
            (dict(base, files=True), m),
            ({"language": "nope", "version": "*"}, m),  # before the runtime lookup
        ])

    # -- row 4 ------------------------------------------------------------------------------
    def test_row4_content(self):
        self.check_table([
            (files({}), "files[0].content is required as a string"),
            (files(None), "files[0].content is required as a string"),
            (files(1), "files[0].content is required as a string"),
            (files("echo"), "files[0].content is required as a string"),
            (files([]), "files[0].content is required as a string"),
            (files({"content": None}), "files[0].content is required as a string"),
            (files({"content": 1}), "files[0].content is required as a string"),
            (files({"content": ["a"]}), "files[0].content is required as a string"),
            (files({"name": "a"}), "files[0].content is required as a string"),
            (files({"content": "x"}, {"name": "a"}), "files[1].content is required as a string"),
            (files({"content": "x"}, {"content": "y"}, "str"), "files[2].content is required as a string"),
            (files({"content": "x"}, None, {}), "files[1].content is required as a string"),
            ({"language": "nope", "version": "*", "files": [{}]},
             "files[0].content is required as a string"),  # row 4 before row 5
        ])

    # -- row 5 ------------------------------------------------------------------------------
    def test_row5_unknown_runtime(self):
        f = [{"content": "x"}]
        self.check_table([
            ({"language": "html", "version": "5.0.0", "files": f}, "html-5.0.0 runtime is unknown"),
            ({"language": "cobol", "version": "*", "files": f}, "cobol-* runtime is unknown"),
            ({"language": "sh", "version": "2", "files": f}, "sh-2 runtime is unknown"),
            ({"language": "sh", "version": ">=1.0.1", "files": f}, "sh->=1.0.1 runtime is unknown"),
            ({"language": "sh", "version": "not a range", "files": f}, "sh-not a range runtime is unknown"),
            ({"language": "SH", "version": "*", "files": f}, "SH-* runtime is unknown"),  # case-sensitive
            ({"language": "Fixture-sh", "version": "*", "files": f}, "Fixture-sh-* runtime is unknown"),
            ({"language": " sh", "version": "*", "files": f}, " sh-* runtime is unknown"),
            ({"language": "nope", "version": "*", "files": []}, "nope-* runtime is unknown"),  # 5 before 6
        ])

    def test_row5_ranges_resolve(self):
        for v in ["1.0.0", "*", "1", "1.x", "1.0", "1.0.x", "x", ">=1.0.0", "<2", "^1.0", "~1.0.0",
                  "=1.0.0", "v1.0.0", "0.5 - 1.5", ">0.9 <1.1", "2 || 1", "1.0.0 || 9"]:
            with self.subTest(version=v):
                r = self.daemon.execute({"language": "sh", "version": v, "files": [{"content": "echo ok"}]})
                self.assertRun(r, stdout="ok\n")
                self.assertEqual(r.json["language"], "sh")
                self.assertEqual(r.json["version"], "1.0.0")

    def test_alias_resolves_to_language(self):
        r = self.daemon.execute({"language": "fixture-sh", "version": "*", "files": [{"content": "echo ok"}]})
        self.assertRun(r, stdout="ok\n")
        self.assertEqual(r.json["language"], "sh")  # never the alias

    # -- row 6 ------------------------------------------------------------------------------
    def test_row6_utf8_file(self):
        m = "files must include at least one utf8 encoded file"
        self.check_table([
            (files(), m),
            (files({"content": "aGk=", "encoding": "base64"}), m),
            (files({"content": "6869", "encoding": "hex"}), m),
            (files({"content": "echo", "encoding": "utf-8"}), m),  # raw value looked at
            (files({"content": "echo", "encoding": "UTF8"}), m),
            (files({"content": "echo", "encoding": "ascii"}), m),
            (files({"content": "echo ok", "encoding": ""}), None),
            (files({"content": "echo ok", "encoding": None}), None),
            (files({"content": "echo ok", "encoding": "utf8"}), None),
            (files({"content": "aGk=", "encoding": "base64"}, {"content": "echo ok"}), None),
            (files(run_timeout="x"), m),  # row 6 before row 7
        ])

    def test_other_encoding_treated_as_utf8(self):
        # row 6 passes thanks to the second file; the `utf-8` file is then a utf8 code file and,
        # coming first, the entry file.
        r = self.daemon.execute(files({"name": "a.sh", "content": "echo A; cat b", "encoding": "utf-8"},
                                      {"name": "b", "content": "B"}))
        self.assertRun(r, stdout="A\nB")

    # -- row 7 ------------------------------------------------------------------------------
    def test_row7_not_a_number(self):
        for f in LIMIT_FIELDS:
            for v in ["3000", "1", True, [], [1], {}, {"a": 1}, "-1"]:
                with self.subTest(field=f, value=v):
                    r = self.daemon.execute(ok(**{f: v}))
                    self.assertMessage(r, 400, "If specified, %s must be a number" % f)

    def test_row7_falsy_means_configured(self):
        for f in LIMIT_FIELDS:
            for v in [None, 0, False, "", 0.0]:
                with self.subTest(field=f, value=v):
                    self.assertRun(self.daemon.execute(ok(**{f: v})), stdout="ok\n")

    def test_row7_cannot_exceed(self):
        for f in LIMIT_FIELDS:
            L = self.L[f]
            for v in [L + 1, L + 0.5, L * 100, 10000000000000000000, 1e100]:
                with self.subTest(field=f, value=v):
                    r = self.daemon.execute(ok(**{f: v}))
                    self.assertMessage(r, 400, "%s cannot exceed the configured limit of %d" % (f, L))
            with self.subTest(field=f, value=L):
                self.assertRun(self.daemon.execute(ok(**{f: L})), stdout="ok\n")

    def test_row7_spec_examples(self):
        r = self.daemon.execute(ok(run_timeout=99999))
        self.assertMessage(r, 400, "run_timeout cannot exceed the configured limit of %d" % self.L["run_timeout"])
        self.assertEqual(r.body, b'{"message":"run_timeout cannot exceed the configured limit of 3000"}')

    def test_row7_negative(self):
        for f in ["compile_timeout", "run_timeout", "compile_cpu_time", "run_cpu_time"]:
            for v in [-1, -0.5, -100000]:
                with self.subTest(field=f, value=v):
                    r = self.daemon.execute(ok(**{f: v}))
                    self.assertMessage(r, 400, "%s must be non-negative" % f)
        # negative memory limits mean "use the configured value" (node-piston sends -1)
        for f in ["compile_memory_limit", "run_memory_limit"]:
            for v in [-1, -5, -1.5, -10000000000]:
                with self.subTest(field=f, value=v):
                    self.assertRun(self.daemon.execute(ok(**{f: v})), stdout="ok\n")

    def test_row7_numbers_accepted(self):
        for payload in [ok(run_timeout=3000.0), ok(run_timeout=1e3), ok(run_timeout=2999.5),
                        ok(run_memory_limit=104857600.5), ok(run_memory_limit=1.048576e8),
                        ok(compile_timeout=1, compile_cpu_time=1, compile_memory_limit=1),
                        ok(run_cpu_time=2999.01), ok(run_memory_limit=-1, compile_memory_limit=-1)]:
            with self.subTest(payload=payload):
                self.assertRun(self.daemon.execute(payload), stdout="ok\n")

    def test_row7_fraction_rounded_up(self):
        # 0.1 ms rounds up to 1 ms (not down to 0 = "configured"): the stage times out
        r = self.daemon.execute(ok("sleep 1; echo late", run_timeout=0.1))
        run = self.assertExecOk(r)["run"]
        self.assertEqual(run["status"], "TO", run)
        self.assertEqual(run["message"], "Time limit exceeded (wall clock)", run)
        self.assertEqual(run["stdout"], "", run)

    def test_row7_order(self):
        L = self.L
        self.check_table([
            # memory_limit (compile, run), then timeout (compile, run), then cpu_time
            (ok(run_timeout="x", compile_memory_limit="y"), "If specified, compile_memory_limit must be a number"),
            (ok(run_memory_limit=L["run_memory_limit"] + 1, compile_timeout="x"),
             "run_memory_limit cannot exceed the configured limit of %d" % L["run_memory_limit"]),
            (ok(compile_cpu_time="a", run_timeout=99999),
             "run_timeout cannot exceed the configured limit of %d" % L["run_timeout"]),
            (ok(run_cpu_time=-1, compile_cpu_time=-1), "compile_cpu_time must be non-negative"),
            (ok(run_timeout=-1, compile_memory_limit=-1, run_memory_limit="1"),
             "If specified, run_memory_limit must be a number"),
            (ok(run_cpu_time="x", compile_timeout=-3), "compile_timeout must be non-negative"),
            (ok(run_timeout="x", stdin=5), "If specified, run_timeout must be a number"),  # 7 before 8
        ])

    # -- rows 8, 9 --------------------------------------------------------------------------
    def test_row8_stdin(self):
        m = "stdin must be a string"
        self.check_table([
            (ok(stdin=5), m), (ok(stdin=0), m), (ok(stdin=False), m), (ok(stdin=True), m),
            (ok(stdin=[]), m), (ok(stdin=["a"]), m), (ok(stdin={}), m), (ok(stdin=1.5), m),
            (ok(stdin=None), None), (ok(stdin=""), None), (ok(stdin="x"), None),
            (ok(stdin=5, args=5), m),  # 8 before 9
        ])

    def test_row9_args(self):
        m = "args must be an array of strings"
        self.check_table([
            (ok(args="a"), m), (ok(args=5), m), (ok(args={}), m), (ok(args=True), m),
            (ok(args=[1]), m), (ok(args=["a", None]), m), (ok(args=["a", 1]), m),
            (ok(args=[["a"]]), m), (ok(args=[{}]), m), (ok(args=[True]), m),
            (ok(args=None), None), (ok(args=[]), None), (ok(args=["", "a"]), None),
            (ok(args=5, files=[{"content": "x", "name": "../x"}]), m),  # 9 before 10
        ])

    # -- row 10 -----------------------------------------------------------------------------
    def test_row10_names(self):
        def bad(i):
            return "files[%d].name is not a valid file name" % i
        c = {"content": "echo ok"}
        long_ok = "/".join(["a" * 255, "b" * 255, "c" * 255, "d" * 254, "e"])   # 1024 bytes
        long_bad = "/".join(["a" * 255, "b" * 255, "c" * 255, "d" * 255, "e"])  # 1025 bytes
        self.assertEqual(len(long_ok), 1024)
        self.assertEqual(len(long_bad), 1025)
        self.check_table([
            (files(dict(c, name="../x")), bad(0)),
            (files(dict(c, name="/etc/passwd")), bad(0)),
            (files(dict(c, name="/x")), bad(0)),
            (files(dict(c, name="a\u0000b")), bad(0)),
            (files(dict(c, name="\u0000")), bad(0)),
            (files(dict(c, name="a" * 256)), bad(0)),
            (files(dict(c, name="x/" + "a" * 256)), bad(0)),
            (files(dict(c, name="\u00fc" * 128)), bad(0)),  # 256 bytes, 128 characters
            (files(dict(c, name="a/../b")), bad(0)),
            (files(dict(c, name="..")), bad(0)),
            (files(dict(c, name="x/..")), bad(0)),
            (files(dict(c, name="./../x")), bad(0)),
            (files(dict(c, name=".")), bad(0)),
            (files(dict(c, name="./.")), bad(0)),
            (files(dict(c, name=5)), bad(0)),
            (files(dict(c, name={})), bad(0)),
            (files(dict(c, name=["a"])), bad(0)),
            (files(dict(c, name=long_bad)), bad(0)),
            (files(c, dict(c, name="../x")), bad(1)),
            (files(dict(c, name="a"), dict(c, name="a/b")), bad(1)),   # a file is a directory
            (files(dict(c, name="a/b"), dict(c, name="a")), bad(1)),
            (files(dict(c, name="d/x"), dict(c, name="d/x/y")), bad(1)),
            (files(dict(c, name="ok"), dict(c, name="/abs"), dict(c, name="../x")), bad(1)),
            (files(dict(c, name="a" * 255)), None),
            (files(dict(c, name="\u00fc" * 127)), None),
            (files(dict(c, name=long_ok)), None),
            (files(dict(c, name="./a")), None),
            (files(dict(c, name="...")), None),
            (files(dict(c, name="..a")), None),
            (files(dict(c, name="a b")), None),
            (files(dict(c, name="x/y/z.sh")), None),
            (files(dict(c, name=None)), None),
            (files(dict(c, name="")), None),
            (files(dict(c, name="a"), dict(c, name="a")), None),  # duplicates: later wins
            (files(dict(c, name="../x"), {"content": "!", "encoding": "base64"}), bad(0)),  # 10 before 11
            (files({"content": "!", "encoding": "base64"}, dict(c, name="../x")), bad(1)),
        ])

    # -- row 11 -----------------------------------------------------------------------------
    def test_row11_encodings(self):
        c = {"content": "echo ok"}

        def b(content, enc="base64"):
            return {"name": "blob", "content": content, "encoding": enc}
        self.check_table([
            (files(c, b("!!!!")), "files[1].content is not valid base64"),
            (files(c, b("a")), "files[1].content is not valid base64"),
            (files(c, b("aGk=*")), "files[1].content is not valid base64"),
            (files(c, b("abc", "hex")), "files[1].content is not valid hex"),
            (files(c, b("zz", "hex")), "files[1].content is not valid hex"),
            (files(c, b("0x12", "hex")), "files[1].content is not valid hex"),
            (files(c, b("12 34", "hex")), "files[1].content is not valid hex"),
            (files(b("!!!!"), c), "files[0].content is not valid base64"),
            (files(c, dict(b("aGk="), name="x"), dict(b("zz", "hex"), name="y"), dict(b("!"), name="z")),
             "files[2].content is not valid hex"),
            (files(c, b("aGk=")), None),
            (files(c, b("aGk")), None),          # padding optional
            (files(c, b("aG k=\n")), None),      # whitespace ignored
            (files(c, b("-_8")), None),           # URL-safe alphabet
            (files(c, b("+/8=")), None),
            (files(c, b("")), None),
            (files(c, b("DEADbeef", "hex")), None),
            (files(c, b("", "hex")), None),
        ])

    # -- row 12 -----------------------------------------------------------------------------
    def test_row12_inode_quota(self):
        # 5000 small files under CAPSULE_TMPFS_INODES=4096 (default)
        fs = [{"content": "echo ok"}] + [{"name": "d/f%d" % i, "content": "x"} for i in range(4999)]
        r = self.daemon.execute(files(*fs))
        self.assertMessage(r, 400, "files exceed the sandbox disk quota")
        # row 11 before row 12
        fs2 = fs + [{"name": "bad", "content": "!", "encoding": "base64"}]
        r = self.daemon.execute(files(*fs2))
        self.assertMessage(r, 400, "files[5000].content is not valid base64")
        # a daemon that is fine afterwards
        self.assertRun(self.daemon.execute(ok()), stdout="ok\n")

    def test_row12_many_files_within_quota(self):
        fs = [{"content": "ls d | wc -l"}] + [{"name": "d/f%d" % i, "content": "x"} for i in range(500)]
        self.assertRun(self.daemon.execute(files(*fs)), stdout="500\n")


class SmallTmpfsTest(T.CapsuleTestCase):
    """CAPSULE_TMPFS_SIZE=1 MiB: decoded sizes are checked, each file rounded up to 4 KiB."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={"CAPSULE_TMPFS_SIZE": "1048576"})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_size_quota(self):
        r = self.daemon.execute(files({"content": "echo ok"},
                                      {"name": "big", "content": T.b64(b"\0" * 1100000), "encoding": "base64"}))
        self.assertMessage(r, 400, "files exceed the sandbox disk quota")
        r = self.daemon.execute(files({"content": "echo ok"}, {"name": "big", "content": "a" * 1100000}))
        self.assertMessage(r, 400, "files exceed the sandbox disk quota")

    def test_rounding_to_4k(self):
        # 300 one-byte files take 300 * 4 KiB = 1.2 MiB > 1 MiB
        fs = [{"content": "echo ok"}] + [{"name": "f%d" % i, "content": "x"} for i in range(300)]
        self.assertMessage(self.daemon.execute(files(*fs)), 400, "files exceed the sandbox disk quota")
        fs = [{"content": "ls | wc -l"}] + [{"name": "f%d" % i, "content": "x"} for i in range(100)]
        self.assertRun(self.daemon.execute(files(*fs)), stdout="101\n")

    def test_runtime_enospc_is_program_result(self):
        # a program filling the 1 MiB tmpfs gets ENOSPC, not a 500/XX
        r = self.daemon.execute(ok("head -c 2000000 /dev/zero > big; echo rc=$?; rm -f big"))
        run = self.assertRun(r)
        self.assertEqual(run["stdout"], "rc=1\n", run)
        self.assertIn("No space left on device", run["stderr"], run)


class OverridesTest(T.CapsuleTestCase):
    """PISTON_LIMIT_OVERRIDES and configured limits <= 0 (4.1, 4.2)."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={
            "PISTON_LIMIT_OVERRIDES": '{"sh":{"run_timeout":5000,"run_cpu_time":4000}}',
            "PISTON_COMPILE_TIMEOUT": "0",
            "PISTON_RUN_MEMORY_LIMIT": "-1",
        })

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_override_is_maximum(self):
        self.assertMessage(self.daemon.execute(ok(run_timeout=5001)), 400,
                           "run_timeout cannot exceed the configured limit of 5000")
        self.assertMessage(self.daemon.execute(ok(run_cpu_time=4001)), 400,
                           "run_cpu_time cannot exceed the configured limit of 4000")
        self.assertRun(self.daemon.execute(ok(run_timeout=5000, run_cpu_time=4000)), stdout="ok\n")

    def test_override_is_default(self):
        # default run_timeout is now 5000: a 3.5 s sleep completes
        r = self.daemon.execute(ok("sleep 3.5; echo done"))
        run = self.assertRun(r, stdout="done\n")
        self.assertGreaterEqual(run["wall_time"], 3500)

    def test_unlimited_skips_range_checks(self):
        # configured compile timeout 0 = unlimited: no maximum and no negativity check
        self.assertRun(self.daemon.execute(ok(compile_timeout=99999999)), stdout="ok\n")
        self.assertRun(self.daemon.execute(ok(compile_timeout=-5)), stdout="ok\n")
        self.assertRun(self.daemon.execute(ok(run_memory_limit=10 ** 15)), stdout="ok\n")
        self.assertMessage(self.daemon.execute(ok(compile_timeout="5")), 400,
                           "If specified, compile_timeout must be a number")


if __name__ == "__main__":
    T.run_tests()
