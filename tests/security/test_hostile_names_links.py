#!/usr/bin/python3
"""Security property 8, hostile names and links.

Names: `..`, absolute paths, NUL, 300-byte components, 2000-byte names, a name that is also
another file's directory, too many files, too much content, bad base64/hex are answered
400 with the exact PISTON-API.md 3.1 / 2.3 rows 10-12 message, and nothing is written (no
box is even made: the daemon's mount namespace shows no job tmpfs, the host no file).

Links: a job plants symlinks, hard links, FIFOs and sockets under names the engine touches
later. A C program replaces its own a.out and source with links and FIFOs (the next identical
request, a compile cache hit, must still work); compile stages of the `shx` runtime (which run
the submitted script) leave links, FIFOs and sockets in the work dir and in /tmp: such a
compile is not cached (only regular files and directories are), the daemon never hangs, never
follows a link out of the box, /etc/shadow and friends are unchanged, and the engine's walk
that empties /tmp between stages copes with any tree the job leaves (a deep one included:
a compile stage is a program, its mess must never make an engine error)."""

import os
import resource
import time

import seclib as S
from seclib import T

BAD_NAME = "files[%d].name is not a valid file name"
QUOTA = "files exceed the sandbox disk quota"


def f(name, content="print(1)\n", encoding=None):
    d = {"name": name, "content": content}
    if encoding is not None:
        d["encoding"] = encoding
    return d


class HostileNames(S.SecTestCase):
    ENV = {"CAPSULE_TMPFS_INODES": "64", "CAPSULE_TMPFS_SIZE": str(4 * S.MiB)}

    def job_files(self):
        """Everything in the slots' job tmpfs (one per slot, kept between jobs, mounted in the
        slot worker thread's own mount namespace): between jobs it must all be empty."""
        found, points = [], 0
        task_dir = "/proc/%d/task" % self.daemon.pid
        for tid in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, tid, "mountinfo")) as fh:
                    mounts = [l.split()[4] for l in fh if " capsule-job " in l]
            except FileNotFoundError:
                continue
            for point in mounts:
                points += 1
                base = os.path.join(task_dir, tid, "root") + point
                for sub in ("submission", "tmp", "shm"):
                    for name in os.listdir(os.path.join(base, sub)):
                        found.append(os.path.join(point, sub, name))
        self.assertGreater(points, 0, "no job tmpfs found: the check would see nothing")
        return found

    def reject(self, files, message, tok):
        # the previous job's files go after its answer (teardown follows the response): wait
        # for them, so that whatever is there after the rejection is the rejection's doing
        S.wait_for(lambda: not self.job_files(), 10 * S.T.TIME_FACTOR)
        self.assertEqual(self.job_files(), [], "the previous job's files were never removed")
        p = {"language": "python", "version": "*", "files": files}
        r = self.daemon.execute(p)
        self.assertMessage(r, 400, message)
        self.assertEqual(self.job_files(), [], "a rejected request wrote into a job tmpfs")
        hits = S.host_scan(self.daemon.uid_min, self.daemon.uid_max, tok,
                           dirs=["/tmp", "/var/tmp", "/dev/shm", "/etc", "/root", "/"], depth=1)
        self.assertEqual(hits, [], "a rejected request wrote on the host")

    def test_bad_names(self):
        self.need("python")
        tok = "capsule-sec-" + os.urandom(4).hex()
        cases = [
            ("../" + tok, 0), ("a/../../" + tok, 0), ("../../../../../../../../tmp/" + tok, 0),
            ("/tmp/" + tok, 0), ("/etc/" + tok, 0), ("/" + tok, 0), ("..", 0), ("a/..", 0),
            (".", 0), ("./.", 0), ("a\u0000b" + tok, 0), (tok + "\u0000/../../x", 0),
            ("x" * 300, 0), ("a/" + "y" * 300 + "/b", 0), ("/".join(["z" * 99] * 20), 0),
            (tok + "/" + "w" * 256, 0),
        ]
        for name, idx in cases:
            with self.subTest(name=name[:60]):
                self.reject([f(name)], BAD_NAME % idx, tok)
        # the first bad index is reported; a good first file does not hide a bad second
        self.reject([f("main.py"), f("../" + tok)], BAD_NAME % 1, tok)
        # a name that is also another name's directory
        self.reject([f("main.py"), f(tok), f(tok + "/x")], BAD_NAME % 2, tok)
        # non-string names
        for bad in (123, ["a"], {"a": 1}, True):
            self.reject([f("main.py"), {"name": bad, "content": "x"}], BAD_NAME % 1, tok)
        # rows: a bad name (row 10) is reported before bad content (row 11)
        self.reject([f("main.py"), f("b", "!!!", "base64"), f("../x")], BAD_NAME % 2, tok)

    def test_bad_content(self):
        self.need("python")
        tok = "capsule-sec-" + os.urandom(4).hex()
        for content, enc in (("!!!!", "base64"), ("aGVsbG8=x", "base64"), ("a", "base64"),
                             ("abc", "hex"), ("zz", "hex"), ("0g", "hex"), ("\u00e9", "base64")):
            with self.subTest(content=content, enc=enc):
                self.reject([f("main.py"), f(tok, content, enc)],
                            "files[1].content is not valid %s" % enc, tok)

    def test_huge_argument(self):
        """An argument longer than the kernel's MAX_ARG_STRLEN (128 KiB) cannot be exec'd: the
        request must get a 400 or a verdict, never a 500 "sandbox failure" (a client must not
        be able to make the engine report a sandbox failure)."""
        self.need("python")
        for args in (["x" * (200 * 1024)], ["a", "b" * (129 * 1024)]):
            p = {"language": "python", "version": "*", "files": [f("main.py")], "args": args}
            r = self.daemon.execute(p)
            self.assertIn(r.status, (200, 400), "a long argument made a %d: %r" % (r.status, r))
            if r.status == 200:
                self.assertNotEqual(r.json["run"]["status"], "XX", r)
        self.hello_ok(("python",))

    def test_quota(self):
        self.need("python")
        tok = "capsule-sec-" + os.urandom(4).hex()
        many = [f("main.py")] + [f("%s-%d" % (tok, i), "x") for i in range(80)]
        self.reject(many, QUOTA, tok)
        deep = [f("main.py"), f(tok + "/" + "d/" * 70 + "x", "x")]  # 71 directories
        self.reject(deep, QUOTA, tok)
        self.reject([f("main.py"), f(tok, "A" * (5 * S.MiB))], QUOTA, tok)
        big = S.T.b64(os.urandom(5 * S.MiB))
        self.reject([f("main.py"), f(tok, big, "base64")], QUOTA, tok)
        # the daemon is fine afterwards
        self.hello_ok(("python",))


