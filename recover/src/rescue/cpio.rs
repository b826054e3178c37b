//! The initramfs archive: cpio in the "newc" format the kernel unpacks (see the kernel's
//! Documentation/driver-api/early-userspace/buffer-format.rst). Small enough to write
//! here: a fixed ASCII header per entry, name and data padded to 4 bytes, a trailer.

use std::io::{self, Write};
use std::path::Path;

/// Writes newc entries; times are 0 and owners root so the same tree gives the same bytes.
pub struct CpioWriter<W: Write> {
    out: W,
    ino: u32,
    offset: u64,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            ino: 0,
            offset: 0,
        }
    }

    pub fn dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        self.entry(name, S_IFDIR | perm, 2, (0, 0), &[])
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, S_IFREG | perm, 1, (0, 0), data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(name, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    pub fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(name, S_IFCHR | perm, 1, (major, minor), &[])
    }

    /// Writes the trailer and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[])?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> io::Result<()> {
        let size = u32::try_from(data.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: {} bytes is too big for cpio", data.len()),
            )
        })?;
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            size,
            0, // dev major
            0, // dev minor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut header = String::from("070701");
        for f in fields {
            header.push_str(&format!("{f:08X}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.offset % 4) as usize) % 4;
        self.put(&[0; 3][..n])
    }
}

/// Archives the tree under `root` (names relative to it, each directory before what it
/// holds, in name order), then the extra character devices given as (name, major, minor).
pub fn pack_tree(root: &Path, devices: &[(&str, u32, u32)]) -> io::Result<Vec<u8>> {
    let mut w = CpioWriter::new(Vec::new());
    pack_dir(&mut w, root, "")?;
    for (name, major, minor) in devices {
        w.char_dev(name, 0o600, *major, *minor)?;
    }
    w.finish()
}

fn pack_dir<W: Write>(w: &mut CpioWriter<W>, dir: &Path, prefix: &str) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let file_name = e.file_name();
        let name = file_name.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: name is not UTF-8", e.path().display()),
            )
        })?;
        let rel = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let meta = std::fs::symlink_metadata(e.path())?;
        let perm = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(e.path())?;
            w.symlink(&rel, &target.to_string_lossy())?;
        } else if meta.is_dir() {
            w.dir(&rel, perm)?;
            pack_dir(w, &e.path(), &rel)?;
        } else if meta.is_file() {
            w.file(&rel, perm, &std::fs::read(e.path())?)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a file, directory or symlink", e.path().display()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_and_padding() {
        let mut w = CpioWriter::new(Vec::new());
        w.file("ab", 0o644, b"xyz").unwrap();
        let out = w.finish().unwrap();
        let head = std::str::from_utf8(&out[..110]).unwrap();
        assert!(head.starts_with("070701"));
        assert_eq!(&head[6..14], "00000001"); // ino
        assert_eq!(&head[14..22], "000081A4"); // regular, 0644
        assert_eq!(&head[54..62], "00000003"); // size
        assert_eq!(&head[94..102], "00000003"); // "ab" + NUL
        assert_eq!(&out[110..113], b"ab\0");
        assert_eq!(out[113], 0); // 113 padded to 116
        assert_eq!(&out[116..119], b"xyz");
        assert_eq!(out.len() % 4, 0);
        let trailer = std::str::from_utf8(&out[120..230]).unwrap();
        assert!(trailer.starts_with("070701"));
        assert_eq!(&out[230..240], b"TRAILER!!!");
    }
}
