//! `lvsd`: argv to exit code. Dispatches every verb of `verbs::VERBS` and
//! wires the real kernel, the config loader and the check engine into the
//! daemon verbs.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::ldirectord::{find_config, Config, LogTarget};
use crate::config::toml::LvsdToml;
use crate::config::Error as ConfigError;
use crate::kernel::NetlinkIpvs;

use super::admin::{self, Args, Located, Need};
use super::checks::CheckAdapter;
use super::engine::{CheckReport, CheckRunner, Loader, SharedIpvs};
use super::load::{load_config, load_plan, plan_from_config, ConfigError as PlanError};
use super::service::{self, Options};

/// Test hook: with this set to `1` the daemon drives an in-memory IPVS
/// table (`kernel::FakeTable`) instead of the kernel, so the status page
/// and checks can be tested on a host without IPVS (scripts/test-status-page.sh).
/// Everything else (checks, control socket, metrics) is real.
pub const FAKE_KERNEL_ENV: &str = "LVSD_TEST_FAKE_KERNEL";

/// Run `lvsd ARGS...`; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    // Tools take no options: they are recognised as the first word.
    if let Some(first) = argv.first() {
        if let Some(super::verbs::VerbRow {
            form: super::verbs::Form::Tool(run),
            ..
        }) = super::verbs::find(first)
        {
            return run(&argv[1..]).emit();
        }
    }
    let args = match admin::parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lvsd: {e}");
            eprint!("{}", admin::usage());
            return 2;
        }
    };
    admin::execute(&args, &check, &foreground)
}

/// Locate and validate the config: 1 when missing or unreadable (as
/// ldirectord), 2 when invalid.
fn check(file: Option<&Path>, need: Need) -> Result<Located, (i32, String)> {
    let path = find_config(file).map_err(|e| (1, e.to_string()))?;
    match need {
        Need::Path => {
            return Ok(Located {
                path,
                ..Default::default()
            })
        }
        // A broken file must not stop `status`: it then lists no instances.
        Need::Instances => {
            return Ok(Located {
                execute: Config::load(&path)
                    .map(|c| c.global.execute)
                    .unwrap_or_default(),
                path,
                ..Default::default()
            })
        }
        Need::Valid => {}
    }
    match Config::load(&path) {
        Ok(cfg) => Ok(Located {
            path,
            supervised: cfg.global.supervised,
            logfile: match cfg.global.logfile {
                LogTarget::File(f) => Some(f),
                LogTarget::Syslog(_) => None,
            },
            execute: cfg.global.execute,
        }),
        Err(e @ ConfigError::Invalid(_)) => Err((2, e.diagnostics().join("\n"))),
        Err(e) => Err((1, e.to_string())),
    }
}

/// Default place of lvsd's own settings.
const DEFAULT_TOML: &str = "/etc/lvsd/lvsd.toml";

