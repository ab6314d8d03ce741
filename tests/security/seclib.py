"""Shared helpers of the security tests (tests/security/test_*.py).

Builds on tests/api/capsule_testlib.py (daemon start/stop with a unique instance and uid range,
HTTP helpers, host inspection). Adds: host canaries, a daemon preset with a large output cap,
one-call submission of C and Python programs with the I1-style checks (200, valid JSON, no XX,
no canary in the answer), key=value parsing of probe output, and host scans.

Standard library only; run with /usr/bin/python3. Every file exits 77 when all its tests were
skipped (not root, toolchain missing).
"""

import hashlib
import os
import re
import stat
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
import capsule_testlib as T  # noqa: E402,F401  (re-exported for the test files)

PROGRAMS = os.path.join(HERE, "programs")
SEC_RUNTIMES = os.path.join(HERE, "packages")  # the `shx` runtime (compile stage runs the source)
MiB = 1 << 20
OUT = 262144  # PISTON_OUTPUT_MAX_SIZE of the security daemons: probes print a lot
# In an emulated guest (the v2vm lane's TCG, time factor 20 and more) compiling a probe can
# take most of the default 10 s compile limit and a Python probe most of the default 3 s run
# limit, some days all of it. Probes that test a limit send their own; the defaults are only
# room for the rest, so there they are widened (the limits themselves are enforced as sent).
EMULATED_ROOM = ({"PISTON_COMPILE_TIMEOUT": "60000", "PISTON_COMPILE_CPU_TIME": "60000",
                  "PISTON_RUN_TIMEOUT": "15000", "PISTON_RUN_CPU_TIME": "15000"}
                 if T.TIME_FACTOR >= 20 else {})

# Host canaries, shared with the hostile battery (same paths, created once, never replaced).
CANARY_FILE = "/etc/engine-canary"
CANARY_SECRET = "/root/engine-secret"
HOST_SCAN_DIRS = ["/tmp", "/var/tmp", "/dev/shm"]
SENSITIVE_HOST_FILES = ["/etc/shadow", "/etc/passwd", "/etc/group", "/etc/hosts", CANARY_FILE,
                        CANARY_SECRET]

C_HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
PY_HELLO = 'print("hello")\n'


def program(name):
    with open(os.path.join(PROGRAMS, name)) as f:
        return f.read()


def slack_ms(ms):
    return T.slack(ms)


# --------------------------------------------------------------------------------------------
# Canaries

class Canaries:
    """/etc/engine-canary (0644), /root/engine-secret (0600), a 0644 file in host /tmp and a
    token in the daemon's environment. `tokens` is every secret string a job must never see."""

    def __init__(self):
        T.create_once(CANARY_FILE, os.urandom(32).hex().encode(), 0o644)
        T.create_once(CANARY_SECRET, os.urandom(32).hex().encode(), 0o600)
        self.env_token = "envcanary" + os.urandom(16).hex()
        self.tmp_token = "tmpcanary" + os.urandom(16).hex()
        self.tmp_path = "/tmp/capsule-sec-canary-%d-%s" % (os.getpid(), os.urandom(4).hex())
        fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, self.tmp_token.encode())
        os.close(fd)
        self.tokens = [self.env_token, self.tmp_token]
        for p in (CANARY_FILE, CANARY_SECRET):
            with open(p) as f:
                self.tokens.append(f.read().strip())
        self.before = host_files_state()

    def remove(self):
        try:
            os.unlink(self.tmp_path)
        except FileNotFoundError:
            pass


def host_files_state(paths=SENSITIVE_HOST_FILES):
    """Content hash, owner, mode and mtime of sensitive host files (None when absent)."""
    st = {}
    for p in paths:
        try:
            s = os.lstat(p)
            with open(p, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            st[p] = (digest, s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode), s.st_mtime_ns,
                     stat.S_IFMT(s.st_mode))
        except FileNotFoundError:
            st[p] = None
    return st


def host_scan(uid_lo, uid_hi, token=None, dirs=HOST_SCAN_DIRS, depth=2):
    """Entries below `dirs` (depth-limited) owned by a uid/gid in [uid_lo, uid_hi] or whose
    name holds `token`."""
    hits = []

    def walk(path, level):
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for e in entries:
            try:
                s = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if uid_lo <= s.st_uid <= uid_hi or uid_lo <= s.st_gid <= uid_hi or \
                    (token and token in e.name):
                hits.append("%s (uid %d)" % (e.path, s.st_uid))
            if level < depth and stat.S_ISDIR(s.st_mode):
                walk(e.path, level + 1)

    for d in dirs:
        walk(d, 1)
    return hits


# --------------------------------------------------------------------------------------------
# Output parsing

