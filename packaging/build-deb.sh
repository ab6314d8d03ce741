#!/usr/bin/env bash
# Builds the capsule-engine .deb in a scratch tree configured for /usr (the runtimes directory
# compiled into capsuled is then /usr/share/capsule/runtimes). Prints the .deb's path last.
# Usage: packaging/build-deb.sh [build-dir]   (default: build-deb next to the sources)
# CAPSULE_DEB_BUILD_TESTING=ON also builds the test programs (the package is the same).
# CAPSULE_DEB_MAINTAINER="Name <address>" sets the package's Maintainer field. Beside the .deb,
# capsule-engine-dbgsym_<version>_<arch>.ddeb holds the debug info of its stripped binaries.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-deb}
jobs=$(nproc)
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAPSULE_WERROR=ON \
    -DCMAKE_INSTALL_PREFIX=/usr -DCAPSULE_DEFAULT_RUNTIMES_DIR=/usr/share/capsule/runtimes \
    -DBUILD_TESTING="${CAPSULE_DEB_BUILD_TESTING:-OFF}" \
    ${CAPSULE_DEB_MAINTAINER:+"-DCAPSULE_DEB_MAINTAINER=$CAPSULE_DEB_MAINTAINER"} >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
(cd "$build" && cpack -G DEB >/dev/null)
deb=
for f in "$build"/capsule-engine_*.deb; do deb=$f; done
echo "$deb"
