//! From a parsed `ldirectord.cf` to the daemon's [`Plan`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ldirectord::{AlertStatus, Config, LogTarget, Real, Virtual};
use crate::model::{CheckPolicy, CheckSpec, CheckType, RealServer, Service};
use crate::reconcile::VirtualSpec;

use super::plan::{Alerts, Phase, Plan, VirtualPlan};

/// A configuration the daemon cannot run from: every diagnostic, each a
/// `file:line: message` line, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .diagnostics.join("\n"))]
pub struct ConfigError {
    /// One message per problem found.
    pub diagnostics: Vec<String>,
}

impl ConfigError {
    /// An error with one message (tests, loaders that fail as a whole).
    pub fn one(msg: impl Into<String>) -> ConfigError {
        ConfigError {
            diagnostics: vec![msg.into()],
        }
    }
}

/// Load and validate `path`, logging its warnings; `Err` carries every
/// diagnostic.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let cfg = Config::load(path).map_err(|e| ConfigError {
        diagnostics: e.diagnostics(),
    })?;
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    Ok(cfg)
}

/// Load and convert `path`; `Err` carries every diagnostic.
pub fn load_plan(path: &Path) -> Result<Plan, ConfigError> {
    load_config(path).map(plan_from_owned_config)
}

/// The plan a validated config describes.
pub fn plan_from_config(cfg: &Config) -> Plan {
    let reals = cfg
        .virtuals
        .iter()
        .map(|v| {
            let servers = v.reals.iter().map(real_server).collect();
            (servers, v.reals.iter().map(|r| r.check.clone()).collect())
        })
        .collect();
    plan_with_reals(cfg, reals)
}

/// The plan of a config that is not needed afterwards: its reals are
/// moved into it, not copied (a reload reads the whole file).
pub fn plan_from_owned_config(mut cfg: Config) -> Plan {
    let reals = cfg
        .virtuals
        .iter_mut()
        .map(|v| {
            std::mem::take(&mut v.reals)
                .into_iter()
                .map(|r| (real_server(&r), r.check))
                .unzip()
        })
        .collect();
    plan_with_reals(&cfg, reals)
}

/// A real as the kernel table has it (the config's port).
fn real_server(r: &Real) -> RealServer {
    let mut rs = RealServer::new(r.addr, r.port);
    rs.forward = r.forward;
    rs.weight = i32::try_from(r.weight).unwrap_or(i32::MAX);
    rs.l_threshold = r.l_threshold;
    rs.u_threshold = r.u_threshold;
    rs
}

/// Each virtual's reals and their checks, in order.
type RealsOf = Vec<(Vec<RealServer>, Vec<Arc<CheckSpec>>)>;

/// The plan of `cfg` with `reals` (each virtual's, from the config; the
/// virtuals' own `reals` are not read).
fn plan_with_reals(cfg: &Config, reals: RealsOf) -> Plan {
    let g = &cfg.global;
    Plan {
        virtuals: cfg
            .virtuals
            .iter()
            .zip(reals)
            .map(|(v, (servers, checks))| virtual_plan(v, cfg, servers, checks))
            .collect(),
        autoreload: g.autoreload,
        callback: g.callback.clone(),
        maintenancedir: g.maintenancedir.clone(),
        readdquiescent: g.readdquiescent,
        supervised: g.supervised,
        checkinterval: Duration::from_secs(u64::from(g.checkinterval.max(1))),
        logfile: match &g.logfile {
            LogTarget::File(p) => Some(p.clone()),
            LogTarget::Syslog(_) => None,
        },
        execute: g.execute.clone(),
    }
}

