-- Every generated id is an identity column on PostgreSQL (its 0013 converts the two
-- BIGSERIAL ids of 0006 and 0008). Here those ids are INTEGER PRIMARY KEY AUTOINCREMENT
-- already, which never reuses an id: nothing to change. The file keeps the two folders
-- numbered in step. Kept in step with ../postgres/0013_identity_columns.sql.
SELECT 1;
