-- Each ledger's counts and last checkpoint.
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
CREATE FUNCTION ledger_holder(ledger regclass, blocked_by bigint, pending_runs integer,
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

