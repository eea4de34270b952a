-- Health codes: issuing, status changes, revocation, expiry, every verdict of
-- verify_code, malformed and altered payloads, claims canonicalisation, and
-- what each role may do.  The regression server has a credential key and a
-- pseudonym key (test/regress.conf); it seals only when asked (seal()).
SET search_path = public, hcledger;
SELECT plan(153);

-- Base45 (RFC 9285) written again here, independently of src/codes.c, to
-- take payloads apart and build altered ones.
CREATE FUNCTION pg_temp.b45_decode(s text) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	cs constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
	out bytea := '\x';
	n int;
	i int := 1;
BEGIN
	WHILE i <= length(s) LOOP
		IF i + 2 <= length(s) THEN
			n := (strpos(cs, substr(s, i, 1)) - 1) + (strpos(cs, substr(s, i + 1, 1)) - 1) * 45
			     + (strpos(cs, substr(s, i + 2, 1)) - 1) * 2025;
			out := out || set_byte(set_byte('\x0000'::bytea, 0, n / 256), 1, n % 256);
			i := i + 3;
		ELSE
			n := (strpos(cs, substr(s, i, 1)) - 1) + (strpos(cs, substr(s, i + 1, 1)) - 1) * 45;
			out := out || set_byte('\x00'::bytea, 0, n);
			i := i + 2;
		END IF;
	END LOOP;
	RETURN out;
END $$;
CREATE FUNCTION pg_temp.b45_encode(b bytea) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	cs constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
	out text := '';
	n int;
	i int := 0;
BEGIN
	WHILE i < length(b) LOOP
		IF i + 1 < length(b) THEN
			n := get_byte(b, i) * 256 + get_byte(b, i + 1);
			out := out || substr(cs, n % 45 + 1, 1) || substr(cs, n / 45 % 45 + 1, 1) || substr(cs, n / 2025 + 1, 1);
			i := i + 2;
		ELSE
			n := get_byte(b, i);
			out := out || substr(cs, n % 45 + 1, 1) || substr(cs, n / 45 + 1, 1);
			i := i + 1;
		END IF;
	END LOOP;
	RETURN out;
END $$;
-- The payload's binary form, and a payload of a binary form.
CREATE FUNCTION pg_temp.bin(payload text) RETURNS bytea LANGUAGE sql IMMUTABLE
	AS $$ SELECT pg_temp.b45_decode(substr(payload, 6)) $$;
