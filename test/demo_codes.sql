-- hcledger demo, part 2: the border story with health codes.  Run by
-- test/demo.sh after demo.sql, on the same throwaway server, which has a
-- credential key (ES256) and a pseudonym secret besides the node key.
\pset footer off
\set QUIET on
SET search_path = public, hcledger;
CREATE ROLE border_officer LOGIN IN ROLE hcledger_verifier;
CREATE ROLE clinic LOGIN IN ROLE hcledger_issuer;

\echo
\echo '== 9. Health codes: Macau''s health bureau becomes an issuing authority'
SELECT hcledger.add_authority('mo-ssm', 'Macau Health Bureau', true);
SELECT hcledger.add_key('mo-ssm', 'es256-2026', 'es256', hcledger.credential_public_key(), now() - interval '1 minute');
SELECT hcledger.add_key('mo-ssm', 'node-2026', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
SELECT authority, key_id, algorithm FROM hcledger.keys WHERE authority = 'mo-ssm';

\echo
\echo '== 10. A clinic issues codes to four travellers after their declaration and test'
CREATE TEMP TABLE wallet (who text PRIMARY KEY, id bytea, payload text);
GRANT ALL ON wallet TO PUBLIC;
SET ROLE clinic;
INSERT INTO wallet SELECT who, c.* FROM (VALUES
	('Ana',  '{"name": "Ana Lopes", "document_number": "P1000001", "birth_date": "1984-06-04", "declaration": {"fever": false}, "test_result": "negative", "test_time": "2026-11-23T08:00:00+08:00"}', '7 days'),
	('Bo',   '{"name": "Bo Wen", "document_number": "C2000002", "birth_date": "1990-01-17", "declaration": {"fever": false}, "test_result": "negative", "test_time": "2026-11-23T08:10:00+08:00"}', '7 days'),
	('Chen', '{"name": "Chen Li", "document_number": "M3000003", "birth_date": "1972-09-30", "declaration": {"fever": false}, "test_result": "negative", "test_time": "2026-11-23T08:20:00+08:00"}', '7 days'),
	('Dora', '{"name": "Dora Silva", "document_number": "P4000004", "birth_date": "2001-12-24", "declaration": {"fever": false}, "test_result": "negative", "test_time": "2026-11-23T08:30:00+08:00"}', '3 seconds'))
	AS t(who, claims, valid_for), hcledger.issue_code(t.claims::jsonb, 'green', t.valid_for::interval) c;
RESET ROLE;
\echo 'What Ana carries in her QR code (HCL1: and Base45; she may read it, it is her own data):'
SELECT length(payload) AS characters, left(payload, 60) || '...' AS payload FROM wallet WHERE who = 'Ana';
SELECT hcledger.code_claims(payload) AS claims_in_anas_qr FROM wallet WHERE who = 'Ana';
\echo 'What the authority''s ledger keeps: a pseudonym, a salted commitment, times and a signature, no personal data:'
SELECT hcl_row, entry, encode(credential_id, 'hex') AS credential, colour, left(encode(subject, 'hex'), 16) || '..' AS pseudonym,
       left(encode(commitment, 'hex'), 16) || '..' AS commitment, valid_until, key_id
FROM hcledger.codes ORDER BY hcl_row;

\echo
\echo '== 11. At the border: the officer''s system calls verify_code with the QR string'
SET ROLE border_officer;
SELECT w.who, v.verdict, v.colour, v.reason FROM wallet w, hcledger.verify_code(w.payload) v ORDER BY w.who;
RESET ROLE;
\echo 'The sealer (every hcledger.seal_interval; here called by hand) covers them with a signed checkpoint:'
SELECT * FROM hcledger.seal('hcledger.codes');
SET ROLE border_officer;
SELECT w.who, v.verdict, v.colour, v.authority, v.valid_until FROM wallet w, hcledger.verify_code(w.payload) v ORDER BY w.who;
\echo 'The checkpoint Ana''s code was checked against:'
SELECT v.checkpoint FROM wallet w, hcledger.verify_code(w.payload) v WHERE w.who = 'Ana' \g (format=unaligned tuples_only=on)
\echo 'The officer can verify, but not read the ledger:'
\set ON_ERROR_STOP 0
SELECT count(*) FROM hcledger.codes;
\set ON_ERROR_STOP 1
RESET ROLE;

\echo
\echo '== 12. Bo''s contact tests positive: red.  Chen''s code is revoked.  Dora''s expires.'
SET ROLE clinic;
SELECT hcledger.set_status(id, 'red', 'close contact of a case') FROM wallet WHERE who = 'Bo';
SELECT hcledger.revoke_code(id, 'declaration found false') FROM wallet WHERE who = 'Chen';
RESET ROLE;
SET ROLE border_officer;
\echo 'At once (the changes are not sealed yet, and verify_code says so):'
SELECT w.who, v.verdict, v.colour, v.reason FROM wallet w, hcledger.verify_code(w.payload) v WHERE w.who IN ('Bo', 'Chen') ORDER BY w.who;
RESET ROLE;
SELECT pg_sleep(3) AS waiting_for_dora_to_expire, (SELECT rows_sealed FROM hcledger.seal('hcledger.codes')) AS sealed;
SET ROLE border_officer;
SELECT w.who, v.verdict, v.colour, v.reason FROM wallet w, hcledger.verify_code(w.payload) v ORDER BY w.who;
RESET ROLE;

\echo
\echo '== 13. A receipt for Bo''s red status, to check with no database (written to' :'code_receipt' ')'
SELECT hcledger.ledger_receipt('hcledger.codes', (SELECT max(hcl_row) FROM hcledger.codes c, wallet w
                                                   WHERE w.who = 'Bo' AND c.credential_id = w.id)) \g (format=unaligned tuples_only=on) :code_receipt
SELECT valid, reason, row_number, tree_size FROM hcledger.verify_receipt(pg_catalog.pg_read_file(:'code_receipt'), hcledger.signing_public_key());

\echo
\echo '== 14. A tampered QR code: one character of the claims changed (say, the test result)'
SELECT overlay(payload PLACING CASE substr(payload, 6 + 3 * ((length(payload) - 6) / 3 - 10), 1) WHEN '0' THEN '1' ELSE '0' END
               FROM 6 + 3 * ((length(payload) - 6) / 3 - 10) FOR 1) AS forged FROM wallet WHERE who = 'Ana' \gset
SET ROLE border_officer;
SELECT verdict, colour, reason FROM hcledger.verify_code(:'forged');
SELECT verdict, reason FROM hcledger.verify_code('HCL1:NOT A CODE');
RESET ROLE;

\echo
\echo '== 15. A superuser sets Bo''s status back to green behind the ledger''s back'
ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
ALTER TABLE hcledger.codes DISABLE TRIGGER hcl_append_only;
UPDATE hcledger.codes SET colour = 'green' WHERE entry = 'status' AND credential_id = (SELECT id FROM wallet WHERE who = 'Bo');
ALTER TABLE hcledger.codes ENABLE ALWAYS TRIGGER hcl_append_only;
ALTER EVENT TRIGGER hcledger_ddl_guard ENABLE ALWAYS;
SET ROLE border_officer;
SELECT w.who, v.verdict, v.colour, v.reason FROM wallet w, hcledger.verify_code(w.payload) v WHERE w.who = 'Bo';
RESET ROLE;
\echo 'and the auditor''s full check locates it:'
SELECT * FROM hcledger.verify_ledger('hcledger.codes');
