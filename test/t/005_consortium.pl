# A consortium of three authorities on loopback servers (docs/consortium.md):
# Macau and Guangdong issue health codes, a third member witnesses.  Each
# publishes its ledger over logical replication and subscribes to the others.
#  - codes issued at one verify at the other, also with the issuer's server
#    stopped; a revocation reaches the other;
#  - a subscriber down while codes are issued catches up with nothing lost;
#    so does one whose publisher restarts in the middle of a stream;
#  - faults injected at a publisher behind the triggers' back are refused at
#    the receiver with their reason, and nothing unverified is accepted: a
#    checkpoint signed with another key, a key swapped in the registry, a
#    row that no longer matches its leaf, a rewritten history;
#  - a split view (a member showing two histories) is detected.
use strict;
use warnings;

use IPC::Run;
use MIME::Base64;
use Digest::SHA qw(sha256_hex);
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
my ($wt, $wt_card) = member($keys, 'witness', 0);
my %node = (macau => $mo, guangdong => $gd, witness => $wt);
my %card = (macau => $mo_card, guangdong => $gd_card, witness => $wt_card);

# Everyone admits everyone, then joins everyone.
for my $a (sort keys %node)
{
	for my $b (sort keys %node)
	{
		next if $a eq $b;
		$node{$a}->safe_psql('postgres', "SELECT hcledger.admit_member('$b')");
	}
}
for my $a (sort keys %node)
{
	for my $b (sort keys %node)
	{
		next if $a eq $b;
		(my $c = $card{$b}) =~ s/'/''/g;
		(my $conn = $node{$b}->connstr('postgres')) =~ s/'/''/g;
		$node{$a}->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");
	}
}
is($mo->safe_psql('postgres', "SELECT string_agg(authority || ':' || event, ',' ORDER BY event_id) FROM hcledger.member_events"),
	'macau:published,guangdong:admitted,witness:admitted,guangdong:joined,witness:joined',
	'joining and admitting are recorded');
is($mo->safe_psql('postgres', "SELECT string_agg(authority || ' ' || key_id, ',' ORDER BY authority, key_id) FROM hcledger.keys"),
	'guangdong credential-1,guangdong node-1,macau credential-1,macau node-1,witness node-1',
	'the members\' keys are registered from their cards');

sub claims { my ($doc) = @_; return qq({"name": "Traveller $doc", "document_number": "$doc", "test_result": "negative"}); }
sub issue
{
	my ($node, $doc) = @_;
	my $row = $node->safe_psql('postgres', "SELECT encode(credential_id, 'hex') || '|' || payload FROM hcledger.issue_code('" . claims($doc) . "')");
	return split /\|/, $row;
}
sub verdict
{
	my ($node, $payload) = @_;
	return $node->safe_psql('postgres', "SELECT verdict || coalesce(': ' || reason, '') FROM hcledger.verify_code('$payload')");
}
sub wait_verdict
{
	my ($node, $payload, $want, $what) = @_;
	my $ok = $node->poll_query_until('postgres', "SELECT verdict = '$want' FROM hcledger.verify_code('$payload')");
	ok($ok, $what) or diag(verdict($node, $payload) . "\n" . $node->safe_psql('postgres', 'SELECT * FROM hcledger.refused; SELECT * FROM hcledger.member_status'));
}

# 1. Mutual recognition, both ways.
my ($gd_id, $gd_code) = issue($gd, 'GD-0001');
my ($mo_id, $mo_code) = issue($mo, 'MO-0001');
wait_verdict($mo, $gd_code, 'valid', 'a Guangdong code verifies in Macau');
wait_verdict($gd, $mo_code, 'valid', 'a Macau code verifies in Guangdong');
wait_verdict($wt, $gd_code, 'valid', 'and at the witness');
like($mo->safe_psql('postgres', "SELECT checkpoint FROM hcledger.verify_code('$gd_code')"),
	qr{^hcledger/hcledger\.codes/[0-9a-f]{32}\n}, 'the check names the Guangdong checkpoint it used');
