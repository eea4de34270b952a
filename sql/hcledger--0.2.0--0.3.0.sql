-- hcledger 0.2.0 -> 0.3.0 (ALTER EXTENSION hcledger UPDATE).
-- What changed is listed in CHANGELOG.md; the policy is docs/upgrades.md.
-- test/t/006_upgrade.pl checks that a database updated by this script has
-- exactly the objects, definitions and privileges of a fresh 0.3.0 install,
-- and that every ledger filled under earlier versions still verifies.
\echo Use "ALTER EXTENSION hcledger UPDATE TO '0.3.0'" to load this file. \quit

-- sealing out of row-number order (docs/format.md, "Sealing order"): a log
-- sealed so far is one run, every row up to its last passed
ALTER TABLE ledgers ADD COLUMN passed_row bigint NOT NULL DEFAULT 0,
	ADD COLUMN pending bigint[] NOT NULL DEFAULT '{}';
UPDATE ledgers SET passed_row = last_row;
COMMENT ON COLUMN ledgers.passed_row IS 'the sealer has passed every row number up to this one: each is in the log, settled, or pending';
COMMENT ON COLUMN ledgers.pending IS 'row numbers passed but not settled (docs/format.md, "Sealing order"): (kind, first, last, full XID) per run; kind 0 rows of an open transaction (its top-level XID), 1 a gap (the next XID when it was seen)';
CREATE TABLE log_runs (
	ledger_id		integer NOT NULL,	-- a ledgers row (no foreign key: pg_restore -j loads them in any order)
	start_position	bigint NOT NULL CHECK (start_position >= 0),
	first_row		bigint NOT NULL,
	last_row		bigint,
	PRIMARY KEY (ledger_id, start_position)
);
COMMENT ON TABLE log_runs IS 'the stretches of each ledger''s log whose row numbers increase, once a late row broke the order (docs/format.md, "Sealing order"); none for a log in row-number order';
COMMENT ON COLUMN log_runs.last_row IS 'the run''s last row number; NULL for the log''s last run, still growing';
-- proofs look up the runs whose row numbers span a row
CREATE INDEX log_runs_rows ON log_runs USING gist (int8range(first_row, last_row, '[]'));
SELECT pg_catalog.pg_extension_config_dump('log_runs', '');
REVOKE ALL ON log_runs FROM PUBLIC;
GRANT SELECT ON log_runs TO PUBLIC;

--
-- Schema evolution (docs/format.md, "Column sets"): which columns a ledger
-- hashes changes at a recorded row number; a dropped or retyped column's
-- values are archived.  First, as the DDL guard below reads these tables.
--
-- Schema evolution (docs/format.md, "Column sets").
CREATE TABLE ledger_columns (
	ledger_id		integer NOT NULL,	-- a ledgers row (no foreign key: pg_restore -j loads them in any order)
	from_row		bigint NOT NULL,
	columns			text[] NOT NULL,
	column_types	text[] NOT NULL,
	sources			text[] NOT NULL,
	event_id		bigint,				-- the ledger_events 'ddl_unlocked' row that allowed the change
	PRIMARY KEY (ledger_id, from_row),
	CHECK (cardinality(column_types) = cardinality(columns) AND cardinality(sources) = cardinality(columns))
);
COMMENT ON TABLE ledger_columns IS 'the columns each ledger hashes, from a row number on: a row is encoded with the last set whose from_row is at most its number';
COMMENT ON COLUMN ledger_columns.sources IS 'for each hashed column, the table column holding its values by today''s name; NULL: dropped (or its type changed), its values in dropped_values';

CREATE TABLE dropped_values (
	ledger_id		integer NOT NULL,
	hcl_row			bigint NOT NULL,
	name			text NOT NULL,
	value			bytea,
	PRIMARY KEY (ledger_id, hcl_row, name)
);
COMMENT ON TABLE dropped_values IS 'the values a dropped (or retyped) hashed column held, as its rows'' leaves encode them: kept so those rows still verify';
COMMENT ON COLUMN dropped_values.value IS 'the value''s binary send form (docs/format.md); NULL for a NULL value';
SELECT pg_catalog.pg_extension_config_dump('ledger_columns', '');
SELECT pg_catalog.pg_extension_config_dump('dropped_values', '');
REVOKE ALL ON ledger_columns, dropped_values FROM PUBLIC;
GRANT SELECT ON ledger_columns TO PUBLIC;
-- every ledger so far hashes the columns it was created with, from its first row
INSERT INTO ledger_columns (ledger_id, from_row, columns, column_types, sources)
SELECT ledger_id, 1, columns, column_types, columns FROM ledgers;
CREATE OR REPLACE FUNCTION ledger_event(ledger regclass, event text, reason text) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE id integer;
BEGIN
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a reason is required for %', replace(event, '_', ' ')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'The reason is kept in hcledger.ledger_events.';
	END IF;
	IF event = 'ddl_unlocked' AND ledger = 'hcledger.codes'::regclass THEN
		RAISE EXCEPTION 'the health-code ledger hcledger.codes is defined by the extension' USING ERRCODE = 'feature_not_supported',
			DETAIL = 'Every member of a consortium encodes codes rows alike; only an extension update changes them.';
	END IF;
	SELECT l.ledger_id INTO id FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table "%" is not a ledger', ledger USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Make it one with hcledger.create_ledger(table); hcledger.status lists the ledgers.';
	END IF;
	INSERT INTO hcledger.ledger_events (ledger_id, event, reason) VALUES (id, event, reason);
	RETURN id;
END
$$;

