//! Helpers shared by rrestore's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn rrestore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rrestore"))
}

/// The repository's testdata/ directory (reference fixtures).
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// The commons-compress corpus (../shared/corpus beside the repository).
pub fn corpus() -> PathBuf {
    let candidates = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/commons-compress"),
        PathBuf::from("/work/shared/corpus/commons-compress"),
    ];
    for c in &candidates {
        if c.is_dir() {
            return c.clone();
        }
    }
    panic!("the commons-compress corpus is missing (looked in {candidates:?})");
}

/// A fresh empty directory for one test.
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rrestore-it-{tag}-{}", std::process::id()));
    remove_tree(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Removes a tree even when restored files are immutable/append-only.
pub fn remove_tree(d: &Path) {
    if d.exists() {
        let _ = Command::new("chattr").arg("-R").arg("-ia").arg(d).output();
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Panics with a clear message when a required tool is missing.
pub fn require_tool(path: &str) {
    let found = if path.contains('/') {
        Path::new(path).exists()
    } else {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {path}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(
        found,
        "required tool {path} is missing: install it (dump, e2fsprogs, attr, acl) to run this test"
    );
}

pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().expect("cannot run command");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "command panicked: {cmd:?}\n{stderr}"
    );
    out
}

/// Runs testdata/manifest.sh on a directory.
pub fn manifest(dir: &Path) -> String {
    require_tool("getfattr");
    let out = Command::new("bash")
        .arg(testdata().join("manifest.sh"))
        .arg(dir)
        .output()
        .expect("cannot run manifest.sh");
    assert!(
        out.status.success(),
        "manifest.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Bytes that do not compress (xorshift), the same for the same length.
#[allow(dead_code)]
pub fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
