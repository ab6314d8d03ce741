#!/usr/bin/python3
"""Security property 6, the syscall matrix: every dangerous call fails with an errno (seccomp
denylist, README "Seccomp policy", plus capabilities), never a kill; the program runs as a
non-root slot uid with no capabilities (CapEff/CapPrm/CapBnd all zero), no_new_privs and
seccomp filter mode; it cannot raise a hard limit or become root; setuid-root binaries of the
box (nosuid mounts + no_new_privs) run with its own uid. A foreign architecture (i386
int $0x80, the x32 ABI) kills the process with SIGSYS. C (syscalls.c) and Python
(syscalls.py)."""

import seclib as S
from seclib import T

EPERM = "EPERM"
EXPECT = {
    "ptrace_traceme": EPERM, "ptrace_attach_1": EPERM,
    "mount": EPERM, "mount_bind": EPERM, "mount_remount_rw": EPERM, "umount2": EPERM,
    "umount2_proc": EPERM, "pivot_root": EPERM, "chroot": EPERM,
    "unshare_user": EPERM, "unshare_net": EPERM, "unshare_ns": EPERM, "unshare_pid": EPERM,
    "unshare_ipc": EPERM, "unshare_ipc_user": EPERM,
    "setns": EPERM, "setns_user": EPERM,
    "clone_newuser": EPERM, "clone_newns": EPERM, "clone_newnet": EPERM, "clone_newpid": EPERM,
    "clone_newuser_hi": EPERM,
    "clone3": "ENOSYS", "clone3_newuser": "ENOSYS",
    "io_uring_setup": "ENOSYS", "io_uring_enter": "ENOSYS", "io_uring_register": "ENOSYS",
    "keyctl": EPERM, "add_key": EPERM, "request_key": EPERM,
    "bpf": EPERM, "userfaultfd": EPERM, "perf_event_open": EPERM,
    "kexec_load": EPERM, "kexec_file_load": EPERM, "init_module": EPERM, "finit_module": EPERM,
    "delete_module": EPERM, "reboot": EPERM, "syslog_read": EPERM, "syslog_size": EPERM,
    "ioctl_tiocsti": EPERM, "ioctl_tiocsti_hi": EPERM, "ioctl_tioclinux": EPERM,
    "socket_packet": "EAFNOSUPPORT", "socket_packet_hi": "EAFNOSUPPORT",
    "socket_vsock": "EAFNOSUPPORT", "socket_bluetooth": "EAFNOSUPPORT",
    "socket_netlink_audit": "EPROTONOSUPPORT", "socket_netlink_uevent": "EPROTONOSUPPORT",
    "socket_netlink_diag": "EPROTONOSUPPORT", "socketpair_inet": "EAFNOSUPPORT",
    "process_vm_readv": EPERM, "process_vm_writev": EPERM,
    "name_to_handle_at": EPERM, "open_by_handle_at": EPERM,
    "personality_read_implies_exec": EPERM, "personality_addr_no_randomize": EPERM,
    "pidfd_getfd": EPERM, "process_madvise": EPERM, "iopl": EPERM, "ioperm": EPERM,
    "swapon": EPERM, "acct": EPERM, "settimeofday": EPERM, "clock_settime": EPERM,
    "sethostname": EPERM, "setdomainname": EPERM, "vhangup": EPERM, "fanotify_init": EPERM,
    "open_tree": EPERM, "fsopen": EPERM, "fspick": EPERM, "mount_setattr": EPERM,
    "move_mount": EPERM, "mknod_chr": EPERM,
    "setuid_0": EPERM, "setgid_0": EPERM, "setresuid_0": EPERM, "setgroups_0": EPERM,
    "chown_root": EPERM, "setrlimit_nofile_raise": EPERM,
    "no_new_privs_clear": "EINVAL",  # no_new_privs cannot be cleared
    "personality_query": "ok",       # the query stays allowed (glibc, JVM)
}
ZERO_CAPS = "0000000000000000"


class Syscalls(S.SecTestCase):

    def check_matrix(self, run, lang, keys):
        what = "%s syscall matrix" % lang
        self.assertEqual((run["status"], run["code"], run["signal"]), (None, 0, None),
                         "%s: the program was killed or failed (a denied call must return an "
                         "errno, never kill): %s" % (what, run))
        lines = run["stdout"].splitlines()
        self.assertEqual(lines[-1:], ["done=1"], "%s: did not finish" % what)
        res = S.kv(run["stdout"])
        wrong = {k: (res.get(k), EXPECT[k]) for k in keys if res.get(k) != EXPECT[k]}
        self.assertEqual(wrong, {}, "%s: calls not denied as documented (got, want)" % what)
        # identity: a slot uid of this daemon, no groups, no capabilities, NNP, seccomp filter
        d = self.daemon
        uid = int(res["uid"])
        self.assertTrue(d.uid_min <= uid <= d.uid_max and uid != 0, "%s: uid %d" % (what, uid))
        self.assertEqual(res["euid"], res["uid"], what)
        self.assertEqual(res["status.Uid"], " ".join([res["uid"]] * 4), what)
        self.assertEqual(res["status.Gid"], " ".join([res["gid"]] * 4), what)
        self.assertEqual(res["ngroups"], "0", what)
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertEqual(res["status." + cap], ZERO_CAPS, "%s: %s" % (what, cap))
        self.assertEqual(res["status.NoNewPrivs"], "1", what)
        self.assertEqual(res["status.Seccomp"], "2", what)
        # setuid-root binaries: never euid 0; at least one observed running
        suid = {k: v for k, v in res.items() if k.startswith("setuid:")}
        rooted = {k: v for k, v in suid.items() if v == "euid:0"}
        self.assertEqual(rooted, {}, "%s: a setuid binary ran as root in the box" % what)
        if suid:
            self.assertTrue(any(v == "euid:%d" % uid for v in suid.values()),
                            "%s: no setuid binary observed: %s" % (what, suid))

    def test_c_matrix(self):
        self.need("c")
        run = self.run_job("c", S.program("syscalls.c"), what="syscalls.c", args=["matrix"])["run"]
        keys = [k for k in EXPECT]
        self.check_matrix(run, "c", keys)

    def test_python_matrix(self):
        self.need("python")
        run = self.run_job("python", S.program("syscalls.py"), what="syscalls.py")["run"]
        keys = [k for k in EXPECT if k + "=" in run["stdout"]]
        self.assertGreaterEqual(len(keys), 30, run["stdout"])
        self.check_matrix(run, "python", keys)

    def test_c_foreign_architecture_kills(self):
        """i386 int $0x80 and an x32 syscall number: SIGSYS (bad-architecture action)."""
        self.need("c")
        for mode in ("i386", "x32"):
            run = self.run_job("c", S.program("syscalls.c"), what="syscalls.c " + mode,
                               args=[mode])["run"]
            self.assertEqual((run["status"], run["signal"], run["code"]), ("SG", "SIGSYS", None),
                             "%s syscall was not killed: %s" % (mode, run))
            self.assertEqual(run["message"], "Caught fatal signal 31", run)
            self.assertEqual(run["stdout"], "before=1\n", run)
        self.no_leftovers()


if __name__ == "__main__":
    S.run_tests()
