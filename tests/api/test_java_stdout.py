#!/usr/bin/python3
"""The JVM's own messages stay out of the program's stdout (issue 12): a Java job that hits
the process cap (max_process_count counts threads) made HotSpot print
`[0.234s][warning][os,thread] Failed to start thread ...` into stdout, before the program's own
lines. The java package routes the JVM's unified logging to stderr."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsule_testlib as T  # noqa: E402

THREADS = r"""
public class Main {
    public static void main(String[] args) throws Exception {
        try {
            for (int i = 0; i < 500; i++) {
                Thread t = new Thread(() -> {
                    try { Thread.sleep(60000); } catch (InterruptedException e) { }
                });
                t.setDaemon(true);
                t.start();
            }
            System.out.println("no limit hit");
        } catch (Throwable e) {
            System.out.println("stopped: " + e.getClass().getName());
        }
        System.out.println("done");
        System.exit(0);
    }
}
"""


class JavaStdout(T.CapsuleTestCase):
    @classmethod
    def setUpClass(cls):
        T.require_root()
        T.require_toolchain("java")
        cls.daemon = cls.start_daemon(runtimes="real", max_jobs=2)

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon(cls.daemon)

    def test_thread_cap_warning_goes_to_stderr(self):
        for cap in (32, 64):  # the default cap, and a tighter one
            with self.subTest(max_process_count=cap):
                r = self.daemon.execute({"language": "java", "version": "*",
                                         "files": [{"name": "Main.java", "content": THREADS}],
                                         "max_process_count": cap, "run_timeout": 3000})
                run = self.assertExecOk(r)["run"]
                self.assertEqual(run["stdout"], "stopped: java.lang.OutOfMemoryError\ndone\n", run)
                self.assertIn("Failed to start thread", run["stderr"], run)
                self.assertEqual(run["code"], 0, run)

    def test_plain_program_output_unchanged(self):
        r = self.daemon.execute({"language": "java", "version": "*", "files": [
            {"name": "Main.java", "content":
             'public class Main { public static void main(String[] a) { System.out.println("hi"); } }'}]})
        run = self.assertRun(r, stdout="hi\n", stderr="")


if __name__ == "__main__":
    T.run_tests()