-- A column of a type a ledger cannot hash is an error (0A000).
CREATE OR REPLACE FUNCTION refuse_unsupported_columns(tbl regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE bad record;
BEGIN
	SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ, hcledger.ledger_type_problem(a.atttypid) AS why INTO bad
	FROM pg_attribute a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
	  AND hcledger.ledger_type_problem(a.atttypid) IS NOT NULL
	ORDER BY a.attnum LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'column "%" of type % cannot be part of a ledger', bad.attname, bad.typ
			USING ERRCODE = 'feature_not_supported', DETAIL = 'For a ledger, ' || bad.why || '.';
	END IF;
END
$$;

-- The number the ledger's row-number sequence gives next (NULL if it has none).
CREATE OR REPLACE FUNCTION next_row_number(tbl regclass) RETURNS bigint
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
CREATE OR REPLACE FUNCTION table_columns(tbl regclass, OUT columns text[], OUT column_types text[])
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
CREATE OR REPLACE FUNCTION note_column_set(id integer, tbl regclass) RETURNS void
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

--
-- No role's code runs with another's rights (docs/threat-model.md, "Whose
-- code runs").
--
-- create_ledger numbers existing rows as the table's owner, in a
-- security-restricted operation; the status view counts rows without
-- running the owner's policies.
CREATE OR REPLACE FUNCTION run_as_owner(tbl regclass, statement text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_run_as_owner' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION run_as_owner(regclass, text) FROM PUBLIC;

-- Row numbers only from the sequence: every active ledger gets the check.
CREATE OR REPLACE FUNCTION row_drawn(row_number bigint, tbl oid) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_row_drawn' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION row_drawn(bigint, oid) IS 'a ledger''s check that a new row''s number was drawn from its sequence (errors if not)';
DO $$
DECLARE l record;
BEGIN
	FOR l IN SELECT relid FROM hcledger.ledgers WHERE dropped_at IS NULL AND relid <> 'hcledger.codes'::regclass LOOP
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT hcl_row_drawn CHECK (hcledger.row_drawn(hcl_row, tableoid)) NOT VALID', l.relid);
	END LOOP;
END $$;
CREATE OR REPLACE FUNCTION ledger_type_problem(typ oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE
		WHEN t.typsend = 0 THEN 'it has no binary send function'
		WHEN t.typtype = 'c' THEN 'composite values carry type OIDs in their binary form'
		WHEN t.typtype = 'p' THEN 'it is a pseudo-type'
		WHEN t.oid IN ('oid'::regtype, 'regclass'::regtype, 'regtype'::regtype, 'regproc'::regtype,
		               'regprocedure'::regtype, 'regoper'::regtype, 'regoperator'::regtype,
		               'regconfig'::regtype, 'regdictionary'::regtype, 'regnamespace'::regtype,
		               'regrole'::regtype, 'regcollation'::regtype, 'xid'::regtype, 'cid'::regtype,
		               'tid'::regtype, 'xid8'::regtype)
			THEN 'its values are object or transaction identifiers local to one database'
		WHEN t.oid IN ('point'::regtype, 'line'::regtype, 'lseg'::regtype, 'box'::regtype, 'path'::regtype,
		               'polygon'::regtype, 'circle'::regtype)
			THEN 'a NaN among its coordinates would lose its sign in a dump and restore (their text form keeps none), changing the row''s leaf'
		WHEN t.typelem <> 0 AND t.typsubscript = 'array_subscript_handler'::regproc
		     AND (t.typelem >= 16384 OR hcledger.ledger_type_problem(t.typelem) IS NOT NULL)
			THEN 'arrays carry their element type''s OID, which is not the same in every database'
		WHEN t.typtype = 'd' THEN hcledger.ledger_type_problem(t.typbasetype)
	END
	FROM pg_type t WHERE t.oid = typ
$$;
CREATE OR REPLACE FUNCTION prepare_ledger_table(ledger regclass, row_check boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel record;
	cols text[];
	order_by text;
	n bigint;
	numbered boolean;
	q text := ledger::text;
BEGIN
	SELECT c.relkind, c.relpersistence, c.relowner, n.nspname, c.relname INTO rel
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ledger;
	IF rel.relkind <> 'r' THEN
		RAISE EXCEPTION 'cannot make "%" a ledger', q USING ERRCODE = 'wrong_object_type',
			DETAIL = 'Only ordinary tables can be ledgers; this is ' || CASE rel.relkind
				WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view' WHEN 'p' THEN 'a partitioned table'
				WHEN 'f' THEN 'a foreign table' WHEN 'S' THEN 'a sequence' WHEN 'i' THEN 'an index'
				ELSE 'not a table' END || '.';
	END IF;
	IF rel.relpersistence <> 'p' THEN
		RAISE EXCEPTION 'cannot make "%" a ledger', q USING ERRCODE = 'wrong_object_type',
			DETAIL = 'Temporary and unlogged tables lose their rows; a ledger must keep them.';
	END IF;
	IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', q USING ERRCODE = 'insufficient_privilege',
			HINT = 'Run create_ledger as the table''s owner (or a superuser).';
	END IF;
	IF EXISTS (SELECT 1 FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL) THEN
		RAISE EXCEPTION 'table "%" is already a ledger', q USING ERRCODE = 'duplicate_object',
			HINT = 'The view hcledger.status shows its state; nothing needs doing.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ledger AND attname = 'hcl_row' AND NOT attisdropped) THEN
		RAISE EXCEPTION 'table "%" already has a column named hcl_row', q USING ERRCODE = 'duplicate_column',
			HINT = 'hcledger adds that column itself; rename yours first.';
	END IF;
	PERFORM hcledger.refuse_unsupported_columns(ledger);
	SELECT array_agg(a.attname::text ORDER BY a.attname::text COLLATE "C") INTO cols
	FROM pg_attribute a WHERE a.attrelid = ledger AND a.attnum > 0 AND NOT a.attisdropped;
	IF cols IS NULL THEN
		RAISE EXCEPTION 'table "%" has no columns to make a ledger of', q USING ERRCODE = 'invalid_table_definition',
			HINT = 'Add the columns the ledger records, then call create_ledger.';
	END IF;

	-- Existing rows get row numbers in primary key order (physical order without one).
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) INTO order_by
	FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
	WHERE i.indrelid = ledger AND i.indisprimary AND a.attrelid = ledger AND a.attnum = k.attnum;
	EXECUTE format('ALTER TABLE %s ADD COLUMN hcl_row bigint', q);
	-- The update runs the table's own triggers, constraints and index
	-- expressions: as its owner, in a security-restricted operation, never
	-- with the caller's rights.  What they did to the numbers is checked.
	n := hcledger.run_as_owner(ledger,
		format('UPDATE %1$s t SET hcl_row = o.n FROM (SELECT ctid, row_number() OVER (ORDER BY %2$s) AS n FROM %1$s) o WHERE t.ctid = o.ctid',
		       q, coalesce(order_by, 'ctid')));
	EXECUTE format('SELECT count(*) FILTER (WHERE hcl_row IS NULL OR hcl_row NOT BETWEEN 1 AND %2$s) = 0 AND count(*) = %2$s FROM %1$s', q, n)
		INTO numbered;
	IF NOT numbered THEN
		RAISE EXCEPTION 'cannot make "%" a ledger: its rows could not be numbered 1 to %', q, n
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'A trigger, rule or row-level security policy of the table changed or skipped the numbering update.',
			      HINT = 'Disable the table''s update triggers and rules (or its FORCE ROW LEVEL SECURITY) while it is made a ledger.';
	END IF;
	EXECUTE format('ALTER TABLE %s ALTER COLUMN hcl_row SET NOT NULL, ALTER COLUMN hcl_row ADD GENERATED ALWAYS AS IDENTITY (START WITH %s)',
	               q, n + 1);
	EXECUTE format('CREATE UNIQUE INDEX ON %s (hcl_row)', q);
	-- Row numbers come from the sequence alone (OVERRIDING SYSTEM VALUE is refused);
	-- NOT VALID: the existing rows' numbers were not drawn by this session.
	IF row_check THEN
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT hcl_row_drawn CHECK (hcledger.row_drawn(hcl_row, tableoid)) NOT VALID', q);
	END IF;
	EXECUTE format('CREATE TRIGGER hcl_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION hcledger.refuse_change()', q);
	EXECUTE format('CREATE TRIGGER hcl_assign_xid BEFORE INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION hcledger.assign_xid()', q);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER hcl_append_only, ENABLE ALWAYS TRIGGER hcl_assign_xid', q);
END
$$;
-- A schema or table name's bytes for an origin or a note key name: its
-- UTF-8; in a SQL_ASCII database, whose names are bytes of no declared
-- encoding, the bytes as stored (docs/format.md, "Origins").
CREATE FUNCTION name_bytes(name text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN current_setting('server_encoding') = 'SQL_ASCII' THEN convert_to(name, 'SQL_ASCII')
	            ELSE convert_to(name, 'UTF8') END
$$;
COMMENT ON FUNCTION name_bytes(text) IS 'the UTF-8 bytes of a name (in a SQL_ASCII database, its bytes as stored)';

-- The schema and table an origin names, as a qualified name (for messages).
CREATE FUNCTION origin_table(origin text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT string_agg(quote_ident(convert_from(x.bytes, CASE WHEN current_setting('server_encoding') = 'SQL_ASCII'
	                                                        THEN 'SQL_ASCII' ELSE 'UTF8' END)), '.' ORDER BY x.part)
	  FROM (SELECT s.part, string_agg(CASE WHEN r.m[1] IS NOT NULL THEN decode(r.m[1], 'hex') ELSE convert_to(r.m[2], 'UTF8') END,
	                                  ''::bytea ORDER BY r.k) AS bytes
	          FROM unnest(string_to_array(split_part(origin, '/', 2), '.')) WITH ORDINALITY AS s(txt, part),
	               regexp_matches(s.txt, '%([0-9A-F]{2})|([^%]+|%)', 'g') WITH ORDINALITY AS r(m, k)
	         GROUP BY s.part) x
$$;
COMMENT ON FUNCTION origin_table(text) IS 'the schema-qualified table name an origin was made from (docs/format.md, "Origins")';

-- A ledger's checkpoint origin (docs/format.md, "Origins"): its schema and
-- table name at creation, each byte of their UTF-8 outside [A-Za-z0-9_-]
-- written %XX, so that every legal name gives a valid C2SP key name (no
-- space, no plus, nothing but printable ASCII) and two names never one.
CREATE FUNCTION ledger_origin(schema_name text, table_name text, ledger_uuid bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'hcledger/' || string_agg(
	         CASE WHEN part = 2 THEN '.'
	              WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122 OR b IN (45, 95) THEN chr(b)
	              ELSE '%' || upper(lpad(to_hex(b), 2, '0')) END, '' ORDER BY part, i)
	       || '/' || encode(ledger_uuid, 'hex')
	  FROM (SELECT p.part, g.i, get_byte(p.bytes, g.i) AS b
	          FROM (VALUES (1, hcledger.name_bytes(schema_name)), (2, '\x2e'::bytea), (3, hcledger.name_bytes(table_name))) p(part, bytes),
	               generate_series(0, octet_length(p.bytes) - 1) g(i)) x
$$;
COMMENT ON FUNCTION ledger_origin(text, text, bytea) IS 'the checkpoint origin of a ledger of this schema, table name and uuid: hcledger/<schema>.<table>/<uuid hex>, names percent-encoded (docs/format.md)';

CREATE OR REPLACE FUNCTION register_ledger(ledger regclass) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel record;
	cols text[];
	types text[];
	uuid bytea := decode(md5(gen_random_uuid()::text || clock_timestamp()::text), 'hex');
	id integer;
BEGIN
	SELECT n.nspname, c.relname INTO rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ledger;
	SELECT c.columns, c.column_types INTO cols, types FROM hcledger.table_columns(ledger) c;
	INSERT INTO hcledger.ledgers (relid, ledger_uuid, origin, columns, column_types, table_shape)
	VALUES (ledger, uuid, hcledger.ledger_origin(rel.nspname, rel.relname, uuid), cols, types,
	        hcledger.table_shape(ledger))
	ON CONFLICT (relid) WHERE dropped_at IS NULL DO NOTHING
	RETURNING ledger_id INTO id;
	IF id IS NULL THEN
		SELECT l.ledger_id INTO id FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL;
	ELSE
		INSERT INTO hcledger.ledger_events (ledger_id, event) VALUES (id, 'created');
		INSERT INTO hcledger.ledger_columns (ledger_id, from_row, columns, column_types, sources)
		VALUES (id, 1, cols, types, cols);
	END IF;
	RETURN id;
END
$$;
CREATE OR REPLACE FUNCTION create_ledger(ledger regclass) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM hcledger.prepare_ledger_table(ledger);
	RETURN hcledger.register_ledger(ledger);
END
$$;
REVOKE EXECUTE ON FUNCTION prepare_ledger_table(regclass, boolean), register_ledger(regclass) FROM PUBLIC;
CREATE OR REPLACE FUNCTION drop_ledger(ledger regclass, reason text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE id integer := hcledger.ledger_event(ledger, 'dropped', reason);
BEGIN
	UPDATE hcledger.ledgers l SET dropped_at = now() WHERE l.ledger_id = id;
	EXECUTE format('DROP TRIGGER hcl_append_only ON %s', ledger);
	EXECUTE format('DROP TRIGGER hcl_assign_xid ON %s', ledger);
	EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS hcl_row_drawn', ledger);
END
$$;

-- The DDL guard holds ledgers to the new check and members' subscriptions to the four tables;
-- DROP INDEX CONCURRENTLY of a row-number index is refused before it starts.
CREATE OR REPLACE FUNCTION ledger_defects(tbl regclass) RETURNS text[]
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
CREATE OR REPLACE FUNCTION ddl_defects_push(defects text) RETURNS void
	AS 'MODULE_PATHNAME', 'hcl_ddl_defects_push' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION ddl_defects_pop(pop boolean) RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_ddl_defects_pop' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION ddl_defects_push(text), ddl_defects_pop(boolean) FROM PUBLIC;
CREATE OR REPLACE FUNCTION ddl_before() RETURNS event_trigger
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
CREATE OR REPLACE FUNCTION ddl_guard() RETURNS event_trigger
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
CREATE EVENT TRIGGER hcledger_ddl_before ON ddl_command_start EXECUTE FUNCTION ddl_before();
ALTER EVENT TRIGGER hcledger_ddl_before ENABLE ALWAYS;
CREATE OR REPLACE FUNCTION ddl_start_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'hcl_ddl_start_guard' LANGUAGE C;
CREATE EVENT TRIGGER hcledger_ddl_start_guard ON ddl_command_start WHEN TAG IN ('DROP INDEX', 'ALTER TABLE')
	EXECUTE FUNCTION ddl_start_guard();
ALTER EVENT TRIGGER hcledger_ddl_start_guard ENABLE ALWAYS;

-- The status view.
CREATE OR REPLACE FUNCTION ledger_unsealed_rows(ledger regclass) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_ledger_unsealed_rows' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ledger_unsealed_rows(regclass) IS 'committed rows not yet sealed, as the caller''s snapshot sees them (NULL without SELECT on the table, or while another session holds it locked); runs no user code';
-- its columns change (what holds a ledger back): the view and function are made again
DROP VIEW status;
DROP FUNCTION ledger_status();
-- What holds a ledger's sealing back, and who: a session holding the table
-- or its row-number index locked against the sealer; or the open
-- transaction that inserted the oldest rows still pending (blocked_by):
-- they wait for it alone; or HCL_MAX_PENDING (1024) runs and gaps
-- pending, when the sealer goes no further (the oldest transaction keeping
-- them pending is named).  Read as the extension's owner (other sessions' transactions are
-- hidden from most roles): the session's pid, role and database, since
-- when, and what to do, for readers of the status view who are
-- superusers, hold pg_read_all_stats or hcledger_admin or
-- hcledger_auditor; others see why but not who.
CREATE OR REPLACE FUNCTION ledger_holder(ledger regclass, blocked_by bigint, pending_runs integer,
	OUT pid integer, OUT role name, OUT database name, OUT since timestamptz, OUT because text, OUT what_to_do text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a record;
	got boolean;
	may_see boolean := pg_has_role(session_user, 'pg_read_all_stats', 'USAGE')
	                   OR pg_has_role(session_user, 'hcledger_admin', 'USAGE')
	                   OR pg_has_role(session_user, 'hcledger_auditor', 'USAGE');
BEGIN
	-- a lock the sealer's round would skip the ledger for: the table's, or its row-number index's
	SELECT s.pid, s.usename, s.datname, s.xact_start, k.mode INTO a
	  FROM pg_locks k JOIN pg_stat_activity s ON s.pid = k.pid
	 WHERE k.locktype = 'relation' AND k.granted AND k.pid <> pg_backend_pid()
	   AND k.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
	   AND k.mode = 'AccessExclusiveLock'
	   AND (k.relation = ledger
	        OR k.relation IN (SELECT i.indexrelid FROM pg_index i JOIN pg_attribute t ON t.attrelid = i.indrelid
	                           WHERE i.indrelid = ledger AND t.attname = 'hcl_row' AND i.indisunique
	                             AND i.indnatts = 1 AND i.indkey[0] = t.attnum))
	 ORDER BY s.xact_start LIMIT 1;
	got := FOUND;
	IF got THEN
		because := format('a session holds the table or its row-number index locked (%s): the sealer skips the ledger each round', a.mode);
		what_to_do := 'End that session''s transaction (an ALTER TABLE, VACUUM FULL, CLUSTER or REINDEX left open); SELECT pg_terminate_backend(pid) ends it.';
	ELSIF pending_runs >= 1024 THEN
		-- the sealer goes no further: the oldest transaction that keeps runs pending, an
		-- open one with rows there or one holding a lock on the table that gaps wait for
		SELECT x.pid, x.usename, x.datname, x.xact_start, x.xid AS backend_xid INTO a
		  FROM (SELECT s.pid, s.usename, s.datname, s.xact_start, s.backend_xid AS xid
		          FROM pg_stat_activity s
		         WHERE s.backend_xid IS NOT NULL AND s.pid <> pg_backend_pid()
		           AND (s.backend_xid = blocked_by::text::xid
		                OR EXISTS (SELECT FROM pg_locks k WHERE k.pid = s.pid AND k.locktype = 'relation'
		                            AND k.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
		                            AND k.relation = ledger AND k.granted
		                            AND k.mode IN ('RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock',
		                                           'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')))
		        UNION ALL
		        SELECT NULL, p.owner, p.database, p.prepared, p.transaction
		          FROM pg_prepared_xacts p WHERE p.transaction = blocked_by::text::xid) x
		 ORDER BY age(x.xid) DESC LIMIT 1;
		got := FOUND;
		because := format('%s runs of rows and gaps are pending%s: no later row is sealed until some are settled',
		                  pending_runs, CASE WHEN got THEN format(', the oldest kept by transaction %s, which has not ended', a.backend_xid) ELSE '' END);
		what_to_do := 'End that transaction (SELECT pg_terminate_backend(pid) ends it): its rows are sealed, and the gaps passed over.';
	ELSIF blocked_by IS NOT NULL THEN
		-- the transaction holds a lock on its XID while it runs
		SELECT s.pid, s.usename, s.datname, s.xact_start INTO a
		  FROM pg_locks k JOIN pg_stat_activity s ON s.pid = k.pid
		 WHERE k.locktype = 'transactionid' AND k.transactionid = blocked_by::text::xid AND k.granted;
		got := FOUND;
		IF NOT got THEN
			SELECT NULL::integer AS pid, p.owner AS usename, p.database AS datname, p.prepared AS xact_start INTO a
			  FROM pg_prepared_xacts p WHERE p.transaction = blocked_by::text::xid;
			got := FOUND;
		END IF;
		IF NOT got THEN
			RETURN;		-- it has ended: the next round seals its rows
		END IF;
		because := format('transaction %s inserted rows and has not ended: they are sealed once it commits (later rows are sealed meanwhile)', blocked_by);
		what_to_do := 'Have that session commit or roll back (SELECT pg_terminate_backend(pid) ends it; a prepared transaction: COMMIT PREPARED or ROLLBACK PREPARED).';
	ELSE
		RETURN;
	END IF;
	IF got AND may_see THEN
		pid := a.pid;
		role := a.usename;
		database := a.datname;
		since := a.xact_start;
	END IF;
END
$$;

CREATE FUNCTION ledger_status()
RETURNS TABLE (ledger regclass, committed_rows bigint, sealed_rows bigint, pending_rows bigint,
               last_checkpoint_size bigint, last_checkpoint_root hash256, last_checkpoint_at timestamptz,
               blocked_by xid, waiting_on_row bigint,
               held_by_pid integer, held_by_role name, held_by_database name, held_since timestamptz,
               held_because text, what_to_do text, lag_seconds double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	l record;
	h record;
BEGIN
	FOR l IN SELECT * FROM hcledger.ledgers WHERE dropped_at IS NULL ORDER BY ledger_id LOOP
		-- counted without running anyone's code, for those who may read the table
		pending_rows := hcledger.ledger_unsealed_rows(l.relid);
		ledger := l.relid;
		committed_rows := l.tree_size + pending_rows;
		sealed_rows := l.tree_size;
		SELECT c.tree_size, c.root, c.sealed_at INTO last_checkpoint_size, last_checkpoint_root, last_checkpoint_at
		FROM hcledger.checkpoints c WHERE c.ledger_id = l.ledger_id ORDER BY c.tree_size DESC LIMIT 1;
		blocked_by := l.blocked_by::text::xid;
		waiting_on_row := l.pending[2];		-- the first pending run's first row
		h := hcledger.ledger_holder(l.relid, l.blocked_by, coalesce(cardinality(l.pending), 0) / 4);
		held_by_pid := h.pid;
		held_by_role := h.role;
		held_by_database := h.database;
		held_since := h.since;
		held_because := h.because;
		what_to_do := h.what_to_do;
		-- while something holds pending rows back: since the sealer last made
		-- progress on the ledger or first found it held (it writes the catalog
		-- row only then); otherwise the next round seals them
		lag_seconds := CASE WHEN pending_rows = 0 OR h.because IS NULL THEN 0
		                    ELSE extract(epoch FROM clock_timestamp() - coalesce(l.last_sealed_at, l.created_at)) END;
		RETURN NEXT;
	END LOOP;
END
$$;
CREATE VIEW status AS SELECT * FROM ledger_status();
GRANT SELECT ON status TO PUBLIC;
COMMENT ON VIEW status IS 'per ledger: committed, sealed and pending rows, the last checkpoint, what holds the sealer up and who (pid, role, database, since when, what to do), and how long rows have waited';

-- Dump and restore: the codes ledger is registered at first use (a restore
-- brings back its registration), and the sequences of the configuration
-- tables are dumped with them.  (hcledger.codes is registered already here.)
-- no foreign keys between configuration tables: a parallel restore (pg_restore -j)
-- loads their rows in any order
ALTER TABLE tiles DROP CONSTRAINT tiles_ledger_id_fkey;
ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_ledger_id_fkey;
ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_ledger_id_fkey;
ALTER TABLE members DROP CONSTRAINT members_authority_fkey;
ALTER TABLE ledgers ADD COLUMN nan_canonical boolean NOT NULL DEFAULT false;
ALTER TABLE ledgers ALTER COLUMN nan_canonical SET DEFAULT true;
COMMENT ON COLUMN ledgers.nan_canonical IS 'float NaNs are encoded as the canonical NaN (docs/format.md): ledgers made from 0.3.0 on';
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.codes', 'hcl_row')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.ledgers', 'ledger_id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.ledger_events', 'event_id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.member_events', 'event_id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.peer_checkpoints', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.refusals', 'refusal_id')::regclass, '');

-- Never two histories: the signing record (src/signed.c), its view, and the way out.
CREATE OR REPLACE FUNCTION signed_record(origin text, OUT tree_size bigint, OUT root hash256)
	AS 'MODULE_PATHNAME', 'hcl_signed_record_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION signed_record(text) IS 'the last checkpoint of a log this node signed, from its signing record (NULL if none)';
CREATE OR REPLACE FUNCTION ledger_signing_state()
RETURNS TABLE (ledger regclass, origin text, log_size bigint, signed_size bigint, signed_root hash256, state text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE l record; r record;
BEGIN
	FOR l IN SELECT x.relid, x.origin, x.tree_size, x.ledger_id FROM hcledger.ledgers x WHERE x.dropped_at IS NULL ORDER BY x.ledger_id LOOP
		ledger := l.relid; origin := l.origin; log_size := l.tree_size;
		r := hcledger.signed_record(l.origin);
		signed_size := r.tree_size; signed_root := r.root;
		state := CASE
			WHEN r.tree_size IS NULL THEN 'nothing signed'
			WHEN l.tree_size < r.tree_size THEN 'behind: the log is shorter than what was signed; nothing more is signed'
			WHEN EXISTS (SELECT FROM hcledger.checkpoints c WHERE c.ledger_id = l.ledger_id AND c.tree_size = r.tree_size
			             AND c.root OPERATOR(hcledger.<>) r.root)
				THEN 'forked: the log''s checkpoint at the signed size has another root; nothing more is signed'
			ELSE 'continues' END;
		RETURN NEXT;
	END LOOP;
END $$;
CREATE VIEW signing_state AS SELECT * FROM ledger_signing_state();
GRANT SELECT ON signing_state TO PUBLIC;
COMMENT ON VIEW signing_state IS 'per ledger: the last checkpoint the node signed (from the record outside the data directory) and whether the log continues it';
CREATE OR REPLACE FUNCTION restart_log(ledger regclass, reason text) RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id integer := hcledger.ledger_event(ledger, 'dropped', 'log restarted: ' || reason);
	new_id integer;
BEGIN
	UPDATE hcledger.ledgers l SET dropped_at = now() WHERE l.ledger_id = id;
	new_id := hcledger.register_ledger(ledger);
	-- the new log hashes each row as the old one did: its column sets and
	-- the archived values of dropped columns go on
	DELETE FROM hcledger.ledger_columns v WHERE v.ledger_id = new_id;
	INSERT INTO hcledger.ledger_columns (ledger_id, from_row, columns, column_types, sources, event_id)
	SELECT new_id, v.from_row, v.columns, v.column_types, v.sources, v.event_id
	  FROM hcledger.ledger_columns v WHERE v.ledger_id = id;
	INSERT INTO hcledger.dropped_values (ledger_id, hcl_row, name, value)
	SELECT new_id, d.hcl_row, d.name, d.value FROM hcledger.dropped_values d WHERE d.ledger_id = id;
	RETURN new_id;
END $$;
REVOKE EXECUTE ON FUNCTION restart_log(regclass, text) FROM PUBLIC;
COMMENT ON FUNCTION restart_log(regclass, text) IS 'end a ledger''s log (recorded, with the reason) and start a new one, with a new origin, over the table''s rows';
CREATE OR REPLACE FUNCTION codes_ledger() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE id integer := (SELECT l.ledger_id FROM hcledger.ledgers l
                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL);
BEGIN
	RETURN coalesce(id, hcledger.register_ledger('hcledger.codes'));
END $$;
REVOKE EXECUTE ON FUNCTION codes_ledger() FROM PUBLIC;
CREATE OR REPLACE FUNCTION publish(connection text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	ledger integer;
BEGIN
	IF current_setting('wal_level') <> 'logical' THEN
		RAISE EXCEPTION 'publishing needs wal_level = logical, not %', current_setting('wal_level')
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Set it in postgresql.conf and restart the server.';
	END IF;
	IF NOT EXISTS (SELECT FROM hcledger.keys k WHERE k.authority = me AND k.algorithm = 'ed25519'
	               AND k.public_key = hcledger.signing_public_key() AND k.revoked_at IS NULL
	               AND k.valid_from <= now() AND (k.valid_until IS NULL OR k.valid_until > now())) THEN
		RAISE EXCEPTION 'the key of hcledger.signing_key_file is not a registered, valid ed25519 key of authority "%"', me
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Peers check checkpoints and cosignatures against it: hcledger.add_key(authority, key_id, ''ed25519'', hcledger.signing_public_key()).';
	END IF;
	UPDATE hcledger.authorities a SET connection = publish.connection WHERE a.authority = me;
	ledger := hcledger.codes_ledger();
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname = 'hcledger_feed') THEN
		EXECUTE format('CREATE PUBLICATION hcledger_feed FOR TABLE hcledger.codes,'
		               ' hcledger.checkpoints WHERE (ledger_id = %s), hcledger.cosignatures WHERE (witness = %L)'
		               ' WITH (publish = ''insert'')', ledger, me);
		EXECUTE format('CREATE PUBLICATION hcledger_keys FOR TABLE hcledger.keys WHERE (authority = %L)'
		               ' WITH (publish = ''insert, update, delete'')', me);
		INSERT INTO hcledger.member_events (authority, event) VALUES (me, 'published');
	END IF;
	RETURN hcledger.member_card();
END $$;

-- Real time in verdicts and issuing; HCL3: codes (selective).
DROP FUNCTION issue_code(jsonb, text, interval, timestamptz);
CREATE FUNCTION issue_code(claims jsonb, colour text DEFAULT 'green', valid_for interval DEFAULT '7 days',
						   valid_from timestamptz DEFAULT now(), selective boolean DEFAULT false,
						   OUT credential_id bytea, OUT payload text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := date_trunc('second', clock_timestamp());	-- not a long transaction's start
	f timestamptz := date_trunc('second', valid_from);
	u timestamptz := date_trunc('second', date_trunc('second', valid_from) + valid_for);
BEGIN
	IF claims IS NULL OR colour IS NULL OR valid_for IS NULL OR valid_from IS NULL OR selective IS NULL THEN
		RAISE EXCEPTION 'claims, colour, valid_for, valid_from and selective must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF colour NOT IN ('green', 'yellow', 'red') THEN
		RAISE EXCEPTION 'colour must be green, yellow or red' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF u <= f THEN
		RAISE EXCEPTION 'valid_for must be at least one second' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF u <= t THEN
		RAISE EXCEPTION 'the code would have expired when issued (valid until %)', u USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Give a later valid_from or a longer valid_for.';
	END IF;
	SELECT e.credential_id, e.payload INTO credential_id, payload FROM hcledger.issue_entry(claims, colour, t, f, u, NULL, selective) e;
END $$;
COMMENT ON FUNCTION issue_code(jsonb, text, interval, timestamptz, boolean) IS 'issue a health code: records a commitment to the claims, never the claims; returns the traveller''s payload (selective: HCL3:, each claim disclosed or not on its own)';
REVOKE EXECUTE ON FUNCTION issue_code(jsonb, text, interval, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION issue_code(jsonb, text, interval, timestamptz, boolean) TO hcledger_issuer;
-- What an authority's ledger, as it is here, says of one credential at time
-- t (verify_code's steps 4, 8 and 9 without the payload): its issue row, the
-- colour and revocation after it, whether those rows are sealed, and what
-- stands in the way for a member's code or a converted one.  Shared by
-- verify_code and the status snapshots (docs/offline-verification.md), so
-- that both read the ledger the same way.  issue_row is NULL if the ledger
-- has no issue row of this credential.
CREATE FUNCTION code_ledger_state(authority text, credential_id bytea, t timestamptz,
	OUT issue_row bigint, OUT recorded_authority text, OUT commitment bytea, OUT issued_at timestamptz, OUT valid_from timestamptz,
	OUT valid_until timestamptz, OUT key_id text, OUT colour text, OUT revoke_row bigint,
	OUT revoke_at timestamptz, OUT revoke_reason text, OUT sealing text, OUT sealing_row bigint,
	OUT checkpoint text, OUT member boolean, OUT missing_rows bigint, OUT stale_why text,
	OUT source_verdict text, OUT source_reason text, OUT source_colour boolean, OUT converted_from text,
	OUT source_revoke_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
	issued hcledger.codes;
	status_row bigint;
	revoked hcledger.codes;
	cp record;
	chk record;
	m hcledger.members;
	src record;
	src_state record;
BEGIN
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = code_ledger_state.authority;
	member := m.authority IS NOT NULL;
	-- the ledger's entries of this credential: our own, or a member's as
	-- replicated.  Its issue is the first in the log: a member's log may
	-- hold a late row numbered below rows sealed before it (docs/format.md,
	-- "Sealing order"), so a second issue numbered lower, sealed later,
	-- cannot take the place of the one peers saw first.  Then its status
	-- changes and revocation after it, in row-number order (each drawn after
	-- the one before it committed).
	FOR e IN SELECT y.entry, y.credential_id, y.authority, y.at, y.colour, y.subject, y.commitment, y.valid_from,
	                y.valid_until, y.key_id, y.signature, y.effective_at, y.reason, y.hcl_row
	           FROM (SELECT x.*, NULL::bigint AS log_position
	                   FROM hcledger.codes x WHERE m.authority IS NULL AND x.credential_id = code_ledger_state.credential_id
	                 UNION ALL
	                 SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.subject, x.commitment, x.valid_from,
	                        x.valid_until, x.key_id, x.signature, x.effective_at, x.reason, x.hcl_row, l.log_position
	                   FROM hcledger.peer_codes x
	                   LEFT JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
	                  WHERE x.authority = m.authority AND x.credential_id = code_ledger_state.credential_id) y
	          WHERE y.entry = 'issue'
	          ORDER BY y.log_position NULLS LAST, y.hcl_row LIMIT 1 LOOP
		issued := e;
		colour := e.colour;
		status_row := e.hcl_row;
	END LOOP;
	IF issued.hcl_row IS NULL THEN
		RETURN;
	END IF;
	FOR e IN SELECT x.* FROM hcledger.codes x WHERE m.authority IS NULL AND x.credential_id = code_ledger_state.credential_id
	         UNION ALL
	         SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.subject, x.commitment, x.valid_from,
	                x.valid_until, x.key_id, x.signature, x.effective_at, x.reason, x.hcl_row
	           FROM hcledger.peer_codes x WHERE x.authority = m.authority AND x.credential_id = code_ledger_state.credential_id
	         ORDER BY hcl_row LOOP
		IF e.hcl_row <= issued.hcl_row OR e.authority <> issued.authority THEN
			CONTINUE;
		ELSIF e.entry = 'status' THEN
			colour := e.colour;
			status_row := e.hcl_row;
		ELSIF e.entry = 'revoke' AND revoked.hcl_row IS NULL THEN
			revoked := e;
		END IF;
	END LOOP;
	issue_row := issued.hcl_row;
	recorded_authority := issued.authority;
	commitment := issued.commitment;
	issued_at := issued.at;
	valid_from := issued.valid_from;
	valid_until := issued.valid_until;
	key_id := issued.key_id;
	revoke_row := revoked.hcl_row;
	revoke_at := revoked.effective_at;
	revoke_reason := revoked.reason;
	missing_rows := coalesce(m.missing_rows, 0);

	-- A code converted from another's (convert_code): what its source says here (revoked, tampered,
	-- incomplete, stale), and the worse of its own colour and its source's
	src := hcledger.code_provenance_parts(issued.reason);
	source_colour := false;
	IF src.source_authority IS NOT NULL THEN
		src_state := hcledger.code_source_state(src.source_authority, src.source_credential_id, issued.valid_until, t);
		source_revoke_at := src_state.revoked_from;
		source_verdict := src_state.verdict;
		source_reason := src_state.reason;
		IF array_position(ARRAY['green', 'yellow', 'red'], src_state.colour) > array_position(ARRAY['green', 'yellow', 'red'], colour) THEN
			colour := src_state.colour;
			source_colour := true;
		END IF;
		converted_from := format('converted from %s code %s (verified against its checkpoint of size %s)',
		                         src.source_authority, encode(src.source_credential_id, 'hex'), src.checkpoint_size);
	END IF;

	-- Are the facts used sealed under the latest signed checkpoint, unchanged?
	IF m.authority IS NULL THEN
		SELECT k2.note, k2.tree_size INTO cp FROM hcledger.checkpoints k2
		 WHERE k2.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
		 ORDER BY k2.tree_size DESC LIMIT 1;
		chk := hcledger.ledger_rows_check('hcledger.codes', ARRAY[issued.hcl_row, status_row, revoked.hcl_row],
		                                  coalesce(cp.tree_size, 0));
	ELSE
		-- a member's: under the last checkpoint of theirs accepted here
		SELECT m.checkpoint AS note, m.tree_size INTO cp;
		chk := hcledger.peer_rows_check(m.authority, ARRAY[issued.hcl_row, status_row, revoked.hcl_row]);
		stale_why := hcledger.member_state_stale(m.authority, t);
	END IF;
	checkpoint := cp.note;
	sealing := chk.state;
	sealing_row := chk.row_number;
END $$;
COMMENT ON FUNCTION code_ledger_state(text, bytea, timestamptz) IS 'what the ledger here says of one credential at a time: issue row, colour, revocation, sealing, and what stands in the way (verify_code''s ledger steps, shared with status snapshots)';

REVOKE EXECUTE ON FUNCTION code_ledger_state(text, bytea, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION verify_code(payload text)
RETURNS TABLE (verdict text, colour text, reason text, authority text, valid_until timestamptz, checkpoint text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := clock_timestamp();	-- real time: never the start of the caller's transaction
	d record;
	k record;
	s record;
	left_at timestamptz;
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'verify_code cannot give a verdict in a % transaction', current_setting('transaction_isolation')
			USING ERRCODE = 'invalid_transaction_state',
			      DETAIL = 'Its snapshot is the transaction''s first: a revocation or status change committed since would not be seen.',
			      HINT = 'Call verify_code in a READ COMMITTED transaction (the default) or with autocommit.';
	END IF;
	d := hcledger.code_decode(payload);
	IF d.problem IS NOT NULL THEN
		RETURN QUERY SELECT 'invalid', NULL::text, d.problem, NULL::text, NULL::timestamptz, NULL::text;
		RETURN;
	END IF;
	authority := d.authority;
	IF NOT EXISTS (SELECT FROM hcledger.authorities a WHERE a.authority = d.authority) THEN
		verdict := 'unknown authority';
		reason := format('authority "%s" is not registered here', d.authority);
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT x.left_at INTO left_at FROM hcledger.members x WHERE x.authority = d.authority;
	IF left_at IS NOT NULL THEN
		verdict := 'unknown authority';
		reason := format('authority "%s" left the consortium at %s', d.authority, left_at);
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT * INTO k FROM hcledger.keys x WHERE x.authority = d.authority AND x.key_id = d.key_id;
	IF NOT FOUND OR k.algorithm <> d.algorithm THEN
		reason := format('authority "%s" has no %s key "%s"', d.authority, d.algorithm, d.key_id);
	-- issued_at is a whole second; a key retired within it (rotate_key at
	-- now()) still signed the codes issued in that second before it
	ELSIF date_trunc('second', k.valid_from) > d.issued_at OR k.valid_until <= d.issued_at THEN
		reason := format('key "%s" was not valid when the code was issued (%s)', d.key_id, d.issued_at);
	ELSIF date_trunc('second', k.revoked_at) <= d.issued_at THEN
		reason := format('key "%s" was revoked at %s, at or before the second the code was issued', d.key_id, k.revoked_at);
	END IF;
	IF reason IS NOT NULL THEN
		verdict := 'bad signature';
		RETURN NEXT;
		RETURN;
	END IF;

	s := hcledger.code_ledger_state(d.authority, d.credential_id, t);
	IF hcledger.code_signature_valid(d.algorithm, k.public_key, d.message, d.signature) IS NOT TRUE THEN
		IF s.issue_row IS NOT NULL AND s.commitment <> d.commitment
		   AND hcledger.code_signature_valid(d.algorithm, k.public_key,
		         hcledger.code_message(d.authority, d.key_id, d.credential_id, d.issued_at, d.valid_from,
		                               d.valid_until, s.commitment, d.algorithm, d.selective), d.signature) THEN
			verdict := 'tampered';
			reason := 'the claims or salt are not those the authority signed';
		ELSE
			verdict := 'bad signature';
			reason := 'the issuer''s signature does not verify';
		END IF;
		RETURN NEXT;
		RETURN;
	END IF;
	IF s.issue_row IS NULL THEN
		verdict := 'not found';
		reason := format('the code is signed by "%s" but its ledger here has no record of it', d.authority);
		RETURN NEXT;
		RETURN;
	END IF;
	IF s.recorded_authority <> d.authority OR s.key_id <> d.key_id OR s.issued_at <> d.issued_at OR s.valid_from <> d.valid_from
	   OR s.valid_until <> d.valid_until OR s.commitment <> d.commitment THEN
		verdict := 'tampered';
		reason := format('ledger row %s does not record this code as it was signed', s.issue_row);
		RETURN NEXT;
		RETURN;
	END IF;
	-- an HCL3: code's shown claims: each must be one the authority signed a digest of
	IF d.disclosure_problem IS NOT NULL THEN
		verdict := 'tampered';
		reason := d.disclosure_problem;
		RETURN NEXT;
		RETURN;
	END IF;
	valid_until := d.valid_until;
	checkpoint := s.checkpoint;
	colour := s.colour;
	IF s.sealing IN ('altered', 'missing') THEN
		verdict := 'tampered';
		reason := format('ledger row %s does not match what was sealed', s.sealing_row)
		          || CASE WHEN s.member THEN format(' in the log of "%s"', d.authority) ELSE '' END;
		colour := NULL;
	ELSIF s.revoke_row IS NOT NULL AND s.revoke_at <= t THEN
		verdict := 'revoked';
		reason := s.revoke_reason || CASE WHEN s.sealing = 'pending' THEN ' (revocation not yet sealed)' ELSE '' END;
	ELSIF s.source_verdict = 'revoked' THEN
		verdict := 'revoked';
		reason := s.source_reason;
	ELSIF s.source_verdict = 'tampered' THEN
		verdict := 'tampered';
		reason := s.source_reason;
		colour := NULL;
	ELSIF t >= d.valid_until THEN
		verdict := 'expired';
		reason := format('valid until %s', d.valid_until);
	ELSIF t < d.valid_from THEN
		verdict := 'not yet valid';
		reason := format('valid from %s', d.valid_from);
	ELSIF s.source_verdict IS NOT NULL THEN
		-- its source here is incomplete or stale: a revocation of it may not have reached us
		verdict := s.source_verdict;
		reason := s.source_reason;
	ELSIF s.missing_rows > 0 THEN
		-- a partial view of the member's log: a withheld revocation may be among the missing rows
		verdict := 'incomplete';
		reason := format('the log of "%s" accepted here lacks %s sealed rows that have not arrived (or not as sealed); one may change this code',
		                 d.authority, s.missing_rows);
	ELSIF s.sealing = 'pending' OR s.checkpoint IS NULL THEN
		verdict := 'not yet sealed';
		reason := CASE WHEN s.sealing = 'pending'
		               THEN format('ledger row %s is not yet sealed under a checkpoint', s.sealing_row)
		               ELSE 'the ledger''s checkpoints are not signed' END;
	ELSIF s.stale_why IS NOT NULL THEN
		-- a member's word as old as its last sign of life here: a revocation since cannot be known
		verdict := 'stale';
		reason := s.stale_why;
	ELSE
		verdict := 'valid';
		IF s.revoke_row IS NOT NULL THEN
			reason := format('revocation scheduled for %s', s.revoke_at);
		END IF;
		-- what it was converted from, as its issuer recorded it (never the recorded text itself)
		reason := nullif(concat_ws('; ', reason, s.converted_from,
		                           CASE WHEN s.source_colour THEN format('the source is now %s', colour) END), '');
	END IF;
	RETURN NEXT;
END $$;

--
-- Key endorsements (docs/consortium.md, "Key endorsements").
--
ALTER TABLE keys ADD COLUMN endorsed_by text, ADD COLUMN endorsement bytea CHECK (length(endorsement) = 64);
COMMENT ON COLUMN keys.endorsed_by IS 'the authority''s Ed25519 key (key_id) that signed this key''s current state (docs/consortium.md, "Key endorsements")';
COMMENT ON COLUMN keys.endorsement IS 'that key''s Ed25519 signature over key_statement() of this row: how peers accept a member''s key changes';
CREATE OR REPLACE FUNCTION key_statement(authority text, key_id text, algorithm text, public_key bytea,
	valid_from timestamptz, valid_until timestamptz, revoked_at timestamptz, revocation_reason text)
RETURNS bytea LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT convert_to(
		E'hcledger-key/v1\n'
		|| 'authority ' || authority || E'\n'
		|| 'key-id ' || translate(encode(convert_to(key_id, 'UTF8'), 'base64'), E'\n', '') || E'\n'
		|| 'algorithm ' || algorithm || E'\n'
		|| 'public-key ' || translate(encode(public_key, 'base64'), E'\n', '') || E'\n'
		|| 'valid-from ' || (extract(epoch FROM valid_from) * 1000000)::bigint || E'\n'
		|| 'valid-until ' || coalesce(((extract(epoch FROM valid_until) * 1000000)::bigint)::text, '-') || E'\n'
		|| 'revoked-at ' || coalesce(((extract(epoch FROM revoked_at) * 1000000)::bigint)::text, '-') || E'\n'
		|| 'revocation-reason ' || coalesce(translate(encode(convert_to(revocation_reason, 'UTF8'), 'base64'), E'\n', ''), '-') || E'\n',
		'UTF8')
$$;
COMMENT ON FUNCTION key_statement(text, text, text, bytea, timestamptz, timestamptz, timestamptz, text) IS 'the bytes an authority signs to endorse a key''s state (docs/consortium.md, "Key endorsements")';
CREATE OR REPLACE FUNCTION key_endorsement(k hcledger.keys, OUT endorsed_by text, OUT endorsement bytea)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	SELECT x.key_id INTO endorsed_by FROM hcledger.keys x
	 WHERE x.authority = k.authority AND x.algorithm = 'ed25519' AND x.public_key = hcledger.signing_public_key()
	   AND (x.revoked_at IS NULL OR x.revoked_at > clock_timestamp())
	 ORDER BY x.valid_from DESC LIMIT 1;
	IF endorsed_by IS NOT NULL THEN
		endorsement := hcledger.node_sign(hcledger.key_statement(k.authority, k.key_id, k.algorithm, k.public_key,
		                   k.valid_from, k.valid_until, k.revoked_at, k.revocation_reason));
	END IF;
END $$;
REVOKE EXECUTE ON FUNCTION key_endorsement(hcledger.keys) FROM PUBLIC;
CREATE OR REPLACE FUNCTION endorse_local_key() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE e record;
BEGIN
	IF NOT EXISTS (SELECT FROM hcledger.authorities a WHERE a.is_local AND a.authority = NEW.authority) THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' AND (NEW.valid_until, NEW.revoked_at, NEW.revocation_reason, NEW.algorithm, NEW.public_key, NEW.valid_from)
	   IS NOT DISTINCT FROM (OLD.valid_until, OLD.revoked_at, OLD.revocation_reason, OLD.algorithm, OLD.public_key, OLD.valid_from) THEN
		RETURN NEW;		-- the state is unchanged: its endorsement stands (or is being set)
	END IF;
	NEW.endorsed_by := NULL;
	NEW.endorsement := NULL;
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) THEN
		e := hcledger.key_endorsement(NEW);
		NEW.endorsed_by := e.endorsed_by;
		NEW.endorsement := e.endorsement;
	END IF;
	RETURN NEW;
END $$;
REVOKE EXECUTE ON FUNCTION endorse_local_key() FROM PUBLIC;
CREATE OR REPLACE FUNCTION endorse_key(authority text, key_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k hcledger.keys;
	e record;
BEGIN
	SELECT * INTO k FROM hcledger.keys x
	 WHERE x.authority = endorse_key.authority AND x.key_id = endorse_key.key_id
	   AND x.authority = (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local) FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the local authority has no key "%" (authority "%")', key_id, authority USING ERRCODE = 'undefined_object',
			HINT = 'Only the local authority''s keys are endorsed here; hcledger.keys lists them.';
	END IF;
	e := hcledger.key_endorsement(k);
	IF e.endorsement IS NULL THEN
		RAISE EXCEPTION 'no node key to endorse with' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'hcledger.signing_key_file must hold a registered, unrevoked ed25519 key of the local authority.';
	END IF;
	UPDATE hcledger.keys x SET endorsed_by = e.endorsed_by, endorsement = e.endorsement
	 WHERE x.authority = k.authority AND x.key_id = k.key_id;
END $$;
REVOKE EXECUTE ON FUNCTION endorse_key(text, text) FROM PUBLIC;
COMMENT ON FUNCTION endorse_key(text, text) IS 'sign a local key''s current state with the node key, for peers to accept it (superusers only)';
CREATE OR REPLACE FUNCTION key_endorsed(k hcledger.keys) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT k.endorsement IS NOT NULL AND EXISTS (
		SELECT FROM hcledger.keys e
		 WHERE e.authority = k.authority AND e.key_id = k.endorsed_by AND e.algorithm = 'ed25519'
		   AND (e.revoked_at IS NULL OR e.revoked_at > clock_timestamp())
		   AND (e.key_id <> k.key_id OR e.public_key = k.public_key)
		   AND hcledger.ed25519_verify(e.public_key,
		         hcledger.key_statement(k.authority, k.key_id, k.algorithm, k.public_key, k.valid_from,
		                                k.valid_until, k.revoked_at, k.revocation_reason), k.endorsement))
$$;
REVOKE EXECUTE ON FUNCTION key_endorsed(hcledger.keys) FROM PUBLIC;
CREATE TRIGGER hcl_endorse BEFORE INSERT OR UPDATE ON keys FOR EACH ROW EXECUTE FUNCTION endorse_local_key();

--
-- The consortium: a member writes nowhere but where its data belongs.
--
ALTER TABLE members ADD COLUMN missing_rows bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN members.missing_rows IS 'leaves of the accepted log whose row has not arrived (withheld, or still on its way): the member''s codes verify as incomplete meanwhile';
ALTER TABLE refusals DROP CONSTRAINT refusals_kind_check,
	ADD CONSTRAINT refusals_kind_check CHECK (kind IN ('checkpoint', 'row', 'key', 'cosignature', 'table'));
ALTER TABLE peer_checkpoints ADD COLUMN frontier bytea;
CREATE INDEX peer_checkpoints_size ON peer_checkpoints (authority, tree_size);
CREATE INDEX cosignatures_origin ON cosignatures (origin, tree_size);
COMMENT ON COLUMN peer_checkpoints.frontier IS 'the compact range of the member''s log at this size, once accepted: the root at any later size is computed from it and at most one checkpoint''s entries';
CREATE TABLE peer_roots (
	authority		text NOT NULL,
	tree_size		bigint NOT NULL,
	root			hash256 NOT NULL,
	PRIMARY KEY (authority, tree_size)
);
COMMENT ON TABLE peer_roots IS 'the root of a member''s log as accepted here, at each size another witness cosigned: what split_views compares their cosignatures with';
SELECT pg_catalog.pg_extension_config_dump('peer_roots', '');
REVOKE ALL ON peer_roots FROM PUBLIC;
GRANT SELECT ON peer_roots TO PUBLIC;
CREATE OR REPLACE FUNCTION peer_root(authority text, tree_size bigint) RETURNS hcledger.hash256
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN tree_size <= m.tree_size AND tree_size > 0 THEN coalesce(
		(SELECT c.root FROM hcledger.peer_checkpoints c WHERE c.authority = m.authority AND c.tree_size = peer_root.tree_size
		    AND c.state IN ('accepted', 'duplicate') LIMIT 1),
		(SELECT (hcledger.log_extend(coalesce(k.frontier, '\x'), coalesce(k.tree_size, 0),
		           (SELECT string_agg(int8send(l.row_number) || l.leaf_hash::bytea, '\x' ORDER BY l.log_position)
		              FROM hcledger.peer_leaves l
		             WHERE l.authority = m.authority AND l.log_position >= coalesce(k.tree_size, 0)
		               AND l.log_position < peer_root.tree_size))).root
		   FROM (SELECT) one LEFT JOIN LATERAL (
		        SELECT c.tree_size, c.frontier FROM hcledger.peer_checkpoints c
		         WHERE c.authority = m.authority AND c.state = 'accepted' AND c.frontier IS NOT NULL
		           AND c.tree_size < peer_root.tree_size
		         ORDER BY c.tree_size DESC LIMIT 1) k ON true)) END
	  FROM hcledger.members m WHERE m.authority = peer_root.authority
$$;
REVOKE EXECUTE ON FUNCTION peer_root(text, bigint) FROM PUBLIC;
CREATE OR REPLACE FUNCTION note_peer_roots(authority text, from_size bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m hcledger.members;
	c record;
	x record;
	fr bytea;
	sz bigint := from_size;
BEGIN
	SELECT * INTO m FROM hcledger.members p WHERE p.authority = note_peer_roots.authority;
	-- one pass over the newly accepted leaves, from the compact range where
	-- they begin, however many sizes were cosigned among them
	IF from_size = 0 THEN
		fr := '\x';
	ELSE
		SELECT k.frontier INTO fr FROM hcledger.peer_checkpoints k
		 WHERE k.authority = m.authority AND k.state = 'accepted' AND k.tree_size = from_size LIMIT 1;
	END IF;
	FOR c IN SELECT DISTINCT s.tree_size FROM hcledger.cosignatures s
	          WHERE s.origin = m.origin AND s.tree_size > from_size AND s.tree_size <= m.tree_size
	            AND NOT EXISTS (SELECT FROM hcledger.peer_roots r WHERE r.authority = m.authority AND r.tree_size = s.tree_size)
	          ORDER BY s.tree_size LOOP
		IF fr IS NULL THEN		-- accepted before 0.3.0 kept compact ranges
			INSERT INTO hcledger.peer_roots (authority, tree_size, root)
			VALUES (m.authority, c.tree_size, hcledger.peer_root(m.authority, c.tree_size)) ON CONFLICT DO NOTHING;
			CONTINUE;
		END IF;
		x := hcledger.log_extend(fr, sz,
		       (SELECT string_agg(int8send(l.row_number) || l.leaf_hash::bytea, '\x' ORDER BY l.log_position)
		          FROM hcledger.peer_leaves l
		         WHERE l.authority = m.authority AND l.log_position >= sz AND l.log_position < c.tree_size));
		fr := x.frontier;
		sz := x.tree_size;
		INSERT INTO hcledger.peer_roots (authority, tree_size, root) VALUES (m.authority, c.tree_size, x.root)
		ON CONFLICT DO NOTHING;
	END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION note_peer_roots(text, bigint) FROM PUBLIC;
CREATE OR REPLACE FUNCTION refuse_change_from(kind text, subject text, reason text) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
	SELECT hcledger.refuse(coalesce((SELECT m.authority FROM hcledger.members m
	                                  WHERE m.subscription = hcledger.applying_subscription()), '(unknown)'),
	                       kind, subject, reason)
$$;
REVOKE EXECUTE ON FUNCTION refuse_change_from(text, text, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION decide_checkpoint(id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c hcledger.peer_checkpoints;
	m hcledger.members;
	v record;
	body text;
	cp_last_row bigint;
	n bigint;
	start bigint;
	bad record;
	x record;
	why text;
	size bigint;
BEGIN
	SELECT * INTO c FROM hcledger.peer_checkpoints p WHERE p.id = decide_checkpoint.id FOR UPDATE;
	SELECT * INTO m FROM hcledger.members p WHERE p.authority = c.authority FOR UPDATE;
	IF c.note IS NULL THEN
		why := 'the checkpoint is not signed';
	ELSE
		v := hcledger.verify_checkpoint(c.note, NULL, m.authority);
		size := v.tree_size;
		body := left(c.note, position(E'\n\n' IN c.note));
		cp_last_row := substring(body FROM E'\nhcledger-row (-?[0-9]{1,19})\n')::bigint;
		n := length(c.leaves) / 40;
		start := v.tree_size - n;
		IF NOT v.valid THEN
			why := 'its signature does not verify under the member''s registered keys: ' || v.reason;
		ELSIF v.origin <> m.origin THEN
			why := format('it is signed for origin %s, not the member''s %s', v.origin, m.origin);
		ELSIF cp_last_row IS NULL THEN
			why := 'its body has no hcledger-row line';
		ELSIF c.leaves IS NULL OR length(c.leaves) % 40 <> 0 OR n = 0 OR start < 0 THEN
			why := 'its published log entries are missing or malformed';
		END IF;
	END IF;
	IF why IS NULL AND start > m.tree_size THEN
		IF EXISTS (SELECT FROM hcledger.peer_checkpoints p WHERE p.authority = m.authority AND p.state = 'refused'
		           AND p.tree_size = start) THEN
			-- quarantine: what extends a refused checkpoint is refused too
			why := format('it extends the refused checkpoint of size %s; this member''s log is accepted up to size %s only',
			              start, m.tree_size);
		ELSE
			UPDATE hcledger.peer_checkpoints p SET reason = format('covers log positions %s to %s; positions %s to %s have not arrived',
			                                                       start, v.tree_size - 1, m.tree_size, start - 1)
			 WHERE p.id = c.id;
			RETURN 'waiting';
		END IF;
	END IF;
	IF why IS NULL AND start < m.tree_size THEN
		-- entries already accepted must be the same
		SELECT start + e.entry AS pos, e.row_number, l.row_number AS had_row INTO bad
		  FROM hcledger.log_entries(c.leaves) e
		  LEFT JOIN hcledger.peer_leaves l ON l.authority = m.authority AND l.log_position = start + e.entry
		 WHERE start + e.entry < m.tree_size
		   AND (l.leaf_hash IS NULL OR l.leaf_hash OPERATOR(hcledger.<>) e.leaf_hash OR l.row_number <> e.row_number)
		 ORDER BY e.entry LIMIT 1;
		IF FOUND THEN
			why := format('rewritten history: log position %s (row %s) differs from the log accepted up to size %s',
			              bad.pos, bad.row_number, m.tree_size);
		ELSIF v.tree_size <= m.tree_size THEN
			IF (SELECT hcledger.merkle_root_of_leaf_hashes(l.leaf_hash ORDER BY l.log_position)
			      FROM hcledger.peer_leaves l WHERE l.authority = m.authority AND l.log_position < v.tree_size)
			   OPERATOR(hcledger.=) v.root THEN
				UPDATE hcledger.peer_checkpoints p SET state = 'duplicate', tree_size = v.tree_size, root = v.root,
				       reason = 'already covered by an accepted checkpoint', decided_at = clock_timestamp()
				 WHERE p.id = c.id;
				RETURN 'duplicate';
			END IF;
			why := format('rewritten history: its root at size %s is not that of the accepted log', v.tree_size);
		END IF;
	END IF;
	IF why IS NULL THEN
		x := hcledger.log_extend(m.frontier, m.tree_size, substring(c.leaves FROM ((m.tree_size - start) * 40 + 1)::integer));
		IF x.root OPERATOR(hcledger.<>) v.root THEN
			why := format('not consistent with the accepted checkpoint of size %s: its log entries do not extend that log to its signed root',
			              m.tree_size);
		ELSIF EXISTS (SELECT FROM hcledger.log_entries(c.leaves) e
		               WHERE start + e.entry >= m.tree_size
		                 AND (e.row_number < 1
		                      OR EXISTS (SELECT FROM hcledger.peer_leaves l
		                                  WHERE l.authority = m.authority AND l.row_number = e.row_number)))
		   OR (SELECT count(*) <> count(DISTINCT e.row_number) FROM hcledger.log_entries(c.leaves) e
		        WHERE start + e.entry >= m.tree_size) THEN
			-- rows may be sealed out of row-number order (docs/format.md, "Sealing order"), but each once
			why := 'its log entries list a row number twice (or one below 1)';
		ELSIF cp_last_row <> (SELECT greatest(m.last_row, max(e.row_number)) FROM hcledger.log_entries(c.leaves) e
		                      WHERE start + e.entry >= m.tree_size) THEN
			why := 'its hcledger-row line is not the highest row number of its log';
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		UPDATE hcledger.peer_checkpoints p SET state = 'refused', reason = why, decided_at = clock_timestamp()
		 WHERE p.id = c.id;
		PERFORM hcledger.refuse(m.authority, 'checkpoint', format('checkpoint of size %s', coalesce(size, c.tree_size)), why);
		RETURN 'refused';
	END IF;

	INSERT INTO hcledger.peer_leaves (authority, row_number, log_position, leaf_hash)
	SELECT m.authority, e.row_number, start + e.entry, e.leaf_hash
	  FROM hcledger.log_entries(c.leaves) e WHERE start + e.entry >= m.tree_size;
	-- leaves whose row has not arrived (yet): until it does, the member's codes are incomplete here
	UPDATE hcledger.members p SET tree_size = v.tree_size, last_row = cp_last_row, root = v.root,
	       frontier = x.frontier, checkpoint = c.note, accepted_at = clock_timestamp(),
	       missing_rows = p.missing_rows + (SELECT count(*) FROM hcledger.log_entries(c.leaves) e
	                                        WHERE start + e.entry >= m.tree_size
	                                          AND NOT EXISTS (SELECT FROM hcledger.peer_codes r
	                                                          WHERE r.authority = m.authority AND r.hcl_row = e.row_number
	                                                            AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, r)
	                                                                OPERATOR(hcledger.=) e.leaf_hash))
	 WHERE p.authority = m.authority;
	UPDATE hcledger.peer_checkpoints p SET state = 'accepted', tree_size = v.tree_size, root = v.root,
	       reason = NULL, decided_at = clock_timestamp(), frontier = x.frontier
	 WHERE p.id = c.id;
	-- rows received before their checkpoint: each must be what the member sealed
	PERFORM hcledger.refuse(m.authority, 'row', format('row %s', p.hcl_row),
	                        format('its content does not match its leaf at log position %s', l.log_position))
	   FROM hcledger.peer_codes p
	   JOIN hcledger.peer_leaves l ON l.authority = p.authority AND l.row_number = p.hcl_row
	  WHERE p.authority = m.authority AND l.log_position >= m.tree_size AND l.log_position < v.tree_size
	    AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, p) OPERATOR(hcledger.<>) l.leaf_hash;
	PERFORM hcledger.note_peer_roots(m.authority, m.tree_size);
	BEGIN
		PERFORM hcledger.cosign(m.origin, v.tree_size, v.root, body);
	EXCEPTION WHEN OTHERS THEN
		-- our own key's problem is no reason to refuse the member's checkpoint
		RAISE WARNING 'hcledger could not cosign the checkpoint of size % of "%": %', v.tree_size, m.authority, SQLERRM;
	END;
	RETURN 'accepted';
END $$;
CREATE OR REPLACE FUNCTION receive_code() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m hcledger.members;
	had hcledger.peer_codes;
	leaf hcledger.hash256;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		-- a ledger is append-only: never let a member's change reach a row here, ours least of all
		PERFORM hcledger.refuse_change_from('row', format('row %s of "%s"', OLD.hcl_row, OLD.authority),
		                                    format('a member may only add rows; its %s was not applied', TG_OP));
		RETURN NULL;
	END IF;
	m := hcledger.sending_member(NEW.authority, 'row', format('row %s', NEW.hcl_row));
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	-- locked before looking for its leaf, so that a checkpoint decided meanwhile counts the row either
	-- as missing (and it is counted off here) or as arrived, never neither
	PERFORM FROM hcledger.members x WHERE x.authority = m.authority FOR UPDATE;
	SELECT l.leaf_hash INTO leaf FROM hcledger.peer_leaves l WHERE l.authority = m.authority AND l.row_number = NEW.hcl_row;
	SELECT * INTO had FROM hcledger.peer_codes p WHERE p.authority = NEW.authority AND p.hcl_row = NEW.hcl_row;
	IF had.hcl_row IS NOT NULL THEN
		IF hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, had)
		   OPERATOR(hcledger.=) hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, NEW) THEN
			RETURN NULL;		-- the same row again (a re-copy)
		ELSIF leaf IS NOT NULL AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, had) OPERATOR(hcledger.<>) leaf
		      AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, NEW) OPERATOR(hcledger.=) leaf THEN
			-- the sealed row at last, where a copy that did not match its leaf was kept: it replaces it
			DELETE FROM hcledger.peer_codes p WHERE p.authority = NEW.authority AND p.hcl_row = NEW.hcl_row;
		ELSE
			PERFORM hcledger.refuse(m.authority, 'row', format('row %s', NEW.hcl_row),
			                        'it arrived again with other content; the first copy is kept');
			RETURN NULL;
		END IF;
	END IF;
	INSERT INTO hcledger.peer_codes SELECT (NEW).*;
	IF leaf IS NOT NULL THEN
		IF hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, NEW) OPERATOR(hcledger.=) leaf THEN
			-- a sealed row has arrived; one that does not match its leaf has not (a revocation
			-- withheld and replaced by another row must not count)
			UPDATE hcledger.members x SET missing_rows = greatest(x.missing_rows - 1, 0) WHERE x.authority = m.authority;
		ELSE
			PERFORM hcledger.refuse(m.authority, 'row', format('row %s', NEW.hcl_row),
			                        'its content does not match its leaf in the accepted log');
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION receive_checkpoint() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cp_origin text;
	a text;
	m hcledger.members;
	too_big text;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		PERFORM hcledger.refuse_change_from('checkpoint', format('checkpoint of size %s of %s', OLD.tree_size,
		                                                         split_part(OLD.body, E'\n', 1)),
		                                    format('a member may only add checkpoints; its %s was not applied', TG_OP));
		RETURN NULL;
	END IF;
	cp_origin := split_part(NEW.body, E'\n', 1);
	a := (SELECT x.authority FROM hcledger.members x WHERE x.origin = cp_origin);
	m := hcledger.sending_member(coalesce(a, cp_origin), 'checkpoint', format('checkpoint of size %s', NEW.tree_size));
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	-- sizes the format bounds, checked before any work in proportion to them
	-- (docs/format.md): at most 65,536 entries of 40 bytes, a note of a few lines
	too_big := CASE
		WHEN length(NEW.leaves) > 65536 * 40 THEN
			format('its published log entries are %s bytes, more than the 65,536 entries (2,621,440 bytes) a checkpoint may add',
			       length(NEW.leaves))
		WHEN octet_length(NEW.note) > 65536 THEN
			format('its signed note is %s bytes, more than the 65,536 a checkpoint note may have', octet_length(NEW.note))
		END;
	IF too_big IS NOT NULL THEN
		-- kept without the oversized parts, as refused
		INSERT INTO hcledger.peer_checkpoints (authority, tree_size, root, subscription, state, reason, decided_at)
		VALUES (m.authority, NEW.tree_size, NEW.root, hcledger.applying_subscription(), 'refused', too_big, clock_timestamp());
		PERFORM hcledger.refuse(m.authority, 'checkpoint', format('checkpoint of size %s', NEW.tree_size), too_big);
		RETURN NULL;
	END IF;
	INSERT INTO hcledger.peer_checkpoints (authority, tree_size, root, note, leaves, subscription)
	VALUES (m.authority, NEW.tree_size, NEW.root, NEW.note, NEW.leaves, hcledger.applying_subscription());
	PERFORM hcledger.member_advance(m.authority);
	RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION receive_key() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k hcledger.keys := CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	subject text := format('key %s', k.key_id);
	m hcledger.members;
	had hcledger.keys;
	why text;
BEGIN
	IF current_setting('hcledger_apply.own_write', true) = 'on' THEN
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	m := hcledger.sending_member(k.authority, 'key', subject);
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		why := 'keys are never deleted; the registered key is kept';
	ELSE
		IF TG_OP = 'INSERT' THEN
			SELECT * INTO had FROM hcledger.keys x WHERE x.authority = NEW.authority AND x.key_id = NEW.key_id;
		ELSE
			SELECT * INTO had FROM hcledger.keys x WHERE x.authority = OLD.authority AND x.key_id = OLD.key_id;
		END IF;
		IF had.key_id IS NOT NULL AND (had.authority, had.key_id, had.algorithm, had.public_key, had.valid_from)
		                              IS DISTINCT FROM (NEW.authority, NEW.key_id, NEW.algorithm, NEW.public_key, NEW.valid_from) THEN
			why := 'it differs from the registered key in algorithm, public key or start; the registered key is kept';
		ELSIF had.key_id IS NOT NULL AND (NEW.valid_until, NEW.revoked_at, NEW.revocation_reason)
		      IS NOT DISTINCT FROM (had.valid_until, had.revoked_at, had.revocation_reason) THEN
			RETURN NULL;		-- nothing new
		ELSIF had.key_id IS NOT NULL AND NEW.valid_until IS DISTINCT FROM had.valid_until
		      AND (NEW.valid_until IS NULL OR NEW.valid_until > had.valid_until) THEN
			why := 'a key''s validity can only be shortened';
		ELSIF had.revoked_at IS NOT NULL AND (NEW.revoked_at, NEW.revocation_reason) IS DISTINCT FROM (had.revoked_at, had.revocation_reason) THEN
			why := 'a revocation cannot be changed';
		ELSIF NOT hcledger.key_usable(NEW.algorithm, NEW.public_key) THEN
			-- a key no signature check can use would make every check of it an error
			why := format('its public key is not a valid %s key in raw form', NEW.algorithm);
		ELSIF NOT hcledger.key_endorsed(NEW) THEN
			-- a new key, or a change of one, is taken only on the word of a key the member already had
			why := CASE WHEN NEW.endorsement IS NULL THEN 'it is not signed by a key the member already had (no endorsement)'
			            ELSE format('it is not signed by a key the member already had (its endorsement by %s does not verify under a registered, unrevoked ed25519 key of "%s")',
			                        coalesce(NEW.endorsed_by, 'no key'), m.authority) END;
		ELSIF had.key_id IS NULL THEN
			INSERT INTO hcledger.member_events (authority, event, detail)
			VALUES (m.authority, 'key added', format('%s %s valid from %s, endorsed by %s', NEW.algorithm, NEW.key_id,
			                                          NEW.valid_from, NEW.endorsed_by));
			RETURN NEW;
		ELSE
			INSERT INTO hcledger.member_events (authority, event, detail)
			VALUES (m.authority, 'key changed', format('%s valid until %s, revoked at %s, endorsed by %s', NEW.key_id,
			        coalesce(NEW.valid_until::text, 'open'), coalesce(NEW.revoked_at::text, 'never'), NEW.endorsed_by));
			IF TG_OP = 'UPDATE' THEN
				RETURN NEW;
			END IF;
			PERFORM set_config('hcledger_apply.own_write', 'on', true);
			UPDATE hcledger.keys x SET valid_until = NEW.valid_until, revoked_at = NEW.revoked_at,
			       revocation_reason = NEW.revocation_reason, endorsed_by = NEW.endorsed_by, endorsement = NEW.endorsement
			 WHERE x.authority = NEW.authority AND x.key_id = NEW.key_id;
			PERFORM set_config('hcledger_apply.own_write', '', true);
			RETURN NULL;
		END IF;
	END IF;
	PERFORM hcledger.refuse(m.authority, 'key', subject, why);
	RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION receive_cosignature() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subject text := format('cosignature of %s at size %s', left(NEW.origin, 200), NEW.tree_size);
	m hcledger.members;
	lines text[];
	had hcledger.cosignatures;
	why text;
BEGIN
	IF current_setting('hcledger_apply.own_write', true) = 'on' THEN
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	IF TG_OP <> 'INSERT' THEN
		PERFORM hcledger.refuse_change_from('cosignature', format('cosignature by %s of %s at size %s', OLD.witness, OLD.origin, OLD.tree_size),
		                                    format('a member may only add cosignatures; its %s was not applied', TG_OP));
		RETURN NULL;
	END IF;
	m := hcledger.sending_member(NEW.witness, 'cosignature', subject);
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	-- a checkpoint body is a few lines: refused before any work in proportion to its size
	IF octet_length(NEW.body) > 65536 THEN
		PERFORM hcledger.refuse(m.authority, 'cosignature', subject,
		                        format('the checkpoint body it signs is %s bytes, more than the 65,536 a checkpoint may have',
		                               octet_length(NEW.body)));
		RETURN NULL;
	END IF;
	lines := string_to_array(NEW.body, E'\n');
	IF lines[1] IS DISTINCT FROM NEW.origin OR lines[2] IS DISTINCT FROM NEW.tree_size::text
	   OR lines[3] IS DISTINCT FROM encode(NEW.root::bytea, 'base64') THEN
		why := 'its origin, size or root are not those of the checkpoint body it signs';
	ELSIF extract(epoch FROM NEW.cosigned_at) <> floor(extract(epoch FROM NEW.cosigned_at))
	      OR NOT hcledger.verify_signature(NEW.witness,
	               convert_to(format(E'cosignature/v1\ntime %s\n', extract(epoch FROM NEW.cosigned_at)::bigint) || NEW.body, 'UTF8'),
	               NEW.signature, NEW.cosigned_at) THEN
		why := 'its signature does not verify under the witness''s registered keys';
	ELSE
		SELECT * INTO had FROM hcledger.cosignatures x
		 WHERE x.witness = NEW.witness AND x.origin = NEW.origin AND x.tree_size = NEW.tree_size;
		IF NOT FOUND THEN
			-- our own root of that log at the cosigned size, where our accepted log reaches it
			INSERT INTO hcledger.peer_roots (authority, tree_size, root)
			SELECT o.authority, NEW.tree_size, hcledger.peer_root(o.authority, NEW.tree_size)
			  FROM hcledger.members o
			 WHERE o.origin = NEW.origin AND NEW.tree_size <= o.tree_size AND NEW.tree_size > 0
			ON CONFLICT DO NOTHING;
			RETURN NEW;
		END IF;
		IF had.root OPERATOR(hcledger.=) NEW.root THEN
			RETURN NULL;
		END IF;
		why := format('the witness cosigned another root for this size before (%s)', had.root);
	END IF;
	PERFORM hcledger.refuse(m.authority, 'cosignature', subject, why);
	RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION receive_nothing() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_LEVEL = 'STATEMENT' THEN
		RAISE EXCEPTION 'hcledger refused a replicated % of %.%', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = format('Subscription %s may not change this table.', coalesce(hcledger.applying_subscription()::text, '(none)')),
			      HINT = 'A member publishes hcledger.codes, checkpoints, cosignatures and keys only; see docs/consortium.md.';
	END IF;
	IF pg_trigger_depth() > 1 THEN
		-- our own receiving triggers' writes
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	PERFORM hcledger.refuse_change_from('table', format('%s of %s.%s', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME),
	                                    'a member may write only hcledger.codes, checkpoints, cosignatures and keys');
	RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION receive_code(), receive_checkpoint(), receive_key(), receive_cosignature(), receive_nothing() FROM PUBLIC;
DROP TRIGGER hcl_receive ON codes;
DROP TRIGGER hcl_receive ON checkpoints;
DROP TRIGGER hcl_receive ON cosignatures;
CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON codes FOR EACH ROW EXECUTE FUNCTION receive_code();
CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON checkpoints FOR EACH ROW EXECUTE FUNCTION receive_checkpoint();
CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON cosignatures FOR EACH ROW EXECUTE FUNCTION receive_cosignature();
ALTER TABLE codes ENABLE REPLICA TRIGGER hcl_receive;
ALTER TABLE checkpoints ENABLE REPLICA TRIGGER hcl_receive;
ALTER TABLE cosignatures ENABLE REPLICA TRIGGER hcl_receive;
DO $$
DECLARE t text;
BEGIN
	-- a replicated TRUNCATE can only be stopped with an error (the apply worker retries, the member's feed stalls)
	FOREACH t IN ARRAY ARRAY['checkpoints', 'keys', 'cosignatures', 'ledgers', 'tiles', 'log_runs', 'ledger_events', 'ledger_columns', 'dropped_values', 'authorities',
	                         'members', 'member_events', 'peer_codes', 'peer_leaves', 'peer_checkpoints', 'refusals', 'peer_roots'] LOOP
		EXECUTE format('CREATE TRIGGER hcl_receive_truncate BEFORE TRUNCATE ON hcledger.%I FOR EACH STATEMENT EXECUTE FUNCTION hcledger.receive_nothing()', t);
		EXECUTE format('ALTER TABLE hcledger.%I ENABLE REPLICA TRIGGER hcl_receive_truncate', t);
		IF t NOT IN ('checkpoints', 'keys', 'cosignatures') THEN
			EXECUTE format('CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON hcledger.%I FOR EACH ROW EXECUTE FUNCTION hcledger.receive_nothing()', t);
			EXECUTE format('ALTER TABLE hcledger.%I ENABLE REPLICA TRIGGER hcl_receive', t);
		END IF;
	END LOOP;
END $$;
CREATE OR REPLACE FUNCTION subscription_extra_tables(sub name) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT string_agg(r.srrelid::regclass::text, ', ' ORDER BY r.srrelid::regclass::text)
	  FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_subscription_rel r ON r.srsubid = s.oid
	 WHERE s.subname = sub AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
	   AND r.srrelid NOT IN ('hcledger.codes'::regclass, 'hcledger.checkpoints'::regclass,
	                         'hcledger.cosignatures'::regclass, 'hcledger.keys'::regclass)
$$;
REVOKE EXECUTE ON FUNCTION subscription_extra_tables(name) FROM PUBLIC;
CREATE OR REPLACE FUNCTION admit_member(authority text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE slot text := hcledger.member_slot(authority);
BEGIN
	IF authority IS NULL THEN
		RAISE EXCEPTION 'authority must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- a slot must be made before this transaction writes anything; on PostgreSQL 17+ a
	-- failover slot, which a standby with sync_replication_slots keeps for after a failover
	IF current_setting('server_version_num')::integer >= 170000 THEN
		EXECUTE 'SELECT pg_catalog.pg_create_logical_replication_slot($1, ''pgoutput'', false, false, true)' USING slot;
	ELSE
		PERFORM pg_catalog.pg_create_logical_replication_slot(slot, 'pgoutput');
	END IF;
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (authority, 'admitted', 'slot ' || slot);
	RETURN slot;
END $$;
COMMENT ON FUNCTION admit_member(text) IS 'let a member subscribe to this authority''s publications: makes its replication slot (run before it joins)';

CREATE FUNCTION replicator_guard_active() RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_replicator_guard_active' LANGUAGE C STABLE;
COMMENT ON FUNCTION replicator_guard_active() IS 'whether this server refuses client connections as hcledger_replicator (hcledger in shared_preload_libraries)';

-- PostgreSQL 16+: every member's subscription belongs to hcledger_replicator,
-- a role without superuser rights that may write the four tables a member
-- sends and nothing else, and its apply worker runs as that role
-- (run_as_owner; the receiving triggers run as the extension's owner).  The
-- role can log in, as an apply worker's must, but no client may (src/
-- replicator.c), nobody holds it, and outside an apply worker its writes
-- are refused (hcl_own_writes).  The subscription connects as a
-- superuser's did (password_required = false: the connection string is set
-- by join_member only).  Makes the role when there is a subscription to
-- give it, and converts the subscriptions that are not its yet (made by
-- hcledger 0.2.0); returns how many.  PostgreSQL 15 lets only superusers
-- own subscriptions: there it changes nothing.
CREATE FUNCTION restrict_subscriptions() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r pg_catalog.pg_authid;
	subs name[];
	sub name;
BEGIN
	IF current_setting('server_version_num')::integer < 160000 THEN
		RAISE NOTICE 'PostgreSQL % lets only superusers own subscriptions: the apply workers run as their owner', current_setting('server_version')
			USING HINT = 'On PostgreSQL 16 or later, hcledger_replicator owns them.';
		RETURN 0;
	END IF;
	SELECT coalesce(array_agg(s.subname ORDER BY s.subname), '{}') INTO subs
	  FROM pg_catalog.pg_subscription s JOIN hcledger.members m ON m.subscription = s.subname
	 WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
	   AND (pg_catalog.pg_get_userbyid(s.subowner) <> 'hcledger_replicator' OR s.subpasswordrequired OR NOT s.subrunasowner);
	IF cardinality(subs) = 0 THEN
		RETURN 0;
	END IF;
	IF NOT hcledger.replicator_guard_active() THEN
		RAISE EXCEPTION 'hcledger is not in shared_preload_libraries: nothing would keep clients from logging in as hcledger_replicator'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'A consortium member preloads hcledger (its sealer signs the checkpoints peers check): see docs/consortium.md, "Settings".';
	END IF;
	SELECT * INTO r FROM pg_catalog.pg_authid x WHERE x.rolname = 'hcledger_replicator';
	IF NOT FOUND THEN
		-- (an apply worker starts as its subscription's owner: LOGIN is required)
		CREATE ROLE hcledger_replicator LOGIN;
	ELSIF r.rolsuper OR r.rolbypassrls OR NOT r.rolcanlogin OR r.rolreplication OR r.rolcreaterole OR r.rolcreatedb
	      OR r.rolpassword IS NOT NULL
	      OR EXISTS (SELECT FROM pg_catalog.pg_auth_members a WHERE a.roleid = r.oid OR a.member = r.oid) THEN
		RAISE EXCEPTION 'role hcledger_replicator is not as hcledger made it'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'Members'' changes are applied as it: it must be a LOGIN role without a password, superuser, BYPASSRLS, REPLICATION, CREATEROLE or CREATEDB, and without members or memberships.',
			      HINT = 'Drop the role or make it so; hcledger makes it when it is missing.';
	END IF;
	GRANT USAGE ON SCHEMA hcledger TO hcledger_replicator;
	-- (SELECT: an UPDATE or DELETE looks the row up by its replica identity)
	GRANT SELECT, INSERT, UPDATE, DELETE ON hcledger.codes, hcledger.checkpoints, hcledger.cosignatures, hcledger.keys TO hcledger_replicator;
	FOREACH sub IN ARRAY subs LOOP
		EXECUTE format('ALTER SUBSCRIPTION %I SET (password_required = false, run_as_owner = true)', sub);
		EXECUTE format('ALTER SUBSCRIPTION %I OWNER TO hcledger_replicator', sub);
	END LOOP;
	RETURN cardinality(subs);
END $$;
COMMENT ON FUNCTION restrict_subscriptions() IS 'PostgreSQL 16+: members'' subscriptions owned by hcledger_replicator, which writes the four consortium tables only (returns how many were changed)';
REVOKE EXECUTE ON FUNCTION restrict_subscriptions() FROM PUBLIC;
-- Outside an apply worker (session_replication_role = origin), the four
-- tables a member sends are written by hcledger's own functions only, as
-- the extension's owner, a superuser: whoever else holds write rights on
-- them (hcledger_replicator, and so a role that could act as it) is
-- refused.  Once per statement.
CREATE FUNCTION only_own_writes() RETURNS trigger
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false) THEN
		RAISE EXCEPTION 'only hcledger''s own functions write %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = format('Role %s is not a superuser; a member''s rows, checkpoints, cosignatures and keys arrive through its subscription only.', current_user);
	END IF;
	RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION only_own_writes() FROM PUBLIC;
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.codes FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.checkpoints FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.cosignatures FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.keys FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();

-- subscriptions hcledger 0.2.0 made on PostgreSQL 16+ go to hcledger_replicator
-- (not without the login guard: then they stay as they were, and a warning says so)
DO $$
BEGIN
	IF current_setting('server_version_num')::integer >= 160000 THEN
		IF hcledger.replicator_guard_active() THEN
			PERFORM hcledger.restrict_subscriptions();
		ELSIF EXISTS (SELECT FROM hcledger.members) THEN
			RAISE WARNING 'members'' subscriptions still belong to a superuser: hcledger is not in shared_preload_libraries'
				USING HINT = 'Preload hcledger, restart, then SELECT hcledger.restrict_subscriptions();';
		END IF;
	END IF;
END $$;

CREATE OR REPLACE FUNCTION join_member(card jsonb, conninfo text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	a text := card ->> 'authority';
	origin text := card ->> 'origin';
	sub text := 'hcledger_from_' || substr(hcledger.member_slot(a), 10);
	k jsonb;
	had hcledger.keys;
	was hcledger.members;
	extra text;
BEGIN
	IF card IS NULL OR conninfo IS NULL THEN
		RAISE EXCEPTION 'card and conninfo must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF jsonb_typeof(card) <> 'object' OR card -> 'hcledger_member' IS DISTINCT FROM '1'::jsonb OR a IS NULL
	   OR origin IS NULL OR origin !~ '^hcledger/hcledger\.codes/[0-9a-f]{32}$'
	   OR jsonb_typeof(card -> 'keys') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'this is not a member card' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'A member''s card is what hcledger.publish() or hcledger.member_card() returns on its server.';
	END IF;
	IF a = me THEN
		RAISE EXCEPTION 'authority "%" is this database itself', a USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass the card the peer''s hcledger.publish() returned, not this database''s own.';
	END IF;
	IF NOT EXISTS (SELECT FROM jsonb_array_elements(card -> 'keys') e WHERE e ->> 'algorithm' = 'ed25519'
	               AND e ->> 'revoked_at' IS NULL) THEN
		RAISE EXCEPTION 'the card of "%" has no ed25519 key to check its checkpoints with', a USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The peer registers its node key (add_key with signing_public_key()) and calls publish() again for a new card.';
	END IF;
	SELECT * INTO was FROM hcledger.members m WHERE m.authority = a;
	IF FOUND AND was.left_at IS NULL THEN
		RAISE EXCEPTION 'authority "%" is already a member', a USING ERRCODE = 'duplicate_object',
			HINT = 'To join again, leave_member(authority, reason) first.';
	END IF;
	IF FOUND AND was.origin <> origin THEN
		RAISE EXCEPTION 'authority "%" had log % when it left, and now shows %', a, was.origin, origin
			USING ERRCODE = 'invalid_parameter_value', HINT = 'A member''s log cannot change; check with the member.';
	END IF;
	IF NOT EXISTS (SELECT FROM hcledger.authorities x WHERE x.authority = a) THEN
		PERFORM hcledger.add_authority(a, coalesce(card ->> 'display_name', a), false);
	END IF;
	-- peers' rows are checked as rows of our own codes ledger: registered, even if we never issued
	PERFORM hcledger.codes_ledger();
	FOR k IN SELECT * FROM jsonb_array_elements(card -> 'keys') LOOP
		SELECT * INTO had FROM hcledger.keys x WHERE x.authority = a AND x.key_id = k ->> 'key_id';
		IF NOT FOUND THEN
			PERFORM hcledger.add_key(a, k ->> 'key_id', k ->> 'algorithm', decode(k ->> 'public_key', 'hex'),
			                         (k ->> 'valid_from')::timestamptz, (k ->> 'valid_until')::timestamptz);
			IF k ->> 'revoked_at' IS NOT NULL THEN
				PERFORM hcledger.revoke_key(a, k ->> 'key_id', (k ->> 'revoked_at')::timestamptz, k ->> 'revocation_reason');
			END IF;
		ELSIF had.public_key <> decode(k ->> 'public_key', 'hex') OR had.algorithm <> k ->> 'algorithm' THEN
			RAISE EXCEPTION 'key "%" of "%" is registered here with another public key', k ->> 'key_id', a
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Key ids are never reused; check with the member.';
		END IF;
	END LOOP;
	IF was.authority IS NULL THEN
		INSERT INTO hcledger.members (authority, origin, ledger_uuid, connection, subscription)
		VALUES (a, origin, decode(substr(origin, 25), 'hex'), card ->> 'connection', sub);
	ELSE
		UPDATE hcledger.members m SET left_at = NULL, connection = card ->> 'connection', joined_at = now(),
		       joined_by = session_user
		 WHERE m.authority = a;
	END IF;
	-- made disabled: the tables it would write are checked before anything is received
	EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION hcledger_feed, hcledger_keys'
	               ' WITH (create_slot = false, slot_name = %L, copy_data = true, enabled = false)',
	               sub, conninfo, hcledger.member_slot(me));
	extra := hcledger.subscription_extra_tables(sub);
	IF extra IS NOT NULL THEN
		RAISE EXCEPTION 'the publications of "%" carry tables other than the consortium''s: %', a, extra
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'A member publishes hcledger.codes, hcledger.checkpoints, hcledger.cosignatures and hcledger.keys, nothing else; the apply worker would write the others with a superuser''s rights.',
			      HINT = 'Nothing was joined. Ask the member to remove the other tables from its publications hcledger_feed and hcledger_keys.';
	END IF;
	IF current_setting('server_version_num')::integer >= 160000 THEN
		PERFORM hcledger.restrict_subscriptions();
	END IF;
	EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I ENABLE', sub);
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (a, 'joined', 'subscription ' || sub);
END $$;
CREATE OR REPLACE FUNCTION verified_peer_rows(member text, from_position bigint)
RETURNS TABLE (log_position bigint, entry text, credential_id bytea, authority text, at timestamptz, colour text,
               subject bytea, commitment bytea, valid_from timestamptz, valid_until timestamptz, key_id text,
               signature bytea, effective_at timestamptz, reason text, hcl_row bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT l.log_position, p.entry, p.credential_id, p.authority, p.at, p.colour, p.subject, p.commitment, p.valid_from,
	       p.valid_until, p.key_id, p.signature, p.effective_at, p.reason, p.hcl_row
	  FROM hcledger.peer_codes p
	  JOIN hcledger.members m ON m.authority = p.authority
	  JOIN hcledger.peer_leaves l ON l.authority = p.authority AND l.row_number = p.hcl_row
	 WHERE p.authority = member AND l.log_position >= from_position
	   AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, p) OPERATOR(hcledger.=) l.leaf_hash
	 ORDER BY l.log_position
$$;
COMMENT ON FUNCTION verified_peer_rows(text, bigint) IS 'a member''s rows at log positions from from_position on, as received here and matching their accepted leaves, with their positions: what a member restored from backup takes back';

-- On the restored member (a superuser): put the rows back with their row
-- numbers, and append them to the log in the order of the positions the
-- peer gives (a member's log may hold late rows, out of row-number order:
-- docs/format.md, "Sealing order"), so that it is rebuilt with the same
-- leaves as the one the node signed.
CREATE OR REPLACE FUNCTION recover_codes(source regclass) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	n bigint;
	seq text := pg_get_serial_sequence('hcledger.codes', 'hcl_row');
	size bigint;
	origin text;
	signed bigint;
	got record;
	clash bigint;
BEGIN
	SELECT l.tree_size, l.origin INTO size, origin FROM hcledger.ledgers l
	 WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'hcledger.codes is not a ledger here' USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF (SELECT c.relkind FROM pg_class c WHERE c.oid = source) NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', source USING ERRCODE = 'wrong_object_type',
			HINT = 'Copy the peer''s verified_peer_rows() output into a table first.';
	END IF;
	signed := coalesce((hcledger.signed_record(origin)).tree_size, 0);
	-- the positions from the log's end on, each once, without a hole
	EXECUTE format('SELECT count(*) AS n, count(DISTINCT s.log_position) AS d, min(s.log_position) AS lo, max(s.log_position) AS hi
	                  FROM %s s WHERE s.authority = %L AND s.log_position >= %s', source, me, size) INTO got;
	IF got.n > 0 AND (got.d <> got.n OR got.lo <> size OR got.hi - got.lo + 1 <> got.n) THEN
		RAISE EXCEPTION 'the rows of "%" do not cover log positions % to % once each', source, size, got.hi
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = format('Take them from a peer with verified_peer_rows(''%s'', %s), this log''s size.', me, size);
	END IF;
	-- a peer accepts only what the node signed: nothing past it is the member's
	IF got.n > 0 AND got.hi >= signed THEN
		RAISE EXCEPTION 'the rows of "%" reach log position %, past the % leaves this node signed', source, got.hi, signed
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Put back only rows a peer accepted: no peer can have accepted more than the node signed.';
	END IF;
	-- a row here under a lost row's number (issued since the restore) is not that row
	EXECUTE format('SELECT s.hcl_row FROM %s s JOIN hcledger.codes c ON c.hcl_row = s.hcl_row
	                 WHERE s.authority = %L AND s.log_position >= %s
	                   AND (c.entry, c.credential_id, c.authority, c.at, c.colour, c.subject, c.commitment, c.valid_from,
	                        c.valid_until, c.key_id, c.signature, c.effective_at, c.reason)
	                       IS DISTINCT FROM
	                       (s.entry, s.credential_id, s.authority, s.at, s.colour, s.subject, s.commitment, s.valid_from,
	                        s.valid_until, s.key_id, s.signature, s.effective_at, s.reason)
	                 ORDER BY s.hcl_row LIMIT 1', source, me, size) INTO clash;
	IF clash IS NOT NULL THEN
		RAISE EXCEPTION 'row % of hcledger.codes here is not the row the peer holds under that number', clash
			USING ERRCODE = 'unique_violation',
			      HINT = 'A row was written here after the restore, before the lost rows were back: the log cannot be rebuilt; see docs/operations.md.';
	END IF;
	EXECUTE format('INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, subject, commitment,
	                valid_from, valid_until, key_id, signature, effective_at, reason, hcl_row) OVERRIDING SYSTEM VALUE
	                SELECT s.entry, s.credential_id, s.authority, s.at, s.colour, s.subject, s.commitment,
	                       s.valid_from, s.valid_until, s.key_id, s.signature, s.effective_at, s.reason, s.hcl_row
	                  FROM %s s
	                 WHERE s.authority = %L AND s.log_position >= %s
	                   AND NOT EXISTS (SELECT FROM hcledger.codes c WHERE c.hcl_row = s.hcl_row)
	                 ORDER BY s.log_position', source, me, size);
	GET DIAGNOSTICS n = ROW_COUNT;
	-- new codes are numbered after them
	PERFORM setval(seq, greatest((SELECT max(c.hcl_row) FROM hcledger.codes c),
	                             coalesce((SELECT s.last_value FROM pg_sequences s
	                                        WHERE s.schemaname || '.' || s.sequencename = seq), 0)), true)
	 WHERE EXISTS (SELECT FROM hcledger.codes);
	-- sealed in the peer's order, at the positions it accepted them
	IF got.n > 0 THEN
		EXECUTE format('SELECT hcledger.append_listed_rows(''hcledger.codes'', %s,
		                  ARRAY(SELECT s.hcl_row FROM %s s WHERE s.authority = %L AND s.log_position >= %s ORDER BY s.log_position))',
		               size, source, me, size);
	END IF;
	RETURN n;
END $$;
REVOKE EXECUTE ON FUNCTION recover_codes(regclass) FROM PUBLIC;
COMMENT ON FUNCTION recover_codes(regclass) IS 'put back, with their row numbers, the local authority''s code rows a peer kept (verified_peer_rows) from this log''s end on, sealed at the positions the peer gives (superusers only)';

-- recover_codes' sealing in a given order (superusers only)
CREATE FUNCTION append_listed_rows(ledger regclass, from_position bigint, rows bigint[]) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_append_listed_rows' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION append_listed_rows(regclass, bigint, bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION append_listed_rows(regclass, bigint, bigint[]) IS 'append these rows of a ledger to its log, in this order, from log position from_position (its end): a member''s log rebuilt from a peer''s copy (recover_codes; superusers only)';
CREATE OR REPLACE PROCEDURE resume_member(authority text)
LANGUAGE plpgsql AS $$
DECLARE
	sub name := (SELECT m.subscription FROM hcledger.members m WHERE m.authority = resume_member.authority AND m.left_at IS NULL);
	sub_oid oid;
BEGIN
	IF sub IS NULL THEN
		RAISE EXCEPTION 'authority "%" is not a member', authority USING ERRCODE = 'undefined_object',
			HINT = 'The view hcledger.members lists the members.';
	END IF;
	SELECT s.oid INTO sub_oid FROM pg_catalog.pg_subscription s
	 WHERE s.subname = sub AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database());
	EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I DISABLE', sub);
	COMMIT;
	FOR i IN 1 .. 100 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_stat_subscription st WHERE st.subid = sub_oid AND st.pid IS NOT NULL);
		PERFORM pg_catalog.pg_sleep(0.1);
	END LOOP;
	PERFORM pg_catalog.pg_replication_origin_advance('pg_' || sub_oid, '0/0');
	EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I ENABLE', sub);
	INSERT INTO hcledger.member_events (authority, event, detail)
	VALUES (authority, 'joined', 'resumed from the new slot of the restored member');
	COMMIT;
END $$;
REVOKE EXECUTE ON PROCEDURE resume_member(text) FROM PUBLIC;
COMMENT ON PROCEDURE resume_member(text) IS 'after a member restored from backup admitted us again: receive from its new slot''s start (CALL, outside a transaction block)';
CREATE OR REPLACE VIEW split_views AS
WITH seen AS (
	SELECT c.witness, c.origin, c.tree_size, c.root FROM hcledger.cosignatures c
	UNION
	-- our accepted root of a member's log where another witness cosigned a size we never saw signed
	SELECT a.authority, m.origin, r.tree_size, r.root
	  FROM hcledger.peer_roots r JOIN hcledger.members m USING (authority) JOIN hcledger.authorities a ON a.is_local
	UNION
	SELECT a.authority, l.origin, k.tree_size, k.root
	  FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
	  JOIN hcledger.authorities a ON a.is_local
	 WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL
), split AS (
	SELECT s.origin, s.tree_size FROM seen s GROUP BY s.origin, s.tree_size HAVING count(DISTINCT s.root) > 1
)
SELECT coalesce(m.authority, (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local)) AS authority,
       s.origin, s.tree_size, x.root, array_agg(x.witness ORDER BY x.witness) AS witnesses
  FROM split s JOIN seen x ON x.origin = s.origin AND x.tree_size = s.tree_size
  LEFT JOIN hcledger.members m ON m.origin = s.origin
 GROUP BY m.authority, s.origin, s.tree_size, x.root;
--
-- Consortium loose ends (docs/consortium.md): how fresh a member's word is
-- (hcledger.peer_max_age), checkpoints over the format's sizes refused as
-- they arrive, one refused checkpoint decided again.
--
ALTER TABLE member_events DROP CONSTRAINT member_events_event_check,
	ADD CONSTRAINT member_events_event_check
	CHECK (event IN ('published', 'admitted', 'dismissed', 'joined', 'left', 'key added', 'key changed', 'decided again'));
-- When this node last knew a member's state to be current.  The member's
-- own word first: the time its last checkpoint accepted here was signed
-- (its hcledger-time line; never when it was accepted here, which a
-- decision taken later, decide_again, would make recent).  Then the link:
-- the last message its subscription's apply worker received (a streaming
-- link is polled at least every wal_receiver_timeout / 2, and what the
-- member committed before it has been applied), but only while the
-- newest checkpoint received from the member was signed less than
-- peer_max_age before it arrived: one that arrives late is a backlog
-- being applied (after an outage), when a live link says nothing of how
-- far it has come.  Clocks are assumed to agree within that.
CREATE OR REPLACE FUNCTION member_heard_at(authority text) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT greatest(
	         -- its signing time, but never later than we received it (a member's
	         -- clock set ahead, or a time forged forward, would keep it fresh)
	         least(to_timestamp(substring(m.checkpoint FROM E'\nhcledger-time ([0-9]{1,12})\n')::bigint), n.received_at),
	         CASE WHEN n.received_at IS NULL OR n.received_at - n.signed_at <= hcledger.peer_max_age()
	                   OR hcledger.peer_max_age() = interval '0'
	              THEN (SELECT st.last_msg_receipt_time
	                      FROM pg_catalog.pg_subscription s
	                      JOIN pg_catalog.pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL AND st.pid IS NOT NULL
	                     WHERE s.subname = m.subscription AND s.subenabled
	                       AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())) END)
	  FROM hcledger.members m
	  LEFT JOIN LATERAL (SELECT c.received_at,
	                            to_timestamp(substring(c.note FROM E'\nhcledger-time ([0-9]{1,12})\n')::bigint) AS signed_at
	                       FROM hcledger.peer_checkpoints c
	                      WHERE c.authority = m.authority AND c.note ~ E'\nhcledger-time [0-9]{1,12}\n'
	                      ORDER BY c.id DESC LIMIT 1) n ON true
	 WHERE m.authority = member_heard_at.authority
$$;
COMMENT ON FUNCTION member_heard_at(text) IS 'when this node last knew the member''s state to be current: when its last accepted checkpoint was signed, or its link''s last message while it is not applying a backlog';

-- The largest age a member's state may have here (hcledger.peer_max_age;
-- 0: no limit).
CREATE OR REPLACE FUNCTION peer_max_age() RETURNS interval
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(current_setting('hcledger.peer_max_age', true), '5min')::interval
$$;

-- Why a member's state is too old to give a bare verdict at time t (NULL if it is not).
CREATE OR REPLACE FUNCTION member_state_stale(authority text, t timestamptz) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN max_age > interval '0' AND (heard IS NULL OR t - heard > max_age) THEN
		format('nothing has been heard from "%s" since %s (%s ago), longer than hcledger.peer_max_age (%s): a revocation made there since would not be known here',
		       authority, coalesce(heard::text, 'it joined'), coalesce(date_trunc('second', t - heard)::text, 'ever'), max_age)
	       END
	  FROM (SELECT hcledger.member_heard_at(authority) AS heard, hcledger.peer_max_age() AS max_age) x
$$;
-- Decide a refused checkpoint of a member again, once its cause is fixed (a
-- key registered late, say), with the member's later refused checkpoints
-- (refused for the same cause, or for extending it); recorded in
-- member_events, and their refusals acknowledged with the outcome.  A
-- checkpoint still at fault is refused again, with a new refusal.  Returns
-- the checkpoint's new state.
CREATE OR REPLACE FUNCTION decide_again(checkpoint_id bigint, reason text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c hcledger.peer_checkpoints;
	state text;
	subjects text[];
BEGIN
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a reason is required to decide a checkpoint again' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Say what was fixed; it is kept in hcledger.member_events.';
	END IF;
	SELECT * INTO c FROM hcledger.peer_checkpoints p WHERE p.id = checkpoint_id FOR UPDATE;
	IF NOT FOUND OR c.state <> 'refused' THEN
		RAISE EXCEPTION 'there is no refused checkpoint %', checkpoint_id USING ERRCODE = 'no_data_found',
			HINT = 'hcledger.peer_checkpoints lists the checkpoints received, with their state and reason.';
	END IF;
	IF c.note IS NULL AND c.leaves IS NULL THEN
		RAISE EXCEPTION 'checkpoint % of "%" was refused unread and was not kept: %', checkpoint_id, c.authority, c.reason
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'An oversized checkpoint can only be sent again by the member.';
	END IF;
	PERFORM FROM hcledger.members m WHERE m.authority = c.authority AND m.left_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION '"%" is not a member any more', c.authority USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- it, and the later ones (decided while it stood refused), except those refused unread for their size
	-- (each with the refusal it had: those, and only those, are settled below)
	WITH again AS (
		SELECT p.id, format('checkpoint of size %s', p.tree_size) || E'\n' || p.reason AS said
		  FROM hcledger.peer_checkpoints p
		 WHERE p.id = c.id
		    OR (p.authority = c.authority AND p.state = 'refused' AND p.tree_size > c.tree_size
		        AND (p.note IS NOT NULL OR p.leaves IS NOT NULL))
		   FOR UPDATE),
	requeued AS (
		UPDATE hcledger.peer_checkpoints p SET state = 'waiting', reason = NULL, decided_at = NULL
		  FROM again a WHERE p.id = a.id)
	SELECT array_agg(a.said) INTO subjects FROM again a;
	PERFORM hcledger.member_advance(c.authority);
	SELECT p.state INTO state FROM hcledger.peer_checkpoints p WHERE p.id = c.id;
	INSERT INTO hcledger.member_events (authority, event, detail)
	VALUES (c.authority, 'decided again',
	        format('checkpoint %s (size %s): %s; %s', c.id, c.tree_size, state, reason));
	UPDATE hcledger.refusals r SET acknowledged_at = now(), acknowledged_by = session_user,
	       acknowledgement = format('decided again (%s): %s', decide_again.reason,
	                                (SELECT p.state FROM hcledger.peer_checkpoints p
	                                  WHERE p.authority = c.authority AND format('checkpoint of size %s', p.tree_size) = r.subject
	                                  ORDER BY p.id DESC LIMIT 1))
	 WHERE r.authority = c.authority AND r.kind = 'checkpoint' AND r.acknowledged_at IS NULL
	   AND r.subject || E'\n' || r.reason = ANY (subjects)
	   AND r.at < now();	-- (a refusal made again just now stays to be seen)
	RETURN state;
END $$;
COMMENT ON FUNCTION decide_again(bigint, text) IS 'decide a refused checkpoint of a member again once its cause is fixed (recorded); one still at fault is refused again';
REVOKE EXECUTE ON FUNCTION decide_again(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION decide_again(bigint, text) TO hcledger_admin;
CREATE OR REPLACE VIEW member_status AS
SELECT m.authority, a.display_name, m.subscription, s.subenabled AS enabled,
       st.last_msg_receipt_time AS last_received_at, m.tree_size AS accepted_size, m.accepted_at,
       (SELECT count(*) FROM hcledger.peer_checkpoints c WHERE c.authority = m.authority AND c.state = 'waiting') AS checkpoints_waiting,
       (SELECT count(*) FROM hcledger.refused r WHERE r.authority = m.authority) AS refused,
       m.left_at, m.missing_rows, ss.apply_error_count AS apply_errors,
       h.heard_at, date_trunc('second', clock_timestamp() - h.heard_at) AS state_age,
       m.left_at IS NULL AND hcledger.peer_max_age() > interval '0'
         AND (h.heard_at IS NULL OR clock_timestamp() - h.heard_at > hcledger.peer_max_age()) AS stale,
       pg_catalog.pg_get_userbyid(s.subowner) AS apply_role
  FROM hcledger.members m JOIN hcledger.authorities a USING (authority)
  CROSS JOIN LATERAL (SELECT hcledger.member_heard_at(m.authority) AS heard_at) h
  LEFT JOIN pg_catalog.pg_subscription s ON s.subname = m.subscription AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
  LEFT JOIN pg_catalog.pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL
  LEFT JOIN pg_catalog.pg_stat_subscription_stats ss ON ss.subid = s.oid;

-- Checkpoint and receipt verification try every key with a note's key id,
-- and only the keys of the authority whose log it is: in the library.

-- The sealer seals every database with the extension (src/worker.c).
CREATE OR REPLACE FUNCTION wake_sealer() RETURNS void
	AS 'MODULE_PATHNAME', 'hcl_wake_sealer' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION wake_sealer() IS 'have the sealer look at this database again from its next round (called as the extension is created)';
SELECT wake_sealer();

-- A log's verifier key in the signed-note form of Go's golang.org/x/mod/sumdb/note
-- (NewEd25519VerifierKey): <name>+<key ID, 8 hex digits>+<base64 of 0x01 || key>,
-- the key ID SHA-256(<name> || 0x0a || 0x01 || key)[:4] (docs/format.md).
CREATE FUNCTION verifier_key(name text, public_key bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b bytea := hcledger.name_bytes(name);
	valid boolean := true;
BEGIN
	-- The signed-note rules on the name's UTF-8: non-empty, valid, no
	-- plus, no Unicode space (Go's unicode.IsSpace), and here no control
	-- character either.  Matched on whole bytes of valid UTF-8, where a
	-- lead byte never appears inside another character.
	BEGIN
		PERFORM convert_from(b, 'UTF8');
	EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
		valid := false;
	END;
	IF b = '' OR NOT valid
	   OR encode(b, 'hex') ~ '^(..)*?([01][0-9a-f]|20|2b|7f|c2[89][0-9a-f]|c2a0|e19a80|e2808[0-9a]|e280a[89f]|e2819f|e38080)' THEN
		RAISE EXCEPTION 'a note key name must be non-empty UTF-8, without spaces, plus signs or control characters: "%"', name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF octet_length(public_key) <> 32 THEN
		RAISE EXCEPTION 'an Ed25519 public key is 32 bytes, not %', octet_length(public_key)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'hcledger.public_key_raw(''ed25519'', key) turns a PEM or DER key into its 32 bytes.';
	END IF;
	RETURN name || '+' || encode(substring(sha256(b || '\x0a01'::bytea || public_key) FROM 1 FOR 4), 'hex')
	       || '+' || encode('\x01'::bytea || public_key, 'base64');
END $$;
COMMENT ON FUNCTION verifier_key(text, bytea) IS 'a signed-note verifier key, name+keyid+base64(0x01 || Ed25519 key), as Go''s note.NewEd25519VerifierKey makes it';

-- The verifier key of a ledger's checkpoints: its origin and the node's key.
CREATE FUNCTION ledger_verifier_key(ledger regclass) RETURNS text
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT hcledger.verifier_key(l.origin, hcledger.signing_public_key())
	  FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL
$$;
COMMENT ON FUNCTION ledger_verifier_key(regclass) IS 'the verifier key (signed-note form) of the ledger''s signed checkpoints: its origin and this node''s signing key (NULL without a key)';

-- the card carries the verifier key of the codes ledger's checkpoints
CREATE OR REPLACE FUNCTION member_card() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object(
		'hcledger_member', 1,
		'authority', a.authority,
		'display_name', a.display_name,
		'origin', l.origin,
		'verifier_key', hcledger.verifier_key(l.origin, hcledger.signing_public_key()),
		'connection', a.connection,
		'publications', jsonb_build_array('hcledger_feed', 'hcledger_keys'),
		'keys', (SELECT coalesce(jsonb_agg(jsonb_build_object(
		                  'key_id', k.key_id, 'algorithm', k.algorithm, 'public_key', encode(k.public_key, 'hex'),
		                  'valid_from', k.valid_from, 'valid_until', k.valid_until,
		                  'revoked_at', k.revoked_at, 'revocation_reason', k.revocation_reason) ORDER BY k.key_id), '[]')
		           FROM hcledger.keys k WHERE k.authority = a.authority))
	  FROM hcledger.authorities a, hcledger.ledgers l
	 WHERE a.is_local AND l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL
$$;

--
-- The log as a static C2SP tlog-tiles tree (docs/receipts.md, "Serving the
-- log as tiles").
--
-- A tile index as tlog-tiles writes it in a path: zero-padded groups of three
-- digits, every group but the last prefixed with "x" (1234067: x001/x234/067).
CREATE FUNCTION tile_index_path(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT string_agg(CASE WHEN g < len / 3 - 1 THEN 'x' ELSE '' END || substr(digits, 3 * g + 1, 3), '/' ORDER BY g)
	  FROM (SELECT lpad(n::text, ((length(n::text) + 2) / 3) * 3, '0') AS digits,
	               ((length(n::text) + 2) / 3) * 3 AS len) d,
	       generate_series(0, ((length(n::text) + 2) / 3) - 1) g
	 WHERE n >= 0
$$;
COMMENT ON FUNCTION tile_index_path(bigint) IS 'a tile or entry bundle index as a C2SP tlog-tiles path: 1234067 is x001/x234/067';

-- The files of the ledger's log at its latest signed checkpoint, as a static
-- tlog-tiles tree: the tiles (and entry bundles) that differ from those of
-- the mirror's checkpoint (all of them without one), then "checkpoint".
CREATE FUNCTION tlog_tiles(ledger regclass, mirror_checkpoint text DEFAULT NULL, with_entries boolean DEFAULT true)
RETURNS TABLE (path text, content bytea)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	led record;
	cur record;
	old_size bigint := 0;
	mirror text[];
	old_root hcledger.hash256;
	t record;
	leaf bytea;
	row_no bigint;
	entries bytea[];
	bundle_tile bigint;
BEGIN
	IF ledger IS NULL OR with_entries IS NULL THEN
		RAISE EXCEPTION 'tlog_tiles: ledger and with_entries must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT l.ledger_id, l.origin INTO led FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table "%" is not a ledger', ledger USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	SELECT k.tree_size, k.root, k.note INTO cur FROM hcledger.checkpoints k
	 WHERE k.ledger_id = led.ledger_id AND k.note IS NOT NULL AND k.tree_size > 0
	 ORDER BY k.tree_size DESC LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'ledger "%" has no signed checkpoint to serve', ledger USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Set hcledger.signing_key_file and let the sealer seal some rows first.';
	END IF;
	-- The tiles must give the signed root, or clients would be served a
	-- tree they reject: the root of the last leaf's inclusion proof.
	SELECT ('x' || encode(substring(x.row_numbers FROM (8 * ((cur.tree_size - 1) % 256) + 1)::integer FOR 8), 'hex'))::bit(64)::bigint
	  INTO row_no FROM hcledger.tiles x
	 WHERE x.ledger_id = led.ledger_id AND x.level = 0 AND x.tile = (cur.tree_size - 1) / 256;
	IF row_no IS NULL OR (hcledger.ledger_inclusion_proof(ledger, row_no, cur.tree_size)).root OPERATOR(hcledger.<>) cur.root THEN
		RAISE EXCEPTION 'the Merkle log of ledger "%" does not match its checkpoint at tree size %', ledger, cur.tree_size
			USING ERRCODE = 'data_corrupted', HINT = 'Run hcledger.verify_ledger() to locate the damage.';
	END IF;
	IF mirror_checkpoint IS NOT NULL THEN
		mirror := string_to_array(mirror_checkpoint, E'\n');
		IF cardinality(mirror) < 4 OR mirror[2] !~ '^(0|[1-9][0-9]{0,17})$' OR mirror[3] !~ '^[A-Za-z0-9+/]{43}=$' THEN
			RAISE EXCEPTION 'the mirror''s checkpoint is not a tlog checkpoint' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF mirror[1] <> led.origin THEN
			RAISE EXCEPTION 'the mirror serves the log "%", not ledger "%"''s log "%"', mirror[1], ledger, led.origin
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'Export each ledger into a directory of its own; a ledger whose log was restarted needs a new one.';
		END IF;
		old_size := mirror[2]::bigint;
		old_root := decode(mirror[3], 'base64')::hcledger.hash256;
		IF old_size > cur.tree_size THEN
			RAISE EXCEPTION 'the mirror''s checkpoint of % leaves is ahead of ledger "%"''s latest signed checkpoint, of % leaves',
			                old_size, ledger, cur.tree_size
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      DETAIL = 'This database has not signed that much of the log (yet): a database restored from a backup, or a standby that lags.',
				      HINT = 'Export from the primary, or once the ledger is sealed past the mirror''s size; the mirror is left as it is.';
		END IF;
		-- The mirror's tree must be a prefix of this one: a consistency proof
		-- from this log's tiles leads from its root to the signed root.
		IF (old_size = cur.tree_size AND old_root OPERATOR(hcledger.<>) cur.root)
		   OR (old_size > 0 AND old_size < cur.tree_size
		       AND NOT hcledger.verify_consistency(old_size, cur.tree_size, old_root, cur.root,
		                                           hcledger.ledger_consistency_proof(ledger, old_size, cur.tree_size))) THEN
			RAISE EXCEPTION 'the mirror''s checkpoint of % leaves is not of ledger "%"''s history', old_size, ledger
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = 'Its root is not the root of this log at that size: the mirror holds another history.',
				      HINT = 'Keep the mirror as evidence and export into a new directory.';
		END IF;
		IF old_size = cur.tree_size THEN
			RETURN;		-- nothing newer than the mirror's checkpoint
		END IF;
	END IF;

	-- Level l holds the n = floor(size / 256^l) complete subtrees of 256^l
	-- leaves; tile k of it the entries 256k .. 256k + w - 1.  Served: the
	-- full tiles the mirror lacks, and the partial tiles of every checkpoint
	-- since the mirror's that are still partial now (tlog-tiles: a log serves
	-- the partial tiles of each size it made a checkpoint of, and may drop
	-- one once its full tile is served), smallest level, index and width first.
	FOR t IN
		WITH sizes AS (SELECT k.tree_size AS s FROM hcledger.checkpoints k
		                WHERE k.ledger_id = led.ledger_id AND k.tree_size > old_size AND k.tree_size <= cur.tree_size),
		     levels AS (SELECT l, old_size >> (8 * l) AS n0, cur.tree_size >> (8 * l) AS n
		                  FROM generate_series(0, 7) l WHERE cur.tree_size >> (8 * l) > 0),
		     wanted AS (SELECT l, k, 256 AS w FROM levels, generate_series(n0 / 256, n / 256 - 1) k
		                UNION
		                SELECT l, (s >> (8 * l)) / 256, ((s >> (8 * l)) % 256)::integer
		                  FROM levels, sizes WHERE (s >> (8 * l)) % 256 <> 0
		                   AND (s >> (8 * l)) / 256 = n / 256
		                   AND NOT ((s >> (8 * l)) / 256 = n0 / 256 AND (s >> (8 * l)) % 256 = n0 % 256))
		SELECT w.l, w.k, w.w, x.hashes, x.row_numbers FROM wanted w
		  LEFT JOIN hcledger.tiles x ON x.ledger_id = led.ledger_id AND x.level = w.l AND x.tile = w.k
		 ORDER BY w.l, w.k, w.w
	LOOP
		IF t.hashes IS NULL OR octet_length(t.hashes) < 32 * t.w THEN
			RAISE EXCEPTION 'ledger "%" lacks tile % of level % for tree size %', ledger, t.k, t.l, cur.tree_size
				USING ERRCODE = 'data_corrupted', HINT = 'Run hcledger.verify_ledger() to locate the damage.';
		END IF;
		path := 'tile/' || t.l || '/' || hcledger.tile_index_path(t.k) || CASE WHEN t.w < 256 THEN '.p/' || t.w ELSE '' END;
		content := substring(t.hashes FROM 1 FOR 32 * t.w);
		RETURN NEXT;
		CONTINUE WHEN t.l > 0 OR NOT with_entries;
		-- The entry bundle: each leaf as a big-endian uint16 length and its
		-- bytes; the leaves of one tile read once for all its widths.
		IF bundle_tile IS DISTINCT FROM t.k THEN
			bundle_tile := t.k;
			entries := '{}';
		END IF;
		FOR i IN cardinality(entries) .. t.w - 1 LOOP
			row_no := ('x' || encode(substring(t.row_numbers FROM 8 * i + 1 FOR 8), 'hex'))::bit(64)::bigint;
			leaf := hcledger.row_leaf(ledger, row_no);
			IF octet_length(leaf) > 65535 THEN
				RAISE EXCEPTION 'row % of ledger "%" has a leaf of % bytes; an entry bundle holds entries of up to 65,535 bytes',
				                row_no, ledger, octet_length(leaf)
					USING ERRCODE = 'program_limit_exceeded',
					      HINT = 'Export the tiles without entry bundles (with_entries => false).';
			END IF;
			IF sha256('\x00'::bytea || leaf) <> substring(t.hashes FROM 32 * i + 1 FOR 32) THEN
				RAISE EXCEPTION 'row % of ledger "%" does not hash to its leaf hash at log position %', row_no, ledger, 256 * t.k + i
					USING ERRCODE = 'data_corrupted', HINT = 'Run hcledger.verify_ledger() to locate the damage.';
			END IF;
			entries := entries || (decode(lpad(to_hex(octet_length(leaf)), 4, '0'), 'hex') || leaf);
		END LOOP;
		path := 'tile/entries/' || hcledger.tile_index_path(t.k) || CASE WHEN t.w < 256 THEN '.p/' || t.w ELSE '' END;
		SELECT string_agg(e, ''::bytea ORDER BY o) INTO content FROM unnest(entries[1:t.w]) WITH ORDINALITY u(e, o);
		RETURN NEXT;
	END LOOP;
	path := 'checkpoint';
	content := convert_to(cur.note, 'UTF8');
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION tlog_tiles(regclass, text, boolean) IS 'the ledger''s log at its latest signed checkpoint as C2SP tlog-tiles files (path, content): those newer than the mirror''s checkpoint, then "checkpoint" (docs/receipts.md)';

-- The same proof as ledger_receipt in the C2SP tlog-proof form (docs/receipts.md).
CREATE FUNCTION ledger_tlog_proof(ledger regclass, row_number bigint, tree_size bigint DEFAULT NULL,
                                  with_leaf boolean DEFAULT true)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT E'c2sp.org/tlog-proof@v1\n'
	       || coalesce('extra ' || (r ->> 'leaf') || E'\n', '')
	       || 'index ' || (r ->> 'leaf_index') || E'\n'
	       || coalesce((SELECT string_agg(encode(decode(h, 'hex'), 'base64') || E'\n', '' ORDER BY i)
	                      FROM jsonb_array_elements_text(r -> 'proof') WITH ORDINALITY p(h, i)), '')
	       || E'\n' || (r ->> 'checkpoint')
	  FROM (SELECT hcledger.ledger_receipt(ledger, row_number, tree_size, with_leaf)::jsonb AS r) x
	 WHERE r IS NOT NULL
$$;
COMMENT ON FUNCTION ledger_tlog_proof(regclass, bigint, bigint, boolean) IS 'a C2SP tlog-proof that a sealed row is in a signed checkpoint of the ledger (default: the latest); extra: the row''s leaf';

-- its message names the table, not its encoded origin
CREATE OR REPLACE FUNCTION rewrite_guard() RETURNS event_trigger
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

-- SM3 and SM2 (sql/install/02_merkle.sql, 03_signature.sql).
CREATE FUNCTION sm3(data bytea) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_sm3_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sm3(bytea) IS 'SM3 (GB/T 32905) of data, as hash256';

-- SM2 (GB/T 32918.2): SM3 over Z_A || message, Z_A from the signer's
-- identity (GM/T 0009's default 1234567812345678) and the key.
CREATE FUNCTION sm2_verify(public_key bytea, message bytea, signature bytea,
						   signature_format text DEFAULT 'raw',
						   signer_id bytea DEFAULT '\x31323334353637383132333435363738') RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_sm2_verify_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sm2_verify(bytea, bytea, bytea, text, bytea) IS 'SM2 signature check with SM3 and the signer identity (default 1234567812345678); signature raw r||s or DER; key as a raw point, SubjectPublicKeyInfo DER or PEM';

CREATE FUNCTION sm2_public_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_sm2_public_key' LANGUAGE C STABLE;
COMMENT ON FUNCTION sm2_public_key() IS 'the raw SM2 public key (65-byte point) of hcledger.sm2_key_file (NULL if none is set)';

CREATE FUNCTION sm2_sign(message bytea, signer_id bytea DEFAULT '\x31323334353637383132333435363738') RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_sm2_sign_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION sm2_sign(bytea, bytea) IS 'the node''s SM2 signature (raw r||s) of message for the signer identity, with hcledger.sm2_key_file (NULL if none is set)';
REVOKE EXECUTE ON FUNCTION sm2_sign(bytea, bytea) FROM PUBLIC;

-- SM2 keys in the registry (sql/install/05_receipt.sql).
ALTER TABLE keys DROP CONSTRAINT keys_algorithm_check,
	ADD CONSTRAINT keys_algorithm_check CHECK (algorithm IN ('ed25519', 'es256', 'sm2'));
COMMENT ON FUNCTION public_key_raw(text, bytea) IS 'a public key (PEM, DER or raw) as raw bytes: 32 for ed25519, the 65-byte uncompressed point for es256 and sm2';
CREATE OR REPLACE FUNCTION verify_signature(authority text, message bytea, signature bytea, signed_at timestamptz,
								 key_id text DEFAULT NULL)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(bool_or(CASE k.algorithm
	                          WHEN 'ed25519' THEN hcledger.ed25519_verify(k.public_key, message, signature)
	                          WHEN 'sm2' THEN hcledger.sm2_verify(k.public_key, message, signature)
	                          ELSE hcledger.ecdsa_p256_verify(k.public_key, message, signature) END), false)
	  FROM hcledger.keys k
	 WHERE k.authority = verify_signature.authority
	   AND (verify_signature.key_id IS NULL OR k.key_id = verify_signature.key_id)
	   AND k.valid_from <= signed_at AND (k.valid_until IS NULL OR signed_at < k.valid_until)
	   AND (k.revoked_at IS NULL OR signed_at < k.revoked_at)
$$;
COMMENT ON FUNCTION verify_signature(text, bytea, bytea, timestamptz, text) IS 'does a key of the authority valid (and not revoked) at signed_at verify the signature? (Ed25519, ES256 raw r||s, or SM2 raw r||s with the default identity)';

-- Health codes signed with SM2 (docs/health-codes.md, "Payload format"):
-- the credential key may be SM2; code_decode says a code's algorithm and
-- code_message makes an SM2 code's message (their result types change).
COMMENT ON FUNCTION credential_public_key() IS 'the raw public key (65-byte point, P-256 or SM2) of hcledger.credential_key_file (NULL if none is set)';
CREATE FUNCTION credential_key_algorithm() RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_credential_key_algorithm' LANGUAGE C STABLE;
COMMENT ON FUNCTION credential_key_algorithm() IS 'es256 or sm2: what the key of hcledger.credential_key_file signs codes with (NULL if none is set)';
DROP FUNCTION code_decode(text);
DROP FUNCTION code_message(text, text, bytea, timestamptz, timestamptz, timestamptz, bytea);
CREATE FUNCTION code_decode(payload text,
	OUT problem text, OUT authority text, OUT key_id text, OUT credential_id bytea, OUT issued_at timestamptz,
	OUT valid_from timestamptz, OUT valid_until timestamptz, OUT commitment bytea, OUT signature bytea,
	OUT message bytea, OUT algorithm text, OUT selective boolean, OUT disclosure_problem text)
	AS 'MODULE_PATHNAME', 'hcl_code_decode_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION code_decode(text) IS 'the fields of a health code payload and the message its issuer signed (problem: why it is not one; disclosure_problem: an HCL3: code disclosing a claim its issuer did not sign)';
CREATE FUNCTION code_message(authority text, key_id text, credential_id bytea, issued_at timestamptz,
	valid_from timestamptz, valid_until timestamptz, commitment bytea, algorithm text DEFAULT 'es256',
	selective boolean DEFAULT false) RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_code_message_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION code_message(text, text, bytea, timestamptz, timestamptz, timestamptz, bytea, text, boolean) IS 'the message an authority signs for a credential, ES256 or SM2, HCL3: (selective) or not (docs/health-codes.md, "Credential")';
-- Does key (of algorithm, a code's) verify signature over a code's message?
CREATE FUNCTION code_signature_valid(algorithm text, public_key bytea, message bytea, signature bytea) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE algorithm WHEN 'es256' THEN hcledger.ecdsa_p256_verify(public_key, message, signature)
	                      WHEN 'sm2' THEN hcledger.sm2_verify(public_key, message, signature) END
$$;
COMMENT ON FUNCTION code_signature_valid(text, bytea, bytea, bytea) IS 'does the key verify a code''s ES256 or SM2 (default identity) signature? (NULL for another algorithm)';

-- Selective disclosure (HCL3:, docs/health-codes.md): issuing takes selective,
-- code_disclose presents a subset of an HCL3: code's claims.
DROP FUNCTION code_issue_parts(jsonb, text, text, timestamptz, timestamptz, timestamptz);
CREATE FUNCTION code_issue_parts(claims jsonb, authority text, key_id text, issued_at timestamptz,
	valid_from timestamptz, valid_until timestamptz, selective boolean DEFAULT false,
	OUT credential_id bytea, OUT subject bytea, OUT commitment bytea, OUT signature bytea, OUT payload text)
	AS 'MODULE_PATHNAME', 'hcl_code_issue_parts' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION code_issue_parts(jsonb, text, text, timestamptz, timestamptz, timestamptz, boolean) FROM PUBLIC;
CREATE FUNCTION code_disclose(payload text, claims text[]) RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_code_disclose' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION code_disclose(text, text[]) IS 'an HCL3: code presenting only the named claims (docs/health-codes.md, "Selective disclosure"); needs no key, reads no table';
COMMENT ON FUNCTION code_claims(text) IS 'the claims a payload carries (the traveller''s own data, for display; of an HCL3: code, those it discloses); reads no table';

-- Converting a member's code (sql/install/17_code_conversion.sql), and issue_code's
-- inside that it shares.
-- Sign and record a code of the local authority: claims, colour, issued at
-- t, valid from f until u, and for a converted code its provenance (the
-- issue row's reason; docs/health-codes.md, "Converting a member's code").
-- Inside issue_code and convert_code only.
CREATE OR REPLACE FUNCTION issue_entry(claims jsonb, colour text, t timestamptz, f timestamptz, u timestamptz,
                            provenance text, selective boolean, OUT credential_id bytea, OUT payload text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	auth text;
	kid text;
	pub bytea := hcledger.credential_public_key();
	alg text := hcledger.credential_key_algorithm();
	p record;
BEGIN
	SELECT a.authority INTO auth FROM hcledger.authorities a WHERE a.is_local;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'this database issues for no authority' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'An administrator registers it with hcledger.add_authority(name, display_name, true).';
	END IF;
	IF pub IS NULL THEN
		RAISE EXCEPTION 'hcledger.credential_key_file is not set' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'See docs/health-codes.md, "Deploying".';
	END IF;
	SELECT k.key_id INTO kid FROM hcledger.keys k
	 WHERE k.authority = auth AND k.algorithm = alg AND k.public_key = pub
	   AND date_trunc('second', k.valid_from) <= t AND (k.valid_until IS NULL OR t < date_trunc('second', k.valid_until))
	   AND (k.revoked_at IS NULL OR t < date_trunc('second', k.revoked_at));
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the key of hcledger.credential_key_file is not a registered, valid % key of authority "%"', alg, auth
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = format('An administrator registers it with hcledger.add_key(authority, key_id, %L, hcledger.credential_public_key()).', alg);
	END IF;
	p := hcledger.code_issue_parts(claims, auth, kid, t, f, u, selective);
	PERFORM hcledger.codes_ledger();
	INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, subject, commitment, valid_from,
	                            valid_until, key_id, signature, reason)
	VALUES ('issue', p.credential_id, auth, t, colour, p.subject, p.commitment, f, u, kid, p.signature, provenance);
	credential_id := p.credential_id;
	payload := p.payload;
END $$;
REVOKE EXECUTE ON FUNCTION issue_entry(jsonb, text, timestamptz, timestamptz, timestamptz, text, boolean) FROM PUBLIC;


-- The provenance of a converted code, as its issue row's reason records
-- it: the source's authority and credential id, and the signed checkpoint
-- of the source's log the source was verified against.
CREATE FUNCTION code_provenance(source_authority text, source_credential_id bytea, checkpoint_origin text,
                                checkpoint_size bigint, checkpoint_root hash256) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('converted from %s code %s under checkpoint %s %s %s', source_authority,
	              encode(source_credential_id, 'hex'), checkpoint_origin, checkpoint_size, checkpoint_root::text)
$$;
COMMENT ON FUNCTION code_provenance(text, bytea, text, bigint, hash256) IS 'the reason an issue row of a converted code records: its source and the checkpoint it was verified against';

-- The provenance a converted code's issue row records, parsed: NULL
-- unless the reason is exactly code_provenance's line.
CREATE FUNCTION code_provenance_parts(reason text, OUT source_authority text, OUT source_credential_id bytea,
                                      OUT checkpoint_origin text, OUT checkpoint_size bigint, OUT checkpoint_root text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p[1], decode(p[2], 'hex'), p[3], p[4]::bigint, p[5]
	  FROM (SELECT regexp_match(reason, '^converted from (\S+) code ([0-9a-f]{32}) under checkpoint (\S+) ([0-9]{1,18}) ([0-9a-f]{64})$') AS p) x
$$;
COMMENT ON FUNCTION code_provenance_parts(text) IS 'the source and checkpoint a converted code''s issue row records (NULL for any other reason)';

-- What the source of a converted code says here at t, as verify_code would
-- judge its ledger rows: NULL verdict if nothing stands in the way, else
-- revoked, tampered, incomplete or stale with the reason; and the source's
-- latest colour.  A source whose authority's log is not followed here (or
-- no longer) is stale: its revocation could not be known.
CREATE FUNCTION code_source_state(source_authority text, source_credential_id bytea, converted_until timestamptz,
                                  t timestamptz, OUT verdict text, OUT reason text, OUT colour text,
                                  OUT revoked_from timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m hcledger.members;
	is_local boolean := EXISTS (SELECT FROM hcledger.authorities a WHERE a.authority = source_authority AND a.is_local);
	what text := format('the %s code %s it was converted from', source_authority, encode(source_credential_id, 'hex'));
	iss record;
	k record;
	st record;
	rev record;
	chk record;
	stale_why text;
BEGIN
	IF NOT is_local THEN
		SELECT * INTO m FROM hcledger.members x WHERE x.authority = source_authority;
		IF m.authority IS NULL OR m.left_at IS NOT NULL THEN
			verdict := 'stale';
			reason := format('the log of "%s" is not followed here%s: a revocation of %s could not be known',
			                 source_authority, CASE WHEN m.left_at IS NOT NULL THEN format(' since it left (%s)', m.left_at) ELSE '' END, what);
			RETURN;
		END IF;
	END IF;
	-- its issue row, the first in its authority's log; then its status and revocation rows after it
	SELECT y.* INTO iss
	  FROM (SELECT x.hcl_row, x.at, x.key_id, x.valid_until, x.colour, NULL::bigint AS log_position
	          FROM hcledger.codes x WHERE is_local AND x.credential_id = source_credential_id AND x.entry = 'issue'
	        UNION ALL
	        SELECT x.hcl_row, x.at, x.key_id, x.valid_until, x.colour, l.log_position
	          FROM hcledger.peer_codes x
	          LEFT JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
	         WHERE NOT is_local AND x.authority = source_authority AND x.credential_id = source_credential_id AND x.entry = 'issue') y
	 ORDER BY y.log_position NULLS LAST, y.hcl_row LIMIT 1;
	IF iss.hcl_row IS NULL THEN
		verdict := 'incomplete';
		reason := format('%s is not in the log of "%s" as it has reached us', what, source_authority);
		RETURN;
	END IF;
	colour := iss.colour;
	IF converted_until > iss.valid_until THEN
		verdict := 'tampered';
		reason := format('it is valid until %s, longer than %s (%s)', converted_until, what, iss.valid_until);
		RETURN;
	END IF;
	SELECT y.hcl_row, y.colour INTO st
	  FROM (SELECT x.hcl_row, x.colour FROM hcledger.codes x
	         WHERE is_local AND x.credential_id = source_credential_id AND x.entry = 'status'
	        UNION ALL
	        SELECT x.hcl_row, x.colour FROM hcledger.peer_codes x
	         WHERE NOT is_local AND x.authority = source_authority AND x.credential_id = source_credential_id AND x.entry = 'status') y
	 WHERE y.hcl_row > iss.hcl_row ORDER BY y.hcl_row DESC LIMIT 1;
	colour := coalesce(st.colour, colour);
	SELECT y.hcl_row, y.effective_at, y.reason INTO rev
	  FROM (SELECT x.hcl_row, x.effective_at, x.reason FROM hcledger.codes x
	         WHERE is_local AND x.credential_id = source_credential_id AND x.entry = 'revoke'
	        UNION ALL
	        SELECT x.hcl_row, x.effective_at, x.reason FROM hcledger.peer_codes x
	         WHERE NOT is_local AND x.authority = source_authority AND x.credential_id = source_credential_id AND x.entry = 'revoke') y
	 WHERE y.hcl_row > iss.hcl_row ORDER BY y.hcl_row LIMIT 1;
	revoked_from := rev.effective_at;	-- scheduled or not (status snapshots carry it)
	SELECT * INTO k FROM hcledger.keys x WHERE x.authority = source_authority AND x.key_id = iss.key_id;
	IF rev.hcl_row IS NOT NULL AND rev.effective_at <= t THEN
		verdict := 'revoked';
		reason := format('source revoked: %s is revoked (%s)', what, rev.reason);
	ELSIF k.key_id IS NULL OR date_trunc('second', k.revoked_at) <= iss.at THEN
		verdict := 'revoked';
		reason := format('source revoked: the key "%s" that signed %s %s', iss.key_id, what,
		                 CASE WHEN k.key_id IS NULL THEN 'is not registered here' ELSE format('was revoked at %s', k.revoked_at) END);
	END IF;
	IF verdict IS NOT NULL THEN
		RETURN;
	END IF;
	-- its rows as sealed; a partial or silent log cannot vouch for it
	IF is_local THEN
		chk := hcledger.ledger_rows_check('hcledger.codes', ARRAY[iss.hcl_row, st.hcl_row],
		         coalesce((SELECT max(c.tree_size) FROM hcledger.checkpoints c
		                    WHERE c.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                                          WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)), 0));
	ELSE
		chk := hcledger.peer_rows_check(source_authority, ARRAY[iss.hcl_row, st.hcl_row]);
		stale_why := hcledger.member_state_stale(source_authority, t);
	END IF;
	IF chk.state IN ('altered', 'missing') THEN
		verdict := 'tampered';
		reason := format('row %s of the log of "%s", of %s, does not match what was sealed', chk.row_number, source_authority, what);
	ELSIF m.missing_rows > 0 THEN
		verdict := 'incomplete';
		reason := format('the log of "%s" accepted here lacks %s sealed rows that have not arrived; one may change %s',
		                 source_authority, m.missing_rows, what);
	ELSIF stale_why IS NOT NULL THEN
		verdict := 'stale';
		reason := format('of %s: %s', what, stale_why);
	END IF;
END $$;
COMMENT ON FUNCTION code_source_state(text, bytea, timestamptz, timestamptz) IS 'what stands in the way of a converted code here because of its source (revoked, tampered, incomplete, stale), the source''s colour, and when its revocation takes effect';
REVOKE EXECUTE ON FUNCTION code_source_state(text, bytea, timestamptz, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION convert_code(source_payload text, valid_for interval DEFAULT '7 days',
                             OUT credential_id bytea, OUT payload text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := date_trunc('second', clock_timestamp());
	v record;
	d record;
	cp record;
	auth text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
BEGIN
	IF source_payload IS NULL OR valid_for IS NULL THEN
		RAISE EXCEPTION 'source_payload and valid_for must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF valid_for < interval '1 second' THEN
		RAISE EXCEPTION 'valid_for must be at least one second' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF auth IS NULL THEN
		RAISE EXCEPTION 'this database issues for no authority' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'An administrator registers it with hcledger.add_authority(name, display_name, true).';
	END IF;
	-- the verdict here and now (it refuses a REPEATABLE READ snapshot, as verify_code does)
	SELECT * INTO v FROM hcledger.verify_code(source_payload);
	d := hcledger.code_decode(source_payload);
	IF v.verdict = 'valid' AND d.authority = auth THEN
		RAISE EXCEPTION 'the code is of this authority ("%"): it needs no conversion', auth
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v.verdict = 'valid' AND EXISTS (SELECT FROM hcledger.peer_codes x
	                                    WHERE x.authority = d.authority AND x.credential_id = d.credential_id AND x.entry = 'issue'
	                                      AND (hcledger.code_provenance_parts(x.reason)).source_authority IS NOT NULL) THEN
		-- its source's revocation would not reach a code converted from it: convert the source
		RAISE EXCEPTION 'the code was itself converted from another: convert that one instead'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = v.reason;
	END IF;
	IF v.verdict <> 'valid' THEN
		RAISE EXCEPTION 'the code cannot be converted: it is %', v.verdict
			USING ERRCODE = CASE WHEN v.verdict IN ('invalid', 'bad signature', 'tampered', 'unknown authority', 'not found')
			                     THEN 'invalid_parameter_value' ELSE 'object_not_in_prerequisite_state' END,
			      DETAIL = v.reason,
			      HINT = 'Only a code that verify_code finds valid here is converted.';
	END IF;
	-- the member's checkpoint it was verified against (accepted here, so signed by a key of theirs)
	SELECT * INTO cp FROM hcledger.verify_checkpoint(v.checkpoint, NULL, d.authority);
	IF cp.valid IS NOT TRUE THEN
		RAISE EXCEPTION 'the code cannot be converted: the checkpoint it was verified against does not verify'
			USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = cp.reason;
	END IF;
	-- never valid longer than its source, and from now
	SELECT e.credential_id, e.payload INTO credential_id, payload
	  FROM hcledger.issue_entry(hcledger.code_claims(source_payload), v.colour, t, t,
	                            CASE WHEN valid_for >= d.valid_until - t THEN d.valid_until
	                                 ELSE date_trunc('second', t + valid_for) END,
	                            hcledger.code_provenance(d.authority, d.credential_id, cp.origin, cp.tree_size, cp.root),
	                            d.selective) e;
END $$;
COMMENT ON FUNCTION convert_code(text, interval) IS 'issue a local code from a member''s code that verifies here: the claims its payload carries, never valid longer than it, its provenance in the ledger';
REVOKE EXECUTE ON FUNCTION convert_code(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION convert_code(text, interval) TO hcledger_issuer;

-- rotate_key names the key it retires when an authority has two of one
-- algorithm valid (an SM2 credential key and an SM2 node key).
DROP FUNCTION rotate_key(text, text, text, bytea, timestamptz);
CREATE FUNCTION rotate_key(authority text, new_key_id text, algorithm text, public_key bytea,
						   at timestamptz DEFAULT now(), replaces text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
	ids text;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- the key(s) of that algorithm valid at "at": one, or the one named
	SELECT count(*), string_agg(k.key_id, ', ' ORDER BY k.key_id) INTO n, ids FROM hcledger.keys k
	 WHERE k.authority = rotate_key.authority AND k.algorithm = rotate_key.algorithm
	   AND (replaces IS NULL OR k.key_id = replaces)
	   AND k.revoked_at IS NULL AND k.valid_from < at AND (k.valid_until IS NULL OR k.valid_until > at);
	IF n = 0 THEN
		RAISE EXCEPTION 'authority "%" has no % key%valid at % to rotate', authority, algorithm,
			coalesce(format(' "%s" ', replaces), ' '), at
			USING ERRCODE = 'no_data_found', HINT = 'Use hcledger.add_key() for a first key.';
	ELSIF n > 1 THEN
		-- an SM2 credential key and an SM2 node key, say: never end both
		RAISE EXCEPTION 'authority "%" has % % keys valid at % (%): name the one to retire', authority, n, algorithm, at, ids
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Call rotate_key(..., replaces => key_id).';
	END IF;
	UPDATE hcledger.keys k SET valid_until = at
	 WHERE k.authority = rotate_key.authority AND k.algorithm = rotate_key.algorithm
	   AND (replaces IS NULL OR k.key_id = replaces)
	   AND k.revoked_at IS NULL AND k.valid_from < at AND (k.valid_until IS NULL OR k.valid_until > at);
	PERFORM hcledger.add_key(authority, new_key_id, algorithm, public_key, at, NULL);
END $$;
COMMENT ON FUNCTION rotate_key(text, text, text, bytea, timestamptz, text) IS 'retire an authority''s current key of an algorithm (the one named by replaces, if it has several) at a time and make a new one valid from then (admin only)';
REVOKE EXECUTE ON FUNCTION rotate_key(text, text, text, bytea, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rotate_key(text, text, text, bytea, timestamptz, text) TO hcledger_admin;
-- SM2 checkpoint signatures (issue 18, item 2): with hcledger.sm2_key_file set,
-- checkpoints carry an SM2 line beside the Ed25519 one; a member's card says so
-- and its peers then require it (sql/install/05_receipt.sql, 12_consortium_accept.sql,
-- 14_consortium_members.sql).
ALTER TABLE members ADD COLUMN checkpoint_sm2 boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN members.checkpoint_sm2 IS 'the member''s card says its checkpoints carry an SM2 signature line: one that lacks it, or whose SM2 line does not verify under a key of the member valid at its time, is refused';
CREATE FUNCTION verify_checkpoint_sm2(checkpoint text, authority text, required boolean DEFAULT true,
	OUT valid boolean, OUT reason text, OUT key_id text)
	AS 'MODULE_PATHNAME', 'hcl_verify_checkpoint_sm2' LANGUAGE C STABLE;
COMMENT ON FUNCTION verify_checkpoint_sm2(text, text, boolean) IS 'check a signed checkpoint note''s SM2 lines against the authority''s registered sm2 keys at its time (required: one must verify, and no line under the origin''s name may be by an unregistered key)';

CREATE OR REPLACE FUNCTION decide_checkpoint(id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c hcledger.peer_checkpoints;
	m hcledger.members;
	v record;
	body text;
	cp_last_row bigint;
	n bigint;
	start bigint;
	bad record;
	x record;
	why text;
	size bigint;
	sm2 record;
BEGIN
	SELECT * INTO c FROM hcledger.peer_checkpoints p WHERE p.id = decide_checkpoint.id FOR UPDATE;
	SELECT * INTO m FROM hcledger.members p WHERE p.authority = c.authority FOR UPDATE;
	IF c.note IS NULL THEN
		why := 'the checkpoint is not signed';
	ELSE
		v := hcledger.verify_checkpoint(c.note, NULL, m.authority);
		size := v.tree_size;
		body := left(c.note, position(E'\n\n' IN c.note));
		cp_last_row := substring(body FROM E'\nhcledger-row (-?[0-9]{1,19})\n')::bigint;
		n := length(c.leaves) / 40;
		start := v.tree_size - n;
		IF NOT v.valid THEN
			why := 'its signature does not verify under the member''s registered keys: ' || v.reason;
		ELSIF v.origin <> m.origin THEN
			why := format('it is signed for origin %s, not the member''s %s', v.origin, m.origin);
		ELSIF cp_last_row IS NULL THEN
			why := 'its body has no hcledger-row line';
		ELSIF c.leaves IS NULL OR length(c.leaves) % 40 <> 0 OR n = 0 OR start < 0 THEN
			why := 'its published log entries are missing or malformed';
		END IF;
		-- its SM2 line (docs/consortium.md, "SM2 checkpoint signatures"): required if the
		-- member's card says so; a line by a registered SM2 key must verify in any case
		IF why IS NULL THEN
			sm2 := hcledger.verify_checkpoint_sm2(c.note, m.authority, m.checkpoint_sm2);
			IF NOT sm2.valid THEN
				why := CASE WHEN m.checkpoint_sm2
				            THEN 'its SM2 signature, which the member''s card requires, is not good: '
				            ELSE 'its SM2 signature line does not verify under the member''s registered keys: ' END
				       || sm2.reason;
			END IF;
		END IF;
	END IF;
	IF why IS NULL AND start > m.tree_size THEN
		IF EXISTS (SELECT FROM hcledger.peer_checkpoints p WHERE p.authority = m.authority AND p.state = 'refused'
		           AND p.tree_size = start) THEN
			-- quarantine: what extends a refused checkpoint is refused too
			why := format('it extends the refused checkpoint of size %s; this member''s log is accepted up to size %s only',
			              start, m.tree_size);
		ELSE
			UPDATE hcledger.peer_checkpoints p SET reason = format('covers log positions %s to %s; positions %s to %s have not arrived',
			                                                       start, v.tree_size - 1, m.tree_size, start - 1)
			 WHERE p.id = c.id;
			RETURN 'waiting';
		END IF;
	END IF;
	IF why IS NULL AND start < m.tree_size THEN
		-- entries already accepted must be the same
		SELECT start + e.entry AS pos, e.row_number, l.row_number AS had_row INTO bad
		  FROM hcledger.log_entries(c.leaves) e
		  LEFT JOIN hcledger.peer_leaves l ON l.authority = m.authority AND l.log_position = start + e.entry
		 WHERE start + e.entry < m.tree_size
		   AND (l.leaf_hash IS NULL OR l.leaf_hash OPERATOR(hcledger.<>) e.leaf_hash OR l.row_number <> e.row_number)
		 ORDER BY e.entry LIMIT 1;
		IF FOUND THEN
			why := format('rewritten history: log position %s (row %s) differs from the log accepted up to size %s',
			              bad.pos, bad.row_number, m.tree_size);
		ELSIF v.tree_size <= m.tree_size THEN
			IF (SELECT hcledger.merkle_root_of_leaf_hashes(l.leaf_hash ORDER BY l.log_position)
			      FROM hcledger.peer_leaves l WHERE l.authority = m.authority AND l.log_position < v.tree_size)
			   OPERATOR(hcledger.=) v.root THEN
				UPDATE hcledger.peer_checkpoints p SET state = 'duplicate', tree_size = v.tree_size, root = v.root,
				       reason = 'already covered by an accepted checkpoint', decided_at = clock_timestamp()
				 WHERE p.id = c.id;
				RETURN 'duplicate';
			END IF;
			why := format('rewritten history: its root at size %s is not that of the accepted log', v.tree_size);
		END IF;
	END IF;
	IF why IS NULL THEN
		x := hcledger.log_extend(m.frontier, m.tree_size, substring(c.leaves FROM ((m.tree_size - start) * 40 + 1)::integer));
		IF x.root OPERATOR(hcledger.<>) v.root THEN
			why := format('not consistent with the accepted checkpoint of size %s: its log entries do not extend that log to its signed root',
			              m.tree_size);
		ELSIF EXISTS (SELECT FROM hcledger.log_entries(c.leaves) e
		               WHERE start + e.entry >= m.tree_size
		                 AND (e.row_number < 1
		                      OR EXISTS (SELECT FROM hcledger.peer_leaves l
		                                  WHERE l.authority = m.authority AND l.row_number = e.row_number)))
		   OR (SELECT count(*) <> count(DISTINCT e.row_number) FROM hcledger.log_entries(c.leaves) e
		        WHERE start + e.entry >= m.tree_size) THEN
			-- rows may be sealed out of row-number order (docs/format.md, "Sealing order"), but each once
			why := 'its log entries list a row number twice (or one below 1)';
		ELSIF cp_last_row <> (SELECT greatest(m.last_row, max(e.row_number)) FROM hcledger.log_entries(c.leaves) e
		                      WHERE start + e.entry >= m.tree_size) THEN
			why := 'its hcledger-row line is not the highest row number of its log';
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		UPDATE hcledger.peer_checkpoints p SET state = 'refused', reason = why, decided_at = clock_timestamp()
		 WHERE p.id = c.id;
		PERFORM hcledger.refuse(m.authority, 'checkpoint', format('checkpoint of size %s', coalesce(size, c.tree_size)), why);
		RETURN 'refused';
	END IF;

	INSERT INTO hcledger.peer_leaves (authority, row_number, log_position, leaf_hash)
	SELECT m.authority, e.row_number, start + e.entry, e.leaf_hash
	  FROM hcledger.log_entries(c.leaves) e WHERE start + e.entry >= m.tree_size;
	-- leaves whose row has not arrived (yet): until it does, the member's codes are incomplete here
	UPDATE hcledger.members p SET tree_size = v.tree_size, last_row = cp_last_row, root = v.root,
	       frontier = x.frontier, checkpoint = c.note, accepted_at = clock_timestamp(),
	       missing_rows = p.missing_rows + (SELECT count(*) FROM hcledger.log_entries(c.leaves) e
	                                        WHERE start + e.entry >= m.tree_size
	                                          AND NOT EXISTS (SELECT FROM hcledger.peer_codes r
	                                                          WHERE r.authority = m.authority AND r.hcl_row = e.row_number
	                                                            AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, r)
	                                                                OPERATOR(hcledger.=) e.leaf_hash))
	 WHERE p.authority = m.authority;
	UPDATE hcledger.peer_checkpoints p SET state = 'accepted', tree_size = v.tree_size, root = v.root,
	       reason = NULL, decided_at = clock_timestamp(), frontier = x.frontier
	 WHERE p.id = c.id;
	-- rows received before their checkpoint: each must be what the member sealed
	PERFORM hcledger.refuse(m.authority, 'row', format('row %s', p.hcl_row),
	                        format('its content does not match its leaf at log position %s', l.log_position))
	   FROM hcledger.peer_codes p
	   JOIN hcledger.peer_leaves l ON l.authority = p.authority AND l.row_number = p.hcl_row
	  WHERE p.authority = m.authority AND l.log_position >= m.tree_size AND l.log_position < v.tree_size
	    AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, p) OPERATOR(hcledger.<>) l.leaf_hash;
	PERFORM hcledger.note_peer_roots(m.authority, m.tree_size);
	BEGIN
		PERFORM hcledger.cosign(m.origin, v.tree_size, v.root, body);
	EXCEPTION WHEN OTHERS THEN
		-- our own key's problem is no reason to refuse the member's checkpoint
		RAISE WARNING 'hcledger could not cosign the checkpoint of size % of "%": %', v.tree_size, m.authority, SQLERRM;
	END;
	RETURN 'accepted';
END $$;

CREATE OR REPLACE FUNCTION member_card() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object(
		'hcledger_member', 1,
		'authority', a.authority,
		'display_name', a.display_name,
		'origin', l.origin,
		'verifier_key', hcledger.verifier_key(l.origin, hcledger.signing_public_key()),
		'connection', a.connection,
		'publications', jsonb_build_array('hcledger_feed', 'hcledger_keys'),
		-- its checkpoints carry an SM2 line (hcledger.sm2_key_file), by this registered key
		'checkpoint_sm2', hcledger.sm2_public_key() IS NOT NULL,
		'checkpoint_sm2_key_id', (SELECT k.key_id FROM hcledger.keys k
		                           WHERE k.authority = a.authority AND k.algorithm = 'sm2'
		                             AND k.public_key = hcledger.sm2_public_key() AND k.revoked_at IS NULL
		                           ORDER BY k.valid_from DESC, k.key_id LIMIT 1),
		'keys', (SELECT coalesce(jsonb_agg(jsonb_build_object(
		                  'key_id', k.key_id, 'algorithm', k.algorithm, 'public_key', encode(k.public_key, 'hex'),
		                  'valid_from', k.valid_from, 'valid_until', k.valid_until,
		                  'revoked_at', k.revoked_at, 'revocation_reason', k.revocation_reason) ORDER BY k.key_id), '[]')
		           FROM hcledger.keys k WHERE k.authority = a.authority))
	  FROM hcledger.authorities a, hcledger.ledgers l
	 WHERE a.is_local AND l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL
$$;
COMMENT ON FUNCTION member_card() IS 'this authority''s card for its peers: name, log origin, connection details, public keys and whether its checkpoints carry an SM2 line (nothing secret)';

CREATE OR REPLACE FUNCTION publish(connection text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	ledger integer;
BEGIN
	IF current_setting('wal_level') <> 'logical' THEN
		RAISE EXCEPTION 'publishing needs wal_level = logical, not %', current_setting('wal_level')
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Set it in postgresql.conf and restart the server.';
	END IF;
	IF NOT EXISTS (SELECT FROM hcledger.keys k WHERE k.authority = me AND k.algorithm = 'ed25519'
	               AND k.public_key = hcledger.signing_public_key() AND k.revoked_at IS NULL
	               AND k.valid_from <= now() AND (k.valid_until IS NULL OR k.valid_until > now())) THEN
		RAISE EXCEPTION 'the key of hcledger.signing_key_file is not a registered, valid ed25519 key of authority "%"', me
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Peers check checkpoints and cosignatures against it: hcledger.add_key(authority, key_id, ''ed25519'', hcledger.signing_public_key()).';
	END IF;
	IF hcledger.sm2_public_key() IS NOT NULL
	   AND NOT EXISTS (SELECT FROM hcledger.keys k WHERE k.authority = me AND k.algorithm = 'sm2'
	                   AND k.public_key = hcledger.sm2_public_key() AND k.revoked_at IS NULL
	                   AND k.valid_from <= now() AND (k.valid_until IS NULL OR k.valid_until > now())) THEN
		RAISE EXCEPTION 'the key of hcledger.sm2_key_file is not a registered, valid sm2 key of authority "%"', me
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'With hcledger.sm2_key_file set, every checkpoint carries an SM2 signature line, and the card tells peers to require it.',
			      HINT = 'Peers check that line against it: hcledger.add_key(authority, key_id, ''sm2'', hcledger.sm2_public_key()); or clear hcledger.sm2_key_file.';
	END IF;
	UPDATE hcledger.authorities a SET connection = publish.connection WHERE a.authority = me;
	ledger := hcledger.codes_ledger();
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname = 'hcledger_feed') THEN
		EXECUTE format('CREATE PUBLICATION hcledger_feed FOR TABLE hcledger.codes,'
		               ' hcledger.checkpoints WHERE (ledger_id = %s), hcledger.cosignatures WHERE (witness = %L)'
		               ' WITH (publish = ''insert'')', ledger, me);
		EXECUTE format('CREATE PUBLICATION hcledger_keys FOR TABLE hcledger.keys WHERE (authority = %L)'
		               ' WITH (publish = ''insert, update, delete'')', me);
		INSERT INTO hcledger.member_events (authority, event) VALUES (me, 'published');
	END IF;
	RETURN hcledger.member_card();
END $$;
COMMENT ON FUNCTION publish(text) IS 'publish this authority''s ledger, checkpoints, cosignatures and keys (publications hcledger_feed and hcledger_keys); returns its card';

CREATE OR REPLACE FUNCTION join_member(card jsonb, conninfo text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	a text := card ->> 'authority';
	origin text := card ->> 'origin';
	sub text := 'hcledger_from_' || substr(hcledger.member_slot(a), 10);
	k jsonb;
	had hcledger.keys;
	was hcledger.members;
	extra text;
	sm2 boolean;
BEGIN
	IF card IS NULL OR conninfo IS NULL THEN
		RAISE EXCEPTION 'card and conninfo must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF jsonb_typeof(card) <> 'object' OR card -> 'hcledger_member' IS DISTINCT FROM '1'::jsonb OR a IS NULL
	   OR origin IS NULL OR origin !~ '^hcledger/hcledger\.codes/[0-9a-f]{32}$'
	   OR jsonb_typeof(card -> 'keys') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'this is not a member card' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'A member''s card is what hcledger.publish() or hcledger.member_card() returns on its server.';
	END IF;
	IF a = me THEN
		RAISE EXCEPTION 'authority "%" is this database itself', a USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass the card the peer''s hcledger.publish() returned, not this database''s own.';
	END IF;
	IF NOT EXISTS (SELECT FROM jsonb_array_elements(card -> 'keys') e WHERE e ->> 'algorithm' = 'ed25519'
	               AND e ->> 'revoked_at' IS NULL) THEN
		RAISE EXCEPTION 'the card of "%" has no ed25519 key to check its checkpoints with', a USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The peer registers its node key (add_key with signing_public_key()) and calls publish() again for a new card.';
	END IF;
	IF jsonb_typeof(card -> 'checkpoint_sm2') NOT IN ('boolean', 'null') THEN
		RAISE EXCEPTION 'the card of "%" says checkpoint_sm2 is %, not true or false', a, card -> 'checkpoint_sm2'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	sm2 := coalesce((card ->> 'checkpoint_sm2')::boolean, false);
	IF sm2 AND NOT EXISTS (SELECT FROM jsonb_array_elements(card -> 'keys') e WHERE e ->> 'algorithm' = 'sm2'
	                       AND e ->> 'revoked_at' IS NULL) THEN
		RAISE EXCEPTION 'the card of "%" says its checkpoints carry an SM2 line but has no sm2 key to check it with', a
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The peer registers its SM2 key (add_key with sm2_public_key()) and calls publish() again for a new card.';
	END IF;
	SELECT * INTO was FROM hcledger.members m WHERE m.authority = a;
	IF FOUND AND was.left_at IS NULL THEN
		RAISE EXCEPTION 'authority "%" is already a member', a USING ERRCODE = 'duplicate_object',
			HINT = 'To join again, leave_member(authority, reason) first.';
	END IF;
	IF FOUND AND was.origin <> origin THEN
		RAISE EXCEPTION 'authority "%" had log % when it left, and now shows %', a, was.origin, origin
			USING ERRCODE = 'invalid_parameter_value', HINT = 'A member''s log cannot change; check with the member.';
	END IF;
	IF NOT EXISTS (SELECT FROM hcledger.authorities x WHERE x.authority = a) THEN
		PERFORM hcledger.add_authority(a, coalesce(card ->> 'display_name', a), false);
	END IF;
	-- peers' rows are checked as rows of our own codes ledger: registered, even if we never issued
	PERFORM hcledger.codes_ledger();
	FOR k IN SELECT * FROM jsonb_array_elements(card -> 'keys') LOOP
		SELECT * INTO had FROM hcledger.keys x WHERE x.authority = a AND x.key_id = k ->> 'key_id';
		IF NOT FOUND THEN
			PERFORM hcledger.add_key(a, k ->> 'key_id', k ->> 'algorithm', decode(k ->> 'public_key', 'hex'),
			                         (k ->> 'valid_from')::timestamptz, (k ->> 'valid_until')::timestamptz);
			IF k ->> 'revoked_at' IS NOT NULL THEN
				PERFORM hcledger.revoke_key(a, k ->> 'key_id', (k ->> 'revoked_at')::timestamptz, k ->> 'revocation_reason');
			END IF;
		ELSIF had.public_key <> decode(k ->> 'public_key', 'hex') OR had.algorithm <> k ->> 'algorithm' THEN
			RAISE EXCEPTION 'key "%" of "%" is registered here with another public key', k ->> 'key_id', a
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Key ids are never reused; check with the member.';
		END IF;
	END LOOP;
	IF was.authority IS NULL THEN
		INSERT INTO hcledger.members (authority, origin, ledger_uuid, connection, subscription, checkpoint_sm2)
		VALUES (a, origin, decode(substr(origin, 25), 'hex'), card ->> 'connection', sub, sm2);
	ELSE
		UPDATE hcledger.members m SET left_at = NULL, connection = card ->> 'connection', joined_at = now(),
		       joined_by = session_user, checkpoint_sm2 = sm2
		 WHERE m.authority = a;
	END IF;
	-- made disabled: the tables it would write are checked before anything is received
	EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION hcledger_feed, hcledger_keys'
	               ' WITH (create_slot = false, slot_name = %L, copy_data = true, enabled = false)',
	               sub, conninfo, hcledger.member_slot(me));
	extra := hcledger.subscription_extra_tables(sub);
	IF extra IS NOT NULL THEN
		RAISE EXCEPTION 'the publications of "%" carry tables other than the consortium''s: %', a, extra
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'A member publishes hcledger.codes, hcledger.checkpoints, hcledger.cosignatures and hcledger.keys, nothing else; the apply worker would write the others with a superuser''s rights.',
			      HINT = 'Nothing was joined. Ask the member to remove the other tables from its publications hcledger_feed and hcledger_keys.';
	END IF;
	IF current_setting('server_version_num')::integer >= 160000 THEN
		PERFORM hcledger.restrict_subscriptions();
	END IF;
	EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I ENABLE', sub);
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (a, 'joined', 'subscription ' || sub);
END $$;
COMMENT ON FUNCTION join_member(jsonb, text) IS 'register a member from its card and subscribe to its publications (it must have admitted us)';

-- A member's key that no signature check can use is refused on arrival.
-- Is public_key a key of algorithm in the raw form the registry keeps
-- (what add_key stores)?  Never an error.
CREATE FUNCTION key_usable(algorithm text, public_key bytea) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN hcledger.public_key_raw(algorithm, public_key) = public_key;
EXCEPTION WHEN invalid_parameter_value THEN
	RETURN false;
END $$;
REVOKE EXECUTE ON FUNCTION key_usable(text, bytea) FROM PUBLIC;

-- The codes ledger records the status snapshots a node puts in its trust
-- bundles (their hashes): a fourth entry kind.  Constraints only: the
-- rows' encoding is unchanged.
ALTER TABLE codes DROP CONSTRAINT codes_entry_check, DROP CONSTRAINT codes_entry_fields;
ALTER TABLE codes ADD CONSTRAINT codes_entry_check CHECK (entry IN ('issue', 'status', 'revoke', 'snapshot')),
	ADD CONSTRAINT codes_entry_fields CHECK (CASE entry
		WHEN 'issue' THEN colour IS NOT NULL AND subject IS NOT NULL AND commitment IS NOT NULL
			AND valid_from IS NOT NULL AND valid_until > valid_from AND key_id IS NOT NULL
			AND signature IS NOT NULL AND effective_at IS NULL
		WHEN 'status' THEN colour IS NOT NULL AND subject IS NULL AND commitment IS NULL AND valid_from IS NULL
			AND valid_until IS NULL AND key_id IS NULL AND signature IS NULL AND effective_at IS NULL
		WHEN 'revoke' THEN colour IS NULL AND subject IS NULL AND commitment IS NULL AND valid_from IS NULL
			AND valid_until IS NULL AND key_id IS NULL AND signature IS NULL AND effective_at IS NOT NULL
			AND reason IS NOT NULL
		ELSE colour IS NULL AND subject IS NULL AND commitment IS NOT NULL AND valid_from IS NULL
			AND valid_until IS NULL AND key_id IS NULL AND signature IS NULL AND effective_at IS NULL
			AND reason IS NOT NULL END);
COMMENT ON TABLE codes IS 'the health-code ledger: issues, status changes, revocations and status snapshots'' hashes (no personal data)';

-- Offline verification (docs/offline-verification.md): status snapshots and
-- the trust bundle a border post verifies codes from with no connection.

-- Unix seconds of a time, truncated to the second (as verify_code compares key times).
-- Infinite times (a member may send any) are the extremes of bigint.
CREATE FUNCTION unix_seconds(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN isfinite(t) THEN floor(extract(epoch FROM t))::bigint
	            WHEN t > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END
$$;
-- Unix microseconds, the same way.
CREATE FUNCTION unix_micros(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN isfinite(t) THEN floor(extract(epoch FROM t) * 1000000)::bigint
	            WHEN t > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END
$$;
REVOKE EXECUTE ON FUNCTION unix_micros(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION unix_seconds(timestamptz) FROM PUBLIC;

-- ledger_rows_check row by row (docs/format.md): for checking the rows of
-- every current code at once.
CREATE FUNCTION ledger_rows_states(ledger regclass, rows bigint[], tree_size bigint)
RETURNS TABLE (row_number bigint, state text)
	AS 'MODULE_PATHNAME', 'hcl_ledger_rows_states' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ledger_rows_states(regclass, bigint[], bigint) IS 'each row''s state within tree_size leaves (sealed, pending, missing, altered), as ledger_rows_check judges them';
REVOKE EXECUTE ON FUNCTION ledger_rows_states(regclass, bigint[], bigint) FROM PUBLIC;

-- code_ledger_state (sql/install/11_codes.sql) for every current code of an
-- authority at once: each credential whose first issue row here is of that
-- authority and valid at t.  The same facts, read in a few passes over
-- the authority's ledger instead of a few queries per code; the status
-- snapshots use it, and test/t/027 checks it against code_ledger_state.
CREATE FUNCTION current_code_states(authority text, t timestamptz)
RETURNS TABLE (credential_id bytea, issue_row bigint, recorded_authority text, commitment bytea,
	issued_at timestamptz, valid_from timestamptz, valid_until timestamptz, key_id text, colour text,
	revoke_row bigint, revoke_at timestamptz, revoke_reason text, sealing text, sealing_row bigint,
	checkpoint text, member boolean, missing_rows bigint, stale_why text, source_verdict text,
	source_reason text, source_colour boolean, converted_from text, source_revoke_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
-- the planner sees one row in each CTE (their filters are parameters):
-- nested loops over them would take time quadratic in the codes; and
-- the cost that forbidding them adds would have the query JIT-compiled
-- (a second, for nothing)
SET enable_nestloop = off SET jit = off
AS $$
DECLARE
	me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	m hcledger.members;
	cp record;
	stale text;
BEGIN
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = current_code_states.authority;
	IF m.authority IS NULL AND current_code_states.authority IS DISTINCT FROM me THEN
		RETURN;		-- an authority whose ledger does not reach us
	END IF;
	IF m.authority IS NULL THEN
		SELECT k.note, k.tree_size INTO cp FROM hcledger.checkpoints k
		 WHERE k.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
		 ORDER BY k.tree_size DESC LIMIT 1;
		IF NOT FOUND THEN
			SELECT NULL::text AS note, 0::bigint AS tree_size INTO cp;
		END IF;
	ELSE
		SELECT m.checkpoint AS note, m.tree_size INTO cp;
		stale := hcledger.member_state_stale(m.authority, t);
	END IF;
	RETURN QUERY
	WITH e AS MATERIALIZED (
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.reason, x.hcl_row, NULL::bigint AS log_position,
		       NULL::hcledger.hash256 AS leaf_hash, NULL::hcledger.hash256 AS row_hash
		  FROM hcledger.codes x WHERE m.authority IS NULL
		UNION ALL
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.reason, x.hcl_row, l.log_position,
		       l.leaf_hash, hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, x)
		  FROM hcledger.peer_codes x
		  LEFT JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
		 WHERE x.authority = m.authority),
	iss AS (
		SELECT DISTINCT ON (e.credential_id) e.*
		  FROM e WHERE e.entry = 'issue'
		 ORDER BY e.credential_id, e.log_position NULLS LAST, e.hcl_row),
	cur AS (
		SELECT i.* FROM iss i
		 WHERE i.valid_until > t AND (m.authority IS NOT NULL OR i.authority = me)),
	later AS (
		SELECT c.credential_id,
		       (array_agg(y.hcl_row ORDER BY y.hcl_row DESC) FILTER (WHERE y.entry = 'status'))[1] AS status_row,
		       (array_agg(y.colour ORDER BY y.hcl_row DESC) FILTER (WHERE y.entry = 'status'))[1] AS status_colour,
		       (array_agg(y.hcl_row ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_row,
		       (array_agg(y.effective_at ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_at,
		       (array_agg(y.reason ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_reason
		  FROM cur c JOIN e y ON y.credential_id = c.credential_id AND y.hcl_row > c.hcl_row AND y.authority = c.authority
		 GROUP BY c.credential_id),
	rows_used AS (
		SELECT c.credential_id, r.row_number, r.ord
		  FROM cur c LEFT JOIN later l ON l.credential_id = c.credential_id,
		       LATERAL unnest(ARRAY[c.hcl_row, coalesce(l.status_row, c.hcl_row), l.revoke_row]) WITH ORDINALITY r(row_number, ord)
		 WHERE r.row_number IS NOT NULL),
	home_states AS (
		SELECT s.row_number, s.state
		  FROM hcledger.ledger_rows_states('hcledger.codes',
		         (SELECT coalesce(array_agg(DISTINCT u.row_number), '{}') FROM rows_used u WHERE m.authority IS NULL),
		         coalesce(cp.tree_size, 0)) s
		 WHERE m.authority IS NULL),
	row_states AS (
		SELECT u.credential_id, u.row_number, u.ord,
		       CASE WHEN m.authority IS NULL THEN h.state
		            WHEN y.leaf_hash IS NULL THEN 'pending'
		            WHEN y.row_hash OPERATOR(hcledger.<>) y.leaf_hash THEN 'altered'
		            ELSE 'sealed' END AS state
		  FROM rows_used u
		  LEFT JOIN home_states h ON m.authority IS NULL AND h.row_number = u.row_number
		  LEFT JOIN e y ON m.authority IS NOT NULL AND y.hcl_row = u.row_number),
	worst AS (
		-- the worst state of a code's rows; of rows equally bad, the first in
		-- [issue, status, revoke] order at home (ledger_rows_check), the
		-- lowest numbered for a member (peer_rows_check)
		SELECT DISTINCT ON (r.credential_id) r.credential_id, r.state, r.row_number
		  FROM row_states r
		 ORDER BY r.credential_id, array_position(ARRAY['altered', 'missing', 'pending', 'sealed'], r.state),
		          CASE WHEN m.authority IS NULL THEN r.ord ELSE r.row_number END),
	src AS (
		SELECT c.credential_id, p.source_authority, p.source_credential_id, p.checkpoint_size,
		       hcledger.code_source_state(p.source_authority, p.source_credential_id, c.valid_until, t) AS st
		  FROM cur c, LATERAL hcledger.code_provenance_parts(c.reason) p
		 WHERE c.reason IS NOT NULL AND p.source_authority IS NOT NULL)
	SELECT c.credential_id, c.hcl_row, c.authority, c.commitment, c.at, c.valid_from, c.valid_until, c.key_id,
	       CASE WHEN array_position(ARRAY['green', 'yellow', 'red'], (s.st).colour)
	                 > array_position(ARRAY['green', 'yellow', 'red'], coalesce(l.status_colour, c.colour))
	            THEN (s.st).colour ELSE coalesce(l.status_colour, c.colour) END,
	       l.revoke_row, l.revoke_at, l.revoke_reason,
	       w.state, CASE WHEN m.authority IS NULL AND w.state = 'sealed' THEN NULL ELSE w.row_number END,
	       cp.note, m.authority IS NOT NULL, coalesce(m.missing_rows, 0), stale,
	       (s.st).verdict, (s.st).reason,
	       coalesce(array_position(ARRAY['green', 'yellow', 'red'], (s.st).colour)
	                > array_position(ARRAY['green', 'yellow', 'red'], coalesce(l.status_colour, c.colour)), false),
	       CASE WHEN s.source_authority IS NOT NULL THEN
	         format('converted from %s code %s (verified against its checkpoint of size %s)',
	                s.source_authority, encode(s.source_credential_id, 'hex'), s.checkpoint_size) END,
	       (s.st).revoked_from
	  FROM cur c
	  LEFT JOIN later l ON l.credential_id = c.credential_id
	  LEFT JOIN worst w ON w.credential_id = c.credential_id
	  LEFT JOIN src s ON s.credential_id = c.credential_id;
END $$;
COMMENT ON FUNCTION current_code_states(text, timestamptz) IS 'code_ledger_state of every code of an authority current at t, read in bulk (for status snapshots)';
REVOKE EXECUTE ON FUNCTION current_code_states(text, timestamptz) FROM PUBLIC;

-- One authority's status snapshot ("Status snapshots"): every code of its
-- ledger here that has not expired, as verify_code's ledger steps see it
-- now, keyed by a salted hash of its credential id, with decoys.  STABLE so
-- that, called from trust_bundle, it reads the same snapshot as the rest
-- of the bundle (it draws random salts and decoys all the same).
CREATE FUNCTION status_snapshot(authority text) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off SET jit = off		-- as current_code_states
AS $$
DECLARE
	t timestamptz := clock_timestamp();
	me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	m hcledger.members;
	salt bytea := uuid_send(gen_random_uuid());
	as_of timestamptz;
	cp record;
	n bigint;
	decoys integer;
	body bytea;
BEGIN
	IF NOT EXISTS (SELECT FROM hcledger.authorities a WHERE a.authority = status_snapshot.authority) THEN
		RAISE EXCEPTION 'authority "%" is not registered here', authority USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = status_snapshot.authority;
	SELECT NULL::bigint AS tree_size, NULL::text AS note INTO cp;
	IF m.authority IS NOT NULL THEN
		-- a member's: its log as accepted here, known as of its last sign of life
		as_of := least(coalesce(hcledger.member_heard_at(authority), '-infinity'), t);
		SELECT m.tree_size, m.checkpoint AS note INTO cp;
	ELSIF authority = me THEN
		as_of := t;
		SELECT k.tree_size, k.note INTO cp FROM hcledger.checkpoints k
		 WHERE k.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
		 ORDER BY k.tree_size DESC LIMIT 1;
	ELSE
		-- an authority whose ledger does not reach us: none of its codes is found here
		as_of := t;
	END IF;

	-- each code: key and check, then its state byte and a revocation's time;
	-- decoys: random keys and checks, each with the state of a code drawn at random
	WITH c AS (
		-- a member's rows are whatever it sent: no field may make an entry NULL
		-- (string_agg would drop it and the count would be wrong); an unknown
		-- colour reads red, and the earlier of the code's own revocation and
		-- its source's (a converted code) is the one kept
		SELECT y.*, least(CASE WHEN y.revoke_row IS NOT NULL THEN y.revoke_at END, y.source_revoke_at) AS revoked_from
		  FROM hcledger.current_code_states(status_snapshot.authority, t) y),
	x AS MATERIALIZED (
		SELECT row_number() OVER () AS rn,
		       substr(sha256(convert_to(E'hcledger-status-key/1\n', 'UTF8') || salt || c.credential_id), 1, 4)
		       || substr(sha256(convert_to(E'hcledger-status-check/1\n', 'UTF8') || salt || c.credential_id
		                        || coalesce(c.commitment, '\x') || convert_to(coalesce(c.key_id, ''), 'UTF8') || '\x0a'::bytea
		                        || int8send(coalesce(hcledger.unix_seconds(c.issued_at), 0))
		                        || int8send(coalesce(hcledger.unix_seconds(c.valid_from), 0))
		                        || int8send(coalesce(hcledger.unix_seconds(c.valid_until), 0))), 1, 4) AS kc,
		       set_byte('\x00'::bytea, 0,
		         coalesce(array_position(ARRAY['green', 'yellow', 'red'], c.colour) - 1, 2)
		         + CASE WHEN c.revoked_from IS NOT NULL THEN 4 ELSE 0 END
		         + CASE WHEN c.sealing = 'pending' OR c.checkpoint IS NULL THEN 8 ELSE 0 END
		         + CASE WHEN c.sealing IN ('altered', 'missing') THEN 16 ELSE 0 END
		         + CASE c.source_verdict WHEN 'revoked' THEN 32 WHEN 'tampered' THEN 64
		                                 WHEN 'incomplete' THEN 128 WHEN 'stale' THEN 128 ELSE 0 END)
		       -- a revocation in effect when the snapshot is made: time 0 (its
		       -- exact time would tell one code's entries apart across snapshots)
		       || CASE WHEN c.revoked_from IS NULL THEN ''::bytea
		               WHEN c.revoked_from <= t THEN int8send(0)
		               ELSE int8send(hcledger.unix_micros(c.revoked_from)) END AS state
		  FROM c),
	cnt AS MATERIALIZED (
		SELECT count(*) AS n, 64 + floor(random() * (count(*) / 32 + 1))::integer AS decoys FROM x),
	picks AS MATERIALIZED (
		SELECT substr(sha256(uuid_send(gen_random_uuid())), 1, 8) AS kc,
		       CASE WHEN cnt.n = 0 THEN NULL ELSE 1 + floor(random() * cnt.n)::bigint END AS rn
		  FROM cnt, generate_series(1, cnt.decoys)),
	e AS (
		SELECT x.kc || x.state AS b FROM x
		UNION ALL
		SELECT p.kc || coalesce(x.state, '\x00'::bytea) FROM picks p LEFT JOIN x ON x.rn = p.rn)
	SELECT (SELECT cnt.n FROM cnt), (SELECT cnt.decoys FROM cnt), string_agg(e.b, ''::bytea ORDER BY e.b)
	  INTO n, decoys, body
	  FROM e;

	RETURN convert_to(format(E'hcledger-status/1\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n',
	                         authority, hcledger.unix_seconds(greatest(as_of, '1970-01-01 00:00:00+00')),
	                         hcledger.unix_seconds(t), coalesce(cp.tree_size, 0),
	                         coalesce(m.missing_rows, 0), encode(salt, 'hex'), n + decoys), 'UTF8')
	       || coalesce(body, '');
END $$;
COMMENT ON FUNCTION status_snapshot(text) IS 'an authority''s status snapshot: every unexpired code''s standing here, keyed by a salted hash of its credential id, with decoys (docs/offline-verification.md)';
REVOKE EXECUTE ON FUNCTION status_snapshot(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION status_snapshot(text) TO hcledger_admin, hcledger_auditor;

-- The trust bundle's parts ("The trust bundle"), one per authority: its
-- authority, key and checkpoint lines, and its status snapshot.  STABLE:
-- all read from one snapshot of the database, so that each status
-- snapshot refers to the checkpoint next to it.
CREATE FUNCTION trust_bundle_parts()
RETURNS TABLE (authority text, lines bytea, snapshot bytea)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a record;
BEGIN
	FOR a IN SELECT x.authority,
	                CASE WHEN x.is_local THEN
	                  (SELECT k.note FROM hcledger.checkpoints k
	                    WHERE k.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
	                                          WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
	                    ORDER BY k.tree_size DESC LIMIT 1)
	                ELSE (SELECT m.checkpoint FROM hcledger.members m WHERE m.authority = x.authority) END AS checkpoint
	           FROM hcledger.authorities x
	          WHERE NOT EXISTS (SELECT FROM hcledger.members m WHERE m.authority = x.authority AND m.left_at IS NOT NULL)
	          ORDER BY x.authority COLLATE "C" LOOP
		authority := a.authority;
		snapshot := hcledger.status_snapshot(a.authority);
		lines := convert_to(format(E'authority %s\n', a.authority), 'UTF8')
		        || coalesce((SELECT convert_to(string_agg(format(E'key %s %s %s %s %s %s %s\n', a.authority,
		                                               translate(encode(convert_to(k.key_id, 'UTF8'), 'base64'), E'\n', ''),
		                                               k.algorithm, translate(encode(k.public_key, 'base64'), E'\n', ''),
		                                               -- before 1970 is written 0: the format has no sign
		                                               greatest(hcledger.unix_seconds(k.valid_from), 0),
		                                               -- valid until: the next whole second (verify_code compares it exactly)
		                                               coalesce((CASE WHEN k.valid_until IS NOT NULL
		                                                              THEN greatest(hcledger.unix_seconds(k.valid_until)
		                                                                            + CASE WHEN isfinite(k.valid_until) AND k.valid_until
		                                                                                        > to_timestamp(hcledger.unix_seconds(k.valid_until))
		                                                                                   THEN 1 ELSE 0 END, 0) END)::text, '-'),
		                                               coalesce((CASE WHEN k.revoked_at IS NOT NULL
		                                                              THEN greatest(hcledger.unix_seconds(k.revoked_at), 0) END)::text, '-')),
		                                        '' ORDER BY k.key_id COLLATE "C"), 'UTF8')
		                       FROM hcledger.keys k WHERE k.authority = a.authority), '')
		        || CASE WHEN a.checkpoint IS NULL THEN '' ELSE
		           convert_to(format(E'checkpoint %s %s\n', a.authority,
		                             translate(encode(convert_to(a.checkpoint, 'UTF8'), 'base64'), E'\n', '')), 'UTF8') END;
		RETURN NEXT;
	END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION trust_bundle_parts() FROM PUBLIC;

-- The trust bundle ("The trust bundle"): a signed note naming the exporting
-- authority, the export time and the SHA-256 of the body, then the body:
-- the authorities, their keys, each one's latest checkpoint here and its
-- status snapshot.  Each snapshot it signs is first recorded in this
-- node's codes ledger ("Snapshots in the ledger"): a snapshot entry with
-- its salt and hash, which the sealer puts under the next checkpoint and
-- the consortium carries to every member, so that no bundle carries an
-- unlogged snapshot and any member can check one (check_status_snapshot).
CREATE FUNCTION trust_bundle() RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me text := hcledger.local_authority();
	t bigint := hcledger.unix_seconds(clock_timestamp());
	origin text := 'hcledger-bundle/' || me;
	body bytea := '';
	parts record;
	h record;
	text_part text;
	note text;
BEGIN
	IF hcledger.signing_public_key() IS NULL THEN
		RAISE EXCEPTION 'this node has no signing key: a trust bundle must be signed'
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Set hcledger.signing_key_file.';
	END IF;
	PERFORM hcledger.codes_ledger();
	-- one call: every part read from one snapshot of the database
	SELECT array_agg(p.authority ORDER BY p.authority COLLATE "C") AS authorities,
	       array_agg(p.lines ORDER BY p.authority COLLATE "C") AS lines,
	       array_agg(p.snapshot ORDER BY p.authority COLLATE "C") AS snapshots
	  INTO parts FROM hcledger.trust_bundle_parts() p;
	FOR i IN 1 .. coalesce(array_length(parts.authorities, 1), 0) LOOP
		h := hcledger.status_snapshot_header(parts.snapshots[i]);
		INSERT INTO hcledger.codes (entry, credential_id, authority, at, commitment, reason)
		VALUES ('snapshot', h.salt, me, to_timestamp(h.made_at), sha256(parts.snapshots[i]), parts.authorities[i]);
		body := body || parts.lines[i]
		        || convert_to(format(E'snapshot %s %s\n', parts.authorities[i], length(parts.snapshots[i])), 'UTF8')
		        || parts.snapshots[i];
	END LOOP;
	text_part := format(E'%s\n%s\n%s\nhcledger-time %s\n', origin, t,
	                    translate(encode(sha256(body), 'base64'), E'\n', ''), t);
	note := text_part || E'\n' || E'\u2014 ' || origin || ' '
	        || translate(encode(substr(sha256(convert_to(origin, 'UTF8') || '\x0a01'::bytea || hcledger.signing_public_key()), 1, 4)
	                            || hcledger.node_sign(convert_to(text_part, 'UTF8')), 'base64'), E'\n', '') || E'\n';
	RETURN convert_to(format(E'hcledger-bundle/1\n%s\n', octet_length(note)) || note, 'UTF8') || body;
END $$;
COMMENT ON FUNCTION trust_bundle() IS 'what an offline verifier needs, signed by this node: authorities, keys, checkpoints and status snapshots, each snapshot first recorded in the codes ledger (docs/offline-verification.md)';
REVOKE EXECUTE ON FUNCTION trust_bundle() FROM PUBLIC;
-- an administrator's: it signs with the node's key and writes to the ledger
GRANT EXECUTE ON FUNCTION trust_bundle() TO hcledger_admin;

-- A status snapshot's header and entries, read from its bytes (src/status_snapshot.c).
CREATE FUNCTION status_snapshot_header(snapshot bytea, OUT authority text, OUT as_of bigint, OUT made_at bigint,
	OUT tree_size bigint, OUT missing_rows bigint, OUT salt bytea, OUT entries bigint)
	AS 'MODULE_PATHNAME', 'hcl_status_snapshot_header' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION status_snapshot_header(bytea) IS 'a status snapshot''s header: its authority, times, tree size, missing rows, salt and entry count';
CREATE FUNCTION status_snapshot_entries(snapshot bytea) RETURNS TABLE (entry bytea, state integer, revoked_at bigint)
	AS 'MODULE_PATHNAME', 'hcl_status_snapshot_entries' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION status_snapshot_entries(bytea) IS 'a status snapshot''s entries: key and check (8 bytes), state byte, revocation time (unix microseconds)';
REVOKE EXECUTE ON FUNCTION status_snapshot_header(bytea) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION status_snapshot_entries(bytea) FROM PUBLIC;

-- Check a status snapshot ("Checking a snapshot"): is it recorded in a
-- ledger here (this node's, or a member's as replicated), and does it
-- agree with this node's copy of its authority's log up to its tree size?
-- Agreeing means: every code issued in that prefix and unexpired when the
-- snapshot was made has an entry, and no entry that could make it valid
-- offline shows it greener than the prefix's latest colour, or hides or
-- moves a revocation the prefix holds.
CREATE FUNCTION check_status_snapshot(snapshot bytea)
RETURNS TABLE (verdict text, authority text, made_at timestamptz, tree_size bigint, committed_by text,
	commitment_row bigint, commitment_sealing text, codes_checked bigint, problems bigint, first_problem text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off SET jit = off		-- as current_code_states
AS $$
DECLARE
	me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	codes_id integer := (SELECT l.ledger_id FROM hcledger.ledgers l
	                      WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL);
	h record;
	m hcledger.members;
	w record;
	have bigint;
	t timestamptz;
	res record;
BEGIN
	h := hcledger.status_snapshot_header(snapshot);
	authority := h.authority;
	made_at := to_timestamp(h.made_at);
	tree_size := h.tree_size;
	t := made_at;

	-- the record of it: a snapshot entry with its salt, hash and authority
	SELECT x.authority, x.hcl_row INTO w FROM hcledger.codes x
	 WHERE x.entry = 'snapshot' AND x.credential_id = h.salt AND x.commitment = sha256(snapshot)
	   AND x.reason = h.authority AND x.authority = me
	 ORDER BY x.hcl_row LIMIT 1;
	IF FOUND THEN
		commitment_sealing := (SELECT s.state FROM hcledger.ledger_rows_states('hcledger.codes', ARRAY[w.hcl_row],
		                         coalesce((SELECT max(k.tree_size) FROM hcledger.checkpoints k
		                                    WHERE k.ledger_id = codes_id), 0)) s);
	ELSE
		SELECT x.authority, x.hcl_row INTO w FROM hcledger.peer_codes x
		 WHERE x.entry = 'snapshot' AND x.credential_id = h.salt AND x.commitment = sha256(snapshot)
		   AND x.reason = h.authority
		 ORDER BY (SELECT (hcledger.peer_rows_check(x.authority, ARRAY[x.hcl_row])).state = 'sealed') DESC, x.hcl_row
		 LIMIT 1;
		IF FOUND THEN
			commitment_sealing := (hcledger.peer_rows_check(w.authority, ARRAY[w.hcl_row])).state;
		END IF;
	END IF;
	committed_by := w.authority;
	commitment_row := w.hcl_row;

	-- this node's copy of the authority's log must reach the snapshot's tree size
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = h.authority;
	IF m.authority IS NOT NULL THEN
		have := m.tree_size;
	ELSIF h.authority = me THEN
		have := coalesce((SELECT max(k.tree_size) FROM hcledger.checkpoints k
		                   WHERE k.ledger_id = codes_id), 0);
	END IF;
	IF have IS NULL OR have < h.tree_size THEN
		verdict := 'cannot check';
		codes_checked := 0;
		problems := 0;
		first_problem := CASE WHEN have IS NULL
		                      THEN format('the log of "%s" does not reach this node', h.authority)
		                      ELSE format('this node has %s leaves of the log of "%s", the snapshot %s', have, h.authority, h.tree_size) END;
		RETURN NEXT;
		RETURN;
	END IF;

	WITH e AS MATERIALIZED (
		-- the authority's rows here, and whether each is in the log's first tree_size leaves, unchanged
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.hcl_row, NULL::bigint AS log_position
		  FROM hcledger.codes x WHERE m.authority IS NULL AND x.authority = me
		UNION ALL
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.hcl_row, l.log_position
		  FROM hcledger.peer_codes x
		  JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
		 WHERE x.authority = m.authority AND l.log_position < h.tree_size
		   AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, x) OPERATOR(hcledger.=) l.leaf_hash),
	home AS (
		SELECT s.row_number FROM hcledger.ledger_rows_states('hcledger.codes',
		         (SELECT coalesce(array_agg(e.hcl_row), '{}') FROM e WHERE m.authority IS NULL), h.tree_size) s
		 WHERE m.authority IS NULL AND s.state = 'sealed'),
	p AS MATERIALIZED (
		SELECT e.* FROM e WHERE m.authority IS NOT NULL
		UNION ALL
		SELECT e.* FROM e JOIN home ON home.row_number = e.hcl_row),
	iss AS (
		SELECT DISTINCT ON (p.credential_id) p.*
		  FROM p WHERE p.entry = 'issue'
		 ORDER BY p.credential_id, p.log_position NULLS LAST, p.hcl_row),
	cur AS MATERIALIZED (
		SELECT i.*,
		       substr(sha256(convert_to(E'hcledger-status-key/1\n', 'UTF8') || h.salt || i.credential_id), 1, 4)
		       || substr(sha256(convert_to(E'hcledger-status-check/1\n', 'UTF8') || h.salt || i.credential_id
		                        || i.commitment || convert_to(i.key_id, 'UTF8') || '\x0a'::bytea
		                        || int8send(hcledger.unix_seconds(i.at))
		                        || int8send(hcledger.unix_seconds(i.valid_from))
		                        || int8send(hcledger.unix_seconds(i.valid_until))), 1, 4) AS kc
		  FROM iss i WHERE i.valid_until > t),
	later AS (
		SELECT c.credential_id,
		       (array_agg(y.colour ORDER BY y.hcl_row DESC) FILTER (WHERE y.entry = 'status'))[1] AS status_colour,
		       (array_agg(y.effective_at ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_at
		  FROM cur c JOIN p y ON y.credential_id = c.credential_id AND y.hcl_row > c.hcl_row AND y.authority = c.authority
		 GROUP BY c.credential_id),
	s AS MATERIALIZED (
		SELECT * FROM hcledger.status_snapshot_entries(snapshot)),
	judged AS (
		-- an entry "vouches" if the offline verifier could read it as valid:
		-- none of the bits pending, tampered, source tampered or unsure (216),
		-- and no rows missing
		SELECT c.credential_id,
		       CASE WHEN count(s.entry) = 0 THEN 'has no entry'
		            WHEN bool_or(l.revoke_at IS NOT NULL AND s.state & 216 = 0 AND h.missing_rows = 0
		                         AND (s.state & 4 = 0 OR s.revoked_at > hcledger.unix_micros(l.revoke_at)))
		              THEN format('is revoked from %s in the log, not as early in the snapshot', l.revoke_at)
		            WHEN bool_or(s.state & 216 = 0 AND h.missing_rows = 0
		                         AND s.state & 3 < array_position(ARRAY['green', 'yellow', 'red'], coalesce(l.status_colour, c.colour)) - 1)
		              THEN format('is %s in the log, greener in the snapshot', coalesce(l.status_colour, c.colour))
		       END AS problem
		  FROM cur c
		  LEFT JOIN later l ON l.credential_id = c.credential_id
		  LEFT JOIN s ON s.entry = c.kc
		 GROUP BY c.credential_id, c.colour, l.revoke_at, l.status_colour)
	SELECT count(*) AS n, count(j.problem) AS bad,
	       min(format('code %s %s', encode(j.credential_id, 'hex'), j.problem)) FILTER (WHERE j.problem IS NOT NULL) AS first
	  INTO res FROM judged j;
	codes_checked := res.n;
	problems := res.bad;
	first_problem := res.first;
	verdict := CASE WHEN res.bad > 0 THEN 'inconsistent'
	                WHEN committed_by IS NULL THEN 'not committed'
	                ELSE 'consistent' END;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION check_status_snapshot(bytea) IS 'is a status snapshot recorded in a ledger here, and does it agree with this node''s copy of its authority''s log? (docs/offline-verification.md)';
REVOKE EXECUTE ON FUNCTION check_status_snapshot(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION check_status_snapshot(bytea) TO hcledger_admin, hcledger_auditor;
