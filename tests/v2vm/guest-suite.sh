#!/bin/bash
# Runs inside the v2vm guest (see init.sh), in the host's file system over a tmpfs overlay, on
# a pure cgroup v2 kernel. Lays the cgroup tree out the way systemd does on the target images
# (the suite in its own leaf under a slice, controllers enabled down to the slice) and gives
# every daemon the tests start its own delegated cgroup, as the shipped unit's Delegate=yes
# does (tests/api/capsule_testlib.py reads CAPSULE_TEST_CGROUP_PARENT). Then ctest runs the
# chosen labels of the build directory; its log and JUnit file go back to the host.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
out=/v2vm-results
cg=/sys/fs/cgroup

echo "== v2vm guest: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
echo "== cgroup mount: $(grep cgroup /proc/self/mounts | tr '\n' ' ')"
echo "== controllers: $(cat $cg/cgroup.controllers)"

# systemd's layout: init.scope, system.slice/<unit>.service. The suite runs as if it were a
# unit; each daemon gets a sibling service cgroup (Delegate=yes: its own subtree_control).
controllers=$(sed 's/\([a-z_]*\)/+\1/g' $cg/cgroup.controllers)
mkdir -p $cg/init.scope $cg/system.slice/v2vm-suite.service $cg/system.slice/capsule-tests.slice
echo 1 > $cg/init.scope/cgroup.procs
echo $$ > $cg/system.slice/v2vm-suite.service/cgroup.procs
for c in $controllers; do
    echo "$c" > $cg/cgroup.subtree_control 2>/dev/null || echo "root: cannot enable $c"
    echo "$c" > $cg/system.slice/cgroup.subtree_control 2>/dev/null || echo "system.slice: cannot enable $c"
    echo "$c" > $cg/system.slice/capsule-tests.slice/cgroup.subtree_control 2>/dev/null ||
        echo "capsule-tests.slice: cannot enable $c"
done
export CAPSULE_TEST_CGROUP_PARENT=$cg/system.slice/capsule-tests.slice
# Time windows widen by how much slower this guest runs the same python3 loop than the host
# (TCG: several times); at least the factor the suites use on a loaded host.
if [ -z "$V2VM_TIME_FACTOR" ]; then
    for _ in 1 2; do /usr/bin/python3 -c pass; done # the first reads come over virtio-fs
    t0=$(date +%s%N)
    for _ in $(seq 10); do /usr/bin/python3 -c pass; done
    t1=$(date +%s%N)
    guest_ms=$(( (t1 - t0) / 1000000 ))
    V2VM_TIME_FACTOR=$(awk -v g="$guest_ms" -v h="$V2VM_HOST_PYTHON_MS" \
        'BEGIN { f = (h > 0 ? g / h : 1) * 1.3; if (f < 1.3) f = 1.3; printf "%.1f", f }')
    echo "== python3 x10: guest $guest_ms ms, host $V2VM_HOST_PYTHON_MS ms"
fi
export CAPSULE_TIME_FACTOR="$V2VM_TIME_FACTOR"
echo "== delegated parent: $CAPSULE_TEST_CGROUP_PARENT ($(cat $CAPSULE_TEST_CGROUP_PARENT/cgroup.subtree_control))"
echo "== time factor: $CAPSULE_TIME_FACTOR; selection: ${V2VM_TESTS:-labels $V2VM_LABELS}"

cd "$V2VM_BUILD_DIR" || exit 2
# The lane proves nothing unless the daemon really runs on v2: no v1 hierarchy may exist, and
# capsuled --check (run from this shared cgroup, as cloud-init runs it) must pass on v2.
if grep -q ' cgroup ' /proc/self/mounts; then
    echo "v2vm: a cgroup v1 hierarchy is mounted: not a pure v2 guest"
    exit 3
fi
check_out=$(env -i PATH="$PATH" PISTON_BIND_ADDRESS=127.0.0.1:0 CAPSULE_INSTANCE=v2vm-check \
    PISTON_MAX_CONCURRENT_JOBS=2 CAPSULE_RUNTIMES_DIR="$V2VM_SOURCE_DIR/tests/fixtures/packages" \
    ./capsuled --check 2>&1)
check_rc=$?
echo "$check_out"
if [ $check_rc -ne 0 ] || ! grep -q '^ok *cgroup: v2' <<<"$check_out"; then
    echo "v2vm: capsuled --check failed on the v2 guest (status $check_rc)"
    exit 3
fi
if [ -n "$V2VM_COMMAND" ]; then
    bash -c "$V2VM_COMMAND"
    exit $?
fi
if [ -n "$V2VM_TESTS" ]; then select=(-R "$V2VM_TESTS"); else select=(-L "$V2VM_LABELS"); fi
ctest --output-on-failure --no-tests=error -j"$(nproc)" "${select[@]}" ${V2VM_EXCLUDE:+-E "$V2VM_EXCLUDE"} \
    --output-junit "$out/junit.xml" --timeout "$V2VM_TEST_TIMEOUT"
status=$?
cp Testing/Temporary/LastTest.log "$out/LastTest.log" 2>/dev/null
echo "== leftover cgroups under the test slice: $(find $CAPSULE_TEST_CGROUP_PARENT -mindepth 1 -type d | wc -l)"
find $CAPSULE_TEST_CGROUP_PARENT -mindepth 1 -type d | head -20
exit $status
