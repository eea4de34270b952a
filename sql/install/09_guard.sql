-- The DDL guard: after any DDL, every active ledger table must keep the
-- name and columns it had (table_shape), its row-number column and its
-- triggers.  An administrator's unlock_ddl() lets the name and columns
-- change for one transaction; the new shape is then what is held to.
-- What is wrong with a ledger table as it is now (an empty array: nothing):
-- its row-number column, sequence, index and check, inheritance,
-- persistence and triggers.  (hcledger.codes has no check: only hcledger's
-- functions write it.)
CREATE FUNCTION ledger_defects(tbl regclass) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT array_remove(ARRAY[
		CASE WHEN NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'hcl_row'
		                      AND NOT attisdropped AND attidentity = 'a' AND atttypid = 'int8'::regtype)
			THEN 'its row-number column hcl_row would change' END,
		CASE WHEN NOT EXISTS (SELECT 1 FROM pg_sequence WHERE seqrelid = pg_get_serial_sequence(tbl::text, 'hcl_row')::regclass
		                      AND seqincrement = 1 AND seqcache = 1 AND NOT seqcycle)
			THEN 'its row-number sequence would count otherwise than by one, uncached, without cycling' END,
		CASE WHEN NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		                      JOIN pg_am am ON am.oid = ic.relam JOIN pg_attribute a ON a.attrelid = tbl AND a.attname = 'hcl_row'
		                      WHERE i.indrelid = tbl AND am.amname = 'btree' AND i.indisunique AND i.indisvalid
		                        AND i.indnatts = 1 AND i.indkey[0] = a.attnum AND i.indoption[0] = 0 AND i.indpred IS NULL)
			THEN 'its unique index on hcl_row would be dropped or changed' END,
		CASE WHEN tbl <> 'hcledger.codes'::regclass
		          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = tbl AND c.contype = 'c'
		                          AND regexp_replace(pg_get_constraintdef(c.oid), ' NOT VALID$', '')
		                              = 'CHECK (hcledger.row_drawn(hcl_row, tableoid))')
			THEN 'its check that row numbers come from the sequence (hcl_row_drawn) would be dropped or changed' END,
		CASE WHEN EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = tbl OR inhparent = tbl)
			THEN 'it would inherit from, or be inherited by, another table' END,
		CASE WHEN (SELECT relpersistence FROM pg_class WHERE oid = tbl) <> 'p'
			THEN 'it would no longer be a permanent, logged table' END,
		CASE WHEN (SELECT count(*) FROM pg_trigger WHERE tgrelid = tbl
		           AND tgname IN ('hcl_append_only', 'hcl_assign_xid') AND tgenabled = 'A') <> 2
			THEN 'its append-only triggers would be dropped or disabled' END,
		-- a typed table's columns change with its type (ALTER TYPE ... CASCADE), out of the guards' sight
		CASE WHEN (SELECT reloftype FROM pg_class WHERE oid = tbl) <> 0
			THEN 'it would be a typed table (ALTER TABLE ... OF), whose columns its type changes' END,
		-- hashed columns whose values went another way than ALTER TABLE
		-- (DROP TYPE ... CASCADE, say): nothing archived them
		(SELECT 'its hashed columns ' || string_agg(DISTINCT format('%s of type %s', quote_ident(c.source), c.typ), ', ')
		        || ' would be lost (only ALTER TABLE keeps the values of a column it drops or retypes)'
		   FROM hcledger.ledgers l JOIN hcledger.ledger_columns v ON v.ledger_id = l.ledger_id,
		        unnest(v.sources, v.column_types) AS c(source, typ)
		  WHERE l.relid = tbl AND l.dropped_at IS NULL AND c.source IS NOT NULL
		    AND NOT EXISTS (SELECT FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		                    JOIN pg_namespace tn ON tn.oid = t.typnamespace
		                    WHERE a.attrelid = tbl AND a.attname = c.source AND NOT a.attisdropped
		                      AND tn.nspname || '.' || t.typname = c.typ)
		 HAVING count(*) > 0),
		-- new rows must come after the sealed ones and in the current column set (the
		-- sequence read once: OFFSET 0 keeps the planner from reading it again for the
		-- message, which a concurrent setval, as in a parallel pg_restore, would change)
		(SELECT format('its row-number sequence would give row %s next, not after row %s (%s)', n.next_row, n.floor,
		               CASE WHEN n.floor = l.passed_row THEN 'the last one the sealer passed' ELSE 'the rows before its current column set' END)
		   FROM hcledger.ledgers l,
		        LATERAL (SELECT hcledger.next_row_number(tbl) AS next_row,
		                        greatest(l.passed_row, (SELECT max(v.from_row) - 1 FROM hcledger.ledger_columns v
		                                              WHERE v.ledger_id = l.ledger_id)) AS floor OFFSET 0) n
		  WHERE l.relid = tbl AND l.dropped_at IS NULL AND n.next_row <= n.floor)], NULL)
