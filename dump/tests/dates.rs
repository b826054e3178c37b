//! Dates at the instants, zones and locales where date handling goes wrong:
//! a one-digit day (asctime pads it: "Jan  5"), the 31st, 29 February, both
//! sides of both DST changes in Europe/Berlin (the autumn hour happens twice),
//! past 2038, a half-hour UTC offset (America/St_Johns) and a German locale.
//!
//! For each case the reference dump 0.4b47 and rdump run under libfaketime
//! (Debian package faketime), frozen at the same instant, on the same read-only
//! loop device:
//! - `-0u` writes the same dumpdates line, byte for byte;
//! - `-1 -T <the date exactly as the file holds it>` is accepted by both and
//!   both print the same "Date of last level 0 dump" (the bug of issue 14 was a
//!   test that re-joined that date with single spaces);
//! - restore -t and rrestore -t print the same "Dump date"/"Dumped from" lines
//!   for both tools' dumps.
//!
//! Every expected date is also checked against date(1) formatting the instant,
//! an oracle independent of both tools. Past 2038 the reference is lossy: its
//! 32-bit c_date wraps, so its dumpdates line and restore's listing say 1902;
//! rdump records the true date and rrestore lists it (c_date read unsigned).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{dumpdates_date, rdump_bin, require_root, rrestore_bin, run, tool};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// One instant to dump at, in one zone and locale.
struct Case {
    /// The instant, as date(1) reads it (UTC).
    utc: &'static str,
    tz: &'static str,
    lang: &'static str,
}

const CASES: &[Case] = &[
    // One-digit day: the padding that broke CI on the 1st to 9th.
    Case {
        utc: "2027-01-05 03:44:31",
        tz: "UTC",
        lang: "C",
    },
    Case {
        utc: "2026-12-31 23:59:59",
        tz: "UTC",
        lang: "C",
    },
    Case {
        utc: "2028-02-29 12:00:00",
        tz: "UTC",
        lang: "C",
    },
    // Europe/Berlin springs forward at 01:00 UTC on 29 March 2026.
    Case {
        utc: "2026-03-29 00:59:30",
        tz: "Europe/Berlin",
        lang: "C",
    },
    Case {
        utc: "2026-03-29 01:00:30",
        tz: "Europe/Berlin",
        lang: "C",
    },
    // ... and falls back at 01:00 UTC on 25 October 2026: 02:30 local twice.
    Case {
        utc: "2026-10-25 00:30:00",
        tz: "Europe/Berlin",
        lang: "C",
    },
    Case {
        utc: "2026-10-25 01:30:00",
        tz: "Europe/Berlin",
        lang: "C",
    },
    Case {
        utc: "2039-01-03 12:00:00",
        tz: "Europe/Berlin",
        lang: "C",
    },
    Case {
        utc: "2026-12-02 03:44:31",
        tz: "America/St_Johns",
        lang: "C",
    },
    Case {
        utc: "2026-12-02 03:44:31",
        tz: "Europe/Berlin",
        lang: "de_DE.UTF-8",
    },
];

/// Seconds since the epoch of a UTC date, by date(1).
fn epoch(utc: &str) -> i64 {
    let o = run(Command::new("date")
        .env("TZ", "UTC")
        .args(["-d", utc, "+%s"]));
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// date(1)'s rendering of `secs` in `tz` with `format` (the oracle).
fn date_in(secs: i64, tz: &str, format: &str) -> String {
    let o = run(Command::new("date")
        .env("TZ", tz)
        .env("LC_ALL", "C")
        .arg("-d")
        .arg(format!("@{secs}"))
        .arg(format!("+{format}")));
    String::from_utf8_lossy(&o.stdout).trim_end().to_string()
}

/// A command whose clock libfaketime freezes at `secs`, in the case's zone and
/// locale.
fn at(program: &Path, secs: i64, case: &Case) -> Command {
    let mut c = Command::new(program);
    c.env("LD_PRELOAD", LIBFAKETIME)
        .env("FAKETIME_FMT", "%s")
        .env("FAKETIME", secs.to_string())
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("TZ", case.tz)
        .env("LANG", case.lang)
        .env("LC_ALL", case.lang);
    c
}

/// The line of `stderr` that starts (after dump's prefix) with `what`.
fn line_with<'a>(stderr: &'a str, what: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?} in:\n{stderr}"))
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// restore's or rrestore's "Dump   date" and "Dumped from" lines for `dump`.
fn listed_dates(restore: &Path, dump: &Path, case: &Case) -> Vec<String> {
    let o = run(Command::new(restore)
        .arg("-tf")
        .arg(dump)
        .env("TZ", case.tz)
        .env("LANG", case.lang)
        .env("LC_ALL", case.lang));
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr_of(&o);
    text.lines()
        .filter(|l| l.starts_with("Dump   date:") || l.starts_with("Dumped from:"))
        .map(str::to_string)
        .collect()
}

