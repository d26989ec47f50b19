-- Every change is one act (issue 15): an act is one transaction; it writes its change, its
-- typed events and its outbox messages together, so none exists without the others.
--
-- `acts`: one row per committed act, with how many events it wrote (a check counts them).
-- `events`: what happened, to whom (`account_id`), by whom (`actor_kind`, `actor`,
-- `actor_entity_id`), on what basis (`basis`), with what outcome; record reads name the
-- record, its holder and the procedure. Append-only: the database refuses edits and
-- deletions. The encoding the audit log hashes is documented in docs/events.md.
-- The former `security_events` and `record_access` tables become views over `events`, so
-- the pages that read them keep reading them; their rows move into `events` here.
-- `outbox`: what leaves the process (mail, back-channel logout), written in the act's
-- transaction and delivered by a worker on any node, with retries and back-off; it takes
-- over the rows of `mail_queue`.
CREATE TABLE acts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    at BIGINT NOT NULL,
    events BIGINT NOT NULL
);

CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    act_id TEXT NOT NULL REFERENCES acts (id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    account_id BIGINT,
    actor_kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_entity_id BIGINT,
    basis TEXT,
    record_id TEXT,
    holder_entity_id BIGINT,
    procedure_slug TEXT,
    purpose TEXT NOT NULL,
    client_address TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    detail TEXT
);
-- Few indexes: every act writes here. By person (the security page, the file); the access
-- log by record and by reader, only for its own rows. (`seq` is unique within an act by
-- construction: the act numbers its events.)
CREATE INDEX events_by_account ON events (account_id, at);
CREATE INDEX events_by_record ON events (record_id, at) WHERE kind = 'record_access';
CREATE INDEX events_by_reader ON events (actor_entity_id, at) WHERE kind = 'record_access';

INSERT INTO acts (id, name, at, events)
    SELECT 'legacy-security-' || id, kind, at, 1 FROM security_events;
INSERT INTO acts (id, name, at, events)
    SELECT 'legacy-access-' || id, 'record_access', at, 1 FROM record_access;
INSERT INTO events (act_id, seq, at, kind, outcome, account_id, actor_kind, actor, purpose, client_address,
                    user_agent, detail)
    SELECT 'legacy-security-' || id, 0, at, kind,
           CASE WHEN kind IN ('sign_in_failed', 'second_factor_failed') THEN 'failed'
                WHEN kind IN ('lockout', 'throttled', 'verification_refused') THEN 'refused'
                ELSE 'ok' END,
           account_id, 'person', '', '', client_address, user_agent, detail
    FROM security_events ORDER BY id;
INSERT INTO events (act_id, seq, at, kind, outcome, account_id, actor_kind, actor, actor_entity_id, basis,
                    record_id, holder_entity_id, procedure_slug, purpose, client_address, user_agent, detail)
    SELECT 'legacy-access-' || id, 0, at, 'record_access', outcome, account_id, reader_kind, reader,
           reader_entity_id, legal_basis, record_id, holder_entity_id, procedure_slug, purpose, '', '', detail
    FROM record_access ORDER BY id;

DROP TABLE security_events;
DROP TABLE record_access;
DROP FUNCTION security_events_append_only();
DROP FUNCTION record_access_append_only();

CREATE VIEW security_events AS
    SELECT id, at, kind, account_id, client_address, user_agent, COALESCE(detail, '') AS detail
    FROM events WHERE kind NOT IN ('record_access', 'tokens_issued');
CREATE VIEW record_access AS
    SELECT id, at, account_id, record_id, holder_entity_id, actor_kind AS reader_kind,
           actor_entity_id AS reader_entity_id, actor AS reader, procedure_slug, purpose,
           basis AS legal_basis, outcome, detail
    FROM events WHERE kind = 'record_access';


CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER acts_no_update BEFORE UPDATE OR DELETE ON acts
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER acts_no_truncate BEFORE TRUNCATE ON acts
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    act_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    lang TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    claimed_until BIGINT,
    done_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE done_at IS NULL;

INSERT INTO outbox (message_id, act_id, kind, payload, lang, created_at, next_attempt_at, attempts, claimed_until,
                    done_at, last_error)
    SELECT 'mail-queue-' || id, 'legacy-mail-queue', job, payload, lang, created_at, next_attempt_at, attempts,
           claimed_until, done_at, last_error
    FROM mail_queue ORDER BY id;
DROP TABLE mail_queue;
