//! `-Q file` (dump's Quick File Access positions), against dump 0.4b47: for
//! the same device rdump writes the same file as dump (but for the date),
//! and the reference `restore -x -Q`, which seeks the dump file to the
//! positions it reads there, extracts files from rdump's plain and
//! compressed dumps with rdump's positions (and fails with wrong ones).

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{build_image, require_root, restore, run, tool, ImageSpec, LoopDevice, Mount};

fn qfa_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// (inode, volume, offset) rows after the heading.
fn rows(lines: &[String]) -> Vec<(u32, u32, u64)> {
    lines[5..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "row {l:?}");
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// The regular files under `dir` by inode number, as paths relative to it.
fn regular_files(dir: &Path) -> std::collections::HashMap<u32, PathBuf> {
    let mut all = Vec::new();
    common::walk(dir, &mut all);
    all.into_iter()
        .filter_map(|rel| {
            let md = std::fs::symlink_metadata(dir.join(&rel)).unwrap();
            md.is_file().then(|| (md.ino() as u32, rel))
        })
        .collect()
}

/// The test image: ext4, 4 KiB blocks, no rdump extensions in it.
fn plain_image(w: &Path) -> PathBuf {
    let mut spec = ImageSpec::new("ext4", 4096);
    spec.plain = true;
    build_image(spec, w)
}

/// `restore -x -Q qfa -f dump ./path` into a fresh directory; the output.
fn reference_extract(
    work: &Path,
    tag: &str,
    dump: &Path,
    qfa: &Path,
    rel: &str,
) -> (bool, PathBuf, String) {
    let dir = work.join(tag);
    std::fs::create_dir(&dir).unwrap();
    let name = format!("./{rel}");
    let args = [
        OsStr::new("-x"),
        OsStr::new("-Q"),
        qfa.as_os_str(),
        OsStr::new("-f"),
        dump.as_os_str(),
        OsStr::new(&name),
    ];
    let o = restore(&dir, &args, "n\n");
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    (o.status.success(), dir.join(rel), text)
}

#[test]
fn positions_as_dump_writes_them_and_restore_seeks_with_them() {
    require_root();
    let work = tempfile::tempdir().expect("temp dir");
    let w = work.path();
    let image = plain_image(w);
    let (ours, ours_qfa, theirs_qfa) = (w.join("r.dump"), w.join("r.qfa"), w.join("d.qfa"));
    let (ours_z, ours_z_qfa) = (w.join("rz.dump"), w.join("rz.qfa"));
    {
        let dev = LoopDevice::new(&image);
        for (dump, qfa, z) in [(&ours, &ours_qfa, false), (&ours_z, &ours_z_qfa, true)] {
            let mut cmd = Command::new(common::rdump_bin());
            cmd.arg("-0");
            if z {
                cmd.arg("-z");
            }
            run(cmd.arg("-Q").arg(qfa).arg("-f").arg(dump).arg(&dev.0));
        }
        run(Command::new(tool("dump"))
            .env("BLKID_FILE", "/dev/null")
            .arg("-0")
            .arg("-Q")
            .arg(&theirs_qfa)
            .arg("-f")
            .arg(w.join("d.dump"))
            .arg(&dev.0));
        // Volumes of 1000 KiB (-B, -M): positions count from each volume's start.
        for (prog, tag) in [(common::rdump_bin(), "rv"), (tool("dump"), "dv")] {
            run(Command::new(prog)
                .env("BLKID_FILE", "/dev/null")
                .args(["-0", "-B", "1000", "-M", "-Q"])
                .arg(w.join(format!("{tag}.qfa")))
                .arg("-f")
                .arg(w.join(tag))
                .arg(&dev.0));
        }
    }
    let (a, b) = (qfa_lines(&w.join("rv.qfa")), qfa_lines(&w.join("dv.qfa")));
    assert_eq!(
        a[3..],
        b[3..],
        "the positions of a set of volumes differ from dump's"
    );
    assert!(
        rows(&a).iter().any(|r| r.1 > 2),
        "the set has fewer than 3 volumes"
    );
    let (a, b) = (qfa_lines(&ours_qfa), qfa_lines(&theirs_qfa));
    assert_eq!(a[..2], b[..2], "magic and version");
    assert!(a[2].parse::<i64>().is_ok(), "the date line: {:?}", a[2]);
    assert_eq!(a[3..], b[3..], "the positions differ from dump's");
    assert!(rows(&a).len() > 20, "too few positions to mean anything");

    // Files whose inodes start a record, early, in the middle and last.
    let source = Mount::new(&image, &w.join("src"), true);
    let paths = regular_files(&source.dir);
    for (dump, qfa, tag) in [(&ours, &ours_qfa, "plain"), (&ours_z, &ours_z_qfa, "z")] {
        let listed = rows(&qfa_lines(qfa));
        let picks: Vec<_> = [1, listed.len() / 2, listed.len() - 1]
            .iter()
            .filter_map(|&i| paths.get(&listed[i].0).map(|p| (listed[i], p)))
            .collect();
        assert!(picks.len() >= 2, "{tag}: no regular files among the picks");
        for ((ino, _, _), path) in &picks {
            let rel = path.to_str().unwrap();
            let (ok, got, text) = reference_extract(w, &format!("{tag}-{ino}"), dump, qfa, rel);
            assert!(
                ok && text.contains("reading QFA positions"),
                "{tag} {rel}:\n{text}"
            );
            let want = std::fs::read(source.dir.join(path)).unwrap();
            assert_eq!(std::fs::read(&got).unwrap(), want, "{tag} {rel}");
        }
        // Shifted positions: restore seeks to them and cannot read there,
        // so the positions above were used.
        let shifted = w.join(format!("{tag}-shifted.qfa"));
        let mut lines = qfa_lines(qfa);
        for l in lines.iter_mut().skip(5) {
            let mut f: Vec<String> = l.split('\t').map(str::to_string).collect();
            f[2] = (f[2].parse::<u64>().unwrap() + 3000).to_string();
            *l = f.join("\t");
        }
        std::fs::write(&shifted, lines.join("\n") + "\n").unwrap();
        let ((ino, _, _), path) = picks[picks.len() - 1];
        let rel = path.to_str().unwrap();
        let (_, got, text) =
            reference_extract(w, &format!("{tag}-shifted-{ino}"), dump, &shifted, rel);
        let same = std::fs::read(&got).ok() == std::fs::read(source.dir.join(path)).ok();
        assert!(
            !same || text.contains("error"),
            "{tag}: shifted positions went unnoticed:\n{text}"
        );
    }
}

/// `rrestore -x -v [-Q qfa] -f dump ./rel` into a fresh directory: whether
/// it succeeded, the file it wrote, what it said, and the bytes it read.
fn our_extract(
    work: &Path,
    tag: &str,
    dump: &Path,
    qfa: Option<&Path>,
    rel: &str,
) -> (bool, PathBuf, String, Option<u64>) {
    let dir = work.join(tag);
    std::fs::create_dir(&dir).unwrap();
    let mut cmd = Command::new(common::rrestore_bin());
    cmd.args(["-x", "-v"]);
    if let Some(q) = qfa {
        cmd.arg("-Q").arg(q);
    }
    let o = cmd
        .arg("-f")
        .arg(dump)
        .arg(format!("./{rel}"))
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    // "Read N of the dump's M bytes (P%)"
    let read = text
        .lines()
        .find_map(|l| l.strip_prefix("Read "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok());
    (o.status.success(), dir.join(rel), text, read)
}

/// rrestore -x -Q goes straight to the record the QFA file names, for
/// rdump's and dump's positions, plain and compressed; with positions that
/// are wrong it warns and finds the file by searching; a QFA file of another
/// dump is refused before anything is written. rrestore -P makes the same
/// QFA file from the dump alone.
#[test]
fn rrestore_seeks_with_the_positions() {
    require_root();
    let work = tempfile::tempdir().expect("temp dir");
    let w = work.path();
    let image = plain_image(w);
    let sets = [
        ("r", common::rdump_bin(), false),
        ("rz", common::rdump_bin(), true),
        ("d", tool("dump"), false),
    ];
    {
        let dev = LoopDevice::new(&image);
        for (tag, prog, z) in &sets {
            let mut cmd = Command::new(prog);
            cmd.env("BLKID_FILE", "/dev/null").arg("-0");
            if *z {
                cmd.arg("-z");
            }
            run(cmd
                .arg("-Q")
                .arg(w.join(format!("{tag}.qfa")))
                .arg("-f")
                .arg(w.join(format!("{tag}.dump")))
                .arg(&dev.0));
        }
    }
    let source = Mount::new(&image, &w.join("src"), true);
    let paths = regular_files(&source.dir);
    for (tag, _, _) in &sets {
        let (dump, qfa) = (w.join(format!("{tag}.dump")), w.join(format!("{tag}.qfa")));
        let listed = rows(&qfa_lines(&qfa));
        let (ino, path) = listed
            .iter()
            .rev()
            .find_map(|r| paths.get(&r.0).map(|p| (r.0, p)))
            .expect("a regular file among the positions");
        let rel = path.to_str().unwrap();
        let want = std::fs::read(source.dir.join(path)).unwrap();
        let (ok, got, text, searched) = our_extract(w, &format!("{tag}-search"), &dump, None, rel);
        assert!(ok, "{tag} {rel}:\n{text}");
        assert_eq!(std::fs::read(&got).unwrap(), want, "{tag} {rel}");
        let (ok, got, text, jumped) = our_extract(w, &format!("{tag}-qfa"), &dump, Some(&qfa), rel);
        assert!(
            ok && text.contains("reading QFA positions"),
            "{tag} {rel}:\n{text}"
        );
        assert!(!text.contains("positions are not used"), "{tag}:\n{text}");
        assert_eq!(std::fs::read(&got).unwrap(), want, "{tag} {rel}");
        let (searched, jumped) = (searched.unwrap(), jumped.unwrap());
        assert!(
            jumped < searched,
            "{tag} inode {ino}: read {jumped} bytes with -Q, {searched} without"
        );
        // rrestore -P of the dump writes the very file dump -Q (rdump -Q)
        // wrote when dumping; restore 0.4b47's -P gives its own read offsets.
        let again = w.join(format!("{tag}-P.qfa"));
        let o = Command::new(common::rrestore_bin())
            .arg("-P")
            .arg(&again)
            .arg("-f")
            .arg(&dump)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(qfa_lines(&again), qfa_lines(&qfa), "{tag}: rrestore -P");
        // Shifted positions: found wrong, said so, and the file still comes back.
        let shifted = w.join(format!("{tag}-shifted.qfa"));
        let mut lines = qfa_lines(&qfa);
        for l in lines.iter_mut().skip(5) {
            let mut f: Vec<String> = l.split('\t').map(str::to_string).collect();
            f[2] = (f[2].parse::<u64>().unwrap() + 3000).to_string();
            *l = f.join("\t");
        }
        std::fs::write(&shifted, lines.join("\n") + "\n").unwrap();
        let (ok, got, text, _) =
            our_extract(w, &format!("{tag}-shifted"), &dump, Some(&shifted), rel);
        assert!(
            ok && text.contains("positions are not used further"),
            "{tag}:\n{text}"
        );
        assert_eq!(std::fs::read(&got).unwrap(), want, "{tag} {rel}");
        // Another dump's positions (its date): refused, nothing written.
        let other = w.join(format!("{tag}-other.qfa"));
        let mut lines = qfa_lines(&qfa);
        lines[2] = (lines[2].parse::<i64>().unwrap() - 3600).to_string();
        std::fs::write(&other, lines.join("\n") + "\n").unwrap();
        let (ok, got, text, _) = our_extract(w, &format!("{tag}-other"), &dump, Some(&other), rel);
        assert!(!ok && text.contains("not of this one"), "{tag}:\n{text}");
        assert!(!got.exists(), "{tag}: a file was written");
    }
}
