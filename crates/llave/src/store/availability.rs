//! When the database is unavailable rather than wrong: a lost connection, a server shutting
//! down or not yet accepting connections, a read-only transaction on a standby that was the
//! primary a moment ago, a pool with no connection to give. These are the errors of a
//! failover (docs/operators.md, "A cluster of nodes"): the request did not happen and may be
//! tried again in a moment, so the person gets a 503 with `Retry-After` (OAuth
//! `temporarily_unavailable` on the protocol endpoints), never a 500 — and never a success,
//! since a write whose commit was not acknowledged is reported as failed.
//!
//! [`StoreError`](super::StoreError) notes each such error as it is made; the web layer
//! ([`watch`] around each request) reads the note to choose the answer. The note lives in the
//! request's task (a `tokio` task-local), so the decision stays in one place whatever error
//! type the capability wrapped the storage error into.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static UNAVAILABLE: Cell<bool>;
}

/// SQLSTATEs of an unavailable server (PostgreSQL appendix A): class 08 (connection
/// exception) by prefix, and these.
const UNAVAILABLE_STATES: &[&str] = &[
    "57P01", // admin_shutdown: the server is stopping (a switchover, `pg_ctl stop -m fast`)
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now: starting up, or in recovery
    "25006", // read_only_sql_transaction: a standby (the old primary, or the replica)
    "53300", // too_many_connections
];

/// SQLite's "busy" and "locked" result codes, primary and extended: another writer holds the
/// file past the busy timeout.
const SQLITE_BUSY: &[&str] = &["5", "6", "261", "517", "262"];

/// Whether `error` means "the database cannot answer now" rather than "the request is wrong".
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || UNAVAILABLE_STATES.contains(&code.as_ref())
                || SQLITE_BUSY.contains(&code.as_ref())
        }),
        _ => false,
    }
}

/// Notes `error` for the request being served, when it is one of unavailability.
pub(crate) fn note(error: &sqlx::Error) {
    if is_unavailable(error) {
        let _ = UNAVAILABLE.try_with(|seen| seen.set(true));
    }
}

/// Runs `work` (a request) and says whether the database was found unavailable during it.
pub async fn watch<F: Future>(work: F) -> (F::Output, bool) {
    UNAVAILABLE
        .scope(Cell::new(false), async move {
            let output = work.await;
            (output, UNAVAILABLE.with(Cell::get))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_and_timeouts_are_unavailability() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
    }

    #[tokio::test]
    async fn a_noted_error_is_seen_by_its_own_request_only() {
        let ((), seen) = watch(async { note(&sqlx::Error::PoolClosed) }).await;
        assert!(seen);
        let ((), seen) = watch(async { note(&sqlx::Error::RowNotFound) }).await;
        assert!(!seen);
        // Outside a watched request, noting is harmless.
        note(&sqlx::Error::PoolClosed);
    }
}
