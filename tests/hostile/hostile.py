#!/usr/bin/python3
"""Hostile-program battery (HOSTILE.md) against a live capsuled.

    /usr/bin/python3 hostile.py H05              # one case, one copy
    /usr/bin/python3 hostile.py H05 --concurrent 8   # I6: eight copies at once
    /usr/bin/python3 hostile.py --list           # case names (x8 marks I6 reruns)

Each run starts its own daemon with the harness configuration of HOSTILE.md (OUT 65536, NPROC
64, NOFILE 256, FSIZE 10,000,000, tmpfs 64 MiB / 4096 inodes, real runtimes), host canaries
and ENGINE_CANARY_ENV in its environment, warms it up, measures its resources, submits the
case's program(s), checks the expected safe outcome, then the invariants:
  I1 200 + valid JSON, response by limit + 1.5 s, no XX anywhere;
  I2 no process under the sandbox uid/gid range, no stage cgroup left but the one of a slot's
     warm box, box cgroups empty, and every slot starts the next job with an empty /tmp,
     /dev/shm and work dir;
  I3 canaries unchanged, nothing new in the canary dir, nothing of the slot uids in host /tmp,
     /var/tmp or /dev/shm, and a job cannot read the canaries or the daemon's environment;
  I4 hello world correct in each installed language, run wall < 500 ms (Java < 1500 ms);
  I5 daemon RSS and threads within 10 % of the baseline, fds within 2;
and finally that SIGTERM stops the daemon with status 0 leaving nothing behind.
Exit status: 0 pass, 1 fail, 77 skipped (not root, or a needed toolchain is missing).

Time windows are safety bounds widened by TIME_FACTOR (1.3, or 3 with CAPSULE_SANITIZED=1,
or CAPSULE_TIME_FACTOR), doubled for concurrent copies; limits themselves are never relaxed.
"""

import argparse
import hashlib
import json
import os
import stat
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "api"))
import capsule_testlib as T  # noqa: E402

MiB = 1 << 20
# The invariant probes (warm-up, slots-clean, leak probe, I4 hellos) are not cases: a JVM
# hello takes about a second, and on a slow host (sanitizers, or the v2vm lane's emulated
# guest where python3 starts in 0.7 s) every language may, so on a loaded host they must not
# hit the 3 s default. They get room through a per-language override; every case still sends
# HOSTILE's 3000 ms.
PROBE_LIMITS = {"run_timeout": 15000, "run_cpu_time": 15000}
PROBE_LANGS = set(T.LANGS) if T.TIME_FACTOR >= 3 else {"java"}
# An emulated guest (the v2vm lane's TCG, where the measured time factor is 20 and more): a
# probe's g++ compile alone can pass the default 10 s there, so probes get compile room too.
EMULATED = T.TIME_FACTOR >= 20
if EMULATED:
    PROBE_LIMITS.update({"compile_timeout": 60000, "compile_cpu_time": 60000})
HARNESS_ENV = {
    "PISTON_LIMIT_OVERRIDES": json.dumps({lang: PROBE_LIMITS for lang in sorted(PROBE_LANGS)}),
    "PISTON_OUTPUT_MAX_SIZE": "65536",
    "PISTON_MAX_PROCESS_COUNT": "64",
    "PISTON_MAX_OPEN_FILES": "256",
    "PISTON_MAX_FILE_SIZE": "10000000",
    "CAPSULE_TMPFS_SIZE": "67108864",
    "CAPSULE_TMPFS_INODES": "4096",
}
def probe_limits(lang):
    return PROBE_LIMITS if lang in PROBE_LANGS else {}


REQUEST_LIMITS = {
    "run_timeout": 3000,
    "run_cpu_time": 3000,
    "run_memory_limit": 268435456,
    "compile_timeout": 10000,
    "compile_memory_limit": 536870912,
}
OUT = 65536
NPROC = 64
NOFILE = 256
FSIZE = 10000000
MEM = 268435456

EXT_LANG = {".c": "c", ".cpp": "c++", ".py": "python", ".js": "javascript", ".java": "java"}
LANG_EXT = {v: k for k, v in EXT_LANG.items()}
SUFFIX = {"c": "c", "c++": "cpp", "python": "py", "javascript": "js", "java": "java"}
FILE_NAME = {"c": "main.c", "c++": "main.cpp", "python": "main.py", "javascript": "main.js",
             "java": "Main.java"}

HELLO = {
    "c": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    "c++": '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n',
    "python": 'print("hello")\n',
    "javascript": 'console.log("hello");\n',
    "java": 'public class Main { public static void main(String[] a) { System.out.println("hello"); } }\n',
}
HELLO_WALL_MS = {"java": 1500}

CANARY_FILE = "/etc/engine-canary"
CANARY_SECRET = "/root/engine-secret"
CANARY_DIR = "/var/tmp/engine-canary-dir"
HOST_TMP_DIRS = ["/tmp", "/var/tmp", "/dev/shm"]


def program(name):
    with open(os.path.join(T.PROGRAMS_DIR, name)) as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# Host canaries (shared by parallel tests: created once if absent, never replaced or removed)

def ensure_canaries():
    token = os.urandom(32).hex().encode()
    T.create_once(CANARY_FILE, token, 0o644)
    T.create_once(CANARY_SECRET, os.urandom(32).hex().encode(), 0o600)
    os.makedirs(CANARY_DIR, exist_ok=True)
    with open(CANARY_FILE, "rb") as f:
        return f.read().decode().strip()


def canary_state():
    st = {}
    for p in (CANARY_FILE, CANARY_SECRET):
        s = os.lstat(p)
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        st[p] = (digest, s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode), s.st_mtime_ns, stat.S_IFMT(s.st_mode))
    s = os.lstat(CANARY_DIR)
    st[CANARY_DIR] = (sorted(os.listdir(CANARY_DIR)), s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode), s.st_mtime_ns)
    return st


def secret_tokens():
    out = []
    for p in (CANARY_FILE, CANARY_SECRET):
        with open(p, "rb") as f:
            out.append(f.read().decode().strip())
    return out


