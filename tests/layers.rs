//! The layer rule of `docs/architecture.md`, enforced: every `crate::<module>`
//! path inside `src/<module>/` must name a module that layer may use.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Which modules each module may use (itself is always allowed).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("wire", &["model"]),
    ("kernel", &["wire", "model"]),
    ("config", &["model"]),
    ("check", &["model", "config"]),
    ("reconcile", &["model", "kernel", "config"]),
    ("ha", &["model", "wire", "kernel", "config"]),
    ("cli", &["model", "kernel"]),
];

const MODULES: &[&str] = &[
    "model",
    "wire",
    "kernel",
    "config",
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

/// The modules named by `crate::x` paths and `use crate::{x, y}` groups.
fn used_modules(src: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (i, _) in src.match_indices("crate::") {
        let rest = &src[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                used.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

#[test]
fn layer_rule_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (module, allowed) in ALLOWED {
        let mut files = Vec::new();
        rust_files(&root.join(module), &mut files);
        for file in files {
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
