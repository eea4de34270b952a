-- Crypto-core benchmark: run by bench/run.sh, which passes openssl's own
-- figures for this machine as psql variables.  Each figure is the best of
-- three timed runs.
\set QUIET on
CREATE EXTENSION hcledger;
CREATE EXTENSION pgcrypto;
SET search_path = public, hcledger;

-- Best-of-three rate (items per second) of a query over n items.
CREATE FUNCTION best_rate(query text, n bigint) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best interval;
BEGIN
	FOR i IN 1..3 LOOP
		t0 := clock_timestamp();
		EXECUTE query;
		IF best IS NULL OR clock_timestamp() - t0 < best THEN best := clock_timestamp() - t0; END IF;
	END LOOP;
	RETURN round(n / extract(epoch FROM best));
END $$;

-- 10^6 distinct 64-byte messages (openssl speed's 64-byte block), and
-- 20,000 copies of one valid signature of each kind (a column, so the
-- planner cannot fold the call into a constant).
CREATE TABLE msgs AS
SELECT i, decode(lpad(to_hex(i), 128, '0'), 'hex') AS b FROM generate_series(1, 1000000) i;
CREATE TABLE sigs AS
SELECT convert_to(:'msg', 'UTF8') AS msg,
       convert_to(:'ed_pub', 'UTF8') AS ed_pub, decode(:'ed_sig', 'hex') AS ed_sig,
       convert_to(:'ec_pub', 'UTF8') AS ec_pub, decode(:'ec_sig', 'hex') AS ec_sig,
       convert_to(:'sm2_pub', 'UTF8') AS sm2_pub, decode(:'sm2_sig', 'hex') AS sm2_sig
FROM generate_series(1, 20000);
VACUUM ANALYZE msgs;
VACUUM ANALYZE sigs;
SELECT count(*) FROM msgs \gset warm_
SELECT count(*) = 20000 AND bool_and(ed25519_verify(ed_pub, msg, ed_sig)) AND bool_and(ecdsa_p256_verify(ec_pub, msg, ec_sig, 'der'))
       AND bool_and(sm2_verify(sm2_pub, msg, sm2_sig, 'der')) AS all_valid FROM sigs \gset
\if :all_valid
\else
	\echo 'benchmark signatures do not verify'
	\quit
\endif

SELECT best_rate('SELECT count(hcledger.sha256(b)) FROM msgs', 1000000) AS sha,
       best_rate('SELECT count(digest(b, ''sha256'')) FROM msgs', 1000000) AS pgcrypto,
       best_rate('SELECT count(pg_catalog.sha256(b)) FROM msgs', 1000000) AS core,
       best_rate('SELECT merkle_root(b ORDER BY i) FROM msgs', 1000000) AS merkle,
       best_rate('SELECT count(*) FILTER (WHERE ed25519_verify(ed_pub, msg, ed_sig)) FROM sigs', 20000) AS ed,
       best_rate('SELECT count(*) FILTER (WHERE ecdsa_p256_verify(ec_pub, msg, ec_sig, ''der'')) FROM sigs', 20000) AS ec,
       best_rate('SELECT count(hcledger.sm3(b)) FROM msgs', 1000000) AS sm3,
       best_rate('SELECT count(*) FILTER (WHERE sm2_verify(sm2_pub, msg, sm2_sig, ''der'')) FROM sigs', 20000) AS sm2
\gset r_

CREATE TABLE results (pos int, operation text, unit text, hcledger numeric, reference numeric, reference_name text);
INSERT INTO results VALUES
(1, 'hcledger.sha256, 64-byte input', 'hashes/s', :r_sha, :openssl_sha256, '`openssl speed -bytes 64 sha256`'),
(2, 'hcledger.sha256, 64-byte input', 'hashes/s', :r_sha, :r_pgcrypto, 'pgcrypto `digest(b, ''sha256'')`'),
(3, 'hcledger.sha256, 64-byte input', 'hashes/s', :r_sha, :r_core, '`pg_catalog.sha256(b)`'),
(4, '`merkle_root(leaf ORDER BY i)`, 10^6 leaves', 'leaves/s', :r_merkle, round(:openssl_sha256 / 2.0),
 'openssl sha256 / 2 (a leaf and a node hash per leaf)'),
(5, 'ed25519_verify', 'verifications/s', :r_ed, :openssl_ed25519, '`openssl speed ed25519` (verify)'),
(6, 'ecdsa_p256_verify (DER)', 'verifications/s', :r_ec, :openssl_ecdsa, '`openssl speed ecdsap256` (verify)'),
(7, 'hcledger.sm3, 64-byte input', 'hashes/s', :r_sm3, :openssl_sm3, '`openssl speed -bytes 64 -evp sm3`'),
(8, 'sm2_verify (DER, default identity)', 'verifications/s', :r_sm2, :openssl_sm2, '`openssl speed sm2` (verify)');

\pset tuples_only on
\pset format unaligned
\set QUIET off
SELECT '| operation | unit | hcledger | reference | reference is | ratio |' || chr(10) ||
       '|---|---|--:|--:|---|--:|' || chr(10) ||
       string_agg(format('| %s | %s | %s | %s | %s | %s |', operation, unit,
                         to_char(hcledger, 'FM999,999,999'), to_char(reference, 'FM999,999,999'),
                         reference_name, to_char(hcledger / reference, 'FM990.00') || 'x'),
                  chr(10) ORDER BY pos)
FROM results;
