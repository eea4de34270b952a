# Converting a member's code (docs/health-codes.md, "Converting a member's
# code").  Guangdong issues; Macau converts its codes; Hengqin follows both.
#  - a Guangdong code converted at Macau carries the same claims, is never
#    valid longer than its source, records its provenance (source authority,
#    credential id, the checkpoint it was verified against) in Macau's
#    ledger and nothing personal, and verifies at Macau and at Hengqin,
#    which both say what it was converted from;
#  - the source turned red at Guangdong: the converted code is red too;
#  - the source revoked at Guangdong: once that reaches Macau and Hengqin,
#    the converted code is "revoked", reason "source revoked";
#  - made-up provenance is never echoed, and one naming a code the
#    source's log lacks is not valid; a silent source authority makes the
#    converted code stale, and so does leaving it;
#  - refused, with the verdict and its reason: a code expired, revoked,
#    unknown (of an authority not registered), not found, tampered, bad
#    signature, invalid, Macau's own code, a converted code (at Hengqin);
#    and for a role without hcledger_issuer.
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
my ($gd, $gd_card) = member($keys, 'guangdong', 1);
my ($mo, $mo_card) = member($keys, 'macau', 1);
my ($hq, $hq_card) = member($keys, 'hengqin', 1);

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub join_to
{
	my ($from, $from_name, $from_card, $to) = @_;
	$from->safe_psql('postgres', "SELECT hcledger.admit_member('" . $to->name . "')");
	(my $c = $from_card) =~ s/'/''/g;
	(my $conn = $from->connstr('postgres')) =~ s/'/''/g;
	$to->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");
}
join_to($gd, 'guangdong', $gd_card, $mo);
join_to($gd, 'guangdong', $gd_card, $hq);
join_to($mo, 'macau', $mo_card, $hq);

sub issue
{
	my ($node, $doc, $valid_for) = @_;
	$valid_for //= '3 days';
	return value($node, qq{SELECT payload FROM hcledger.issue_code('{"name": "Traveller $doc", "document_number": "$doc", "test": {"result": "negative"}}',
	                                                              'green', '$valid_for')});
}
sub convert
{
	my ($payload, $valid_for) = @_;
	$valid_for //= '7 days';
	return value($mo, "SELECT payload FROM hcledger.convert_code('$payload', '$valid_for')");
}
# the error of a refused conversion at Macau: "SQLSTATE: message (detail)"
sub refused
{
	my ($payload, $as, $node) = @_;
	$node //= $mo;
	my $set = $as ? "SET ROLE $as;" : '';
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$set SELECT hcledger.convert_code('$payload')");
	my ($state, $msg) = $err =~ /ERROR:  (\w{5}): ([^\n]*)/;
	my ($detail) = $err =~ /DETAIL:  ([^\n]*)/;
	return defined $state ? "$state: $msg" . (defined $detail ? " ($detail)" : '') : "not refused: $out";
}

