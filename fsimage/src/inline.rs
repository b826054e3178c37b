//! ext4 inline data (file or directory contents kept in `i_block` plus the
//! `system.data` xattr) and symlink targets.

use crate::error::{corrupt, Error};
use crate::inode::Inode;
use crate::runs::RunKind;
use crate::xattr::{self, INDEX_SYSTEM};
use crate::Filesystem;

/// The raw inline bytes: the 60 bytes of `i_block` followed by the value
/// of `system.data`, not truncated to the file size.
pub(crate) fn inline_bytes(fs: &Filesystem, inode: &Inode) -> Result<Vec<u8>, Error> {
    let mut data = inode.block_bytes().to_vec();
    let mut attrs = Vec::new();
    xattr::in_inode(fs, inode, &mut attrs)?;
    if let Some(a) = attrs
        .into_iter()
        .find(|a| a.name_index == INDEX_SYSTEM && a.name == b"data")
    {
        data.extend_from_slice(&a.value);
    }
    Ok(data)
}

/// The file contents of an inline-data inode, `i_size` bytes long.
pub(crate) fn inline_data(fs: &Filesystem, inode: &Inode) -> Result<Option<Vec<u8>>, Error> {
    if !inode.has_inline_data() {
        return Ok(None);
    }
    let mut data = inline_bytes(fs, inode)?;
    if inode.size > data.len() as u64 {
        return Err(corrupt(
            inode.ino,
            format!(
                "inline data holds {} bytes but the size is {}",
                data.len(),
                inode.size
            ),
        ));
    }
    data.truncate(inode.size as usize);
    Ok(Some(data))
}

/// Longest symlink target Linux allows (PATH_MAX - 1).
const MAX_SYMLINK: u64 = 4095;

/// The target of a symlink: inline, fast (in `i_block`) or slow (in a block).
pub(crate) fn symlink_target(fs: &Filesystem, inode: &Inode) -> Result<Vec<u8>, Error> {
    let ino = inode.ino;
    if inode.file_type() != crate::FileType::Symlink {
        return Err(Error::WrongType {
            ino,
            reason: "not a symbolic link",
        });
    }
    if inode.size > MAX_SYMLINK.min(u64::from(fs.block_size())) {
        return Err(corrupt(
            ino,
            format!("symlink size {} is too large", inode.size),
        ));
    }
    if let Some(data) = inline_data(fs, inode)? {
        return Ok(data);
    }
    if is_fast_symlink(fs, inode) {
        return Ok(inode.block_bytes()[..inode.size as usize].to_vec());
    }
    let mut target = vec![0u8; inode.size as usize];
    let bs = u64::from(fs.block_size());
    for run in fs.data_runs(inode)? {
        if run.kind == RunKind::Data {
            let start = (run.logical * bs) as usize;
            let end = target.len().min(start + bs as usize);
            if start < end {
                fs.read_file_blocks(inode, &run, &mut target[start..end])?;
            }
        }
    }
    Ok(target)
}

/// A fast symlink keeps its target in `i_block`: it is short enough and
/// owns no data block (an external xattr block may still be counted).
pub(crate) fn is_fast_symlink(fs: &Filesystem, inode: &Inode) -> bool {
    if inode.size >= 60 {
        return false;
    }
    let ea_sectors = if inode.file_acl != 0 {
        u64::from(fs.block_size() / 512)
    } else {
        0
    };
    inode.blocks_512 <= ea_sectors
}
