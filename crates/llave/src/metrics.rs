//! Prometheus metrics: what a node counts as it works (requests by route and status, sign-ins
//! by outcome, token grants by type, the Argon2id queue, database waits, audit checkpoints),
//! in one process-wide registry, and the text `/metrics` answers on the metrics listener
//! (`metrics_listen`). What lives in the database (the outbox, the pool, the audit log's
//! size) is read at scrape time by the caller and handed in as a [`Snapshot`].
//!
//! Labels take values from short fixed sets only (a route's pattern, never its path; a
//! status code; an outcome), so no person's data and no unbounded value becomes a series.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The content type of the text format (version 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets, in seconds: from a cached JWKS to a sign-in queued behind Argon2id.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Waits for a database connection (and, on SQLite, the write lock).
const WAIT_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    sign_ins: IntCounterVec,
    token_grants: IntCounterVec,
    argon2_waiting: IntGauge,
    argon2_in_progress: IntGauge,
    db_acquire: Histogram,
    db_pool_size: IntGauge,
    db_pool_idle: IntGauge,
    db_pool_max: IntGauge,
    outbox_depth: IntGauge,
    outbox_oldest_age: Gauge,
    checkpoints: IntCounter,
    audit_log_size: IntGauge,
    audit_checkpoint_age: Gauge,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
        let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
        registry.register(Box::new(metric.clone()))?;
        Ok(metric)
    };
    let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
        let metric = IntGauge::new(name, help)?;
        registry.register(Box::new(metric.clone()))?;
        Ok(metric)
    };
    let float_gauge = |name: &str, help: &str| -> Result<Gauge, prometheus::Error> {
        let metric = Gauge::new(name, help)?;
        registry.register(Box::new(metric.clone()))?;
        Ok(metric)
    };
    let http_duration = HistogramVec::new(
        HistogramOpts::new(
            "llave_http_request_duration_seconds",
            "Time to answer an HTTP request, by route and status.",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["route", "method", "status"],
    )?;
    registry.register(Box::new(http_duration.clone()))?;
    let db_acquire = Histogram::with_opts(
        HistogramOpts::new(
            "llave_db_acquire_seconds",
            "Wait for a pooled database connection to begin a write (on SQLite, with the write lock).",
        )
        .buckets(WAIT_BUCKETS.to_vec()),
    )?;
    registry.register(Box::new(db_acquire.clone()))?;
    let checkpoints = IntCounter::new("llave_audit_checkpoints_total", "Audit log checkpoints this node signed.")?;
    registry.register(Box::new(checkpoints.clone()))?;
    Ok(Metrics {
        http_requests: counter(
            "llave_http_requests_total",
            "HTTP requests answered, by route pattern, method and status.",
            &["route", "method", "status"],
        )?,
        http_duration,
        sign_ins: counter("llave_sign_ins_total", "Password sign-ins at /signin, by outcome.", &["outcome"])?,
        token_grants: counter(
            "llave_token_grants_total",
            "Token endpoint requests, by grant type and outcome (issued or refused).",
            &["grant_type", "outcome"],
        )?,
        argon2_waiting: gauge("llave_argon2_waiting", "Argon2id hashes waiting for a permit.")?,
        argon2_in_progress: gauge("llave_argon2_in_progress", "Argon2id hashes being computed.")?,
        db_acquire,
        db_pool_size: gauge("llave_db_pool_connections", "Open connections of the database pool.")?,
        db_pool_idle: gauge("llave_db_pool_idle_connections", "Idle connections of the database pool.")?,
        db_pool_max: gauge("llave_db_pool_max_connections", "Most connections the database pool opens.")?,
        outbox_depth: gauge("llave_outbox_undelivered", "Outbox messages not delivered yet (all nodes).")?,
        outbox_oldest_age: float_gauge(
            "llave_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox message (0 when none).",
        )?,
        checkpoints,
        audit_log_size: gauge("llave_audit_log_entries", "Entries in the audit log's newest checkpoint.")?,
        audit_checkpoint_age: float_gauge(
            "llave_audit_checkpoint_age_seconds",
            "Age of the audit log's newest checkpoint (0 when none).",
        )?,
        registry,
    })
}

/// The process's metrics; `None` only if the fixed definitions above were refused, which
/// the unit test below rules out.
fn metrics() -> Option<&'static Metrics> {
    static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| build().ok());
    METRICS.as_ref()
}

