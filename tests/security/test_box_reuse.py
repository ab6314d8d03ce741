#!/usr/bin/python3
"""Security property 4 for a box that serves job after job (a slot's box is reused while its
jobs end on their own): job A, on a one-slot daemon, moves the pid counter on (60 processes),
tries ptrace and kill on PID 1, and leaves hiders behind as it exits: a double-forked, setsid,
signal-ignoring grandchild with an abstract socket, a POSIX timer and an alarm that would write
marks into /tmp and the work dir after the job, and a pid hopper (forks anew, lets its parent
exit). Job B, next on the same slot and in the same box (PID 1's host pid is the same), sees
the pid a first job saw, no other process, not PID 1, no SysV object, and after waiting past
the timers no mark and no socket. C (reuse.c)."""

import os

import seclib as S
from seclib import T


def box_pid1s(daemon_pid):
    """Host pids of the daemon's capsule-box children: the slots' PID 1s."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == daemon_pid and comm == "capsule-box":
            out.append(int(pid))
    return sorted(out)


class BoxReuse(S.SecTestCase):
    MAX_JOBS = 1  # every job in the same slot, so in the same box while it serves

    def run_reuse(self, mode, tok, what):
        run = self.run_ok("c", S.program("reuse.c"), what=what, args=[mode, tok])
        return S.kv(run["stdout"])

    def test_nothing_of_a_job_reaches_the_next_in_the_same_box(self):
        self.need("c")
        tok = os.urandom(4).hex()
        first = self.run_reuse("probe", tok, "first job")
        pid1 = box_pid1s(self.daemon.proc.pid)
        self.assertEqual(len(pid1), 1, "one slot, one box: %r" % pid1)
        a = self.run_reuse("leave", tok, "job A")
        self.assertEqual(a.get("pid"), first.get("pid"), "job A: pids not handed out afresh")
        self.assertIn(a.get("ptrace_pid1"), ("EPERM",), "job A could ptrace PID 1")
        self.assertIn(a.get("kill_pid1"), ("EPERM", "ESRCH"), "job A could kill PID 1")
        b = self.run_reuse("probe", tok, "job B")
        self.assertEqual(box_pid1s(self.daemon.proc.pid), pid1,
                         "job B did not run in job A's box: the test proves nothing")
        self.assertEqual(b.get("pid"), first.get("pid"),
                         "job B's pid tells how many processes job A started")
        self.assertEqual(b.get("visible_others"), "0", "job B sees other processes: %r" % b)
        self.assertEqual(b.get("pid1_visible"), "0", "job B sees PID 1 (its counters span jobs)")
        self.assertEqual(b.get("signalable"), "ESRCH", "job B can signal a process of job A")
        self.assertEqual(b.get("signalable_later"), "ESRCH", "a hider of job A came back")
        for k in ("shm", "msg", "sem"):
            self.assertEqual(b.get(k), "0", "job B lists SysV objects (%s)" % k)
        for k in ("mark_timer", "mark_alarm", "mark_hopper"):
            self.assertEqual(b.get(k), "0", "%s: a hider of job A ran on into job B" % k)
        self.assertEqual(b.get("abstract"), "ECONNREFUSED", "job A's abstract socket is alive")
        self.no_leftovers()
        self.hello_ok(("c",))


if __name__ == "__main__":
    S.run_tests()
