-- Ledger tables: making one, append-only enforcement, the DDL guard and its
-- unlock, sealing (aborted rows, ON CONFLICT gaps, COPY), checkpoints, the
-- status view, dropping a ledger, and every bad-input error.
SET search_path = public, hcledger;

CREATE TABLE codes (
	id bigint PRIMARY KEY,
	subject bytea NOT NULL,
	issuer text NOT NULL,
	status text NOT NULL,
	valid_until timestamptz NOT NULL
);
INSERT INTO codes SELECT i, pg_catalog.sha256(int4send(i)), 'MO', 'green', '2026-12-01 00:00+08'
FROM generate_series(10, 1, -1) i;

SELECT plan(76);

-- Making a ledger of a table with rows
SELECT is(create_ledger('codes'), 2, 'create_ledger returns the ledger id (ledger 1 is the extension''s own hcledger.codes)');
SELECT is((SELECT array_agg(hcl_row ORDER BY id) FROM codes), ARRAY[1,2,3,4,5,6,7,8,9,10]::bigint[],
          'existing rows are numbered in primary key order');
-- this test's checkpoints (the extension's own hcledger.codes has others)
CREATE TEMP VIEW checkpoints AS
	SELECT c.* FROM hcledger.checkpoints c JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'codes'::regclass;
SELECT is((SELECT columns FROM ledgers WHERE relid = 'codes'::regclass), ARRAY['id', 'issuer', 'status', 'subject', 'valid_until'],
          'the hashed columns are recorded in byte order of their names');
SELECT is((SELECT column_types FROM ledgers WHERE relid = 'codes'::regclass),
          ARRAY['pg_catalog.int8', 'pg_catalog.text', 'pg_catalog.text', 'pg_catalog.bytea', 'pg_catalog.timestamptz'],
          'with their types');
SELECT is((SELECT pending_rows FROM status WHERE ledger = 'codes'::regclass), 10::bigint, 'before sealing, all 10 rows are pending');
SELECT results_eq($$SELECT ledger::text, rows_sealed, tree_size FROM seal() WHERE ledger = 'codes'::regclass$$,
                  $$VALUES ('codes', 10::bigint, 10::bigint)$$, 'seal() appends the 10 rows');
SELECT results_eq($$SELECT rows_sealed FROM seal('codes')$$, $$VALUES (0::bigint)$$, 'sealing again appends nothing');
SELECT is_empty($$SELECT * FROM verify_ledger('codes')$$, 'an untouched ledger verifies');

-- The log against the foundation functions
SELECT is((SELECT root FROM checkpoints ORDER BY tree_size DESC LIMIT 1),
          (SELECT merkle_root_of_leaf_hashes(leaf_hash(row_leaf('codes', hcl_row)) ORDER BY hcl_row) FROM codes),
          'the checkpoint root is merkle_root over the rows'' leaves');

-- Writers: INSERT, COPY, ON CONFLICT DO NOTHING; aborted rows never sealed
INSERT INTO codes (id, subject, issuer, status, valid_until) VALUES (11, '\x01', 'MO', 'yellow', '2026-12-02');
BEGIN;
INSERT INTO codes (id, subject, issuer, status, valid_until) VALUES (12, '\x02', 'MO', 'red', '2026-12-02');
ROLLBACK;
INSERT INTO codes (id, subject, issuer, status, valid_until) VALUES (11, '\x03', 'MO', 'red', '2026-12-02')
	ON CONFLICT DO NOTHING;
COPY codes (id, subject, issuer, status, valid_until) FROM STDIN;
13	\\x04	GD	green	2026-12-03 00:00:00+08
14	\\x05	GD	green	2026-12-03 00:00:00+08
\.
SELECT is((SELECT count(*) FROM codes), 13::bigint, 'INSERT, ON CONFLICT DO NOTHING and COPY work');
SELECT results_eq($$SELECT rows_sealed, tree_size FROM seal('codes')$$, $$VALUES (3::bigint, 13::bigint)$$,
                  'the three committed rows are sealed past the aborted and skipped row numbers');
SELECT is((SELECT array_agg(hcl_row ORDER BY hcl_row) FROM codes WHERE id > 10), ARRAY[11, 14, 15]::bigint[],
          'row numbers of the aborted insert and the skipped conflict are gaps');
SELECT is((SELECT last_row FROM ledgers WHERE relid = 'codes'::regclass), 15::bigint, 'the last sealed row is 15');
SELECT is((SELECT count(*) FROM checkpoints), 2::bigint, 'one checkpoint per sealing round that added rows');
SELECT is((SELECT prev_hash FROM checkpoints ORDER BY tree_size DESC LIMIT 1),
          (SELECT checkpoint_hash FROM checkpoints ORDER BY tree_size LIMIT 1), 'checkpoints are chained');
