-- Never two histories (src/signed.c): what the node last signed of a log,
-- as its record outside the data directory says.
CREATE FUNCTION signed_record(origin text, OUT tree_size bigint, OUT root hash256)
	AS 'MODULE_PATHNAME', 'hcl_signed_record_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION signed_record(text) IS 'the last checkpoint of a log this node signed, from its signing record (NULL if none)';

CREATE FUNCTION ledger_signing_state()
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

-- The way out of a signed history that does not continue, when the missing
-- rows cannot be recovered: the log ends (recorded), and a new one, with a
-- new origin, starts over the table's rows.
CREATE FUNCTION restart_log(ledger regclass, reason text) RETURNS integer
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

