#!/usr/bin/python3
"""Authentication (README "Operations"): off by default; CAPSULE_API_TOKENS accepts
`Authorization: Bearer <token>` and the raw `Authorization: <token>` Piston clients send;
CAPSULE_HMAC_SECRET accepts signed requests (X-Capsule-Timestamp, X-Capsule-Caller,
X-Capsule-Signature = hex HMAC-SHA256 over "<ts>:<caller>:<body>"), each signature once within
+-30 s. Pipeline: 413, then 401, then everything else; /health and /metrics stay open."""

import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

TOKEN_A = "tok-A-0123456789abcdef"
TOKEN_B = "tok-B-fedcba9876543210"
SECRET = "s3cret-0123456789abcdef0123456789abcdef"
E413 = b'{"message":"request entity too large","stack":"PayloadTooLargeError: request entity too large"}'
MSG_MISSING_TOKEN = "authentication required: send Authorization: Bearer <token>"


def sh(content):
    return {"language": "sh", "version": "1.0.0", "files": [{"content": content}]}


def signed_headers(body, caller="svc-1", ts=None, secret=SECRET):
    ts = str(int(time.time()) if ts is None else ts)
    sig = hmac.new(secret.encode(), ("%s:%s:" % (ts, caller)).encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Capsule-Timestamp": ts,
            "X-Capsule-Caller": caller, "X-Capsule-Signature": sig}


