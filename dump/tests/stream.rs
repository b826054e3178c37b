//! The bytes rdump writes: the same layout as the reference dump, the same
//! output for any number of threads, and the data the reference dump loses
//! (microseconds, nanoseconds and the rest in the extension, 255-byte names,
//! inline data, sparse files at the cost of their data blocks).

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    build_image, dump_to, inode_items, raw_records, require_root, run, tool, ImageSpec, LoopDevice,
    Mount,
};
use dump_format::{decode_directory, decode_xattr_blob, Header, RecordType};

/// The inode fields both dumps must agree on (not the dates, device name,
/// checksum, c_spare extension, or tv_usec, which rdump fills in).
fn comparable(h: &Header) -> String {
    if h.record_type() == Some(RecordType::End) {
        // dump's trailer repeats whatever inode it wrote last; only the
        // type and the volume fields mean something there.
        return format!(
            "END ino {} level {} label {:?} filesys {:?} host {:?} c_flags {:#x} ntrec {}",
            h.inumber,
            h.level,
            h.label_str(),
            h.filesys_str(),
            h.host_str(),
            h.flags,
            h.ntrec
        );
    }
    let i = &h.inode;
    // rdump writes 0 as a symlink's flags (what restore -C expects); dump
    // copies them from the inode.
    let flags = if i.mode & 0o170000 == 0o120000 {
        0
    } else {
        i.flags
    };
    let n = h.addr_count();
    let addr: String = if matches!(
        h.record_type(),
        Some(RecordType::Inode) | Some(RecordType::Addr)
    ) {
        h.addr[..n]
            .iter()
            .map(|a| if *a != 0 { '1' } else { '0' })
            .collect()
    } else {
        String::new()
    };
    format!(
        "type {} ino {} count {} addr {addr} mode {:o} nlink {} ids {:?} size {} times {} {} {} \
         db {:?} ib {:?} flags {:#x} blocks {} gen {} uid {} gid {} level {} label {:?} \
         filesys {:?} host {:?} c_flags {:#x} ntrec {} ext {}",
        h.c_type,
        h.inumber,
        h.count,
        i.mode,
        i.nlink,
        i.old_ids,
        i.size,
        i.atime.sec,
        i.mtime.sec,
        i.ctime.sec,
        i.db,
        i.ib,
        flags,
        i.blocks,
        i.gen,
        i.uid,
        i.gid,
        h.level,
        h.label_str(),
        h.filesys_str(),
        h.host_str(),
        h.flags,
        h.ntrec,
        h.extattributes,
    )
}

/// A directory record as on tape: (ino, reclen, type, name).
type Direct = (u32, u16, u8, Vec<u8>);

/// Directory records per directory inode.
fn directories(records: &[common::RawRecord]) -> Vec<(u32, Vec<Direct>)> {
    let mut out: Vec<(u32, Vec<u8>, usize)> = Vec::new();
    for r in records {
        let h = &r.header;
        let is_dir = h.inode.mode & 0o170000 == 0o040000 && !h.is_extattr();
        match h.record_type() {
            Some(RecordType::Inode) if is_dir => {
                out.push((h.inumber, r.data.clone(), h.inode.size as usize))
            }
            Some(RecordType::Addr) if is_dir => out.last_mut().unwrap().1.extend(&r.data),
            _ => {}
        }
    }
    out.into_iter()
        .map(|(ino, data, size)| {
            let mut entries = Vec::new();
            let mut off = 0;
            while off + 8 <= size {
                let d = &data[off..];
                let reclen = u16::from_le_bytes([d[4], d[5]]);
                let namlen = d[7] as usize;
                entries.push((
                    u32::from_le_bytes([d[0], d[1], d[2], d[3]]),
                    reclen,
                    d[6],
                    d[8..8 + namlen].to_vec(),
                ));
                if reclen == 0 {
                    break;
                }
                off += reclen as usize;
            }
            (ino, entries)
        })
        .collect()
}

/// dump's stderr with the varying parts (dates, device names, timings)
/// taken out, one line per message.
fn normalised_messages(stderr: &str, device: &str, output: &Path) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            !l.contains(" at: ")
                && !l.contains("Date ")
                && !l.contains("transfer rate")
                && !l.contains("finished in")
                && !l.contains(" took ")
        })
        .map(|l| {
            l.replace(&output.display().to_string(), "OUTPUT")
                .replace(device, "DEVICE")
        })
        .collect()
}

