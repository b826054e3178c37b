//! Extended attributes on tape (`EXT_XATTR` records).
//!
//! Dump 0.4b47 writes a file's extended attributes as the raw ext2 on-disk structures:
//! either the in-inode area (starting with magic `0xEA020001`, value offsets counted from
//! the first entry) or an external attribute block (a 32-byte header with magic
//! `0xEA020000`, value offsets counted from the start of the block). POSIX ACLs inside
//! are in the ext2/3/4 on-disk ACL form (version 1, short entries for the owner, group,
//! mask and other), which restore converts to the `getxattr(2)` form (version 2).
//! These structures are always little-endian, whatever the byte order of the dump.
//!
//! [`Xattr`] values here are in the `getxattr(2)` form; the conversion to and from the
//! disk form happens at encode and decode time.

/// Magic of an external attribute block.
pub const XATTR_MAGIC_BLOCK: u32 = 0xEA02_0000;
/// Magic of the in-inode attribute area.
pub const XATTR_MAGIC_INODE: u32 = 0xEA02_0001;
/// The reference restore reads at most this many bytes of an EXT_XATTR record.
pub const REFERENCE_MAX_BLOB: usize = 4096;
/// Largest blob this crate encodes or decodes: ext4 values can reach 64 KiB.
pub const MAX_BLOB: usize = 1 << 20;

const BLOCK_HEADER_LEN: usize = 32;
const ENTRY_HEADER_LEN: usize = 16;

/// An extended attribute as `getxattr(2)` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Xattr {
    /// Full name with its namespace, e.g. `user.comment`, `system.posix_acl_access`.
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

