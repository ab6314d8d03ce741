#!/usr/bin/env bash
# Installs what capsuled needs to build and run, from the distribution's packages
# (Debian 12, Ubuntu 22.04+): build tools, the four libraries, and the toolchains the bundled
# runtimes call (python3, node, a JDK, gcc/g++). Idempotent; run as root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (it calls apt-get)" >&2
    exit 1
fi
packages=(
    build-essential cmake pkg-config git curl ca-certificates
    libmicrohttpd-dev libjansson-dev libseccomp-dev libcap-dev nettle-dev libwslay-dev
    python3 nodejs default-jdk-headless gcc g++
    clang-format gnuplot-nox haproxy
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
