-- Each client's access-token signing algorithm (issue 19): ES256 for clients registered
-- from now on (FAPI 2.0 excludes RS256), RS256 kept for the clients registered before, whose
-- resource servers may verify RS256 only.
ALTER TABLE clients ADD COLUMN access_token_alg TEXT NOT NULL DEFAULT 'RS256';
