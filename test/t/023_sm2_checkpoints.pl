# SM2 checkpoint signatures in a consortium (issue 18, item 2; docs/
# consortium.md, "SM2 checkpoint signatures"):
#  - publish() refuses an SM2 key file whose key is not registered; once it
#    is, the card says checkpoint_sm2 and every checkpoint carries a second
#    signature line, SM2 over the bytes the Ed25519 line signs;
#  - Macau, which joined with that card, accepts the checkpoints; the
#    witness, which joined with Guangdong's earlier card (no SM2), too;
#  - the Ed25519 line still passes standard verification: the C2SP note
#    checker written from the spec and Go's note.Open ignore the SM2 line;
#  - a hostile Guangdong sends notes of a real checkpoint with the SM2 line
#    forged, stripped, doubled with a bogus one, joined by a line of an
#    unknown key, or reordered: Macau refuses the first four with the
#    reason and takes the reordered one as a duplicate; the witness, not
#    requiring SM2, still refuses a bad line by a registered SM2 key;
#  - an SM2 key rotation: checkpoints signed with the new key are accepted;
#  - a revoked SM2 key that is still used: its checkpoints are refused.
use strict;
use warnings;

use Digest::SHA;
use IPC::Run;
use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;

my $keys = PostgreSQL::Test::Utils::tempdir();

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub sm2_key
{
	my ($file) = @_;
	openssl('genpkey', '-algorithm', 'SM2', '-out', $file);
	chmod 0600, $file;
	return $file;
}
sub use_sm2_key
{
	my ($node, $file) = @_;
	value($node, "ALTER SYSTEM SET hcledger.sm2_key_file = '$file'; SELECT pg_reload_conf()");
	# the setting is in place once this backend sees it
	$node->poll_query_until('postgres', "SELECT current_setting('hcledger.sm2_key_file') = '$file'")
	  or die 'the SM2 key file setting was not loaded';
}
sub pause_sealer { value($_[0], "ALTER SYSTEM SET hcledger.seal_interval = 3600000; SELECT pg_reload_conf(); SELECT pg_sleep(0.5)"); }
sub resume_sealer { value($_[0], "ALTER SYSTEM RESET hcledger.seal_interval; SELECT pg_reload_conf()"); }
sub issue { my ($node, $doc) = @_; return value($node, qq(SELECT payload FROM hcledger.issue_code('{"name": "Traveller $doc", "document_number": "$doc"}'))); }
sub gd_size { return value($_[0], "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass"); }
sub wait_sealed
{
	my ($node) = @_;
	$node->poll_query_until('postgres', "SELECT tree_size = (SELECT count(*) FROM hcledger.codes) FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass")
	  or die 'the sealer did not seal everything';
	return gd_size($node);
}
sub wait_accepted
{
	my ($node, $size, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT tree_size = $size FROM hcledger.members WHERE authority = 'guangdong'"), $what)
	  or diag(value($node, 'SELECT * FROM hcledger.refused; SELECT * FROM hcledger.member_status'));
}
sub wait_refusal
{
	my ($node, $like, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT EXISTS (SELECT FROM hcledger.refused WHERE authority = 'guangdong' AND kind = 'checkpoint' AND reason LIKE \$r\$$like\$r\$)"),
		$what) or diag(value($node, 'SELECT reason FROM hcledger.refused'));
}

my ($gd, $gd_card_plain) = member($keys, 'guangdong', 1);
my ($mo, $mo_card) = member($keys, 'macau', 0);
my ($wt, $wt_card) = member($keys, 'witness', 0);
unlike($gd_card_plain, qr/"checkpoint_sm2": true/, 'without an SM2 key file the card says no SM2 line');

# Guangdong takes an SM2 key: publish() refuses it until it is registered.
my $sm2_1 = sm2_key("$keys/gd-sm2-1.pem");
use_sm2_key($gd, $sm2_1);
my ($rc, $out, $err) = $gd->psql('postgres', 'SELECT hcledger.publish()');
like($err, qr/the key of hcledger\.sm2_key_file is not a registered, valid sm2 key of authority "guangdong"/,
	'publish() refuses an SM2 key file whose key is not registered');
value($gd, "SELECT hcledger.add_key('guangdong', 'sm2-1', 'sm2', hcledger.sm2_public_key(), now() - interval '1 minute')");
my $gd_card = value($gd, "SELECT hcledger.publish('host=127.0.0.1 port=" . $gd->port . " dbname=postgres')");
like($gd_card, qr/"checkpoint_sm2": true/, 'then the card says the checkpoints carry an SM2 line');
like($gd_card, qr/"checkpoint_sm2_key_id": "sm2-1"/, 'and by which registered key');

# Macau joins with the new card, the witness with the old one.
value($gd, "SELECT hcledger.admit_member('macau'); SELECT hcledger.admit_member('witness')");
for ([ $mo, $gd_card ], [ $wt, $gd_card_plain ])
{
	my ($node, $card) = @$_;
	$card =~ s/'/''/g;
	(my $conn = $gd->connstr('postgres')) =~ s/'/''/g;
	value($node, "SELECT hcledger.join_member('$card', '$conn')");
}
is(value($mo, "SELECT checkpoint_sm2 FROM hcledger.members WHERE authority = 'guangdong'"), 't', 'Macau requires the SM2 line');
is(value($wt, "SELECT checkpoint_sm2 FROM hcledger.members WHERE authority = 'guangdong'"), 'f', 'the witness does not');
{
	(my $c = $gd_card) =~ s/'/''/g;
	my ($r, $o, $e) = $mo->psql('postgres', "SELECT hcledger.join_member(jsonb_set(c, '{keys}',
	                                             (SELECT jsonb_agg(k) FROM jsonb_array_elements(c -> 'keys') k WHERE k ->> 'algorithm' <> 'sm2')),
	                                             'host=nowhere')
	                                           FROM (SELECT '$c'::jsonb AS c) x");
	like($e, qr/the card of "guangdong" says its checkpoints carry an SM2 line but has no sm2 key to check it with/,
		'a card saying SM2 without an sm2 key is refused');
	($r, $o, $e) = $mo->psql('postgres', "SELECT hcledger.join_member(jsonb_set('$c'::jsonb, '{checkpoint_sm2}', '\"yes\"'), 'host=nowhere')");
	like($e, qr/the card of "guangdong" says checkpoint_sm2 is "yes", not true or false/, 'so is a card whose checkpoint_sm2 is not a boolean');
}

