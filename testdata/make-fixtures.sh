#!/usr/bin/env bash
# Regenerate the reference dump fixtures in this directory.
#
#   sudo bash testdata/make-fixtures.sh
#
# Builds a small, deterministic file tree inside four freshly made ext2/3/4
# images (loop-mounted), then dumps each image with the REFERENCE dump 0.4b47
# and records the reference `restore -t` / `restore -tv` listings next to each
# dump.  See README.md for the list of outputs.
#
# Everything that can be fixed is fixed: file contents, owners, modes, mtimes,
# filesystem UUIDs and hash seeds.  What cannot be fixed: dump stamps the
# current time (c_date) and host name into every header, and the kernel sets
# inode ctimes to "now" while populating, so regenerated dumps differ from the
# committed ones in those fields only.
set -euo pipefail

# ---------------------------------------------------------------------------
# Preconditions: fail loudly instead of producing half a fixture set.
# ---------------------------------------------------------------------------
die() { echo "make-fixtures.sh: ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (loop mounts, mknod, chown): sudo bash $0"

for tool in mke2fs debugfs dump restore setfattr getfattr setfacl losetup mount umount \
            mknod mkfifo truncate touch chown chmod stat find gzip python3 file; do
    command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH"
done
DUMP_VERSION=$(dump 2>&1 | head -1 || true)
[[ $DUMP_VERSION == *0.4b47* ]] || die "reference dump is not version 0.4b47: $DUMP_VERSION"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
WORK=$(mktemp -d /tmp/rdump-fixtures.XXXXXX)
MNT=$WORK/mnt
mkdir -p "$MNT"

cleanup() {
    cd /
    if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || true; fi
    if [[ -n ${LOOPDEV:-} ]]; then losetup -d "$LOOPDEV" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Fixed timestamps (UTC) so trees and listings are reproducible.
export TZ=UTC
MTIME_FILE='2021-03-04 05:06:07'
MTIME_OLD='2001-09-09 01:46:40'
MTIME_DIR='2022-02-22 22:22:22'
MTIME_ROOT='2023-01-01 00:00:00'
# mke2fs honours this for the superblock / root / lost+found times.
export E2FSPROGS_FAKE_TIME=1672531200

# A 255-byte file name (the ext2 maximum): "n" + 254 times "x".
LONGNAME="n$(printf 'x%.0s' $(seq 1 254))"
UTF8NAME='ünïcødé-名前.txt'
SLOW_TARGET='this/is/a/slow/symlink/target/that/is/definitely/longer/than/sixty/bytes/file'

# ---------------------------------------------------------------------------
# build_tree DIR: create the fixture tree in DIR (a freshly mounted image).
# Built in place rather than copied, so every filesystem gets byte-identical
# contents independent of the filesystem /tmp happens to live on.
# ---------------------------------------------------------------------------
build_tree() {
    local r=$1
    cd "$r"

    # --- regular files of interesting sizes --------------------------------
    : > empty
    printf 'hello, dump\n' > small.txt
    head -c 1024 /dev/zero | tr '\0' 'K' > exact-1k
    python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) & 0xff for i in range(4097)))' > four-k-plus-1
    python3 -c 'import sys; sys.stdout.write("".join("%d\n" % i for i in range(1, 30000))[:102400])' > hundred-k.txt

    # --- sparse file: 5 MiB with data at 0, 1 MiB and 3 bytes before the end
    truncate -s 5M sparse
    printf 'AAA' | dd of=sparse bs=1 seek=0 conv=notrunc status=none
    printf 'BBB' | dd of=sparse bs=1 seek=$((1024 * 1024)) conv=notrunc status=none
    printf 'ZZZ' | dd of=sparse bs=1 seek=$((5 * 1024 * 1024 - 3)) conv=notrunc status=none

    # --- hard-link group of three names -------------------------------------
    mkdir -p links
    printf 'linked content\n' > links/hl-a
    ln links/hl-a links/hl-b
    ln links/hl-a hl-c-at-top

    # --- symlinks: fast (target in inode) and slow (target in a block) ------
    ln -s small.txt fast-symlink
    ln -s "$SLOW_TARGET" slow-symlink

    # --- special files ------------------------------------------------------
    mkdir -p dev
    mkfifo dev/fifo
    mknod dev/null-like c 1 3
    mknod dev/sda1-like b 8 1
    mknod dev/big-char c 300 70000

    # --- special mode bits (chmod happens after chown, which clears them) --
    mkdir -p modes
    printf 'setuid\n' > modes/setuid
    printf 'setgid\n' > modes/setgid
    mkdir modes/setgid-dir
    mkdir modes/sticky-dir
    printf 'all bits\n' > modes/all-bits
    printf 'no perms\n' > modes/no-perms

    # --- deep directory path (10 levels) ------------------------------------
    mkdir -p deep/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10
    printf 'bottom\n' > deep/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/bottom.txt

    # --- odd names ------------------------------------------------------------
    mkdir -p names
    printf 'space\n' > 'names/with space'
    printf 'dash\n' > 'names/-leading-dash'
    printf 'utf8\n' > "names/$UTF8NAME"
    printf 'long\n' > "names/$LONGNAME"

    # --- files that get xattrs / ACLs below ---------------------------------
    mkdir -p attrs/acl-dir
    printf 'xattr file\n' > attrs/xattr-file
    printf 'acl file\n' > attrs/acl-file

    # --- empty directory ------------------------------------------------------
    mkdir -p empty-dir

    # --- owners (numeric; one needs all 32 bits) ---------------------------
    chown -R 0:0 .
    chown 1000:1000 small.txt exact-1k links/hl-a names "names/$UTF8NAME" attrs/acl-file
    chown 3000000000:3000000001 hundred-k.txt modes/setgid-dir "names/$LONGNAME"
    chown -h 1000:1000 fast-symlink
    chown -h 3000000000:1000 slow-symlink
    chown 65534:65534 dev/big-char

    # --- modes (explicit, so the umask does not matter) ---------------------
    find . -xdev -type d -print0 | xargs -0 chmod 0755
    find . -xdev -type f -print0 | xargs -0 chmod 0644
    chmod 0700 lost+found
    chmod 0600 four-k-plus-1
    chmod 0755 modes/setuid hundred-k.txt
    chmod 4755 modes/setuid
    chmod 2755 modes/setgid
    chmod 7777 modes/all-bits
    chmod 0000 modes/no-perms
    chmod 2775 modes/setgid-dir
    chmod 1777 modes/sticky-dir
    chmod 0644 dev/fifo
    chmod 0666 dev/null-like
    chmod 0660 dev/sda1-like dev/big-char

    # --- xattrs and POSIX ACLs (access + default) ---------------------------
    setfattr -n user.comment -v 'fixture comment' attrs/xattr-file
    setfattr -n user.binary -v 0x00ff10e2 attrs/xattr-file
    setfattr -n user.dircomment -v 'on a directory' attrs/acl-dir
    setfacl -m u:1000:rw-,g:1000:r--,m::rw- attrs/acl-file
    setfacl -m u:1000:rwx,g:1000:r-x attrs/acl-dir
    setfacl -d -m u:1000:rwx,g:1000:r-x,o::--- attrs/acl-dir

    # --- mtimes last: files first, then directories deepest first ----------
    find . -xdev ! -type d ! -name 'lost+found' -print0 | xargs -0 touch -h -d "$MTIME_FILE"
    touch -d "$MTIME_OLD" small.txt "names/$LONGNAME"
    find . -xdev -depth -type d -print0 | xargs -0 touch -d "$MTIME_DIR"
    touch -d "$MTIME_ROOT" .
    cd /
}

