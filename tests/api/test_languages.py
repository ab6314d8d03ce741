#!/usr/bin/python3
"""The bundled runtimes (PISTON-API.md 5.1-5.5) against the host's Debian toolchains:
/runtimes listing, version ranges and aliases, hello/stdin/args, compile errors, runtime
errors, signals, timeouts, multi-file programs, Java source launching, the spec's examples
(measured values masked). Each language skips when its toolchain is missing."""

import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402


def toolchain_versions():
    v = {}
    if T.have_toolchain("python"):
        v["python"] = subprocess.run(["/usr/bin/python3", "-I", "-c",
                                      "import platform; print(platform.python_version())"],
                                     stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    if T.have_toolchain("javascript"):
        out = subprocess.run(["/usr/bin/node", "--version"], stdout=subprocess.PIPE,
                             check=True).stdout.decode().strip()
        v["javascript"] = out.lstrip("v")
    if T.have_toolchain("java"):
        out = subprocess.run(["/usr/bin/java", "-XX:-UsePerfData", "-version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT).stdout.decode()
        m = re.search(r'"(\d+)(?:\.(\d+))?(?:\.(\d+))?', out)
        v["java"] = "%s.%s.%s" % (m.group(1), m.group(2) or "0", m.group(3) or "0")
    if T.have_toolchain("c"):
        out = subprocess.run(["/usr/bin/gcc", "-dumpfullversion"], stdout=subprocess.PIPE,
                             check=True).stdout.decode().strip()
        v["c"] = v["c++"] = out
    if T.have_toolchain("sqlite3"):
        out = subprocess.run(["/usr/bin/sqlite3", "--version"], stdout=subprocess.PIPE,
                             check=True).stdout.decode()
        v["sqlite3"] = out.split()[0]
    return v


VERSIONS = toolchain_versions()


def expected_runtimes():
    out = []
    if "c" in VERSIONS:
        out.append({"language": "c", "version": VERSIONS["c"], "aliases": ["gcc"], "runtime": "gcc"})
        out.append({"language": "c++", "version": VERSIONS["c"], "aliases": ["cpp", "g++"], "runtime": "gcc"})
    if "java" in VERSIONS:
        out.append({"language": "java", "version": VERSIONS["java"], "aliases": []})
    if "javascript" in VERSIONS:
        out.append({"language": "javascript", "version": VERSIONS["javascript"],
                    "aliases": ["node-javascript", "node-js", "javascript", "js"], "runtime": "node"})
    if "python" in VERSIONS:
        minor = VERSIONS["python"].split(".")[1]
        out.append({"language": "python", "version": VERSIONS["python"],
                    "aliases": ["py", "py3", "python3", "python3.%s" % minor]})
    if "sqlite3" in VERSIONS:
        out.append({"language": "sqlite3", "version": VERSIONS["sqlite3"], "aliases": ["sqlite", "sql"]})
    return out


def req(lang, *files, **kw):
    p = {"language": lang, "version": "*", "files": list(files)}
    p.update(kw)
    return p


def f(content, name=None):
    d = {"content": content}
    if name is not None:
        d["name"] = name
    return d


_DAEMON = []


def setUpModule():
    T.require_root()
    if not VERSIONS:
        raise T.unittest.SkipTest("no toolchain installed")
    cwd = os.getcwd()
    # A JVM start takes about a second here, several on a loaded CI host: Java gets room so a
    # busy neighbour cannot turn a hello into a timeout. Other languages keep the defaults
    # (the spec examples quote them).
    env = {"PISTON_LIMIT_OVERRIDES": '{"java":{"run_timeout":15000,"run_cpu_time":15000}}'}
    _DAEMON.append(T.Daemon(runtimes="real", env=env,
                            workdir=cwd if os.access(cwd, os.W_OK) else None).start())


def tearDownModule():
    if _DAEMON:
        problems = _DAEMON.pop().stop()
        if problems:
            raise T.DaemonError("; ".join(problems))


class LanguagesBase(T.CapsuleTestCase):
    """All classes share the module's daemon (real runtimes, 4 slots)."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = _DAEMON[0]

    def need(self, lang):
        if lang not in VERSIONS:
            self.skipTest("toolchain for %s missing" % lang)

    def ex(self, payload):
        return self.daemon.execute(payload)


class RuntimesListTest(LanguagesBase):
    def test_runtimes_list(self):
        r = self.daemon.get("/api/v2/runtimes")
        self.assertJsonResponse(r, 200)
        self.assertEqual(r.json, expected_runtimes())
        self.assertEqual(r.body, T.dumps_compact(expected_runtimes()))

    def test_versions_resolve(self):
        for lang, ver in sorted(VERSIONS.items()):
            major, minor, _ = ver.split(".", 2)
            for rng in ["*", major, major + ".x", major + "." + minor, ver, ">=" + major, "^" + ver,
                        "~" + major + "." + minor, "x"]:
                with self.subTest(lang=lang, range=rng):
                    r = self.ex(req(lang, f(HELLO[lang]), version=rng))
                    j = self.assertExecOk(r, compiled=lang in ("c", "c++"), language=lang, version=ver)
                    self.assertEqual(j["run"]["stdout"], "hello\n", j)
            with self.subTest(lang=lang, range="too high"):
                rng = str(int(major) + 1)
                self.assertMessage(self.ex(req(lang, f(HELLO[lang]), version=rng)), 400,
                                   "%s-%s runtime is unknown" % (lang, rng))

    def test_aliases(self):
        cases = [("py", "python"), ("py3", "python"), ("python3", "python"), ("gcc", "c"),
                 ("cpp", "c++"), ("g++", "c++"), ("js", "javascript"), ("node-js", "javascript"),
                 ("node-javascript", "javascript"), ("sqlite", "sqlite3"), ("sql", "sqlite3")]
        if "python" in VERSIONS:
            cases.append(("python3." + VERSIONS["python"].split(".")[1], "python"))
        for alias, lang in cases:
            if lang not in VERSIONS:
                continue
            with self.subTest(alias=alias):
                r = self.ex(req(alias, f(HELLO[lang])))
                j = self.assertExecOk(r, compiled=lang in ("c", "c++"), language=lang, version=VERSIONS[lang])
                self.assertEqual(j["run"]["stdout"], "hello\n")

    def test_unknown_names(self):
        for name in ["node", "Python", "C", "gcc-c", "nodejs", "java17", "python2"]:
            with self.subTest(name=name):
                self.assertMessage(self.ex(req(name, f("x"))), 400, "%s-* runtime is unknown" % name)


HELLO = {
    "python": 'print("hello")',
    "javascript": 'console.log("hello")',
    "java": 'public class Main { public static void main(String[] a) { System.out.println("hello"); } }',
    "c": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }',
    "c++": '#include <iostream>\nint main() { std::cout << "hello" << std::endl; return 0; }',
    "sqlite3": "SELECT 'hello';",
}


class PythonTest(LanguagesBase):
    def setUp(self):
        self.need("python")

    def test_hello_no_compile_key(self):
        j = self.assertExecOk(self.ex(req("python", f(HELLO["python"]))), language="python",
                              version=VERSIONS["python"])
        self.assertNotIn("compile", j)
        self.assertEqual((j["run"]["stdout"], j["run"]["code"]), ("hello\n", 0))

    def test_spec_example_1(self):
        if not VERSIONS["python"].startswith("3."):
            self.skipTest("python is not 3.x")
        r = self.ex({"language": "py", "version": "3.x",
                     "files": [{"name": "main.py", "content": "import sys\nprint(sys.argv[1:], input())"}],
                     "stdin": "hello", "args": ["a", "b"]})
        self.assertJsonResponse(r, 200)
        want = ('{"run":{"signal":null,"stdout":"[\'a\', \'b\'] hello\\n","stderr":"","code":0,'
                '"output":"[\'a\', \'b\'] hello\\n","memory":8790016,"message":null,"status":null,'
                '"cpu_time":18,"wall_time":24},"language":"python","version":"3.11.2"}')
        self.assertEqual(T.mask_measured(r.body, VERSIONS["python"]), T.mask_measured(want, "3.11.2"))

    def test_spec_example_4_cpu_timeout(self):
        r = self.ex({"language": "python", "version": "*", "files": [{"content": "while True: pass"}],
                     "run_cpu_time": 2000})
        T.skip_if_starved(self, r.json["run"] if r.status == 200 else {}, 2000)
        want = ('{"run":{"signal":"SIGKILL","stdout":"","stderr":"","code":null,"output":"","memory":7340032,'
                '"message":"Time limit exceeded","status":"TO","cpu_time":2002,"wall_time":2011},'
                '"language":"python","version":"3.11.2"}')
        self.assertEqual(T.mask_measured(r.body, VERSIONS["python"]), T.mask_measured(want, "3.11.2"))
        run = r.json["run"]
        self.assertGreaterEqual(run["cpu_time"], 2000)
        self.assertLessEqual(run["cpu_time"], 2000 + T.slack(250))

    def test_spec_example_5(self):
        r = self.ex({"language": "cobol", "version": "*", "files": [{"content": "x"}]})
        self.assertEqual((r.status, r.body), (400, b'{"message":"cobol-* runtime is unknown"}'))
        r = self.ex({"language": "python", "version": "*", "files": [{"content": "1"}], "run_timeout": 99999})
        self.assertEqual((r.status, r.body),
                         (400, b'{"message":"run_timeout cannot exceed the configured limit of 3000"}'))

    def test_stdin_args(self):
        r = self.ex(req("python", f("import sys\nprint(sys.argv)\nprint(sys.stdin.read(), end='')"),
                        stdin="line1\nline2", args=["x", "y z"]))
        self.assertRun(r, stdout="['file0.code', 'x', 'y z']\nline1\nline2\n")

    def test_runtime_error_traceback(self):
        run = self.assertExecOk(self.ex(req("python", f("import sys\nprint('x')\nraise ValueError('boom')"))))["run"]
        self.assertEqual((run["status"], run["code"], run["message"]), ("RE", 1, "Exited with error status 1"))
        self.assertIn('File "/box/submission/file0.code", line 3', run["stderr"])
        self.assertIn("ValueError: boom", run["stderr"])
        self.assertEqual(run["stdout"], "x\n")

    def test_exit_code(self):
        run = self.assertExecOk(self.ex(req("python", f("import sys; sys.exit(3)"))))["run"]
        self.assertEqual((run["status"], run["code"], run["message"]), ("RE", 3, "Exited with error status 3"))

    def test_self_signal(self):
        run = self.assertExecOk(self.ex(req("python", f("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))))["run"]
        self.assertEqual((run["status"], run["signal"], run["code"]), ("SG", "SIGTERM", None), run)
        self.assertEqual(run["message"], "Caught fatal signal 15")

    def test_wall_timeout(self):
        run = self.assertExecOk(self.ex(req("python", f("import time\nprint('a', flush=True)\ntime.sleep(10)"),
                                            run_timeout=1000)))["run"]
        self.assertEqual((run["status"], run["message"], run["signal"]),
                         ("TO", "Time limit exceeded (wall clock)", "SIGKILL"), run)
        self.assertEqual(run["stdout"], "a\n")

    def test_multi_file_import(self):
        r = self.ex(req("python", f("import helper\nfrom pkg import mod\nprint(helper.twice(21), mod.X)", "main.py"),
                        f("def twice(x):\n    return 2 * x\n", "helper.py"),
                        f("", "pkg/__init__.py"), f("X = 'sub'", "pkg/mod.py")))
        self.assertRun(r, stdout="42 sub\n")

    def test_unicode(self):
        r = self.ex(req("python", f("print('h\u00e9llo \u2603 \u4e2d\u6587 \U0001F600'); print(input())"),
                        stdin="\u00fcml\u00e4ut"))
        self.assertRun(r, stdout="h\u00e9llo \u2603 \u4e2d\u6587 \U0001F600\n\u00fcml\u00e4ut\n")


class CTest(LanguagesBase):
    def setUp(self):
        self.need("c")

    def test_hello(self):
        j = self.assertExecOk(self.ex(req("c", f(HELLO["c"]))), compiled=True, language="c", version=VERSIONS["c"])
        self.assertEqual((j["compile"]["code"], j["compile"]["status"]), (0, None))
        self.assertEqual(j["run"]["stdout"], "hello\n")
        # accounting is per stage: the run does not inherit the compiler's memory
        self.assertLess(j["run"]["memory"], 32 * T.MiB, j)

    def test_spec_example_2_compile_error(self):
        r = self.ex({"language": "c", "version": "*", "files": [{"content": "int main(void){return x;}"}]})
        j = self.assertExecOk(r, compiled=True, language="c", version=VERSIONS["c"])
        c = j["compile"]
        self.assertEqual((c["code"], c["status"], c["message"], c["signal"]),
                         (1, "RE", "Exited with error status 1", None), c)
        self.assertEqual(c["stdout"], "")
        self.assertIn("file0.code.c", c["stderr"])
        self.assertIn("'x' undeclared", c["stderr"])
        if VERSIONS["c"].startswith("12."):
            self.assertTrue(c["stderr"].startswith(
                "file0.code.c: In function 'main':\nfile0.code.c:1:23: error: 'x' undeclared (first use in this function)\n"), c)
        self.assertEqual(c["output"], c["stderr"])
        self.assertEqual(j["run"], c)

    def test_spec_example_3_segfault(self):
        major = VERSIONS["c"].split(".")[0]
        r = self.ex({"language": "gcc", "version": major,
                     "files": [{"name": "main.c", "content": "int main(void){*(volatile int*)0=0;return 0;}"}]})
        want = ('{"compile":{"signal":null,"stdout":"","stderr":"","code":0,"output":"","memory":23068672,'
                '"message":null,"status":null,"cpu_time":38,"wall_time":44},"run":{"signal":"SIGSEGV",'
                '"stdout":"","stderr":"","code":null,"output":"","memory":1048576,"message":"Caught fatal signal 11",'
                '"status":"SG","cpu_time":1,"wall_time":2},"language":"c","version":"12.2.0"}')
        self.assertEqual(T.mask_measured(r.body, VERSIONS["c"]), T.mask_measured(want, "12.2.0"))

    def test_compile_error_names_main_c(self):
        j = self.assertExecOk(self.ex(req("c", f("int main(void){ return y; }", "main.c"))), compiled=True)
        self.assertIn("main.c.c", j["compile"]["stderr"])
        self.assertEqual(j["run"], j["compile"])

    def test_exit_code_stdin_args(self):
        src = ('#include <stdio.h>\nint main(int argc, char **argv) { char b[64] = {0};\n'
               'if (!fgets(b, sizeof b, stdin)) return 9;\nprintf("%s|%d|%s|%s\\n", b, argc, argv[1], argv[2]);\nreturn 5; }')
        run = self.assertExecOk(self.ex(req("c", f(src), stdin="in", args=["a1", "a 2"])), compiled=True)["run"]
        self.assertEqual((run["status"], run["code"]), ("RE", 5), run)
        self.assertEqual(run["stdout"], "in\n|3|a1|a 2\n")

    def test_libm(self):
        src = '#include <math.h>\n#include <stdio.h>\nint main(void){ volatile double x = 2.0; printf("%.3f\\n", sqrt(x)); return 0; }'
        self.assertRun(self.ex(req("c", f(src))), stdout="1.414\n", compiled=True)

    def test_multi_file_header(self):
        r = self.ex(req("c", f('#include <stdio.h>\n#include "util.h"\nint main(void){ printf("%d\\n", twice(21)); return 0; }', "main.c"),
                        f("#ifndef UTIL_H\n#define UTIL_H\nint twice(int x);\n#endif\n", "util.h"),
                        f('#include "util.h"\nint twice(int x) { return 2 * x; }\n', "util.c")))
        self.assertRun(r, stdout="42\n", compiled=True)

    def test_abort_signal(self):
        run = self.assertExecOk(self.ex(req("c", f("#include <stdlib.h>\nint main(void){ abort(); }"))), compiled=True)["run"]
        self.assertEqual((run["status"], run["signal"], run["code"], run["message"]),
                         ("SG", "SIGABRT", None, "Caught fatal signal 6"), run)

    def test_cpu_timeout(self):
        run = self.assertExecOk(self.ex(req("c", f("int main(void){ for(;;); }"), run_cpu_time=1000)), compiled=True)["run"]
        T.skip_if_starved(self, run, 1000)
        self.assertEqual((run["status"], run["message"], run["signal"]), ("TO", "Time limit exceeded", "SIGKILL"), run)
        self.assertGreaterEqual(run["cpu_time"], 1000)

    def test_repeat_identical(self):
        src = '#include <stdio.h>\nint main(void){ int c; long n = 0; while ((c = getchar()) != EOF) n++; printf("%ld\\n", n); return 0; }'
        for stdin, want in [("abc", "4\n"), ("", "1\n"), ("abcdef\n", "7\n")]:
            self.assertRun(self.ex(req("c", f(src), stdin=stdin)), stdout=want, compiled=True)

    def test_compile_limits_apply(self):
        j = self.assertExecOk(self.ex(req("c", f(HELLO["c"]), compile_timeout=1)), compiled=True)
        self.assertEqual(j["compile"]["status"], "TO", j)
        self.assertEqual(j["run"], j["compile"])


class CppTest(LanguagesBase):
    def setUp(self):
        self.need("c++")

    def test_hello(self):
        j = self.assertExecOk(self.ex(req("c++", f(HELLO["c++"]))), compiled=True, language="c++")
        self.assertEqual(j["run"]["stdout"], "hello\n")

    def test_multi_file_hpp(self):
        r = self.ex(req("cpp", f('#include <iostream>\n#include "helper.hpp"\nint main(){ std::cout << greet("x") << "\\n"; }', "main.cpp"),
                        f("#pragma once\n#include <string>\nstd::string greet(const std::string &s);\n", "helper.hpp"),
                        f('#include "helper.hpp"\nstd::string greet(const std::string &s) { return "hi " + s; }\n', "helper.cpp")))
        self.assertRun(r, stdout="hi x\n", compiled=True)

    def test_cpp17_and_compile_error(self):
        src = '#include <iostream>\n#include <optional>\nint main(){ std::optional<int> o = 3; if (auto v = o; v) std::cout << *v << "\\n"; }'
        self.assertRun(self.ex(req("g++", f(src))), stdout="3\n", compiled=True)
        j = self.assertExecOk(self.ex(req("c++", f("int main() { undeclared(); }"))), compiled=True)
        self.assertEqual((j["compile"]["status"], j["compile"]["code"]), ("RE", 1))
        self.assertIn("file0.code.cpp", j["compile"]["stderr"])
        self.assertEqual(j["run"], j["compile"])

    def test_exception_abort(self):
        run = self.assertExecOk(self.ex(req("c++", f('#include <stdexcept>\nint main(){ throw std::runtime_error("x"); }'))),
                                compiled=True)["run"]
        self.assertEqual((run["status"], run["signal"]), ("SG", "SIGABRT"), run)
        self.assertIn("runtime_error", run["stderr"])


class JavaTest(LanguagesBase):
    def setUp(self):
        self.need("java")

    def test_hello_no_compile_key(self):
        j = self.assertExecOk(self.ex(req("java", f(HELLO["java"]))), language="java", version=VERSIONS["java"])
        self.assertNotIn("compile", j)
        self.assertEqual((j["run"]["stdout"], j["run"]["stderr"], j["run"]["code"]), ("hello\n", "", 0))

    def test_class_name_need_not_match(self):
        src = 'public class Whatever { public static void main(String[] a) { System.out.println("w " + a.length); } }'
        for name in [None, "Main.java", "Other.java", "x"]:
            with self.subTest(name=name):
                self.assertRun(self.ex(req("java", f(src, name), args=["1", "2"])), stdout="w 2\n")

    def test_non_ascii_output(self):
        src = 'public class Main { public static void main(String[] a) { System.out.println("h\u00e9llo w\u00f6rld \u2603 \u4e2d\u6587"); } }'
        self.assertRun(self.ex(req("java", f(src))), stdout="h\u00e9llo w\u00f6rld \u2603 \u4e2d\u6587\n", stderr="")

    def test_compile_error(self):
        j = self.assertExecOk(self.ex(req("java", f("public class Main { public static void main(String[] a) { int x = ; } }"))))
        self.assertNotIn("compile", j)
        run = j["run"]
        self.assertEqual((run["status"], run["code"]), ("RE", 1), run)
        self.assertIn("error: compilation failed", run["stderr"])

    def test_helper_class_first(self):
        src = "class Helper { }\npublic class Main { public static void main(String[] a) { } }"
        run = self.assertExecOk(self.ex(req("java", f(src))))["run"]
        self.assertEqual(run["status"], "RE", run)
        self.assertIn("can't find main(String[]) method in class", run["stderr"])

    def test_stdin_exception_exit(self):
        src = ('import java.util.Scanner;\npublic class Main { public static void main(String[] a) {\n'
               'Scanner s = new Scanner(System.in); System.out.println(s.nextLine().toUpperCase());\n'
               'if (a.length > 0) System.exit(Integer.parseInt(a[0])); throw new IllegalStateException("boom"); } }')
        run = self.assertExecOk(self.ex(req("java", f(src), stdin="abc", args=["6"])))["run"]
        self.assertEqual((run["status"], run["code"], run["stdout"]), ("RE", 6, "ABC\n"), run)
        run = self.assertExecOk(self.ex(req("java", f(src), stdin="abc")))["run"]
        self.assertEqual((run["status"], run["code"]), ("RE", 1), run)
        self.assertIn("IllegalStateException: boom", run["stderr"])

    def test_no_picked_up_notice(self):
        run = self.assertExecOk(self.ex(req("java", f(HELLO["java"]))))["run"]
        self.assertNotIn("Picked up", run["stderr"])


class JavaScriptTest(LanguagesBase):
    def setUp(self):
        self.need("javascript")

    def test_hello(self):
        j = self.assertExecOk(self.ex(req("js", f(HELLO["javascript"]))), language="javascript",
                              version=VERSIONS["javascript"])
        self.assertNotIn("compile", j)
        self.assertEqual(j["run"]["stdout"], "hello\n")

    def test_stdin_args(self):
        src = "const d = require('fs').readFileSync(0, 'utf8');\nconsole.log(JSON.stringify(process.argv.slice(2)), d.toUpperCase());"
        self.assertRun(self.ex(req("node-js", f(src), stdin="abc", args=["1", "2 3"])), stdout='["1","2 3"] ABC\n\n')

    def test_error_exit(self):
        run = self.assertExecOk(self.ex(req("javascript", f("throw new Error('boom')"))))["run"]
        self.assertEqual((run["status"], run["code"]), ("RE", 1), run)
        self.assertIn("Error: boom", run["stderr"])
        self.assertIn("/box/submission/file0.code", run["stderr"])
        run = self.assertExecOk(self.ex(req("javascript", f("process.exit(4)"))))["run"]
        self.assertEqual((run["status"], run["code"]), ("RE", 4), run)

    def test_node_is_not_a_language(self):
        self.assertMessage(self.ex(req("node", f("1"))), 400, "node-* runtime is unknown")

    def test_multi_file_require(self):
        r = self.ex(req("javascript", f("const h = require('./lib/h.js'); console.log(h.x)", "main.js"),
                        f("module.exports = { x: 42 };", "lib/h.js")))
        self.assertRun(r, stdout="42\n")


class SqliteTest(LanguagesBase):
    """The sqlite3 package: the file, then stdin, into the sqlite3 shell against a fresh
    in-memory database; args as the rows of Piston's argv table; no -bail."""

    def setUp(self):
        self.need("sqlite3")

    def test_hello_no_compile_key(self):
        j = self.assertExecOk(self.ex(req("sqlite3", f("SELECT 'OK';\n", "test.sql"))),
                              language="sqlite3", version=VERSIONS["sqlite3"])
        self.assertNotIn("compile", j)
        self.assertEqual((j["run"]["stdout"], j["run"]["stderr"]), ("OK\n", ""), j)

    def test_output_as_the_shell_prints_it(self):
        src = "CREATE TABLE t(a, b);\nINSERT INTO t VALUES (1, 'x'), (2, NULL);\nSELECT * FROM t;\n"
        self.assertRun(self.ex(req("sql", f(src))), stdout="1|x\n2|\n", stderr="")
        src2 = ".headers on\n.mode csv\n" + src
        self.assertRun(self.ex(req("sql", f(src2))), stdout="a,b\r\n1,x\r\n2,\r\n")
        src3 = ".mode box\nSELECT 1 AS n;\n"
        self.assertRun(self.ex(req("sql", f(src3))),
                       stdout="\u250c\u2500\u2500\u2500\u2510\n\u2502 n \u2502\n"
                              "\u251c\u2500\u2500\u2500\u2524\n\u2502 1 \u2502\n"
                              "\u2514\u2500\u2500\u2500\u2518\n")

    def test_stdin_is_further_input(self):
        src = "CREATE TABLE t(x);\n.mode csv"  # no newline at the end: it must not run into stdin
        r = self.ex(req("sqlite3", f(src), stdin="INSERT INTO t VALUES (7), (8);\nSELECT x, x * 2 FROM t;\n"))
        self.assertRun(r, stdout="7,14\r\n8,16\r\n", stderr="")

    def test_args_are_the_argv_table(self):
        r = self.ex(req("sqlite", f("SELECT rowid, arg FROM argv;\n"), args=["a", "it's", 'x"y', "1); DROP TABLE argv; --"]))
        self.assertRun(r, stdout="1|a\n2|it's\n3|x\"y\n4|1); DROP TABLE argv; --\n", stderr="")
        self.assertRun(self.ex(req("sqlite3", f(".tables\nSELECT count(*) FROM argv;\n"))), stdout="argv\n0\n")

    def test_errors_do_not_stop_the_script(self):
        src = "SELECT 1;\nCREATE TABLE t(x);\nSELECT * FROM nope;\nSELECT 2;\n"
        run = self.assertRun(self.ex(req("sqlite3", f(src))), stdout="1\n2\n", code=1, status="RE",
                             stderr="Parse error near line 3: no such table: nope\n")
        self.assertEqual(run["message"], "Exited with error status 1")
        # .bail on in the script: the shell stops at the first error, as users expect
        run = self.assertRun(self.ex(req("sqlite3", f(".bail on\n" + src))), stdout="1\n", code=1,
                             status="RE")

    def test_fresh_database_per_job(self):
        self.assertRun(self.ex(req("sqlite3", f("CREATE TABLE kept(x);\n.open kept.db\nCREATE TABLE k(x);\n"))),
                       stdout="", stderr="")
        # neither the table nor the file of the job before is there
        self.assertRun(self.ex(req("sqlite3", f(".tables\n.open --readonly kept.db\n.tables\n"))),
                       stdout="argv\n",
                       stderr='Error: unable to open database "kept.db": unable to open database file\n')

    def test_wall_timeout(self):
        src = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\n"
        run = self.assertExecOk(self.ex(req("sqlite3", f(src), run_timeout=500)))["run"]
        self.assertEqual((run["status"], run["signal"]), ("TO", "SIGKILL"), run)


if __name__ == "__main__":
    T.run_tests()
