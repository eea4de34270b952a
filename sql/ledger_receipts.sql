-- Signed checkpoints, receipts and the key registry: receipts made by the
-- database verify, survive a round trip through PostgreSQL's JSON, and any
-- changed byte makes them fail with a reason; the registry picks the key
-- valid when a checkpoint was signed.  (The offline CLI, key files and an
-- independent signature check are in test/t/003_signing.pl.)
SET search_path = public, hcledger;

CREATE TABLE receipts (n int NOT NULL, who text);
SELECT create_ledger('receipts') IS NOT NULL AS created;
INSERT INTO receipts SELECT g, 'person ' || g FROM generate_series(1, 100) g;
SELECT count(*) FROM seal('receipts');
INSERT INTO receipts SELECT g, 'person ' || g FROM generate_series(101, 300) g;
SELECT count(*) FROM seal('receipts');

CREATE TEMP TABLE cps AS
SELECT c.* FROM checkpoints c JOIN ledgers l USING (ledger_id) WHERE l.relid = 'receipts'::regclass;
CREATE TEMP TABLE k AS SELECT signing_public_key() AS pub;
-- The server has an SM2 key (test/regress.conf): every note carries an SM2
-- line after the Ed25519 one.  The receipts tested byte by byte below are
-- without it (a signature line of a key the verifier is not given is
-- ignored, as C2SP says; the SM2 line's own tests follow the first ones).
CREATE FUNCTION no_sm2(t text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(t, '(\\n— [^ "]+ [A-Za-z0-9+/=]+)\\n— [^ "]+ [A-Za-z0-9+/=]+\\n"', '\1\\n"', 'g')
$$;
CREATE TEMP TABLE r AS SELECT no_sm2(ledger_receipt('receipts', 42, 100)) AS receipt;
CREATE TEMP TABLE h AS SELECT no_sm2(ledger_receipt('receipts', 7, 300, false)) AS receipt;
CREATE TEMP TABLE c AS SELECT no_sm2(ledger_consistency_receipt('receipts', 100, 300)) AS receipt;

-- a receipt with byte i changed (XOR 1): every byte of the JSON text
CREATE FUNCTION flipped(t text, i int) RETURNS text LANGUAGE sql AS $$
	SELECT convert_from(set_byte(convert_to(t, 'UTF8'), i, get_byte(convert_to(t, 'UTF8'), i) # 1), 'UTF8')
$$;

SELECT plan(88);

-- signed checkpoints
SELECT is(length(pub), 32, 'the node has an Ed25519 signing key') FROM k;
SELECT is((SELECT count(*) FROM cps WHERE note IS NULL), 0::bigint, 'every checkpoint is signed');
SELECT is_empty($$SELECT tree_size FROM cps WHERE note NOT LIKE body || E'\n— ' || (SELECT origin FROM ledgers WHERE relid = 'receipts'::regclass) || ' %' || E'\n'$$,
                'each note is the body, a blank line and signature lines, the first under the origin');
SELECT is_empty($$SELECT cps.tree_size FROM cps, k, verify_checkpoint(note, pub) v
                  WHERE NOT v.valid OR v.tree_size <> cps.tree_size OR v.root <> cps.root OR v.signed_at <> cps.sealed_at$$,
                'every checkpoint verifies with the node key and states its size, root and time');
SELECT is((SELECT count(*) FROM verify_ledger('receipts')), 0::bigint, 'verify_ledger checks the notes and finds nothing');
SELECT is((SELECT reason FROM cps, verify_checkpoint(note, decode(repeat('ab', 32), 'hex')) WHERE cps.tree_size = 100),
          'no signature by a trusted key for origin "' || (SELECT origin FROM ledgers WHERE relid = 'receipts'::regclass) || '"',
          'another key: no trusted signature');

SELECT ok((SELECT (verify_checkpoint(note || '— witness.example/w1 ' || replace(encode(decode(repeat('ab', 1300), 'hex'), 'base64'), E'\n', '') || E'\n',
                                     pub)).valid FROM cps, k WHERE cps.tree_size = 100),
          'a cosignature line of an unknown key (and a longer signature type) is ignored');

-- the SM2 line (docs/receipts.md, "The SM2 line"), checked here from its description
CREATE TEMP TABLE sm2 AS
SELECT cps.tree_size, note, body, l.origin,
       decode((regexp_match(note, E'\n\n— [^ ]+ [A-Za-z0-9+/=]+\n— ([^ ]+) ([A-Za-z0-9+/=]+)\n$'))[2], 'base64') AS line,
       (regexp_match(note, E'\n\n— [^ ]+ [A-Za-z0-9+/=]+\n— ([^ ]+) ([A-Za-z0-9+/=]+)\n$'))[1] AS name
  FROM cps JOIN ledgers l USING (ledger_id);
SELECT is_empty($$SELECT tree_size FROM sm2 WHERE line IS NULL OR length(line) <> 68 OR name <> origin$$,
                'each note has a second signature line under the origin: a 4-byte key id and a 64-byte signature');
SELECT is_empty($$SELECT tree_size FROM sm2
                   WHERE substr(line, 1, 4) <> substr(sha256(convert_to(origin, 'UTF8') || '\x0aff'::bytea
                                                              || convert_to('hcledger/sm2-sm3', 'UTF8') || sm2_public_key()), 1, 4)$$,
                'its key id is SHA-256(origin || 0x0A || 0xFF || "hcledger/sm2-sm3" || the 65-byte point)[:4]');
SELECT is_empty($$SELECT tree_size FROM sm2 WHERE NOT sm2_verify(sm2_public_key(), convert_to(body, 'UTF8'), substr(line, 5))$$,
                'its signature is SM2 (raw r || s, default identity) of the body, the bytes the Ed25519 line signs');
SELECT ok((SELECT ledger_receipt('receipts', 42, 100) <> receipt AND (verify_receipt(ledger_receipt('receipts', 42, 100), pub)).valid FROM r, k),
          'a receipt carries the SM2 line too (r is without it), and verifies with it');

-- verify_checkpoint_sm2 against the registry
SELECT lives_ok($$SELECT add_authority('sm2-member', 'An SM2 signer', false);
                  SELECT add_key('sm2-member', 'node-1', 'ed25519', (SELECT pub FROM k), now() - interval '1 day');
                  SELECT add_key('sm2-member', 'note-sm2-1', 'sm2', sm2_public_key(), now() - interval '1 day')$$,
                'an authority with the node''s Ed25519 and SM2 keys');
CREATE FUNCTION sm2_reason(n text, required boolean DEFAULT true) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN v.valid THEN 'valid: ' ELSE '' END || v.reason FROM verify_checkpoint_sm2(n, 'sm2-member', required) v
$$;
SELECT is_empty($$SELECT tree_size FROM sm2 s, verify_checkpoint_sm2(note, 'sm2-member') v WHERE NOT v.valid OR v.key_id <> 'note-sm2-1'$$,
                'every note''s SM2 line verifies under the registered key');
SELECT is(sm2_reason(left(note, length(note) - 12) || 'AAAAAA' || right(note, 6)), 'the SM2 signature by key sm2-member/note-sm2-1 does not verify',
          'a changed SM2 signature is refused') FROM sm2 WHERE tree_size = 100;
SELECT is(sm2_reason(left(note, length(note) - 12) || 'AAAAAA' || right(note, 6), false), 'the SM2 signature by key sm2-member/note-sm2-1 does not verify',
          'even where SM2 is not required') FROM sm2 WHERE tree_size = 100;
SELECT is(sm2_reason(left(note, strpos(note, E'\n\n') + 1) || split_part(substr(note, strpos(note, E'\n\n') + 2), E'\n', 1) || E'\n'),
          'the checkpoint has no SM2 signature line by a registered SM2 key of the signer', 'a note stripped of its SM2 line is refused')
  FROM sm2 WHERE tree_size = 100;
SELECT is(sm2_reason(left(note, strpos(note, E'\n\n') + 1) || split_part(substr(note, strpos(note, E'\n\n') + 2), E'\n', 1) || E'\n', false),
          'valid: no SM2 signature is required', 'unless it is not required') FROM sm2 WHERE tree_size = 100;
SELECT is(sm2_reason(note || '— ' || origin || ' ' || replace(encode('\x01020304'::bytea || substr(line, 5), 'base64'), E'\n', '') || E'\n'),
          'signature line 3 is under the origin''s name with key id 01020304, which is none of the signer''s registered keys',
          'a line under the origin by an unknown key is refused') FROM sm2 WHERE tree_size = 100;
SELECT is(sm2_reason(left(note, strpos(note, E'\n\n') + 1) || split_part(substr(note, strpos(note, E'\n\n') + 2), E'\n', 2) || E'\n'
                     || split_part(substr(note, strpos(note, E'\n\n') + 2), E'\n', 1) || E'\n'),
          'valid: SM2 signature by key sm2-member/note-sm2-1', 'the lines in another order: the same verdict (C2SP: order does not matter)')
  FROM sm2 WHERE tree_size = 100;
SELECT is(sm2_reason(note || '— ' || origin || ' ' || replace(encode(substr(line, 1, 4) || substr((SELECT line FROM sm2 WHERE tree_size = 300), 5), 'base64'), E'\n', '') || E'\n'),
          'the SM2 signature by key sm2-member/note-sm2-1 does not verify', 'a second SM2 line by the key, of another note, is refused')
  FROM sm2 WHERE tree_size = 100;
SELECT lives_ok($$SELECT revoke_key('sm2-member', 'note-sm2-1', now() - interval '1 hour', 'compromised')$$, 'revoke the SM2 key');
SELECT alike(sm2_reason(note), 'signed with SM2 key sm2-member/note-sm2-1 at %, at or after its revocation at %', 'a note signed after the revocation is refused')
  FROM sm2 WHERE tree_size = 100;
SELECT is((verify_checkpoint(note, NULL, 'sm2-member')).valid, true, 'verify_checkpoint (Ed25519) is not changed by the SM2 line') FROM sm2 WHERE tree_size = 100;
SELECT is(sm2_reason('not a note'), 'the checkpoint does not end in a newline', 'a malformed note');
SELECT throws_ok($$SELECT verify_checkpoint_sm2('x', NULL)$$, '22004', NULL, 'a NULL authority is an error');

-- receipts verify, in SQL, for every row at both checkpoints
SELECT is_empty($$SELECT x.hcl_row, s.tree_size FROM receipts x, (VALUES (100), (300)) s(tree_size), k,
                  verify_receipt(ledger_receipt('receipts', x.hcl_row, s.tree_size), pub) v
                  WHERE x.hcl_row <= s.tree_size AND NOT (v.valid AND v.row_number = x.hcl_row AND v.tree_size = s.tree_size
                        AND v.leaf_index = x.hcl_row - 1 AND v.kind = 'inclusion')$$,
                'receipts of all 400 (row, checkpoint) pairs verify and say what they prove');
SELECT is((SELECT (verify_receipt(receipt, pub)).reason FROM r, k), 'row 42 is leaf 41 of the signed log of 100 leaves', 'the verdict says what was shown');
SELECT ok((SELECT (verify_receipt(receipt, pub)).valid FROM h, k), 'a receipt of the leaf hash alone verifies');
SELECT is((SELECT (verify_receipt(receipt, pub)).reason FROM c, k), 'the log grew from 100 to 300 leaves without changing its past',
          'a consistency receipt between the two checkpoints verifies');
SELECT is((SELECT receipt::jsonb ->> 'leaf' FROM r), replace(encode(row_leaf('receipts', 42), 'base64'), E'\n', ''), 'the receipt carries the row''s canonical bytes');
SELECT is((SELECT (receipt::jsonb ->> 'leaf_index')::bigint FROM r), (ledger_inclusion_proof('receipts', 42, 100)).leaf_index,
          'and the proof of ledger_inclusion_proof');

-- the text form round-trips through PostgreSQL's own JSON
SELECT is((SELECT receipt_build(decode(j ->> 'leaf', 'base64'), (j ->> 'leaf_hash')::hash256, (j ->> 'leaf_index')::bigint,
                                (j ->> 'tree_size')::bigint,
                                ARRAY(SELECT jsonb_array_elements_text(j -> 'proof'))::hash256[], j ->> 'checkpoint')
           FROM (SELECT receipt::jsonb AS j FROM r) s), (SELECT receipt FROM r), 'receipt: JSON -> parts -> the same text');
SELECT is((SELECT consistency_receipt_build(j ->> 'old_checkpoint', j ->> 'new_checkpoint',
                                            ARRAY(SELECT jsonb_array_elements_text(j -> 'proof'))::hash256[])
           FROM (SELECT receipt::jsonb AS j FROM c) s), (SELECT receipt FROM c), 'consistency receipt: the same');

-- every byte flipped: rejected, with a reason
SELECT is((SELECT count(*) FROM r, k, generate_series(0, octet_length(receipt) - 1) i, verify_receipt(flipped(receipt, i), pub) v
           WHERE v.valid OR v.reason IS NULL OR v.reason = ''), 0::bigint,
          'a receipt with any one byte changed is rejected with a reason');
SELECT is((SELECT count(*) FROM h, k, generate_series(0, octet_length(receipt) - 1) i, verify_receipt(flipped(receipt, i), pub) v
           WHERE v.valid), 0::bigint, 'so is a leaf-hash receipt');
SELECT is((SELECT count(*) FROM c, k, generate_series(0, octet_length(receipt) - 1) i, verify_receipt(flipped(receipt, i), pub) v
           WHERE v.valid), 0::bigint, 'and a consistency receipt');

-- the reason names what is wrong
CREATE FUNCTION changed_at(t text, p int) RETURNS text LANGUAGE sql AS $$
	SELECT overlay(t PLACING CASE WHEN substr(t, p, 1) = '0' THEN '1' ELSE '0' END FROM p FOR 1)
$$;
CREATE FUNCTION reason_after(pattern text, replacement text) RETURNS text LANGUAGE sql AS $$
	SELECT (verify_receipt(regexp_replace(r.receipt, pattern, replacement), k.pub)).reason FROM r, k
$$;
SELECT is(reason_after('"leaf":"aGNs', '"leaf":"aGNt'), 'leaf_hash is not the hash of the leaf', 'a changed leaf');
SELECT is(reason_after('"leaf_hash":"(.)', '"leaf_hash":"\1\1'), 'leaf_hash is not 64 lower-case hex digits', 'a malformed leaf hash');
SELECT is(reason_after('"leaf_index":41', '"leaf_index":40'), 'the inclusion proof does not lead from the leaf to the checkpoint''s root', 'another index');
SELECT is(reason_after('"tree_size":100', '"tree_size":101'), 'tree_size 101 is not the checkpoint''s size 100', 'another size');
SELECT is(reason_after('"row":42', '"row":43'), 'row 43 is not the row number in the leaf (42)', 'another row number');
SELECT is((SELECT (verify_receipt(changed_at(receipt, strpos(receipt, '"proof":["') + 20), pub)).reason FROM r, k), 'the inclusion proof does not lead from the leaf to the checkpoint''s root', 'a changed path element');
SELECT is((SELECT (verify_receipt(changed_at(receipt, strpos(receipt, '\n100\n') + 7), pub)).reason FROM r, k), 'the inclusion proof does not lead from the leaf to the checkpoint''s root', 'a changed root');
SELECT alike(reason_after('hcledger-time ', 'hcledger-time 1'), 'checkpoint: the signature by key % does not verify', 'a changed checkpoint line');
SELECT alike(reason_after('hcledger/public', 'hcledger/Public'), 'checkpoint: no signature by a trusted key for origin "hcledger/Public.receipts/%"', 'a changed origin');
SELECT alike((SELECT (verify_receipt(changed_at(receipt, length(receipt) - 20), pub)).reason FROM r, k),
             'checkpoint: the signature by key % does not verify', 'a changed signature');
SELECT is(reason_after('"format":"hcledger-receipt/1"', '"format":"hcledger-receipt/2"'),
          'the receipt''s format is not hcledger-receipt/1 or hcledger-consistency/1', 'an unknown format');
SELECT is(reason_after('\{', '{"extra":1,'), 'the receipt has an unknown key', 'an unknown key');
SELECT is((verify_receipt('not json', pub)).reason, 'the receipt is not valid JSON', 'not JSON') FROM k;
SELECT is(reason_after('"proof":\[[^]]*\]', '"proof":[]'), 'the inclusion proof does not lead from the leaf to the checkpoint''s root', 'no path');
SELECT alike((SELECT (verify_receipt(replace(receipt, '"old_checkpoint":"', '"old_checkpoint":"X'), pub)).reason FROM c, k),
            'old checkpoint: no signature by a trusted key for origin "Xhcledger/%', 'consistency: a changed old checkpoint');
SELECT alike((SELECT (verify_receipt(changed_at(receipt, strpos(receipt, '"proof":["') + 20), pub)).reason FROM c, k),
            'the log of 300 leaves is not an extension of the log of 100 leaves%', 'consistency: a changed proof');
SELECT throws_ok($$SELECT verify_receipt(receipt, '\x0102') FROM r$$, '22023', NULL, 'a malformed public key is an error');
SELECT ok(verify_receipt(NULL) IS NULL, 'NULL in, NULL out');

-- the key registry: the key valid at the checkpoint's time
SELECT lives_ok($$SELECT add_key('macau', 'mo-1', 'ed25519', (SELECT pub FROM k), now() - interval '1 day')$$, 'add a key');
SELECT is((SELECT row(v.valid, v.authority, v.key_id)::text FROM r, verify_receipt(receipt) v), '(t,macau,mo-1)',
          'without a key argument the registry''s key verifies it, named');
SELECT is((SELECT (verify_receipt(receipt, NULL, 'guangdong')).reason FROM r), 'checkpoint: no signature by a trusted key for origin "' ||
          (SELECT origin FROM ledgers WHERE relid = 'receipts'::regclass) || '"', 'not among another authority''s keys');
-- (times compare in whole seconds, the checkpoint's resolution: rotate a little later)
SELECT lives_ok($$SELECT rotate_key('macau', 'mo-2', 'ed25519', decode(repeat('cd', 32), 'hex'), now() + interval '2 s')$$, 'rotate to a new key');
SELECT is((SELECT (verify_receipt(receipt)).reason FROM r), 'row 42 is leaf 41 of the signed log of 100 leaves', 'history signed before the rotation still verifies with the retired key');
SELECT lives_ok($$SELECT add_key('late', 'l-1', 'ed25519', (SELECT pub FROM k), now() + interval '1 hour');
                  SELECT add_key('revoked', 'r-1', 'ed25519', (SELECT pub FROM k), now() - interval '1 day');
                  SELECT revoke_key('revoked', 'r-1', (SELECT sealed_at FROM cps WHERE tree_size = 100), 'lost laptop')$$,
                'keys valid too late, and revoked at the checkpoint''s time');
SELECT alike((SELECT (verify_receipt(receipt, NULL, 'late')).reason FROM r), 'checkpoint: signed by key late/l-1 at %, before it became valid at %', 'a key not yet valid');
SELECT alike((SELECT (verify_receipt(receipt, NULL, 'revoked')).reason FROM r), 'checkpoint: signed by key revoked/r-1 at %, at or after its revocation at %', 'a key revoked from that time on');

SELECT ok(verify_signature('macau', convert_to((SELECT body FROM cps WHERE tree_size = 100), 'UTF8'),
                            substr(decode(substring((SELECT note FROM cps WHERE tree_size = 100) FROM '\n\n— \S+ (\S+)\n'), 'base64'), 5),
                            (SELECT sealed_at FROM cps WHERE tree_size = 100)),
          'verify_signature: the checkpoint signature, with the macau key valid at its time');
SELECT ok(NOT verify_signature('macau', convert_to((SELECT body FROM cps WHERE tree_size = 100), 'UTF8'),
                               substr(decode(substring((SELECT note FROM cps WHERE tree_size = 100) FROM '\n\n— \S+ (\S+)\n'), 'base64'), 5),
                               now() + interval '1 minute'),
          'but not as if made after the rotation');

-- registry errors
SELECT throws_ok($$SELECT add_key('macau', 'mo-3', 'ed25519', '\x0102')$$, '22023', NULL, 'add_key: not a key');
SELECT throws_ok($$SELECT add_key('macau', 'mo-3', 'es256', (SELECT pub FROM k))$$, '22023', NULL, 'add_key: an Ed25519 key as ES256');
SELECT throws_ok($$SELECT add_key('macau', 'mo-1', 'ed25519', (SELECT pub FROM k))$$, '23505', NULL, 'add_key: a key id used before');
SELECT throws_ok($$SELECT add_key('macau', 'mo-3', 'rsa', (SELECT pub FROM k))$$, '22023', NULL, 'add_key: an unknown algorithm');
SELECT throws_ok($$SELECT add_key('a/b', 'x', 'ed25519', (SELECT pub FROM k))$$, '22023', NULL, 'add_key: a slash in the authority');
SELECT throws_ok($$SELECT add_key('macau', 'mo-3', 'ed25519', (SELECT pub FROM k), now(), now() - interval '1 s')$$, '22023', NULL,
                 'add_key: valid_until before valid_from');
SELECT throws_ok($$SELECT add_key('macau', NULL, 'ed25519', (SELECT pub FROM k))$$, '22004', NULL, 'add_key: a NULL argument');
SELECT throws_ok($$SELECT rotate_key('macau', 'mo-9', 'ed25519', (SELECT pub FROM k), NULL)$$, '22004', NULL, 'rotate_key: a NULL time');
SELECT throws_ok($$SELECT revoke_key('macau', 'mo-2', NULL)$$, '22004', NULL, 'revoke_key: a NULL time');
SELECT throws_ok($$SELECT rotate_key('nobody', 'n-1', 'ed25519', (SELECT pub FROM k))$$, 'P0002', NULL, 'rotate_key: no key to rotate');
SELECT throws_ok($$SELECT revoke_key('macau', 'nope')$$, '42704', NULL, 'revoke_key: no such key');
SELECT throws_ok($$SELECT revoke_key('revoked', 'r-1')$$, '55000', NULL, 'revoke_key: already revoked');
CREATE ROLE receipt_reader;
GRANT USAGE ON SCHEMA hcledger TO receipt_reader;
SET ROLE receipt_reader;
SELECT throws_ok($$SELECT hcledger.add_key('mallory', 'm-1', 'ed25519', '\x00')$$, '42501', NULL, 'only admins add keys');
SELECT throws_ok($$SELECT hcledger.revoke_key('macau', 'mo-2')$$, '42501', NULL, 'or revoke them');
SELECT throws_ok($$DELETE FROM hcledger.keys$$, '42501', NULL, 'or edit the registry');
RESET ROLE;

-- receipts that cannot be made
SELECT throws_ok($$SELECT ledger_receipt('receipts', 42, 150)$$, 'P0002', NULL, 'no checkpoint of that size');
SELECT throws_ok($$SELECT ledger_receipt('receipts', 250, 100)$$, '22023', NULL, 'a row sealed after that checkpoint');
SELECT throws_ok($$SELECT ledger_receipt('receipts', 5000)$$, 'P0002', NULL, 'a row that is not sealed');
SELECT throws_ok($$SELECT ledger_consistency_receipt('receipts', 300, 100)$$, '22023', NULL, 'consistency backwards');
SELECT throws_ok($$SELECT receipt_build('\x01', hcledger.sha256('\x01'), 0, 1, '{}', 'x')$$, '22023', NULL, 'receipt_build: a leaf too short to be a row');
SELECT throws_ok($$SELECT receipt_build(NULL, hcledger.sha256('\x01'), -1, 1, '{}', 'x')$$, '22023', NULL, 'receipt_build: a negative index');
SELECT throws_ok($$SELECT receipt_build(NULL, hcledger.sha256('\x01'), 0, 1, array_fill(hcledger.sha256('\x01'), ARRAY[70]), 'x')$$, '22023', NULL,
                 'receipt_build: a proof longer than any proof');
SELECT is((SELECT count(*) FROM generate_series(0, 299) i WHERE ledger_row_at('receipts', i) <> (SELECT hcl_row FROM receipts ORDER BY hcl_row OFFSET i LIMIT 1)),
          0::bigint, 'ledger_row_at: the row at each log position, for receipts by position');
SELECT throws_ok($$SELECT ledger_row_at('receipts', 300)$$, '22023', NULL, 'ledger_row_at: a position outside the log');

SELECT * FROM finish();
