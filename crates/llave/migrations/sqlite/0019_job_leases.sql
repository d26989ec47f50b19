-- Periodic work that must run once across the cluster (the purge of expired rows): each
-- node ticks on its own, and a tick runs the job only if it takes the job's lease, one
-- conditional UPDATE that succeeds for one node until the lease ends.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    leased_until BIGINT NOT NULL
);
