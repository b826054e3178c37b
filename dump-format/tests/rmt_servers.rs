//! The rmt client against the real servers: Debian's rmt (package dump,
//! /usr/sbin/rmt-dump) and GNU tar's (package tar, /usr/sbin/rmt-tar).
//! `$RSH` is a small script that checks it is called as dump calls it
//! (`host -l user rmt`) and runs the rmt named, so these tests need no ssh
//! (tests/rmt.rs of rdump goes through a real sshd). A missing server
//! fails the test.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use dump_format::rmt::{
    Connection, Launcher, RemoteName, RemoteReader, RemoteWriter, RmtError, O_RDONLY,
};

#[path = "support/script.rs"]
mod script;
use script::write_script;

const SERVERS: [&str; 2] = ["/usr/sbin/rmt-dump", "/usr/sbin/rmt-tar"];

fn server(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} is missing: install the Debian packages dump and tar (the CI does)"
    );
    p
}

/// A scratch directory holding the fake remote shell.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rmt-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let rsh = dir.join("rsh");
        // Refuses any other argument shape than dump's.
        write_script(&rsh, "#!/bin/sh\n[ \"$#\" = 4 ] && [ \"$2\" = -l ] || { echo \"bad rsh args: $*\" >&2; exit 9; }\n\
             echo \"$1 $3\" > \"$(dirname \"$0\")/called\"\nexec \"$4\"\n",);
        Scratch(dir)
    }

    fn launcher(&self, rmt: &Path) -> Launcher {
        Launcher {
            rsh: self.0.join("rsh").into(),
            rmt: rmt.into(),
        }
    }

    fn name(&self, file: &str) -> RemoteName {
        RemoteName::parse(&format!("backup@somehost:{}", self.0.join(file).display()))
            .unwrap()
            .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Records of several sizes, as rdump writes compressed records.
fn records() -> Vec<Vec<u8>> {
    (0..40u32)
        .map(|i| {
            let len = 1 + (i as usize * 7919) % 70_000;
            (0..len)
                .map(|j| (j as u32 ^ i.wrapping_mul(131)) as u8)
                .collect()
        })
        .collect()
}

#[test]
fn write_then_read_back_through_both_servers() {
    for srv in SERVERS {
        let scratch = Scratch::new("rw");
        let launcher = scratch.launcher(&server(srv));
        let name = scratch.name("tape");
        let recs = records();
        let mut w = RemoteWriter::create(&name, &launcher).unwrap();
        for r in &recs {
            w.write_block(r).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(
            fs::read_to_string(scratch.0.join("called")).unwrap().trim(),
            "somehost backup",
            "{srv}"
        );
        let expected: Vec<u8> = recs.concat();
        assert_eq!(fs::read(scratch.0.join("tape")).unwrap(), expected, "{srv}");

        let mut back = Vec::new();
        RemoteReader::open(&name, &launcher)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, expected, "{srv}");
    }
}

#[test]
fn errors_carry_the_servers_message() {
    for srv in SERVERS {
        let scratch = Scratch::new("err");
        let launcher = scratch.launcher(&server(srv));
        let name = scratch.name("missing/tape");
        let e = match RemoteReader::open(&name, &launcher) {
            Err(e) => e,
            Ok(_) => panic!("{srv}: opening a missing file must fail"),
        };
        match &e {
            RmtError::Remote { errno, message, .. } => {
                assert_eq!(*errno, 2, "{srv}: {e}");
                assert_eq!(message, "No such file or directory", "{srv}");
            }
            other => panic!("{srv}: expected an E reply, got {other}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("somehost") && text.contains("missing/tape"),
            "{text}"
        );
    }
}

#[test]
fn seek_ioctl_status_and_version() {
    for srv in SERVERS {
        let scratch = Scratch::new("ops");
        fs::write(scratch.0.join("f"), b"0123456789").unwrap();
        let launcher = scratch.launcher(&server(srv));
        let name = scratch.name("f");
        let mut c = Connection::connect(&name, &launcher).unwrap();
        c.open(&name.file, O_RDONLY).unwrap();
        // Offset 0 from the start means the same to both servers (they
        // disagree on the order of L's arguments).
        assert_eq!(c.seek(0, 0).unwrap(), 0, "{srv}");
        let mut buf = [0u8; 4];
        assert_eq!(c.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"0123");
        // Debian's rmt takes I-1 as the client's protocol version (1).
        if srv.ends_with("rmt-dump") {
            assert_eq!(c.ioctl(-1, 0).unwrap(), 1);
        }
        // A plain file is no tape: the server says so.
        let e = c.ioctl(7, 1).unwrap_err();
        assert!(
            matches!(e, RmtError::Remote { errno: 25, .. }),
            "{srv}: {e}"
        );
        if srv.ends_with("rmt-dump") {
            // dump's order: offset, then whence.
            assert_eq!(c.seek(7, 0).unwrap(), 7);
            assert_eq!(c.read(&mut buf).unwrap(), 3);
            assert_eq!(&buf[..3], b"789");
            assert_eq!(c.version().unwrap(), 2);
            // Whatever the answer to an extended op on a file, the
            // conversation stays in step.
            let r = c.ioctl_extended(4, 1);
            assert!(matches!(r, Ok(_) | Err(RmtError::Remote { .. })), "{r:?}");
            assert_eq!(c.seek(1, 0).unwrap(), 1);
            let e = c.status_field(b'T').unwrap_err();
            assert!(matches!(e, RmtError::Remote { errno: 25, .. }), "{e}");
            assert_eq!(c.seek(2, 0).unwrap(), 2);
            // S on a file: Debian's rmt answers the error, then exits
            // (status 3); the next request finds the connection gone.
            let e = c.status().unwrap_err();
            assert!(matches!(e, RmtError::Remote { errno: 25, .. }), "{e}");
            let e = c.seek(0, 0).unwrap_err();
            assert!(matches!(e, RmtError::Lost { .. }), "{e}");
        } else {
            let e = c.status().unwrap_err();
            assert!(matches!(e, RmtError::Remote { errno: 25, .. }), "{e}");
            assert_eq!(c.seek(0, 0).unwrap(), 0);
            // GNU's rmt has no V: it answers "Garbage command" and exits.
            let e = c.version().unwrap_err();
            assert!(matches!(e, RmtError::Remote { errno: 22, .. }), "{e}");
            let e = c.seek(0, 0).unwrap_err();
            assert!(matches!(e, RmtError::Lost { .. }), "{e}");
        }
    }
}

#[test]
fn a_server_that_dies_is_a_lost_connection_not_a_hang() {
    let scratch = Scratch::new("dead");
    // A "server" that answers the open, then exits.
    let fake = scratch.0.join("fake-rmt");
    write_script(&fake, "#!/bin/sh\nread cmd\nread flags\necho A0\nexit 0\n");
    let name = scratch.name("x");
    let mut w = RemoteWriter::create(&name, &scratch.launcher(&fake)).unwrap();
    let e = w.write_block(&[7u8; 10240]).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, RmtError::Lost { .. })
            && text.contains("Lost connection to remote host somehost"),
        "{text}"
    );
}

