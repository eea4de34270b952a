-- Tampering done as a superuser behind the guards' back (event triggers and
-- table triggers disabled, direct writes to the log and checkpoints): each
-- kind is reported by verify_ledger at the right log position and row.
SET search_path = public, hcledger;

-- Run a statement with every guard off, as an attacker with superuser would.
CREATE FUNCTION pg_temp.behind_the_back(tbl regclass, stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
	ALTER EVENT TRIGGER hcledger_drop_guard DISABLE;
	EXECUTE format('ALTER TABLE %s DISABLE TRIGGER hcl_append_only, DROP CONSTRAINT hcl_row_drawn', tbl);
	EXECUTE stmt;
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER hcl_append_only,'
	               ' ADD CONSTRAINT hcl_row_drawn CHECK (hcledger.row_drawn(hcl_row, tableoid)) NOT VALID', tbl);
	ALTER EVENT TRIGGER hcledger_ddl_guard ENABLE ALWAYS;
	ALTER EVENT TRIGGER hcledger_drop_guard ENABLE ALWAYS;
END $$;

-- A fresh ledger of n rows (sealed below, once committed): rows 1..n, positions 0..n-1.
CREATE FUNCTION pg_temp.make_ledger(name text, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TABLE %I (id int NOT NULL, status text NOT NULL, at timestamptz NOT NULL)', name);
	PERFORM hcledger.create_ledger(name::regclass);
	EXECUTE format($f$INSERT INTO %I SELECT i, CASE WHEN i %% 3 = 0 THEN 'red' ELSE 'green' END,
	               timestamptz '2026-11-01 00:00+00' + i * interval '1 minute' FROM generate_series(1, %s) i$f$, name, n);
END $$;

CREATE FUNCTION pg_temp.problems(tbl regclass) RETURNS TABLE (kind text, log_position bigint, row_number bigint)
LANGUAGE sql AS $$ SELECT kind, log_position, row_number FROM hcledger.verify_ledger(tbl) $$;

SELECT pg_temp.make_ledger('untouched', 20);
SELECT pg_temp.make_ledger('changed', 20);
SELECT pg_temp.make_ledger('removed', 20);
SELECT pg_temp.make_ledger('inserted', 20);
SELECT pg_temp.make_ledger('reordered', 20);
SELECT pg_temp.make_ledger('truncated', 20);
SELECT pg_temp.make_ledger('bad_checkpoint', 20);
SELECT pg_temp.make_ledger('bad_body', 20);
SELECT pg_temp.make_ledger('broken_chain', 10);
SELECT pg_temp.make_ledger('bad_leaf_node', 20);
SELECT pg_temp.make_ledger('bad_upper_node', 600);
SELECT pg_temp.make_ledger('truncated_log', 600);
SELECT pg_temp.make_ledger('rewritten', 20);
SELECT pg_temp.make_ledger('bad_entries', 20);
SELECT pg_temp.make_ledger('short_entries', 20);
SELECT pg_temp.make_ledger('no_entries', 20);
SELECT count(*) >= 16 AS sealed FROM seal();
-- a second sealing round for the chain test
INSERT INTO broken_chain SELECT i, 'green', now() FROM generate_series(11, 20) i;
SELECT count(*) FROM seal('broken_chain');

SELECT plan(18);

SELECT is_empty($$SELECT * FROM verify_ledger('untouched')$$, 'an untouched ledger reports nothing');

SELECT pg_temp.behind_the_back('changed', $$UPDATE changed SET status = 'green' WHERE hcl_row = 6$$);
SELECT results_eq($$SELECT * FROM pg_temp.problems('changed')$$,
                  $$VALUES ('changed_value', 5::bigint, 6::bigint)$$, 'a changed value: position 5, row 6');

SELECT pg_temp.behind_the_back('removed', $$DELETE FROM removed WHERE hcl_row = 9$$);
SELECT results_eq($$SELECT * FROM pg_temp.problems('removed')$$,
                  $$VALUES ('removed_row', 8::bigint, 9::bigint)$$, 'a removed row: position 8, row 9');

-- row 21 is aborted, 22 sealed; an attacker then inserts a row numbered 21
BEGIN; INSERT INTO inserted VALUES (21, 'green', now()); ROLLBACK;
INSERT INTO inserted VALUES (22, 'green', now());
SELECT count(*) FROM seal('inserted');
SELECT pg_temp.behind_the_back('inserted', $$INSERT INTO inserted OVERRIDING SYSTEM VALUE VALUES (99, 'green', now(), 21)$$);
SELECT results_eq($$SELECT * FROM pg_temp.problems('inserted')$$,
                  $$VALUES ('inserted_row', 20::bigint, 21::bigint)$$, 'an inserted row: before position 20, row 21');

SELECT pg_temp.behind_the_back('reordered', $$
	UPDATE reordered r SET (id, status, at) = (SELECT o.id, o.status, o.at FROM reordered o
	                                            WHERE o.hcl_row = CASE r.hcl_row WHEN 12 THEN 13 ELSE 12 END)
	WHERE r.hcl_row IN (12, 13)$$);
SELECT results_eq($$SELECT * FROM pg_temp.problems('reordered') ORDER BY log_position$$,
                  $$VALUES ('reordered', 11::bigint, 12::bigint), ('reordered', 12::bigint, 13::bigint)$$,
                  'a reordered pair: positions 11 and 12');

SELECT pg_temp.behind_the_back('truncated', $$DELETE FROM truncated WHERE hcl_row > 16$$);
SELECT results_eq($$SELECT * FROM pg_temp.problems('truncated')$$,
                  $$VALUES ('truncated_tail', 16::bigint, 17::bigint)$$, 'a truncated tail: from position 16, row 17');

UPDATE checkpoints SET root = hcledger.sha256('forged')
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'bad_checkpoint'::regclass);
SELECT bag_has($$SELECT * FROM pg_temp.problems('bad_checkpoint')$$,
               $$VALUES ('altered_checkpoint', 20::bigint, 20::bigint)$$, 'an altered checkpoint root is reported at its tree size');
