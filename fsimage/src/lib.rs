//! Read-only ext2/ext3/ext4 at inode level.
