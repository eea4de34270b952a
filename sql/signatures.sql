-- Signature checks against every Project Wycheproof case, with each public
-- key in all three accepted forms (raw, SubjectPublicKeyInfo DER, PEM), and
-- the error paths.
\set ed25519 `cat test/data/wycheproof/ed25519_test.json`
\set p256raw `cat test/data/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json`
\set p256der `cat test/data/wycheproof/ecdsa_secp256r1_sha256_test.json`

CREATE TEMP TABLE wycheproof AS
SELECT f.alg, (t->>'tcId')::int AS tc_id, t->>'comment' AS comment,
       CASE f.alg WHEN 'ed25519' THEN decode(g->'publicKey'->>'pk', 'hex')
                  ELSE decode(g->'publicKey'->>'uncompressed', 'hex') END AS raw_key,
       decode(g->>'publicKeyDer', 'hex') AS der_key,
       convert_to(g->>'publicKeyPem', 'UTF8') AS pem_key,
       decode(t->>'msg', 'hex') AS msg,
       decode(t->>'sig', 'hex') AS sig,
       t->>'result' AS result
FROM (VALUES ('ed25519', :'ed25519'::jsonb),
             ('es256-raw', :'p256raw'::jsonb),
             ('es256-der', :'p256der'::jsonb)) AS f(alg, doc),
     jsonb_array_elements(f.doc->'testGroups') AS g,
     jsonb_array_elements(g->'tests') AS t;

-- 'true', 'false', or the SQLSTATE of a data exception; anything else
-- (an internal error, a crash) fails the test run itself.
CREATE FUNCTION pg_temp.check_sig(alg text, key bytea, msg bytea, sig bytea)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN CASE alg
		WHEN 'ed25519' THEN hcledger.ed25519_verify(key, msg, sig)
		WHEN 'es256-raw' THEN hcledger.ecdsa_p256_verify(key, msg, sig)
		WHEN 'es256-der' THEN hcledger.ecdsa_p256_verify(key, msg, sig, 'der')
	END::text;
EXCEPTION WHEN data_exception THEN
	RETURN 'error ' || SQLSTATE;
END $$;

CREATE TEMP TABLE outcomes AS
SELECT w.alg, w.tc_id, w.comment, w.result, k.form,
       pg_temp.check_sig(w.alg, k.key, w.msg, w.sig) AS got
FROM wycheproof w,
     LATERAL (VALUES ('raw', w.raw_key), ('der', w.der_key), ('pem', w.pem_key)) AS k(form, key);

SELECT plan(21);

SELECT is((SELECT count(*) FROM wycheproof WHERE alg = 'ed25519'), 151::bigint, 'Ed25519: all 151 Wycheproof cases loaded');
SELECT is((SELECT count(*) FROM wycheproof WHERE alg = 'es256-raw'), 262::bigint, 'ECDSA P-256 raw: all 262 Wycheproof cases loaded');
SELECT is((SELECT count(*) FROM wycheproof WHERE alg = 'es256-der'), 484::bigint, 'ECDSA P-256 DER: all 484 Wycheproof cases loaded');

-- Every valid case verifies, every invalid one is false: no case errors.
SELECT is_empty($$SELECT alg, tc_id, form, comment, got FROM outcomes
                  WHERE result = 'valid' AND got <> 'true'$$,
                'every valid Wycheproof case verifies, with raw, DER and PEM keys');
SELECT is_empty($$SELECT alg, tc_id, form, comment, got FROM outcomes
                  WHERE result = 'invalid' AND got <> 'false'$$,
                'every invalid Wycheproof case is false (not an error), with raw, DER and PEM keys');
SELECT is((SELECT count(*) FROM outcomes WHERE got = 'true'), 3 * (88 + 173 + 174)::bigint,
          'the number of verified cases is the number of valid ones');

