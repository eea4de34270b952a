-- Types whose binary form is not stable across databases: OIDs inside.
CREATE FUNCTION ledger_type_problem(typ oid) RETURNS text
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

-- A column of a type a ledger cannot hash is an error (0A000).
CREATE FUNCTION refuse_unsupported_columns(tbl regclass) RETURNS void
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

-- Run one statement on a table as its owner, in a security-restricted
-- operation (src/owner.c); for create_ledger, whose caller must hold the
-- owner's privileges anyway.
CREATE FUNCTION run_as_owner(tbl regclass, statement text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_run_as_owner' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION run_as_owner(regclass, text) FROM PUBLIC;

-- Every ledger's CHECK constraint hcl_row_drawn: a row's number is the one
-- this session just drew from the ledger's sequence (src/guard.c).
CREATE FUNCTION row_drawn(row_number bigint, tbl oid) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_row_drawn' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION row_drawn(bigint, oid) IS 'a ledger''s check that a new row''s number was drawn from its sequence (errors if not)';

-- Make a table a ledger table: its row numbers (existing rows numbered),
-- the unique index on them, the append-only triggers and, unless row_check
-- is false, the check that row numbers come from the sequence.  Not yet
-- registered: register_ledger does that.
CREATE FUNCTION prepare_ledger_table(ledger regclass, row_check boolean DEFAULT true) RETURNS void
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

-- Register a prepared ledger table in the catalog: its identity (a random
-- uuid, the origin), the columns it hashes and their types.  Returns its
-- ledger id (the one already registered, if it is).
CREATE FUNCTION register_ledger(ledger regclass) RETURNS integer
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

CREATE FUNCTION create_ledger(ledger regclass) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM hcledger.prepare_ledger_table(ledger);
	RETURN hcledger.register_ledger(ledger);
END
$$;
COMMENT ON FUNCTION create_ledger(regclass) IS 'make a table (new, or with its rows) a ledger';

-- Record an administrator's event on an active ledger; returns its id.
CREATE FUNCTION ledger_event(ledger regclass, event text, reason text) RETURNS integer
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

CREATE FUNCTION unlock_ddl(ledger regclass, reason text) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT hcledger.ledger_event(ledger, 'ddl_unlocked', reason) $$;
COMMENT ON FUNCTION unlock_ddl(regclass, text) IS 'allow DDL that changes what a ledger hashes, for the rest of this transaction; recorded';

CREATE FUNCTION drop_ledger(ledger regclass, reason text) RETURNS void
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
COMMENT ON FUNCTION drop_ledger(regclass, text) IS 'stop a table being a ledger; its log and checkpoints are kept, the event recorded';

REVOKE EXECUTE ON FUNCTION ledger_event(regclass, text, text), unlock_ddl(regclass, text), drop_ledger(regclass, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION prepare_ledger_table(regclass, boolean), register_ledger(regclass) FROM PUBLIC;
-- Sealing locks a ledger's catalog row: for the worker, administrators and
-- whoever they grant it to.
REVOKE EXECUTE ON FUNCTION seal_ledger(regclass), seal(regclass) FROM PUBLIC;

