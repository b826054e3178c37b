//! A quick test for tape records that deflate or bzip2 cannot shrink.
//!
//! Filesystems hold a lot of data that is already compressed (JPEG, video, .gz,
//! packages). zlib and bzip2 spend as long failing on such a record as they spend
//! compressing text, and then the record is stored raw anyway. This test spends a
//! fraction of that time to recognise those records in advance.
//!
//! It is built to err on one side only: it says "incompressible" only when both
//! things a deflate or bzip2 coder could gain from are absent:
//!
//! 1. skewed byte statistics: the order-0 entropy of the whole record must be at
//!    least [`MIN_ENTROPY_BITS`] bits per byte, so Huffman coding of literals
//!    could save at most about 1% of the record, less than the code tables
//!    cost to write;
//! 2. repeated strings: no 6-byte sequence may occur twice (each position is
//!    hashed into a small table of the last sequence seen with that hash, so
//!    any repeat within a few KiB of its first occurrence is found, whatever its
//!    distance or alignment).
//!
//! A record that passes is stored raw, exactly as if it had been compressed and
//! found not to shrink, so a wrong "incompressible" could only cost a little
//! size, never correctness; a wrong "compressible" costs only time.
//!
//! A cheap first gate looks at 256 bytes spread over the record: text, code and
//! binary structures use few distinct byte values and leave after it, so the test
//! costs compressible records well under 1% of their compression time.

/// Records shorter than this are left to the compressor (the statistics of a few
/// hundred bytes say too little, and compressing them is cheap).
const MIN_LEN: usize = 4096;
/// Bytes sampled by the first gate.
const SAMPLES: usize = 256;
/// Least number of distinct values among the samples for the record to go on to
/// the full test. Uniformly random bytes give 162 on average (standard deviation
/// about 5); text gives well under 100.
const MIN_DISTINCT_SAMPLES: u32 = 128;
/// Least order-0 entropy of the whole record, in bits per byte. Uniformly random
/// records of 4 KiB measure about 7.95, of 10 KiB about 7.98.
const MIN_ENTROPY_BITS: f64 = 7.9;
/// Length of the sequences looked for twice.
const REPEAT_LEN: usize = 6;
/// log2 of the number of slots of the repeat table (4096 slots, 32 KiB).
const TABLE_BITS: u32 = 12;

/// True when `data` would, in all likelihood, not shrink under zlib or bzip2.
pub fn looks_incompressible(data: &[u8]) -> bool {
    data.len() >= MIN_LEN
        && distinct_samples(data) >= MIN_DISTINCT_SAMPLES
        && entropy_bits_per_byte(data) >= MIN_ENTROPY_BITS
        && !has_repeated_sequence(data)
}

/// Number of distinct byte values among [`SAMPLES`] bytes spread evenly over `data`.
fn distinct_samples(data: &[u8]) -> u32 {
    let step = data.len() / SAMPLES;
    let mut seen = [0u64; 4];
    for i in 0..SAMPLES {
        let b = data[i * step];
        seen[usize::from(b >> 6)] |= 1 << (b & 63);
    }
    seen.iter().map(|w| w.count_ones()).sum()
}

/// Order-0 (byte frequency) entropy of `data`, in bits per byte.
fn entropy_bits_per_byte(data: &[u8]) -> f64 {
    // Four histograms, so that runs of equal bytes do not serialise on one
    // counter.
    let mut hist = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        hist[0][usize::from(q[0])] += 1;
        hist[1][usize::from(q[1])] += 1;
        hist[2][usize::from(q[2])] += 1;
        hist[3][usize::from(q[3])] += 1;
    }
    for &b in quads.remainder() {
        hist[0][usize::from(b)] += 1;
    }
    let n = data.len() as f64;
    let sum_c_log_c: f64 = (0..256)
        .map(|v| f64::from(hist[0][v] + hist[1][v] + hist[2][v] + hist[3][v]))
        .filter(|&c| c > 0.0)
        .map(|c| c * c.log2())
        .sum();
    // H = -sum (c/n) log2(c/n) = log2(n) - sum(c log2 c) / n
    n.log2() - sum_c_log_c / n
}

/// True when some [`REPEAT_LEN`]-byte sequence of `data` occurs twice within
/// reach of the table (or `data` holds six zero bytes in a row, which the empty
/// table mistakes for a repeat: harmless, the record is then compressed).
fn has_repeated_sequence(data: &[u8]) -> bool {
    let mut table = [0u64; 1 << TABLE_BITS];
    let mut found = false;
    for (i, window) in data.windows(8).enumerate() {
        // The first REPEAT_LEN bytes of the window, in the top bits.
        let seq =
            u64::from_le_bytes(window.try_into().expect("8 bytes")) << (64 - 8 * REPEAT_LEN as u32);
        let slot = (seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TABLE_BITS)) as usize;
        found |= table[slot] == seq;
        table[slot] = seq;
        // Leaving the loop at every hit would cost a branch per byte.
        if found && i % 256 == 0 {
            return true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn random_records_are_incompressible() {
        for seed in 1..50 {
            for len in [4096, 10240, 65536, 1 << 20] {
                assert!(looks_incompressible(&random(len, seed)), "{seed} {len}");
            }
        }
    }

    #[test]
    fn short_records_are_left_to_the_compressor() {
        assert!(!looks_incompressible(&random(4095, 3)));
    }

    #[test]
    fn text_and_zeros_are_compressible() {
        let text: Vec<u8> = b"The quick brown fox jumps over the lazy dog. "
            .iter()
            .copied()
            .cycle()
            .take(10240)
            .collect();
        assert!(!looks_incompressible(&text));
        assert!(!looks_incompressible(&[0u8; 10240]));
    }

    /// Random bytes that repeat, at any distance or alignment, compress.
    #[test]
    fn repeated_random_data_is_compressible() {
        for (len, distance) in [(64, 1000), (6, 7), (100, 8001), (4096, 4096), (500, 3)] {
            let mut r = random(10240, 7);
            // Byte by byte, as an LZ77 decoder would: a distance shorter than
            // the length makes a periodic run.
            for i in 2000 + distance..2000 + distance + len {
                r[i] = r[i - distance];
            }
            assert!(has_repeated_sequence(&r), "len {len} distance {distance}");
            assert!(!looks_incompressible(&r), "len {len} distance {distance}");
        }
    }

    /// Fixed-size structures whose bytes look random at one sampling stride
    /// still have skewed statistics over the whole record.
    #[test]
    fn periodic_structures_are_compressible() {
        for period in 2..40 {
            let rnd = random(10240, period as u64);
            let r: Vec<u8> = (0..10240)
                .map(|i| {
                    if i % period == 0 {
                        rnd[i]
                    } else {
                        (i % period) as u8
                    }
                })
                .collect();
            assert!(!looks_incompressible(&r), "period {period}");
        }
    }

    /// What the test calls incompressible really does not shrink.
    #[test]
    fn agrees_with_deflate_on_random_data() {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(9).unwrap());
        for seed in 1..20 {
            let r = random(10240, seed);
            assert!(looks_incompressible(&r));
            let mut out = vec![0u8; c.zlib_compress_bound(r.len())];
            let n = c.zlib_compress(&r, &mut out).unwrap();
            assert!(n + 16 > r.len(), "deflate shrank record {seed} to {n}");
        }
    }
}
