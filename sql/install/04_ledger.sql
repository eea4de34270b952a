--
-- Ledger tables (docs/format.md).
--
CREATE TABLE ledgers (
	ledger_id		integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	relid			regclass NOT NULL,
	ledger_uuid		bytea NOT NULL UNIQUE CHECK (length(ledger_uuid) = 16),
	origin			text NOT NULL,
	columns			text[] NOT NULL,
	column_types	text[] NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	created_by		name NOT NULL DEFAULT current_user,
	dropped_at		timestamptz,
	-- the sealer's state
	tree_size		bigint NOT NULL DEFAULT 0,
	last_row		bigint NOT NULL DEFAULT 0,
	frontier		bytea NOT NULL DEFAULT '\x',
	last_checkpoint	hash256,
	last_sealed_at	timestamptz,
	gap_row			bigint,
	gap_horizon		bigint,
	blocked_by		bigint,
	-- what the DDL guard holds the table to (see table_shape)
	table_shape		text NOT NULL,
	passed_row		bigint NOT NULL DEFAULT 0,
	pending			bigint[] NOT NULL DEFAULT '{}',
	nan_canonical	boolean NOT NULL DEFAULT true
);
COMMENT ON COLUMN ledgers.nan_canonical IS 'float NaNs are encoded as the canonical NaN (docs/format.md): ledgers made from 0.3.0 on';
COMMENT ON COLUMN ledgers.passed_row IS 'the sealer has passed every row number up to this one: each is in the log, settled, or pending';
COMMENT ON COLUMN ledgers.pending IS 'row numbers passed but not settled (docs/format.md, "Sealing order"): (kind, first, last, full XID) per run; kind 0 rows of an open transaction (its top-level XID), 1 a gap (the next XID when it was seen)';
CREATE UNIQUE INDEX ledgers_active_relid ON ledgers (relid) WHERE dropped_at IS NULL;
COMMENT ON TABLE ledgers IS 'one row per ledger table: its identity, hashed columns and sealing state';

CREATE TABLE tiles (
	ledger_id		integer NOT NULL,	-- a ledgers row (no foreign key: pg_restore -j loads them in any order)
	level			integer NOT NULL CHECK (level >= 0),
	tile			bigint NOT NULL CHECK (tile >= 0),
	hashes			bytea NOT NULL,
	row_numbers		bytea,
	PRIMARY KEY (ledger_id, level, tile)
);
-- hashes do not compress: store them out of line without trying
ALTER TABLE tiles ALTER COLUMN hashes SET STORAGE EXTERNAL, ALTER COLUMN row_numbers SET STORAGE EXTERNAL;
COMMENT ON TABLE tiles IS 'the Merkle log of each ledger, as tiles of 256 hashes (docs/format.md)';

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

CREATE TABLE checkpoints (
	ledger_id		integer NOT NULL,	-- a ledgers row (no foreign key: pg_restore -j loads them in any order)
	tree_size		bigint NOT NULL,
	root			hash256 NOT NULL,
	last_row		bigint NOT NULL,
	sealed_at		timestamptz NOT NULL,
	prev_hash		hash256 NOT NULL,
	body			text NOT NULL,
	checkpoint_hash	hash256 NOT NULL,
	note			text,
	leaves			bytea,
	PRIMARY KEY (ledger_id, tree_size)
);
ALTER TABLE checkpoints ALTER COLUMN leaves SET STORAGE EXTERNAL;
COMMENT ON TABLE checkpoints IS 'checkpoints (C2SP tlog-checkpoint bodies), chained by hash';
COMMENT ON COLUMN checkpoints.leaves IS 'the log entries this checkpoint added (row number and leaf hash of each, docs/format.md), for peers to check it against';
COMMENT ON COLUMN checkpoints.note IS 'the checkpoint as a C2SP signed note (body, blank line, Ed25519 signature line); NULL if no signing key was set';

CREATE TABLE ledger_events (
	event_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ledger_id		integer NOT NULL,	-- a ledgers row (no foreign key: pg_restore -j loads them in any order)
	event			text NOT NULL CHECK (event IN ('created', 'ddl_unlocked', 'dropped')),
	reason			text,
	at				timestamptz NOT NULL DEFAULT now(),
	by_role			name NOT NULL DEFAULT session_user,
	xact			xid8 NOT NULL DEFAULT pg_current_xact_id()
);
COMMENT ON TABLE ledger_events IS 'the record of ledgers made, DDL unlocked and ledgers dropped';

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

