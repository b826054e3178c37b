//! The commons-compress corpus: real and hostile dumps no one here wrote
//! (../shared/corpus/commons-compress/README.md says what to expect).

mod common;

use common::*;
use std::process::Command;

fn reference_listing(dump: &std::path::Path) -> String {
    require_tool("/usr/sbin/restore");
    let out = Command::new("/usr/sbin/restore")
        .arg("-tf")
        .arg(dump)
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn good_dumps_list_and_extract_like_the_reference() {
    require_tool("/usr/sbin/restore");
    for name in ["bla.dump", "bla.z.dump", "archive_with_trailer.dump"] {
        let dump = corpus().join(name);
        let out = run({
            let mut c = rrestore();
            c.arg("-tf").arg(&dump).env("TZ", "UTC");
            c
        });
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            reference_listing(&dump),
            "{name}"
        );

        let ours = scratch(&format!("corpus-ours-{name}"));
        let theirs = scratch(&format!("corpus-ref-{name}"));
        let out = run({
            let mut c = rrestore();
            c.arg("xf").arg(&dump).current_dir(&ours);
            c
        });
        assert!(out.status.success(), "{name}: {out:?}");
        let st = Command::new("/usr/sbin/restore")
            .arg("-xayf")
            .arg(&dump)
            .current_dir(&theirs)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(st.status.success(), "reference restore failed on {name}");
        for f in ["test1.xml", "test2.xml"] {
            let a = std::fs::read(ours.join(f)).unwrap();
            let b = std::fs::read(theirs.join(f)).unwrap();
            assert_eq!(a, b, "{name}: {f}");
            assert!(!a.is_empty());
        }
        assert!(ours.join("lost+found").is_dir());
        remove_tree(&ours);
        remove_tree(&theirs);
    }
}

#[test]
fn synthetic_long_names_are_listed() {
    for name in [
        "long-name.dump",
        "long-name-reversed.dump",
        "max-segment-length.dump",
    ] {
        let out = run({
            let mut c = rrestore();
            c.arg("-tf").arg(corpus().join(name));
            c
        });
        let stdout = String::from_utf8_lossy(&out.stdout);
        let long = stdout
            .lines()
            .filter(|l| l.contains(&"a".repeat(100)))
            .count();
        assert!(long >= 1, "{name}: no long name listed:\n{stdout}");
    }
}

#[test]
fn damaged_dumps_fail_clearly_and_write_nothing_outside() {
    for name in [
        "directory_null_bytes-fail.dump",
        "invalid_compression_type-fail.dump",
        "looping_inodes-fail.dump",
        "reclen_zero-fail.dump",
    ] {
        let dump = corpus().join(name);
        let out = run({
            let mut c = rrestore();
            c.arg("-tf").arg(&dump);
            c
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.is_empty(), "{name}: no diagnostic");

        let parent = scratch(&format!("corpus-fail-{name}"));
        let target = parent.join("target");
        std::fs::create_dir(&target).unwrap();
        let out = run({
            let mut c = rrestore();
            c.arg("-rf").arg(&dump).current_dir(&target);
            c
        });
        assert!(
            !out.status.success(),
            "{name}: a damaged dump must not succeed"
        );
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
        // Nothing beside the target directory.
        let beside: Vec<_> = std::fs::read_dir(&parent).unwrap().collect();
        assert_eq!(beside.len(), 1, "{name}: wrote outside the target");
        remove_tree(&parent);
    }
}

#[test]
fn directory_loops_are_reported_and_terminate() {
    let out = run({
        let mut c = rrestore();
        c.arg("-tf").arg(corpus().join("looping_inodes-fail.dump"));
        c
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().count() < 50, "loop was followed:\n{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("directory loop"));
}
