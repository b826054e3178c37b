//! `-A file`: the archive table of contents of dump -A (see rdump's toc
//! module). Besides being read as the dump itself, its last block, a TS_END
//! header, holds the first inode of each volume (c_inos), which restore
//! lists before the names.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use dump_format::header::{Header, RecordType, TP_BSIZE};

/// The lines restore -t -A prints about the volumes, from the TS_END block
/// that ends the file; none when the file does not end with one.
pub fn volume_lines(path: &Path) -> std::io::Result<Vec<String>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len < TP_BSIZE as u64 {
        return Ok(Vec::new());
    }
    f.seek(SeekFrom::Start(len - TP_BSIZE as u64))?;
    let mut block = [0u8; TP_BSIZE];
    f.read_exact(&mut block)?;
    let Ok((h, order)) = Header::parse(&block) else {
        return Ok(Vec::new());
    };
    if h.record_type() != Some(RecordType::End) {
        return Ok(Vec::new());
    }
    let mut lines = vec!["Starting inode numbers by volume:".to_string()];
    // c_inos: int32 words over c_addr, indexed by volume number from 1.
    for (volume, word) in h.addr.chunks_exact(4).enumerate().skip(1) {
        let bytes: [u8; 4] = word.try_into().expect("chunks of 4");
        let ino = match order {
            dump_format::ByteOrder::Little => u32::from_le_bytes(bytes),
            dump_format::ByteOrder::Big => u32::from_be_bytes(bytes),
        };
        if ino == 0 {
            break;
        }
        lines.push(format!("\tVolume {volume}: {ino}"));
    }
    Ok(lines)
}
