//! CRC32C as the ext4 kernel code uses it for metadata_csum.
//!
//! The kernel's `crc32c(seed, data)` neither inverts the seed on entry nor
//! the result on exit; the `crc32c` crate's `crc32c_append` does both, so we
//! undo them here.

/// Raw (non-inverted) CRC32C continuation, as `ext4_chksum()` computes it.
pub(crate) fn ext4_crc32c(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

/// The per-inode seed: checksum seed, then inode number and generation.
pub(crate) fn inode_seed(fs_seed: u32, ino: u32, generation: u32) -> u32 {
    let c = ext4_crc32c(fs_seed, &ino.to_le_bytes());
    ext4_crc32c(c, &generation.to_le_bytes())
}