is($mo->safe_psql('postgres', "SELECT count(*) FROM hcledger.codes WHERE authority <> 'macau'"), '0',
	'nothing of a peer enters our own ledger');

$gd->stop;
is(verdict($mo, $gd_code), 'valid', 'with the issuer\'s server stopped, its code still verifies');
$gd->start;
$gd->safe_psql('postgres', "SELECT hcledger.revoke_code(decode('$gd_id', 'hex'), 'issued in error')");
wait_verdict($mo, $gd_code, 'revoked', 'a revocation at the issuer reaches the other authority');


sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub sealed_size { return value($_[0], "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass"); }
sub wait_sealed
{
	my ($node) = @_;
	$node->poll_query_until('postgres', "SELECT tree_size = (SELECT count(*) FROM hcledger.codes) FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass")
	  or die "the sealer did not seal everything";
	return sealed_size($node);
}
sub wait_accepted
{
	my ($node, $member, $size, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT tree_size >= $size FROM hcledger.members WHERE authority = '$member'"), $what)
	  or diag(value($node, 'SELECT * FROM hcledger.refused; SELECT id, authority, tree_size, state, reason FROM hcledger.peer_checkpoints ORDER BY id DESC LIMIT 5'));
}
sub refusals { my ($node, $kind, $like) = @_; return value($node, "SELECT count(*) FROM hcledger.refused WHERE authority = 'guangdong' AND kind = '$kind' AND reason LIKE '$like'"); }
sub wait_refusal
{
	my ($node, $kind, $like, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM hcledger.refused WHERE authority = 'guangdong' AND kind = '$kind' AND reason LIKE '$like'"), $what)
	  or diag(value($node, 'SELECT * FROM hcledger.refused'));
}
# Everything Guangdong logged is in Macau, each row matching its accepted leaf, up to the same root.
sub same_log
{
	my ($what) = @_;
	my $size = wait_sealed($gd);
	wait_accepted($mo, 'guangdong', $size, "$what: Macau accepts Guangdong's log up to size $size");
	my $rows = value($gd, 'SELECT count(*) FROM hcledger.codes');
	is(value($mo, q{SELECT count(*) FROM hcledger.peer_codes p
		JOIN hcledger.peer_leaves l ON l.authority = p.authority AND l.row_number = p.hcl_row
		JOIN hcledger.members m ON m.authority = p.authority
		WHERE p.authority = 'guangdong' AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, p) OPERATOR(hcledger.=) l.leaf_hash}),
		$rows, "$what: all $rows rows arrived, each matching its leaf");
	is(value($mo, "SELECT root FROM hcledger.members WHERE authority = 'guangdong'"),
		value($gd, "SELECT root FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'hcledger.codes'::regclass ORDER BY k.tree_size DESC LIMIT 1"),
		"$what: to the same root");
}
sub pause_sealer { value($_[0], "ALTER SYSTEM SET hcledger.seal_interval = 3600000; SELECT pg_reload_conf(); SELECT pg_sleep(0.5)"); }
sub resume_sealer { value($_[0], "ALTER SYSTEM RESET hcledger.seal_interval; SELECT pg_reload_conf()"); }
# An insider's change at Guangdong, behind the ledger's triggers.
sub behind_the_back
{
	my ($sql) = @_;
	value($gd, qq{
		ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
		ALTER TABLE hcledger.codes DISABLE TRIGGER hcl_append_only;
		$sql;
		ALTER TABLE hcledger.codes ENABLE ALWAYS TRIGGER hcl_append_only;
		ALTER EVENT TRIGGER hcledger_ddl_guard ENABLE ALWAYS;
	});
}
# A signed note of a checkpoint body, signed with an Ed25519 key file, and the SQL inserting it at Guangdong.
sub signed_note
{
	my ($body, $keyfile, $key_id) = @_;
	spew("$keys/body.txt", $body);
	openssl('pkeyutl', '-sign', '-rawin', '-inkey', $keyfile, '-in', "$keys/body.txt", '-out', "$keys/body.sig");
	my ($origin) = split /\n/, $body;
	return "$body\n\x{e2}\x{80}\x{94} $origin " . encode_base64($key_id . slurp("$keys/body.sig"), '') . "\n";
}
sub insert_checkpoint
{
	my ($size, $root_hex, $last_row, $note, $entries_hex) = @_;
	value($gd, qq{INSERT INTO hcledger.checkpoints (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves)
		SELECT l.ledger_id, $size, '$root_hex', $last_row, now(), repeat('00', 32)::hcledger.hash256, \$n\$$note\$n\$, repeat('00', 32)::hcledger.hash256, \$n\$$note\$n\$, '\\x$entries_hex'
		  FROM hcledger.ledgers l WHERE l.relid = 'hcledger.codes'::regclass});
}
my $origin = value($gd, "SELECT origin FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass");

# 2. A subscriber down while codes are issued catches up, nothing lost.
$mo->stop;
my @batch = map { [ issue($gd, sprintf('GD-B%03d', $_)) ] } 1 .. 30;
wait_sealed($gd);
$mo->start;
my $list = join(',', map { "('$_->[1]')" } @batch);
ok($mo->poll_query_until('postgres', "SELECT count(*) = 30 FROM (VALUES $list) p(x), hcledger.verify_code(p.x) v WHERE v.verdict = 'valid'"),
	'Macau, down while Guangdong issued 30 codes, verifies them all after its restart');
same_log('after the subscriber\'s restart');

# 3. The publisher restarts in the middle of a stream of issues.
my ($out, $err) = ('', '');
my $stream = IPC::Run::start(['psql', '-XAtq', '-d', $gd->connstr('postgres'), '-c',
	q{DO $$ BEGIN FOR i IN 1..100000 LOOP
		PERFORM hcledger.issue_code(jsonb_build_object('document_number', 'GD-S' || i, 'name', 'Stream ' || i)); COMMIT;
	END LOOP; END $$}], '>', \$out, '2>', \$err);
sleep 2;
$gd->restart;
$stream->finish;
my $streamed = value($gd, "SELECT count(*) FROM hcledger.codes WHERE at > now() - interval '1 minute'");
cmp_ok($streamed, '>', 100, "$streamed codes were issued before the restart cut the stream");
same_log('after the publisher\'s restart mid-stream');

# 4. Faults injected at the publisher, behind the triggers' back.
# 4a. A checkpoint signed with another key.
my $size = sealed_size($gd);
my $last = value($gd, "SELECT last_row FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass");
openssl('genpkey', '-algorithm', 'ed25519', '-out', "$keys/rogue.pem");
my $fake = '11' x 32;
my $body = "$origin\n" . ($size + 1) . "\n" . encode_base64(pack('H*', $fake), '') . "\nhcledger-prev "
  . encode_base64("\0" x 32, '') . "\nhcledger-time " . time() . "\nhcledger-row " . ($last + 1) . "\n";
insert_checkpoint($size + 100000, $fake, $last + 1, signed_note($body, "$keys/rogue.pem", "\0\0\0\0"),
	unpack('H*', pack('q>', $last + 1)) . $fake);
wait_refusal($mo, 'checkpoint', '%signature does not verify%', 'a checkpoint signed with another key is refused, with its reason');
is(value($mo, "SELECT string_agg(state, ',') FROM hcledger.peer_checkpoints WHERE root::text = '$fake'"), 'refused',
	'it is recorded as refused, never accepted');
is(value($mo, "SELECT tree_size FROM hcledger.members WHERE authority = 'guangdong'"), $size, 'the accepted log did not move');
value($gd, "DELETE FROM hcledger.checkpoints WHERE root::text = '$fake'");

# 4b. A key swapped in the publisher's registry.
my $key = value($gd, "SELECT public_key FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'credential-1'");
value($gd, "UPDATE hcledger.keys SET public_key = (SELECT public_key FROM hcledger.keys WHERE authority = 'macau' AND key_id = 'credential-1') WHERE authority = 'guangdong' AND key_id = 'credential-1'");
wait_refusal($mo, 'key', '%differs from the registered key%', 'a key swapped in the registry is refused, with its reason');
is(value($mo, "SELECT public_key FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'credential-1'"), $key,
	'the registered key is kept');
is(verdict($mo, $batch[0][1]), 'valid', 'codes signed with it still verify');
value($gd, "UPDATE hcledger.keys SET public_key = '$key' WHERE authority = 'guangdong' AND key_id = 'credential-1'");

# 4c. A row changed before it was sealed: what was replicated no longer matches its leaf.
pause_sealer($gd);
my ($bad_id, $bad_code) = issue($gd, 'GD-ROW');
behind_the_back("UPDATE hcledger.codes SET colour = 'red' WHERE credential_id = decode('$bad_id', 'hex')");
value($gd, 'VACUUM hcledger.codes');
value($gd, 'SELECT hcledger.seal()');
resume_sealer($gd);
wait_refusal($mo, 'row', '%does not match its leaf%', 'a replicated row that does not match its leaf is refused, with its reason');
is(verdict($mo, $bad_code), "tampered: ledger row " . value($gd, "SELECT hcl_row FROM hcledger.codes WHERE credential_id = decode('$bad_id', 'hex')")
	. " does not match what was sealed in the log of \"guangdong\"", 'and its code does not verify');

# 5. A split view: Guangdong shows the witness one history and Macau another.
$size = wait_sealed($gd);
wait_accepted($mo, 'guangdong', $size, 'Macau is up to date');
wait_accepted($wt, 'guangdong', $size, 'the witness is up to date');
pause_sealer($gd);
my ($y_id, $y_code) = issue($gd, 'GD-SPLIT');
my $row = value($gd, "SELECT hcl_row FROM hcledger.codes WHERE credential_id = decode('$y_id', 'hex')");
ok($mo->poll_query_until('postgres', "SELECT count(*) = 1 FROM hcledger.peer_codes WHERE authority = 'guangdong' AND hcl_row = $row"), 'the row reached Macau');
my $sub = value($mo, "SELECT subscription FROM hcledger.members WHERE authority = 'guangdong'");
value($mo, "ALTER SUBSCRIPTION $sub DISABLE");
$gd->poll_query_until('postgres', "SELECT NOT active FROM pg_replication_slots WHERE slot_name = hcledger.member_slot('macau')") or die;
my $entries = unpack('H*', pack('q>', $row)) . ('22' x 32);
my ($split_root, $prev) = split /\|/, value($gd, "SELECT encode((hcledger.log_extend(frontier, tree_size, '\\x$entries')).root::bytea, 'hex') || '|' || encode(last_checkpoint::bytea, 'base64') FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass");
my $key_id = pack('H*', value($gd, "SELECT encode(substr(sha256(convert_to('$origin' || E'\\n', 'UTF8') || '\\x01'::bytea || hcledger.signing_public_key()), 1, 4), 'hex')"));
$body = "$origin\n" . ($size + 1) . "\n" . encode_base64(pack('H*', $split_root), '') . "\nhcledger-prev $prev\nhcledger-time " . time() . "\nhcledger-row $row\n";
insert_checkpoint($size + 1, $split_root, $row, signed_note($body, "$keys/guangdong-node.pem", $key_id), $entries);
wait_accepted($wt, 'guangdong', $size + 1, 'the witness accepts the checkpoint Guangdong showed only to it');
value($gd, "DELETE FROM hcledger.checkpoints WHERE root::text = '$split_root'");
value($gd, "SELECT pg_replication_slot_advance(hcledger.member_slot('macau'), pg_current_wal_lsn())");
value($mo, "ALTER SUBSCRIPTION $sub ENABLE");
resume_sealer($gd);
wait_accepted($mo, 'guangdong', $size + 1, 'Macau accepts the checkpoint Guangdong sealed for everyone else');
for my $n ([ $mo, 'Macau' ], [ $wt, 'the witness' ], [ $gd, 'Guangdong itself' ])
{
	ok($n->[0]->poll_query_until('postgres', "SELECT count(DISTINCT root) = 2 FROM hcledger.split_views WHERE origin = '$origin' AND tree_size = " . ($size + 1)),
		"$n->[1] detects the split view from the cosignatures")
	  or diag(value($n->[0], 'SELECT * FROM hcledger.split_views; SELECT witness, origin, tree_size, root FROM hcledger.cosignatures'));
}
is(value($mo, "SELECT string_agg(array_to_string(witnesses, '+'), ' / ' ORDER BY witnesses) FROM hcledger.split_views WHERE origin = '$origin'"),
	'macau / witness', 'and shows who saw which root');
wait_refusal($wt, 'checkpoint', 'rewritten history%', 'the witness refuses Guangdong\'s other history as rewritten');

# 6. A rewritten history: Guangdong changes an early row and rebuilds its log from scratch.
# (The insider also removes the node's signing record, without which the node
# itself refuses to sign a history that does not extend what it signed:
# test/t/010_no_fork.pl.)
$size = value($mo, "SELECT tree_size FROM hcledger.members WHERE authority = 'guangdong'");
pause_sealer($gd);
behind_the_back(q{UPDATE hcledger.codes SET colour = 'yellow' WHERE hcl_row = 1;
	DELETE FROM hcledger.tiles WHERE ledger_id = (SELECT ledger_id FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass);
	DELETE FROM hcledger.checkpoints WHERE ledger_id = (SELECT ledger_id FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass);
	UPDATE hcledger.ledgers SET tree_size = 0, last_row = 0, passed_row = 0, pending = '{}', frontier = '\x', last_checkpoint = NULL, gap_row = NULL, gap_horizon = NULL
	 WHERE relid = 'hcledger.codes'::regclass});
value($gd, 'VACUUM hcledger.codes');
unlink "$keys/hcledger-signed-" . substr(sha256_hex($origin), 0, 32) . ".state" or die "no signing record for $origin: $!";
my ($late_id, $late_code) = issue($gd, 'GD-LATE');
value($gd, 'SELECT hcledger.seal()');
resume_sealer($gd);
wait_refusal($mo, 'checkpoint', 'rewritten history: log position 0 (row 1)%', 'a rewritten history is refused at the receiver, with its reason');
is(value($mo, "SELECT tree_size FROM hcledger.members WHERE authority = 'guangdong'"), $size, 'the accepted log did not move');
# (the row refused in step 4 never arrived as sealed: Guangdong's codes read incomplete since)
like(verdict($mo, $late_code), qr/^incomplete: /, 'a code sealed only in the rewritten history is not accepted as verified');
like(verdict($mo, $batch[0][1]), qr/^incomplete: the log of "guangdong" accepted here lacks 1 sealed rows/,
	'codes of the accepted history read incomplete while the row refused in step 4 is not there as sealed');
my ($after_id, $after_code) = issue($gd, 'GD-AFTER');
wait_refusal($mo, 'checkpoint', 'it extends the refused checkpoint%', 'later checkpoints of the quarantined member are refused too');
is(value($mo, "SELECT count(*) FROM hcledger.peer_checkpoints WHERE authority = 'guangdong' AND state = 'waiting'"), '0',
	'none is left waiting');
is(value($mo, "SELECT count(*) FROM hcledger.refused WHERE authority <> 'guangdong'"), '0', 'nothing of the honest members was refused');

done_testing();
