//! rdump → rrestore keeps what dump 0.4b47 loses: nanosecond times, dates past 2038,
//! large device numbers, 255-byte names, inode flags, and (as both tools always did)
//! xattrs, ACLs, holes, hard links and 32-bit owners. The source is a real ext4
//! filesystem, the target another one, both loop-mounted; the dump goes through rdump
//! plain and with --zstd.
//!
//! Needs root, mke2fs, mount, losetup, chattr/lsattr, setfacl/getfattr and the rdump
//! binary built beside rrestore (`cargo test --workspace` builds both). Anything missing
//! fails the test with its name.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool `{name}` is missing: install e2fsprogs, attr, acl and util-linux (CI does)"
    );
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn rrestore_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rrestore"))
}

fn rdump_bin() -> PathBuf {
    let p = rrestore_bin().with_file_name("rdump");
    assert!(
        p.is_file(),
        "{} is missing: build the workspace (cargo test --workspace)",
        p.display()
    );
    p
}

/// A scratch directory removed at the end (mounts inside are unmounted first).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("rrestore-ext-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A loop mount, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn new(image: &Path, dir: &Path) -> Mount {
        fs::create_dir_all(dir).unwrap();
        run(Command::new(tool("mount"))
            .args(["-o", "loop,noatime"])
            .arg(image)
            .arg(dir));
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mkfs(image: &Path) {
    // ea_inode lets a value outgrow the 4 KiB attribute block.
    run(Command::new(tool("mke2fs"))
        .args([
            "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-O", "ea_inode",
        ])
        .arg(image)
        .arg("64M"));
}

const NS_FILE: &str = "nanoseconds";
const FUTURE_FILE: &str = "year-2100";
const BIG_DEV: &str = "big-char-device";
const FLAGS_FILE: &str = "noatime-and-nodump-free";

fn long_name() -> String {
    "L".repeat(255)
}

fn populate(root: &Path) {
    let p = |n: &str| root.join(n);
    fs::write(p(NS_FILE), b"nanoseconds matter\n").unwrap();
    run(Command::new("touch")
        .args(["-a", "-d", "@1600000000.123456789"])
        .arg(p(NS_FILE)));
    run(Command::new("touch")
        .args(["-m", "-d", "@1650000000.987654321"])
        .arg(p(NS_FILE)));
    fs::write(p(FUTURE_FILE), b"after 2038\n").unwrap();
    run(Command::new("touch")
        .args(["-m", "-d", "@4102444800.5"])
        .arg(p(FUTURE_FILE)));
    run(Command::new("mknod")
        .arg(p(BIG_DEV))
        .args(["c", "300", "70000"]));
    fs::write(p(&long_name()), b"a name of 255 bytes\n").unwrap();
    fs::write(p(FLAGS_FILE), b"flags\n").unwrap();
    run(Command::new(tool("chattr")).arg("+A").arg(p(FLAGS_FILE)));
    fs::create_dir(p("dir")).unwrap();
    run(Command::new(tool("setfattr"))
        .args(["-n", "user.note", "-v", "kept"])
        .arg(p(NS_FILE)));
    // Larger than the reference restore's 4096-byte limit: rdump writes it in an
    // EXT_XATTR_OVERSIZE record, which rrestore applies.
    let big: String = (0..9000u32)
        .map(|i| format!("{:02x}", (i * 7 % 251) as u8))
        .collect();
    run(Command::new(tool("setfattr"))
        .args(["-n", "user.big"])
        .arg(format!("-v0x{big}"))
        .arg(p(FLAGS_FILE)));
    run(Command::new(tool("setfacl"))
        .args(["-m", "u:1234:rx", "-d", "-m", "g:99:r"])
        .arg(p("dir")));
    let sparse = fs::File::create(p("sparse")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"start", 0).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"middle", 32 << 20).unwrap();
    drop(sparse);
    fs::write(p("dir/linked"), b"one inode, two names\n").unwrap();
    fs::hard_link(p("dir/linked"), p("second-name")).unwrap();
    run(Command::new("chown")
        .arg("3000000000:3000000001")
        .arg(p(FUTURE_FILE)));
    fs::set_permissions(p(FUTURE_FILE), fs::Permissions::from_mode(0o4755)).unwrap();
}

fn lsattr(path: &Path) -> String {
    let out = run(Command::new(tool("lsattr")).arg("-d").arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

fn getfattr(path: &Path) -> String {
    let out = run(Command::new(tool("getfattr"))
        .args(["-d", "-m", "-", "--absolute-names", "-h"])
        .arg(path));
    // The first line names the file; keep only the attributes.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("# file:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn major(rdev: u64) -> u64 {
    ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)
}

fn minor(rdev: u64) -> u64 {
    ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)
}

