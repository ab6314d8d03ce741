#!/usr/bin/python3
"""Security property 1, host invisible: a box sees only read-only runtime directories and its
own tmpfs; no host /root, /home, /var, /run, /sys, host /tmp, engine configuration or sockets;
/proc is the box's own (only box pids, PID 1 = the supervisor, closed); no host secret is
readable (canary files created on the host before the daemon starts, a token in the daemon's
environment). Probes in C (fsprobe.c) and Python (fsprobe.py), same protocol."""

import os
import socket

import seclib as S
from seclib import T

# Mount points a box may have (README "Security"), besides the package directory.
BOX_MOUNTS = {"/", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
              "/etc/alternatives", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
              "/dev/urandom", "/dev/shm", "/proc", "/proc/locks", "/box/submission", "/tmp",
              "/opt/capsule/prepared"}
WRITABLE_MOUNTS = {"/box/submission", "/tmp", "/dev/shm", "/dev/null", "/dev/zero", "/dev/full",
                   "/dev/random", "/dev/urandom"}
ROOT_ENTRIES = {"box", "bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin",
                "tmp", "usr"}
ETC_ALLOWED = {"passwd", "group", "hosts", "ld.so.cache", "localtime", "alternatives"}
HOST_ONLY = ["/root", "/home", "/var", "/run", "/sys", "/srv", "/mnt", "/media", "/boot",
             "/lost+found", "/opt", "/run/capsule", "/var/lib/capsuled", "/etc/shadow",
             "/etc/hostname", "/etc/resolv.conf", "/etc/machine-id", "/etc/ssh", "/etc/sudoers"]
PID1 = ["read:/proc/1/cmdline", "read:/proc/1/environ", "read:/proc/1/maps",
        "read:/proc/1/mem", "ls:/proc/1/fd", "readlink:/proc/1/root", "readlink:/proc/1/cwd",
        "readlink:/proc/1/exe", "ls:/proc/1/root/"]


def package_dir(lang):
    """(host directory, box path /piston/packages/<language>/<version> of its metadata)."""
    d, meta = T.find_package(T.REAL_RUNTIMES, {"c": "gcc", "python": "python"}[lang])
    return os.path.realpath(d), "/piston/packages/%s/%s" % (meta["language"], meta["version"])


