# Offline verification (docs/offline-verification.md): a trust bundle
# exported at one member, and hcledger-verify code reaching the verdict
# verify_code reaches online, with no database.  Macau and Guangdong both
# issue and follow each other; the bundle is exported at Macau, so
# Guangdong's codes are verified offline from Macau's view of its log.
#  - for each verdict (valid, red, revoked, expired, not yet valid, bad
#    signature, unknown authority, tampered, not found, invalid), at home
#    and for the peer, offline and online agree on verdict and colour;
#    an HCL3: presentation and a changed disclosure too; batch mode gives
#    the same lines;
#  - a bundle older than --max-age is refused as stale; an old bundle
#    misses a later revocation, a new one has it;
#  - a bundle with any byte changed, or signed by another key, is refused;
#  - privacy: no credential id, subject or commitment appears in the
#    bundle, and two snapshots of the same state share no entry;
#  - each snapshot of a bundle is recorded in the exporter's codes ledger,
#    and every member finds it recorded, sealed and in agreement with its
#    own copy of the log (check_status_snapshot); a snapshot hiding a
#    revocation is inconsistent, recorded or not.
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
my $dir = PostgreSQL::Test::Utils::tempdir();
my ($mo, $mo_card) = member($keys, 'macau', 1);
my ($gd, $gd_card) = member($keys, 'guangdong', 1);

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

for my $pair ([ $mo, 'macau', $mo_card, $gd, 'guangdong' ], [ $gd, 'guangdong', $gd_card, $mo, 'macau' ])
{
	my ($home, $name, $card, $peer, $peer_name) = @$pair;
	$home->safe_psql('postgres', "SELECT hcledger.admit_member('$peer_name')");
	(my $c = $card) =~ s/'/''/g;
	(my $conn = $home->connstr('postgres')) =~ s/'/''/g;
	$peer->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");
}

# the codes, at each authority
my %code;
for my $at ([ $mo, 'mo' ], [ $gd, 'gd' ])
{
	my ($node, $p) = @$at;
	my $issue = sub {
		my ($claims, $rest) = @_;
		return value($node, "SELECT payload FROM hcledger.issue_code('$claims'$rest)");
	};
	$code{"$p-valid"} = $issue->('{"document_number": "' . $p . '-1", "name": "A"}', '');
	$code{"$p-red"} = $issue->('{"document_number": "' . $p . '-2"}', '');
	$code{"$p-revoked"} = $issue->('{"document_number": "' . $p . '-3"}', '');
	$code{"$p-scheduled"} = $issue->('{"document_number": "' . $p . '-4"}', '');
	$code{"$p-expired"} = $issue->('{"document_number": "' . $p . '-5"}', ", valid_for => interval '2 seconds'");
	$code{"$p-future"} = $issue->('{"document_number": "' . $p . '-6"}', ", valid_from => now() + interval '1 day'");
	$code{"$p-sd"} = $issue->('{"document_number": "' . $p . '-7", "name": "B", "test_result": "negative"}', ', selective => true');
	$code{"$p-notfound"} = value($node, "SELECT payload FROM hcledger.code_issue_parts('{\"document_number\": \"$p-8\"}', hcledger.local_authority(), 'credential-1', date_trunc('second', now()), date_trunc('second', now()), date_trunc('second', now()) + interval '1 day')");
	value($node, "SELECT hcledger.set_status((hcledger.code_decode('$code{\"$p-red\"}')).credential_id, 'red', 'positive test')");
	value($node, "SELECT hcledger.revoke_code((hcledger.code_decode('$code{\"$p-revoked\"}')).credential_id, 'issued in error')");
	value($node, "SELECT hcledger.revoke_code((hcledger.code_decode('$code{\"$p-scheduled\"}')).credential_id, 'travel over', now() + interval '1 day')");
	# claims changed (one byte of the last claim), signature changed, authority renamed
	$code{"$p-tampered"} = altered($code{"$p-valid"}, sub { my $b = shift; $b =~ s/"A"/"Z"/ or die; $b });
	$code{"$p-badsig"} = altered($code{"$p-valid"}, sub { my $b = shift; substr($b, 40, 1) ^= "\x01"; $b });
	my $auth = $p eq 'mo' ? 'macau' : 'guangdong';
	(my $other = $auth) =~ s/.$/x/;
	$code{"$p-unknown"} = altered($code{"$p-valid"}, sub { my $b = shift; $b =~ s/$auth/$other/ or die; $b });
	$code{"$p-shown"} = value($node, "SELECT hcledger.code_disclose('$code{\"$p-sd\"}', ARRAY['test_result'])");
	$code{"$p-shown-changed"} = altered($code{"$p-shown"}, sub { my $b = shift; $b =~ s/negative/positive/ or die; $b });
}
$code{invalid} = 'HCL1:NOT-A-CODE';