-- Error paths: keys are checked, signatures are not errors.
SELECT throws_ok($$SELECT hcledger.ed25519_verify('\x0102'::bytea, '\x'::bytea, '\x'::bytea)$$,
                 '22023', 'invalid Ed25519 public key', 'a garbage Ed25519 key is an error');
SELECT throws_ok($$SELECT hcledger.ecdsa_p256_verify('\x04'::bytea || '\x00'::bytea, '\x'::bytea, '\x'::bytea)$$,
                 '22023', 'invalid ECDSA P-256 public key', 'a garbage P-256 key is an error');
SELECT throws_ok($$SELECT hcledger.ecdsa_p256_verify('\x04' || decode(repeat('11', 64), 'hex'), '\x'::bytea, decode(repeat('11', 64), 'hex'))$$,
                 '22023', 'invalid ECDSA P-256 public key', 'a P-256 point not on the curve is an error');
SELECT throws_ok($$SELECT hcledger.ed25519_verify(der_key, msg, sig) FROM wycheproof WHERE alg = 'es256-raw' LIMIT 1$$,
                 '22023', 'public key is not an Ed25519 key', 'a P-256 key given to ed25519_verify is an error');
SELECT throws_ok($$SELECT hcledger.ecdsa_p256_verify(der_key, msg, sig) FROM wycheproof WHERE alg = 'ed25519' LIMIT 1$$,
                 '22023', 'public key is not an ECDSA P-256 key', 'an Ed25519 key given to ecdsa_p256_verify is an error');
SELECT throws_ok($$SELECT hcledger.ecdsa_p256_verify(raw_key, msg, sig, 'jws') FROM wycheproof WHERE alg = 'es256-raw' LIMIT 1$$,
                 '22023', 'unknown signature format "jws"', 'an unknown signature format is an error');
SELECT throws_ok($$SELECT hcledger.ed25519_verify(convert_to('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'UTF8'), '\x'::bytea, '\x'::bytea)$$,
                 '22023', 'invalid Ed25519 public key', 'a corrupt PEM key is an error');
SELECT throws_ok($$SELECT hcledger.ed25519_verify(der_key || '\x00'::bytea, msg, sig) FROM wycheproof WHERE alg = 'ed25519' LIMIT 1$$,
                 '22023', 'invalid Ed25519 public key', 'trailing bytes after a DER key are an error');
SELECT is((SELECT hcledger.ed25519_verify(raw_key, msg, substring(sig from 1 for 63)) FROM wycheproof WHERE alg = 'ed25519' AND result = 'valid' LIMIT 1),
          false, 'a truncated signature is false');
SELECT is((SELECT hcledger.ecdsa_p256_verify(raw_key, msg, sig || '\x00'::bytea) FROM wycheproof WHERE alg = 'es256-raw' AND result = 'valid' LIMIT 1),
          false, 'a raw ES256 signature of 65 bytes is false');
SELECT is(hcledger.ed25519_verify(NULL, '\x'::bytea, '\x'::bytea), NULL, 'NULL arguments give NULL (the functions are strict)');

-- Verifier keys in the signed-note form; the value is what Go's
-- note.NewEd25519VerifierKey("example.com/log", RFC 8032 test 1's key) makes.
SELECT is(hcledger.verifier_key('example.com/log', '\xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
          'example.com/log+cc714670+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea', 'verifier_key: the form Go''s sumdb/note makes');
SELECT throws_ok($$SELECT hcledger.verifier_key('a b', '\xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')$$, '22023', NULL,
                 'verifier_key: a name with a space is refused');
SELECT throws_ok($$SELECT hcledger.verifier_key(E'a\u3000b+c', '\xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')$$, '22023', NULL,
                 'verifier_key: a Unicode space or a plus too');
SELECT throws_ok($$SELECT hcledger.verifier_key('a', '\x00')$$, '22023', 'an Ed25519 public key is 32 bytes, not 1', 'verifier_key: a key of the wrong length');

SELECT * FROM finish();
