//! The one table of `lvsd`'s verbs. Dispatch (`entry::main`), the usage
//! text (`lvsd --help`), the man page's COMMANDS list and the shell
//! completions all follow [`VERBS`]: tests/ops_docs.rs compares lvsd.8 and
//! completions/ with it (and regenerates the completions' verb lists with
//! `LVSD_BLESS=1`). Adding a verb is one row here plus its implementation.

use std::io::Write;
use std::path::PathBuf;

use super::admin::Verb;

/// What a tool verb prints and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
    /// Process exit code.
    pub code: i32,
}

impl Printed {
    /// Write both texts and return the exit code. A closed stdout (`| head`)
    /// is not an error worth a panic.
    pub fn emit(self) -> i32 {
        let _ = std::io::stdout().write_all(self.stdout.as_bytes());
        let _ = std::io::stderr().write_all(self.stderr.as_bytes());
        self.code
    }
}

/// How a verb is invoked and run.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    /// A daemon verb: `lvsd [options] [configfile] VERB` (ldirectord's
    /// order) when the row's `args` is empty, `lvsd [options] VERB
    /// [configfile]` otherwise; run by `admin::execute`.
    Daemon(Verb),
    /// A tool: `lvsd VERB ARGS...` as the first word, without options; the
    /// function gets the words after the verb.
    Tool(fn(&[String]) -> Printed),
}

/// One verb.
#[derive(Debug, Clone, Copy)]
pub struct VerbRow {
    /// The word typed.
    pub name: &'static str,
    /// Its operands as the usage text shows them (empty: none).
    pub args: &'static str,
    /// One line for the completions' descriptions.
    pub summary: &'static str,
    /// How it runs.
    pub form: Form,
    /// Whether it is one of ldirectord's verbs, written after the config
    /// file (`lvsd [options] [configfile] VERB`); the others come first.
    pub lsb: bool,
}

const fn daemon(name: &'static str, summary: &'static str, verb: Verb) -> VerbRow {
    VerbRow {
        name,
        args: "",
        summary,
        form: Form::Daemon(verb),
        lsb: true,
    }
}

/// Every verb of `lvsd`, in the order the usage text, man page and
/// completions list them.
pub const VERBS: &[VerbRow] = &[
    daemon("start", "start the daemon", Verb::Start),
    daemon("stop", "stop the daemon", Verb::Stop),
    daemon("restart", "stop then start", Verb::Restart),
    daemon("try-restart", "restart if running", Verb::TryRestart),
    daemon("reload", "apply the configuration again", Verb::Reload),
    daemon("force-reload", "same as reload", Verb::ForceReload),
    daemon("status", "show the state", Verb::Status),
    daemon("standby", "hand the VIPs to the peer", Verb::Standby),
    daemon("takeover", "take the VIPs from the peer", Verb::Takeover),
    VerbRow {
        name: "run",
        args: "[configfile]",
        summary: "run in the foreground",
        form: Form::Daemon(Verb::Run),
        lsb: false,
    },
    VerbRow {
        name: "confirm",
        args: "",
        summary: "keep a reload --confirm",
        form: Form::Daemon(Verb::Confirm),
        lsb: false,
    },
    VerbRow {
        name: "drain",
        args: "VIRTUAL REAL [--wait [--timeout SECONDS]]",
        summary: "weight 0 for a real, connections kept",
        form: Form::Daemon(Verb::Drain),
        lsb: false,
    },
    VerbRow {
        name: "enable",
        args: "VIRTUAL REAL",
        summary: "back to the configured weight",
        form: Form::Daemon(Verb::Enable),
        lsb: false,
    },
    VerbRow {
        name: "weight",
        args: "VIRTUAL REAL N",
        summary: "override the weight of a real",
        form: Form::Daemon(Verb::Weight),
        lsb: false,
    },
    VerbRow {
        name: "overrides",
        args: "[--clear]",
        summary: "list or clear the overrides",
        form: Form::Daemon(Verb::Overrides),
        lsb: false,
    },
    VerbRow {
        name: "plan",
        args: "[configfile]",
        summary: "what a reload would change, changing nothing",
        form: Form::Daemon(Verb::Plan),
        lsb: false,
    },
    VerbRow {
        name: "check-config",
        args: "[configfile]",
        summary: "validate a configuration and print its table",
        form: Form::Tool(check_config),
        lsb: false,
    },
    VerbRow {
        name: "probe",
        args: "[configfile]",
        summary: "run every check once and print the results",
        form: Form::Tool(probe),
        lsb: false,
    },
    VerbRow {
        name: "explain",
        args: "tcp|udp|sctp VIP:PORT CLIENT[:PORT]",
        summary: "which real the mh table of this director picks for a flow",
        form: Form::Tool(explain),
        lsb: false,
    },
];

/// The options every daemon verb takes, as the usage text shows them.
const OPTIONS: &str = "[-d|--debug] [--socket PATH] [--pid-file PATH] [--log-file PATH] [--toml PATH] [--metrics ADDR|off]";