#[test]
fn a_garbled_reply_is_refused() {
    let scratch = Scratch::new("botch");
    let fake = scratch.0.join("fake-rmt");
    write_script(
        &fake,
        "#!/bin/sh\nread cmd\nread flags\necho A0\nread r\necho Q17\n",
    );
    let name = scratch.name("x");
    let mut r = RemoteReader::open(&name, &scratch.launcher(&fake)).unwrap();
    let e = r.read(&mut [0u8; 100]).unwrap_err().to_string();
    assert!(e.contains("botched") && e.contains("Q17"), "{e}");
    // A count larger than asked for must not be believed either.
    let fake2 = scratch.0.join("fake-rmt2");
    write_script(
        &fake2,
        "#!/bin/sh\nread cmd\nread flags\necho A0\nread r\necho A999999\n",
    );
    let mut r = RemoteReader::open(&name, &scratch.launcher(&fake2)).unwrap();
    let e = r.read(&mut [0u8; 100]).unwrap_err().to_string();
    assert!(e.contains("botched") && e.contains("A999999"), "{e}");
}

/// A hostile or broken server cannot make the client read without bound:
/// over-long reply lines and status sizes are refused, a reply cut short
/// is a lost connection.
#[test]
fn replies_are_bounded() {
    let scratch = Scratch::new("bounds");
    let name = scratch.name("x");
    let fake = |tag: &str, after_open: &str| {
        let path = scratch.0.join(format!("fake-{tag}"));
        write_script(
            &path,
            format!("#!/bin/sh\nread cmd\nread flags\necho A0\nread r\n{after_open}\n"),
        );
        scratch.launcher(&path)
    };
    let long_code = fake("code", "head -c 100000 /dev/zero | tr '\\0' 7; echo");
    let mut c = Connection::connect(&name, &long_code).unwrap();
    c.open(&name.file, O_RDONLY).unwrap();
    let e = c.read(&mut [0u8; 10]).unwrap_err();
    assert!(matches!(e, RmtError::Botched { .. }), "{e}");

    let long_message = fake(
        "msg",
        "echo E5; head -c 100000 /dev/zero | tr '\\0' m; echo",
    );
    let mut c = Connection::connect(&name, &long_message).unwrap();
    c.open(&name.file, O_RDONLY).unwrap();
    let e = c.read(&mut [0u8; 10]).unwrap_err();
    assert!(matches!(e, RmtError::Botched { .. }), "{e}");

    let huge_status = fake("status", "echo A100000000");
    let mut c = Connection::connect(&name, &huge_status).unwrap();
    c.open(&name.file, O_RDONLY).unwrap();
    let e = c.status().unwrap_err();
    assert!(matches!(e, RmtError::Botched { .. }), "{e}");

    let cut = fake("cut", "echo A10; printf abc");
    let mut c = Connection::connect(&name, &cut).unwrap();
    c.open(&name.file, O_RDONLY).unwrap();
    let e = c.read(&mut [0u8; 10]).unwrap_err();
    assert!(matches!(e, RmtError::Lost { .. }), "{e}");
}
