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
\echo '== 6. Bad input is a clean error with a SQLSTATE, never a crash'
\set ON_ERROR_STOP 0
SELECT 'not a hash'::hcledger.hash256;
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
SELECT hcledger.ed25519_verify('\x0102', '\x', '\x');
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1
\echo
\echo 'Demo finished; the throwaway server is stopped and removed.'
