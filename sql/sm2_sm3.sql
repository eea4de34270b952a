-- China's national algorithms: SM3 (GB/T 32905) and SM2 signatures
-- (GB/T 32918.2, SM3 over Z_A || M, the signer identity of GM/T 0009).
--  - SM3: the two examples of GB/T 32905's appendix, and digests made by
--    sm-crypto (an independent JavaScript implementation, from the npm
--    registry: test/interop/sm_crypto.js made test/data/sm/sm-crypto.json),
--    among them a million-byte message;
--  - SM2: the signature example of GM/T 0003.5 on the recommended curve,
--    and 40 signatures sm-crypto made (raw and DER, identities default,
--    custom and empty), each verified with the key as a raw point,
--    SubjectPublicKeyInfo DER and PEM;
--  - every one-byte change of key, message, identity or signature is
--    rejected (false, or for a key that no longer parses, an error);
--  - bad input: its SQLSTATE; the node's own SM2 signatures
--    (hcledger.sm2_key_file) verify, and only a superuser makes them;
--  - SM2 keys in the key registry: registered from any form as the raw
--    point, never taken for P-256 keys, valid from/until, rotated and
--    revoked as the others, checked by verify_signature.
-- The other direction, sm-crypto verifying the node's signatures, is
-- test/t/022_sm2_interop.pl.
\set smcrypto `cat test/data/sm/sm-crypto.json`
\set gmt `cat test/data/sm/gmt-0003-5.json`

