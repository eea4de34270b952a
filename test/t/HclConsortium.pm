# A consortium member's test server, for test/t/*.pl.
package HclConsortium;
use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;

our @EXPORT = qw(slurp spew member);

sub slurp { open my $f, '<:raw', $_[0] or die "$_[0]: $!"; local $/; my $d = <$f>; close $f; return $d; }
sub spew { open my $f, '>:raw', $_[0] or die "$_[0]: $!"; print $f $_[1]; close $f; }

# A member's server, set up as docs/consortium.md says, with its key files in
# $keys: an authority with its node key registered (and its credential key,
# if it issues), published.  Returns the node and its card.
sub member
{
	my ($keys, $name, $issues) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', authority_keys("$keys/$name-") . qq(
shared_preload_libraries = 'hcledger'
hcledger.database = 'postgres'
hcledger.seal_interval = 100
max_replication_slots = 10
max_wal_senders = 10
max_logical_replication_workers = 8
max_worker_processes = 16
wal_retrieve_retry_interval = '200ms'
log_min_error_statement = panic
));
	$node->start;
	$node->safe_psql('postgres', qq(
		CREATE EXTENSION hcledger;
		SELECT hcledger.add_authority('$name', 'Health authority $name', true);
		SELECT hcledger.add_key('$name', 'node-1', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
	));
	$node->safe_psql('postgres', qq(
		SELECT hcledger.add_key('$name', 'credential-1', 'es256', hcledger.credential_public_key(), now() - interval '1 minute');
	)) if $issues;
	my $card = $node->safe_psql('postgres', "SELECT hcledger.publish('host=127.0.0.1 port=" . $node->port . " dbname=postgres')");
	return ($node, $card);
}

1;
