#!/usr/bin/python3
"""GET, POST, DELETE /api/v2/packages (PISTON-API.md 2.4) against a live daemon and a real
HTTP index on loopback serving archives built here: install -> list -> execute -> uninstall,
a package wrapping a Debian toolchain (python3, with `provides`), checksum mismatch, unsafe
archives, caps, broken indexes, body validation, the 404 and 500 texts, concurrent installs,
uninstall during a running job, kill -9 mid-install and the cleanup at the next start."""

import json
import os
import shutil
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402
import package_fixtures as F  # noqa: E402

# Package directories are bound into boxes at their host path and boxes have their own /tmp:
# the daemons' data directories live beside the binary, not under /tmp.
WORKDIR = os.path.dirname(os.path.abspath(T.CAPSULED))
PKG = "/api/v2/packages"
MAX_UNPACKED = 1 << 20
MAX_DOWNLOAD = 4 << 20


def body(language, version):
    return {"language": language, "version": version}


def sh(language, content, version="*"):
    return {"language": language, "version": version, "files": [{"content": content}]}


def wait_for(cond, seconds, what):
    deadline = time.monotonic() + T.slack(seconds * 1000) / 1000
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class PackagesTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        cls.server = F.IndexServer()
        cls.server.set_index([])
        cls.daemon = T.Daemon(runtimes="fixture", workdir=WORKDIR, env={
            "PISTON_REPO_URL": cls.server.url("/index"),
            "CAPSULE_PACKAGE_INDEX_TIMEOUT": "1500",
            "CAPSULE_PACKAGE_MAX_UNPACKED": str(MAX_UNPACKED),
            "CAPSULE_PACKAGE_MAX_DOWNLOAD": str(MAX_DOWNLOAD),
        })
        cls.daemon.start()
        cls.data = os.path.join(cls.daemon._tmp, "data")

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)
        cls.server.close()

    def post(self, payload, **kw):
        return self.daemon.post(PKG, payload, **kw)

    def delete(self, payload):
        return self.daemon.request("DELETE", PKG, json.dumps(payload).encode(),
                                   {"Content-Type": "application/json"})

    def index(self, *lines):
        self.server.set_index(list(lines))

    def assertNothingLeft(self, language):
        self.assertEqual(F.visible_and_hidden(self.data, language), [])

    # -- the whole cycle ---------------------------------------------------------------------
    def test_install_list_execute_uninstall(self):
        line = self.server.add_package("hello", "1.0.0", F.tar_gz(F.package_members(
            "hello", "1.0.0", aliases=["hi"])))
        self.index(line)
        r = self.daemon.get(PKG)
        self.assertJsonResponse(r, 200)
        self.assertEqual(r.body, b'[{"language":"hello","language_version":"1.0.0","installed":false}]')

        r = self.post(body("hello", "1.x"))
        self.assertJsonResponse(r, 200)
        self.assertEqual(r.body, b'{"language":"hello","version":"1.0.0"}')
        r = self.daemon.get(PKG)
        self.assertEqual(r.body, b'[{"language":"hello","language_version":"1.0.0","installed":true}]')
        runtimes = self.daemon.get("/api/v2/runtimes").json
        self.assertIn({"language": "hello", "version": "1.0.0", "aliases": ["hi"]}, runtimes)
        # installed: <data>/packages/hello/1.0.0/.ppman-installed holds the time in ms
        marker = os.path.join(self.data, "packages", "hello", "1.0.0", ".ppman-installed")
        with open(marker) as f:
            self.assertLess(abs(int(f.read()) - time.time() * 1000), 600000)

        self.assertRun(self.daemon.execute(sh("hi", 'cat "$PKG_DIR/data.txt"')),
                       stdout="package data\n")

        r = self.delete(body("hello", "1"))
        self.assertJsonResponse(r, 200)
        self.assertEqual(r.body, b'{"language":"hello","version":"1.0.0"}')
        self.assertMessage(self.daemon.execute(sh("hi", "echo x")), 400, "hi-* runtime is unknown")
        self.assertNotIn("hello", [x["language"] for x in self.daemon.get("/api/v2/runtimes").json])
        r = self.daemon.get(PKG)
        self.assertEqual(r.body, b'[{"language":"hello","language_version":"1.0.0","installed":false}]')
        wait_for(lambda: F.visible_and_hidden(self.data, "hello") == [], 5, "files removed")
        # and again: a reinstall after an uninstall works
        self.assertJsonResponse(self.post(body("hello", "*")), 200)
        self.assertRun(self.daemon.execute(sh("hello", "echo again")), stdout="again\n")
        self.assertJsonResponse(self.delete(body("hello", "*")), 200)

    def test_runtimes_in_restart_order(self):
        # installed packages follow the bundled ones sorted by name, then version (5.3),
        # whatever the install order
        lines = [self.server.add_package(n, v, F.tar_gz(F.package_members(n, v)))
                 for n, v in (("zorder", "1.0.0"), ("aorder", "2.0.0"), ("aorder", "10.0.0"))]
        self.index(*lines)
        for n, v in (("zorder", "1.0.0"), ("aorder", "10.0.0"), ("aorder", "2.0.0")):
            self.assertJsonResponse(self.post(body(n, v)), 200)
        got = [(x["language"], x["version"]) for x in self.daemon.get("/api/v2/runtimes").json
               if x["language"].endswith("order")]
        self.assertEqual(got, [("aorder", "2.0.0"), ("aorder", "10.0.0"), ("zorder", "1.0.0")])
        for n, v in (("zorder", "*"), ("aorder", "*"), ("aorder", "*")):
            self.assertJsonResponse(self.delete(body(n, v)), 200)

    def test_toolchain_package_with_provides(self):
        # wraps Debian's python3 the way Piston's packages wrap their own builds
        T.require_toolchain("python")
        run = b'#!/bin/bash\nexec /usr/bin/python3 "$@"\n'
        provides = [{"language": "pyw", "aliases": ["pw"]},
                    {"language": "pyw-strict", "aliases": [], "limit_overrides": {"run_timeout": 1000}}]
        arch = F.tar_gz(F.package_members("pywrap", "3.99.1", run=run, provides=provides))
        self.index(self.server.add_package("pywrap", "3.99.1", arch))
        self.assertEqual(self.post(body("pywrap", "3")).body, b'{"language":"pywrap","version":"3.99.1"}')
        rts = [x for x in self.daemon.get("/api/v2/runtimes").json if x.get("runtime") == "pywrap"]
        self.assertEqual(rts, [{"language": "pyw", "version": "3.99.1", "aliases": ["pw"], "runtime": "pywrap"},
                               {"language": "pyw-strict", "version": "3.99.1", "aliases": [], "runtime": "pywrap"}])
        self.assertRun(self.daemon.execute(sh("pw", "import sys; print(sys.version_info[0])")), stdout="3\n")
        self.assertMessage(self.daemon.execute(dict(sh("pyw-strict", "print(1)"), run_timeout=2000)), 400,
                           "run_timeout cannot exceed the configured limit of 1000")
        self.assertJsonResponse(self.delete(body("pywrap", "*")), 200)
        langs = [x["language"] for x in self.daemon.get("/api/v2/runtimes").json]
        self.assertNotIn("pyw", langs)  # every runtime of the package goes (Piston: the first)
        self.assertNotIn("pyw-strict", langs)

    # -- refusals leave nothing behind -------------------------------------------------------
    def test_checksum_mismatch(self):
        arch = F.tar_gz(F.package_members("badsum", "1.0.0"))
        want = "0" * 64
        self.index(self.server.add_package("badsum", "1.0.0", arch, sha=want))
        self.assertMessage(self.post(body("badsum", "*")), 500,
                           "Checksum miss-match want: %s got: %s" % (want, F.sha256_hex(arch)))
        self.assertNothingLeft("badsum")
        self.assertMessage(self.daemon.execute(sh("badsum", "echo")), 400, "badsum-* runtime is unknown")

    def check_refused(self, name, extra, words, members=None):
        arch = F.tar_gz(members if members is not None else F.package_members(name, "1.0.0", extra=extra))
        self.index(self.server.add_package(name, "1.0.0", arch))
        r = self.post(body(name, "*"))
        self.assertJsonResponse(r, 500)
        self.assertIn(words, r.json["message"])
        self.assertNothingLeft(name)
        self.assertFalse(os.path.exists(os.path.join(self.data, "packages", "escaped")))
        self.assertFalse(os.path.exists(os.path.join(self.data, "escaped")))

    def test_traversal_archive(self):
        self.check_refused("trav", [("./../../escaped", "file", b"x", 0o644)], "`..`")
        self.check_refused("abs", [("/tmp/escaped-capsule-test", "file", b"x", 0o644)], "absolute name")
        self.assertFalse(os.path.exists("/tmp/escaped-capsule-test"))

    def test_symlink_archives(self):
        self.check_refused("sym1", [("./etc", "symlink", "/etc", 0o777)], "leaves the package")
        self.check_refused("sym2", [("./up", "symlink", "../../escaped", 0o777)], "leaves the package")
        self.check_refused("sym3", [("./d", "dir", None, 0o755), ("./l", "symlink", "d", 0o777),
                                    ("./l/escaped", "file", b"x", 0o644)], "passes through a symlink")
        self.check_refused("hard", [("./passwd", "hardlink", "/etc/passwd", 0o644)], "hard link")
        self.check_refused("dev", [("./null", "chardev", None, 0o666)], "device nodes")

    def test_oversized_archives(self):
        big = [("./zeros", "file", b"\0" * (MAX_UNPACKED + 1), 0o644)]  # compresses to ~1 KiB
        self.check_refused("bomb", big, "unpacked size is over the limit of %d bytes" % MAX_UNPACKED)
        noise = os.urandom(MAX_DOWNLOAD + 4096)  # does not compress
        self.index(self.server.add_package("huge", "1.0.0", noise))
        r = self.post(body("huge", "*"))
        self.assertMessage(r, 500, "larger than the limit of %d bytes" % MAX_DOWNLOAD)
        self.assertNothingLeft("huge")

    def test_not_a_package(self):
        self.check_refused("norun", None, "package has no run", members=[
            ("./pkg-info.json", "file", b'{"language":"norun","version":"1.0.0"}', 0o644)])
        arch = F.tar_gz(F.package_members("badinfo", "1.0.0")[:3] +
                        [("./pkg-info.json", "file", b'{"language":"badinfo"}', 0o644)])
        self.index(self.server.add_package("badinfo", "1.0.0", arch))
        r = self.post(body("badinfo", "*"))
        self.assertJsonResponse(r, 500)
        self.assertIn("package registers no runtime", r.json["message"])
        self.assertNothingLeft("badinfo")
        self.assertMessage(self.daemon.get("/nothing/here"), 404, "Not Found")  # still serving

    # -- broken indexes ----------------------------------------------------------------------
    def check_index_error(self, route, words):
        self.server.routes["/index"] = route
        for r in (self.daemon.get(PKG), self.post(body("x", "*"))):
            self.assertJsonResponse(r, 500)
            self.assertTrue(r.json["message"].startswith("Failed to fetch the package index: "), r)
            self.assertIn(words, r.json["message"])
        self.assertRun(self.daemon.execute(sh("sh", "echo alive")), stdout="alive\n")

    def test_index_garbage(self):
        self.check_index_error(b"<html><body>502 Bad Gateway</body></html>\n",
                               "line 1: expected name,version,sha256,url")
        self.check_index_error(b"a,1.0.0,nothex,http://x/y\n", "line 1: invalid sha256")

    def test_index_http_errors(self):
        self.server.routes.pop("/index", None)
        self.check_index_error(None, "404")
        self.check_index_error(F.hang_up, "Empty reply from server")

    def test_index_slow(self):
        t0 = time.monotonic()
        self.check_index_error(F.stalled(6), "timed out")
        self.assertLess(time.monotonic() - t0, T.slack(12000) / 1000)

    def test_index_redirects(self):
        line = self.server.add_package("moved", "1.0.0", F.tar_gz(F.package_members("moved", "1.0.0")))
        self.server.routes["/real-index"] = (line + "\n").encode()
        self.server.routes["/index"] = F.redirect("/real-index")  # followed (http/https)
        r = self.daemon.get(PKG)
        self.assertEqual(r.body, b'[{"language":"moved","language_version":"1.0.0","installed":false}]')
        # never to a local file, whatever a remote index says
        self.check_index_error(F.redirect("file:///etc/passwd"), "file")

    def test_remote_index_cannot_name_local_files(self):
        arch = F.tar_gz(F.package_members("local", "1.0.0"))
        path = os.path.join(self.data, "local.tgz")
        with open(path, "wb") as f:
            f.write(arch)
        self.index("local,1.0.0,%s,file://%s" % (F.sha256_hex(arch), path))
        r = self.post(body("local", "*"))
        self.assertJsonResponse(r, 500)
        self.assertIn("file", r.json["message"].lower())
        self.assertNothingLeft("local")

    # -- validation and the spec's texts -----------------------------------------------------
    def test_bad_bodies(self):
        for send in (self.post, self.delete):
            self.assertMessage(send({}), 400, "language is required as a string")
            self.assertMessage(send({"language": 3, "version": "*"}), 400, "language is required as a string")
            self.assertMessage(send({"language": "", "version": "*"}), 400, "language is required as a string")
            self.assertMessage(send({"language": "x"}), 400, "version is required as a string")
            self.assertMessage(send({"language": "x", "version": False}), 400, "version is required as a string")
        r = self.daemon.post(PKG, raw=b'{"language":', content_type="application/json")
        self.assertJsonResponse(r, 400)
        self.assertTrue(r.json["message"].startswith("Malformed JSON in request body: "), r)
        self.assertMessage(self.daemon.post(PKG, raw=b"language=x", content_type="application/x-www-form-urlencoded"),
                           415, "requests must be of type application/json")
        self.assertMessage(self.daemon.request("PUT", PKG, b"{}", {"Content-Type": "application/json"}),
                           404, "Not Found")

    def test_404_and_500_texts(self):
        line = self.server.add_package("texts", "2.1.0", F.tar_gz(F.package_members("texts", "2.1.0")))
        self.index(line)
        self.assertMessage(self.post(body("nope", "*")), 404, "Requested package nope-* does not exist")
        self.assertMessage(self.post(body("texts", "9")), 404, "Requested package texts-9 does not exist")
        self.assertMessage(self.post(body("texts", "not a range")), 404,
                           "Requested package texts-not a range does not exist")
        self.assertMessage(self.delete(body("texts", "2")), 500, "texts-2 is not installed")
        self.assertJsonResponse(self.post(body("texts", "2")), 200)
        self.assertMessage(self.post(body("texts", "2.1.0")), 500, "Already installed")
        self.assertMessage(self.delete(body("texts", "3")), 500, "texts-3 is not installed")
        self.assertMessage(self.delete(body("../packages/texts", "*")), 500,
                           "../packages/texts-* is not installed")
        # counted under their own route in /metrics (once MHD has completed each request)
        def counted():
            text = self.daemon.get("/metrics").body.decode()
            line = 'capsule_http_requests_total{route="packages",code="404"} '
            return any(l.startswith(line) and int(l[len(line):]) >= 3 for l in text.splitlines())
        wait_for(counted, 5, "package requests counted in /metrics")
        # uninstall resolves among installed packages: works with the index gone
        self.server.routes.pop("/index")
        self.assertEqual(self.delete(body("texts", "*")).body, b'{"language":"texts","version":"2.1.0"}')

    def test_concurrent_install_one_wins(self):
        arch = F.tar_gz(F.package_members("race", "1.0.0"))
        path = "/pkgs/race.tgz"
        self.index(self.server.add_package("race", "1.0.0", arch, path=path))
        self.server.routes[path] = F.slow_body(arch, 1.5)
        results = T.parallel([lambda: self.post(body("race", "*")) for _ in range(3)])
        ok = [r for r in results if r.status == 200]
        self.assertEqual(len(ok), 1, results)
        for r in results:
            if r.status != 200:
                self.assertJsonResponse(r, 500)
                self.assertIn(r.json["message"], ("Already installed",
                              "race-1.0.0 is being installed or removed by another request"))
        self.assertRun(self.daemon.execute(sh("race", "echo won")), stdout="won\n")
        self.assertEqual([x for x in F.visible_and_hidden(self.data, "race") if not x.startswith(".")],
                         ["1.0.0"])
        self.assertEqual(len([x for x in F.visible_and_hidden(self.data, "race") if x.startswith(".")]), 1)
        self.assertJsonResponse(self.delete(body("race", "*")), 200)

    def test_slow_installs_do_not_block_requests(self):
        # more slow downloads than the daemon has HTTP threads (CPUs, at least 2)
        names = ["slow%d" % i for i in range(os.cpu_count() or 2)] + ["slowx"]
        lines = []
        for n in names:
            arch = F.tar_gz(F.package_members(n, "1.0.0"))
            lines.append(self.server.add_package(n, "1.0.0", arch, path="/pkgs/%s.tgz" % n))
            self.server.routes["/pkgs/%s.tgz" % n] = F.slow_body(arch, 6)
        self.index(*lines)
        installs = [threading.Thread(target=self.post, args=(body(n, "*"),)) for n in names]
        for t in installs:
            t.start()
        wait_for(lambda: all(self.server.hits.get("/pkgs/%s.tgz" % n) for n in names), 5,
                 "every download to start")
        self.assertJsonResponse(self.daemon.get("/api/v2/runtimes"), 200)
        self.assertRun(self.daemon.execute(sh("sh", "echo meanwhile")), stdout="meanwhile\n")
        # answered while every download was still under way: no HTTP thread waits on one
        self.assertTrue(all(t.is_alive() for t in installs))
        for t in installs:
            t.join(60)
        for n in names:
            self.assertTrue(self.server.hits.get("/pkgs/%s.tgz" % n))
            self.assertJsonResponse(self.delete(body(n, "*")), 200)

    def test_uninstall_during_running_job(self):
        self.index(self.server.add_package("busy", "1.0.0", F.tar_gz(F.package_members("busy", "1.0.0"))))
        self.assertJsonResponse(self.post(body("busy", "*")), 200)
        out = {}
        job = threading.Thread(target=lambda: out.setdefault("r", self.daemon.execute(
            dict(sh("busy", 'sleep 1.5; cat "$PKG_DIR/data.txt"; ls "$PKG_DIR"'), run_timeout=3000))))
        job.start()
        time.sleep(0.5)
        self.assertJsonResponse(self.delete(body("busy", "*")), 200)
        self.assertMessage(self.daemon.execute(sh("busy", "echo")), 400, "busy-* runtime is unknown")
        job.join(30)
        run = self.assertRun(out["r"])
        self.assertTrue(run["stdout"].startswith("package data\n"), run)
        self.assertIn("run", run["stdout"])
        wait_for(lambda: F.visible_and_hidden(self.data, "busy") == [], 5, "files removed after the job")

    def test_authentication_covers_packages(self):
        token = "tok-" + "a" * 20
        d = T.Daemon(runtimes="fixture", workdir=WORKDIR, env={
            "CAPSULE_API_TOKENS": token,
            "PISTON_REPO_URL": "http://127.0.0.1:%d/index" % F.dead_port()})
        with d:
            for method in ("GET", "POST", "DELETE"):
                r = d.request(method, PKG, b'{"language":"a","version":"*"}', {"Content-Type": "application/json"})
                self.assertEqual(r.status, 401, r)
            # authenticated: an index that is down is the spec's 500, never a crash
            r = d.request("GET", PKG, headers={"Authorization": token})
            self.assertJsonResponse(r, 500)
            self.assertTrue(r.json["message"].startswith("Failed to fetch the package index: "), r)
            self.assertIn("onnect", r.json["message"])
            r = d.request("DELETE", PKG, b'{"language":"a","version":"*"}',
                          {"Content-Type": "application/json", "Authorization": "Bearer " + token})
            self.assertMessage(r, 500, "a-* is not installed")


