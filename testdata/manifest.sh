#!/usr/bin/env bash
# Print a manifest of the tree under DIR (see tree-manifest.txt / README.md).
#
#   bash testdata/manifest.sh DIR
#
# Used by make-fixtures.sh to write tree-manifest.txt, and handy for checking
# a tree restored from a fixture dump against it (diff the two outputs).
set -euo pipefail
# stat names file types in the locale's language, sort orders by it: use C.
export LC_ALL=C
die() { echo "manifest.sh: ERROR: $*" >&2; exit 1; }
[[ $# -eq 1 && -d $1 ]] || die "usage: manifest.sh DIR"
for tool in find stat getfattr readlink sort sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH"
done

# make_manifest DIR: one line per path, sorted, tab separated:
#   path type mode(octal) uid gid size mtime extra xattr-names sha256
# type: f regular, d dir, l symlink, p fifo, c char dev, b block dev.
# size is "-" for directories (it depends on the block size).
# extra: symlink target, "major,minor" for devices, "nlink=N" for files.
# sha256: of the contents for regular files, "-" otherwise.
make_manifest() {
    local r=$1
    (
        cd "$r"
        printf '# path\ttype\tmode\tuid\tgid\tsize\tmtime\textra\txattrs\tsha256\n'
        find . -xdev -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' p; do
            local t mode uid gid size mtime extra xattrs sum=-
            read -r t mode uid gid size mtime <<<"$(stat -c '%F %a %u %g %s %Y' -- "$p" | sed 's/regular empty file/regular-file/; s/regular file/regular-file/; s/symbolic link/symlink/; s/character special file/char/; s/block special file/block/; s/fifo/fifo/')"
            case $t in
                regular-file) t=f; extra="nlink=$(stat -c %h -- "$p")"
                    sum=$(sha256sum < "$p"); sum=${sum%% *} ;;
                directory) t=d; size=-; extra=- ;;
                symlink) t=l; extra=$(readlink -- "$p") ;;
                fifo) t=p; extra=- ;;
                char) t=c; extra="$(stat -c '%Hr,%Lr' -- "$p")" ;;
                block) t=b; extra="$(stat -c '%Hr,%Lr' -- "$p")" ;;
                *) die "unexpected file type '$t' for $p" ;;
            esac
            if [[ $t == l ]]; then
                xattrs=-
            else
                xattrs=$(getfattr -h -m - --absolute-names -- "$p" 2>/dev/null \
                    | { grep -v -e '^#' -e '^$' || true; } | LC_ALL=C sort | paste -sd, -)
                [[ -n $xattrs ]] || xattrs=-
            fi
            printf '%s\t%s\t%04o\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$p" "$t" "0$mode" "$uid" "$gid" "$size" "$mtime" "$extra" "$xattrs" "$sum"
        done
    )
}

make_manifest "$1"
