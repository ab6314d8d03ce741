#!/usr/bin/python3
"""Security property 5, clean environment and descriptors: a program's environment is exactly
the package environment + PISTON_LANGUAGE + HOME=/tmp (plus what bash itself exports when it
runs the package's script: PWD, SHLVL, _ and OLDPWD), nothing of the daemon's; only fds 0, 1
and 2 are open (stdin a memfd, stdout/stderr pipes); default signal dispositions and an empty
mask (C); a session of its own without a terminal. C (envfds.c), Python, and the compile stage
(the shx runtime, whose compile stage runs the source)."""

import os

import seclib as S
from seclib import T

# Variables bash exports by itself when it runs the package's run or compile script.
BASH_OWN = {"PWD", "SHLVL", "_", "OLDPWD"}

PY_PROBE = r'''
import os
with open("/proc/self/environ", "rb") as f:  # the block execve received (before Python's
    for e in f.read().split(b"\0"):          # own PEP 538 LC_CTYPE coercion)
        if e:
            print("env=" + e.decode())
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print("fcntlfds=" + ",".join(str(fd) for fd in range(4096) if is_open(fd)))
listing = os.listdir("/proc/self/fd")  # the directory's own fd is closed again by now
print("procfds=" + ",".join(sorted((x for x in listing if int(x) < 3 or is_open(int(x))), key=int)))
for fd in range(3):
    print("fd%d=%s" % (fd, os.readlink("/proc/self/fd/%d" % fd)))
print("session_leader=%d" % (os.getsid(0) == os.getpid()))
try:
    os.open("/dev/tty", os.O_RDWR)
    print("tty=opened")
except OSError as e:
    import errno
    print("tty=" + errno.errorcode[e.errno])
print("cwd=" + os.getcwd())
'''


def expected_env(package, language):
    d, _ = T.find_package(T.REAL_RUNTIMES if package != "shx" else S.SEC_RUNTIMES, package)
    env = T.package_env(d)
    env.pop("HOME", None)
    env["PISTON_LANGUAGE"] = language
    env["HOME"] = "/tmp"
    return env


class CleanEnvFds(S.SecTestCase):

    def check(self, out, package, language, what, c_program=True):
        res = S.kv(out)
        env = {}
        for k, v in S.kv_all(out):
            if k == "env":
                name, _, val = v.partition("=")
                self.assertNotIn(name, env, "%s: %s twice in the environment" % (what, name))
                env[name] = val
        want = expected_env(package, language)
        got = {k: v for k, v in env.items() if k not in BASH_OWN}
        self.assertEqual(got, want, "%s: environment is not exactly package env + "
                                    "PISTON_LANGUAGE + HOME=/tmp" % what)
        for tok in self.tokens:
            self.assertNotIn(tok, out, what)
        self.assertEqual(res["fcntlfds"], "0,1,2", "%s: descriptors beyond 0-2 are open" % what)
        self.assertEqual(res["procfds"], "0,1,2", "%s: /proc/self/fd lists more than 0-2" % what)
        self.assertTrue(res["fd0"].startswith("/memfd:capsule-stdin"), "%s: stdin %s" % (what, res["fd0"]))
        self.assertTrue(res["fd1"].startswith("pipe:"), what)
        self.assertTrue(res["fd2"].startswith("pipe:"), what)
        self.assertEqual(res["session_leader"], "1", what)
        self.assertIn(res["tty"], ("ENXIO", "ENOENT"), what)
        self.assertEqual(res["cwd"], "/box/submission", what)
        if c_program:
            self.assertEqual(res["SigBlk"], "0000000000000000", "%s: signals blocked" % what)
            self.assertEqual(res["SigIgn"], "0000000000000000", "%s: signals ignored" % what)

    def test_c_run_stage(self):
        self.need("c")
        run = self.run_ok("c", S.program("envfds.c"), what="envfds.c")
        self.check(run["stdout"], "gcc", "c", "c run stage")

    def test_python_run_stage(self):
        self.need("python")
        run = self.run_ok("python", PY_PROBE, what="python env probe")
        self.check(run["stdout"], "python", "python", "python run stage", c_program=False)


class CompileStageEnvFds(CleanEnvFds):
    """The compile stage gets the same treatment (shx: the compile stage builds envfds.c with
    the host's gcc inside the box and execs it)."""
    RUNTIMES = "security"

    test_c_run_stage = None
    test_python_run_stage = None

    def test_compile_stage(self):
        if not os.access("/usr/bin/gcc", os.X_OK):
            self.skipTest("gcc missing")
        src = ('case "$1" in\ncompile) /usr/bin/gcc -std=c11 -o /tmp/envfds envfds.c && '
               'exec /tmp/envfds ;;\nrun) if [ -e /tmp/envfds ]; then echo kept; else echo reset; fi ;;\nesac\n')
        j = self.run_job("shx", src, what="shx env probe",
                         files=[{"name": "envfds.c", "content": S.program("envfds.c")}])
        self.check(j["compile"]["stdout"], "shx", "shx", "compile stage")
        self.assertEqual(j["run"]["stdout"], "reset\n", "/tmp was not reset between stages")


if __name__ == "__main__":
    S.run_tests()
