#!/usr/bin/python3
"""Security property 4b, file locks that are not a channel: locks work on the job's own files
(SQLite on disk with a WAL and with a rollback journal, in the sqlite3 runtime and through
Python's sqlite3 module, with a second connection really kept out), and no lock a job takes
on anything else can be seen by a job in another slot: job A locks every shared inode it can
reach (toolchain and /etc files, the package's files, device nodes, nsfs files of namespaces
shared with the host, the anon inode behind eventfd/epoll/timerfd/inotify, procfs,
directories) with flock, POSIX and OFD locks, and while it holds them job B's flock, F_SETLK,
F_OFD_SETLK, F_GETLK and F_OFD_GETLK answers are exactly those of B run alone. A's own child
sees A's locks (the probe is sensitive), the host does not, and /proc/locks reads empty.
C (lockprobe.c) and Python (lockprobe.py).

A holds until B is done: the test finds A's box process on the host, waits for its
/tmp/<tok>.ready (through /proc/<pid>/root) and releases it with /tmp/<tok>.release."""

import fcntl
import os
import struct
import threading

import seclib as S
from seclib import T

# Targets on which A's locks are private to A's slot, so A's own child must see them.
SEEN_IN_BOX = ["/usr/bin/python3", "/usr/bin/bash", "/etc/passwd", "/etc/ld.so.cache", "/",
               "/usr", "/dev/null", "/dev/zero", "/proc/sys/kernel/hostname"]
# Inodes the whole host shares; the daemon's shared locks fix every answer on them.
SQUATTED = ["@eventfd", "@epoll", "@timerfd", "@inotify", "/proc/self/ns/user",
            "/proc/self/ns/cgroup", "/proc/self/ns/time"]


