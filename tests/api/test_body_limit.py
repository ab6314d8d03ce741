#!/usr/bin/python3
"""Request body limit (PISTON-API.md 2.1 step 1): CAPSULE_MAX_BODY_SIZE, 413 JSON, from
Content-Length before reading and for chunked bodies when the body ends."""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

LIMIT = 4096
E413 = b'{"message":"request entity too large","stack":"PayloadTooLargeError: request entity too large"}'


def padded_payload(total):
    """A valid sh execute body of exactly `total` bytes (padding in an ignored key)."""
    base = {"language": "sh", "version": "1.0.0", "files": [{"content": "echo ok"}], "pad": ""}
    n = len(json.dumps(base, separators=(",", ":")))
    base["pad"] = "x" * (total - n)
    body = json.dumps(base, separators=(",", ":")).encode()
    assert len(body) == total, (len(body), total)
    return body


class BodyLimitTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", env={"CAPSULE_MAX_BODY_SIZE": str(LIMIT)})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def assert413(self, r):
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.header("content-type"), T.JSON_CT, r)
        self.assertEqual(r.body, E413)

    def test_at_limit_ok(self):
        r = self.daemon.post("/api/v2/execute", raw=padded_payload(LIMIT))
        self.assertRun(r, stdout="ok\n")

    def test_over_limit_content_length(self):
        r = self.daemon.post("/api/v2/execute", raw=padded_payload(LIMIT + 1))
        self.assert413(r)

    def test_far_over_limit_not_read(self):
        # 8 MiB announced: the 413 comes from Content-Length; the client may stop sending.
        size = 8 << 20
        head = ("POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Content-Length: %d" % size)
        chunks = (b"x" * 65536 for _ in range(size // 65536))
        r = self.daemon.raw(head, chunks)
        self.assert413(r)
        self.assertLess(r.elapsed, 30)

    def test_413_before_parse_and_415(self):
        for ct in ["application/json", "text/xml", None]:
            with self.subTest(ct=ct):
                hdrs = {"Content-Type": ct} if ct else {}
                r = self.daemon.request("POST", "/api/v2/execute", b"{" * (LIMIT + 10), hdrs)
                self.assert413(r)
        r = self.daemon.request("POST", "/api/v2/nope", b"x" * (LIMIT + 10), {"Content-Type": "text/xml"})
        self.assert413(r)

    def test_chunked_at_limit_ok(self):
        body = padded_payload(LIMIT)
        head = ("POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked")
        chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
        r = self.daemon.raw(head, chunks, chunked=True)
        self.assertRun(r, stdout="ok\n")

    def test_chunked_over_limit(self):
        body = padded_payload(LIMIT * 3)
        head = ("POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked")
        chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
        r = self.daemon.raw(head, chunks, chunked=True)
        self.assert413(r)

    def test_chunked_far_over_limit(self):
        # 4 MiB chunked: the rest is discarded, memory stays bounded, 413 at the end
        head = ("POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked")
        before = self.daemon.resources()["rss_kb"]
        chunks = (b"y" * 65536 for _ in range(64))
        r = self.daemon.raw(head, chunks, chunked=True)
        self.assert413(r)
        after = self.daemon.resources()["rss_kb"]
        self.assertLess(after - before, 3 * 1024, "daemon RSS grew by %d KiB for a discarded body" % (after - before))

    def test_daemon_still_serves(self):
        self.assertRun(self.daemon.execute({"language": "sh", "version": "*",
                                            "files": [{"content": "echo ok"}]}), stdout="ok\n")


if __name__ == "__main__":
    T.run_tests()
