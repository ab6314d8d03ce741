"""Python twin of lifetime.c (tests/security, property 7): modes daemonize, timeout,
children (4 spinning processes; Python threads share one core through the GIL)."""
import os
import signal
import sys
import time


def leave_behind():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(s, signal.SIG_IGN)
            while True:
                time.sleep(1)
        os._exit(0)
    os.wait()
    if os.fork() == 0:
        os.kill(os.getpid(), signal.SIGSTOP)
        while True:
            signal.pause()


mode = sys.argv[1]
if mode in ("daemonize", "timeout"):
    leave_behind()
    print("main done", flush=True)
    if mode == "timeout":
        while True:
            signal.pause()
elif mode == "children":
    for _ in range(4):
        if os.fork() == 0:
            while True:
                pass
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
