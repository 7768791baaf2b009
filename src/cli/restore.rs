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
    pos: usize,
}

impl<'a> Lines<'a> {
    /// Read from the whole input.
    pub fn new(data: &'a [u8]) -> Lines<'a> {
        Lines {
            data,
            text: std::str::from_utf8(data).ok(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Append the next line's tokens to `out`; false at the end (then
    /// `out` holds nothing to run: `config_stream_read` returned NULL).
    pub fn read_line_into(&mut self, out: &mut Vec<Cow<'a, str>>) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