class AuthOffTest(T.CapsuleTestCase):
    """Piston compatibility: no credentials needed, an Authorization header is ignored."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture")

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_no_auth_needed(self):
        self.assertRun(self.daemon.execute(sh("echo ok")), stdout="ok\n")
        self.assertRun(self.daemon.execute(sh("echo ok"), headers={"Authorization": "whatever"}),
                       stdout="ok\n")
        r = self.daemon.get("/api/v2/runtimes")
        self.assertEqual(r.status, 200)


class TokenAuthTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={
            "CAPSULE_API_TOKENS": "%s, %s" % (TOKEN_A, TOKEN_B), "CAPSULE_MAX_BODY_SIZE": "4096"})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_missing(self):
        r = self.daemon.execute(sh("echo no"))
        self.assertMessage(r, 401, MSG_MISSING_TOKEN)
        self.assertEqual(r.header("www-authenticate"), 'Bearer realm="capsuled"')

    def test_bearer_and_raw_accepted(self):
        for value in ("Bearer " + TOKEN_A, "bearer " + TOKEN_B, TOKEN_A, TOKEN_B):
            with self.subTest(value=value):
                r = self.daemon.execute(sh("echo ok"), headers={"Authorization": value})
                self.assertRun(r, stdout="ok\n")

    def test_wrong_token(self):
        for value in ("Bearer nope-nope-nope-nope", TOKEN_A + "x", "Basic " + TOKEN_A, ""):
            with self.subTest(value=value):
                r = self.daemon.execute(sh("echo no"), headers={"Authorization": value})
                self.assertEqual(r.status, 401, r)
                self.assertIn(r.json["message"], ("invalid API token", MSG_MISSING_TOKEN))

    def test_every_api_path_needs_it(self):
        # unauthenticated clients learn nothing: no 404, 415 or 400 before the 401
        cases = [("GET", "/", None, {}), ("GET", "/api/v2/runtimes", None, {}),
                 ("GET", "/api/v2/nope", None, {}),
                 ("POST", "/api/v2/execute", b"{not json", {"Content-Type": "application/json"}),
                 ("POST", "/api/v2/execute", b"<x/>", {"Content-Type": "text/xml"})]
        for method, path, body, hdrs in cases:
            with self.subTest(path=path, body=body):
                r = self.daemon.request(method, path, body, hdrs)
                self.assertMessage(r, 401, MSG_MISSING_TOKEN)

    def test_413_before_401(self):
        r = self.daemon.request("POST", "/api/v2/execute", b"x" * 5000, {"Content-Type": "application/json"})
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.body, E413)

    def test_health_and_metrics_open(self):
        r = self.daemon.get("/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ok")
        r = self.daemon.get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b'capsule_auth_failures_total{reason="missing"}', r.body)

    def test_refused_body_is_not_kept(self):
        # a stranger's upload is read and dropped: daemon memory does not grow with it
        before = self.daemon.resources()["rss_kb"]
        head = ("POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked")
        r = self.daemon.raw(head, (b"y" * 4000 for _ in range(1)), chunked=True)
        self.assertEqual(r.status, 401, r)
        self.assertLess(self.daemon.resources()["rss_kb"] - before, 2048)

    def test_public_prefix_alias_also_protected(self):
        r = self.daemon.execute(sh("echo no"), path="/api/v2/piston/execute")
        self.assertEqual(r.status, 401, r)
        r = self.daemon.execute(sh("echo ok"), path="/api/v2/piston/execute",
                                headers={"Authorization": TOKEN_A})
        self.assertRun(r, stdout="ok\n")


class SignedAuthTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={"CAPSULE_HMAC_SECRET": SECRET})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def post_signed(self, body, hdrs):
        return self.daemon.request("POST", "/api/v2/execute", body, hdrs)

    def test_accepted(self):
        body = json.dumps(sh("echo signed")).encode()
        self.assertRun(self.post_signed(body, signed_headers(body)), stdout="signed\n")

    def test_replayed(self):
        body = json.dumps(sh("echo once")).encode()
        hdrs = signed_headers(body, caller="replay-test")
        self.assertRun(self.post_signed(body, hdrs), stdout="once\n")
        r = self.post_signed(body, hdrs)
        self.assertMessage(r, 401, "request signature was already used")

    def test_expired_and_future(self):
        body = json.dumps(sh("echo old")).encode()
        for delta in (-45, 45):
            with self.subTest(delta=delta):
                r = self.post_signed(body, signed_headers(body, ts=int(time.time()) + delta))
                self.assertMessage(r, 401, "X-Capsule-Timestamp is more than 30 seconds away from "
                                           "the server's clock")

    def test_within_window_accepted(self):
        body = json.dumps(sh("echo skew")).encode()
        r = self.post_signed(body, signed_headers(body, ts=int(time.time()) - 20))
        self.assertRun(r, stdout="skew\n")

    def test_tampered(self):
        body = json.dumps(sh("echo a")).encode()
        hdrs = signed_headers(body)
        r = self.post_signed(json.dumps(sh("echo b")).encode(), hdrs)
        self.assertMessage(r, 401, "invalid request signature")
        hdrs2 = dict(hdrs, **{"X-Capsule-Caller": "someone-else"})
        self.assertMessage(self.post_signed(body, hdrs2), 401, "invalid request signature")
        bad_secret = signed_headers(body, secret="not-the-secret-0123456789abcdef0123")
        self.assertMessage(self.post_signed(body, bad_secret), 401, "invalid request signature")
        # the genuine request still works: failures are not recorded as used
        self.assertRun(self.post_signed(body, hdrs), stdout="a\n")

    def test_malformed(self):
        body = b"{}"
        good = signed_headers(body)
        cases = [
            ({"X-Capsule-Timestamp": None}, "signed requests need X-Capsule-Timestamp, "
                                            "X-Capsule-Caller and X-Capsule-Signature"),
            ({"X-Capsule-Timestamp": "12.5"}, "X-Capsule-Timestamp must be unix seconds"),
            ({"X-Capsule-Caller": "a:b"}, "X-Capsule-Caller must be 1 to 64 characters from "
                                          "A-Z a-z 0-9 . _ @ -"),
            ({"X-Capsule-Signature": "abc"}, "X-Capsule-Signature must be 64 hex digits (HMAC-SHA256)"),
        ]
        for change, msg in cases:
            with self.subTest(change=change):
                hdrs = {k: v for k, v in dict(good, **change).items() if v is not None}
                self.assertMessage(self.post_signed(body, hdrs), 401, msg)

    def test_get_signed_empty_body(self):
        r = self.daemon.request("GET", "/api/v2/runtimes", None, signed_headers(b""))
        self.assertEqual(r.status, 200, r)

    def test_unsigned_refused(self):
        r = self.daemon.execute(sh("echo no"), headers={"Authorization": TOKEN_A})
        self.assertMessage(r, 401, "authentication required: sign the request (X-Capsule-Timestamp, "
                                   "X-Capsule-Caller, X-Capsule-Signature)")

    def test_log_names_caller_not_secret(self):
        body = json.dumps(sh("echo logged")).encode()
        self.assertRun(self.post_signed(body, signed_headers(body, caller="log-caller")), stdout="logged\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "caller=hmac:log-caller" not in self.daemon.log_tail(400):
            time.sleep(0.05)
        log = self.daemon.log_tail(400)
        self.assertIn("caller=hmac:log-caller", log)
        self.assertNotIn(SECRET, log)


class BothKindsTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={
            "CAPSULE_API_TOKENS": TOKEN_A, "CAPSULE_HMAC_SECRET": SECRET})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_either_credential(self):
        self.assertRun(self.daemon.execute(sh("echo t"), headers={"Authorization": "Bearer " + TOKEN_A}),
                       stdout="t\n")
        body = json.dumps(sh("echo s")).encode()
        self.assertRun(self.daemon.request("POST", "/api/v2/execute", body, signed_headers(body)),
                       stdout="s\n")
        r = self.daemon.execute(sh("echo none"))
        self.assertMessage(r, 401, "authentication required: send Authorization: Bearer <token> "
                                   "or a signed request")


class BadSecretsConfigTest(T.CapsuleTestCase):
    def test_refused_at_startup_without_echo(self):
        import subprocess
        for env, want in [({"CAPSULE_API_TOKENS": "tiny-tok"},
                           "Config option CAPSULE_API_TOKENS failed validation: each token must be at "
                           "least 16 characters"),
                          ({"CAPSULE_HMAC_SECRET": "tiny-secret"},
                           "Config option CAPSULE_HMAC_SECRET failed validation: the secret must be at "
                           "least 32 characters")]:
            with self.subTest(env=env):
                d = T.Daemon(runtimes="fixture", env=env)
                p = subprocess.run([T.CAPSULED], env=d.env(), stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=30, cwd=d._tmp)
                out = (p.stdout + p.stderr).decode()
                self.assertEqual(p.returncode, 1, out)
                self.assertIn(want, out)
                self.assertNotIn(list(env.values())[0], out)


if __name__ == "__main__":
    T.run_tests()
