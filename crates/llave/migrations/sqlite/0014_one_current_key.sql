-- One current token-signing key per algorithm, enforced by the database: nodes that start
-- together, or requests that find no key at once, each generated and inserted a "current"
-- key, so tokens were signed with keys other nodes' cached key sets did not have yet (found
-- by the crash test). Extra current keys are retired now (still published for a day, so the
-- tokens they signed stay valid); the newest of each algorithm stays current.
UPDATE signing_keys SET retired_at = CAST(strftime('%s', 'now') AS INTEGER)
WHERE retired_at IS NULL AND kid NOT IN (
    SELECT kid FROM (
        SELECT kid, ROW_NUMBER() OVER (PARTITION BY alg ORDER BY created_at DESC, kid DESC) AS n
        FROM signing_keys WHERE retired_at IS NULL
    ) newest WHERE n = 1
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE retired_at IS NULL;
