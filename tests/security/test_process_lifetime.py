#!/usr/bin/python3
"""Security property 7, processes end with the job: a daemonized (double fork + setsid),
SIGTERM-ignoring grandchild that holds stdout open, and a stopped child, are killed when the
main program exits or times out; the answer does not wait for them (small wall time, prompt
response); afterwards no process runs under the daemon's uid range and no stage cgroup is
left. CPU time counts every thread and child: 4 spinning threads or processes with
run_cpu_time 1000 end with TO "Time limit exceeded" (the CPU limit; the wall limit of 10 s is
never reached unless the host starves the box, which skips the case with the figures). C (lifetime.c) and Python (lifetime.py)."""

import seclib as S
from seclib import T


class ProcessLifetime(S.SecTestCase):
    # a wall limit far above the 1000 ms CPU limit, so a loaded host still trips the CPU one
    ENV = {"PISTON_RUN_TIMEOUT": "10000"}

    def src(self, lang):
        return S.program("lifetime.c" if lang == "c" else "lifetime.py")

    def daemonize(self, lang):
        self.need(lang)
        r = self.submit(self.payload(lang, self.src(lang), args=["daemonize"]), what="daemonize")
        run = r.json["run"]
        self.assertEqual((run["status"], run["code"], run["stdout"]), (None, 0, "main done\n"), run)
        bound = S.slack_ms(500)
        self.assertLess(run["wall_time"], bound, "the run stage waited for its leftovers: %s" % run)
        compile_ms = r.json["compile"]["wall_time"] if "compile" in r.json else 0
        self.assertLess(r.elapsed * 1000, compile_ms + S.slack_ms(1500),
                        "the answer waited for the leftovers (%.0f ms)" % (r.elapsed * 1000))
        self.no_leftovers()

    def timeout(self, lang):
        self.need(lang)
        # the main program must finish its setup (and print) before the wall limit: on a slow
        # host (the v2vm lane's emulated guest, where python3 alone starts in 0.7 s) it gets
        # the configured maximum instead of 1 s
        limit = 1000 if T.TIME_FACTOR < 3 else 3000
        r = self.submit(self.payload(lang, self.src(lang), args=["timeout"], run_timeout=limit),
                        what="timeout")
        run = r.json["run"]
        self.assertEqual((run["status"], run["signal"], run["message"]),
                         ("TO", "SIGKILL", "Time limit exceeded (wall clock)"), run)
        self.assertEqual(run["stdout"], "main done\n", run)
        self.assertGreaterEqual(run["wall_time"], limit, run)
        self.assertLess(run["wall_time"], limit + S.slack_ms(300), run)
        self.no_leftovers()

    def cpu(self, lang, mode):
        self.need(lang)
        r = self.submit(self.payload(lang, self.src(lang), args=[mode], run_cpu_time=1000,
                                     run_timeout=10000), what="cpu " + mode)
        run = r.json["run"]
        if run["message"] == "Time limit exceeded (wall clock)" and run["cpu_time"] < 1000:
            self.skipTest("host overloaded: 4 spinners got %d ms of CPU in %d ms of wall time"
                          % (run["cpu_time"], run["wall_time"]))
        self.assertEqual((run["status"], run["signal"], run["message"]),
                         ("TO", "SIGKILL", "Time limit exceeded"),
                         "%s: CPU of every thread/child not counted: %s" % (mode, run))
        self.assertGreaterEqual(run["cpu_time"], 1000, run)
        self.assertLess(run["cpu_time"], 1000 + S.slack_ms(300), run)
        # 4 spinners on N cores reach 1000 ms of CPU after about 1000/min(4, N) ms; the bound
        # is a safety one (a loaded host gives fewer cores)
        self.assertLess(run["wall_time"], 10000, run)
        T.log("  %s %s: cpu %d ms in wall %d ms" % (lang, mode, run["cpu_time"], run["wall_time"]))
        self.no_leftovers()

    def test_c_daemonized_children_die_on_exit(self):
        self.daemonize("c")

    def test_python_daemonized_children_die_on_exit(self):
        self.daemonize("python")

    def test_c_daemonized_children_die_on_timeout(self):
        self.timeout("c")

    def test_python_daemonized_children_die_on_timeout(self):
        self.timeout("python")

    def test_c_cpu_counts_threads(self):
        self.cpu("c", "threads")

    def test_c_cpu_counts_children(self):
        self.cpu("c", "children")

    def test_python_cpu_counts_children(self):
        self.cpu("python", "children")


if __name__ == "__main__":
    S.run_tests()
