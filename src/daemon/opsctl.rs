//! The client side of the operations verbs: `lvsd drain|enable|weight|
//! overrides|plan|confirm` and `lvsd reload --confirm S`. Each sends one
//! command over the control socket (`daemon::ops`) and maps the answer to
//! an exit code.
//!
//! Exit codes: 0 done; 1 the daemon refused (a name that matches nothing,
//! no reload to confirm) or does not answer; 2 bad arguments; `drain
//! --wait`: 124 when the timeout passed with connections still active
//! (as `timeout(1)`); `plan`: 0 nothing would change, 1 something would,
//! 2 a config error or no answer (as `diff(1)`); `reload --confirm`: 2 on
//! a config error, as `reload`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::admin::{Args, Check, Need, Verb};
use super::control;
use super::ops::{DrainWait, OpRequest, WaitStep, EXIT_TIMEOUT};

/// Default `drain --wait` timeout (seconds).
pub const DEFAULT_DRAIN_TIMEOUT: u64 = 600;

/// How often `drain --wait` asks for the real's connections.
const POLL: Duration = Duration::from_secs(1);

/// How long one answer may take (a plan of a big file loads and reads the
/// kernel; a reload applies it).
const ANSWER: Duration = Duration::from_secs(600);

/// Run an operations verb; None when `args` is no such verb.
pub fn execute(args: &Args, check: Check) -> Option<i32> {
    Some(match (args.verb, args.confirm) {
        (Verb::Reload | Verb::ForceReload, Some(s)) => reload_confirm(args, s),
        (Verb::Drain, _) => drain(args),
        (Verb::Enable, _) => simple(
            args,
            OpRequest::Enable {
                virt: args.operands[0].clone(),
                real: args.operands[1].clone(),
            },
        ),
        (Verb::Weight, _) => simple(
            args,
            OpRequest::Weight {
                virt: args.operands[0].clone(),
                real: args.operands[1].clone(),
                weight: super::overrides::parse_weight(&args.operands[2]).unwrap_or(0),
            },
        ),
        (Verb::Overrides, _) => simple(
            args,
            if args.clear {
                OpRequest::Clear
            } else {
                OpRequest::List
            },
        ),
        (Verb::Confirm, _) => simple(args, OpRequest::Confirm),
        (Verb::Plan, _) => plan(args, check),
        _ => return None,
    })
}

/// Send one request; `Err(message)` when the daemon does not answer.
fn ask(args: &Args, op: &OpRequest, timeout: Duration) -> Result<(bool, String), String> {
    let line = op.to_line()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(control::request(&args.socket, &line, timeout))
        .map_err(|e| {
            format!(
                "lvsd does not answer on {}: {e} (is it running?)",
                args.socket.display()
            )
        })
}

fn print_lines(to_err: bool, text: &str) {
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    if to_err {
        let mut e = std::io::stderr();
        for l in text.lines() {
            let _ = writeln!(e, "lvsd: {l}");
        }
    } else {
        let mut o = std::io::stdout();
        let _ = writeln!(o, "{text}");
    }
}

/// Send, print the answer: 0 on `ok`, 1 otherwise.
fn simple(args: &Args, op: OpRequest) -> i32 {
    match ask(args, &op, ANSWER) {
        Ok((true, msg)) => {
            print_lines(false, &msg);
            0
        }
        Ok((false, msg)) => {
            print_lines(true, &msg);
            1
        }
        Err(e) => {
            print_lines(true, &e);
            1
        }
    }
}

fn reload_confirm(args: &Args, secs: u64) -> i32 {
    match ask(args, &OpRequest::ReloadConfirm(secs), ANSWER) {
        Ok((true, msg)) => {
            print_lines(false, &msg);
            0
        }
        Ok((false, msg)) => {
            print_lines(
                true,
                &format!("reload rejected, running config kept:\n{msg}"),
            );
            2
        }
        Err(e) => {
            print_lines(true, &e);
            1
        }
    }
}

fn plan(args: &Args, check: Check) -> i32 {
    let file = match &args.file {
        None => None,
        Some(f) => match check(Some(f), Need::Path) {
            Ok(l) => Some(absolute(&l.path)),
            Err((_, msg)) => {
                print_lines(true, &msg);
                return 2;
            }
        },
    };
    match ask(args, &OpRequest::Plan(file), ANSWER) {
        Ok((true, ops)) if ops.trim().is_empty() => 0,
        Ok((true, ops)) => {
            print_lines(false, &ops);
            1
        }
        Ok((false, msg)) => {
            print_lines(true, &msg);
            2
        }
        Err(e) => {
            print_lines(true, &e);
            2
        }
    }
}

/// The daemon has another working directory: send it an absolute path.
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

fn drain(args: &Args) -> i32 {
    let (virt, real) = (args.operands[0].clone(), args.operands[1].clone());
    let code = simple(
        args,
        OpRequest::Drain {
            virt: virt.clone(),
            real: real.clone(),
        },
    );
    if code != 0 || !args.wait {
        return code;
    }
    let timeout = Duration::from_secs(args.timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT));
    let mut w = DrainWait::new(Instant::now(), timeout);
    let conns = OpRequest::Conns {
        virt: virt.clone(),
        real: real.clone(),
    };
    // Bounded: one poll a second until the deadline (plus one).
    for _ in 0..=timeout.as_secs() + 1 {
        let active = match ask(args, &conns, Duration::from_secs(30)) {
            Ok((true, a)) if a.trim() == "absent" => None,
            Ok((true, a)) => match a.split_whitespace().next().and_then(|n| n.parse().ok()) {
                Some(n) => Some(n),
                None => {
                    print_lines(true, &format!("unexpected answer {a:?}"));
                    return 1;
                }
            },
            Ok((false, msg)) => {
                print_lines(true, &msg);
                return 1;
            }
            Err(e) => {
                print_lines(true, &e);
                return 1;
            }
        };
        match w.step(Instant::now(), active) {
            WaitStep::Done => {
                println!("{virt} {real}: no active connection left");
                return 0;
            }
            WaitStep::TimedOut(n) => {
                print_lines(
                    true,
                    &format!(
                        "{virt} {real}: timeout after {}s with {n} active connections",
                        timeout.as_secs()
                    ),
                );
                return EXIT_TIMEOUT;
            }
            WaitStep::Again(line) => {
                if let Some(l) = line {
                    println!("{virt} {real}: {l}");
                    let _ = std::io::stdout().flush();
                }
            }
        }
        std::thread::sleep(POLL);
    }
    print_lines(true, &format!("{virt} {real}: timeout"));
    EXIT_TIMEOUT
}