def kv(text):
    """key=value lines -> dict (later lines win); other lines are ignored."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k and " " not in k:
            out[k] = v
    return out


def kv_all(text):
    """key=value lines -> list of (key, value) in order."""
    out = []
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k and " " not in k:
            out.append((k, v))
    return out


# --------------------------------------------------------------------------------------------
# Test case base

def have_c():
    return T.have_toolchain("c")


def have_python():
    return T.have_toolchain("python")


class SecTestCase(T.CapsuleTestCase):
    """A daemon per class (real runtimes unless RUNTIMES says otherwise), host canaries, and
    submission helpers that check the I1 basics on every answer."""

    RUNTIMES = "real"
    MAX_JOBS = 2
    ENV = {}
    daemon = None
    canaries = None

    @classmethod
    def setUpClass(cls):
        T.require_root()
        cls.canaries = Canaries()
        env = {"PISTON_OUTPUT_MAX_SIZE": str(OUT)}
        env.update(EMULATED_ROOM)
        env.update(cls.ENV)
        runtimes = SEC_RUNTIMES if cls.RUNTIMES == "security" else cls.RUNTIMES
        cls.daemon = T.Daemon(runtimes=runtimes, env=env, max_jobs=cls.MAX_JOBS,
                              canary_env={"ENGINE_CANARY_ENV": cls.canaries.env_token})
        try:
            cls.daemon.start()
        except BaseException:
            cls.canaries.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.daemon is not None:
                problems = cls.daemon.stop()
                if problems:
                    raise T.DaemonError("; ".join(problems))
                cls.daemon.cleanup()
        finally:
            if cls.canaries is not None:
                after = host_files_state()
                cls.canaries.remove()
                if after != cls.canaries.before:
                    raise AssertionError("host files changed: %r -> %r" % (cls.canaries.before, after))

    # -- helpers ------------------------------------------------------------------------------
    def need(self, *langs):
        for lang in langs:
            if lang == "shx":
                continue
            T.require_toolchain(lang)

    @property
    def tokens(self):
        return self.canaries.tokens + [self.daemon.canary_value]

    def assertNoSecrets(self, r, what=""):
        body = r.body.decode("utf-8", "replace")
        for tok in self.tokens:
            self.assertNotIn(tok, body, "%s: a host secret reached the job's output" % what)

    def submit(self, payload, status=200, what="", timeout=120.0):
        r = self.daemon.execute(payload, timeout=timeout)
        self.assertEqual(r.status, status, "%s: %r" % (what, r))
        self.assertIsNone(r.json_error, r)
        if status == 200:
            for s in ("compile", "run"):
                if s in r.json:
                    self.assertStage(r.json[s], "%s %s" % (what, s))
        self.assertNoSecrets(r, what)
        return r

    def payload(self, lang, src, name=None, args=None, stdin=None, files=None, **limits):
        default = {"c": "main.c", "c++": "main.cpp", "python": "main.py", "shx": "main.sh",
                   "javascript": "main.js", "java": "Main.java"}[lang]
        p = {"language": lang, "version": "*",
             "files": [{"name": name or default, "content": src}] + list(files or [])}
        if args is not None:
            p["args"] = list(args)
        if stdin is not None:
            p["stdin"] = stdin
        p.update(limits)
        return p

    def run_job(self, lang, src, what="", compiled_ok=True, **kw):
        """Submits a program; returns the parsed answer. For compiled languages asserts the
        compile stage succeeded unless compiled_ok is False."""
        extra = {k: kw.pop(k) for k in list(kw) if k in ("status", "timeout")}
        r = self.submit(self.payload(lang, src, **kw), what=what or lang, **extra)
        j = r.json
        if compiled_ok and "compile" in j:
            c = j["compile"]
            self.assertTrue(c["code"] == 0 and c["status"] is None,
                            "%s: compile failed: %s %s %s" % (what, c["status"], c["message"],
                                                              c["stderr"][:3000]))
        return j

    def run_ok(self, lang, src, what="", **kw):
        """Runs a probe that must exit 0; returns its run stage."""
        j = self.run_job(lang, src, what=what, **kw)
        run = j["run"]
        self.assertTrue(run["code"] == 0 and run["status"] is None,
                        "%s: probe did not exit 0: status=%s code=%s signal=%s message=%s\n"
                        "stdout=%s\nstderr=%s" % (what, run["status"], run["code"], run["signal"],
                                                  run["message"], run["stdout"][-3000:],
                                                  run["stderr"][-3000:]))
        return run

    def no_leftovers(self, grace_ms=300):
        """No process under the daemon's uid range and no stage cgroup left."""
        d = self.daemon
        deadline = time.monotonic() + slack_ms(grace_ms) / 1000.0
        while True:
            procs = T.procs_in_uid_range(d.uid_min, d.uid_max, d.gid_min, d.gid_max)
            cgs = d.stage_leftovers()
            if (not procs and not cgs) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(procs, [], "processes under the sandbox uid range after the response")
        self.assertEqual(cgs, [], "box cgroups left after the response")

    def hello_ok(self, langs=("c", "python")):
        """The daemon still serves correct hellos."""
        for lang in langs:
            if not T.have_toolchain(lang):
                continue
            src = C_HELLO if lang == "c" else PY_HELLO
            run = self.run_ok(lang, src, what="hello %s" % lang)
            self.assertEqual(run["stdout"], "hello\n")


def errno_ok(value, allowed):
    """value is an errno name printed by a probe; allowed: iterable of names."""
    return value in allowed


DENIED = {"EPERM", "EACCES", "ENOSYS", "EROFS", "ENOENT"}


def run_tests():
    T.run_tests("__main__")


def skip_unless(cond, why):
    return unittest.skipUnless(cond, why)


def wait_for(pred, timeout_s, step=0.01):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def box_processes(uid_lo, uid_hi):
    """Host pids of processes whose real uid is in [uid_lo, uid_hi]."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/status" % pid) as f:
                m = re.search(r"^Uid:\s+(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m and uid_lo <= int(m.group(1)) <= uid_hi:
            out.append(int(pid))
    return out
