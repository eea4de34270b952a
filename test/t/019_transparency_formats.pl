# The log as transparency-log tools read it, checked with code nobody on this
# project wrote (Go's golang.org/x/mod/sumdb/note and sumdb/tlog, Debian's
# golang-golang-x-mod-dev, driven by test/interop/tlogcheck.go):
#  - every legal table name gives a valid, distinct checkpoint origin: names
#    with a space, a plus, a slash, a Unicode space, a dot or a percent sign
#    make ledgers whose notes verify and whose receipts Go's packages accept
#    (before 0.3.0 "Visits 2026" made every checkpoint a malformed note);
#  - ledger_verifier_key is the key Go's note.NewVerifier takes, and
#    ledger_tlog_proof makes C2SP tlog-proofs that verify with it;
#  - hcledger-export-tiles writes a C2SP tlog-tiles tree that Go's tlog reads
#    (tree hash, tiles, entry bundles, inclusion and consistency proofs),
#    incrementally, with the partial tiles of every checkpoint between two
#    runs; a mirror of another log is refused and left as it was.
use strict;
use warnings;

use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclFiles;

my $node = PostgreSQL::Test::Cluster->new('formats');
$node->init;
my $dir = $node->basedir;
my $key = "$dir/node.pem";
system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out', $key) == 0 or die;
chmod 0600, $key;
system('openssl', 'pkey', '-in', $key, '-pubout', '-out', "$dir/node.pub") == 0 or die;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 3600000
hcledger.signing_key_file = '$key'
));
$node->start;

# The third-party checker, built from Debian's Go sources (no network).
my $gocache = tempdir(CLEANUP => 1);
my $tlogcheck = "$dir/tlogcheck";
{
	local $ENV{GO111MODULE} = 'off';
	local $ENV{GOPATH} = '/usr/share/gocode';
	local $ENV{GOCACHE} = $gocache;
	local $ENV{GOFLAGS} = '';
	my ($out, $err) = run_command([ 'go', 'build', '-o', $tlogcheck, 'test/interop/tlogcheck.go' ]);
	ok(-x $tlogcheck, 'the Go checker builds from Debian\'s golang.org/x/mod sources') or BAIL_OUT("go build: $err");
}


# Query output as exact bytes.
sub value { return query_bytes($node, 'formats', $_[0]); }

sub run
{
	my @cmd = @_;
	my ($out, $err) = run_command(\@cmd);
	return ($? >> 8, $out . $err);
}

$node->safe_psql('postgres', q(CREATE DATABASE formats ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0));
$node->safe_psql('formats', q(CREATE EXTENSION hcledger; CREATE SCHEMA "my schema"));

# Names that the origin must encode: a space, a plus, a slash, a newline, an
# ideographic space, a dot, a percent sign (and "a%20b" next to "a b").
my @names = ('"Visits 2026"', '"a+b"', '"x/y"', '"line' . "\n" . 'break"', "\"x\xe3\x80\x80y\"", '"my schema"."t.1"', '"a b"', '"a%20b"');
for my $name (@names)
{
	$node->safe_psql('formats', qq(
		CREATE TABLE $name (id int, v text);
		SELECT hcledger.create_ledger('$name');
		INSERT INTO $name SELECT g, 'v' || g FROM generate_series(1, 40) g;
		SELECT count(*) FROM hcledger.seal();
		INSERT INTO $name SELECT g, 'w' || g FROM generate_series(41, 90) g;
		SELECT count(*) FROM hcledger.seal();
	));
}
my @origins = split /\n/, $node->safe_psql('formats', q(SELECT origin FROM hcledger.ledgers ORDER BY ledger_id));
is(scalar(@origins), scalar(@names), 'one ledger per name');
is(scalar(grep { m{^hcledger/[A-Za-z0-9_%.-]+/[0-9a-f]{32}$} } @origins), scalar(@names),
	'every origin is printable ASCII without spaces or plus signs');
