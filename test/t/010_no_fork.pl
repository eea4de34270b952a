# Never two histories (docs/operations.md, "The signing record"): a server
# put back before checkpoints its node has already signed refuses to sign
# a history that does not extend them, and says so; the way out is a new
# log (restart_log).  Three ways back in time:
#  - point-in-time recovery to before a signed checkpoint;
#  - promotion of an asynchronous standby that had not received the last
#    signed checkpoint (the primary lost);
#  - and, for contrast, promotion of a synchronous standby, which received
#    everything signed: it goes on sealing and signing without a fork.
# The servers share the signing key and its record, as an HA pair shares the
# key (hcledger.signing_state_dir, by default the key's directory).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;

my $keys = PostgreSQL::Test::Utils::tempdir();
my $key_conf = authority_keys("$keys/") . qq(
shared_preload_libraries = 'hcledger'
hcledger.database = 'postgres'
hcledger.seal_interval = 3600000
);

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
# Seal now: the rows sealed, or the error.
sub seal
{
	my ($node) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM hcledger.seal()');
	return $ret == 0 ? 'sealed' : $err;
}
sub insert { my ($node, $from, $to, $what) = @_; value($node, "INSERT INTO visits SELECT g, '$what ' || g FROM generate_series($from, $to) g"); }
sub size_of { return value($_[0], "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'visits'::regclass AND dropped_at IS NULL"); }
sub signed_checkpoints { return value($_[0], "SELECT count(*) FROM hcledger.checkpoints WHERE note IS NOT NULL"); }

my $setup = q{
	CREATE EXTENSION hcledger;
	SELECT hcledger.add_authority('mo-ssm', 'Macau', true);
	SELECT hcledger.add_key('mo-ssm', 'node-1', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
	CREATE TABLE visits (id int PRIMARY KEY, place text NOT NULL);
	SELECT hcledger.create_ledger('visits');
};

# 1. Point-in-time recovery to before a signed checkpoint.
my $node = PostgreSQL::Test::Cluster->new('pitr');
$node->init(has_archiving => 1, allows_streaming => 1);
$node->append_conf('postgresql.conf', $key_conf);
$node->start;
value($node, $setup);
$node->backup('base');
insert($node, 1, 10, 'before');
is(seal($node), 'sealed', 'the first rows are sealed and signed');
my $size1 = size_of($node);
value($node, "SELECT pg_create_restore_point('before_second')");
insert($node, 11, 20, 'signed later');
is(seal($node), 'sealed', 'later rows are sealed and signed');
my $size2 = size_of($node);
my $origin = value($node, "SELECT origin FROM hcledger.ledgers WHERE relid = 'visits'::regclass");
value($node, 'SELECT pg_switch_wal()');
$node->poll_query_until('postgres', "SELECT last_archived_wal IS NOT NULL AND last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver")
  or die 'WAL not archived';
$node->stop;

my $recovered = PostgreSQL::Test::Cluster->new('recovered');
$recovered->init_from_backup($node, 'base', has_restoring => 1);
$recovered->append_conf('postgresql.conf', "recovery_target_name = 'before_second'\nrecovery_target_action = 'promote'\n");
$recovered->start;
$recovered->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'recovery did not end';
is(size_of($recovered), $size1, 'recovered to before the second signed checkpoint');
is(value($recovered, "SELECT state FROM hcledger.signing_state WHERE ledger = 'visits'::regclass"),
	'behind: the log is shorter than what was signed; nothing more is signed', 'the signing state says the log is behind what was signed');
my $signed_before = signed_checkpoints($recovered);
insert($recovered, 11, 15, 'other history');
like(seal($recovered), qr/will not sign a checkpoint of size @{[$size1 + 5]} of log \Q$origin\E: it does not extend the checkpoint of size $size2 this node signed before/,
	'a shorter log is not signed');
insert($recovered, 16, 25, 'other history');
like(seal($recovered), qr/will not sign a checkpoint of size @{[$size1 + 15]} .*does not extend the checkpoint of size $size2/,
	'nor a log as long as what was signed, or longer, with other rows');
is(signed_checkpoints($recovered), $signed_before, 'no checkpoint of another history is signed');
is(value($recovered, "SELECT count(*) FROM hcledger.verify_ledger('visits')"), '0', 'the ledger itself still verifies');
# the way out: a new log, recorded
value($recovered, "SELECT hcledger.restart_log('visits', 'recovered to before_second; the rows after it are lost')");
is(seal($recovered), 'sealed', 'after restart_log the new log is sealed and signed');
my $new_origin = value($recovered, "SELECT origin FROM hcledger.ledgers WHERE relid = 'visits'::regclass AND dropped_at IS NULL");
isnt($new_origin, $origin, 'under a new origin');
is(size_of($recovered), value($recovered, 'SELECT count(*) FROM visits'), 'covering every row of the table');
is(value($recovered, "SELECT reason FROM hcledger.ledger_events WHERE event = 'dropped' ORDER BY event_id DESC LIMIT 1"),
	'log restarted: recovered to before_second; the rows after it are lost', 'where and why the old log ended is recorded');
is(value($recovered, "SELECT state FROM hcledger.signing_state WHERE ledger = 'visits'::regclass"), 'continues', 'and the new log continues');
$recovered->stop;

# 2. An asynchronous standby that had not received the last signed checkpoint is promoted.
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $key_conf);
$primary->start;
value($primary, $setup);
$primary->backup('base2');
my $standby = PostgreSQL::Test::Cluster->new('async_standby');
$standby->init_from_backup($primary, 'base2', has_streaming => 1);
$standby->append_conf('postgresql.conf', $key_conf);
$standby->start;
insert($primary, 1, 10, 'replicated');
is(seal($primary), 'sealed', 'the primary seals and signs');
$primary->wait_for_catchup($standby);
$standby->stop;		# it falls behind
insert($primary, 11, 20, 'lost with the primary');
is(seal($primary), 'sealed', 'the primary signs a checkpoint the standby never receives');
my $lost = size_of($primary);
$primary->stop('immediate');
$standby->start;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'promotion did not end';
is(value($standby, "SELECT state FROM hcledger.signing_state WHERE ledger = 'visits'::regclass"),
	'behind: the log is shorter than what was signed; nothing more is signed', 'the promoted standby knows it is behind what was signed');
