#!/usr/bin/python3
"""The cgroup v2 mechanisms on a live pure-v2 kernel, through the daemon (label v2vm-guest;
the v2vm lane runs it inside its QEMU guest; on a host without pure v2 it skips with 77).

Each test names the kernel interface it proves: controller delegation down the tree and the
daemon in its own leaf (no internal processes), memory.max + memory.swap.max = 0 and
memory.events for the OOM verdict, memory.peak per stage (never inherited), pids.max,
cpu.stat usage for the CPU limit, cgroup.kill for processes that hide, cleanup after a
kill -9 of the daemon, and the daemon started from a cgroup it shares with others.

The programs are static binaries built on the build host (CMake: v2-*), submitted as
base64 files of the `sh` fixture runtime and exec'd: no compiler runs in the guest, and under
TCG a static program starts in milliseconds where a dynamic one takes far longer. Limits are
exact; only wall-clock windows widen (capsule_testlib.slack, CAPSULE_TIME_FACTOR)."""

import base64
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
import capsule_testlib as T  # noqa: E402

CG = "/sys/fs/cgroup"
MIB = 1 << 20
PROGRAMS = os.environ.get("CAPSULE_V2_PROGRAMS", "")


def pure_v2():
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return False
    if any(m[2] == "cgroup" for m in mounts):
        return False
    if not any(m[1] == CG and m[2] == "cgroup2" for m in mounts):
        return False
    with open(os.path.join(CG, "cgroup.controllers")) as f:
        have = f.read().split()
    return "memory" in have and "pids" in have


def program(name):
    with open(os.path.join(PROGRAMS, "v2-" + name), "rb") as f:
        return base64.b64encode(f.read()).decode()


def job(name, args="", **limits):
    """A `sh` job that execs the static program `name` (so its status is the program's)."""
    payload = {"language": "sh", "version": "*",
               "files": [{"name": "m.sh", "content": "chmod +x ./p && exec ./p %s\n" % args},
                         {"name": "p", "content": program(name), "encoding": "base64"}]}
    payload.update(limits)
    return payload


def read(path):
    with open(path) as f:
        return f.read()


def own_cgroup(pid):
    for line in read("/proc/%d/cgroup" % pid).splitlines():
        if line.startswith("0::"):
            return CG + line[3:]
    return None


def slot_uid_procs(d):
    return T.procs_in_uid_range(d.uid_min, d.uid_max, d.gid_min, d.gid_max)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))


