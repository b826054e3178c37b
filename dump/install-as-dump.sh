#!/bin/sh
# install-as-dump.sh: make rdump and rrestore the /sbin/dump and /sbin/restore
# that Amanda (and any script calling dump) runs, or put the reference tools back.
#
#   install-as-dump.sh [--dry-run] [--yes] install [RDUMP [RRESTORE]]
#   install-as-dump.sh [--dry-run] [--yes] uninstall
#   install-as-dump.sh status
#
# RDUMP and RRESTORE default to /usr/local/sbin/rdump and /usr/local/sbin/rrestore
# (not /sbin: Debian's dump package already ships /sbin/rdump and /sbin/rrestore,
# its remote-tape names for dump and restore).
#
# Why dpkg-divert: the reference binaries are renamed, not overwritten
# (/sbin/dump.distrib, /sbin/restore.distrib), dpkg records it, so an upgrade of
# the dump package installs its new binaries under the .distrib names instead of
# replacing ours, and `uninstall` renames them back exactly. The alternatives
# system would need the dump package's cooperation; a bind mount does not
# survive a reboot without an fstab line and hides the reference tools.
set -eu

SBIN=/sbin
dry_run=no
assume_yes=no

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

say() { printf '%s\n' "$*"; }
die() { printf 'install-as-dump.sh: %s\n' "$*" >&2; exit 1; }

# Runs a command, or only prints it with --dry-run.
act() {
    say "+ $*"
    [ "$dry_run" = yes ] || "$@"
}

confirm() {
    [ "$assume_yes" = yes ] && return 0
    [ "$dry_run" = yes ] && return 0
    [ -t 0 ] || die "not a terminal: give --yes to $1 (or --dry-run to see the commands)"
    printf '%s? [y/N] ' "$1"
    read -r answer
    case "$answer" in y | Y | yes) return 0 ;; *) die "nothing changed" ;; esac
}

# Whether NAME (dump or restore) is diverted by us.
diverted() {
    dpkg-divert --list "$SBIN/$1" | grep -q "^local diversion of $SBIN/$1 to $SBIN/$1.distrib$"
}

check_binary() {
    [ -x "$2" ] || die "$2 is not an executable: build and install it first (cargo build --release; install -m 755 target/release/$1 $2)"
    "$2" --version 2>/dev/null | grep -q . || die "$2 --version failed: is it $1?"
}

install_one() { # NAME BINARY
    if diverted "$1"; then
        say "$SBIN/$1 is already diverted to $SBIN/$1.distrib"
    else
        act dpkg-divert --local --rename --divert "$SBIN/$1.distrib" --add "$SBIN/$1"
    fi
    act ln -sfn "$2" "$SBIN/$1"
}

uninstall_one() { # NAME
    if ! diverted "$1"; then
        say "$SBIN/$1 is not diverted: nothing to undo"
        return 0
    fi
    if [ -L "$SBIN/$1" ]; then
        act rm -f "$SBIN/$1"
    elif [ -e "$SBIN/$1" ]; then
        die "$SBIN/$1 is not the symlink this script made: left alone"
    fi
    act dpkg-divert --local --rename --remove "$SBIN/$1"
}

status() {
    for n in dump restore; do
        if diverted "$n"; then
            say "$SBIN/$n -> $(readlink "$SBIN/$n") (reference tool at $SBIN/$n.distrib)"
        else
            say "$SBIN/$n: the reference tool (not diverted)"
        fi
    done
}

while [ $# -gt 0 ]; do
    case "$1" in
    --dry-run) dry_run=yes ;;
    --yes | -y) assume_yes=yes ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) break ;;
    esac
    shift
done
[ $# -ge 1 ] || usage
command -v dpkg-divert >/dev/null || die "dpkg-divert not found: this script is for Debian and its derivatives (see docs/AMANDA.md for a bind mount instead)"

case "$1" in
install)
    rdump=${2:-/usr/local/sbin/rdump}
    rrestore=${3:-/usr/local/sbin/rrestore}
    check_binary rdump "$rdump"
    check_binary rrestore "$rrestore"
    confirm "divert $SBIN/dump and $SBIN/restore to .distrib and link them to $rdump and $rrestore"
    install_one dump "$rdump"
    install_one restore "$rrestore"
    ;;
uninstall)
    confirm "put the reference $SBIN/dump and $SBIN/restore back"
    uninstall_one dump
    uninstall_one restore
    ;;
status) status ;;
*) usage ;;
esac
