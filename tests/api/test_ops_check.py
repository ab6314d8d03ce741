#!/usr/bin/python3
"""`capsuled --check`: host audit without serving. Exit 0 when a daemon could serve, 1 with
a FAIL line naming the problem otherwise; it never listens and leaves no cgroup, mount or
process behind (it uses its own instance name, so a running daemon is undisturbed)."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402


class CheckTest(T.CapsuleTestCase):
    def run_check(self, d, *args):
        p = subprocess.run([T.CAPSULED] + list(args), env=d.env(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=120, cwd=d._tmp)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def assert_nothing_left(self, d):
        self.assertEqual(find_cgroup_dirs_prefix(d.instance), [])
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(d.instance, f.read())
        self.assertEqual(T.procs_in_uid_range(d.uid_min, d.uid_max), [])

    def test_ok_with_fixtures(self):
        T.require_root()
        d = T.Daemon(runtimes="fixture")
        rc, out, err = self.run_check(d, "--check")
        self.assertEqual(rc, 0, out + err)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("capsuled ") and "--check" in lines[0], lines[0])
        self.assertEqual(lines[-1], "capsuled --check: ok")
        for prefix in ("ok    kernel: ", "ok    namespaces: mnt pid ipc uts net", "ok    seccomp: ",
                       "ok    cgroup: ", "ok    slots: 4, uids %d-%d" % (d.uid_min, d.uid_min + 3),
                       "ok    runtime sh 1.0.0 (", "ok    runtime shc 1.0.0 compiled (",
                       "ok    sandbox: cgroup v"):
            self.assertTrue(any(l.startswith(prefix) for l in lines), "%r missing in:\n%s" % (prefix, out))
        # the box helper found beside the binary
        helper = os.path.join(os.path.dirname(os.path.realpath(T.CAPSULED)), "capsule-box")
        self.assertTrue(any(l.startswith("ok    sandbox: ") and l.endswith("(PID 1: %s)" % helper)
                            for l in lines), out)
        self.assertNotIn("listening on", out)
        self.assert_nothing_left(d)
        shutil.rmtree(d._tmp, ignore_errors=True)

    def test_broken_toolchain_named(self):
        T.require_root()
        tmp = tempfile.mkdtemp(prefix="capsule-ops-check-", dir=os.path.dirname(T.CAPSULED))
        try:
            shutil.copytree(os.path.join(T.FIXTURE_RUNTIMES, "sh"), os.path.join(tmp, "sh"))
            broken = os.path.join(tmp, "broken")
            os.makedirs(broken)
            with open(os.path.join(broken, "metadata.json"), "w") as f:
                f.write('{"language":"brokenlang","version":"1.0.0"}')
            for name, text in (("run", "#!/bin/bash\nexec /nonexistent \"$@\"\n"),
                               ("version", "#!/bin/bash\n[[ -x /nonexistent/toolchain ]] || exit 1\n")):
                with open(os.path.join(broken, name), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(broken, name), 0o755)
            d = T.Daemon(runtimes=tmp)
            rc, out, err = self.run_check(d, "--check")
            self.assertEqual(rc, 1, out + err)
            self.assertIn("FAIL  package broken: toolchain missing or broken (version probe failed)", out)
            self.assertIn("ok    runtime sh 1.0.0 (", out)
            self.assertEqual(out.splitlines()[-1], "capsuled --check: FAILED (1 problem)")
            self.assert_nothing_left(d)
            shutil.rmtree(d._tmp, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_bad_config_still_one_line(self):
        d = T.Daemon(runtimes="fixture", env={"PISTON_RUN_TIMEOUT": "3s"})
        rc, out, err = self.run_check(d, "--check")
        self.assertEqual(rc, 1)
        self.assertIn("Config option PISTON_RUN_TIMEOUT failed validation: 3s is not a number", err)
        shutil.rmtree(d._tmp, ignore_errors=True)

    def test_version_and_usage(self):
        d = T.Daemon(runtimes="fixture")
        rc, out, _ = self.run_check(d, "--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^capsuled \d+\.\d+\.\d+\n$")
        rc, _, err = self.run_check(d, "--bogus")
        self.assertEqual(rc, 1)
        self.assertIn("usage: capsuled [--check | --version]", err)
        shutil.rmtree(d._tmp, ignore_errors=True)


def find_cgroup_dirs_prefix(prefix, maxdepth=6):
    """Directories under /sys/fs/cgroup whose name starts with prefix (instance-check-<pid>)."""
    hits = []

    def walk(path, depth):
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for e in entries:
            try:
                if not e.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if e.name.startswith(prefix):
                hits.append(e.path)
            elif depth < maxdepth:
                walk(e.path, depth + 1)

    walk(T.CGROUP_ROOT, 1)
    return hits


if __name__ == "__main__":
    T.run_tests()
