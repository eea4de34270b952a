-- Inclusion and consistency proofs for ledger rows, answered from the
-- stored tiles, agree with the stateless proof functions over the same
-- leaves, verify against the checkpoints, and refuse bad input.
SET search_path = public, hcledger;

CREATE TABLE proofs (n int NOT NULL);
SELECT create_ledger('proofs') IS NOT NULL AS created;
INSERT INTO proofs SELECT generate_series(1, 300);
SELECT count(*) FROM seal('proofs');
INSERT INTO proofs SELECT generate_series(301, 513);
SELECT count(*) FROM seal('proofs');
INSERT INTO proofs SELECT generate_series(514, 1000);
SELECT count(*) FROM seal('proofs');

CREATE TABLE big_proofs (n int NOT NULL);
SELECT create_ledger('big_proofs') IS NOT NULL AS created;
INSERT INTO big_proofs SELECT generate_series(1, 70000);
SELECT count(*) FROM seal('big_proofs');

CREATE TEMP TABLE cps AS
SELECT c.tree_size, c.root FROM checkpoints c JOIN ledgers l USING (ledger_id) WHERE l.relid = 'proofs'::regclass;
CREATE TEMP TABLE leaves AS
SELECT array_agg(row_leaf('proofs', hcl_row) ORDER BY hcl_row) AS d FROM proofs;

SELECT plan(16);

SELECT is((SELECT array_agg(tree_size ORDER BY tree_size) FROM cps), ARRAY[300, 513, 1000]::bigint[], 'three checkpoints');
SELECT is_empty($$SELECT c.tree_size, r.hcl_row FROM cps c, proofs r, LATERAL ledger_inclusion_proof('proofs', r.hcl_row, c.tree_size) p
                  WHERE r.hcl_row <= c.tree_size
                    AND (p.proof::bytea[] IS DISTINCT FROM (SELECT inclusion_proof(d[1:c.tree_size], r.hcl_row - 1)::bytea[] FROM leaves)
                         OR p.root <> c.root OR p.leaf_index <> r.hcl_row - 1
                         OR p.leaf_hash <> leaf_hash(row_leaf('proofs', r.hcl_row))
                         OR NOT verify_inclusion(p.leaf_hash, p.leaf_index, p.tree_size, p.proof, c.root))$$,
                'every row''s proof at every checkpoint equals the stateless proof and verifies against the checkpoint root');
SELECT is((SELECT count(*) FROM cps c, proofs r WHERE r.hcl_row <= c.tree_size), 1813::bigint, '(1,813 proofs checked)');
SELECT is_empty($$SELECT a.tree_size, b.tree_size FROM cps a, cps b,
                  LATERAL (SELECT ledger_consistency_proof('proofs', a.tree_size, b.tree_size) AS p) x
                  WHERE a.tree_size <= b.tree_size
                    AND (x.p::bytea[] IS DISTINCT FROM (SELECT consistency_proof(d[1:b.tree_size], a.tree_size)::bytea[] FROM leaves)
                         OR NOT verify_consistency(a.tree_size, b.tree_size, a.root, b.root, x.p))$$,
                'consistency proofs between every pair of checkpoints equal the stateless ones and verify');
SELECT is((SELECT count(*) FROM generate_series(0, 1000, 7) m, generate_series(0, 1000, 37) n
           WHERE m <= n AND ledger_consistency_proof('proofs', m, n)::bytea[] IS DISTINCT FROM
                 (SELECT consistency_proof(d[1:n], m)::bytea[] FROM leaves)), 0::bigint,
          'and between any two sizes');
SELECT ok(NOT verify_consistency(300, 1000, (SELECT root FROM cps WHERE tree_size = 300),
                                 hcledger.sha256('a rewritten history'), ledger_consistency_proof('proofs', 300, 1000)),
          'a history that does not extend the old one fails');

-- the large ledger: three levels of tiles
SELECT is_empty($$SELECT r FROM unnest(ARRAY[1, 256, 257, 65536, 65537, 69999, 70000]) r,
                  LATERAL ledger_inclusion_proof('big_proofs', r) p
                  WHERE p.proof::bytea[] IS DISTINCT FROM
                        (SELECT inclusion_proof(array_agg(row_leaf('big_proofs', hcl_row) ORDER BY hcl_row), r - 1)::bytea[] FROM big_proofs)
                     OR NOT verify_inclusion(p.leaf_hash, p.leaf_index, p.tree_size, p.proof,
                                             (SELECT c.root FROM checkpoints c JOIN ledgers l USING (ledger_id) WHERE l.relid = 'big_proofs'::regclass AND c.tree_size = 70000))$$,
                'proofs in a 70,000-leaf log (tiles of three levels) equal the stateless ones and verify');
SELECT is((SELECT string_agg(c.tree_size::text, ',' ORDER BY c.tree_size) FROM checkpoints c JOIN ledgers l USING (ledger_id) WHERE l.relid = 'big_proofs'::regclass),
          '65536,70000', 'one sealing round of 70,000 rows stores a checkpoint every 65,536 leaves at most');
SELECT is_empty($$SELECT FROM checkpoints c JOIN ledgers l USING (ledger_id), LATERAL log_entries(c.leaves) e
                  WHERE l.relid = 'big_proofs'::regclass AND e.entry % 997 IN (0, 1)
                    AND ROW(e.row_number, e.leaf_hash::text) IS DISTINCT FROM
                        (SELECT ROW(p.leaf_index + 1, p.leaf_hash::text) FROM ledger_inclusion_proof('big_proofs', e.row_number) p
                          WHERE p.leaf_index = c.tree_size - length(c.leaves) / 40 + e.entry)$$,
                'each checkpoint publishes the row number and leaf of the positions it added (every 997th checked)');
SELECT is((SELECT cardinality(proof) FROM ledger_inclusion_proof('big_proofs', 12345)), 17, 'a 70,000-leaf proof has 17 hashes');

-- bad input
SELECT throws_ok($$SELECT * FROM ledger_inclusion_proof('proofs', 5000)$$, 'P0002', NULL,
                 'a row that is not sealed has no proof');
SELECT throws_ok($$SELECT * FROM ledger_inclusion_proof('proofs', 600, 513)$$, '22023', NULL, 'a row sealed after the tree size asked for');
SELECT throws_ok($$SELECT * FROM ledger_inclusion_proof('proofs', 6, 5000)$$, '22023', NULL, 'a tree size larger than the log');
SELECT throws_ok($$SELECT ledger_consistency_proof('proofs', 600, 500)$$, '22023', NULL, 'old_size larger than new_size');
SELECT throws_ok($$SELECT ledger_consistency_proof('proofs', -1)$$, '22023', NULL, 'a negative size');
SELECT throws_ok($$SELECT * FROM ledger_inclusion_proof('pg_class', 1)$$, '55000', NULL, 'a table that is not a ledger');

SELECT * FROM finish();
