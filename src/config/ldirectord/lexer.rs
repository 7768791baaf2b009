//! Line structure of `ldirectord.cf`, exactly as ldirectord 4.12's
//! `read_config` sees it:
//! - global lines start in column 0 (`name = value`); blank lines and lines
//!   whose first non-blank is `#` are skipped; no inline comments;
//! - `virtual=`/`virtual6=` opens a block; each following line is skipped if
//!   it is a comment, else loses everything from the first `#` (even inside
//!   quotes), has tabs widened to 4 spaces, and belongs to the block only if
//!   it is indented by at least 4 spaces; any other line ends the block and
//!   is read again as a global line (so a blank line ends a block);
//! - there is no line continuation.
//!
//! One deviation: a line of whitespace only inside a block ends the block
//! like an empty line (ldirectord rejects one of 5+ columns as "Unknown
//! command" but lets a 4-column one end the block).

/// One meaningful line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// `virtual=...` or `virtual6=...` at column 0.
    Virtual {
        /// 1-based line.
        line: usize,
        /// `virtual6`.
        v6: bool,
        /// Text after `=` (leading blanks removed).
        value: &'a str,
    },
    /// A global `name=value` line.
    Global {
        /// 1-based line.
        line: usize,
        /// The word before `=`.
        name: &'a str,
        /// Text after `=` (leading blanks removed, trailing kept).
        value: &'a str,
    },
    /// A global line that is not `name=value` (e.g. bare `supervised`, an
    /// indented line after a block ended, junk).
    GlobalOther {
        /// 1-based line.
        line: usize,
        /// The whole line.
        raw: &'a str,
    },
    /// An indented `name=value` line of the current virtual block.
    Directive {
        /// 1-based line.
        line: usize,
        /// The word before `=`.
        name: String,
        /// Text after `=`, comment removed, tabs widened, trailing blanks
        /// removed.
        value: String,
        /// Whether a `#` cut the line (ldirectord strips it even inside
        /// quotes, which explains many "unterminated quote" errors).
        cut: bool,
    },
    /// An indented line of a block that is not `name=value`.
    DirectiveOther {
        /// 1-based line.
        line: usize,
        /// The line, comment removed and trimmed.
        raw: String,
    },
}

/// Split `name\s*=\s*value`; None if the line does not start that way.
fn name_value(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let (name, rest) = s.split_at(end);
    let rest = rest.trim_start_matches([' ', '\t', '\r', '\x0b', '\x0c']);
    let rest = rest.strip_prefix('=')?;
    Some((name, rest.trim_start()))
}

/// Physical lines without their `\n` (a `\r` stays, as in Perl).
fn physical(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut v: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') || text.is_empty() {
        v.pop();
    }
    v.into_iter().enumerate().map(|(i, l)| (i + 1, l))
}

fn is_blank_or_comment(l: &str) -> bool {
    let t = l.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// The block-line transformation; None when the line ends the block.
fn block_line(l: &str) -> Option<String> {
    let l = match l.find('#') {
        Some(i) => l.get(..i).unwrap_or(""),
        None => l,
    };
    let l = l.replace('\t', "    ");
    let indent = l.len() - l.trim_start_matches(' ').len();
    let body = l.trim();
    if indent < 4 || body.is_empty() {
        return None;
    }
    Some(body.to_string())
}

/// Split a whole file into items.
pub(crate) fn lex(text: &str) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (line, l) in physical(text) {
        if in_block {
            if l.trim_start().starts_with('#') {
                continue;
            }
            if let Some(body) = block_line(l) {
                match name_value(&body) {
                    Some((n, v)) => out.push(Item::Directive {
                        line,
                        name: n.to_string(),
                        value: v.trim_end().to_string(),
                        cut: l.contains('#'),
                    }),
                    None => out.push(Item::DirectiveOther { line, raw: body }),
                }
                continue;
            }
            in_block = false;
        }
        if let Some((name, value)) = name_value(l) {
            if name == "virtual" || name == "virtual6" {
                out.push(Item::Virtual {
                    line,
                    v6: name == "virtual6",
                    value,
                });
                in_block = true;
                continue;
            }
            out.push(Item::Global { line, name, value });
            continue;
        }
        if is_blank_or_comment(l) {
            continue;
        }
        out.push(Item::GlobalOther { line, raw: l });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_comments_and_indentation() {
        let t = "# c\nchecktimeout = 3\nvirtual=1.2.3.4:80\n\treal=10.0.0.1:80 gate # x\n    # skip\n \tservice=http\n   three=3\n";
        let items = lex(t);
        assert_eq!(
            items,
            vec![
                Item::Global {
                    line: 2,
                    name: "checktimeout",
                    value: "3"
                },
                Item::Virtual {
                    line: 3,
                    v6: false,
                    value: "1.2.3.4:80"
                },
                Item::Directive {
                    line: 4,
                    name: "real".into(),
                    value: "10.0.0.1:80 gate".into(),
                    cut: true
                },
                Item::Directive {
                    line: 6,
                    name: "service".into(),
                    value: "http".into(),
                    cut: false
                },
                Item::GlobalOther {
                    line: 7,
                    raw: "   three=3"
                },
            ]
        );
    }

    #[test]
    fn blank_line_ends_block() {
        let items = lex("virtual6=[::1]:80\n\treal6=[::1]:80 masq\n\n\treal6=[::2]:80 masq\n");
        assert_eq!(items.len(), 3);
        assert!(matches!(items[2], Item::GlobalOther { line: 4, .. }));
    }

    #[test]
    fn hash_inside_quotes_is_a_comment_in_blocks_only() {
        let items = lex("emailalertfrom=a#b\nvirtual=1.2.3.4:80\n\treceive=\"a#b\"\n");
        assert_eq!(
            items[0],
            Item::Global {
                line: 1,
                name: "emailalertfrom",
                value: "a#b"
            }
        );
        assert_eq!(
            items[2],
            Item::Directive {
                line: 3,
                name: "receive".into(),
                value: "\"a".into(),
                cut: true
            }
        );
    }

    #[test]
    fn crlf_and_no_trailing_newline() {
        let items = lex("fork=no\r\nvirtual=1:2");
        assert_eq!(
            items[0],
            Item::Global {
                line: 1,
                name: "fork",
                value: "no\r"
            }
        );
        assert_eq!(items.len(), 2);
    }
}
