//! `ipvsadm -R` input: ipvsadm 1.31's `config_stream_read`, token for
//! token (white-space split, the word `ipvsadm` dropped anywhere, a last
//! line of only blanks without newline ending the input).
//!
//! Called by `cli::run`. Pure.

use std::borrow::Cow;

/// ipvsadm's `MAX_LINE_LENGTH` (longest token `fscanf` reads at once).
const MAX_TOKEN: usize = 4096;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A reader of restore input.
#[derive(Debug)]
pub struct ConfigStream {
    data: Vec<u8>,
    pos: usize,
}

impl ConfigStream {
    /// Read from the whole input.
    pub fn new(data: Vec<u8>) -> ConfigStream {
        ConfigStream { data, pos: 0 }
    }

    /// The next line as an argv headed by `argv0`, or None at the end
    /// (`config_stream_read` returning NULL).
    pub fn read_line(&mut self, argv0: &str) -> Option<Vec<String>> {
        let mut lines = Lines {
            data: &self.data,
            text: None,
            has_nul: true,
            pos: self.pos,
        };
        let mut toks = Vec::new();
        let more = lines.read_line_into(&mut toks);
        self.pos = lines.pos;
        more.then(|| {
            std::iter::once(argv0.to_string())
                .chain(toks.into_iter().map(Cow::into_owned))
                .collect()
        })
    }
}

/// `config_stream_read` over borrowed input: the tokens of a line are
/// slices of the input (copied only where they are not UTF-8), so a
/// restore copies no token.
#[derive(Debug)]
pub struct Lines<'a> {
    data: &'a [u8],
    /// `data` as text when it is valid UTF-8 (nearly always).
    text: Option<&'a str>,
    /// Whether `data` holds a NUL anywhere (a token's C string ends there).
    has_nul: bool,
    pos: usize,
}

