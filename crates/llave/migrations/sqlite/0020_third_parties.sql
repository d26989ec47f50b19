-- no-transaction
-- Third parties and FAPI 2.0 (issue 17, items 1 and 2; docs/third-parties.md).
-- `third_parties`: organisations outside government (a bank, an employer, a landlord, a
-- university) registered apart from entities, with the purpose codes they may ask for.
-- `clients`: a client belongs to an entity or to a third party, never both; a third party's
-- client is held to the FAPI 2.0 Security Profile (`fapi`), may have to sign its requests
-- (`require_jar`, FAPI 2.0 Message Signing) and names where it is notified (`notify_uri`).
-- `authorization_codes.dpop_jkt` and `grants.dpop_jkt`: the JWK thumbprint (RFC 7638) a code,
-- and the tokens of a grant, are bound to (RFC 9449). DPoP proofs' `jti`s are spent in
-- `used_jtis`, beside client assertions', so every node shares them.
-- Kept in step with ../postgres/0020_third_parties.sql.
--
-- SQLite cannot drop the NOT NULL of `clients.entity_id`: the table is rebuilt the way
-- SQLite documents (https://sqlite.org/lang_altertable.html#otheralter), with foreign keys
-- off so the tables that reference `clients` keep their rows, in one transaction of its own
-- (hence `no-transaction` above: `PRAGMA foreign_keys` is ignored inside a transaction).

PRAGMA foreign_keys = OFF;

BEGIN;

CREATE TABLE third_parties (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL,
    legal_name TEXT NOT NULL,
    tax_id TEXT NOT NULL,
    purposes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT third_parties_slug_unique UNIQUE (slug)
);

CREATE TABLE clients_rebuilt (
    client_id TEXT PRIMARY KEY,
    entity_id BIGINT REFERENCES entities (id),
    name TEXT NOT NULL,
    secret_hash TEXT,
    auth_method TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri TEXT,
    jwks TEXT,
    allowed_claims TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    require_par BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT,
    access_token_alg TEXT NOT NULL DEFAULT 'RS256',
    third_party_id BIGINT REFERENCES third_parties (id),
    notify_uri TEXT,
    require_jar BIGINT NOT NULL DEFAULT 0,
    fapi BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT clients_one_owner CHECK ((entity_id IS NULL) <> (third_party_id IS NULL))
);

INSERT INTO clients_rebuilt (client_id, entity_id, name, secret_hash, auth_method, redirect_uris,
    post_logout_redirect_uris, backchannel_logout_uri, jwks, allowed_claims, id_token_alg, require_par,
    created_at, disabled_at, access_token_alg)
SELECT client_id, entity_id, name, secret_hash, auth_method, redirect_uris, post_logout_redirect_uris,
    backchannel_logout_uri, jwks, allowed_claims, id_token_alg, require_par, created_at, disabled_at,
    access_token_alg
FROM clients;

DROP TABLE clients;

ALTER TABLE clients_rebuilt RENAME TO clients;

ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;

COMMIT;

PRAGMA foreign_keys = ON;
