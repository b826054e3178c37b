//! `-W` and `-w` against the reference dump 0.4b47: the same mount tables
//! and dumpdates file give byte-identical output, warnings and exit status.
//!
//! dump reads /etc/mtab and /etc/fstab and nothing lets it read others, so
//! both tools run in a private mount namespace (unshare -m) in which a copy
//! of /etc with the test's fstab and mtab is bind-mounted over /etc. The
//! devices are block device nodes made with mknod in the test's directory
//! (dump lists only block devices; no driver is needed behind them).

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

use common::{rdump_bin, require_root, tool};

/// Runs `program args` with `fstab` and `mtab` as /etc/fstab and /etc/mtab.
fn with_tables(work: &Path, fstab: &str, mtab: &str, program: &Path, args: &[&str]) -> Output {
    let etc = work.join("etc-copy");
    fs::write(work.join("fstab"), fstab).unwrap();
    fs::write(work.join("mtab"), mtab).unwrap();
    let script = r#"set -e
mount --make-rprivate /
etc=$1; shift
mount -t tmpfs tmpfs "$etc"
cp -a /etc/. "$etc"/
rm -f "$etc/fstab" "$etc/mtab"
cp "$1" "$etc/fstab"; cp "$2" "$etc/mtab"; shift 2
mount --bind "$etc" /etc
set +e
exec "$@""#;
    fs::create_dir_all(&etc).unwrap();
    Command::new(tool("unshare"))
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&etc)
        .arg(work.join("fstab"))
        .arg(work.join("mtab"))
        .arg(program)
        .args(args)
        .current_dir(work)
        .output()
        .expect("run unshare")
}

fn same_as_dump(work: &Path, fstab: &str, mtab: &str, args: &[&str]) -> String {
    let theirs = with_tables(work, fstab, mtab, &tool("dump"), args);
    let ours = with_tables(work, fstab, mtab, &rdump_bin(), args);
    let text = |o: &Output| {
        format!(
            "status {:?}\nstdout:\n{}stderr:\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert_eq!(
        text(&ours),
        text(&theirs),
        "rdump {args:?} differs from dump (left: rdump)\nfstab:\n{fstab}mtab:\n{mtab}"
    );
    text(&ours)
}

fn mknod_block(path: &Path, minor: u32) {
    let out = Command::new(tool("mknod"))
        .arg(path)
        .args(["b", "7", &minor.to_string()])
        .output()
        .expect("run mknod");
    assert!(out.status.success(), "mknod {}: {out:?}", path.display());
}

/// A dumpdates line dated `days` days before now.
fn line(disk: &str, level: u32, now: i64, days: f64) -> String {
    let date = now - (days * 86_400.0) as i64;
    format!("{}\n", rdump::dumpdates::line(disk, level, date))
}

#[test]
fn w_reports_like_dump() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dev = |n: &str| w.join(n).to_string_lossy().into_owned();
    for (i, n) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
        mknod_block(&w.join(n), 200 + i as u32);
    }
    symlink(w.join("a"), w.join("link-to-a")).unwrap();
    fs::write(w.join("plain-file"), b"").unwrap();
    let now = chrono::Utc::now().timestamp();
    let (a, b, c, d, e, f, g) = (
        dev("a"),
        dev("b"),
        dev("c"),
        dev("d"),
        dev("e"),
        dev("f"),
        dev("g"),
    );
    // mtab first; fstab adds what it lacks, lends a frequency to an entry
    // with none, and may name a device through a symlink; not ext*, not a
    // block device, unknown labels and missing devices are left out.
    let mtab = format!(
        "{a} /m/a ext4 rw 0 0\n{b} /m/b/ ext3 rw 3 0\nproc /proc proc rw 0 0\n\
         {c} /m/c ext2 rw 0 0\n"
    );
    let fstab = format!(
        "# the test's fstab\n{link} /f/a ext4 defaults 2 1\n{b} /f/b ext4 defaults 9 2\n\
         {d} / ext4 defaults 1 1\n{e} /a/rather/long/mount/point ext4 noauto 7 2\n\
         {f} /xfs xfs defaults 1 2\n{plain} /plain ext4 defaults 1 2\n\
         LABEL=no-such-label-here /lbl ext4 defaults 1 2\n{w}/missing /miss ext4 defaults 1 2\n\
         {g}  /g  ext4  defaults  0  0\n",
        link = dev("link-to-a"),
        plain = dev("plain-file"),
        w = w.display(),
    );
    let mut dates = String::new();
    // a: the newest of three, one day apart (frequency 2 from fstab).
    dates += &line(&a, 0, now, 5.0);
    dates += &line(&a, 1, now, 1.0);
    dates += &line(&a, 2, now, 3.0);
    // b: frequency 3 from mtab (fstab's 9 is not taken): due.
    dates += &line(&b, 0, now, 4.0);
    // d: dumped 0.9 days ago with frequency 1: not due.
    dates += &line(&d, 0, now, 0.9);
    // e: two lines with the same date: the first wins.
    dates += &line(&e, 5, now, 8.0);
    dates += &line(&e, 4, now, 8.0);
    // Devices of no table, out of order, one short name, one through a link.
    dates += &line("/zz/other", 1, now, 2.0);
    dates += &line("/aa", 3, now, 1.0);
    dates += &line(&dev("link-to-a"), 0, now, 1.0);
    // A wrong weekday is read as dump reads it (it is not checked).
    dates += "/dev/odd 2 Mon Nov 26 13:22:03 2022 +0000\n";
    fs::write(w.join("dumpdates"), &dates).unwrap();
    for opt in ["-W", "-w"] {
        let out = same_as_dump(w, &fstab, &mtab, &["-D", "dumpdates", opt]);
        assert!(out.contains("status Some(0)"), "{out}");
    }
    let report = same_as_dump(w, &fstab, &mtab, &["-D", "dumpdates", "-W"]);
    // The checks that make sure the comparison covered every case.
    assert!(report.contains("> "), "{report}");
    assert!(report.contains("Last dump: never"), "{report}");
    assert!(report.contains("(      ) Last dump"), "{report}");

    // A bad line ends the file (with dump's warning); a missing file
    // gives dump's warning and "never" everywhere; options after -W are
    // not read (dump acts on -W at once), so -D must come first.
    fs::write(
        w.join("bad"),
        format!(
            "{}garbage\n{}",
            line(&a, 0, now, 1.0),
            line(&b, 0, now, 1.0)
        ),
    )
    .unwrap();
    same_as_dump(w, &fstab, &mtab, &["-D", "bad", "-W"]);
    same_as_dump(w, &fstab, &mtab, &["-D", "no-such-file", "-w"]);
    same_as_dump(w, &fstab, &mtab, &["-W", "-D", "dumpdates"]);
    // No table at all and no dumpdates file; no table but a dumpdates file.
    same_as_dump(w, "", "", &["-D", "no-such-file", "-W"]);
    same_as_dump(w, "", "", &["-D", "dumpdates", "-W"]);
    // A frequency above 3659 days aborts with status 3.
    let big = format!("{a} /m/a ext4 rw 4000 0\n");
    let out = same_as_dump(w, &fstab, &big, &["-D", "dumpdates", "-W"]);
    assert!(out.contains("status Some(3)"), "{out}");
}
