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
//!
//! Items borrow the file's text: a block line is copied only when a tab
//! inside it has to be widened. A reload re-reads the whole file (13,000
//! lines for 1,000 virtuals of 10 reals), and four copies per block line
//! were a third of the reading (issue 15, docs/benchmarks.md "daemon").

use std::borrow::Cow;

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
        name: Cow<'a, str>,
        /// Text after `=`, comment removed, tabs widened, trailing blanks
        /// removed.
        value: Cow<'a, str>,
        /// Whether a `#` cut the line (ldirectord strips it even inside
        /// quotes, which explains many "unterminated quote" errors).
        cut: bool,
    },
    /// An indented line of a block that is not `name=value`.
    DirectiveOther {
        /// 1-based line.
        line: usize,
        /// The line, comment removed and trimmed.
        raw: Cow<'a, str>,
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
    text.split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

fn is_blank_or_comment(l: &str) -> bool {
    let t = l.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// The block-line transformation of `l`, its comment already cut: the
/// line trimmed, tabs widened to 4 spaces; None when the line ends the
/// block (indented by fewer than 4 columns, a tab counting 4, or blank).
/// Borrowed unless a tab inside it is widened.
fn block_line(l: &str) -> Option<Cow<'_, str>> {
    let mut indent = 0usize;
    for b in l.bytes() {
        match b {
            b' ' => indent += 1,
            b'\t' => indent += 4,
            _ => break,
        }
    }
    // Trimming before widening gives the same text: a tab at either end
    // is trimmed either way, and the rest is left alone.
    let body = l.trim();
    if indent < 4 || body.is_empty() {
        return None;
    }
    Some(if body.contains('\t') {
        Cow::Owned(body.replace('\t', "    "))
    } else {
        Cow::Borrowed(body)
    })
}

/// A block line's item: `name=value` or the line as it is.
fn block_item<'a>(line: usize, body: Cow<'a, str>, cut: bool) -> Item<'a> {
    match body {
        Cow::Borrowed(b) => match name_value(b) {
            Some((n, v)) => Item::Directive {
                line,
                name: Cow::Borrowed(n),
                value: Cow::Borrowed(v.trim_end()),
                cut,
            },
            None => Item::DirectiveOther {
                line,
                raw: Cow::Borrowed(b),
            },
        },
        Cow::Owned(b) => match name_value(&b) {
            Some((n, v)) => Item::Directive {
                line,
                name: Cow::Owned(n.to_string()),
                value: Cow::Owned(v.trim_end().to_string()),
                cut,
            },
            None => Item::DirectiveOther {
                line,
                raw: Cow::Owned(b),
            },
        },
    }
}

/// Split a whole file into items.
pub(crate) fn lex(text: &str) -> Vec<Item<'_>> {
    // about one item per line of a usual file (a guess: it only saves
    // regrowing the list)
    lex_with(physical(text), text.len() / 24 + 1, block_line_item)
}

/// A line inside a block: its item, None when it ends the block.
fn block_line_item(line: usize, l: &str) -> Option<Item<'_>> {
    let (kept, cut) = match l.find('#') {
        Some(i) => (l.get(..i).unwrap_or(""), true),
        None => (l, false),
    };
    block_line(kept).map(|body| block_item(line, body, cut))
}

/// The items of `lines`, `block` reading the lines inside a block.
fn lex_with<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    capacity: usize,
    block: impl Fn(usize, &'a str) -> Option<Item<'a>>,
) -> Vec<Item<'a>> {
    let mut out = Vec::with_capacity(capacity);
    let mut in_block = false;
    for (line, l) in lines {
        if in_block {
            if l.trim_start().starts_with('#') {
                continue;
            }
            if let Some(item) = block(line, l) {
                out.push(item);
                continue;
            }
            in_block = false;
        }
        if let Some((item, opens)) = global_item(line, l) {
            out.push(item);
            in_block = opens;
        }
    }
    out
}

/// A line read at global level: its item and whether it opens a block;
/// None for a blank line or a comment.
fn global_item(line: usize, l: &str) -> Option<(Item<'_>, bool)> {
    if let Some((name, value)) = name_value(l) {
        if name == "virtual" || name == "virtual6" {
            let v6 = name == "virtual6";
            return Some((Item::Virtual { line, v6, value }, true));
        }
        return Some((Item::Global { line, name, value }, false));
    }
    if is_blank_or_comment(l) {
        return None;
    }
    Some((Item::GlobalOther { line, raw: l }, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading before items borrowed the text, kept as the reference:
    /// physical lines collected, every block line widened and copied.
    fn lex_copying(text: &str) -> Vec<Item<'_>> {
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
        let mut v: Vec<&str> = text.split('\n').collect();
        if text.ends_with('\n') || text.is_empty() {
            v.pop();
        }
        let lines = v.into_iter().enumerate().map(|(i, l)| (i + 1, l));
        lex_with(lines, 0, |line, l| {
            let body = block_line(l)?;
            Some(match name_value(&body) {
                Some((n, v)) => Item::Directive {
                    line,
                    name: Cow::Owned(n.to_string()),
                    value: Cow::Owned(v.trim_end().to_string()),
                    cut: l.contains('#'),
                },
                None => Item::DirectiveOther {
                    line,
                    raw: Cow::Owned(body),
                },
            })
        })
    }

    /// Every line of up to 6 characters over an alphabet of the
    /// characters that matter (blanks, tabs, other whitespace, `#`, `=`,
    /// a name's letters), inside a block and after it, and the ends of a
    /// file: read as the copying reader read them.
    #[test]
    fn borrowing_reads_as_copying_did() {
        let alphabet = [' ', '\t', 'a', '=', '#', '\r', '\u{a0}', 'b'];
        let mut lines = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..6 {
            let next: Vec<String> = last
                .iter()
                .flat_map(|l| {
                    alphabet.iter().map(move |c| {
                        let mut n = l.clone();
                        n.push(*c);
                        n
                    })
                })
                .collect();
            lines.extend(next.iter().cloned());
            last = next;
        }
        let mut checked = 0;
        for l in &lines {
            for text in [
                format!("virtual=1:2\n{l}\n    x=1\n"),
                format!("virtual=1:2\n    {l}\n{l}"),
            ] {
                assert_eq!(lex(&text), lex_copying(&text), "{text:?}");
                checked += 1;
            }
        }
        assert!(checked > 500_000, "{checked}");
        for text in [
            "",
            "\n",
            "a=1",
            "a=1\n",
            "a=1\n\n",
            "\n\nvirtual=1:2\n\tb=2",
        ] {
            assert_eq!(lex(text), lex_copying(text), "{text:?}");
        }
    }

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