# ---------------------------------------------------------------------------------------------
# Harness

class Harness:
    def __init__(self, case, concurrent, daemon_env):
        self.case = case
        self.concurrent = concurrent
        self.F = T.TIME_FACTOR * (2 if concurrent > 1 else 1)
        self.failures = []
        self.lock = threading.Lock()
        self.token = ensure_canaries()
        self.canary_env_value = os.urandom(16).hex()
        env = dict(HARNESS_ENV)
        env.update(daemon_env or {})
        self.daemon = T.Daemon(runtimes="real", env=env, max_jobs=max(4, concurrent),
                               canary_env={"ENGINE_CANARY_ENV": self.canary_env_value},
                               workdir=os.getcwd() if os.access(os.getcwd(), os.W_OK) else None)
        self.langs = [l for l in T.LANGS if T.have_toolchain(l)]
        self.t_start = time.time()

    # -- reporting ----------------------------------------------------------------------------
    def fail(self, msg, resp=None):
        text = msg
        if resp is not None:
            text += "\n    response: %s" % summarize(resp)
        with self.lock:
            self.failures.append(text)
        T.log("FAIL: " + text)

    def check(self, cond, msg, resp=None):
        if not cond:
            self.fail(msg, resp)
        return bool(cond)

    def slack(self, ms):
        return ms * self.F * T.load_factor()

    def cpu_starved(self, run, what):
        """With concurrent copies on few cores a memory hog may reach its wall limit before the
        memory limit: TO is then still a safe outcome (the copies compete for CPU). So it is in
        an emulated guest (the v2vm lane's TCG), where a hog allocating at a hundredth of the
        native speed, or the kernel's reclaim at the cap, outlasts the 3 s wall limit; the
        caller has checked the cap."""
        if run["status"] != "TO" or run["signal"] != "SIGKILL":
            return False
        if self.concurrent > 1:
            T.log("note: %s timed out under %d concurrent copies (tolerated: CPU share)" % (what, self.concurrent))
            return True
        if EMULATED:
            T.log("note: %s timed out in an emulated guest (time factor %.0f; tolerated: the cap "
                  "held, memory %r)" % (what, T.TIME_FACTOR, run.get("memory")))
            return True
        return False

    def hog_wall_max(self):
        """A memory hog's wall time bound (its wall limit is 3 s). Under concurrent copies the
        hogs share the cores and end near the limit: an OOM kill just before it is answered
        after it, since the wall time runs until the box has reported, past the teardown of a
        256 MiB process on a loaded core (seen at 3000 and 3007 ms with the suite's other
        tests alongside). A timeout there is cpu_starved()'s case."""
        return 3000 if self.concurrent == 1 else 3500

    # -- requests -----------------------------------------------------------------------------
    def payload(self, lang, source, name=None, **kw):
        p = {"language": lang, "version": "*",
             "files": [{"name": name or FILE_NAME[lang], "content": source}]}
        p.update(REQUEST_LIMITS)
        p.update(kw)
        return p

    def submit(self, payload, what, statuses=(200,), timeout=120.0):
        """POST /api/v2/execute with the I1 checks; returns Resp (json may be None)."""
        try:
            r = self.daemon.execute(payload, timeout=timeout)
        except Exception as e:  # noqa: BLE001
            self.fail("%s: request failed: %r" % (what, e))
            return None
        ok = self.check(r.status in statuses, "%s: HTTP %s (want %s)" % (what, r.status, statuses), r)
        ok &= self.check(r.json_error is None and r.json is not None, "%s: invalid JSON: %s" % (what, r.json_error), r)
        ok &= self.check(r.header("content-type") == T.JSON_CT, "%s: content-type %r" % (what, r.header("content-type")))
        if not ok or r.status != 200:
            return r
        j = r.json
        stages = [s for s in ("compile", "run") if isinstance(j.get(s), dict)]
        self.check("run" in stages, "%s: no run stage" % what, r)
        for s in stages:
            st = j[s]
            self.check(list(st.keys()) == T.STAGE_KEYS, "%s: %s keys %s" % (what, s, list(st.keys())), r)
            self.check(st.get("status") != "XX", "%s: %s status XX (%s)" % (what, s, st.get("message")), r)
        compile_wall = j["compile"]["wall_time"] if "compile" in stages else 0
        limit = payload.get("run_timeout") or 3000
        deadline = (compile_wall + limit + self.slack(1500)) / 1000.0
        self.check(r.elapsed <= deadline, "%s: response after %.2f s (limit + 1.5 s = %.2f s)" % (what, r.elapsed, deadline), r)
        return r

    def run_program(self, lang, source, what, **kw):
        """Submits one program; returns its run stage (dict) or None. Checks compile success."""
        r = self.submit(self.payload(lang, source, **kw), what)
        if r is None or r.status != 200 or not r.json:
            return None
        j = r.json
        run = j.get("run") or {}
        T.log("  %s: run %s" % (what, {k: run.get(k) for k in ("status", "signal", "code", "message", "cpu_time",
                                                                  "wall_time", "memory")}))
        if "compile" in j and lang in ("c", "c++"):
            c = j["compile"]
            if not self.check(c["code"] == 0 and c["status"] is None, "%s: compile failed: %s %s" % (what, c["status"], c["stderr"][:2000])):
                return None
        return j["run"]

    # -- invariants ---------------------------------------------------------------------------
    def check_i2(self, grace_ms=100, in_case=False):
        if in_case and self.concurrent > 1:
            return True  # other copies still run: the harness checks once all are done
        d = self.daemon
        deadline = time.monotonic() + self.slack(grace_ms) / 1000.0
        while True:
            procs = T.procs_in_uid_range(d.uid_min, d.uid_max, d.gid_min, d.gid_max)
            cgs = d.stage_leftovers()
            if not procs and not cgs:
                return True
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.check(not procs, "I2: processes under the sandbox uids after the response: %s" % procs[:10])
        self.check(not cgs, "I2: box cgroups not cleaned after the response: %s" % cgs[:10])
        return False

    def slots_clean(self):
        """I2: every slot's next job sees an empty /tmp, /dev/shm and work dir (N concurrent
        jobs hold all N slots at once)."""
        lang = "python" if "python" in self.langs else ("c" if "c" in self.langs else None)
        if lang is None:
            return
        if lang == "python":
            src = ("import os, time\nprint(sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')),"
                   " sorted(os.listdir('.')))\ntime.sleep(0.3)\n")
            want = "[] [] ['main.py']\n"
        else:
            src = ('#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\nint main(void){ fflush(stdout);'
                   ' system("ls -A /tmp /dev/shm; ls -A"); sleep(1); return 0; }\n')
            want = "/dev/shm:\n\n/tmp:\na.out\nmain.c.c\n"
        n = self.daemon.max_jobs
        runs = T.parallel([lambda: self.run_program(lang, src, "slots-clean", **probe_limits(lang))] * n)
        for run in runs:
            if run is not None:
                self.check(run["stdout"] == want and run["status"] is None,
                           "I2: a slot's next job does not start clean: %r %r %s %s" % (
                               run["stdout"][:500], run["stderr"][:500], run["status"], run["message"]))

    def check_i3(self, before):
        try:
            after = canary_state()
        except OSError as e:
            self.fail("I3: canary unreadable: %r" % e)
            return
        for k in before:
            self.check(before[k] == after.get(k), "I3: canary %s changed: %s -> %s" % (k, before[k], after.get(k)))
        d = self.daemon
        for top in HOST_TMP_DIRS:
            try:
                entries = list(os.scandir(top))
            except OSError:
                continue
            for e in entries:
                try:
                    s = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                owned = d.uid_min <= s.st_uid <= d.uid_max or d.gid_min <= s.st_gid <= d.gid_max
                self.check(not owned, "I3: host %s has %s owned by sandbox uid %d" % (top, e.path, s.st_uid))
                self.check(d.instance not in e.name, "I3: host %s has %s (instance name)" % (top, e.path))
        self.leak_probe()

    def leak_probe(self):
        """A job must not see the canaries nor the daemon's environment."""
        if "python" not in self.langs:
            return
        src = ("import os\nfor p in %r:\n    try:\n        print(p, open(p).read())\n"
               "    except Exception as e:\n        print(p, type(e).__name__)\n"
               "for pid in os.listdir('/proc'):\n    try:\n        print(open('/proc/%%s/environ' %% pid, 'rb').read())\n"
               "    except Exception:\n        pass\nprint(dict(os.environ))\n"
               % [CANARY_FILE, CANARY_SECRET, CANARY_DIR + "/x"])
        run = self.run_program("python", src, "leak-probe", **probe_limits("python"))
        if run is None:
            return
        out = run["stdout"] + run["stderr"]
        for tok in secret_tokens() + [self.canary_env_value, self.daemon.canary_value]:
            self.check(tok not in out, "I3: a job can read a host secret or the daemon's environment: %s" % out[:1000])

    def check_i4(self):
        for lang in self.langs:
            # the hello must be correct; its speed is judged by the wall bound below (scaled
            # for load), not by a 3 s kill that a starved JVM can reach on a busy CI host
            run = self.run_program(lang, HELLO[lang], "I4 hello %s" % lang, **probe_limits(lang))
            if run is None:
                continue
            self.check(run["stdout"] == "hello\n" and run["code"] == 0 and run["status"] is None,
                       "I4: %s hello wrong: %r %r %s" % (lang, run["stdout"], run["stderr"][:500], run["status"]))
            limit = HELLO_WALL_MS.get(lang, 500)
            self.check(run["wall_time"] < self.slack(limit),
                       "I4: %s hello run wall %d ms (bound %d ms x %.1f x load %.1f)"
                       % (lang, run["wall_time"], limit, self.F, T.load_factor()))

    def warm_up(self):
        """One hello per language, then every slot busy at once (each slot worker's buffers
        and malloc arena exist before the baseline is taken)."""
        for lang in self.langs:
            self.run_program(lang, HELLO[lang], "warm-up %s" % lang, **probe_limits(lang))
        # every slot at once, twice: each worker's stack and buffers are touched before the
        # baseline (slots a case happens to use first would otherwise read as growth)
        lang = "c" if "c" in self.langs else self.langs[0]
        for _ in range(2):
            threads = [threading.Thread(target=self.run_program, args=(lang, HELLO[lang], "warm-up slots"))
                       for _ in range(self.daemon.max_jobs)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.slots_clean()
        time.sleep(0.3)
        return self.daemon.resources()

    def check_i5(self, base):
        deadline = time.monotonic() + 3.0
        while True:
            cur = self.daemon.resources()
            # 10 % of a 5 MiB daemon is half a MiB: allocator noise from eight concurrent
            # connections can reach that without any leak, so the floor is 1 MiB (a leak
            # still shows: it grows case after case)
            rss_ok = cur["rss_kb"] <= max(base["rss_kb"] * 1.10, base["rss_kb"] + 1024)
            # fds of the slots' warm boxes come and go with them: compare the rest
            fds_ok = abs(cur["fds_base"] - base["fds_base"]) <= 2
            thr_ok = abs(cur["threads"] - base["threads"]) <= max(1, base["threads"] // 10)
            if (rss_ok and fds_ok and thr_ok) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        T.log("I5: daemon RSS %d KiB (baseline %d), fds %d (%d), threads %d (%d)" % (
            cur["rss_kb"], base["rss_kb"], cur["fds_base"], base["fds_base"], cur["threads"], base["threads"]))
        self.check(rss_ok, "I5: daemon RSS %d KiB vs baseline %d KiB (+10%% or 1 MiB allowed)" % (cur["rss_kb"], base["rss_kb"]))
        self.check(fds_ok, "I5: daemon fds %d vs baseline %d (+-2) besides warm boxes (%d, %d)" % (
            cur["fds_base"], base["fds_base"], cur["boxes"], base["boxes"]))
        self.check(thr_ok, "I5: daemon threads %d vs baseline %d" % (cur["threads"], base["threads"]))

    # -- cgroup sampling (H01) ----------------------------------------------------------------
    def sample_pids(self):
        return PidsSampler(self.daemon)


class PidsSampler:
    """Samples pids.current of every cgroup under <instance>/boxes while a request runs."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.max_limited = 0   # max pids.current among cgroups with a pids.max limit
        self.max_any = 0
        self.limits = set()
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join(5)
        return False

    def _run(self):
        while not self._stop.is_set():
            for d in self.daemon.box_cgroups():
                cur = T.read_int_file(os.path.join(d, "pids.current"))
                if cur is None:
                    continue
                self.samples += 1
                lim = T.read_int_file(os.path.join(d, "pids.max"))
                self.max_any = max(self.max_any, cur)
                if lim is not None:
                    self.limits.add(lim)
                    self.max_limited = max(self.max_limited, cur)
            if not self.daemon.cgroup_roots():
                self.daemon.cgroup_roots(refresh=True)
            self._stop.wait(0.005)


def summarize(r):
    if r is None:
        return "None"
    if r.json and isinstance(r.json, dict):
        j = dict(r.json)
        for s in ("compile", "run"):
            if isinstance(j.get(s), dict):
                st = dict(j[s])
                for k in ("stdout", "stderr", "output"):
                    if isinstance(st.get(k), str) and len(st[k]) > 300:
                        st[k] = st[k][:300] + "...(%d chars)" % len(st[k])
                j[s] = st
        return "HTTP %d %s" % (r.status, json.dumps(j, ensure_ascii=True)[:3000])
    return "HTTP %d %r" % (r.status, r.body[:500])


# ---------------------------------------------------------------------------------------------
# Cases. Each takes (h, lang) and uses h.check; it may be run in several threads at once (I6).

def h01(h, lang):
    with h.sample_pids() as s:
        run = h.run_program("c", program("h01-forkbomb.c"), "H01")
    if run is None:
        return
    h.check(run["status"] == "TO" and run["signal"] == "SIGKILL", "H01: want TO/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
    h.check(run["wall_time"] <= 3000 + h.slack(300), "H01: wall %d > 3300 ms" % run["wall_time"])
    h.check(s.samples > 0 and s.limits, "H01: could not sample pids.current/pids.max of the job cgroup under %s (roots %s)"
            % (h.daemon.instance, h.daemon.cgroup_roots()))
    h.check(not s.limits or max(s.limits) <= NPROC, "H01: pids.max %s above %d" % (sorted(s.limits), NPROC))
    h.check(s.max_limited <= NPROC, "H01: task count reached %d (> %d)" % (s.max_limited, NPROC))
    h.check(s.max_any <= NPROC + 2, "H01: box cgroup task count reached %d" % s.max_any)
    h.check_i2(grace_ms=100, in_case=True)


def h02(h, lang):
    result = {}

    def bomb():
        result["run"] = h.run_program("python", program("h02-fork.py"), "H02 fork bomb")
    t = threading.Thread(target=bomb)
    t.start()
    time.sleep(0.5)
    hello = h.run_program("python", HELLO["python"], "H02 concurrent hello")
    t.join(60)
    run = result.get("run")
    if run is not None:
        h.check(run["status"] == "TO" and run["signal"] == "SIGKILL", "H02: want TO/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
        h.check(run["wall_time"] <= 3000 + h.slack(300), "H02: wall %d > 3300 ms" % run["wall_time"])
    if hello is not None:
        h.check(hello["stdout"] == "hello\n" and hello["status"] is None, "H02: concurrent hello wrong: %r" % hello)
        h.check(hello["wall_time"] < h.slack(500), "H02: concurrent hello wall %d ms" % hello["wall_time"])


def h03(h, lang):
    run = h.run_program("c", program("h03-threads.c"), "H03")
    if run is None:
        return
    h.check(run["status"] is None and run["code"] == 0, "H03: want code 0, got %s %s" % (run["status"], run["code"]))
    h.check(run["stderr"] == "", "H03: stderr not empty: %r" % run["stderr"][:500])
    try:
        n = int(run["stdout"].strip())
    except ValueError:
        h.fail("H03: no count printed: %r" % run["stdout"][:200])
        return
    h.check(1 <= n <= NPROC, "H03: %d threads created (max %d)" % (n, NPROC))


def h04(h, lang):
    run = h.run_program("java", program("h04-threads.java"), "H04")
    if run is None:
        return
    h.check((run["status"] == "RE" and run["code"] == 1) or (run["status"] is None and run["code"] == 0),
            "H04: want RE code 1 or code 0, got %s %s: %s" % (run["status"], run["code"], run["stderr"][:1000]))
    # the JVM prints its own thread warnings ([warning][os,thread]) to stdout: the count is the
    # last line
    lines = [l for l in run["stdout"].splitlines() if l.strip()]
    try:
        n = int(lines[-1])
    except (ValueError, IndexError):
        h.fail("H04: no count printed (did the JVM start under NPROC=64?): stdout %r stderr %r"
               % (run["stdout"][-500:], run["stderr"][:1000]))
        return
    h.check(1 <= n <= NPROC, "H04: %d threads created (max %d)" % (n, NPROC))


def h05(h, lang):
    src = program("h05-memhog" + LANG_EXT[lang])
    run = h.run_program(lang, src, "H05-%s" % lang)
    if run is None:
        return
    mem = run["memory"]
    h.check(isinstance(mem, int), "H05: memory %r not an integer" % mem)
    if not isinstance(mem, int):
        return
    h.check(mem <= MEM + 4 * MiB, "H05-%s: memory %d above the limit + 4 MiB" % (lang, mem))
    if h.cpu_starved(run, "H05-%s" % lang):
        return
    wall_max = h.hog_wall_max()
    h.check(run["wall_time"] < wall_max, "H05-%s: wall %d ms (want < %d)" % (
        lang, run["wall_time"], wall_max))
    oom_kill = run["status"] == "SG" and run["signal"] == "SIGKILL"
    if oom_kill:
        h.check(run["message"] == "Memory limit exceeded", "H05-%s: message %r" % (lang, run["message"]))
        h.check(mem >= 0.95 * MEM, "H05-%s: memory %d below 0.95 x limit" % (lang, mem))
        return
    # runtime-level out-of-memory errors are safe outcomes for managed languages
    err = run["stderr"]
    if lang == "python" and run["status"] == "RE" and "MemoryError" in err:
        return
    if lang == "java" and run["status"] == "RE" and "OutOfMemoryError" in err:
        return
    if lang == "javascript" and ((run["status"] == "SG" and run["signal"] == "SIGABRT")
                                 or (run["status"] == "RE" and "allocation failed" in err)):
        return
    if lang == "c++" and run["status"] == "SG" and run["signal"] == "SIGABRT" and "bad_alloc" in err:
        return
    h.fail("H05-%s: want SG/SIGKILL (Memory limit exceeded), got %s/%s %r: %s" % (
        lang, run["status"], run["signal"], run["message"], err[:1000]))


def h06(h, lang):
    run = h.run_program("python", program("h06-bytearray.py"), "H06")
    if run is None:
        return
    mem = run["memory"]
    h.check(isinstance(mem, int) and mem <= 260 * MiB, "H06: memory %r above 260 MiB" % mem)
    if h.cpu_starved(run, "H06"):
        return
    if run["status"] == "SG" and run["signal"] == "SIGKILL":
        h.check(isinstance(mem, int) and mem >= 240 * MiB, "H06: memory %r below 240 MiB" % mem)
        h.check(run["message"] == "Memory limit exceeded", "H06: message %r" % run["message"])
    else:
        h.check(run["status"] == "RE" and "MemoryError" in run["stderr"],
                "H06: want SG/SIGKILL or RE MemoryError, got %s/%s %r" % (run["status"], run["signal"], run["stderr"][:500]))


def h07(h, lang):
    run = h.run_program("javascript", program("h07-buffers.js"), "H07")
    if run is None:
        return
    h.check(isinstance(run["memory"], int) and run["memory"] <= 260 * MiB, "H07: memory %r above 260 MiB" % run["memory"])
    if h.cpu_starved(run, "H07"):
        return
    h.check(run["status"] == "SG" and run["signal"] in ("SIGKILL", "SIGABRT"),
            "H07: want SG/SIGKILL or SG/SIGABRT, got %s/%s: %s" % (run["status"], run["signal"], run["stderr"][:500]))
    h.check(isinstance(run["memory"], int) and run["memory"] <= 260 * MiB, "H07: memory %r above 260 MiB" % run["memory"])
    wall_max = h.hog_wall_max()
    h.check(run["wall_time"] < wall_max, "H07: wall %d ms (want < %d)" % (run["wall_time"], wall_max))


def h08(h, lang):
    run = h.run_program("c", program("h08-mmap-noreserve.c"), "H08")
    if run is None:
        return
    h.check(run["status"] is None and run["code"] == 0 and run["stdout"] == "OK\n",
            "H08: want code 0 and OK, got %s %s %r %r" % (run["status"], run["code"], run["stdout"], run["stderr"][:300]))
    h.check(isinstance(run["memory"], int) and run["memory"] < 16 * MiB, "H08: memory %r >= 16 MiB" % run["memory"])


def meminfo_kb(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def h09(h, lang):
    shmem0 = meminfo_kb("Shmem")
    run = h.run_program("c", program("h09-fill-shm.c"), "H09")
    if run is None:
        return
    if run["status"] == "SG" and run["signal"] == "SIGKILL":
        h.check(run["message"] == "Memory limit exceeded", "H09: SIGKILL but message %r" % run["message"])
    else:
        h.check(run["status"] is None and run["code"] == 0, "H09: want code 0, got %s %s %r" % (run["status"], run["code"], run["stderr"][:300]))
        parts = run["stdout"].split()
        if h.check(len(parts) == 3, "H09: output %r" % run["stdout"][:200]):
            h.check(int(parts[0]) <= 64 * MiB, "H09: wrote %s bytes (> 64 MiB tmpfs)" % parts[0])
            h.check(parts[1] in ("ENOSPC", "EDQUOT"), "H09: errno %s (want ENOSPC/EDQUOT)" % parts[1])
    # the tmpfs pages are gone with the job (host RAM unaffected); other tests may add noise.
    # The slot's tmpfs is emptied right after the answer is sent, so allow it a moment.
    if h.concurrent == 1:
        deadline = time.monotonic() + 2.0 * T.TIME_FACTOR
        while True:
            grown = meminfo_kb("Shmem") - shmem0
            if grown < 32 * 1024 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        h.check(grown < 32 * 1024, "H09: host Shmem grew by %d KiB after the job" % grown)
    follow = h.run_program("python" if "python" in h.langs else "c",
                           "import os\nprint(os.listdir('/tmp'), os.listdir('/dev/shm'))\n" if "python" in h.langs else
                           '#include <stdlib.h>\nint main(void){ return system("ls -A /tmp /dev/shm"); }\n',
                           "H09 follow-up")
    if follow is not None:
        want = "[] []\n" if "python" in h.langs else "/dev/shm:\n\n/tmp:\n"
        h.check(follow["stdout"] == want, "H09: next job sees %r" % follow["stdout"][:300])


def h10(h, lang):
    cases = [("c", "h10-raise-term.c", "SIGTERM", 15), ("c", "h10-abort.c", "SIGABRT", 6),
             ("c", "h10-kill-self.c", "SIGKILL", 9), ("c", "h10-segv.c", "SIGSEGV", 11),
             ("python", "h10-kill9.py", "SIGKILL", 9)]
    for l, f, sig, n in cases:
        if l not in h.langs:
            continue
        run = h.run_program(l, program(f), "H10 %s" % f)
        if run is None:
            continue
        h.check(run["status"] == "SG" and run["code"] is None and run["signal"] == sig,
                "H10 %s: want SG/%s code null, got %s/%s code %s" % (f, sig, run["status"], run["signal"], run["code"]))
        h.check(run["message"] == "Caught fatal signal %d" % n, "H10 %s: message %r" % (f, run["message"]))
        h.check(run["wall_time"] < h.slack(500), "H10 %s: wall %d ms" % (f, run["wall_time"]))


def h11(h, lang):
    run = h.run_program("python", program("h11-fallocate.py"), "H11")
    if run is None:
        return
    h.check(run["status"] == "RE" and run["code"] == 1, "H11: want RE code 1, got %s %s/%s" % (run["status"], run["code"], run["signal"]))
    h.check("File too large" in run["stderr"], "H11: stderr lacks 'File too large': %r" % run["stderr"][-500:])
    try:
        size = int(run["stdout"].split()[0])
        h.check(size <= FSIZE, "H11: file grew to %d bytes (> %d)" % (size, FSIZE))
    except (ValueError, IndexError):
        h.fail("H11: size not printed: %r" % run["stdout"][:200])


def h12(h, lang):
    run = h.run_program("c", program("h12-inodes.c"), "H12")
    if run is None:
        return
    h.check(run["status"] is None and run["code"] == 0, "H12: want code 0, got %s %s" % (run["status"], run["code"]))
    parts = run["stdout"].split()
    if h.check(len(parts) == 3, "H12: output %r" % run["stdout"][:200]):
        h.check(int(parts[0]) <= 4096, "H12: created %s files (> 4096 inodes)" % parts[0])
        h.check(parts[1] in ("ENOSPC", "EDQUOT"), "H12: errno %s (%s), want ENOSPC/EDQUOT" % (parts[1], parts[2]))


def h13(h, lang):
    run = h.run_program("c", program("h13-fds.c"), "H13")
    if run is None:
        return
    h.check(run["status"] is None and run["code"] == 0, "H13: want code 0, got %s %s" % (run["status"], run["code"]))
    parts = run["stdout"].split()
    if h.check(len(parts) == 3, "H13: output %r" % run["stdout"][:200]):
        h.check(int(parts[0]) <= NOFILE, "H13: opened %s files (> %d)" % (parts[0], NOFILE))
        h.check(int(parts[0]) >= NOFILE - 8, "H13: only %s files before failing (NOFILE %d)" % (parts[0], NOFILE))
        h.check(parts[1] == "EMFILE", "H13: errno %s (%s), want EMFILE" % (parts[1], parts[2]))


def h14(h, lang):
    run = h.run_program("python", program("h14-runaway-output.py"), "H14")
    if run is None:
        return
    h.check(run["status"] == "OL" and run["signal"] == "SIGKILL" and run["code"] is None,
            "H14: want OL/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
    h.check(run["message"] == "stdout length exceeded", "H14: message %r" % run["message"])
    n = len(run["stdout"].encode())
    h.check(n == OUT, "H14: stdout %d bytes (want exactly %d)" % (n, OUT))
    h.check(run["wall_time"] < h.slack(1000), "H14: wall %d ms (kill on overflow, not on timeout)" % run["wall_time"])


def h15(h, lang):
    run = h.run_program("c", program("h15-stderr-spew.c"), "H15")
    if run is None:
        return
    h.check(run["status"] == "EL" and run["signal"] == "SIGKILL" and run["code"] is None,
            "H15: want EL/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
    h.check(run["message"] == "stderr length exceeded", "H15: message %r" % run["message"])
    h.check(run["stderr"] == "e" * OUT, "H15: stderr %d chars (want exactly %d 'e')" % (len(run["stderr"]), OUT))
    h.check(run["wall_time"] < h.slack(1000), "H15: wall %d ms" % run["wall_time"])


def h16(h, lang):
    p = h.payload("c", program("h16-garbage.c"))
    r = h.submit(p, "H16")
    if r is None or r.status != 200 or not r.json:
        return
    j = r.json
    h.check(list(j.keys()) == ["compile", "run", "language", "version"], "H16: top-level keys %s" % list(j.keys()))
    run = j["run"]
    h.check(run["status"] == "OL" and run["signal"] == "SIGKILL", "H16: want OL/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
    h.check(len(run["stdout"]) <= OUT, "H16: stdout %d characters (> %d)" % (len(run["stdout"]), OUT))
    h.check(len(run["stdout"]) >= OUT // 4, "H16: stdout only %d characters" % len(run["stdout"]))
    h.check(run["wall_time"] < h.slack(2000), "H16: run wall %d ms" % run["wall_time"])
    h.check(r.elapsed < (j["compile"]["wall_time"] + h.slack(2000)) / 1000.0, "H16: response after %.2f s" % r.elapsed)


def h17(h, lang):
    run = h.run_program("c", program("h17-exact-output.c"), "H17")
    if run is None:
        return
    want = "".join("\n" if i % 64 == 63 else chr(ord("a") + i % 26) for i in range(OUT))
    h.check(run["status"] is None and run["code"] == 0, "H17: want code 0, got %s %s" % (run["status"], run["code"]))
    h.check(run["stdout"] == want, "H17: stdout differs (%d chars)" % len(run["stdout"]))


def h18(h, lang):
    src = program("h18-stdin-size.py")
    lang = "python" if "python" in h.langs else None
    if lang is None:
        return
    big = 32 * MiB
    # 1. 32 MiB stdin: 413 (body over CAPSULE_MAX_BODY_SIZE) or full, correct processing
    body = json.dumps(h.payload(lang, src, stdin="s" * big)).encode()
    head = ("POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            "Content-Length: %d" % len(body))
    try:
        r = h.daemon.raw(head, (body[i:i + 262144] for i in range(0, len(body), 262144)), timeout=120)
    except Exception as e:  # noqa: BLE001
        h.fail("H18: 32 MiB stdin request failed: %r" % e)
        r = None
    if r is not None:
        h.check(r.status in (200, 413), "H18: 32 MiB stdin got HTTP %d" % r.status, r)
        h.check(r.json_error is None and isinstance(r.json, dict), "H18: invalid JSON %s" % r.json_error, r)
        if r.status == 413:
            h.check("message" in r.json, "H18: 413 without message", r)
        elif r.status == 200:
            run = r.json.get("run", {})
            h.check(run.get("stdout") == "%d\n" % (big + 1), "H18: stdin length printed %r" % run.get("stdout"))
    # 2. 5,000 files of 1 KiB: 400 with a message (quota) or full processing
    files = [{"name": "main.py", "content": "import os\nprint(len(os.listdir('d')))\n"}]
    files += [{"name": "d/f%d" % i, "content": "k" * 1024} for i in range(5000)]
    p = dict(REQUEST_LIMITS, language=lang, version="*", files=files)
    r = h.submit(p, "H18 5000 files", statuses=(200, 400, 413))
    if r is not None and r.json:
        if r.status in (400, 413):
            h.check(isinstance(r.json.get("message"), str), "H18: %d without message" % r.status, r)
        else:
            h.check(r.json["run"]["stdout"] == "5000\n", "H18: 5000 files listed as %r" % r.json["run"]["stdout"])


def h19(h, lang):
    src = program("h19-spin" + LANG_EXT[lang])
    # run_timeout 10000 (daemon PISTON_RUN_TIMEOUT=10000): on a loaded host a spinner gets less
    # than a whole core, and the CPU limit must still be the one that trips
    run = h.run_program(lang, src, "H19-%s" % lang, run_cpu_time=2000, run_timeout=10000)
    if run is None:
        return
    h.check(run["status"] == "TO" and run["signal"] == "SIGKILL", "H19-%s: want TO/SIGKILL, got %s/%s" % (lang, run["status"], run["signal"]))
    h.check(run["message"] == "Time limit exceeded", "H19-%s: message %r (want the CPU wording)" % (lang, run["message"]))
    cpu_slack = 250 * (T.TIME_FACTOR if T.SANITIZED else 1)
    h.check(2000 <= run["cpu_time"] <= 2000 + cpu_slack, "H19-%s: cpu_time %d not in [2000, %d]" % (lang, run["cpu_time"], 2000 + cpu_slack))
    # a spinner on a host loaded L per core gets about 1/L of a core: 2000 ms of CPU take 2000 x L
    bound = 2000 * T.load_factor() + h.slack(400)
    h.check(run["wall_time"] <= bound, "H19-%s: wall %d > 2400 ms (bound %.0f at load %.1f per core)"
            % (lang, run["wall_time"], bound, T.load_factor()))


def h20(h, lang):
    n = max(2, os.cpu_count() or 2)
    run = h.run_program("c", program("h20-threads-spin.c"), "H20", run_cpu_time=3000, run_timeout=10000, args=[str(n)])
    if run is None:
        return
    h.check(run["status"] == "TO" and run["message"] == "Time limit exceeded",
            "H20: want TO 'Time limit exceeded' (CPU), got %s %r" % (run["status"], run["message"]))
    h.check(run["cpu_time"] >= 3000, "H20: cpu_time %d < 3000" % run["cpu_time"])
    # killed when the *total* reached 3000 ms: CPU is counted across the threads
    h.check(run["cpu_time"] <= 3000 + 250 * n * (T.TIME_FACTOR if T.SANITIZED else 1), "H20: cpu_time %d overshoots" % run["cpu_time"])
    bound = 3000.0 / min(n, os.cpu_count() or 1) * T.TIME_FACTOR + 700
    if T.load_factor() > 1.0:
        T.log("note: H20 wall %d ms, bound %.0f not asserted: host load %.1f per core" % (run["wall_time"], bound, T.load_factor()))
    else:
        h.check(run["wall_time"] <= bound, "H20: wall %d ms > %.0f (CPU must be counted across %d threads)" % (run["wall_time"], bound, n))


def h21(h, lang):
    src = program("h21-sleep" + LANG_EXT[lang])
    run = h.run_program(lang, src, "H21-%s" % lang)
    if run is None:
        return
    h.check(run["status"] == "TO" and run["signal"] == "SIGKILL", "H21-%s: want TO/SIGKILL, got %s/%s" % (lang, run["status"], run["signal"]))
    h.check(run["message"] == "Time limit exceeded (wall clock)", "H21-%s: message %r" % (lang, run["message"]))
    h.check(3000 - 2 <= run["wall_time"] <= 3000 + h.slack(300), "H21-%s: wall %d not in [3000, 3300]" % (lang, run["wall_time"]))
    if lang != "java":  # the JVM's own start-up (the source launcher compiles) costs more
        h.check(run["cpu_time"] < 200 * (T.TIME_FACTOR if T.SANITIZED else 1), "H21-%s: cpu_time %d >= 200" % (lang, run["cpu_time"]))


def h22(h, lang):
    run = h.run_program("c", program("h22-ignore-signals.c"), "H22")
    if run is None:
        return
    h.check(run["status"] == "TO" and run["signal"] == "SIGKILL", "H22: want TO/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
    h.check(run["wall_time"] <= 3000 + h.slack(400), "H22: wall %d > 3400 ms" % run["wall_time"])


def h23(h, lang):
    run = h.run_program("c", program("h23-sigstop.c"), "H23")
    if run is None:
        return
    h.check(run["status"] == "TO" and run["signal"] == "SIGKILL", "H23: want TO/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
    h.check(run["message"] == "Time limit exceeded (wall clock)", "H23: message %r" % run["message"])
    h.check(run["wall_time"] <= 3000 + h.slack(400), "H23: wall %d > 3400 ms" % run["wall_time"])
    h.check_i2(grace_ms=100, in_case=True)


def h24(h, lang):
    # run_timeout 10000 (daemon PISTON_RUN_TIMEOUT=10000): the CPU limit trips first even on a
    # loaded host, so the verdict shows the children's CPU is counted
    run = h.run_program("c", program("h24-fork-spinners.c"), "H24", run_timeout=10000)
    if run is None:
        return
    h.check(run["status"] == "TO" and run["signal"] == "SIGKILL", "H24: want TO/SIGKILL, got %s/%s" % (run["status"], run["signal"]))
    h.check(run["message"] == "Time limit exceeded", "H24: message %r (want the CPU limit)" % run["message"])
    h.check(run["cpu_time"] >= 3000, "H24: cpu_time %d < 3000 (children not counted)" % run["cpu_time"])
    h.check(run["cpu_time"] <= 3000 + 250 * 5 * (T.TIME_FACTOR if T.SANITIZED else 1), "H24: cpu_time %d overshoots" % run["cpu_time"])
    h.check_i2(grace_ms=100, in_case=True)


# ---------------------------------------------------------------------------------------------
# Registry: name -> (function, language, toolchains needed, extra daemon env, I6 rerun)

CASES = {}


def register(name, fn, lang, needs, env=None, x8=False):
    CASES[name] = {"fn": fn, "lang": lang, "needs": needs, "env": env or {}, "x8": x8}


register("H01", h01, "c", ["c"])
register("H02", h02, "python", ["python"])
register("H03", h03, "c", ["c"], x8=True)
register("H04", h04, "java", ["java"])
register("H05", h05, "c", ["c"], x8=True)
register("H06", h06, "python", ["python"], x8=True)
register("H07", h07, "javascript", ["javascript"], x8=True)
register("H08", h08, "c", ["c"], x8=True)
register("H09", h09, "c", ["c"], x8=True)
register("H10", h10, "c", ["c"], x8=True)
register("H11", h11, "python", ["python"], x8=True)
register("H12", h12, "c", ["c"], x8=True)
register("H13", h13, "c", ["c"], x8=True)
register("H14", h14, "python", ["python"], x8=True)
register("H15", h15, "c", ["c"], x8=True)
register("H16", h16, "c", ["c"], x8=True)
register("H17", h17, "c", ["c"], x8=True)
register("H18", h18, "python", ["python"])
register("H19", h19, "c", ["c"], env={"PISTON_RUN_TIMEOUT": "10000"})
register("H20", h20, "c", ["c"], env={"PISTON_RUN_TIMEOUT": "10000"})
register("H21", h21, "python", ["python"])
register("H22", h22, "c", ["c"])
register("H23", h23, "c", ["c"])
register("H24", h24, "c", ["c"], env={"PISTON_RUN_TIMEOUT": "10000"})
# H05, H19 and H21 in each of the 5 languages
for _lang in T.LANGS:
    for _id, _fn, _base in (("H05", h05, "c"), ("H19", h19, "c"), ("H21", h21, "python")):
        if _lang != _base:
            register("%s-%s" % (_id, SUFFIX[_lang]), _fn, _lang, [_lang],
                     env={"PISTON_RUN_TIMEOUT": "10000"} if _id == "H19" else None,
                     x8=(_id == "H05" and _lang in ("c++", "python", "javascript")))


# ---------------------------------------------------------------------------------------------

def run_case(name, concurrent):
    spec = CASES[name]
    if not T.is_root():
        print("SKIP %s: needs root" % name)
        return T.SKIP_CODE
    missing = [l for l in spec["needs"] if not T.have_toolchain(l)]
    if missing:
        print("SKIP %s: toolchain missing for %s" % (name, ", ".join(missing)))
        return T.SKIP_CODE
    h = Harness(name, concurrent, spec["env"])
    canaries = canary_state()
    try:
        h.daemon.start()
    except T.DaemonError as e:
        print("FAIL %s: %s" % (name, e))
        return 1
    try:
        base = h.warm_up()
        T.log("%s: daemon pid %d instance %s uids %d-%d baseline %s" % (
            name, h.daemon.pid, h.daemon.instance, h.daemon.uid_min, h.daemon.uid_max, base))
        t0 = time.monotonic()

        def one(i):
            def f():
                try:
                    spec["fn"](h, spec["lang"])
                except Exception:  # noqa: BLE001
                    h.fail("%s copy %d raised:\n%s" % (name, i, traceback.format_exc()))
            return f
        T.parallel([one(i) for i in range(concurrent)], timeout=100)
        T.log("%s: case done in %.2f s" % (name, time.monotonic() - t0))
        h.check_i2(grace_ms=100)
        h.slots_clean()
        h.check_i3(canaries)
        h.check_i4()
        h.check_i2(grace_ms=100)
        h.check_i5(base)
    except Exception:  # noqa: BLE001
        h.fail("harness error:\n%s" % traceback.format_exc())
    finally:
        problems = h.daemon.stop(keep_log=True)
        for p in problems:
            h.fail("stop: " + p)
    try:
        after = canary_state()
        for k in canaries:
            h.check(canaries[k] == after.get(k), "I3 (after stop): canary %s changed" % k)
    except OSError as e:
        h.fail("I3: canary unreadable after stop: %r" % e)
    label = name + (" x%d" % concurrent if concurrent > 1 else "")
    if h.failures:
        print("FAIL %s: %d problem(s)" % (label, len(h.failures)))
        for f in h.failures:
            print("  - " + f.replace("\n", "\n    "))
        if not problems:  # stop() printed the log when it found problems
            print("---- capsuled log tail (%s) ----\n%s" % (h.daemon.log_path, h.daemon.log_tail(60)))
        return 1
    h.daemon.cleanup()
    print("PASS %s" % label)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", nargs="?", help="case id, e.g. H05 or H05-py")
    ap.add_argument("--concurrent", type=int, default=1, help="run N copies at once (I6)")
    ap.add_argument("--list", action="store_true", help="list case ids (x8: has an I6 rerun)")
    args = ap.parse_args()
    if args.list:
        for name, spec in CASES.items():
            print(name + (" x8" if spec["x8"] else ""))
        return 0
    if not args.case or args.case not in CASES:
        ap.error("unknown case %r; --list shows them" % args.case)
    if not 1 <= args.concurrent <= 16:
        ap.error("--concurrent must be 1..16")
    return run_case(args.case, args.concurrent)


if __name__ == "__main__":
    sys.exit(main())