/// On a filesystem without the cases the reference dump gets wrong, rdump's
/// stream has the reference dump's layout header for header and block for
/// block, its messages, and its size estimate.
#[test]
fn same_layout_messages_and_estimate_as_the_reference_dump() {
    require_root();
    for (fs_type, bs) in [("ext2", 1024), ("ext4", 4096)] {
        let work = tempfile::tempdir().unwrap();
        let mut spec = ImageSpec::new(fs_type, bs);
        spec.plain = true;
        let image = build_image(spec, work.path());
        let lo = LoopDevice::new(&image);
        let ours = work.path().join("ours.dump");
        let theirs = work.path().join("theirs.dump");
        let out = run(Command::new(tool("dump"))
            .arg("-0")
            .arg("-f")
            .arg(&theirs)
            .arg(&lo.0)
            .env("TZ", "UTC"));
        let their_msgs = String::from_utf8_lossy(&out.stderr).into_owned();
        let our_msgs = dump_to(&lo.0, &ours, &[]);

        let a = raw_records(&std::fs::read(&theirs).unwrap());
        let b = raw_records(&std::fs::read(&ours).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                comparable(&x.header),
                comparable(&y.header),
                "{fs_type}: headers differ"
            );
            assert_eq!(x.data.len(), y.data.len());
            let ty = x.header.inode.mode & 0o170000;
            let size = x.header.inode.size as usize;
            let is_file = matches!(
                x.header.record_type(),
                Some(RecordType::Inode) | Some(RecordType::Addr)
            );
            if is_file && ty == 0o120000 && size < 60 {
                // Fast symlinks: dump leaves stale memory after the target.
                assert_eq!(
                    x.data[..size],
                    y.data[..size],
                    "{fs_type}: ino {}",
                    x.header.inumber
                );
            } else if !(is_file && ty == 0o040000) {
                assert!(
                    x.data == y.data,
                    "{fs_type}: data of ino {} differ",
                    x.header.inumber
                );
            }
        }
        // Directories: the same records (dump leaves stale memory in the
        // padding after names and after the last chunk).
        assert_eq!(
            directories(&a),
            directories(&b),
            "{fs_type}: directories differ"
        );
        assert_eq!(a.len(), b.len(), "{fs_type}: different number of headers");
        // The microseconds dump drops, rdump keeps.
        assert!(
            b.iter().any(|r| r.header.inode.mtime.usec != 0),
            "{fs_type}: no microseconds on tape"
        );

        let device = lo.0.display().to_string();
        assert_eq!(
            normalised_messages(&their_msgs, &device, &theirs),
            normalised_messages(&our_msgs, &device, &ours),
            "{fs_type}: messages differ"
        );

        let s_theirs = run(Command::new(tool("dump")).arg("-S").arg(&lo.0));
        let s_ours = run(Command::new(common::rdump_bin()).arg("-S").arg(&lo.0));
        assert_eq!(
            String::from_utf8_lossy(&s_theirs.stdout),
            String::from_utf8_lossy(&s_ours.stdout),
            "{fs_type}: -S estimates differ"
        );
    }
}

/// Byte-identical output whatever the number of threads, compressed or not.
#[test]
fn output_does_not_depend_on_threads() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let image = build_image(ImageSpec::new("ext4", 1024), work.path());
    for compression in [None, Some("-z"), Some("--zstd=5"), Some("-j1")] {
        let mut first: Option<Vec<u8>> = None;
        for threads in ["1", "2", "5"] {
            let out = work.path().join(format!("t{threads}.dump"));
            let mut opts = vec!["--threads", threads, "-b", "16"];
            opts.extend(compression);
            dump_to(&image, &out, &opts);
            let bytes = std::fs::read(&out).unwrap();
            match &first {
                None => first = Some(bytes),
                Some(f) => assert!(
                    *f == bytes,
                    "{compression:?}: --threads {threads} gives other bytes than --threads 1"
                ),
            }
        }
        let first = first.unwrap();
        let (h, _) = Header::parse(&first[..1024]).unwrap();
        assert_eq!(h.date, 1_700_000_000, "SOURCE_DATE_EPOCH is the dump date");
        assert_eq!(h.ntrec, 16);
    }
}

/// Microseconds in tv_usec; nanoseconds, crtime, flags and device numbers
/// in the extension; large device numbers as the reference restore reads them.
#[test]
fn times_and_devices_on_tape() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let image = build_image(ImageSpec::new("ext4", 4096), work.path());
    let dump = work.path().join("d.dump");
    dump_to(&image, &dump, &["--zstd"]);
    let src = Mount::new(&image, &work.path().join("src"), true);
    let items = inode_items(&dump);
    let by_ino = |ino: u64| {
        items
            .iter()
            .find(|(h, _)| u64::from(h.inumber) == ino && !h.is_extattr())
            .unwrap_or_else(|| panic!("inode {ino} not on tape"))
    };
    use std::os::unix::fs::MetadataExt;
    for name in ["small", "k300", "sub", "fastlink", "bigchar", "fifo"] {
        let m = std::fs::symlink_metadata(src.dir.join(name)).unwrap();
        let (h, _) = by_ino(m.ino());
        assert_eq!(h.inode.mtime.sec as i64, m.mtime(), "{name}");
        assert_eq!(h.inode.mtime.usec as i64, m.mtime_nsec() / 1000, "{name}");
        let ext = h
            .extension()
            .unwrap_or_else(|| panic!("{name}: no extension"));
        assert_eq!(ext.mtime.sec, m.mtime(), "{name}");
        assert_eq!(i64::from(ext.mtime.nsec), m.mtime_nsec(), "{name}");
        assert_eq!(i64::from(ext.atime.nsec), m.atime_nsec(), "{name}");
        assert!(ext.crtime.is_some(), "{name}: crtime missing");
    }
    let m = std::fs::symlink_metadata(src.dir.join("bigchar")).unwrap();
    let (h, _) = by_ino(m.ino());
    assert_eq!(h.extension().unwrap().rdev, Some((300, 70000)));
    let glibc = (70000u32 & 0xff) | (300 << 8) | ((70000 & !0xff) << 12);
    assert_eq!(
        h.inode.db[0], glibc,
        "di_rdev as restore passes it to mknod"
    );
    let m = std::fs::symlink_metadata(src.dir.join("k300")).unwrap();
    let (h, _) = by_ino(m.ino());
    assert_eq!(
        h.extension().unwrap().flags & 0x80000,
        0x80000,
        "ext4 extents flag"
    );
}

