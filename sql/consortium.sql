-- The consortium's pieces on one server: the log entries and their
-- extension (against the Merkle functions), a peer row's leaf, the member
-- functions' errors and privileges, the replica triggers refusing what no
-- member's subscription sent, refusals and their acknowledgement, a member
-- that left.  Several servers replicating: test/t/005_consortium.pl.
-- Runs after codes.sql, whose authority "regress-health" is local here.
SET search_path = public, hcledger;
BEGIN;
SELECT plan(46);

-- Log entries: 8-byte row number and 32-byte leaf hash each.
CREATE TEMP TABLE leaf AS
	SELECT i, hcledger.leaf_hash(convert_to('leaf ' || i, 'UTF8')) AS h FROM generate_series(1, 300) i;
CREATE FUNCTION pg_temp.entries(a int, b int) RETURNS bytea LANGUAGE sql AS $$
	SELECT coalesce(string_agg(int8send(10 * i::bigint) || h::bytea, ''::bytea ORDER BY i), '\x') FROM leaf WHERE i BETWEEN a AND b
$$;
SELECT results_eq($$SELECT entry, row_number, leaf_hash::text FROM hcledger.log_entries(pg_temp.entries(1, 3))$$,
	$$SELECT i - 1, 10 * i::bigint, h::text FROM leaf WHERE i <= 3 ORDER BY i$$,
	'log_entries reads row numbers and leaf hashes');
SELECT is((SELECT count(*) FROM hcledger.log_entries('\x')), 0::bigint, 'no entries in no bytes');
SELECT is((hcledger.log_extend('\x', 0, pg_temp.entries(1, 300))).root::text,
	(SELECT hcledger.merkle_root_of_leaf_hashes(h ORDER BY i) FROM leaf)::text,
	'extending the empty log with 300 entries gives the RFC 9162 root of their leaves');
SELECT is((hcledger.log_extend('\x', 0, '\x')).root::text, hcledger.sha256('\x')::text, 'the empty log''s root is SHA-256 of nothing');
SELECT is((SELECT count(*) FROM generate_series(0, 300, 7) k
	WHERE (hcledger.log_extend((hcledger.log_extend('\x', 0, pg_temp.entries(1, k))).frontier, k, pg_temp.entries(k + 1, 300))).root::text
	   <> (SELECT hcledger.merkle_root_of_leaf_hashes(h ORDER BY i) FROM leaf)::text), 0::bigint,
	'extending in two steps, split anywhere, gives the same root (the consistency check)');
SELECT is((SELECT count(*) FROM generate_series(1, 300, 13) k
	WHERE (hcledger.log_extend('\x', 0, pg_temp.entries(1, k))).root::text
	   <> (SELECT hcledger.merkle_root_of_leaf_hashes(h ORDER BY i) FROM leaf WHERE i <= k)::text), 0::bigint,
	'and every prefix has the root of its own leaves');
SELECT is((hcledger.log_extend('\x', 0, pg_temp.entries(1, 300))).tree_size, 300::bigint, 'the new size');
SELECT throws_ok($$SELECT hcledger.log_extend(decode(repeat('00', 32 * 63), 'hex'), 9223372036854775807, decode(repeat('00', 40), 'hex'))$$,
                 '22003', NULL, 'a log cannot grow past 2^63 - 1 leaves (found by fuzz_log_entries)');
SELECT throws_ok($$SELECT hcledger.log_entries('\x0102')$$, '22P03', 'log entries must be a multiple of 40 bytes, not 2',
	'entries of the wrong length are an error');
SELECT throws_ok($$SELECT hcledger.log_extend('\x', 0, '\x00')$$, '22P03', NULL, 'in log_extend too');
SELECT throws_ok($$SELECT hcledger.log_extend('\x00', 5, '\x')$$, '22023', 'the compact range does not fit a tree of 5 leaves',
	'a compact range that does not fit its size is an error');
SELECT throws_ok($$SELECT hcledger.log_extend('\x', -1, '\x')$$, '22023', NULL, 'so is a negative size');

