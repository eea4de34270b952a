# Consortium loose ends (docs/consortium.md, runbook): how fresh a member's
# word is, bounded checkpoints, and deciding one refusal again.  Guangdong
# issues codes; Macau verifies them.
#  - freshness: with Guangdong's server stopped for longer than
#    hcledger.peer_max_age, its codes verify "stale" in Macau (Macau's own
#    codes stay valid) and member_status says so; back to "valid" once it
#    is running again; an idle but running member stays fresh;
#  - bounded checkpoints: published entries over 65,536, or a note over
#    64 KiB, are refused with that reason as they arrive, and not kept; a
#    checkpoint of exactly 65,536 entries is not refused for its size; nor
#    is a cosignature of a body over 64 KiB read;
#  - deciding again: a checkpoint signed with a key not yet valid in the
#    registry is refused (and the next, for the same cause); decided again
#    while the cause remains, they are refused again (new refusals); once
#    the member registers the key properly, decided again, they and the
#    checkpoint quarantined behind them are accepted, the decision
#    recorded, and the member's codes verify.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;

my $keys = PostgreSQL::Test::Utils::tempdir();
my ($mo, $mo_card) = member($keys, 'macau', 1);
my ($gd, $gd_card) = member($keys, 'guangdong', 1);
# Macau polls its links every half second and judges members by a 3 s limit.
$mo->append_conf('postgresql.conf', "wal_receiver_timeout = '1s'\nhcledger.peer_max_age = '3s'\n");
$mo->reload;

