#!/usr/bin/env bash
# The live cgroup v2 lane: boots Debian's cloud kernel (the target images' kernel, pure cgroup
# v2) in QEMU and runs test labels of a build directory inside it, against daemons started in
# the guest. The guest's root is this machine's file system, shared read-only over virtio-fs
# under a tmpfs overlay (same binaries, toolchains and paths; nothing written reaches the
# host); tests/v2vm/init.sh is its PID 1, tests/v2vm/guest-suite.sh runs ctest. Results (ctest
# log, JUnit, LastTest.log, the guest console) come back through a second, writable share;
# this script's exit status is the suite's inside the guest.
#
# KVM is used where it boots (a probe boot with a deadline); this development host's QEMU 7.2
# hangs under KVM after "Probing EDD", so it falls back to TCG, where the cloud kernel boots in
# about 2 s and the suite runs slower by a factor measured in the guest (time windows widen by
# it; limits never do).
#
# usage: run-v2vm.sh --build-dir DIR [--labels REGEX | --tests REGEX] [--exclude REGEX] [--out DIR]
#                    [--accel auto|kvm|tcg] [--timeout SEC] [--mem MIB] [--smp N]
#                    [--command 'shell command run in the guest instead of ctest']
# Exit: 0 suite passed, 1 suite failed or the guest did not report, 77 QEMU cannot run here
# (missing packages outside CI, or no accelerator boots a guest).
set -euo pipefail

# The whole script is one function, parsed before it runs: editing this file (or rebuilding)
# while a lane runs cannot change what runs. The guest reads copies of its scripts too.
main() {
here=$(cd "$(dirname "$0")" && pwd)
build_dir=
labels='^(unit|sandbox|api|hostile)$'
exclude=
out=
accel=auto
timeout=1500
mem=6144
smp=$(nproc)
test_timeout=600
command=
tests=
cpu=${V2VM_CPU:-}

while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --labels) labels=$2; shift 2 ;;
    --tests) tests=$2; shift 2 ;;
    --exclude) exclude=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --test-timeout) test_timeout=$2; shift 2 ;;
    --command) command=$2; shift 2 ;;
    *) echo "run-v2vm.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

say() { echo "v2vm: $*"; }
# Outside CI a missing piece is a skip with its reason; in CI the test command installed
# everything, so it is a failure.
unavailable() {
    say "cannot run: $*"
    if [ "${CI:-}" = true ]; then exit 1; fi
    exit 77
}

[ -n "$build_dir" ] || { echo "run-v2vm.sh: --build-dir is required" >&2; exit 2; }
build_dir=$(cd "$build_dir" && pwd)
[ "$(id -u)" -eq 0 ] || unavailable "needs root (virtio-fs of / and the sandbox in the guest)"
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || unavailable "qemu-system-x86_64 not installed (scripts/install-deps.sh installs qemu-system-x86)"
virtiofsd=
for c in /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd "$(command -v virtiofsd || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then virtiofsd=$c; break; fi
done
[ -n "$virtiofsd" ] || unavailable "virtiofsd not found (QEMU's, or the virtiofsd package)"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
    unavailable "a static busybox is needed for the guest's init (package busybox-static)"
kernel=${CAPSULE_V2VM_KERNEL:-$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)}
[ -n "$kernel" ] && [ -r "$kernel" ] ||
    unavailable "no Debian cloud kernel in /boot (package linux-image-cloud-amd64)"
kver=${kernel#/boot/vmlinuz-}
[ -d "/lib/modules/$kver" ] || unavailable "no modules for $kver in /lib/modules"

work=$(mktemp -d /var/tmp/capsule-v2vm.XXXXXX)
host_python_ms=0
[ -n "$out" ] || out="$build_dir/v2vm-results"
rm -rf "$out"
mkdir -p "$out"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# ---- initramfs: busybox, the modules the cloud kernel lacks built in, init.sh ---------------
modules=(virtio_pci virtiofs overlay)
declare -A seen=()
order=()
add_module() { # post-order over modinfo's dependencies
    local m=$1 d
    [ -z "${seen[$m]:-}" ] || return 0
    seen[$m]=1
    for d in $(modinfo -k "$kver" -F depends "$m" | tr ',' ' '); do add_module "$d"; done
    order+=("$m")
}
for m in "${modules[@]}"; do add_module "$m"; done
mkdir -p "$work/initrd"/{bin,dev,proc,sys,modules}
cp "$busybox" "$work/initrd/bin/busybox"
for m in "${order[@]}"; do
    f=$(modinfo -k "$kver" -n "$m")
    case "$f" in
    *.ko) cp "$f" "$work/initrd/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$f" > "$work/initrd/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$work/initrd/modules/$m.ko" ;;
    *) unavailable "module $m is $f (built in or unknown format)" ;;
    esac
done
printf '%s\n' "${order[@]}" > "$work/initrd/modules.order"
cp "$here/init.sh" "$work/initrd/init"
cp "$here/guest-suite.sh" "$work/guest-suite.sh"
chmod 0755 "$work/initrd/init"

