//! `-A file`, the archive table of contents, against dump/restore 0.4b47
//! on the same image: rdump's TOC has the same blocks as dump's, header by
//! header (dates, checksums and the fields rdump fills differently left
//! out), and is its own dump's prefix plus its trailer; the reference
//! restore -t -A lists rdump's TOC as it lists the dump, rrestore -t -A
//! lists dump's TOC exactly as restore does, and rrestore -i -A browses it.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{rdump, require_root, rrestore_bin, run, tool, LoopDevice};
use dump_format::header::{Header, RecordType, TP_BSIZE};

/// An image with nested directories (one big enough for several blocks)
/// and files after them.
fn image(work: &Path) -> PathBuf {
    let src = work.join("tree");
    fs::create_dir_all(src.join("etc/deep/deeper")).unwrap();
    fs::create_dir_all(src.join("many")).unwrap();
    for i in 0..300 {
        fs::write(src.join(format!("many/file-with-a-long-name-{i:04}")), b"x").unwrap();
    }
    fs::write(src.join("etc/deep/deeper/f"), vec![7u8; 40_000]).unwrap();
    fs::write(src.join("top"), b"top\n").unwrap();
    std::os::unix::fs::symlink("etc/deep", src.join("link")).unwrap();
    let image = work.join("toc.img");
    run(Command::new(tool("mke2fs"))
        .args(["-q", "-F", "-t", "ext4", "-b", "1024"])
        .arg("-d")
        .arg(&src)
        .arg(&image)
        .arg("16M"));
    image
}

/// The dump and TOC of the reference dump and of rdump, in that order.
struct Made {
    dump: (PathBuf, PathBuf),
    rdump: (PathBuf, PathBuf),
}

