#!/usr/bin/python3
"""Limits before the work starts: CAPSULE_RATE_LIMIT / CAPSULE_RATE_BURST (429 with
Retry-After, one bucket per caller: HMAC caller, else token, else client IP; off by default;
/health and /metrics exempt) and CAPSULE_MAX_FILES (400 after Piston's validation rows)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

TOKEN_A = "tok-A-0123456789abcdef"
TOKEN_B = "tok-B-fedcba9876543210"
TOO_MANY = "too many requests"


def sh(content, n_extra=0):
    files = [{"content": content}] + [{"name": "f%d" % i, "content": ""} for i in range(n_extra)]
    return {"language": "sh", "version": "1.0.0", "files": files}


class RateLimitByIpTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        # 1 request per second, burst 3: a test runs well inside one refill
        cls.daemon = cls.start_daemon(runtimes="fixture", env={
            "CAPSULE_RATE_LIMIT": "1", "CAPSULE_RATE_BURST": "3"})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_burst_then_429(self):
        got = [self.daemon.get("/api/v2/runtimes") for _ in range(6)]
        statuses = [r.status for r in got]
        self.assertEqual(statuses[:3], [200, 200, 200], statuses)
        self.assertIn(429, statuses[3:], statuses)
        r = [x for x in got if x.status == 429][0]
        self.assertMessage(r, 429, TOO_MANY)
        self.assertEqual(r.header("retry-after"), "1")
        # health and metrics are never limited
        for _ in range(5):
            self.assertEqual(self.daemon.get("/health").status, 200)
        m = self.daemon.get("/metrics")
        self.assertEqual(m.status, 200)
        self.assertRegex(m.body.decode(), r"capsule_rate_limited_total [1-9]")


class RateLimitByTokenTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={
            "CAPSULE_RATE_LIMIT": "1", "CAPSULE_RATE_BURST": "2",
            "CAPSULE_API_TOKENS": TOKEN_A + "," + TOKEN_B})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def get(self, token):
        return self.daemon.get("/api/v2/runtimes", headers={"Authorization": "Bearer " + token})

    def test_buckets_per_token(self):
        a = [self.get(TOKEN_A).status for _ in range(4)]
        self.assertEqual(a[:2], [200, 200], a)
        self.assertIn(429, a[2:], a)
        # another caller from the same address has its own bucket
        b = [self.get(TOKEN_B).status for _ in range(2)]
        self.assertEqual(b, [200, 200])

    def test_unauthenticated_refused_before_the_limiter(self):
        for _ in range(5):
            self.assertEqual(self.daemon.get("/api/v2/runtimes").status, 401)


class MaxFilesTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={"CAPSULE_MAX_FILES": "5"})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_cap(self):
        self.assertRun(self.daemon.execute(sh("echo ok", 4)), stdout="ok\n")
        r = self.daemon.execute(sh("echo no", 5))
        self.assertMessage(r, 400, "files must not have more than 5 entries")

    def test_piston_rows_first(self):
        p = sh("echo no", 10)
        p["language"] = "cobol"
        self.assertMessage(self.daemon.execute(p), 400, "cobol-1.0.0 runtime is unknown")
        p = sh("echo no", 10)
        p["run_timeout"] = "3000"
        self.assertMessage(self.daemon.execute(p), 400, "If specified, run_timeout must be a number")

    def test_value_bomb_refused_before_parsing(self):
        # 5 * 16 + 4096 values at most: a body of empty objects is refused in one scan,
        # whatever the Content-Type that would have it parsed
        n = 200000
        body = b'{"language":"sh","version":"1.0.0","files":[' + b",".join([b"{}"] * n) + b"]}"
        before = self.daemon.resources()["rss_kb"]
        for hdrs in ({"Content-Type": "application/json"}, {"Content-Type": "text/plain"}, {}):
            r = self.daemon.request("POST", "/api/v2/execute", body, hdrs)
            self.assertMessage(r, 400, "request body holds more than 4176 JSON values")
        self.assertLess(self.daemon.resources()["rss_kb"] - before, 8 * 1024)
        # other media types keep their 415
        r = self.daemon.request("POST", "/api/v2/execute", body, {"Content-Type": "text/xml"})
        self.assertEqual(r.status, 415)

    def test_default_allows_realistic_requests(self):
        d = T.Daemon(runtimes="fixture")
        self.daemon2 = d
        d.start()
        try:
            self.assertRun(d.execute(sh("echo ok", 200)), stdout="ok\n")
        finally:
            self.assertEqual(d.stop(), [])


if __name__ == "__main__":
    T.run_tests()
