//! The STS token CRC (IEC 62055-41 §6.3.6): CRC-16 with the reflected polynomial 0xA001, initial value
//! 0xFFFF and no final XOR — i.e. CRC-16/MODBUS — over the 50-bit value `class ‖ block[63..16]` taken as
//! seven big-endian bytes, stored in the block with its two bytes swapped.

// `i` runs over 0..256, the table's size; `get_mut` is not usable in a const fn.
#[allow(clippy::indexing_slicing)]
const fn table() -> [u16; 256] {
    let mut t = [0_u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

static TABLE: [u16; 256] = table();

/// CRC-16/MODBUS of `bytes`.
pub fn crc16_modbus(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFF_u16;
    for b in bytes {
        let index = usize::from((crc ^ u16::from(*b)) as u8);
        crc = (crc >> 8) ^ TABLE.get(index).copied().unwrap_or(0);
    }
    crc
}

/// The 16-bit CRC field for a block whose bits 63..16 are `block_high` (bits 15..0 are ignored).
pub fn token_crc(class: u8, block: u64) -> u16 {
    let value = (u64::from(class & 0b11) << 48) | (block >> 16);
    let bytes = value.to_be_bytes();
    // The value has 50 bits: the low seven bytes of the big-endian u64.
    let crc = crc16_modbus(bytes.get(1..).unwrap_or(&[]));
    crc.swap_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_vector() {
        assert_eq!(crc16_modbus(b"123456789"), 0x4B37);
        // CTSA01 step 1: block 05599863000119E6.
        assert_eq!(token_crc(0, 0x0559_9863_0001_0000), 0x19E6);
    }
}
