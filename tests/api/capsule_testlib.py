"""Shared helpers for the black-box tests of capsuled (tests/api and tests/hostile).

Standard library only; run with /usr/bin/python3.

Contract with the daemon (see tests/api/CMakeLists.txt):
  * binary from $CAPSULED, source tree from $CAPSULE_SOURCE_DIR;
  * started with PISTON_BIND_ADDRESS=127.0.0.1:0, it prints exactly one line
    `listening on 127.0.0.1:<port>` on stdout when ready; logs go to stderr;
  * each daemon gets a unique CAPSULE_INSTANCE and a disjoint uid/gid range;
  * SIGTERM stops it with exit status 0 within 10 s, leaving no process under its uid range
    and no cgroup directory named after its instance.

Timing windows are safety bounds: they are widened by TIME_FACTOR (1.3 by default, 3 when
CAPSULE_SANITIZED=1, or CAPSULE_TIME_FACTOR) and never assert speed otherwise.
"""

import base64
import ctypes
import errno
import hashlib
import http.client
import itertools
import json
import os
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# --------------------------------------------------------------------------------------------
# Locations and global knobs

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("CAPSULE_SOURCE_DIR")
                             or os.path.join(HERE, "..", ".."))
CAPSULED = os.environ.get("CAPSULED") or os.path.join(SOURCE_DIR, "build", "capsuled")
FIXTURE_RUNTIMES = os.environ.get("CAPSULE_FIXTURE_RUNTIMES") or os.path.join(SOURCE_DIR, "tests", "fixtures", "packages")
REAL_RUNTIMES = os.path.join(SOURCE_DIR, "runtimes")
PROGRAMS_DIR = os.path.join(SOURCE_DIR, "tests", "fixtures", "programs")

SANITIZED = os.environ.get("CAPSULE_SANITIZED") == "1"
if os.environ.get("CAPSULE_TIME_FACTOR"):
    TIME_FACTOR = float(os.environ["CAPSULE_TIME_FACTOR"])
else:
    TIME_FACTOR = 3.0 if SANITIZED else 1.3

SKIP_CODE = 77
JSON_CT = "application/json; charset=utf-8"
STAGE_KEYS = ["signal", "stdout", "stderr", "code", "output", "memory", "message", "status",
              "cpu_time", "wall_time"]
MiB = 1 << 20

# Toolchain binary per bundled package / runtime language (PISTON-API.md 5.1).
# The gcc package provides c and c++ and needs both compilers to load.
TOOLCHAINS = {
    "python": ["/usr/bin/python3"],
    "javascript": ["/usr/bin/node"],
    "java": ["/usr/bin/java"],
    "c": ["/usr/bin/gcc", "/usr/bin/g++"],
    "c++": ["/usr/bin/gcc", "/usr/bin/g++"],
    "sqlite3": ["/usr/bin/sqlite3"],
}
PACKAGE_TOOLCHAIN = {  # package language -> binaries that must exist for it to load
    "python": ["/usr/bin/python3"],
    "node": ["/usr/bin/node"],
    "java": ["/usr/bin/java"],
    "gcc": ["/usr/bin/gcc", "/usr/bin/g++"],
    "sqlite3": ["/usr/bin/sqlite3"],
}
# The five of the hostile battery and the end-to-end checks; sqlite3 has its own tests.
LANGS = ["c", "c++", "java", "javascript", "python"]
# CAPSULE_TEST_LANGS (comma-separated) narrows the languages the suites use: the others count
# as not installed, so their tests skip and real-runtime daemons load only the packages the
# chosen languages need. The v2vm lane uses it: under TCG a JVM or a C++ compile takes longer
# than the default limits allow, while c and python start within seconds.
TEST_LANGS = [l for l in os.environ.get("CAPSULE_TEST_LANGS", "").split(",") if l]
PACKAGE_LANGS = {"python": ["python"], "node": ["javascript"], "java": ["java"], "gcc": ["c", "c++"]}

_daemon_counter = itertools.count()


def load_factor():
    """How overloaded the host is right now (1-minute load average per core, at least 1):
    other tests or tenants share the cores, so safety slacks widen with it."""
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except OSError:
        return 1.0