CREATE FUNCTION pg_temp.code(bin bytea) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT 'HCL1:' || pg_temp.b45_encode(bin) $$;
-- Change one byte (1-based position) for sure: every bit of it flipped.
CREATE FUNCTION pg_temp.flip(bin bytea, pos int) RETURNS bytea LANGUAGE sql IMMUTABLE
	AS $$ SELECT set_byte(bin, pos - 1, get_byte(bin, pos - 1) # 255) $$;
-- Replace the bytes of one occurrence of a text in the binary form.
CREATE FUNCTION pg_temp.swap(payload text, old text, new text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.code(decode(replace(encode(pg_temp.bin(payload), 'hex'), encode(convert_to(old, 'UTF8'), 'hex'),
	                                   encode(convert_to(new, 'UTF8'), 'hex')), 'hex'))
$$;
CREATE FUNCTION pg_temp.verdict(payload text) RETURNS text LANGUAGE sql
	AS $$ SELECT verdict FROM hcledger.verify_code(payload) $$;
CREATE FUNCTION pg_temp.traveller(name text, doc text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('name', name, 'document_number', doc, 'birth_date', '1984-06-04',
	                          'declaration', jsonb_build_object('fever', false, 'close_contact', false),
	                          'test_result', 'negative', 'test_time', '2026-11-23T08:00:00+08:00')
$$;

CREATE ROLE regress_issuer LOGIN IN ROLE hcledger_issuer;
CREATE ROLE regress_officer LOGIN IN ROLE hcledger_verifier;
CREATE ROLE regress_auditor LOGIN IN ROLE hcledger_auditor;
CREATE ROLE regress_admin LOGIN IN ROLE hcledger_admin;

-- Claims: the canonical form (RFC 8785 for the subset allowed)
SELECT is(canonical_claims('{"name": "Chan Tai Man", "document_number": "M1234567", "n": 1.0, "neg": -0, "big": 9007199254740991,
                              "b": [true, false, null, {"z": 1, "a": "x"}], "q": "say \"hi\"\\\n\t\u0001 é 中"}'),
          '{"b":[true,false,null,{"a":"x","z":1}],"big":9007199254740991,"document_number":"M1234567","n":1,"name":"Chan Tai Man","neg":0,"q":"say \"hi\"\\\n\t\u0001 é 中"}',
          'canonical claims: keys in byte order at every depth, no spaces, integers plain, only " \ and controls escaped');
SELECT is(canonical_claims('{"document_number": "X", "a_b": 1, "a": 2, "ab": 3}'), '{"a":2,"a_b":1,"ab":3,"document_number":"X"}',
          'keys are ordered by bytes, not by length as jsonb stores them');
SELECT throws_ok($$SELECT canonical_claims('[1]')$$, '22023', 'invalid claims: not a JSON object', 'claims must be an object');
SELECT throws_ok($$SELECT canonical_claims('"M1234567"')$$, '22023', 'invalid claims: not a JSON object', 'a bare string is not claims');
SELECT throws_ok($$SELECT canonical_claims('{"document_number": "X", "Name": "A"}')$$, '22023',
                 'invalid claims: a key is not 1 to 64 characters of a-z, 0-9 and _ starting with a letter', 'upper-case keys are refused');
SELECT throws_ok($$SELECT canonical_claims('{"document_number": "X", "t": 36.6}')$$, '22023',
                 'invalid claims: a number is not an integer; write it as a string', 'fractions are refused (no float canonicalisation)');
SELECT throws_ok($$SELECT canonical_claims('{"document_number": "X", "t": 9007199254740992}')$$, '22023',
                 'invalid claims: an integer is beyond +-(2^53 - 1); write it as a string', 'integers beyond 2^53 - 1 are refused');
SELECT throws_ok($$SELECT canonical_claims('{"name": "Chan Tai Man"}')$$, '22023',
                 'invalid claims: "document_number" must be a non-empty string', 'a document number is required');
SELECT throws_ok($$SELECT canonical_claims('{"document_number": 1234567}')$$, '22023',
                 'invalid claims: "document_number" must be a non-empty string', 'the document number must be a string');
SELECT throws_ok($$SELECT canonical_claims(jsonb_build_object('document_number', 'X', 'note', repeat('a', 2100)))$$, '22023',
                 'invalid claims: longer than 2048 bytes in canonical form', 'claims over 2048 bytes are refused');
SELECT throws_ok($$SELECT canonical_claims('{"document_number": "X", "a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {}}}}}}}}}')$$, '22023',
                 'invalid claims: nested more than 8 deep', 'claims nested deeper than 8 are refused');

-- Before the authority is set up
SELECT throws_ok($$SELECT issue_code(pg_temp.traveller('A', 'A1'))$$, '55000', 'this database issues for no authority',
                 'no code is issued before the local authority is registered');
SET ROLE regress_issuer;
SELECT throws_ok($$SELECT add_authority('regress-health', 'Regression Health Bureau', true)$$, '42501', NULL,
                 'an issuer cannot register authorities');
RESET ROLE;
SET ROLE regress_admin;
SELECT lives_ok($$SELECT add_authority('regress-health', 'Regression Health Bureau', true)$$, 'an administrator registers the local authority');
SELECT lives_ok($$SELECT add_authority('regress-peer', 'A peer bureau')$$, 'and a peer');
RESET ROLE;
SELECT throws_ok($$SELECT add_authority('regress-other', 'Another', true)$$, '23505',
                 'this database already issues as authority "regress-health"', 'one database issues for one authority');
SELECT throws_ok($$SELECT add_authority('regress-peer', 'Again')$$, '23505', 'authority "regress-peer" is already registered', 'authorities are registered once');
SELECT throws_ok($$SELECT add_authority('bad name', 'X')$$, '22023', NULL, 'an authority name with a space is refused');
SELECT throws_ok($$SELECT add_authority(NULL, 'X')$$, '22004', NULL, 'a NULL authority is refused');
SELECT throws_ok($$SELECT issue_code(pg_temp.traveller('A', 'A1'))$$, '55000',
                 'the key of hcledger.credential_key_file is not a registered, valid es256 key of authority "regress-health"',
                 'no code is issued before the credential key is registered');
SELECT lives_ok($$SELECT add_key('regress-health', 'es256-1', 'es256', credential_public_key(), now() - interval '1 day')$$,
                'the credential key is registered');
SELECT is(length(credential_public_key()), 65, 'credential_public_key() is the raw P-256 point');

-- Issuing: bad arguments
SELECT throws_ok($$SELECT issue_code(NULL)$$, '22004', NULL, 'NULL claims are refused');
SELECT throws_ok($$SELECT issue_code(pg_temp.traveller('A', 'A1'), 'blue')$$, '22023', 'colour must be green, yellow or red', 'an unknown colour is refused');
SELECT throws_ok($$SELECT issue_code(pg_temp.traveller('A', 'A1'), 'green', '0.5 seconds')$$, '22023', 'valid_for must be at least one second',
                 'a validity under a second is refused');
SELECT throws_ok($$SELECT issue_code(pg_temp.traveller('A', 'A1'), 'green', '1 day', now() - interval '2 days')$$, '22023', NULL,
                 'a code that would be expired when issued is refused');
SELECT throws_ok($$SELECT issue_code('{"name": "Chan Tai Man", "birth_date": "1984-06-04"}')$$, '22023',
                 'invalid claims: "document_number" must be a non-empty string', 'claims are checked, and the message quotes no claim');

-- Issuing travellers' codes
CREATE TABLE issued (who text PRIMARY KEY, id bytea, payload text);
INSERT INTO issued SELECT 'ana', * FROM issue_code(pg_temp.traveller('Ana Lopes', 'P1000001'));
INSERT INTO issued SELECT 'bo', * FROM issue_code(pg_temp.traveller('Bo Wen', 'C2000002'), 'yellow');
INSERT INTO issued SELECT 'chen', * FROM issue_code(pg_temp.traveller('Chen Li', 'M3000003'));
INSERT INTO issued SELECT 'dora', * FROM issue_code(pg_temp.traveller('Dora Silva', 'P4000004'), 'green', '2 seconds');
INSERT INTO issued SELECT 'eli', * FROM issue_code(pg_temp.traveller('Eli Ho', 'H5000005'), 'green', '1 day', now() + interval '1 day');
INSERT INTO issued SELECT 'ana2', * FROM issue_code(pg_temp.traveller('Ana Lopes', 'P1000001'));
GRANT SELECT ON issued TO PUBLIC;
CREATE FUNCTION pg_temp.p(who text) RETURNS text LANGUAGE sql AS $$ SELECT payload FROM issued WHERE issued.who = p.who $$;
CREATE FUNCTION pg_temp.id(who text) RETURNS bytea LANGUAGE sql AS $$ SELECT id FROM issued WHERE issued.who = id.who $$;

SELECT is((SELECT count(DISTINCT id) FROM issued WHERE length(id) = 16), 6::bigint, 'every code has its own 16-byte random id');
SELECT ok((SELECT bool_and(payload ~ '^HCL1:[0-9A-Z $%*+./:-]+$' AND length(payload) < 700) FROM issued),
          'payloads are HCL1: and QR alphanumeric characters, under 700 of them');
SELECT is(code_claims(pg_temp.p('ana')), pg_temp.traveller('Ana Lopes', 'P1000001'), 'the payload carries the claims');
SELECT is((SELECT count(*) FROM codes WHERE entry = 'issue'), 6::bigint, 'the ledger has an issue entry per code');
SELECT is((SELECT count(DISTINCT subject) FROM codes WHERE entry = 'issue'), 5::bigint,
          'one pseudonym per document number: the two codes of one traveller share it');
SELECT is((SELECT subject FROM codes WHERE credential_id = pg_temp.id('ana')), pseudonym('regress-health', 'P1000001'),
          'the pseudonym is the HMAC of the document number under the authority''s secret');
SELECT is((SELECT c.commitment FROM codes c, code_decode(pg_temp.p('bo')) d WHERE c.credential_id = d.credential_id),
          sha256(substr(pg_temp.bin(pg_temp.p('bo')), 106, 16) || convert_to(canonical_claims(pg_temp.traveller('Bo Wen', 'C2000002')), 'UTF8'))::bytea,
          'the ledger stores SHA-256(salt || canonical claims), the salt being in the payload only');
SELECT ok(ecdsa_p256_verify(credential_public_key(), d.message, d.signature), 'the payload''s signature is ES256 over the documented message')
  FROM code_decode(pg_temp.p('ana')) d;
SELECT is(convert_from(d.message, 'UTF8'),
          format(E'hcledger-credential/1\nregress-health\nes256-1\n%s\n%s\n%s\n%s\n%s\n', encode(d.credential_id, 'hex'),
                 extract(epoch FROM d.issued_at)::bigint, extract(epoch FROM d.valid_from)::bigint,
                 extract(epoch FROM d.valid_until)::bigint, encode(d.commitment, 'hex')),
          'the signed message is the documented lines') FROM code_decode(pg_temp.p('ana')) d;

-- Verdicts before and after sealing
SELECT results_eq($$SELECT verdict, colour, authority, checkpoint FROM verify_code(pg_temp.p('ana'))$$,
                  $$VALUES ('not yet sealed', 'green', 'regress-health', NULL::text)$$,
                  'a code not yet sealed says so, with its colour, and no checkpoint');
SELECT is((SELECT reason FROM verify_code(pg_temp.p('ana'))), format('ledger row %s is not yet sealed under a checkpoint',
          (SELECT hcl_row FROM codes WHERE credential_id = pg_temp.id('ana'))), 'the reason names the row');
SELECT ok((SELECT tree_size > 0 FROM seal('hcledger.codes')), 'the codes ledger is sealed');
SELECT results_eq($$SELECT verdict, colour, reason, authority FROM verify_code(pg_temp.p('ana'))$$,
                  $$VALUES ('valid', 'green', NULL::text, 'regress-health')$$, 'a sealed, current code is valid');
SELECT is((SELECT valid_until FROM verify_code(pg_temp.p('ana'))), (SELECT valid_until FROM codes WHERE credential_id = pg_temp.id('ana')),
          'verify_code gives the code''s end of validity');
SELECT is((SELECT c.valid FROM verify_code(pg_temp.p('ana')) v, verify_checkpoint(v.checkpoint, signing_public_key()) c), true,
          'the checkpoint returned is a signed note that verifies');
SELECT is((SELECT c.tree_size FROM verify_code(pg_temp.p('ana')) v, verify_checkpoint(v.checkpoint, signing_public_key()) c),
          (SELECT tree_size FROM ledgers WHERE relid = 'hcledger.codes'::regclass), 'and it is the latest checkpoint of the codes ledger');
SELECT is((SELECT colour FROM verify_code(pg_temp.p('bo'))), 'yellow', 'the colour issued is reported');
SELECT is(pg_temp.verdict(pg_temp.p('eli')), 'not yet valid', 'a code whose validity starts tomorrow is not yet valid');

-- Status changes: reflected at once, and their sealing state reported
SELECT lives_ok($$SELECT set_status(pg_temp.id('bo'), 'red', 'positive test')$$, 'a code turns red');
SELECT results_eq($$SELECT verdict, colour FROM verify_code(pg_temp.p('bo'))$$, $$VALUES ('not yet sealed', 'red')$$,
                  'the change is reflected at once, and reported as not yet sealed');
SELECT seal('hcledger.codes');
SELECT results_eq($$SELECT verdict, colour FROM verify_code(pg_temp.p('bo'))$$, $$VALUES ('valid', 'red')$$,
                  'once sealed, the code is valid and red');
SELECT lives_ok($$SELECT set_status(pg_temp.id('bo'), 'green', 'cleared')$$, 'and green again');
SELECT seal('hcledger.codes');
SELECT is((SELECT colour FROM verify_code(pg_temp.p('bo'))), 'green', 'the latest status wins');
SELECT is((SELECT count(*) FROM codes WHERE credential_id = pg_temp.id('bo')), 3::bigint, 'each change is a new ledger entry, none updated');
SELECT throws_ok($$SELECT set_status(pg_temp.id('bo'), 'purple')$$, '22023', 'colour must be green, yellow or red', 'an unknown colour is refused');
SELECT throws_ok($$SELECT set_status('\x00000000000000000000000000000000', 'red')$$, 'P0002',
                 'this authority issued no health code 00000000000000000000000000000000', 'an unknown code cannot change');
SELECT throws_ok($$SELECT set_status(NULL, 'red')$$, '22004', NULL, 'a NULL id is refused');

-- Revocation
SELECT throws_ok($$SELECT revoke_code(pg_temp.id('chen'), '  ')$$, '22023', 'a reason is required to revoke a health code', 'a reason is required');
SELECT throws_ok($$SELECT revoke_code(pg_temp.id('chen'), 'x', NULL)$$, '22004', NULL, 'a NULL effective time is refused');
SELECT lives_ok($$SELECT revoke_code(pg_temp.id('chen'), 'declaration found false')$$, 'a code is revoked');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.p('chen'))$$,
                  $$VALUES ('revoked', 'declaration found false (revocation not yet sealed)')$$,
                  'a revocation counts at once (failing safe), and its sealing state is reported');
SELECT seal('hcledger.codes');
SELECT results_eq($$SELECT verdict, colour, reason FROM verify_code(pg_temp.p('chen'))$$,
                  $$VALUES ('revoked', 'green', 'declaration found false')$$, 'once sealed, revoked with the reason');
SELECT throws_ok($$SELECT revoke_code(pg_temp.id('chen'), 'again')$$, '55000', NULL, 'a code is revoked once');
SELECT throws_ok($$SELECT set_status(pg_temp.id('chen'), 'green')$$, '55000', NULL, 'a revoked code cannot change colour');
SELECT lives_ok($$SELECT revoke_code(pg_temp.id('ana2'), 'replaced', now() + interval '1 day')$$, 'a revocation can be scheduled');
SELECT seal('hcledger.codes');
SELECT results_eq($$SELECT verdict, left(reason, 25) FROM verify_code(pg_temp.p('ana2'))$$,
                  $$VALUES ('valid', 'revocation scheduled for ')$$, 'until then the code is valid, and the schedule is shown');

-- Expiry
SELECT pg_sleep(2.2);
SELECT results_eq($$SELECT verdict, colour FROM verify_code(pg_temp.p('dora'))$$, $$VALUES ('expired', 'green')$$,
                  'a code past its validity is expired');

-- Malformed payloads: an 'invalid' verdict with a reason, never an error
SELECT results_eq($$SELECT verdict, reason FROM verify_code(NULL)$$, $$VALUES ('invalid', 'there is no payload (NULL)')$$, 'NULL');
SELECT results_eq($$SELECT verdict, reason FROM verify_code('')$$, $$VALUES ('invalid', 'the payload does not start with HCL1:, HCL2: or HCL3:')$$, 'empty');
SELECT results_eq($$SELECT verdict, reason FROM verify_code('https://example.org/HCL1:')$$,
                  $$VALUES ('invalid', 'the payload does not start with HCL1:, HCL2: or HCL3:')$$, 'a wrong prefix');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(replace(pg_temp.p('ana'), 'HCL1:', 'HCL4:'))$$,
                  $$VALUES ('invalid', 'the payload is of an unknown version (only HCL1:, HCL2: and HCL3: are known)')$$, 'a wrong version');