/// Compares what the source had with what rrestore wrote.
fn check(source: &Path, restored: &Path) {
    let meta = |root: &Path, n: &str| {
        fs::symlink_metadata(root.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"))
    };
    for name in [NS_FILE, FUTURE_FILE, FLAGS_FILE, "sparse", "dir/linked"] {
        let (a, b) = (meta(source, name), meta(restored, name));
        assert_eq!(
            (a.mtime(), a.mtime_nsec()),
            (b.mtime(), b.mtime_nsec()),
            "mtime of {name}"
        );
        assert_eq!(a.mode(), b.mode(), "mode of {name}");
        assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "owner of {name}");
        assert_eq!(
            fs::read(source.join(name)).unwrap(),
            fs::read(restored.join(name)).unwrap(),
            "contents of {name}"
        );
    }
    let (a, b) = (meta(source, NS_FILE), meta(restored, NS_FILE));
    assert_eq!(
        (a.atime(), a.atime_nsec()),
        (b.atime(), b.atime_nsec()),
        "atime to the nanosecond"
    );
    assert_eq!(b.mtime_nsec(), 987_654_321);
    assert_eq!(
        meta(restored, FUTURE_FILE).mtime(),
        4_102_444_800,
        "a date past 2038"
    );
    assert_eq!(meta(restored, FUTURE_FILE).uid(), 3_000_000_000);
    let dev = meta(restored, BIG_DEV).rdev();
    assert_eq!(
        (major(dev), minor(dev)),
        (300, 70000),
        "large device numbers"
    );
    assert_eq!(
        fs::read(restored.join(long_name())).unwrap(),
        b"a name of 255 bytes\n"
    );
    assert_eq!(
        lsattr(&source.join(FLAGS_FILE)),
        lsattr(&restored.join(FLAGS_FILE)),
        "inode flags"
    );
    assert!(lsattr(&restored.join(FLAGS_FILE)).contains('A'));
    assert_eq!(
        getfattr(&source.join(NS_FILE)),
        getfattr(&restored.join(NS_FILE)),
        "user xattr"
    );
    assert_eq!(
        getfattr(&source.join("dir")),
        getfattr(&restored.join("dir")),
        "access and default ACL"
    );
    assert!(getfattr(&restored.join("dir")).contains("system.posix_acl_default"));
    let sparse = meta(restored, "sparse");
    assert_eq!(sparse.len(), 64 << 20);
    assert!(
        sparse.blocks() * 512 < 1 << 20,
        "sparse file takes {} blocks",
        sparse.blocks()
    );
    assert_eq!(
        meta(restored, "dir/linked").ino(),
        meta(restored, "second-name").ino(),
        "hard link"
    );
    assert_eq!(meta(restored, "second-name").nlink(), 2);
}

/// How the dump travels from rdump to rrestore.
#[derive(PartialEq)]
enum Via {
    /// `-f FILE` on both sides.
    File,
    /// The bare-metal recipe of the README: `rdump ... -f - | split`, then
    /// `cat parts | rrestore -rf -`.
    SplitPipe,
}

fn round_trip(extra: &[&str]) {
    round_trip_via(extra, Via::File);
}

fn round_trip_via(extra: &[&str], via: Via) {
    let uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap();
    assert_eq!(
        uid, 0,
        "this test loop-mounts images and makes device nodes: run it as root"
    );
    let work = Scratch::new(&extra.join("").replace(['-', '='], ""));
    let src_img = work.0.join("src.img");
    mkfs(&src_img);
    {
        let m = Mount::new(&src_img, &work.0.join("src"));
        populate(&m.0);
    }
    let dump = work.0.join("out.dump");
    let parts = work.0.join("parts");
    let mut args: Vec<&OsStr> = vec![OsStr::new("-0"), OsStr::new("-q")];
    args.extend(extra.iter().map(OsStr::new));
    if via == Via::File {
        args.extend([OsStr::new("-f"), dump.as_os_str(), src_img.as_os_str()]);
        run(Command::new(rdump_bin()).args(&args));
    } else {
        // 2 KiB parts: the small test dump spans many, cut inside records.
        fs::create_dir(&parts).unwrap();
        args.extend([OsStr::new("-f"), OsStr::new("-"), src_img.as_os_str()]);
        run(Command::new("bash")
            .args([
                "-c",
                r#"set -e -o pipefail; "$0" "$@" | split -b 2k - "$PARTS/part.""#,
            ])
            .arg(rdump_bin())
            .args(&args)
            .env("PARTS", &parts));
        let count = fs::read_dir(&parts).unwrap().count();
        assert!(count > 3, "the dump should span several parts, got {count}");
    }

    let dst_img = work.0.join("dst.img");
    mkfs(&dst_img);
    let src = Mount::new(&src_img, &work.0.join("src"));
    let dst = Mount::new(&dst_img, &work.0.join("dst"));
    if via == Via::File {
        run(Command::new(rrestore_bin())
            .arg("-rf")
            .arg(&dump)
            .current_dir(&dst.0));
    } else {
        run(Command::new("bash")
            .args([
                "-c",
                r#"set -e -o pipefail; cat "$PARTS"/part.* | "$0" -rf -"#,
            ])
            .arg(rrestore_bin())
            .env("PARTS", &parts)
            .current_dir(&dst.0));
        // The compare below reads the same bytes from one file.
        let mut whole = Vec::new();
        let mut names: Vec<_> = fs::read_dir(&parts)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            whole.extend(fs::read(n).unwrap());
        }
        fs::write(&dump, whole).unwrap();
    }
    check(&src.0, &dst.0);
    // And compare mode agrees.
    run(Command::new(rrestore_bin())
        .arg("-Cf")
        .arg(&dump)
        .arg("-D")
        .arg(&src.0));
}

#[test]
fn plain_dump_keeps_everything() {
    round_trip(&[]);
}

#[test]
fn zstd_dump_keeps_everything() {
    round_trip(&["--zstd=3"]);
}

/// The README's bare-metal recipe: `rdump -0 -z -f - | split`, then
/// `cat parts | rrestore -rf -` into a fresh filesystem.
#[test]
fn split_pipe_recipe_keeps_everything() {
    round_trip_via(&["-z"], Via::SplitPipe);
}