def create_once(path, content, mode):
    """Creates a host canary file once, atomically, shared by concurrent test processes."""
    if os.path.exists(path):
        return
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, content)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a file another test created meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def skip_if_starved(test, run, cpu_limit_ms):
    """A CPU-limit test whose wall limit came first because other work took the cores: a safe
    outcome, not the one under test. Skips (with the evidence) instead of failing, but only
    when the host is measurably overloaded."""
    if (run.get("message") == "Time limit exceeded (wall clock)"
            and (run.get("cpu_time") or 0) < cpu_limit_ms and load_factor() > 1.0):
        test.skipTest(f"host overloaded (load factor {load_factor():.1f}): {run}")


def slack(ms):
    """A safety slack in ms, widened for load (and sanitizers)."""
    return ms * TIME_FACTOR * load_factor()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Skips

def is_root():
    return os.geteuid() == 0


def have_toolchain(lang):
    if TEST_LANGS and lang not in TEST_LANGS:
        return False
    return all(os.access(p, os.X_OK) for p in TOOLCHAINS[lang])


def missing_toolchains():
    return [lang for lang in LANGS if not have_toolchain(lang)]


def require_root():
    if not is_root():
        raise unittest.SkipTest("needs root (capsuled creates cgroups, namespaces, mounts)")


def require_toolchain(*langs):
    for lang in langs:
        if not have_toolchain(lang):
            raise unittest.SkipTest("toolchain for %s missing (%s)" % (lang, " ".join(TOOLCHAINS[lang])))


# --------------------------------------------------------------------------------------------
# Strict JSON

class DuplicateKey(ValueError):
    pass


def _pairs_hook(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise DuplicateKey("duplicate key %r" % k)
        d[k] = v
    return d


def _bad_constant(name):
    raise ValueError("non-standard JSON constant %s" % name)


def strict_json(raw):
    """Parses bytes as strict JSON: valid UTF-8, no NaN/Infinity, no duplicate keys."""
    text = raw.decode("utf-8")  # raises on invalid UTF-8
    return json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_bad_constant)


def is_compact(raw):
    """True if the JSON text has no whitespace outside strings."""
    in_str = False
    esc = False
    for b in raw:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:
                esc = True
            elif b == 0x22:
                in_str = False
        else:
            if b == 0x22:
                in_str = True
            elif b in (0x20, 0x09, 0x0A, 0x0D):
                return False
    return True


def dumps_compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mask_measured(raw, version=None):
    """Masks memory/cpu_time/wall_time values (and optionally a version string) in raw JSON."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    text = re.sub(r'"(memory|cpu_time|wall_time)":(-?\d+|null)', r'"\1":"<M>"', text)
    if version is not None:
        text = text.replace('"version":"%s"' % version, '"version":"<V>"')
    return text


# --------------------------------------------------------------------------------------------
# HTTP

class Resp:
    """One HTTP exchange: status, headers (lower-case names), raw body, parsed JSON."""

    def __init__(self, status, headers, body, elapsed, json_error=None, data=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed  # seconds
        self.json = data
        self.json_error = json_error

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        body = self.body if len(self.body) < 2000 else self.body[:2000] + b"...(truncated)"
        return "<HTTP %s %r %r>" % (self.status, self.headers.get("content-type"), body)


def _parse_body(status, headers, body, elapsed):
    data = None
    err = None
    if body:
        try:
            data = strict_json(body)
        except Exception as e:  # noqa: BLE001 - reported by assertions
            err = str(e)
    return Resp(status, headers, body, elapsed, err, data)


def http_request(host, port, method, path, body=None, headers=None, timeout=120.0):
    """One request on a fresh connection. body: bytes, str or None."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        data = r.read()
        elapsed = time.monotonic() - t0
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        return _parse_body(r.status, hdrs, data, elapsed)
    finally:
        conn.close()


