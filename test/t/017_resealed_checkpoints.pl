# A log set back below what the node signed (a restore from a backup taken
# before a long sealing round) is sealed again in checkpoints of at most
# 65,536 entries, each signed once the log is shown to extend the signing
# record, as receivers require (docs/format.md, "Checkpoints"; before,
# the whole stretch became one checkpoint every peer refused for its size).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;

my $keys = PostgreSQL::Test::Utils::tempdir();
my $key_conf = authority_keys("$keys/");
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', $key_conf . qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 3600000
hcledger.signing_state_dir = '$keys'
));
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION hcledger;
	CREATE TABLE visits (id int, place text);
	SELECT hcledger.create_ledger('visits');
	INSERT INTO visits SELECT g, 'gate ' || g FROM generate_series(1, 140000) g;
});
$node->backup('unsealed');
is($node->safe_psql('postgres', q{SELECT rows_sealed FROM hcledger.seal('visits')}), '140000', 'the primary seals 140,000 rows and signs');
$node->stop;

# restored from the backup taken before the seal; the signing record (outside the data directory) says 140,000
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($node, 'unsealed');
$restored->start;
$restored->safe_psql('postgres', q{SELECT hcledger.seal('visits')});	# (or the worker did, as it started)
is($restored->safe_psql('postgres', q{SELECT tree_size FROM hcledger.ledgers WHERE relid = 'visits'::regclass AND dropped_at IS NULL}), '140000',
	'the restored node seals the same rows again');
is($restored->safe_psql('postgres', q{SELECT string_agg(length(leaves) / 40 || ':' || (note IS NOT NULL)::text, ' ' ORDER BY c.tree_size)
                                         FROM hcledger.checkpoints c JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'visits'::regclass}),
	'65536:true 65536:true 8928:true', 'in checkpoints of at most 65,536 entries, each signed');
is($restored->safe_psql('postgres', q{SELECT count(*) FROM hcledger.verify_ledger('visits')}), '0', 'and the ledger verifies');
is($restored->safe_psql('postgres', q{SELECT state FROM hcledger.signing_state WHERE ledger = 'visits'::regclass}), 'continues',
	'the log continues what was signed');
done_testing();