SELECT results_eq($$SELECT verdict FROM verify_code(replace(pg_temp.p('ana'), 'HCL1:', 'HCL2:'))$$,
                  $$VALUES ('invalid')$$, 'an ES256 code relabelled HCL2: is invalid (its first byte names no algorithm, or the rest is truncated)');
SELECT is((SELECT algorithm FROM code_decode(pg_temp.p('ana'))), 'es256', 'code_decode: an HCL1: code is es256');
SELECT is(code_message('a', 'k', '\x00000000000000000000000000000000', 'epoch', 'epoch', 'epoch'::timestamptz + interval '1 s',
                       decode(repeat('00', 32), 'hex'), 'sm2'),
          convert_to(E'hcledger-credential-sm2/1\na\nk\n00000000000000000000000000000000\n0\n0\n1\n' || repeat('0', 64) || E'\n', 'UTF8'),
          'code_message: an SM2 code''s message names sm2 in its first line');
SELECT throws_ok($$SELECT code_message('a', 'k', '\x00000000000000000000000000000000', 'epoch', 'epoch', 'epoch'::timestamptz + interval '1 s',
                       decode(repeat('00', 32), 'hex'), 'ed25519')$$, '22023', 'a health code''s algorithm is es256 or sm2',
                 'code_message: no third algorithm');
