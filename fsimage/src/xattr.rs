//! Extended attributes: in the inode's extra space, in an external block,
//! and values kept in EA inodes.

use crate::bytes::{le16, le32, u8_at};
use crate::csum::ext4_crc32c;
use crate::error::{corrupt, Error};
use crate::inode::Inode;
use crate::superblock::incompat;
use crate::Filesystem;

const XATTR_MAGIC: u32 = 0xEA02_0000;
/// Size of the header of an external xattr block.
const BLOCK_HEADER_SIZE: usize = 32;
/// Offset of `h_checksum` in that header.
const BLOCK_CHECKSUM_OFFSET: usize = 0x10;
/// Size of an entry before its name.
const ENTRY_HEADER_SIZE: usize = 16;
/// The kernel's limit on one xattr value (XATTR_SIZE_MAX).
pub const MAX_VALUE_SIZE: u32 = 65536;

/// Name index of the inline-data attribute `system.data`.
pub(crate) const INDEX_SYSTEM: u8 = 7;

/// One extended attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Xattr {
    /// Namespace index (1 user, 2 posix ACL access, 3 posix ACL default,
    /// 4 trusted, 6 security, 7 system, 8 system.richacl).
    pub name_index: u8,
    /// Name suffix as stored on disk (without the namespace prefix).
    pub name: Vec<u8>,
    /// Raw value as stored on disk (ACLs are in ext4's compact format).
    pub value: Vec<u8>,
}

impl Xattr {
    /// The namespace prefix for a name index, as the kernel maps it.
    pub fn prefix(name_index: u8) -> Option<&'static str> {
        Some(match name_index {
            1 => "user.",
            2 => "system.posix_acl_access",
            3 => "system.posix_acl_default",
            4 => "trusted.",
            6 => "security.",
            7 => "system.",
            8 => "system.richacl",
            _ => return None,
        })
    }

    /// Full attribute name with its namespace prefix, e.g. `user.comment`.
    /// Unknown indexes keep the bare suffix.
    pub fn full_name(&self) -> Vec<u8> {
        let mut full = Xattr::prefix(self.name_index)
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_default();
        full.extend_from_slice(&self.name);
        full
    }
}

/// Where a list of entries lives, which fixes how value offsets count.
struct Region<'a> {
    /// Bytes holding entries and values.
    bytes: &'a [u8],
    /// Offset of the first entry in `bytes`.
    first_entry: usize,
    /// Offset value offsets are relative to.
    value_base: usize,
    place: String,
}

/// All xattrs of `inode`: in-inode first, then the external block.
pub(crate) fn xattrs(fs: &Filesystem, inode: &Inode) -> Result<Vec<Xattr>, Error> {
    let mut out = Vec::new();
    in_inode(fs, inode, &mut out)?;
    if inode.file_acl != 0 {
        let bs = u64::from(fs.block_size());
        let blk = inode.file_acl;
        if blk >= fs.superblock().blocks_count {
            return Err(corrupt(
                inode.ino,
                format!("xattr block {blk} is past the end of the filesystem"),
            ));
        }
        let buf = fs.device().read_vec(blk * bs, bs as usize)?;
        let place = format!("xattr block {blk}");
        if le32(&buf, 0) != XATTR_MAGIC {
            return Err(corrupt(
                inode.ino,
                format!("{place} has bad magic {:#x}", le32(&buf, 0)),
            ));
        }
        if le32(&buf, 8) != 1 {
            return Err(corrupt(
                inode.ino,
                format!("{place} claims {} blocks", le32(&buf, 8)),
            ));
        }
        if fs.verify_checksums() && fs.superblock().has_metadata_csum() {
            let mut c = ext4_crc32c(fs.csum_seed(), &blk.to_le_bytes());
            c = ext4_crc32c(c, &buf[..BLOCK_CHECKSUM_OFFSET]);
            c = ext4_crc32c(c, &[0; 4]);
            c = ext4_crc32c(c, &buf[BLOCK_CHECKSUM_OFFSET + 4..]);
            let stored = le32(&buf, BLOCK_CHECKSUM_OFFSET);
            if c != stored {
                return Err(Error::Checksum {
                    what: format!("{place} of inode {}", inode.ino),
                    ino: Some(inode.ino),
                    stored,
                    computed: c,
                });
            }
        }
        let region = Region {
            bytes: &buf,
            first_entry: BLOCK_HEADER_SIZE,
            value_base: 0,
            place,
        };
        parse_entries(fs, inode.ino, &region, &mut out)?;
    }
    Ok(out)
}

