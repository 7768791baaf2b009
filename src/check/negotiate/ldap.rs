//! ldap and ldaps (Net::LDAP): bind (simple with login/passwd when both
//! are set, else anonymous), then a base-scope search of `request` (leading
//! `/` removed; empty = root DSE) with `(objectClass=*)`. Up iff exactly one
//! entry comes back and its DN matches `receive` (or `receive` is empty).

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use super::{receive_matches, request_body, tls};
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

fn lib(what: &str, e: ldap3::LdapError) -> CheckError {
    CheckError::from_lib(what, &e)
}

/// Run an LDAP check.
pub async fn check(spec: &CheckSpec, target: &Target, ldaps: bool) -> CheckResult {
    let addr = target.check_addr(spec);
    let url = format!("{}://{addr}", if ldaps { "ldaps" } else { "ldap" });
    let settings = LdapConnSettings::new()
        // Longer than the overall deadline, so that one decides (and says "timed out").
        .set_conn_timeout(super::deadline(spec) + std::time::Duration::from_secs(1))
        .set_config(tls::client_config());
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &url)
        .await
        .map_err(|e| lib("connection failed", e))?;
    // Driven inside this future, not in a spawned task: when the check's
    // deadline drops the future the connection goes with it. The ldap3
    // reader takes no custom stream (only a std socket), so its reads are
    // bounded by the deadline rather than by the read budget.
    let drive = conn.drive();
    let result = async {
        let (dn, pw) = if !spec.login.is_empty() && !spec.passwd.is_empty() {
            (spec.login.as_str(), spec.passwd.as_str())
        } else {
            ("", "")
        };
        ldap.simple_bind(dn, pw)
            .await
            .map_err(|e| lib("bind failed", e))?
            .success()
            .map_err(|e| CheckError::Mismatch(format!("bind failed: {e}")))?;
        let base = request_body(spec);
        let (entries, _) = ldap
            .search(base, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| lib("search failed", e))?
            .success()
            .map_err(|e| CheckError::Mismatch(format!("search of {base:?} failed: {e}")))?;
        if entries.len() != 1 {
            return Err(CheckError::Mismatch(format!(
                "search returned {} entries, expected 1",
                entries.len()
            )));
        }
        let dn = entries
            .into_iter()
            .next()
            .map(|e| SearchEntry::construct(e).dn)
            .unwrap_or_default();
        if receive_matches(&spec.receive, &dn)? {
            Ok(format!("found {dn:?}"))
        } else {
            Err(CheckError::Mismatch(format!(
                "DN {dn:?} does not match receive {:?}",
                spec.receive
            )))
        }
    };
    tokio::pin!(drive, result);
    tokio::select! {
        r = &mut result => r,
        d = &mut drive => match d {
            Err(e) => Err(lib("connection failed", e)),
            Ok(()) => Err(CheckError::Closed(" before the LDAP answer".into())),
        },
    }
}
