#!/bin/busybox sh
# The drill's source machine, stage 1 (its initramfs): load the disk and ext4 modules,
# mount the root named by root=UUID=... and switch to it.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules); do insmod "/$m" || echo "drill: module $m did not load"; done
root=
for w in $(cat /proc/cmdline); do case "$w" in root=*) root=${w#root=} ;; esac; done
i=0
until dev=$(findfs "$root" 2>/dev/null) || [ $i -ge 30 ]; do sleep 1; i=$((i + 1)); done
mkdir -p /newroot
mount -t ext4 "$dev" /newroot || { echo "drill: cannot mount the root $root"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
