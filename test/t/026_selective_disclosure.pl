# Selective disclosure: HCL3: codes (docs/health-codes.md, "Selective
# disclosure").  Macau issues ES256 codes, Guangdong SM2 codes, each a
# member of the other's consortium.  The payload is taken apart and put
# together again here by a decoder written from the docs alone (in Perl,
# not hcledger's C):
#  - a selective code's digests are a multiple of 8, more than its claims;
#    its commitment and signed message are the documented ones;
#  - the full code and any subset of its claims verify valid at home and
#    at the peer; code_claims returns exactly the disclosed claims; a subset
#    made here byte for byte equals code_disclose's;
#  - a changed claim, an added one, one swapped in from another code (same
#    name or another), a changed digest: tampered, at home and at the peer;
#    a claim disclosed twice: invalid; every one-byte change of a
#    presentation: not valid;
#  - code_disclose and code_claims refuse what they must, with SQLSTATEs;
#  - an SM2 selective code verifies at the peer, and converted there it
#    stays selective with the claims shown.
use strict;
use warnings;

use Digest::SHA qw(sha256);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;
use HclCodes;

my $keys = PostgreSQL::Test::Utils::tempdir();
my ($mo, $mo_card) = member($keys, 'macau', 1);
my ($gd, $gd_card) = member($keys, 'guangdong', 0);

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

# Guangdong signs its codes with SM2
openssl('genpkey', '-algorithm', 'SM2', '-out', "$keys/gd-sm2.pem");
chmod 0600, "$keys/gd-sm2.pem";
$gd->append_conf('postgresql.conf', "hcledger.credential_key_file = '$keys/gd-sm2.pem'\n");
$gd->reload;
ok($gd->poll_query_until('postgres', "SELECT hcledger.credential_key_algorithm() = 'sm2'"), 'Guangdong signs codes with SM2');
value($gd, "SELECT hcledger.add_key('guangdong', 'sm2-credential-1', 'sm2', hcledger.credential_public_key(), now() - interval '1 minute')");
$gd_card = value($gd, "SELECT hcledger.member_card()");

for my $pair ([ $mo, 'macau', $mo_card, $gd, 'guangdong' ], [ $gd, 'guangdong', $gd_card, $mo, 'macau' ])
{
	my ($home, $name, $card, $peer, $peer_name) = @$pair;
	$home->safe_psql('postgres', "SELECT hcledger.admit_member('$peer_name')");
	(my $c = $card) =~ s/'/''/g;
	(my $conn = $home->connstr('postgres')) =~ s/'/''/g;
	$peer->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");
}