fn virtual_plan(
    v: &Virtual,
    cfg: &Config,
    reals: Vec<RealServer>,
    checks: Vec<Arc<CheckSpec>>,
) -> VirtualPlan {
    // The service settings come from the config's own table rendering, so
    // `check-config` and the daemon never disagree on flags or netmask.
    let service = v.service();
    let fallback = v.fallback.map(|f| {
        let mut rs = RealServer::new(f.addr, f.port);
        rs.forward = f.forward;
        rs.weight = 1;
        rs
    });
    let a = &v.alerts;
    VirtualPlan {
        checks,
        spec: VirtualSpec {
            service,
            reals,
            fallback,
            quiescent: v.quiescent,
            consistent: false,
        },
        cleanstop: v.cleanstop,
        fallbackcommand: v.fallbackcommand.clone(),
        alerts: Alerts {
            to: a
                .emailalert
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            from: a
                .emailalertfrom
                .clone()
                .or(cfg.global.alerts.emailalertfrom.clone()),
            freq: Duration::from_secs(u64::from(a.emailalertfreq)),
            phases: phases(a.emailalertstatus),
            servicename: v.servicename.clone(),
            comment: v.comment.clone(),
            smtp: a.smtp.clone(),
        },
        monitorfile: v.monitorfile.clone(),
    }
}

/// Apply lvsd.toml's `[virtual."KEY"]` sections to `plan`: each reaches
/// the checks of its virtual's reals. A section naming a virtual that
/// ldirectord.cf does not define is an error naming the section's
/// `file:line:col`; so is a key that cannot act on the virtual's check
/// (`status_code` on an smtp check, ...), rather than being ignored.
pub fn apply_policies(
    plan: &mut Plan,
    policies: &[crate::config::policy::VirtualPolicy],
) -> Result<(), ConfigError> {
    let mut diagnostics = Vec::new();
    for p in policies {
        let c = &p.check;
        // `fwm:N` names the mark in either family.
        let mut found = false;
        for v in plan.virtuals.iter_mut().filter(|v| p.id.matches(&v.key())) {
            found = true;
            // A key that cannot act on this virtual's check is an error,
            // not a silent no-op.
            if let Some(check) = v.checks.first() {
                for msg in inapplicable(c, check) {
                    diagnostics.push(format!("{}: virtual.{:?}: {msg}", p.at, p.id.to_string()));
                }
            }
            // Reals that shared a check share the changed one: each check
            // is changed once, by its address (the old ones are kept alive
            // in `changed` until the loop ends, so no address is reused).
            let mut changed: std::collections::HashMap<
                *const CheckSpec,
                (Arc<CheckSpec>, Arc<CheckSpec>),
            > = std::collections::HashMap::new();
            for spec in &mut v.checks {
                let (_, now) = changed.entry(Arc::as_ptr(spec)).or_insert_with(|| {
                    let mut n = CheckSpec::clone(spec);
                    n.policy = c.clone();
                    (Arc::clone(spec), Arc::new(n))
                });
                *spec = Arc::clone(now);
            }
        }
        if !found {
            diagnostics.push(format!(
                "{}: virtual.{:?}: no such virtual in ldirectord.cf",
                p.at,
                p.id.to_string()
            ));
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { diagnostics })
    }
}

/// Why keys of `policy` cannot act on a virtual checked by `check`.
fn inapplicable(policy: &CheckPolicy, check: &CheckSpec) -> Vec<String> {
    let negotiates = matches!(
        check.checktype,
        CheckType::Negotiate | CheckType::Combined(_)
    );
    let what = format!(
        "its check is checktype={} service={}",
        check.checktype.name(),
        check.service
    );
    let http = matches!(
        check.service,
        Service::Http | Service::Https | Service::HttpProxy
    );
    let mut out = Vec::new();
    if policy.status_codes.is_some() && !(negotiates && http) {
        out.push(format!(
            "status_code applies to http, https and http_proxy negotiate checks; {what}"
        ));
    }
    if policy.ca.is_some() && !(negotiates && check.service == Service::Https) {
        out.push(format!("ca_file applies to https negotiate checks; {what}"));
    }
    let external = matches!(
        check.checktype,
        CheckType::External | CheckType::ExternalPerl
    );
    if policy.dynamic_weight && !external {
        out.push(format!(
            "dynamic_weight applies to checktype=external and external-perl; {what}"
        ));
    }
    out
}

