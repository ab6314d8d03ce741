#!/usr/bin/python3
"""Security property 10, accounting is honest: cpu_time of a ~500 ms CPU-bound program is
within 5 % (+ a small constant) of the program's own getrusage/os.times; wall_time of a 1 s
sleep is in [1000, 1100 + slack]; the peak memory of a program touching 100 MiB is within 5 %
(+ a few MiB of runtime baseline) of 100 MiB; a large compile followed by a hello in the same
slot leaves the hello's memory small (no carry-over); a memory-limit kill says "Memory limit
exceeded". C (acct.c) and Python (acct.py)."""

import seclib as S
from seclib import T

MEM_MIB = 100
BASELINE = {"c": 4 * S.MiB, "python": 16 * S.MiB}  # runtime footprint besides the 100 MiB
START_MS = {"c": 0, "python": 60}  # interpreter start before the sleep begins


class Accounting(S.SecTestCase):
    MAX_JOBS = 1  # one slot: the compile/hello carry-over check needs the same slot

    def prog(self, lang):
        return S.program("acct.c" if lang == "c" else "acct.py")

    def cpu(self, lang):
        self.need(lang)
        run = self.run_ok(lang, self.prog(lang), what="cpu", args=["cpu", "500"])
        own = int(S.kv(run["stdout"])["self_cpu_ms"])
        self.assertGreaterEqual(own, 500)
        T.log("  %s cpu: reported %d ms, program's own %d ms" % (lang, run["cpu_time"], own))
        self.assertLessEqual(abs(run["cpu_time"] - own), 0.05 * own + 15,
                             "%s: cpu_time %d ms vs the program's own %d ms" % (lang, run["cpu_time"], own))

    def wall(self, lang):
        self.need(lang)
        run = self.run_ok(lang, self.prog(lang), what="sleep", args=["sleep", "1000"])
        T.log("  %s sleep(1): wall %d ms, cpu %d ms" % (lang, run["wall_time"], run["cpu_time"]))
        self.assertGreaterEqual(run["wall_time"], 1000, run)
        self.assertLessEqual(run["wall_time"], 1100 + START_MS[lang] + S.slack_ms(100), run)
        self.assertLess(run["cpu_time"], 100 + START_MS[lang] * 2, run)

    def memory(self, lang):
        self.need(lang)
        run = self.run_ok(lang, self.prog(lang), what="mem", args=["mem", str(MEM_MIB)])
        want = MEM_MIB * S.MiB
        T.log("  %s touch %d MiB: memory %d bytes (%.1f MiB)" % (lang, MEM_MIB, run["memory"],
                                                               run["memory"] / S.MiB))
        self.assertGreaterEqual(run["memory"], want, run)
        self.assertLessEqual(run["memory"], want * 1.05 + BASELINE[lang], run)

    def oom(self, lang):
        self.need(lang)
        limit = 64 * S.MiB
        run = self.run_job(lang, self.prog(lang), what="hog", args=["hog"],
                           run_memory_limit=limit)["run"]
        self.assertEqual((run["status"], run["signal"], run["code"], run["message"]),
                         ("SG", "SIGKILL", None, "Memory limit exceeded"), run)
        self.assertGreaterEqual(run["memory"], limit * 0.9, run)
        self.assertLessEqual(run["memory"], limit + 4 * S.MiB, run)
        self.no_leftovers()

    def test_c_cpu_time(self):
        self.cpu("c")

    def test_python_cpu_time(self):
        self.cpu("python")

    def test_c_wall_time(self):
        self.wall("c")

    def test_python_wall_time(self):
        self.wall("python")

    def test_c_memory_peak(self):
        self.memory("c")

    def test_python_memory_peak(self):
        self.memory("python")

    def test_c_memory_limit_message(self):
        self.oom("c")

    def test_python_memory_limit_message(self):
        self.oom("python")

    def test_no_carry_over_after_large_compile(self):
        """A big C++ compile (~200 MB of cc1plus) then hellos in the same slot: the hellos'
        memory is their own (fresh leaf cgroups per stage)."""
        self.need("c++", "python")
        big = "#include <bits/stdc++.h>\nint main(){std::vector<int> v{1}; std::cout << v[0] << std::endl;}\n"
        j = self.run_job("c++", big, what="large compile", compiled_ok=False, compile_timeout=10000)
        c = j["compile"]
        # a starved host may end the compile at its wall limit: its memory is what matters
        self.assertTrue(c["status"] is None or c["status"] == "TO", "large compile failed: %s" % c)
        comp = c["memory"]
        if c["status"] == "TO" and comp < 64 * S.MiB:
            self.skipTest("host overloaded: the compile reached %.1f MiB in %d ms" % (comp / S.MiB, c["wall_time"]))
        T.log("  large compile: memory %.1f MiB, cpu %d ms" % (comp / S.MiB, j["compile"]["cpu_time"]))
        self.assertGreater(comp, 64 * S.MiB, "the large compile was not large: %s" % j["compile"])
        run = self.run_ok("python", S.PY_HELLO, what="hello after compile")
        T.log("  python hello after it: memory %.1f MiB" % (run["memory"] / S.MiB))
        self.assertLess(run["memory"], 32 * S.MiB, run)
        self.assertLess(run["memory"], comp / 4, run)
        j = self.run_job("c", S.C_HELLO + "/* fresh */\n", what="c hello after compile")
        self.assertLess(j["compile"]["memory"], comp / 2, j["compile"])
        self.assertLess(j["run"]["memory"], 8 * S.MiB, j["run"])


if __name__ == "__main__":
    S.run_tests()