-- A peer's row is hashed as our ledger hashes its own, under the peer's uuid.
SELECT is((SELECT count(*) FROM hcledger.codes c, hcledger.ledgers l
	WHERE l.relid = 'hcledger.codes'::regclass
	  AND hcledger.peer_leaf_hash('hcledger.codes', l.ledger_uuid, c)::text
	   <> hcledger.leaf_hash(hcledger.row_leaf('hcledger.codes', c.hcl_row))::text), 0::bigint,
	'peer_leaf_hash of our own rows under our uuid is their leaf hash');
SELECT ok((SELECT count(*) FROM hcledger.codes) > 10, 'checked on the codes issued by the codes test');
SELECT isnt((SELECT hcledger.peer_leaf_hash('hcledger.codes', '\x00000000000000000000000000000000', c)::text FROM hcledger.codes c LIMIT 1),
	(SELECT hcledger.leaf_hash(hcledger.row_leaf('hcledger.codes', c.hcl_row))::text FROM hcledger.codes c LIMIT 1),
	'another uuid gives another leaf');
SELECT throws_ok($$SELECT hcledger.peer_leaf_hash('hcledger.codes', '\x00', c) FROM hcledger.codes c LIMIT 1$$, '22023',
	'a ledger uuid is 16 bytes, not 1', 'the uuid must be 16 bytes');
SELECT throws_ok($$SELECT hcledger.peer_leaf_hash('hcledger.codes', '\x00000000000000000000000000000000', ROW(1::bigint))$$, '55000',
	NULL, 'a row without the ledger''s columns cannot be hashed');

-- Names.
SELECT is(hcledger.member_slot('Guangdong-Health'), 'hcledger_guangdong_health_' || left(md5('Guangdong-Health'), 8),
	'a member''s slot name is its lower-cased name and a hash');
SELECT is((SELECT string_agg(DISTINCT tgname || ':' || tgenabled::text, ',') FROM pg_trigger
            WHERE tgname IN ('hcl_receive', 'hcl_receive_truncate')),
	'hcl_receive:R,hcl_receive_truncate:R', 'the receiving triggers fire only as replication applies');
SELECT is_empty($$SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'hcledger'::regnamespace AND c.relkind = 'r'
                   AND (NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'hcl_receive'
                                    AND t.tgtype & 28 = 28)
                        OR NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid
                                       AND t.tgname IN ('hcl_receive_truncate', 'hcl_append_only')))$$,
	'every table of the extension has a receiving trigger for inserts, updates and deletes, and one for TRUNCATE (codes: hcl_append_only)');

-- The card.
SELECT is(hcledger.member_card() ->> 'authority', 'regress-health', 'the card names this authority');
SELECT is(hcledger.member_card() ->> 'origin', (SELECT origin FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass), 'and its log');
SELECT is(jsonb_array_length(hcledger.member_card() -> 'keys'), (SELECT count(*)::int FROM hcledger.keys WHERE authority = 'regress-health'),
	'and all its keys');
SELECT is(hcledger.member_card() ->> 'verifier_key', hcledger.ledger_verifier_key('hcledger.codes'),
	'and the verifier key of its checkpoints, in signed-note form');

-- Set-up errors.
SELECT throws_ok($$SELECT hcledger.publish()$$, '55000', 'publishing needs wal_level = logical, not replica', 'publishing needs logical WAL');
SELECT throws_ok($$SELECT hcledger.admit_member(NULL)$$, '22004', NULL, 'admit_member: NULL');
SELECT throws_ok($$SELECT hcledger.admit_member('guangdong')$$, '55000', NULL, 'admit_member: needs logical WAL');
SELECT throws_ok($$SELECT hcledger.dismiss_member('guangdong', '')$$, '22023', 'a reason is required to dismiss a member', 'dismiss_member: a reason');
SELECT throws_ok($$SELECT hcledger.dismiss_member('guangdong', 'gone')$$, '42704', NULL, 'dismiss_member: no such slot');
SELECT throws_ok($$SELECT hcledger.join_member(NULL, 'host=x')$$, '22004', NULL, 'join_member: NULL');
SELECT throws_ok($$SELECT hcledger.join_member('{"authority": "x"}', 'host=x')$$, '22023', 'this is not a member card', 'join_member: not a card');
SELECT throws_ok($$SELECT hcledger.join_member(hcledger.member_card(), 'host=x')$$, '22023',
	'authority "regress-health" is this database itself', 'join_member: ourselves');
