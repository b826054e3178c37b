//! Arbitrary 1 KiB blocks through the header parser. The magic number and checksum are
//! patched in (for either byte order) so the fuzzer reaches the decoding rather than
//! stopping at the checksum: a block that parses must encode back to the same bytes,
//! and nothing may panic.
#![no_main]

use dump_format::header::{word_sum, CHECKSUM, NFS_MAGIC};
use dump_format::{ByteOrder, Header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut block = [0u8; 1024];
    let n = data.len().min(1024);
    block[..n].copy_from_slice(&data[..n]);
    let order = if data.first().is_some_and(|b| b & 1 == 1) {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
    let put = |b: &mut [u8; 1024], at: usize, v: i32| {
        let bytes = match order {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        };
        b[at..at + 4].copy_from_slice(&bytes);
    };
    put(&mut block, 24, NFS_MAGIC);
    put(&mut block, 28, 0);
    let sum = word_sum(&block, order);
    put(&mut block, 28, CHECKSUM.wrapping_sub(sum));
    let (h, got) = Header::parse(&block).expect("a block with magic and checksum parses");
    assert_eq!(got, order);
    assert_eq!(h.encode(order), block);
    let _ = h.data_block_count();
    let _ = h.extension();
    let _ = (h.label_str(), h.filesys_str(), h.dev_str(), h.host_str());
});
