-- No OpenSSL object leaks on failing paths: a million failing verifications
-- (and many key-parsing errors) keep the backend's resident memory flat.
-- OpenSSL allocates with malloc, outside PostgreSQL's memory contexts, so
-- this reads the backend's own VmRSS from /proc.
SET search_path = hcledger, public;

CREATE FUNCTION pg_temp.rss_kb() RETURNS bigint LANGUAGE sql AS $$
	SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmRSS:\s+(\d+)'))[1]::bigint
$$;

-- Run n failing signature checks, a quarter each of ES256 raw (r = s = 0),
-- ES256 DER (r = s = 0), Ed25519 (s >= L) and SM2 (r = s = 0, and one in
-- eight GM/T 0003.5's example signature over other messages, the whole
-- computation); returns how many were true.  The keys: a
-- P-256 key from Wycheproof, the Ed25519 key of RFC 8032 TEST 1, GM/T
-- 0003.5's SM2 key.
CREATE FUNCTION pg_temp.failing_checks(n int) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FILTER (WHERE CASE g % 4
	         WHEN 0 THEN ecdsa_p256_verify('\x042927b10512bae3eddcfe467828128bad2903269919f7086069c8c4df6c732838c7787964eaac00e5921fb1498a60f4606766b3d9685001558d1a974e7341513e'::bytea,
	                                       int4send(g), decode(repeat('00', 64), 'hex'))
	         WHEN 1 THEN ecdsa_p256_verify('\x042927b10512bae3eddcfe467828128bad2903269919f7086069c8c4df6c732838c7787964eaac00e5921fb1498a60f4606766b3d9685001558d1a974e7341513e'::bytea,
	                                       int4send(g), '\x3006020100020100'::bytea, 'der')
	         WHEN 2 THEN ed25519_verify('\xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'::bytea,
	                                    int4send(g), decode(repeat('ff', 64), 'hex'))
	         ELSE sm2_verify('\x0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13'::bytea,
	                         int4send(g), CASE WHEN g % 32 = 3
	                                      THEN '\xf5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa'::bytea
	                                      ELSE decode(repeat('00', 64), 'hex') END)
	       END)
	FROM generate_series(1, n) g
$$;
-- Repeat a key-parsing error n times, catching each; returns the count
-- caught.  Every other one is an SM2 key in DER that OpenSSL decodes but
-- that is not in its one encoding (its BIT STRING claims an unused bit).
CREATE FUNCTION pg_temp.failing_keys(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE caught int := 0;
BEGIN
	FOR i IN 1..n LOOP
		BEGIN
			IF i % 2 = 0 THEN
				PERFORM ecdsa_p256_verify('\x3059301306072a8648ce3d020106082a8648ce3d030107034200'::bytea, '\x'::bytea, '\x'::bytea);
			ELSE
				PERFORM sm2_verify('\x3059301306072a8648ce3d020106082a811ccf5501822d034201'
				                   '0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13'::bytea,
				                   '\x'::bytea, '\x'::bytea);
			END IF;
		EXCEPTION WHEN invalid_parameter_value THEN
			caught := caught + 1;
		END;
	END LOOP;
	RETURN caught;
END $$;

SELECT plan(4);

CREATE TEMP TABLE rss (step text, kb bigint);
SELECT pg_temp.failing_checks(20000), pg_temp.failing_keys(20000) \gset warm_
INSERT INTO rss VALUES ('before', pg_temp.rss_kb());
SELECT is(pg_temp.failing_checks(1000000), 0::bigint, 'a million failing signature checks: none verifies');
INSERT INTO rss VALUES ('after checks', pg_temp.rss_kb());
SELECT is(pg_temp.failing_keys(200000), 200000, '200,000 unparseable keys: each a caught 22023 error');
INSERT INTO rss VALUES ('after keys', pg_temp.rss_kb());

SELECT cmp_ok((SELECT kb FROM rss WHERE step = 'after checks') - (SELECT kb FROM rss WHERE step = 'before'),
              '<', 4096::bigint, 'resident memory grew by less than 4 MB over a million failing verifications');
SELECT cmp_ok((SELECT kb FROM rss WHERE step = 'after keys') - (SELECT kb FROM rss WHERE step = 'after checks'),
              '<', 4096::bigint, 'resident memory grew by less than 4 MB over 200,000 key errors');

SELECT * FROM finish();