-- docs/health-codes.md's SM2 test vector: decoded and checked with the key published there
SELECT results_eq($$SELECT algorithm, authority, key_id, encode(credential_id, 'hex'), extract(epoch FROM issued_at)::bigint,
                           encode(commitment, 'hex'), length(message)
                      FROM code_decode('HCL2:PE0UFF*L8V/H5+VJDRFXT9VS*:L000H20BM2:F9000H20BM2:F9000H20XT3KTPST3/MOZ943YC3FVGJJ4$DYJD75TU8KR*F-717X1TO5Q70QC11QMVQ4HEP$+FQ4937UB5P+:NCQ7OQI6IP8CA9K9$14L2C9:J1VEKVK1YNPN30OHOU1:-EVCUPP1Y$E3/DGVC3/DEX5HNCTQEKF6NF6TF6020MPF%JC5LEY8DRFFGECWE41A6FA73Q5GVC PCF$DG/D+2C1%EYJCDJEWF7ITA2OA3W56466469F63Q5..DF$DWE4DF46$CSUEG7A4LE-3EIE42G41ECOPC..D7WETTCOH76LEG$C')$$,
                  $$VALUES ('sm2', 'guangdong-hc', 'sm2-2026', '8f796843208e27fc44d7efeb41e2f8ae', 1796455242::bigint,
                            '6e3ca80e072318ba4ccd3467d04309dd9a24c4f53275a93123e950fde3885915', 179)$$,
                  'the documented SM2 code decodes to its documented fields');
SELECT ok(sm2_verify('\x04e66d6803fbf2ba1a6121a78ce09abd13008212f45b7370726b3e22f7a0d8a089ed3d772ef0d40d531a3b224caeb5b29294594a90d2db7d2adbe4d3858e34146d',
                     message, signature)
          AND signature = '\xee1cf0c1e1215c64e9f7dd99b26d5a6a4ee64d9fba7d9d094d0dbd2be201550a1fb2992455c8487dd447ffee8cc6adbdd33bfd930cc8f1513e4abe1ff65f5b9e'
          AND sm3(message)::text = 'ab6be770ff669fbf77da91c7cfe56967742547fd5e0df783629f068dde8f7499',
          'its SM2 signature verifies with the documented key over the documented message')
  FROM code_decode('HCL2:PE0UFF*L8V/H5+VJDRFXT9VS*:L000H20BM2:F9000H20BM2:F9000H20XT3KTPST3/MOZ943YC3FVGJJ4$DYJD75TU8KR*F-717X1TO5Q70QC11QMVQ4HEP$+FQ4937UB5P+:NCQ7OQI6IP8CA9K9$14L2C9:J1VEKVK1YNPN30OHOU1:-EVCUPP1Y$E3/DGVC3/DEX5HNCTQEKF6NF6TF6020MPF%JC5LEY8DRFFGECWE41A6FA73Q5GVC PCF$DG/D+2C1%EYJCDJEWF7ITA2OA3W56466469F63Q5..DF$DWE4DF46$CSUEG7A4LE-3EIE42G41ECOPC..D7WETTCOH76LEG$C');
SELECT is(code_signature_valid('sm2', '\x04e66d6803fbf2ba1a6121a78ce09abd13008212f45b7370726b3e22f7a0d8a089ed3d772ef0d40d531a3b224caeb5b29294594a90d2db7d2adbe4d3858e34146d',
                               code_message(authority, key_id, credential_id, issued_at, valid_from, valid_until, commitment, 'es256'), signature),
          false, 'the same signature over the ES256 form of the message does not verify')
  FROM code_decode('HCL2:PE0UFF*L8V/H5+VJDRFXT9VS*:L000H20BM2:F9000H20BM2:F9000H20XT3KTPST3/MOZ943YC3FVGJJ4$DYJD75TU8KR*F-717X1TO5Q70QC11QMVQ4HEP$+FQ4937UB5P+:NCQ7OQI6IP8CA9K9$14L2C9:J1VEKVK1YNPN30OHOU1:-EVCUPP1Y$E3/DGVC3/DEX5HNCTQEKF6NF6TF6020MPF%JC5LEY8DRFFGECWE41A6FA73Q5GVC PCF$DG/D+2C1%EYJCDJEWF7ITA2OA3W56466469F63Q5..DF$DWE4DF46$CSUEG7A4LE-3EIE42G41ECOPC..D7WETTCOH76LEG$C');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(lower(pg_temp.p('ana')))$$,
                  $$VALUES ('invalid', 'the payload does not start with HCL1:, HCL2: or HCL3:')$$, 'lower case');
