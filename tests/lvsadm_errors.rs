//! Every row of ipvsadm 1.31's errors.tsv: same exit status and stderr
//! from lvsadm's session over the fake kernel.

mod common;

use common::fixture;
use common::tbl::load;
use lvsd::cli::names::NoResolver;
use lvsd::cli::Session;
use lvsd::kernel::{FakeTable, IpvsCmd};
use lvsd::model::VersionInfo;

/// The command of a `FAKE_ERR_CMD=` number (the recording's `IPVS_CMD_*`).
fn kind(cmd: u8) -> IpvsCmd {
    match IpvsCmd::from_number(cmd) {
        IpvsCmd::Other(_) | IpvsCmd::SetInfo => panic!("cmd {cmd}"),
        k => k,
    }
}

#[test]
fn errors_tsv_rows() {
    let tsv = fixture("errors.tsv");
    let mut checked = 0;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (env, args, code, stderr) = (cols[0], cols[1], cols[2], cols.get(3).unwrap_or(&""));
        if env.starts_with("FAKE_NO_FAMILY") {
            continue; // init failure: covered by the VM test
        }
        let fake = FakeTable::with_table(load(&fixture("state/main.tbl")).table);
        let info = VersionInfo {
            version: 0x010201,
            conn_tab_size: 4096,
        };
        let res = NoResolver;
        let mut s = Session::new(&fake, info, &res);
        for kv in env.split_whitespace() {
            if let Some(p) = kv.strip_prefix("FAKE_CONN=") {
                s.conn_path = p.to_string();
            }
        }
        if let (Some(c), Some(e)) = (
            env.split_whitespace()
                .find_map(|k| k.strip_prefix("FAKE_ERR_CMD=")),
            env.split_whitespace()
                .find_map(|k| k.strip_prefix("FAKE_ERRNO=")),
        ) {
            fake.fail_next(kind(c.parse().unwrap()), e.parse().unwrap());
        }
        let argv: Vec<String> = std::iter::once("/usr/sbin/ipvsadm")
            .chain(args.split(' '))
            .map(String::from)
            .collect();
        let got = s.main(&argv, &mut std::io::empty());
        let mut want_err = stderr.replace("\\n", "\n");
        if !want_err.is_empty() {
            want_err.push('\n');
        }
        assert_eq!(
            (got, s.stderr.as_str()),
            (code.parse::<i32>().unwrap(), want_err.as_str()),
            "row: {line}"
        );
        checked += 1;
    }
    assert!(checked > 50, "only {checked} rows");
}
