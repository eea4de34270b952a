# Every database with ledgers is sealed (docs/operations.md, "Several
# databases"): the sealer's launcher starts, each round, a short-lived worker
# in each database that has the extension.
#  - two databases with ledgers are both sealed; one without the extension
#    is left alone, and is sealed as soon as the extension is created there;
#  - CREATE DATABASE ... TEMPLATE and DROP DATABASE of a sealed database
#    work while the sealer runs;
#  - hcledger.database limits the sealer to the databases it names.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;

my $node = PostgreSQL::Test::Cluster->new('databases');
$node->init;
$node->append_conf('postgresql.conf', authority_keys($node->basedir . '/') . qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 200
));
$node->start;

sub ledger_db
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION hcledger;
		CREATE TABLE visits (id int PRIMARY KEY, place text NOT NULL);
		SELECT hcledger.create_ledger('visits');
	});
}
sub insert { my ($db, $from, $to) = @_; $node->safe_psql($db, "INSERT INTO visits SELECT g, 'gate ' || g FROM generate_series($from, $to) g"); }
sub sealed
{
	my ($db, $rows, $what) = @_;
	ok($node->poll_query_until($db, "SELECT sealed_rows = $rows AND pending_rows = 0 FROM hcledger.status WHERE ledger = 'visits'::regclass"),
		$what);
}

ledger_db('alpha');
ledger_db('beta');
$node->safe_psql('postgres', 'CREATE DATABASE gamma');
insert('alpha', 1, 10);
insert('beta', 1, 20);
sealed('alpha', 10, 'the sealer seals a database with ledgers');
sealed('beta', 20, 'and another one, without being told its name');

# a database without the extension, then with it
$node->safe_psql('gamma', q{
	CREATE EXTENSION hcledger;
	CREATE TABLE visits (id int PRIMARY KEY, place text NOT NULL);
	SELECT hcledger.create_ledger('visits');
});
insert('gamma', 1, 5);
sealed('gamma', 5, 'a database where the extension is created later is sealed from then on');

# cloning and dropping a sealed database while the sealer runs
insert('alpha', 11, 20);
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE alpha_copy TEMPLATE alpha');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE of a sealed database works while the sealer runs') or diag($err);
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE alpha_copy');
is($ret, 0, 'and so does DROP DATABASE of the copy') or diag($err);
sealed('alpha', 20, 'sealing goes on');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE beta');
is($ret, 0, 'DROP DATABASE of a sealed database works while the sealer runs') or diag($err);

# the setting names the databases to seal
$node->append_conf('postgresql.conf', "hcledger.database = 'alpha'\n");
$node->reload;
sleep 1;
insert('alpha', 21, 30);
insert('gamma', 6, 10);
sealed('alpha', 30, 'with hcledger.database = alpha, alpha is sealed');
sleep 2;
is($node->safe_psql('gamma', "SELECT sealed_rows || '/' || pending_rows FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	'5/5', 'and gamma is not');
is($node->safe_psql('gamma', "SELECT count(*) FROM hcledger.seal()"), '1', 'there, hcledger.seal() seals');

my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR|FATAL:.*hcledger/, 'the sealer logged no error');
$node->stop;
done_testing();
