//! Small attribute helpers shared by the IPVS attribute enums: bounded
//! reads and writes that never panic on short buffers.

use netlink_packet_core::DecodeError;

/// Copy `src` into the start of `buf`; a short `buf` (impossible when
/// `value_len()` sized it: the emit invariant) writes nothing.
pub(crate) fn put(buf: &mut [u8], src: &[u8]) {
    if let Some(dst) = buf.get_mut(..src.len()) {
        dst.copy_from_slice(src);
    }
}

/// Write a string with its NUL terminator (the kernel's `NLA_NUL_STRING`).
pub(crate) fn put_str(buf: &mut [u8], s: &str) {
    put(buf, s.as_bytes());
    if let Some(b) = buf.get_mut(s.len()) {
        *b = 0;
    }
}

fn fixed<const N: usize>(payload: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    payload.try_into().map_err(|_| {
        DecodeError::from(format!("{what}: expected {N} bytes, got {}", payload.len()))
    })
}

/// Native-endian u16.
pub(crate) fn u16_ne(p: &[u8], what: &str) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(fixed(p, what)?))
}

/// Big-endian (network order) u16: ports.
pub(crate) fn u16_be(p: &[u8], what: &str) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(fixed(p, what)?))
}

/// Native-endian u32.
pub(crate) fn u32_ne(p: &[u8], what: &str) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(fixed(p, what)?))
}

/// A u8.
pub(crate) fn u8_(p: &[u8], what: &str) -> Result<u8, DecodeError> {
    Ok(u8::from_ne_bytes(fixed(p, what)?))
}

/// A counter: the kernel sends u32 or u64 depending on the attribute set.
pub(crate) fn counter(p: &[u8], what: &str) -> Result<u64, DecodeError> {
    match p.len() {
        4 => Ok(u64::from(u32::from_ne_bytes(fixed(p, what)?))),
        _ => Ok(u64::from_ne_bytes(fixed(p, what)?)),
    }
}

/// A string attribute, trailing NULs dropped; invalid UTF-8 is replaced
/// rather than refused so a listing never fails on an odd name.
pub(crate) fn string(p: &[u8]) -> String {
    let end = p.iter().position(|b| *b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(p.get(..end).unwrap_or_default()).into_owned()
}

/// An address field: the kernel's `union nf_inet_addr` (16 bytes), or a
/// bare IPv4 address (4 bytes), kept as the 16-byte union.
pub(crate) fn addr16(p: &[u8], what: &str) -> Result<[u8; 16], DecodeError> {
    let mut out = [0u8; 16];
    match p.len() {
        4 | 16 => {
            put(&mut out, p);
            Ok(out)
        }
        n => Err(DecodeError::from(format!(
            "{what}: expected 4 or 16 bytes, got {n}"
        ))),
    }
}
