//! Connecting to MariaDB/MySQL with bounded waits, and sorting its errors into what an operator
//! can act on.
//!
//! The agent opens one connection per operation (no pool: the process lives for a second) and
//! sets the session up for gentle deletes, whatever the server imposed: see [`settings`]. Every
//! await on the network is wrapped in a client-side timeout by [`within`].

pub mod settings;

use std::future::Future;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use crate::dburl::DbUrl;
use crate::text::one_line;

/// The point in time an operation must be done by. `None` means no limit (the CLI).
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        Deadline(Some(Instant::now() + budget))
    }

    pub fn none() -> Deadline {
        Deadline(None)
    }

    /// Time left, or `None` without a limit.
    pub fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Time left, capped at `cap`.
    pub fn remaining_or(&self, cap: Duration) -> Duration {
        self.remaining().map_or(cap, |r| r.min(cap))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("database access denied: {0}")]
    AccessDenied(String),
    #[error("{0}")]
    Schema(String),
    #[error("timed out after {1:.1}s waiting for the database ({0})")]
    Timeout(&'static str, f64),
    /// The client gave up on a chunk whose COMMIT it had sent, and nothing tells whether it
    /// landed: the report cannot say exactly what was deleted.
    #[error("{0}; whether that chunk's {1} rows were deleted could not be confirmed")]
    Unconfirmed(String, u64),
    #[error("{0}")]
    Misconfigured(String),
    #[error("database error {0}: {1}")]
    Server(u16, String),
}

/// Server error codes the engine reacts to.
pub mod code {
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const DEADLOCK: u16 = 1213;
    pub const WSREP_MAX_WS_ROWS: u16 = 1180;
    pub const WSREP_MAX_WS_SIZE: u16 = 1105;
    pub const STATEMENT_TIMEOUT: u16 = 1969;
    pub const QUERY_INTERRUPTED: u16 = 1317;
    pub const ACCESS_DENIED: u16 = 1045;
    pub const DB_ACCESS_DENIED: u16 = 1044;
    pub const TABLE_ACCESS_DENIED: u16 = 1142;
    pub const UNKNOWN_DB: u16 = 1049;
    pub const NO_SUCH_TABLE: u16 = 1146;
    pub const BAD_FIELD: u16 = 1054;
    pub const WSREP_NOT_READY: u16 = 1047;
    pub const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
    pub const UNKNOWN_THREAD: u16 = 1094;
    pub const ROW_IS_REFERENCED: u16 = 1217;
    pub const ROW_IS_REFERENCED_2: u16 = 1451;
}

impl From<mysql_async::Error> for DbError {
    fn from(e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) => match s.code {
                code::ACCESS_DENIED | code::DB_ACCESS_DENIED | code::TABLE_ACCESS_DENIED => {
                    DbError::AccessDenied(one_line(&s.message))
                }
                code::UNKNOWN_DB | code::NO_SUCH_TABLE | code::BAD_FIELD => DbError::Schema(one_line(&s.message)),
                code::WSREP_NOT_READY => DbError::Unreachable(one_line(&s.message)),
                c => DbError::Server(c, one_line(&s.message)),
            },
            other => DbError::Unreachable(one_line(&innermost(&other))),
        }
    }
}

impl DbError {
    pub fn server_code(&self) -> Option<u16> {
        match self {
            DbError::Server(c, _) => Some(*c),
            _ => None,
        }
    }
}

/// The deepest cause of an error: the driver wraps an I/O error in layers that each repeat
/// "Input/output error", while the operator needs "Connection refused (os error 111)".
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Runs `fut` with a client-side timeout: the time left before `deadline`, capped at `cap`.
pub async fn within<T, E: Into<DbError>>(
    deadline: Deadline,
    cap: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, DbError> {
    let limit = deadline.remaining_or(cap);
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(DbError::Timeout(what, limit.as_secs_f64())),
    }
}

/// The longest a single connect may take, whatever the budget.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Session settings for a flushing connection.
#[derive(Clone, Copy, Debug)]
pub struct SessionOpts {
    /// `innodb_lock_wait_timeout` in seconds.
    pub lock_wait_timeout: u32,
}

impl Default for SessionOpts {
    fn default() -> Self {
        SessionOpts { lock_wait_timeout: 5 }
    }
}

pub fn opts(url: &DbUrl, session: SessionOpts) -> Result<OptsBuilder, DbError> {
    let mut b = OptsBuilder::default()
        .user(Some(url.user.clone()))
        .pass(url.password.as_ref().map(|p| p.expose().to_string()))
        .db_name(Some(url.database.clone()))
        .prefer_socket(false)
        .tcp_nodelay(true)
        .stmt_cache_size(64)
        .init(settings::statements(session.lock_wait_timeout));
    b = match &url.socket {
        Some(sock) => b.socket(Some(sock.to_string_lossy().into_owned())),
        None => {
            b.ip_or_hostname(url.host.clone().unwrap_or_else(|| "localhost".into())).tcp_port(url.port.unwrap_or(3306))
        }
    };
    if let Some(tls) = &url.tls {
        b = tls_opts(b, tls)?;
    }
    Ok(b)
}

