-- The tamper-evident audit log (issue 16, docs/audit.md): every event, in the order the
-- sequencer found it committed, as a leaf of an RFC 6962 Merkle tree.
--
-- `audit_leaves`: leaf `idx` (0-based) is event `event_id`; `entry` is its pseudonymous
-- canonical encoding (docs/audit.md) and `leaf_hash` SHA-256(0x00 ‖ entry).
-- `audit_hashes`: the stored hashes of the tiles above level 0: at `level` L, `idx` j is the
-- hash of the full subtree of 256^L leaves starting at leaf j·256^L (C2SP tlog-tiles).
-- `audit_checkpoints`: every signed checkpoint (C2SP tlog-checkpoint as a signed note), with
-- the event floor it covered: every event with id ≤ `event_floor` is in its tree.
-- `audit_cosignatures`: witnesses' cosignatures of a checkpoint (C2SP tlog-cosignature
-- lines), published with it.
-- `audit_state`: the sequencer's floor (one row).
-- All append-only but the floor.
CREATE TABLE audit_leaves (
    idx BIGINT PRIMARY KEY,
    event_id BIGINT NOT NULL UNIQUE,
    leaf_hash BYTEA NOT NULL,
    entry BYTEA NOT NULL
);
CREATE TABLE audit_hashes (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    root_hash BYTEA NOT NULL,
    note TEXT NOT NULL,
    event_floor BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE TABLE audit_cosignatures (
    size BIGINT NOT NULL,
    witness TEXT NOT NULL,
    lines TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (size, witness)
);
CREATE TABLE audit_state (
    name TEXT PRIMARY KEY,
    event_floor BIGINT NOT NULL
);
INSERT INTO audit_state (name, event_floor) VALUES ('sequencer', 0);

CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
CREATE TRIGGER audit_hashes_no_update BEFORE UPDATE OR DELETE ON audit_hashes
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER audit_hashes_no_truncate BEFORE TRUNCATE ON audit_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
