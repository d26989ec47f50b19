-- Numbered in step with PostgreSQL's 0022 (the audit sequencer's transaction horizon), for
-- the same schema. On SQLite acts commit one at a time in id order, so the sequencer's id
-- floor always advances: `tx` stays empty and the horizon 0.
ALTER TABLE events ADD COLUMN tx BIGINT;
CREATE INDEX events_by_tx ON events (tx);
ALTER TABLE audit_state ADD COLUMN tx_horizon BIGINT NOT NULL DEFAULT 0;