/// The row named `name`.
pub fn find(name: &str) -> Option<&'static VerbRow> {
    VERBS.iter().find(|r| r.name == name)
}

/// `lvsd --help`, built from [`VERBS`].
pub fn usage() -> String {
    let lsb: Vec<&str> = VERBS.iter().filter(|r| r.lsb).map(|r| r.name).collect();
    let mut u = format!(
        "usage: lvsd {OPTIONS} [--] [configfile] {}\n",
        lsb.join("|")
    );
    for r in VERBS.iter().filter(|r| !r.lsb) {
        let opts = if matches!(r.form, Form::Daemon(_)) {
            "[options] "
        } else {
            ""
        };
        let sep = if r.args.is_empty() { "" } else { " " };
        u.push_str(&format!("       lvsd {opts}{}{sep}{}\n", r.name, r.args));
    }
    u.push_str("       lvsd [options] [configfile] reload --confirm SECONDS\n");
    u.push_str("       lvsd -h|--help | -v|--version\n");
    u.push_str("  VIRTUAL: tcp:IP:PORT, udp:IP:PORT, sctp:IP:PORT or fwm:MARK (IPv6 in brackets); REAL: IP:PORT\n");
    u
}

/// `VERB [FILE]`: the optional config file of a tool, or its usage error.
fn file_arg(verb: &str, args: &[String]) -> Result<Option<PathBuf>, Printed> {
    match args {
        [] => Ok(None),
        [f] => Ok(Some(PathBuf::from(f))),
        _ => Err(Printed {
            stdout: String::new(),
            stderr: format!("usage: lvsd {verb} [FILE]\n"),
            code: 2,
        }),
    }
}

fn check_config(args: &[String]) -> Printed {
    let file = match file_arg("check-config", args) {
        Ok(f) => f,
        Err(p) => return p,
    };
    let o = super::check_config::check_config(file.as_deref());
    Printed {
        stdout: o.stdout,
        stderr: o.stderr,
        code: o.code,
    }
}

fn probe(args: &[String]) -> Printed {
    let file = match file_arg("probe", args) {
        Ok(f) => f,
        Err(p) => return p,
    };
    let o = crate::check::probe::probe_main(file.as_deref());
    Printed {
        stdout: o.stdout,
        stderr: o.stderr,
        code: o.code,
    }
}

/// `lvsd explain`: reads the running kernel (or the empty in-memory table
/// under LVSD_TEST_FAKE_KERNEL=1, so tests never touch the host's IPVS).
fn explain(args: &[String]) -> Printed {
    use super::explain::{explain, Output};
    let fake = args.len() != 3
        || std::env::var_os(super::entry::FAKE_KERNEL_ENV).is_some_and(|v| v == "1");
    let o = if fake {
        explain(args, &crate::kernel::FakeTable::new())
    } else {
        match crate::kernel::NetlinkIpvs::new() {
            Ok(k) => explain(args, &k),
            Err(e) => Output {
                stdout: String::new(),
                stderr: format!("lvsd explain: cannot open IPVS: {e}\n"),
                code: 1,
            },
        }
    };
    Printed {
        stdout: o.stdout,
        stderr: o.stderr,
        code: o.code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_verb_once_and_probe_among_them() {
        let u = usage();
        // `reload --confirm` has a line of its own besides the verb list.
        let listed = u.replace(
            "       lvsd [options] [configfile] reload --confirm SECONDS\n",
            "",
        );
        for r in VERBS {
            let n = listed
                .split(|c: char| c.is_whitespace() || c == '|')
                .filter(|w| *w == r.name)
                .count();
            assert_eq!(n, 1, "{} in usage {u}", r.name);
        }
        assert!(u.contains("       lvsd probe [configfile]\n"), "{u}");
    }

    #[test]
    fn usage_keeps_the_ldirectord_line_first() {
        assert!(usage().starts_with(
            "usage: lvsd [-d|--debug] [--socket PATH] [--pid-file PATH] [--log-file PATH] [--toml PATH] [--metrics ADDR|off] [--] [configfile] start|stop|restart|try-restart|reload|force-reload|status|standby|takeover\n       lvsd [options] run [configfile]\n"
        ));
    }

    #[test]
    fn names_are_unique() {
        for (i, r) in VERBS.iter().enumerate() {
            assert!(
                VERBS[i + 1..].iter().all(|o| o.name != r.name),
                "{}",
                r.name
            );
        }
    }

    #[test]
    fn a_tool_rejects_extra_words_with_its_usage() {
        let p = check_config(&["a".into(), "b".into()]);
        assert_eq!(p.code, 2);
        assert_eq!(p.stderr, "usage: lvsd check-config [FILE]\n");
        let p = probe(&["a".into(), "b".into()]);
        assert_eq!(p.stderr, "usage: lvsd probe [FILE]\n");
    }
}
