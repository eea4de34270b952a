# 8 concurrent writers, a fifth of their transactions rolled back, explicit
# seal() calls racing the sealer worker: the log ends gapless, holding every
# committed row exactly once, verify_ledger passes, and nothing deadlocks.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('writers');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 100
max_connections = 40
));
$node->start;

$node->safe_psql('postgres', q(
	CREATE EXTENSION hcledger;
	CREATE TABLE events (id int NOT NULL, writer int NOT NULL, payload text NOT NULL);
	SELECT hcledger.create_ledger('events');
));

# Each writer transaction inserts two rows; one in five rolls back.  One
# transaction in ten is an explicit seal() instead.
$node->pgbench(
	'-n -c 8 -j 2 -t 400',
	0,
	[qr{processed: 3200/3200}],
	[qr{^$}],
	'8 writers and explicit seals run without error',
	{
		'001_insert@9' => q(
			\set id random(1, 1000000)
			\set abort random(1, 5)
			BEGIN;
			INSERT INTO events VALUES (:id, :client_id, 'first');
			INSERT INTO events VALUES (:id, :client_id, 'second');
			\if :abort = 1
			ROLLBACK;
			\else
			COMMIT;
			\endif
		),
		'001_seal@1' => q(SELECT count(*) FROM hcledger.seal();),
	});

ok($node->poll_query_until('postgres',
		"SELECT pending_rows = 0 AND sealed_rows = committed_rows FROM hcledger.status WHERE ledger = 'events'::regclass"),
	'the sealer catches up with every committed row');

my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM events');
my ($size, $last_row) = split /\|/,
  $node->safe_psql('postgres', "SELECT tree_size, last_row FROM hcledger.ledgers WHERE relid = 'events'::regclass");
cmp_ok($committed, '>', 1000, "writers committed $committed rows");
is($size, $committed, 'the log holds exactly the committed rows');
is($node->safe_psql('postgres', 'SELECT count(DISTINCT hcl_row) FROM events'),
	$committed, 'each committed row once');
is($node->safe_psql('postgres', 'SELECT max(hcl_row) FROM events'),
	$last_row, 'the last sealed row is the last committed row');
is($node->safe_psql('postgres', q(SELECT count(*) FROM hcledger.verify_ledger('events'))),
	'0', 'verify_ledger passes');
is($node->safe_psql('postgres',
		"SELECT max(c.tree_size) FROM hcledger.checkpoints c JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'events'::regclass"),
	$size, 'the last checkpoint covers the whole log');
my $log = slurp_file($node->logfile);
unlike($log, qr/deadlock detected/, 'no deadlock');
unlike($log, qr/hcledger sealer.*terminated|ERROR:.*hcledger/, 'the sealer never failed');

$node->stop;
done_testing();