my %want = (valid => 'valid', red => 'valid', revoked => 'revoked', scheduled => 'valid', expired => 'expired',
			future => 'not yet valid', sd => 'valid', notfound => 'not found', tampered => 'tampered',
			badsig => 'bad signature', unknown => 'unknown authority', shown => 'valid', 'shown-changed' => 'tampered');
# every code has its online verdict at Macau (Guangdong's rows arrived and sealed)
sleep 3;
for my $k (sort keys %want)
{
	wait_verdict($mo, $code{"mo-$k"}, $want{$k}, "Macau online: its own $k code is $want{$k}");
	wait_verdict($mo, $code{"gd-$k"}, $want{$k}, "Macau online: Guangdong's $k code is $want{$k}");
}

# the bundle, and Macau's node key (the verifier's configured trust)
sub export
{
	my ($file) = @_;
	my $b64 = value($mo, "SELECT encode(hcledger.trust_bundle(), 'base64')");
	$b64 =~ s/\s+//g;
	spew($file, MIME::Base64::decode_base64($b64));
}
use MIME::Base64 ();
export("$dir/bundle");
my $pub = value($mo, "SELECT encode(hcledger.signing_public_key(), 'base64')");
spew("$dir/macau.pub", MIME::Base64::decode_base64($pub));

sub offline
{
	my ($payload, $bundle, @opt) = @_;
	my ($out, $err) = run_command([ 'hcledger-verify', 'code', '--bundle', $bundle // "$dir/bundle",
									'--key', "$dir/macau.pub", @opt, $payload ]);
	chomp $out;
	return ($out, $err);
}

my $now = value($mo, "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint");
for my $name (sort keys %code)
{
	my $online = value($mo, "SELECT verdict || '|' || coalesce(colour, '-') FROM hcledger.verify_code('$code{$name}')");
	my ($out) = offline($code{$name}, undef, '--at', $now);
	my @f = split /\t/, $out;
	# a code expired before the snapshot was made is not in it: offline says expired, without its colour
	$online =~ s/^expired\|.*/expired|-/;
	is("$f[0]|$f[1]", $online, "$name: offline and online agree ($online)") or diag("offline: $out");
}

# a member's row changed behind the log's back at Macau: tampered online, and offline from a new bundle
my $red_row = value($mo, "SELECT max(hcl_row) FROM hcledger.peer_codes WHERE authority = 'guangdong' AND entry = 'status' AND credential_id = (hcledger.code_decode('$code{'gd-red'}')).credential_id");
value($mo, "UPDATE hcledger.peer_codes SET colour = 'green' WHERE authority = 'guangdong' AND hcl_row = $red_row");
like(verdict($mo, $code{'gd-red'}), qr/^tampered: ledger row $red_row does not match what was sealed/, 'Macau online: a changed row of Guangdong\'s is tampered');
export("$dir/bundle3");
my ($t_out) = offline($code{'gd-red'}, "$dir/bundle3");
like($t_out, qr/^tampered\t-\tguangdong\t/, 'offline, from a bundle exported after it: tampered too');