/// An HTTP request answered: `route` is the matched route's pattern (`/authorize`,
/// `/api/records/{id}`), or `unmatched`.
pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    if let Some(m) = metrics() {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        m.http_requests.with_label_values(&labels).inc();
        m.http_duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }
}

/// How a password sign-in at `/signin` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// The right password, and the session started.
    Success,
    /// The right password; a second factor was asked for.
    SecondStep,
    /// Unknown identifier or wrong password.
    Invalid,
    /// Throttled: the password was not checked.
    Throttled,
    /// The form lacked the identifier or the password.
    Incomplete,
}

impl SignIn {
    fn label(self) -> &'static str {
        match self {
            SignIn::Success => "success",
            SignIn::SecondStep => "second_step",
            SignIn::Invalid => "invalid",
            SignIn::Throttled => "throttled",
            SignIn::Incomplete => "incomplete",
        }
    }
}

pub fn sign_in(outcome: SignIn) {
    if let Some(m) = metrics() {
        m.sign_ins.with_label_values(&[outcome.label()]).inc();
    }
}

/// A token request of `grant_type` (one of the three served) answered.
pub fn token_grant(grant_type: &'static str, issued: bool) {
    if let Some(m) = metrics() {
        m.token_grants.with_label_values(&[grant_type, if issued { "issued" } else { "refused" }]).inc();
    }
}

pub fn checkpoint_signed() {
    if let Some(m) = metrics() {
        m.checkpoints.inc();
    }
}

pub fn db_acquired(wait: Duration) {
    if let Some(m) = metrics() {
        m.db_acquire.observe(wait.as_secs_f64());
    }
}

/// Counts an Argon2id hash from the moment it waits for a permit until it is done; held
/// across the wait and the work, so a cancelled request leaves the gauges right.
pub struct HashInQueue {
    running: bool,
}

impl HashInQueue {
    pub fn waiting() -> HashInQueue {
        if let Some(m) = metrics() {
            m.argon2_waiting.inc();
        }
        HashInQueue { running: false }
    }

    /// The hash got its permit.
    pub fn running(&mut self) {
        if !self.running
            && let Some(m) = metrics()
        {
            m.argon2_waiting.dec();
            m.argon2_in_progress.inc();
        }
        self.running = true;
    }
}

impl Drop for HashInQueue {
    fn drop(&mut self) {
        if let Some(m) = metrics() {
            if self.running { m.argon2_in_progress.dec() } else { m.argon2_waiting.dec() }
        }
    }
}

/// What the scrape read from the database and the pool.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub pool_size: u32,
    pub pool_idle: usize,
    pub pool_max: u32,
    /// Undelivered outbox messages and the age of the oldest, in seconds; `None` if the
    /// database did not answer (the gauges then keep their last values).
    pub outbox: Option<(i64, i64)>,
    /// The newest checkpoint's size and age, in seconds.
    pub checkpoint: Option<(i64, i64)>,
}

/// The text format of every metric, with the snapshot's gauges set.
pub fn render(snapshot: &Snapshot) -> String {
    let Some(m) = metrics() else { return String::new() };
    m.db_pool_size.set(i64::from(snapshot.pool_size));
    m.db_pool_idle.set(i64::try_from(snapshot.pool_idle).unwrap_or(i64::MAX));
    m.db_pool_max.set(i64::from(snapshot.pool_max));
    if let Some((depth, age)) = snapshot.outbox {
        m.outbox_depth.set(depth);
        m.outbox_oldest_age.set(age.max(0) as f64);
    }
    if let Some((size, age)) = snapshot.checkpoint {
        m.audit_log_size.set(size);
        m.audit_checkpoint_age.set(age.max(0) as f64);
    }
    let mut text = Vec::new();
    if TextEncoder::new().encode(&m.registry.gather(), &mut text).is_err() {
        return String::new();
    }
    String::from_utf8(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_defined_and_rendered() {
        assert!(build().is_ok());
        http_request("/signin", "POST", 200, Duration::from_millis(3));
        let text = render(&Snapshot { outbox: Some((2, 30)), ..Snapshot::default() });
        for name in [
            "llave_http_requests_total",
            "llave_http_request_duration_seconds_bucket",
            "llave_outbox_undelivered 2",
            "llave_outbox_oldest_age_seconds 30",
            "llave_argon2_waiting",
            "llave_db_pool_connections",
        ] {
            assert!(text.contains(name), "{name} in\n{text}");
        }
    }
}
