//! Shared helpers of rdump's integration tests: the external tools they need,
//! test filesystem images holding every kind of inode rdump must handle,
//! mounting, running rdump and the reference restore, and comparing trees.
//!
//! The tests need root (loop mounts, mknod, chown) and the tools of the
//! Debian packages e2fsprogs, dump, attr, acl, file and util-linux. A missing
//! tool makes the test fail with a message naming it; nothing is skipped.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Finds a required tool or fails the test naming it.
pub fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(d));
    }
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool `{name}` not found: install e2fsprogs, dump, attr, acl, file and util-linux \
         (the CI installs them)"
    );
}

/// The rdump binary under test.
pub fn rdump_bin() -> PathBuf {
    // option_env!: rrecover's tests share this module and build no rdump.
    match option_env!("CARGO_BIN_EXE_rdump") {
        Some(p) => PathBuf::from(p),
        None => panic!("rdump_bin() is for rdump's own tests (cargo builds its binary for them)"),
    }
}

/// rrestore, built beside rdump by `cargo test --workspace`.
#[allow(dead_code)] // not every test binary uses it
pub fn rrestore_bin() -> PathBuf {
    let p = rdump_bin().with_file_name("rrestore");
    assert!(
        p.is_file(),
        "{} is missing: build the workspace (cargo test --workspace)",
        p.display()
    );
    p
}

/// `rdump -LEVEL -u -D dumpdates -f out image` with the real date (dump
/// compares whole-second ctimes with it); returns its standard error.
#[allow(dead_code)]
pub fn dump_level(image: &Path, level: u32, dumpdates: &Path, out: &Path) -> String {
    let level = format!("-{level}");
    let args = [
        OsStr::new(&level),
        OsStr::new("-u"),
        OsStr::new("-D"),
        dumpdates.as_os_str(),
        OsStr::new("-f"),
        out.as_os_str(),
        image.as_os_str(),
    ];
    let o = rdump(&args, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "rdump {args:?} failed:\n{stderr}");
    stderr
}

/// The date of a dumpdates line exactly as the file holds it: everything
/// after the level field. dump -T parses it with asctime's fixed layout, so
/// the padding of a one-digit day ("Dec  2") must be kept, not re-joined.
#[allow(dead_code)]
pub fn dumpdates_date(line: &str) -> String {
    let rest = line.trim_start();
    let rest = rest[rest.find(' ').unwrap_or(rest.len())..].trim_start();
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.strip_prefix(' ').unwrap_or(rest).to_string()
}

/// [`compare_trees`] of a tree rebuilt by `restore -r` (or rrestore -r): its
/// symbol table is left out, and so is the mtime of `.`, which writing the
/// table touches.
#[allow(dead_code)]
pub fn differences_after_rebuild(source: &Path, restored: &Path) -> Vec<String> {
    let mut diffs = compare_trees(source, restored, &["restoresymtable", ".restore-tmp"]);
    diffs.retain(|d| !d.starts_with(".: mtime"));
    diffs
}

/// Fails unless running as root (loop mounts, mknod and chown need it).
pub fn require_root() {
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .expect("stat /proc/self");
    assert_eq!(
        uid, 0,
        "these tests build filesystem images with loop mounts and device nodes: run them as root"
    );
}

/// Runs a command, failing the test with its output unless it succeeds.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A read-only loop device over an image, detached when dropped (the
/// reference dump reads devices, not image files).
pub struct LoopDevice(pub PathBuf);

impl LoopDevice {
    pub fn new(image: &Path) -> LoopDevice {
        let out = run(Command::new(tool("losetup"))
            .args(["-f", "--show", "-r"])
            .arg(image));
        LoopDevice(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ))
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new(tool("losetup"))
            .arg("-d")
            .arg(&self.0)
            .status();
    }
}

/// Runs rdump with `args`; returns its output (success not checked).
pub fn rdump(args: &[&OsStr], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(rdump_bin());
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run rdump")
}

