-- RFC 9162 Merkle trees: the Certificate Transparency reference tree, the
-- tree head, inclusion and consistency proofs for every size from 1 to 64
-- against an independent reference written in SQL from the RFC's
-- definitions (using PostgreSQL's own sha256, not hcledger's), every
-- single-byte change to a proof, root, index or size, and bad input.
SET search_path = hcledger, public;

-- The reference: RFC 9162 section 2.1, transcribed.  Arrays are 1-based.
CREATE FUNCTION pg_temp.ref_k(n int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE k int := 1;
BEGIN
	WHILE k * 2 < n LOOP k := k * 2; END LOOP;
	RETURN k;
END $$;
CREATE FUNCTION pg_temp.ref_mth(d bytea[]) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE n int := coalesce(cardinality(d), 0); k int;
BEGIN
	IF n = 0 THEN RETURN pg_catalog.sha256(''::bytea); END IF;
	IF n = 1 THEN RETURN pg_catalog.sha256('\x00'::bytea || d[1]); END IF;
	k := pg_temp.ref_k(n);
	RETURN pg_catalog.sha256('\x01'::bytea || pg_temp.ref_mth(d[1:k]) || pg_temp.ref_mth(d[k+1:n]));
END $$;
CREATE FUNCTION pg_temp.ref_path(m int, d bytea[]) RETURNS bytea[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE n int := cardinality(d); k int;
BEGIN
	IF n = 1 THEN RETURN '{}'; END IF;
	k := pg_temp.ref_k(n);
	IF m < k THEN RETURN pg_temp.ref_path(m, d[1:k]) || pg_temp.ref_mth(d[k+1:n]); END IF;
	RETURN pg_temp.ref_path(m - k, d[k+1:n]) || pg_temp.ref_mth(d[1:k]);
END $$;
CREATE FUNCTION pg_temp.ref_subproof(m int, d bytea[], b boolean) RETURNS bytea[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE n int := cardinality(d); k int;
BEGIN
	IF m = n THEN
		IF b THEN RETURN '{}'; END IF;
		RETURN ARRAY[pg_temp.ref_mth(d)];
	END IF;
	k := pg_temp.ref_k(n);
	IF m <= k THEN RETURN pg_temp.ref_subproof(m, d[1:k], b) || pg_temp.ref_mth(d[k+1:n]); END IF;
	RETURN pg_temp.ref_subproof(m - k, d[k+1:n], false) || pg_temp.ref_mth(d[1:k]);
END $$;

-- The shape of a proof: which side each element joins on, innermost first
-- ('L' left, 'R' right, 'X' the old tree's own subtree head).  RFC 9162
-- verification reads only the leaf, the proof and this shape, so a proof
-- checks against another tree size exactly when the shapes are the same;
-- the tree size itself is bound by the signed checkpoint that carries it.
CREATE FUNCTION pg_temp.path_shape(m int, n int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE k int;
BEGIN
	IF m >= n THEN RETURN NULL; END IF;
	IF n = 1 THEN RETURN ''; END IF;
	k := pg_temp.ref_k(n);
	IF m < k THEN RETURN pg_temp.path_shape(m, k) || 'R'; END IF;
	RETURN pg_temp.path_shape(m - k, n - k) || 'L';
END $$;
CREATE FUNCTION pg_temp.proof_shape(m int, n int, b boolean) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE k int;
BEGIN
	IF m > n THEN RETURN NULL; END IF;
	IF m = n THEN RETURN CASE WHEN b THEN '' ELSE 'X' END; END IF;
	k := pg_temp.ref_k(n);
	IF m <= k THEN RETURN pg_temp.proof_shape(m, k, b) || 'R'; END IF;
	RETURN pg_temp.proof_shape(m - k, n - k, false) || 'L';
END $$;

-- Leaves: the eight CT reference leaves, then 4-byte big-endian counters.
CREATE TEMP TABLE leaves AS
SELECT i, CASE WHEN i < 8 THEN (ARRAY['\x', '\x00', '\x10', '\x2021', '\x3031', '\x40414243',
                                      '\x5051525354555657', '\x606162636465666768696a6b6c6d6e6f']::bytea[])[i + 1]
               ELSE int4send(i) END AS leaf
FROM generate_series(0, 63) i;
CREATE TEMP TABLE trees AS
SELECT n, array_agg(leaf ORDER BY i) FILTER (WHERE i < n) AS d
FROM generate_series(1, 64) n, leaves GROUP BY n;
ALTER TABLE trees ADD COLUMN root hash256;
UPDATE trees t SET root = (SELECT merkle_root(leaf ORDER BY i) FROM leaves WHERE i < t.n);

CREATE TEMP TABLE incl AS
SELECT t.n, m, t.root, leaf_hash(t.d[m + 1]) AS lh, inclusion_proof(t.d, m) AS proof,
       pg_temp.ref_path(m, t.d) AS ref
FROM trees t, generate_series(0, t.n - 1) m;
CREATE TEMP TABLE cons AS
SELECT t.n, m, o.root AS old_root, t.root AS new_root, consistency_proof(t.d, m) AS proof,
       CASE WHEN m = 0 THEN '{}'::bytea[] ELSE pg_temp.ref_subproof(m, t.d, true) END AS ref
FROM trees t, generate_series(0, t.n) m
LEFT JOIN trees o ON o.n = m;
UPDATE cons SET old_root = (SELECT merkle_root(x) FROM (SELECT '\x'::bytea x WHERE false) e) WHERE m = 0;

SELECT plan(38);

-- Reference values
SELECT is(merkle_root(leaf ORDER BY i)::text, '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
          'the CT reference tree of 8 leaves has the published head') FROM leaves WHERE i < 8;
SELECT is(merkle_root(leaf)::text, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
          'the empty tree has the published head') FROM leaves WHERE false;
SELECT is(merkle_root_of_leaf_hashes(leaf_hash(leaf) ORDER BY i), merkle_root(leaf ORDER BY i),
          'merkle_root_of_leaf_hashes agrees with merkle_root') FROM leaves;
SELECT is(node_hash(leaf_hash('\x'), leaf_hash('\x00'))::bytea,
          pg_catalog.sha256('\x01'::bytea || pg_catalog.sha256('\x00'::bytea) || pg_catalog.sha256('\x0000'::bytea)),
          'node_hash and leaf_hash use the 0x01 and 0x00 prefixes');

-- Tree heads, sizes 1 to 64
SELECT is_empty($$SELECT n FROM trees WHERE root::bytea <> pg_temp.ref_mth(d)$$, 'merkle_root equals the reference MTH for sizes 1 to 64');

-- Inclusion proofs: every index of every size
SELECT is((SELECT count(*) FROM incl), 2080::bigint, '2080 inclusion cases (sizes 1 to 64, every index)');
SELECT is_empty($$SELECT n, m FROM incl WHERE proof::bytea[] IS DISTINCT FROM ref$$, 'inclusion_proof equals the reference PATH');
SELECT is_empty($$SELECT n, m FROM incl WHERE NOT verify_inclusion(lh, m, n, proof, root)$$, 'every inclusion proof verifies');
SELECT is_empty($$SELECT n, m, j, b FROM incl, generate_series(1, cardinality(proof)) j, generate_series(0, 31) b
                  WHERE verify_inclusion(lh, m, n, proof[:j-1] || set_byte(proof[j]::bytea, b, get_byte(proof[j]::bytea, b) # 1)::hash256 || proof[j+1:], root)$$,
                'a change to any byte of any proof element makes inclusion fail');
SELECT is_empty($$SELECT n, m, b FROM incl, generate_series(0, 31) b
                  WHERE verify_inclusion(lh, m, n, proof, set_byte(root::bytea, b, get_byte(root::bytea, b) # 128)::hash256)$$,
                'a change to any byte of the root makes inclusion fail');
SELECT is_empty($$SELECT n, m, b FROM incl, generate_series(0, 31) b
                  WHERE verify_inclusion(set_byte(lh::bytea, b, get_byte(lh::bytea, b) # 255)::hash256, m, n, proof, root)$$,
                'a change to any byte of the leaf hash makes inclusion fail');
SELECT is_empty($$SELECT n, m, m2 FROM incl, generate_series(0, 70) m2 WHERE m2 <> m AND verify_inclusion(lh, m2, n, proof, root)$$,
                'any other index makes inclusion fail');
SELECT is_empty($$SELECT n, m, n2 FROM incl, generate_series(1, 70) n2
                  WHERE n2 <> n AND verify_inclusion(lh, m, n2, proof, root)
                        IS DISTINCT FROM (pg_temp.path_shape(m, n2) IS NOT DISTINCT FROM pg_temp.path_shape(m, n))$$,
                'any other tree size makes inclusion fail, unless it gives the proof the very same shape');
SELECT ok((SELECT count(*) FROM incl, generate_series(1, 70) n2
           WHERE n2 <> n AND pg_temp.path_shape(m, n2) <> pg_temp.path_shape(m, n)) > 50000,
          'most other tree sizes give a different shape (so the test above is not vacuous)');
SELECT is_empty($$SELECT n, m FROM incl WHERE n > 1 AND (verify_inclusion(lh, m, n, proof[2:], root) OR verify_inclusion(lh, m, n, proof || root, root))$$,
                'a proof with an element dropped or added fails');

-- Consistency proofs: every pair of sizes
SELECT is((SELECT count(*) FROM cons), 2144::bigint, '2144 consistency cases (0 <= m <= n, n from 1 to 64)');
SELECT is_empty($$SELECT n, m FROM cons WHERE proof::bytea[] IS DISTINCT FROM ref$$, 'consistency_proof equals the reference PROOF');
SELECT is_empty($$SELECT n, m FROM cons WHERE NOT verify_consistency(m, n, old_root, new_root, proof)$$, 'every consistency proof verifies');
SELECT is_empty($$SELECT n, m, j, b FROM cons, generate_series(1, cardinality(proof)) j, generate_series(0, 31) b
                  WHERE verify_consistency(m, n, old_root, new_root, proof[:j-1] || set_byte(proof[j]::bytea, b, get_byte(proof[j]::bytea, b) # 1)::hash256 || proof[j+1:])$$,
                'a change to any byte of any consistency proof element makes it fail');
SELECT is_empty($$SELECT n, m, b FROM cons, generate_series(0, 31) b
                  WHERE verify_consistency(m, n, set_byte(old_root::bytea, b, get_byte(old_root::bytea, b) # 1)::hash256, new_root, proof)$$,
                'a change to any byte of the old root makes consistency fail');
SELECT is_empty($$SELECT n, m, b FROM cons, generate_series(0, 31) b
                  WHERE m > 0 AND verify_consistency(m, n, old_root, set_byte(new_root::bytea, b, get_byte(new_root::bytea, b) # 1)::hash256, proof)$$,
                'a change to any byte of the new root makes consistency fail (old size > 0)');
SELECT is_empty($$SELECT n, m, m2 FROM cons, generate_series(0, 70) m2
                  WHERE m > 0 AND m2 <> m AND verify_consistency(m2, n, old_root, new_root, proof)$$,
                'any other old size makes consistency fail');
SELECT is_empty($$SELECT n, m, n2 FROM cons, generate_series(0, 70) n2
                  WHERE m > 0 AND n2 <> n AND verify_consistency(m, n2, old_root, new_root, proof)
                        IS DISTINCT FROM (pg_temp.proof_shape(m, n2, true) IS NOT DISTINCT FROM pg_temp.proof_shape(m, n, true))$$,
                'any other new size makes consistency fail, unless it gives the proof the very same shape');
SELECT is_empty($$SELECT a.n, a.m FROM cons a JOIN trees o ON o.n = a.m
                  WHERE a.m > 0 AND a.m < a.n AND verify_consistency(a.m, a.n, o.root, (SELECT merkle_root(leaf || '\xff'::bytea ORDER BY i) FROM leaves WHERE i < a.n), a.proof)$$,
                'a rewritten history (new tree not extending the old) fails');

-- Bad input
SELECT throws_ok($$SELECT inclusion_proof(ARRAY['\x01']::bytea[], 1)$$, '22023',
                 'leaf_index 1 is out of range for a tree of 1 leaves', 'inclusion_proof: index >= size is an error');
SELECT throws_ok($$SELECT inclusion_proof(ARRAY['\x01']::bytea[], -1)$$, '22023', 'leaf_index must not be negative',
                 'inclusion_proof: a negative index is an error');
SELECT throws_ok($$SELECT inclusion_proof('{}'::bytea[], 0)$$, '22023', NULL, 'inclusion_proof: an empty array is an error');
SELECT throws_ok($$SELECT consistency_proof(ARRAY['\x01', NULL]::bytea[], 1)$$, '22004', 'leaves must not contain NULL elements',
                 'consistency_proof: a NULL leaf is an error');
SELECT throws_ok($$SELECT consistency_proof(ARRAY[['\x01'], ['\x02']]::bytea[], 1)$$, '2202E', 'leaves must be a one-dimensional array',
                 'consistency_proof: a two-dimensional array is an error');
SELECT throws_ok($$SELECT verify_inclusion(lh, -1, n, proof, root) FROM incl LIMIT 1$$, '22023', 'leaf_index must not be negative',
                 'verify_inclusion: a negative index is an error');
SELECT throws_ok($$SELECT verify_consistency(1, -2, old_root, new_root, proof) FROM cons LIMIT 1$$, '22023', 'new_size must not be negative',
                 'verify_consistency: a negative size is an error');
SELECT throws_ok($$SELECT verify_inclusion(lh, m, n, proof || NULL::hash256, root) FROM incl LIMIT 1$$, '22004',
                 'proof must not contain NULL elements', 'verify_inclusion: a NULL proof element is an error');
SELECT throws_ok($$SELECT merkle_root(x) FROM (VALUES ('\x01'::bytea), (NULL)) v(x)$$, '22004',
                 'a Merkle tree leaf must not be NULL', 'merkle_root: a NULL leaf is an error');
SELECT is((SELECT bool_or(verify_inclusion(lh, m, 9223372036854775807, proof, root)) FROM incl), false,
          'verify_inclusion: the largest bigint tree size is false, not a crash');
SELECT is((SELECT bool_or(verify_consistency(m, 9223372036854775807, old_root, new_root, proof)) FROM cons WHERE m > 0), false,
          'verify_consistency: the largest bigint new size is false, not a crash');
SELECT is((SELECT verify_inclusion(lh, m, n, array_fill(root, ARRAY[100000]), root) FROM incl LIMIT 1), false,
          'verify_inclusion: a proof of 100,000 elements is false');
SELECT is((SELECT verify_consistency(m, n, old_root, new_root, '{}') FROM cons WHERE m > 0 AND m < n LIMIT 1), false,
          'verify_consistency: an empty proof between different sizes is false');
SELECT is(verify_inclusion(leaf_hash('\x'), 0, 1, '{}', leaf_hash('\x')), true,
          'verify_inclusion: a one-leaf tree needs an empty proof');

SELECT * FROM finish();
