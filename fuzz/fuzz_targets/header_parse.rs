//! Arbitrary 1 KiB blocks through the header parser: a block that parses must encode
//! back to the same bytes, and nothing may panic.
#![no_main]

use dump_format::Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut block = [0u8; 1024];
    let n = data.len().min(1024);
    block[..n].copy_from_slice(&data[..n]);
    if let Ok((h, order)) = Header::parse(&block) {
        assert_eq!(h.encode(order), block);
        let _ = h.data_block_count();
        let _ = h.extension();
    }
});
