-- Every generated id is an identity column, GENERATED ALWAYS, as 0001–0007 made them:
-- 0006 (identity_verifications) and 0008 (record_access) used BIGSERIAL instead, a sequence
-- default an insert may override. Expand/contract: those files are applied everywhere and
-- never edited; this one converts the two columns in place, keeping every id, and the new
-- identity goes on after the highest id the old sequence handed out (so no id is reused).
-- (`record_access` became a view over `events` in 0012, whose ids are identity columns.)
-- Kept in step with ../sqlite/0013_identity_columns.sql (AUTOINCREMENT there already).
DO $$
DECLARE
    target TEXT;
    sequence_name TEXT;
    next_id BIGINT;
BEGIN
    FOREACH target IN ARRAY ARRAY['identity_verifications'] LOOP
        sequence_name := pg_get_serial_sequence(quote_ident(target), 'id');
        -- Already an identity column (a database fixed by hand): nothing to do.
        CONTINUE WHEN sequence_name IS NULL
            OR EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = target
                         AND column_name = 'id' AND is_identity = 'YES');
        EXECUTE format('SELECT GREATEST(COALESCE((SELECT MAX(id) FROM %I), 0), '
                       '(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %s)) + 1',
                       target, sequence_name)
            INTO next_id;
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id DROP DEFAULT', target);
        EXECUTE format('DROP SEQUENCE %s', sequence_name);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START WITH %s)',
                       target, next_id);
    END LOOP;
END;
$$;
