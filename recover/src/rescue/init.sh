#!/bin/sh
# /init of the rrecover rescue stick (written by `rrecover mkrescue`). busybox sh.
# Kernel command line words it reads:
#   rrecover.auto=1          run `rrecover apply --yes` without asking, then power off
#   rrecover.share=DEV|9p:TAG  where the backup directory is (mounted read-only on /share)
#   rrecover.from=DIR        the backup directory inside the share (default: its top)
#   rrecover.target=DISK...  the disk(s) to rebuild, comma-separated (/dev/vda,/dev/vdb)
#   rrecover.run=SCRIPT      run SCRIPT from the share instead (custom steps, tests)
#   rrecover.end=poweroff|reboot|shell   what to do afterwards (default: poweroff)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
echo /sbin/modprobe >/proc/sys/kernel/modprobe
say() { echo "rrecover-rescue: $*"; }

say "loading kernel modules"
while read -r m; do
  insmod "/lib/modules/$(uname -r)/$m" 2>/dev/null || say "module $m did not load"
done </etc/rrecover/modules
[ -f /etc/rrecover/keymap.bmap ] && loadkmap </etc/rrecover/keymap.bmap

AUTO= SHARE= FROM= TARGET= RUN= END=poweroff
for w in $(cat /proc/cmdline); do
  case "$w" in
    rrecover.auto=*) AUTO=${w#*=} ;;
    rrecover.share=*) SHARE=${w#*=} ;;
    rrecover.from=*) FROM=${w#*=} ;;
    rrecover.target=*) TARGET=$(echo "${w#*=}" | tr , ' ') ;;
    rrecover.run=*) RUN=${w#*=} ;;
    rrecover.end=*) END=${w#*=} ;;
  esac
done

# USB and SCSI disks appear after their driver loaded, asynchronously: wait for them.
wait_for() {
  i=0
  while [ ! -b "$1" ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
  [ -b "$1" ] || { say "$1 did not appear"; return 1; }
}

mkdir -p /share /mnt
if [ -n "$SHARE" ]; then
  case "$SHARE" in
    9p:*) mount -t 9p -o ro,trans=virtio,version=9p2000.L "${SHARE#9p:}" /share ;;
    *) wait_for "$SHARE" && mount -o ro "$SHARE" /share ;;
  esac || say "cannot mount the share $SHARE"
fi
BACKUP=/share/$FROM
[ -f "$BACKUP/plan" ] || BACKUP=/plan

finish() {
  case "$END" in
    reboot) say "rebooting"; sync; reboot -f ;;
    shell) exec setsid cttyhack sh ;;
    *) say "powering off"; sync; poweroff -f ;;
  esac
}

if [ -n "$RUN" ]; then
  say "running $RUN from the share"
  sh "/share/$RUN"
  say "$RUN ended with status $?"
  finish
fi
if [ "$AUTO" = 1 ]; then
  for d in $TARGET; do wait_for "$d"; done
  say "unattended recovery: rrecover apply --yes --from $BACKUP --target /mnt $TARGET"
  if rrecover apply --yes --from "$BACKUP" --target /mnt $TARGET; then
    say "recovery finished: ok"
  else
    say "recovery failed: status $?"
  fi
  finish
fi
# Interactive: the menu on the serial port and on the screen; either may be used.
setsid sh -c 'exec /etc/rrecover/menu "$0" </dev/tty1 >/dev/tty1 2>&1' "$BACKUP" &
# /init must never end (the kernel panics when PID 1 exits): the menu comes back.
while true; do setsid cttyhack /etc/rrecover/menu "$BACKUP"; done