/// Runs rdump to write `image`'s dump to `out`, with extra options;
/// fails the test unless it succeeds. Returns stderr.
pub fn dump_to(image: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&OsStr> = vec![OsStr::new("-0"), OsStr::new("-f"), out.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    args.push(image.as_os_str());
    let o = rdump(&args, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "rdump {args:?} failed with {}:\n{stderr}",
        o.status
    );
    stderr
}

/// A loop mount, unmounted when dropped.
pub struct Mount {
    pub dir: PathBuf,
}

impl Mount {
    pub fn new(image: &Path, dir: &Path, read_only: bool) -> Mount {
        fs::create_dir_all(dir).expect("create mount point");
        let opts = if read_only { "loop,ro" } else { "loop" };
        run(Command::new(tool("mount"))
            .args(["-o", opts])
            .arg(image)
            .arg(dir));
        Mount {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new(tool("umount")).arg(&self.dir).status();
    }
}

/// What a test image looks like.
#[derive(Debug, Clone, Copy)]
pub struct ImageSpec {
    pub fs_type: &'static str,
    pub block_size: u32,
    /// Extra mke2fs features, e.g. "inline_data".
    pub features: Option<&'static str>,
    pub size_mb: u32,
    /// Add a 5 GiB file holding three data blocks.
    pub huge_sparse: bool,
    /// Add a file whose name is 255 bytes long (the reference restore
    /// cannot handle those, see the stream tests).
    pub name_255: bool,
    /// Add a directory of 12 000 entries, bigger on disk than the 1 MiB
    /// above which rdump streams a directory (two readings, pieces of 64 KiB).
    pub big_dir: bool,
    /// Leave out what the reference dump gets wrong (xattrs, ACLs, large
    /// device numbers, inline data), to compare streams with it.
    pub plain: bool,
}

impl ImageSpec {
    pub fn new(fs_type: &'static str, block_size: u32) -> ImageSpec {
        ImageSpec {
            fs_type,
            block_size,
            features: None,
            size_mb: 64,
            huge_sparse: false,
            name_255: false,
            big_dir: false,
            plain: false,
        }
    }
}

/// A small deterministic generator for file contents.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

fn write_at(path: &Path, offset: u64, data: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .expect("open for write");
    f.write_all_at(data, offset).expect("write");
}

fn sh(program: &str, args: &[&OsStr]) {
    run(Command::new(tool(program)).args(args));
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Builds an image per `spec` in `work` and returns its path. Everything
/// is created through the kernel on a loop mount, so the image holds what
/// a real filesystem holds (inline data, extents, htree directories, ACLs).
pub fn build_image(spec: ImageSpec, work: &Path) -> PathBuf {
    require_root();
    let image = work.join(format!("{}-{}.img", spec.fs_type, spec.block_size));
    let mut mkfs = Command::new(tool("mke2fs"));
    mkfs.args([
        "-q",
        "-F",
        "-t",
        spec.fs_type,
        "-I",
        "256",
        "-L",
        "rdump-test",
    ])
    .arg("-b")
    .arg(spec.block_size.to_string());
    if let Some(f) = spec.features {
        mkfs.args(["-O", f]);
    }
    mkfs.arg(&image).arg(format!("{}M", spec.size_mb));
    run(&mut mkfs);
    let mount = Mount::new(&image, &work.join("build-mnt"), false);
    populate(&mount.dir, spec);
    drop(mount);
    image
}

/// Creates the test tree under `root`.
pub fn populate(root: &Path, spec: ImageSpec) {
    let p = |rel: &str| root.join(rel);
    let mut rng = Rng::new(u64::from(spec.block_size) + spec.fs_type.len() as u64);
    let ext4 = spec.fs_type == "ext4";

    // Regular files of many sizes, around block and header-group boundaries.
    fs::write(p("empty"), b"").unwrap();
    fs::write(p("one"), b"x").unwrap();
    fs::write(p("small"), b"hello, dump\n").unwrap();
    for (name, size) in [
        ("k1023", 1023usize),
        ("k1024", 1024),
        ("k4097", 4097),
        ("k300", 300 * 1024 + 7),
        ("m3", 3 * 1024 * 1024 + 123),
    ] {
        fs::write(p(name), rng.bytes(size)).unwrap();
    }
    // Holes: data, hole, data, trailing hole.
    let holes = p("holes");
    write_at(&holes, 0, &rng.bytes(8192));
    write_at(&holes, 1 << 20, &rng.bytes(5000));
    fs::OpenOptions::new()
        .write(true)
        .open(&holes)
        .unwrap()
        .set_len(3 << 20)
        .unwrap();
    if spec.huge_sparse {
        let huge = p("huge5g");
        let bs = u64::from(spec.block_size);
        write_at(&huge, 0, &rng.bytes(bs as usize));
        write_at(&huge, 2 << 30, &rng.bytes(bs as usize));
        write_at(&huge, (5 << 30) - bs, &rng.bytes(bs as usize));
    }
    if ext4 && !spec.plain {
        // Unwritten extents inside the size: they read as zeros (the
        // reference dump copies whatever the disk holds there).
        let pre = p("prealloc");
        fs::write(&pre, b"").unwrap();
        sh("fallocate", &[os("-l"), os("256KiB"), pre.as_os_str()]);
        write_at(&pre, 0, b"written head");
    }

    // Hard links, also across directories.
    fs::create_dir(p("sub")).unwrap();
    fs::create_dir(p("sub/deeper")).unwrap();
    fs::write(p("linked"), b"one inode, three names\n").unwrap();
    fs::hard_link(p("linked"), p("sub/linked2")).unwrap();
    fs::hard_link(p("linked"), p("sub/deeper/linked3")).unwrap();

    // Symlinks: fast (in the inode), slow (a block), longer than 1 KiB.
    std::os::unix::fs::symlink("small", p("fastlink")).unwrap();
    std::os::unix::fs::symlink("t".repeat(300), p("slowlink")).unwrap();
    // A symlink target is at most one filesystem block.
    let long_target = format!("/{}", "long/".repeat(300));
    let max_target = (spec.block_size as usize - 10).min(long_target.len());
    std::os::unix::fs::symlink(&long_target[..max_target], p("longlink")).unwrap();

    // Devices (small and large numbers), fifo, socket.
    let mut devices = vec![("null", "c", 1, 3), ("sda1", "b", 8, 1)];
    if !spec.plain {
        devices.extend([("bigchar", "c", 300, 70000), ("bigblock", "b", 4000, 5)]);
    }
    for (name, kind, major, minor) in devices {
        sh(
            "mknod",
            &[
                p(name).as_os_str(),
                os(kind),
                os(&major.to_string()),
                os(&minor.to_string()),
            ],
        );
    }
    sh("mkfifo", &[p("fifo").as_os_str()]);
    drop(std::os::unix::net::UnixListener::bind(p("socket")).unwrap());

    // Modes and owners.
    for (name, mode) in [("setuid", 0o4755), ("setgid", 0o2711), ("nothing", 0o000)] {
        fs::write(p(name), name).unwrap();
        fs::set_permissions(p(name), fs::Permissions::from_mode(mode)).unwrap();
    }
    fs::create_dir(p("sticky")).unwrap();
    fs::set_permissions(p("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir(p("private")).unwrap();
    fs::set_permissions(p("private"), fs::Permissions::from_mode(0o700)).unwrap();
    for (name, owner) in [
        ("uid32", "100000:200000"),
        ("uidmax", "4000000000:4000000001"),
        ("uid16", "65534:65533"),
    ] {
        fs::write(p(name), owner).unwrap();
        sh("chown", &[os(owner), p(name).as_os_str()]);
    }

    if !spec.plain {
        add_xattrs(root, spec);
    }

    // Names: long, odd characters, many entries (multi-block, htree).
    fs::write(p(&"n".repeat(254)), b"254\n").unwrap();
    fs::write(p("sp ace\ttab\u{e9}"), b"odd name\n").unwrap();
    if spec.name_255 {
        fs::write(p(&"m".repeat(255)), b"255\n").unwrap();
        fs::create_dir(p(&"d".repeat(255))).unwrap();
    }
    fs::create_dir(p("many")).unwrap();
    for i in 0..400 {
        fs::write(p(&format!("many/entry-with-a-longish-name-{i:05}")), []).unwrap();
    }

    if spec.big_dir {
        fs::create_dir(p("big")).unwrap();
        for i in 0..12_000 {
            // A few hard links and non-empty files among the empty ones.
            let name = p(&format!(
                "big/{}-{i:06}",
                "a-name-of-eighty-bytes-".repeat(3)
            ));
            match i % 1000 {
                7 => fs::hard_link(p("small"), &name).unwrap(),
                8 => fs::write(&name, format!("file {i}\n")).unwrap(),
                _ => fs::write(&name, []).unwrap(),
            }
        }
        let size = fs::metadata(p("big")).unwrap().len();
        assert!(
            size > 1 << 20,
            "the big directory is only {size} bytes on disk"
        );
    }

    // Inline data (only stays inline on an inline_data filesystem).
    fs::create_dir(p("inl")).unwrap();
    fs::write(p("inl/tiny"), b"tiny inline file\n").unwrap();
    fs::write(p("inl/medium"), rng.bytes(120)).unwrap();
    if !spec.plain {
        sh(
            "setfattr",
            &[
                os("-n"),
                os("user.on_inline"),
                os("-v"),
                os("kept"),
                p("inl/medium").as_os_str(),
            ],
        );
    }

    // Timestamps with nanoseconds, distinct per path; directories last,
    // deepest first, since creating entries changes their mtime.
    let mut paths = Vec::new();
    walk(root, &mut paths);
    paths.sort_by_key(|rel| std::cmp::Reverse(rel.components().count()));
    for (i, rel) in paths.iter().enumerate() {
        let secs = 1_500_000_000 + i as u64 * 3607;
        let nsec = (i as u64 * 123_456_789 + 987) % 1_000_000_000;
        let stamp = format!("@{secs}.{nsec:09}");
        sh(
            "touch",
            &[os("-h"), os("-d"), os(&stamp), root.join(rel).as_os_str()],
        );
    }
    sh("touch", &[os("-d"), os("@1600000000.5"), root.as_os_str()]);
}

/// Extended attributes and ACLs of the test tree.
fn add_xattrs(root: &Path, spec: ImageSpec) {
    let p = |rel: &str| root.join(rel);
    // Extended attributes and ACLs.
    fs::write(p("xattrs"), b"attributes\n").unwrap();
    sh(
        "setfattr",
        &[
            os("-n"),
            os("user.colour"),
            os("-v"),
            os("blue"),
            p("xattrs").as_os_str(),
        ],
    );
    sh(
        "setfattr",
        &[
            os("-n"),
            os("trusted.t"),
            os("-v"),
            os("0x00ff01"),
            p("xattrs").as_os_str(),
        ],
    );
    sh(
        "setfattr",
        &[
            os("-n"),
            os("security.s"),
            os("-v"),
            os("sec"),
            p("xattrs").as_os_str(),
        ],
    );
    sh(
        "setfattr",
        &[os("-n"), os("user.empty"), p("xattrs").as_os_str()],
    );
    sh(
        "setfattr",
        &[
            os("-n"),
            os("user.dir"),
            os("-v"),
            os("d"),
            p("sub").as_os_str(),
        ],
    );
    fs::write(p("manyxattrs"), b"").unwrap();
    // Together more than one 1 KiB tape block, within the filesystem's limit.
    for i in 0..3 {
        let v = format!("{i}").repeat(spec.block_size as usize / 4);
        sh(
            "setfattr",
            &[
                os("-n"),
                os(&format!("user.big{i}")),
                os("-v"),
                os(&v),
                p("manyxattrs").as_os_str(),
            ],
        );
    }
    fs::create_dir(p("acl")).unwrap();
    fs::write(p("acl/file"), b"acl\n").unwrap();
    sh(
        "setfacl",
        &[os("-m"), os("u:1234:rwx,g:55:r"), p("acl").as_os_str()],
    );
    sh(
        "setfacl",
        &[os("-d"), os("-m"), os("u:4321:r-x"), p("acl").as_os_str()],
    );
    sh(
        "setfacl",
        &[os("-m"), os("u:99:rw"), p("acl/file").as_os_str()],
    );
}

/// All paths under `root`, relative, files before their directory's
/// siblings do not matter; lost+found is included.
pub fn walk(root: &Path, out: &mut Vec<PathBuf>) {
    fn inner(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        entries.sort();
        for name in entries {
            let r = rel.join(&name);
            let meta = fs::symlink_metadata(root.join(&r)).unwrap();
            out.push(r.clone());
            if meta.is_dir() {
                inner(root, &r, out);
            }
        }
    }
    inner(root, Path::new(""), out);
}

fn major(rdev: u64) -> u64 {
    ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)
}

fn minor(rdev: u64) -> u64 {
    (rdev & 0xff) | ((rdev >> 12) & !0xff)
}

/// Extended attributes of a path (not following symlinks), sorted.
pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(names) = xattr::list(path) {
        for n in names {
            let name = n.to_string_lossy().into_owned();
            let value = xattr::get(path, &n).ok().flatten().unwrap_or_default();
            out.insert(name, value);
        }
    }
    out
}

/// The data ranges of a file (SEEK_DATA/SEEK_HOLE), as (start, end).
fn data_ranges(f: &fs::File, size: u64) -> Vec<(u64, u64)> {
    use rustix::fs::{seek, SeekFrom};
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < size {
        let Ok(start) = seek(f, SeekFrom::Data(pos)) else {
            break; // ENXIO: no data after pos
        };
        let end = seek(f, SeekFrom::Hole(start)).expect("SEEK_HOLE").min(size);
        out.push((start, end));
        pos = end;
    }
    out
}

/// Equal contents, reading only where either file has data (holes read as
/// zeros on both sides), so that 5 GiB sparse files compare quickly.
fn same_contents(a: &Path, b: &Path) -> bool {
    use std::io::{Seek, SeekFrom};
    let (mut fa, mut fb) = (fs::File::open(a).unwrap(), fs::File::open(b).unwrap());
    let size = fa.metadata().unwrap().len();
    if fb.metadata().unwrap().len() != size {
        return false;
    }
    let mut ranges = data_ranges(&fa, size);
    ranges.extend(data_ranges(&fb, size));
    ranges.sort_unstable();
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut done = 0u64;
    for (start, end) in ranges {
        let start = start.max(done);
        if start >= end {
            continue;
        }
        fa.seek(SeekFrom::Start(start)).unwrap();
        fb.seek(SeekFrom::Start(start)).unwrap();
        let mut pos = start;
        while pos < end {
            let n = ((end - pos) as usize).min(ba.len());
            let na = read_full(&mut fa, &mut ba[..n]);
            let nb = read_full(&mut fb, &mut bb[..n]);
            if na != n || nb != n || ba[..n] != bb[..n] {
                return false;
            }
            pos += n as u64;
        }
        done = end;
    }
    true
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    n
}

/// Compares a restored tree with its source, file by file: type, mode,
/// owner, size, mtime to the microsecond, contents, link targets, device
/// numbers, xattrs (ACLs included), hard-link groups and sparseness.
/// `ignore` lists relative paths present only in `restored` (restore's
/// own files). Returns the differences found.
pub fn compare_trees(source: &Path, restored: &Path, ignore: &[&str]) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut src_paths = Vec::new();
    walk(source, &mut src_paths);
    let mut dst_paths = Vec::new();
    walk(restored, &mut dst_paths);
    let src_set: std::collections::BTreeSet<_> = src_paths.iter().cloned().collect();
    for d in &dst_paths {
        if !src_set.contains(d) && !ignore.iter().any(|i| Path::new(i) == d) {
            diffs.push(format!("{}: only in the restored tree", d.display()));
        }
    }
    let mut groups: HashMap<u64, Vec<PathBuf>> = HashMap::new();
    let mut all = vec![PathBuf::new()];
    all.extend(src_paths);
    for rel in &all {
        let (s, r) = (source.join(rel), restored.join(rel));
        let name = if rel.as_os_str().is_empty() {
            ".".to_string()
        } else {
            rel.display().to_string()
        };
        let sm = fs::symlink_metadata(&s).unwrap();
        let rm = match fs::symlink_metadata(&r) {
            Ok(m) => m,
            Err(e) => {
                diffs.push(format!("{name}: missing from the restored tree ({e})"));
                continue;
            }
        };
        let mut check = |what: &str, a: String, b: String| {
            if a != b {
                diffs.push(format!("{name}: {what} differs: source {a}, restored {b}"));
            }
        };
        check(
            "mode",
            format!("{:o}", sm.mode()),
            format!("{:o}", rm.mode()),
        );
        check(
            "owner",
            format!("{}:{}", sm.uid(), sm.gid()),
            format!("{}:{}", rm.uid(), rm.gid()),
        );
        let ft = sm.file_type();
        if !ft.is_dir() {
            check("size", sm.size().to_string(), rm.size().to_string());
        }
        // restore sets times with utimes(2): microseconds. Symlink times are
        // not restored by restore 0.4b47, so they are not compared.
        if !ft.is_symlink() {
            check(
                "mtime",
                format!("{}.{:06}", sm.mtime(), sm.mtime_nsec() / 1000),
                format!("{}.{:06}", rm.mtime(), rm.mtime_nsec() / 1000),
            );
        }
        if ft.is_symlink() {
            check(
                "link target",
                format!("{:?}", fs::read_link(&s).ok()),
                format!("{:?}", fs::read_link(&r).ok()),
            );
        } else {
            check(
                "xattrs",
                format!("{:?}", xattrs(&s)),
                format!("{:?}", xattrs(&r)),
            );
        }
        use std::os::unix::fs::FileTypeExt;
        if ft.is_block_device() || ft.is_char_device() {
            check(
                "device",
                format!("{}:{}", major(sm.rdev()), minor(sm.rdev())),
                format!("{}:{}", major(rm.rdev()), minor(rm.rdev())),
            );
        }
        if ft.is_file() {
            if sm.size() == rm.size() && !same_contents(&s, &r) {
                diffs.push(format!("{name}: contents differ"));
            }
            // Sparse in, sparse out: a file with less than half its size
            // allocated must come back with less than half allocated.
            if sm.blocks() * 512 < sm.size() / 2 && rm.blocks() * 512 >= rm.size() / 2 {
                diffs.push(format!(
                    "{name}: not restored sparse ({} of {} bytes allocated)",
                    rm.blocks() * 512,
                    rm.size()
                ));
            }
            groups.entry(sm.ino()).or_default().push(rel.clone());
        }
    }
    // Hard links: same groups of names on both sides.
    for names in groups.values() {
        let inos: std::collections::BTreeSet<u64> = names
            .iter()
            .filter_map(|n| fs::symlink_metadata(restored.join(n)).ok())
            .map(|m| m.ino())
            .collect();
        if inos.len() != 1 {
            diffs.push(format!(
                "hard-link group {names:?} is split in the restored tree"
            ));
            continue;
        }
        let nlink = fs::symlink_metadata(restored.join(&names[0]))
            .unwrap()
            .nlink();
        if nlink != names.len() as u64 {
            diffs.push(format!(
                "hard-link group {names:?}: restored link count {nlink}, expected {}",
                names.len()
            ));
        }
    }
    diffs
}

/// Runs the reference restore with `args` in `dir`, feeding `stdin`.
pub fn restore(dir: &Path, args: &[&OsStr], stdin: &str) -> Output {
    // restore keeps its work files in $TMPDIR, named after the dump date:
    // give each run its own, since the tests' dumps share a date.
    let tmp = dir.join(".restore-tmp");
    fs::create_dir_all(&tmp).expect("restore temp dir");
    let mut child = Command::new(tool("restore"))
        .args(args)
        .env("TMPDIR", &tmp)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run restore");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .expect("feed restore");
    child.wait_with_output().expect("wait for restore")
}

/// Runs the reference restore like [`restore`] and fails the test, with
/// restore's stderr, unless it succeeds.
pub fn restore_ok(dir: &Path, args: &[&OsStr], stdin: &str) -> Output {
    let out = restore(dir, args, stdin);
    assert!(
        out.status.success(),
        "restore {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One record of an uncompressed dump: a header and the data blocks after it.
pub struct RawRecord {
    pub header: dump_format::Header,
    pub data: Vec<u8>,
}

/// Splits an uncompressed dump into headers and their data, checking every
/// header's checksum.
pub fn raw_records(bytes: &[u8]) -> Vec<RawRecord> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 1024 <= bytes.len() {
        let (header, _) = dump_format::Header::parse(&bytes[pos..pos + 1024])
            .unwrap_or_else(|e| panic!("block {} is not a valid header: {e}", pos / 1024));
        pos += 1024;
        let n = if header.c_type == dump_format::RecordType::Tape as i32 {
            0
        } else {
            header.data_block_count() as usize
        };
        let data = bytes[pos..pos + n * 1024].to_vec();
        pos += n * 1024;
        out.push(RawRecord { header, data });
    }
    out
}

/// Every inode item of a dump (any compression) with its data (read in
/// whole; the test dumps are small apart from sparse files, whose holes
/// are not materialised): (header, data or None when larger than 64 MiB).
pub fn inode_items(path: &Path) -> Vec<(dump_format::Header, Option<Vec<u8>>)> {
    let f = std::io::BufReader::new(fs::File::open(path).expect("open dump"));
    let mut r = dump_format::TapeReader::new(f).expect("dump_format reads the dump");
    let mut out = Vec::new();
    while let Some(item) = r.next_item().expect("read item") {
        match item {
            dump_format::Item::Inode(h) => {
                let data = r.read_all(64 << 20).expect("read data");
                out.push((h, data));
            }
            dump_format::Item::Resync { .. } => panic!("the dump needed resynchronisation"),
            _ => {}
        }
    }
    out
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
