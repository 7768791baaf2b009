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

/// The attributes of `payload` as (type, value) pairs: what
/// `netlink_packet_core::NlasIterator` yields, checks, errors and
/// stopping after the first error included, for the listing decoders.
///
/// Why by hand: `NlasIterator` re-reads an attribute's length field through
/// a checked, out-of-line `parse_u16` five times per attribute (length
/// checks, alignment, `value()`, `kind()`), about 150 instructions for a
/// 4-byte header; a listing of 1,000 services decodes 32,000 attributes and
/// the daemon's resync a nest per real every few seconds. Malformed input
/// takes `NlaBuffer::new_checked` itself, so the errors are the crate's.
/// `tests::walker_agrees_with_nlas_iterator` holds the two together.
pub(crate) fn attrs(payload: &[u8]) -> Attrs<'_> {
    Attrs { rest: payload }
}

/// Iterator of [`attrs`].
pub(crate) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.rest;
        if b.is_empty() {
            return None;
        }
        if let [l0, l1, t0, t1, ..] = *b {
            let len = usize::from(u16::from_ne_bytes([l0, l1]));
            if let Some(value) = b.get(4..len) {
                // The next attribute starts at the aligned length; past the
                // end means none (NlasIterator's `position >= len`).
                self.rest = b.get((len + 3) & !3..).unwrap_or_default();
                let kind = u16::from_ne_bytes([t0, t1]) & netlink_packet_core::NLA_TYPE_MASK;
                return Some(Ok((kind, value)));
            }
        }
        self.rest = &[];
        Some(Err(netlink_packet_core::NlaBuffer::new_checked(b)
            .err()
            .unwrap_or_else(|| DecodeError::from("malformed attribute"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NlasIterator;

    /// Both walks of `b` as comparable text: each item's type and value,
    /// or the error's message.
    fn both(b: &[u8]) -> (Vec<String>, Vec<String>) {
        let ours = attrs(b)
            .map(|r| match r {
                Ok((k, v)) => format!("{k} {v:?}"),
                Err(e) => format!("error {e}"),
            })
            .collect();
        let theirs = NlasIterator::new(b)
            .map(|r| match r {
                Ok(n) => format!("{} {:?}", n.kind(), n.value()),
                Err(e) => format!("error {e}"),
            })
            .collect();
        (ours, theirs)
    }

    #[test]
    fn walker_agrees_with_nlas_iterator() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut errors = 0;
        for _ in 0..3000 {
            // A run of attributes, some with a length field that lies
            // (short, zero, past the end) and some with the nested and
            // byte-order flags, then every cut of it.
            let mut buf = Vec::new();
            for _ in 0..next() % 6 {
                let value_len = (next() % 11) as usize;
                let mut len = (4 + value_len) as u16;
                match next() % 10 {
                    0 => len = (next() % 4) as u16,
                    1 => len += (next() % 9) as u16,
                    _ => {}
                }
                let kind = (next() % 20) as u16 | ((next() % 4) as u16) << 14;
                buf.extend_from_slice(&len.to_ne_bytes());
                buf.extend_from_slice(&kind.to_ne_bytes());
                buf.extend((0..value_len).map(|_| next() as u8));
                buf.resize(buf.len().next_multiple_of(4), 0);
            }
            for cut in 0..=buf.len() {
                let part = buf.get(..cut).unwrap_or_default();
                let (ours, theirs) = both(part);
                assert_eq!(ours, theirs, "{part:?}");
                errors += usize::from(ours.last().is_some_and(|l| l.starts_with("error")));
            }
        }
        // The generator reaches every branch: whole runs and errors.
        assert!(errors > 1000, "{errors} errors only");
        assert_eq!(both(&[]).0.len(), 0);
    }
}
