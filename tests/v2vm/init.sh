#!/bin/busybox sh
# PID 1 of the v2vm guest (busybox, from the initramfs that run-v2vm.sh builds). It gives the
# suite what a Debian 12 / Ubuntu cloud image gives our daemon: the host's file system as the
# root (read-only virtio-fs under a tmpfs overlay, so tests write freely and nothing reaches the
# host), proc, sys, devtmpfs, and a pure cgroup v2 hierarchy on /sys/fs/cgroup mounted the way
# systemd mounts it. Then it runs guest-suite.sh in that root and powers off. Settings come
# from /v2vm.conf, written by run-v2vm.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
. /v2vm.conf

say() { echo "v2vm-init: $*" > /dev/console; }
fail() {
    say "$*"
    echo "init: $*" > /results/init-error 2>/dev/null
    poweroff -f
}

# Modules in dependency order (run-v2vm.sh resolved it from modules.dep).
for m in $(cat /modules.order); do
    insmod "/modules/$m.ko" || say "insmod $m failed"
done
if [ "$V2VM_MODE" = probe ]; then
    say "probe ok"
    poweroff -f
fi

mkdir -p /results /lower /rw
mount -t virtiofs results /results || fail "cannot mount the results share"
mount -t virtiofs -o ro hostroot /lower || fail "cannot mount the host root share"
mount -t tmpfs -o "size=$V2VM_UPPER_SIZE,mode=0755" upper /rw || fail "tmpfs for the overlay"
mkdir -p /rw/upper /rw/work /newroot
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
    fail "overlay root"
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
# As systemd does on the target: cgroup2 alone on /sys/fs/cgroup (no v1 hierarchies at all).
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $R/sys/fs/cgroup ||
    mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || fail "cgroup2 mount"
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=0755 run $R/run
# /tmp stays the overlay's (writable, the host's files underneath): a checkout or build
# directory under the host's /tmp must be visible to the suite.
mkdir -p $R/v2vm-results
mount --bind /results $R/v2vm-results
ip link set lo up
hostname v2vm

say "root ready, running the suite"
chroot $R /bin/bash "$V2VM_SUITE" > /results/suite.log 2>&1
echo $? > /results/status
sync
say "suite finished with status $(cat /results/status)"
poweroff -f
