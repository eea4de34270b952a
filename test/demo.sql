-- hcledger demo: run by test/demo.sh with the psql variables it sets.
\pset footer off
\set QUIET on
CREATE EXTENSION hcledger;
-- hcledger's operators (hash256 = hash256 ...) live in its schema.
SET search_path = public, hcledger;

\echo
\echo '== 1. Hashing: hcledger.sha256 returns a hash256 (32 bytes, hex text)'
SELECT hcledger.sha256(convert_to(:'msg', 'UTF8')) AS sha256_of_message;

\echo
\echo '== 2. An RFC 9162 Merkle tree: the Certificate Transparency reference leaves'
CREATE TEMP TABLE leaves (i int, leaf bytea);
INSERT INTO leaves VALUES (0, '\x'), (1, '\x00'), (2, '\x10'), (3, '\x2021'), (4, '\x3031'),
	(5, '\x40414243'), (6, '\x5051525354555657'), (7, '\x606162636465666768696a6b6c6d6e6f');
TABLE leaves;
SELECT hcledger.merkle_root(leaf ORDER BY i) AS tree_head,
       hcledger.merkle_root(leaf ORDER BY i) = '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'
           AS matches_published_head
FROM leaves;

\echo
\echo '== 3. Inclusion proof for leaf 5, verified; then with the leaf changed'
SELECT hcledger.inclusion_proof(array_agg(leaf ORDER BY i), 5) AS proof FROM leaves \gset
SELECT hcledger.verify_inclusion(hcledger.leaf_hash('\x40414243'), 5, 8, :'proof',
                                 '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328') AS leaf_5_included,
       hcledger.verify_inclusion(hcledger.leaf_hash('\x40414244'), 5, 8, :'proof',
                                 '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328') AS altered_leaf_included;

\echo
\echo '== 4. Consistency: the tree of 3 leaves is a prefix of the tree of 8'
SELECT hcledger.consistency_proof(array_agg(leaf ORDER BY i), 3) AS cproof FROM leaves \gset
SELECT hcledger.merkle_root(leaf ORDER BY i) AS old_head FROM leaves WHERE i < 3 \gset
SELECT hcledger.verify_consistency(3, 8, :'old_head', '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
                                   :'cproof') AS three_is_prefix_of_eight;

\echo
\echo '== 5. Signatures made by the openssl command line, checked in SQL'
SELECT hcledger.ed25519_verify(convert_to(:'ed_pub', 'UTF8'), convert_to(:'msg', 'UTF8'), decode(:'ed_sig', 'hex'))
           AS ed25519_valid,
       hcledger.ed25519_verify(convert_to(:'ed_pub', 'UTF8'), convert_to(replace(:'msg', 'green', 'red'), 'UTF8'),
                               decode(:'ed_sig', 'hex')) AS ed25519_on_altered_message,
       hcledger.ecdsa_p256_verify(convert_to(:'ec_pub', 'UTF8'), convert_to(:'msg', 'UTF8'), decode(:'ec_sig', 'hex'), 'der')
           AS es256_der_valid,
       hcledger.ecdsa_p256_verify(convert_to(:'ec_pub', 'UTF8'), convert_to(replace(:'msg', 'green', 'red'), 'UTF8'),
                                  decode(:'ec_sig', 'hex'), 'der') AS es256_on_altered_message;

\echo
\echo '== 6. A ledger table: health codes, append-only, sealed into a Merkle log'
\set QUIET on
CREATE TABLE codes (code_id bigint PRIMARY KEY, subject_commitment bytea NOT NULL,
                    issuer text NOT NULL, colour text NOT NULL, valid_until timestamptz NOT NULL);
\set QUIET off
SELECT hcledger.create_ledger('codes') AS ledger_id;
\set QUIET on
INSERT INTO codes SELECT i, hcledger.sha256(int4send(i))::bytea, CASE WHEN i % 2 = 0 THEN 'MO' ELSE 'GD' END,
                         'green', timestamptz '2026-12-01 00:00+08'
FROM generate_series(1, 1000) i;
\set QUIET off
SELECT ledger, committed_rows, sealed_rows, pending_rows FROM hcledger.status;
SELECT * FROM hcledger.seal();
SELECT ledger, sealed_rows, pending_rows, last_checkpoint_size, last_checkpoint_root FROM hcledger.status;
\echo 'The checkpoint, signed with the node key (hcledger.signing_key_file) as a C2SP signed note:'
\set QUIET on
\pset format unaligned
\pset tuples_only on
\set QUIET off
SELECT note FROM hcledger.checkpoints ORDER BY tree_size DESC LIMIT 1;
\set QUIET on
\pset format aligned
\pset tuples_only off
\set QUIET off
\echo 'The node key goes into the key registry under the authority''s name:'
SELECT hcledger.add_key('macau', 'mo-node-1', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
SELECT authority, key_id, algorithm, valid_from IS NOT NULL AS dated, revoked_at FROM hcledger.keys;
\echo 'A receipt for code 42 (its row, audit path and the signed checkpoint), written to' :'receipt'
SELECT hcledger.ledger_receipt('codes', 42) \g (format=unaligned tuples_only=on) :receipt
SELECT valid, reason, authority, key_id, signed_at IS NOT NULL AS dated FROM hcledger.verify_receipt(pg_catalog.pg_read_file(:'receipt'));
\echo 'The same with the leaf_index changed: rejected, with the reason:'
SELECT valid, reason FROM hcledger.verify_receipt(replace(pg_catalog.pg_read_file(:'receipt'), '"leaf_index":41', '"leaf_index":40'));
\echo 'Changing a sealed row is refused:'
\set ON_ERROR_STOP 0
UPDATE codes SET colour = 'red' WHERE code_id = 42;
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1
\echo 'verify_ledger on the untouched ledger (no rows: it verifies):'
SELECT * FROM hcledger.verify_ledger('codes');
\echo 'A superuser turns the guards off and rewrites code 42 and removes code 7 behind the ledger''s back:'
\set QUIET on
ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
ALTER EVENT TRIGGER hcledger_drop_guard DISABLE;
ALTER TABLE codes DISABLE TRIGGER hcl_append_only, DROP CONSTRAINT hcl_row_drawn;
UPDATE codes SET colour = 'red' WHERE code_id = 42;
DELETE FROM codes WHERE code_id = 7;
ALTER TABLE codes ENABLE ALWAYS TRIGGER hcl_append_only,
	ADD CONSTRAINT hcl_row_drawn CHECK (hcledger.row_drawn(hcl_row, tableoid)) NOT VALID;
ALTER EVENT TRIGGER hcledger_ddl_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER hcledger_drop_guard ENABLE ALWAYS;
\set QUIET off
SELECT * FROM hcledger.verify_ledger('codes');

\echo
\echo '== 7. Bad input is a clean error with a SQLSTATE, never a crash'
\set ON_ERROR_STOP 0
SELECT 'not a hash'::hcledger.hash256;
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
SELECT hcledger.ed25519_verify('\x0102', '\x', '\x');
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1