/// A 5 GiB file with three data blocks costs three blocks of data on tape
/// (and its TS_ADDR headers).
#[test]
fn sparse_file_costs_its_data_blocks() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let mut spec = ImageSpec::new("ext4", 4096);
    spec.huge_sparse = true;
    let image = build_image(spec, work.path());
    let dump = work.path().join("s.dump");
    dump_to(&image, &dump, &[]);
    let records = raw_records(&std::fs::read(&dump).unwrap());
    let src = Mount::new(&image, &work.path().join("src"), true);
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(src.dir.join("huge5g")).unwrap().ino() as u32;
    let mine: Vec<_> = records
        .iter()
        .filter(|r| r.header.inumber == ino && !r.header.is_extattr())
        .collect();
    let data_blocks: usize = mine.iter().map(|r| r.data.len() / 1024).sum();
    assert_eq!(data_blocks, 3 * 4, "three 4 KiB blocks of data");
    assert_eq!(mine[0].header.inode.size, 5 << 30);
    // One header per 512 tape blocks of file, as dump writes them.
    assert_eq!(mine.len(), (5usize << 30) / (512 * 1024));
}

/// Names of 255 bytes are on tape whole (the reference dump mangles them;
/// the reference restore cannot restore them, rrestore can).
#[test]
fn names_of_255_bytes() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let mut spec = ImageSpec::new("ext4", 1024);
    spec.name_255 = true;
    let image = build_image(spec, work.path());
    let dump = work.path().join("n.dump");
    dump_to(&image, &dump, &["-j"]);
    let items = inode_items(&dump);
    let (_, root) = items
        .iter()
        .find(|(h, _)| h.inumber == 2)
        .expect("root directory");
    let entries = decode_directory(root.as_ref().unwrap()).expect("root directory decodes");
    for name in ["m".repeat(255), "d".repeat(255), "n".repeat(254)] {
        assert!(
            entries.iter().any(|e| e.name == name.as_bytes()),
            "{}-byte name missing",
            name.len()
        );
    }
}

/// Inline-data files are ordinary data on tape; their xattrs are kept and
/// the internal `system.data` attribute is not written.
#[test]
fn inline_data_files() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let mut spec = ImageSpec::new("ext4", 4096);
    spec.features = Some("inline_data");
    let image = build_image(spec, work.path());
    // The image really holds inline files.
    let stat = run(Command::new(tool("debugfs"))
        .args(["-R", "stat /inl/medium"])
        .arg(&image));
    assert!(
        String::from_utf8_lossy(&stat.stdout).contains("inline data"),
        "inl/medium is not inline: {}",
        String::from_utf8_lossy(&stat.stdout)
    );
    let dump = work.path().join("i.dump");
    dump_to(&image, &dump, &[]);
    let src = Mount::new(&image, &work.path().join("src"), true);
    use std::os::unix::fs::MetadataExt;
    let items = inode_items(&dump);
    for name in ["inl/tiny", "inl/medium"] {
        let ino = std::fs::metadata(src.dir.join(name)).unwrap().ino() as u32;
        let (_, data) = items
            .iter()
            .find(|(h, _)| h.inumber == ino && !h.is_extattr())
            .unwrap();
        assert_eq!(
            data.as_deref().unwrap(),
            std::fs::read(src.dir.join(name)).unwrap(),
            "{name}"
        );
    }
    let ino = std::fs::metadata(src.dir.join("inl/medium")).unwrap().ino() as u32;
    let (_, blob) = items
        .iter()
        .find(|(h, _)| h.inumber == ino && h.is_xattr())
        .expect("xattr record of inl/medium");
    let attrs = decode_xattr_blob(blob.as_ref().unwrap()).unwrap();
    let names: Vec<_> = attrs
        .iter()
        .map(|a| String::from_utf8_lossy(&a.name).into_owned())
        .collect();
    assert_eq!(names, vec!["user.on_inline".to_string()], "{names:?}");
    assert!(items.iter().all(|(h, d)| {
        !h.is_xattr()
            || decode_xattr_blob(d.as_ref().unwrap())
                .unwrap()
                .iter()
                .all(|a| a.name != b"system.data")
    }));
}
