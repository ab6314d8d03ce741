"""Helpers for the packages API tests: a real HTTP server on loopback serving a Piston index
and package archives that the tests build (tarfile), and the package directories themselves.

Standard library only (http.server, tarfile)."""

import hashlib
import http.server
import io
import os
import socket
import sys
import tarfile
import threading
import time

HELLO_RUN = b'#!/bin/bash\n# a Piston-style run script: the entry file is a bash script\nexec /bin/bash "$@"\n'
HELLO_ENV = b"export PATH=/usr/bin:/bin\nexport PKG_DIR=$PWD\n"


def tar_gz(members):
    """members: list of (name, kind, data, mode) with kind 'file', 'dir', 'symlink',
    'hardlink', 'chardev' or 'fifo'; data is bytes (file) or the link target. Names are
    used as given (Piston's archives list './run', './pkg-info.json', ...)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data, mode in members:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            ti.mtime = 1700000000
            if kind == "file":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                       "hardlink": tarfile.LNKTYPE, "chardev": tarfile.CHRTYPE,
                       "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("symlink", "hardlink"):
                ti.linkname = data
            if kind == "chardev":
                ti.devmajor, ti.devminor = 1, 3
            tf.addfile(ti)
    return buf.getvalue()


def package_members(language, version, aliases=(), run=HELLO_RUN, environment=HELLO_ENV,
                    extra=(), provides=None):
    info = {"language": language, "version": version, "aliases": list(aliases),
            "build_platform": "baremetal-debian"}
    if provides is not None:
        info["provides"] = provides
    import json
    return [("./", "dir", None, 0o755),
            ("./run", "file", run, 0o755),
            ("./environment", "file", environment, 0o644),
            ("./pkg-info.json", "file", json.dumps(info).encode(), 0o644),
            ("./data.txt", "file", b"package data\n", 0o644)] + list(extra)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class IndexServer:
    """http.server on 127.0.0.1:<random>. `routes` maps a path to bytes, or to a callable
    (handler) -> None that writes the response itself. Everything else is 404."""

    def __init__(self, tls_cert=None):
        self.routes = {}
        self.hits = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if callable(route):
                    route(self)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(route)))
                self.end_headers()
                self.wfile.write(route)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # the daemon hanging up on a refused download is expected, not news
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls_cert:  # (certfile, keyfile)
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls_cert)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def add_package(self, language, version, archive, sha=None, path=None):
        """Serves the archive and returns its index line."""
        path = path or "/pkgs/%s-%s.pkg.tar.gz" % (language, version)
        self.routes[path] = archive
        return "%s,%s,%s,%s" % (language, version, sha or sha256_hex(archive), self.url(path))

    def set_index(self, lines):
        self.routes["/index"] = ("\n".join(lines) + "\n").encode()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def slow_body(data, seconds, chunks=20):
    """A route that sends `data` in chunks over about `seconds`."""
    def route(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        step = max(1, len(data) // chunks)
        try:
            for i in range(0, len(data), step):
                h.wfile.write(data[i:i + step])
                h.wfile.flush()
                time.sleep(seconds / chunks)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return route


def stalled(seconds):
    """A route that accepts the request and answers nothing for `seconds`."""
    def route(h):
        time.sleep(seconds)
        try:
            h.send_error(503)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return route


def hang_up(h):
    """Closes the connection without a response."""
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


def dead_port():
    """A loopback port nothing listens on (bound then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def visible_and_hidden(data_dir, language):
    """Entries of <data>/packages/<language> (empty if absent)."""
    d = os.path.join(data_dir, "packages", language)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def redirect(location):
    """A route answering 302 to `location`."""
    def route(h):
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return route


def self_signed_cert(directory):
    """(certfile, keyfile) of a fresh self-signed certificate for 127.0.0.1 (openssl CLI)."""
    import subprocess
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key
