#!/usr/bin/python3
"""The capsule-engine .deb (ctest label `package`, ~1 min: a scratch configure + build +
cpack through packaging/build-deb.sh): its control data (Depends, conffiles, maintainer
scripts), its files (daemon, unit, /etc/default/capsuled, runtimes, bench), the unit's key
lines, the env file listing every setting, the daemon's compiled-in runtimes directory, the
guard against packaging a source-tree build, the Docker and cloud-init files, and lintian:
no errors, only the warnings the README states."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

PKG = os.path.join(T.SOURCE_DIR, "packaging")
RUNTIMES_DIR = "/usr/share/capsule/runtimes"


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("cmake", "cpack", "dpkg-deb"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s missing" % tool)
        base = os.path.dirname(os.path.abspath(T.CAPSULED))
        cls.build = tempfile.mkdtemp(prefix="capsule-deb-", dir=base)
        p = run([os.path.join(PKG, "build-deb.sh"), cls.build])
        if p.returncode != 0:
            raise AssertionError("build-deb.sh failed:\n%s\n%s" % (p.stdout, p.stderr))
        cls.deb = p.stdout.strip().splitlines()[-1]
        cls.root = os.path.join(cls.build, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)
        cls.info = run(["dpkg-deb", "-I", cls.deb]).stdout
        cls.listing = run(["dpkg-deb", "-c", cls.deb]).stdout
        cls.files = {}
        for line in cls.listing.splitlines():
            parts = line.split()
            cls.files[parts[-1].lstrip(".")] = parts[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.build, ignore_errors=True)

    def field(self, name):
        m = re.search(r"^ %s: (.*)$" % name, self.info, re.M)
        return m.group(1) if m else None

    def unit_path(self):
        for d in ("/lib/systemd/system", "/usr/lib/systemd/system"):
            if d + "/capsuled.service" in self.files:
                return d + "/capsuled.service"
        self.fail("no capsuled.service in the package:\n" + self.listing)

    def test_control(self):
        self.assertEqual(self.field("Package"), "capsule-engine")
        self.assertRegex(os.path.basename(self.deb), r"^capsule-engine_\d+\.\d+\.\d+_[a-z0-9]+\.deb$")
        deps = [d.strip().split()[0] for d in self.field("Depends").split(",")]
        for want in ("python3", "nodejs", "default-jdk-headless", "gcc", "g++", "sqlite3"):
            self.assertIn(want, deps)
        for lib in ("libmicrohttpd12", "libjansson4", "libseccomp2", "libnettle8"):
            self.assertTrue(any(d == lib or d == lib + "t64" for d in deps), (lib, deps))
        tar = subprocess.run(["dpkg-deb", "--ctrl-tarfile", self.deb], capture_output=True, check=True)
        members = subprocess.run(["tar", "tvf", "-"], input=tar.stdout, capture_output=True,
                                 check=True).stdout.decode()
        for script in ("postinst", "prerm", "postrm"):
            self.assertRegex(members, r"-rwxr-xr-x \S+ +\d+ .* \./%s\n" % script)

    def test_conffile(self):
        ctrl = os.path.join(self.build, "ctrl")
        subprocess.run(["dpkg-deb", "-e", self.deb, ctrl], check=True)
        with open(os.path.join(ctrl, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/default/capsuled"])
        for script in ("postinst", "prerm", "postrm"):
            self.assertEqual(run(["sh", "-n", os.path.join(ctrl, script)]).returncode, 0, script)
        with open(os.path.join(ctrl, "postinst")) as f:
            text = f.read()
        self.assertIn("deb-systemd-helper enable", text)
        self.assertIn("systemctl enable", text)

    def test_contents(self):
        self.assertEqual(self.files.get("/usr/sbin/capsuled", "")[:10], "-rwxr-xr-x")
        self.assertEqual(self.files.get("/etc/default/capsuled"), "-rw-------")
        # PID 1 of every box, found by the daemon at <sbin>/../libexec/capsule/
        self.assertEqual(self.files.get("/usr/libexec/capsule/capsule-box", "")[:10], "-rwxr-xr-x")
        self.unit_path()
        for pkg in ("python", "node", "gcc", "java"):
            for name in ("metadata.json", "run", "version"):
                self.assertIn("%s/%s/%s" % (RUNTIMES_DIR, pkg, name), self.files)
        self.assertIn("%s/gcc/compile" % RUNTIMES_DIR, self.files)
        self.assertFalse([f for f in self.files if f.startswith(RUNTIMES_DIR + "/registry")])
        # package data only (test.c is the gcc package's sample program): no registry sources
        self.assertFalse([f for f in self.files if f.endswith((".h", "CMakeLists.txt"))])
        if os.path.exists(os.path.join(T.SOURCE_DIR, "tests", "bench", "capsule-bench")) or \
                os.path.exists(os.path.join(T.SOURCE_DIR, "tests", "bench", "capsule-bench.c")):
            self.assertEqual(self.files.get("/usr/bin/capsule-bench", "")[:10], "-rwxr-xr-x")

    def test_daemon_defaults_to_packaged_runtimes(self):
        binary = os.path.join(self.root, "usr", "sbin", "capsuled")
        with open(binary, "rb") as f:
            self.assertIn(RUNTIMES_DIR.encode() + b"\0", f.read())
        p = run([binary, "--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^capsuled \d+\.\d+\.\d+$")

    def test_unit_file(self):
        with open(self.root + self.unit_path()) as f:
            unit = f.read()
        lines = dict((l.split("=", 1)[0], l.split("=", 1)[1]) for l in unit.splitlines()
                     if "=" in l and not l.startswith("#"))
        self.assertEqual(lines["ExecStart"], "/usr/sbin/capsuled")
        self.assertEqual(lines["Delegate"], "yes")
        self.assertEqual(lines["KillMode"], "control-group")
        self.assertEqual(lines["EnvironmentFile"], "-/etc/default/capsuled")
        self.assertEqual(lines["NoNewPrivileges"], "yes")
        self.assertEqual(lines["OOMPolicy"], "continue")
        self.assertEqual(lines["WantedBy"], "multi-user.target")
        # the stop timeout leaves the default 30 s drain room to finish
        self.assertGreater(int(lines["TimeoutStopSec"]), 30)
        caps = set(lines["CapabilityBoundingSet"].split())
        self.assertEqual(caps, {"CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP",
                                "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE", "CAP_KILL",
                                "CAP_SYS_RESOURCE", "CAP_SYS_CHROOT"})
        # options whose filters or mounts would break the sandbox
        for bad in ("RestrictNamespaces", "ProtectHostname", "MemoryDenyWriteExecute",
                    "SystemCallFilter", "ProtectControlGroups", "PrivateDevices", "ProtectClock"):
            self.assertNotIn(bad, lines)
        verify = shutil.which("systemd-analyze")
        if verify:
            tmp = os.path.join(self.build, "unit-check")
            os.makedirs(tmp, exist_ok=True)
            path = os.path.join(tmp, "capsuled.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/sbin/capsuled", self.root + "/usr/sbin/capsuled"))
            p = run([verify, "verify", path])
            problems = [l for l in (p.stdout + p.stderr).splitlines()
                        if "capsuled.service" in l and "Failed to" not in l and "bus" not in l.lower()]
            self.assertEqual(problems, [], p.stdout + p.stderr)

    def test_env_file_lists_every_setting(self):
        with open(os.path.join(T.SOURCE_DIR, "api", "config.c")) as f:
            names = re.findall(r'\{"((?:PISTON|CAPSULE)_[A-Z_]+)",', f.read())
        self.assertIn("CAPSULE_DRAIN_TIMEOUT", names)
        with open(os.path.join(self.root, "etc", "default", "capsuled")) as f:
            text = f.read()
        for name in names:
            self.assertRegex(text, r"(?m)^#?%s=" % name, name)
        # every line is a comment or a systemd-parsable assignment
        for line in text.splitlines():
            self.assertTrue(line == "" or line.startswith("#") or re.match(r"^[A-Z_]+=", line), line)

    def test_lintian_clean_of_errors(self):
        """lintian (Debian's package checker, which image pipelines run) reports no error; the
        warnings it may report are the ones the README states as kept, with their reasons."""
        if not shutil.which("lintian"):
            self.skipTest("lintian missing (scripts/install-deps.sh installs it)")
        p = run(["lintian", "--tag-display-limit", "0", self.deb])
        tags = [l for l in p.stdout.splitlines() if re.match(r"^[EWIPX]: capsule-engine", l)]
        errors = [l for l in tags if l.startswith("E:")]
        self.assertEqual(errors, [], p.stdout + p.stderr)
        warnings = {l.split()[2] for l in tags if l.startswith("W:")}
        with open(os.path.join(T.SOURCE_DIR, "README.md")) as f:
            readme = f.read()
        self.assertEqual({w for w in warnings if "`%s`" % w not in readme}, set(),
                         "lintian warnings the README does not state:\n" + p.stdout)

    def test_refuses_source_tree_build(self):
        p = run(["cmake", "-S", T.SOURCE_DIR, "-B", self.build,
                 "-DCAPSULE_DEFAULT_RUNTIMES_DIR=%s/runtimes" % T.SOURCE_DIR])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run(["cpack", "-G", "DEB"], cwd=self.build)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("a package needs %s" % RUNTIMES_DIR, " ".join((p.stdout + p.stderr).split()))

    def test_docker_and_cloud_init(self):
        with open(os.path.join(PKG, "docker", "Dockerfile")) as f:
            docker = f.read()
        self.assertIn("--privileged --cgroupns=private", docker)
        self.assertIn("packaging/build-deb.sh", docker)
        self.assertRegex(docker, r'(?m)^ENTRYPOINT \["/usr/sbin/capsuled"\]$')
        self.assertRegex(docker, r"(?m)^HEALTHCHECK [^\n]*\\\n[^\n]*/health")
        with open(os.path.join(PKG, "cloud-init", "capsuled.yaml")) as f:
            text = f.read()
        self.assertTrue(text.startswith("#cloud-config\n"))
        try:
            import yaml  # not stdlib: checked when present
        except ImportError:
            return
        doc = yaml.safe_load(text)
        self.assertIn("default-jdk-headless", doc["packages"])
        cmds = " ".join(" ".join(c) if isinstance(c, list) else c for c in doc["runcmd"])
        self.assertIn("apt-get install", cmds)
        self.assertIn("enable --now capsuled.service", cmds)
        self.assertEqual(doc["write_files"][0]["path"], "/etc/default/capsuled")


if __name__ == "__main__":
    T.run_tests()