def host_getlk(path):
    """F_GETLK for a write lock over the whole file, from the host: (type, pid)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fl = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
        t, _, _, _, pid = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, fl))
        return t, pid
    finally:
        os.close(fd)


def package_file_of(daemon, lang):
    """A file of the job's package: (its host path, the path its boxes see it at,
    /piston/packages/<language>/<version>/run)."""
    d, meta = T.find_package(daemon.runtimes_dir, {"c": "gcc", "python": "python"}[lang])
    box = "/piston/packages/%s/%s/run" % (meta["language"], meta["version"])
    return os.path.join(os.path.realpath(d), "run"), box


def source(lang):
    return S.program("lockprobe.c" if lang == "c" else "lockprobe.py")


# Job A holds its locks while B runs: its wall limit must outlast B's whole job, which on a
# slow host (the v2vm lane's emulated guest) takes many times longer than here.
HOLD_MS = int(min(max(3000, 3000 * T.TIME_FACTOR), 60000))


class LockChannel(S.SecTestCase):
    MAX_JOBS = 2  # A holds one slot, so B runs in the other
    ENV = {"PISTON_RUN_TIMEOUT": str(HOLD_MS)}

    def probe(self, lang, what):
        run = self.run_ok(lang, source(lang), what=what, args=["probe", package_file_of(self.daemon, lang)[1]])
        return S.kv(run["stdout"])

    def find_ready(self, tok):
        d = self.daemon
        for pid in S.box_processes(d.uid_min, d.uid_max):
            if os.path.exists("/proc/%d/root/tmp/%s.ready" % (pid, tok)):
                return pid
        return None

    def check_baseline(self, base, pkg):
        # locks work everywhere a box can lock without reaching another slot...
        for t in SEEN_IN_BOX + [pkg]:
            self.assertEqual(base.get("flock_ex:" + t), "ok", "flock on %s: %r" % (t, base))
            self.assertEqual(base.get("setlk_rd:" + t), "ok", "F_SETLK on %s" % t)
            self.assertEqual(base.get("getlk_wr:" + t), "UN,0,0,0", "F_GETLK on %s" % t)
        # ...read-only ones take no write lock (no writable fd)...
        self.assertEqual(base.get("setlk_wr:/usr/bin/python3"), "EBADF")
        # ...and on host-wide inodes only shared requests are granted, whoever asks
        for t in SQUATTED:
            self.assertEqual(base.get("flock_sh:" + t), "ok", t)
            self.assertEqual(base.get("flock_ex:" + t), "EAGAIN", t)
            self.assertEqual(base.get("ofd_getlk_wr:" + t), "RD,0,0,-1", t)
        self.assertEqual(base.get("setlk_wr:@eventfd"), "EAGAIN")
        self.assertEqual(base.get("proc_locks"), "0 bytes")

    def concurrent(self, lang):
        self.need(lang)
        host_pkg, pkg = package_file_of(self.daemon, lang)
        base = self.probe(lang, "B alone")
        self.check_baseline(base, pkg)
        tok = os.urandom(4).hex()
        out = {}

        def job_a():
            try:
                out["a"] = self.daemon.execute(self.payload(
                    lang, source(lang), args=["hold", tok, pkg],
                    run_timeout=HOLD_MS), timeout=120 + HOLD_MS / 1000)
            except Exception as e:  # noqa: BLE001
                out["a_error"] = e

        ta = threading.Thread(target=job_a, daemon=True)
        ta.start()
        try:
            pid = S.wait_for(lambda: self.find_ready(tok) or ("a" in out or "a_error" in out) and -1,
                             30 * T.TIME_FACTOR)
            self.assertTrue(pid and pid > 0, "job A never got ready: %r" % out)
            rb = self.submit(self.payload(lang, source(lang), args=["probe", pkg]), what="job B")
            host = {p: host_getlk(p) for p in ("/usr/bin/python3", "/usr/bin/bash", host_pkg)}
            self.assertTrue(os.path.exists("/proc/%d" % pid), "job A died while B ran")
        finally:
            p = S.wait_for(lambda: self.find_ready(tok), 0.1)
            if p:
                with open("/proc/%d/root/tmp/%s.release" % (p, tok), "w"):
                    pass
            ta.join(120)
        self.assertNotIn("a_error", out)
        ra = out["a"]
        self.assertEqual(ra.status, 200, ra)
        run_a = ra.json["run"]
        self.assertEqual((run_a["status"], run_a["code"]), (None, 0), run_a)
        a = S.kv(run_a["stdout"])
        self.assertEqual(a.get("released"), "1", "A did not hold until released")
        # positive control: A's locks are real, and A's other processes see them
        for t in SEEN_IN_BOX + [pkg]:
            self.assertNotEqual(a.get("inbox.flock_ex:" + t), base["flock_ex:" + t],
                                "A's flock on %s invisible in its own box" % t)
            self.assertNotEqual(a.get("inbox.getlk_wr:" + t), base["getlk_wr:" + t],
                                "A's POSIX/OFD lock on %s invisible in its own box" % t)
        # the property: B in the other slot sees exactly what it sees alone
        run_b = rb.json["run"]
        self.assertEqual((run_b["status"], run_b["code"]), (None, 0), run_b)
        b = S.kv(run_b["stdout"])
        diff = {k: (base.get(k), b.get(k)) for k in set(base) | set(b) if base.get(k) != b.get(k)}
        self.assertEqual(diff, {}, "job B's lock answers changed while job A held its locks")
        # nor does the host see A's locks on the files it shares with the boxes
        for p, (t, _) in host.items():
            self.assertEqual(t, fcntl.F_UNLCK, "A's lock on %s visible on the host" % p)
        self.no_leftovers()

    def test_c_concurrent(self):
        self.concurrent("c")

    def test_python_concurrent(self):
        self.concurrent("python")


SQLITE_SCRIPT = """\
.open wal.db
PRAGMA journal_mode=WAL;
CREATE TABLE t(x);
INSERT INTO t VALUES (1), (2);
SELECT sum(x) FROM t;
.open /tmp/journal.db
PRAGMA journal_mode=DELETE;
CREATE TABLE u(y);
BEGIN;
INSERT INTO u VALUES ('a');
COMMIT;
SELECT count(*) FROM u;
.open /dev/shm/shm.db
PRAGMA journal_mode=TRUNCATE;
CREATE TABLE v(z);
INSERT INTO v VALUES (3);
SELECT * FROM v;
"""

PY_SQLITE = r"""
import os, sqlite3, sys
def check(path, mode):
    a = sqlite3.connect(path, timeout=0, isolation_level=None)
    print(path, a.execute("PRAGMA journal_mode=%s" % mode).fetchone()[0])
    a.execute("CREATE TABLE t(x)")
    b = sqlite3.connect(path, timeout=0, isolation_level=None)
    a.execute("BEGIN IMMEDIATE")
    a.execute("INSERT INTO t VALUES (1)")
    try:
        b.execute("INSERT INTO t VALUES (2)")
        print(path, "second writer got in")
    except sqlite3.OperationalError as e:
        print(path, "second writer:", e)
    pid = os.fork()
    if pid == 0:
        c = sqlite3.connect(path, timeout=0)
        try:
            c.execute("INSERT INTO t VALUES (3)")
            c.commit()
            os._exit(1)
        except sqlite3.OperationalError:
            os._exit(0)
    _, st = os.waitpid(pid, 0)
    print(path, "other process kept out:", os.WEXITSTATUS(st) == 0)
    a.execute("COMMIT")
    b.execute("INSERT INTO t VALUES (2)")
    print(path, b.execute("SELECT sum(x) FROM t").fetchone()[0])