class CLinks(S.SecTestCase):
    """A C program replaces a.out and its source with links, FIFOs and sockets; the engine
    touches none of them after the run, and the compile cache was taken before the run."""
    MAX_JOBS = 1

    def test_c_run_stage_plants_links(self):
        self.need("c")
        src = r'''
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    puts("planting");
    fflush(stdout);
    unlink("a.out"); symlink("/etc/passwd", "a.out");
    unlink("main.c.c"); mkfifo("main.c.c", 0666);
    link("/etc/shadow", "shadow-hard");        /* EXDEV or ENOENT: not our filesystem */
    symlink("/etc/shadow", "shadow");
    symlink("/", "root");
    symlink("/proc/1/root", "pid1root");
    snprintf(a.sun_path, sizeof a.sun_path, "sock");
    bind(s, (struct sockaddr *)&a, sizeof a);
    mkfifo("/tmp/fifo", 0666); symlink("/etc", "/tmp/etc"); symlink("/etc", "/dev/shm/etc");
    return 0;
}
'''
        before = S.host_files_state()
        outs = []
        for i in range(3):  # the second and third are compile cache hits
            t0 = time.monotonic()
            run = self.run_ok("c", src, what="link planter %d" % i)
            self.assertLess(time.monotonic() - t0, S.slack_ms(5000) / 1000.0)
            outs.append(run["stdout"])
        self.assertEqual(outs, ["planting\n"] * 3, "a planted link poisoned a later job")
        self.assertEqual(S.host_files_state(), before, "host files changed")
        self.hello_ok(("c",))
        self.no_leftovers()


SHX_PLANT = r'''
case "$1" in
compile)
    echo "compile $(date +%%s%%N) $RANDOM$RANDOM"
    echo data > regular
    mkdir -p dir/sub && echo nested > dir/sub/file
    %(plant)s
    ;;
run)
    echo "run $(cat regular 2>&1) $(cat dir/sub/file 2>&1)"
    ;;
esac
'''

PLANTS = {
    "symlink": "ln -s /etc/shadow shadow",
    "symlink_dir": "ln -s /etc etc",
    "symlink_nested": "ln -s /etc/passwd dir/sub/passwd",
    "dangling": "ln -s /nonexistent/capsule dangling",
    "fifo": "mkfifo p",
    "fifo_nested": "mkfifo dir/sub/p",
    "socket": "/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")'",
    "source_replaced": "rm -f main.sh && ln -s /etc/shadow main.sh",
    "regular_replaced_by_fifo": "rm -f regular && mkfifo regular",
}