# --- an HCL3: decoder and encoder from docs/health-codes.md alone ---
sub parse
{
	my ($payload) = @_;
	die "not HCL3:" unless $payload =~ /^HCL3:/;
	my $b = b45_decode(substr($payload, 5));
	my %c;
	(@c{qw(alg id issued_at valid_from valid_until sig)}, my $rest) = unpack('C a16 q> q> q> a64 a*', $b);
	my $alen = ord($rest);
	$c{authority} = substr($rest, 1, $alen);
	$rest = substr($rest, 1 + $alen);
	my $klen = ord($rest);
	$c{key_id} = substr($rest, 1, $klen);
	$rest = substr($rest, 1 + $klen);
	my $n = ord($rest);
	$c{digests} = [ map { substr($rest, 1 + 32 * $_, 32) } 0 .. $n - 1 ];
	$rest = substr($rest, 1 + 32 * $n);
	my $m = ord($rest);
	$rest = substr($rest, 1);
	$c{disclosures} = [];
	for (1 .. $m)
	{
		my $len = unpack('n', $rest);
		push @{ $c{disclosures} }, substr($rest, 2, $len);
		$rest = substr($rest, 2 + $len);
	}
	die "bytes left over" if length $rest;
	return \%c;
}
sub encode
{
	my ($c) = @_;
	my $b = pack('C a16 q> q> q> a64', @$c{qw(alg id issued_at valid_from valid_until sig)});
	$b .= chr(length $c->{authority}) . $c->{authority} . chr(length $c->{key_id}) . $c->{key_id};
	$b .= chr(scalar @{ $c->{digests} }) . join('', @{ $c->{digests} });
	$b .= chr(scalar @{ $c->{disclosures} }) . join('', map { pack('n', length $_) . $_ } @{ $c->{disclosures} });
	return 'HCL3:' . b45_encode($b);
}
sub name_of { my ($d) = @_; return substr($d, 16) =~ /^\["([a-z][a-z0-9_]*)",/ ? $1 : undef; }
sub with { my ($c, %set) = @_; return { %$c, %set }; }

my $claims = '{"name": "Chan Tai Man", "document_number": "MO-1", "birth_date": "1980-02-29", '
  . '"test_result": "negative", "test_time": "2026-11-23T08:00:00+08:00", "doses": [{"date": "2026-10-02"}]}';
my $full = value($mo, "SELECT payload FROM hcledger.issue_code('$claims', selective => true)");
my $other = value($mo, qq{SELECT payload FROM hcledger.issue_code('{"name": "Wong Siu Ming", "document_number": "MO-2", "test_result": "positive", "vaccinated": true}', selective => true)});
my $plain = value($mo, qq{SELECT payload FROM hcledger.issue_code('{"name": "Lee", "document_number": "MO-3"}')});

# 1. The form.
like($full, qr/^HCL3:/, 'a selective code is an HCL3: payload');
like($plain, qr/^HCL1:/, 'and without selective, codes are HCL1: as before');
my $c = parse($full);
is($c->{alg}, 1, 'its first byte names ES256');
is(scalar @{ $c->{disclosures} }, 6, 'it discloses all six claims');
is(scalar @{ $c->{digests} }, 8, 'among 8 digests (6 claims and 2 decoys)');
is(join(',', map { name_of($_) } @{ $c->{disclosures} }), 'birth_date,document_number,doses,name,test_result,test_time',
	'disclosures in the order of their names');
is(join('', @{ $c->{digests} }), join('', sort @{ $c->{digests} }), 'digests in ascending order');
my %digest = map { $_ => 1 } @{ $c->{digests} };
is(scalar(grep { $digest{ sha256($_) } } @{ $c->{disclosures} }), 6, 'each disclosure\'s SHA-256 is one of the digests');
is(substr($c->{disclosures}[2], 16), '["doses",[{"date":"2026-10-02"}]]', 'a disclosure is a salt and ["name",value] in canonical JSON');
my $commitment = unpack('H*', sha256("hcledger-sd/1\n" . join('', @{ $c->{digests} })));
is(value($mo, "SELECT encode(commitment, 'hex') FROM hcledger.code_decode('$full')"), $commitment,
	'the commitment is SHA-256("hcledger-sd/1\n" || digests)');
is(value($mo, "SELECT encode(commitment, 'hex') FROM hcledger.codes WHERE entry = 'issue' AND credential_id = '\\x" . unpack('H*', $c->{id}) . "'"),
	$commitment, 'and is what the ledger records');
my $message = "hcledger-credential/3\nmacau\ncredential-1\n" . unpack('H*', $c->{id}) . "\n$c->{issued_at}\n$c->{valid_from}\n$c->{valid_until}\n$commitment\n";
is(value($mo, "SELECT convert_from(message, 'UTF8') FROM hcledger.code_decode('$full')"), $message, 'the signed message is version 3, as documented');
is(value($mo, "SELECT hcledger.ecdsa_p256_verify(hcledger.credential_public_key(), convert_to(\$m\$$message\$m\$, 'UTF8'), '\\x"
		. unpack('H*', $c->{sig}) . "')"), 't', 'and the signature is ES256 over it');
is(value($mo, "SELECT selective FROM hcledger.code_decode('$full')") . value($mo, "SELECT selective FROM hcledger.code_decode('$plain')"),
	'tf', 'code_decode says which codes are selective');

# 2. Subsets.
my $border = value($mo, "SELECT hcledger.code_disclose('$full', '{name,test_result}')");
my $made = encode(with($c, disclosures => [ grep { name_of($_) =~ /^(name|test_result)$/ } @{ $c->{disclosures} } ]));
is($border, $made, 'code_disclose gives what a presenter written from the docs gives, byte for byte');
ok(length($border) < length($full), 'a presentation is shorter (' . length($border) . ' against ' . length($full) . ' characters)');
is(value($mo, "SELECT hcledger.code_claims('$border')"), '{"name": "Chan Tai Man", "test_result": "negative"}',
	'code_claims returns exactly the disclosed claims');
my $none = value($mo, "SELECT hcledger.code_disclose('$full', '{}')");
is(value($mo, "SELECT hcledger.code_claims('$none')"), '{}', 'a presentation may show no claim at all');
for my $node ([ $mo, 'Macau' ], [ $gd, 'Guangdong' ])
{
	wait_verdict($node->[0], $full, 'valid', "the full code verifies at $node->[1]");
	wait_verdict($node->[0], $border, 'valid', "name and test result alone verify at $node->[1]");
	wait_verdict($node->[0], $none, 'valid', "no claim at all verifies at $node->[1]");
	wait_verdict($node->[0], $plain, 'valid', "an HCL1: code still verifies at $node->[1]");
}

# 3. Tampering.
my $o = parse($other);
my ($name_disc) = grep { name_of($_) eq 'name' } @{ $c->{disclosures} };
my ($result_disc) = grep { name_of($_) eq 'test_result' } @{ $c->{disclosures} };
my ($other_result) = grep { name_of($_) eq 'test_result' } @{ $o->{disclosures} };
my ($other_vacc) = grep { name_of($_) eq 'vaccinated' } @{ $o->{disclosures} };
(my $positive = $result_disc) =~ s/negative/positive/ or die;
my %tampered = (
	'a changed claim' => encode(with($c, disclosures => [ $name_disc, $positive ])),
	'an added claim (a new salt and pair)' => encode(with($c, disclosures => [ $name_disc, $result_disc, ("\x01" x 16) . '["vaccinated",true]' ])),
	'a claim swapped in from another code (same name)' => encode(with($c, disclosures => [ $name_disc, $other_result ])),
	'a claim of another code added (another name)' => encode(with($c, disclosures => [ $name_disc, $result_disc, $other_vacc ])),
	'a changed digest' => encode(with($c, digests => [ sort(("\x00" x 32), @{ $c->{digests} }[ 1 .. 7 ]) ])),
);
for my $what (sort keys %tampered)
{
	for my $node ([ $mo, 'Macau' ], [ $gd, 'Guangdong' ])
	{
		like(verdict($node->[0], $tampered{$what}), qr/^tampered: /, "$what: tampered at $node->[1]");
	}
}
like(verdict($mo, $tampered{'a changed claim'}), qr/^tampered: a disclosed claim is not one the authority signed$/, 'the reason says which');
my ($rc, $out, $err) = $mo->psql('postgres', "SELECT hcledger.code_claims('$tampered{'a changed claim'}')");
like($err, qr/not a health code: a disclosed claim is not one the authority signed/, 'code_claims refuses a changed claim');
# a disclosure whose value would carry a second member into the object (only an issuer could
# sign one: here its digest replaces a decoy, so code_claims, which checks digests, is asked)
{
	my $smuggled = ("\x02" x 16) . '["name","Chan","document_number":"X-1"]';
	my @digests = grep { my $d = $_; !grep { sha256($_) eq $d } @{ $c->{disclosures} } } @{ $c->{digests} };
	my %kept = map { $_ => 1 } @{ $c->{digests} };
	delete $kept{ $digests[0] };
	my $p = encode(with($c, digests => [ sort(sha256($smuggled), keys %kept) ], disclosures => [ $smuggled ]));
	($rc, $out, $err) = $mo->psql('postgres', "SELECT hcledger.code_claims('$p')");
	like($err, qr/not a health code: a disclosure is not valid JSON/, 'code_claims refuses a disclosure that is not one [name, value] pair');
}
like(verdict($mo, encode(with($c, disclosures => [ $name_disc, $name_disc ]))), qr/^invalid: the payload's disclosures are not in ascending order/,
	'a claim disclosed twice is invalid');
like(verdict($mo, encode(with($c, disclosures => [ $result_disc, $name_disc ]))), qr/^invalid: /, 'so are disclosures out of order');
like(verdict($mo, encode(with($c, digests => [ @{ $c->{digests} }[ 0 .. 6 ] ]))), qr/^invalid: the payload's digests are not 8, 16, 24 or 32/,
	'and a digest count not a multiple of 8');

# every one-byte change of a presentation (each byte xor 0x01, and xor 0x80)
{
	my $bin = b45_decode(substr($border, 5));
	my @variants;
	for my $i (0 .. length($bin) - 1)
	{
		for my $x ("\x01", "\x80")
		{
			my $v = $bin;
			substr($v, $i, 1) ^= $x;
			push @variants, 'HCL3:' . b45_encode($v);
		}
	}
	my $list = join(',', map { "('$_')" } @variants);
	is(value($mo, "SELECT count(*) FROM (VALUES $list) v(p), hcledger.verify_code(v.p) r WHERE r.verdict = 'valid'"), '0',
		'none of the ' . scalar(@variants) . ' one-byte changes of a presentation verifies valid');
}

# 4. What code_disclose refuses.
for my $case ([ "'$plain', '{name}'", qr/only an HCL3: code discloses its claims one by one/, '22023', 'an HCL1: code' ],
			  [ "'$full', '{passport}'", qr/the code discloses no claim named "passport"/, '22023', 'a claim it does not have' ],
			  [ "'$border', '{birth_date}'", qr/the code discloses no claim named "birth_date"/, '22023', 'a claim a presentation left out' ],
			  [ "'$full', ARRAY['name', NULL]", qr/a claim's name must not be NULL/, '22004', 'a NULL name' ],
			  [ "'$tampered{'a changed claim'}', '{name}'", qr/the code cannot be presented: a disclosed claim is not one the authority signed/, '22023', 'a tampered code' ],
			  [ "'HCL3:AB', '{name}'", qr/not a health code/, '22P02', 'a payload that is no code' ])
{
	($rc, $out, $err) = $mo->psql('postgres', "\\set VERBOSITY verbose\nSELECT hcledger.code_disclose($case->[0])");
	like($err, $case->[1], "code_disclose refuses $case->[3]");
	like($err, qr/ERROR:  $case->[2]/, "with SQLSTATE $case->[2]");
}

# 5. SM2, and conversion.
my $gd_full = value($gd, qq{SELECT payload FROM hcledger.issue_code('{"name": "Ho", "document_number": "GD-9", "test_result": "negative", "birth_date": "1990-01-01"}', selective => true)});
is(parse($gd_full)->{alg}, 2, 'an SM2 authority\'s selective code names SM2');
is(value($gd, "SELECT split_part(convert_from(message, 'UTF8'), E'\\n', 1) FROM hcledger.code_decode('$gd_full')"), 'hcledger-credential-sm2/3',
	'its message is version 3 of the SM2 message');
my $gd_shown = value($gd, "SELECT hcledger.code_disclose('$gd_full', '{document_number,name,test_result}')");
wait_verdict($mo, $gd_shown, 'valid', 'a presentation of it verifies at Macau');
like(verdict($mo, encode(with(parse($gd_shown), disclosures => [ map { (my $d = $_) =~ s/negative/positive/; $d } @{ parse($gd_shown)->{disclosures} } ]))),
	qr/^tampered: /, 'changed, it is tampered there');
my $converted = value($mo, "SELECT payload FROM hcledger.convert_code('$gd_shown')");
like($converted, qr/^HCL3:/, 'converted at Macau, it stays selective');
is(value($mo, "SELECT hcledger.code_claims('$converted')"), '{"name": "Ho", "test_result": "negative", "document_number": "GD-9"}',
	'with the claims shown, and no more');
value($mo, "SELECT * FROM hcledger.seal()");
wait_verdict($mo, $converted, 'valid', 'and verifies');

done_testing();