$gd->safe_psql('postgres', "SELECT hcledger.admit_member('macau')");
$mo->safe_psql('postgres', "SELECT hcledger.admit_member('guangdong')");
(my $c = $gd_card) =~ s/'/''/g;
(my $conn = $gd->connstr('postgres')) =~ s/'/''/g;
$mo->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub issue
{
	my ($node, $doc) = @_;
	return value($node, qq{SELECT payload FROM hcledger.issue_code('{"name": "Traveller $doc", "document_number": "$doc"}')});
}
sub verdict { my ($node, $payload) = @_; return value($node, "SELECT verdict || coalesce(': ' || reason, '') FROM hcledger.verify_code('$payload')"); }
sub wait_verdict
{
	my ($node, $payload, $want, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT verdict = '$want' FROM hcledger.verify_code('$payload')"), $what)
	  or diag(verdict($node, $payload) . "\n" . value($node, 'SELECT * FROM hcledger.refused; SELECT * FROM hcledger.member_status'));
}

# 1. Freshness.
my $gd_code = issue($gd, 'GD-1');
my $mo_code = issue($mo, 'MO-1');
wait_verdict($mo, $gd_code, 'valid', 'a Guangdong code verifies in Macau');
sleep 5;	# longer than the limit, with Guangdong idle but running
is(verdict($mo, $gd_code), 'valid', 'an idle member whose server answers stays fresh past the limit');
is(value($mo, "SELECT stale FROM hcledger.member_status WHERE authority = 'guangdong'"), 'f', 'member_status: not stale');
ok(value($mo, "SELECT state_age < interval '3s' FROM hcledger.member_status WHERE authority = 'guangdong'") eq 't',
	'member_status shows how old Macau\'s knowledge of Guangdong is');
$gd->stop;
wait_verdict($mo, $gd_code, 'stale', 'with Guangdong down past the limit, its code verifies stale');
# polled, as below: a checkpoint Guangdong signed as it stopped may reach Macau late on a loaded
# machine and make it fresh again for a moment (member_status and verify_code read the same
# member_heard_at); what is checked is the reason a stale verdict gives
my $stale_text;
for (1 .. 120)
{
	$stale_text = verdict($mo, $gd_code);
	last if $stale_text =~ /^stale/;
	diag("not stale yet: $stale_text");
	select(undef, undef, undef, 0.5);
}
like($stale_text, qr/^stale: nothing has been heard from "guangdong" since .* longer than hcledger\.peer_max_age \(00:00:03\): a revocation made there since would not be known here$/,
	'the reason says since when, and why it matters');
ok($mo->poll_query_until('postgres', "SELECT stale FROM hcledger.member_status WHERE authority = 'guangdong'"), 'member_status: stale');
is(verdict($mo, $mo_code), 'valid', 'Macau\'s own codes are unaffected');
$gd->start;
wait_verdict($mo, $gd_code, 'valid', 'once Guangdong runs again its code verifies valid');

# 2. Deciding one refusal again.  Guangdong registers a second node key,
# valid only from an hour on, and signs with it at once: Macau refuses.
openssl('genpkey', '-algorithm', 'ed25519', '-out', "$keys/guangdong-node2.pem");
chmod 0600, "$keys/guangdong-node2.pem";
my $pem = slurp("$keys/guangdong-node2.pem");
openssl('pkey', '-in', "$keys/guangdong-node2.pem", '-pubout', '-out', "$keys/guangdong-node2.pub");
my $pub = slurp("$keys/guangdong-node2.pub");
value($gd, "SELECT hcledger.add_key('guangdong', 'node-2', 'ed25519', convert_to(\$k\$$pub\$k\$, 'UTF8'), now() + interval '1 hour')");
ok($mo->poll_query_until('postgres', "SELECT count(*) = 1 FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'node-2'"),
	'the new key reaches Macau');
$gd->append_conf('postgresql.conf', "hcledger.signing_key_file = '$keys/guangdong-node2.pem'\n");
$gd->reload;
my $early = issue($gd, 'GD-EARLY');
ok($mo->poll_query_until('postgres', "SELECT count(*) > 0 FROM hcledger.refused WHERE authority = 'guangdong' AND kind = 'checkpoint' AND reason LIKE 'its signature does not verify%'"),
	'a checkpoint signed with a key not yet valid is refused');
my $late = issue($gd, 'GD-LATE');
ok($mo->poll_query_until('postgres', "SELECT count(*) > 1 FROM hcledger.refused WHERE authority = 'guangdong' AND reason LIKE 'its signature does not verify%'"),
	'so is the next one, for the same cause');
my $first = value($mo, "SELECT min(id) FROM hcledger.peer_checkpoints WHERE authority = 'guangdong' AND state = 'refused' AND reason LIKE 'its signature does not verify%'");
like(verdict($mo, $early), qr/^not yet sealed/, 'the code under it is not taken as sealed');

# decided again while its cause remains: refused again, recorded
is(value($mo, "SELECT hcledger.decide_again($first, 'asked too early')"), 'refused', 'decided again while the key is not yet valid: refused again');
is(value($mo, "SELECT count(*) FROM hcledger.refusals WHERE authority = 'guangdong' AND kind = 'checkpoint' AND reason LIKE 'its signature does not verify%'"),
	'4', 'new refusals are recorded (the later checkpoint is decided again too)');
is(value($mo, "SELECT count(*) FROM hcledger.refused WHERE authority = 'guangdong' AND reason LIKE 'its signature does not verify%'"),
	'2', 'the old ones are acknowledged with the outcome, the new ones stay to be seen');
is(value($mo, "SELECT string_agg(DISTINCT acknowledgement, ',') FROM hcledger.refusals WHERE authority = 'guangdong' AND acknowledged_at IS NOT NULL"),
	'decided again (asked too early): refused', 'the acknowledgement says what the decision was');
my ($rc, $out, $err) = $mo->psql('postgres', "SELECT hcledger.decide_again($first, '')");
like($err, qr/a reason is required/, 'a reason is required');
($rc, $out, $err) = $mo->psql('postgres', "SELECT hcledger.decide_again(-1, 'nothing')");
like($err, qr/there is no refused checkpoint -1/, 'only a refused checkpoint can be decided again');

# the member fixes the registration as the runbook says: the same key under a new id, valid
# from before it signed (a registered key's start cannot change); decided again: accepted
value($gd, "SELECT hcledger.add_key('guangdong', 'node-2b', 'ed25519', convert_to(\$k\$$pub\$k\$, 'UTF8'), now() - interval '1 hour')");
ok($mo->poll_query_until('postgres', "SELECT count(*) = 1 FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'node-2b'"),
	'the fixed registration reaches Macau');
my $after_fix = issue($gd, 'GD-FIXED');
ok($mo->poll_query_until('postgres', "SELECT count(*) > 0 FROM hcledger.refused WHERE authority = 'guangdong' AND reason LIKE 'it extends the refused checkpoint%'"),
	'a checkpoint signed after the fix is quarantined behind the refused ones');
# with nothing heard from Guangdong for longer than the limit, a decision taken now does not make its word fresh
value($mo, "SELECT format('ALTER SUBSCRIPTION %I DISABLE', subscription) FROM hcledger.members WHERE authority = 'guangdong' \\gexec");
sleep 4;
is(value($mo, "SELECT hcledger.decide_again($first, 'node-2 registered late, fixed by Guangdong')"), 'accepted',
	'decided again after the fix: accepted');
like(verdict($mo, $after_fix), qr/^stale: /, 'accepting old checkpoints now does not make the member\'s word fresh');
value($mo, "SELECT format('ALTER SUBSCRIPTION %I ENABLE', subscription) FROM hcledger.members WHERE authority = 'guangdong' \\gexec");
is(value($mo, "SELECT count(*) FROM hcledger.peer_checkpoints WHERE authority = 'guangdong' AND state = 'refused'"),
	'0', 'the later checkpoints, refused for the same cause or quarantined, are decided again too');
is(value($mo, "SELECT count(*) FROM hcledger.refused WHERE authority = 'guangdong'"), '0', 'nothing is left refused');
like(value($mo, "SELECT detail FROM hcledger.member_events WHERE event = 'decided again' ORDER BY event_id DESC LIMIT 1"),
	qr/^checkpoint $first \(size \d+\): accepted; node-2 registered late, fixed by Guangdong$/, 'the decision is recorded');
wait_verdict($mo, $early, 'valid', 'the code signed under it verifies');
wait_verdict($mo, $late, 'valid', 'and so do the later ones');
wait_verdict($mo, $after_fix, 'valid', 'the quarantined one too');
my $after = issue($gd, 'GD-AFTER');
wait_verdict($mo, $after, 'valid', 'later checkpoints are accepted as they come');

# 3. Bounded checkpoints, refused as they arrive.
sub insert_checkpoint
{
	my ($size, $note_sql, $leaves_sql) = @_;
	value($gd, qq{INSERT INTO hcledger.checkpoints (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves)
		SELECT l.ledger_id, $size, repeat('00', 32)::hcledger.hash256, $size, now(), repeat('00', 32)::hcledger.hash256, l.origin || E'\\n$size\\n',
		       repeat('00', 32)::hcledger.hash256, $note_sql, $leaves_sql
		  FROM hcledger.ledgers l WHERE l.relid = 'hcledger.codes'::regclass});
}
sub wait_refused
{
	my ($subject, $like, $what) = @_;
	ok($mo->poll_query_until('postgres', "SELECT count(*) > 0 FROM hcledger.refused WHERE authority = 'guangdong' AND subject = '$subject' AND reason LIKE '$like'"), $what)
	  or diag(value($mo, 'SELECT * FROM hcledger.refused'));
}
insert_checkpoint(1000001, q{'x'}, q{decode(repeat('00', 40 * 65537), 'hex')});
wait_refused('checkpoint of size 1000001', 'its published log entries are 2621480 bytes, more than the 65,536 entries%',
	'a checkpoint publishing 65,537 entries is refused for its size');
is(value($mo, "SELECT state || '/' || (leaves IS NULL AND note IS NULL)::text FROM hcledger.peer_checkpoints WHERE tree_size = 1000001"),
	'refused/true', 'and kept without its entries or note');
insert_checkpoint(1000002, q{repeat('n', 65537)}, q{decode(repeat('00', 40), 'hex')});
wait_refused('checkpoint of size 1000002', 'its signed note is 65537 bytes, more than the 65,536%', 'a note over 64 KiB is refused for its size');
insert_checkpoint(1000003, q{'x'}, q{decode(repeat('00', 40 * 65536), 'hex')});
wait_refused('checkpoint of size 1000003', '%', 'a checkpoint of exactly 65,536 entries is decided');
unlike(value($mo, "SELECT reason FROM hcledger.refused WHERE subject = 'checkpoint of size 1000003'"), qr/65,536/,
	'not refused for its size');
value($gd, q{INSERT INTO hcledger.cosignatures (witness, origin, tree_size, root, cosigned_at, body, signature)
	VALUES ('guangdong', 'big', 1, repeat('00', 32)::hcledger.hash256, date_trunc('second', now()), repeat('b', 70000), decode(repeat('00', 64), 'hex'))});
ok($mo->poll_query_until('postgres', "SELECT count(*) > 0 FROM hcledger.refused WHERE kind = 'cosignature' AND reason LIKE 'the checkpoint body it signs is 70000 bytes, more than the 65,536%'"),
	'a cosignature of a body over 64 KiB is refused for its size') or diag(value($mo, 'SELECT * FROM hcledger.refused'));
value($gd, "DELETE FROM hcledger.cosignatures WHERE origin = 'big'");
value($gd, 'DELETE FROM hcledger.checkpoints WHERE tree_size > 1000000');
value($mo, "SELECT hcledger.acknowledge_refusal(refusal_id, 'test checkpoints') FROM hcledger.refused");

done_testing();
