#!/usr/bin/env bash
# One command from a fresh machine to a daemon on :2000: install, build, start.
# Extra environment (PISTON_*, CAPSULE_*) is passed through to capsuled.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/capsuled
