//! rrecover as a library: one module per job.
//! - [`backup`]: `rrecover backup`, record a machine's disks (the plan) and dump its filesystems;
//! - [`apply`]: `rrecover apply`, make new disks like the plan and restore into them;
//! - [`rescue`]: `rrecover mkrescue`, the bootable recovery stick.

pub mod apply;
pub mod backup;
pub mod rescue;
