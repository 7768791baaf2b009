//! Defaults and inheritance of one virtual block (ldirectord's
//! `_ld_read_config_*_resolve`, `ld_setup` and `fallback_find`): resolve its
//! names, fill every default, inherit global settings, expand real ranges.
//! A child of `validate`, so it works on the builder's private state.

use super::*;
use std::sync::Arc;

/// Local host name, as ldirectord takes it for ftp/sip default logins
/// (`$ENV{HOSTNAME}`, else uname).
fn hostname() -> String {
    if let Ok(h) = std::env::var("HOSTNAME") {
        if !h.is_empty() {
            return h;
        }
    }
    crate::model::hostname().unwrap_or("localhost").to_string()
}

pub(super) fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

impl Builder<'_> {
    pub(super) fn finish_block(
        &mut self,
        b: Block,
        seen: &mut Vec<(ServiceKey, usize)>,
    ) -> Option<Virtual> {
        let family = if b.v6 { Family::V6 } else { Family::V4 };
        let vname = if b.v6 { "virtual6" } else { "virtual" };
        let header = b.header.clone()?;
        // Protocol: explicit, else udp for port 53/domain, fwm for marks.
        let proto = match (&header, b.protocol) {
            (Header::Fwmark(_), _) => ProtocolWord::Fwm,
            (_, Some(p)) => p,
            (Header::Addr(hp), None) => {
                if matches!(hp.port.as_deref(), Some("53") | Some("domain")) {
                    ProtocolWord::Udp
                } else {
                    ProtocolWord::Tcp
                }
            }
        };
        let proto_name = match proto {
            ProtocolWord::Udp => "udp",
            _ => "tcp",
        };
        let key = match &header {
            Header::Fwmark(mark) => ServiceKey::Fwmark {
                family,
                mark: *mark,
            },
            Header::Addr(hp) => {
                let addr = self.host(b.line, vname, &hp.host, family, "virtual address");
                let pw = hp.port.clone().unwrap_or_default();
                let port = self.port(&pw, Some(proto_name));
                if port.is_none() {
                    self.err(
                        b.line,
                        vname,
                        format!("unknown port or service name {pw:?} for {proto_name}"),
                    );
                }
                ServiceKey::Addr {
                    protocol: if proto == ProtocolWord::Udp {
                        Protocol::Udp
                    } else {
                        Protocol::Tcp
                    },
                    addr: addr?,
                    port: port?,
                }
            }
        };
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            let first = *first;
            self.err(
                b.line,
                vname,
                format!("duplicate virtual server {key} (first defined at line {first})"),
            );
            return None;
        }
        seen.push((key, b.line));
        let vport = match key {
            ServiceKey::Addr { port, .. } => port,
            ServiceKey::Fwmark { .. } => 0,
        };
        let is_fwm = matches!(key, ServiceKey::Fwmark { .. });
        let service = match (b.service, is_fwm) {
            (Some(s), _) => s,
            (None, true) => Service::None,
            (None, false) => Service::for_port(vport),
        };
        let scheduler = b.scheduler.clone().unwrap_or_else(|| "wrr".into());
        let mut schedflags = 0;
        if let Some((line, bits, needs)) = b.schedflags {
            match needs {
                Some(s) if s != scheduler => self.err(
                    line,
                    "schedflags",
                    format!("these flags need scheduler {s}, but the scheduler is {scheduler}"),
                ),
                _ => schedflags = bits,
            }
        }
        if let (Some((line, _)), None) = (b.netmask, b.persistent) {
            self.warn(
                line,
                "netmask",
                "ignored without persistent (as in ldirectord)",
            );
        }
        let ops = match b.ops {
            Some((line, true)) if proto != ProtocolWord::Udp => {
                self.warn(
                    line,
                    "ops",
                    "ignored: one-packet scheduling is for UDP services only",
                );
                false
            }
            Some((_, o)) => o,
            None => false,
        };
        // Timeouts (`ld_setup`): check and negotiate timeouts default to
        // each other before falling back to 5 and 30 seconds.
        let g = &self.global;
        let checktimeout = b
            .checktimeout
            .or(b.negotiatetimeout)
            .or(g.checktimeout)
            .or(g.negotiatetimeout)
            .unwrap_or(5);
        let negotiatetimeout = b
            .negotiatetimeout
            .or(b.checktimeout)
            .or(g.negotiatetimeout)
            .or(g.checktimeout)
            .unwrap_or(30);
        // checkinterval in a virtual only counts with fork=yes.
        let checkinterval = match (b.checkinterval, g.fork) {
            (Some(n), true) => n,
            _ => g.checkinterval,
        };
        // Only ftp and sip defaults name the host: reading it for every
        // virtual cost a file open and read per block (1,000 per parse of
        // a 1000-virtual file, at start and at every reload).
        let login = b.login.clone().unwrap_or_else(|| match service {
            Service::Ftp => "anonymous".into(),
            Service::Sip => format!("ldirectord@{}", hostname()),
            _ => String::new(),
        });
        let passwd = b.passwd.clone().unwrap_or_else(|| match service {
            Service::Ftp => format!("ldirectord@{}", hostname()),
            _ => String::new(),
        });
        let check = CheckSpec {
            checktype: b.checktype.unwrap_or(CheckType::Negotiate),
            service,
            protocol: if proto == ProtocolWord::Udp {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            family,
            request: b.request.clone().unwrap_or_else(|| "/".into()),
            receive: b.receive.clone().unwrap_or_default(),
            request_from_real: false,
            httpmethod: b.httpmethod.unwrap_or_default(),
            virtualhost: b.virtualhost.clone(),
            login,
            passwd,
            database: b.database.clone().unwrap_or_default(),
            secret: b.secret.clone().unwrap_or_default(),
            checkport: b.checkport,
            checkcommand: b.checkcommand.clone().unwrap_or_else(|| "/bin/true".into()),
            checktimeout: secs(checktimeout),
            negotiatetimeout: secs(negotiatetimeout),
            checkinterval: secs(checkinterval),
            failurecount: b.failurecount.unwrap_or(g.failurecount),
            checkcount: b.checkcount.unwrap_or(g.checkcount),
            policy: Default::default(),
        };
        // (a range makes more than one; the usual line makes one)
        let mut reals = Vec::with_capacity(b.reals.len());
        let shared = Arc::new(check.clone());
        for (line, r) in &b.reals {
            self.expand_real(*line, r, family, &shared, &mut reals);
        }
        let fallback = self.fallback_for(&b, family, proto_name, vport);
        let g = &self.global;
        let alerts = Alerts {
            emailalert: b.emailalert.clone().or_else(|| g.alerts.emailalert.clone()),
            emailalertfreq: b.emailalertfreq.unwrap_or(g.alerts.emailalertfreq),
            emailalertstatus: b.emailalertstatus.unwrap_or(g.alerts.emailalertstatus),
            smtp: b.smtp.clone().or_else(|| g.alerts.smtp.clone()),
            emailalertfrom: g.alerts.emailalertfrom.clone(),
        };
        Some(Virtual {
            line: b.line,
            key,
            scheduler,
            persistent: b.persistent,
            netmask: b.netmask.map(|(_, m)| m),
            schedflags,
            ops,
            reals,
            check,
            fallback,
            fallbackcommand: b
                .fallbackcommand
                .clone()
                .or_else(|| g.fallbackcommand.clone()),
            quiescent: b.quiescent.unwrap_or(g.quiescent),
            cleanstop: b.cleanstop.unwrap_or(g.cleanstop),
            alerts,
            monitorfile: b.monitorfile.clone(),
            servicename: b.servicename.clone(),
            comment: b.comment.clone(),
        })
    }

    fn expand_real(
        &mut self,
        line: usize,
        r: &RealLine,
        family: Family,
        check: &Arc<CheckSpec>,
        out: &mut Vec<Real>,
    ) {
        let name = if family == Family::V6 {
            "real6"
        } else {
            "real"
        };
        let first = self.host(line, name, &r.first.host, family, "real server address");
        let last = match &r.last {
            Some(h) => match self.host(line, name, h, family, "real server range end") {
                Some(a) => Some(a),
                None => return,
            },
            None => None,
        };
        let port = match &r.first.port {
            None => Some(0),
            Some(p) => {
                let v = self.port(p, None);
                if v.is_none() {
                    self.err(line, name, format!("unknown port or service name {p:?}"));
                }
                v
            }
        };
        let (Some(first), Some(port)) = (first, port) else {
            return;
        };
        // The virtual's check, shared; a real with its own pair gets a copy.
        let spec = match &r.request_receive {
            Some((req, recv)) => {
                let mut own = CheckSpec::clone(check);
                own.request = req.clone();
                own.receive = recv.clone();
                own.request_from_real = true;
                Arc::new(own)
            }
            None => Arc::clone(check),
        };
        let mk = |addr: IpAddr, check: Arc<CheckSpec>| Real {
            line,
            addr,
            port,
            forward: r.forward,
            weight: r.weight,
            l_threshold: r.l_threshold,
            u_threshold: r.u_threshold,
            check,
        };
        let Some(last) = last else {
            out.push(mk(first, spec));
            return;
        };
        match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let (a, b) = (u32::from(a), u32::from(b));
                if a > b {
                    self.err(
                        line,
                        name,
                        "invalid range: the first address is greater than the last",
                    );
                } else if b - a >= MAX_RANGE {
                    self.err(
                        line,
                        name,
                        format!(
                            "range of {} addresses is too large (at most {MAX_RANGE})",
                            u64::from(b - a) + 1
                        ),
                    );
                } else {
                    for i in a..b {
                        out.push(mk(IpAddr::V4(Ipv4Addr::from(i)), spec.clone()));
                    }
                    out.push(mk(IpAddr::V4(Ipv4Addr::from(b)), spec));
                }
            }
            _ => self.err(line, name, "address ranges are only supported for IPv4"),
        }
    }

    fn fallback_for(
        &mut self,
        b: &Block,
        family: Family,
        proto: &str,
        vport: u16,
    ) -> Option<Fallback> {
        if let Some((line, f)) = &b.fallback {
            let name = if family == Family::V6 {
                "fallback6"
            } else {
                "fallback"
            };
            let addr = self.host(*line, name, &f.at.host, family, "fallback server")?;
            let port = match &f.at.port {
                Some(p) => match self.port(p, Some(proto)) {
                    Some(n) => n,
                    None => {
                        self.err(*line, name, format!("unknown port or service name {p:?}"));
                        return None;
                    }
                },
                None => vport,
            };
            return Some(Fallback {
                addr,
                port,
                forward: f.forward,
            });
        }
        let g = match family {
            Family::V4 => self.gfallback.clone(),
            Family::V6 => self.gfallback6.clone(),
        };
        let (_, addr, port, forward) = g?;
        let port = match port {
            Some(p) => self.port(&p, Some(proto)).or_else(|| self.port(&p, None))?,
            None => vport,
        };
        Some(Fallback {
            addr,
            port,
            forward,
        })
    }
}
