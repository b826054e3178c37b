//! Inode attributes as the dump records them: the 0.4b47 fields
//! (microsecond times, 32-bit flags, device in di_db) refined by rdump's
//! extension fields when present (nanosecond times, full flags and device
//! numbers).

use dump_format::{BsdTime, Header};

use crate::fsops::{Attrs, Time};

/// Attributes restored on an inode (see [`Attrs`]).
pub type InodeAttrs = Attrs;

fn from_bsd(t: BsdTime) -> Time {
    // A hostile dump may store any microsecond count; clamp it.
    let usec = t.usec.clamp(0, 999_999) as u32;
    Time {
        sec: i64::from(t.sec),
        nsec: usec * 1000,
    }
}

/// Owner, mode, times and flags of the inode in `h` (xattrs come later,
/// from their own records).
pub fn attrs_from_header(h: &Header) -> InodeAttrs {
    let i = &h.inode;
    let mut a = Attrs {
        mode: u32::from(i.mode),
        uid: i.uid,
        gid: i.gid,
        atime: from_bsd(i.atime),
        mtime: from_bsd(i.mtime),
        flags: i.flags,
        xattrs: Vec::new(),
    };
    if let Some(ext) = h.extension() {
        a.atime = Time {
            sec: ext.atime.sec,
            nsec: ext.atime.nsec,
        };
        a.mtime = Time {
            sec: ext.mtime.sec,
            nsec: ext.mtime.nsec,
        };
        a.flags = ext.flags;
    }
    a
}

/// The device number `(major, minor)` of a device inode: rdump's extension
/// if present, else ext2's old encoding in di_db[0] or, when that is zero,
/// the new encoding dump 0.4b47 leaves in di_db[1].
pub fn rdev(h: &Header) -> (u32, u32) {
    match h.extension().and_then(|e| e.rdev) {
        Some(d) => d,
        None => h.inode.rdev(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dump_format::{InodeExtension, RecordType, Timestamp};

    #[test]
    fn reference_fields_and_extension() {
        let mut h = Header::new(RecordType::Inode);
        h.inode.mode = 0o104755;
        h.inode.uid = 7;
        h.inode.mtime = BsdTime {
            sec: 100,
            usec: 250,
        };
        h.inode.db[0] = 0;
        h.inode.db[1] = (0x123 << 8) | 0x45 | (0x678 << 20);
        let a = attrs_from_header(&h);
        assert_eq!(a.mode, 0o104755);
        assert_eq!(
            a.mtime,
            Time {
                sec: 100,
                nsec: 250_000
            }
        );
        assert_eq!(rdev(&h), (0x123, 0x67845));
        h.inode.db[0] = (8 << 8) | 1;
        assert_eq!(rdev(&h), (8, 1));

        h.set_extension(&InodeExtension {
            mtime: Timestamp {
                sec: 5_000_000_000,
                nsec: 123,
            },
            flags: 0x10,
            rdev: Some((300, 70000)),
            ..Default::default()
        });
        let a = attrs_from_header(&h);
        assert_eq!(
            a.mtime,
            Time {
                sec: 5_000_000_000,
                nsec: 123
            }
        );
        assert_eq!(a.flags, 0x10);
        assert_eq!(rdev(&h), (300, 70000));
    }
}