SELECT is((SELECT checkpoint_hash::bytea FROM checkpoints ORDER BY tree_size DESC LIMIT 1),
          (SELECT pg_catalog.sha256(convert_to(body, 'UTF8')) FROM checkpoints ORDER BY tree_size DESC LIMIT 1),
          'checkpoint_hash is SHA-256 of the body');
SELECT alike((SELECT body FROM checkpoints ORDER BY tree_size DESC LIMIT 1),
            'hcledger/public.codes/%' || chr(10) || '13' || chr(10) || '%' || chr(10) || 'hcledger-prev %' || chr(10) ||
            'hcledger-time %' || chr(10) || 'hcledger-row 15' || chr(10),
            'the body is a tlog-checkpoint: origin, size, root, then extension lines');
SELECT is((SELECT split_part(body, chr(10), 3) FROM checkpoints ORDER BY tree_size DESC LIMIT 1),
          (SELECT encode(root::bytea, 'base64') FROM checkpoints ORDER BY tree_size DESC LIMIT 1),
          'the third line is the root in base64');
DROP VIEW pg_temp.checkpoints;
SELECT is_empty($$SELECT * FROM verify_ledger('codes')$$, 'the ledger still verifies');
VACUUM FULL codes;
SELECT is_empty($$SELECT * FROM verify_ledger('codes')$$, 'row identity survives VACUUM FULL');
CLUSTER codes USING codes_pkey;
SELECT is_empty($$SELECT * FROM verify_ledger('codes')$$, 'and CLUSTER');
SELECT throws_ok($$INSERT INTO codes (id, subject, issuer, status, valid_until, hcl_row) VALUES (20, '\x', 'x', 'x', now(), 99)$$,
                 '428C9', NULL, 'a row number cannot be chosen by the writer');
SELECT throws_ok($$SELECT row_leaf('codes', 12)$$, 'P0002', 'ledger "codes" has no row 12', 'row_leaf of a missing row is an error');

-- Append-only
SELECT throws_ok($$UPDATE codes SET status = 'red' WHERE id = 1$$, '55000', 'ledger table "codes" is append-only', 'UPDATE is refused');
SELECT throws_ok($$DELETE FROM codes WHERE id = 1$$, '55000', 'ledger table "codes" is append-only', 'DELETE is refused');
SELECT throws_ok($$TRUNCATE codes$$, '55000', 'ledger table "codes" is append-only', 'TRUNCATE is refused');
SET session_replication_role = replica;
SELECT throws_ok($$UPDATE codes SET status = 'red' WHERE id = 1$$, '55000', NULL, 'UPDATE is refused under session_replication_role = replica too');
RESET session_replication_role;

-- DDL that changes what is hashed
SELECT throws_ok($$ALTER TABLE codes DROP COLUMN status$$, '55000', NULL, 'dropping a column is refused');
SELECT throws_ok($$ALTER TABLE codes ALTER COLUMN issuer TYPE varchar(10)$$, '55000', NULL, 'retyping a column is refused');
SELECT throws_ok($$ALTER TABLE codes RENAME COLUMN status TO colour$$, '55000', NULL, 'renaming a column is refused');
SELECT throws_ok($$ALTER TABLE codes ADD COLUMN note text$$, '55000', NULL, 'adding a column is refused');
SELECT throws_ok($$ALTER TABLE codes RENAME TO codes2$$, '55000', NULL, 'renaming the table is refused');
SELECT throws_ok($$DROP TABLE codes$$, '55000', NULL, 'dropping the table is refused');
SELECT throws_ok($$ALTER TABLE codes DISABLE TRIGGER hcl_append_only$$, '55000', NULL, 'disabling the guard trigger is refused');
SELECT throws_ok($$ALTER TABLE codes ALTER COLUMN hcl_row DROP IDENTITY$$, '55000', NULL, 'changing hcl_row is refused');
SELECT throws_ok($$ALTER TABLE codes ALTER COLUMN issuer TYPE text USING issuer || '!'$$, '55000', NULL,
                 'rewriting a column in place (same type) is refused');
