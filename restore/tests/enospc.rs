//! Running out of space: rrestore stops, says what was and was not
//! restored, and exits non-zero. Needs root (mounts a tiny tmpfs).

mod common;

use common::*;
use std::process::Command;

struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn enospc_is_reported_with_what_was_restored() {
    assert!(
        rustix_is_root(),
        "this test needs root (it mounts a 64 KiB tmpfs); run the tests as root"
    );
    require_tool("mount");
    let dir = scratch("enospc");
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("cannot run mount");
    assert!(st.success(), "mounting a tmpfs failed");
    let _guard = Mounted(dir.clone());
    let out = run({
        let mut c = rrestore();
        c.arg("-rf")
            .arg(testdata().join("ext4-4k.dump"))
            .current_dir(&dir);
        c
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("selected files were restored"), "{stderr}");
    assert!(stderr.contains("were not reached"), "{stderr}");
    // What it did restore is intact.
    assert_eq!(std::fs::read(dir.join("small.txt")).unwrap().len(), 12);
}

fn rustix_is_root() -> bool {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("cannot run id");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}
