//! Executing a [`Command`] through the kernel trait with ipvsadm 1.31's
//! side effects: what goes to stdout and stderr, and the exit status;
//! `-R` batching; the no-argument listing.
//!
//! Called by `cli::run` (the `lvsadm` binary) and by tests with a
//! `FakeTable`.

use std::borrow::Cow;
use std::io::Read;

use super::command::{parse_command, tryhelp, Command, Exit};
use super::conn::{format_conns, ConnError};
use super::error::{ipvs_strerror, message};
use super::list::{format_daemons, format_list_all, format_list_service, format_timeout, Format};
use super::names::{NoResolver, Resolver};
use super::restore::Lines;
use super::save::format_save_with;
use crate::kernel::{Ipvs, Operation};
use crate::model::{TableEntry, VersionInfo};

/// `CONN_PROC_FILE`.
pub const CONN_PROC_FILE: &str = "/proc/net/ip_vs_conn";

/// One lvsadm invocation's environment and collected output.
pub struct Session<'a> {
    ipvs: &'a dyn Ipvs,
    info: VersionInfo,
    res: &'a dyn Resolver,
    /// Path read for `-L -c`.
    pub conn_path: String,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// Kernel ops of `-R` lines not yet sent.
    pending: Vec<Operation>,
    /// Whether the last `-R` line was a kernel op (its result is known
    /// only when the batch is sent).
    last_was_op: bool,
}

/// Control flow: `Exit` ends the program (ipvsadm's `exit()`).
type Flow<T> = Result<T, i32>;

