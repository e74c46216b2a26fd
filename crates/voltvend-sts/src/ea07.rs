//! EA07, the Standard Transfer Algorithm (STA) of IEC 62055-41 §6.5.2 (annex on EA07), as reproduced by the
//! STS 531-1-0-02 compliance vectors: 16 rounds of key-selected 4-bit substitution and a fixed 64-bit
//! permutation, with the key register rotated one bit per round.
//!
//! Speed matters here (≥ 1 000 000 tokens/s per core with a cached key): the bit permutation is applied
//! with eight byte-indexed tables, and the substitution a byte (two nibbles) at a time.

// Table indices are u8 values or masked nibbles into 256- and 16-entry tables.
#![allow(clippy::indexing_slicing)]

const S1: [u8; 16] = [14, 10, 7, 9, 12, 3, 2, 5, 13, 0, 15, 1, 4, 8, 6, 11];
const S2: [u8; 16] = [12, 8, 2, 13, 7, 6, 1, 3, 11, 5, 9, 15, 0, 4, 10, 14];
/// Bit `i` of the input moves to bit `P[i]` of the output.
#[rustfmt::skip]
const P: [u8; 64] = [
    55, 42, 10, 18, 24, 21, 44, 35, 2, 22, 56, 43, 27, 58, 9, 50, 6, 36, 12, 61, 37, 38, 53, 16, 62, 3, 7, 4,
    32, 20, 63, 25, 51, 52, 54, 33, 49, 19, 46, 29, 48, 31, 23, 30, 41, 28, 13, 5, 40, 60, 39, 11, 15, 17,
    1, 0, 57, 34, 59, 8, 47, 14, 45, 26,
];

const fn invert4(s: [u8; 16]) -> [u8; 16] {
    let mut inv = [0_u8; 16];
    let mut i = 0;
    while i < 16 {
        inv[s[i] as usize] = i as u8;
        i += 1;
    }
    inv
}

const S1_INV: [u8; 16] = invert4(S1);
const S2_INV: [u8; 16] = invert4(S2);

/// For each of the 4 selector combinations of a byte's two nibbles, the substituted byte.
/// Index: `[selector][byte]` where selector bit 0 picks S2 for the low nibble, bit 1 for the high one.
const fn byte_sboxes(a: [u8; 16], b: [u8; 16]) -> [[u8; 256]; 4] {
    let mut t = [[0_u8; 256]; 4];
    let mut sel = 0;
    while sel < 4 {
        let mut x = 0;
        while x < 256 {
            let lo = x & 0xf;
            let hi = x >> 4;
            let lo_s = if sel & 1 == 1 { b[lo] } else { a[lo] };
            let hi_s = if sel & 2 == 2 { b[hi] } else { a[hi] };
            t[sel][x] = lo_s | (hi_s << 4);
            x += 1;
        }
        sel += 1;
    }
    t
}

const SUB: [[u8; 256]; 4] = byte_sboxes(S1, S2);
const SUB_INV: [[u8; 256]; 4] = byte_sboxes(S1_INV, S2_INV);

/// For byte position `j` and value `v`, the permuted contribution of those eight bits.
const fn permutation_tables(inverse: bool) -> [[u64; 256]; 8] {
    let mut map = [0_u8; 64];
    let mut i = 0;
    while i < 64 {
        if inverse {
            map[P[i] as usize] = i as u8;
        } else {
            map[i] = P[i];
        }
        i += 1;
    }
    let mut t = [[0_u64; 256]; 8];
    let mut j = 0;
    while j < 8 {
        let mut v = 0;
        while v < 256 {
            let mut out = 0_u64;
            let mut bit = 0;
            while bit < 8 {
                if (v >> bit) & 1 == 1 {
                    out |= 1 << map[j * 8 + bit];
                }
                bit += 1;
            }
            t[j][v] = out;
            v += 1;
        }
        j += 1;
    }
    t
}

static PERM: [[u64; 256]; 8] = permutation_tables(false);
static PERM_INV: [[u64; 256]; 8] = permutation_tables(true);

#[inline(always)]
fn permute(x: u64, tables: &[[u64; 256]; 8]) -> u64 {
    let b = x.to_le_bytes();
    let mut out = 0;
    for (j, table) in tables.iter().enumerate() {
        out |= table[usize::from(b[j])];
    }
    out
}

/// The selector of byte `j`'s two nibbles: bits 8j+3 and 8j+7 of the key register.
#[inline(always)]
fn selectors(k: u64, j: usize) -> usize {
    (((k >> (8 * j + 3)) & 1) | (((k >> (8 * j + 7)) & 1) << 1)) as usize
}

#[inline(always)]
fn substitute(x: u64, k: u64, tables: &[[u8; 256]; 4]) -> u64 {
    let mut b = x.to_le_bytes();
    for (j, byte) in b.iter_mut().enumerate() {
        *byte = tables[selectors(k, j)][usize::from(*byte)];
    }
    u64::from_le_bytes(b)
}

/// An STA decoder key, prepared once (the "cached key" of the benchmark).
#[derive(Clone, Copy)]
pub struct Sta {
    prepared: u64,
}

impl std::fmt::Debug for Sta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sta(..)")
    }
}

impl Sta {
    pub fn new(decoder_key: u64) -> Self {
        Self { prepared: (!decoder_key).rotate_right(12) }
    }

    pub fn encrypt(&self, block: u64) -> u64 {
        let mut x = block;
        let mut k = self.prepared;
        for _ in 0..16 {
            x = substitute(x, k, &SUB);
            x = permute(x, &PERM);
            k = k.rotate_left(1);
        }
        x
    }

    pub fn decrypt(&self, block: u64) -> u64 {
        let mut x = block;
        let mut k = self.prepared.rotate_left(15);
        for _ in 0..16 {
            x = permute(x, &PERM_INV);
            x = substitute(x, k, &SUB_INV);
            k = k.rotate_right(1);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// PROTOCOLS.md §1.10 worked example (CTSA01 step 1).
    #[test]
    fn worked_example() {
        let sta = Sta::new(0xE653_341F_9D5B_F36F);
        assert_eq!(sta.prepared, 0xC901_9ACC_BE06_2A40);
        assert_eq!(sta.encrypt(0x0559_9863_0001_19E6), 0x4920_83C0_AE7C_E455);
    }

    /// The table-driven permutation agrees with the bit-by-bit definition.
    #[test]
    fn permutation_matches_definition() {
        for x in [1_u64, 0x8000_0000_0000_0000, 0x0123_4567_89ab_cdef, u64::MAX, 0xdead_beef] {
            let mut slow = 0;
            for (i, p) in P.iter().enumerate() {
                if (x >> i) & 1 == 1 {
                    slow |= 1 << p;
                }
            }
            assert_eq!(permute(x, &PERM), slow);
            assert_eq!(permute(slow, &PERM_INV), x);
        }
    }

    proptest! {
        #[test]
        fn decrypt_inverts_encrypt(key: u64, block: u64) {
            let sta = Sta::new(key);
            prop_assert_eq!(sta.decrypt(sta.encrypt(block)), block);
        }
    }
}