SELECT throws_ok($$SELECT hcledger.join_member('{"hcledger_member": 1, "authority": "gd", "origin": "hcledger/hcledger.codes/00112233445566778899aabbccddeeff",
	"keys": [{"key_id": "c", "algorithm": "es256", "public_key": "00"}]}', 'host=x')$$, '22023',
	'the card of "gd" has no ed25519 key to check its checkpoints with', 'join_member: no checkpoint key');
SELECT throws_ok($$SELECT hcledger.leave_member('guangdong', 'x')$$, '42704', 'authority "guangdong" is not a member', 'leave_member: not a member');
SELECT throws_ok($$SELECT hcledger.leave_member('guangdong', ' ')$$, '22023', NULL, 'leave_member: a reason');

-- Outside the apply worker, a write that fires the receiving triggers is refused: it came through no subscription.
SET LOCAL session_replication_role = replica;
INSERT INTO hcledger.codes (entry, credential_id, authority, at, effective_at, reason)
VALUES ('revoke', '\x00000000000000000000000000000000', 'regress-health', now(), now(), 'forged');
RESET session_replication_role;
SELECT is((SELECT count(*) FROM hcledger.codes WHERE reason = 'forged'), 0::bigint, 'a replica-mode write is not let into the ledger');
SELECT is((SELECT kind || ': ' || reason FROM hcledger.refused ORDER BY refusal_id DESC LIMIT 1), 'row: "regress-health" is not a member',
	'it is refused, with the reason');

-- Acknowledging refusals.
SELECT throws_ok(format('SELECT hcledger.acknowledge_refusal(%s, '''')', (SELECT max(refusal_id) FROM hcledger.refusals)), '22023',
	'a note is required to acknowledge a refusal', 'acknowledging needs a note');
SELECT lives_ok(format('SELECT hcledger.acknowledge_refusal(%s, ''our own test'')', (SELECT max(refusal_id) FROM hcledger.refusals)),
	'an administrator acknowledges a refusal');
SELECT is((SELECT count(*) FROM hcledger.refused), 0::bigint, 'it leaves the refused view');
SELECT is((SELECT acknowledgement FROM hcledger.refusals ORDER BY refusal_id DESC LIMIT 1), 'our own test', 'and is kept with its note');
SELECT throws_ok(format('SELECT hcledger.acknowledge_refusal(%s, ''again'')', (SELECT max(refusal_id) FROM hcledger.refusals)), 'P0002',
	NULL, 'it cannot be acknowledged twice');

-- A member that left: its codes are no longer recognised.
SELECT hcledger.add_authority('left-health', 'Left', false);
SELECT hcledger.add_key('left-health', 'es256-1', 'es256', hcledger.credential_public_key(), now() - interval '1 hour');
INSERT INTO hcledger.members (authority, origin, ledger_uuid, subscription, left_at)
VALUES ('left-health', 'hcledger/hcledger.codes/00112233445566778899aabbccddeeff', '\x00112233445566778899aabbccddeeff', 'hcledger_from_left', now());
SELECT is((SELECT verdict FROM hcledger.verify_code((hcledger.code_issue_parts('{"document_number": "L1"}', 'left-health', 'es256-1',
	date_trunc('second', now()), date_trunc('second', now()), date_trunc('second', now()) + interval '1 day')).payload)),
	'unknown authority', 'a code of a member that left is not recognised');

-- Privileges: the member functions are for administrators.
CREATE ROLE regress_consortium_officer IN ROLE hcledger_verifier;
SET LOCAL ROLE regress_consortium_officer;
SELECT throws_ok($$SELECT hcledger.join_member('{}', 'host=x')$$, '42501', NULL, 'a verifier cannot join a member');
SELECT throws_ok($$SELECT hcledger.acknowledge_refusal(1, 'x')$$, '42501', NULL, 'nor acknowledge a refusal');
SELECT throws_ok($$SELECT count(*) FROM hcledger.peer_codes$$, '42501', NULL, 'nor read members'' ledger rows');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
