#!/usr/bin/python3
"""Security property 2, nothing writable but the box: writes to /, /etc, /usr, /proc/sys,
/sys, the runtime package directory and toolchain binaries fail; the job tmpfs (work dir,
/tmp, /dev/shm) is capped in bytes and inodes; nothing a job writes survives its response
(the next job in the same slot sees an empty /tmp and /dev/shm and only its own files in its
work dir; /tmp and /dev/shm are emptied between compile and run); nothing appears on the host.
Probes in C and Python (fsprobe.c / fsprobe.py)."""

import os

import seclib as S
from seclib import T

TMPFS_SIZE = 16 * S.MiB
TMPFS_INODES = 256


def package_dir(lang):
    d, _ = T.find_package(T.REAL_RUNTIMES, {"c": "gcc", "python": "python"}[lang])
    return os.path.realpath(d)


def toolchain_binary(lang):
    return os.path.realpath({"c": "/usr/bin/gcc", "python": "/usr/bin/python3"}[lang])


class NothingWritable(S.SecTestCase):
    MAX_JOBS = 1  # every job of this class lands in the same slot
    ENV = {"CAPSULE_TMPFS_SIZE": str(TMPFS_SIZE), "CAPSULE_TMPFS_INODES": str(TMPFS_INODES)}

    def denied_ops(self, lang, tok):
        pkg = package_dir(lang)
        tool = toolchain_binary(lang)
        new = "capsule-sec-%s" % tok
        ops = []
        for d in ("/", "/etc", "/usr", "/usr/bin", "/usr/lib", "/bin", "/lib", "/box", "/dev",
                  "/proc", "/etc/alternatives", pkg, os.path.dirname(pkg)):
            ops += ["writenew:%s/%s" % (d.rstrip("/"), new), "mkdir:%s/%s.d" % (d.rstrip("/"), new),
                    "symlink:%s/%s.l" % (d.rstrip("/"), new), "mkfifo:%s/%s.p" % (d.rstrip("/"), new)]
        ops += ["writenew:/sys/%s" % new, "mkdir:/sys"]
        ops += ["openw:%s" % p for p in (
            "/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
            "/proc/sysrq-trigger", "/proc/sys/kernel/modprobe", "/etc/passwd", "/etc/hosts",
            "/etc/ld.so.cache", tool, "/usr/bin/bash", "/bin/sh", pkg + "/run",
            pkg + "/metadata.json", pkg + "/environment")]
        ops += ["chmod:%s" % p for p in (tool, "/usr/bin", pkg, pkg + "/run", "/etc/passwd", "/",
                                         "/tmp/..", "/box", "/proc/sys/kernel/hostname")]
        ops += ["link:%s" % p for p in (tool, "/etc/passwd")]
        # positive controls: the box's own scratch is writable
        ok_ops = ["writenew:/box/submission/%s" % new, "writenew:/tmp/%s" % new,
                  "writenew:/dev/shm/%s" % new, "mkdir:/tmp/%s.d" % new,
                  "mkfifo:/dev/shm/%s.p" % new, "symlink:/box/submission/%s.l" % new]
        return ops, ok_ops

    def check_denied(self, lang):
        tok = os.urandom(6).hex()
        before = S.host_files_state([toolchain_binary(lang), package_dir(lang) + "/run"])
        ops, ok_ops = self.denied_ops(lang, tok)
        prog = S.program("fsprobe.c" if lang == "c" else "fsprobe.py")
        run = self.run_ok(lang, prog, what="%s write probe" % lang, args=ops + ok_ops)
        res = S.kv(run["stdout"])
        wrong = {op: res.get(op) for op in ops if res.get(op) not in S.DENIED | {"EXDEV"}}
        self.assertEqual(wrong, {}, "%s: writes outside the box did not fail with a denial" % lang)
        for op in ok_ops:
            self.assertEqual(res.get(op), "ok", "%s: %s (the box's own scratch)" % (lang, op))
        # nothing landed on the host, and toolchain and package files are unchanged
        hits = []
        for root in ("/", "/etc", "/usr", "/usr/bin", "/usr/lib", "/bin", "/lib", "/dev", "/tmp",
                     "/var/tmp", "/dev/shm", package_dir(lang), os.path.dirname(package_dir(lang))):
            try:
                hits += [os.path.join(root, e) for e in os.listdir(root) if tok in e]
            except OSError:
                pass
        self.assertEqual(hits, [], "job files appeared on the host")
        self.assertEqual(S.host_files_state([toolchain_binary(lang), package_dir(lang) + "/run"]),
                         before)

    def test_c_writes_outside_box_fail(self):
        self.need("c")
        self.check_denied("c")

    def test_python_writes_outside_box_fail(self):
        self.need("python")
        self.check_denied("python")

    def test_c_crash_dumps_nothing(self):
        """A crashing program dumps no core, in the box or on the host (RLIMIT_CORE 0; with a
        pipe core_pattern the host's helper would otherwise store the job's memory)."""
        self.need("c")
        dirs = ["/var/lib/systemd/coredump", "/var/crash", "/var/lib/apport/coredump"]

        def listing():
            out = {}
            for d in dirs:
                try:
                    out[d] = sorted(os.listdir(d))
                except OSError:
                    out[d] = None
            return out

        src = r'''
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    struct rlimit rl;
    int sigs[] = {SIGSEGV, SIGABRT, SIGQUIT, SIGBUS}, st, cores = 0;
    getrlimit(RLIMIT_CORE, &rl);
    printf("core_limit=%llu/%llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
    printf("raise_core=%d\n", setrlimit(RLIMIT_CORE, &rl));
    for (int i = 0; i < 4; i++) {
        pid_t p = fork();
        if (p == 0) { signal(sigs[i], SIG_DFL); raise(sigs[i]); _exit(0); }
        waitpid(p, &st, 0);
        if (WIFSIGNALED(st) && WCOREDUMP(st)) cores++;
    }
    DIR *d = opendir(".");
    struct dirent *de;
    while ((de = readdir(d))) if (!strncmp(de->d_name, "core", 4)) cores++;
    printf("cores=%d\n", cores);
    return 0;
}
'''
        before = listing()
        run = self.run_ok("c", src, what="core dump probe")
        res = S.kv(run["stdout"])
        self.assertEqual(res["core_limit"], "0/0", run)
        self.assertEqual(res["raise_core"], "-1", "RLIMIT_CORE could be raised")
        self.assertEqual(res["cores"], "0", "a core was dumped")
        self.assertEqual(listing(), before, "the host stored a core dump of a job")

    # -- quota --------------------------------------------------------------------------------
    def check_fill(self, lang, out):
        res = S.kv(out)
        total, err = int(res["bytes"]), res["bytes_errno"]
        self.assertLessEqual(total, TMPFS_SIZE, "%s: wrote more than the tmpfs size" % lang)
        self.assertGreater(total, TMPFS_SIZE // 2, "%s: the tmpfs is much smaller than configured" % lang)
        self.assertIn(err, ("ENOSPC", "EDQUOT"), lang)
        files, ferr = int(res["files"]), res["files_errno"]
        self.assertLessEqual(files, TMPFS_INODES, "%s: created more inodes than the cap" % lang)
        self.assertIn(ferr, ("ENOSPC", "EDQUOT"), lang)

    def test_c_tmpfs_capped(self):
        self.need("c")
        src = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static char buf[1 << 20];
int main(void) {
    long total = 0; int err = 0, files = 0;
    const char *dirs[] = {"/tmp", "/dev/shm", "."};
    signal(SIGXFSZ, SIG_IGN);
    memset(buf, 'x', sizeof buf);
    for (int f = 0; !err; f++) {               /* 4 MiB files: under RLIMIT_FSIZE */
        char p[64]; snprintf(p, sizeof p, "%s/fill%d", dirs[f % 3], f);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) { err = errno; break; }
        for (int i = 0; i < 4 && !err; i++) {
            ssize_t k = write(fd, buf, sizeof buf);
            if (k < 0) err = errno; else total += k;
            if (k >= 0 && k < (ssize_t)sizeof buf) { k = write(fd, buf, sizeof buf); if (k < 0) err = errno; else total += k; }
        }
        close(fd);
    }
    printf("bytes=%ld\nbytes_errno=%s\n", total, strerrorname_np(err));
    for (int f = 0; f < 100; f++) { char p[64]; snprintf(p, sizeof p, "%s/fill%d", dirs[f % 3], f); unlink(p); }
    err = 0;
    for (;; files++) {
        char p[64]; snprintf(p, sizeof p, "/dev/shm/i%d", files);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0) { err = errno; break; }
        close(fd);
    }
    printf("files=%d\nfiles_errno=%s\n", files, strerrorname_np(err));
    return 0;
}
'''
        run = self.run_ok("c", src, what="c tmpfs fill")
        self.check_fill("c", run["stdout"])

    def test_python_tmpfs_capped(self):
        self.need("python")
        src = r'''