/// Both dumps with `extra` options (e.g. a compression).
fn make(work: &Path, extra: &[&str]) -> Made {
    let img = image(work);
    let dev = LoopDevice::new(&img);
    let p = |n: &str| work.join(n);
    // dump takes the label from libblkid's cache, which can still hold the
    // label of the image this loop device carried a second ago (another
    // test's): BLKID_FILE=/dev/null makes it read the superblock.
    run(Command::new(tool("dump"))
        .env("BLKID_FILE", "/dev/null")
        .args([OsStr::new("-0"), OsStr::new("-f")])
        .arg(p("d.dump"))
        .args(extra)
        .arg("-A")
        .arg(p("d.toc"))
        .arg(&dev.0));
    let (rd, rt) = (p("r.dump"), p("r.toc"));
    let mut args = vec![
        OsStr::new("-0"),
        OsStr::new("-f"),
        rd.as_os_str(),
        OsStr::new("-A"),
        rt.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    args.push(OsStr::new(&dev.0));
    let o = rdump(&args, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "rdump failed: {err}");
    assert!(err.contains("Archiving dump to "), "{err}");
    Made {
        dump: (p("d.dump"), p("d.toc")),
        rdump: (p("r.dump"), p("r.toc")),
    }
}

/// The live entries of a directory block (dump leaves stale bytes in the
/// space a record length covers; rdump zeros): (inode, type, name).
fn entries(b: &[u8]) -> Vec<(u32, u8, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= b.len() {
        let ino = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let reclen = u16::from_le_bytes([b[at + 4], b[at + 5]]) as usize;
        let (kind, len) = (b[at + 6], b[at + 7] as usize);
        let name = b.get(at + 8..at + 8 + len).unwrap_or_default();
        out.push((ino, kind, String::from_utf8_lossy(name).into_owned()));
        if reclen < 8 {
            break;
        }
        at += reclen;
    }
    out
}

/// Per 1 KiB block: a header's meaningful fields, or the data itself.
fn blocks(toc: &[u8]) -> Vec<String> {
    assert_eq!(toc.len() % TP_BSIZE, 0, "a TOC is whole tape blocks");
    let mut out = Vec::new();
    let mut data_left = 0u64;
    let mut dir = false;
    let (mut dir_size, mut dir_pos) = (0u64, 0u64);
    for b in toc.chunks(TP_BSIZE) {
        if data_left > 0 {
            data_left -= 1;
            // dump leaves stale bytes past the directory's size.
            let live = dir_size.saturating_sub(dir_pos).min(TP_BSIZE as u64) as usize;
            dir_pos += TP_BSIZE as u64;
            out.push(if dir {
                format!("entries {:?}", entries(&b[..live]))
            } else {
                format!("data {:x?}", b)
            });
            continue;
        }
        let (h, _) = Header::parse(b).expect("a header where one is due");
        data_left = h.data_block_count();
        if h.record_type() == Some(RecordType::Inode) {
            (dir_size, dir_pos) = (h.inode.size, 0);
        }
        dir = h.record_type() != Some(RecordType::Bits)
            && h.record_type() != Some(RecordType::Clri)
            && h.inode.mode & 0o170000 == 0o040000;
        let end = h.record_type() == Some(RecordType::End);
        out.push(format!(
            "type {} ino {} tapea {} vol {} flags {:#x} count {} addr {:?} mode {:o} size {}",
            h.c_type,
            h.inumber,
            h.tapea,
            h.volume,
            h.flags,
            // dump's trailer repeats the last inode's count, addr and
            // dinode; only its c_inos words mean something.
            if end { 0 } else { h.count },
            if end { &h.addr[..16] } else { &h.addr[..] },
            if end { 0 } else { h.inode.mode },
            if end { 0 } else { h.inode.size },
        ));
    }
    out
}

/// Fails at the first block that differs, showing both.
fn assert_same_blocks(ours: &[u8], theirs: &[u8]) {
    let (a, b) = (blocks(ours), blocks(theirs));
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    let show = |v: &[String], i: usize| v.get(i).map(|s| s[..s.len().min(300)].to_string());
    if let Some(i) = first {
        panic!(
            "block {i}: rdump {:?}\n dump {:?}",
            show(&a, i),
            show(&b, i)
        );
    }
    assert_eq!(a.len(), b.len());
}

/// Of a compressed dump, the TOC is plain, and dump clears DR_COMPRESSED
/// in its headers: restore must not take it for a compressed dump.
#[test]
fn toc_of_a_compressed_dump_is_plain_as_dumps() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let m = make(work.path(), &["-z"]);
    let theirs = fs::read(&m.dump.1).unwrap();
    let ours = fs::read(&m.rdump.1).unwrap();
    assert_same_blocks(&ours, &theirs);
    let o = run(Command::new(tool("restore")).arg("-tA").arg(&m.rdump.1));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("compressed"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("./top\n"));
}

#[test]
fn rdump_toc_has_dumps_blocks_and_is_its_dumps_prefix_and_trailer() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let m = make(work.path(), &[]);
    let theirs = fs::read(&m.dump.1).unwrap();
    let ours = fs::read(&m.rdump.1).unwrap();
    assert!(ours.len() > 20 * TP_BSIZE, "TOC of {} bytes", ours.len());
    assert_same_blocks(&ours, &theirs);

    // The TOC is the dump's own blocks: up to the first file, then the trailer.
    let dump = fs::read(&m.rdump.0).unwrap();
    let trailer = ours
        .chunks(TP_BSIZE)
        .rev()
        .take_while(|b| Header::parse(b).map(|(h, _)| h.record_type()) == Ok(Some(RecordType::End)))
        .count()
        * TP_BSIZE;
    let head = ours.len() - trailer;
    assert_eq!(&dump[..head], &ours[..head]);
    let (h, _) = Header::parse(&ours[head..head + TP_BSIZE]).unwrap();
    let at = h.tapea as usize * TP_BSIZE;
    assert_eq!(&dump[at..at + trailer], &ours[head..]);
    let (next, _) = Header::parse(&dump[head..head + TP_BSIZE]).unwrap();
    assert_eq!(next.record_type(), Some(RecordType::Inode));
    assert_ne!(next.inode.mode & 0o170000, 0o040000, "a file follows");
}

