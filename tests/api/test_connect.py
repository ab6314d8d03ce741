#!/usr/bin/python3
"""WebSocket /api/v2/connect (PISTON-API.md 2.5) through a live capsuled: the handshake,
every message and close code, stdin held until the run stage, signals, eof, streamed output
that never splits a UTF-8 character, back-pressure, disconnects, silent connections, bad
frames, authentication, metrics and the access log. The client is tests/api/wsclient.py."""

import json
import os
import random
import re
import select
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402
import wsclient as W  # noqa: E402


def sh(content, **kw):
    msg = {"type": "init", "language": "sh", "version": "*", "files": [{"content": content}]}
    msg.update(kw)
    return msg


class ConnectBase(T.CapsuleTestCase):
    max_jobs = 2
    env = {"PISTON_RUN_TIMEOUT": "20000", "PISTON_RUN_CPU_TIME": "20000"}

    @classmethod
    def setUpClass(cls):
        T.require_root()
        cls.daemon = cls.start_daemon(runtimes="fixture", max_jobs=cls.max_jobs, env=cls.env)

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def ws(self, **kw):
        c = W.WsClient(self.daemon.host, self.daemon.port, **kw)
        self.addCleanup(c.close)
        return c

    def run_ws(self, init, stdin=None, eof=False, timeout=30.0):
        c = self.ws()
        c.send_json(init)
        if stdin is not None:
            c.send_json({"type": "data", "stream": "stdin", "data": stdin})
        if eof:
            c.send_json({"type": "eof"})
        msgs, close = c.collect(timeout)
        return c, msgs, close

    def wait_for(self, c, pred, timeout=20.0, seen=None):
        """Messages until one satisfies pred (returned); a close before it fails the test."""
        seen = seen if seen is not None else []
        deadline = time.monotonic() + timeout
        while True:
            m = c.recv(max(0.01, deadline - time.monotonic()))
            if m[0] == "close":
                self.fail("closed %r before the expected message; saw %r" % (m[1:], seen))
            seen.append(m[1])
            if pred(m[1], seen):
                return m[1]

    def assertNoSlotProcesses(self, within_ms):
        d = self.daemon
        deadline = time.monotonic() + T.slack(within_ms) / 1000.0
        while True:
            left = T.procs_in_uid_range(d.uid_min, d.uid_max)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        self.assertEqual(left, [], "processes left under the slot uids")


