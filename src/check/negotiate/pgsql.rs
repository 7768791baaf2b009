//! pgsql (DBI + DBD::Pg): connect with login/passwd/database (dbname), run
//! the `request` query; up iff it returns at least one row. Same rules as
//! mysql (login and query required; negotiate timeout applies).

use tokio_postgres::{NoTls, SimpleQueryMessage};

use super::mysql::precheck;
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Run a PostgreSQL check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let query = precheck(spec)?;
    let addr = target.check_addr(spec);
    let mut cfg = tokio_postgres::Config::new();
    cfg.user(&spec.login).password(&spec.passwd);
    if !spec.database.is_empty() {
        cfg.dbname(&spec.database);
    }
    // Our own socket, counted against the check's read budget: the client
    // library buffers a whole message before decoding it, so a server
    // announcing a 2 GB message would otherwise grow the check to 2 GB.
    let tcp = super::wrap(crate::check::connect::tcp_untimed(addr, true).await?);
    let (client, conn) = cfg
        .connect_raw(tcp, NoTls)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => CheckError::Mismatch(format!("pgsql connect: {}", db.message())),
            None => CheckError::from_lib("pgsql connect", &e),
        })?;
    // The connection is driven inside this future, not in a task of its
    // own: when the check's deadline drops the future, the socket and the
    // driver go with it (a spawned driver outlived every timed-out check,
    // one open connection each).
    let res = {
        let query = client.simple_query(query);
        tokio::pin!(conn, query);
        tokio::select! {
            r = &mut query => r,
            c = &mut conn => match c {
                Err(e) => return Err(CheckError::from_lib("pgsql connection", &e)),
                Ok(()) => return Err(CheckError::Closed(" before the query answer".into())),
            },
        }
    };
    drop(client);
    let msgs = res.map_err(|e| {
        if let Some(n) = crate::check::limit::is_too_long(&e) {
            return CheckError::TooLong(n);
        }
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        CheckError::Mismatch(format!("query failed: {detail}"))
    })?;
    let rows = msgs
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count();
    if rows == 0 {
        Err(CheckError::Mismatch("query returned no rows".into()))
    } else {
        Ok(format!("query returned {rows} rows"))
    }
}