impl<'a> Session<'a> {
    /// A session on `ipvs`, whose `GET_INFO` answer is `info`.
    pub fn new(ipvs: &'a dyn Ipvs, info: VersionInfo, res: &'a dyn Resolver) -> Session<'a> {
        Session {
            ipvs,
            info,
            res,
            conn_path: CONN_PROC_FILE.to_string(),
            stdout: String::new(),
            stderr: String::new(),
            pending: Vec::new(),
            last_was_op: false,
        }
    }

    /// Run one argv (after initialisation) and return the exit status.
    pub fn main(&mut self, argv: &[String], stdin: &mut dyn Read) -> i32 {
        let r = if argv.len() <= 1 {
            let program = argv.first().map(String::as_str).unwrap_or("ipvsadm");
            self.exec(Command::ListAll(Format::default()), program, false, stdin)
        } else {
            self.process(argv, false, stdin)
        };
        let r = r.and_then(|v| self.flush().map(|_| v));
        match r {
            Ok(v) | Err(v) => v & 0xff,
        }
    }

    fn emit(&mut self, e: Exit) -> i32 {
        self.stdout.push_str(&e.stdout);
        self.stderr.push_str(&e.stderr);
        e.code
    }

    /// ipvsadm's `process_options`: Ok(result) or Err(exit status).
    fn process<S: AsRef<str>>(
        &mut self,
        argv: &[S],
        reading_stdin: bool,
        stdin: &mut dyn Read,
    ) -> Flow<i32> {
        let res = self.res;
        let cmd = match parse_command(argv, res) {
            Ok(c) => c,
            Err(e) => {
                // Earlier `-R` lines reach the kernel before this one fails.
                self.flush()?;
                let code = self.emit(e);
                return Err(code);
            }
        };
        let program = argv.first().map(AsRef::as_ref).unwrap_or("ipvsadm");
        self.exec(cmd, program, reading_stdin, stdin)
    }

    /// Send the pending `-R` ops; print their errors in order. Ok(result
    /// of the last op) semantics are kept by the caller.
    fn flush(&mut self) -> Flow<i32> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let ops = std::mem::take(&mut self.pending);
        let results = self.ipvs.apply(&ops);
        let mut last = 0;
        for (i, op) in ops.iter().enumerate() {
            match results.get(i) {
                Some(Ok(())) => last = 0,
                Some(Err(e)) => {
                    self.stderr.push_str(&message(e));
                    self.stderr.push('\n');
                    last = -1;
                }
                None => {
                    self.stderr
                        .push_str(&ipvs_strerror(Some(op.cmd()), libc::EINVAL));
                    self.stderr.push('\n');
                    last = -1;
                }
            }
        }
        Ok(last)
    }

    fn exec(
        &mut self,
        cmd: Command,
        program: &str,
        reading_stdin: bool,
        stdin: &mut dyn Read,
    ) -> Flow<i32> {
        let cmd = match cmd {
            Command::Operation(op) if reading_stdin => {
                // Batched: errors print when the batch is sent, in order.
                self.pending.push(op);
                self.last_was_op = true;
                return Ok(0);
            }
            Command::Operation(op) => {
                return Ok(match self.ipvs.apply_one(op) {
                    Ok(()) => 0,
                    Err(e) => {
                        self.stderr.push_str(&message(&e));
                        self.stderr.push('\n');
                        -1
                    }
                });
            }
            cmd => cmd,
        };
        // Anything that reads the kernel sees every earlier `-R` line.
        self.flush()?;
        self.last_was_op = false;
        let res = self.res;
        match cmd {
            Command::ListAll(fmt) => self.list_all(&fmt, res).map(|_| 0),
            Command::ListService(key, fmt) => {
                let svc = match self.ipvs.service(&key) {
                    Ok(s) => s,
                    Err(e) => return self.die_with(&e, 1),
                };
                let reals = match self.ipvs.dests(&key) {
                    Ok(d) => d,
                    Err(e) => return self.die_with(&e, 1),
                };
                let r = if fmt.numeric {
                    &NoResolver as &dyn Resolver
                } else {
                    res
                };
                let text = format_list_service(
                    &TableEntry {
                        service: svc,
                        reals,
                    },
                    &fmt,
                    r,
                );
                self.stdout.push_str(&text);
                Ok(0)
            }
            Command::ListConn(fmt) => {
                let text = match std::fs::read(&self.conn_path) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(_) => {
                        self.stderr
                            .push_str(&format!("cannot open file {CONN_PROC_FILE}\n"));
                        return Err(1);
                    }
                };
                let r = if fmt.numeric {
                    &NoResolver as &dyn Resolver
                } else {
                    res
                };
                match format_conns(&text, fmt.persistent_conn, fmt.numeric, r) {
                    Ok(s) => {
                        self.stdout.push_str(&s);
                        Ok(0)
                    }
                    Err(ConnError::NoHeader) => {
                        self.stderr
                            .push_str(&format!("unexpected input from {CONN_PROC_FILE}\n"));
                        Err(1)
                    }
                    Err(ConnError::EmptyLine(partial)) => {
                        self.stdout.push_str(&partial);
                        Err(1)
                    }
                }
            }
            Command::ListTimeout => match self.ipvs.timeouts() {
                Ok(t) => {
                    self.stdout.push_str(&format_timeout(&t));
                    Ok(0)
                }
                Err(_) => Err(1),
            },
            Command::ListDaemon => match self.ipvs.daemons() {
                Ok(d) => {
                    self.stdout.push_str(&format_daemons(&d));
                    Ok(0)
                }
                Err(_) => Err(1),
            },
            Command::Save { numeric } => {
                let table = match self.ipvs.table() {
                    Ok(t) => t,
                    Err(e) => return self.die_with(&e, 1),
                };
                let r = if numeric {
                    &NoResolver as &dyn Resolver
                } else {
                    res
                };
                self.stdout.push_str(&format_save_with(&table, numeric, r));
                Ok(0)
            }
            Command::Restore => {
                if reading_stdin {
                    let code = self.emit(tryhelp(program));
                    return Err(code);
                }
                let mut data = Vec::new();
                let _ = stdin.read_to_end(&mut data);
                let mut lines = Lines::new(&data);
                let mut result = 0;
                // One argv reused for every line; its tokens borrow `data`.
                let mut line: Vec<Cow<'_, str>> = Vec::with_capacity(16);
                loop {
                    line.clear();
                    line.push(Cow::Borrowed(program));
                    if !lines.read_line_into(&mut line) {
                        break;
                    }
                    if line.len() > 1 {
                        result = self.process(&line, true, stdin)?;
                    }
                }
                let was_op = self.last_was_op;
                let sent = self.flush()?;
                // ipvsadm returns the result of the last line; for a kernel
                // op that is known once the batch is sent.
                if was_op {
                    result = sent;
                }
                Ok(result)
            }
            // Ops were handled above.
            _ => Ok(0),
        }
    }

    fn die_with(&mut self, e: &crate::kernel::Error, code: i32) -> Flow<i32> {
        self.stderr.push_str(&message(e));
        self.stderr.push('\n');
        Err(code)
    }

    fn list_all(&mut self, fmt: &Format, res: &dyn Resolver) -> Flow<()> {
        let read = if fmt.is_plain() {
            self.ipvs.listing()
        } else {
            self.ipvs.table()
        };
        let table = match read {
            Ok(t) => t,
            Err(e) => {
                self.stdout.push_str(&super::list::version_line(&self.info));
                let _ = self.die_with(&e, 1);
                return Err(1);
            }
        };
        let r = if fmt.numeric {
            &NoResolver as &dyn Resolver
        } else {
            res
        };
        let text = format_list_all(&self.info, &table, fmt, r);
        // A large listing is most of the output: move it, do not copy it.
        if self.stdout.is_empty() {
            self.stdout = text;
        } else {
            self.stdout.push_str(&text);
        }
        Ok(())
    }
}