class ConnectTest(ConnectBase):
    # ---- the normal flow ----------------------------------------------------------------

    def test_messages_keys_and_order(self):
        c, msgs, close = self.run_ws(sh('read x; echo "got $x"; echo err >&2'), stdin="hi\n")
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(msgs[0], {"type": "runtime", "language": "sh", "version": "1.0.0"})
        self.assertEqual(list(msgs[0]), ["type", "language", "version"])
        self.assertEqual(msgs[1], {"type": "stage", "stage": "run"})
        self.assertEqual(list(msgs[1]), ["type", "stage"])
        self.assertEqual(msgs[-1], {"type": "exit", "stage": "run", "code": 0, "signal": None})
        self.assertEqual(list(msgs[-1]), ["type", "stage", "code", "signal"])
        for m in msgs[2:-1]:
            self.assertEqual(list(m), ["type", "stream", "data"])
        self.assertEqual(W.output_of(msgs, "stdout"), "got hi\n")
        self.assertEqual(W.output_of(msgs, "stderr"), "err\n")
        self.assertTrue(c.wait_closed(T.slack(2000) / 1000), "TCP connection left open")

    def test_alias_and_public_prefix_path(self):
        c = W.WsClient(self.daemon.host, self.daemon.port, path="/api/v2/piston/connect/")
        self.addCleanup(c.close)
        c.send_json({"type": "init", "language": "fixture-sh", "version": "1",
                     "files": [{"content": "echo ok"}]})
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(msgs[0]["language"], "sh")  # the runtime, never the alias
        self.assertEqual(W.output_of(msgs), "ok\n")

    def test_stdin_held_until_run_and_no_newline_added(self):
        # sent right after init, long before the program reads it; no "\n" is appended
        c, msgs, close = self.run_ws(sh("sleep 0.3; od -c | head -2"), stdin="ab", eof=True)
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertIn("a   b", W.output_of(msgs))
        self.assertNotIn("\\n", W.output_of(msgs))

    def test_init_stdin_field_ignored(self):
        c, msgs, close = self.run_ws(sh("cat", stdin="from-init"), eof=True)
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(msgs), "")

    def test_eof_ends_cat(self):
        c = self.ws()
        c.send_json(sh("cat; echo end"))
        self.wait_for(c, lambda m, s: m.get("type") == "stage")
        c.send_json({"type": "data", "stream": "stdin", "data": "one\n"})
        self.wait_for(c, lambda m, s: "one\n" in W.output_of(s))
        c.send_json({"type": "data", "stream": "stdin", "data": "two"})
        c.send_json({"type": "eof"})
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(msgs), "twoend\n")
        self.assertEqual(msgs[-1]["code"], 0)

    def test_data_after_eof_is_dropped(self):
        c = self.ws()
        c.send_json(sh("cat"))
        c.send_json({"type": "data", "stream": "stdin", "data": "a"})
        c.send_json({"type": "eof"})
        c.send_json({"type": "data", "stream": "stdin", "data": "b"})
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(msgs), "a")

    def test_signal_reaches_trap(self):
        c = self.ws()
        c.send_json(sh("trap 'echo trapped; exit 3' TERM; echo ready; while :; do sleep 0.05; done"))
        self.wait_for(c, lambda m, s: "ready" in W.output_of(s))
        c.send_json({"type": "signal", "signal": "SIGTERM"})
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertIn("trapped\n", W.output_of(msgs))
        self.assertEqual(msgs[-1], {"type": "exit", "stage": "run", "code": 3, "signal": None})

    def test_signal_kills_program(self):
        c = self.ws()
        c.send_json(sh("echo ready; exec sleep 30"))
        self.wait_for(c, lambda m, s: "ready" in W.output_of(s))
        t0 = time.monotonic()
        c.send_json({"type": "signal", "signal": "SIGKILL"})
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(msgs[-1], {"type": "exit", "stage": "run", "code": None,
                                    "signal": "SIGKILL"})
        self.assertLess(time.monotonic() - t0, T.slack(5000) / 1000)

    def test_timeout_reports_sigkill(self):
        c, msgs, close = self.run_ws(sh("echo x; sleep 30", run_timeout=300))
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(msgs[-1], {"type": "exit", "stage": "run", "code": None,
                                    "signal": "SIGKILL"})

    def test_memory_and_process_limits_apply(self):
        c, msgs, close = self.run_ws(sh('x=$(head -c 300000000 /dev/zero | tr "\\0" a); echo no',
                                        run_memory_limit=64 * T.MiB))
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertNotIn("no", W.output_of(msgs, "stdout"))
        self.assertEqual(msgs[-1]["signal"], "SIGKILL")
        # more processes than max_process_count: forks fail (bash retries them) until the
        # wall limit ends the job, and nothing of it survives
        c, msgs, close = self.run_ws(sh("for i in $(seq 200); do sleep 30 & done 2>/dev/null",
                                        run_timeout=1000))
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(msgs[-1]["signal"], "SIGKILL")
        self.assertNoSlotProcesses(500)

    def test_no_output_limit(self):
        # 64 KiB per stream, far past output_max_size (1024): streamed whole, no OL
        c, msgs, close = self.run_ws(sh("head -c 65536 /dev/zero | tr '\\0' a; "
                                        "head -c 65536 /dev/zero | tr '\\0' b >&2"))
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(msgs, "stdout"), "a" * 65536)
        self.assertEqual(W.output_of(msgs, "stderr"), "b" * 65536)
        self.assertEqual(msgs[-1]["code"], 0)

    def test_utf8_never_split(self):
        # each write ends in the middle of a character; no message may hold a broken one
        prog = ("for i in 1 2 3 4 5 6; do printf '\\xe2\\x82'; sleep 0.05; printf '\\xac\\xf0\\x9f';"
                " sleep 0.05; printf '\\x98\\x80'; sleep 0.05; done; printf '\\xff\\xe2\\x82'")
        c, msgs, close = self.run_ws(sh(prog))
        self.assertEqual(close, (4999, "Job Completed"))
        datas = [m["data"] for m in msgs if m.get("type") == "data"]
        self.assertGreater(len(datas), 3, "output was not streamed in pieces")
        # a character split between messages would show up as U+FFFD in the middle; only
        # the stray bytes at the end (an invalid one, then a cut character) become U+FFFD
        self.assertEqual("".join(datas), "\u20ac\U0001F600" * 6 + "\ufffd\ufffd", datas)

    def test_output_streams_while_running(self):
        c = self.ws()
        c.send_json(sh("echo first; read x; echo second"))
        self.wait_for(c, lambda m, s: "first\n" in W.output_of(s))
        c.send_json({"type": "data", "stream": "stdin", "data": "\n"})
        msgs, close = c.collect()
        self.assertEqual(W.output_of(msgs), "second\n")

    def test_compile_then_run_and_failed_compile(self):
        c, msgs, close = self.run_ws({"type": "init", "language": "shc", "version": "*",
                                      "files": [{"content": "read x; echo got $x"}]},
                                     stdin="v\n")
        self.assertEqual(close, (4999, "Job Completed"))
        kinds = [(m["type"], m.get("stage")) for m in msgs if m["type"] != "data"]
        self.assertEqual(kinds, [("runtime", None), ("stage", "compile"), ("exit", "compile"),
                                 ("stage", "run"), ("exit", "run")])
        self.assertEqual(W.output_of(msgs), "got v\n")
        c, msgs, close = self.run_ws({"type": "init", "language": "shc", "version": "*",
                                      "files": [{"content": "if then fi ("}]})
        self.assertEqual(close, (4999, "Job Completed"))
        kinds = [(m["type"], m.get("stage")) for m in msgs if m["type"] != "data"]
        self.assertEqual(kinds, [("runtime", None), ("stage", "compile"), ("exit", "compile")])
        self.assertNotEqual(msgs[-1]["code"], 0)
        self.assertIn("syntax error", W.output_of(msgs, "stderr"))

    # ---- close codes ----------------------------------------------------------------------

    def test_4000_already_initialized(self):
        c = self.ws()
        c.send_json(sh("sleep 5"))
        c.send_json(sh("echo again"))
        msgs, close = c.collect()
        self.assertEqual(close, (4000, "Already Initialized"))

    def test_4001_initialization_timeout(self):
        c = self.ws()
        msgs, close = c.collect(T.slack(3000) / 1000)
        elapsed = time.monotonic() - c.opened
        self.assertEqual((msgs, close), ([], (4001, "Initialization Timeout")))
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 1 + T.slack(500) / 1000)

    def test_4001_after_unknown_messages(self):
        c = self.ws()
        c.send_json({"type": "hello"})
        c.send_json([1, 2])
        c.send_json({"type": "eof"})
        msgs, close = c.collect(T.slack(3000) / 1000)
        self.assertEqual((msgs, close), ([], (4001, "Initialization Timeout")))

    def test_4002_validation_error(self):
        c, msgs, close = self.run_ws({"type": "init", "language": "cobol", "version": "*",
                                      "files": [{"content": "x"}]})
        self.assertEqual(msgs, [{"type": "error", "message": "cobol-* runtime is unknown"}])
        self.assertEqual(list(msgs[0]), ["type", "message"])
        self.assertEqual(close, (4002, "Notified Error"))
        c, msgs, close = self.run_ws(sh("x", run_timeout=99999))
        self.assertEqual(msgs, [{"type": "error", "message":
                                 "run_timeout cannot exceed the configured limit of 20000"}])
        c, msgs, close = self.run_ws({"type": "init", "language": "sh"})
        self.assertEqual(msgs, [{"type": "error", "message": "version is required as a string"}])
        self.assertEqual(close, (4002, "Notified Error"))

    def test_4002_invalid_json(self):
        c = self.ws()
        c.send_frame(W.OP_TEXT, "{not json")
        msgs, close = c.collect()
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0]["type"], "error")
        self.assertTrue(msgs[0]["message"].startswith("Malformed JSON"), msgs)
        self.assertEqual(close, (4002, "Notified Error"))

    def test_4003_not_yet_initialized(self):
        for msg in ({"type": "data", "stream": "stdin", "data": "x"},
                    {"type": "signal", "signal": "SIGTERM"}):
            c = self.ws()
            c.send_json(msg)
            self.assertEqual(c.collect(), ([], (4003, "Not yet initialized")))

    def test_4004_only_stdin(self):
        c = self.ws()
        c.send_json(sh("sleep 5"))
        c.send_json({"type": "data", "stream": "stdout", "data": "x"})
        msgs, close = c.collect()
        self.assertEqual(close, (4004, "Can only write to stdin"))

    def test_4005_invalid_signal(self):
        for sig in ("SIGNOPE", 15, None):
            c = self.ws()
            c.send_json(sh("sleep 5"))
            c.send_json({"type": "signal", "signal": sig})
            msgs, close = c.collect()
            self.assertEqual(close, (4005, "Invalid signal"), sig)

    # ---- the job dies with the client --------------------------------------------------------

    def test_disconnect_kills_job_and_frees_slot(self):
        d = self.daemon
        clients = []
        for i in range(self.max_jobs):  # every slot busy
            c = self.ws()
            c.send_json(sh("echo started; sleep 30"))
            self.wait_for(c, lambda m, s: "started" in W.output_of(s))
            clients.append(c)
        self.assertTrue(T.procs_in_uid_range(d.uid_min, d.uid_max))
        t0 = time.monotonic()
        for c in clients:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # a reset, no close frame
        self.assertNoSlotProcesses(100)
        # the slots serve again at once
        r = d.execute({"language": "sh", "version": "*", "files": [{"content": "echo free"}]})
        self.assertRun(r, stdout="free\n")
        self.assertLess(time.monotonic() - t0, T.slack(2000) / 1000)
        # a client leaving is not a box failure
        body = d.get("/metrics").body.decode()
        self.assertIn("\ncapsule_sandbox_failures_total 0\n", body)
        self.assertRegex(body, r'capsule_jobs_total\{language="sh",[^}]*status="cancelled"\} [1-9]')
        self.assertNotIn("sandbox failure", open(d.log_path, errors="replace").read())

    def test_client_close_frame_kills_job(self):
        c = self.ws()
        c.send_json(sh("echo started; sleep 30"))
        self.wait_for(c, lambda m, s: "started" in W.output_of(s))
        c.send_close(1000)
        m = c.recv()
        self.assertEqual(m[0], "close")
        self.assertNoSlotProcesses(500)

    def test_disconnect_while_queued(self):
        d = self.daemon
        busy = []
        for i in range(self.max_jobs):
            c = self.ws()
            c.send_json(sh("echo started; sleep 2"))
            self.wait_for(c, lambda m, s: "started" in W.output_of(s))
            busy.append(c)
        q = self.ws()
        q.send_json(sh("echo should-not-run > /tmp/x; sleep 30"))
        time.sleep(0.2)
        q.close()  # gone while queued: the job must never start
        for c in busy:
            msgs, close = c.collect()
            self.assertEqual(close, (4999, "Job Completed"))
        r = d.execute({"language": "sh", "version": "*", "files": [{"content": "echo next"}]})
        self.assertRun(r, stdout="next\n")
        self.assertNoSlotProcesses(500)

    # ---- handshake --------------------------------------------------------------------------

    def test_plain_get_is_404(self):
        r = self.daemon.get("/api/v2/connect")
        self.assertMessage(r, 404, "Not Found")

    def test_bad_version_and_key(self):
        with self.assertRaises(W.HandshakeError) as e:
            W.WsClient(self.daemon.host, self.daemon.port, version="8")
        self.assertEqual(e.exception.status, 426)
        self.assertEqual(e.exception.head.get("sec-websocket-version"), "13")
        with self.assertRaises(W.HandshakeError) as e:
            W.WsClient(self.daemon.host, self.daemon.port, key="c2hvcnQ=")
        self.assertEqual(e.exception.status, 400)
        self.assertEqual(json.loads(e.exception.body), {"message": "Sec-WebSocket-Key is not valid"})

    def test_first_frame_in_the_handshake_packet(self):
        # the init arrives in the same segment as the request head (MHD's extra bytes)
        c = W.WsClient(self.daemon.host, self.daemon.port, connect=False)
        self.addCleanup(c.close)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        head = ("GET /api/v2/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                % key).encode()
        c.send_raw(head + W.frame(W.OP_TEXT, json.dumps(sh("echo early"))))
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        head, c.buf = c.buf.split(b"\r\n\r\n", 1)
        # RFC 6455 1.3's worked example of the accept key
        self.assertIn(b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", head + b"\r\n")
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(msgs), "early\n")

    # ---- bad frames -------------------------------------------------------------------------

    def assertClosedWith(self, c, code):
        try:
            m = c.recv(T.slack(3000) / 1000)
        except W.Closed:
            self.fail("TCP closed without a close frame (expected %d)" % code)
        self.assertEqual(m[0], "close", m)
        self.assertEqual(m[1], code, m)
        self.assertTrue(c.wait_closed(T.slack(7000) / 1000))

    def test_bad_frames(self):
        cases = [
            ("unmasked text", W.frame(W.OP_TEXT, json.dumps(sh("echo x")), mask=False), 1002),
            ("fragmented ping", W.frame(W.OP_PING, b"x", fin=False), 1002),
            ("ping over 125 bytes", W.frame(W.OP_PING, b"x" * 126), 1002),
            ("reserved bit", W.frame(W.OP_TEXT, b"{}", rsv=4), 1002),
            ("reserved opcode", W.frame(3, b"{}"), 1002),
            ("continuation first", W.frame(W.OP_CONT, b"{}"), 1002),
            ("binary", W.frame(W.OP_BINARY, json.dumps(sh("echo x"))), 1003),
            ("invalid UTF-8", W.frame(W.OP_TEXT, b'{"type":"\xff"}'), 1007),
        ]
        for name, data, code in cases:
            with self.subTest(name):
                c = self.ws()
                c.send_raw(data)
                self.assertClosedWith(c, code)
        # the daemon is unharmed
        c, msgs, close = self.run_ws(sh("echo alive"))
        self.assertEqual(W.output_of(msgs), "alive\n")

    def test_message_too_big(self):
        # the header announces 11 MiB (over CAPSULE_MAX_BODY_SIZE): refused before it arrives
        c = self.ws()
        head = struct.pack("!BB", 0x81, 0x80 | 127) + struct.pack("!Q", 11 * T.MiB) + b"abcd"
        c.send_raw(head + b"y" * 4096)
        self.assertClosedWith(c, 1009)
        # fragments that add up to too much are refused too
        c = self.ws()
        chunk = b"z" * (1 * T.MiB)
        try:
            for i in range(11):
                c.send_frame(W.OP_TEXT if i == 0 else W.OP_CONT, chunk, fin=False)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertClosedWith(c, 1009)

    def test_random_garbage_never_hurts(self):
        rnd = random.Random(6455)
        for i in range(40):
            c = self.ws()
            try:
                c.send_raw(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000))))
                c.wait_closed(0.05)
            except OSError:
                pass
            c.close()
        c, msgs, close = self.run_ws(sh("echo alive"))
        self.assertEqual(W.output_of(msgs), "alive\n")
        self.assertNoSlotProcesses(500)

    def test_fragmented_text_is_fine(self):
        c = self.ws()
        text = json.dumps(sh("echo frag")).encode()
        c.send_frame(W.OP_TEXT, text[:10], fin=False)
        c.send_frame(W.OP_PING, b"p")  # control frames may come between fragments
        c.send_frame(W.OP_CONT, text[10:20], fin=False)
        c.send_frame(W.OP_CONT, text[20:])
        msgs, close = c.collect()
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(msgs), "frag\n")

    def test_truncated_frame_then_disconnect(self):
        c = self.ws()
        c.send_raw(W.frame(W.OP_TEXT, b"x" * 1000)[:300])
        c.close()
        c, msgs, close = self.run_ws(sh("echo alive"))
        self.assertEqual(W.output_of(msgs), "alive\n")

    # ---- accounting ---------------------------------------------------------------------

    def test_metrics_and_access_log(self):
        c, msgs, close = self.run_ws(sh("echo m"))
        self.assertTrue(c.wait_closed(T.slack(2000) / 1000))
        deadline = time.monotonic() + T.slack(3000) / 1000
        line = None
        while time.monotonic() < deadline and not line:
            with open(self.daemon.log_path, errors="replace") as f:
                lines = [l for l in f if "path=/api/v2/connect" in l and "language=sh" in l]
            line = lines[-1] if lines else None
            time.sleep(0.05)
        self.assertIsNotNone(line, "no access log line for the WebSocket job")
        self.assertIn("status=101", line)
        self.assertRegex(line, r"run=OK .*job_ms=\d+")
        body = self.daemon.get("/metrics").body.decode()
        self.assertRegex(body, r'route="connect"')
        self.assertRegex(body, r'language="sh"')


