#!/usr/bin/env bash
# Installs what capsuled needs to build and run, from the distribution's packages
# (Debian 12, Ubuntu 22.04+): build tools, the four libraries, and the toolchains the bundled
# runtimes call (python3, node, a JDK, gcc/g++, sqlite3). Idempotent; run as root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (it calls apt-get)" >&2
    exit 1
fi
packages=(
    build-essential cmake pkg-config git curl ca-certificates
    libmicrohttpd-dev libjansson-dev libseccomp-dev libcap-dev nettle-dev libwslay-dev
    libcurl4-openssl-dev libarchive-dev
    python3 nodejs default-jdk-headless gcc g++ sqlite3
    clang-format gnuplot-nox haproxy
    python3-requests python3-yaml lintian  # tests: 413 drain client, cloud-init file, .deb lint
)
# The live cgroup v2 lane (tests/v2vm): QEMU with its virtiofsd, the target images' kernel
# (Debian's cloud kernel, pure cgroup v2) and a static busybox for the guest init. Installed
# where the archive has them (Debian); elsewhere (Ubuntu has no linux-image-cloud-amd64) the
# lane skips, or runs with CAPSULE_V2VM_KERNEL naming a kernel.
lane_packages=(qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
lane_missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${lane_packages[@]}"; do installed "$p" || lane_missing+=("$p"); done
if [ $((${#missing[@]} + ${#lane_missing[@]})) -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    for p in "${lane_missing[@]}"; do
        if apt-cache show "$p" >/dev/null 2>&1; then
            missing+=("$p")
        else
            echo "install-deps.sh: $p is not in this archive: the v2vm lane will skip" >&2
        fi
    done
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