/// `--toml PATH`, else `/etc/lvsd/lvsd.toml` when it exists, else none.
fn load_toml(args: &Args) -> Result<Option<LvsdToml>, String> {
    let path = match &args.toml {
        Some(p) => p.clone(),
        None if Path::new(DEFAULT_TOML).exists() => Path::new(DEFAULT_TOML).to_path_buf(),
        None => return Ok(None),
    };
    crate::config::toml::load(&path)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Install the log subscriber. Lines go to stderr through a writer thread
/// (`tracing-appender`): stderr may be the journal's pipe or a file under
/// writeback, and the HA thread must never wait on it to send a heartbeat;
/// lines beyond a full queue are dropped instead. Keep the guard alive
/// until exit: dropping it flushes what is queued.
fn init_logging(debug: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour only on a terminal: a daemon's stderr is a log file or the journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    guard
}

/// Raise the soft limit of open descriptors to the hard limit: checks,
/// the status listener and the control socket share it, and the default
/// soft limit (1024) is far below what systemd's hard limit allows. The
/// status listener still caps its own share (`metrics::Limits`).
fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((cur, max)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if cur >= max {
        return;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, max, max).is_ok() {
        tracing::debug!(from = cur, to = max, "raised RLIMIT_NOFILE");
    }
}

/// Run the daemon in this process until it is told to stop.
fn foreground(args: &Args, path: &Path) -> i32 {
    // The marker `lvsd start` gives its re-executed child is for that one
    // process: a command it runs (execute= instances, fallbackcommand,
    // hooks) that calls `lvsd start` must daemonise normally. Removed
    // here, before any thread exists (set_var/remove_var are not
    // thread-safe).
    std::env::remove_var(admin::CHILD_ENV);
    let _log_guard = init_logging(args.debug);
    raise_nofile_limit();
    let t0 = std::time::Instant::now();
    // The parsed file is kept until lvsd.toml is read: with [anycast] the
    // first plan is derived from it (announced virtuals checked and
    // marked) without parsing the file a second time.
    let (cfg, plan) = match load_config(path) {
        Ok(c) => {
            let p = plan_from_config(&c);
            tracing::info!(
                virtuals = p.virtuals.len(),
                parse_ms = t0.elapsed().as_millis() as u64,
                "configuration loaded"
            );
            (c, p)
        }
        Err(e) => {
            for l in &e.diagnostics {
                tracing::error!("{l}");
            }
            return 2;
        }
    };
    let ipvs: SharedIpvs = if std::env::var_os(FAKE_KERNEL_ENV).is_some_and(|v| v == "1") {
        tracing::warn!("{FAKE_KERNEL_ENV}=1: in-memory IPVS table, the kernel is not touched");
        Arc::new(crate::kernel::FakeTable::new())
    } else {
        match NetlinkIpvs::new() {
            Ok(n) => Arc::new(n),
            Err(e) => {
                tracing::error!("cannot open IPVS: {e}");
                return 1;
            }
        }
    };
    // Before the runtime's threads exist: bounded fragmentation under
    // hostile answers (see `malloc`).
    if !super::malloc::bound_fragmentation() {
        tracing::debug!("malloc's mmap threshold left as it is (not glibc)");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let toml = match load_toml(args) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    let metrics = match (
        args.metrics_given,
        toml.as_ref().and_then(|t| t.metrics_listen),
    ) {
        (false, Some(listen)) => listen,
        _ => args.metrics,
    };
    let policies = toml
        .as_ref()
        .map(|t| t.virtuals.clone())
        .unwrap_or_default();
    let opts = Options {
        config: path.to_path_buf(),
        pid_file: Some(admin::pid_path(args)),
        socket: args.socket.clone(),
        metrics,
        resync: toml
            .as_ref()
            .and_then(|t| t.resync)
            .unwrap_or(super::engine::DEFAULT_RESYNC),
        state_dir: toml
            .as_ref()
            .and_then(|t| t.state_dir.clone())
            .unwrap_or_else(|| std::path::PathBuf::from(super::overrides::DEFAULT_STATE_DIR)),
        ha: toml.as_ref().and_then(|t| t.ha.clone()),
        hooks: toml.as_ref().map(|t| t.hooks.clone()).unwrap_or_default(),
        access: toml.as_ref().map(|t| t.access.clone()).unwrap_or_default(),
        virtuals: toml
            .as_ref()
            .map(|t| t.virtuals.clone())
            .unwrap_or_default(),
        anycast: toml.and_then(|t| t.anycast),
    };
    let pol = policies.clone();
    let loader: Loader = match opts.anycast.clone() {
        None => Arc::new(move |p: &Path| {
            let mut plan = load_plan(p)?;
            super::load::apply_policies(&mut plan, &pol)?;
            Ok(plan)
        }),
        // Announced virtuals must use mh; checked at start and every reload.
        Some(any) => Arc::new(move |p: &Path| {
            let cfg = load_config(p)?;
            let mut plan = super::anycast::announced_plan(&cfg, p, &any).map_err(PlanError::one)?;
            super::load::apply_policies(&mut plan, &pol)?;
            Ok(plan)
        }),
    };
    // The first plan gets what a reload's loader gives: [anycast]'s checks
    // and marks apply from the start.
    let plan = match opts.anycast.as_ref() {
        None => plan,
        Some(any) => match super::anycast::announced_plan(&cfg, path, any) {
            Ok(p) => p,
            Err(e) => {
                for l in e.lines() {
                    tracing::error!("{l}");
                }
                return 2;
            }
        },
    };
    drop(cfg);
    let mut plan = plan;
    // lvsd.toml's [virtual."KEY"] sections: checked against this file at
    // start and by the loader at every reload.
    if let Err(e) = super::load::apply_policies(&mut plan, &policies) {
        for l in &e.diagnostics {
            tracing::error!("{l}");
        }
        return 2;
    }
    let make_runner =
        |tx: mpsc::Sender<CheckReport>| -> Arc<dyn CheckRunner> { Arc::new(CheckAdapter::new(tx)) };
    let res = rt.block_on(service::run(
        opts,
        plan,
        loader,
        ipvs,
        make_runner,
        std::future::pending(),
    ));
    // Every task was drained or aborted by `service::run`; what may remain
    // is blocking work that cannot be cancelled (a reload's parse stuck on
    // a blackholed resolver). Dropping the runtime would wait for it
    // forever: give it a moment, then exit regardless.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match res {
        Ok(()) => {
            tracing::info!("stopped");
            0
        }
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}