my %prefix = map { (s{/[0-9a-f]{32}$}{}r, 1) } @origins;
is(scalar(keys %prefix), scalar(@names), 'and names them apart ("a b" and "a%20b" too)');
is($node->safe_psql('formats', q(SELECT string_agg(regexp_replace(origin, '/[0-9a-f]{32}$', ''), ' ' ORDER BY ledger_id) FROM hcledger.ledgers)),
	'hcledger/public.Visits%202026 hcledger/public.a%2Bb hcledger/public.x%2Fy hcledger/public.line%0Abreak '
	  . 'hcledger/public.x%E3%80%80y hcledger/my%20schema.t%2E1 hcledger/public.a%20b hcledger/public.a%2520b',
	'each written as docs/format.md says');
is($node->safe_psql('formats', q(SELECT count(*) FROM hcledger.ledgers l, hcledger.verify_ledger(l.relid::regclass))),
	'0', 'verify_ledger finds nothing wrong with any of them');

my ($r0, $o0, $e0) = $node->psql('formats', q(ALTER TABLE "Visits 2026" ADD COLUMN extra int));
like($e0, qr/cannot alter ledger table public\."Visits 2026": /, 'the guards name the table as SQL writes it, not as its origin does');

# A SQL_ASCII database: names are bytes of no declared encoding, written
# %XX as they are; a note key name must still be valid UTF-8 without spaces.
$node->safe_psql('postgres', q(CREATE DATABASE ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0));
$node->safe_psql('ascii', qq(CREATE EXTENSION hcledger; CREATE TABLE "caf\xe9" (id int); SELECT hcledger.create_ledger('"caf\xe9"')));
like($node->safe_psql('ascii', q(SELECT origin FROM hcledger.ledgers)), qr{^hcledger/public\.caf%E9/[0-9a-f]{32}$},
	'SQL_ASCII: a name that is not UTF-8 makes a ledger, its bytes written %XX');
