#!/bin/sh
# The drill's source machine, stage 2 (/sbin/init on its ext4 root): swap on, then
# on the first boot a marker and the manifest, on later boots the check; power off.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
swapon -a && echo "DRILL-SWAP: $(grep -c '^/dev' /proc/swaps) swap area(s) on"
if [ ! -f /var/drill-marker ]; then
  echo "written at the first boot" >/var/drill-marker
  sh /check.sh write
else
  sh /check.sh verify
fi
sync
mount -o remount,ro /
poweroff -f
