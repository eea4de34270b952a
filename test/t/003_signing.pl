# The node's signing key and the offline verifier:
#  - checkpoints are C2SP signed notes that an independent checker (written
#    from the C2SP specification, using openssl pkeyutl) accepts;
#  - receipts verify with hcledger-verify, and any one changed byte makes it
#    print INVALID with a reason and exit 1;
#  - key files that are too open, missing, not Ed25519 or corrupt give clear
#    errors at reload and at seal time, and no checkpoint is made then;
#  - a reload rotates the key; a file changed without a reload is refused;
#  - the private key never reaches the log; non-superusers cannot see the path.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclFiles;

my $node = PostgreSQL::Test::Cluster->new('signing');
$node->init;
my $dir = $node->basedir;
my $key = "$dir/node.pem";

sub openssl { system('openssl', @_) == 0 or die "openssl @_ failed"; }
sub new_key { my ($path) = @_; unlink $path; openssl('genpkey', '-algorithm', 'ed25519', '-out', $path); chmod 0600, $path; }

new_key($key);
openssl('pkey', '-in', $key, '-pubout', '-out', "$dir/node.pub");
# Preloaded, as in production, so the postmaster checks the key at each
# reload; the worker's first round is an hour away (the test seals itself).
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 3600000
hcledger.signing_key_file = '$key'
));
$node->start;
$node->safe_psql('postgres', q(
	CREATE EXTENSION hcledger;
	CREATE TABLE codes (id int NOT NULL, status text NOT NULL);
	SELECT hcledger.create_ledger('codes');
	INSERT INTO codes SELECT g, 'green' FROM generate_series(1, 50) g;
	SELECT count(*) FROM hcledger.seal();
	INSERT INTO codes SELECT g, 'amber' FROM generate_series(51, 120) g;
	SELECT count(*) FROM hcledger.seal();
));

# Query output as exact bytes (no trailing newline added by psql).
sub value { return query_bytes($node, 'postgres', $_[0]); }

sub verify_cli
{
	my ($receipt, @keys) = @_;
	spew("$dir/receipt.json", $receipt);
	my ($out, $err) = run_command([ 'hcledger-verify', (map { ('--key', $_) } @keys), "$dir/receipt.json" ]);
	return ($? >> 8, $out);
}

# --- independent check of the signed note (C2SP, openssl pkeyutl) ---
my $note = value(q(SELECT note FROM hcledger.checkpoints ORDER BY tree_size DESC LIMIT 1));
spew("$dir/note.txt", $note);
my $checker = 'test/c2sp_verify_note.sh';
my ($out, $err) = run_command([ 'bash', $checker, "$dir/note.txt", "$dir/node.pub" ]);
like($out, qr/^ok: hcledger\/public\.codes\/[0-9a-f]{32} size 120 signed by /, 'an independent C2SP checker accepts the checkpoint');
(my $bad_note = $note) =~ s/\n120\n/\n121\n/;
spew("$dir/note.txt", $bad_note);
($out, $err) = run_command([ 'bash', $checker, "$dir/note.txt", "$dir/node.pub" ]);
like($out, qr/^FAIL: /, 'and rejects it with the size changed');