check("wal.db", "wal")
check("/tmp/journal.db", "delete")
check("/dev/shm/shm.db", "persist")
"""


class LocksWork(S.SecTestCase):
    MAX_JOBS = 1

    def test_sqlite3_runtime_on_disk(self):
        T.require_toolchain("sqlite3")
        r = self.submit({"language": "sqlite3", "version": "*",
                         "files": [{"name": "main.sql", "content": SQLITE_SCRIPT}]}, what="sqlite3")
        run = r.json["run"]
        self.assertEqual((run["status"], run["code"], run["stderr"]), (None, 0, ""), run)
        self.assertEqual(run["stdout"], "wal\n3\ndelete\n1\ntruncate\n3\n")

    def test_python_sqlite3_module_on_disk(self):
        self.need("python")
        run = self.run_ok("python", PY_SQLITE, what="python sqlite3")
        self.assertEqual(run["stderr"], "")
        lines = run["stdout"].splitlines()
        want = []
        for path, mode in (("wal.db", "wal"), ("/tmp/journal.db", "delete"),
                           ("/dev/shm/shm.db", "persist")):
            want += ["%s %s" % (path, mode), "%s second writer: database is locked" % path,
                     "%s other process kept out: True" % path, "%s 3" % path]
        self.assertEqual(lines, want)

    def test_c_posix_lock_between_processes(self):
        # the lock of one process of the job is seen by another, on the job's own tmpfs
        self.need("c")
        src = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    const char *paths[] = {"f", "/tmp/f", "/dev/shm/f"};
    for (int i = 0; i < 3; i++) {
        int fd = open(paths[i], O_RDWR | O_CREAT, 0644);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0 || flock(fd, LOCK_EX) < 0) { perror(paths[i]); return 1; }
        pid_t pid = fork();
        if (pid == 0) {
            int g = open(paths[i], O_RDWR);
            struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            fcntl(g, F_GETLK, &q);
            printf("%s %s %d %d\n", paths[i], q.l_type == F_WRLCK ? "WR" : "other",
                   q.l_pid == getppid(), flock(g, LOCK_EX | LOCK_NB));
            fflush(stdout);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
        fflush(stdout);
    }
    return 0;
}
"""
        run = self.run_ok("c", src, what="posix lock")
        self.assertEqual(run["stdout"], "f WR 1 -1\n/tmp/f WR 1 -1\n/dev/shm/f WR 1 -1\n")


if __name__ == "__main__":
    S.run_tests()
