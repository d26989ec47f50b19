//! A timed load: workers, each with its own state (and its own HTTP connection), repeat one
//! step until the deadline. Successful steps count with their latency; failures count, the
//! first is kept to be shown; a fatal failure ends its worker (a broken refresh-token chain
//! cannot go on).

use std::future::Future;
use std::time::{Duration, Instant};

/// Why a step failed, and whether its worker can go on.
pub struct Failure {
    pub why: String,
    pub fatal: bool,
    /// Not a failure: the worker has nothing left to do (its supply of single-use
    /// credentials ran out) and ends without counting the step.
    pub done: bool,
}

impl Failure {
    pub fn new(why: impl Into<String>) -> Failure {
        Failure { why: why.into(), fatal: false, done: false }
    }

    pub fn fatal(why: impl Into<String>) -> Failure {
        Failure { why: why.into(), fatal: true, done: false }
    }

    /// The worker has nothing left to do: it stops, and the step is not counted.
    pub fn done() -> Failure {
        Failure { why: String::new(), fatal: true, done: true }
    }
}

#[derive(Default)]
pub struct Stats {
    pub ok: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
    latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl Stats {
    /// The figures as JSON: `per_s`, `p50_ms`, `p99_ms`, `ok`, `failed`, `first_failure`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "per_s": crate::report::round2(self.per_second()),
            "p50_ms": crate::report::round2(self.percentile_ms(0.50)),
            "p99_ms": crate::report::round2(self.percentile_ms(0.99)),
            "ok": self.ok,
            "failed": self.failed,
            "first_failure": self.first_failure,
        })
    }

    /// Figures of steps timed one by one outside `run` (sequential flows).
    pub fn from_steps(latencies: Vec<Duration>, failures: Vec<String>, elapsed: Duration) -> Stats {
        let mut latencies = latencies;
        latencies.sort_unstable();
        Stats {
            ok: latencies.len() as u64,
            failed: failures.len() as u64,
            first_failure: failures.into_iter().next(),
            latencies,
            elapsed,
        }
    }

    pub fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 { self.ok as f64 / seconds } else { 0.0 }
    }

    /// Latency at `fraction` (0.5, 0.99) of the successful steps, in milliseconds.
    pub fn percentile_ms(&self, fraction: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies.len() as f64 * fraction).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[index].as_secs_f64() * 1000.0
    }

    fn absorb(&mut self, other: Stats) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// Runs one worker per state for `seconds`. `step` takes a worker's state and gives it back
/// with the outcome of one request.
pub async fn run<S, F, Fut>(states: Vec<S>, seconds: u64, step: F) -> Result<Stats, String>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = (S, Result<(), Failure>)> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::with_capacity(states.len());
    for state in states {
        let step = step.clone();
        workers.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut state = state;
            while Instant::now() < deadline {
                let began = Instant::now();
                let (next, outcome) = step(state).await;
                state = next;
                match outcome {
                    Ok(()) => {
                        stats.ok += 1;
                        stats.latencies.push(began.elapsed());
                    }
                    Err(failure) if failure.done => break,
                    Err(failure) => {
                        stats.failed += 1;
                        stats.first_failure.get_or_insert(failure.why);
                        if failure.fatal {
                            break;
                        }
                    }
                }
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for worker in workers {
        total.absorb(worker.await.map_err(|e| format!("a worker failed: {e}"))?);
    }
    total.elapsed = started.elapsed();
    total.latencies.sort_unstable();
    Ok(total)
}