SELECT is_empty($$SELECT * FROM pg_temp.problems('bad_checkpoint') WHERE kind <> 'altered_checkpoint'$$,
                'and blamed on the checkpoint, not on the rows');

UPDATE checkpoints SET body = replace(body, 'hcledger-row 20', 'hcledger-row 19')
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'bad_body'::regclass);
SELECT results_eq($$SELECT * FROM pg_temp.problems('bad_body')$$,
                  $$VALUES ('altered_checkpoint', 20::bigint, 20::bigint)$$, 'an altered checkpoint body');

UPDATE checkpoints SET prev_hash = hcledger.sha256('another history'),
       body = regexp_replace(body, 'hcledger-prev [^\n]*', 'hcledger-prev ' || encode(hcledger.sha256('another history')::bytea, 'base64')),
       checkpoint_hash = hcledger.sha256(convert_to(regexp_replace(body, 'hcledger-prev [^\n]*', 'hcledger-prev ' || encode(hcledger.sha256('another history')::bytea, 'base64')), 'UTF8'))
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'broken_chain'::regclass) AND tree_size = 20;
SELECT bag_has($$SELECT * FROM pg_temp.problems('broken_chain')$$,
               $$VALUES ('altered_checkpoint', 20::bigint, 20::bigint)$$, 'a checkpoint that does not name its predecessor (a broken chain)');

UPDATE tiles SET hashes = overlay(hashes placing hcledger.sha256('x')::bytea from 32 * 7 + 1)
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'bad_leaf_node'::regclass) AND level = 0 AND tile = 0;
SELECT results_eq($$SELECT * FROM pg_temp.problems('bad_leaf_node') WHERE log_position < 20$$,
                  $$VALUES ('altered_node', 7::bigint, 8::bigint)$$, 'an altered stored leaf hash: position 7, blamed on the log');

UPDATE tiles SET hashes = overlay(hashes placing hcledger.sha256('x')::bytea from 32 + 1)
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'bad_upper_node'::regclass) AND level = 1 AND tile = 0;
SELECT results_eq($$SELECT * FROM pg_temp.problems('bad_upper_node')$$,
                  $$VALUES ('altered_node', 256::bigint, NULL::bigint)$$, 'an altered interior node: the subtree from position 256');

DELETE FROM tiles
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'truncated_log'::regclass) AND level = 0 AND tile = 2;
SELECT bag_has($$SELECT * FROM pg_temp.problems('truncated_log')$$,
               $$VALUES ('truncated_log', 512::bigint, NULL::bigint)$$, 'a truncated log: 512 leaves stored where 600 were sealed');

-- Rows and leaf rewritten together: only the checkpoint tells.
SELECT pg_temp.behind_the_back('rewritten', $$UPDATE rewritten SET status = 'green' WHERE hcl_row = 3$$);
UPDATE tiles SET hashes = overlay(hashes placing leaf_hash(row_leaf('rewritten', 3))::bytea from 32 * 2 + 1)
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'rewritten'::regclass) AND level = 0 AND tile = 0;
SELECT bag_has($$SELECT * FROM pg_temp.problems('rewritten')$$,
               $$VALUES ('altered_checkpoint', 20::bigint, 20::bigint)$$,
               'a row rewritten together with its leaf is caught by the checkpoint');

-- A checkpoint's published entries (checkpoints.leaves) must be those it added.
UPDATE checkpoints SET leaves = overlay(leaves placing hcledger.sha256('x')::bytea from 40 * 4 + 8 + 1)
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'bad_entries'::regclass);
SELECT results_eq($$SELECT * FROM pg_temp.problems('bad_entries')$$,
                  $$VALUES ('altered_entries', 20::bigint, 20::bigint)$$, 'a published entry''s leaf hash changed: the checkpoint at size 20');
UPDATE checkpoints SET leaves = substring(leaves FROM 41)
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'short_entries'::regclass);
SELECT results_eq($$SELECT * FROM pg_temp.problems('short_entries')$$,
                  $$VALUES ('altered_entries', 20::bigint, 20::bigint)$$, 'a published entry left out');
UPDATE checkpoints SET leaves = NULL
WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'no_entries'::regclass);
SELECT results_eq($$SELECT kind, detail FROM verify_ledger('no_entries')$$,
                  $$VALUES ('altered_entries', 'checkpoint at tree size 20 publishes no log entries (checkpoints.leaves), where it added 20')$$,
                  'published entries removed');

SELECT is((SELECT count(*) FROM ledgers l, LATERAL verify_ledger(l.relid) v WHERE l.relid = 'untouched'::regclass), 0::bigint,
          'and the untouched ledger still reports nothing');

SELECT * FROM finish();
