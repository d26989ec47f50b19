-- Pushed authorization requests (RFC 9126) and back-channel logout deliveries.
-- Kept in step with ../sqlite/0003_oidc_sessions.sql.

CREATE TABLE pushed_requests (
    request_uri TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (client_id),
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE logout_deliveries (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (client_id),
    session_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    last_status TEXT,
    delivered_at BIGINT
);
CREATE INDEX logout_deliveries_by_session ON logout_deliveries (session_id);