SELECT throws_ok($$ALTER TABLE codes SET UNLOGGED$$, '55000', NULL, 'making the table unlogged is refused');
CREATE TABLE codes_parent (id bigint);
SELECT throws_ok($$ALTER TABLE codes INHERIT codes_parent$$, '55000', NULL, 'inheriting from another table is refused');
SELECT throws_ok($$CREATE TABLE codes_child () INHERITS (codes)$$, '55000', NULL, 'being inherited from is refused');
SELECT throws_ok($$DROP INDEX codes_hcl_row_idx$$, '55000', NULL, 'dropping the hcl_row index is refused');
SELECT throws_ok($$ALTER TABLE codes ALTER COLUMN hcl_row SET CACHE 20$$, '55000', NULL, 'caching row numbers is refused');
SELECT lives_ok($$CREATE INDEX ON codes (issuer)$$, 'DDL that does not change what is hashed is allowed');
BEGIN;
INSERT INTO codes (id, subject, issuer, status, valid_until) VALUES (16, '\x16', 'MO', 'green', '2026-12-02');
SELECT throws_ok($$SELECT seal('codes')$$, '55000', NULL, 'a transaction cannot seal a ledger it writes to');
ROLLBACK;
SELECT throws_ok($$SELECT unlock_ddl('codes', '  ')$$, '22023', NULL, 'unlocking needs a reason');
BEGIN;
SELECT unlock_ddl('codes', 'add an unhashed note column (ticket 42)');
ALTER TABLE codes ADD COLUMN note text;
COMMIT;
SELECT is((SELECT reason FROM ledger_events WHERE event = 'ddl_unlocked'), 'add an unhashed note column (ticket 42)',
          'the unlock is recorded with its reason');
SELECT throws_ok($$ALTER TABLE codes DROP COLUMN note$$, '55000', NULL, 'the unlock lasted one transaction only');

-- Privileges: dropping a ledger and unlocking DDL are for administrators
CREATE ROLE hcl_regress_writer;
GRANT USAGE ON SCHEMA hcledger TO hcl_regress_writer;
SET ROLE hcl_regress_writer;
SELECT throws_ok($$SELECT hcledger.drop_ledger('codes', 'no')$$, '42501', NULL, 'a writer cannot drop a ledger');
SELECT throws_ok($$SELECT hcledger.unlock_ddl('codes', 'no')$$, '42501', NULL, 'a writer cannot unlock DDL');
RESET ROLE;

-- Row numbers not issued by the sequence, and a sequence moved back
CREATE TABLE forged (n int);
SELECT create_ledger('forged');
INSERT INTO forged VALUES (1), (2);
CREATE TABLE geo (at point);
SELECT throws_ok($$SELECT create_ledger('geo')$$, '0A000', 'column "at" of type point cannot be part of a ledger',
                 'a geometric column is refused: a NaN among its coordinates would not survive a dump');
SELECT throws_ok($$INSERT INTO forged OVERRIDING SYSTEM VALUE VALUES (3, 9000000000000000000)$$, '23514',
                 'row number 9000000000000000000 of ledger "forged" was not drawn from its sequence',
                 'a row number the sequence never issued is refused at insert, even for a superuser');
INSERT INTO forged VALUES (4);
SELECT results_eq($$SELECT rows_sealed FROM seal('forged')$$, $$VALUES (3::bigint)$$,
                  'and does not stop the others');
SELECT is_empty($$SELECT * FROM verify_ledger('forged')$$, 'the ledger verifies');
SELECT setval(pg_get_serial_sequence('forged', 'hcl_row'), 1);
SELECT throws_ok($$SELECT seal('forged')$$, '55000', NULL, 'a sequence moved back below the sealed rows stops sealing with an error');

-- Reading a row's leaf needs the right to read the row
SET ROLE hcl_regress_writer;
SELECT throws_ok($$SELECT hcledger.row_leaf('public.codes', 1)$$, '42501', NULL, 'row_leaf needs SELECT on the ledger');
RESET ROLE;

