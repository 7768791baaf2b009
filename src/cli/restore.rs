//! `ipvsadm -R` input: ipvsadm 1.31's `config_stream_read`, token for
//! token (white-space split, the word `ipvsadm` dropped anywhere, a last
//! line of only blanks without newline ending the input).
//!
//! Called by `cli::run`. Pure.

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

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// The next line as an argv headed by `argv0`, or None at the end
    /// (`config_stream_read` returning NULL).
    pub fn read_line(&mut self, argv0: &str) -> Option<Vec<String>> {
        let mut a = vec![argv0.to_string()];
        let mut ntoken = 0;
        loop {
            // fscanf("%4096[^ \t\n\r]%1[ \t\n\r]")
            let c = self.peek()?;
            if is_ws(c) {
                // status 0: skip blanks to the end of the line.
                loop {
                    match self.peek() {
                        None => return None,
                        Some(b'\n') => {
                            self.pos += 1;
                            return Some(a);
                        }
                        Some(b'\t' | b'\r' | b' ') => self.pos += 1,
                        Some(_) => break,
                    }
                }
                continue;
            }
            let start = self.pos;
            while self.pos - start < MAX_TOKEN && self.peek().is_some_and(|c| !is_ws(c)) {
                self.pos += 1;
            }
            let raw = self.data.get(start..self.pos).unwrap_or_default();
            // A NUL ends the C string early.
            let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
            let token = String::from_utf8_lossy(raw).into_owned();
            let tail = match self.peek() {
                Some(c) if is_ws(c) => {
                    self.pos += 1;
                    Some(c)
                }
                _ => None,
            };
            if token != "ipvsadm" {
                ntoken += 1;
                a.push(token);
            }
            if tail == Some(b'\n') {
                return Some(a);
            }
            if self.peek().is_none() {
                return if ntoken == 0 { None } else { Some(a) };
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
