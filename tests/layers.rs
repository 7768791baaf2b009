//! The layer rule of `docs/architecture.md`, enforced: every `crate::<module>`
//! path inside `src/<module>/` must name a module that layer may use, and
//! the binaries in `src/bin/` reach the library only through their entry
//! module (`lvsd::<module>` paths), so no logic hides in a binary.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Which modules each module may use (itself is always allowed).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("wire", &["model"]),
    ("kernel", &["wire", "model"]),
    ("child", &[]),
    ("config", &["model"]),
    ("icmp", &[]),
    ("check", &["model", "config", "icmp", "child"]),
    ("reconcile", &["model", "kernel"]),
    ("ha", &["model", "wire", "kernel", "icmp", "child"]),
    ("cli", &["model", "kernel"]),
];

/// Which library modules each binary in `src/bin/` may name (as `lvsd::x`).
/// A new binary must be added here, which is the point: someone decides.
const BINARIES: &[(&str, &[&str])] = &[("lvsadm", &["cli"]), ("lvsd", &["daemon"])];

const MODULES: &[&str] = &[
    "model",
    "wire",
    "kernel",
    "child",
    "config",
    "icmp",
    "check",
    "reconcile",
    "ha",
    "cli",
    "daemon",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source files of top-level module `module`: `src/module/**.rs` and
/// `src/module.rs` (a module may be a single file).
fn module_files(root: &Path, module: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    rust_files(&root.join(module), &mut out);
    let single = root.join(format!("{module}.rs"));
    if single.is_file() {
        out.push(single);
    }
    out
}

/// The leading identifier of `s` (after leading whitespace).
fn ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level items of a `{...}` group that `group` starts right after
/// the opening brace of: split at commas outside nested braces, up to the
/// matching closing brace (an unclosed group runs to the end).
fn group_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// The modules named by `<root>::x` paths and `use <root>::{x, y::{z}}`
/// groups (`root` is `crate` inside the library, `lvsd` in a binary).
fn used_modules_of(src: &str, root: &str) -> BTreeSet<String> {
    let prefix = format!("{root}::");
    let mut used = BTreeSet::new();
    for (i, _) in src.match_indices(&prefix) {
        // `xcrate::` or `my_lvsd::` is another path, not ours.
        let before = src[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &src[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for item in group_items(group) {
                used.insert(ident(item));
            }
        } else {
            used.insert(ident(rest));
        }
    }
    used.remove("");
    used
}

/// The modules named by `crate::` paths.
fn used_modules(src: &str) -> BTreeSet<String> {
    used_modules_of(src, "crate")
}

#[test]
fn layer_rule_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (module, allowed) in ALLOWED {
        for file in module_files(&root, module) {
            let text = fs::read_to_string(&file).expect("read source file");
            for used in used_modules(&text) {
                let is_module = MODULES.contains(&used.as_str());
                if is_module && used != *module && !allowed.contains(&used.as_str()) {
                    violations.push(format!("{}: uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layer rule broken:\n{}",
        violations.join("\n")
    );
}

/// Every allowance is used by some file: an unused one is a hole the rule
/// does not need (drop it from `ALLOWED` and docs/architecture.md).
#[test]
fn every_allowance_is_used() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut unused = Vec::new();
    for (module, allowed) in ALLOWED {
        let mut used = BTreeSet::new();
        for file in module_files(&root, module) {
            used.extend(used_modules(
                &fs::read_to_string(&file).expect("read source file"),
            ));
        }
        for a in *allowed {
            if !used.contains(*a) {
                unused.push(format!("{module} may use {a}, but does not"));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "unused allowances:\n{}",
        unused.join("\n")
    );
}

/// The binaries are thin: each names only its entry module of the library.
#[test]
fn binaries_use_only_their_entry_module() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(!files.is_empty(), "no sources under src/bin");
    let mut violations = Vec::new();
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let Some((_, allowed)) = BINARIES.iter().find(|(b, _)| *b == stem) else {
            violations.push(format!("{}: binary not in BINARIES", file.display()));
            continue;
        };
        let text = fs::read_to_string(&file).expect("read source file");
        for used in used_modules_of(&text, "lvsd") {
            if !allowed.contains(&used.as_str()) {
                violations.push(format!("{}: uses lvsd::{used}", file.display()));
            }
        }
        // A binary that declares modules grows logic of its own.
        if text.lines().any(|l| l.trim_start().starts_with("mod ")) {
            violations.push(format!("{}: declares a module", file.display()));
        }
    }
    assert!(
        violations.is_empty(),
        "binaries not thin:\n{}",
        violations.join("\n")
    );
}

/// The scanner itself: a nested group does not end the outer one (the old
/// scanner stopped at the first `}` and missed `cli` here), and a path
/// that only ends in `crate` is not a crate path.
#[test]
fn used_modules_reads_nested_groups() {
    let found = used_modules(
        "use crate::{model::{Table, TableEntry}, kernel::{Ipvs, Op}, cli};\n\
         let y = foocrate::daemon::x();",
    );
    let want: BTreeSet<String> = ["model", "kernel", "cli"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
    let bin = used_modules_of(
        "use lvsd::{cli::{self, run}, daemon};\nfn main() { lvsd::model::f(); }",
        "lvsd",
    );
    let want: BTreeSet<String> = ["cli", "daemon", "model"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(bin, want);
}

#[test]
fn used_modules_sees_paths_and_groups() {
    let found = used_modules("use crate::{model, kernel::Ipvs};\nlet x = crate::wire::ipvs::f();");
    let want: BTreeSet<String> = ["model", "kernel", "wire"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}

/// The workspace crates under `crates/` are lvsd's dependencies, never the
/// other way round: none of their sources may name `lvsd`.
#[test]
fn workspace_crates_do_not_use_lvsd() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "no sources under crates/");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = fs::read_to_string(f).expect("read source file");
            text.contains("lvsd::") || text.contains("use lvsd")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "crates using lvsd: {offenders:?}");
}

/// Every module declared in src/lib.rs is under the rule (a new module must
/// be placed in `ALLOWED` or be `daemon`), and each has source files.
#[test]
fn every_library_module_is_under_the_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(root.join("lib.rs")).expect("read lib.rs");
    let declared: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|r| r.trim_end_matches(';').trim().to_string())
        .collect();
    assert!(declared.len() >= MODULES.len(), "{declared:?}");
    for m in &declared {
        assert!(
            MODULES.contains(&m.as_str()),
            "src/lib.rs declares {m}, not in MODULES"
        );
        assert!(
            m == "daemon" || ALLOWED.iter().any(|(a, _)| a == m),
            "{m} has no row in ALLOWED"
        );
        assert!(
            !module_files(&root, m).is_empty(),
            "{m}: no source files found"
        );
    }
}