SELECT results_eq($$SELECT verdict, reason FROM verify_code('HCL1:' || lower(substr(pg_temp.p('ana'), 6)))$$,
                  $$VALUES ('invalid', 'the payload is not valid Base45')$$, 'characters outside Base45');
SELECT results_eq($$SELECT verdict, reason FROM verify_code('HCL1:GGW')$$,
                  $$VALUES ('invalid', 'the payload is not valid Base45')$$, 'a Base45 triple over 65535');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(left(pg_temp.p('ana'), 101))$$,
                  $$VALUES ('invalid', 'the payload is truncated')$$, 'truncated');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(left(pg_temp.p('ana'), 102))$$,
                  $$VALUES ('invalid', 'the payload is not valid Base45')$$, 'truncated mid-group');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.code(pg_temp.bin(pg_temp.p('ana')) || '\x00'))$$,
                  $$VALUES ('invalid', 'the payload has bytes after its claims')$$, 'trailing bytes');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.code(set_byte(pg_temp.bin(pg_temp.p('ana')), 104, 15)))$$,
                  $$VALUES ('invalid', 'the payload''s salt is not 16 to 64 bytes')$$, 'a short salt length');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.p('ana') || repeat('0', 4000))$$,
                  $$VALUES ('invalid', 'the payload is longer than 4096 characters')$$, 'oversized');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.code(overlay(pg_temp.bin(pg_temp.p('ana')) placing '\x0000000000000000' from 33 for 8)))$$,
                  $$VALUES ('invalid', 'the payload''s times are not in order')$$, 'valid_until before valid_from');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.code(overlay(pg_temp.bin(pg_temp.p('ana')) placing '\x7f' from 17 for 1)))$$,
                  $$VALUES ('invalid', 'the payload''s times are out of range')$$, 'an issue time beyond the year 9999');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(E'HCL1:\\x00')$$,
                  $$VALUES ('invalid', 'the payload is not valid Base45')$$, 'control characters');
SELECT throws_ok($$SELECT code_claims('HCL1:00')$$, '22P02', 'not a health code: the payload is truncated', 'code_claims errors on what is not a code');

-- Altered payloads
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.swap(pg_temp.p('ana'), 'regress-health', 'regress-hearth'))$$,
                  $$VALUES ('unknown authority', 'authority "regress-hearth" is not registered here')$$, 'an unknown authority');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.swap(pg_temp.p('ana'), 'es256-1', 'es256-9'))$$,
                  $$VALUES ('bad signature', 'authority "regress-health" has no es256 key "es256-9"')$$, 'an unregistered key');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.swap(pg_temp.p('ana'), 'Ana Lopes', 'Ana Lopez'))$$,
                  $$VALUES ('tampered', 'the claims or salt are not those the authority signed')$$, 'a changed name is tampering');
SELECT results_eq($$SELECT verdict FROM verify_code(pg_temp.swap(pg_temp.p('ana'), '"negative"', '"positive"'))$$,
                  $$VALUES ('tampered')$$, 'so is a changed test result');
SELECT results_eq($$SELECT verdict FROM verify_code(pg_temp.code(pg_temp.flip(pg_temp.bin(pg_temp.p('ana')), 110)))$$,
                  $$VALUES ('tampered')$$, 'and a changed salt');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.code(pg_temp.flip(pg_temp.bin(pg_temp.p('ana')), 60)))$$,
                  $$VALUES ('bad signature', 'the issuer''s signature does not verify')$$, 'a changed signature');
SELECT results_eq($$SELECT verdict FROM verify_code(pg_temp.code(pg_temp.flip(pg_temp.bin(pg_temp.p('ana')), 40)))$$,
                  $$VALUES ('bad signature')$$, 'a changed validity breaks the signature');
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.code(pg_temp.flip(pg_temp.bin(pg_temp.p('ana')), 1)))$$,
                  $$VALUES ('bad signature', 'the issuer''s signature does not verify')$$, 'a changed id breaks the signature');
