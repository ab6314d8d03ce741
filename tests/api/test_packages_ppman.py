#!/usr/bin/python3
"""Piston's own CLI, `piston ppman list|install|uninstall`, unchanged against capsuled
(PISTON-API.md 7). The CLI is not part of this repository: point PISTON_CLI_DIR at Piston's
cli/ directory with its node_modules installed (`npm ci`), or put it at /opt/piston-cli.
Skips (exit 77) when the CLI or Node is missing."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402
import package_fixtures as F  # noqa: E402

WORKDIR = os.path.dirname(os.path.abspath(T.CAPSULED))
CLI_DIR, NODE = T.PISTON_CLI_DIR, T.NODE


def cli_missing():
    return T.piston_cli_missing(("index.js", "commands/ppman_commands/install.js", "node_modules/axios"))


class PpmanTest(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        why = cli_missing()
        if why:
            raise T.unittest.SkipTest(why)
        cls.server = F.IndexServer()
        cls.server.set_index([
            cls.server.add_package("hello", "1.0.0", F.tar_gz(F.package_members("hello", "1.0.0"))),
            cls.server.add_package("hello", "1.1.0", F.tar_gz(F.package_members("hello", "1.1.0"))),
        ])
        cls.daemon = T.Daemon(runtimes="fixture", workdir=WORKDIR,
                              env={"PISTON_REPO_URL": cls.server.url("/index")})
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)
        cls.server.close()

    def ppman(self, *args):
        p = subprocess.run([NODE, os.path.join(CLI_DIR, "index.js"),
                            "-u", "http://127.0.0.1:%d" % self.daemon.port, "ppman", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"})
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_list_install_uninstall(self):
        rc, out, err = self.ppman("list")
        self.assertEqual(rc, 0, err)
        self.assertEqual([l.split(" ", 1)[1] for l in out.splitlines()], ["hello 1.0.0", "hello 1.1.0"], out)

        rc, out, err = self.ppman("install", "hello=1.0.0")
        self.assertEqual((rc, out.strip(), err), (0, "✓ Installation succeeded", ""))
        r = self.daemon.get("/api/v2/packages").json
        self.assertEqual([p["installed"] for p in r], [True, False])
        self.assertRun(self.daemon.execute({"language": "hello", "version": "1.0.0",
                                            "files": [{"content": "echo via ppman"}]}),
                       stdout="via ppman\n")

        rc, out, err = self.ppman("install", "hello=1.0.0")
        self.assertEqual(err.strip(), "Already installed")
        rc, out, err = self.ppman("install", "nope")
        self.assertEqual(err.strip(), "Requested package nope-* does not exist")

        rc, out, err = self.ppman("uninstall", "hello")
        self.assertEqual((rc, out.strip(), err), (0, "✓ Uninstallation succeeded", ""))
        rc, out, err = self.ppman("uninstall", "hello")
        self.assertEqual(err.strip(), "hello-* is not installed")
        self.assertMessage(self.daemon.execute({"language": "hello", "version": "*",
                                                "files": [{"content": "echo"}]}),
                           400, "hello-* runtime is unknown")


if __name__ == "__main__":
    T.run_tests()