/// A read-only loop device over `image`, detached on drop.
struct Loop(String);

impl Loop {
    fn new(image: &Path) -> Loop {
        let o = run(Command::new(tool("losetup"))
            .args(["-f", "--show", "-r"])
            .arg(image));
        Loop(String::from_utf8_lossy(&o.stdout).trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

fn check_prerequisites() {
    require_root();
    assert!(
        Path::new(LIBFAKETIME).is_file(),
        "{LIBFAKETIME} is missing: install the Debian package faketime (the CI installs it)"
    );
    let locales = run(Command::new("locale").arg("-a"));
    assert!(
        String::from_utf8_lossy(&locales.stdout)
            .lines()
            .any(|l| l.eq_ignore_ascii_case("de_DE.utf8")),
        "the locale de_DE.UTF-8 is not generated: install locales and run locale-gen for it \
         (the CI does)"
    );
    for zone in ["Europe/Berlin", "America/St_Johns"] {
        assert!(
            Path::new("/usr/share/zoneinfo").join(zone).is_file(),
            "time zone {zone} is missing: install tzdata"
        );
    }
}

/// Both tools' level 0 under the frozen clock: the dumpdates lines and the dumps.
fn level0(dev: &str, dir: &Path, secs: i64, case: &Case) -> [(PathBuf, String, PathBuf); 2] {
    [("ref", tool("dump")), ("ours", rdump_bin())].map(|(name, program)| {
        let dumpdates = dir.join(format!("{name}.dumpdates"));
        std::fs::write(&dumpdates, "").unwrap();
        let out = dir.join(format!("{name}0.dump"));
        let o = at(&program, secs, case)
            .args(["-0u", "-D"])
            .arg(&dumpdates)
            .arg("-f")
            .arg(&out)
            .arg(dev)
            .output()
            .unwrap();
        assert!(o.status.success(), "{program:?} -0u: {}", stderr_of(&o));
        (
            dumpdates.clone(),
            std::fs::read_to_string(&dumpdates).unwrap(),
            out,
        )
    })
}

#[test]
fn dates_match_the_reference_at_every_awkward_instant() {
    check_prerequisites();
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("fs.img");
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/ext4-1k.img.gz");
    let o = run(Command::new("zcat").arg(&gz));
    std::fs::write(&image, o.stdout).unwrap();
    let dev = Loop::new(&image);

    for (n, case) in CASES.iter().enumerate() {
        let what = format!("{} UTC in {} ({})", case.utc, case.tz, case.lang);
        let secs = epoch(case.utc);
        let dir = work.path().join(n.to_string());
        std::fs::create_dir(&dir).unwrap();
        let [(_, ref_line, ref_dump), (_, our_line, our_dump)] = level0(&dev.0, &dir, secs, case);

        // The line, by the oracle: "<dev> 0 <asctime> <offset>".
        let asctime = "%a %b %e %H:%M:%S %Y";
        let expected = format!(
            "{} 0 {}\n",
            dev.0,
            date_in(secs, case.tz, &format!("{asctime} %z"))
        );
        assert_eq!(our_line, expected, "rdump's dumpdates line at {what}");
        let past_2038 = secs > i64::from(i32::MAX);
        if past_2038 {
            // dump 0.4b47 keeps the date in 32 bits and writes the wrapped one.
            let wrapped = i64::from(secs as i32);
            let lossy = format!(
                "{} 0 {}\n",
                dev.0,
                date_in(wrapped, case.tz, &format!("{asctime} %z"))
            );
            assert_eq!(ref_line, lossy, "the reference's dumpdates line at {what}");
        } else {
            assert_eq!(our_line, ref_line, "dumpdates lines differ at {what}");
        }

        // -T with the date exactly as rdump's file holds it, one hour later.
        let since = dumpdates_date(our_line.trim_end());
        let later = secs + 3600;
        let level1 = |program: PathBuf, name: &str| {
            let o = at(&program, later, case)
                .args(["-1", "-T", &since, "-f"])
                .arg(dir.join(format!("{name}1.dump")))
                .arg(&dev.0)
                .output()
                .unwrap();
            let err = stderr_of(&o);
            assert!(
                o.status.success(),
                "{program:?} -1 -T {since:?} at {what}: {err}"
            );
            line_with(&err, "Date of last level").trim().to_string()
        };
        let ours = level1(rdump_bin(), "ours");
        let shown = date_in(secs, case.tz, asctime);
        assert_eq!(
            ours,
            format!("DUMP: Date of last level ? dump: {shown}"),
            "{what}"
        );
        // The reference refuses a -T date past 2038 ("bad time").
        let levels1: &[&str] = if past_2038 {
            &["ours"]
        } else {
            &["ours", "ref"]
        };
        if !past_2038 {
            assert_eq!(ours, level1(tool("dump"), "ref"), "-T {since:?} at {what}");
        }

        // What the listings say of both tools' dumps.
        let dump_line = format!("Dump   date: {shown}");
        for dump in [&ref_dump, &our_dump] {
            let ours = listed_dates(&rrestore_bin(), dump, case);
            assert_eq!(ours[0], dump_line, "rrestore -t of {dump:?} at {what}");
            let reference = listed_dates(&tool("restore"), dump, case);
            if !past_2038 {
                assert_eq!(
                    ours, reference,
                    "restore -t and rrestore -t of {dump:?} at {what}"
                );
            }
        }
        for name in levels1 {
            let dump = dir.join(format!("{name}1.dump"));
            let ours = listed_dates(&rrestore_bin(), &dump, case);
            assert_eq!(
                ours[1],
                format!("Dumped from: {shown}"),
                "{dump:?} at {what}"
            );
            if !past_2038 {
                assert_eq!(ours, listed_dates(&tool("restore"), &dump, case), "{what}");
            }
        }
    }
}

/// rdump's own reading of a dumpdates file under every case's zone and
/// locale: `-1` without -T finds the level 0 line the reference dump wrote.
#[test]
fn rdump_reads_the_reference_dumpdates_in_every_zone() {
    check_prerequisites();
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("fs.img");
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/ext4-1k.img.gz");
    std::fs::write(&image, run(Command::new("zcat").arg(&gz)).stdout).unwrap();
    let dev = Loop::new(&image);
    for case in CASES.iter().filter(|c| epoch(c.utc) <= i64::from(i32::MAX)) {
        let secs = epoch(case.utc);
        let dumpdates = work.path().join("dumpdates");
        std::fs::write(&dumpdates, "").unwrap();
        let o = at(&tool("dump"), secs, case)
            .args(["-0u", "-D"])
            .arg(&dumpdates)
            .args(["-f", "/dev/null", &dev.0])
            .output()
            .unwrap();
        assert!(o.status.success(), "dump -0u: {}", stderr_of(&o));
        let o = at(&rdump_bin(), secs + 60, case)
            .args([OsStr::new("-1"), OsStr::new("-D")])
            .arg(&dumpdates)
            .args(["-f", "/dev/null", &dev.0])
            .output()
            .unwrap();
        let err = stderr_of(&o);
        assert!(o.status.success(), "rdump -1 at {}: {err}", case.utc);
        let shown = date_in(secs, case.tz, "%a %b %e %H:%M:%S %Y");
        assert_eq!(
            line_with(&err, "Date of last level 0 dump").trim(),
            format!("DUMP: Date of last level 0 dump: {shown}"),
            "{} in {}",
            case.utc,
            case.tz
        );
    }
}
