-- The audit sequencer's scan (issue 19). Acts commit out of id order on PostgreSQL, so the
-- sequencer keeps an id floor that only a barrier (a brief table lock) can raise; under a
-- load that never pauses the barrier is never granted and every run re-read every event
-- above the floor. Each event now records the transaction that inserted it (`tx`, written
-- by the inserts: `pg_current_xact_id()`), and the sequencer keeps a transaction horizon:
-- every event inserted by a transaction below it is in the log, so a run reads only the
-- events of transactions at or above it (and any event without `tx`, above the id floor).
ALTER TABLE events ADD COLUMN tx BIGINT;
CREATE INDEX events_by_tx ON events (tx);
-- 0: none yet (the next run reads every event above the id floor, as before).
ALTER TABLE audit_state ADD COLUMN tx_horizon BIGINT NOT NULL DEFAULT 0;