def _read_http_response(sock, deadline):
    """Reads one HTTP/1.1 response from a socket (Content-Length or chunked or close)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()

    def more():
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        return sock.recv(65536)

    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        while len(rest) < n:
            c = more()
            if not c:
                break
            rest += c
        body = rest[:n]
    elif hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += more()
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += more()
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                break
    else:
        body = rest
        while True:
            c = more()
            if not c:
                break
            body += c
    return status, hdrs, body


def raw_request(host, port, head, body_chunks=(), timeout=120.0, chunked=False):
    """Sends a request head then body chunks on a raw socket, stopping early if the server
    answers (or closes) before the body is complete. Returns Resp. `head` is the request line
    plus headers without the final blank line."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        for chunk in body_chunks:
            r, _, _ = select.select([sock], [], [], 0)
            if r:
                break  # the server answered early (413 from Content-Length)
            data = chunk
            if chunked:
                data = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            if chunked:
                try:
                    sock.sendall(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
        status, hdrs, body = _read_http_response(sock, deadline)
        return _parse_body(status, hdrs, body, time.monotonic() - t0)
    finally:
        sock.close()


# --------------------------------------------------------------------------------------------
# Host inspection: processes, cgroups, daemon resources

def _status_fields(pid):
    out = {}
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return out


def procs_in_uid_range(lo, hi, gid_lo=None, gid_hi=None):
    """Processes any of whose uids (or gids) lie in [lo, hi]: list of 'pid name state uids'."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        st = _status_fields(pid)
        if not st:
            continue
        uids = [int(x) for x in st.get("Uid", "").split()]
        gids = [int(x) for x in st.get("Gid", "").split()]
        hit = any(lo <= u <= hi for u in uids)
        if gid_lo is not None:
            hit = hit or any(gid_lo <= g <= gid_hi for g in gids)
        if hit:
            found.append("pid %s %s state=%s Uid=%s Gid=%s" % (
                pid, st.get("Name"), st.get("State"), st.get("Uid"), st.get("Gid")))
    return found


CGROUP_ROOT = "/sys/fs/cgroup"


def find_cgroup_dirs(name, maxdepth=6):
    """Directories named exactly `name` anywhere under /sys/fs/cgroup (depth-limited)."""
    hits = []

    def walk(path, depth):
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        for e in entries:
            try:
                if not e.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if e.name == name:
                hits.append(e.path)
                continue
            if depth < maxdepth:
                walk(e.path, depth + 1)

    walk(CGROUP_ROOT, 1)
    return hits


def cgroup_subdirs(path):
    out = []
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            out.append(os.path.join(dirpath, d))
    return out


def read_int_file(path):
    try:
        with open(path) as f:
            v = f.read().strip()
    except (FileNotFoundError, OSError):
        return None
    if v == "max":
        return None
    try:
        return int(v)
    except ValueError:
        return None


def cgroup_procs(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except (FileNotFoundError, OSError):
        return []


# Descriptors the daemon holds per box it keeps (a slot's warm box, waiting for its next job):
# the pidfd and the job socket (each job brings its own pipes), plus the next job's leaf
# cgroup's control files (counted by path).
BOX_FDS_BESIDES_CGROUP = 2
# Root templates a slot keeps (sandbox/template.c, SBX_TEMPLATES_MAX), kept while the slot runs
# that package, dropped after 10 s: two descriptors each, its mount namespace (counted by its
# mnt:[...] target) and an O_PATH of its root (whose target names nothing of this namespace).
TEMPLATES_PER_SLOT = 2
TEMPLATE_FDS = 2


def daemon_resources(pid):
    """RSS, threads and fds of the daemon; `fds_base` leaves out the fds of the boxes it keeps
    (`boxes`, counted by their pidfds), which come and go with the slots' warm boxes, and of
    its root templates (`templates`, mount namespaces), which come and go with packages."""
    st = _status_fields(pid) or {}
    rss_kb = int(st.get("VmRSS", "0 kB").split()[0])
    threads = int(st.get("Threads", "0"))
    fds, pidfds, leaf_files, templates = -1, 0, 0, 0
    try:
        names = os.listdir("/proc/%d/fd" % pid)
        fds = len(names)
        for n in names:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, n))
            except OSError:
                continue
            if target == "anon_inode:[pidfd]":
                pidfds += 1
            elif "/boxes/slot-" in target:
                leaf_files += 1
            elif target.startswith("mnt:["):
                templates += 1
    except OSError:
        pass
    base = (fds - leaf_files - BOX_FDS_BESIDES_CGROUP * pidfds - TEMPLATE_FDS * templates
            if fds >= 0 else -1)
    return {"rss_kb": rss_kb, "threads": threads, "fds": fds, "fds_base": base, "boxes": pidfds,
            "templates": templates}


# --------------------------------------------------------------------------------------------
# Runtime packages

def find_packages(runtimes_dir):
    """List of (package_dir, metadata dict) for <dir>/<name>/ and <dir>/<name>/<version>/."""
    out = []
    if not os.path.isdir(runtimes_dir):
        return out
    for name in sorted(os.listdir(runtimes_dir)):
        p = os.path.join(runtimes_dir, name)
        cands = [p]
        if os.path.isdir(p):
            cands += [os.path.join(p, v) for v in sorted(os.listdir(p))]
        for c in cands:
            meta = os.path.join(c, "metadata.json")
            if os.path.isfile(meta) and os.path.isfile(os.path.join(c, "run")):
                with open(meta) as f:
                    out.append((c, json.load(f)))
    return out


def find_package(runtimes_dir, language):
    for d, meta in find_packages(runtimes_dir):
        if meta.get("language") == language:
            return d, meta
    return None, None


def package_env(pkgdir):
    """Environment of a package per PISTON-API.md 5.3 (.env, else `environment` evaluated by
    bash in an empty environment, minus PWD, OLDPWD, _, SHLVL)."""
    dotenv = os.path.join(pkgdir, ".env")
    env = {}
    if os.path.isfile(dotenv):
        with open(dotenv) as f:
            for line in f.read().splitlines():
                if "=" in line:
                    k, _, v = line.partition("=")
                    env[k] = v
        return env
    script = "source ./environment >/dev/null 2>&1; env -0"
    if not os.path.exists(os.path.join(pkgdir, "environment")):
        script = "env -0"
    out = subprocess.run(["/bin/bash", "-c", script], cwd=pkgdir, env={},
                         stdout=subprocess.PIPE, check=True).stdout
    for item in out.split(b"\0"):
        if not item:
            continue
        k, _, v = item.decode().partition("=")
        env[k] = v
    for k in ("PWD", "OLDPWD", "_", "SHLVL"):
        env.pop(k, None)
    return env


def real_runtimes_dir(workdir):
    """The real runtimes dir if every bundled toolchain is installed; otherwise a copy holding
    only the packages whose toolchain exists (a missing toolchain stops startup). The copy goes
    under `workdir` (by default beside the daemon binary)."""
    pkgs = find_packages(REAL_RUNTIMES)
    missing = [d for d, m in pkgs
               if not all(os.access(b, os.X_OK) for b in PACKAGE_TOOLCHAIN.get(m.get("language"), []))
               or (TEST_LANGS and not set(PACKAGE_LANGS.get(m.get("language"), [])) & set(TEST_LANGS))]
    if not missing:
        return REAL_RUNTIMES
    if workdir is None:
        workdir = os.path.dirname(os.path.abspath(CAPSULED))
    dst = tempfile.mkdtemp(prefix="capsule-test-runtimes-", dir=workdir)
    for d, m in pkgs:
        if d in missing:
            continue
        rel = os.path.relpath(d, REAL_RUNTIMES)
        shutil.copytree(d, os.path.join(dst, rel), symlinks=True)
    os.chmod(dst, 0o755)
    return dst


# --------------------------------------------------------------------------------------------
# The daemon

def _pdeathsig():
    # The daemon gets SIGTERM if the test process dies (ctest timeout), so it cleans up.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


# Piston's own CLI (not part of this repository): PISTON_CLI_DIR, default /opt/piston-cli, is
# its cli/ directory after `npm ci` there; the tests that drive it skip (77) without it.
PISTON_CLI_DIR = os.environ.get("PISTON_CLI_DIR") or "/opt/piston-cli"
NODE = shutil.which("node") or shutil.which("nodejs")


def piston_cli_missing(needs):
    """Why Piston's CLI cannot run (node or one of the files `needs` missing), or None."""
    if not NODE:
        return "node is not installed"
    for need in needs:
        if not os.path.exists(os.path.join(PISTON_CLI_DIR, need)):
            return ("Piston's CLI is not at %s (missing %s): set PISTON_CLI_DIR to Piston's cli/ "
                    "directory after `npm ci` in it" % (PISTON_CLI_DIR, need))
    return None


class DaemonError(AssertionError):
    pass


# With CAPSULE_TEST_CGROUP_PARENT set (the v2vm lane sets it to a slice it made), each daemon
# starts in a cgroup of its own below it, as the shipped unit's Delegate=yes gives it on a
# systemd host: on cgroup v2 the daemon must be alone in the cgroup it builds its tree under.
TEST_CGROUP_PARENT = os.environ.get("CAPSULE_TEST_CGROUP_PARENT")


def unit_cgroup_create(instance):
    """Makes <parent>/<instance>.service; None without CAPSULE_TEST_CGROUP_PARENT. What a
    killed daemon of the same instance left there goes first, as systemd removes a unit's
    cgroup (processes killed, subtree removed) before it starts the unit again."""
    if not TEST_CGROUP_PARENT:
        return None
    path = os.path.join(TEST_CGROUP_PARENT, instance + ".service")
    if os.path.isdir(path):
        _cgroup_tree_clear(path)
    os.makedirs(path, exist_ok=True)
    return path


def _cgroup_tree_clear(path, timeout=5.0):
    """Kills every process below path and removes the cgroups below and at path."""
    for d, subdirs, _ in os.walk(path, topdown=False):
        for pid in cgroup_procs(d):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(d)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


def unit_cgroup_remove(path):
    """Removes a unit cgroup after its daemon exited; problems as a list."""
    if not path:
        return []
    deadline = time.monotonic() + 2.0
    while True:
        try:
            os.rmdir(path)
            return []
        except FileNotFoundError:
            return []
        except OSError as e:
            if time.monotonic() > deadline:
                left = [d for d, _, _ in os.walk(path)][1:]
                return ["unit cgroup %s not removable (%s); left inside: %s" % (path, e, left[:10])]
            time.sleep(0.05)


def _unit_preexec(path, then):
    """A preexec_fn joining the unit cgroup (in the child, before exec), then `then`."""
    procs = os.path.join(path, "cgroup.procs").encode()

    def preexec():
        fd = os.open(procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
        if then:
            then()
    return preexec


# Slot uids of test daemons: blocks of 16 from 66000, each held by an flock for the life of
# the Daemon object (the kernel drops it when the test process dies). A pid-derived base
# alone let concurrent test processes share uids, and one saw the other's boxes as its own
# leftovers. (The C sandbox tests use 63000-65000; the scale-out test, which runs alone,
# 62000-64000.)
UID_BLOCK, UID_BLOCKS_BASE, UID_BLOCKS = 16, 66000, 250
UID_LOCK_DIR = "/run/capsule-test-uids"


def reserve_uid_block(n):
    """(open lock file, first uid) of a free block, probing from a pid-derived start."""
    import fcntl
    os.makedirs(UID_LOCK_DIR, exist_ok=True)
    start = (os.getpid() * 7 + n) % UID_BLOCKS
    for i in range(UID_BLOCKS):
        k = (start + i) % UID_BLOCKS
        f = open(os.path.join(UID_LOCK_DIR, "block-%d.lock" % k), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return f, UID_BLOCKS_BASE + k * UID_BLOCK
    raise DaemonError("no free test uid block in %s" % UID_LOCK_DIR)


class Daemon:
    """A capsuled child process on 127.0.0.1:<random port>.

    with Daemon(runtimes="fixture") as d:
        r = d.execute({...})
    Stop (SIGTERM) asserts exit 0 within 10 s, no process under the uid range, no cgroup dir
    named after the instance. Stop problems raise DaemonError (after printing the log).
    """

    def __init__(self, runtimes="fixture", env=None, max_jobs=4, canary_env=None, workdir=None,
                 start_cgroup=None):
        if runtimes == "fixture":
            runtimes = FIXTURE_RUNTIMES
        elif runtimes == "real":
            runtimes = None  # resolved in start() (may need a filtered copy)
        self.runtimes_dir = runtimes
        self.workdir = workdir
        self._runtimes_copy = None
        self.extra_env = dict(env or {})
        self.max_jobs = max_jobs
        n = next(_daemon_counter)
        self.instance = "capsule-t%d-%d" % (os.getpid(), n)
        self._uid_lock, base = reserve_uid_block(n)
        self.uid_min, self.uid_max = base, base + UID_BLOCK - 1
        self.gid_min, self.gid_max = base, base + 15
        self.canary_name = "CAPSULE_TEST_CANARY"
        self.canary_value = "canary-" + os.urandom(8).hex()
        self.canary_env = dict(canary_env or {})
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"
        self.unit_cgroup = None
        self.start_cgroup = start_cgroup  # a cgroup to start in, owned by the caller
        self._tmp = tempfile.mkdtemp(prefix="capsule-test-", dir=os.path.abspath(workdir) if workdir else None)
        os.makedirs(os.path.join(self._tmp, "data"))
        os.chmod(self._tmp, 0o755)
        self.log_path = os.path.join(self._tmp, "capsuled.log")
        self.stdout_lines = []
        self._lines = queue.Queue()
        self._reader = None
        self.stopped = False
        self.terminated = False
        self.exit_status = None
        self._cg_roots = None

    # -- lifecycle --------------------------------------------------------------------------
    def env(self):
        e = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PISTON_BIND_ADDRESS": "127.0.0.1:0",
            "CAPSULE_INSTANCE": self.instance,
            "PISTON_RUNNER_UID_MIN": str(self.uid_min),
            "PISTON_RUNNER_UID_MAX": str(self.uid_max),
            "PISTON_RUNNER_GID_MIN": str(self.gid_min),
            "PISTON_RUNNER_GID_MAX": str(self.gid_max),
            "PISTON_MAX_CONCURRENT_JOBS": str(self.max_jobs),
            "CAPSULE_RUNTIMES_DIR": self.runtimes_dir,
            "PISTON_DATA_DIRECTORY": os.path.join(self._tmp, "data"),
            self.canary_name: self.canary_value,
        }
        e.update(self.canary_env)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(self.extra_env)
        return {k: v for k, v in e.items() if v is not None}

    def start(self, timeout=30.0):
        if not os.path.exists(CAPSULED):
            raise DaemonError("capsuled binary not found: %s (set CAPSULED)" % CAPSULED)
        if self.runtimes_dir is None:
            self.runtimes_dir = real_runtimes_dir(self.workdir)
            if self.runtimes_dir != REAL_RUNTIMES:
                self._runtimes_copy = self.runtimes_dir
        os.makedirs(os.path.join(self._tmp, "data"), exist_ok=True)
        os.chmod(self._tmp, 0o755)
        # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only from the main thread
        pdeath = _pdeathsig if threading.current_thread() is threading.main_thread() else None
        if self.start_cgroup:
            pdeath = _unit_preexec(self.start_cgroup, pdeath)
        else:
            self.unit_cgroup = unit_cgroup_create(self.instance)
            if self.unit_cgroup:
                pdeath = _unit_preexec(self.unit_cgroup, pdeath)
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([CAPSULED], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=logf, env=self.env(),
                                         cwd=self._tmp, preexec_fn=pdeath)
        finally:
            logf.close()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise DaemonError("capsuled printed no line within %.0f s\n%s" % (timeout, self.log_tail()))
        if line is None:
            self.proc.wait(timeout=10)
            raise DaemonError("capsuled exited with status %s before listening\n%s" % (
                self.proc.returncode, self.log_tail()))
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.kill()
            raise DaemonError("unexpected first stdout line %r (want 'listening on 127.0.0.1:<port>')\n%s"
                              % (line, self.log_tail()))
        self.port = int(m.group(1))
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def terminate(self):
        """Sends SIGTERM (does not wait)."""
        self.terminated = True
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=10.0):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, check=True, keep_log=False):
        """SIGTERM, exit 0 within 10 s, then leftovers check. Returns a list of problems.
        Without problems the temporary directory (log included) is removed unless keep_log;
        cleanup() removes it later."""
        if self.stopped or self.proc is None:
            return []
        self.stopped = True
        problems = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        elif not self.terminated:
            problems.append("capsuled died before it was stopped (status %s)" % self.proc.returncode)
        rc = self.wait_exit(10.0 * (2 if SANITIZED else 1))
        if rc is None:
            problems.append("capsuled did not exit within 10 s of SIGTERM")
            self.kill()
            rc = self.proc.returncode
        self.exit_status = rc
        if rc != 0:
            problems.append("capsuled exit status %s after SIGTERM (want 0)" % rc)
        if self.stdout_lines[1:]:
            problems.append("extra stdout lines: %r" % self.stdout_lines[1:10])
        if check:
            problems += self.leftovers_after_stop()
        if problems:
            log("---- capsuled log (%s, %s) ----\n%s" % (self.instance, self.log_path, self.log_tail()))
        if self._runtimes_copy:
            shutil.rmtree(self._runtimes_copy, ignore_errors=True)
        problems += unit_cgroup_remove(self.unit_cgroup)
        if not problems and not keep_log:
            self.cleanup()
        return problems

    def cleanup(self):
        """Removes the daemon's temporary directory (its log included)."""
        shutil.rmtree(self._tmp, ignore_errors=True)

    def leftovers_after_stop(self, grace=2.0):
        problems = []
        deadline = time.monotonic() + grace
        while True:
            procs = procs_in_uid_range(self.uid_min, self.uid_max, self.gid_min, self.gid_max)
            cgs = find_cgroup_dirs(self.instance)
            mounts = self.host_mounts()
            if not (procs or cgs or mounts) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if procs:
            problems.append("processes under the sandbox uid/gid range after stop: %s" % procs)
        if cgs:
            problems.append("cgroup directories of instance %s left after stop: %s" % (self.instance, cgs))
        if mounts:
            problems.append("host mount table shows the instance: %s" % mounts)
        return problems

    def host_mounts(self):
        with open("/proc/self/mountinfo") as f:
            return [l.strip() for l in f if self.instance in l]

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        problems = self.stop()
        if not problems and et is None:
            self.cleanup()
        if problems and et is None:
            raise DaemonError("; ".join(problems))
        return False

    def log_tail(self, n=200):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    @property
    def pid(self):
        return self.proc.pid

    def resources(self):
        return daemon_resources(self.proc.pid)

    # -- HTTP -------------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=120.0):
        return http_request(self.host, self.port, method, path, body, headers, timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, payload=None, raw=None, content_type="application/json", headers=None,
             timeout=120.0):
        hdrs = dict(headers or {})
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
        return self.request("POST", path, body, hdrs, timeout)

    def execute(self, payload, path="/api/v2/execute", **kw):
        return self.post(path, payload, **kw)

    def raw(self, head, body_chunks=(), timeout=120.0, chunked=False):
        return raw_request(self.host, self.port, head, body_chunks, timeout, chunked)

    # -- cgroups of this instance -----------------------------------------------------------
    def cgroup_roots(self, refresh=False):
        """Directories named after the instance under /sys/fs/cgroup (one per v1 hierarchy)."""
        if self._cg_roots is None or refresh or not self._cg_roots:
            self._cg_roots = find_cgroup_dirs(self.instance)
        return self._cg_roots

    def box_cgroups(self):
        """All cgroup directories under <instance>/boxes/ in every hierarchy."""
        out = []
        for root in self.cgroup_roots():
            boxes = os.path.join(root, "boxes")
            if os.path.isdir(boxes):
                out.append(boxes)
                out += cgroup_subdirs(boxes)
        return out

    def stage_leftovers(self):
        """Problems: any process in a box cgroup, or more than one stage-* cgroup per slot.

        The one stage cgroup a slot may keep belongs to its next box, built ahead while the
        slot is idle (the supervisor sits outside it): it must be empty."""
        problems = []
        per_slot = {}
        for d in self.box_cgroups():
            rel = d.split("/boxes/", 1)[-1] if "/boxes/" in d else ""
            parts = rel.split("/") if rel else []
            if len(parts) >= 2 and parts[0].startswith("slot-") and parts[1].startswith("stage-"):
                per_slot.setdefault(d.rsplit("/", 1)[0], []).append(d)
            procs = cgroup_procs(d)
            if procs:
                problems.append("processes in box cgroup %s: %s" % (d, procs[:10]))
        for slot, stages in sorted(per_slot.items()):
            if len(stages) > 1:
                problems.append("stage cgroups left: %s" % ", ".join(sorted(stages)))
        return problems


