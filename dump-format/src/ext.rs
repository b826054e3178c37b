//! rdump's extension of the tape inode: what dump 0.4b47's format has no field for.
//!
//! The reference restore never reads `c_spare`, and the header checksum covers it, so
//! values stored there travel safely and leave the dump readable by the reference tools.
//! The layout (32-bit words of `c_spare`, in the dump's byte order) is documented in
//! docs/FORMAT.md:
//!
//! | word | meaning |
//! |---|---|
//! | 0 | [`EXTENSION_MAGIC`] |
//! | 1 | presence bits: 1 = crtime, 2 = rdev |
//! | 2..5 | atime: seconds low, seconds high, nanoseconds |
//! | 5..8 | mtime, the same way |
//! | 8..11 | ctime |
//! | 11..14 | crtime (valid when bit 1 is set) |
//! | 14 | ext4 inode flags (`i_flags`), all 32 bits |
//! | 15, 16 | device major and minor, full 32 bits (valid when bit 2 is set) |
//! | 17..30 | zero, reserved |

/// Marks `c_spare` as holding an [`InodeExtension`] ("RDX1").
pub const EXTENSION_MAGIC: i32 = 0x5244_5831;

const HAS_CRTIME: i32 = 1;
const HAS_RDEV: i32 = 2;

/// A timestamp with nanoseconds and 64-bit seconds (ext4 dates past 2038).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
}

/// The inode attributes rdump keeps beyond what dump 0.4b47 records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InodeExtension {
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub crtime: Option<Timestamp>,
    /// ext4 `i_flags`.
    pub flags: u32,
    /// Device `(major, minor)` without the 8/20-bit limits of the on-disk encodings.
    pub rdev: Option<(u32, u32)>,
}

fn put_time(words: &mut [i32], t: Timestamp) {
    words[0] = t.sec as i32;
    words[1] = (t.sec >> 32) as i32;
    words[2] = t.nsec as i32;
}

fn get_time(words: &[i32]) -> Timestamp {
    Timestamp {
        sec: (words[0] as u32 as i64) | ((words[1] as i64) << 32),
        // A hostile dump may say anything; clamp to a valid nanosecond count.
        nsec: (words[2] as u32).min(999_999_999),
    }
}

impl InodeExtension {
    /// Reads the extension from `c_spare`, if its magic number is there.
    pub fn from_spare(spare: &[i32; 30]) -> Option<InodeExtension> {
        if spare[0] != EXTENSION_MAGIC {
            return None;
        }
        let present = spare[1];
        Some(InodeExtension {
            atime: get_time(&spare[2..5]),
            mtime: get_time(&spare[5..8]),
            ctime: get_time(&spare[8..11]),
            crtime: (present & HAS_CRTIME != 0).then(|| get_time(&spare[11..14])),
            flags: spare[14] as u32,
            rdev: (present & HAS_RDEV != 0).then_some((spare[15] as u32, spare[16] as u32)),
        })
    }

    /// Writes the extension into `c_spare`, replacing what was there.
    pub fn to_spare(&self, spare: &mut [i32; 30]) {
        spare.fill(0);
        spare[0] = EXTENSION_MAGIC;
        let mut present = 0;
        put_time(&mut spare[2..5], self.atime);
        put_time(&mut spare[5..8], self.mtime);
        put_time(&mut spare[8..11], self.ctime);
        if let Some(t) = self.crtime {
            present |= HAS_CRTIME;
            put_time(&mut spare[11..14], t);
        }
        spare[14] = self.flags as i32;
        if let Some((major, minor)) = self.rdev {
            present |= HAS_RDEV;
            spare[15] = major as i32;
            spare[16] = minor as i32;
        }
        spare[1] = present;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = InodeExtension {
            atime: Timestamp { sec: -5, nsec: 1 },
            mtime: Timestamp {
                sec: 1 << 33,
                nsec: 999_999_999,
            },
            ctime: Timestamp {
                sec: 1_700_000_000,
                nsec: 123_456_789,
            },
            crtime: Some(Timestamp {
                sec: 4_000_000_000,
                nsec: 7,
            }),
            flags: 0x8008_0000,
            rdev: Some((300, 70000)),
        };
        let mut spare = [0; 30];
        e.to_spare(&mut spare);
        assert_eq!(InodeExtension::from_spare(&spare), Some(e));
        spare[0] = 0;
        assert_eq!(InodeExtension::from_spare(&spare), None);
    }
}