impl<'a> Lines<'a> {
    /// Read from the whole input.
    pub fn new(data: &'a [u8]) -> Lines<'a> {
        Lines {
            data,
            text: std::str::from_utf8(data).ok(),
            has_nul: data.contains(&0),
            pos: 0,
        }
    }

    /// Append the next line's tokens to `out`; false at the end (then
    /// `out` holds nothing to run: `config_stream_read` returned NULL).
    ///
    /// Why hand-tuned: this was a third of `lvsadm -R`'s own time. A
    /// plain line (the text is UTF-8 without NULs, the line ends within
    /// `MAX_TOKEN` bytes) is split in one pass of table look-ups, its
    /// tokens slices of the text; any other line is read with every
    /// quirk of `fscanf` (`any_line`). `tests::same_tokens_as_the_reference`
    /// holds the one-pass split to `any_line`'s reading.
    pub fn read_line_into(&mut self, out: &mut Vec<Cow<'a, str>>) -> bool {
        match self.plain_line(out) {
            Some(more) => more,
            None => self.any_line(out),
        }
    }

    /// The common line: valid UTF-8 without a NUL, ended by a newline
    /// within `MAX_TOKEN` bytes (so no token is cut). Its tokens are then
    /// just the runs between blanks, found in one pass. None (and `out`
    /// as it was) for any other line, which `any_line` reads.
    fn plain_line(&mut self, out: &mut Vec<Cow<'a, str>>) -> Option<bool> {
        let text = self.text.filter(|_| !self.has_nul)?;
        let base = self.pos;
        let line = self.data.get(base..)?;
        let window = line.get(..MAX_TOKEN + 1).unwrap_or(line);
        let before = out.len();
        let mut i = 0;
        loop {
            while window.get(i).is_some_and(|b| class(*b) == BLANK) {
                i += 1;
            }
            match window.get(i) {
                Some(b'\n') => {
                    self.pos = base + i + 1;
                    return Some(true);
                }
                Some(_) => {}
                // No newline within the window: another reader's line.
                None => break,
            }
            let start = i;
            while window.get(i).is_some_and(|b| class(*b) == WORD) {
                i += 1;
            }
            // Split at ASCII bytes: always on a character boundary.
            match text.get(base + start..base + i) {
                Some(token) if i < window.len() => {
                    if token != "ipvsadm" {
                        out.push(Cow::Borrowed(token));
                    }
                }
                _ => break,
            }
        }
        out.truncate(before);
        None
    }

    /// Any line, byte for byte as `config_stream_read` reads it (the
    /// reading `plain_line` is tested against).
    fn any_line(&mut self, out: &mut Vec<Cow<'a, str>>) -> bool {
        let mut ntoken = 0;
        loop {
            // fscanf("%4096[^ \t\n\r]%1[ \t\n\r]")
            let Some(c) = self.peek() else {
                return false;
            };
            if is_ws(c) {
                // status 0: skip blanks to the end of the line.
                loop {
                    match self.peek() {
                        None => return false,
                        Some(b'\n') => {
                            self.pos += 1;
                            return true;
                        }
                        Some(b'\t' | b'\r' | b' ') => self.pos += 1,
                        Some(_) => break,
                    }
                }
                continue;
            }
            let start = self.pos;
            let rest = self.data.get(start..).unwrap_or_default();
            let len = rest
                .iter()
                .take(MAX_TOKEN)
                .position(|c| is_ws(*c))
                .unwrap_or(rest.len().min(MAX_TOKEN));
            self.pos = start + len;
            let raw: &'a [u8] = rest.get(..len).unwrap_or_default();
            // A NUL ends the C string early.
            let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
            // Valid UTF-8 input (checked once): the token is a slice,
            // unless the 4096-byte cut split a character.
            let token = match self.text.and_then(|t| t.get(start..start + raw.len())) {
                Some(t) => Cow::Borrowed(t),
                None => String::from_utf8_lossy(raw),
            };
            let tail = match self.peek() {
                Some(c) if is_ws(c) => {
                    self.pos += 1;
                    Some(c)
                }
                _ => None,
            };
            if token != "ipvsadm" {
                ntoken += 1;
                out.push(token);
            }
            if tail == Some(b'\n') {
                return true;
            }
            if self.peek().is_none() {
                return ntoken != 0;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }
}

/// Byte classes: part of a token.
const WORD: u8 = 0;
/// A blank: space, tab or CR.
const BLANK: u8 = 1;
/// The end of a line.
const NEWLINE: u8 = 2;

/// The class of every byte.
static CLASSES: [u8; 256] = {
    let mut t = [WORD; 256];
    t[b' ' as usize] = BLANK;
    t[b'\t' as usize] = BLANK;
    t[b'\r' as usize] = BLANK;
    t[b'\n' as usize] = NEWLINE;
    t
};

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every line read by `any_line` alone (the plain `fscanf` reading).
    fn reference(data: &[u8]) -> Vec<Vec<String>> {
        let mut lines = Lines::new(data);
        lines.has_nul = true; // never the one-pass split
        let mut v = Vec::new();
        let mut toks = Vec::new();
        while lines.read_line_into(&mut toks) {
            v.push(toks.drain(..).map(Cow::into_owned).collect());
        }
        v
    }

    fn tuned(data: &[u8]) -> Vec<Vec<String>> {
        let mut lines = Lines::new(data);
        let mut v = Vec::new();
        let mut toks = Vec::new();
        while lines.read_line_into(&mut toks) {
            v.push(toks.drain(..).map(Cow::into_owned).collect());
        }
        v
    }

    /// Pieces of restore text: words, the program name, every blank, NULs,
    /// a two-byte character, invalid UTF-8, and tokens around the
    /// 4096-byte cut (one with a character across it).
    fn piece(nul: bool) -> impl Strategy<Value = Vec<u8>> {
        let mut small = vec![
            &b"-A"[..],
            b"-t",
            b"10.0.0.1:80",
            b"ipvsadm",
            b" ",
            b"\t",
            b"\r",
            b"\n",
            b"\n",
            b"  ",
            b"\xc3\xa9",
            b"-w",
            b"1",
            b"ipvsadmx",
            b"xipvsadm",
        ];
        if nul {
            small.extend_from_slice(&[&b"\0"[..], b"a\0b", b"\xff"]);
        }
        prop_oneof![
            8 => prop::sample::select(small).prop_map(<[u8]>::to_vec),
            1 => (4090usize..4100).prop_map(|n| vec![b'x'; n]),
            1 => (4090usize..4100).prop_map(|n| {
                let mut v = vec![b'y'; n];
                v.extend_from_slice("\u{e9}".as_bytes());
                v
            }),
        ]
    }

    proptest! {
        #[test]
        fn same_tokens_as_the_reference(
            pieces in any::<bool>().prop_flat_map(|nul| prop::collection::vec(piece(nul), 0..40))
        ) {
            let data = pieces.concat();
            prop_assert_eq!(tuned(&data), reference(&data));
        }
    }

    #[test]
    fn a_nul_cuts_a_token_and_a_long_one_splits() {
        assert_eq!(tuned(b"a\0b c\n"), vec![vec!["a", "c"]]);
        assert_eq!(tuned(b"\0x\n"), vec![vec![""]]);
        let long = vec![b'z'; MAX_TOKEN + 3];
        let v = tuned(&long);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].len(), 2);
        assert_eq!(v[0][1], "zzz");
    }

    fn lines(s: &str) -> Vec<Vec<String>> {
        let mut cs = ConfigStream::new(s.as_bytes().to_vec());
        let mut v = Vec::new();
        while let Some(a) = cs.read_line("ipvsadm") {
            v.push(a.into_iter().skip(1).collect());
        }
        v
    }

    #[test]
    fn splits_lines_and_drops_the_program_name() {
        let v = lines("-A -t 1.2.3.4:80\n\nipvsadm -C\n-L");
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], vec!["-A", "-t", "1.2.3.4:80"]);
        assert!(v[1].is_empty());
        assert_eq!(v[2], vec!["-C"]);
        assert_eq!(v[3], vec!["-L"]);
    }

    #[test]
    fn trailing_blanks_without_newline_end_input() {
        let v = lines("-C\n-L  ");
        assert_eq!(v, vec![vec!["-C".to_string()]]);
    }
}
