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
    cfg.host(addr.ip().to_string())
        .port(addr.port())
        .user(&spec.login)
        .password(&spec.passwd)
        .connect_timeout(spec.negotiatetimeout);
    if !spec.database.is_empty() {
        cfg.dbname(&spec.database);
    }
    let (client, conn) = cfg
        .connect(NoTls)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => CheckError::Mismatch(format!("pgsql connect: {}", db.message())),
            None => CheckError::from_lib("pgsql connect", &e),
        })?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let res = client.simple_query(query).await;
    drop(client);
    driver.abort();
    let msgs = res.map_err(|e| {
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
