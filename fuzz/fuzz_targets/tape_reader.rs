//! Arbitrary bytes through TapeReader, reading every item, every data segment, every
//! directory and xattr blob: any panic, hang or runaway allocation is a bug.
#![no_main]

use dump_format::{decode_directory_in, decode_xattr_blob, Item, TapeReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = TapeReader::new(data) else {
        return;
    };
    let order = r.byte_order();
    for _ in 0..100_000 {
        match r.next_item() {
            Ok(Some(Item::Inode(h))) => {
                if let Ok(Some(bytes)) = r.read_all(1 << 20) {
                    if h.is_xattr() {
                        let _ = decode_xattr_blob(&bytes);
                    } else {
                        let _ = decode_directory_in(&bytes, order);
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
        let _ = r.take_warnings();
    }
});
