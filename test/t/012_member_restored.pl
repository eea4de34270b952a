# A consortium member restored from backup comes back (docs/operations.md,
# "A consortium member restored from backup"): Macau's server is lost after
# it sealed, signed and published codes (one of them revoked) that its
# backup does not hold.  Restored from that backup, its node refuses to sign
# a history that does not extend what it signed; it takes the lost rows
# back from Guangdong's verified copy, admits Guangdong again, and
# Guangdong resumes from the new slot: Macau's log continues where it was,
# Guangdong accepts it without refusing anything, and codes issued after
# the restore verify there, the revocation too.  The lost rows include one
# sealed late (out of row-number order): the log is rebuilt in the order
# it was signed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;

my $keys = PostgreSQL::Test::Utils::tempdir();
my ($mo, $mo_card) = member($keys, 'macau', 1);
my ($gd, $gd_card) = member($keys, 'guangdong', 1);

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub lit { (my $s = $_[0]) =~ s/'/''/g; return $s; }
value($mo, "SELECT hcledger.admit_member('guangdong')");
value($gd, "SELECT hcledger.admit_member('macau')");
value($mo, "SELECT hcledger.join_member('" . lit($gd_card) . "', '" . lit($gd->connstr('postgres')) . "')");
value($gd, "SELECT hcledger.join_member('" . lit($mo_card) . "', '" . lit($mo->connstr('postgres')) . "')");

sub issue
{
	my ($node, $doc) = @_;
	return split /\|/, value($node, "SELECT encode(credential_id, 'hex') || '|' || payload FROM hcledger.issue_code("
		. "jsonb_build_object('name', 'Traveller $doc', 'document_number', '$doc', 'birth_date', '1980-01-01'))");
}
sub sealed_size
{
	my ($node) = @_;
	$node->poll_query_until('postgres', "SELECT pending_rows = 0 FROM hcledger.status WHERE ledger = 'hcledger.codes'::regclass")
	  or die 'not sealed';
	return value($node, "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass AND dropped_at IS NULL");
}
sub accepted
{
	my ($size, $what) = @_;
	ok($gd->poll_query_until('postgres', "SELECT tree_size >= $size FROM hcledger.members WHERE authority = 'macau'"), $what)
	  or diag(value($gd, 'SELECT * FROM hcledger.refused; SELECT id, tree_size, state, reason FROM hcledger.peer_checkpoints ORDER BY id DESC LIMIT 3'));
}
sub verdict { my ($node, $payload) = @_; return value($node, "SELECT verdict FROM hcledger.verify_code('$payload')"); }

my ($a_id, $a_code) = issue($mo, 'MO-BEFORE');
accepted(sealed_size($mo), 'Guangdong accepts Macau\'s log');
$mo->backup('nightly');
my $last_row = value($mo, 'SELECT max(hcl_row) FROM hcledger.codes');

# after the backup: codes issued, one revoked, sealed, signed and published;
# one of them issued in a transaction left open while another was issued
# and sealed, so sealed late, out of row-number order (docs/format.md,
# "Sealing order")
my ($in, $out, $err) = ('', '', '');
my $open = IPC::Run::start([ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $mo->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN; SELECT encode(credential_id, 'hex') || '|' || payload FROM hcledger.issue_code(jsonb_build_object('name', 'Traveller MO-LATE', 'document_number', 'MO-LATE', 'birth_date', '1980-01-01'));\n";
$open->pump until $out =~ /\|/;
my ($b_id, $b_code) = issue($mo, 'MO-LOST-1');
ok($mo->poll_query_until('postgres', "SELECT last_row = (SELECT max(hcl_row) FROM hcledger.codes) FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass AND dropped_at IS NULL"),
	'a code issued while another issuer\'s transaction is open is sealed');
$in .= "COMMIT;\n\\q\n";
$open->finish;
my ($late_id, $late_code) = split /\|/, (split /\n/, $out)[0];
my ($c_id, $c_code) = issue($mo, 'MO-LOST-2');
value($mo, "SELECT hcledger.revoke_code(decode('$c_id', 'hex'), 'withdrawn before the crash')");
my $lost_size = sealed_size($mo);
accepted($lost_size, 'Guangdong accepts the checkpoint the backup will not hold');
is(verdict($gd, $c_code), 'revoked', 'the revocation is known in Guangdong');
my $port = $mo->port;
$mo->stop('immediate');

# Macau restored from the nightly backup, on the same address, with its keys and signing record
my $mo2 = PostgreSQL::Test::Cluster->new('macau_restored', port => $port);
$mo2->init_from_backup($mo, 'nightly');
# its sealer kept off the database until the lost rows are back (docs/operations.md)
$mo2->append_conf('postgresql.conf', "hcledger.database = 'none'\n");
$mo2->start;
is(value($mo2, 'SELECT max(hcl_row) FROM hcledger.codes'), $last_row, 'the restored server lacks the rows sealed after the backup');
is(value($mo2, "SELECT state FROM hcledger.signing_state WHERE ledger = 'hcledger.codes'::regclass"),
	'behind: the log is shorter than what was signed; nothing more is signed', 'and knows it is behind what it signed');

# the procedure: admit the peer again, the peer resumes from the new slot,
# the lost rows come back from the peer's verified copy
value($mo2, "SELECT hcledger.admit_member('guangdong')");
$gd->safe_psql('postgres', "CALL hcledger.resume_member('macau')");
my $dir = PostgreSQL::Test::Utils::tempdir();
my $restored_size = value($mo2, "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass AND dropped_at IS NULL");
my $rows = value($gd, "COPY (SELECT * FROM hcledger.verified_peer_rows('macau', $restored_size)) TO STDOUT");
open my $f, '>', "$dir/lost.tsv" or die; print $f "$rows\n"; close $f;
chmod 0644, "$dir/lost.tsv";
$mo2->safe_psql('postgres', "CREATE TABLE lost (log_position bigint, LIKE hcledger.codes); COPY lost FROM '$dir/lost.tsv'");
# refused: a row past what the node signed (no peer can have accepted it), and
# a row written here since the restore under a lost row's number
my (undef, undef, $err1) = $mo2->psql('postgres', q{BEGIN;
	INSERT INTO lost SELECT log_position + 1, entry, credential_id, authority, at, colour, subject, commitment, valid_from,
	       valid_until, key_id, signature, effective_at, 'made up', hcl_row + 1000
	  FROM lost ORDER BY log_position DESC LIMIT 1;
	SELECT hcledger.recover_codes('lost');
	ROLLBACK;}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err1, qr/ERROR:  22023: the rows of "public\.lost" reach log position \d+, past the \d+ leaves this node signed/,
	'recover_codes refuses a row past what the node signed');
my (undef, undef, $err0) = $mo2->psql('postgres', q{BEGIN;
	DELETE FROM lost WHERE log_position = (SELECT min(log_position) + 1 FROM lost);
	SELECT hcledger.recover_codes('lost');
	ROLLBACK;}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err0, qr/ERROR:  22023: the rows of "public\.lost" do not cover log positions \d+ to \d+ once each/,
	'recover_codes refuses rows that leave a log position out');
my (undef, undef, $err3) = $mo2->psql('postgres', "SELECT hcledger.append_listed_rows('hcledger.codes', $restored_size, ARRAY[1])",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err3, qr/ERROR:  22023: row 1 of ledger "hcledger\.codes" is already sealed, or was passed over for good/,
	'append_listed_rows refuses a row the restored log already holds');
my (undef, undef, $err2) = $mo2->psql('postgres', q{BEGIN;
	SELECT hcledger.issue_code(jsonb_build_object('name', 'Traveller MO-TOO-SOON', 'document_number', 'MO-TOO-SOON'));
	SELECT hcledger.recover_codes('lost');
	ROLLBACK;}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err2, qr/ERROR:  23505: row \d+ of hcledger\.codes here is not the row the peer holds under that number/,
	'and a code issued since the restore under a lost row\'s number');
is(value($mo2, "SELECT hcledger.recover_codes('lost')"), 4, 'four lost rows (one sealed late) come back from Guangdong\'s verified copy');
$mo2->append_conf('postgresql.conf', "hcledger.database = 'postgres'\n");
$mo2->reload;
my $size = sealed_size($mo2);
cmp_ok($size, '>=', $lost_size, 'they are sealed again');
is(value($mo2, "SELECT state FROM hcledger.signing_state WHERE ledger = 'hcledger.codes'::regclass"), 'continues',
	'to the same leaves: the log continues what was signed');
is(verdict($mo2, $c_code), 'revoked', 'the revocation is back at Macau');
is(verdict($mo2, $late_code), 'valid', 'and the code sealed late is valid there');
is(value($mo2, "SELECT count(*) FROM hcledger.verify_ledger('hcledger.codes')"), '0', 'the rebuilt log verifies');

# and Guangdong accepts Macau's log again, refusing nothing
my ($d_id, $d_code) = issue($mo2, 'MO-AFTER');
my $after = sealed_size($mo2);
accepted($after, 'Guangdong accepts Macau\'s log again, from where it was');
is(value($gd, "SELECT count(*) FROM hcledger.refused WHERE authority = 'macau'"), '0', 'without refusing anything');
ok($gd->poll_query_until('postgres', "SELECT verdict = 'valid' FROM hcledger.verify_code('$d_code')"),
	'a code issued after the restore verifies at Guangdong');
is(verdict($gd, $c_code), 'revoked', 'the revocation still stands there');
is(verdict($gd, $a_code), 'valid', 'and a code from before the backup is valid');
is(value($gd, "SELECT missing_rows FROM hcledger.members WHERE authority = 'macau'"), '0', 'no row of Macau\'s log is missing');

# A member that has never issued nor published joins Macau and checks its
# codes (its own codes ledger is registered as it joins).
my $ob = PostgreSQL::Test::Cluster->new('observer');
$ob->init(allows_streaming => 'logical');
$ob->append_conf('postgresql.conf', authority_keys("$keys/observer-") . qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 100
max_logical_replication_workers = 8
max_worker_processes = 16
wal_retrieve_retry_interval = '200ms'
));
$ob->start;
value($ob, q{CREATE EXTENSION hcledger;
	SELECT hcledger.add_authority('observer', 'An observer', true);
	SELECT hcledger.add_key('observer', 'node-1', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');});
value($mo2, "SELECT hcledger.admit_member('observer')");
$mo_card = value($mo2, 'SELECT hcledger.member_card()');
value($ob, "SELECT hcledger.join_member('" . lit($mo_card) . "', '" . lit($mo2->connstr('postgres')) . "')");
ok($ob->poll_query_until('postgres', "SELECT tree_size >= $after FROM hcledger.members WHERE authority = 'macau'"),
	'a member that never issued nor published accepts Macau\'s log')
  or diag(value($ob, 'SELECT * FROM hcledger.refused'));
is(verdict($ob, $d_code), 'valid', 'and verifies its codes');
$ob->stop;

$mo2->stop;
$gd->stop;
done_testing();
