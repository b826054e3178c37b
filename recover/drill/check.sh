#!/bin/sh
# The drill's check: a manifest of the root filesystem (every inode's kind, mode,
# owner, size, mtime, link count, content hash, link target, device numbers), written
# at the first boot of the source, compared on every later boot (after the recovery).
# extlinux's own files are the one exception: installing the bootloader again (as
# apply must, since its boot sector points at the blocks of ldlinux.sys) rewrites
# them, so they are compared by kind, mode, owner and size only.
manifest() {
  cd / && find . -xdev ! -path ./etc/drill-manifest | LC_ALL=C sort | while read -r f; do
    if [ -L "$f" ]; then
      echo "$f link $(stat -c '%u %g' "$f") -> $(readlink "$f")"
    elif [ -d "$f" ]; then
      echo "$f dir $(stat -c '%a %u %g' "$f")"
    elif [ "$f" = ./boot/extlinux/ldlinux.sys ] || [ "$f" = ./boot/extlinux/ldlinux.c32 ]; then
      echo "$f bootloader file $(stat -c '%a %u %g %s' "$f")"
    elif [ -f "$f" ]; then
      echo "$f file $(stat -c '%a %u %g %s %Y %h' "$f") $(sha256sum <"$f" | cut -c1-64)"
    else
      echo "$f $(stat -c '%F %a %u %g %t:%T %Y' "$f")"
    fi
  done
}
case "$1" in
  write)
    manifest >/etc/drill-manifest
    echo "DRILL-FIRST-BOOT: manifest of $(wc -l </etc/drill-manifest) entries written" ;;
  verify)
    manifest >/tmp/drill-now
    if cmp -s /etc/drill-manifest /tmp/drill-now; then
      echo "DRILL-CHECK: OK, $(wc -l </tmp/drill-now) entries as on the source"
    else
      echo "DRILL-CHECK: DIFFERENT"
      diff /etc/drill-manifest /tmp/drill-now | head -50 | sed 's/^/DRILL-DIFF: /'
    fi ;;
esac