fn phases(s: AlertStatus) -> std::collections::HashSet<Phase> {
    [
        (s.starting, Phase::Starting),
        (s.running, Phase::Running),
        (s.stopping, Phase::Stopping),
        (s.reloading, Phase::Reloading),
    ]
    .into_iter()
    .filter_map(|(on, p)| on.then_some(p))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ldirectord::SystemResolver;
    use crate::model::Forward;

    #[test]
    fn policies_reach_the_checks_of_their_virtual_only() {
        let text = "virtual=192.0.2.10:80\n\treal=10.1.0.1:80 masq\n\tchecktype=connect\n\
virtual=192.0.2.11:80\n\treal=10.1.0.2:80 masq\n\tchecktype=connect\n";
        let cfg = Config::parse(text, Path::new("t.cf"), &SystemResolver::new()).unwrap();
        let toml = crate::config::toml::parse(
            "[virtual.\"tcp:192.0.2.10:80\"]\nrise = 3\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let mut p = plan_from_config(&cfg);
        apply_policies(&mut p, &toml.virtuals).unwrap();
        assert_eq!(p.virtuals[0].checks[0].policy.rise, 3);
        assert_eq!(p.virtuals[1].checks[0].policy.rise, 1);
        let other = crate::config::toml::parse(
            "\n[virtual.\"tcp:192.0.2.99:80\"]\nrise = 2\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let e = apply_policies(&mut p, &other.virtuals).unwrap_err();
        assert_eq!(
            e.diagnostics,
            vec!["l.toml:2:1: virtual.\"tcp:192.0.2.99:80\": no such virtual in ldirectord.cf"]
        );
        let misfit = crate::config::toml::parse(
            "[virtual.\"tcp:192.0.2.10:80\"]\nstatus_code = [200]\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let e = apply_policies(&mut p, &misfit.virtuals).unwrap_err();
        assert_eq!(
            e.diagnostics,
            vec!["l.toml:1:1: virtual.\"tcp:192.0.2.10:80\": status_code applies to http, \
                  https and http_proxy negotiate checks; its check is checktype=connect service=http"]
        );
        let dynamic = crate::config::toml::parse(
            "[virtual.\"tcp:192.0.2.11:80\"]\ndynamic_weight = true\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let e = apply_policies(&mut p, &dynamic.virtuals).unwrap_err();
        assert!(
            e.diagnostics[0].ends_with(
                "dynamic_weight applies to checktype=external and external-perl; \
                 its check is checktype=connect service=http"
            ),
            "{e}"
        );
        let later = crate::config::toml::parse(
            "[virtual.\"tcp:192.0.2.10:80\"]\nagent_port = 5\n",
            Path::new("l.toml"),
        )
        .unwrap();
        apply_policies(&mut p, &later.virtuals).unwrap();
        let agent = p.virtuals[0].checks[0].policy.agent.unwrap();
        assert_eq!((agent.port, agent.interval), (5, Duration::from_secs(2)));
    }

    /// Reals that run their virtual's check share one copy, before and
    /// after lvsd.toml's policy reaches it; a real with its own
    /// request/receive pair has its own, which gets the policy too. The
    /// plan of an owned config equals the one of a borrowed config.
    #[test]
    fn reals_share_their_virtuals_check_through_policies() {
        let text = "virtual=192.0.2.10:80\n\treal=10.1.0.1:80 masq\n\treal=10.1.0.2:80 masq\n\
\treal=10.1.0.3:80 masq 1 \"/own.html\", \"own\"\n\treal=10.1.0.4:80 masq\n\tservice=http\n";
        let cfg = Config::parse(text, Path::new("t.cf"), &SystemResolver::new()).unwrap();
        let borrowed = plan_from_config(&cfg);
        let mut p = plan_from_owned_config(cfg);
        assert_eq!(p, borrowed);
        let c = &p.virtuals[0].checks;
        assert!(Arc::ptr_eq(&c[0], &c[1]) && Arc::ptr_eq(&c[0], &c[3]));
        assert!(!Arc::ptr_eq(&c[0], &c[2]));
        assert_eq!(c[2].request, "/own.html");
        let toml = crate::config::toml::parse(
            "[virtual.\"tcp:192.0.2.10:80\"]\nrise = 3\n",
            Path::new("l.toml"),
        )
        .unwrap();
        apply_policies(&mut p, &toml.virtuals).unwrap();
        let c = &p.virtuals[0].checks;
        assert!(c.iter().all(|c| c.policy.rise == 3));
        assert!(Arc::ptr_eq(&c[0], &c[1]) && Arc::ptr_eq(&c[0], &c[3]));
        assert!(!Arc::ptr_eq(&c[0], &c[2]));
        assert_eq!(
            (c[2].request.as_str(), c[0].request.as_str()),
            ("/own.html", "/")
        );
        assert!(!Arc::ptr_eq(&c[0], &borrowed.virtuals[0].checks[0]));
        assert_eq!(borrowed.virtuals[0].checks[0].policy.rise, 1);
    }

    #[test]
    fn http_keys_reach_http_checks() {
        let dir = tempfile::tempdir().unwrap();
        let pem = "-----BEGIN CERTIFICATE-----\nMAoGCCqGSM49BAMC\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
        let text = "virtual=192.0.2.10:443\n\treal=10.1.0.1:443 masq\n\tservice=https\n\
virtual=192.0.2.10:25\n\treal=10.1.0.1:25 masq\n";
        let cfg = Config::parse(text, Path::new("t.cf"), &SystemResolver::new()).unwrap();
        let mut p = plan_from_config(&cfg);
        let toml = crate::config::toml::parse(
            "[virtual.\"tcp:192.0.2.10:443\"]\nstatus_code = [200, 401]\nca_file = \"ca.pem\"\n",
            &dir.path().join("lvsd.toml"),
        )
        .unwrap();
        apply_policies(&mut p, &toml.virtuals).unwrap();
        let pol = &p.virtuals[0].checks[0].policy;
        assert!(pol.status_codes.as_ref().unwrap().contains(401));
        assert_eq!(pol.ca.as_ref().unwrap().path, dir.path().join("ca.pem"));
        let smtp = crate::config::toml::parse(
            "[virtual.\"tcp:192.0.2.10:25\"]\nca_file = \"ca.pem\"\n",
            &dir.path().join("lvsd.toml"),
        )
        .unwrap();
        let e = apply_policies(&mut p, &smtp.virtuals).unwrap_err();
        assert!(
            e.diagnostics[0].ends_with(
                "ca_file applies to https negotiate checks; its check is checktype=negotiate service=smtp"
            ),
            "{e}"
        );
    }

    #[test]
    fn ldirectord_cf_becomes_a_plan() {
        let text =
            "checkinterval=3\nquiescent=yes\nemailalert=\"a@x, b@y\"\nemailalertstatus=running\n\
virtual=192.168.6.240:80\n\treal=10.1.0.1:80 masq 3\n\treal=10.1.0.2:8080 gate 2\n\
\tfallback=127.0.0.1:80 gate\n\tchecktype=on\n\tscheduler=rr\n\tfallbackcommand=\"/bin/fb\"\n\
\tsmtp=mail.example.invalid\n\tmonitorfile=/tmp/lvsd-load-test-mon.log\nexecute=other.cf\n";
        let cfg = Config::parse(text, Path::new("t.cf"), &SystemResolver::new()).unwrap();
        let p = plan_from_config(&cfg);
        assert_eq!(p.checkinterval, Duration::from_secs(3));
        let v = &p.virtuals[0];
        assert_eq!(v.spec.service.scheduler, "rr");
        assert!(v.spec.quiescent);
        assert_eq!(v.spec.reals.len(), 2);
        assert_eq!(v.spec.reals[0].weight, 3);
        assert_eq!(v.spec.reals[1].forward, Forward::Route);
        // The config's port; the kernel port is derived in reconcile.
        assert_eq!(v.spec.reals[1].port, 8080);
        assert_eq!(v.checks[0].checktype, CheckType::On);
        assert_eq!(
            v.spec.fallback.as_ref().unwrap().addr.to_string(),
            "127.0.0.1"
        );
        assert_eq!(v.alerts.to, vec!["a@x".to_string(), "b@y".to_string()]);
        assert!(v.alerts.phases.contains(&Phase::Running));
        assert!(!v.alerts.phases.contains(&Phase::Starting));
        assert_eq!(
            v.fallbackcommand.as_deref().map(|s| s.trim_matches('"')),
            Some("/bin/fb")
        );
        assert!(v.cleanstop);
        assert_eq!(v.alerts.smtp.as_deref(), Some("mail.example.invalid"));
        assert_eq!(
            v.monitorfile.as_deref(),
            Some(Path::new("/tmp/lvsd-load-test-mon.log"))
        );
        assert_eq!(p.execute, vec!["other.cf".to_string()]);
    }
}