# ---------------------------------------------------------------------------
# make_image NAME SIZE_MB MKE2FS_ARGS...: create, populate and unmount an image.
# ---------------------------------------------------------------------------
make_image() {
    local name=$1 size=$2; shift 2
    local img=$WORK/$name.img
    echo "== $name: mke2fs $*"
    truncate -s "${size}M" "$img"
    mke2fs -q -F -L "$name" -U 5a5a5a5a-0000-4000-8000-00000000000$((++IMGNO)) \
        -E hash_seed=12345678-1234-4234-8234-123456789abc "$@" "$img"
    mount -o loop "$img" "$MNT"
    build_tree "$MNT"
    if [[ $name == ext4-4k ]]; then
        bash "$HERE/manifest.sh" "$MNT" > "$OUT/tree-manifest.txt"
    fi
    umount "$MNT"
    sync
}
IMGNO=0

# dump_image NAME OUTNAME DUMP_ARGS...: dump image, record listings.
dump_image() {
    local name=$1 out=$2; shift 2
    echo "== dump $* of $name -> $out.dump"
    # -0 full dump, no -u (would write /etc/dumpdates).
    # dump resolves a plain image path as a directory of the mounted root
    # filesystem, so hand it a read-only loop device instead.
    local dev rc=0
    dev=$(losetup -r -f --show "$WORK/$name.img")
    LOOPDEV=$dev
    # -L: explicit label; the default comes from a blkid cache that can be
    # stale for a reused loop device.
    dump -0 -L "$name" "$@" -f "$OUT/$out.dump" "$dev" > "$WORK/$out.dump.log" 2>&1 || rc=$?
    losetup -d "$dev"
    LOOPDEV=
    [[ $rc -eq 0 ]] || { cat "$WORK/$out.dump.log" >&2; die "dump failed for $out"; }
    record_listings "$out"
}

