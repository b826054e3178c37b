//! rrecover as a library: one module per job.
//! - [`backup`]: `rrecover backup`, record a machine's disks (the plan) and dump its filesystems;
//! - [`apply`]: `rrecover apply`, make new disks like the plan and restore into them;
//! - [`rescue`]: `rrecover mkrescue`, the bootable recovery stick.
//!
//! Their pieces: [`plan`] (the plan file), [`layout`] (partition tables),
//! [`fsparams`] (superblock -> mke2fs/tune2fs), [`probe`] (what a partition
//! holds, swap headers), [`fstab`] (the mount table), [`parts`] (split parts
//! and SHA-256), [`dump`] (rdump into parts), [`lvm`] (volume groups), [`raw`] (EFI/BIOS boot partitions and boot code copied byte for byte), [`sys`] (loop
//! devices, tools).

pub mod apply;
pub mod backup;
pub mod dump;
pub mod fsparams;
pub mod fstab;
pub mod layout;
pub mod lvm;
pub mod parts;
pub mod plan;
pub mod probe;
pub mod raw;
pub mod rescue;
pub mod sys;