def background(d, payload):
    box = {}

    def run():
        try:
            box["r"] = d.execute(payload, timeout=T.slack(60000) / 1000)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            box["r"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def leaves(d):
    """Stage leaves under <instance>/boxes with their files readable."""
    out = []
    for root in d.cgroup_roots(refresh=True):
        boxes = os.path.join(root, "boxes")
        for slot in sorted(os.listdir(boxes)) if os.path.isdir(boxes) else []:
            sdir = os.path.join(boxes, slot)
            if not slot.startswith("slot-") or not os.path.isdir(sdir):
                continue
            out += [os.path.join(sdir, s) for s in sorted(os.listdir(sdir)) if s.startswith("stage-")
                    and os.path.isdir(os.path.join(sdir, s))]
    return out


@unittest.skipUnless(T.is_root(), "needs root")
@unittest.skipUnless(pure_v2(), "not a pure cgroup v2 host (the v2vm lane's guest is one)")
@unittest.skipUnless(PROGRAMS and os.path.isdir(PROGRAMS), "CAPSULE_V2_PROGRAMS not built")
class LiveV2(unittest.TestCase):
    LIMITS = {"run_timeout": 60000, "run_cpu_time": 30000}
    ENV = {"PISTON_RUN_TIMEOUT": "60000", "PISTON_RUN_CPU_TIME": "30000",
           "PISTON_MAX_PROCESS_COUNT": "64", "PISTON_OUTPUT_MAX_SIZE": "65536"}

    def daemon(self, max_jobs=2, env=None, **kw):
        return T.Daemon(runtimes="fixture", env=dict(self.ENV, **(env or {})), max_jobs=max_jobs,
                        **kw)

    def run_ok(self, d, payload):
        r = d.execute(payload, timeout=T.slack(60000) / 1000)
        self.assertEqual(r.status, 200, r.body[:500])
        return r.json["run"]

    # -- delegation: subtree_control down the tree, the daemon in its own leaf -------------
    def test_delegation_and_daemon_leaf(self):
        with self.daemon() as d:
            run = self.run_ok(d, job("sleep", "0", **self.LIMITS))
            self.assertEqual(run["code"], 0, run)
            daemon_cg = own_cgroup(d.proc.pid)
            (inst,) = d.cgroup_roots(refresh=True)
            self.assertEqual(daemon_cg, os.path.join(inst, "daemon"))
            delegating = [inst, os.path.join(inst, "boxes")]
            if d.unit_cgroup:
                self.assertEqual(os.path.dirname(inst), d.unit_cgroup)
                delegating.append(d.unit_cgroup)
            # no internal processes: every cgroup that delegates controllers holds none
            for cg in delegating:
                ctl = read(os.path.join(cg, "cgroup.subtree_control")).split()
                self.assertTrue({"memory", "pids"} <= set(ctl), (cg, ctl))
                self.assertEqual(read(os.path.join(cg, "cgroup.procs")), "", cg)
            slots = [s for s in os.listdir(os.path.join(inst, "boxes")) if s.startswith("slot-")]
            self.assertTrue(slots)
            for s in slots:
                ctl = read(os.path.join(inst, "boxes", s, "cgroup.subtree_control")).split()
                self.assertTrue({"memory", "pids"} <= set(ctl), (s, ctl))

    # -- memory.max, memory.swap.max, pids.max on the running job's leaf -------------------
    def test_limits_written_to_the_leaf(self):
        with self.daemon(max_jobs=1) as d:
            t, box = background(d, job("sleep", "5", run_memory_limit=48 * MIB, **self.LIMITS))
            procs = wait_for(lambda: slot_uid_procs(d), T.slack(20000) / 1000, "the sleeper")
            self.assertTrue(procs)
            leaf = wait_for(lambda: [l for l in leaves(d) if read(os.path.join(l, "cgroup.procs"))],
                            T.slack(5000) / 1000, "a leaf holding the job")[0]
            self.assertEqual(read(os.path.join(leaf, "memory.max")).strip(), str(48 * MIB))
            if os.path.exists(os.path.join(leaf, "memory.swap.max")):
                self.assertEqual(read(os.path.join(leaf, "memory.swap.max")).strip(), "0")
            self.assertEqual(read(os.path.join(leaf, "pids.max")).strip(), "64")
            t.join(T.slack(60000) / 1000)
            self.assertEqual(box["r"].json["run"]["code"], 0, box["r"].json)

    # -- memory.events oom_kill -> the verdict; memory.peak -> `memory` in bytes -----------
    def test_oom_verdict_and_peak(self):
        limit = 64 * MIB
        with self.daemon() as d:
            run = self.run_ok(d, job("memhog", run_memory_limit=limit, **self.LIMITS))
            self.assertEqual((run["status"], run["signal"], run["code"]), ("SG", "SIGKILL", None), run)
            self.assertEqual(run["message"], "Memory limit exceeded", run)
            self.assertGreaterEqual(run["memory"], int(0.95 * limit), run)
            self.assertLessEqual(run["memory"], limit + 4 * MIB, run)

    # -- memory.peak is per stage: the next job of the slot starts from zero ---------------
    def test_peak_not_inherited_by_the_next_job(self):
        with self.daemon(max_jobs=1) as d:
            big = self.run_ok(d, job("alloc", "100", run_memory_limit=256 * MIB, **self.LIMITS))
            self.assertEqual(big["code"], 0, big)
            self.assertGreaterEqual(big["memory"], 100 * MIB, big)
            small = self.run_ok(d, job("sleep", "0", **self.LIMITS))
            self.assertEqual(small["code"], 0, small)
            self.assertLess(small["memory"], 16 * MIB, small)

    # -- pids.max counts the program's tasks ------------------------------------------------
    def test_pids_max_bounds_tasks(self):
        with self.daemon(env={"PISTON_MAX_PROCESS_COUNT": "16"}) as d:
            run = self.run_ok(d, job("threads", **self.LIMITS))
            self.assertEqual(run["code"], 0, run)
            # the main thread is one of the 16 tasks
            self.assertEqual(int(run["stdout"]), 15, run)

    # -- cpu.stat usage_usec across every task of the leaf -> the CPU limit ----------------
    def test_cpu_limit_counts_all_tasks(self):
        with self.daemon() as d:
            run = self.run_ok(d, job("fork-spinners", run_cpu_time=1500, run_timeout=60000))
            self.assertEqual((run["status"], run["message"]), ("TO", "Time limit exceeded"), run)
            self.assertGreaterEqual(run["cpu_time"], 1500, run)
            self.assertLessEqual(run["cpu_time"], 1500 + T.slack(400), run)

    # -- cgroup.kill: children that left the session and ignore signals die too ------------
    def test_hidden_processes_killed(self):
        with self.daemon() as d:
            run = self.run_ok(d, job("hide", **self.LIMITS))
            self.assertEqual(run["code"], 0, run)
            self.assertEqual(run["stdout"], "hidden\n", run)
            wait_for(lambda: not slot_uid_procs(d), T.slack(2000) / 1000, "no slot process left")
            for leaf in leaves(d):
                self.assertEqual(read(os.path.join(leaf, "cgroup.procs")), "", leaf)

    # -- started from a cgroup shared with other processes (a shell, cloud-init) -----------
    def shared_scope(self):
        """A cgroup holding another process besides the daemon, as a login shell's scope
        does; (path, process). The caller kills the process and removes the cgroup."""
        shared = os.path.join(T.TEST_CGROUP_PARENT or CG, "shared-%d.scope" % os.getpid())
        os.makedirs(shared, exist_ok=True)
        procs = os.path.join(shared, "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write("0")
        return shared, subprocess.Popen(["sleep", "600"], preexec_fn=join)

    def drop_scope(self, shared, buddy):
        buddy.kill()
        buddy.wait()
        wait_for(lambda: read(os.path.join(shared, "cgroup.procs")) == "", 5, "an empty scope")
        os.rmdir(shared)

    def test_shared_cgroup_builds_under_capsule(self):
        shared, buddy = self.shared_scope()
        try:
            d = self.daemon(start_cgroup=shared)
            with d:
                (inst,) = d.cgroup_roots(refresh=True)
                self.assertEqual(inst, os.path.join(CG, "capsule", d.instance))
                self.assertEqual(own_cgroup(d.proc.pid), os.path.join(inst, "daemon"))
                run = self.run_ok(d, job("sleep", "0", **self.LIMITS))
                self.assertEqual(run["code"], 0, run)
                # nothing of the shared cgroup is changed: it delegates nothing
                self.assertEqual(read(os.path.join(shared, "cgroup.subtree_control")).strip(), "")
            self.assertFalse(os.path.exists(inst))
            # the daemon went back where it started (it has exited since; the buddy stayed)
            self.assertEqual(read(os.path.join(shared, "cgroup.procs")).split(), [str(buddy.pid)])
        finally:
            self.drop_scope(shared, buddy)

    # -- kill -9 of the daemon: the boxes die, the next start removes what was left --------
    # (Under systemd the unit's cgroup goes with the unit; where the tree outlives the daemon,
    # in <hierarchy root>/capsule or under a root cgroup, the next start must clean it.)
    def test_kill9_then_restart_cleans_up(self):
        shared, buddy = self.shared_scope()
        try:
            d = self.daemon(max_jobs=1, start_cgroup=shared)
            d.start()
            try:
                background(d, job("sleep", "30", **self.LIMITS))
                wait_for(lambda: slot_uid_procs(d), T.slack(20000) / 1000, "the sleeper")
                (inst,) = d.cgroup_roots(refresh=True)
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait(10)
                wait_for(lambda: not slot_uid_procs(d), T.slack(3000) / 1000,
                         "the boxes dying with the daemon")
                self.assertTrue(os.path.isdir(os.path.join(inst, "boxes")), "a crash leaves the tree")
            finally:
                d.stopped = True
            d2 = self.daemon(max_jobs=1, start_cgroup=shared)
            d2.instance = d.instance
            d2.uid_min, d2.uid_max, d2.gid_min, d2.gid_max = d.uid_min, d.uid_max, d.gid_min, d.gid_max
            with d2:
                run = self.run_ok(d2, job("sleep", "0", **self.LIMITS))
                self.assertEqual(run["code"], 0, run)
                self.assertLessEqual(len(leaves(d2)), 1, leaves(d2))  # the warm box's leaf at most
            self.assertFalse(os.path.exists(inst))
            d.cleanup()
        finally:
            self.drop_scope(shared, buddy)

if __name__ == "__main__":
    T.run_tests()