import errno, os
buf = b"x" * (1 << 20)
total, err, f = 0, None, 0
dirs = ["/tmp", "/dev/shm", "."]
while err is None:
    p = "%s/fill%d" % (dirs[f % 3], f)
    f += 1
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        err = e.errno
        break
    try:
        for i in range(4):
            n = os.write(fd, buf)
            total += n
            if n < len(buf):
                total += os.write(fd, buf[n:])
    except OSError as e:
        err = e.errno
    os.close(fd)
print("bytes=%d\nbytes_errno=%s" % (total, errno.errorcode[err]))
for i in range(f):
    try:
        os.unlink("%s/fill%d" % (dirs[i % 3], i))
    except OSError:
        pass
n = 0
while True:
    try:
        os.close(os.open("/dev/shm/i%d" % n, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        n += 1
    except OSError as e:
        print("files=%d\nfiles_errno=%s" % (n, errno.errorcode[e.errno]))
        break
'''
        run = self.run_ok("python", src, what="python tmpfs fill")
        self.check_fill("python", run["stdout"])

    # -- nothing survives ----------------------------------------------------------------------
    def test_python_nothing_survives_in_slot(self):
        self.need("python")
        tok = os.urandom(6).hex()
        writer = r'''
import os, subprocess, sys
tok = sys.argv[1]
for d in ("/tmp", "/dev/shm", "."):
    with open("%s/%s" % (d, tok), "w") as f: f.write("left over")
    with open("%s/.hidden-%s" % (d, tok), "w") as f: f.write("x")
    os.makedirs("%s/dir-%s/sub" % (d, tok))
    os.mkfifo("%s/fifo-%s" % (d, tok))
    os.symlink("/etc/passwd", "%s/link-%s" % (d, tok))
    os.chmod("%s/dir-%s" % (d, tok), 0)
# a background writer that would keep recreating files if it survived
if os.fork() == 0:
    os.setsid()
    while True:
        for d in ("/tmp", "/dev/shm", "."):
            try:
                open("%s/late-%s" % (d, tok), "w").close()
            except OSError:
                pass
print("written")
'''
        reader = r'''
import os
print("tmp=%s" % ",".join(sorted(os.listdir("/tmp"))))
print("shm=%s" % ",".join(sorted(os.listdir("/dev/shm"))))
print("cwd=%s" % ",".join(sorted(os.listdir("."))))
'''
        before = S.host_scan(self.daemon.uid_min, self.daemon.uid_max, tok)
        run = self.run_ok("python", writer, what="writer", args=[tok])
        self.assertEqual(run["stdout"], "written\n")
        for i in range(2):
            run = self.run_ok("python", reader, what="reader %d" % i)
            self.assertEqual(S.kv(run["stdout"]), {"tmp": "", "shm": "", "cwd": "main.py"},
                             "the next job in the slot sees the previous job's files")
        self.no_leftovers()
        self.assertEqual(S.host_scan(self.daemon.uid_min, self.daemon.uid_max, tok), before)

    def test_c_nothing_survives_in_slot(self):
        self.need("c")
        tok = os.urandom(6).hex()
        writer = r'''
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    const char *dirs[] = {"/tmp", "/dev/shm", "."};
    char p[256];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dirs[i], argv[1]); FILE *f = fopen(p, "w"); fputs("x", f); fclose(f);
        snprintf(p, sizeof p, "%s/dir-%s", dirs[i], argv[1]); mkdir(p, 0);
        snprintf(p, sizeof p, "%s/fifo-%s", dirs[i], argv[1]); mkfifo(p, 0600);
        snprintf(p, sizeof p, "%s/link-%s", dirs[i], argv[1]); symlink("/etc/shadow", p);
    }
    unlink("a.out");  /* the next identical request must still get a working program */
    symlink("/etc/passwd", "a.out");
    puts("written");
    return 0;
}
'''
        reader = r'''
