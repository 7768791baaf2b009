//! mysql (DBI + DBD::mysql): connect with login/passwd/database, run the
//! `request` query (leading `/` removed); up iff it returns at least one row.
//! Like ldirectord, an empty login or query is down without connecting.
//! Unlike ldirectord (no timeout at all), the negotiate timeout applies.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};

use super::request_body;
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Reject what ldirectord rejects before connecting.
pub fn precheck(spec: &CheckSpec) -> Result<&str, CheckError> {
    let q = request_body(spec);
    if spec.login.is_empty() || q.is_empty() {
        return Err(CheckError::Config(
            "a login and a request (query) are required for mysql, oracle and pgsql checks".into(),
        ));
    }
    Ok(q)
}

/// Run a MySQL/MariaDB check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let query = precheck(spec)?;
    let addr = target.check_addr(spec);
    let opts = OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .prefer_socket(false)
        .user(Some(spec.login.clone()))
        .pass(Some(spec.passwd.clone()))
        .db_name((!spec.database.is_empty()).then(|| spec.database.clone()));
    let mut conn = Conn::new(opts)
        .await
        .map_err(|e| CheckError::from_lib("mysql connect", &e))?;
    let rows: Result<Vec<Row>, _> = conn.query(query).await;
    let _ = conn.disconnect().await;
    let rows = rows.map_err(|e| CheckError::Mismatch(format!("query failed: {e}")))?;
    if rows.is_empty() {
        Err(CheckError::Mismatch("query returned no rows".into()))
    } else {
        Ok(format!("query returned {} rows", rows.len()))
    }
}
