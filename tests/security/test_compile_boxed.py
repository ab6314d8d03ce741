#!/usr/bin/python3
"""Security property 9, the compile stage is just as boxed: #include of host secrets finds
nothing; #include "/dev/zero" (cc1 reads forever) and a C++ template bomb end with a compile
verdict bounded by the compile limits (TO, or SG on the memory limit; never XX or a 500) and
the daemon is fine afterwards; megabytes of warnings are cut by the output cap (EL on
compile). A compile stage that runs code (the shx runtime) meets the same walls as a run
stage: no host file, no network, no write outside the box (fsprobe.py run from the compile
stage)."""

import os

import seclib as S
from seclib import T

LIMITS = {"compile_timeout": 3000, "compile_cpu_time": 3000,
          "compile_memory_limit": 256 * S.MiB}

TEMPLATE_BOMB = r'''
// Each level doubles the type; printing it in the error below needs 2^40 nodes.
template<class A, class B> struct P {};
template<int N, class T> struct X { typedef typename X<N - 1, P<T, T> >::type type; };
template<class T> struct X<0, T> { typedef T type; };
int main() { X<40, int>::type x = 1; return 0; }
'''


class CompileBoxed(S.SecTestCase):

    def bounded_compile(self, lang, src, what, statuses=("TO", "SG")):
        r = self.submit(self.payload(lang, src, **LIMITS), what=what)
        c = r.json["compile"]
        # TO, SG (cc1 is exec'd by the gcc driver: the driver itself may be the one killed),
        # or the driver's RE when only its child cc1 hit the memory limit
        child_oom = c["status"] == "RE" and c["message"] == "Memory limit exceeded (child process)"
        self.assertTrue(c["status"] in statuses or child_oom, "%s: compile verdict %s" % (what, c))
        self.assertEqual(r.json["run"], c, "%s: run must be a copy of the failed compile" % what)
        if c["status"] == "TO":
            self.assertLessEqual(c["wall_time"], 3000 + S.slack_ms(300), c)
        if c["status"] == "SG" and c["signal"] == "SIGKILL" and c["message"] == "Memory limit exceeded":
            self.assertLessEqual(c["memory"], LIMITS["compile_memory_limit"] * 1.05, c)
        self.assertLess(r.elapsed, (3000 + S.slack_ms(1500)) / 1000.0, "%s: slow answer" % what)
        T.log("  %s: %s %s cpu=%d wall=%d mem=%s" % (what, c["status"], c["message"], c["cpu_time"],
                                                    c["wall_time"], c["memory"]))
        self.no_leftovers()
        return c

    def test_c_include_host_files(self):
        self.need("c")
        for path in (S.CANARY_FILE, S.CANARY_SECRET, "/etc/shadow", self.canaries.tmp_path,
                     "/root/.bashrc", "/proc/1/environ"):
            j = self.run_job("c", '#include "%s"\nint main(void){return 0;}\n' % path,
                             what="include %s" % path, compiled_ok=False)
            c = j["compile"]
            self.assertEqual((c["status"], c["code"]), ("RE", 1), c)
            self.assertTrue("No such file or directory" in c["stderr"] or
                            "Permission denied" in c["stderr"], c)

    def test_c_include_dev_zero(self):
        self.need("c")
        self.bounded_compile("c", '#include "/dev/zero"\nint main(void){return 0;}\n',
                             "include /dev/zero")
        self.hello_ok(("c",))

    def test_cpp_template_bomb(self):
        self.need("c++")
        self.bounded_compile("c++", TEMPLATE_BOMB, "template bomb")
        self.hello_ok(("c",))

    def test_c_warning_flood(self):
        self.need("c")
        src = "".join("#warning capsule warning %d\n" % i for i in range(20000))
        src += "int main(void){return 0;}\n"
        r = self.submit(self.payload("c", src, **LIMITS), what="warning flood")
        c = r.json["compile"]
        self.assertEqual((c["status"], c["signal"], c["code"], c["message"]),
                         ("EL", "SIGKILL", None, "stderr length exceeded"), c)
        self.assertLessEqual(len(c["stderr"].encode()), S.OUT, c["message"])
        self.assertGreater(len(c["stderr"].encode()), S.OUT - 4096)
        self.assertEqual(r.json["run"], c)
        self.no_leftovers()
        self.hello_ok(("c",))


class CodeRunningCompileStage(S.SecTestCase):
    """The shx compile stage runs fsprobe.py: the same denials as in a run stage."""
    RUNTIMES = "security"

    def test_compile_stage_walls(self):
        if not os.access("/usr/bin/python3", os.X_OK):
            self.skipTest("python3 missing")
        ops = ["read:%s" % p for p in (S.CANARY_FILE, S.CANARY_SECRET, self.canaries.tmp_path,
                                       "/etc/shadow", "/proc/1/environ")]
        ops += ["lstat:%s" % p for p in ("/root", "/home", "/var", "/run", "/sys")]
        ops += ["writenew:%s/capsule-sec-x" % d for d in ("/", "/etc", "/usr", "/usr/bin")]
        ops += ["tcp:1.1.1.1:53", "tcp:127.0.0.1:%d" % self.daemon.port, "pids:",
                "env:ENGINE_CANARY_ENV", "writenew:/tmp/ok", "writenew:/box/submission/ok"]
        # the compile script passes only "compile": the ops travel in a file
        src = ('case "$1" in\ncompile) exec /usr/bin/python3 fsprobe.py $(cat ops) ;;\n'
               'run) echo run ;;\nesac\n')
        j = self.run_job("shx", src, what="compile-stage probe",
                         files=[{"name": "fsprobe.py", "content": S.program("fsprobe.py")},
                                {"name": "ops", "content": " ".join(ops)}])
        res = S.kv(j["compile"]["stdout"])
        for op in ops[:4]:
            self.assertEqual(res[op], "ENOENT", "compile stage: %s" % op)
        self.assertIn(res[ops[4]], ("EACCES", "EPERM", "ENOENT"), "compile stage: %s" % ops[4])
        for op in ops[5:10]:
            self.assertEqual(res[op], "ENOENT", "compile stage: %s" % op)
        for op in ops[10:14]:
            self.assertIn(res[op], S.DENIED, "compile stage: %s" % op)
        self.assertEqual(res["tcp:1.1.1.1:53"], "ENETUNREACH")
        self.assertEqual(res["tcp:127.0.0.1:%d" % self.daemon.port], "ENETUNREACH")
        self.assertLessEqual(set(res["pids"].split(",")), {"1", res["self"]},
                             "compile stage sees foreign pids")
        self.assertEqual(res["env:ENGINE_CANARY_ENV"], "(unset)")
        self.assertEqual(res["writenew:/tmp/ok"], "ok")
        self.assertEqual(res["writenew:/box/submission/ok"], "ok")
        self.assertEqual(j["run"]["stdout"], "run\n")


if __name__ == "__main__":
    S.run_tests()