-- a validly signed code for an id the ledger does not hold (written by hand, signed by the key's owner)
SELECT results_eq($$SELECT verdict FROM verify_code(pg_temp.p('dora'))$$, $$VALUES ('expired')$$, 'sanity: dora''s code is known');
SELECT is((SELECT count(*) FROM generate_series(1, (SELECT length(pg_temp.bin(pg_temp.p('ana'))))) i
           WHERE pg_temp.verdict(pg_temp.code(overlay(pg_temp.bin(pg_temp.p('ana'))
                 placing set_byte('\x00', 0, get_byte(pg_temp.bin(pg_temp.p('ana')), i - 1) # 1) from i for 1))) = 'valid'),
          0::bigint, 'no payload with any one byte changed is valid');
SELECT is((SELECT count(*) FROM generate_series(6, length(pg_temp.p('ana'))) i
           WHERE pg_temp.verdict(overlay(pg_temp.p('ana') placing CASE substr(pg_temp.p('ana'), i, 1) WHEN '0' THEN '1' ELSE '0' END
                                         from i for 1)) = 'valid'),
          0::bigint, 'no payload with any one character changed is valid');
SELECT is((SELECT count(*) FROM generate_series(1, length(pg_temp.p('ana')) - 1) i WHERE pg_temp.verdict(left(pg_temp.p('ana'), i)) <> 'invalid'),
          0::bigint, 'every truncation is invalid');

-- Roles: least privilege
SET ROLE regress_officer;
SELECT is((SELECT verdict FROM verify_code(pg_temp.p('ana'))), 'valid', 'a verifier can verify');
SELECT throws_ok($$SELECT count(*) FROM hcledger.codes$$, '42501', NULL, 'a verifier cannot read the ledger''s rows');
SELECT throws_ok($$SELECT hcledger.row_leaf('hcledger.codes', 1)$$, '42501', NULL, 'nor a row''s leaf');
SELECT throws_ok($$SELECT hcledger.ledger_rows_check('hcledger.codes', '{1}', 1)$$, '42501', NULL, 'nor check rows itself');
SELECT throws_ok($$SELECT hcledger.pseudonym('regress-health', 'P1000001')$$, '42501', NULL, 'nor compute pseudonyms');
SELECT throws_ok($$SELECT issue_code(pg_temp.traveller('A', 'A1'))$$, '42501', NULL, 'nor issue');
SELECT throws_ok($$SELECT hcledger.code_issue_parts(pg_temp.traveller('A', 'A1'), 'regress-health', 'es256-1', now(), now(), now() + interval '1 day')$$,
                 '42501', NULL, 'nor sign with the authority''s key');
SELECT throws_ok($$SELECT set_status(pg_temp.id('ana'), 'red')$$, '42501', NULL, 'nor change a status');
SELECT is((SELECT committed_rows FROM hcledger.status WHERE ledger = 'hcledger.codes'::regclass), NULL, 'the status view does not count rows for it');
RESET ROLE;
SET ROLE regress_issuer;
SELECT lives_ok($$SELECT issue_code(pg_temp.traveller('Fay Lam', 'F6000006'))$$, 'an issuer can issue');
SELECT throws_ok($$SELECT count(*) FROM hcledger.codes$$, '42501', NULL, 'but not list credentials');
SELECT throws_ok($$SELECT add_key('regress-health', 'es256-x', 'es256', credential_public_key())$$, '42501', NULL, 'nor register keys');
SELECT throws_ok($$SELECT seal()$$, '42501', NULL, 'nor seal');
RESET ROLE;
SET ROLE regress_auditor;
SELECT is((SELECT count(*) FROM hcledger.codes WHERE entry = 'issue'), 7::bigint, 'an auditor can read the ledger');
SELECT is((SELECT count(*) FROM hcledger.verify_ledger('hcledger.codes')), 0::bigint, 'and verify it');
SELECT throws_ok($$SELECT revoke_code(pg_temp.id('ana'), 'x')$$, '42501', NULL, 'but not change it');
RESET ROLE;
SELECT ok((SELECT bool_and(p.prosecdef AND p.proconfig @> '{"search_path=pg_catalog, pg_temp"}')
           FROM pg_proc p WHERE p.pronamespace = 'hcledger'::regnamespace
            AND p.proname IN ('issue_code', 'set_status', 'revoke_code', 'verify_code', 'add_authority')),
          'the functions that run with more rights are SECURITY DEFINER with a pinned search_path');

-- A ledger row changed behind the triggers' back is caught
CREATE FUNCTION pg_temp.behind_the_back(stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
	ALTER TABLE hcledger.codes DISABLE TRIGGER hcl_append_only;
	EXECUTE stmt;
	ALTER TABLE hcledger.codes ENABLE ALWAYS TRIGGER hcl_append_only;
	ALTER EVENT TRIGGER hcledger_ddl_guard ENABLE ALWAYS;
END $$;
SELECT seal('hcledger.codes');
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET colour = 'green' WHERE credential_id = %L AND entry = 'issue'$$, pg_temp.id('bo')));
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET valid_until = valid_until + interval '1 year' WHERE credential_id = %L$$, pg_temp.id('dora')));
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET colour = 'red' WHERE credential_id = %L$$, pg_temp.id('eli')));
SELECT results_eq($$SELECT verdict, colour, reason FROM verify_code(pg_temp.p('eli'))$$,
                  $$SELECT 'tampered', NULL::text, format('ledger row %s does not match what was sealed', hcl_row) FROM codes WHERE credential_id = pg_temp.id('eli')$$,
                  'a ledger row changed behind the back is tampering, located by row');
SELECT results_eq($$SELECT verdict FROM verify_code(pg_temp.p('dora'))$$, $$VALUES ('tampered')$$,
                  'an extended validity in the ledger does not match the signed code');
SELECT results_eq($$SELECT verdict, colour FROM verify_code(pg_temp.p('bo'))$$, $$VALUES ('tampered', NULL::text)$$,
                  'a changed issue row is tampering even when a later status decides the colour');
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET colour = 'red' WHERE credential_id = %L AND entry = 'status' AND reason = 'cleared'$$, pg_temp.id('bo')));
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET colour = 'yellow' WHERE credential_id = %L AND entry = 'issue'$$, pg_temp.id('bo')));
SELECT results_eq($$SELECT verdict, colour FROM verify_code(pg_temp.p('bo'))$$, $$VALUES ('tampered', NULL::text)$$,
                  'a latest status turned from green to red behind the back is tampering');
SELECT ok((SELECT count(*) >= 3 FROM verify_ledger('hcledger.codes')), 'verify_ledger reports the changed rows too');
-- put them back, for the tests that follow
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET colour = 'green' WHERE credential_id = %L AND entry = 'status' AND reason = 'cleared'$$, pg_temp.id('bo')));
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET valid_until = valid_until - interval '1 year' WHERE credential_id = %L$$, pg_temp.id('dora')));
SELECT pg_temp.behind_the_back(format($$UPDATE hcledger.codes SET colour = 'green' WHERE credential_id = %L$$, pg_temp.id('eli')));
SELECT is((SELECT count(*) FROM verify_ledger('hcledger.codes')), 0::bigint, 'restored, the ledger verifies again');

-- A code the ledger has no record of (its issue row removed behind the back)
CREATE TABLE kept AS SELECT * FROM hcledger.codes WHERE credential_id = pg_temp.id('eli');
SELECT pg_temp.behind_the_back(format($$DELETE FROM hcledger.codes WHERE credential_id = %L$$, pg_temp.id('eli')));
SELECT results_eq($$SELECT verdict, reason FROM verify_code(pg_temp.p('eli'))$$,
                  $$VALUES ('not found', 'the code is signed by "regress-health" but its ledger here has no record of it')$$,
                  'a validly signed code the ledger does not hold is not found');
SELECT pg_temp.behind_the_back($$INSERT INTO hcledger.codes OVERRIDING SYSTEM VALUE SELECT * FROM kept$$);
SELECT is(pg_temp.verdict(pg_temp.p('eli')), 'not yet valid', 'restored, it is known again');

