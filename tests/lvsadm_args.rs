//! lvsadm's argument handling against the real ipvsadm 1.31 on ~3000
//! random command lines (tests/data/ipvsadm/args-corpus.jsonl, recorded by
//! scripts/record-ipvsadm-args.py): same exit status and stderr for every
//! argument error, same help and version text, and a command (not an
//! error) wherever ipvsadm went on to the kernel.

mod common;

use common::fixture;
use lvsd::cli::command::parse_command;
use lvsd::cli::names::SystemResolver;
use lvsd::cli::Session;
use lvsd::kernel::FakeTable;
use lvsd::model::VersionInfo;

#[test]
fn random_command_lines_match_ipvsadm() {
    let corpus = fixture("args-corpus.jsonl");
    let res = SystemResolver;
    let (mut checked, mut bad) = (0, Vec::new());
    for line in corpus.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let args: Vec<String> = r["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let code = r["code"].as_i64().unwrap() as i32;
        let stderr = r["stderr"].as_str().unwrap();
        let stdout = r["stdout"].as_str().unwrap();
        // ipvsadm crashes on `-b ,` (strtok returns NULL); lvsadm reports it.
        if code < 0 {
            continue;
        }
        let mut argv = vec!["ipvsadm".to_string()];
        argv.extend(args.iter().cloned());
        if let Some(stdin) = r["stdin"].as_str() {
            // A -R input: run it whole over the fake kernel (its lines are
            // ones the shim and the fake both accept, or argument errors).
            let fake = FakeTable::new();
            let info = VersionInfo {
                version: 0x010201,
                conn_tab_size: 4096,
            };
            let mut s = Session::new(&fake, info, &res);
            let got = s.main(&argv, &mut stdin.as_bytes());
            if (got, s.stdout.as_str(), s.stderr.as_str()) != (code, stdout, stderr) {
                bad.push(format!(
                    "ipvsadm -R <<< {stdin:?}\n  ipvsadm: {code} {stdout:?} {stderr:?}\n  lvsadm:  {got} {:?} {:?}",
                    s.stdout, s.stderr
                ));
            }
            checked += 1;
            continue;
        }
        let got = parse_command(&argv, &res);
        let ok = match &got {
            Err(e) => e.code == code && e.stderr == stderr && (code != 0 || e.stdout == stdout),
            // ipvsadm went on (to the kernel, which the shim answers with
            // success, or to /proc for -c).
            Ok(_) => code == 0 || (code == 1 && stderr.starts_with("cannot open file")),
        };
        if !ok {
            bad.push(format!(
                "ipvsadm {:?}\n  ipvsadm: {code} {stderr:?}\n  lvsadm:  {got:?}",
                args
            ));
        }
        checked += 1;
    }
    assert!(checked > 2500, "only {checked} lines");
    assert!(
        bad.is_empty(),
        "{} of {checked} differ:\n{}",
        bad.len(),
        bad.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}
