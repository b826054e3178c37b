//! An ext2/3/4 superblock as the mke2fs and tune2fs options that make the same
//! filesystem again (same geometry, features, UUID, label, hash seed, journal,
//! mount options, check counts).
//!
//! fsimage decodes the fields a reader needs; the rest are read here from the
//! superblock's raw bytes at their offsets in `struct ext2_super_block`.

use serde::{Deserialize, Serialize};

/// Feature bits by name, in e2fsprogs' spelling: (field, bit, name).
/// Field 0 = compat, 1 = incompat, 2 = ro_compat.
const FEATURES: &[(u8, u32, &str)] = &[
    (0, 0x1, "dir_prealloc"),
    (0, 0x2, "imagic_inodes"),
    (0, 0x4, "has_journal"),
    (0, 0x8, "ext_attr"),
    (0, 0x10, "resize_inode"),
    (0, 0x20, "dir_index"),
    (0, 0x200, "sparse_super2"),
    (0, 0x400, "fast_commit"),
    (0, 0x800, "stable_inodes"),
    (0, 0x1000, "orphan_file"),
    (1, 0x2, "filetype"),
    (1, 0x10, "meta_bg"),
    (1, 0x40, "extent"),
    (1, 0x80, "64bit"),
    (1, 0x100, "mmp"),
    (1, 0x200, "flex_bg"),
    (1, 0x400, "ea_inode"),
    (1, 0x2000, "metadata_csum_seed"),
    (1, 0x4000, "large_dir"),
    (1, 0x8000, "inline_data"),
    (1, 0x10000, "encrypt"),
    (1, 0x20000, "casefold"),
    (2, 0x1, "sparse_super"),
    (2, 0x2, "large_file"),
    (2, 0x8, "huge_file"),
    (2, 0x10, "uninit_bg"),
    (2, 0x20, "dir_nlink"),
    (2, 0x40, "extra_isize"),
    (2, 0x100, "quota"),
    (2, 0x200, "bigalloc"),
    (2, 0x400, "metadata_csum"),
    (2, 0x2000, "project"),
    (2, 0x8000, "verity"),
];

/// Default mount option bits (`s_default_mount_opts`) by tune2fs name; the
/// journal mode (bits 0x60) is handled apart.
const MOUNT_OPTS: &[(u32, &str)] = &[
    (0x1, "debug"),
    (0x2, "bsdgroups"),
    (0x4, "user_xattr"),
    (0x8, "acl"),
    (0x10, "uid16"),
    (0x100, "nobarrier"),
    (0x200, "block_validity"),
    (0x400, "discard"),
    (0x800, "nodelalloc"),
];
const JOURNAL_MODES: [&str; 4] = [
    "",
    "journal_data",
    "journal_data_ordered",
    "journal_data_writeback",
];

/// Everything mke2fs and tune2fs need to make the filesystem again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FsParams {
    /// Filesystem revision (0 = original, 1 = dynamic): mke2fs -r.
    pub revision: u32,
    /// mke2fs -b.
    pub block_size: u32,
    /// mke2fs -C (bigalloc only).
    pub cluster_size: Option<u32>,
    /// The filesystem's size in blocks (the last mke2fs argument).
    pub blocks_count: u64,
    /// Blocks in use when backed up (what --fit has to keep).
    pub used_blocks: u64,
    /// Inodes in use when backed up (the inode count --fit may not go below).
    #[serde(default)]
    pub used_inodes: u32,
    /// mke2fs -g.
    pub blocks_per_group: u32,
    /// mke2fs -N.
    pub inode_count: u32,
    /// mke2fs -I.
    pub inode_size: u16,
    /// The feature set: mke2fs -O none,<these>.
    pub features: Vec<String>,
    /// mke2fs -U.
    pub uuid: String,
    /// mke2fs -L.
    pub label: String,
    /// mke2fs -E hash_seed=.
    pub hash_seed: String,
    /// tune2fs -E hash_alg= (legacy, half_md4, tea).
    pub default_hash: String,
    /// Journal size in blocks (mke2fs -J size= in MiB); 0 = no journal.
    pub journal_blocks: u64,
    /// mke2fs -G (flex_bg only).
    pub flex_bg_size: Option<u32>,
    /// mke2fs -E stride=, stripe_width= (0 = unset).
    pub raid_stride: u32,
    pub raid_stripe_width: u32,
    /// Reserved blocks, exactly: tune2fs -r.
    pub reserved_blocks: u64,
    /// tune2fs -u / -g.
    pub reserved_uid: u16,
    pub reserved_gid: u16,
    /// tune2fs -o: set options (journal mode included).
    pub default_mount_options: Vec<String>,
    /// tune2fs -E mount_opts=.
    pub mount_opts: String,
    /// mke2fs -e: continue, remount-ro or panic.
    pub errors: String,
    /// tune2fs -c (-1 = no limit).
    pub max_mount_count: i16,
    /// tune2fs -C.
    pub mount_count: u16,
    /// tune2fs -i, in seconds (0 = none).
    pub check_interval: u32,
    /// Reserved GDT blocks (not set directly: checked after mke2fs).
    pub reserved_gdt_blocks: u16,
    /// First non-reserved inode and the extra inode sizes (for checks).
    pub first_inode: u32,
    pub min_extra_isize: u16,
    pub want_extra_isize: u16,
    /// mke2fs -E encoding=utf8 (casefold).
    pub encoding: Option<String>,
}