# record_listings OUT: reference `restore -tv` / `restore -t` listings.
# Only stdout is recorded (stderr carries e.g. "Dump tape is compressed.").
record_listings() {
    local out=$1
    restore -tvf "$OUT/$out.dump" > "$OUT/$out.restore-tv.txt" 2> "$WORK/$out.tv.err" \
        || { cat "$WORK/$out.tv.err" >&2; die "restore -tv failed for $out"; }
    restore -tf "$OUT/$out.dump" > "$OUT/$out.restore-t.txt" 2> "$WORK/$out.t.err" \
        || { cat "$WORK/$out.t.err" >&2; die "restore -t failed for $out"; }
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
rm -f "$OUT"/*.dump "$OUT"/*.img.gz "$OUT"/*.restore-t.txt "$OUT"/*.restore-tv.txt \
      "$OUT"/tree-manifest.txt

make_image ext2-1k 12 -t ext2 -b 1024 -I 128
make_image ext3-4k 16 -t ext3 -b 4096
make_image ext4-4k 16 -t ext4 -b 4096
make_image ext4-1k 12 -t ext4 -b 1024

dump_image ext2-1k ext2-1k
dump_image ext3-4k ext3-4k
dump_image ext4-4k ext4-4k
dump_image ext4-4k ext4-4k.zlib -z6
dump_image ext4-4k ext4-4k.bzip2 -j6
dump_image ext4-4k ext4-4k.b64 -b 64
dump_image ext4-1k ext4-1k

# Big-endian variant of the smallest uncompressed dump (see swap-endian.py).
python3 "$HERE/swap-endian.py" "$OUT/ext2-1k.dump" "$OUT/ext2-1k.be.dump"
record_listings ext2-1k.be

# Images are stored gzip-compressed (-n: no name/time in the gzip header).
for name in ext2-1k ext3-4k ext4-4k ext4-1k; do
    gzip -n -9 -c "$WORK/$name.img" > "$OUT/$name.img.gz"
done

echo "== outputs"
(cd "$OUT" && file ./*.dump && ls -l && du -sh .)