write_conf() { # mode
    {
        printf 'export V2VM_MODE=%q\n' "$1"
        printf 'export V2VM_SUITE=%q\n' "$work/guest-suite.sh"
        printf 'export V2VM_BUILD_DIR=%q\n' "$build_dir"
        printf 'export V2VM_SOURCE_DIR=%q\n' "$(cd "$here/../.." && pwd)"
        printf 'export V2VM_LABELS=%q\n' "$labels"
        printf 'export V2VM_TESTS=%q\n' "$tests"
        printf 'export V2VM_EXCLUDE=%q\n' "$exclude"
        printf 'export V2VM_TEST_TIMEOUT=%q\n' "$test_timeout"
        printf 'export V2VM_UPPER_SIZE=%q\n' "$((mem / 2))m"
        printf 'export V2VM_TIME_FACTOR=%q\n' "${V2VM_TIME_FACTOR:-}"
        printf 'export V2VM_HOST_PYTHON_MS=%q\n' "$host_python_ms"
        printf 'export V2VM_COMMAND=%q\n' "$command"
        printf 'export CAPSULE_TEST_LANGS=%q\n' "${CAPSULE_TEST_LANGS:-}"
    } > "$work/initrd/v2vm.conf"
    (cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
}

# Milliseconds for 10 starts of Debian's python3: the yardstick of the slowdown in the guest.
python_loop_ms() {
    local t0 t1
    t0=$(date +%s%N)
    for _ in $(seq 10); do /usr/bin/python3 -c pass; done
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

# ---- QEMU --------------------------------------------------------------------------------
start_virtiofsd() { # tag source
    local sock="$work/$1.sock"
    "$virtiofsd" --socket-path="$sock" -o source="$2" -o cache=auto -o sandbox=chroot \
        > "$work/virtiofsd-$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
    say "virtiofsd for $1 did not start: $(cat "$work/virtiofsd-$1.log")"
    return 1
}

run_qemu() { # accel deadline console-log [shares...]
    local acc=$1 deadline=$2 log=$3 accel_opt cpu_model append="console=ttyS0 quiet loglevel=4 panic=-1"
    shift 3
    # TCG: qemu64 runs these workloads about twice as fast as "max" (measured here), and the
    # TSC clocksource spares every timestamp an emulated HPET read.
    if [ "$acc" = tcg ]; then
        accel_opt=tcg,thread=multi,tb-size=512
        cpu_model=${cpu:-qemu64}
        append="$append clocksource=tsc tsc=reliable"
    else
        accel_opt=kvm
        cpu_model=${cpu:-max}
    fi
    local args=(-accel "$accel_opt" -cpu "$cpu_model" -smp "$smp" -m "$mem" -nographic -no-reboot
        -nodefaults -serial "file:$log" -monitor none -net none
        -kernel "$kernel" -initrd "$work/initrd.gz" -append "$append ${V2VM_APPEND:-}"
        -object "memory-backend-memfd,id=mem,size=${mem}M,share=on" -numa node,memdev=mem)
    local n=0
    for tag in "$@"; do
        args+=(-chardev "socket,id=vfs$n,path=$work/$tag.sock"
            -device "vhost-user-fs-pci,queue-size=1024,chardev=vfs$n,tag=$tag")
        n=$((n + 1))
    done
    timeout --kill-after=10 "$deadline" "$qemu" "${args[@]}" </dev/null
}

if [ "$accel" = auto ]; then
    accel=tcg
    if [ -w /dev/kvm ]; then
        write_conf probe
        if run_qemu kvm 8 "$work/probe.log" >/dev/null 2>&1 && grep -q 'probe ok' "$work/probe.log"; then
            accel=kvm
        else
            say "KVM did not boot the guest within 8 s (console: $(tr -d '\r' < "$work/probe.log" | tail -n 1)); using TCG"
        fi
    fi
fi

# The guest measures the same loop and widens the tests' time windows by the ratio.
host_python_ms=$(python_loop_ms)
write_conf suite
start_virtiofsd hostroot /
start_virtiofsd results "$out"
say "kernel $kver, accel $accel, $smp CPUs, $mem MiB; tests ${tests:-labelled $labels}${exclude:+, excluding $exclude}"
started=$(date +%s)
set +e
run_qemu "$accel" "$timeout" "$out/console.log" hostroot results
qrc=$?
set -e
say "guest ran $(( $(date +%s) - started )) s (qemu status $qrc)"

[ -f "$out/suite.log" ] && cat "$out/suite.log"
if [ -f "$out/init-error" ]; then
    say "guest init failed: $(cat "$out/init-error")"
    tail -n 30 "$out/console.log" | tr -d '\r'
    exit 1
fi
if [ ! -f "$out/status" ]; then
    say "the guest did not report a result (timeout ${timeout}s or crash); console tail:"
    tail -n 40 "$out/console.log" | tr -d '\r'
    exit 1
fi
status=$(cat "$out/status")
say "suite status in the guest: $status (logs in $out)"
[ "$status" = 0 ]
}

main "$@"; exit
