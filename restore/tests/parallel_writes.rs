//! `rrestore -r` with its writer threads: a tree of a few thousand small
//! files with hard links, put in an ext4 image by `mke2fs -d` and dumped
//! by the reference dump through a read-only loop device, comes back
//! identical (contents, types, modes, owners, mtimes, link counts, which
//! names share an inode), with two writer threads and with none.
//! Needs root (loop devices, chown) and the reference tools.

mod common;

use common::*;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files, spread over this many directories.
const FILES: usize = 2400;
const DIRS: usize = 24;

/// Removes the scratch directory (detaching the loop device first).
struct Cleanup {
    dir: PathBuf,
    loop_dev: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dev) = self.loop_dev.take() {
            let _ = Command::new("losetup").arg("-d").arg(&dev).status();
        }
        remove_tree(&self.dir);
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn check(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A deterministic pseudo-random sequence (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn set_times(path: &Path, sec: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap_or_else(|e| panic!("utimensat {}: {e}", path.display()));
}

fn chown(path: &Path, uid: u32, gid: u32) {
    rustix::fs::chownat(
        rustix::fs::CWD,
        path,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// Builds the source tree: small files of varied sizes (some over one
/// 64 KiB write, some empty), modes and owners, hard links across
/// directories, a few symbolic links; fixed times, directories last.
fn build_tree(src: &Path) {
    let mut rng = Lcg(0x5eed);
    let modes = [0o644, 0o600, 0o755, 0o444, 0o640, 0o4755, 0o2750, 0o1777];
    for d in 0..DIRS {
        std::fs::create_dir_all(src.join(format!("d{d:02}/sub"))).unwrap();
    }
    let mut files = Vec::new();
    for i in 0..FILES {
        let dir = if i % 5 == 0 {
            format!("d{:02}/sub", i % DIRS)
        } else {
            format!("d{:02}", i % DIRS)
        };
        let path = src.join(format!("{dir}/f{i:04}.dat"));
        let len = match i % 50 {
            0 => 0,
            1 => 70_000 + (rng.next() % 100_000) as usize,
            _ => (rng.next() % 6000) as usize,
        };
        let data: Vec<u8> = (0..len)
            .map(|k| (k as u64 ^ rng.next()).to_le_bytes()[0])
            .collect();
        std::fs::write(&path, &data).unwrap();
        let mode = modes[i % modes.len()];
        chown(&path, 1000 + (i % 7) as u32, 100 + (i % 3) as u32);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        files.push(path);
    }
    // Hard links: every 40th file gets one to three more names elsewhere.
    for (n, i) in (0..FILES).step_by(40).enumerate() {
        for k in 0..1 + n % 3 {
            let link = src.join(format!("d{:02}/link{i:04}-{k}", (i + 7 * (k + 1)) % DIRS));
            std::fs::hard_link(&files[i], &link).unwrap();
        }
    }
    for s in 0..30 {
        let link = src.join(format!("d{:02}/sym{s}", s % DIRS));
        std::os::unix::fs::symlink(format!("../d00/f{:04}.dat", s * 5), &link).unwrap();
        set_times(&link, 1_500_000_000 + s as i64);
    }
    for (i, f) in files.iter().enumerate() {
        set_times(f, 1_600_000_000 + (i as i64) * 37);
    }
    for d in 0..DIRS {
        let sub = src.join(format!("d{d:02}/sub"));
        let top = src.join(format!("d{d:02}"));
        chown(&top, 1000 + d as u32, 100);
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o750)).unwrap();
        set_times(&sub, 1_400_000_000 + d as i64);
        set_times(&top, 1_300_000_000 + d as i64);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Node {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    nlink: u64,
    /// File contents or symlink target.
    content: Vec<u8>,
}

/// Every name below `root` (but lost+found and restoresymtable), and
/// which names share an inode (as sorted groups of names).
fn snapshot(root: &Path) -> (BTreeMap<String, Node>, Vec<Vec<String>>) {
    let mut nodes = BTreeMap::new();
    let mut inodes: HashMap<u64, Vec<String>> = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let name = rel.join(e.file_name());
            let shown = name.to_string_lossy().into_owned();
            if shown == "lost+found" || shown == "restoresymtable" {
                continue;
            }
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            let content = if md.file_type().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if md.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            if md.is_dir() {
                stack.push(name);
            } else {
                inodes.entry(md.ino()).or_default().push(shown.clone());
            }
            nodes.insert(
                shown,
                Node {
                    mode: md.mode(),
                    uid: md.uid(),
                    gid: md.gid(),
                    mtime: md.mtime(),
                    nlink: if md.is_dir() { 0 } else { md.nlink() },
                    content,
                },
            );
        }
    }
    let mut groups: Vec<Vec<String>> = inodes
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    groups.sort();
    (nodes, groups)
}

#[test]
fn many_files_and_hard_links_restore_identically() {
    assert!(
        is_root(),
        "this test needs root (loop devices, chown); run the tests as root"
    );
    for tool in ["mke2fs", "losetup", "/usr/sbin/dump"] {
        require_tool(tool);
    }
    let dir = scratch("parallel");
    let mut cleanup = Cleanup {
        dir: dir.clone(),
        loop_dev: None,
    };
    let src = dir.join("src");
    build_tree(&src);
    let expected = snapshot(&src);
    assert!(expected.0.len() > FILES, "tree too small");
    assert!(expected.1.iter().any(|g| g.len() == 4), "no 4-name inode");

    let img = dir.join("fs.img");
    check(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-b", "4096", "-N", "4096", "-d"])
            .arg(&src)
            .arg(&img)
            .arg("64M"),
    );
    let dev = check(
        Command::new("losetup")
            .args(["-r", "-f", "--show"])
            .arg(&img),
    )
    .trim()
    .to_string();
    assert!(dev.starts_with("/dev/loop"), "losetup said {dev:?}");
    cleanup.loop_dev = Some(dev.clone());
    let dump = dir.join("fs.dump");
    check(
        Command::new("/usr/sbin/dump")
            .args(["-0", "-q", "-f"])
            .arg(&dump)
            .arg(&dev),
    );

    for writers in ["2", "1", "0"] {
        let out_dir = dir.join(format!("restored-{writers}"));
        std::fs::create_dir(&out_dir).unwrap();
        let out = run({
            let mut c = rrestore();
            c.arg("-rf")
                .arg(&dump)
                .current_dir(&out_dir)
                .env("RRESTORE_WRITERS", writers);
            c
        });
        assert!(
            out.status.success(),
            "rrestore -r with {writers} writers failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = snapshot(&out_dir);
        for (name, node) in &expected.0 {
            assert_eq!(
                got.0.get(name),
                Some(node),
                "{name} differs with {writers} writers"
            );
        }
        assert_eq!(
            got.0.len(),
            expected.0.len(),
            "extra names with {writers} writers"
        );
        assert_eq!(
            got.1, expected.1,
            "hard-link groups differ with {writers} writers"
        );
    }
}

/// Unmounts on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn restore_into_tiny_tmpfs(tag: &str, writers: &str) -> (String, Option<i32>, PathBuf, Mounted) {
    let dir = scratch(tag);
    check(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&dir),
    );
    let guard = Mounted(dir.clone());
    let out = run({
        let mut c = rrestore();
        c.arg("-rf")
            .arg(testdata().join("ext4-4k.dump"))
            .current_dir(&dir)
            .env("RRESTORE_WRITERS", writers);
        c
    });
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (stderr, out.status.code(), dir, guard)
}

/// Running out of space with one writer thread (the default on more than
/// one CPU): the same report as a sequential restore, and the files
/// before the failing one on the tape are written in full.
#[test]
fn enospc_with_one_writer_thread_is_reported_like_a_sequential_run() {
    assert!(
        is_root(),
        "this test needs root (it mounts a 64 KiB tmpfs); run the tests as root"
    );
    require_tool("mount");
    let (stderr, code, dir, _guard) = restore_into_tiny_tmpfs("enospc-1", "1");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "restore stopped: write error extracting inode 16, name ./hundred-k.txt: No space left on device"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("4 of 24 selected files were restored"),
        "{stderr}"
    );
    assert!(stderr.contains("were not reached"), "{stderr}");
    // Inodes 12-15 come before the failing one.
    assert_eq!(
        std::fs::read(dir.join("small.txt")).unwrap(),
        b"hello, dump\n"
    );
    assert_eq!(
        std::fs::metadata(dir.join("four-k-plus-1")).unwrap().len(),
        4097
    );
}

/// With two writer threads, which files fit before space runs out
/// depends on timing, but the run still stops, says so, and lists what
/// was not restored.
#[test]
fn enospc_with_two_writer_threads_is_reported() {
    assert!(
        is_root(),
        "this test needs root (it mounts a 64 KiB tmpfs); run the tests as root"
    );
    require_tool("mount");
    let (stderr, code, _dir, _guard) = restore_into_tiny_tmpfs("enospc-2", "2");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("restore stopped: write error extracting inode"),
        "{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("selected files were restored"), "{stderr}");
    assert!(stderr.contains("were not reached"), "{stderr}");
    assert!(stderr.contains("names were not restored"), "{stderr}");
}
