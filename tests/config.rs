//! `lvsd check-config` end to end: the corpus of real-world-style
//! ldirectord.cf files (each with the `ipvsadm -Sn` table it describes),
//! broken files (each with its exact error text), the shipped example,
//! and robustness: a proptest property and a bounded mutation loop over the
//! corpus (the stable-toolchain stand-in for the cargo-fuzz target in
//! `fuzz/`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lvsd::config::ldirectord::{Config, OfflineResolver};
use proptest::prelude::*;

fn data(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ldirectord")
        .join(sub)
}

/// Run `lvsd check-config NAME` in `dir`.
fn check_config(dir: &Path, name: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("check-config")
        .arg(name)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run lvsd: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    v.sort();
    v
}

fn expect_eq(what: &str, expected: &str, actual: &str) {
    if expected != actual {
        panic!("{what}: output differs\n--- expected\n{expected}--- actual\n{actual}---");
    }
}

#[test]
fn corpus_files_are_accepted_with_their_tables() {
    let dir = data("ok");
    let names = files(&dir, ".cf");
    assert!(names.len() >= 20, "corpus too small: {}", names.len());
    for n in &names {
        let (code, out, err) = check_config(&dir, n);
        assert_eq!(code, 0, "{n} rejected:\n{err}");
        assert!(!err.contains("error"), "{n}: {err}");
        let exp_path = dir.join(n.replace(".cf", ".expected"));
        let expected = std::fs::read_to_string(&exp_path)
            .unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
        expect_eq(n, &expected, &out);
    }
}

#[test]
fn broken_files_are_rejected_at_the_right_line() {
    let dir = data("bad");
    let names = files(&dir, ".cf");
    assert!(names.len() >= 10);
    for n in &names {
        let (code, out, err) = check_config(&dir, n);
        assert_eq!(code, 1, "{n} accepted:\n{out}");
        assert_eq!(out, "", "{n}: stdout must be empty on error");
        let exp_path = dir.join(n.replace(".cf", ".err"));
        let expected = std::fs::read_to_string(&exp_path)
            .unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
        expect_eq(n, &expected, &err);
        // Every line names file:line.
        for l in err.lines() {
            assert!(l.starts_with(&format!("lvsd: {n}:")), "{l}");
        }
    }
}

#[test]
fn example_at_repo_root_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, out, err) = check_config(root, "ldirectord.cf.example");
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("-A -f ")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("-A -u ")), "{out}");
    assert!(out.contains("-A -t ["), "{out}");
}

#[test]
fn missing_file_is_an_error_on_stderr() {
    let (code, out, err) = check_config(&data("ok"), "no-such-file.cf");
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(
        err.starts_with("lvsd: config file no-such-file.cf not found"),
        "{err}"
    );
}

#[test]
fn several_errors_are_all_reported() {
    let (code, _, err) = check_config(&data("bad"), "23-multiple-errors.cf");
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 4, "{err}");
}

/// Lines a generator combines into plausible (and implausible) files.
const VOCAB: &[&str] = &[
    "virtual=10.0.0.1:80",
    "virtual=7",
    "virtual6=[::1]:80",
    "virtual=10.0.0.1",
    "\treal=10.0.0.2:80 gate",
    "\treal=10.0.0.2->10.0.0.9:80 masq 3 \"/x\", \"y\" l:1 u:2",
    "\treal6=[::2]:80 masq",
    "\treal=localhost gate 70000",
    "\tscheduler=wlc",
    "\tpersistent=60",
    "\tnetmask=255.255.255.0",
    "\tnetmask=64",
    "\tprotocol=udp",
    "\tprotocol=fwm",
    "\tchecktype=5",
    "\tservice=http",
    "\trequest=\"/a#b\"",
    "\treceive=\"",
    "\tfallback=127.0.0.1:80 masq",
    "\tfallback6=[::1]",
    "\tops=yes",
    "\tschedflags=sh-port",
    "quiescent=yes",
    "fallback=127.0.0.1",
    "checktimeout=0",
    "supervised",
    "",
    "# comment",
    "    ",
    "\t\t",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_errors_never_panics(text in "\\PC{0,400}") {
        let _ = Config::parse(&text, Path::new("p.cf"), &OfflineResolver).map(|c| c.table());
    }

    #[test]
    fn vocabulary_files_parse_or_error_with_lines(picks in prop::collection::vec(0..VOCAB.len(), 0..25)) {
        let text: String = picks.iter().map(|i| format!("{}\n", VOCAB[*i])).collect();
        match Config::parse(&text, Path::new("p.cf"), &OfflineResolver) {
            Ok(c) => { let _ = c.table(); }
            Err(e) => {
                for d in e.diagnostics() {
                    prop_assert!(d.starts_with("p.cf:"), "{}", d);
                }
            }
        }
    }
}

/// Bounded mutation fuzzing of the corpus (byte flips, insertions,
/// deletions, line splices), deterministic, at most `LVSD_FUZZ_SECS`
/// seconds (default 3) and `LVSD_FUZZ_ITERS` inputs (default 20000).
#[test]
fn mutated_corpus_never_panics() {
    let secs: u64 = std::env::var("LVSD_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let iters: u64 = std::env::var("LVSD_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for sub in ["ok", "bad"] {
        let dir = data(sub);
        for n in files(&dir, ".cf") {
            if let Ok(b) = std::fs::read(dir.join(n)) {
                seeds.push(b);
            }
        }
    }
    assert!(!seeds.is_empty());
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |n: usize| -> usize {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % (n.max(1) as u64)) as usize
    };
    const BYTES: &[u8] = b" \t\n\r#\"=:[]->0123456789.abcxyzgatemasqipipl:u:virtualreal";
    let start = Instant::now();
    let mut done = 0u64;
    while done < iters && start.elapsed() < Duration::from_secs(secs) {
        let mut b = seeds[rnd(seeds.len())].clone();
        for _ in 0..=rnd(8) {
            match rnd(5) {
                0 if !b.is_empty() => {
                    let i = rnd(b.len());
                    b[i] = BYTES[rnd(BYTES.len())];
                }
                1 => {
                    let i = rnd(b.len() + 1);
                    b.insert(i, BYTES[rnd(BYTES.len())]);
                }
                2 if !b.is_empty() => {
                    let i = rnd(b.len());
                    b.remove(i);
                }
                3 => {
                    let other = &seeds[rnd(seeds.len())];
                    let from = rnd(other.len());
                    let len = rnd(80).min(other.len() - from);
                    let at = rnd(b.len() + 1);
                    let chunk: Vec<u8> = other[from..from + len].to_vec();
                    b.splice(at..at, chunk);
                }
                _ => {
                    let i = rnd(b.len() + 1);
                    b.insert(i, rnd(256) as u8);
                }
            }
        }
        let text = String::from_utf8_lossy(&b);
        let _ = Config::parse(&text, Path::new("m.cf"), &OfflineResolver).map(|c| c.table());
        done += 1;
    }
    assert!(done > 0);
}
