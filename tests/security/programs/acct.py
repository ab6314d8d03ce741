"""Python twin of acct.c (tests/security, property 10): modes cpu <ms>, sleep <ms>, mem <MiB>,
hog. self_cpu_ms is os.times() user+sys, which covers the process since its exec chain began."""
import os
import sys
import time

mode, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0


def self_cpu_ms():
    t = os.times()
    return int((t.user + t.system) * 1000)


if mode == "cpu":
    x = 0
    while self_cpu_ms() < n:
        for i in range(10000):
            x += i
    print("self_cpu_ms=%d" % self_cpu_ms())
elif mode == "sleep":
    time.sleep(n / 1000.0)
elif mode == "mem":
    b = b"x" * (n << 20)  # filled, so every page is touched
    print("touched=%d" % len(b))
elif mode == "hog":
    keep = []
    while True:
        keep.append(b"x" * (8 << 20))
