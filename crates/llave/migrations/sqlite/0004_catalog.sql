-- The catalog of procedures and services (RETyS). Each procedure is one JSON document
-- (see crates/llave/src/catalog/model.rs) with the columns the catalog filters, sorts and
-- joins on beside it; its requirements are rows too, for the simplification report and
-- for lookups between entities. Kept in step with ../postgres/0004_catalog.sql.

CREATE TABLE procedures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL,
    entity_id BIGINT NOT NULL REFERENCES entities (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    loa TEXT NOT NULL,
    yearly_volume BIGINT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT procedures_slug_unique UNIQUE (slug),
    CONSTRAINT procedures_name_unique UNIQUE (entity_id, name)
);

CREATE TABLE procedure_requirements (
    procedure_id BIGINT NOT NULL REFERENCES procedures (id),
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    PRIMARY KEY (procedure_id, position)
);
CREATE INDEX procedure_requirements_by_kind ON procedure_requirements (kind);

CREATE TABLE requirement_equivalences (
    kind TEXT NOT NULL,
    accepted_kind TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (kind, accepted_kind)
);

CREATE TABLE procedure_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    procedure_id BIGINT NOT NULL REFERENCES procedures (id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    change TEXT NOT NULL
);
CREATE INDEX procedure_history_by_procedure ON procedure_history (procedure_id);
