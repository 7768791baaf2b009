//! Text that came from outside (a real server's answer, a check command's
//! output) made safe to put in logs, mail headers, hook arguments and the
//! status page: one line, no control characters, bounded length.

/// Longest sanitized text, in characters (before the ellipsis).
pub const MAX_CHARS: usize = 256;

/// Marks text cut at [`MAX_CHARS`].
pub const ELLIPSIS: &str = "...";

/// `s` with every control character (C0 incl. CR, LF, TAB, NUL, ESC; DEL;
/// C1), Unicode line/paragraph separators, bidi controls and the BOM
/// replaced by a visible escape (`\r`, `\n`, `\t`, `\0`, `\x1b`,
/// `\u{202e}`), cut to [`MAX_CHARS`] characters on a char boundary with
/// [`ELLIPSIS`] appended. The result is one line of printable text.
pub fn sanitize(s: &str) -> String {
    sanitize_to(s, MAX_CHARS)
}

/// [`sanitize`] of text the caller owns: printable ASCII within
/// [`MAX_CHARS`] (a check's usual answer, "200 OK", "connected to ...")
/// is returned as it is, without a copy or a walk over its characters.
pub fn sanitize_owned(s: String) -> String {
    if plain_within(&s, MAX_CHARS) {
        return s;
    }
    walk(&s, MAX_CHARS)
}

/// Whether `s` is printable ASCII (space to `~`) of at most `max` bytes:
/// [`sanitize_to`] leaves such text as it is (nothing to escape, nothing
/// to cut), so it is checked byte by byte first.
fn plain_within(s: &str, max: usize) -> bool {
    s.len() <= max && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// [`sanitize`] with an explicit bound (in characters of the result,
/// escapes included, ellipsis excluded).
pub fn sanitize_to(s: &str, max: usize) -> String {
    if plain_within(s, max) {
        return s.to_string();
    }
    walk(s, max)
}

/// [`sanitize_to`] character by character (every text the fast path
/// does not take).
fn walk(s: &str, max: usize) -> String {
    // Idempotent: text this function already cut (clean, `max` characters
    // and the ellipsis) is returned as is, so layers may sanitize again.
    if is_clean(s) && s.ends_with(ELLIPSIS) && s.chars().count() == max + ELLIPSIS.len() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len().min(max + ELLIPSIS.len()));
    let mut chars = 0usize;
    for c in s.chars() {
        let esc;
        let piece: &str = match c {
            '\r' => "\\r",
            '\n' => "\\n",
            '\t' => "\\t",
            '\0' => "\\0",
            c if needs_escape(c) => {
                esc = if (c as u32) < 0x100 {
                    format!("\\x{:02x}", c as u32)
                } else {
                    format!("\\u{{{:04x}}}", c as u32)
                };
                &esc
            }
            _ => {
                if chars + 1 > max {
                    out.push_str(ELLIPSIS);
                    return out;
                }
                out.push(c);
                chars += 1;
                continue;
            }
        };
        // An escape is never split: either it fits whole or the text ends.
        if chars + piece.len() > max {
            out.push_str(ELLIPSIS);
            return out;
        }
        out.push_str(piece);
        chars += piece.len();
    }
    out
}

/// Whether `c` must not appear raw in sanitized text: it could end a line
/// (header injection, forged log lines), drive a terminal (ESC) or reorder
/// what a reader sees (bidi overrides).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Whether `s` is already what [`sanitize`] would leave unchanged in
/// content (no character needing an escape).
pub fn is_clean(s: &str) -> bool {
    !s.chars().any(|c| needs_escape(c) || c == '\r' || c == '\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_controls_become_visible_escapes() {
        assert_eq!(
            sanitize("bad\r\nBcc: evil@x\0\x1b[31m\x7f\u{85}"),
            "bad\\r\\nBcc: evil@x\\0\\x1b[31m\\x7f\\x85"
        );
        assert_eq!(
            sanitize("a\u{202e}b\u{2028}c\u{2067}"),
            "a\\u{202e}b\\u{2028}c\\u{2067}"
        );
        assert_eq!(sanitize("tab\there"), "tab\\there");
        // Ordinary text, non-ASCII letters included, is kept as is.
        assert_eq!(
            sanitize("HTTP 200 OK, héllo 漢字"),
            "HTTP 200 OK, héllo 漢字"
        );
        for s in ["x\ny", "\r", "\u{2029}", "\u{9b}"] {
            assert!(is_clean(&sanitize(s)), "{s:?}");
        }
    }

    proptest::proptest! {
        /// The printable-ASCII shortcut gives what the character walk
        /// gives, at and around the bound.
        #[test]
        fn the_shortcut_agrees_with_the_walk(
            s in "[ -~]{0,12}|[ -~\\r\\n\\t\\x00\\x7f\\u{85}é\\u{202e}]{0,12}",
            max in 0usize..14,
        ) {
            proptest::prop_assert_eq!(sanitize_to(&s, max), walk(&s, max));
            proptest::prop_assert_eq!(sanitize_owned(s.clone()), walk(&s, MAX_CHARS));
        }
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), MAX_CHARS + ELLIPSIS.len());
        assert!(s.ends_with(ELLIPSIS));
        // An escape is never cut in half.
        let s = sanitize_to("abc\r\n", 4);
        assert_eq!(s, "abc...");
        let s = sanitize_to("ab\r\n", 4);
        assert_eq!(s, "ab\\r...");
        assert_eq!(sanitize_to("abcd", 4), "abcd");
        assert_eq!(sanitize(""), "");
        // Sanitizing twice changes nothing.
        for t in [long.as_str(), "a\r\nb", "plain"] {
            assert_eq!(sanitize(&sanitize(t)), sanitize(t));
        }
    }
}