# --- receipts offline ---
my $receipt = value(q(SELECT hcledger.ledger_receipt('codes', 33, 50)));
my $consistency = value(q(SELECT hcledger.ledger_consistency_receipt('codes', 50, 120)));
my ($rc, $verdict) = verify_cli($receipt, "$dir/node.pub");
is($rc, 0, 'hcledger-verify accepts a receipt made by the database');
like($verdict, qr/^VALID: row 33 is leaf 32 of the signed log of 50 leaves \(hcledger\/public\.codes\/[0-9a-f]+, checkpoint signed by .* at \d{4}-\d\d-\d\dT/,
	'with a one-line verdict');
($rc, $verdict) = verify_cli($consistency, "$dir/node.pub");
is($rc, 0, 'and a consistency receipt between two checkpoints');
like($verdict, qr/^VALID: the log grew from 50 to 120 leaves/, 'saying so');

for my $case ([ 'receipt', $receipt ], [ 'consistency receipt', $consistency ])
{
	my ($what, $text) = @$case;
	my @accepted;
	my $no_reason = 0;
	for my $i (0 .. length($text) - 1)
	{
		my $flipped = $text;
		substr($flipped, $i, 1) = chr(ord(substr($text, $i, 1)) ^ 1);
		my ($code, $line) = verify_cli($flipped, "$dir/node.pub");
		push @accepted, $i if $code != 1;
		$no_reason++ unless $line =~ /^INVALID: \S.+\z/;
	}
	is(scalar(@accepted), 0, "every one of the " . length($text) . " bytes of a $what changed: hcledger-verify exits 1")
	  or diag("accepted with byte(s) changed at: @accepted");
	is($no_reason, 0, "each time printing INVALID and a reason");
}

# A rewritten history, signed with the node's own key: a checkpoint of 120
# leaves with another root, signed here with openssl (as a thief or the
# operator could), does not extend the checkpoint of 50.
{
	require Digest::SHA;
	require MIME::Base64;
	my ($origin) = $note =~ /\A([^\n]+)\n/;
	my ($old_body) = value(q(SELECT body FROM hcledger.checkpoints ORDER BY tree_size DESC LIMIT 1));
	my $forged = $old_body;
	my $fake_root = MIME::Base64::encode_base64(Digest::SHA::sha256('rewritten history'), '');
	$forged =~ s/\A([^\n]+\n\d+\n)[^\n]+\n/$1$fake_root\n/;
	spew("$dir/forged.txt", $forged);
	openssl('pkeyutl', '-sign', '-rawin', '-inkey', $key, '-in', "$dir/forged.txt", '-out', "$dir/forged.sig");
	openssl('pkey', '-in', $key, '-pubout', '-outform', 'DER', '-out', "$dir/node.der");
	my $raw_pub = substr(slurp("$dir/node.der"), -32);
	my $key_id = substr(Digest::SHA::sha256("$origin\n\x01$raw_pub"), 0, 4);
	my $forged_note = "$forged\n\x{e2}\x{80}\x{94} $origin " . MIME::Base64::encode_base64($key_id . slurp("$dir/forged.sig"), '') . "\n";
	spew("$dir/note.txt", $forged_note);
	($out, $err) = run_command([ 'bash', $checker, "$dir/note.txt", "$dir/node.pub" ]);
	like($out, qr/^ok: /, 'a forged checkpoint signed with the node key is a valid signed note');
	(my $json_note = $forged_note) =~ s/\n/\\n/g;
	(my $forked = $consistency) =~ s/"new_checkpoint":"[^"]*"/"new_checkpoint":"$json_note"/;
	($rc, $verdict) = verify_cli($forked, "$dir/node.pub");
	is($verdict, 'INVALID: the log of 120 leaves is not an extension of the log of 50 leaves (consistency proof fails)',
		'but a consistency receipt from the checkpoint of 50 to it is rejected: the rewritten history is caught');
}

($rc, $verdict) = verify_cli($receipt =~ s/"leaf_index":32/"leaf_index":31/r, "$dir/node.pub");
is($verdict, "INVALID: the inclusion proof does not lead from the leaf to the checkpoint's root", 'a changed index: the reason');
new_key("$dir/other.pem");
openssl('pkey', '-in', "$dir/other.pem", '-pubout', '-out', "$dir/other.pub");
($rc, $verdict) = verify_cli($receipt, "$dir/other.pub");
is($rc, 1, 'another public key: invalid');
like($verdict, qr/^INVALID: checkpoint: no signature by a trusted key for origin/, 'no trusted signature');
($rc, $verdict) = verify_cli($receipt, "$dir/other.pub", "$dir/node.pub");
is($rc, 0, 'one of several keys is enough');
($out, $err) = run_command([ 'hcledger-verify', "$dir/receipt.json" ]);
is($? >> 8, 2, 'no key: usage error, exit 2');
($out, $err) = run_command([ 'hcledger-verify', '--key', $key, "$dir/receipt.json" ]);
is($? >> 8, 2, 'a private key file is not taken as a public key');
like($err, qr/is not a public key/, 'with a message');
($out, $err) = run_command([ 'hcledger-verify', '--key', "$dir/node.pub", "$dir/missing.json" ]);
is($? >> 8, 2, 'a missing receipt file: exit 2');

# SQL and CLI agree on the same receipt
is($node->safe_psql('postgres', "SELECT (hcledger.verify_receipt(pg_read_file('$dir/receipt.json'), hcledger.signing_public_key())).valid"),
	't', 'the SQL verifier accepts the file the CLI accepted');

# --- key file problems: errors at reload and seal, no checkpoint made ---
sub checkpoints { return $node->safe_psql('postgres', 'SELECT count(*) FROM hcledger.checkpoints'); }
sub try_seal
{
	$node->safe_psql('postgres', q(INSERT INTO codes VALUES (1000, 'red')));
	my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM hcledger.seal()');
	return $stderr;
}
sub reload_expect
{
	my ($pattern, $what) = @_;
	my $offset = -s $node->logfile;
	$node->reload;
	ok($node->wait_for_log($pattern, $offset), "reload: $what is reported in the log");
}