/// restore's listing without its date line (the dates differ).
fn listing(program: &Path, args: &[&OsStr]) -> String {
    let o = run(Command::new(program).args(args));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.contains("date:") && !l.starts_with("Level "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn both_restores_list_both_tocs_alike() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let m = make(work.path(), &[]);
    let restore = tool("restore");
    fn a(p: &Path) -> Vec<&OsStr> {
        vec![OsStr::new("-t"), OsStr::new("-A"), p.as_os_str()]
    }
    let reference_of_dump = listing(&restore, &a(&m.dump.1));
    assert!(reference_of_dump.contains("Starting inode numbers by volume:\n\tVolume 1: 2\n"));
    assert!(reference_of_dump.contains("./many/file-with-a-long-name-0299\n"));
    assert_eq!(listing(&restore, &a(&m.rdump.1)), reference_of_dump);
    assert_eq!(listing(&rrestore_bin(), &a(&m.dump.1)), reference_of_dump);
    assert_eq!(listing(&rrestore_bin(), &a(&m.rdump.1)), reference_of_dump);
    // Exactly, dates included, on the same TOC.
    let full = |p: &Path| run(Command::new(p).args(a(&m.dump.1))).stdout;
    assert_eq!(full(&rrestore_bin()), full(&restore));
}

/// The interactive shell's output for `commands`: standard output, or
/// standard error if `from_stderr` (restore writes its listings there when
/// its input is not a terminal, and its prompts to standard output).
fn shell(program: &Path, toc: &Path, commands: &str, from_stderr: bool) -> String {
    let mut child = Command::new(program)
        .arg("-i")
        .arg("-A")
        .arg(toc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(if from_stderr { &o.stderr } else { &o.stdout }).into_owned()
}

#[test]
fn rrestore_browses_a_toc_as_restore_does() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let m = make(work.path(), &[]);
    let commands = "ls\ncd etc/deep\npwd\nls\nquit\n";
    let ours = shell(&rrestore_bin(), &m.dump.1, commands, false);
    assert!(ours.contains("deeper/"), "{ours}");
    assert!(ours.contains("/etc/deep\n"), "{ours}");
    assert_eq!(ours, shell(&tool("restore"), &m.dump.1, commands, true));
    assert_eq!(ours, shell(&rrestore_bin(), &m.rdump.1, commands, false));
}

#[test]
fn rrestore_refuses_a_toc_for_extraction() {
    let o = Command::new(rrestore_bin())
        .args(["-x", "-A", "x.toc", "-f", "x.dump"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("only with -t and -i"));
}

/// A multi-volume dump: the TOC has one trailer, whose c_inos name the
/// first inode of every volume, as dump's does.
#[test]
fn toc_of_a_multi_volume_dump_names_each_volumes_first_inode() {
    require_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let list = |prefix: &str| -> String {
        (1..=8)
            .map(|i| w.join(format!("{prefix}{i}")).display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    // Both tools write these volumes in turn (only the TOCs are compared);
    // make's own -f comes first and the later -f wins in both.
    let volumes = list("v");
    let m = make(w, &["-B", "250", "-f", &volumes]);
    assert!(!m.dump.0.exists() && !m.rdump.0.exists());
    assert!(w.join("v3").exists(), "the test dump should span volumes");
    let (a, b) = (fs::read(&m.dump.1).unwrap(), fs::read(&m.rdump.1).unwrap());
    assert_same_blocks(&b, &a);
    let listing = listing(
        &tool("restore"),
        &[OsStr::new("-tA"), m.rdump.1.as_os_str()],
    );
    assert!(listing.contains("\tVolume 3: "), "{listing}");
}
