//! Protobuf wire-format primitives, writing into a pre-sized buffer at a cursor.

/// Wire type of varint fields (integers, bool).
pub const VARINT: u32 = 0;
/// Wire type of 64-bit fixed fields (double).
pub const FIXED64: u32 = 1;
/// Wire type of length-delimited fields (string, bytes, messages, packed).
pub const LEN: u32 = 2;
/// Wire type of 32-bit fixed fields (float).
pub const FIXED32: u32 = 5;

/// Bytes a varint of `v` takes.
#[inline]
pub fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Encoded field key (`number << 3 | wire_type`).
pub fn tag(number: u32, wire_type: u32) -> Tag {
    let mut bytes = [0u8; 5];
    let mut v = ((number as u64) << 3) | wire_type as u64;
    let mut len = 0;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            bytes[len] = b;
            len += 1;
            break;
        }
        bytes[len] = b | 0x80;
        len += 1;
    }
    Tag {
        bytes,
        len: len as u8,
    }
}

/// A pre-encoded field key.
#[derive(Debug, Clone, Copy)]
pub struct Tag {
    bytes: [u8; 5],
    len: u8,
}

impl Tag {
    /// Encoded length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Write at `buf[*at..]`, advancing `at`.
    #[inline]
    pub fn put(&self, buf: &mut [u8], at: &mut usize) {
        let n = self.len as usize;
        buf[*at..*at + n].copy_from_slice(&self.bytes[..n]);
        *at += n;
    }
}

/// Write a varint at `buf[*at..]`, advancing `at`.
#[inline]
pub fn put_varint(buf: &mut [u8], at: &mut usize, mut v: u64) {
    let mut i = *at;
    while v >= 0x80 {
        buf[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    *at = i + 1;
}

/// Write raw bytes at `buf[*at..]`, advancing `at`.
#[inline]
pub fn put_bytes(buf: &mut [u8], at: &mut usize, bytes: &[u8]) {
    buf[*at..*at + bytes.len()].copy_from_slice(bytes);
    *at += bytes.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_prost() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut expected = Vec::new();
            prost::encoding::encode_varint(v, &mut expected);
            assert_eq!(varint_len(v), expected.len(), "{v}");
            let mut buf = vec![0u8; 10];
            let mut at = 0;
            put_varint(&mut buf, &mut at, v);
            assert_eq!(&buf[..at], &expected[..], "{v}");
        }
        let t = tag(2000, LEN);
        let mut expected = Vec::new();
        prost::encoding::encode_key(
            2000,
            prost::encoding::WireType::LengthDelimited,
            &mut expected,
        );
        let mut buf = [0u8; 5];
        let mut at = 0;
        t.put(&mut buf, &mut at);
        assert_eq!(&buf[..at], &expected[..]);
    }
}