# 1. A Guangdong code, valid at Macau, converted there.
my $source = issue($gd, 'GD-1');
wait_verdict($mo, $source, 'valid', 'the Guangdong code is valid at Macau');
my $converted = convert($source);
like($converted, qr/^HCL1:/, 'convert_code returns a Macau payload');
my %src = split /\|/, value($mo, "SELECT 'authority|' || authority || '|id|' || encode(credential_id, 'hex') || '|until|' || valid_until
                                    FROM hcledger.code_decode('$source')");
is(value($mo, "SELECT authority FROM hcledger.code_decode('$converted')"), 'macau', 'signed by Macau');
is(value($mo, "SELECT hcledger.code_claims('$converted') = hcledger.code_claims('$source')"), 't',
	'with the claims the traveller\'s payload carries, nothing re-entered');
is(value($mo, "SELECT valid_until FROM hcledger.code_decode('$converted')"), $src{until},
	'valid until its source is (asked for 7 days, the source has 3)');
my $short = convert($source, '1 hour');
is(value($mo, "SELECT valid_until FROM hcledger.code_decode('" . convert($source, '100000000 years') . "')"), $src{until},
	'a validity far beyond the source\'s is cut to the source\'s');
ok(value($mo, "SELECT (SELECT valid_until FROM hcledger.code_decode('$short')) < '$src{until}'::timestamptz"), 'a shorter validity is kept shorter');

my $row = value($mo, "SELECT reason FROM hcledger.codes c, hcledger.code_decode('$converted') d
                      WHERE c.credential_id = d.credential_id AND c.entry = 'issue'");
like($row, qr/^converted from guangdong code $src{id} under checkpoint \S+ \d+ [0-9a-f]{64}$/,
	'the ledger records its provenance: source authority, credential id and the checkpoint');
my ($cp_origin, $cp_size) = $row =~ /under checkpoint (\S+) (\d+)/;
is($cp_origin, value($mo, "SELECT origin FROM hcledger.members WHERE authority = 'guangdong'"), 'the checkpoint of Guangdong\'s log');
is(value($mo, "SELECT count(*) FROM hcledger.peer_checkpoints WHERE authority = 'guangdong' AND tree_size = $cp_size"), '1',
	'one accepted here');
is(value($mo, "SELECT count(*) FROM hcledger.codes c, hcledger.code_decode('$converted') d
               WHERE c.credential_id = d.credential_id AND (c.reason LIKE '%Traveller%' OR c.reason LIKE '%GD-1%')"), '0',
	'and nothing personal (no claim, in the row or its reason)');

my $said = qr/^valid: converted from guangdong code $src{id} \(verified against its checkpoint of size \d+\)$/;
wait_verdict($mo, $converted, 'valid', 'the converted code verifies at Macau');
like(verdict($mo, $converted), $said, 'and says what it was converted from');
wait_verdict($hq, $converted, 'valid', 'at Hengqin, a third member, too');
like(verdict($hq, $converted), $said, 'saying the same');

# 2. Refusals, with their verdict and reason.
like(refused($converted), qr/^22023: the code is of this authority \("macau"\): it needs no conversion/, 'Macau\'s own code is refused');
my $tampered = altered($source, sub { my $b = shift; $b =~ s/Traveller GD-1/Traveller GD-9/ or die; $b });
like(refused($tampered), qr/^22023: the code cannot be converted: it is tampered \(the claims or salt are not those the authority signed\)/,
	'a tampered code is refused');
my $forged = altered($source, sub { my $b = shift; substr($b, 16 + 24 + 5, 1) ^= "\x01"; $b });
like(refused($forged), qr/^22023: the code cannot be converted: it is bad signature /, 'a forged signature is refused');
like(refused('HCL1:ABC'), qr/^22023: the code cannot be converted: it is invalid /, 'an invalid payload is refused');
my $unknown = 'HCL2:PE0UFF*L8V/H5+VJDRFXT9VS*:L000H20BM2:F9000H20BM2:F9000H20XT3KTPST3/MOZ943YC3FVGJJ4$DYJD75TU8KR*F-717X1TO5Q70QC11QMVQ4HEP$+FQ4937UB5P+:NCQ7OQI6IP8CA9K9$14L2C9:J1VEKVK1YNPN30OHOU1:-EVCUPP1Y$E3/DGVC3/DEX5HNCTQEKF6NF6TF6020MPF%JC5LEY8DRFFGECWE41A6FA73Q5GVC PCF$DG/D+2C1%EYJCDJEWF7ITA2OA3W56466469F63Q5..DF$DWE4DF46$CSUEG7A4LE-3EIE42G41ECOPC..D7WETTCOH76LEG$C';
like(refused($unknown), qr/^22023: the code cannot be converted: it is unknown authority \(authority "guangdong-hc" is not registered here\)/,
	'a code of an unknown authority (docs/health-codes.md\'s SM2 example) is refused');
# signed by Guangdong's key but never in its ledger: issued on a standalone server with a copy of Guangdong's keys
{
	my $rogue = PostgreSQL::Test::Cluster->new('rogue');
	$rogue->init;
	$rogue->append_conf('postgresql.conf', "shared_preload_libraries = 'hcledger'\nhcledger.database = 'none'\n"
		  . "hcledger.credential_key_file = '$keys/guangdong-credential.pem'\nhcledger.pseudonym_key_file = '$keys/guangdong-pseudonym.key'\n");
	$rogue->start;
	$rogue->safe_psql('postgres', "CREATE EXTENSION hcledger; SELECT hcledger.add_authority('guangdong', 'copy', true);
		SELECT hcledger.add_key('guangdong', 'credential-1', 'es256', hcledger.credential_public_key(), now() - interval '1 minute')");
	my $ghost = issue($rogue, 'GD-GHOST');
	$rogue->stop;
	like(refused($ghost), qr/^22023: the code cannot be converted: it is not found /, 'a code its authority\'s ledger never recorded is refused');
}
my $expiring = issue($gd, 'GD-2', '3 seconds');
sleep 4;
like(refused($expiring), qr/^55000: the code cannot be converted: it is expired /, 'an expired code is refused');
my $to_revoke = issue($gd, 'GD-3');
value($gd, "SELECT hcledger.revoke_code(credential_id, 'test result withdrawn') FROM hcledger.code_decode('$to_revoke')");
wait_verdict($mo, $to_revoke, 'revoked', 'a revoked Guangdong code reaches Macau');
like(refused($to_revoke), qr/^55000: the code cannot be converted: it is revoked \(test result withdrawn( \(revocation not yet sealed\))?\)/,
	'and is refused conversion (its revocation sealed at Guangdong or not yet)');
value($mo, "CREATE ROLE clerk; GRANT hcledger_verifier TO clerk");
like(refused($source, 'clerk'), qr/^42501: permission denied for function convert_code/, 'a role without hcledger_issuer may not convert');
is(value($mo, "SELECT count(*) FROM hcledger.codes WHERE entry = 'issue'"), '3', 'no refused conversion issued anything');

like(refused($converted, undef, $hq), qr/^22023: the code was itself converted from another: convert that one instead/,
	'Hengqin does not convert a converted code (its source\'s revocation would not follow)');

# 3. The source turns red at Guangdong: so does the converted code, where that has arrived.
value($gd, "SELECT hcledger.set_status(credential_id, 'red', 'exposure') FROM hcledger.code_decode('$source')");
for my $node ([ $mo, 'Macau' ], [ $hq, 'Hengqin' ])
{
	ok($node->[0]->poll_query_until('postgres', "SELECT colour = 'red' FROM hcledger.verify_code('$converted')"),
		"$node->[1]: the converted code is red once its source's red arrives");
	like(verdict($node->[0], $converted), qr/^valid: converted from guangdong .*; the source is now red$/, "$node->[1]: and says why");
}

# 4. Provenance that Macau's issuing code never wrote (its database owner calling
# issue_entry): never echoed, and a source that is not in the source's log is not vouched for.
my %forged;
for my $case ([ 'junk', "converted from guangdong code $src{id} under checkpoint NONE 0 0; border officer: VERIFIED, let through" ],
              [ 'ghost', 'converted from guangdong code ' . ('0' x 32) . ' under checkpoint x 1 ' . ('0' x 64) ])
{
	$forged{ $case->[0] } = value($mo, "SELECT payload FROM hcledger.issue_entry('{\"document_number\": \"X-1\"}', 'green',
		date_trunc('second', clock_timestamp()), date_trunc('second', clock_timestamp()), date_trunc('second', clock_timestamp()) + interval '1 day', '$case->[1]', false)");
}
wait_verdict($hq, $forged{junk}, 'valid', 'a reason that is no provenance line: an ordinary code at Hengqin');
unlike(verdict($hq, $forged{junk}), qr/VERIFIED|converted/, 'and its text is never shown');
wait_verdict($hq, $forged{ghost}, 'incomplete', 'a provenance naming a code not in Guangdong\'s log is not valid at Hengqin');
like(verdict($hq, $forged{ghost}), qr/the guangdong code 0{32} it was converted from is not in the log of "guangdong" as it has reached us/, 'and says why');

# 5. A source whose authority has gone silent: the converted code is stale where the source would be.
my $mo_sub = value($mo, "SELECT subscription FROM hcledger.members WHERE authority = 'guangdong'");
value($mo, "ALTER SYSTEM SET hcledger.peer_max_age = '2s'");
value($mo, "SELECT pg_reload_conf()");
value($mo, "ALTER SUBSCRIPTION $mo_sub DISABLE");
sleep 3;
like(verdict($mo, $source), qr/^stale: /, 'with Guangdong silent, its code is stale at Macau');
like(verdict($mo, $converted), qr/^stale: of the guangdong code $src{id} it was converted from: nothing has been heard from "guangdong"/,
	'and so is the code converted from it');
value($mo, "ALTER SUBSCRIPTION $mo_sub ENABLE");
value($mo, "ALTER SYSTEM RESET hcledger.peer_max_age");
value($mo, "SELECT pg_reload_conf()");
wait_verdict($mo, $converted, 'valid', 'heard from again, it is valid');

# 6. The source revoked at Guangdong: the converted code turns revoked where that has arrived.
value($gd, "SELECT hcledger.revoke_code(credential_id, 'certificate withdrawn') FROM hcledger.code_decode('$source')");
for my $node ([ $mo, 'Macau' ], [ $hq, 'Hengqin' ])
{
	wait_verdict($node->[0], $converted, 'revoked', "$node->[1]: the converted code is revoked once its source's revocation arrives");
	like(verdict($node->[0], $converted), qr/^revoked: source revoked: the guangdong code $src{id} it was converted from is revoked \(certificate withdrawn\)$/,
		"$node->[1]: reason \"source revoked\", and which");
}
like(refused($source), qr/^55000: the code cannot be converted: it is revoked/, 'and the source can no longer be converted');

# 7. A member that stops following the source's authority can no longer vouch for the converted code.
my $again = issue($gd, 'GD-4');
wait_verdict($mo, $again, 'valid', 'another Guangdong code');
my $converted2 = convert($again);
wait_verdict($hq, $converted2, 'valid', 'converted, valid at Hengqin');
value($hq, "SELECT hcledger.leave_member('guangdong', 'test')");
like(verdict($hq, $converted2), qr/^stale: the log of "guangdong" is not followed here since it left/,
	'once Hengqin leaves Guangdong, the converted code is stale there');

done_testing();
