//! Crafted hostile dumps: nothing may be written outside the target.

mod common;

use common::*;
use dump_format::dirent::DirEntry;
use dump_format::header::flags;
use dump_format::{encode_directory, Compression, Header, InodeMap, RecordType, TapeWriter};

const DATE: i32 = 1_700_000_000;

enum Node {
    Dir(Vec<(u32, &'static [u8])>),
    File(&'static [u8]),
    Symlink(&'static [u8]),
}

fn header(t: RecordType) -> Header {
    let mut h = Header::new(t);
    h.date = DATE;
    h.volume = 1;
    h.ntrec = 10;
    h.flags = flags::DR_NEWHEADER | flags::DR_NEWINODEFMT;
    h
}

/// A minimal level-0 dump: maps, then directories, then the other inodes.
fn make_dump(nodes: &[(u32, Node)]) -> Vec<u8> {
    let mut w = TapeWriter::new(Vec::new(), 10, Compression::None);
    let mut tape = header(RecordType::Tape);
    w.write_header(&mut tape).unwrap();
    let mut map = InodeMap::new(64);
    for (ino, _) in nodes {
        map.set(*ino);
    }
    for t in [RecordType::Clri, RecordType::Bits] {
        let mut h = header(t);
        h.count = (map.as_bytes().len() / 1024) as i32;
        w.write_header(&mut h).unwrap();
        w.write_data(map.as_bytes()).unwrap();
    }
    let mut ordered: Vec<&(u32, Node)> = nodes
        .iter()
        .filter(|(_, n)| matches!(n, Node::Dir(_)))
        .collect();
    ordered.extend(nodes.iter().filter(|(_, n)| !matches!(n, Node::Dir(_))));
    for (ino, node) in ordered {
        let (mode, data): (u16, Vec<u8>) = match node {
            Node::Dir(entries) => {
                let mut list = vec![
                    DirEntry {
                        ino: *ino,
                        file_type: 4,
                        name: b".".to_vec(),
                    },
                    DirEntry {
                        ino: 2,
                        file_type: 4,
                        name: b"..".to_vec(),
                    },
                ];
                list.extend(entries.iter().map(|(i, n)| DirEntry {
                    ino: *i,
                    file_type: 0,
                    name: n.to_vec(),
                }));
                (0o040755, encode_directory(&list))
            }
            Node::File(d) => (0o100644, d.to_vec()),
            Node::Symlink(t) => (0o120777, t.to_vec()),
        };
        let mut h = header(RecordType::Inode);
        h.inumber = *ino;
        h.inode.mode = mode;
        h.inode.nlink = 1;
        h.inode.size = data.len() as u64;
        let blocks = data.len().div_ceil(1024);
        h.count = blocks as i32;
        for i in 0..blocks {
            h.addr[i] = 1;
        }
        w.write_header(&mut h).unwrap();
        w.write_data(&data).unwrap();
    }
    w.write_end(&header(RecordType::End)).unwrap();
    w.finish().unwrap().0
}

#[test]
fn hostile_names_and_symlinks_write_nothing_outside() {
    let parent = scratch("hostile");
    let outside = parent.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"original").unwrap();
    let target = parent.join("target");
    std::fs::create_dir(&target).unwrap();
    // Already in the target: symlinks pointing outside, where the dump has
    // a file and a directory of the same names.
    std::os::unix::fs::symlink(outside.join("victim"), target.join("ok")).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("sub")).unwrap();

    let outside_abs: &'static [u8] = Box::leak(
        outside
            .to_str()
            .unwrap()
            .as_bytes()
            .to_vec()
            .into_boxed_slice(),
    );
    let dump = make_dump(&[
        (
            2,
            Node::Dir(vec![
                (20, b".."),
                (21, b"../victim"),
                (22, b"ok"),
                (23, b"link"),
                (24, b"sub"),
                (25, b"link"), // same name again: a write through the link
                (26, b"."),
            ]),
        ),
        (24, Node::Dir(vec![(27, b"victim")])),
        (20, Node::File(b"dotdot")),
        (21, Node::File(b"slash")),
        (22, Node::File(b"new ok")),
        (23, Node::Symlink(outside_abs)),
        (25, Node::File(b"through the link")),
        (26, Node::File(b"dot")),
        (27, Node::File(b"in sub")),
    ]);
    let dump_path = parent.join("hostile.dump");
    std::fs::write(&dump_path, &dump).unwrap();

    let out = run({
        let mut c = rrestore();
        c.arg("-rf").arg(&dump_path).current_dir(&target);
        c
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must report failure:\n{stderr}");
    for what in [
        "\"..\"",
        "\"../victim\"",
        "duplicate entry \"link\"",
        "\".\"",
    ] {
        assert!(stderr.contains(what), "{what} not reported:\n{stderr}");
    }
    // Outside untouched.
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"original");
    let names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["victim"], "something was written outside");
    // The planted file symlink was replaced by the dumped file.
    assert_eq!(std::fs::read(target.join("ok")).unwrap(), b"new ok");
    // The dump's own symlink exists, as a link.
    assert!(std::fs::symlink_metadata(target.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());

    // Listing works and shows only the safe names.
    let out = run({
        let mut c = rrestore();
        c.arg("-tf").arg(&dump_path);
        c
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    assert_eq!(names, [".", "./ok", "./link", "./sub", "./sub/victim"]);
    remove_tree(&parent);
}

#[test]
fn truncated_stream_reports_what_was_restored() {
    let dump = make_dump(&[
        (2, Node::Dir(vec![(12, b"a"), (13, b"b")])),
        (12, Node::File(b"first file")),
        (13, Node::File(&[7u8; 5000])),
    ]);
    // Cut inside the second file's data.
    let cut = &dump[..dump.len() - 10 * 1024 + 2048];
    let parent = scratch("truncated");
    std::fs::write(parent.join("cut.dump"), cut).unwrap();
    let target = parent.join("t");
    std::fs::create_dir(&target).unwrap();
    let out = run({
        let mut c = rrestore();
        c.arg("-rf")
            .arg(parent.join("cut.dump"))
            .current_dir(&target);
        c
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("byte"), "no offset in the error: {stderr}");
    assert_eq!(std::fs::read(target.join("a")).unwrap(), b"first file");
    remove_tree(&parent);
}