# Codes issued at Guangdong: every checkpoint has both lines, and both peers accept them.
issue($gd, "GD-$_") for 1 .. 5;
my $size = wait_sealed($gd);
wait_accepted($mo, $size, 'Macau accepts the checkpoints with their SM2 line');
wait_accepted($wt, $size, 'so does the witness');
my $note = value($gd, "SELECT note FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
                       WHERE l.relid = 'hcledger.codes'::regclass ORDER BY k.tree_size DESC LIMIT 1");
$note =~ s/\n*\z/\n/;    # (psql may or may not keep the last newline)
my ($body, $sigs) = $note =~ /\A(.*\n)\n(.*)\z/s;
my @lines = split /(?<=\n)/, $sigs;
is(scalar(@lines), 2, 'the note has two signature lines') or diag("note: [$note]");
my ($origin) = split /\n/, $body;
my ($ed_line, $sm2_line) = @lines;
my $sm2_raw = decode_base64(($sm2_line =~ /^\x{e2}\x{80}\x{94} \S+ (\S+)\n$/)[0]);
my $sm2_point = pack('H*', value($gd, "SELECT encode(hcledger.sm2_public_key(), 'hex')"));
is(unpack('H*', substr($sm2_raw, 0, 4)),
	substr(Digest::SHA::sha256_hex($origin . "\n\xffhcledger/sm2-sm3" . $sm2_point), 0, 8),
	'the SM2 line\'s key id is SHA-256(origin || 0x0A || 0xFF || "hcledger/sm2-sm3" || point)[:4]');
is(value($mo, "SELECT key_id FROM hcledger.members m, hcledger.verify_checkpoint_sm2(m.checkpoint, m.authority) WHERE m.authority = 'guangdong'"),
	'sm2-1', 'at Macau, the accepted note\'s SM2 line verifies under sm2-1');

# Standard verifiers of the Ed25519 line ignore the SM2 line.
{
	my $dir = $gd->basedir;
	spew("$dir/note.txt", $note);
	openssl('pkey', '-in', "$keys/guangdong-node.pem", '-pubout', '-out', "$dir/node.pub");
	my ($o, $e);
	IPC::Run::run([ 'bash', 'test/c2sp_verify_note.sh', "$dir/note.txt", "$dir/node.pub" ], '>', \$o, '2>', \$e);
	is($?, 0, 'the C2SP note checker (test/c2sp_verify_note.sh) accepts the note with its SM2 line') or diag($o . $e);
	# hcledger-verify: the SM2 line is ignored, or required with --sm2-key
	openssl('pkey', '-in', $sm2_1, '-pubout', '-out', "$dir/sm2.pub");
	my $receipt = value($gd, "SELECT hcledger.ledger_receipt('hcledger.codes', (SELECT min(hcl_row) FROM hcledger.codes))");
	(my $stripped = $receipt) =~ s/(\\n\x{e2}\x{80}\x{94} [^ "]+ [A-Za-z0-9+\/=]+)\\n\x{e2}\x{80}\x{94} [^ "]+ [A-Za-z0-9+\/=]+\\n"/$1\\n"/;
	isnt($stripped, $receipt, 'a receipt of the SM2 member carries the SM2 line');
	spew("$dir/receipt.json", $receipt);
	spew("$dir/stripped.json", $stripped);
	for (
		[ [ '--key', "$dir/node.pub", "$dir/receipt.json" ], qr/^VALID: /, 'hcledger-verify with the Ed25519 key accepts the receipt' ],
		[ [ '--key', "$dir/node.pub", "$dir/stripped.json" ], qr/^VALID: /, 'and the receipt without its SM2 line' ],
		[ [ '--key', "$dir/node.pub", '--sm2-key', "$dir/sm2.pub", "$dir/receipt.json" ], qr/^VALID: /, 'with --sm2-key, the receipt verifies' ],
		[ [ '--key', "$dir/node.pub", '--sm2-key', "$dir/sm2.pub", "$dir/stripped.json" ],
			qr/^INVALID: checkpoint: the checkpoint has no SM2 signature line by a registered SM2 key of the signer$/, 'but not without its SM2 line' ])
	{
		my ($args, $want, $what) = @$_;
		IPC::Run::run([ 'hcledger-verify', @$args ], '>', \$o, '2>', \$e);
		like($o, $want, $what) or diag($o . $e);
	}
	my $gocache = PostgreSQL::Test::Utils::tempdir();
	local $ENV{GO111MODULE} = 'off';
	local $ENV{GOPATH} = '/usr/share/gocode';
	local $ENV{GOCACHE} = $gocache;
	local $ENV{GOFLAGS} = '';
	IPC::Run::run([ 'go', 'build', '-o', "$dir/tlogcheck", 'test/interop/tlogcheck.go' ], '>', \$o, '2>', \$e);
	SKIP:
	{
		skip "no Go checker: $e", 1 unless -x "$dir/tlogcheck";
		my $vk = value($gd, "SELECT hcledger.ledger_verifier_key('hcledger.codes')");
		spew("$dir/receipt.json", value($gd, "SELECT hcledger.ledger_receipt('hcledger.codes', (SELECT min(hcl_row) FROM hcledger.codes))"));
		IPC::Run::run([ "$dir/tlogcheck", $vk, "$dir/receipt.json" ], '>', \$o, '2>', \$e);
		like($o, qr/^ok: /, 'Go\'s note.Open accepts a receipt whose checkpoint has the SM2 line') or diag($o . $e);
	}
}

# A hostile Guangdong sends other notes of its last checkpoint.
pause_sealer($gd);
my $n = 0;
sub send_note
{
	my ($variant) = @_;
	$n++;
	value($gd, qq{INSERT INTO hcledger.checkpoints (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves)
		SELECT k.ledger_id, k.tree_size + 100000 + $n, k.root, k.last_row, k.sealed_at, k.prev_hash, k.body, k.checkpoint_hash, \$n\$$variant\$n\$, k.leaves
		  FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
		 WHERE l.relid = 'hcledger.codes'::regclass AND k.tree_size = $size});
	return $size + 100000 + $n;
}
sub peer_rows { return value($_[0], "SELECT count(*) FROM hcledger.peer_checkpoints WHERE authority = 'guangdong'"); }
# The decision on the newest checkpoint a peer received after it had $before.
sub decided
{
	my ($node, $before) = @_;
	$node->poll_query_until('postgres', "SELECT count(*) > $before AND bool_and(state <> 'waiting') FROM hcledger.peer_checkpoints WHERE authority = 'guangdong'")
	  or diag('no decision');
	return value($node, "SELECT state || ': ' || coalesce(reason, '') FROM hcledger.peer_checkpoints WHERE authority = 'guangdong' ORDER BY id DESC LIMIT 1");
}
my $flip = sub {
	my ($line) = @_;
	my ($head, $b64) = $line =~ /^(.* )(\S+)\n$/s;
	my $raw = decode_base64($b64);
	substr($raw, 20, 1) = chr(ord(substr($raw, 20, 1)) ^ 1);
	return $head . encode_base64($raw, '') . "\n";
};
my %variants = (
	'forged SM2 signature' => [ "$body\n$ed_line" . $flip->($sm2_line),
		qr/^refused: its SM2 signature, which the member's card requires, is not good: the SM2 signature by key guangdong\/sm2-1 does not verify$/,
		qr/^refused: its SM2 signature line does not verify under the member's registered keys: the SM2 signature by key guangdong\/sm2-1 does not verify$/ ],
	'stripped SM2 line' => [ "$body\n$ed_line",
		qr/^refused: its SM2 signature, which the member's card requires, is not good: the checkpoint has no SM2 signature line by a registered SM2 key of the signer$/,
		qr/^duplicate: / ],
	'second, bogus SM2 line' => [ "$body\n$ed_line$sm2_line" . $flip->($sm2_line),
		qr/^refused: .*the SM2 signature by key guangdong\/sm2-1 does not verify$/,
		qr/^refused: .*the SM2 signature by key guangdong\/sm2-1 does not verify$/ ],
	'line of an unknown key' => [ "$body\n$ed_line$sm2_line\x{e2}\x{80}\x{94} $origin " . encode_base64("\1\2\3\4" . substr($sm2_raw, 4), '') . "\n",
		qr/^refused: .*signature line 3 is under the origin's name with key id 01020304, which is none of the signer's registered keys$/,
		qr/^duplicate: / ],
	'lines reordered' => [ "$body\n$sm2_line$ed_line", qr/^duplicate: /, qr/^duplicate: / ],
);
for my $what (sort keys %variants)
{
	my ($text, $at_mo, $at_wt) = @{ $variants{$what} };
	my ($mo_before, $wt_before) = (peer_rows($mo), peer_rows($wt));
	send_note($text);
	like(decided($mo, $mo_before), $at_mo, "$what: at Macau (SM2 required)");
	like(decided($wt, $wt_before), $at_wt, "$what: at the witness (SM2 not required)");
}
ok(value($mo, "SELECT count(*) FROM hcledger.refused WHERE authority = 'guangdong' AND reason LIKE '%SM2%'") >= 4,
	'Macau\'s refusals are recorded with their reasons (hcledger.refused)');
is(value($mo, "SELECT tree_size FROM hcledger.members WHERE authority = 'guangdong'"), $size, 'the accepted log did not move');
value($gd, "DELETE FROM hcledger.checkpoints WHERE tree_size > 100000");
resume_sealer($gd);

# SM2 key rotation: register the new key, then load it.
my $sm2_2 = sm2_key("$keys/gd-sm2-2.pem");
my $point2 = `openssl pkey -in $sm2_2 -pubout -outform DER | tail -c 65 | od -An -tx1 | tr -d ' \\n'`;
value($gd, "SELECT hcledger.rotate_key('guangdong', 'sm2-2', 'sm2', '\\x$point2')");
use_sm2_key($gd, $sm2_2);
is(value($gd, "SELECT encode(hcledger.sm2_public_key(), 'hex')"), $point2, 'Guangdong signs with its new SM2 key');
$mo->poll_query_until('postgres', "SELECT EXISTS (SELECT FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'sm2-2')")
  or die 'the new key did not arrive';
issue($gd, "GD-R$_") for 1 .. 3;
$size = wait_sealed($gd);
wait_accepted($mo, $size, 'after the rotation, Macau accepts checkpoints signed with the new SM2 key');
is(value($mo, "SELECT key_id FROM hcledger.members m, hcledger.verify_checkpoint_sm2(m.checkpoint, m.authority) WHERE m.authority = 'guangdong'"),
	'sm2-2', 'their SM2 line is by sm2-2');
like(value($gd, "SELECT hcledger.member_card()"), qr/"checkpoint_sm2_key_id": "sm2-2"/, 'the card names the new key');

# Revocation: Guangdong revokes sm2-2 but keeps signing with it.
value($gd, "SELECT hcledger.revoke_key('guangdong', 'sm2-2', now(), 'compromised')");
$mo->poll_query_until('postgres', "SELECT revoked_at IS NOT NULL FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'sm2-2'")
  or die 'the revocation did not arrive';
issue($gd, 'GD-X1');
wait_refusal($mo, '%SM2%signed with SM2 key guangdong/sm2-2 at %, at or after its revocation at %',
	'a checkpoint signed with a revoked SM2 key is refused at Macau, with the reason');
is(value($mo, "SELECT tree_size FROM hcledger.members WHERE authority = 'guangdong'"), $size, 'and not accepted');
wait_accepted($wt, wait_sealed($gd), 'the witness, not requiring SM2, accepts it (its Ed25519 line is good)');

done_testing();