fn le16(raw: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([raw[at], raw[at + 1]])
}
fn le32(raw: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"))
}

/// A UUID in its usual 8-4-4-4-12 lowercase form.
pub fn uuid_string(bytes: &[u8]) -> String {
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl FsParams {
    /// Reads the parameters from an open filesystem (superblock and journal inode).
    pub fn from_fs(fs: &fsimage::Filesystem) -> Result<FsParams, fsimage::Error> {
        let sb = fs.superblock();
        let raw = &sb.raw;
        let bit64 = sb.feature_incompat & 0x80 != 0;
        let mut reserved = u64::from(le32(raw, 0x08));
        if bit64 {
            reserved |= u64::from(le32(raw, 0x154)) << 32;
        }
        let journal_blocks = if sb.journal_inum != 0 && sb.feature_compat & 0x4 != 0 {
            fs.inode(sb.journal_inum)?.size / u64::from(sb.block_size)
        } else {
            0
        };
        let fields = [sb.feature_compat, sb.feature_incompat, sb.feature_ro_compat];
        let features = FEATURES
            .iter()
            .filter(|(f, bit, _)| fields[usize::from(*f)] & bit != 0)
            .map(|(_, _, n)| (*n).to_string())
            .collect();
        let bigalloc = sb.feature_ro_compat & 0x200 != 0;
        let dmo = le32(raw, 0x100);
        let mut default_mount_options: Vec<String> = MOUNT_OPTS
            .iter()
            .filter(|(bit, _)| dmo & bit != 0)
            .map(|(_, n)| (*n).to_string())
            .collect();
        let jmode = ((dmo >> 5) & 3) as usize;
        if jmode != 0 {
            default_mount_options.push(JOURNAL_MODES[jmode].to_string());
        }
        Ok(FsParams {
            revision: sb.rev_level,
            block_size: sb.block_size,
            cluster_size: bigalloc.then(|| 1024u32 << le32(raw, 0x1C).min(20)),
            blocks_count: sb.blocks_count,
            used_blocks: sb.blocks_count - sb.free_blocks_count.min(sb.blocks_count),
            used_inodes: sb.inodes_count - sb.free_inodes_count.min(sb.inodes_count),
            blocks_per_group: sb.blocks_per_group,
            inode_count: sb.inodes_count,
            inode_size: sb.inode_size,
            features,
            uuid: uuid_string(&sb.uuid),
            label: sb.volume_name.clone(),
            hash_seed: uuid_string(&raw[0xEC..0xFC]),
            default_hash: ["legacy", "half_md4", "tea", "legacy", "half_md4", "tea"]
                .get(usize::from(raw[0xFC]))
                .unwrap_or(&"half_md4")
                .to_string(),
            journal_blocks,
            flex_bg_size: (sb.feature_incompat & 0x200 != 0)
                .then(|| 1u32 << sb.log_groups_per_flex.min(31)),
            raid_stride: u32::from(le16(raw, 0x164)),
            raid_stripe_width: le32(raw, 0x170),
            reserved_blocks: reserved,
            reserved_uid: le16(raw, 0x50),
            reserved_gid: le16(raw, 0x52),
            default_mount_options,
            mount_opts: c_str(&raw[0x200..0x240]),
            errors: match le16(raw, 0x3C) {
                2 => "remount-ro",
                3 => "panic",
                _ => "continue",
            }
            .to_string(),
            max_mount_count: le16(raw, 0x36) as i16,
            mount_count: le16(raw, 0x34),
            check_interval: le32(raw, 0x44),
            reserved_gdt_blocks: sb.reserved_gdt_blocks,
            first_inode: sb.first_ino,
            min_extra_isize: le16(raw, 0x15C),
            want_extra_isize: le16(raw, 0x15E),
            encoding: (sb.feature_incompat & 0x20000 != 0 && le16(raw, 0x27C) == 1)
                .then(|| "utf8".to_string()),
        })
    }

    fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// The mke2fs command line (without the program name) for `device`,
    /// `blocks` long (the recorded size unless --grow/--fit changed it).
    pub fn mke2fs_args(&self, kind: &str, device: &str, blocks: u64) -> Vec<String> {
        let mut a: Vec<String> = vec!["-F".into(), "-q".into(), "-t".into(), kind.into()];
        let mut push = |k: &str, v: String| {
            a.push(k.into());
            a.push(v);
        };
        push("-r", self.revision.to_string());
        push("-b", self.block_size.to_string());
        if let Some(c) = self.cluster_size {
            push("-C", c.to_string());
        }
        if self.revision >= 1 {
            push("-I", self.inode_size.to_string());
            push("-O", format!("none,{}", self.features.join(",")));
        }
        push("-g", self.blocks_per_group.to_string());
        push("-N", self.inode_count.to_string());
        push("-U", self.uuid.clone());
        push("-L", self.label.clone());
        push("-e", self.errors.clone());
        push("-m", "0".into());
        if let Some(g) = self.flex_bg_size {
            push("-G", g.to_string());
        }
        if self.journal_blocks > 0 && self.has("has_journal") {
            let bytes = self.journal_blocks * u64::from(self.block_size);
            push("-J", format!("size={}", bytes.div_ceil(1 << 20)));
        }
        push("-E", self.extended_options().join(","));
        a.push(device.into());
        a.push(blocks.to_string());
        a
    }

    fn extended_options(&self) -> Vec<String> {
        let mut e = vec![format!("hash_seed={}", self.hash_seed)];
        if self.raid_stride != 0 {
            e.push(format!("stride={}", self.raid_stride));
        }
        if self.raid_stripe_width != 0 {
            e.push(format!("stripe_width={}", self.raid_stripe_width));
        }
        if let Some(enc) = &self.encoding {
            e.push(format!("encoding={enc}"));
        }
        e
    }

    /// The tune2fs command line for what mke2fs cannot set.
    pub fn tune2fs_args(&self, device: &str) -> Vec<String> {
        let mut o: Vec<String> = MOUNT_OPTS
            .iter()
            .map(|(_, n)| {
                if self.default_mount_options.iter().any(|m| m == n) {
                    (*n).to_string()
                } else {
                    format!("^{n}")
                }
            })
            .collect();
        // Clearing the widest mode clears both journal-mode bits.
        o.push("^journal_data_writeback".into());
        if let Some(m) = self
            .default_mount_options
            .iter()
            .find(|m| JOURNAL_MODES.contains(&m.as_str()))
        {
            o.push(m.clone());
        }
        let interval = if self.check_interval % 86400 == 0 {
            format!("{}d", self.check_interval / 86400)
        } else {
            format!("{}s", self.check_interval)
        };
        let mut e = vec![format!("hash_alg={}", self.default_hash)];
        if !self.mount_opts.is_empty() {
            e.push(format!("mount_opts={}", self.mount_opts));
        }
        [
            ["-o", &o.join(",")],
            ["-E", &e.join(",")],
            ["-r", &self.reserved_blocks.to_string()],
            ["-u", &self.reserved_uid.to_string()],
            ["-g", &self.reserved_gid.to_string()],
            ["-c", &self.max_mount_count.to_string()],
            ["-C", &self.mount_count.to_string()],
            ["-i", &interval],
        ]
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .chain(std::iter::once(device.to_string()))
        .collect()
    }
}

fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The filesystem kind mke2fs -t takes, from the features.
pub fn kind_of(params: &FsParams) -> &'static str {
    let has = |f: &str| params.has(f);
    if has("extent") || has("flex_bg") || has("64bit") || has("huge_file") {
        "ext4"
    } else if has("has_journal") {
        "ext3"
    } else {
        "ext2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_is_grouped_lowercase() {
        let b: Vec<u8> = (0..16).collect();
        assert_eq!(uuid_string(&b), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
