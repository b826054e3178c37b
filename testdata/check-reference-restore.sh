#!/usr/bin/env bash
# Extract every fixture dump with the REFERENCE restore and diff the result
# against tree-manifest.txt.  Prints the differences, which are the
# "Known reference losses" documented in README.md.
#
#   sudo bash testdata/check-reference-restore.sh
set -euo pipefail
die() { echo "check-reference-restore.sh: ERROR: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (restore sets owners and device nodes)"
command -v restore >/dev/null 2>&1 || die "reference 'restore' not found in PATH"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/rdump-check.XXXXXX)
trap 'cd /; rm -rf "$WORK"' EXIT

# lost+found and the root's own line differ only by design (mkfs vs restore).
filter() { grep -v -e '^\./lost+found' -e "^\.	" "$1"; }

for dumpfile in "$HERE"/*.dump; do
    name=$(basename "$dumpfile" .dump)
    mkdir -p "$WORK/$name"
    # Answers: "Specify next volume #" -> 1, "set owner/mode for '.'?" -> y.
    (cd "$WORK/$name" && printf '1\ny\n' | restore -xf "$dumpfile" > "$WORK/$name.log" 2>&1) \
        || { cat "$WORK/$name.log" >&2; die "restore -x failed for $name"; }
    rm -f "$WORK/$name/restoresymtable"
    bash "$HERE/manifest.sh" "$WORK/$name" > "$WORK/$name.manifest"
    echo "=== $name"
    diff <(filter "$HERE/tree-manifest.txt") <(filter "$WORK/$name.manifest") | cut -c1-160 || true
    grep -h 'cannot\|error\|Error' "$WORK/$name.log" || true
done
