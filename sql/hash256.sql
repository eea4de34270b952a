-- The hash256 type: text and binary I/O, comparison, operator classes,
-- casts, hcledger.sha256(), and every input error path.
SET search_path = hcledger, public;

SELECT plan(32);

-- text I/O
SELECT is('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'::hash256::text,
          '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'lower-case hex round-trips');
SELECT is('00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF'::hash256::text,
          '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'upper-case hex is accepted and written lower case');
SELECT is('\x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'::hash256::text,
          '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'a leading \x is accepted');
SELECT throws_ok($$SELECT 'zz'::hash256$$, '22P02', 'invalid input syntax for type hash256: "zz"', 'non-hex text is an error');
SELECT throws_ok($$SELECT repeat('a', 63)::hash256$$, '22P02', NULL, 'odd length (63 digits) is an error');
SELECT throws_ok($$SELECT repeat('a', 62)::hash256$$, '22P02', NULL, '31 bytes is an error');
SELECT throws_ok($$SELECT repeat('a', 66)::hash256$$, '22P02', NULL, '33 bytes is an error');
SELECT throws_ok($$SELECT ''::hash256$$, '22P02', NULL, 'the empty string is an error');
SELECT throws_ok($$SELECT (' ' || repeat('a', 64))::hash256$$, '22P02', NULL, 'leading white space is an error');
SELECT throws_ok($$SELECT (repeat('a', 63) || 'g')::hash256$$, '22P02', NULL, 'a non-hex last digit is an error');
SELECT throws_ok($$SELECT repeat('a', 1000000)::hash256$$, '22P02', NULL, 'a huge input is an error');

-- binary I/O (through the send/receive functions)
SELECT is(hash256_send(hcledger.sha256('abc')), hcledger.sha256('abc')::bytea, 'send gives the 32 bytes');
SELECT is(hcledger.sha256('abc')::text, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'sha256 of "abc" (FIPS 180-2 example)');
SELECT is(hcledger.sha256('')::text, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'sha256 of the empty string');

-- casts
SELECT is(hcledger.sha256('abc')::bytea::hash256, hcledger.sha256('abc'), 'hash256 -> bytea -> hash256 round-trips');
SELECT is(hcledger.sha256('abc')::bytea, pg_catalog.sha256('abc'::bytea), 'agrees with PostgreSQL''s own sha256');
SELECT throws_ok($$SELECT '\x0102'::bytea::hash256$$, '22026', 'cannot cast a bytea of 2 bytes to hash256', 'a short bytea cannot be cast');
SELECT throws_ok($$SELECT decode(repeat('00', 33), 'hex')::hash256$$, '22026', NULL, 'a 33-byte bytea cannot be cast');

-- operators
SELECT ok(hcledger.sha256('a') = hcledger.sha256('a') AND NOT (hcledger.sha256('a') = hcledger.sha256('b')), '= compares the bytes');
SELECT ok(hcledger.sha256('a') <> hcledger.sha256('b') AND NOT (hcledger.sha256('a') <> hcledger.sha256('a')), '<> compares the bytes');
SELECT ok(repeat('0', 64)::hash256 < repeat('f', 64)::hash256
          AND repeat('0', 64)::hash256 <= repeat('0', 64)::hash256
          AND repeat('f', 64)::hash256 > ('0' || repeat('f', 63))::hash256
          AND repeat('f', 64)::hash256 >= repeat('f', 64)::hash256, '< <= > >= order as unsigned bytes');
SELECT is((SELECT array_agg(h ORDER BY h)::text[] FROM (VALUES ('80' || repeat('0', 62)), ('7f' || repeat('f', 62)), (repeat('0', 64))) v(t), LATERAL (SELECT t::hash256 AS h) s),
          ARRAY[repeat('0', 64), '7f' || repeat('f', 62), '80' || repeat('0', 62)], 'ORDER BY sorts as unsigned bytes');

-- operator classes: a primary key, a hash join, a merge join
CREATE TEMP TABLE hashes (h hash256 PRIMARY KEY, n int);
INSERT INTO hashes SELECT hcledger.sha256(int4send(i)), i FROM generate_series(1, 1000) i;
SELECT throws_ok($$INSERT INTO hashes VALUES (hcledger.sha256(int4send(1)), 0)$$, '23505', NULL, 'hash256 can be a primary key');
ANALYZE hashes;
SET enable_hashjoin = on; SET enable_mergejoin = off; SET enable_nestloop = off;
SELECT is((SELECT count(*) FROM hashes a JOIN hashes b USING (h)), 1000::bigint, 'hash join on hash256');
SET enable_hashjoin = off; SET enable_mergejoin = on;
SELECT is((SELECT count(*) FROM hashes a JOIN hashes b USING (h)), 1000::bigint, 'merge join on hash256');
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_nestloop;
SET enable_seqscan = off;
SELECT is((SELECT n FROM hashes WHERE h = hcledger.sha256(int4send(500))), 500, 'btree index lookup');
RESET enable_seqscan;
CREATE INDEX ON hashes USING hash (h);
SELECT is((SELECT count(DISTINCT h) FROM hashes), 1000::bigint, 'DISTINCT (hash or sort) works');
SELECT is(hash256_hash_extended(hcledger.sha256('x'), 0) = hash256_hash_extended(hcledger.sha256('x'), 0), true, 'extended hash is stable');

-- binary COPY round-trip (hash256_send and hash256_recv), through files in
-- this server's own data directory (a fixed /tmp name would collide with
-- another user's run)
CREATE TEMP TABLE hashes_copy (h hash256, n int);
CREATE TEMP TABLE short_copy (h bytea, n int);
INSERT INTO short_copy VALUES ('\x0102', 1);
CREATE FUNCTION pg_temp.regress_file(name text) RETURNS text LANGUAGE sql
	AS $$SELECT current_setting('data_directory') || '/hcledger_regress_' || name || '.bin'$$;
DO $$
BEGIN
	EXECUTE format('COPY (SELECT h, n FROM hashes) TO %L WITH (FORMAT binary)', pg_temp.regress_file('hash256'));
	EXECUTE format('COPY hashes_copy FROM %L WITH (FORMAT binary)', pg_temp.regress_file('hash256'));
	EXECUTE format('COPY short_copy TO %L WITH (FORMAT binary)', pg_temp.regress_file('short'));
END $$;
SELECT is((SELECT count(*) FROM hashes JOIN hashes_copy USING (h, n)), 1000::bigint, 'binary COPY round-trips every hash256');
SELECT throws_ok(format('COPY hashes_copy FROM %L WITH (FORMAT binary)', pg_temp.regress_file('short')), '22P03', NULL,
                 'binary input of the wrong length is an error');

-- NULLs: strict functions
SELECT is(hcledger.sha256(NULL), NULL, 'hcledger.sha256(NULL) is NULL');
SELECT is(NULL::bytea::hash256, NULL, 'a NULL cast is NULL');

SELECT * FROM finish();
