#!/usr/bin/python3
"""HTTP surface of capsuled (PISTON-API.md 2.1, 2.2): GET /, /runtimes, path matching, 404,
415, malformed JSON, Authorization, keep-alive. Uses the fixture runtimes (no toolchain)."""

import http.client
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

NOT_FOUND = "Not Found"
E415 = "requests must be of type application/json"
MALFORMED = "Malformed JSON in request body: "


def expected_runtimes(runtimes_dir):
    out = []
    for _, m in T.find_packages(runtimes_dir):
        if m.get("provides"):
            for p in m["provides"]:
                out.append({"language": p["language"], "version": m["version"],
                            "aliases": p.get("aliases", []), "runtime": m["language"]})
        else:
            out.append({"language": m["language"], "version": m["version"],
                        "aliases": m.get("aliases", [])})
    return out


SH_HELLO = {"language": "sh", "version": "1.0.0", "files": [{"content": "echo hello"}]}


class HttpTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture")

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    # -- GET / ------------------------------------------------------------------------------
    def test_root(self):
        r = self.daemon.get("/")
        self.assertJsonResponse(r, 200)
        self.assertEqual(r.body, b'{"message":"Piston v3.1.1"}')

    def test_root_query_string(self):
        r = self.daemon.get("/?x=1&y")
        self.assertEqual(r.body, b'{"message":"Piston v3.1.1"}', r)

    def test_no_cors_headers(self):
        r = self.daemon.get("/api/v2/runtimes", headers={"Origin": "http://example.com"})
        self.assertEqual(r.status, 200)
        self.assertFalse([h for h in r.headers if h.startswith("access-control-")], r.headers)

    # -- GET /api/v2/runtimes ---------------------------------------------------------------
    def test_runtimes_shape(self):
        r = self.daemon.get("/api/v2/runtimes")
        self.assertJsonResponse(r, 200)
        self.assertIsInstance(r.json, list)
        want = expected_runtimes(T.FIXTURE_RUNTIMES)
        self.assertEqual(r.json, want)
        # key order, compactness: the body is the compact serialisation of the expectation
        self.assertEqual(r.body, T.dumps_compact(want))
        for rt in r.json:
            self.assertEqual(list(rt.keys())[:3], ["language", "version", "aliases"])

    def test_runtimes_sh_entry(self):
        r = self.daemon.get("/api/v2/runtimes")
        sh = [x for x in r.json if x["language"] == "sh"]
        self.assertEqual(sh, [{"language": "sh", "version": "1.0.0", "aliases": ["fixture-sh"]}])
        self.assertNotIn("runtime", sh[0])  # absent, not null, for a non-provides runtime
        self.assertIn(b'{"language":"sh","version":"1.0.0","aliases":["fixture-sh"]}', r.body)

    def test_runtimes_path_variants(self):
        base = self.daemon.get("/api/v2/runtimes")
        for path in ["/api/v2/runtimes/", "/api/v2/piston/runtimes", "/api/v2/piston/runtimes/",
                     "/API/V2/RUNTIMES", "/Api/v2/Piston/Runtimes/", "/api/v2/runtimes?x=1",
                     "/api/v2/runtimes/?a=b&c", "/api/v2/runtimes?"]:
            with self.subTest(path=path):
                r = self.daemon.get(path)
                self.assertJsonResponse(r, 200)
                self.assertEqual(r.body, base.body)

    # -- execute path variants --------------------------------------------------------------
    def test_execute_path_variants(self):
        for path in ["/api/v2/execute", "/api/v2/execute/", "/api/v2/piston/execute",
                     "/api/v2/piston/execute/", "/API/v2/Execute", "/api/v2/execute?wait=1"]:
            with self.subTest(path=path):
                r = self.daemon.execute(SH_HELLO, path=path)
                run = self.assertRun(r, stdout="hello\n")
                self.assertEqual(run["output"], "hello\n")

    # -- 404 --------------------------------------------------------------------------------
    def test_not_found(self):
        cases = [
            ("GET", "/nope", None, None),
            ("GET", "/api/v2/nope", None, None),
            ("GET", "/api/v2/execute", None, None),          # wrong method, known path
            ("GET", "/api/v1/piston/execute", None, None),
            ("GET", "/api/v2", None, None),
            ("GET", "/api/v2/runtimes/x", None, None),
            ("POST", "/", "application/json", b"{}"),          # not under /api/v2: no 415
            ("POST", "/nope", None, b"x"),
            ("POST", "/api/v1/piston/execute", "application/json", b"{}"),
            ("POST", "/api/v2/runtimes", "application/json", b"{}"),
            ("PUT", "/api/v2/execute", "application/json", b"{}"),
            ("DELETE", "/api/v2/runtimes", "application/json", b""),
            ("PATCH", "/api/v2/execute", "application/json", b"{}"),
            ("POST", "/api/v2/nope", "application/json", b"{}"),
            ("POST", "/api/v2/nope", "application/json; charset=utf-8", b""),
        ]
        for method, path, ct, body in cases:
            with self.subTest(method=method, path=path, ct=ct):
                hdrs = {"Content-Type": ct} if ct else {}
                r = self.daemon.request(method, path, body, hdrs)
                self.assertMessage(r, 404, NOT_FOUND)

    # -- 415 --------------------------------------------------------------------------------
    def test_415(self):
        obj = b'{"language":"sh","version":"1.0.0","files":[{"content":"echo hi"}]}'
        cases = [
            ("/api/v2/execute", None, b""),                        # no type, empty body
            ("/api/v2/execute", None, b"hello"),                   # no type, not JSON
            ("/api/v2/execute", None, b"[1,2]"),                   # no type, array (not object)
            ("/api/v2/execute", "application/xml", obj),
            ("/api/v2/execute", "text/xml", obj),
            ("/api/v2/execute", "application/x-www-form-urlencoded", b"language=sh"),
            ("/api/v2/execute", "multipart/form-data; boundary=x", obj),
            ("/api/v2/execute", "Application/JSON", obj),          # case-sensitive prefix
            ("/api/v2/execute", "application/POST", obj),          # Piston4J
            ("/api/v2/execute", "text/plain", b"not json"),
            ("/api/v2/execute", "text/plain;charset=UTF-8", b"{bad"),
            ("/api/v2/execute", "text/plain", b"[]"),
            ("/api/v2/nope", "text/xml", obj),                     # unknown POST path -> 415
            ("/api/v2/nope", None, b""),
            ("/api/v2/piston/nope", "application/xml", b"x"),
            ("/api/v2/runtimes", "text/html", b"x"),               # known path, wrong method
        ]
        for path, ct, body in cases:
            with self.subTest(path=path, ct=ct, body=body):
                hdrs = {"Content-Type": ct} if ct else {}
                r = self.daemon.request("POST", path, body, hdrs)
                self.assertMessage(r, 415, E415)
        for method in ("PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                r = self.daemon.request(method, "/api/v2/execute", b"x", {"Content-Type": "text/xml"})
                self.assertMessage(r, 415, E415)

    def test_get_under_api_needs_no_type(self):
        r = self.daemon.request("GET", "/api/v2/runtimes", None, {"Content-Type": "text/xml"})
        self.assertEqual(r.status, 200, r)

    def test_text_plain_json_object_accepted(self):
        # node-piston posts JSON.stringify(body) as text/plain;charset=UTF-8
        body = b'{"language":"sh","version":"1.0.0","files":[{"content":"echo hi"}],"args":["1","2","3"],"compile_memory_limit":-1,"run_memory_limit":-1}'
        for ct in ["text/plain;charset=UTF-8", "text/plain", "text/plain; charset=utf-8", None]:
            with self.subTest(ct=ct):
                hdrs = {"Content-Type": ct} if ct else {}
                r = self.daemon.request("POST", "/api/v2/execute", body, hdrs)
                self.assertRun(r, stdout="hi\n")

    def test_text_plain_object_then_validation(self):
        r = self.daemon.request("POST", "/api/v2/execute", b"{}", {"Content-Type": "text/plain"})
        self.assertMessage(r, 400, "language is required as a string")
        r = self.daemon.request("POST", "/api/v2/nope", b"{}", {"Content-Type": "text/plain"})
        self.assertMessage(r, 404, NOT_FOUND)

    def test_json_charset_ok(self):
        for ct in ["application/json; charset=utf-8", "application/json;charset=UTF-8",
                   "application/json"]:
            with self.subTest(ct=ct):
                r = self.daemon.post("/api/v2/execute", SH_HELLO, content_type=ct)
                self.assertRun(r, stdout="hello\n")

    # -- JSON body rules --------------------------------------------------------------------
    def assertMalformed(self, r):
        self.assertJsonResponse(r, 400)
        self.assertEqual(list(r.json.keys()), ["message", "stack"], r)
        msg, stack = r.json["message"], r.json["stack"]
        self.assertTrue(msg.startswith(MALFORMED), r)
        self.assertTrue(stack.startswith("SyntaxError: "), r)
        self.assertEqual(msg[len(MALFORMED):], stack[len("SyntaxError: "):], r)
        self.assertTrue(len(msg) > len(MALFORMED), "parser detail missing: %r" % r)

    def test_malformed_json(self):
        for body in [b"{", b'{"language":', b"{'a':1}", b'{"a":1,}', b"nul", b"null", b"42",
                     b'"str"', b"true", b"{}x", b"[1,]", b'{"a":"\x01"}', b"\xff\xfe",
                     b'{"a":1} {"b":2}']:
            with self.subTest(body=body):
                r = self.daemon.post("/api/v2/execute", raw=body)
                self.assertMalformed(r)

    def test_malformed_json_before_415_and_404(self):
        # step 2 (parse) runs before step 3 (415) and step 4 (404)
        for method, path in [("POST", "/api/v2/nope"), ("POST", "/nope"), ("GET", "/nope"),
                             ("PUT", "/api/v2/execute")]:
            with self.subTest(method=method, path=path):
                r = self.daemon.request(method, path, b"{", {"Content-Type": "application/json"})
                self.assertMalformed(r)

    def test_empty_body_is_empty_object(self):
        r = self.daemon.post("/api/v2/execute", raw=b"")
        self.assertMessage(r, 400, "language is required as a string")
        r = self.daemon.request("POST", "/api/v2/execute", None, {"Content-Type": "application/json"})
        self.assertMessage(r, 400, "language is required as a string")

    def test_array_body_fails_as_empty(self):
        for body in [b"[]", b"[1,2]", b'[{"language":"sh"}]', b' [ ] ']:
            with self.subTest(body=body):
                r = self.daemon.post("/api/v2/execute", raw=body)
                self.assertMessage(r, 400, "language is required as a string")

    def test_whitespace_around_body(self):
        body = b'\n  {"language":"sh","version":"1.0.0","files":[{"content":"echo hi"}]} \n'
        self.assertRun(self.daemon.post("/api/v2/execute", raw=body), stdout="hi\n")

    def test_duplicate_keys_last_wins(self):
        body = b'{"language":"nope","version":"1.0.0","files":[{"content":"echo a"}],"language":"sh","files":[{"content":"echo b"}]}'
        self.assertRun(self.daemon.post("/api/v2/execute", raw=body), stdout="b\n")

    def test_unknown_keys_ignored(self):
        p = dict(SH_HELLO, foo=1, bar={"x": [1]}, compile=None, run="x")
        self.assertRun(self.daemon.execute(p), stdout="hello\n")

    # -- Authorization, keep-alive ----------------------------------------------------------
    def test_authorization_ignored(self):
        for auth in ["secret-key", "Bearer abc", "Basic dXNlcjpwYXNz", ""]:
            with self.subTest(auth=auth):
                r = self.daemon.get("/api/v2/runtimes", headers={"Authorization": auth})
                self.assertEqual(r.status, 200, r)
                r = self.daemon.execute(SH_HELLO, headers={"Authorization": auth})
                self.assertRun(r, stdout="hello\n")

    def test_keep_alive(self):
        conn = http.client.HTTPConnection(self.daemon.host, self.daemon.port, timeout=60)
        try:
            conn.request("GET", "/api/v2/runtimes")
            r1 = conn.getresponse()
            b1 = r1.read()
            self.assertEqual(r1.status, 200)
            self.assertNotEqual((r1.getheader("Connection") or "").lower(), "close")
            sock1 = conn.sock
            self.assertIsNotNone(sock1, "connection closed after the first response")
            port1 = sock1.getsockname()[1]
            conn.request("POST", "/api/v2/execute", body=T.dumps_compact(SH_HELLO),
                         headers={"Content-Type": "application/json"})
            r2 = conn.getresponse()
            b2 = r2.read()
            self.assertEqual(r2.status, 200, b2)
            self.assertIs(conn.sock, sock1, "second request used a new connection")
            self.assertEqual(conn.sock.getsockname()[1], port1)
            self.assertEqual(T.strict_json(b2)["run"]["stdout"], "hello\n")
            conn.request("GET", "/")
            r3 = conn.getresponse()
            self.assertEqual(r3.read(), b'{"message":"Piston v3.1.1"}')
            self.assertIs(conn.sock, sock1)
            self.assertTrue(b1)
        finally:
            conn.close()

    def test_http10_request(self):
        r = self.daemon.raw("GET /api/v2/runtimes HTTP/1.0\r\nHost: x")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json_error)


if __name__ == "__main__":
    T.run_tests()