my $before = checkpoints();
chmod 0640, $key;
reload_expect(qr/hcledger\.signing_key_file: signing key file ".*" has group or world access/, 'a group-readable key file');
like(try_seal(), qr/hcledger\.signing_key_file cannot be used: .* has group or world access/, 'sealing refuses with a group-readable key');
chmod 0604, $key;
reload_expect(qr/has group or world access/, 'a world-readable key file');
like(try_seal(), qr/cannot be used/, 'sealing refuses with a world-readable key');
rename $key, "$key.away";
reload_expect(qr/could not open signing key file/, 'a missing key file');
like(try_seal(), qr/could not open signing key file/, 'sealing refuses with a missing key file');
openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', $key);
chmod 0600, $key;
reload_expect(qr/holds a key that is not Ed25519/, 'a P-256 key');
like(try_seal(), qr/not Ed25519/, 'sealing refuses a key that is not Ed25519');
spew($key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
chmod 0600, $key;
reload_expect(qr/does not hold an unencrypted PEM private key/, 'a corrupt PEM');
like(try_seal(), qr/does not hold an unencrypted PEM private key/, 'sealing refuses a corrupt PEM');
is(checkpoints(), $before, 'no checkpoint was made with a bad key file');
is($node->safe_psql('postgres', q(SELECT count(*) FROM codes WHERE id = 1000)), '5', 'and the committed rows are kept, waiting');

# --- rotation by reload ---
rename "$key.away", $key;
chmod 0600, $key;
$node->reload;
$node->poll_query_until('postgres', q(SELECT hcledger.signing_public_key() IS NOT NULL)) or die;
is(try_seal(), '', 'the old key back: sealing works again');
my $old_pub = $node->safe_psql('postgres', 'SELECT hcledger.signing_public_key()');
new_key($key);
$node->reload;
$node->poll_query_until('postgres', "SELECT hcledger.signing_public_key() <> '$old_pub'") or die;
is(try_seal(), '', 'a new key file and a reload: sealing works');
openssl('pkey', '-in', $key, '-pubout', '-out', "$dir/new.pub");
is($node->safe_psql('postgres', q(SELECT string_agg(v.valid::text, ',' ORDER BY c.tree_size)
	FROM (SELECT * FROM hcledger.checkpoints ORDER BY tree_size DESC LIMIT 2) c,
	     hcledger.verify_checkpoint(c.note, hcledger.signing_public_key()) v)), 'false,true',
	'the newest checkpoint is signed by the new key, the one before by the old');
is($node->safe_psql('postgres', "SELECT (hcledger.verify_checkpoint(note, '$old_pub')).valid FROM hcledger.checkpoints ORDER BY tree_size DESC OFFSET 1 LIMIT 1"),
	't', 'and the old one still verifies with the old key');
new_key($key);
like(try_seal(), qr/holds another key than when the configuration was loaded/, 'a key file changed without a reload is refused');

# --- secrecy ---
my $pem = slurp($key);
my ($body) = $pem =~ /-----\n(\S+)\n-----END/;
my $log = slurp($node->logfile);
unlike($log, qr/\Q$body\E/, 'the private key never appears in the server log');
$node->safe_psql('postgres', 'CREATE ROLE clerk LOGIN');
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW hcledger.signing_key_file', extra_params => [ '-U', 'clerk' ]);
like($stderr, qr/permission denied|must be superuser|pg_read_all_settings/, 'non-superusers cannot read the key path');
is($node->safe_psql('postgres', q(SELECT count(*) FROM pg_catalog.pg_settings WHERE name = 'hcledger.signing_key_file'), extra_params => [ '-U', 'clerk' ]),
	'0', 'nor list it');

# --- no key: checkpoints are not signed, receipts say why ---
$node->append_conf('postgresql.conf', "hcledger.signing_key_file = ''\n");
$node->reload;
$node->poll_query_until('postgres', q(SELECT hcledger.signing_public_key() IS NULL)) or die;
is(try_seal(), '', 'without a key sealing works');
is($node->safe_psql('postgres', q(SELECT note IS NULL FROM hcledger.checkpoints ORDER BY tree_size DESC LIMIT 1)), 't',
	'and makes unsigned checkpoints');
($ret, $stdout, $stderr) = $node->psql('postgres', q(SELECT hcledger.ledger_receipt('codes', 1)));
like($stderr, qr/is not signed/, 'a receipt against an unsigned checkpoint is refused');
is($node->safe_psql('postgres', q(SELECT count(*) FROM hcledger.verify_ledger('codes'))), '0', 'the ledger verifies throughout');

$node->stop;
done_testing();