class CompileStageLinks(S.SecTestCase):
    """shx compile stages plant links, FIFOs and sockets. The daemon runs with a soft
    RLIMIT_NOFILE of 1024, the common default, so that a walk holding one descriptor per
    directory level shows."""
    RUNTIMES = "security"
    MAX_JOBS = 2

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cls._nofile = (soft, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        try:
            super().setUpClass()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, cls._nofile)

    def shx(self, src, what, **kw):
        t0 = time.monotonic()
        r = self.submit(self.payload("shx", src, **kw), what=what)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, S.slack_ms(12000) / 1000.0, "%s: answer took %.1f s" % (what, elapsed))
        return r.json

    def test_regular_files_are_cached(self):
        """Positive control: a compile leaving regular files and directories only is cached
        (the identical second request gets the recorded compile stage, timestamp included)."""
        src = SHX_PLANT % {"plant": ":"}
        a = self.shx(src, "control 1")
        b = self.shx(src, "control 2")
        self.assertEqual(a["compile"]["stdout"], b["compile"]["stdout"], "control compile not cached")
        self.assertEqual(b["run"]["stdout"], "run data nested\n", b["run"])

    def test_links_fifos_sockets_not_cached(self):
        before = S.host_files_state()
        for name, plant in PLANTS.items():
            with self.subTest(plant=name):
                src = SHX_PLANT % {"plant": plant}
                a = self.shx(src, name + " 1")
                self.assertEqual(a["compile"]["code"], 0, a["compile"])
                b = self.shx(src, name + " 2")
                self.assertEqual(b["compile"]["code"], 0, b["compile"])
                self.assertNotEqual(a["compile"]["stdout"], b["compile"]["stdout"],
                                    "%s: a compile that left a %s was cached" % (name, name))
        self.assertEqual(S.host_files_state(), before, "host files changed")
        self.hello_ok(())
        self.no_leftovers()

    def test_scratch_links_not_followed(self):
        """/tmp and /dev/shm are emptied between compile and run by a walk that must never
        follow what the compile stage left there."""
        tok = os.urandom(4).hex()
        plant = ("for d in /tmp /dev/shm; do ln -s /etc $d/etc; ln -s /etc/shadow $d/shadow; "
                 "mkfifo $d/fifo; mkdir -p $d/locked/x; touch $d/locked/x/f; chmod 0 $d/locked/x "
                 "$d/locked; ln -s / $d/locked/root 2>/dev/null; ln -s /tmp/capsule-sec-%s $d/dangle; "
                 "/usr/bin/python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('$d/sock')\"; "
                 "done" % tok)
        src = SHX_PLANT % {"plant": plant}
        before = S.host_files_state()
        j = self.shx(src, "scratch links")
        self.assertEqual((j["run"]["status"], j["run"]["stdout"]), (None, "run data nested\n"), j)
        self.assertEqual(S.host_files_state(), before, "host files changed")
        self.assertFalse(os.path.lexists("/tmp/capsule-sec-%s" % tok))
        self.no_leftovers()

    def test_deep_scratch_tree(self):
        """A compile stage leaves a deep directory chain in /tmp (the tmpfs inode cap allows
        thousands of levels). Emptying /tmp before the run stage must still work: an answer
        with a verdict, never a 500 or XX, and the slot stays usable."""
        for depth in (200, 1500):
            src = ('case "$1" in\ncompile) /usr/bin/python3 -c "\nimport os\nos.chdir(\'/tmp\')\n'
                   'for i in range(%d):\n    os.mkdir(\'d\')\n    os.chdir(\'d\')\nprint(\'deep\', i + 1)"'
                   ' ;;\nrun) echo run $(ls -A /tmp) ;;\nesac\n' % depth)
            r = self.daemon.execute(self.payload("shx", src), timeout=60)
            self.assertEqual(r.status, 200,
                             "depth %d: the engine failed on the job's /tmp tree: %r" % (depth, r))
            j = r.json
            self.assertEqual(j["compile"]["stdout"], "deep %d\n" % depth, j["compile"])
            self.assertEqual(j["run"]["stdout"], "run\n", j["run"])
        self.hello_ok(())
        self.no_leftovers()

    def hello_ok(self, langs=()):
        j = self.shx('case "$1" in compile) echo c;; run) echo hello;; esac\n', "hello shx")
        self.assertEqual(j["run"]["stdout"], "hello\n", j)


if __name__ == "__main__":
    S.run_tests()