# the snapshots read every code at once (current_code_states) exactly as verify_code reads one (code_ledger_state)
for my $a ('macau', 'guangdong')
{
	is(value($mo, "SELECT count(*) FILTER (WHERE row(b.*)::text IS DISTINCT FROM row(b.credential_id, s.*)::text)
	                 FROM hcledger.current_code_states('$a', to_timestamp($now)) b,
	                      LATERAL hcledger.code_ledger_state('$a', b.credential_id, to_timestamp($now)) s"),
	   '0', "$a: current_code_states gives what code_ledger_state gives, code by code");
	cmp_ok(value($mo, "SELECT count(*) FROM hcledger.current_code_states('$a', clock_timestamp())"), '>=', 6, "$a: and it lists the current codes");
}

# batch mode: one line per payload, the same as one by one
my @names = sort keys %code;
spew("$dir/payloads", join('', map { "$code{$_}\n" } @names));
my ($batch) = run_command([ 'bash', '-c', "hcledger-verify code --bundle $dir/bundle --key $dir/macau.pub --at $now - < $dir/payloads" ]);
my @one = map { (offline($code{$_}, undef, '--at', $now))[0] } @names;
is($batch, join("\n", @one), 'batch mode gives the same lines as one payload at a time');

# age: a bundle older than --max-age is stale; a later revocation is missed by the old bundle only
my ($out) = offline($code{'gd-valid'}, undef, '--max-age', '60', '--at', $now + 3600);
like($out, qr/^stale\t/, 'a bundle an hour old with --max-age 60 is stale');
like($out, qr/older than the limit of 60 s/, 'and says why');
value($gd, "SELECT hcledger.revoke_code((hcledger.code_decode('$code{'gd-valid'}')).credential_id, 'lost')");
wait_verdict($mo, $code{'gd-valid'}, 'revoked', 'Macau online: Guangdong revokes a code and it reaches Macau');
($out) = offline($code{'gd-valid'});
like($out, qr/^valid\t/, 'the old bundle still says valid (it predates the revocation)');
like($out, qr/^valid\tgreen\tguangdong\t\d+\t/, 'and reports how old its knowledge is');
export("$dir/bundle2");
($out) = offline($code{'gd-valid'}, "$dir/bundle2");
like($out, qr/^revoked\t/, 'a bundle exported after the revocation has it');

# with no --max-age, a day: a bundle two days old is stale
($out) = offline($code{'mo-valid'}, "$dir/bundle2", '--at', $now + 2 * 86400);
like($out, qr/^stale\t.*older than the limit of 86400 s/, 'with no --max-age, a bundle two days old is stale');
# a device clock behind the export: verified as of the export, so a revocation in effect then counts
($out) = offline($code{'gd-revoked'}, "$dir/bundle2", '--at', $now - 86400);
like($out, qr/^revoked\t/, 'a clock a day behind the export does not undo a revocation in effect at the export');
# a converted code whose source's revocation is scheduled: known to the bundle, in effect offline when due
my $conv = value($mo, "SELECT payload FROM hcledger.convert_code('$code{'gd-sd'}')");
value($gd, "SELECT hcledger.revoke_code((hcledger.code_decode('$code{'gd-sd'}')).credential_id, 'trip cancelled', now() + interval '1 hour')");
ok($mo->poll_query_until('postgres', "SELECT count(*) = 1 FROM hcledger.peer_codes WHERE entry = 'revoke' AND reason = 'trip cancelled'"),
   'a scheduled revocation of the source reaches Macau');
wait_verdict($mo, $conv, 'valid', 'Macau online: the converted code is sealed and valid');
export("$dir/bundle4");
($out) = offline($conv, "$dir/bundle4");
like($out, qr/^valid\t/, 'offline, the converted code is valid before its source\'s revocation is due');
($out) = offline($conv, "$dir/bundle4", '--at', $now + 7200, '--max-age', 86400);
like($out, qr/^revoked\t/, 'and revoked after it is due (the snapshot carries when)');
# what a member sends may hold infinite times; a bundle still exports, and still loads
value($mo, "UPDATE hcledger.peer_codes SET effective_at = 'infinity' WHERE authority = 'guangdong' AND entry = 'revoke' AND reason = 'trip cancelled'");
value($mo, "UPDATE hcledger.keys SET valid_from = '1960-01-01' WHERE authority = 'guangdong'");
export("$dir/bundle5");
($out) = offline($code{'gd-red'}, "$dir/bundle5");
unlike($out, qr/^REFUSED/, 'a member\'s infinite revocation time and a key valid from 1960 still make a bundle that loads');
value($mo, "UPDATE hcledger.keys SET valid_from = now() - interval '1 minute' WHERE authority = 'guangdong' AND valid_from = '1960-01-01'");

# a byte changed anywhere: refused (every byte of the header and signed note, and
# 150 spread over the body: the keys, checkpoints and snapshots)
my $bytes = slurp("$dir/bundle");
my $accepted = 0;
my $body_at = index($bytes, "\nauthority ") + 1;
my @at = ((0 .. $body_at - 1), map { $body_at + int($_ * (length($bytes) - $body_at) / 150) } 0 .. 149);
for my $i (@at)
{
	my $b = $bytes;
	substr($b, $i, 1) ^= "\x01";
	spew("$dir/changed", $b);
	my ($o) = offline($code{'mo-valid'}, "$dir/changed");
	$accepted++ unless $o =~ /^REFUSED: /;
}
is($accepted, 0, 'each of ' . scalar(@at) . ' bytes of the bundle changed (of ' . length($bytes) . '): refused');
openssl('genpkey', '-algorithm', 'ed25519', '-out', "$dir/other.pem");
openssl('pkey', '-in', "$dir/other.pem", '-pubout', '-out', "$dir/other.pub");
my ($o2) = run_command([ 'hcledger-verify', 'code', '--bundle', "$dir/bundle", '--key', "$dir/other.pub", $code{'mo-valid'} ]);
like($o2, qr/^REFUSED: the bundle: the bundle's signature/, 'a bundle signed by another key than the one trusted is refused');

# privacy: nothing that names a code, and two snapshots of one state share no entry
my $ids = value($mo, "SELECT string_agg(encode(credential_id, 'hex') || ' ' || encode(coalesce(subject, '\\x'), 'hex') || ' ' || encode(coalesce(commitment, '\\x'), 'hex'), ' ') FROM (SELECT credential_id, subject, commitment, entry FROM hcledger.codes UNION ALL SELECT credential_id, subject, commitment, entry FROM hcledger.peer_codes) x WHERE entry <> 'snapshot'");  # a snapshot entry's id is its salt, in the bundle by design
my $leak = 0;
for my $h (grep { length($_) >= 32 } split / /, $ids)
{
	my $raw = pack('H*', $h);
	$leak++ if index($bytes, $raw) >= 0 || index($bytes, $h) >= 0 || index($bytes, substr($raw, 0, 8)) >= 0;
}
is($leak, 0, 'no credential id, subject or commitment (nor its first 8 bytes) is in the bundle');
my $entries = sub {
	my $s = value($mo, "SELECT encode(hcledger.status_snapshot('guangdong'), 'hex')");
	my $bin = pack('H*', $s);
	my @lines = split /\n/, $bin, 9;
	my $body = $lines[8];
	my %keys;
	while (length $body)
	{
		my $state = ord(substr($body, 8, 1));
		$keys{ substr($body, 0, 8) } = 1;
		$body = substr($body, ($state & 4) ? 17 : 9);
	}
	return \%keys;
};
my ($s1, $s2) = ($entries->(), $entries->());
is(scalar(grep { $s2->{$_} } keys %$s1), 0, 'two snapshots of the same state share no entry (fresh salt)');
cmp_ok(scalar(keys %$s1), '>=', 64 + 5, 'a snapshot holds its codes and at least 64 decoys');

# Snapshots in the ledger: each snapshot of a bundle is recorded in the
# exporting node's codes ledger, sealed there and carried to the members,
# each of which checks it against its own copy of the log
sub bundle_snapshots
{
	my ($b) = @_;
	my %snap;
	$b =~ s/^hcledger-bundle\/1\n(\d+)\n//s or die "not a bundle";
	my $body = substr($b, $1);
	while ($body =~ s/^([^\n]*)\n//s)
	{
		my @f = split / /, $1;
		next unless $f[0] eq 'snapshot';
		$snap{ $f[1] } = substr($body, 0, $f[2]);
		$body = substr($body, $f[2]);
	}
	return \%snap;
}
my $snaps = bundle_snapshots(slurp("$dir/bundle2"));
is(join(',', sort keys %$snaps), 'guangdong,macau', 'the last bundle has a snapshot of each authority');
is(value($mo, "SELECT count(*) FROM hcledger.codes WHERE entry = 'snapshot'"), '10',
   'five bundles exported at Macau: ten snapshot entries in its codes ledger');
sub check_snapshot
{
	my ($node, $snap) = @_;
	return value($node, "SELECT verdict || '|' || coalesce(committed_by, '-') || '|' || coalesce(commitment_sealing, '-') || '|'
	                            || problems || '|' || coalesce(first_problem, '-')
	                       FROM hcledger.check_status_snapshot('\\x" . unpack('H*', $snap) . "')");
}
for my $a ('macau', 'guangdong')
{
	my $q = "SELECT verdict = 'consistent' AND commitment_sealing = 'sealed'
	           FROM hcledger.check_status_snapshot('\\x" . unpack('H*', $snaps->{$a}) . "')";
	ok($mo->poll_query_until('postgres', $q), "Macau: its snapshot of $a is recorded, sealed and agrees with its log")
	  or diag(check_snapshot($mo, $snaps->{$a}));
	ok($gd->poll_query_until('postgres', $q), "Guangdong: Macau's snapshot of $a is recorded (by macau), sealed and agrees with Guangdong's copy")
	  or diag(check_snapshot($gd, $snaps->{$a}));
}
like(check_snapshot($gd, $snaps->{guangdong}), qr/^consistent\|macau\|sealed\|0\|-$/, 'Guangdong names Macau as the recorder');

# a snapshot hiding a revocation: Guangdong's revoked code shown unrevoked
my $gd_snap = $snaps->{guangdong};
my $hex = unpack('H*', $gd_snap);
my $key = value($mo, "SELECT encode(substr(sha256(convert_to(E'hcledger-status-key/1\\n', 'UTF8')
                                    || (hcledger.status_snapshot_header('\\x$hex')).salt
                                    || (hcledger.code_decode('$code{'gd-revoked'}')).credential_id), 1, 4), 'hex')");
my ($head, $body) = ($gd_snap =~ /^((?:[^\n]*\n){8})(.*)$/s);
my ($lie, $found) = ('', 0);
while (length $body)
{
	my $state = ord(substr($body, 8, 1));
	my $len = ($state & 4) ? 17 : 9;
	my $e = substr($body, 0, $len);
	$body = substr($body, $len);
	if (unpack('H*', substr($e, 0, 4)) eq $key && ($state & 4))
	{
		$e = substr($e, 0, 8) . chr($state & ~4);
		$found++;
	}
	$lie .= $e;
}
is($found, 1, 'the revoked code has one entry in the snapshot');
$lie = $head . $lie;
like(check_snapshot($gd, $lie), qr/^inconsistent\|-\|-\|1\|code [0-9a-f]{32} is revoked from .* in the log, not as early in the snapshot$/,
	 'Guangdong: a snapshot hiding its revocation is inconsistent, and recorded nowhere');
# a superuser at Macau records it behind hcledger's back: caught and named at Guangdong once sealed
value($mo, "INSERT INTO hcledger.codes (entry, credential_id, authority, at, commitment, reason)
            VALUES ('snapshot', (hcledger.status_snapshot_header('\\x" . unpack('H*', $lie) . "')).salt, 'macau', now(),
                    sha256('\\x" . unpack('H*', $lie) . "'), 'guangdong')");
ok($gd->poll_query_until('postgres', "SELECT committed_by = 'macau' AND commitment_sealing = 'sealed'
                                        FROM hcledger.check_status_snapshot('\\x" . unpack('H*', $lie) . "')"),
   'the forged record reaches Guangdong sealed');
like(check_snapshot($gd, $lie), qr/^inconsistent\|macau\|sealed\|1\|/, 'and the snapshot it records is inconsistent, with its recorder named');
# made but never put in a bundle: not committed; a log this node lacks: cannot check
like(check_snapshot($mo, pack('H*', value($mo, "SELECT encode(hcledger.status_snapshot('guangdong'), 'hex')"))),
	 qr/^not committed\|-\|-\|0\|-$/, 'a snapshot made but never put in a bundle is not committed');
(my $ahead = $gd_snap) =~ s/^((?:[^\n]*\n){4})\d+\n/${1}999999\n/s or die;
like(check_snapshot($gd, $ahead), qr/^cannot check\|-\|-\|0\|this node has \d+ leaves of the log of "guangdong", the snapshot 999999$/,
	 'a snapshot of a longer log than this node has cannot be checked');
my ($ret, $stdout, $stderr) = $gd->psql('postgres', "SELECT * FROM hcledger.check_status_snapshot('\\x" . unpack('H*', substr($gd_snap, 0, -3)) . "')");
like($stderr, qr/the status snapshot is malformed: it (is truncated|has bytes after its entries)/, 'a truncated snapshot is refused');

done_testing();
