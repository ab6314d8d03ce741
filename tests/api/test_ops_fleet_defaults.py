#!/usr/bin/python3
"""The fleet's own node, as packaged (issue 12): the gateway's request (run_timeout and
compile_timeout 10000, run_memory_limit 128 MiB) is served by a daemon configured with the
packaged /etc/default/capsuled (packaging/deb/capsuled.env) and with the file cloud-init writes
(packaging/cloud-init/capsuled.yaml), each read the way systemd's EnvironmentFile= reads it.
The daemon's built-in defaults stay Piston's: without a file, the same request is refused
exactly as Piston refuses it."""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

ENV_FILE = os.path.join(T.SOURCE_DIR, "packaging", "deb", "capsuled.env")
CLOUD_INIT = os.path.join(T.SOURCE_DIR, "packaging", "cloud-init", "capsuled.yaml")
GATEWAY_REQUEST = (b'{"language":"python","version":"*","files":[{"name":"main.py","content":'
                   b'"print(42)"}],"stdin":"","args":[],"compile_timeout":10000,'
                   b'"run_timeout":10000,"run_memory_limit":134217728}')
# What the test harness must set itself (port, instance, ids, directories); the file's value
# of any of these would be a fleet setting the test cannot use.
HARNESS_KEYS = {"PISTON_BIND_ADDRESS", "CAPSULE_INSTANCE", "PISTON_RUNNER_UID_MIN",
                "PISTON_RUNNER_UID_MAX", "PISTON_RUNNER_GID_MIN", "PISTON_RUNNER_GID_MAX",
                "CAPSULE_RUNTIMES_DIR", "PISTON_DATA_DIRECTORY", "PISTON_MAX_CONCURRENT_JOBS"}


def parse_environment_file(text):
    """systemd.exec(5) EnvironmentFile=: one KEY=VALUE per line; empty lines and lines
    starting with # or ; are ignored; whitespace around key and value is dropped; a value in
    single or double quotes loses them (backslash escapes inside double quotes); a trailing
    backslash joins the next line."""
    env = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + lines[i]
            i += 1
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r'\\(["\\$`])', r"\1", value[1:-1])
        env[key] = value
    return env


def cloud_init_env_text():
    """The content cloud-init writes to /etc/default/capsuled."""
    import yaml  # python3-yaml, a cloud-init dependency
    with open(CLOUD_INIT) as f:
        doc = yaml.safe_load(f)
    files = [w for w in doc["write_files"] if w["path"] == "/etc/default/capsuled"]
    assert len(files) == 1, files
    return files[0]["content"]


class FleetDefaults(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        T.require_toolchain("python")

    def serve_gateway_request(self, file_env, what):
        self.assertEqual(set(file_env) & HARNESS_KEYS - {"PISTON_BIND_ADDRESS"}, set(), what)
        env = {k: v for k, v in file_env.items() if k not in HARNESS_KEYS}
        with T.Daemon(runtimes="real", env=env, max_jobs=2) as d:
            r = d.post("/api/v2/execute", raw=GATEWAY_REQUEST)
            self.assertRun(r, stdout="42\n")

    def test_packaged_env_file(self):
        with open(ENV_FILE) as f:
            self.serve_gateway_request(parse_environment_file(f.read()), ENV_FILE)

    def test_cloud_init_env_file(self):
        try:
            text = cloud_init_env_text()
        except ImportError:
            self.skipTest("python3-yaml not installed")
        self.serve_gateway_request(parse_environment_file(text), CLOUD_INIT)

    def test_builtin_defaults_stay_pistons(self):
        with T.Daemon(runtimes="real", max_jobs=2) as d:
            r = d.post("/api/v2/execute", raw=GATEWAY_REQUEST)
            self.assertMessage(r, 400, "run_timeout cannot exceed the configured limit of 3000")

    def test_parser_reads_like_systemd(self):
        env = parse_environment_file("# c\n; c\n A = 1 \nB='x y'\nC=\"q\\\"z\"\nD=a\\\nb\nnot a line\n")
        self.assertEqual(env, {"A": "1", "B": "x y", "C": 'q"z', "D": "ab"})


if __name__ == "__main__":
    T.run_tests()