class IndexSchemesTest(T.CapsuleTestCase):
    """file:// indexes (a capsuled extension) and TLS verification of https:// ones."""

    @classmethod
    def setUpClass(cls):
        T.require_root()

    def test_file_index_and_file_packages(self):
        d = T.Daemon(runtimes="fixture", workdir=WORKDIR)
        repo = os.path.join(d._tmp, "repo")
        os.makedirs(repo)
        arch = F.tar_gz(F.package_members("offline", "0.1.0"))
        with open(os.path.join(repo, "offline.tgz"), "wb") as f:
            f.write(arch)
        with open(os.path.join(repo, "index"), "w") as f:
            f.write("offline,0.1.0,%s,file://%s/offline.tgz\n" % (F.sha256_hex(arch), repo))
        d.extra_env["PISTON_REPO_URL"] = "file://%s/index" % repo
        self.daemon = d
        with d:
            self.assertEqual(d.post(PKG, body("offline", "0")).body, b'{"language":"offline","version":"0.1.0"}')
            self.assertRun(d.execute(sh("offline", "echo offline")), stdout="offline\n")
            os.unlink(os.path.join(repo, "index"))
            r = d.get(PKG)
            self.assertJsonResponse(r, 500)
            self.assertTrue(r.json["message"].startswith("Failed to fetch the package index: "), r)

    def test_https_index_is_verified(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl (the command) is needed to make a certificate")
        d = T.Daemon(runtimes="fixture", workdir=WORKDIR)
        server = F.IndexServer(tls_cert=F.self_signed_cert(d._tmp))
        server.set_index([])
        d.extra_env["PISTON_REPO_URL"] = server.url("/index")
        self.daemon = d
        try:
            with d:
                r = d.get(PKG)
                self.assertJsonResponse(r, 500)
                self.assertTrue(r.json["message"].startswith("Failed to fetch the package index: "), r)
                self.assertIn("certificate", r.json["message"])
        finally:
            server.close()


class CrashTest(T.CapsuleTestCase):
    """kill -9 in the middle of an install, then a restart on the same data directory."""

    @classmethod
    def setUpClass(cls):
        T.require_root()

    def test_kill9_mid_install_then_restart_cleans(self):
        server = F.IndexServer()
        arch = F.tar_gz(F.package_members("crash", "1.0.0", extra=[
            ("./blob", "file", os.urandom(256 << 10), 0o644)]))
        path = "/pkgs/crash.tgz"
        server.set_index([server.add_package("crash", "1.0.0", arch, path=path)])
        server.routes[path] = F.slow_body(arch, 30, chunks=300)
        env = {"PISTON_REPO_URL": server.url("/index")}
        d1 = T.Daemon(runtimes="fixture", workdir=WORKDIR, env=env)
        data = os.path.join(d1._tmp, "data")
        self.daemon = d1
        d1.start()
        try:
            def install():
                try:
                    d1.post(PKG, body("crash", "*"), timeout=60)
                except OSError:
                    pass  # the daemon is killed under it
            threading.Thread(target=install, daemon=True).start()
            wait_for(lambda: any(".download-" in x for x in F.visible_and_hidden(data, "crash")), 10,
                     "the download to start")
            os.kill(d1.pid, signal.SIGKILL)
            d1.proc.wait()
            d1.stopped = True
            left = F.visible_and_hidden(data, "crash")
            self.assertNotIn("1.0.0", left)  # never a half package under the version name
            self.assertTrue(left and all(x.startswith(".") for x in left), left)
            # states a kill at other points leaves (built by hand): half-unpacked, unpacked but
            # not linked; plus another instance's download, which must stay
            pkgs = os.path.join(data, "packages", "crash")
            os.makedirs(os.path.join(pkgs, ".1.0.0.tmp-%s-1111" % d1.instance, "bin"))
            os.makedirs(os.path.join(pkgs, ".1.0.0.pkg-%s-2222" % d1.instance))
            other = os.path.join(pkgs, ".1.0.0.download-capsule-other-3333")
            open(other, "w").close()

            # same instance and data directory: the restart cleans our leftovers
            env2 = dict(env, PISTON_DATA_DIRECTORY=data, CAPSULE_INSTANCE=d1.instance,
                        PISTON_RUNNER_UID_MIN=str(d1.uid_min), PISTON_RUNNER_UID_MAX=str(d1.uid_max),
                        PISTON_RUNNER_GID_MIN=str(d1.gid_min), PISTON_RUNNER_GID_MAX=str(d1.gid_max))
            d2 = T.Daemon(runtimes="fixture", workdir=WORKDIR, env=env2)
            self.daemon = d2
            with d2:
                self.assertEqual(F.visible_and_hidden(data, "crash"), [os.path.basename(other)])
                r = d2.get(PKG)
                self.assertEqual(r.body, b'[{"language":"crash","language_version":"1.0.0","installed":false}]')
                server.routes[path] = arch
                self.assertJsonResponse(d2.post(PKG, body("crash", "*")), 200)
                self.assertRun(d2.execute(sh("crash", "echo ok")), stdout="ok\n")
            # an installed package survives a restart (and is not taken for a leftover)
            d3 = T.Daemon(runtimes="fixture", workdir=WORKDIR, env=env2)
            self.daemon = d3
            with d3:
                self.assertRun(d3.execute(sh("crash", 'cat "$PKG_DIR/data.txt"')), stdout="package data\n")
                self.assertEqual(len(F.visible_and_hidden(data, "crash")), 3)  # link, dir, other's file
                # a package loaded at startup is removed once uninstalled (no job holds it)
                self.assertJsonResponse(d3.request("DELETE", PKG, json.dumps(body("crash", "*")).encode(),
                                                   {"Content-Type": "application/json"}), 200)
                wait_for(lambda: F.visible_and_hidden(data, "crash") == [os.path.basename(other)], 5,
                         "the startup-loaded package's files removed")
        finally:
            d1.cleanup()
            server.close()


if __name__ == "__main__":
    T.run_tests()