insert($standby, 11, 30, 'after the failover');
like(seal($standby), qr/does not extend the checkpoint of size $lost this node signed before/,
	'and signs no history that does not extend the lost primary\'s last signed checkpoint');
$standby->stop;

# 3. A synchronous standby received every signed checkpoint: after promotion it goes on.
my $primary3 = PostgreSQL::Test::Cluster->new('primary3');
$primary3->init(allows_streaming => 1);
$primary3->append_conf('postgresql.conf', $key_conf);
$primary3->start;
value($primary3, $setup);
$primary3->backup('base3');
my $sync = PostgreSQL::Test::Cluster->new('sync_standby');
$sync->init_from_backup($primary3, 'base3', has_streaming => 1);
$sync->append_conf('postgresql.conf', $key_conf . "cluster_name = 'sync_standby'\n");
$sync->start;
$primary3->append_conf('postgresql.conf', "synchronous_standby_names = 'sync_standby'\n");
$primary3->reload;
$primary3->poll_query_until('postgres', "SELECT sync_state = 'sync' FROM pg_stat_replication") or die 'no synchronous standby';
insert($primary3, 1, 10, 'synchronously replicated');
is(seal($primary3), 'sealed', 'the primary signs with a synchronous standby');
my $sync_size = size_of($primary3);
$primary3->stop('immediate');
$sync->promote;
$sync->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'promotion did not end';
is(size_of($sync), $sync_size, 'the synchronous standby has every signed checkpoint');
insert($sync, 11, 20, 'after the failover');
is(seal($sync), 'sealed', 'and goes on sealing and signing after its promotion');
is(value($sync, "SELECT state FROM hcledger.signing_state WHERE ledger = 'visits'::regclass"), 'continues', 'without a fork');
is(value($sync, "SELECT count(*) FROM hcledger.verify_ledger('visits')"), '0', 'and its ledger verifies');
$sync->stop;

done_testing();
