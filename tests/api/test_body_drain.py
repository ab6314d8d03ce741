#!/usr/bin/python3
"""An oversized body is answered 413 and read (issue 12): clients that send the whole body
before reading the answer (Python's http.client, urllib, requests; Node's fetch) get the 413
JSON instead of EPIPE or a reset, for a Content-Length and a chunked body of 32 MiB with the
default 10 MiB limit. The reading is bounded: a body declared or sent far past the drain cap,
or trickled in slowly, is cut off (the connection is closed) instead of being read forever."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

E413 = {"message": "request entity too large",
        "stack": "PayloadTooLargeError: request entity too large"}
BODY = 32 * T.MiB            # the reported case, default CAPSULE_MAX_BODY_SIZE (10 MiB)
DRAIN_CAP = 64 * T.MiB       # README: a refused body is read up to 64 MiB past the limit...
DRAIN_SECONDS = 10           # ...and for at most 10 s


def big_payload(size):
    """A JSON execute request of `size` bytes (padding in an ignored key)."""
    head = b'{"language":"sh","version":"*","files":[{"content":"echo hi"}],"pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


class BodyDrain(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.start_daemon(runtimes="fixture", max_jobs=2)
        cls.url = "http://127.0.0.1:%d/api/v2/execute" % cls.daemon.port
        cls.body = big_payload(BODY)

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def still_serves(self):
        r = self.daemon.execute({"language": "sh", "version": "*", "files": [{"content": "echo ok"}]})
        self.assertRun(r, stdout="ok\n")

    def test_urllib_content_length(self):
        req = urllib.request.Request(self.url, data=self.body,
                                     headers={"Content-Type": "application/json"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=120)
        self.assertEqual(cm.exception.code, 413)
        self.assertEqual(json.loads(cm.exception.read()), E413)
        self.still_serves()

    def test_http_client_chunked(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=120)
        chunks = (self.body[i:i + 65536] for i in range(0, len(self.body), 65536))
        conn.request("POST", "/api/v2/execute", body=chunks, encode_chunked=True,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 413)
        self.assertEqual(json.loads(r.read()), E413)
        # the body was read to its end: the connection stays usable
        conn.request("GET", "/api/v2/runtimes")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_http_client_content_length_keeps_the_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=120)
        conn.request("POST", "/api/v2/execute", body=self.body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual((r.status, json.loads(r.read())), (413, E413))
        conn.request("GET", "/api/v2/runtimes")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_requests(self):
        try:
            import requests
        except ImportError:
            self.skipTest("python3-requests not installed")
        r = requests.post(self.url, data=self.body, headers={"Content-Type": "application/json"},
                          timeout=120)
        self.assertEqual((r.status_code, r.json()), (413, E413))

    def test_node_fetch(self):
        node = shutil.which("node") or "/usr/bin/node"
        if not os.access(node, os.X_OK):
            self.skipTest("node not installed")
        script = """
const body = Buffer.alloc(%d, 'x');
fetch(process.argv[1], {method: 'POST', body, headers: {'Content-Type': 'application/json'}})
  .then(async r => { console.log(r.status); console.log(await r.text()); })
  .catch(e => { console.log('error ' + e + ' ' + (e.cause || '')); process.exit(1); });
""" % BODY
        p = subprocess.run([node, "-e", script, self.url], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        out = p.stdout.decode()
        if "fetch is not defined" in p.stderr.decode():
            self.skipTest("this node has no fetch")
        self.assertEqual(p.returncode, 0, (out, p.stderr.decode()))
        status, text = out.split("\n", 1)
        self.assertEqual((status, json.loads(text)), ("413", E413))

    def send_until_closed(self, head, chunk, limit_bytes, pause=0.0):
        """Sends head then `chunk` repeatedly until the peer stops reading or `limit_bytes`;
        returns (bytes sent, seconds taken, what the peer answered)."""
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=60)
        s.sendall(head)
        sent, start = 0, time.monotonic()
        try:
            while sent < limit_bytes:
                s.sendall(chunk)
                sent += len(chunk)
                if pause:
                    time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        took = time.monotonic() - start
        answer = b""
        try:
            s.settimeout(5)
            while True:
                data = s.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
        s.close()
        return sent, took, answer

    def test_declared_far_past_the_cap_is_not_read(self):
        head = (b"POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (1 << 40))
        sent, _took, _answer = self.send_until_closed(head, b"x" * 65536, 512 * T.MiB)
        self.assertLess(sent, 512 * T.MiB, "a 1 TiB body was read for 512 MiB")
        self.still_serves()

    def test_endless_chunked_body_is_cut_off(self):
        head = (b"POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        sent, _took, answer = self.send_until_closed(head, chunk, 512 * T.MiB)
        self.assertLess(sent, 10 * T.MiB + DRAIN_CAP + 16 * T.MiB, "endless body read on")
        self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200])
        self.still_serves()

    def test_trickled_body_is_cut_off_in_time(self):
        head = (b"POST /api/v2/execute HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % BODY)
        sent, took, answer = self.send_until_closed(head, b"x" * 65536, BODY, pause=0.05)
        self.assertLess(sent, BODY, "a trickled 32 MiB body was read to its end")
        self.assertLess(took, T.slack(DRAIN_SECONDS * 1000) / 1000 + 10, took)
        self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200])


if __name__ == "__main__":
    T.run_tests()
