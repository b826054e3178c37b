//! rdump's dumps read by the reference restore (Debian's dump 0.4b47):
//! images of every flavour are dumped by rdump, restored with `restore -r`
//! (or `-x`), and the restored tree is compared file by file with the
//! mounted source; `restore -C` must find no difference.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{
    build_image, compare_trees, dump_to, require_root, restore, run, tool, ImageSpec, Mount,
};

/// Dumps `spec`'s image with `options`, restores it with `restore -r` and
/// compares; then checks `restore -C` against the mounted source.
fn round_trip(spec: ImageSpec, options: &[&str]) {
    round_trip_with(spec, options, &[]);
}

/// [`round_trip`], passing `restore_options` to restore (restore needs `-b`
/// to read compressed dumps with records over 32 KiB, as with dump's own).
fn round_trip_with(spec: ImageSpec, options: &[&str], restore_options: &[&str]) {
    require_root();
    let work = tempfile::tempdir().expect("temp dir");
    let image = build_image(spec, work.path());
    let dump = work.path().join("out.dump");
    let stderr = dump_to(&image, &dump, options);
    assert!(stderr.contains("  DUMP: DUMP IS DONE"), "{stderr}");

    let source = Mount::new(&image, &work.path().join("src"), true);
    let target = work.path().join("restored");
    std::fs::create_dir(&target).unwrap();
    let mut args = vec![OsStr::new("-r"), OsStr::new("-f"), dump.as_os_str()];
    args.extend(restore_options.iter().map(OsStr::new));
    let out = restore(&target, &args, "");
    assert!(
        out.status.success(),
        "restore -r failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // restore -r leaves its symbol table behind and touches "." with it.
    let mut diffs = compare_trees(&source.dir, &target, &["restoresymtable", ".restore-tmp"]);
    diffs.retain(|d| !d.starts_with(".: mtime"));
    assert!(
        diffs.is_empty(),
        "restored tree differs from the source:\n{}",
        diffs.join("\n")
    );

    let mut args = vec![
        OsStr::new("-C"),
        OsStr::new("-f"),
        dump.as_os_str(),
        OsStr::new("-D"),
        source.dir.as_os_str(),
    ];
    args.extend(restore_options.iter().map(OsStr::new));
    let cmp = restore(work.path(), &args, "");
    let text =
        String::from_utf8_lossy(&cmp.stderr).into_owned() + &String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.status.success() && !text.contains("compare errors"),
        "restore -C found differences ({}):\n{text}",
        cmp.status
    );
}

#[test]
fn ext2_1k_blocks_uncompressed() {
    round_trip(ImageSpec::new("ext2", 1024), &[]);
}

#[test]
fn ext3_4k_blocks_bzip2() {
    round_trip(ImageSpec::new("ext3", 4096), &["-j"]);
}

#[test]
fn ext4_1k_blocks_zlib() {
    round_trip_with(
        ImageSpec::new("ext4", 1024),
        &["-z6", "-b", "64"],
        &["-b", "64"],
    );
}

#[test]
fn ext4_4k_blocks_with_a_5_gib_sparse_file() {
    let mut spec = ImageSpec::new("ext4", 4096);
    spec.huge_sparse = true;
    round_trip(spec, &["--threads", "3"]);
}

#[test]
fn ext4_inline_data() {
    let mut spec = ImageSpec::new("ext4", 4096);
    spec.features = Some("inline_data");
    round_trip(spec, &["-z"]);
}

/// `restore -x` (extract everything, answering restore's questions) gives
/// the same tree as `restore -r`.
#[test]
fn extract_with_restore_x() {
    require_root();
    let work = tempfile::tempdir().expect("temp dir");
    let image = build_image(ImageSpec::new("ext4", 1024), work.path());
    let dump = work.path().join("x.dump");
    dump_to(&image, &dump, &["-j9"]);
    let source = Mount::new(&image, &work.path().join("src"), true);
    let target = work.path().join("extracted");
    std::fs::create_dir(&target).unwrap();
    // Volume number 1, then "yes" to setting the owner and mode of ".".
    let out = restore(
        &target,
        &[OsStr::new("-x"), OsStr::new("-f"), dump.as_os_str()],
        "1\ny\n",
    );
    assert!(
        out.status.success(),
        "restore -x failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut diffs = compare_trees(&source.dir, &target, &[".restore-tmp"]);
    diffs.retain(|d| !d.starts_with(".: mtime"));
    assert!(
        diffs.is_empty(),
        "restore -x differs:\n{}",
        diffs.join("\n")
    );
}

/// `restore -t` lists every name of the source.
#[test]
fn table_of_contents() {
    require_root();
    let work = tempfile::tempdir().expect("temp dir");
    let image = build_image(ImageSpec::new("ext3", 1024), work.path());
    let dump = work.path().join("t.dump");
    dump_to(&image, &dump, &["-z"]);
    let out = run(std::process::Command::new(tool("restore"))
        .arg("-tf")
        .arg(&dump));
    let listing = String::from_utf8_lossy(&out.stdout);
    let source = Mount::new(&image, &work.path().join("src"), true);
    let mut paths = Vec::new();
    common::walk(&source.dir, &mut paths);
    for p in paths {
        let line = format!("./{}", p.display());
        assert!(
            listing.lines().any(|l| l.ends_with(&line)),
            "{line} missing from restore -t:\n{listing}"
        );
    }
    // The dump's own idea of what it is.
    let file = run(std::process::Command::new(tool("file")).arg(&dump));
    let text = String::from_utf8_lossy(&file.stdout);
    assert!(text.contains("new-fs dump file"), "{text}");
    assert!(Path::new(&dump).exists());
}
