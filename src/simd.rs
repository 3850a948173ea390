//! Byte classes of 64-byte blocks as bit masks (bit `i` stands for byte `i`): the building block
//! of the scanners that go through large texts a block at a time ([`crate::json::write_compact`],
//! the CSV record scanner [`crate::csv::CsvScan`]). SSE2 on x86-64, where it is always present;
//! a portable loop elsewhere.

/// A block of input bytes.
pub type Block = [u8; 64];

/// Copies the end of a text (fewer than 64 bytes) into a block padded with `pad`.
pub fn padded(tail: &[u8], pad: u8) -> Block {
    let mut block = [pad; 64];
    block[..tail.len()].copy_from_slice(tail);
    block
}

/// The bytes equal to `c`.
#[cfg(target_arch = "x86_64")]
pub fn eq(block: &Block, c: u8) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut m = 0;
    for k in 0..4 {
        // SAFETY: SSE2 is enabled on every x86-64 target; `block` holds 64 bytes, so the 16 read
        // at `16 * k` are in bounds, and `_mm_loadu_si128` has no alignment requirement.
        let bits = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)))
        };
        m |= u64::from(bits as u16) << (16 * k);
    }
    m
}

/// The bytes at or below `c` (unsigned).
#[cfg(target_arch = "x86_64")]
pub fn at_most(block: &Block, c: u8) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let mut m = 0;
    for k in 0..4 {
        // SAFETY: as in `eq`.
        let bits = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(c as i8)), v))
        };
        m |= u64::from(bits as u16) << (16 * k);
    }
    m
}

/// The bytes of a 16-byte chunk that stop a scan through a JSON string: a quote, a backslash
/// or a control character (below 0x20).
#[cfg(target_arch = "x86_64")]
pub fn string_stops(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: as in `eq`, for one 16-byte read.
    let bits = unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
    };
    u32::from(bits as u16)
}

/// The first byte at or after `from` that stops a scan through a JSON string (a quote, a
/// backslash or a control character): 16 bytes at a time with [`string_stops`], then the short
/// tail byte by byte. The scanner, the string writer and `--transform`'s reader share it.
#[inline(always)]
pub fn next_string_stop(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 16) {
        let stops = string_stops(chunk.try_into().expect("16 bytes"));
        if stops != 0 {
            return Some(i + stops.trailing_zeros() as usize);
        }
        i += 16;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|at| i + at)
}

#[cfg(not(target_arch = "x86_64"))]
pub use portable::{at_most, eq, string_stops};

/// The portable forms (and the reference the SSE2 forms are tested against).
#[cfg(any(test, not(target_arch = "x86_64")))]
mod portable {
    use super::Block;

    pub fn eq(block: &Block, c: u8) -> u64 {
        (0..64).fold(0, |m, i| m | u64::from(block[i] == c) << i)
    }

    pub fn at_most(block: &Block, c: u8) -> u64 {
        (0..64).fold(0, |m, i| m | u64::from(block[i] <= c) << i)
    }

    pub fn string_stops(chunk: &[u8; 16]) -> u32 {
        (0..16).fold(0, |m, i| {
            let c = chunk[i];
            m | u32::from(c == b'"' || c == b'\\' || c < 0x20) << i
        })
    }
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`. Over a quote mask: set from an
/// opening quote up to, not including, its closing quote.
pub fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn masks_match_the_portable_forms(
            half in prop::array::uniform32(any::<u8>()),
            shift in 0u8..4,
            c in any::<u8>(),
        ) {
            let mut b = [0u8; 64];
            b[..32].copy_from_slice(&half);
            b[32..].copy_from_slice(&half.map(|x| x.wrapping_add(shift)));
            for c in [c, b'"', b'\\', b',', b'\n', 0x20, 0, 255] {
                prop_assert_eq!(eq(&b, c), portable::eq(&b, c));
                prop_assert_eq!(at_most(&b, c), portable::at_most(&b, c));
            }
            for k in 0..4 {
                let chunk: &[u8; 16] = b[16 * k..16 * k + 16].try_into().unwrap();
                prop_assert_eq!(string_stops(chunk), portable::string_stops(chunk));
            }
        }
    }

    #[test]
    fn prefix_xor_marks_strings() {
        assert_eq!(prefix_xor(0b1_0010), 0b1110);
        assert_eq!(prefix_xor(0b1000_0001_0010), !0 << 11 | 0b1110);
        assert_eq!(prefix_xor(1 << 63), 1 << 63);
        assert_eq!(prefix_xor(0), 0);
    }
}