class HostInvisible(S.SecTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # host-side sockets a box must not reach: an abstract one (host network namespace) and
        # one on a path in host /tmp
        cls.sock_name = "capsule-sec-host-%s" % os.urandom(6).hex()
        cls.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cls.abstract.bind("\0" + cls.sock_name)
        cls.abstract.listen(4)
        cls.sock_path = "/tmp/%s.sock" % cls.sock_name
        cls.pathsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cls.pathsock.bind(cls.sock_path)
        cls.pathsock.listen(4)

    @classmethod
    def tearDownClass(cls):
        cls.abstract.close()
        cls.pathsock.close()
        try:
            os.unlink(cls.sock_path)
        except FileNotFoundError:
            pass
        super().tearDownClass()

    def probe_ops(self, lang):
        host_pkg, pkg = package_dir(lang)
        ops = ["ls:/", "ls:/etc", "ls:/box", "ls:/tmp", "ls:/dev/shm", "ls:/dev", "ls:.",
               "read:/etc/passwd", "lstat:/sys", "lstat:/proc/sys", "mountinfo:", "pids:"]
        ops += ["lstat:%s" % p for p in HOST_ONLY]
        ops += ["read:%s" % p for p in (S.CANARY_FILE, S.CANARY_SECRET, self.canaries.tmp_path,
                                        "/etc/shadow", "/proc/1/environ", "/proc/self/environ")]
        ops += ["lstat:%s" % self.canaries.tmp_path, "lstat:%s" % self.daemon.log_path,
                "lstat:%s" % T.CAPSULED, "lstat:%s/README.md" % T.SOURCE_DIR]
        ops += PID1
        ops += ["env:ENGINE_CANARY_ENV", "env:%s" % self.daemon.canary_name,
                "env:CAPSULE_INSTANCE", "env:PISTON_RUNNER_UID_MIN", "env:PATH"]
        ops += ["abstract:%s" % self.sock_name, "unix:%s" % self.sock_path]
        # every ancestor of the package's box path shows only the next component; its host
        # path is not there at all
        parts = pkg.strip("/").split("/")
        for i in range(1, len(parts)):
            ops.append("ls:/" + "/".join(parts[:i]))
        ops.append("lstat:%s" % host_pkg)
        return ops, (host_pkg, pkg), parts

    def check_view(self, lang, out, pkgs, parts):
        host_pkg, pkg = pkgs
        res = S.kv(out)
        what = "%s probe" % lang
        # / holds only the box's own entries and /piston (the packages' fixed location):
        # nothing of where the package lives on the host
        root = set(res["ls:/"].split(":", 1)[1].split(","))
        self.assertLessEqual(root, ROOT_ENTRIES | {"piston"}, "%s: unexpected entries in /" % what)
        if host_pkg.split("/")[1] not in ROOT_ENTRIES:  # not under /usr (an installed package)
            self.assertEqual(res["lstat:%s" % host_pkg], "ENOENT",
                             "%s: host package path visible" % what)
        self.assertEqual(res["ls:/box"], "ok:submission", what)
        for p in HOST_ONLY:
            self.assertEqual(res["lstat:%s" % p], "ENOENT", "%s: host path %s visible" % (what, p))
        self.assertEqual(res["lstat:/sys"], "ENOENT", what)
        # a generated /etc: no host file beyond the documented allowlist
        etc = set(res["ls:/etc"].split(":", 1)[1].split(","))
        extra = {e for e in etc - ETC_ALLOWED if not e.startswith("java-")}
        self.assertEqual(extra, set(), "%s: host /etc entries visible" % what)
        passwd = res["read:/etc/passwd"]
        self.assertTrue(passwd.startswith("ok:root:x:0:0:root:/root:/usr/sbin/nologin\\x0arunner0:"),
                        "%s: /etc/passwd is not the generated one: %s" % (what, passwd))
        # canaries and secrets: not even visible
        for p in (S.CANARY_FILE, S.CANARY_SECRET, self.canaries.tmp_path, "/etc/shadow"):
            self.assertEqual(res["read:%s" % p], "ENOENT", "%s: %s" % (what, p))
        self.assertEqual(res["lstat:%s" % self.daemon.log_path], "ENOENT", what)
        if os.path.realpath(T.CAPSULED).split("/")[1] not in ROOT_ENTRIES:  # not /usr/sbin/...
            self.assertEqual(res["lstat:%s" % T.CAPSULED], "ENOENT", "%s: daemon binary visible" % what)
        self.assertEqual(res["lstat:%s/README.md" % T.SOURCE_DIR], "ENOENT", what)
        self.assertEqual(res["env:ENGINE_CANARY_ENV"], "(unset)", what)
        self.assertEqual(res["env:%s" % self.daemon.canary_name], "(unset)", what)
        self.assertEqual(res["env:CAPSULE_INSTANCE"], "(unset)", what)
        self.assertEqual(res["env:PISTON_RUNNER_UID_MIN"], "(unset)", what)
        # host sockets: the abstract one lives in the host's network namespace, the path one
        # in host /tmp
        self.assertEqual(res["abstract:%s" % self.sock_name], "ECONNREFUSED",
                         "%s: host abstract unix socket reachable" % what)
        self.assertEqual(res["unix:%s" % self.sock_path], "ENOENT", what)
        # package ancestors are empty directories but for the next component
        for i in range(1, len(parts)):
            self.assertEqual(res["ls:/" + "/".join(parts[:i])], "ok:" + parts[i],
                             "%s: package ancestor shows host entries" % what)
        # /proc: only the box's pids: PID 1 (supervisor) and the probe itself
        pids = set(res["pids"].split(","))
        self.assertIn(res["self"], pids, what)
        self.assertLessEqual(pids, {"1", res["self"]}, "%s: foreign pids visible in /proc" % what)
        self.assertNotEqual(res["self"], "1", "%s: the program must not be PID 1" % what)
        # PID 1 is closed: cmdline, environ, maps, mem, fd, root, cwd, exe all fail
        opened = {op: res[op] for op in PID1 if res[op].startswith("ok")}
        self.assertEqual(opened, {}, "%s: the supervisor (PID 1) is readable from the box" % what)
        self.assertTrue(res["read:/proc/self/environ"].startswith("ok"), what)
        # mountinfo: only the documented mounts; no host path besides the bound ones; all
        # read-only but the box's scratch and the device nodes
        mounts = [v for k, v in S.kv_all(out) if k == "mi"]
        self.assertTrue(mounts, what)
        bad = []
        for line in mounts:
            pre, _, post = line.partition(" - ")
            f = pre.split()
            root_field, mpoint, opts = f[3], f[4], f[5].split(",")
            fstype, source = post.split()[0], post.split()[1]
            ok_point = mpoint in BOX_MOUNTS or mpoint == pkg or mpoint.startswith("/etc/java-")
            if fstype == "tmpfs" and source == "capsule-slot-private":
                # the slot's own device nodes; /dev/null also masks /proc/locks
                ok_root = root_field == ("/null" if mpoint == "/proc/locks"
                                         else "/" + os.path.basename(mpoint))
            elif fstype in ("tmpfs",) and source.startswith("capsule-"):
                ok_root = root_field in ("/", "/etc", "/submission", "/tmp", "/shm")
            elif fstype == "proc":
                ok_root = root_field == "/"
            elif fstype == "overlay" and source == "capsule-ro":
                # the slot's private read-only overlay of a host directory (file locks)
                ok_root = root_field == "/"
            elif fstype == "devtmpfs":
                ok_root = root_field == "/" + os.path.basename(mpoint)
            elif mpoint == "/opt/capsule/prepared":
                ok_root = root_field.startswith("/var/cache/capsule/")
            elif mpoint == pkg:  # the package, from wherever it lives on the host
                ok_root = root_field == "/" or host_pkg.endswith(root_field)
            else:
                ok_root = root_field == mpoint  # a host directory bound at its own path
            ok_opts = "nosuid" in opts and (mpoint in WRITABLE_MOUNTS or "ro" in opts)
            if not (ok_point and ok_root and ok_opts):
                bad.append(line)
        self.assertEqual(bad, [], "%s: unexpected mounts in the box" % what)

    def test_c_view(self):
        self.need("c")
        ops, pkg, parts = self.probe_ops("c")
        run = self.run_ok("c", S.program("fsprobe.c"), what="fsprobe.c", args=ops)
        self.check_view("c", run["stdout"], pkg, parts)

    def test_python_view(self):
        self.need("python")
        ops, pkg, parts = self.probe_ops("python")
        run = self.run_ok("python", S.program("fsprobe.py"), what="fsprobe.py", args=ops)
        self.check_view("python", run["stdout"], pkg, parts)

    def test_python_no_secret_anywhere(self):
        """Every small readable file of the box (outside the read-only toolchain trees) is
        dumped; the canary tokens must appear in none of them (the helper checks the whole
        answer)."""
        self.need("python")
        src = r'''
import os
def dump(p):
    try:
        with open(p, "rb") as fh:
            print(p, fh.read(65536).decode("latin-1"))
    except OSError as e:
        print(p, "ERR", e.errno)
for p in ["/proc/self/environ", "/proc/self/cmdline", "/proc/1/environ", "/proc/1/cmdline"]:
    dump(p)
for top in ["/etc", "/tmp", "/box", "/dev/shm"]:
    for dirpath, dirs, files in os.walk(top):
        # bound host toolchain configuration, documented and not secret
        dirs[:] = [d for d in dirs if d != "alternatives" and not d.startswith("java-")]
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p) and f != "ld.so.cache":
                dump(p)
'''
        run = self.run_ok("python", src, what="secret scan")
        self.assertIn("/etc/passwd", run["stdout"])


if __name__ == "__main__":
    S.run_tests()