$$;

-- The number the ledger's row-number sequence gives next (NULL if it has none):
-- VOLATILE, as a sequence's state is not the snapshot's.
CREATE FUNCTION next_row_number(tbl regclass) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	seq regclass := pg_get_serial_sequence(tbl::text, 'hcl_row')::regclass;
	n bigint;
BEGIN
	IF seq IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE format('SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s', seq) INTO n;
	RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION next_row_number(regclass) FROM PUBLIC;

-- The columns of a ledger table, as a column set records them (but hcl_row):
-- by name in byte order, and their types.
CREATE FUNCTION table_columns(tbl regclass, OUT columns text[], OUT column_types text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT array_agg(a.attname::text ORDER BY a.attname::text COLLATE "C"),
	       array_agg(tn.nspname || '.' || t.typname ORDER BY a.attname::text COLLATE "C")
	FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
	WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'hcl_row'
$$;

-- After unlocked DDL changed a ledger's columns: the column set the table
-- now has holds from the next row number its sequence gives (the DDL holds
-- the table locked: no row in between).  A set that no row falls in yet is
-- replaced.
CREATE FUNCTION note_column_set(id integer, tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	now_set record;
	latest record;
	next_row bigint;
BEGIN
	SELECT * INTO now_set FROM hcledger.table_columns(tbl);
	SELECT * INTO latest FROM hcledger.ledger_columns v WHERE v.ledger_id = id ORDER BY v.from_row DESC LIMIT 1;
	IF latest.columns = now_set.columns AND latest.column_types = now_set.column_types
	   AND latest.sources = now_set.columns THEN
		RETURN;				-- (a renamed, dropped or retyped column's sets differ)
	END IF;
	IF now_set.columns IS NULL THEN
		RAISE EXCEPTION 'cannot alter ledger table %: it would have no column left to hash', tbl
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	PERFORM hcledger.refuse_unsupported_columns(tbl);
	-- after every row there is (the sequence may have been set back: the guard refuses that)
	EXECUTE format('SELECT greatest(hcledger.next_row_number(%L), max(hcl_row) + 1) FROM %s', tbl, tbl) INTO next_row;
	IF latest.from_row >= next_row THEN
		-- no row has its numbers yet: it is replaced
		DELETE FROM hcledger.ledger_columns v WHERE v.ledger_id = id AND v.from_row = latest.from_row;
		next_row := latest.from_row;
	END IF;
	-- a sealer holding an older snapshot (REPEATABLE READ) must fail on the ledger's row, not seal with old sets
	UPDATE hcledger.ledgers l SET table_shape = l.table_shape WHERE l.ledger_id = id;
	INSERT INTO hcledger.ledger_columns (ledger_id, from_row, columns, column_types, sources, event_id)
	VALUES (id, next_row, now_set.columns, now_set.column_types, now_set.columns,
	        (SELECT max(e.event_id) FROM hcledger.ledger_events e WHERE e.ledger_id = id
	          AND e.event = 'ddl_unlocked' AND e.xact = pg_current_xact_id()));
END
$$;
REVOKE EXECUTE ON FUNCTION note_column_set(integer, regclass) FROM PUBLIC;

-- As any DDL starts: each ledger's defects already there (a restore, say,
-- creates a ledger's index, check and triggers one command at a time).
-- The guard at the end refuses only what the command itself breaks, so one
-- damaged ledger never holds every other DDL in the database hostage.
-- Where they are kept, out of SQL's reach (src/guard.c): a setting could be
-- rewritten by a function the command itself runs.  A stack: commands nest.
CREATE FUNCTION ddl_defects_push(defects text) RETURNS void
	AS 'MODULE_PATHNAME', 'hcl_ddl_defects_push' LANGUAGE C VOLATILE;
CREATE FUNCTION ddl_defects_pop(pop boolean) RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_ddl_defects_pop' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ddl_defects_push(text), ddl_defects_pop(boolean) FROM PUBLIC;

CREATE FUNCTION ddl_before() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- each ledger's id alone ("7:"), then its defects ("7:<defect>")
	PERFORM hcledger.ddl_defects_push(
		coalesce((SELECT string_agg(x.note, E'\n')
		            FROM hcledger.ledgers l,
		                 LATERAL (SELECT l.ledger_id || ':' AS note
		                          UNION ALL
		                          SELECT l.ledger_id || ':' || d FROM unnest(hcledger.ledger_defects(l.relid)) d) x
		           WHERE l.dropped_at IS NULL), ''));
END
$$;

CREATE FUNCTION ddl_guard() RETURNS event_trigger
LANGUAGE plpgsql
-- it runs for everyone's DDL, also of roles with no grant on this schema
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	l record;
	shape text;
	unlocked boolean;
	problem text;
	-- the ledgers and their defects noted as this command started (taken
	-- off the stack at its end); NULL if nothing was noted
	noted text := hcledger.ddl_defects_pop(tg_event = 'ddl_command_end');
	before text[] := string_to_array(coalesce(noted, ''), E'\n');
BEGIN
	FOR l IN SELECT * FROM hcledger.ledgers WHERE dropped_at IS NULL LOOP
		unlocked := EXISTS (SELECT 1 FROM hcledger.ledger_events e WHERE e.ledger_id = l.ledger_id
		                    AND e.event = 'ddl_unlocked' AND e.xact = pg_current_xact_id());
		shape := hcledger.table_shape(l.relid);
		problem := NULL;
		IF shape IS NULL THEN
			problem := 'the table would be dropped';
		ELSIF shape <> l.table_shape AND NOT unlocked THEN
			problem := format('its name or columns would change, from %s to %s', l.table_shape, shape);
		ELSIF noted IS NULL OR (l.ledger_id || ':') = ANY (before) THEN
			-- the first defect this command brought (those there before it are
			-- not its doing; nor are those of a ledger another session committed
			-- meanwhile, as a parallel pg_restore does: not seen as it started)
			SELECT d INTO problem FROM unnest(hcledger.ledger_defects(l.relid)) d
			 WHERE NOT (l.ledger_id || ':' || d) = ANY (before) LIMIT 1;
		END IF;
		IF problem IS NOT NULL THEN
			RAISE EXCEPTION 'cannot alter ledger table %: %', hcledger.origin_table(l.origin), problem
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = CASE WHEN unlocked AND shape IS NOT NULL THEN
				             'The change is unlocked, but what it would do cannot be kept: see docs/operations.md, "Schema changes".'
				             WHEN shape IS NULL OR shape <> l.table_shape THEN
				             'An administrator can allow it for one transaction with hcledger.unlock_ddl(table, reason); it is recorded. To retire a ledger, use hcledger.drop_ledger(table, reason).'
				             ELSE 'Use hcledger.drop_ledger(table, reason) to stop the table being a ledger.' END;
		END IF;
		IF shape <> l.table_shape THEN
			UPDATE hcledger.ledgers SET table_shape = shape WHERE ledger_id = l.ledger_id;
		END IF;
		IF unlocked THEN
			PERFORM hcledger.note_column_set(l.ledger_id, l.relid);
		END IF;
	END LOOP;
	-- a member's subscription carries the consortium's four tables, never more
	-- (ALTER SUBSCRIPTION ... REFRESH PUBLICATION would widen it to whatever the member publishes)
	IF tg_tag = 'ALTER SUBSCRIPTION' THEN	-- (join_member checks the one it creates)
		FOR l IN SELECT m.authority, m.subscription, hcledger.subscription_extra_tables(m.subscription) AS extra
		           FROM hcledger.members m WHERE m.left_at IS NULL LOOP
			IF l.extra IS NOT NULL THEN
				RAISE EXCEPTION 'cannot widen the subscription % of member "%" to %', l.subscription, l.authority, l.extra
					USING ERRCODE = 'object_not_in_prerequisite_state',
					      DETAIL = 'A member may send hcledger.codes, checkpoints, cosignatures and keys only.',
					      HINT = 'Ask the member to remove the other tables from its publications, then refresh again.';
			END IF;
		END LOOP;
	END IF;
END
$$;
-- A table rewrite (ALTER COLUMN ... TYPE ... USING, SET UNLOGGED ...) may
-- change every row while keeping the shape: refused unless unlocked.
CREATE FUNCTION rewrite_guard() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE l record;
BEGIN
	SELECT * INTO l FROM hcledger.ledgers WHERE relid = pg_event_trigger_table_rewrite_oid() AND dropped_at IS NULL;
	IF FOUND AND NOT EXISTS (SELECT 1 FROM hcledger.ledger_events e WHERE e.ledger_id = l.ledger_id
	                         AND e.event = 'ddl_unlocked' AND e.xact = pg_current_xact_id()) THEN
		RAISE EXCEPTION 'cannot alter ledger table %: the command would rewrite its rows', hcledger.origin_table(l.origin)
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'An administrator can allow it for one transaction with hcledger.unlock_ddl(table, reason); it is recorded.';
	END IF;
END
$$;
-- Commands that commit part of their work before they end are refused
-- before they start (src/guard.c).
-- Not SECURITY DEFINER: the index names resolve as the command resolves
-- them, with its author's search_path; the C code reads the catalog with a
-- pinned path.
CREATE FUNCTION ddl_start_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'hcl_ddl_start_guard' LANGUAGE C;
CREATE EVENT TRIGGER hcledger_ddl_start_guard ON ddl_command_start WHEN TAG IN ('DROP INDEX', 'ALTER TABLE')
	EXECUTE FUNCTION ddl_start_guard();
ALTER EVENT TRIGGER hcledger_ddl_start_guard ENABLE ALWAYS;
CREATE EVENT TRIGGER hcledger_ddl_before ON ddl_command_start EXECUTE FUNCTION ddl_before();
ALTER EVENT TRIGGER hcledger_ddl_before ENABLE ALWAYS;
CREATE EVENT TRIGGER hcledger_rewrite_guard ON table_rewrite EXECUTE FUNCTION rewrite_guard();
ALTER EVENT TRIGGER hcledger_rewrite_guard ENABLE ALWAYS;
CREATE EVENT TRIGGER hcledger_ddl_guard ON ddl_command_end EXECUTE FUNCTION ddl_guard();
CREATE EVENT TRIGGER hcledger_drop_guard ON sql_drop EXECUTE FUNCTION ddl_guard();
ALTER EVENT TRIGGER hcledger_ddl_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER hcledger_drop_guard ENABLE ALWAYS;

CREATE FUNCTION ledger_unsealed_rows(ledger regclass) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_ledger_unsealed_rows' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ledger_unsealed_rows(regclass) IS 'committed rows not yet sealed, as the caller''s snapshot sees them (NULL without SELECT on the table, or while another session holds it locked); runs no user code';