-- Selective disclosure (HCL3:, docs/health-codes.md): the claims shown are checked, no more
INSERT INTO issued SELECT 'sid', * FROM issue_code(pg_temp.traveller('Sid Da', 'S1000001'), selective => true);
SELECT seal('hcledger.codes');
SELECT is(left(pg_temp.p('sid'), 5), 'HCL3:', 'a selective code is an HCL3: payload');
SELECT is(pg_temp.verdict(pg_temp.p('sid')), 'valid', 'it verifies');
SELECT is(code_claims(pg_temp.p('sid')), pg_temp.traveller('Sid Da', 'S1000001'), 'in full it shows every claim');
SELECT is(code_claims(code_disclose(pg_temp.p('sid'), '{name,test_result}')), '{"name": "Sid Da", "test_result": "negative"}'::jsonb,
          'a presentation shows only the claims named');
SELECT is(pg_temp.verdict(code_disclose(pg_temp.p('sid'), '{name,test_result}')), 'valid', 'and verifies');
SELECT is(pg_temp.verdict(code_disclose(pg_temp.p('sid'), '{declaration}')), 'valid', 'a nested claim is one claim');
SELECT results_eq($$SELECT selective, disclosure_problem IS NULL, split_part(convert_from(message, 'UTF8'), E'\n', 1) = 'hcledger-credential/3'
                      FROM code_decode(code_disclose(pg_temp.p('sid'), '{name}'))$$,
                  $$VALUES (true, true, true)$$, 'code_decode: selective, nothing wrong, message version 3');
SELECT is(convert_from(code_message('a', 'k', '\x00000000000000000000000000000000', '2026-01-01', '2026-01-01', '2026-01-02',
                                    sha256(''), 'sm2', true), 'UTF8') ~ '^hcledger-credential-sm2/3\n', true,
          'code_message makes version 3 of either algorithm''s message');
-- the HCL3: test vector of docs/health-codes.md ("Selective disclosure")
SELECT results_eq($$SELECT problem IS NULL, algorithm, selective, disclosure_problem IS NULL, authority, key_id, encode(credential_id, 'hex'),
                           extract(epoch FROM issued_at)::bigint, extract(epoch FROM valid_from)::bigint, extract(epoch FROM valid_until)::bigint,
                           encode(commitment, 'hex'), length(message),
                           ecdsa_p256_verify('\x042f5151b4bb8482e7c3c6d4132fb4970774657d212cee12c4eabc01e157167c57a88e5154a901edab1d5d2a61291be208a8d4205ef1637e5f8a63a166028b073a',
                                             message, signature),
                           encode(signature, 'hex')
                      FROM code_decode('HCL3:9B0D19PVH9XGP$NP/B4S48ZR3$S000H204O23YB000H204O23YB000H20QV3X0S7%6X/4SWR.SO6IEPBE1M92U3BPDCCNGJSP43V3V4JO$LVC8VXJS6.N-68Z07SEJ+FKA05YXRK+BEI3S4K3NFV8E8$5 NS 7QB$DGPCR EZQEBZD6$CSF69%6.861L0JY3.55Y%JW.4BL2T-ABQM4T3I/EYUND%A$*6RF4.*8F*1KQ11CWR50O-BR5JPXFZ7BVWV9EGRS93+E1FS3.GRVB%IPBUGGD23*60-3DBLAD6FIR9XHF8PIFSZ$2D5ASI5GITRH202K6C11BHWZGQ0HFDLAE11FAB3AX/JF0F15M*-I3FV8*6$66+6ITQ0Y7LUKPR8O-J0Z+FG 9EV3F-B9XQ$08UWTDH6IUN$TBM7UIISC9MFKNS1BV7NFQJV76%DC0NMSIJB9VEO1F8RH/PNPHO/B.OR%ANCM4KDD/%2$7UY%FAYC*JQ5JC:E0.R0*/3DCHZC3  PWHDQ%QI*KPUIQK5R42XM1RU2O.KX/RX:K5ESE8K%LOOAE114JKRV50214FFE4MOOW0-OA 5IN+A.PUXBJ*F4BECFZC3Q5LN8CECMF4')$$,
                  $$VALUES (true, 'es256', true, true, 'macau-ssm', 'es256-1', 'f8476b8c058466bc895eab2494dbc2e4',
                            1796476509::bigint, 1796476509::bigint, 1797081309::bigint,
                            '1b8a6df557dec7323ff99db395dfa51730864357329c0268bd40027c224b2539', 171, true,
                            '9d362b2754db4fc2ee71ee70c64b101d036b45b817e0e31888f5ddc133f90df6abe0f4bd57407f378298dda0ff2797db825e1f1af39f047ab570452e16e1abcf')$$,
                  'the docs'' HCL3: vector decodes to its documented fields, and its ES256 signature verifies');
SELECT is(code_claims('HCL3:9B0D19PVH9XGP$NP/B4S48ZR3$S000H204O23YB000H204O23YB000H20QV3X0S7%6X/4SWR.SO6IEPBE1M92U3BPDCCNGJSP43V3V4JO$LVC8VXJS6.N-68Z07SEJ+FKA05YXRK+BEI3S4K3NFV8E8$5 NS 7QB$DGPCR EZQEBZD6$CSF69%6.861L0JY3.55Y%JW.4BL2T-ABQM4T3I/EYUND%A$*6RF4.*8F*1KQ11CWR50O-BR5JPXFZ7BVWV9EGRS93+E1FS3.GRVB%IPBUGGD23*60-3DBLAD6FIR9XHF8PIFSZ$2D5ASI5GITRH202K6C11BHWZGQ0HFDLAE11FAB3AX/JF0F15M*-I3FV8*6$66+6ITQ0Y7LUKPR8O-J0Z+FG 9EV3F-B9XQ$08UWTDH6IUN$TBM7UIISC9MFKNS1BV7NFQJV76%DC0NMSIJB9VEO1F8RH/PNPHO/B.OR%ANCM4KDD/%2$7UY%FAYC*JQ5JC:E0.R0*/3DCHZC3  PWHDQ%QI*KPUIQK5R42XM1RU2O.KX/RX:K5ESE8K%LOOAE114JKRV50214FFE4MOOW0-OA 5IN+A.PUXBJ*F4BECFZC3Q5LN8CECMF4'), '{"name": "Chan"}'::jsonb, 'and shows the name only');
SELECT throws_ok($$SELECT code_disclose(pg_temp.p('ana'), '{name}')$$, '22023', 'only an HCL3: code discloses its claims one by one',
                 'an HCL1: code cannot be presented in part');
SELECT throws_ok($$SELECT code_disclose(pg_temp.p('sid'), '{passport}')$$, '22023', 'the code discloses no claim named "passport"',
                 'nor a claim it does not hold');
