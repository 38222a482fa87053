//! LEB128 variable-length integers and zig-zag signed encoding.
//!
//! The encoders write into a caller-provided buffer that must have room for
//! [`MAX_VARINT_LEN`] bytes; they are on the preload's hot path and never
//! allocate.

/// The longest encoding of a `u64` (10 bytes of 7 bits).
pub const MAX_VARINT_LEN: usize = 10;

/// Writes `value` at `buf[pos..]` and returns the position after it.
///
/// # Panics
/// Panics if `buf` has less than [`MAX_VARINT_LEN`] bytes after `pos` and the
/// value needs them; callers reserve space first.
#[inline(always)]
pub fn put_u64(buf: &mut [u8], mut pos: usize, mut value: u64) -> usize {
    while value >= 0x80 {
        buf[pos] = (value as u8) | 0x80;
        value >>= 7;
        pos += 1;
    }
    buf[pos] = value as u8;
    pos + 1
}

/// Maps a signed value to an unsigned one so that small magnitudes stay small.
#[inline(always)]
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline(always)]
pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Writes the zig-zag encoding of the wrapping difference `value - base`.
#[inline(always)]
pub fn put_delta(buf: &mut [u8], pos: usize, value: u64, base: u64) -> usize {
    put_u64(buf, pos, zigzag(value.wrapping_sub(base) as i64))
}

/// Reads an unsigned varint from `buf[*pos..]`, advancing `pos`.
///
/// Returns `None` when the buffer ends inside the number or the number does
/// not fit in 64 bits.
#[inline(always)]
pub fn get_u64(buf: &[u8], pos: &mut usize) -> Option<u64> {
    // Most fields fit in one byte.
    let first = *buf.get(*pos)?;
    if first < 0x80 {
        *pos += 1;
        return Some(u64::from(first));
    }
    get_u64_long(buf, pos)
}

#[inline(never)]
fn get_u64_long(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut result = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        result |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(result);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Reads a zig-zag delta and applies it to `base` (wrapping).
#[inline(always)]
pub fn get_delta(buf: &[u8], pos: &mut usize, base: u64) -> Option<u64> {
    let delta = unzigzag(get_u64(buf, pos)?);
    Some(base.wrapping_add(delta as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values_take_one_byte() {
        let mut buf = [0u8; MAX_VARINT_LEN];
        assert_eq!(put_u64(&mut buf, 0, 0), 1);
        assert_eq!(put_u64(&mut buf, 0, 127), 1);
        assert_eq!(put_u64(&mut buf, 0, 128), 2);
        assert_eq!(put_u64(&mut buf, 0, u64::MAX), MAX_VARINT_LEN);
    }

    #[test]
    fn truncated_and_overlong_numbers_are_rejected() {
        let mut pos = 0;
        assert_eq!(get_u64(&[0x80, 0x80], &mut pos), None);
        let mut pos = 0;
        assert_eq!(get_u64(&[0xff; 11], &mut pos), None);
        let mut pos = 0;
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(get_u64(&overflow, &mut pos), None);
    }

    proptest! {
        #[test]
        fn u64_round_trips(value: u64) {
            let mut buf = [0u8; MAX_VARINT_LEN];
            let end = put_u64(&mut buf, 0, value);
            let mut pos = 0;
            prop_assert_eq!(get_u64(&buf[..end], &mut pos), Some(value));
            prop_assert_eq!(pos, end);
        }

        #[test]
        fn deltas_round_trip(value: u64, base: u64) {
            let mut buf = [0u8; MAX_VARINT_LEN];
            let end = put_delta(&mut buf, 0, value, base);
            let mut pos = 0;
            prop_assert_eq!(get_delta(&buf[..end], &mut pos, base), Some(value));
        }

        #[test]
        fn zigzag_round_trips(value: i64) {
            prop_assert_eq!(unzigzag(zigzag(value)), value);
        }
    }
}
