# What holds a ledger's sealing back, named in hcledger.status (issue 16,
# "Observable"; docs/operations.md, "Monitoring"): the session, its role,
# database and the time its transaction began, why, and what to do, with
# how long pending rows have waited.
#  - an open transaction that inserted rows (a writer's, left idle): its
#    rows wait for it, and nothing else does;
#  - a gap, with a transaction open in another database: nothing is held;
#  - a session holding the table locked (the sealer skips the ledger);
#  - a reader without the right to see other sessions sees why, not who;
#  - once the holder ends, the row is sealed and the status is clear.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('holders');
$node->init;
$node->append_conf('postgresql.conf', q(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 100
));
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION hcledger;
	CREATE TABLE visits (v int UNIQUE);
	SELECT hcledger.create_ledger('visits');
	CREATE ROLE writer LOGIN;
	GRANT INSERT, SELECT ON visits TO writer;
	CREATE ROLE onlooker LOGIN;
	GRANT SELECT ON visits TO onlooker;
	GRANT hcledger_verifier TO onlooker;
	CREATE DATABASE elsewhere;
});

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub status_of
{
	my ($role) = @_;
	return $node->safe_psql('postgres',
		q{SELECT array_to_string(ARRAY[pending_rows::text, held_by_pid::text, held_by_role::text, held_by_database::text,
		                               (held_since IS NOT NULL)::text, held_because, (what_to_do IS NOT NULL)::text,
		                               (lag_seconds >= 0)::text], '|', '')
		    FROM hcledger.status WHERE ledger = 'visits'::regclass},
		extra_params => $role ? [ '-U', $role ] : []);
}
# A session of its own, running sql and then sleeping, in the background.
sub background
{
	my ($db, $role, $sql) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-U', $role, '-c', $sql ],
		'<', \$in, '>', \$out, '2>', \$err);
	return $h;
}
sub pid_of { my ($app) = @_; return sql("SELECT pid FROM pg_stat_activity WHERE query LIKE '%$app%' AND pid <> pg_backend_pid()"); }

# 1. A writer's transaction left open after its insert.
my $idle = background('postgres', 'writer', q{BEGIN; INSERT INTO visits VALUES (1); SELECT 'left-open', pg_sleep(4); COMMIT;});
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%left-open%' AND pid <> pg_backend_pid()");
sql('INSERT INTO visits VALUES (2)');
ok($node->poll_query_until('postgres', "SELECT blocked_by IS NOT NULL AND pending_rows = 0 FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	'the open transaction\'s rows wait for it; the row committed after them is sealed');
my $pid = pid_of('left-open');
like(status_of(), qr/^0\|$pid\|writer\|postgres\|true\|transaction \d+ inserted rows and has not ended: they are sealed once it commits \(later rows are sealed meanwhile\)\|true\|true$/,
	'status names the session, its role and database, since when, why and what to do');
like(status_of('onlooker'), qr/^0\|\|\|\|false\|transaction \d+ inserted rows and has not ended/, 'a reader without rights on other sessions sees why, not who');
$idle->finish;
ok($node->poll_query_until('postgres', "SELECT pending_rows = 0 AND held_because IS NULL FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	'once it commits, everything is sealed and nothing is held');

# 1b. The same from inside a savepoint (the row carries the subtransaction's XID).
my $sub = background('postgres', 'writer', q{BEGIN; SAVEPOINT s; INSERT INTO visits VALUES (10); SELECT 'in-a-savepoint', pg_sleep(4); COMMIT;});
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%in-a-savepoint%' AND pid <> pg_backend_pid()");
sql('INSERT INTO visits VALUES (11)');
ok($node->poll_query_until('postgres', "SELECT blocked_by IS NOT NULL AND pending_rows = 0 FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	'a row inserted in a savepoint waits for its transaction too, and it alone');
$pid = pid_of('in-a-savepoint');
like(status_of(), qr/^0\|$pid\|writer\|postgres\|true\|transaction \d+ inserted rows/, 'and status names its session (the top-level transaction)');
$sub->finish;
ok($node->poll_query_until('postgres', "SELECT pending_rows = 0 AND held_because IS NULL FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	'once it commits, nothing is held');

# 2. A gap, with a transaction open in another database: it cannot fill
#    the gap (it holds no lock on the ledger), so nothing waits for it.
my $other = background('elsewhere', 'postgres', q{BEGIN; SELECT pg_current_xact_id(); SELECT 'far-away', pg_sleep(4); COMMIT;});
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%far-away%' AND backend_xid IS NOT NULL");
sql('INSERT INTO visits VALUES (1) ON CONFLICT DO NOTHING; INSERT INTO visits VALUES (3)');
ok($node->poll_query_until('postgres', "SELECT pending_rows = 0 AND held_because IS NULL AND waiting_on_row IS NULL FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	'a row number without a row, and a transaction open in another database: the gap is passed over at once');
ok($node->safe_psql('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%far-away%' AND backend_xid IS NOT NULL") eq 't',
	'while that transaction is still open');
$other->finish;

# 3. A session holding the table locked.
my $locker = background('postgres', 'postgres', q{BEGIN; LOCK TABLE visits IN ACCESS EXCLUSIVE MODE; SELECT 'locked-up', pg_sleep(4); COMMIT;});
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'visits'::regclass AND mode = 'AccessExclusiveLock' AND granted");
$pid = pid_of('locked-up');
like(status_of(), qr/^\|$pid\|postgres\|postgres\|true\|a session holds the table or its row-number index locked \(AccessExclusiveLock\)/,
	'status names the session holding the table locked, without waiting for it');
$locker->finish;
ok($node->poll_query_until('postgres', "SELECT pending_rows = 0 AND held_because IS NULL FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	'once it ends, nothing is held');

done_testing();