SELECT throws_ok($$SELECT code_disclose(pg_temp.p('sid'), ARRAY[NULL])$$, '22004', NULL, 'a NULL name is refused');
SELECT throws_ok($$SELECT code_disclose('HCL3:', '{name}')$$, '22P02', NULL, 'as is a payload that is no code');

-- Status snapshots recorded in the ledger (docs/offline-verification.md)
CREATE FUNCTION pg_temp.bundle_snapshot(b bytea, auth text) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	head text := convert_from(substr(b, 1, position('\x0a'::bytea IN substr(b, position('\x0a'::bytea IN b) + 1)) + position('\x0a'::bytea IN b)), 'UTF8');
	pos int := octet_length(convert_to(head, 'UTF8')) + split_part(head, E'\n', 2)::int + 1;
	nl int;
	f text[];
BEGIN
	LOOP
		nl := position('\x0a'::bytea IN substr(b, pos));
		EXIT WHEN nl = 0;
		f := string_to_array(convert_from(substr(b, pos, nl - 1), 'UTF8'), ' ');
		pos := pos + nl;
		IF f[1] = 'snapshot' THEN
			IF f[2] = auth THEN RETURN substr(b, pos, f[3]::int); END IF;
			pos := pos + f[3]::int;
		END IF;
	END LOOP;
	RETURN NULL;
END $$;
SELECT seal('hcledger.codes');
CREATE TEMP TABLE bundle AS SELECT trust_bundle() AS b;
GRANT SELECT ON bundle TO regress_auditor;
SELECT is((SELECT count(*) FROM hcledger.codes WHERE entry = 'snapshot'), (SELECT count(*) FROM hcledger.authorities),
          'a trust bundle records each of its snapshots in the codes ledger');
SELECT is((SELECT count(*) FROM hcledger.codes c, bundle
            WHERE c.entry = 'snapshot' AND c.authority = 'regress-health' AND c.reason = 'regress-health'
              AND c.commitment = sha256(pg_temp.bundle_snapshot(bundle.b, 'regress-health'))
              AND c.credential_id = (status_snapshot_header(pg_temp.bundle_snapshot(bundle.b, 'regress-health'))).salt),
          1::bigint, 'its record holds the snapshot''s salt and SHA-256, the recorder and the authority stated');
SELECT throws_ok($$INSERT INTO hcledger.codes (entry, credential_id, authority, at, reason)
                   VALUES ('snapshot', '\x00000000000000000000000000000000', 'regress-health', now(), 'regress-health')$$,
                 '23514', NULL, 'a snapshot entry without its hash is refused');
SELECT results_eq($$SELECT verdict, commitment_sealing, problems FROM bundle, check_status_snapshot(pg_temp.bundle_snapshot(b, 'regress-health'))$$,
                  $$VALUES ('consistent', 'pending', 0::bigint)$$,
                  'the bundle''s snapshot is recorded, not yet sealed, and agrees with the log');
SELECT seal('hcledger.codes');
SELECT results_eq($$SELECT verdict, commitment_sealing, authority FROM bundle, check_status_snapshot(pg_temp.bundle_snapshot(b, 'regress-health'))$$,
                  $$VALUES ('consistent', 'sealed', 'regress-health')$$,
                  'sealed after the next seal');
SELECT ok((SELECT codes_checked > 0 FROM bundle, check_status_snapshot(pg_temp.bundle_snapshot(b, 'regress-health'))),
          'and the check covers the authority''s codes');
SELECT is((SELECT verdict FROM check_status_snapshot(status_snapshot('regress-health'))), 'not committed',
          'a snapshot made outside a bundle is not recorded');
SELECT throws_ok($$SELECT * FROM check_status_snapshot('\x00')$$, '22P03',
                 'the status snapshot is malformed: it does not start with hcledger-status/1', 'a malformed snapshot is refused');
SET ROLE regress_auditor;
SELECT is((SELECT verdict FROM bundle, check_status_snapshot(pg_temp.bundle_snapshot(b, 'regress-health'))), 'consistent',
          'an auditor checks a snapshot');
RESET ROLE;
SET ROLE regress_officer;
SELECT throws_ok($$SELECT * FROM check_status_snapshot('\x00')$$, '42501', NULL, 'a verifier may not');
RESET ROLE;

-- Key revocation: codes issued before it stay valid, after it do not
SELECT pg_sleep(1.1);
INSERT INTO issued SELECT 'gil', * FROM issue_code(pg_temp.traveller('Gil Sa', 'G7000007'));
SELECT seal('hcledger.codes');
SELECT revoke_key('regress-health', 'es256-1', (SELECT issued_at FROM code_decode(pg_temp.p('gil'))), 'key compromised');
SELECT results_eq($$SELECT verdict, left(reason, 29) FROM verify_code(pg_temp.p('gil'))$$,
                  $$VALUES ('bad signature', 'key "es256-1" was revoked at ')$$,
                  'a code signed at or after its key''s revocation is refused');
SELECT is(pg_temp.verdict(pg_temp.p('ana')), 'valid', 'a code signed before the revocation stays valid');
SELECT throws_ok($$SELECT issue_code(pg_temp.traveller('H', 'H8'))$$, '55000', NULL, 'no code is issued with a revoked key');

-- A key rotated within the second a code was issued (issue times are whole
-- seconds) still signed that code
SELECT add_key('regress-health', 'es256-3', 'es256', credential_public_key(), now() - interval '1 second');
INSERT INTO issued SELECT 'rot', * FROM issue_code(pg_temp.traveller('Rui Tam', 'R9000009'));
SELECT is((SELECT key_id FROM code_decode(pg_temp.p('rot'))), 'es256-3', 'a code signed with the key registered after the revocation');
SELECT rotate_key('regress-health', 'es256-4', 'es256', credential_public_key(),
                  (SELECT issued_at FROM code_decode(pg_temp.p('rot'))) + interval '0.5 second', replaces => 'es256-3');
SELECT seal('hcledger.codes');
SELECT is(pg_temp.verdict(pg_temp.p('rot')), 'valid', 'stays valid when its key is rotated half a second into the second it was issued');

SELECT * FROM finish();
DROP TABLE issued, kept, bundle;
DROP OWNED BY regress_issuer, regress_officer, regress_auditor, regress_admin;
DROP ROLE regress_issuer, regress_officer, regress_auditor, regress_admin;