SELECT pg_catalog.pg_extension_config_dump('ledgers', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_columns', '');
SELECT pg_catalog.pg_extension_config_dump('dropped_values', '');
SELECT pg_catalog.pg_extension_config_dump('tiles', '');
SELECT pg_catalog.pg_extension_config_dump('log_runs', '');
SELECT pg_catalog.pg_extension_config_dump('checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_events', '');

-- Only hashes and the sealer's state: readable by all, written by our functions.
REVOKE ALL ON ledgers, tiles, log_runs, checkpoints, ledger_events, ledger_columns FROM PUBLIC;
GRANT SELECT ON ledgers, tiles, log_runs, checkpoints, ledger_events, ledger_columns TO PUBLIC;
-- a dropped column's values are no more public than its table was
REVOKE ALL ON dropped_values FROM PUBLIC;

CREATE FUNCTION refuse_change() RETURNS trigger
	AS 'MODULE_PATHNAME', 'hcl_refuse_change' LANGUAGE C;
CREATE FUNCTION assign_xid() RETURNS trigger
	AS 'MODULE_PATHNAME', 'hcl_assign_xid' LANGUAGE C;

CREATE FUNCTION row_leaf(ledger regclass, row_number bigint) RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_row_leaf' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION row_leaf(regclass, bigint) IS 'the canonical leaf bytes of one ledger row (docs/format.md)';

CREATE FUNCTION seal_ledger(ledger regclass) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_seal_ledger_sql' LANGUAGE C VOLATILE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seal_ledger(regclass) IS 'append the committed rows of one ledger to its Merkle log; returns how many';

CREATE FUNCTION seal(target regclass DEFAULT NULL)
RETURNS TABLE (ledger regclass, rows_sealed bigint, tree_size bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE l record;
BEGIN
	FOR l IN SELECT x.ledger_id, x.relid FROM hcledger.ledgers x
	         WHERE x.dropped_at IS NULL AND (target IS NULL OR x.relid = target)
	         ORDER BY x.ledger_id LOOP
		seal.ledger := l.relid;
		rows_sealed := hcledger.seal_ledger(l.relid);
		SELECT x.tree_size INTO seal.tree_size FROM hcledger.ledgers x WHERE x.ledger_id = l.ledger_id;
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION seal(regclass) IS 'seal one ledger, or all of them: what the sealer worker does every seal_interval';

CREATE FUNCTION verify_ledger(ledger regclass)
RETURNS TABLE (kind text, log_position bigint, row_number bigint, detail text)
	AS 'MODULE_PATHNAME', 'hcl_verify_ledger' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION verify_ledger(regclass) IS 'recompute a ledger from its rows and report every problem; no rows means it verifies';

-- A table's name and columns (but hcl_row), as the DDL guard compares them.
CREATE FUNCTION table_shape(tbl regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT n.nspname || '.' || c.relname || ' (' ||
	       coalesce((SELECT string_agg(a.attname || ' ' || tn.nspname || '.' || t.typname, ', '
	                                   ORDER BY a.attname::text COLLATE "C")
	                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
	                 JOIN pg_namespace tn ON tn.oid = t.typnamespace
	                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	                   AND a.attname <> 'hcl_row'), '') || ')'
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl
$$;

CREATE FUNCTION ledger_inclusion_proof(ledger regclass, row_number bigint, tree_size bigint DEFAULT NULL,
	OUT leaf_index bigint, OUT tree_size bigint, OUT leaf_hash hash256, OUT proof hash256[], OUT root hash256)
	AS 'MODULE_PATHNAME', 'hcl_ledger_inclusion_proof' LANGUAGE C STABLE;
COMMENT ON FUNCTION ledger_inclusion_proof(regclass, bigint, bigint) IS 'RFC 9162 inclusion proof of a sealed row in the ledger''s log of tree_size leaves (default: all sealed)';

CREATE FUNCTION ledger_consistency_proof(ledger regclass, old_size bigint, new_size bigint DEFAULT NULL)
RETURNS hash256[]
	AS 'MODULE_PATHNAME', 'hcl_ledger_consistency_proof' LANGUAGE C STABLE;
COMMENT ON FUNCTION ledger_consistency_proof(regclass, bigint, bigint) IS 'RFC 9162 consistency proof between two sizes of the ledger''s log (new_size default: all sealed)';

