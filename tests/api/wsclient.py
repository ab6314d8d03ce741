"""A minimal RFC 6455 client for the /api/v2/connect tests: Python stdlib only (socket, struct,
base64, hashlib). It builds every frame itself so a test can also send deliberately broken
ones (unmasked, oversized, fragmented control frames, reserved bits, binary)."""

import base64
import hashlib
import json
import os
import select
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class HandshakeError(Exception):
    def __init__(self, status, head, body):
        super().__init__("handshake answered %s" % status)
        self.status = status
        self.head = head
        self.body = body


class Closed(Exception):
    """The server closed the TCP connection before a close frame."""


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + _xor(payload, key)


def _xor(payload, key):
    rep = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(rep, "big")).to_bytes(len(payload), "big")


class WsClient:
    def __init__(self, host, port, path="/api/v2/connect", headers=None, timeout=30.0,
                 rcvbuf=None, key=None, version="13", connect=True):
        self.host, self.port, self.path = host, port, path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.opened = None
        self.response_head = None
        if connect:
            self.handshake(headers or {}, key=key, version=version)

    def handshake(self, headers, key=None, version="13"):
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % self.path, "Host: %s:%d" % (self.host, self.port),
                 "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key]
        if version is not None:
            lines.append("Sec-WebSocket-Version: %s" % version)
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        head = head.decode("latin-1")
        self.response_head = head
        status = int(head.split(" ", 2)[1])
        hdrs = {}
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status != 101:
            n = int(hdrs.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            raise HandshakeError(status, hdrs, self.buf[:n])
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if hdrs.get("sec-websocket-accept") != want:
            raise AssertionError("bad Sec-WebSocket-Accept %r" % hdrs.get("sec-websocket-accept"))
        if hdrs.get("upgrade", "").lower() != "websocket":
            raise AssertionError("no Upgrade: websocket in %r" % head)
        self.opened = time.monotonic()
        self.headers = hdrs

    def _fill(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    # ---- sending ------------------------------------------------------------------------

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.send_raw(frame(opcode, payload, **kw))

    def send_json(self, obj):
        self.send_frame(OP_TEXT, json.dumps(obj))

    def send_close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason)

    # ---- receiving ----------------------------------------------------------------------

    def recv_frame(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            f = self._parse()
            if f is not None:
                return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame within %.1f s" % timeout)
            self._fill(timeout=left)

    def _parse(self):
        b = self.buf
        if len(b) < 2:
            return None
        fin, opcode = b[0] & 0x80, b[0] & 0x0F
        masked, n = b[1] & 0x80, b[1] & 0x7F
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack("!H", b[2:4])[0]
            pos = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack("!Q", b[2:10])[0]
            pos = 10
        if masked:
            raise AssertionError("the server masked a frame (RFC 6455 5.1 forbids it)")
        if len(b) < pos + n:
            return None
        payload = b[pos:pos + n]
        self.buf = b[pos + n:]
        return (bool(fin), opcode, payload)

    def recv(self, timeout=30.0):
        """Next message: ("text", obj) for JSON text, ("close", code, reason), skipping pongs."""
        while True:
            fin, op, payload = self.recv_frame(timeout)
            if op == OP_TEXT:
                assert fin, "fragmented text message"
                return ("text", json.loads(payload.decode("utf-8")))
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return ("close", code, payload[2:].decode("utf-8", "replace"))
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            raise AssertionError("unexpected opcode %d" % op)

    def collect(self, timeout=30.0, on_message=None, reply=True):
        """Messages until the close frame (answered, as RFC 6455 5.5.1 wants, unless reply is
        false); returns (messages, (code, reason))."""
        msgs = []
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.01, deadline - time.monotonic()))
            if m[0] == "close":
                if reply:
                    try:
                        self.send_close(m[1] or 1000)
                    except OSError:
                        pass
                return msgs, (m[1], m[2])
            msgs.append(m[1])
            if on_message:
                on_message(m[1])

    def wait_closed(self, timeout=5.0):
        """True when the server closes the TCP connection within timeout (after the frames)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], max(0, deadline - time.monotonic()))
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, OSError):
                return True
            if not data:
                return True
            self.buf += data
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def output_of(msgs, stream=None):
    return "".join(m["data"] for m in msgs
                   if m.get("type") == "data" and (stream is None or m["stream"] == stream))
