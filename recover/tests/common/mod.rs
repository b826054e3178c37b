//! Helpers of rrecover's integration tests: rdump's tests/common (the tools, a
//! tree holding every kind of inode, mounting, comparing trees), shared rather
//! than copied. Its rdump_bin() is not for these tests: this crate builds no rdump.

#![allow(dead_code, unused_imports)] // Each test binary uses a different subset.

#[path = "../../../dump/tests/common/mod.rs"]
mod shared;

pub use shared::*;