my $key = q('\xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
like($node->safe_psql('ascii', qq(SELECT hcledger.verifier_key('x\xc3\xa0y', $key))), qr/^x\xc3\xa0y\+[0-9a-f]{8}\+/,
	'SQL_ASCII: a name with U+00E0 (bytes C3 A0) is a valid key name');
for my $bad ([ "x\xc2\xa0y", 'a no-break space (C2 A0)' ], [ "caf\xe9", 'bytes that are not UTF-8' ], [ "x\xe3\x80\x80y", 'an ideographic space' ])
{
	my ($r, $o, $e) = $node->psql('ascii', qq(SELECT hcledger.verifier_key('$bad->[0]', $key)));
	like($e, qr/a note key name must be non-empty UTF-8, without spaces/, "SQL_ASCII: $bad->[1] in a key name: refused");
}

my $other_vk;
for my $i (0 .. $#names)
{
	my $name = $names[$i];
	my $q = $name =~ s/'/''/gr;
	my $vk = value(qq(SELECT hcledger.ledger_verifier_key('$q')));
	$other_vk //= $vk if $i == 1;
	spew("$dir/note.txt", value(qq(SELECT note FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
	                                WHERE l.relid = '$q'::regclass ORDER BY k.tree_size DESC LIMIT 1)));
	my ($rc, $out) = run('bash', 'test/c2sp_verify_note.sh', "$dir/note.txt", "$dir/node.pub");
	is($rc, 0, "$name: the C2SP note checker accepts its checkpoint") or diag($out);
	spew("$dir/receipt.json", value(qq(SELECT hcledger.ledger_receipt('$q', 33))));
	($rc, $out) = run('hcledger-verify', '--key', "$dir/node.pub", "$dir/receipt.json");
	is($rc, 0, "$name: hcledger-verify accepts a receipt") or diag($out);
	($rc, $out) = run($tlogcheck, $vk, "$dir/receipt.json");
	like($out, qr/^ok: record 32 in \Q$origins[$i]\E size 90/, "$name: Go's note.Open and tlog.CheckRecord accept it with its verifier key");
	spew("$dir/consistency.json", value(qq(SELECT hcledger.ledger_consistency_receipt('$q', 40, 90))));
	($rc, $out) = run($tlogcheck, $vk, "$dir/consistency.json");
	like($out, qr/^ok: .* size 90 extends size 40/, "$name: and tlog.CheckTree the consistency receipt");
	spew("$dir/proof.tlog-proof", value(qq(SELECT hcledger.ledger_tlog_proof('$q', 33))));
	($rc, $out) = run($tlogcheck, 'proof', $vk, "$dir/proof.tlog-proof");
	like($out, qr/^ok: tlog-proof of record 32 in \Q$origins[$i]\E size 90/, "$name: and its C2SP tlog-proof");
}
# The checker's refusals, so that its "ok" means something.
my $vk0 = value(q(SELECT hcledger.ledger_verifier_key('"Visits 2026"')));
spew("$dir/receipt.json", value(q(SELECT hcledger.ledger_receipt('"Visits 2026"', 33))));
my ($rc, $out) = run($tlogcheck, $other_vk, "$dir/receipt.json");
is($rc, 1, 'another ledger\'s verifier key: refused');
like($out, qr/^FAIL: note\.Open/, 'by note.Open');
spew("$dir/changed.json", slurp("$dir/receipt.json") =~ s/"leaf_index":32/"leaf_index":31/r);
($rc, $out) = run($tlogcheck, $vk0, "$dir/changed.json");
like($out, qr/^FAIL: tlog\.CheckRecord/, 'a changed leaf index: refused by tlog.CheckRecord');
spew("$dir/changed.tlog-proof", value(q(SELECT hcledger.ledger_tlog_proof('"Visits 2026"', 33))) =~ s/\nindex 32\n/\nindex 31\n/r);
($rc, $out) = run($tlogcheck, 'proof', $vk0, "$dir/changed.tlog-proof");
like($out, qr/^FAIL: tlog\.CheckRecord/, 'in a tlog-proof too');

# --- the log as a static tlog-tiles tree ---
# 66,000 rows: two tile levels full and a third begun; then two more
# checkpoints between two exports.
$node->safe_psql('formats', q(
	INSERT INTO "Visits 2026" SELECT g, 'v' || g FROM generate_series(91, 66000) g;
	SELECT count(*) FROM hcledger.seal();
));
my $mirror = "$dir/mirror";
($rc, $out) = run('hcledger-export-tiles', '"Visits 2026"', $mirror, '-d', 'formats', '-h', $node->host, '-p', $node->port);
is($rc, 0, 'hcledger-export-tiles writes a tree') or diag($out);
like($out, qr/checkpoint is now at 66000 leaves/, 'up to the latest checkpoint');
($rc, $out) = run($tlogcheck, 'tiles', $vk0, $mirror);
like($out, qr/^ok: hcledger\/public\.Visits%202026\/\S+ size 66000: \d+ tiles and 258 entry bundles give the signed root/,
	'Go\'s tlog reads it: tiles, entry bundles and inclusion proofs against the signed root') or diag($out);
my $first = slurp("$mirror/checkpoint");
spew("$dir/first.note", $first);

$node->safe_psql('formats', q(
	INSERT INTO "Visits 2026" SELECT g, 'x' FROM generate_series(1, 100) g;
	SELECT count(*) FROM hcledger.seal();
	INSERT INTO "Visits 2026" SELECT g, 'y' FROM generate_series(1, 100) g;
	SELECT count(*) FROM hcledger.seal();
));
($rc, $out) = run('hcledger-export-tiles', '"Visits 2026"', $mirror, '-d', 'formats', '-h', $node->host, '-p', $node->port);
like($out, qr/(\d+) files written; .* at 66200 leaves/, 'a second run adds what is new') or diag($out);
my ($written) = $out =~ /(\d+) files written/;
cmp_ok($written, '<', 20, "only the tiles that changed ($written files)");
($rc, $out) = run($tlogcheck, 'tiles', $vk0, $mirror, "$dir/first.note");
like($out, qr/^ok: .* size 66200: .* consistent with size 66000$/, 'Go\'s tlog reads the grown tree and proves it extends the first');
# The checkpoint sealed between the two runs has its partial tiles too
# (those still partial: tile 258 of 66,100 leaves, not 257, now full).
my $mid = "$dir/mid";
system('cp', '-a', $mirror, $mid) == 0 or die;
spew("$mid/checkpoint", value(q(SELECT note FROM hcledger.checkpoints WHERE tree_size = 66100)));
($rc, $out) = run($tlogcheck, 'tiles', $vk0, $mid, "$dir/first.note");
like($out, qr/^ok: .* size 66100: /, 'the tree at the checkpoint sealed between two runs is served as well') or diag($out);
($rc, $out) = run('hcledger-export-tiles', '"Visits 2026"', $mirror, '-d', 'formats', '-h', $node->host, '-p', $node->port);
like($out, qr/nothing new/, 'a run with nothing new writes nothing');

# Tampering with the mirror is caught by the third-party reader.
spew("$mid/checkpoint", slurp("$mirror/checkpoint"));
my $tile = "$mid/tile/1/000";
my $bytes = slurp($tile);
substr($bytes, 100, 1) = chr(ord(substr($bytes, 100, 1)) ^ 1);
spew($tile, $bytes);
($rc, $out) = run($tlogcheck, 'tiles', $vk0, $mid);
like($out, qr/^FAIL: .*tile\/1\/000 is not the tile of the signed tree/, 'a changed level-1 tile: refused');
spew($tile, slurp("$mirror/tile/1/000"));
my $bundle = "$mid/tile/entries/100";
$bytes = slurp($bundle);
substr($bytes, 40, 1) = chr(ord(substr($bytes, 40, 1)) ^ 1);
spew($bundle, $bytes);
($rc, $out) = run($tlogcheck, 'tiles', $vk0, $mid);
like($out, qr/^FAIL: .*entries\/100: entry 0 does not hash to leaf 25600/, 'a changed entry: refused');

# A mirror of another log is refused and left as it was.
($rc, $out) = run('hcledger-export-tiles', '"a+b"', $mirror, '-d', 'formats', '-h', $node->host, '-p', $node->port);
is($rc, 1, 'exporting another ledger into a mirror: refused');
like($out, qr/the mirror serves the log "hcledger\/public\.Visits%202026\/\S+", not ledger/, 'saying which log the mirror serves');
is(slurp("$mirror/checkpoint"), value(q(SELECT note FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
                                        WHERE l.relid = '"Visits 2026"'::regclass ORDER BY k.tree_size DESC LIMIT 1)),
	'and its checkpoint is unchanged');
spew("$mid/checkpoint", $first =~ s/\n66000\n/\n65999\n/r);
($rc, $out) = run('hcledger-export-tiles', '"Visits 2026"', $mid, '-d', 'formats', '-h', $node->host, '-p', $node->port);
like($out, qr/the mirror's checkpoint of 65999 leaves is not of ledger ".+"'s history/, 'a mirror holding another history: refused');

# A mirror at a size the node made no checkpoint of, but of this history
# (a checkpoint lost with a restore, say), is brought up to date; one ahead
# of the database (a restored database, a lagging standby) is left alone.
my $root65000 = value(q(SELECT encode(((hcledger.ledger_inclusion_proof('"Visits 2026"', 65000, 65000)).root)::bytea, 'base64')));
my $at65000 = "$dir/at65000";
system('cp', '-a', $mirror, $at65000) == 0 or die;
spew("$at65000/checkpoint", $first =~ s/\n66000\n[^\n]+\n/\n65000\n$root65000\n/r);
($rc, $out) = run('hcledger-export-tiles', '"Visits 2026"', $at65000, '-d', 'formats', '-h', $node->host, '-p', $node->port);
like($out, qr/files written; .* at 66200 leaves/, 'a mirror at a size of this history that was never a checkpoint: brought up to date') or diag($out);
($rc, $out) = run($tlogcheck, 'tiles', $vk0, $at65000, "$dir/first.note");
like($out, qr/^ok: .* size 66200: /, 'and read by Go\'s tlog') or diag($out);
spew("$at65000/checkpoint", $first =~ s/\n66000\n/\n70000\n/r);
($rc, $out) = run('hcledger-export-tiles', '"Visits 2026"', $at65000, '-d', 'formats', '-h', $node->host, '-p', $node->port);
like($out, qr/the mirror's checkpoint of 70000 leaves is ahead of ledger ".+"'s latest signed checkpoint, of 66200 leaves/,
	'a mirror ahead of the database: refused, saying so');

# A mirror keeps the way it was exported, and one export runs at a time.
($rc, $out) = run('hcledger-export-tiles', '--no-entries', '"Visits 2026"', $mirror, '-d', 'formats', '-h', $node->host, '-p', $node->port);
like($out, qr/was exported with entry bundles; export it the same way/, 'switching a mirror to --no-entries: refused');
{
	open my $lock, '>>', "$mirror/.hcledger-export.lock" or die;
	require Fcntl;
	flock($lock, Fcntl::LOCK_EX()) or die;
	($rc, $out) = run('hcledger-export-tiles', '"Visits 2026"', $mirror, '-d', 'formats', '-h', $node->host, '-p', $node->port);
	like($out, qr/another export into \S+ is running/, 'a second export while one runs: stops at once');
	close $lock;
}

# Entries over 65,535 bytes cannot go in an entry bundle: refused with
# them, served without them; and only readers of the table get entries.
$node->safe_psql('formats', q(
	CREATE TABLE big (id int, v text);
	SELECT hcledger.create_ledger('big');
	INSERT INTO big VALUES (1, 'small'), (2, repeat('z', 70000));
	SELECT count(*) FROM hcledger.seal();
	CREATE ROLE reader LOGIN;
	GRANT USAGE ON SCHEMA hcledger TO reader;
));
($rc, $out) = run('hcledger-export-tiles', 'big', "$dir/big", '-d', 'formats', '-h', $node->host, '-p', $node->port);
is($rc, 1, 'a leaf over 65,535 bytes: the export with entry bundles is refused');
like($out, qr/has a leaf of 70\d\d\d bytes; an entry bundle holds entries of up to 65,535 bytes/, 'saying why');
ok(!-e "$dir/big/checkpoint", 'and no checkpoint is written');
($rc, $out) = run('hcledger-export-tiles', '--no-entries', 'big', "$dir/big", '-d', 'formats', '-h', $node->host, '-p', $node->port);
is($rc, 0, 'without entry bundles it is exported');
($rc, $out) = run($tlogcheck, 'tiles', value(q(SELECT hcledger.ledger_verifier_key('big'))), "$dir/big");
like($out, qr/^ok: .* size 2: 1 tiles and 0 entry bundles give the signed root/, 'and read by Go\'s tlog');
my ($r, $o, $e) = $node->psql('formats', q(SET ROLE reader; SELECT count(*) FROM hcledger.tlog_tiles('"Visits 2026"')));
like($e, qr/permission denied for table "?Visits 2026/, 'entry bundles carry the rows: a role that cannot read the table gets none');
is($node->safe_psql('formats', q(SET ROLE reader; SELECT count(*) > 0 FROM hcledger.tlog_tiles('"Visits 2026"', NULL, false))), 't',
	'but may export the tiles, which hold hashes only');
($r, $o, $e) = $node->psql('formats', q(SELECT hcledger.tlog_tiles('pg_class')));
like($e, qr/table "pg_class" is not a ledger/, 'a table that is not a ledger: refused');

$node->stop;
done_testing();
