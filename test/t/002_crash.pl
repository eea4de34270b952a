# kill -9 of the postmaster during a sustained append load: after restart
# every committed row is sealed into the log exactly once, no position is
# skipped or doubled, and verify_ledger passes.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 50
max_connections = 40
restart_after_crash = off
));
$node->start;
$node->safe_psql('postgres', q(
	CREATE EXTENSION hcledger;
	CREATE TABLE readings (id bigint NOT NULL, site int NOT NULL, at timestamptz NOT NULL DEFAULT now());
	SELECT hcledger.create_ledger('readings');
));

my $script = $node->basedir . '/append.sql';
open my $fh, '>', $script or die;
print $fh q(
\set id random(1, 1000000000)
INSERT INTO readings (id, site) SELECT :id, g FROM generate_series(1, 5) g;
);
close $fh;

# Four clients append for up to 60 s; the postmaster is killed after a few.
my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '60', '-f', $script,
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', "SELECT sealed_rows > 2000 FROM hcledger.status WHERE ledger = 'readings'::regclass"),
	'rows are being appended and sealed');
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM readings');
$node->kill9;
$load->finish;

# The killed postmaster's children exit once they notice; then it restarts
# (crash recovery) over the stale postmaster.pid.
my $started = 0;
for (1 .. 30)
{
	sleep 1;
	last if ($started = $node->start(fail_ok => 1));
	$node->{_pid} = undef;	# a failed start leaves the stale pid behind
}
ok($started, 'the server restarts after kill -9');
my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM readings');
cmp_ok($committed, '>=', $before, "after recovery $committed committed rows ($before seen before the kill)");
ok($node->poll_query_until('postgres',
		"SELECT pending_rows = 0 AND sealed_rows = committed_rows FROM hcledger.status WHERE ledger = 'readings'::regclass"),
	'the sealer, restarted with the server, seals everything');
my ($size, $last_row) = split /\|/,
  $node->safe_psql('postgres', "SELECT tree_size, last_row FROM hcledger.ledgers WHERE relid = 'readings'::regclass");
is($size, $committed, 'every committed row is in the log');
is($node->safe_psql('postgres', 'SELECT count(DISTINCT hcl_row) FROM readings'), $committed,
	'exactly once');
is($node->safe_psql('postgres', 'SELECT max(hcl_row) FROM readings'), $last_row,
	'up to the last committed row');
is($node->safe_psql('postgres', q(SELECT count(*) FROM hcledger.verify_ledger('readings'))), '0',
	'verify_ledger passes after the crash');

# appending goes on after the crash
$node->safe_psql('postgres', 'INSERT INTO readings (id, site) SELECT g, 0 FROM generate_series(1, 100) g');
ok($node->poll_query_until('postgres', "SELECT pending_rows = 0 FROM hcledger.status WHERE ledger = 'readings'::regclass"),
	'rows appended after recovery are sealed');
is($node->safe_psql('postgres', q(SELECT count(*) FROM hcledger.verify_ledger('readings'))), '0',
	'and the ledger still verifies');

$node->stop;
done_testing();