class ConnectBackPressureTest(ConnectBase):
    max_jobs = 1
    env = dict(ConnectBase.env)
    if T.SANITIZED:
        # ASan keeps freed memory in a 256 MiB quarantine: RSS would measure that, not us
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"

    def test_flood_with_slow_reader_keeps_rss_bounded(self):
        d = self.daemon
        base = T.daemon_resources(d.pid)["rss_kb"]
        total = 48 * T.MiB
        c = self.ws()
        c.send_json(sh("head -c %d /dev/zero | tr '\\0' x" % total))
        peak = 0
        # not reading at all for a while: the program must block, not the daemon fill up
        for _ in range(20):
            time.sleep(0.1)
            peak = max(peak, T.daemon_resources(d.pid)["rss_kb"])
        # then a slow reader, sampling
        got = 0
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            m = c.recv()
            if m[0] == "text" and m[1]["type"] == "data":
                got += len(m[1]["data"])
            time.sleep(0.002)
            peak = max(peak, T.daemon_resources(d.pid)["rss_kb"])
        self.assertLess(got, total, "the whole flood arrived while reading slowly")
        msgs, close = c.collect(120)
        got += len(W.output_of(msgs))
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(got, total)
        self.assertEqual(msgs[-1]["code"], 0)
        T.log("flood: daemon RSS %d KiB before, peak %d KiB" % (base, peak))
        self.assertLess(peak - base, 32 * 1024, "daemon RSS grew by %d KiB" % (peak - base))

    def test_stdin_flood_waits_for_a_slow_reader(self):
        c = self.ws()
        c.send_json(sh("sleep 0.5; wc -c"))
        chunk = "y" * (128 * 1024)
        for _ in range(40):  # 5 MiB: far more than the pipe holds while the program sleeps
            c.send_json({"type": "data", "stream": "stdin", "data": chunk})
        c.send_json({"type": "eof"})
        msgs, close = c.collect(60)
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(W.output_of(msgs).strip(), str(40 * len(chunk)))

    def test_ping_flood_from_a_client_that_reads_nothing(self):
        d = self.daemon
        base = T.daemon_resources(d.pid)["rss_kb"]
        c = self.ws(rcvbuf=4096)
        c.send_json(sh("sleep 30"))  # no init timeout: the pings alone must be bounded
        c.sock.settimeout(T.slack(1000) / 1000)
        pings = W.frame(W.OP_PING, b"p" * 125) * 512
        sent = 0
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:  # until the daemon stops reading us
                c.sock.sendall(pings)
                sent += len(pings)
        except (socket.timeout, TimeoutError):
            pass
        rss = T.daemon_resources(d.pid)["rss_kb"]
        T.log("ping flood: %d KiB sent before the daemon stopped reading; RSS %d -> %d KiB"
              % (sent // 1024, base, rss))
        self.assertLess(time.monotonic(), deadline, "the daemon kept reading pings forever")
        self.assertLess(rss - base, 32 * 1024)
        c.close()
        c, msgs, close = self.run_ws(sh("echo alive"))
        self.assertEqual(W.output_of(msgs), "alive\n")

    def test_vanishing_while_stdin_waits(self):
        # the program never reads; the client floods stdin, then resets: the job must die
        # although the daemon was not reading the client any more
        c = self.ws()
        c.send_json(sh("echo started; sleep 30"))
        self.wait_for(c, lambda m, s: "started" in W.output_of(s))
        c.sock.settimeout(T.slack(1000) / 1000)
        chunk = json.dumps({"type": "data", "stream": "stdin", "data": "z" * 65536})
        try:
            for _ in range(400):  # 25 MiB: more than the pipe, the buffer and the socket hold
                c.send_frame(W.OP_TEXT, chunk)
        except (socket.timeout, TimeoutError):
            pass
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        self.assertNoSlotProcesses(500)

    def test_silent_reader_cannot_hold_the_slot(self):
        d = self.daemon
        c = self.ws()
        # prints forever; the client never reads: the job still ends at its wall limit
        c.send_json(sh("while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done", run_timeout=500))
        time.sleep(0.3)
        t0 = time.monotonic()
        r = d.execute({"language": "sh", "version": "*", "files": [{"content": "echo next"}]})
        self.assertRun(r, stdout="next\n")
        self.assertLess(time.monotonic() - t0, T.slack(3000) / 1000)
        msgs, close = c.collect(60)
        self.assertEqual(close, (4999, "Job Completed"))
        self.assertEqual(msgs[-1], {"type": "exit", "stage": "run", "code": None,
                                    "signal": "SIGKILL"})

    def test_many_silent_connections(self):
        d = self.daemon
        n = 1000
        clients = []
        for i in range(n):
            clients.append(W.WsClient(d.host, d.port, timeout=30))
        self.addCleanup(lambda: [c.close() for c in clients])
        opened = time.monotonic()
        res = T.daemon_resources(d.pid)
        T.log("%d silent connections: daemon RSS %d KiB, %d threads, %d fds"
              % (n, res["rss_kb"], res["threads"], res["fds"]))
        # they cost no slot: the one slot runs a job at once
        r = d.execute({"language": "sh", "version": "*", "files": [{"content": "echo slot"}]})
        self.assertRun(r, stdout="slot\n")
        pending = {c.sock.fileno(): c for c in clients}
        closes = {}
        deadline = time.monotonic() + 1 + T.slack(3000) / 1000
        while pending and time.monotonic() < deadline:
            ready, _, _ = select.select(list(pending), [], [], 0.5)
            for fd in ready:
                c = pending[fd]
                try:
                    c._fill(timeout=1)
                except (W.Closed, OSError):
                    pass
                f = c._parse()
                if f is not None:
                    closes[fd] = (f, time.monotonic() - c.opened)
                    del pending[fd]
        self.assertEqual(len(pending), 0, "%d connections not closed in time" % len(pending))
        for fd, ((fin, op, payload), elapsed) in closes.items():
            self.assertEqual(op, W.OP_CLOSE)
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 4001)
            self.assertGreater(elapsed, 0.8)
        del opened
        # and the daemon is fine afterwards
        c, msgs, close = self.run_ws(sh("echo after"))
        self.assertEqual(W.output_of(msgs), "after\n")


class ConnectDrainTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()

    def test_sigterm_finishes_running_jobs(self):
        d = T.Daemon(runtimes="fixture", env={"CAPSULE_DRAIN_TIMEOUT": "20000"})
        self.daemon = d
        d.start()
        try:
            running = W.WsClient(d.host, d.port)
            running.send_json(sh("echo started; sleep 1.5; echo done"))
            seen = []
            while "started" not in W.output_of(seen):
                m = running.recv()
                self.assertEqual(m[0], "text", m)
                seen.append(m[1])
            d.terminate()
            time.sleep(0.2)
            # draining: nothing new starts (the listener may already be closed)
            try:
                W.WsClient(d.host, d.port).close()
                self.fail("upgrade accepted while draining")
            except W.HandshakeError as e:
                self.assertEqual(e.status, 503)
                self.assertEqual(json.loads(e.body), {"message": "server is draining"})
            except (ConnectionRefusedError, ConnectionResetError, W.Closed):
                pass
            msgs, close = running.collect(30)
            self.assertEqual(close, (4999, "Job Completed"))
            self.assertEqual(W.output_of(msgs), "done\n")
            self.assertEqual(d.wait_exit(15), 0, "exit status after SIGTERM")
        finally:
            problems = d.stop()
        self.assertEqual(problems, [])
        d.cleanup()

    def test_sigterm_with_idle_connections(self):
        d = T.Daemon(runtimes="fixture")
        self.daemon = d
        d.start()
        try:
            idle = [W.WsClient(d.host, d.port) for _ in range(5)]
            d.terminate()
            codes = set()
            for c in idle:  # each is closed (1001 at the stop, or 4001 before it)
                try:
                    codes.add(c.collect(10)[1][0])
                except (W.Closed, OSError):
                    codes.add("tcp")
            self.assertLessEqual(codes, {1001, 4001}, codes)
            self.assertEqual(d.wait_exit(15), 0, "exit status after SIGTERM")
        finally:
            problems = d.stop()
        self.assertEqual(problems, [])
        d.cleanup()


class ConnectAuthTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        cls.token = "tok-" + os.urandom(8).hex()
        cls.daemon = cls.start_daemon(runtimes="fixture", env={"CAPSULE_API_TOKENS": cls.token})

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_upgrade_needs_the_token(self):
        d = self.daemon
        with self.assertRaises(W.HandshakeError) as e:
            W.WsClient(d.host, d.port)
        self.assertEqual(e.exception.status, 401)
        for auth in ("Bearer " + self.token, self.token):
            c = W.WsClient(d.host, d.port, headers={"Authorization": auth})
            self.addCleanup(c.close)
            c.send_json(sh("echo authed"))
            msgs, close = c.collect()
            self.assertEqual(W.output_of(msgs), "authed\n")


if __name__ == "__main__":
    T.run_tests()
