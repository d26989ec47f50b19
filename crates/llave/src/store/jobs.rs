//! Leases on periodic jobs, so work every node schedules runs on one node at a time across
//! the cluster: the first node whose tick finds the lease ended takes it, with one
//! conditional `UPDATE`, and the others skip that round.

use super::{Store, StoreResult};

impl Store {
    /// Takes the lease of job `name` for `holder` until `until`, if no lease is running at
    /// `now`: true if `holder` runs the job now.
    pub async fn take_job_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool> {
        sqlx::query(
            "INSERT INTO job_leases (name, holder, leased_until) VALUES ($1, '', 0) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .execute(self.pool())
        .await?;
        let taken =
            sqlx::query("UPDATE job_leases SET holder = $2, leased_until = $3 WHERE name = $1 AND leased_until <= $4")
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(self.pool())
                .await?;
        Ok(taken.rows_affected() == 1)
    }
}