-- Bad input to create_ledger
CREATE VIEW codes_view AS SELECT * FROM codes;
CREATE TEMP TABLE temp_codes (id int);
CREATE UNLOGGED TABLE unlogged_codes (id int);
CREATE TABLE oid_codes (id int, o oid);
CREATE TYPE pair AS (a int, b int);
CREATE TABLE composite_codes (id int, p pair);
CREATE TABLE parted (id int) PARTITION BY RANGE (id);
CREATE TABLE "line
break" (id int);
SELECT throws_ok($$SELECT create_ledger('no_such_table')$$, '42P01', NULL, 'an unknown table is an error');
SELECT throws_ok($$SELECT create_ledger('codes_view')$$, '42809', 'cannot make "public.codes_view" a ledger', 'a view is refused');
SELECT throws_ok($$SELECT create_ledger('temp_codes')$$, '42809', NULL, 'a temporary table is refused');
SELECT throws_ok($$SELECT create_ledger('unlogged_codes')$$, '42809', NULL, 'an unlogged table is refused');
SELECT throws_ok($$SELECT create_ledger('parted')$$, '42809', NULL, 'a partitioned table is refused');
SELECT throws_ok($$SELECT create_ledger('codes')$$, '42710', 'table "public.codes" is already a ledger', 'making a ledger twice is refused');
SELECT throws_ok($$SELECT create_ledger('oid_codes')$$, '0A000', 'column "o" of type oid cannot be part of a ledger', 'an oid column is refused');
SELECT throws_ok($$SELECT create_ledger('composite_codes')$$, '0A000', NULL, 'a composite column is refused');
SELECT create_ledger('"line' || chr(10) || 'break"') > 0 AS made;
SELECT ok((SELECT origin ~ '^hcledger/public\.line%0Abreak/[0-9a-f]{32}$' FROM hcledger.ledgers
            WHERE relid = ('"line' || chr(10) || 'break"')::regclass AND dropped_at IS NULL),
          'a name with a newline is a ledger whose origin writes it %0A (docs/format.md, "Origins")');

-- Appending listed rows in a given order (recover_codes' step: a log rebuilt
-- in the order a peer accepted it; superusers only)
CREATE TABLE listed (v int);
SELECT create_ledger('listed');
INSERT INTO listed VALUES (1), (2), (3);
BEGIN;
INSERT INTO listed VALUES (4);
ROLLBACK;
INSERT INTO listed VALUES (5);
SELECT throws_ok($$SELECT append_listed_rows('listed', 1, ARRAY[1])$$, '22023',
                 'the log of ledger "listed" holds 0 leaves, so rows can be put back from position 0, not 1',
                 'append_listed_rows: only at the log''s end');
SELECT throws_ok($$SELECT append_listed_rows('listed', 0, ARRAY[2, 2])$$, '22023', 'row 2 is listed twice',
                 'append_listed_rows: a row listed twice is refused');
SELECT throws_ok($$SELECT append_listed_rows('listed', 0, ARRAY[2, NULL])$$, '22004', 'a row number to put back is NULL',
                 'append_listed_rows: a NULL row number is refused');
SELECT throws_ok($$SELECT append_listed_rows('listed', 0, ARRAY[9])$$, '22023',
                 'row 9 of ledger "listed" is past the last number its sequence gave (5)',
                 'append_listed_rows: a row number the sequence never gave is refused');
SELECT throws_ok($$SELECT append_listed_rows('listed', 0, ARRAY[4])$$, 'P0002', 'row 4 of ledger "listed" is not in the table',
                 'append_listed_rows: a row that is not in the table (rolled back) is refused');
SELECT is(append_listed_rows('listed', 0, ARRAY[3, 1, 2]), 3::bigint, 'append_listed_rows appends the rows listed');
SELECT results_eq($$SELECT ledger_row_at('listed', p) FROM generate_series(0, 2) p$$,
                  $$VALUES (3::bigint), (1::bigint), (2::bigint)$$, 'in the order listed');
SELECT throws_ok($$SELECT append_listed_rows('listed', 3, ARRAY[5])$$, '22023',
                 '1 rows from position 3 would take the log of ledger "listed" past the 3 leaves its node signed',
                 'append_listed_rows: nothing past what the node signed');
SELECT results_eq($$SELECT rows_sealed FROM seal('listed')$$, $$VALUES (1::bigint)$$,
                  'the next round seals the row after them, not the rolled-back one');
SELECT is((SELECT count(*) FROM verify_ledger('listed')), 0::bigint, 'and the ledger verifies');
SELECT drop_ledger('listed', 'regression test cleanup');

-- Stopping being a ledger
SELECT lives_ok($$SELECT drop_ledger('codes', 'retired after the pandemic')$$, 'an administrator can drop a ledger');
SELECT lives_ok($$UPDATE codes SET status = 'red' WHERE id = 1$$, 'the table is an ordinary table again');
SELECT results_eq($$SELECT event FROM ledger_events WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE relid = 'codes'::regclass) ORDER BY event_id$$,
                  $$VALUES ('created'), ('ddl_unlocked'), ('dropped')$$, 'its history is recorded, and its log and checkpoints kept');

SELECT * FROM finish();
-- the forged ledger would stop later tests' seal() of every ledger
SELECT drop_ledger('forged', 'regression test cleanup');
REVOKE USAGE ON SCHEMA hcledger FROM hcl_regress_writer;
DROP ROLE hcl_regress_writer;