impl Xattr {
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Xattr {
        Xattr {
            name: name.into(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XattrError {
    #[error("extended attribute data is {0} bytes, too short for a header")]
    TooShort(usize),
    #[error(
        "extended attribute data has magic {0:#010x}, not an ext2 attribute block or inode area"
    )]
    BadMagic(u32),
    #[error("extended attribute entry at offset {offset} runs past the end of the data")]
    EntryPastEnd { offset: usize },
    #[error("value of extended attribute {name:?} (offset {offset}, {size} bytes) lies outside the data")]
    ValuePastEnd {
        name: String,
        offset: usize,
        size: usize,
    },
    #[error(
        "extended attribute {name:?} keeps its value in inode {inum}, which a dump cannot carry"
    )]
    ValueInInode { name: String, inum: u32 },
    #[error("extended attribute name index {0} is unknown")]
    UnknownIndex(u8),
    #[error("extended attribute name {0:?} has no namespace ext2/3/4 can store")]
    UnknownNamespace(String),
    #[error("extended attribute name {0:?} is longer than 255 bytes")]
    NameTooLong(String),
    #[error("extended attributes need {0} bytes, more than the {MAX_BLOB} a record may hold")]
    TooLarge(usize),
    #[error("POSIX ACL is malformed: {0}")]
    BadAcl(&'static str),
}

/// Namespace prefixes by ext2 name index. Index 2 and 3 name the whole attribute.
const PREFIXES: &[(u8, &[u8])] = &[
    (1, b"user."),
    (2, b"system.posix_acl_access"),
    (3, b"system.posix_acl_default"),
    (4, b"trusted."),
    (5, b"lustre."),
    (6, b"security."),
    (8, b"system.richacl"),
    (7, b"system."),
];

/// The full attribute name for an ext2 name index and on-disk name suffix.
pub fn full_name(index: u8, suffix: &[u8]) -> Result<Vec<u8>, XattrError> {
    let prefix = PREFIXES
        .iter()
        .find(|(i, _)| *i == index)
        .map(|(_, p)| *p)
        .ok_or(XattrError::UnknownIndex(index))?;
    let mut name = prefix.to_vec();
    name.extend_from_slice(suffix);
    Ok(name)
}

/// Splits a full attribute name into the ext2 name index and suffix.
pub fn split_name(name: &[u8]) -> Result<(u8, &[u8]), XattrError> {
    for (index, prefix) in PREFIXES {
        let whole = *index == 2 || *index == 3 || *index == 8;
        if whole {
            if name == *prefix {
                return Ok((*index, &[]));
            }
        } else if let Some(rest) = name.strip_prefix(*prefix) {
            return Ok((*index, rest));
        }
    }
    Err(XattrError::UnknownNamespace(
        String::from_utf8_lossy(name).into_owned(),
    ))
}

fn is_acl_index(index: u8) -> bool {
    index == 2 || index == 3
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// ext4's hash of an attribute entry (name and in-block value).
fn entry_hash(name: &[u8], value: &[u8]) -> u32 {
    let mut hash: u32 = 0;
    for &c in name {
        hash = (hash << 5) ^ (hash >> 27) ^ u32::from(c);
    }
    for chunk in value.chunks(4) {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        hash = (hash << 16) ^ (hash >> 16) ^ u32::from_le_bytes(w);
    }
    hash
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// Encodes attributes as an ext2 attribute block, the form dump writes for external
/// attribute blocks. The result is a multiple of 1 KiB. ACL values are converted to the
/// on-disk form. `system.data` (ext4 inline data) is not an attribute a dump should
/// carry; callers leave it out.
pub fn encode_xattr_blob(attrs: &[Xattr]) -> Result<Vec<u8>, XattrError> {
    struct Prepared<'a> {
        index: u8,
        suffix: &'a [u8],
        value: Vec<u8>,
    }
    let mut prepared = Vec::with_capacity(attrs.len());
    let mut needed = BLOCK_HEADER_LEN + 4;
    for a in attrs {
        let (index, suffix) = split_name(&a.name)?;
        if suffix.len() > 255 {
            return Err(XattrError::NameTooLong(
                String::from_utf8_lossy(&a.name).into_owned(),
            ));
        }
        let value = if is_acl_index(index) {
            acl_xattr_to_disk(&a.value)?
        } else {
            a.value.clone()
        };
        needed += pad4(ENTRY_HEADER_LEN + suffix.len()) + pad4(value.len());
        prepared.push(Prepared {
            index,
            suffix,
            value,
        });
    }
    if needed > MAX_BLOB {
        return Err(XattrError::TooLarge(needed));
    }
    let len = needed.div_ceil(1024) * 1024;
    let mut blob = vec![0u8; len];
    blob[0..4].copy_from_slice(&XATTR_MAGIC_BLOCK.to_le_bytes());
    blob[4..8].copy_from_slice(&1u32.to_le_bytes()); // h_refcount
    blob[8..12].copy_from_slice(&1u32.to_le_bytes()); // h_blocks
    let mut entry_at = BLOCK_HEADER_LEN;
    let mut value_end = len;
    for p in &prepared {
        let value_at = value_end - pad4(p.value.len());
        // e_value_offs is 16 bits: a blob over 64 KiB can only hold a value whose
        // offset still fits (rdump gives an attribute that large a blob of its own).
        if !p.value.is_empty() && value_at > usize::from(u16::MAX) {
            return Err(XattrError::TooLarge(needed));
        }
        blob[value_at..value_at + p.value.len()].copy_from_slice(&p.value);
        value_end = value_at;
        let e = &mut blob[entry_at..];
        e[0] = p.suffix.len() as u8;
        e[1] = p.index;
        let offs = if p.value.is_empty() {
            0
        } else {
            value_at as u16
        };
        e[2..4].copy_from_slice(&offs.to_le_bytes());
        e[4..8].copy_from_slice(&0u32.to_le_bytes());
        e[8..12].copy_from_slice(&(p.value.len() as u32).to_le_bytes());
        e[12..16].copy_from_slice(&entry_hash(p.suffix, &p.value).to_le_bytes());
        e[16..16 + p.suffix.len()].copy_from_slice(p.suffix);
        entry_at += pad4(ENTRY_HEADER_LEN + p.suffix.len());
    }
    Ok(blob)
}

/// Decodes an EXT_XATTR blob in either the block or the in-inode form. Every offset is
/// checked against the blob; ACL values come back in the `getxattr(2)` form.
pub fn decode_xattr_blob(blob: &[u8]) -> Result<Vec<Xattr>, XattrError> {
    if blob.len() < 8 {
        return Err(XattrError::TooShort(blob.len()));
    }
    let (first, value_base) = match le32(blob, 0) {
        XATTR_MAGIC_BLOCK => (BLOCK_HEADER_LEN, 0),
        XATTR_MAGIC_INODE => (4, 4),
        m => return Err(XattrError::BadMagic(m)),
    };
    let mut out = Vec::new();
    let mut at = first;
    loop {
        if at + 4 > blob.len() {
            return Err(XattrError::EntryPastEnd { offset: at });
        }
        if le32(blob, at) == 0 {
            break;
        }
        if at + ENTRY_HEADER_LEN > blob.len() {
            return Err(XattrError::EntryPastEnd { offset: at });
        }
        let name_len = blob[at] as usize;
        let index = blob[at + 1];
        let value_offs = le16(blob, at + 2) as usize;
        let value_inum = le32(blob, at + 4);
        let value_size = le32(blob, at + 8) as usize;
        let name_end = at + ENTRY_HEADER_LEN + name_len;
        if name_end > blob.len() {
            return Err(XattrError::EntryPastEnd { offset: at });
        }
        let name = full_name(index, &blob[at + ENTRY_HEADER_LEN..name_end])?;
        if value_inum != 0 {
            return Err(XattrError::ValueInInode {
                name: String::from_utf8_lossy(&name).into_owned(),
                inum: value_inum,
            });
        }
        let value_at = value_base + value_offs;
        let value = match value_at.checked_add(value_size) {
            Some(end) if end <= blob.len() => &blob[value_at..end],
            _ => {
                return Err(XattrError::ValuePastEnd {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    offset: value_at,
                    size: value_size,
                })
            }
        };
        let value = if is_acl_index(index) {
            acl_disk_to_xattr(value)?
        } else {
            value.to_vec()
        };
        out.push(Xattr { name, value });
        at += pad4(ENTRY_HEADER_LEN + name_len);
    }
    Ok(out)
}

const ACL_DISK_VERSION: u32 = 1;
const ACL_XATTR_VERSION: u32 = 2;
const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
const ACL_UNDEFINED_ID: u32 = u32::MAX;

/// Converts an ACL from the ext2/3/4 on-disk form (version 1) to the `getxattr(2)` form
/// (version 2).
pub fn acl_disk_to_xattr(disk: &[u8]) -> Result<Vec<u8>, XattrError> {
    if disk.len() < 4 {
        return Err(XattrError::BadAcl("shorter than its header"));
    }
    if le32(disk, 0) != ACL_DISK_VERSION {
        return Err(XattrError::BadAcl("unknown on-disk version"));
    }
    let mut out = ACL_XATTR_VERSION.to_le_bytes().to_vec();
    let mut at = 4;
    while at < disk.len() {
        if at + 4 > disk.len() {
            return Err(XattrError::BadAcl("truncated entry"));
        }
        let tag = le16(disk, at);
        let perm = le16(disk, at + 2);
        let id = match tag {
            ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_MASK | ACL_OTHER => {
                at += 4;
                ACL_UNDEFINED_ID
            }
            ACL_USER | ACL_GROUP => {
                if at + 8 > disk.len() {
                    return Err(XattrError::BadAcl("truncated entry"));
                }
                let id = le32(disk, at + 4);
                at += 8;
                id
            }
            _ => return Err(XattrError::BadAcl("unknown entry tag")),
        };
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Ok(out)
}

/// Converts an ACL from the `getxattr(2)` form (version 2) to the ext2/3/4 on-disk form.
pub fn acl_xattr_to_disk(x: &[u8]) -> Result<Vec<u8>, XattrError> {
    if x.len() < 4 || (x.len() - 4) % 8 != 0 {
        return Err(XattrError::BadAcl(
            "length is not a header plus whole entries",
        ));
    }
    if le32(x, 0) != ACL_XATTR_VERSION {
        return Err(XattrError::BadAcl("unknown xattr version"));
    }
    let mut out = ACL_DISK_VERSION.to_le_bytes().to_vec();
    for e in x[4..].chunks_exact(8) {
        let tag = le16(e, 0);
        out.extend_from_slice(&e[0..4]);
        match tag {
            ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_MASK | ACL_OTHER => {}
            ACL_USER | ACL_GROUP => out.extend_from_slice(&e[4..8]),
            _ => return Err(XattrError::BadAcl("unknown entry tag")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = ACL_XATTR_VERSION.to_le_bytes().to_vec();
        for (t, p, i) in entries {
            v.extend_from_slice(&t.to_le_bytes());
            v.extend_from_slice(&p.to_le_bytes());
            v.extend_from_slice(&i.to_le_bytes());
        }
        v
    }

    #[test]
    fn blob_round_trip_with_acl() {
        let a = acl(&[
            (ACL_USER_OBJ, 6, ACL_UNDEFINED_ID),
            (ACL_USER, 4, 1000),
            (ACL_GROUP_OBJ, 4, ACL_UNDEFINED_ID),
            (ACL_MASK, 4, ACL_UNDEFINED_ID),
            (ACL_OTHER, 0, ACL_UNDEFINED_ID),
        ]);
        let attrs = vec![
            Xattr::new("user.comment", "hello"),
            Xattr::new("system.posix_acl_access", a),
            Xattr::new("security.selinux", "x\0"),
            Xattr::new("user.empty", ""),
        ];
        let blob = encode_xattr_blob(&attrs).unwrap();
        assert_eq!(blob.len(), 1024);
        assert_eq!(decode_xattr_blob(&blob).unwrap(), attrs);
    }

    #[test]
    fn hostile_offsets_are_errors() {
        let mut blob = encode_xattr_blob(&[Xattr::new("user.a", "b")]).unwrap();
        blob[BLOCK_HEADER_LEN + 2] = 0xff;
        blob[BLOCK_HEADER_LEN + 3] = 0xff;
        assert!(matches!(
            decode_xattr_blob(&blob),
            Err(XattrError::ValuePastEnd { .. })
        ));
        let mut blob = encode_xattr_blob(&[Xattr::new("user.a", "b")]).unwrap();
        blob.truncate(BLOCK_HEADER_LEN + 4);
        assert!(decode_xattr_blob(&blob).is_err());
    }

    #[test]
    fn value_offsets_past_64k_are_refused_not_wrapped() {
        let big = Xattr::new("user.big", vec![7u8; 65_536]);
        let small = Xattr::new("user.small", "x");
        // The large value alone fits: its offset is small.
        let blob = encode_xattr_blob(std::slice::from_ref(&big)).unwrap();
        assert_eq!(decode_xattr_blob(&blob).unwrap(), vec![big.clone()]);
        // Small first means its value sits past 64 KiB: refused.
        assert!(matches!(
            encode_xattr_blob(&[small, big]),
            Err(XattrError::TooLarge(_))
        ));
    }

    #[test]
    fn unknown_namespace_is_refused() {
        assert!(encode_xattr_blob(&[Xattr::new("os2.x", "1")]).is_err());
    }
}