#[cfg(feature = "tls")]
fn tls_opts(b: OptsBuilder, tls: &crate::dburl::TlsSpec) -> Result<OptsBuilder, DbError> {
    use mysql_async::{ClientIdentity, SslOpts};
    let mut ssl = SslOpts::default()
        .with_danger_accept_invalid_certs(!tls.verify_ca)
        .with_danger_skip_domain_validation(!tls.verify_identity);
    if let Some(ca) = &tls.ca {
        ssl = ssl.with_root_certs(vec![ca.clone().into()]);
    }
    match (&tls.cert, &tls.key) {
        (Some(c), Some(k)) => {
            ssl = ssl.with_client_identity(Some(ClientIdentity::new(c.clone().into(), k.clone().into())))
        }
        (None, None) => {}
        _ => return Err(DbError::Misconfigured("connection: ssl_cert and ssl_key must be given together".into())),
    }
    Ok(b.ssl_opts(ssl))
}

#[cfg(not(feature = "tls"))]
fn tls_opts(_: OptsBuilder, _: &crate::dburl::TlsSpec) -> Result<OptsBuilder, DbError> {
    Err(DbError::Misconfigured(
        "connection asks for TLS, but this tokenflush was built without the 'tls' feature".into(),
    ))
}

/// An open connection and what we learned about the server on the way in.
pub struct Session {
    pub conn: Conn,
    /// MariaDB (not MySQL): `SET STATEMENT max_statement_time` bounds statements on the server.
    pub mariadb: bool,
    pub schema: String,
    /// The session's `innodb_lock_wait_timeout`: how long one statement may legitimately wait
    /// on a row lock, which the engine must leave room for before starting a chunk.
    pub lock_wait: Duration,
}

pub async fn connect(url: &DbUrl, session: SessionOpts, deadline: Deadline) -> Result<Session, DbError> {
    let opts = opts(url, session)?;
    let mut conn = within(deadline, CONNECT_TIMEOUT, "connect", Conn::new(opts)).await?;
    let row: Option<(String, Option<String>)> =
        within(deadline, CONNECT_TIMEOUT, "server version", conn.query_first("SELECT VERSION(), DATABASE()")).await?;
    let (version, schema) = row.unwrap_or_default();
    check_settings(&mut conn, deadline).await?;
    Ok(Session {
        conn,
        mariadb: version.contains("MariaDB"),
        schema: schema.unwrap_or_default(),
        lock_wait: Duration::from_secs(u64::from(session.lock_wait_timeout.max(1))),
    })
}

/// Reads the session back: a setting that did not take (a proxy that drops `SET`, a server
/// that rejects one) is a configuration error, never a flush under the DBA's defaults.
async fn check_settings(conn: &mut Conn, deadline: Deadline) -> Result<(), DbError> {
    let mut row: Result<Option<mysql_async::Row>, DbError> =
        within(deadline, CONNECT_TIMEOUT, "read the session back", conn.query_first(settings::readback("tx"))).await;
    if matches!(&row, Err(e) if e.server_code() == Some(code::UNKNOWN_SYSTEM_VARIABLE)) {
        let sql = settings::readback("transaction");
        row = within(deadline, CONNECT_TIMEOUT, "read the session back", conn.query_first(sql)).await;
    }
    let Some(observed) = row?.as_ref().and_then(settings::Observed::from_row) else {
        return Err(DbError::Unreachable(
            "the server did not return the session settings in a form the agent reads".into(),
        ));
    };
    settings::check(&observed)
        .map_err(|why| DbError::Misconfigured(format!("the database session did not take the agent's settings: {why}")))
}

impl Session {
    /// A second connection like this one: the same options, the same session settings, checked.
    pub async fn sibling(&self, deadline: Deadline) -> Result<Conn, DbError> {
        let mut conn = within(deadline, CONNECT_TIMEOUT, "connect", Conn::new(self.conn.opts().clone())).await?;
        check_settings(&mut conn, deadline).await?;
        Ok(conn)
    }

    /// A connection like this one to another server (a Galera node at `host:port`): the same
    /// user, password, TLS and session settings, checked.
    pub async fn peer(&self, host: &str, port: u16, deadline: Deadline) -> Result<Conn, DbError> {
        let opts = OptsBuilder::from_opts(self.conn.opts().clone())
            .socket(None::<String>)
            .ip_or_hostname(host.to_string())
            .tcp_port(port);
        let mut conn = within(deadline, CONNECT_TIMEOUT, "connect to a Galera node", Conn::new(opts)).await?;
        check_settings(&mut conn, deadline).await?;
        Ok(conn)
    }

    /// Closes the connection politely if the server answers quickly; drops it otherwise.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.conn.disconnect()).await;
    }
}
