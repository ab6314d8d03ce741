#!/usr/bin/python3
"""The systemd unit's CapabilityBoundingSet and NoNewPrivileges are enough: capsuled started
under setpriv with exactly that bounding set serves jobs that exercise every privileged step
(namespaces and mounts, slot uids, file ownership, cgroup limits and kills, rlimits, the
compile cache), and its capability sets are no larger than the unit allows."""

import os
import re
import shutil
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

UNIT = os.path.join(T.SOURCE_DIR, "packaging", "systemd", "capsuled.service.in")
CAP_NUMBERS = {  # linux/capability.h
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24, "CAP_MKNOD": 27,
}


def unit_capabilities():
    with open(UNIT) as f:
        m = re.search(r"^CapabilityBoundingSet=(.*)$", f.read(), re.M)
    return m.group(1).split()


def sh(content):
    return {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}


class UnitCapabilitiesTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        cls.setpriv = shutil.which("setpriv")
        if not cls.setpriv:
            raise unittest.SkipTest("setpriv (util-linux) missing")
        cls.caps = unit_capabilities()
        cls.tmp = tempfile.mkdtemp(prefix="capsule-caps-", dir=os.path.dirname(T.CAPSULED))
        cls.wrapper = os.path.join(cls.tmp, "capsuled-as-unit")
        keep = ",".join("+" + c[len("CAP_"):].lower() for c in cls.caps)
        with open(cls.wrapper, "w") as f:
            f.write("#!/bin/sh\nexec %s --bounding-set=-all,%s --inh-caps=-all --no-new-privs -- %s \"$@\"\n"
                    % (cls.setpriv, keep, T.CAPSULED))
        os.chmod(cls.wrapper, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        cls.real_capsuled = T.CAPSULED
        T.CAPSULED = cls.wrapper  # Daemon starts whatever T.CAPSULED names

    @classmethod
    def tearDownClass(cls):
        T.CAPSULED = cls.real_capsuled
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_unit_set_is_the_documented_one(self):
        self.assertEqual(sorted(self.caps), sorted([
            "CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_CHOWN", "CAP_FOWNER",
            "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_SYS_RESOURCE", "CAP_SYS_CHROOT"]))

    def test_fixture_jobs_under_unit_caps(self):
        d = T.Daemon(runtimes="fixture")
        self.daemon = d
        d.start()
        try:
            # the unit's set, minus what this test process lacks itself (some containers
            # run without CAP_SYS_RESOURCE: capsuled then needs it only for limits above
            # the inherited hard rlimits)
            with open("/proc/self/status") as f:
                own = int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", f.read(), re.M).group(1), 16)
            mask = sum(1 << CAP_NUMBERS[c] for c in self.caps) & own
            with open("/proc/%d/status" % d.pid) as f:
                status = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            self.assertEqual(int(status["CapBnd"], 16), mask)
            self.assertEqual(int(status["CapEff"], 16) & ~mask, 0)
            self.assertEqual(status["NoNewPrivs"].strip(), "1")
            run = d.execute(sh("mkdir -p d/e && echo x > d/e/f && cat d/e/f && id -u")).json["run"]
            out = run["stdout"].splitlines()
            # any idle slot may take the job: its uid is one of the daemon's range
            self.assertEqual(out[0], "x", run)
            self.assertIn(int(out[1]), range(d.uid_min, d.uid_min + d.max_jobs), run)
            r = d.execute({"language": "shc", "version": "*", "files": [{"content": "echo c"}]})
            self.assertEqual(r.status, 200, r)
            # the same compile again: served from the cache (snapshot restore with fchown)
            r = d.execute({"language": "shc", "version": "*", "files": [{"content": "echo c"}]})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["run"]["stdout"], "c\n")
            # limits enforced through cgroups and kills still work
            run = self.assertRun(d.execute(dict(sh("sleep 10"), run_timeout=300)),
                                 status="TO", code=None)
            self.assertEqual(run["signal"], "SIGKILL")
            self.assertEqual(d.get("/health?deep=1").json["deep"]["status"], "ok")
        finally:
            problems = d.stop()
        self.assertEqual(problems, [])

    def assert_ran(self, r, stdout, compiled=False):
        """A capability problem shows as a 500, an XX stage or a wrong answer; a wall-clock
        timeout only means the host starved the job (load), which this test cannot judge."""
        j = self.assertExecOk(r, compiled=compiled)
        run = j["run"]
        if run["status"] == "TO" and "wall clock" in (run["message"] or ""):
            self.skipTest("host too loaded: %r" % run)
        self.assertEqual((run["status"], run["stdout"]), (None, stdout), run)

    def test_real_runtimes_under_unit_caps(self):
        if not T.have_toolchain("python"):
            self.skipTest("python3 missing")
        d = T.Daemon(runtimes="real")
        self.daemon = d
        d.start()
        try:
            r = d.execute({"language": "python", "version": "*",
                           "files": [{"content": "open('/tmp/x','w').write('y');print(open('/tmp/x').read())"}]})
            self.assert_ran(r, "y\n")
            if T.have_toolchain("c"):
                r = d.execute({"language": "c", "version": "*",
                               "files": [{"content": "#include <stdio.h>\nint main(void){puts(\"c\");}"}]})
                self.assert_ran(r, "c\n", compiled=True)
        finally:
            problems = d.stop()
        self.assertEqual(problems, [])


if __name__ == "__main__":
    T.run_tests()
