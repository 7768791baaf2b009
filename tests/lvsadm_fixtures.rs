//! lvsadm's formatters against ipvsadm 1.31's own output (tests/data/ipvsadm).

mod common;

use common::tbl::{load, FixtureResolver};
use common::{eq_text, fixture};
use lvsd::cli::names::NoResolver;
use lvsd::cli::save::{format_save, format_save_with};

fn table(name: &str) -> common::tbl::Fixture {
    load(&fixture(&format!("state/{name}.tbl")))
}

#[test]
fn save_numeric_main() {
    let f = table("main");
    eq_text(
        &fixture("out/main__S-n.stdout"),
        &format_save(&f.table, true),
    );
}

#[test]
fn save_numeric_null_fwd() {
    let f = table("null-fwd");
    eq_text(
        &fixture("out/null-fwd__S-n.stdout"),
        &format_save_with(&f.table, true, &NoResolver),
    );
}

#[test]
fn save_numeric_sort_overflow() {
    let f = table("sort-overflow");
    eq_text(
        &fixture("out/sort-overflow__S-n.stdout"),
        &format_save(&f.table, true),
    );
}

#[test]
fn save_names() {
    let f = table("names");
    let r = FixtureResolver::new(&fixture("state/names.hosts"));
    eq_text(
        &fixture("out/names__S.stdout"),
        &format_save_with(&f.table, false, &r),
    );
}