-- The key forms: SubjectPublicKeyInfo (id-ecPublicKey, curve SM2) and PEM.
CREATE FUNCTION pg_temp.spki(point bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT '\x3059301306072a8648ce3d020106082a811ccf5501822d034200'::bytea || point
$$;
CREATE FUNCTION pg_temp.pem(point bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT convert_to('-----BEGIN PUBLIC KEY-----' || E'\n'
	                  || regexp_replace(replace(encode(pg_temp.spki(point), 'base64'), E'\n', ''), '(.{64})', E'\\1\n', 'g')
	                  || E'\n-----END PUBLIC KEY-----\n', 'UTF8')
$$;
-- DER SEQUENCE { INTEGER r, INTEGER s } of 32-byte r and s.
CREATE FUNCTION pg_temp.der_int(x bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT '\x02'::bytea || set_byte('\x00'::bytea, 0, length(v)) || v
	  FROM (SELECT CASE WHEN get_byte(t, 0) >= 128 THEN '\x00'::bytea || t ELSE t END AS v
	          FROM (SELECT decode(coalesce(nullif(regexp_replace(encode(x, 'hex'), '^(00)+', ''), ''), '00'), 'hex') AS t) a) b
$$;
CREATE FUNCTION pg_temp.der(raw bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT '\x30'::bytea || set_byte('\x00'::bytea, 0, length(body)) || body
	  FROM (SELECT pg_temp.der_int(substring(raw from 1 for 32)) || pg_temp.der_int(substring(raw from 33 for 32)) AS body) b
$$;
-- true, false or the SQLSTATE of an error
CREATE FUNCTION pg_temp.check(key bytea, msg bytea, sig bytea, format text, id bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN hcledger.sm2_verify(key, msg, sig, format, id)::text;
EXCEPTION WHEN data_exception THEN
	RETURN 'error ' || SQLSTATE;
END $$;
-- bytes with the one at position i (from 0) changed
CREATE FUNCTION pg_temp.flip(b bytea, i integer) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT set_byte(b, i, get_byte(b, i) # 1)
$$;

CREATE TEMP TABLE sm2_cases AS
SELECT n, decode(c->>'public_key', 'hex') AS point, decode(c->>'message', 'hex') AS msg,
       decode(c->>'id', 'hex') AS id, decode(c->>'raw', 'hex') AS raw_sig, decode(c->>'der', 'hex') AS der_sig
  FROM jsonb_array_elements(:'smcrypto'::jsonb -> 'sm2') WITH ORDINALITY AS x(c, n);
INSERT INTO sm2_cases
SELECT 0, decode(g->>'public_key', 'hex'), decode(g->>'message', 'hex'), decode(g->>'id', 'hex'),
       decode((g->>'r') || (g->>'s'), 'hex'), pg_temp.der(decode((g->>'r') || (g->>'s'), 'hex'))
  FROM (SELECT :'gmt'::jsonb AS g) a;

CREATE TEMP TABLE outcomes AS
SELECT c.n, k.form, f.format, pg_temp.check(k.key, c.msg, f.sig, f.format, c.id) AS got
  FROM sm2_cases c,
       LATERAL (VALUES ('raw', c.point), ('der', pg_temp.spki(c.point)), ('pem', pg_temp.pem(c.point))) AS k(form, key),
       LATERAL (VALUES ('raw', c.raw_sig), ('der', c.der_sig)) AS f(format, sig);

-- One-byte changes of the GM/T example and of the first ten sm-crypto cases.
CREATE TEMP TABLE changed AS
SELECT c.n, 'message' AS part, i, pg_temp.check(c.point, pg_temp.flip(c.msg, i), c.raw_sig, 'raw', c.id) AS got
  FROM sm2_cases c, generate_series(0, length(c.msg) - 1) i WHERE c.n <= 10
UNION ALL
SELECT c.n, 'identity', i, pg_temp.check(c.point, c.msg, c.raw_sig, 'raw', pg_temp.flip(c.id, i))
  FROM sm2_cases c, generate_series(0, length(c.id) - 1) i WHERE c.n <= 10
UNION ALL
SELECT c.n, 'raw signature', i, pg_temp.check(c.point, c.msg, pg_temp.flip(c.raw_sig, i), 'raw', c.id)
  FROM sm2_cases c, generate_series(0, 63) i WHERE c.n <= 10
UNION ALL
SELECT c.n, 'DER signature', i, pg_temp.check(c.point, c.msg, pg_temp.flip(c.der_sig, i), 'der', c.id)
  FROM sm2_cases c, generate_series(0, length(c.der_sig) - 1) i WHERE c.n <= 10
UNION ALL
SELECT c.n, 'key', i, pg_temp.check(pg_temp.flip(c.point, i), c.msg, c.raw_sig, 'raw', c.id)
  FROM sm2_cases c, generate_series(0, 64) i WHERE c.n <= 10
UNION ALL
SELECT c.n, 'DER key', i, pg_temp.check(pg_temp.flip(pg_temp.spki(c.point), i), c.msg, c.raw_sig, 'raw', c.id)
  FROM sm2_cases c, generate_series(0, 90) i WHERE c.n <= 10;

SELECT plan(46);

-- SM3
SELECT is(hcledger.sm3('abc')::text, '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0',
          'SM3: GB/T 32905 example 1 ("abc")');
SELECT is(hcledger.sm3(convert_to(repeat('abcd', 16), 'UTF8'))::text, 'debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732',
          'SM3: GB/T 32905 example 2 ("abcd" 16 times)');
SELECT is((SELECT count(*) FROM jsonb_array_elements(:'smcrypto'::jsonb -> 'sm3') v
            WHERE hcledger.sm3(decode(v->>'message', 'hex'))::text = v->>'digest'), 10::bigint,
          'SM3: the ten digests sm-crypto made, 0 to 4096 bytes, across the block boundaries');
SELECT is(hcledger.sm3(convert_to(repeat(:'smcrypto'::jsonb #>> '{sm3_long,repeat}', (:'smcrypto'::jsonb #>> '{sm3_long,times}')::int), 'UTF8'))::text,
          :'smcrypto'::jsonb #>> '{sm3_long,digest}', 'SM3: a million bytes, as sm-crypto hashes them');
SELECT is(hcledger.sm3(''::bytea)::text, '1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b', 'SM3 of nothing');

-- SM2: published and independent signatures
SELECT is((SELECT count(*) FROM sm2_cases WHERE n > 0), 40::bigint, 'SM2: the 40 sm-crypto cases are loaded');
SELECT is((SELECT count(*) FROM sm2_cases WHERE n > 0 AND id = ''::bytea), 10::bigint, 'ten of them with an empty identity');
SELECT is_empty($$SELECT * FROM outcomes WHERE n = 0 AND got <> 'true'$$,
                'SM2: the GM/T 0003.5 example verifies, raw and DER, with the key raw, DER and PEM');
SELECT is_empty($$SELECT * FROM outcomes WHERE n > 0 AND got <> 'true'$$,
                'SM2: every sm-crypto signature verifies, raw and DER, with the key raw, DER and PEM');
SELECT is((SELECT count(*) FROM outcomes), 41 * 6::bigint, 'every case in every form was tried');
SELECT is(hcledger.sm2_verify(point, msg, raw_sig), true, 'the identity defaults to 1234567812345678')
  FROM sm2_cases WHERE n = 0;
SELECT is(hcledger.sm2_verify(point, msg, raw_sig, 'raw', ''::bytea), false, 'another identity does not verify')
  FROM sm2_cases WHERE n = 0;
SELECT is(hcledger.sm2_verify(point, msg, raw_sig, 'raw', convert_to('1234567812345678', 'UTF8')), true, 'an identity given verifies')
  FROM sm2_cases WHERE n = 0;

-- Every one-byte change rejected
SELECT is_empty($$SELECT * FROM changed WHERE part IN ('message', 'identity', 'raw signature', 'DER signature') AND got <> 'false'$$,
                'every one-byte change of message, identity or signature (raw or DER) is false');
SELECT is_empty($$SELECT * FROM changed WHERE part IN ('key', 'DER key') AND got NOT IN ('false', 'error 22023')$$,
                'every one-byte change of the key is false or an invalid key (22023), never true');
SELECT ok((SELECT count(*) FROM changed WHERE part = 'message') > 500 AND (SELECT count(*) FROM changed WHERE part = 'key') = 11 * 65,
          'the changes were tried: every byte of each of eleven cases');
SELECT is(hcledger.sm2_verify(point, msg || '\x00'::bytea, raw_sig), false, 'a byte added to the message is false') FROM sm2_cases WHERE n = 0;
SELECT is(hcledger.sm2_verify(point, msg, substring(raw_sig from 1 for 63)), false, 'a truncated raw signature is false') FROM sm2_cases WHERE n = 0;
SELECT is(hcledger.sm2_verify(point, msg, der_sig || '\x00'::bytea, 'der'), false, 'trailing bytes after a DER signature are false') FROM sm2_cases WHERE n = 0;
SELECT is(hcledger.sm2_verify(point, msg, raw_sig, 'der'), false, 'a raw signature read as DER is false') FROM sm2_cases WHERE n = 0;

-- Bad input
SELECT throws_ok($$SELECT hcledger.sm2_verify('\x0102'::bytea, '\x'::bytea, '\x'::bytea)$$,
                 '22023', 'invalid SM2 public key', 'a garbage SM2 key is an error');
SELECT throws_ok($$SELECT hcledger.sm2_verify('\x04' || decode(repeat('11', 64), 'hex'), '\x'::bytea, decode(repeat('11', 64), 'hex'))$$,
                 '22023', 'invalid SM2 public key', 'a point not on SM2''s curve is an error');
SELECT throws_ok($$SELECT hcledger.sm2_verify(point || '\x00'::bytea, msg, raw_sig) FROM sm2_cases WHERE n = 0$$,
                 '22023', 'invalid SM2 public key', 'a 66-byte raw key is an error');
SELECT throws_ok($$SELECT hcledger.sm2_verify('\x3059301306072a8648ce3d020106082a8648ce3d030107034200046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'::bytea, '\x'::bytea, '\x'::bytea)$$,
                 '22023', 'public key is not an SM2 key', 'a P-256 key given to sm2_verify is an error');
SELECT throws_ok($$SELECT hcledger.ecdsa_p256_verify(pg_temp.spki(point), msg, raw_sig) FROM sm2_cases WHERE n = 0$$,
                 '22023', 'public key is not an ECDSA P-256 key', 'an SM2 key given to ecdsa_p256_verify is an error');
SELECT throws_ok($$SELECT hcledger.sm2_verify(point, msg, raw_sig, 'jws') FROM sm2_cases WHERE n = 0$$,
                 '22023', 'unknown signature format "jws"', 'an unknown signature format is an error');
SELECT throws_ok($$SELECT hcledger.sm2_verify(point, msg, raw_sig, 'raw', decode(repeat('41', 8191), 'hex')) FROM sm2_cases WHERE n = 0$$,
                 '22023', 'SM2 signer identity is 8191 bytes long, more than 8190', 'an identity over 8190 bytes is an error');
SELECT is(hcledger.sm2_verify(hcledger.sm2_public_key(), '\x'::bytea, hcledger.sm2_sign('\x'::bytea, decode(repeat('41', 8190), 'hex')), 'raw', decode(repeat('41', 8190), 'hex')), true,
          'one of 8190 bytes is taken: the node signs with it and it verifies')
  FROM sm2_cases WHERE n = 0;

-- The node's own SM2 key
SELECT is(length(hcledger.sm2_public_key()), 65, 'sm2_public_key: the node''s 65-byte point (hcledger.sm2_key_file)');
SELECT ok(hcledger.sm2_verify(hcledger.sm2_public_key(), convert_to('border crossing 42', 'UTF8'), hcledger.sm2_sign(convert_to('border crossing 42', 'UTF8')))
          AND hcledger.sm2_verify(hcledger.sm2_public_key(), '\x'::bytea, hcledger.sm2_sign('\x'::bytea, 'macau-ssm'::bytea), 'raw', 'macau-ssm'::bytea)
          AND NOT hcledger.sm2_verify(hcledger.sm2_public_key(), '\x'::bytea, hcledger.sm2_sign('\x'::bytea, 'macau-ssm'::bytea)),
          'sm2_sign: its signatures verify, for the identity they were made for only');
SELECT throws_ok($$SELECT hcledger.sm2_sign('\x'::bytea, decode(repeat('41', 8192), 'hex'))$$,
                 '22023', 'SM2 signer identity is 8192 bytes long, more than 8190', 'sm2_sign: an over-long identity is an error');
SET ROLE hcledger_issuer;
SELECT throws_ok($$SELECT hcledger.sm2_sign('\x'::bytea)$$, '42501', NULL, 'sm2_sign: for superusers only');
RESET ROLE;

-- SM2 keys in the registry
SELECT hcledger.add_authority('sm2-authority', 'An authority signing with SM2', false);
SELECT lives_ok($$SELECT hcledger.add_key('sm2-authority', 'sm2-1', 'sm2', pg_temp.pem(point), now() - interval '1 day') FROM sm2_cases WHERE n = 0$$,
                'add_key takes an SM2 key (here as PEM)');
SELECT is((SELECT encode(public_key, 'hex') FROM hcledger.keys WHERE authority = 'sm2-authority' AND key_id = 'sm2-1'),
          (SELECT encode(point, 'hex') FROM sm2_cases WHERE n = 0), 'and keeps its raw 65-byte point');
SELECT throws_ok($$SELECT hcledger.add_key('sm2-authority', 'sm2-x', 'es256', pg_temp.spki(point), now()) FROM sm2_cases WHERE n = 0$$,
                 '22023', 'public key is not an ECDSA P-256 key', 'an SM2 key registered as es256 is refused');
SELECT throws_ok($$SELECT hcledger.add_key('sm2-authority', 'sm2-x', 'sm2', '\x3059301306072a8648ce3d020106082a8648ce3d030107034200046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'::bytea, now())$$,
                 '22023', 'public key is not an SM2 key', 'a P-256 key registered as sm2 is refused');
SELECT throws_ok($$SELECT hcledger.public_key_raw('sm3', '\x00'::bytea)$$, '22023', 'unknown signature algorithm "sm3"', 'an unknown algorithm is refused');
SELECT ok((SELECT hcledger.verify_signature('sm2-authority', msg, raw_sig, now()) FROM sm2_cases WHERE n = 0)
          AND NOT (SELECT hcledger.verify_signature('sm2-authority', msg, raw_sig, now() - interval '2 days') FROM sm2_cases WHERE n = 0),
          'verify_signature checks an SM2 signature with the key valid at the time, and not before it was');
SELECT hcledger.rotate_key('sm2-authority', 'sm2-2', 'sm2', point, now() - interval '1 hour') FROM sm2_cases WHERE n = 1;
SELECT ok((SELECT valid_until = (SELECT valid_from FROM hcledger.keys WHERE key_id = 'sm2-2') FROM hcledger.keys WHERE key_id = 'sm2-1')
          AND (SELECT hcledger.verify_signature('sm2-authority', msg, raw_sig, now() - interval '2 hours') FROM sm2_cases WHERE n = 0)
          AND NOT (SELECT hcledger.verify_signature('sm2-authority', msg, raw_sig, now()) FROM sm2_cases WHERE n = 0)
          AND (SELECT hcledger.verify_signature('sm2-authority', msg, raw_sig, now(), 'sm2-2') FROM sm2_cases WHERE n = 1 AND id = '\x31323334353637383132333435363738'::bytea),
          'rotate_key: the old SM2 key ends where the new one starts, each verifies in its own time');
SELECT hcledger.revoke_key('sm2-authority', 'sm2-2', now() - interval '30 minutes', 'compromised');
SELECT ok(NOT (SELECT hcledger.verify_signature('sm2-authority', msg, raw_sig, now(), 'sm2-2') FROM sm2_cases WHERE n = 1),
          'revoke_key: an SM2 signature made after the revocation no longer verifies');
-- two SM2 keys valid at once (a credential key and a node key): rotate_key ends only the one named
SELECT hcledger.add_key('sm2-authority', 'sm2-cred', 'sm2', point, now() - interval '20 minutes') FROM sm2_cases WHERE n = 2;
SELECT hcledger.add_key('sm2-authority', 'sm2-node', 'sm2', point, now() - interval '20 minutes') FROM sm2_cases WHERE n = 3;
SELECT throws_ok($$SELECT hcledger.rotate_key('sm2-authority', 'sm2-cred-2', 'sm2', point) FROM sm2_cases WHERE n = 4$$,
                 '22023', NULL, 'rotate_key refuses to guess which of two valid SM2 keys to retire');
SELECT is((SELECT count(*) FROM hcledger.keys WHERE authority = 'sm2-authority' AND valid_until IS NULL AND revoked_at IS NULL),
          2::bigint, 'and ends neither');
SELECT lives_ok($$SELECT hcledger.rotate_key('sm2-authority', 'sm2-cred-2', 'sm2', point, now(), replaces => 'sm2-cred') FROM sm2_cases WHERE n = 4$$,
                'rotate_key(..., replaces => key_id) rotates the one named');
SELECT results_eq($$SELECT key_id, valid_until IS NULL FROM hcledger.keys WHERE authority = 'sm2-authority' AND key_id IN ('sm2-cred', 'sm2-node', 'sm2-cred-2') ORDER BY key_id$$,
                  $$VALUES ('sm2-cred', false), ('sm2-cred-2', true), ('sm2-node', true)$$, 'the other SM2 key stays valid');
SELECT throws_ok($$SELECT hcledger.rotate_key('sm2-authority', 'sm2-9', 'sm2', point, now(), replaces => 'sm2-cred') FROM sm2_cases WHERE n = 5$$,
                 'P0002', NULL, 'a key already retired cannot be rotated again');

-- what receive_key takes from a member: a key every signature check can use
SELECT ok(hcledger.key_usable('sm2', point) AND NOT hcledger.key_usable('es256', point)
          AND NOT hcledger.key_usable('sm2', '\x046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'::bytea)
          AND NOT hcledger.key_usable('sm2', pg_temp.spki(point)) AND NOT hcledger.key_usable('sm3', point),
          'key_usable: a raw SM2 point as sm2 only; not a P-256 point, a DER key or an unknown algorithm (never an error)')
  FROM sm2_cases WHERE n = 0;

SELECT * FROM finish();
