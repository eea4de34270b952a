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

