//! Tracking (keepalived's `track_interface`, `track_script`,
//! `track_file`): pure decisions on what the shells observe. A node with a
//! tracked object at fault is not eligible to hold the VIPs.
//!
//! Only keepalived's `weight 0` semantics are implemented (a fault makes
//! the node ineligible); keepalived's non-zero weights, which shift the
//! VRRP priority, have no equivalent (lvsd's priority only orders
//! failback). The runtime shell is not wired yet.

/// keepalived's `vrrp_script` counter (vrrp_scheduler.c): `result` runs
/// from 0 to `rise + fall - 1`; the script is good while `result >= rise`.
/// It starts at `rise - 1`: one success makes it good, one failure bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptState {
    result: u32,
    rise: u32,
    fall: u32,
    ran: bool,
}

impl ScriptState {
    /// A script never run (rise and fall at least 1).
    pub fn new(rise: u32, fall: u32) -> Self {
        let rise = rise.max(1);
        let fall = fall.max(1);
        ScriptState {
            result: rise - 1,
            rise,
            fall,
            ran: false,
        }
    }

    /// Whether the script counts as passing.
    pub fn good(&self) -> bool {
        self.result >= self.rise
    }

    /// Fold one run's outcome; Some(new state) when it changed (for the
    /// log line).
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let was = self.good();
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else {
                self.result = self.rise + self.fall - 1;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
        }
        let now = self.good();
        let first = !self.ran;
        self.ran = true;
        // The first failure of a never-run script is a change too: it was
        // not proven good, and is now known bad.
        (now != was || (first && !success)).then_some(now)
    }
}

/// The value of a track file as keepalived reads it: up to 127 bytes,
/// `strtol(buf, NULL, 0)` (leading blanks, sign, `0x` hex, `0` octal, the
/// longest numeric prefix; nothing numeric is 0). A missing or empty file
/// is 0. None: out of the 32-bit range, ignored (the previous value stays).
pub fn track_file_value(bytes: Option<&[u8]>) -> Option<i64> {
    let Some(b) = bytes else { return Some(0) };
    let b = b.get(..127).unwrap_or(b);
    let s = String::from_utf8_lossy(b);
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.starts_with(|c: char| c.is_ascii_hexdigit()) {
            (16, h)
        } else {
            (10, "0")
        }
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let mut v: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        if v > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    (v >= i64::from(i32::MIN)).then_some(v)
}

/// What the shells observed, judged: the reasons this node is at fault
/// (empty: eligible).
pub fn faults(
    interfaces: &[(String, Option<bool>)],
    files: &[(String, i64)],
    scripts: &[(String, &ScriptState)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, up) in interfaces {
        match up {
            Some(true) => {}
            Some(false) => out.push(format!("interface {name} is down")),
            None => out.push(format!("interface {name} is missing")),
        }
    }
    for (path, v) in files {
        if *v != 0 {
            out.push(format!("track file {path} holds {v}"));
        }
    }
    for (name, s) in scripts {
        if !s.good() {
            out.push(format!("track script {name} is failing"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_counter_follows_keepalived() {
        // rise 2, fall 3: first success makes it good (starts at rise-1).
        let mut s = ScriptState::new(2, 3);
        assert!(!s.good());
        assert_eq!(s.record(true), Some(true));
        // Two failures: still good (fall 3), the third one fails it.
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), None);
        assert!(s.good());
        assert_eq!(s.record(false), Some(false));
        // Rise 2: one success is not enough, two are.
        assert_eq!(s.record(true), None);
        assert!(!s.good());
        assert_eq!(s.record(true), Some(true));
        // A never-run script that fails is reported bad at once.
        let mut s = ScriptState::new(1, 1);
        assert_eq!(s.record(false), Some(false));
        assert!(!s.good());
        // Further failures are no change (one log line per crossing).
        assert_eq!(s.record(false), None);
    }

    #[test]
    fn track_file_reads_like_strtol() {
        assert_eq!(track_file_value(None), Some(0));
        assert_eq!(track_file_value(Some(b"")), Some(0));
        assert_eq!(track_file_value(Some(b"0\n")), Some(0));
        assert_eq!(track_file_value(Some(b"  5abc")), Some(5));
        assert_eq!(track_file_value(Some(b"-3")), Some(-3));
        assert_eq!(track_file_value(Some(b"0x10")), Some(16));
        assert_eq!(track_file_value(Some(b"010")), Some(8));
        assert_eq!(track_file_value(Some(b"fault")), Some(0));
        assert_eq!(track_file_value(Some(b"99999999999")), None);
    }

    #[test]
    fn any_fault_makes_the_node_ineligible() {
        let good = {
            let mut s = ScriptState::new(1, 1);
            s.record(true);
            s
        };
        let none: Vec<(String, &ScriptState)> = vec![("chk".into(), &good)];
        assert!(faults(&[("eth0".into(), Some(true))], &[("/f".into(), 0)], &none).is_empty());
        let f = faults(
            &[("eth0".into(), Some(false)), ("eth1".into(), None)],
            &[("/f".into(), 2)],
            &[("chk".into(), &ScriptState::new(1, 1))],
        );
        assert_eq!(
            f,
            vec![
                "interface eth0 is down",
                "interface eth1 is missing",
                "track file /f holds 2",
                "track script chk is failing"
            ]
        );
    }
}
