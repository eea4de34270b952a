-- Trust boundaries: code or data that one party controls must never run
-- with, or speak for, another party's rights.
--  1. Owner's code under create_ledger: a non-superuser owner's triggers
--     (statement and row level), CHECK constraint and expression index run
--     as that owner when a superuser makes its table a ledger: the owner
--     gains no rights, no key is planted, the rows are numbered 1..n and
--     the ledger verifies.
--  2. Owner's code under the status view: a row-level security policy of an
--     owner's ledger never runs when an administrator, auditor or issuer
--     reads hcledger.status (no key added, no pseudonym copied, no code
--     issued), and the row count is still right.
--  3. Row numbers only from the sequence: a writer's OVERRIDING SYSTEM VALUE
--     (future, past unused and next numbers), COPY with an hcl_row column
--     and an owner's trigger that rewrites NEW.hcl_row are refused (23514,
--     constraint hcl_row_drawn); honest INSERT, multi-row VALUES,
--     INSERT ... SELECT and COPY still work, and everything seals and
--     verifies.
--  4. Real time in verdicts: within one open transaction verify_code sees a
--     code expire, a scheduled revocation take effect, and a revocation
--     committed by another session; under REPEATABLE READ or SERIALIZABLE
--     it refuses to give a verdict (25000).
--  5. Colliding key ids: two Ed25519 keys with the same 4-byte signed-note
--     key id (test/data/collision/) never vouch for each other: a note
--     verifies with the key that signed it whichever is tried first, and a
--     key of one authority never verifies for another; with no authority
--     named, a note of a member's log is checked with that member's keys
--     only.
--  6. DROP INDEX CONCURRENTLY: the owner cannot drop a ledger's unique
--     index on hcl_row concurrently (55000, refused before anything is
--     committed: the index stays valid and ready, DDL and sealing go on);
--     an unrelated index is still dropped concurrently.  Last, because
--     without the guard it leaves every DDL in the database refused.
-- Statements that cannot run inside a function (COPY FROM STDIN, DROP INDEX
-- CONCURRENTLY) are plain statements: their ERROR line is in the expected
-- output and their SQLSTATE is checked with psql's :SQLSTATE (psql does not
-- set it for COPY FROM STDIN: that ERROR line shows the SQLSTATE instead),
-- then the state they left is checked.
-- It runs in a database of its own, so that what earlier test files left
-- does not stand in its way.
CREATE DATABASE regress_trust;
\c regress_trust
CREATE EXTENSION pgtap;
CREATE EXTENSION hcledger;
CREATE EXTENSION dblink;
SET search_path = public, hcledger;
SELECT plan(79);

CREATE ROLE regress_tb_owner;
CREATE ROLE regress_tb_writer;
CREATE ROLE regress_tb_admin IN ROLE hcledger_admin;
CREATE ROLE regress_tb_auditor IN ROLE hcledger_auditor;
CREATE ROLE regress_tb_issuer IN ROLE hcledger_issuer;
CREATE SCHEMA tb_owner AUTHORIZATION regress_tb_owner;
GRANT USAGE ON SCHEMA tb_owner TO regress_tb_writer, regress_tb_admin, regress_tb_auditor, regress_tb_issuer;
GRANT USAGE ON SCHEMA hcledger TO regress_tb_writer;

-- The local authority, its credential key and the node's key.
SELECT add_authority('regress-tb', 'Trust Bureau', true);
SELECT add_key('regress-tb', 'es256-tb', 'es256', credential_public_key(), now() - interval '1 day');
SELECT add_key('regress-tb', 'node-tb', 'ed25519', signing_public_key(), now() - interval '1 day');
-- A code whose pseudonym an attacker would like to copy.
SELECT count(*) AS issued FROM issue_code('{"name": "Trust Traveller", "document_number": "TB000001",
	"birth_date": "1970-01-01", "test_result": "negative"}');
SELECT count(*) AS ledgers FROM seal();