# --------------------------------------------------------------------------------------------
# Assertion helpers for unittest.TestCase

class CapsuleTestCase(unittest.TestCase):
    """Base class: self.daemon is the class's daemon (started in setUpClass by subclasses)."""

    daemon = None
    maxDiff = 4000

    @classmethod
    def start_daemon(cls, **kw):
        require_root()
        d = Daemon(**kw)
        d.start()
        return d

    @classmethod
    def stop_daemon(cls, d):
        if d is None:
            return
        problems = d.stop()
        if problems:
            raise DaemonError("; ".join(problems))
        d.cleanup()

    def assertJsonResponse(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("content-type"), JSON_CT, r)
        self.assertIsNone(r.json_error, r)
        self.assertTrue(is_compact(r.body), "response JSON not compact: %r" % r.body[:300])

    def assertMessage(self, r, status, message):
        """Exact error body {"message": <message>}."""
        self.assertJsonResponse(r, status)
        self.assertEqual(r.json, {"message": message}, r)
        self.assertEqual(r.body, dumps_compact({"message": message}), r)

    def assertStage(self, st, what="stage"):
        self.assertIsInstance(st, dict, what)
        self.assertEqual(list(st.keys()), STAGE_KEYS, "%s keys/order" % what)
        for k in ("stdout", "stderr", "output"):
            self.assertIsInstance(st[k], str, "%s.%s" % (what, k))
        for k in ("cpu_time", "wall_time"):
            self.assertTrue(type(st[k]) is int and st[k] >= 0, "%s.%s=%r not an integer ms" % (what, k, st[k]))
        # > 0 is asserted where a program surely ran; a stage killed during start-up may be 0
        self.assertTrue(st["memory"] is None or (type(st["memory"]) is int and st["memory"] >= 0),
                        "%s.memory=%r not an integer" % (what, st["memory"]))
        self.assertTrue(st["code"] is None or type(st["code"]) is int, "%s.code=%r" % (what, st["code"]))
        self.assertNotEqual(st["status"], "XX", "%s: internal error %r" % (what, st))
        if st["status"] is None:
            self.assertEqual(st["code"], 0, what)
            self.assertIsNone(st["signal"], what)
        if st["status"] in ("TO", "OL", "EL"):
            self.assertEqual(st["signal"], "SIGKILL", what)
            self.assertIsNone(st["code"], what)

    def assertExecOk(self, r, compiled=False, language=None, version=None):
        """200 response of the right shape; returns the parsed JSON."""
        self.assertJsonResponse(r, 200)
        keys = (["compile"] if compiled else []) + ["run", "language", "version"]
        self.assertEqual(list(r.json.keys()), keys, r)
        if compiled:
            self.assertStage(r.json["compile"], "compile")
        self.assertStage(r.json["run"], "run")
        if language is not None:
            self.assertEqual(r.json["language"], language)
        if version is not None:
            self.assertEqual(r.json["version"], version)
        return r.json

    def assertRun(self, r, stdout=None, code=0, status=None, stderr=None, compiled=False):
        j = self.assertExecOk(r, compiled=compiled)
        run = j["run"]
        if stdout is not None:
            self.assertEqual(run["stdout"], stdout, run)
        if stderr is not None:
            self.assertEqual(run["stderr"], stderr, run)
        self.assertEqual(run["status"], status, run)
        self.assertEqual(run["code"], code, run)
        return run