/// Only the in-inode xattrs (where `system.data` of inline data lives).
pub(crate) fn in_inode(fs: &Filesystem, inode: &Inode, out: &mut Vec<Xattr>) -> Result<(), Error> {
    let area = inode.xattr_area();
    if area.len() < 4 || le32(area, 0) != XATTR_MAGIC {
        return Ok(());
    }
    let region = Region {
        bytes: area,
        first_entry: 4,
        value_base: 4,
        place: "in-inode xattrs".into(),
    };
    parse_entries(fs, inode.ino, &region, out)
}

fn parse_entries(
    fs: &Filesystem,
    ino: u32,
    r: &Region<'_>,
    out: &mut Vec<Xattr>,
) -> Result<(), Error> {
    let b = r.bytes;
    let mut off = r.first_entry;
    // The list ends with four zero bytes (or the end of the region).
    while off + 4 <= b.len() && le32(b, off) != 0 {
        if off + ENTRY_HEADER_SIZE > b.len() {
            return Err(corrupt(
                ino,
                format!("{}: truncated entry at offset {off}", r.place),
            ));
        }
        let name_len = usize::from(u8_at(b, off));
        let name_index = u8_at(b, off + 1);
        let value_offs = usize::from(le16(b, off + 2));
        let value_inum = le32(b, off + 4);
        let value_size = le32(b, off + 8);
        let name_end = off + ENTRY_HEADER_SIZE + name_len;
        if name_end > b.len() {
            return Err(corrupt(
                ino,
                format!(
                    "{}: name of entry at offset {off} runs past the end",
                    r.place
                ),
            ));
        }
        let name = b[off + ENTRY_HEADER_SIZE..name_end].to_vec();
        let value = if value_inum != 0 {
            if !fs.superblock().has_incompat(incompat::EA_INODE) {
                return Err(corrupt(
                    ino,
                    format!(
                        "{}: entry at offset {off} names EA inode {value_inum} but ea_inode is off",
                        r.place
                    ),
                ));
            }
            ea_inode_value(fs, ino, value_inum, value_size)?
        } else {
            let start = r.value_base + value_offs;
            let end = start.checked_add(value_size as usize);
            match end {
                Some(end) if end <= b.len() => b[start..end].to_vec(),
                _ => {
                    return Err(corrupt(
                        ino,
                        format!(
                            "{}: value of entry at offset {off} ({value_size} bytes at {value_offs}) runs past the end",
                            r.place
                        ),
                    ))
                }
            }
        };
        out.push(Xattr {
            name_index,
            name,
            value,
        });
        off = (name_end + 3) & !3;
    }
    Ok(())
}

/// Read a value stored as the contents of an EA inode.
fn ea_inode_value(
    fs: &Filesystem,
    owner: u32,
    value_ino: u32,
    size: u32,
) -> Result<Vec<u8>, Error> {
    if size > MAX_VALUE_SIZE {
        return Err(corrupt(
            owner,
            format!("xattr value in EA inode {value_ino} claims {size} bytes"),
        ));
    }
    let ea = fs.inode(value_ino)?;
    if !ea.is_ea_inode() {
        return Err(corrupt(
            owner,
            format!("xattr value inode {value_ino} lacks the EA_INODE flag"),
        ));
    }
    if ea.size != u64::from(size) {
        return Err(corrupt(
            owner,
            format!(
                "xattr value inode {value_ino} holds {} bytes, entry says {size}",
                ea.size
            ),
        ));
    }
    let mut value = vec![0u8; size as usize];
    let bs = u64::from(fs.block_size());
    for run in fs.data_runs(&ea)? {
        let start = (run.logical * bs) as usize;
        let end = (start as u64 + run.len * bs).min(u64::from(size)) as usize;
        if start >= end {
            continue;
        }
        fs.read_file_blocks(&ea, &run, &mut value[start..end])?;
    }
    Ok(value)
}