--
-- 1. Owner's code under create_ledger.  Every piece of the owner's code
-- records who it runs as and tries what only a superuser can do.
--
SET ROLE regress_tb_owner;
CREATE TABLE tb_owner.calls (via text NOT NULL, who name NOT NULL);
CREATE FUNCTION tb_owner.attack(via text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tb_owner.calls VALUES (via, current_user);
	BEGIN
		EXECUTE 'ALTER ROLE regress_tb_owner SUPERUSER';
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	BEGIN
		INSERT INTO hcledger.keys (authority, key_id, algorithm, public_key, valid_from)
		VALUES ('zz-regress-tb-planted', via || ' ' || current_user, 'ed25519', decode(repeat('00', 32), 'hex'), now());
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
END $$;
CREATE FUNCTION tb_owner.on_update_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM tb_owner.attack('statement trigger'); RETURN NULL; END $$;
CREATE FUNCTION tb_owner.on_update_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM tb_owner.attack('row trigger'); RETURN NEW; END $$;
CREATE FUNCTION tb_owner.pad_ok(pad text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM tb_owner.attack('check constraint'); RETURN pad IS NOT NULL; END $$;
-- declared IMMUTABLE, as an index expression must be; what it calls is not
CREATE FUNCTION tb_owner.bucket(id integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM tb_owner.attack('index expression'); RETURN id % 4; END $$;
-- Rows of about 1,800 bytes, four to a page: updating one cannot stay on its
-- page (no HOT update), so the expression index is computed for each.
CREATE TABLE tb_owner.accounts (id integer PRIMARY KEY, pad text NOT NULL CHECK (tb_owner.pad_ok(pad)));
CREATE INDEX accounts_bucket ON tb_owner.accounts (tb_owner.bucket(id));
CREATE TRIGGER a_statement BEFORE UPDATE ON tb_owner.accounts FOR EACH STATEMENT EXECUTE FUNCTION tb_owner.on_update_statement();
CREATE TRIGGER a_row BEFORE UPDATE ON tb_owner.accounts FOR EACH ROW EXECUTE FUNCTION tb_owner.on_update_row();
INSERT INTO tb_owner.accounts SELECT g, repeat(chr(96 + g), 1800) FROM generate_series(8, 1, -1) g;
DELETE FROM tb_owner.calls;
RESET ROLE;
SELECT lives_ok($$SELECT hcledger.create_ledger('tb_owner.accounts')$$,
                'create_ledger makes a table with the owner''s triggers, CHECK and expression index a ledger');
SELECT is_empty($$SELECT via, who FROM tb_owner.calls WHERE who <> 'regress_tb_owner'$$,
                'none of the owner''s code ran as the superuser who called create_ledger');
SELECT is((SELECT array_agg(DISTINCT (via || ' as ' || who) COLLATE "C") FROM tb_owner.calls),
          ARRAY['check constraint as regress_tb_owner', 'index expression as regress_tb_owner',
                'row trigger as regress_tb_owner', 'statement trigger as regress_tb_owner'],
          'each piece of the owner''s code ran, as the owner (so the check above is not vacuous)');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_tb_owner'), false, 'the owner did not become a superuser');
SELECT is((SELECT count(*) FROM hcledger.keys WHERE authority = 'zz-regress-tb-planted'), 0::bigint,
          'the owner''s code planted no key');
SELECT is((SELECT array_agg(hcl_row ORDER BY id) FROM tb_owner.accounts), '{1,2,3,4,5,6,7,8}'::bigint[],
          'the existing rows are numbered 1 to 8 in primary-key order');
SELECT count(*) AS ledgers FROM seal();
SELECT is_empty($$SELECT * FROM hcledger.verify_ledger('tb_owner.accounts')$$, 'the new ledger verifies once sealed');
-- (a build that let the owner become a superuser: undo it, so the rest of the file tests what it says)
ALTER ROLE regress_tb_owner NOSUPERUSER;

--
-- 2. Owner's code under the status view.  The policy of a row-level
-- security table runs as whoever reads it: readers of hcledger.status with
-- SELECT on the table must not run it.
--
SELECT count(*) AS keys_before FROM hcledger.keys \gset
SELECT count(*) AS codes_before FROM hcledger.codes \gset
SET ROLE regress_tb_owner;
CREATE TABLE tb_owner.peeks (who name NOT NULL);
CREATE TABLE tb_owner.stolen (subject bytea);
CREATE TABLE tb_owner.issued (payload text);
GRANT INSERT ON tb_owner.peeks, tb_owner.stolen, tb_owner.issued TO PUBLIC;
CREATE FUNCTION tb_owner.peek() RETURNS boolean LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
	INSERT INTO tb_owner.peeks VALUES (current_user);
	BEGIN	-- as a member of hcledger_admin
		PERFORM hcledger.add_key('regress-tb', 'planted ' || current_user, 'ed25519', decode(repeat('11', 32), 'hex'));
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	BEGIN	-- as a member of hcledger_auditor
		INSERT INTO tb_owner.stolen SELECT c.subject FROM hcledger.codes c WHERE c.subject IS NOT NULL;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	BEGIN	-- as a member of hcledger_issuer
		INSERT INTO tb_owner.issued SELECT i.payload FROM hcledger.issue_code('{"name": "Planted Traveller",
			"document_number": "TB666666", "birth_date": "1970-01-01"}') i;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN true;
END $$;
CREATE TABLE tb_owner.visits (id integer PRIMARY KEY, place text NOT NULL);
ALTER TABLE tb_owner.visits ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON tb_owner.visits USING (tb_owner.peek());
INSERT INTO tb_owner.visits VALUES (1, 'gate 1'), (2, 'gate 2'), (3, 'gate 3');
GRANT SELECT ON tb_owner.visits TO regress_tb_admin, regress_tb_auditor, regress_tb_issuer;
RESET ROLE;
SELECT create_ledger('tb_owner.visits') > 0 AS made_a_ledger;
SET ROLE regress_tb_admin;
SELECT is((SELECT committed_rows FROM hcledger.status WHERE ledger = 'tb_owner.visits'::regclass), 3::bigint,
          'an administrator reading hcledger.status sees the ledger''s 3 rows');
RESET ROLE;
SET ROLE regress_tb_auditor;
SELECT is((SELECT committed_rows FROM hcledger.status WHERE ledger = 'tb_owner.visits'::regclass), 3::bigint,
          'so does an auditor');
RESET ROLE;
SET ROLE regress_tb_issuer;
SELECT is((SELECT committed_rows FROM hcledger.status WHERE ledger = 'tb_owner.visits'::regclass), 3::bigint,
          'and an issuer');
RESET ROLE;
SELECT is_empty($$SELECT who FROM tb_owner.peeks$$, 'the owner''s policy function never ran for them');
SELECT is((SELECT count(*) FROM hcledger.keys), :keys_before::bigint, 'no key was added with the administrator''s rights');
SELECT is_empty($$SELECT subject FROM tb_owner.stolen$$, 'no pseudonym was copied with the auditor''s rights');
SELECT is((SELECT count(*) FROM hcledger.codes), :codes_before::bigint, 'no code was issued with the issuer''s rights');
SELECT is_empty($$SELECT payload FROM tb_owner.issued$$, 'and the owner got no payload');

--
-- 3. Row numbers come from the sequence only.  The writer may INSERT and
-- SELECT, nothing more; numbers it chooses are refused, whatever they are.
--
SET ROLE regress_tb_owner;
CREATE TABLE tb_owner.entries (id integer NOT NULL, v text NOT NULL);
CREATE TABLE tb_owner.renumbered (id integer NOT NULL, v text NOT NULL);
GRANT SELECT, INSERT ON tb_owner.entries, tb_owner.renumbered TO regress_tb_writer;
RESET ROLE;
SELECT create_ledger('tb_owner.entries') > 0 AS made_a_ledger;
SELECT create_ledger('tb_owner.renumbered') > 0 AS made_a_ledger;
SET ROLE regress_tb_writer;
INSERT INTO tb_owner.entries (id, v) VALUES (1, 'first'), (2, 'second'), (3, 'third');
RESET ROLE;
-- Row 4 is drawn by another session whose insert aborts, row 5 by the
-- writer's own aborted insert; another session then writes row 6 and
-- sealing passes over 4 and 5: two past numbers that no row has, or ever will.
SELECT dblink_exec('dbname=regress_trust', 'BEGIN; INSERT INTO tb_owner.entries (id, v) VALUES (4, ''aborted elsewhere''); ROLLBACK');
SET ROLE regress_tb_writer;
BEGIN;
INSERT INTO tb_owner.entries (id, v) VALUES (5, 'aborted here');
ROLLBACK;
RESET ROLE;
SELECT dblink_exec('dbname=regress_trust', 'INSERT INTO tb_owner.entries (id, v) VALUES (6, ''written elsewhere'')');
SELECT count(*) AS ledgers FROM seal();
SELECT sealed_rows, last_row FROM hcledger.status JOIN hcledger.ledgers l ON l.relid = ledger AND l.dropped_at IS NULL
 WHERE ledger = 'tb_owner.entries'::regclass;
SET ROLE regress_tb_writer;
SELECT throws_ok($$INSERT INTO tb_owner.entries (hcl_row, id, v) OVERRIDING SYSTEM VALUE VALUES (1000000, 71, 'future')$$,
                 '23514', NULL, 'a writer cannot choose a future row number (OVERRIDING SYSTEM VALUE)');
SELECT throws_ok($$INSERT INTO tb_owner.entries (hcl_row, id, v) OVERRIDING SYSTEM VALUE VALUES (4, 72, 'past')$$,
                 '23514', NULL, 'nor a past number no row has');
SELECT throws_ok($$INSERT INTO tb_owner.entries (hcl_row, id, v) OVERRIDING SYSTEM VALUE VALUES (5, 73, 'past, drawn here')$$,
                 '23514', NULL, 'nor a past number it drew itself for an insert that aborted');
SELECT throws_ok($$INSERT INTO tb_owner.entries (hcl_row, id, v) OVERRIDING SYSTEM VALUE VALUES (7, 74, 'next')$$,
                 '23514', NULL, 'nor the number the sequence gives next');
-- COPY writes identity columns it is given.  A plain statement; psql does
-- not set :SQLSTATE after COPY FROM STDIN, so the ERROR line shows the
-- SQLSTATE itself.
\set VERBOSITY sqlstate
COPY tb_owner.entries (hcl_row, id, v) FROM STDIN;
1000001	8	copied with a row number
\.
\set VERBOSITY default
SELECT is_empty($$SELECT hcl_row FROM tb_owner.entries WHERE id = 8$$, 'nor can COPY be given a row number');
-- A number drawn by an insert that failed before the check ran (NOT NULL):
-- the session's current value, yet not fresh for a later statement.
SELECT throws_ok($$INSERT INTO tb_owner.entries (id, v) VALUES (NULL, 'no id')$$, '23502', NULL,
                 'an insert that fails on NOT NULL still draws a number');
RESET ROLE;
SELECT last_value AS drawn_unused FROM tb_owner.entries_hcl_row_seq \gset
SET ROLE regress_tb_writer;
SELECT throws_ok(format($$INSERT INTO tb_owner.entries (hcl_row, id, v) OVERRIDING SYSTEM VALUE VALUES (%s, 75, 'slipped')$$,
                        :'drawn_unused'), '23514', NULL,
                 'nor can that number, drawn by a failed insert, be given to a row later');
RESET ROLE;
-- the owner's trigger rewrites the number the sequence gave
SET ROLE regress_tb_owner;
CREATE FUNCTION tb_owner.renumber() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.hcl_row := NEW.hcl_row + 1000; RETURN NEW; END $$;
CREATE TRIGGER renumber BEFORE INSERT ON tb_owner.renumbered FOR EACH ROW EXECUTE FUNCTION tb_owner.renumber();
RESET ROLE;
SET ROLE regress_tb_writer;
SELECT throws_ok($$INSERT INTO tb_owner.renumbered (id, v) VALUES (1, 'renumbered')$$, '23514', NULL,
                 'an owner''s BEFORE INSERT trigger cannot rewrite NEW.hcl_row');
SELECT is((SELECT count(*) FROM tb_owner.renumbered), 0::bigint, 'no row was added under a rewritten number');
-- honest writing still works
SELECT lives_ok($$INSERT INTO tb_owner.entries (id, v) VALUES (10, 'plain')$$, 'a plain INSERT works');
SELECT lives_ok($$INSERT INTO tb_owner.entries (id, v) VALUES (11, 'a'), (12, 'b'), (13, 'c')$$, 'a multi-row INSERT works');
SELECT lives_ok($$INSERT INTO tb_owner.entries (id, v) SELECT g, 'bulk ' || g FROM generate_series(100, 1099) g$$,
                'INSERT ... SELECT of 1,000 rows works');
COPY tb_owner.entries (id, v) FROM STDIN;
20	copied
21	copied too
\.
SELECT is((SELECT count(*) FROM tb_owner.entries WHERE id IN (20, 21)), 2::bigint, 'COPY without hcl_row works');
SELECT is((SELECT count(*) FROM tb_owner.entries), 1010::bigint, 'the ledger holds the 1,010 honest rows and no other');
SELECT is_empty($$SELECT hcl_row FROM tb_owner.entries WHERE hcl_row IN (4, 5, 1000000, 1000001)$$,
                'no row has a number the writer chose');
RESET ROLE;
SELECT count(*) AS ledgers FROM seal();
SELECT is_empty($$SELECT * FROM hcledger.verify_ledger('tb_owner.entries')$$, 'the ledger verifies');
SELECT results_eq($$SELECT committed_rows, sealed_rows, pending_rows FROM hcledger.status WHERE ledger = 'tb_owner.entries'::regclass$$,
                  $$VALUES (1010::bigint, 1010::bigint, 0::bigint)$$, 'every committed row is sealed');
SELECT is_empty($$SELECT * FROM hcledger.verify_ledger('tb_owner.renumbered')$$, 'the ledger with the renumbering trigger verifies');

--
-- 4. Real time in verdicts.  A border officer's application may keep a
-- transaction open: the verdict is for the moment of the call, with what is
-- committed then.
--
-- (a) A code that expires during the transaction.  Issued just after a
-- second starts, valid until two seconds later (at least 1.9 s ahead).
SELECT pg_sleep(1.05 - extract(epoch FROM clock_timestamp())::numeric % 1);
SELECT encode(credential_id, 'hex') AS code_a_id, payload AS code_a
  FROM issue_code('{"name": "Short Stay", "document_number": "TB000002", "birth_date": "1980-02-02"}',
                  valid_for => '2 seconds') \gset
SELECT count(*) AS ledgers FROM seal();
BEGIN;
SELECT is((SELECT verdict FROM verify_code(:'code_a')), 'valid', 'a short code is valid at first');
SELECT pg_sleep(2.5);
SELECT is((SELECT verdict FROM verify_code(:'code_a')), 'expired', 'and expired 2.5 s later, in the same transaction');
COMMIT;
-- (b) A revocation scheduled a second ahead, in the same transaction.
SELECT encode(credential_id, 'hex') AS code_b_id, payload AS code_b
  FROM issue_code('{"name": "Scheduled Revocation", "document_number": "TB000003", "birth_date": "1980-03-03"}') \gset
SELECT count(*) AS ledgers FROM seal();
BEGIN;
SELECT is((SELECT verdict FROM verify_code(:'code_b')), 'valid', 'a code is valid');
SELECT revoke_code(decode(:'code_b_id', 'hex'), 'declaration found false', effective_at => clock_timestamp() + interval '1 second');
SELECT pg_sleep(1.5);
SELECT is((SELECT verdict FROM verify_code(:'code_b')), 'revoked', 'and revoked once the revocation takes effect, in the same transaction');
COMMIT;
-- (c) A revocation committed by another session while this transaction is open.
SELECT encode(credential_id, 'hex') AS code_c_id, payload AS code_c
  FROM issue_code('{"name": "Revoked Elsewhere", "document_number": "TB000004", "birth_date": "1980-04-04"}') \gset
SELECT count(*) AS ledgers FROM seal();
BEGIN;
SELECT is((SELECT verdict FROM verify_code(:'code_c')), 'valid', 'a code is valid');
SELECT done FROM dblink('dbname=regress_trust',
                        format('SELECT ''revoked'' FROM hcledger.revoke_code(decode(%L, ''hex''), ''revoked by another session'')',
                               :'code_c_id')) AS r(done text);
SELECT is((SELECT verdict FROM verify_code(:'code_c')), 'revoked', 'and revoked once another session has committed its revocation');
COMMIT;
-- (d) A transaction snapshot could hide a revocation: no verdict under one.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT throws_ok(format('SELECT * FROM hcledger.verify_code(%L)', :'code_b'), '25000', NULL,
                 'verify_code gives no verdict in a REPEATABLE READ transaction');
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT throws_ok(format('SELECT * FROM hcledger.verify_code(%L)', :'code_b'), '25000', NULL,
                 'nor in a SERIALIZABLE one');
COMMIT;
SELECT is((SELECT verdict FROM verify_code(:'code_c')), 'revoked', 'with autocommit, the verdict stands');

--
-- 5. Colliding key ids.  Keys A and B (test/data/collision/vectors.txt,
-- made by gen_collision.c there) have the same key id for the key name
-- hcledger/hcledger.codes/c011151de0c011151de0c011151de000; the notes are
-- one checkpoint body signed by A and by B.
--
\set collision_origin 'hcledger/hcledger.codes/c011151de0c011151de0c011151de000'
\set key_a '\\xf27c96c4de74d977d6ab9b7fe616f920938f2fb7ed1e69c348a32410186a2008'
\set key_b '\\x809996b8de42d187ba07bcd9cc092f9299c2ba394bee39dd0eefd2b1eb2f8767'
SELECT $note$hcledger/hcledger.codes/c011151de0c011151de0c011151de000
7
pZm6bK8ddiETT5n5UOrTR9IUAM3sGLtWvikFBuvf7oo=
hcledger-time 1767225600

— hcledger/hcledger.codes/c011151de0c011151de0c011151de000 6y4r12aiuYqi1GQEsFSgmP8ce//3ILBhLR+4qPCP6EwoGmfzssadEfH5mXAYlclZPMLFuLc5Rr9LcCj358H/eQeY4QU=
$note$ AS note_a \gset
SELECT $note$hcledger/hcledger.codes/c011151de0c011151de0c011151de000
7
pZm6bK8ddiETT5n5UOrTR9IUAM3sGLtWvikFBuvf7oo=
hcledger-time 1767225600

— hcledger/hcledger.codes/c011151de0c011151de0c011151de000 6y4r13vs2+Fb3YrQGL7KvOKTOIYxANfqdYX7fozjB0VFpPUpoNCfIQO4TVjI12TT/f79CXJ5dBXdH34byRDUKWtIXAY=
$note$ AS note_b \gset
SELECT is((SELECT array_agg(DISTINCT encode(substr(sha256(convert_to(:'collision_origin' || E'\n', 'UTF8') || '\x01'::bytea || k), 1, 4), 'hex'))
             FROM unnest(ARRAY[:'key_a', :'key_b']::bytea[]) k),
          '{eb2e2bd7}', 'the two keys have the same key id for this key name');
SELECT ok((SELECT valid FROM verify_checkpoint(:'note_a', :'key_a')) AND (SELECT valid FROM verify_checkpoint(:'note_b', :'key_b'))
          AND NOT (SELECT valid FROM verify_checkpoint(:'note_b', :'key_a')) AND NOT (SELECT valid FROM verify_checkpoint(:'note_a', :'key_b')),
          'note A is signed by key A only, note B by key B only');
-- Keys of two authorities.
SELECT add_authority('regress-tb-a', 'Collision Bureau A');
SELECT add_authority('regress-tb-b', 'Collision Bureau B');
SELECT add_key('regress-tb-a', 'key-a', 'ed25519', :'key_a', '2025-01-01');
SELECT add_key('regress-tb-b', 'key-b', 'ed25519', :'key_b', '2025-01-01');
SELECT is((SELECT (valid, authority, key_id)::text FROM verify_checkpoint(:'note_a', NULL, 'regress-tb-a')), '(t,regress-tb-a,key-a)',
          'note A verifies for authority A');
SELECT is((SELECT valid FROM verify_checkpoint(:'note_b', NULL, 'regress-tb-a')), false,
          'note B, by a key of authority B with the same key id, does not verify for authority A');
SELECT is((SELECT (valid, authority, key_id)::text FROM verify_checkpoint(:'note_b', NULL, 'regress-tb-b')), '(t,regress-tb-b,key-b)',
          'note B verifies for authority B');
SELECT is((SELECT valid FROM verify_checkpoint(:'note_a', NULL, 'regress-tb-b')), false,
          'note A does not verify for authority B');
-- Both keys for one authority, B registered (and valid) first, so tried first.
SELECT add_authority('regress-tb-c', 'Collision Bureau C');
SELECT add_key('regress-tb-c', 'c-key-b', 'ed25519', :'key_b', '2024-01-01');
SELECT add_key('regress-tb-c', 'c-key-a', 'ed25519', :'key_a', '2025-01-01');
SELECT is((SELECT (valid, authority, key_id)::text FROM verify_checkpoint(:'note_a', NULL, 'regress-tb-c')), '(t,regress-tb-c,c-key-a)',
          'note A verifies with key A although the colliding key B is tried first');
SELECT is((SELECT (valid, authority, key_id)::text FROM verify_checkpoint(:'note_b', NULL, 'regress-tb-c')), '(t,regress-tb-c,c-key-b)',
          'note B verifies with key B');
-- No authority named: the origin is the log of member regress-tb-b (set up
-- directly, as join_member would record it from the member's card), so only
-- regress-tb-b's keys count.
INSERT INTO hcledger.members (authority, origin, ledger_uuid, subscription)
VALUES ('regress-tb-b', :'collision_origin', '\xc011151de0c011151de0c011151de000', 'regress_tb_no_subscription');
SELECT is((SELECT (valid, authority, key_id)::text FROM verify_checkpoint(:'note_b')), '(t,regress-tb-b,key-b)',
          'with no authority named, note B verifies for the member whose log it is');
SELECT is((SELECT valid FROM verify_checkpoint(:'note_a')), false,
          'note A, by another authority''s key with the same key id, does not');

--
-- 6. An owner's index predicate or expression never runs with the sealer's
-- or a reader's rights.  PostgreSQL folds an IMMUTABLE function of
-- constants when it loads an index's predicate; hcledger picks a ledger's
-- row-number index from the catalog without loading any.
--
SET ROLE regress_tb_owner;
CREATE TABLE tb_owner.predicated (id integer NOT NULL);
CREATE TABLE tb_owner.pred_log (who name, what text);
CREATE FUNCTION tb_owner.pred_spy_v(integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tb_owner.pred_log VALUES (current_user, 'predicate');
	BEGIN ALTER ROLE regress_tb_owner SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
	RETURN $1;
END $$;
CREATE FUNCTION tb_owner.pred_spy(integer) RETURNS integer IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN RETURN tb_owner.pred_spy_v($1); END $$;
RESET ROLE;
SELECT create_ledger('tb_owner.predicated') > 0 AS made_a_ledger;
SELECT i.indexrelid::regclass AS pred_row_index
  FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
 WHERE i.indrelid = 'tb_owner.predicated'::regclass AND i.indisunique AND a.attname = 'hcl_row' \gset
SET ROLE regress_tb_owner;
CREATE UNIQUE INDEX predicated_spy ON tb_owner.predicated (hcl_row) WHERE tb_owner.pred_spy(55) > 0;
CREATE INDEX predicated_id ON tb_owner.predicated (id);
-- the real index made anew, so that the planted one comes first in the table's index list
REINDEX INDEX CONCURRENTLY :pred_row_index;
INSERT INTO tb_owner.predicated VALUES (1), (2);
DELETE FROM tb_owner.pred_log;
RESET ROLE;
SELECT count(*) AS ledgers FROM seal();
SELECT count(*) > 0 AS listed FROM hcledger.status;
SELECT count(*) AS problems FROM hcledger.verify_ledger('tb_owner.predicated');
SET ROLE regress_tb_admin;
SELECT count(*) > 0 AS listed FROM hcledger.status;
RESET ROLE;
SELECT is_empty($$SELECT who FROM tb_owner.pred_log WHERE who <> 'regress_tb_owner'$$,
                'an owner''s index predicate never runs as the sealer, the verifier or a reader of the status view');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_tb_owner'), false, 'and the owner did not become a superuser');
ALTER ROLE regress_tb_owner NOSUPERUSER;
SELECT results_eq($$SELECT committed_rows, sealed_rows FROM hcledger.status WHERE ledger = 'tb_owner.predicated'::regclass$$,
                  $$VALUES (2::bigint, 2::bigint)$$, 'the ledger is sealed all the same');
-- Another session holds a lock on one index of the ledger (an open REINDEX):
-- neither the status view nor sealing waits for it.
SELECT dblink_connect('locker', 'dbname=regress_trust');
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'REINDEX INDEX tb_owner.predicated_id');
SET lock_timeout = '5s';
SELECT lives_ok($$SELECT count(*) FROM hcledger.status$$, 'the status view does not wait for a lock on another index of a ledger');
SELECT lives_ok($$SELECT hcledger.seal()$$, 'nor does sealing');
-- and a ledger another session holds locked is listed, not counted, at once
SELECT dblink_exec('locker', 'LOCK TABLE tb_owner.predicated IN ACCESS EXCLUSIVE MODE');
SELECT is((SELECT pending_rows FROM hcledger.status WHERE ledger = 'tb_owner.predicated'::regclass), NULL::bigint,
          'a ledger locked by another session is listed without waiting, its counts NULL');
RESET lock_timeout;
SELECT dblink_exec('locker', 'COMMIT');
SELECT dblink_disconnect('locker');

--
-- 7. A verdict is never judged on an old snapshot: not that of a cursor
-- declared before a revocation, nor of a long statement.
--
SELECT encode(credential_id, 'hex') AS code_d_id, payload AS code_d
  FROM issue_code('{"name": "Cursor Traveller", "document_number": "TB000005", "birth_date": "1980-05-05"}') \gset
SELECT count(*) AS ledgers FROM seal();
CREATE FUNCTION pg_temp.cursor_verdicts(payload text, id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	c refcursor;
	v1 text;
	v2 text;
BEGIN
	OPEN c FOR SELECT v.verdict FROM generate_series(1, 2) g, LATERAL hcledger.verify_code(CASE WHEN g > 0 THEN payload END) v;
	FETCH c INTO v1;
	PERFORM * FROM dblink('dbname=regress_trust',
	                      format('SELECT 1 FROM hcledger.revoke_code(decode(%L, ''hex''), ''revoked while a cursor was open'')', id))
	          AS r(x int);
	FETCH c INTO v2;
	CLOSE c;
	RETURN v1 || ',' || v2;
END $$;
SELECT is(pg_temp.cursor_verdicts(:'code_d', :'code_d_id'), 'valid,revoked',
          'a cursor declared before a revocation gives revoked once it is committed');

--
-- 8. The node key speaks for the authority at every peer: only a superuser
-- (who can read the key file anyway) makes it endorse a key.  A key an
-- administrator adds is left unendorsed until a superuser endorses it.
--
ALTER ROLE regress_tb_admin LOGIN;
SELECT * FROM dblink('dbname=regress_trust user=regress_tb_admin',
                     $$SELECT 1 FROM hcledger.add_key('regress-tb', 'admin-key', 'ed25519',
                                  '\x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c')$$) AS r(x int);
SELECT is((SELECT endorsement IS NULL AND endorsed_by IS NULL FROM hcledger.keys WHERE key_id = 'admin-key'), true,
          'a key an administrator (not a superuser) adds is not endorsed with the node key');
SELECT throws_ok($$SELECT hcledger.endorse_key('regress-tb', 'admin-key')$$, '42501', NULL, 'nor can the administrator endorse it')
  FROM (SELECT set_config('role', 'regress_tb_admin', true)) r;
RESET ROLE;
SELECT lives_ok($$SELECT hcledger.endorse_key('regress-tb', 'admin-key')$$, 'a superuser endorses it');
SELECT is((SELECT hcledger.key_endorsed(k) AND k.endorsed_by = 'node-tb' FROM hcledger.keys k WHERE k.key_id = 'admin-key'), true,
          'with the node key, as peers check it');
SELECT add_key('regress-tb', 'super-key', 'ed25519', '\xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
SELECT is((SELECT hcledger.key_endorsed(k) FROM hcledger.keys k WHERE k.key_id = 'super-key'), true,
          'a key a superuser adds is endorsed at once');
ALTER ROLE regress_tb_admin NOLOGIN;

--
-- 9. DROP INDEX CONCURRENTLY commits as it goes: the guard must refuse it
-- for the ledger's unique index on hcl_row before it starts.
--
SET ROLE regress_tb_owner;
CREATE TABLE tb_owner.indexed (id integer PRIMARY KEY, note text NOT NULL);
CREATE INDEX indexed_note ON tb_owner.indexed (note);
INSERT INTO tb_owner.indexed VALUES (1, 'one'), (2, 'two');
RESET ROLE;
SELECT create_ledger('tb_owner.indexed') > 0 AS made_a_ledger;
SELECT i.indexrelid::regclass AS hcl_row_index
  FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
 WHERE i.indrelid = 'tb_owner.indexed'::regclass AND i.indisunique AND i.indnatts = 1 AND a.attname = 'hcl_row' \gset
SET ROLE regress_tb_owner;
\set VERBOSITY terse
DROP INDEX CONCURRENTLY tb_owner.indexed_note;
SELECT is(:'SQLSTATE'::text, '00000', 'the owner drops an unrelated index of the ledger table concurrently');
SELECT is((SELECT count(*) FROM pg_class WHERE oid = to_regclass('tb_owner.indexed_note')), 0::bigint, 'and it is gone');
SELECT throws_ok(format('DROP INDEX %s', :'hcl_row_index'), '55000', NULL, 'the owner cannot drop the unique index on hcl_row');
DROP INDEX CONCURRENTLY :hcl_row_index;
SELECT is(:'SQLSTATE'::text, '55000', 'nor drop it concurrently');
SET search_path = tb_owner, public, hcledger;
SELECT split_part(:'hcl_row_index', '.', 2) AS hcl_row_index_name \gset
DROP INDEX CONCURRENTLY :hcl_row_index_name;
SELECT is(:'SQLSTATE'::text, '55000', 'nor by its unqualified name, found through the search_path');
SET search_path = public, hcledger;
\set VERBOSITY default
RESET ROLE;
SELECT ok((SELECT indisvalid AND indisready AND indislive FROM pg_index WHERE indexrelid = :'hcl_row_index'::regclass),
          'the index is still valid and ready: nothing was committed');
SELECT lives_ok($$CREATE TABLE public.tb_after (id integer)$$, 'a superuser''s CREATE TABLE still works');
SET ROLE regress_tb_owner;
SELECT lives_ok($$INSERT INTO tb_owner.indexed VALUES (3, 'three')$$, 'the owner still appends');
RESET ROLE;
SELECT lives_ok($$SELECT hcledger.seal()$$, 'sealing still works');
SELECT results_eq($$SELECT committed_rows, sealed_rows, pending_rows FROM hcledger.status WHERE ledger = 'tb_owner.indexed'::regclass$$,
                  $$VALUES (3::bigint, 3::bigint, 0::bigint)$$, 'every row is sealed');
SELECT is_empty($$SELECT * FROM hcledger.verify_ledger('tb_owner.indexed')$$, 'and the ledger verifies');


--
-- 10. The DDL guard's note of what was already wrong with a ledger as a
-- command started cannot be forged by code the command itself runs: a
-- function validating a new CHECK constraint that rewrites a setting, or
-- that runs a DDL command of its own.
--
SET ROLE regress_tb_owner;
CREATE TABLE tb_owner.guarded (id integer NOT NULL);
RESET ROLE;
SELECT create_ledger('tb_owner.guarded') > 0 AS made_a_ledger;
SET ROLE regress_tb_owner;
INSERT INTO tb_owner.guarded VALUES (1);
CREATE FUNCTION tb_owner.forge_defects(integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('hcledger_ddl.defects',
	        (SELECT string_agg(g || ':its append-only triggers would be dropped or disabled', E'\n')
	           FROM generate_series(1, 100) g), true);
	RETURN true;
END $$;
CREATE FUNCTION tb_owner.nested_ddl(integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'CREATE TABLE IF NOT EXISTS tb_owner.side_effect (x integer)';
	RETURN true;
END $$;
SELECT throws_ok($$ALTER TABLE tb_owner.guarded DISABLE TRIGGER hcl_append_only, ADD CONSTRAINT forged CHECK (tb_owner.forge_defects(id))$$,
                 '55000', NULL, 'a function the command runs cannot forge what was wrong with a ledger before it');
CREATE FUNCTION tb_owner.failed_ddl(integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE 'CREATE TABLE tb_owner.guarded ()';		-- fails: it exists
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN true;
END $$;
SELECT throws_ok($$ALTER TABLE tb_owner.guarded DISABLE TRIGGER hcl_append_only, ADD CONSTRAINT nested CHECK (tb_owner.nested_ddl(id))$$,
                 '55000', NULL, 'nor can a DDL command that function runs');
SELECT throws_ok($$ALTER TABLE tb_owner.guarded DISABLE TRIGGER hcl_append_only, ADD CONSTRAINT failed CHECK (tb_owner.failed_ddl(id))$$,
                 '55000', NULL, 'nor one that fails in an exception block it catches');
RESET ROLE;
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 'tb_owner.guarded'::regclass AND tgname = 'hcl_append_only'), 'A',
          'the append-only trigger is still enabled');

SELECT * FROM finish();
\c contrib_regression
DROP DATABASE regress_trust;
DROP ROLE regress_tb_owner, regress_tb_writer, regress_tb_admin, regress_tb_auditor, regress_tb_issuer;
