//! Shared helpers for the image tests: build ext2/3/4 images with
//! `mke2fs -d` and `debugfs -w`, walk them with fsimage, and parse
//! `debugfs stat` output to compare against.
//!
//! The reference tools are required: a missing tool makes the test panic
//! with a message saying which one, never skip.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use fsimage::{FileType, Filesystem, Inode, RunKind};

/// Panic unless `tool` can be run.
pub fn require_tool(tool: &str) {
    let found = Command::new(tool).arg("-V").output().is_ok();
    assert!(
        found,
        "the reference tool `{tool}` (e2fsprogs) is required by this test but could not be run; install e2fsprogs"
    );
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("fsimage-test-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // FSIMAGE_KEEP_TMP=1 keeps the images for inspection after a failure.
        if std::env::var_os("FSIMAGE_KEEP_TMP").is_some() {
            return;
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random bytes (xorshift), so files are not all zeros.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write(path: &Path, data: &[u8], mode: u32) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Populate `root` with a tree exercising block maps, extents, holes,
/// symlinks, big (htree after `e2fsck -D`) and small directories.
/// `big_sparse` adds a file reaching triple-indirect blocks with 1 KiB blocks.
pub fn populate(root: &Path, big_sparse: bool) {
    fs::create_dir_all(root.join("dir/sub/deeper")).unwrap();
    fs::create_dir_all(root.join("many")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    write(&root.join("empty.txt"), b"", 0o600);
    write(&root.join("one.txt"), b"x", 0o644);
    write(&root.join("hello.txt"), b"hello, world\n", 0o640);
    write(&root.join("block.bin"), &pattern(4096, 1), 0o644);
    write(&root.join("block_plus.bin"), &pattern(4097, 2), 0o755);
    write(&root.join("dir/medium.bin"), &pattern(100_000, 3), 0o644);
    // 300 KiB: single and double indirect blocks with 1 KiB blocks.
    write(
        &root.join("dir/sub/large.bin"),
        &pattern(300 * 1024 + 17, 4),
        0o644,
    );
    write(&root.join("dir/sub/deeper/leaf"), b"leaf\n", 0o444);
    for i in 0..400 {
        let name = format!("entry-with-a-fairly-long-name-{i:04}");
        write(
            &root.join("many").join(name),
            format!("{i}\n").as_bytes(),
            0o644,
        );
    }
    // Sparse: a hole, data, a hole, data at the end.
    let sparse = root.join("sparse.bin");
    {
        use std::os::unix::fs::FileExt;
        let f = fs::File::create(&sparse).unwrap();
        f.write_all_at(&pattern(5000, 5), 200_000).unwrap();
        f.write_all_at(b"tail", 3 * 1024 * 1024).unwrap();
    }
    {
        // Gets unwritten extents from `fallocate` in debugfs.
        use std::os::unix::fs::FileExt;
        let f = fs::File::create(root.join("prealloc.bin")).unwrap();
        f.write_all_at(b"end", 65533).unwrap();
    }
    if big_sparse {
        use std::os::unix::fs::FileExt;
        let f = fs::File::create(root.join("triple.bin")).unwrap();
        f.write_all_at(&pattern(3000, 6), 65 * 1024 * 1024).unwrap();
    }
    std::os::unix::fs::symlink("hello.txt", root.join("fast-link")).unwrap();
    let long_target = format!("{}/target", "long-directory-name".repeat(8));
    std::os::unix::fs::symlink(long_target, root.join("slow-link")).unwrap();
    std::os::unix::fs::symlink("../../one.txt", root.join("dir/sub/up-link")).unwrap();
}

/// Run a command, panicking with its output if it fails. `ok_codes` lists
/// the acceptable exit codes.
pub fn run(cmd: &mut Command, ok_codes: &[i32]) -> String {
    let desc = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e} (is e2fsprogs installed?)"));
    let code = out.status.code().unwrap_or(-1);
    assert!(
        ok_codes.contains(&code),
        "{desc} exited with {code}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Build an image of `size` from `src` with `mke2fs -d`, then apply a
/// `debugfs -w` script (run from `cwd_for_script` so `-f` paths resolve),
/// then `e2fsck -fyD` to index large directories.
pub fn build_image(
    work: &Path,
    src: &Path,
    mkfs_args: &[&str],
    size: &str,
    script: &str,
) -> PathBuf {
    require_tool("mke2fs");
    require_tool("debugfs");
    require_tool("e2fsck");
    let img = work.join("fs.img");
    let mut mkfs = Command::new("mke2fs");
    mkfs.args(["-q", "-F", "-E", "root_owner=0:0"])
        .args(mkfs_args)
        .arg("-d")
        .arg(src)
        .arg(&img)
        .arg(size);
    run(&mut mkfs, &[0]);
    if !script.is_empty() {
        let script_path = work.join("script.debugfs");
        fs::write(&script_path, script).unwrap();
        let out = run(
            Command::new("debugfs")
                .current_dir(work)
                .arg("-w")
                .arg("-f")
                .arg(&script_path)
                .arg(&img),
            &[0],
        );
        // debugfs reports command failures on stdout/stderr but exits 0.
        assert!(!out.contains("Usage:"), "debugfs script failed:\n{out}");
    }
    run(
        Command::new("e2fsck").args(["-f", "-y", "-D"]).arg(&img),
        &[0, 1],
    );
    img
}

/// Everything `debugfs stat` says about an inode that we compare.
#[derive(Debug, Default)]
pub struct Stat {
    pub ino: u32,
    pub mode: u16,
    pub flags: u32,
    pub generation: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub file_acl: u64,
    pub links: u16,
    pub blockcount: u64,
    /// name -> (base seconds, extra word)
    pub times: HashMap<String, (u32, Option<u32>)>,
    /// (full name, value length)
    pub xattrs: Vec<(String, usize)>,
    /// Data blocks, one entry per logical block: logical -> (physical, uninit).
    pub blocks: BTreeMap<u64, (u64, bool)>,
    pub fast_link: Option<String>,
    pub device: Option<(u32, u32)>,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("bad hex {s:?}"))
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)?;
    line[at + key.len()..].split_whitespace().next()
}

/// Run `stat <ino>` for all `inos` in one debugfs session and parse.
pub fn debugfs_stats(img: &Path, inos: &[u32]) -> HashMap<u32, Stat> {
    let script: String = inos.iter().map(|i| format!("stat <{i}>\n")).collect();
    let script_path = img.with_extension("stat.debugfs");
    fs::write(&script_path, script).unwrap();
    let out = run(
        Command::new("debugfs").arg("-f").arg(&script_path).arg(img),
        &[0],
    );
    let mut stats = HashMap::new();
    let mut cur: Option<Stat> = None;
    let mut in_xattrs = false;
    let mut in_map = false;
    for line in out.lines() {
        if line.starts_with("debugfs: ") {
            if let Some(s) = cur.take() {
                stats.insert(s.ino, s);
            }
            continue;
        }
        if line.starts_with("Inode: ") && line.contains("Type:") {
            let mut s = Stat {
                ino: field(line, "Inode:").unwrap().parse().unwrap(),
                ..Stat::default()
            };
            s.mode = u16::from_str_radix(field(line, "Mode:").unwrap(), 8).unwrap();
            s.flags = hex(field(line, "Flags:").unwrap()) as u32;
            cur = Some(s);
            in_xattrs = false;
            in_map = false;
            continue;
        }
        let Some(s) = cur.as_mut() else { continue };
        let t = line.trim_start();
        if t.starts_with("Generation:") {
            s.generation = field(t, "Generation:").unwrap().parse().unwrap();
        } else if t.starts_with("User:") {
            s.uid = field(t, "User:").unwrap().parse().unwrap();
            s.gid = field(t, "Group:").unwrap().parse().unwrap();
            s.size = field(t, "Size:").unwrap().parse().unwrap();
        } else if t.starts_with("File ACL:") {
            s.file_acl = field(t, "File ACL:").unwrap().parse().unwrap();
        } else if t.starts_with("Links:") {
            s.links = field(t, "Links:").unwrap().parse().unwrap();
            s.blockcount = field(t, "Blockcount:").unwrap().parse().unwrap();
        } else if let Some((name, rest)) = t.split_once(": 0x").filter(|(n, _)| n.ends_with("time"))
        {
            let word = rest.split_whitespace().next().unwrap();
            let (base, extra) = match word.split_once(':') {
                Some((b, e)) => (hex(b) as u32, Some(hex(e) as u32)),
                None => (hex(word) as u32, None),
            };
            s.times.insert(name.to_string(), (base, extra));
        } else if t.starts_with("Extended attributes:") {
            in_xattrs = true;
        } else if t.starts_with("Fast link dest:") {
            let q = t.trim_start_matches("Fast link dest: ");
            s.fast_link = Some(q.trim_matches('"').to_string());
        } else if t.contains("Device major/minor number:") {
            let nums = field(t, "number:").unwrap();
            let (ma, mi) = nums.split_once(':').unwrap();
            s.device = Some((ma.parse().unwrap(), mi.parse().unwrap()));
        } else if t == "BLOCKS:" || t == "EXTENTS:" {
            in_map = true;
            in_xattrs = false;
        } else if in_map && t.starts_with('(') {
            parse_map(t, &mut s.blocks);
        } else if in_xattrs && line.starts_with("  ") {
            let (name, rest) = t.split_once(" (").unwrap();
            let len: usize = rest.split(')').next().unwrap().parse().unwrap();
            s.xattrs.push((name.to_string(), len));
        } else {
            in_xattrs = false;
        }
    }
    if let Some(s) = cur.take() {
        stats.insert(s.ino, s);
    }
    stats
}

/// Parse "(0-11):564-575, (IND):576, (12):577, (1-20[u]):2227-2246".
fn parse_map(line: &str, blocks: &mut BTreeMap<u64, (u64, bool)>) {
    for tok in line.split(", ") {
        let Some((lhs, rhs)) = tok.split_once("):") else {
            continue;
        };
        let lhs = lhs.trim_start_matches('(');
        if !lhs.starts_with(|c: char| c.is_ascii_digit()) {
            continue; // IND, DIND, TIND, ETBn: tree blocks, not data
        }
        let uninit = lhs.ends_with("[u]");
        let lhs = lhs.trim_end_matches("[u]");
        let first: u64 = lhs.split('-').next().unwrap().parse().unwrap();
        let phys: u64 = rhs.split('-').next().unwrap().trim().parse().unwrap();
        let count = match lhs.split_once('-') {
            Some((a, b)) => b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1,
            None => 1,
        };
        for k in 0..count {
            blocks.insert(first + k, (phys + k, uninit));
        }
    }
}

/// Map every path below the root (relative, "" for the root) to its inode,
/// walking with fsimage's `read_dir`.
pub fn walk(fs: &Filesystem) -> BTreeMap<PathBuf, u32> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(PathBuf::new(), 2u32)];
    out.insert(PathBuf::new(), 2);
    while let Some((path, ino)) = stack.pop() {
        let inode = fs.inode(ino).unwrap();
        for e in fs
            .read_dir(&inode)
            .unwrap_or_else(|e| panic!("read_dir {path:?}: {e}"))
        {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let name = std::str::from_utf8(&e.name).unwrap();
            let child = path.join(name);
            let child_inode = fs.inode(e.ino).unwrap();
            if fs.superblock().has_incompat(fsimage::incompat::FILETYPE) {
                assert_eq!(
                    e.file_type,
                    expected_dirent_type(&child_inode),
                    "dirent type of {child:?}"
                );
            }
            if child_inode.file_type() == FileType::Directory {
                stack.push((child.clone(), e.ino));
            }
            out.insert(child, e.ino);
        }
    }
    out
}

fn expected_dirent_type(inode: &Inode) -> u8 {
    use fsimage::file_type as ft;
    match inode.file_type() {
        FileType::Regular => ft::REG_FILE,
        FileType::Directory => ft::DIR,
        FileType::Symlink => ft::SYMLINK,
        FileType::CharDevice => ft::CHRDEV,
        FileType::BlockDevice => ft::BLKDEV,
        FileType::Fifo => ft::FIFO,
        FileType::Socket => ft::SOCK,
        FileType::Unknown(_) => ft::UNKNOWN,
    }
}

/// The whole contents of a regular file through fsimage (runs or inline).
pub fn read_file(fs: &Filesystem, inode: &Inode) -> Vec<u8> {
    if let Some(data) = fs.inline_data(inode).unwrap() {
        return data;
    }
    let bs = u64::from(fs.block_size());
    let mut data = vec![0u8; inode.size as usize];
    let runs = fs.data_runs(inode).unwrap();
    let mut expect_logical = 0;
    for run in &runs {
        assert_eq!(
            run.logical, expect_logical,
            "runs of inode {} are not contiguous",
            inode.ino
        );
        expect_logical += run.len;
        if run.kind == RunKind::Hole {
            assert_eq!(run.physical, 0);
        }
        let start = (run.logical * bs) as usize;
        let end = ((run.logical + run.len) * bs).min(inode.size) as usize;
        // Fill with garbage first so a read that leaves bytes alone is caught.
        data[start..end].fill(0xAA);
        fs.read_file_blocks(inode, run, &mut data[start..end])
            .unwrap();
    }
    assert_eq!(
        expect_logical,
        inode.size.div_ceil(bs),
        "runs of inode {} do not cover the file",
        inode.ino
    );
    data
}

/// Compare every path of the source tree with what fsimage reads.
pub fn check_against_source(fs: &Filesystem, src: &Path, paths: &BTreeMap<PathBuf, u32>) {
    use std::os::unix::fs::MetadataExt;
    let mut seen = 0;
    for entry in walk_source(src) {
        let rel = entry.strip_prefix(src).unwrap().to_path_buf();
        let ino = *paths
            .get(&rel)
            .unwrap_or_else(|| panic!("{rel:?} missing from image"));
        let inode = fs.inode(ino).unwrap();
        let meta = fs::symlink_metadata(&entry).unwrap();
        assert_eq!(u32::from(inode.mode), meta.mode(), "mode of {rel:?}");
        if meta.is_file() {
            assert_eq!(inode.size, meta.len(), "size of {rel:?}");
            assert!(
                read_file(fs, &inode) == fs::read(&entry).unwrap(),
                "contents of {rel:?}"
            );
        } else if meta.is_symlink() {
            let target = fs::read_link(&entry).unwrap();
            assert_eq!(
                fs.symlink_target(&inode).unwrap(),
                target.as_os_str().as_encoded_bytes(),
                "target of {rel:?}"
            );
        }
        if rel != Path::new("one.txt") {
            // one.txt gets a new mtime from the debugfs script.
            assert_eq!(inode.mtime.sec, meta.mtime(), "mtime of {rel:?}");
        }
        seen += 1;
    }
    assert!(seen > 400, "source tree walk found only {seen} entries");
}

fn walk_source(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Compare every path with ext4-view, an independent reader.
pub fn check_against_ext4_view(fs: &Filesystem, img: &Path, paths: &BTreeMap<PathBuf, u32>) {
    let view = ext4_view::Ext4::load_from_path(img)
        .unwrap_or_else(|e| panic!("ext4-view cannot load {img:?}: {e}"));
    for (rel, &ino) in paths {
        let vpath = format!("/{}", rel.display());
        let vpath = vpath.as_str();
        let inode = fs.inode(ino).unwrap();
        let meta = view
            .symlink_metadata(vpath)
            .unwrap_or_else(|e| panic!("ext4-view metadata {vpath}: {e}"));
        assert_eq!(inode.mode & 0o7777, meta.mode(), "mode of {vpath}");
        assert_eq!(inode.uid, meta.uid(), "uid of {vpath}");
        assert_eq!(inode.gid, meta.gid(), "gid of {vpath}");
        assert_eq!(inode.size, meta.len(), "size of {vpath}");
        match inode.file_type() {
            FileType::Regular => {
                assert!(meta.file_type().is_regular_file(), "type of {vpath}");
                // ext4-view 1.0 ignores the uninitialised bit of extents and
                // fails on holes in block-mapped files; those files are
                // checked against the source tree and debugfs instead.
                let runs = fs.data_runs(&inode).unwrap();
                let unwritten = runs.iter().any(|r| r.kind == RunKind::Unwritten);
                let mapped_hole =
                    !inode.uses_extents() && runs.iter().any(|r| r.kind == RunKind::Hole);
                match view.read(vpath) {
                    Ok(theirs) if !unwritten => {
                        assert!(read_file(fs, &inode) == theirs, "contents of {vpath}")
                    }
                    Ok(_) => {}
                    Err(e) => assert!(mapped_hole, "ext4-view cannot read {vpath}: {e}"),
                }
            }
            FileType::Directory => {
                assert!(meta.is_dir(), "type of {vpath}");
                let mut ours: Vec<Vec<u8>> = fs
                    .read_dir(&inode)
                    .unwrap()
                    .into_iter()
                    .map(|e| e.name)
                    .collect();
                let mut theirs: Vec<Vec<u8>> = view
                    .read_dir(vpath)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().as_ref().to_vec())
                    .collect();
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "entries of {vpath}");
            }
            FileType::Symlink => {
                assert!(meta.is_symlink(), "type of {vpath}");
                let target = view.read_link(vpath).unwrap();
                assert_eq!(
                    fs.symlink_target(&inode).unwrap(),
                    target.as_ref(),
                    "target of {vpath}"
                );
            }
            FileType::CharDevice => assert!(meta.file_type().is_char_dev(), "type of {vpath}"),
            FileType::BlockDevice => assert!(meta.file_type().is_block_dev(), "type of {vpath}"),
            FileType::Fifo => assert!(meta.file_type().is_fifo(), "type of {vpath}"),
            other => panic!("unexpected type {other:?} at {vpath}"),
        }
    }
}

