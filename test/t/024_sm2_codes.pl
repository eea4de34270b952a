# Health codes signed with SM2 (docs/health-codes.md, "Payload format").
# Guangdong signs its codes with SM2 and its checkpoints' second line with
# another SM2 key (its card says so); Macau and Hengqin join it.
#  - its codes are HCL2: payloads naming SM2, signed over the documented
#    message (checked here with the openssl command, not hcledger), and
#    verify at home and at both peers;
#  - a forged signature, changed claims, an HCL2: code relabelled HCL1:
#    and an unknown algorithm byte are refused, at home and at the peers;
#  - both peers require and check the SM2 line of Guangdong's checkpoints;
#  - an SM2 key rotation (of the credential key, named, beside the SM2 node
#    key): codes of the old key and of the new one verify;
#  - an SM2 key revocation reaches the peers and turns the codes issued
#    since the revocation time into "bad signature";
#  - an unregistered SM2 credential key issues nothing (55000), and an ES256
#    authority's codes (Macau's) are still HCL1: and verify at Guangdong.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;
use HclCodes;

my $keys = PostgreSQL::Test::Utils::tempdir();
my ($gd, $gd_card) = member($keys, 'guangdong', 0);
my ($mo, $mo_card) = member($keys, 'macau', 1);
my ($hq, $hq_card) = member($keys, 'hengqin', 0);

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

# 1. Guangdong's credential key is SM2.
openssl('genpkey', '-algorithm', 'SM2', '-out', "$keys/gd-sm2-1.pem");
chmod 0600, "$keys/gd-sm2-1.pem";
$gd->append_conf('postgresql.conf', "hcledger.credential_key_file = '$keys/gd-sm2-1.pem'\n");
$gd->reload;
ok($gd->poll_query_until('postgres', "SELECT hcledger.credential_key_algorithm() = 'sm2'"), 'an SM2 credential key is loaded as sm2');
my ($rc, $out, $err) = $gd->psql('postgres', qq{SELECT hcledger.issue_code('{"document_number": "GD-0"}')}, on_error_stop => 1);
like($err, qr/is not a registered, valid sm2 key of authority "guangdong"/, 'unregistered, it issues nothing');
value($gd, "SELECT hcledger.add_key('guangdong', 'sm2-credential-1', 'sm2', hcledger.credential_public_key(), now() - interval '1 minute')");

# and its checkpoints carry an SM2 line, by another SM2 key (docs/consortium.md)
openssl('genpkey', '-algorithm', 'SM2', '-out', "$keys/gd-node-sm2.pem");
chmod 0600, "$keys/gd-node-sm2.pem";
$gd->append_conf('postgresql.conf', "hcledger.sm2_key_file = '$keys/gd-node-sm2.pem'\n");
$gd->reload;
ok($gd->poll_query_until('postgres', "SELECT hcledger.sm2_public_key() IS NOT NULL"), 'the SM2 node key is loaded');
value($gd, "SELECT hcledger.add_key('guangdong', 'sm2-node-1', 'sm2', hcledger.sm2_public_key(), now() - interval '1 minute')");
$gd_card = value($gd, "SELECT hcledger.member_card()");
like($gd_card, qr/"checkpoint_sm2": true/, 'Guangdong\'s card says its checkpoints carry an SM2 line');

# Both peers join Guangdong; Guangdong joins Macau.
for my $peer ([ $mo, 'macau', $mo_card ], [ $hq, 'hengqin', $hq_card ])
{
	$gd->safe_psql('postgres', "SELECT hcledger.admit_member('$peer->[1]')");
	(my $c = $gd_card) =~ s/'/''/g;
	(my $conn = $gd->connstr('postgres')) =~ s/'/''/g;
	$peer->[0]->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");
}
$mo->safe_psql('postgres', "SELECT hcledger.admit_member('guangdong')");
{
	(my $c = $mo_card) =~ s/'/''/g;
	(my $conn = $mo->connstr('postgres')) =~ s/'/''/g;
	$gd->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");
}

sub issue
{
	my ($node, $doc) = @_;
	return value($node, qq{SELECT payload FROM hcledger.issue_code('{"name": "Traveller $doc", "document_number": "$doc"}')});
}

