#!/usr/bin/python3
"""The daemon's descriptors are bounded by its slots (issue 12): over the hostile battery at
64 slots they grew 206 -> 236, one warm box per slot that has run a job. README (Performance,
"Descriptors") states the bounds: a warm box holds WARM_BOX_BOUND descriptors at most, a slot
FDS_PER_SLOT_BOUND at any instant. This test samples the daemon's fd count all through a mixed
load (interpreted and compiled jobs, concurrency above the slots, output floods, crashes,
compile errors) and checks it never passes base + slots x bound; that at rest it is the base
plus at most one warm box per slot; and that a drain (SIGTERM) gives every idle slot's warm box
back at once while the last job still runs, the daemon then exiting clean."""

import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

SLOTS = 6
# README: a slot holds one box that serves job after job (the pidfd and the job socket, plus
# the next job's leaf: one cgroup.procs or tasks per hierarchy, and cpu, peak, oom, pids, kill:
# at most 5 + hierarchies), the running job's own descriptors (its two pipes' read ends;
# epoll, timerfd, stdin memfd, job message, directory fds: 8), up to SBX_SPENT_LEAVES_MAX (2)
# finished stages' leaves awaiting removal, up to SBX_RETIRING_MAX (4) boxes that will not
# serve again awaiting their reap (pidfd + leaf files each), and its root templates
# (SBX_TEMPLATES_MAX = 2, two descriptors each).
MAX_HIERARCHIES = 5
LEAF_FILES = 5 + MAX_HIERARCHIES
WARM_BOX_BOUND = T.BOX_FDS_BESIDES_CGROUP + LEAF_FILES
TEMPLATES_BOUND = T.TEMPLATES_PER_SLOT * T.TEMPLATE_FDS
FDS_PER_SLOT_BOUND = (WARM_BOX_BOUND + 2 + 8 + 2 * LEAF_FILES + 4 * (1 + LEAF_FILES) +
                      TEMPLATES_BOUND)


def fd_targets(pid):
    """Descriptor targets with per-object numbers dropped (pipe:[123] -> pipe), counted."""
    out = {}
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for n in names:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            continue
        t = t.split(":[")[0] if ":[" in t else t.split("/boxes/")[0] + "/boxes/..." if "/boxes/" in t else t
        out[t] = out.get(t, 0) + 1
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.stop = pid, 0, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            n = fd_count(self.pid)
            if n >= 0:
                self.peak = max(self.peak, n)
                self.samples += 1
            time.sleep(0.002)


def job(language, src, **kw):
    p = {"language": language, "version": "*", "files": [{"name": "main.sh", "content": src}]}
    p.update(kw)
    return p


MIX = [
    job("sh", "echo hi"),
    job("shc", "echo compiled"),
    job("sh", "head -c 100000 /dev/zero", output_max_size=1000),
    job("sh", "kill -SEGV $$"),
    job("shc", "if then"),  # compile error: no run stage
    job("sh", "sleep 0.05; echo slow"),
]


class DescriptorBound(T.CapsuleTestCase):
    def test_bound_under_load_and_release_on_drain(self):
        T.require_root()
        d = T.Daemon(runtimes="fixture", max_jobs=SLOTS, env={"PISTON_RUN_TIMEOUT": "10000"}).start()
        try:
            self.check(d)
        finally:
            d.kill()
            d.cleanup()

    def wait_rest(self, d, base):
        """Resources once the daemon's own descriptors are back at `base` (connections
        closed, boxes reaped), or the last sample at the deadline."""
        deadline = time.monotonic() + T.slack(5000) / 1000
        while True:
            cur = d.resources()
            if cur["fds_base"] == base or time.monotonic() > deadline:
                return cur
            time.sleep(0.05)

    def check(self, d):
        start = d.resources()
        self.assertEqual(start["boxes"], 0, start)
        # the first job opens what the daemon keeps for its lifetime: the base is measured
        # after it, without the one warm box it leaves
        self.assertEqual(d.execute(MIX[0]).status, 200)
        base = self.wait_rest(d, start["fds"])["fds_base"]
        base_targets = fd_targets(d.pid)
        limit = base + SLOTS * FDS_PER_SLOT_BOUND
        sampler = Sampler(d.pid)
        sampler.start()
        for _round in range(4):
            fns = [lambda p=p: d.execute(p) for p in MIX * 3]  # 18 jobs at once on 6 slots
            for r in T.parallel(fns):
                self.assertEqual(r.status, 200, r)
        sampler.stop.set()
        sampler.join()
        T.log("fds: base %d, peak %d over %d samples, limit %d (%d slots x %d)" % (
            base, sampler.peak, sampler.samples, limit, SLOTS, FDS_PER_SLOT_BOUND))
        self.assertGreater(sampler.samples, 10)
        self.assertLessEqual(sampler.peak, limit)
        # at rest: the base plus each used slot's warm box, each within its bound
        rest = self.wait_rest(d, base)
        now = fd_targets(d.pid)
        diff = {k: now.get(k, 0) - base_targets.get(k, 0) for k in set(now) | set(base_targets)
                if now.get(k, 0) != base_targets.get(k, 0)}
        self.assertEqual(rest["fds_base"], base, (rest, diff))
        self.assertTrue(0 < rest["boxes"] <= SLOTS, rest)
        self.assertLessEqual(rest["fds"] - base, rest["boxes"] * WARM_BOX_BOUND +
                             SLOTS * TEMPLATES_BOUND, (rest, diff))
        self.assertLessEqual(rest["templates"], SLOTS * T.TEMPLATES_PER_SLOT, rest)
        # the drain: one job still runs; every idle slot's warm box is given back at once
        hold = threading.Thread(target=lambda: d.execute(job("sh", "sleep 4; echo held")),
                                daemon=True)
        hold.start()
        deadline = time.monotonic() + T.slack(5000) / 1000
        while d.get("/health").json.get("running") != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        d.terminate()
        deadline = time.monotonic() + T.slack(1000) / 1000
        while True:  # idle slots release the warm box first, then their templates
            cur = d.resources()
            if (cur["boxes"] <= 1 and cur["templates"] <= T.TEMPLATES_PER_SLOT or
                    time.monotonic() > deadline):
                break
            time.sleep(0.02)
        self.assertEqual(cur["boxes"], 1, cur)  # the running job's box only
        self.assertLessEqual(cur["templates"], T.TEMPLATES_PER_SLOT, cur)  # and its templates
        now = fd_targets(d.pid)
        diff = {k: now.get(k, 0) - base_targets.get(k, 0) for k in set(now) | set(base_targets)
                if now.get(k, 0) != base_targets.get(k, 0)}
        self.assertLessEqual(cur["fds"], base + FDS_PER_SLOT_BOUND, (base, cur, diff))
        hold.join(T.slack(10000) / 1000)
        self.assertEqual(d.wait_exit(T.slack(10000) / 1000), 0)
        d.stopped = True
        self.assertEqual(d.leftovers_after_stop(), [])


if __name__ == "__main__":
    T.run_tests()