/// Compare every allocated inode with `debugfs stat`.
pub fn check_against_debugfs(fs: &Filesystem, img: &Path) {
    let inos = fs.allocated_inodes().unwrap();
    let stats = debugfs_stats(img, &inos);
    let bs = u64::from(fs.block_size());
    let mut checked = 0;
    for &ino in &inos {
        let inode = fs.inode(ino).unwrap();
        let s = stats
            .get(&ino)
            .unwrap_or_else(|| panic!("no debugfs stat for inode {ino}"));
        if inode.mode == 0 && inode.links == 0 {
            continue; // reserved inode never initialised
        }
        assert_eq!(inode.mode & 0o7777, s.mode & 0o7777, "mode of inode {ino}");
        assert_eq!(inode.flags, s.flags, "flags of inode {ino}");
        assert_eq!(inode.generation, s.generation, "generation of inode {ino}");
        assert_eq!(
            (inode.uid, inode.gid),
            (s.uid, s.gid),
            "owner of inode {ino}"
        );
        assert_eq!(inode.size, s.size, "size of inode {ino}");
        assert_eq!(inode.links, s.links, "links of inode {ino}");
        assert_eq!(inode.file_acl, s.file_acl, "file ACL block of inode {ino}");
        assert_eq!(inode.blocks_512, s.blockcount, "block count of inode {ino}");
        check_time(ino, "atime", Some(inode.atime), s);
        check_time(ino, "mtime", Some(inode.mtime), s);
        check_time(ino, "ctime", Some(inode.ctime), s);
        check_time(ino, "crtime", inode.crtime, s);
        assert_eq!(inode.rdev, s.device, "device numbers of inode {ino}");
        if let Some(target) = &s.fast_link {
            assert_eq!(
                fs.symlink_target(&inode).unwrap(),
                target.as_bytes(),
                "fast link of inode {ino}"
            );
        }
        let ours: Vec<(String, usize)> = fs
            .xattrs(&inode)
            .unwrap()
            .iter()
            .map(|x| (String::from_utf8(x.full_name()).unwrap(), x.value.len()))
            .collect();
        assert_eq!(ours, s.xattrs, "xattrs of inode {ino}");
        // Block map: every data block debugfs lists inside the file size,
        // with the same physical block and initialised state.
        if ino != 7 {
            let end = inode.size.div_ceil(bs);
            let mut want: Vec<(u64, u64, bool)> = s
                .blocks
                .iter()
                .filter(|(l, _)| **l < end)
                .map(|(l, (p, u))| (*l, *p, *u))
                .collect();
            if inode.has_inline_data() || inode.rdev.is_some() || s.fast_link.is_some() {
                want.clear();
            }
            let mut got = Vec::new();
            for run in fs.data_runs(&inode).unwrap() {
                if run.kind == RunKind::Hole {
                    continue;
                }
                for k in 0..run.len {
                    got.push((
                        run.logical + k,
                        run.physical + k,
                        run.kind == RunKind::Unwritten,
                    ));
                }
            }
            want.sort();
            assert_eq!(got, want, "block map of inode {ino}");
        }
        checked += 1;
    }
    assert!(checked > 400, "only {checked} inodes compared with debugfs");
}

fn check_time(ino: u32, name: &str, ours: Option<fsimage::Timestamp>, s: &Stat) {
    let theirs = s.times.get(name);
    match (ours, theirs) {
        (None, None) => {}
        (Some(t), Some(&(base, extra))) => {
            assert_eq!(t.sec as u32, base, "{name} seconds of inode {ino}");
            match extra {
                Some(extra) => {
                    assert_eq!(t.nsec, extra >> 2, "{name} nanoseconds of inode {ino}");
                    assert_eq!(
                        t.sec >> 32,
                        i64::from(base as i32 >> 31) + i64::from(extra & 3),
                        "{name} epoch of inode {ino}"
                    );
                }
                None => {
                    assert_eq!(t.nsec, 0);
                    assert_eq!(t.sec, i64::from(base as i32), "{name} of inode {ino}");
                }
            }
        }
        other => panic!("{name} of inode {ino}: fsimage/debugfs disagree on presence: {other:?}"),
    }
}
