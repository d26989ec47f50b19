-- Staff roles: what an account may do beyond being a citizen. `scope` is an entity slug
-- for a role held for one entity (catalog_editor), or '*' for the whole hub (hub_staff).
-- Kept in step with ../sqlite/0005_staff_roles.sql.

CREATE TABLE staff_roles (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    granted_by TEXT NOT NULL,
    PRIMARY KEY (account_id, role, scope)
);