#include <dirent.h>
#include <stdio.h>
#include <string.h>
static void ls(const char *key, const char *d) {
    DIR *dd = opendir(d); struct dirent *de; int first = 1;
    printf("%s=", key);
    while ((de = readdir(dd))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        printf("%s%s", first ? "" : ",", de->d_name); first = 0;
    }
    printf("\n"); closedir(dd);
}
int main(void) { ls("tmp", "/tmp"); ls("shm", "/dev/shm"); ls("cwd", "."); return 0; }
'''
        before = S.host_scan(self.daemon.uid_min, self.daemon.uid_max, tok)
        for i in range(2):  # the second writer is a compile cache hit
            run = self.run_ok("c", writer, what="writer %d" % i, args=[tok])
            self.assertEqual(run["stdout"], "written\n")
            run = self.run_ok("c", reader, what="reader %d" % i)
            res = S.kv(run["stdout"])
            self.assertEqual(res["tmp"], "", "the next job sees the previous job's /tmp")
            self.assertEqual(res["shm"], "", "the next job sees the previous job's /dev/shm")
            self.assertEqual(sorted(res["cwd"].split(",")), ["a.out", "main.c.c"],
                             "the next job's work dir holds foreign files")
        self.no_leftovers()
        self.assertEqual(S.host_scan(self.daemon.uid_min, self.daemon.uid_max, tok), before)


class ScratchBetweenStages(S.SecTestCase):
    """/tmp and /dev/shm are emptied between compile and run (the work dir carries over); a
    compile stage's files never reach the next job. Uses the `shx` runtime, whose compile
    stage runs the submitted script."""
    RUNTIMES = "security"
    MAX_JOBS = 1

    def test_compile_scratch_reset(self):
        tok = os.urandom(6).hex()
        src = r'''
