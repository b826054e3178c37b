//! Inode maps of TS_CLRI and TS_BITS records: one bit per inode, bit `ino - 1`, least
//! significant bit first, padded to whole tape blocks.

use crate::header::TP_BSIZE;

/// A set of inode numbers in dump's bitmap layout.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InodeMap {
    bytes: Vec<u8>,
}

impl InodeMap {
    /// An empty map able to hold inodes `1..=max_ino`, padded to whole tape blocks as
    /// dump pads it.
    pub fn new(max_ino: u32) -> InodeMap {
        let len = (max_ino as usize).div_ceil(8).div_ceil(TP_BSIZE).max(1) * TP_BSIZE;
        InodeMap {
            bytes: vec![0; len],
        }
    }

    /// A map read from tape.
    pub fn from_bytes(bytes: Vec<u8>) -> InodeMap {
        InodeMap { bytes }
    }

    /// The highest inode number the map can hold.
    pub fn capacity(&self) -> u32 {
        u32::try_from(self.bytes.len().saturating_mul(8)).unwrap_or(u32::MAX)
    }

    /// Adds `ino`; inode numbers outside the map (0, or past its end) are ignored.
    pub fn set(&mut self, ino: u32) {
        if ino == 0 {
            return;
        }
        let bit = (ino - 1) as usize;
        if let Some(b) = self.bytes.get_mut(bit / 8) {
            *b |= 1 << (bit % 8);
        }
    }

    /// Removes `ino` (ignored outside the map, as for [`InodeMap::set`]).
    pub fn clear(&mut self, ino: u32) {
        if ino == 0 {
            return;
        }
        let bit = (ino - 1) as usize;
        if let Some(b) = self.bytes.get_mut(bit / 8) {
            *b &= !(1 << (bit % 8));
        }
    }

    pub fn contains(&self, ino: u32) -> bool {
        if ino == 0 {
            return false;
        }
        let bit = (ino - 1) as usize;
        self.bytes
            .get(bit / 8)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0)
    }

    /// The raw bytes, a whole number of tape blocks when built with [`InodeMap::new`].
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The inode numbers in the map, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes.iter().enumerate().flat_map(|(i, &b)| {
            (0..8u32)
                .filter(move |bit| b & (1 << bit) != 0)
                .map(move |bit| i as u32 * 8 + bit + 1)
        })
    }

    /// Number of inodes in the map.
    pub fn len(&self) -> usize {
        self.bytes.iter().map(|b| b.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_contains_iter() {
        let mut m = InodeMap::new(100);
        assert_eq!(m.as_bytes().len(), TP_BSIZE);
        for i in [1, 2, 11, 100] {
            m.set(i);
        }
        m.set(0);
        m.set(1_000_000);
        assert!(m.contains(11) && !m.contains(12) && !m.contains(0));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![1, 2, 11, 100]);
        assert_eq!(m.len(), 4);
        assert_eq!(m.as_bytes()[0], 0b11);
    }
}
