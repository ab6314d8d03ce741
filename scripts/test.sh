#!/usr/bin/env bash
# One command from a fresh machine to the whole test suite: install, format check, an
# ASan+UBSan build running unit/sandbox/api tests, a release build running everything
# (unit, sandbox, api, security, hostile, package, scale-out), then the live cgroup v2 lane
# (the same release build's tests inside a QEMU guest running the target kernel). Run as
# root: the sandbox tests need it (they skip otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)

echo "== format check"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

echo "== asan+ubsan build: unit, sandbox, api"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCAPSULE_SANITIZE=ON -DCAPSULE_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 CAPSULE_SANITIZED=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|sandbox|api'

echo "== release build: everything"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAPSULE_WERROR=ON >/dev/null
cmake --build build-release -j"$jobs"
ctest --test-dir build-release --output-on-failure -j"$jobs" -LE 'package|scaleout|v2vm|^soak$|^fuzz$'
echo "== package and scale-out (serial)"
ctest --test-dir build-release --output-on-failure -L 'package|scaleout'
echo "== live cgroup v2 lane: the target kernel under QEMU (serial, both cores)"
ctest --test-dir build-release --output-on-failure -L '^v2vm$'
