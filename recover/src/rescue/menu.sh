#!/bin/sh
# The rescue stick's menu (written by `rrecover mkrescue`); $1 is the backup directory.
BACKUP=$1
while true; do
  echo
  echo "== rrecover rescue stick (backup: $BACKUP)"
  echo "  1) show the plan      2) dry run of the recovery   3) recover (asks first)"
  echo "  4) shell              5) reboot                     6) power off"
  printf "choice: "
  read -r c || exit 0
  case "$c" in
    1) if [ -f "$BACKUP/plan" ]; then more "$BACKUP/plan"; else echo "no plan in $BACKUP"; fi ;;
    2|3)
      ls /sys/block | grep -Ev '^(loop|ram|sr)' | sed 's,^,  /dev/,'
      printf "disk(s) to rebuild: "
      read -r disks
      [ -n "$disks" ] || continue
      if [ "$c" = 2 ]; then
        rrecover apply --dry-run --from "$BACKUP" --target /mnt $disks
      else
        printf "This erases %s. Type YES to go on: " "$disks"
        read -r yes
        [ "$yes" = YES ] && rrecover apply --yes --from "$BACKUP" --target /mnt $disks
      fi ;;
    4) sh ;;
    5) sync; reboot -f ;;
    6) sync; poweroff -f ;;
  esac
done