# --------------------------------------------------------------------------------------------
# Runner: exit 77 when every test was skipped; print the daemon log on failures

class _Result(unittest.TextTestResult):
    def _dump_daemon(self, test):
        d = getattr(test, "daemon", None)
        if isinstance(d, Daemon) and d.proc is not None:
            self.stream.write("\n---- capsuled log tail (%s) ----\n%s\n----\n" % (d.instance, d.log_tail(80)))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._dump_daemon(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._dump_daemon(test)


def run_tests(module_name="__main__"):
    argv = [sys.argv[0]] + sys.argv[1:]
    prog = unittest.main(module=module_name, argv=argv, exit=False, verbosity=2,
                         testRunner=unittest.TextTestRunner(resultclass=_Result, verbosity=2))
    res = prog.result
    bad = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    executed = res.testsRun - len([s for s in res.skipped if isinstance(s[0], unittest.TestCase)])
    if bad:
        sys.exit(1)
    if skipped and executed <= 0:
        sys.exit(SKIP_CODE)
    if res.testsRun == 0 and not skipped:
        sys.exit(1)
    sys.exit(0)


# --------------------------------------------------------------------------------------------
# Small utilities

def b64(data):
    return base64.b64encode(data).decode()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def parallel(fns, timeout=300.0):
    """Runs callables in threads; returns their results (exceptions are re-raised)."""
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def run(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001
            errors[i] = e

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    for e in errors:
        if e is not None:
            raise e
    return results


def errno_name(n):
    return errno.errorcode.get(n, str(n))
