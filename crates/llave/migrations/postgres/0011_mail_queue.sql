-- Mail leaves through a queue, never from the request path: a request writes one row and
-- answers; a worker on any node claims rows (a lease in `claimed_until`), sends them and
-- marks them done. A crash loses nothing: an unfinished claim expires and is taken again.
-- `job` says what to do: 'mail' sends `payload` {to, subject, body}; 'password_reset'
-- looks the identifier up, throttles per person and sends a reset link, so that the request
-- costs the same whether or not the account exists. The payload is emptied once done.
CREATE TABLE mail_queue (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job TEXT NOT NULL,
    payload TEXT NOT NULL,
    lang TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    claimed_until BIGINT,
    done_at BIGINT,
    last_error TEXT
);
CREATE INDEX mail_queue_pending ON mail_queue (next_attempt_at) WHERE done_at IS NULL;