case "$1" in
compile)
    for d in /tmp /dev/shm .; do
        echo x > "$d/c-%(tok)s"; mkdir -p "$d/cd-%(tok)s/x"; mkfifo "$d/cp-%(tok)s"
        ln -s /etc/passwd "$d/cl-%(tok)s"; chmod 0 "$d/cd-%(tok)s"
    done
    ( setsid sh -c 'while :; do touch /tmp/late-%(tok)s 2>/dev/null; sleep 0.01; done' & )
    echo compiled ;;
run)
    echo "tmp=$(ls -A /tmp | tr '\n' ,)"
    echo "shm=$(ls -A /dev/shm | tr '\n' ,)"
    echo "cwd=$(ls -A . | tr '\n' ,)" ;;
esac
''' % {"tok": tok}
        j = self.run_job("shx", src, what="shx scratch")
        self.assertEqual(j["compile"]["stdout"], "compiled\n", j["compile"])
        res = S.kv(j["run"]["stdout"])
        self.assertEqual(res["tmp"], "", "compile stage's /tmp reached the run stage")
        self.assertEqual(res["shm"], "", "compile stage's /dev/shm reached the run stage")
        self.assertEqual(sorted(res["cwd"].strip(",").split(",")),
                         sorted(["c-" + tok, "cd-" + tok, "cp-" + tok, "cl-" + tok, "main.sh"]),
                         "the work dir carries over from compile to run")
        # the next job in the slot starts clean
        j = self.run_job("shx", 'case "$1" in compile) ;; run) echo $(ls -A /tmp) / $(ls -A /dev/shm) / $(ls -A .);; esac\n',
                         what="shx next job")
        self.assertEqual(j["run"]["stdout"], "/ / main.sh\n", j["run"])
        self.no_leftovers()


if __name__ == "__main__":
    S.run_tests()
