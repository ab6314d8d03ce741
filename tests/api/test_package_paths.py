#!/usr/bin/python3
"""Package directories anywhere on the host (issue 12): CAPSULE_RUNTIMES_DIR and
PISTON_DATA_DIRECTORY under /tmp, /home, /etc, /dev, /box or reached through /proc all work
for compiled and interpreted packages; the box's `/` shows nothing of where they live; a
Piston package (pkg-info.json, `.env` or an `environment` using $PWD) sees itself at its
Piston install path /piston/packages/<language>/<version>; a location the daemon hides
itself (its run directory) stops startup with one line."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

# What a box root may hold: the toolchain binds, the generated /etc, devices, proc, the job
# directories, the prepared-files mount and the packages' fixed location.
BOX_ROOT_ALLOWED = {"bin", "box", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt",
                    "piston", "proc", "sbin", "tmp", "usr"}

SHOW_SELF = "printf '%s\\n' \"$0\" \"$PKG_HOME\"; ls /\n"


def sh_job(src, language="sh", **kw):
    p = {"language": language, "version": "*", "files": [{"name": "main.sh", "content": src}]}
    p.update(kw)
    return p


def copy_fixtures(dst):
    shutil.copytree(T.FIXTURE_RUNTIMES, dst, symlinks=True)
    for root, dirs, _files in os.walk(dst):
        os.chmod(root, 0o755)


class PackageLocations(T.CapsuleTestCase):
    """The fixture packages (sh, and shc with a compile stage) copied to each location."""

    def run_in(self, parent, parent_mode=0o755):
        os.makedirs(parent, exist_ok=True)
        where = tempfile.mkdtemp(prefix="capsule-pkgloc-", dir=parent)
        self.addCleanup(shutil.rmtree, where, True)
        # a private parent (a home directory): the box binds the package itself, so the modes
        # of the directories above it do not matter
        os.chmod(where, parent_mode)
        runtimes = os.path.join(where, "runtimes")
        copy_fixtures(runtimes)
        with T.Daemon(runtimes=runtimes, max_jobs=2) as d:
            r = d.execute(sh_job("echo interpreted; ls /"))
            run = self.assertRun(r)
            self.assertTrue(run["stdout"].startswith("interpreted\n"), run)
            listing = set(run["stdout"].split("\n")[1:]) - {""}
            self.assertLessEqual(listing, BOX_ROOT_ALLOWED, (runtimes, listing))
            r = d.execute(sh_job("echo compiled", language="shc"))
            j = self.assertExecOk(r, compiled=True)
            self.assertEqual(j["compile"]["code"], 0, j)
            self.assertEqual(j["run"]["stdout"], "compiled\n", j)
        return run

    def test_under_tmp(self):
        self.run_in("/tmp")

    def test_under_home_with_private_parent(self):
        self.run_in("/home", parent_mode=0o700)

    def test_under_etc(self):
        self.run_in("/etc")

    def test_under_dev(self):
        self.run_in("/dev")

    def test_under_box(self):
        created = not os.path.exists("/box")
        if created:
            self.addCleanup(lambda: os.path.isdir("/box") and not os.listdir("/box") and os.rmdir("/box"))
        self.run_in("/box")

    def test_through_proc(self):
        base = tempfile.mkdtemp(prefix="capsule-pkgloc-proc-")
        self.addCleanup(shutil.rmtree, base, True)
        os.chmod(base, 0o755)
        self.run_in("/proc/%d/root%s" % (os.getpid(), base))

    def test_root_shows_nothing_of_the_source_tree(self):
        """From the source tree (e.g. /work/main/runtimes), `ls /` listed `work`."""
        with T.Daemon(runtimes="fixture", max_jobs=2) as d:
            r = d.execute(sh_job("ls /"))
            run = self.assertRun(r)
        listing = set(run["stdout"].split("\n")) - {""}
        top = T.FIXTURE_RUNTIMES.strip("/").split("/")[0]
        if top not in BOX_ROOT_ALLOWED:
            self.assertNotIn(top, listing, run)
        self.assertLessEqual(listing, BOX_ROOT_ALLOWED, run)


class CompiledUnderTmp(T.CapsuleTestCase):
    """The reported fault: a clone under /tmp, C and C++ failing with `/bin/bash:
    /tmp/x/runtimes/gcc/compile: No such file or directory`."""

    def test_c_and_cpp_from_a_runtimes_copy_under_tmp(self):
        T.require_root()
        T.require_toolchain("c", "c++")
        where = tempfile.mkdtemp(prefix="capsule-clone-")
        self.addCleanup(shutil.rmtree, where, True)
        os.chmod(where, 0o755)
        runtimes = os.path.join(where, "runtimes")
        os.makedirs(runtimes)
        shutil.copytree(os.path.join(T.REAL_RUNTIMES, "gcc"), os.path.join(runtimes, "gcc"),
                        symlinks=True)
        with T.Daemon(runtimes=runtimes, max_jobs=2) as d:
            for _ in range(3):  # the fault was intermittent: warm and cold boxes alike
                r = d.execute({"language": "c", "version": "*", "files": [
                    {"content": "#include <stdio.h>\nint main(void){puts(\"c ok\");}"}]})
                j = self.assertExecOk(r, compiled=True)
                self.assertEqual((j["compile"]["code"], j["run"]["stdout"]), (0, "c ok\n"), j)
                r = d.execute({"language": "c++", "version": "*", "files": [
                    {"content": "#include <iostream>\nint main(){std::cout<<\"cpp ok\\n\";}"}]})
                j = self.assertExecOk(r, compiled=True)
                self.assertEqual((j["compile"]["code"], j["run"]["stdout"]), (0, "cpp ok\n"), j)


def make_piston_package(data_dir, language, version, dotenv):
    """A package as Piston's ppman installs it: <data>/packages/<language>/<version>/ with
    pkg-info.json, run, environment, .ppman-installed and (if dotenv) Piston's cached .env,
    which holds the install path as Piston computed it on the host."""
    pkg = os.path.join(data_dir, "packages", language, version)
    os.makedirs(os.path.join(pkg, "bin"))
    with open(os.path.join(pkg, "pkg-info.json"), "w") as f:
        json.dump({"language": language, "version": version, "aliases": [],
                   "build_platform": "baremetal-debian"}, f)
    with open(os.path.join(pkg, "environment"), "w") as f:
        f.write("export PATH=$PWD/bin:/usr/bin:/bin\nexport PKG_HOME=$PWD\n")
    if dotenv:
        with open(os.path.join(pkg, ".env"), "w") as f:
            f.write("PATH=%s/bin:/usr/bin:/bin\nPKG_HOME=%s\n" % (pkg, pkg))
    # a tool of the package found through PATH, and one found through the install prefix
    with open(os.path.join(pkg, "bin", "greet"), "w") as f:
        f.write("#!/bin/bash\necho \"greet from $(dirname \"$0\")\"\n")
    with open(os.path.join(pkg, "run"), "w") as f:
        f.write("#!/bin/bash\ngreet\n\"$PKG_HOME/bin/greet\"\nexec /bin/bash \"$@\"\n")
    with open(os.path.join(pkg, ".ppman-installed"), "w") as f:
        f.write("1700000000000")
    for root, dirs, files in os.walk(os.path.join(data_dir, "packages")):
        os.chmod(root, 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o755)
    return pkg


class PistonPackages(T.CapsuleTestCase):
    def check(self, dotenv):
        T.require_root()
        where = tempfile.mkdtemp(prefix="capsule-piston-data-")
        self.addCleanup(shutil.rmtree, where, True)
        os.chmod(where, 0o755)
        make_piston_package(where, "bashy", "5.2.0", dotenv)
        with T.Daemon(runtimes="fixture", env={"PISTON_DATA_DIRECTORY": where}, max_jobs=2) as d:
            r = d.execute(sh_job(SHOW_SELF, language="bashy"))
            run = self.assertRun(r)
        prefix = "/piston/packages/bashy/5.2.0"
        lines = run["stdout"].split("\n")
        self.assertEqual(lines[:4], ["greet from %s/bin" % prefix, "greet from %s/bin" % prefix,
                                     "main.sh", prefix], run)
        self.assertLessEqual(set(lines[4:]) - {""}, BOX_ROOT_ALLOWED, run)
        self.assertNotIn(where, run["stdout"], run)

    def test_environment_with_pwd(self):
        self.check(dotenv=False)

    def test_cached_dotenv_with_host_install_path(self):
        self.check(dotenv=True)


class UnusableLocation(T.CapsuleTestCase):
    def refused(self, env_update):
        """Runs capsuled with the fixture environment plus env_update: it must exit 1 with one
        line on stderr and nothing on stdout. Returns the line."""
        d = T.Daemon(runtimes="fixture", max_jobs=1)
        env = d.env()
        env.update(env_update)
        p = subprocess.run([T.CAPSULED], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        d.cleanup()
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(p.stdout, b"")
        lines = err.strip().split("\n")
        self.assertEqual(len(lines), 1, err)
        return lines[0]

    def test_inside_the_run_directory(self):
        """The daemon mounts a private tmpfs on its run directory: a package directory under
        it would vanish for the boxes. Startup says so in one line and exits 1."""
        T.require_root()
        run_base = tempfile.mkdtemp(prefix="capsule-rundir-")
        self.addCleanup(shutil.rmtree, run_base, True)
        instance = "capsule-pkgloc-%d" % os.getpid()
        inside = os.path.join(run_base, instance, "runtimes")
        copy_fixtures(inside)
        line = self.refused({"RUNTIME_DIRECTORY": run_base, "CAPSULE_INSTANCE": instance,
                             "CAPSULE_RUNTIMES_DIR": inside})
        self.assertIn("CAPSULE_RUNTIMES_DIR", line)
        self.assertIn("run directory", line)

    def test_package_unreadable_by_the_sandbox_users(self):
        """A package directory only its owner can enter (mode 0700) fails every job of it
        (the box runs as a slot uid): refused at startup, naming the runtime and path."""
        T.require_root()
        where = tempfile.mkdtemp(prefix="capsule-pkgmode-")
        self.addCleanup(shutil.rmtree, where, True)
        os.chmod(where, 0o755)
        runtimes = os.path.join(where, "runtimes")
        copy_fixtures(runtimes)
        pkg = os.path.join(runtimes, "shc", "1.0.0")
        os.chmod(pkg, 0o700)
        line = self.refused({"CAPSULE_RUNTIMES_DIR": runtimes})
        self.assertIn("runtime shc: %s (mode 0700) is not readable by the sandbox users" % pkg, line)
        os.chmod(pkg, 0o755)
        os.chmod(os.path.join(pkg, "compile"), 0o700)
        line = self.refused({"CAPSULE_RUNTIMES_DIR": runtimes})
        self.assertIn("runtime shc: %s/compile (mode 0700)" % pkg, line)


if __name__ == "__main__":
    T.run_tests()