# 2. An SM2 code: its form, its signature, its verdicts.
my $code1 = issue($gd, 'GD-1');
like($code1, qr/^HCL2:/, 'an SM2 code is an HCL2: payload');
is(ord(b45_decode(substr($code1, 5))), 2, 'whose first byte names SM2');
my $decoded = value($gd, "SELECT algorithm || ' ' || key_id || ' ' || split_part(convert_from(message, 'UTF8'), E'\\n', 1)
                          FROM hcledger.code_decode('$code1')");
is($decoded, 'sm2 sm2-credential-1 hcledger-credential-sm2/1', 'code_decode names sm2 and the message its first line');
is(value($gd, "SELECT hcledger.sm2_verify(hcledger.credential_public_key(), message, signature) FROM hcledger.code_decode('$code1')"),
	't', 'the signature is SM2 over the message with the default identity');

# the openssl command (not hcledger's code) checks the signature over the message
{
	my $hex = value($gd, "SELECT encode(message, 'hex') || ' ' || encode(signature, 'hex') FROM hcledger.code_decode('$code1')");
	my ($msg, $sig) = split / /, $hex;
	spew("$keys/msg", pack('H*', $msg));
	# raw r || s to DER: SEQUENCE of two INTEGERs
	my $int = sub { my $b = pack('H*', $_[0]); $b =~ s/^\x00+//; $b = "\x00$b" if ord($b) >= 0x80; return "\x02" . chr(length $b) . $b; };
	my $seq = $int->(substr($sig, 0, 64)) . $int->(substr($sig, 64));
	spew("$keys/sig.der", "\x30" . chr(length $seq) . $seq);
	openssl('pkey', '-in', "$keys/gd-sm2-1.pem", '-pubout', '-out', "$keys/gd-sm2-1.pub");
	my $ok = system('openssl', 'pkeyutl', '-verify', '-pubin', '-inkey', "$keys/gd-sm2-1.pub", '-rawin', '-digest', 'sm3',
		'-pkeyopt', 'distid:1234567812345678', '-in', "$keys/msg", '-sigfile', "$keys/sig.der") == 0;
	ok($ok, 'openssl pkeyutl verifies the code\'s SM2 signature over the documented message');
}

for my $node ([ $mo, 'Macau' ], [ $hq, 'Hengqin' ])
{
	is(value($node->[0], "SELECT checkpoint_sm2 FROM hcledger.members WHERE authority = 'guangdong'"), 't',
		"$node->[1] requires the SM2 line of Guangdong's checkpoints");
}
wait_verdict($gd, $code1, 'valid', 'the SM2 code verifies at Guangdong');
wait_verdict($mo, $code1, 'valid', 'at Macau');
wait_verdict($hq, $code1, 'valid', 'and at Hengqin');
is(value($mo, "SELECT key_id FROM hcledger.members m, hcledger.verify_checkpoint_sm2(m.checkpoint, m.authority) WHERE m.authority = 'guangdong'"),
	'sm2-node-1', 'under a checkpoint whose SM2 line Macau checked');

# 3. Forgeries, at home and at both peers.
my $forged = altered($code1, sub { my $b = shift; substr($b, 1 + 16 + 24 + 10, 1) ^= "\x01"; $b });
my $claims = altered($code1, sub { my $b = shift; $b =~ s/Traveller GD-1/Traveller GD-7/ or die; $b });
my $as_es256 = altered($code1, sub { substr(shift, 1) }, 'HCL1:');
my $alg9 = altered($code1, sub { my $b = shift; substr($b, 0, 1) = "\x09"; $b });
# the first claims byte moved into the salt: the same commitment, another payload
my $shifted = altered($code1, sub {
	my $b = shift;
	my $o = 1 + 16 + 24 + 64;
	my $S = ord(substr($b, $o, 1));
	my $salt = substr($b, $o + 1, $S);
	my $p = $o + 1 + $S;
	my $A = ord(substr($b, $p, 1));
	my $K = ord(substr($b, $p + 1 + $A, 1));
	my $mid = substr($b, $p, 1 + $A + 1 + $K);
	my $C = unpack('n', substr($b, $p + 2 + $A + $K, 2));
	my $claims = substr($b, $p + 4 + $A + $K, $C);
	return substr($b, 0, $o) . chr($S + 1) . $salt . substr($claims, 0, 1) . $mid . pack('n', $C - 1) . substr($claims, 1);
});
for my $node ([ $gd, 'Guangdong' ], [ $mo, 'Macau' ], [ $hq, 'Hengqin' ])
{
	like(verdict($node->[0], $forged), qr/^bad signature: the issuer's signature does not verify/, "$node->[1]: a forged SM2 signature is refused");
	like(verdict($node->[0], $claims), qr/^tampered: the claims or salt are not those the authority signed/, "$node->[1]: changed claims are tampered");
	like(verdict($node->[0], $as_es256), qr/^bad signature: authority "guangdong" has no es256 key "sm2-credential-1"/,
		"$node->[1]: the code relabelled HCL1: is not read as ES256");
	like(verdict($node->[0], $alg9), qr/^invalid: the payload's signature algorithm is unknown/, "$node->[1]: an unknown algorithm byte is invalid");
	like(verdict($node->[0], $shifted), qr/^invalid: the payload's salt is not 16 bytes \(HCL2:\)/,
		"$node->[1]: a byte moved between salt and claims (same commitment) is invalid");
}

# 4. Rotation: a new SM2 key from now; codes of both keys verify.
openssl('genpkey', '-algorithm', 'SM2', '-out', "$keys/gd-sm2-2.pem");
chmod 0600, "$keys/gd-sm2-2.pem";
my $pub2 = do
{
	openssl('pkey', '-in', "$keys/gd-sm2-2.pem", '-pubout', '-out', "$keys/gd-sm2-2.pub");
	slurp("$keys/gd-sm2-2.pub");
};
my ($rc2, $out2, $err2) = $gd->psql('postgres', "SELECT hcledger.rotate_key('guangdong', 'sm2-credential-2', 'sm2', convert_to('$pub2', 'UTF8'), now())");
like($err2, qr/has 2 sm2 keys valid at .* \(sm2-credential-1, sm2-node-1\): name the one to retire/,
	'rotate_key does not guess between the SM2 credential and node keys');
value($gd, "SELECT hcledger.rotate_key('guangdong', 'sm2-credential-2', 'sm2', convert_to('$pub2', 'UTF8'), now(), replaces => 'sm2-credential-1')");
$gd->append_conf('postgresql.conf', "hcledger.credential_key_file = '$keys/gd-sm2-2.pem'\n");
$gd->reload;
ok($gd->poll_query_until('postgres', "SELECT hcledger.credential_public_key() = k.public_key FROM hcledger.keys k WHERE k.key_id = 'sm2-credential-2'"),
	'the rotated key is loaded');
my $code2 = issue($gd, 'GD-2');
is(value($gd, "SELECT key_id FROM hcledger.code_decode('$code2')"), 'sm2-credential-2', 'a code after rotation names the new key');
wait_verdict($mo, $code2, 'valid', 'it verifies at Macau');
wait_verdict($hq, $code2, 'valid', 'and at Hengqin');
wait_verdict($mo, $code1, 'valid', 'the code of the retired key still verifies at Macau');
is(value($gd, "SELECT valid_until IS NULL AND revoked_at IS NULL FROM hcledger.keys WHERE key_id = 'sm2-node-1'"), 't',
	'the SM2 node key is untouched by the rotation');

# 5. Revocation of the new key from a time after code 2: codes from then on are refused.
sleep 1;
my $revoke_at = value($gd, "SELECT now()");
sleep 1;
my $code3 = issue($gd, 'GD-3');
value($gd, "SELECT hcledger.revoke_key('guangdong', 'sm2-credential-2', '$revoke_at', 'key compromised')");
for my $node ([ $mo, 'Macau' ], [ $hq, 'Hengqin' ], [ $gd, 'Guangdong' ])
{
	ok($node->[0]->poll_query_until('postgres', "SELECT verdict = 'bad signature' FROM hcledger.verify_code('$code3')"),
		"$node->[1]: a code issued after its SM2 key's revocation time is a bad signature")
	  or diag(verdict($node->[0], $code3));
	like(verdict($node->[0], $code3), qr/key "sm2-credential-2" was revoked at/, "$node->[1]: and the reason names the revocation");
	wait_verdict($node->[0], $code2, 'valid', "$node->[1]: the code issued before it still verifies");
}

# 6. An ES256 authority beside it: Macau's codes are HCL1: and verify at Guangdong.
my $mo_code = issue($mo, 'MO-1');
like($mo_code, qr/^HCL1:/, 'an ES256 code is still HCL1:');
is(value($mo, "SELECT algorithm FROM hcledger.code_decode('$mo_code')"), 'es256', 'and decodes as es256');
wait_verdict($gd, $mo_code, 'valid', 'and verifies at Guangdong');

done_testing();
