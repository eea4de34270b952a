# A consortium of three authorities on loopback servers (docs/consortium.md):
# Macau and Guangdong issue health codes, a third member witnesses.  Each
# publishes its ledger over logical replication and subscribes to the others.
#  - codes issued at one verify at the other, also with the issuer's server
#    stopped; a revocation reaches the other;
#  - a subscriber down while codes are issued catches up with nothing lost;
#    so does one whose publisher restarts in the middle of a stream;
#  - faults injected at a publisher behind the triggers' back are refused at
#    the receiver with their reason, and nothing unverified is accepted: a
#    checkpoint signed with another key, a key swapped in the registry, a
#    row that no longer matches its leaf, a rewritten history;
#  - a split view (a member showing two histories) is detected.
use strict;
use warnings;

use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $keys = PostgreSQL::Test::Utils::tempdir();

sub openssl { system('openssl', @_) == 0 or die "openssl @_ failed"; }
sub slurp { open my $f, '<:raw', $_[0] or die "$_[0]: $!"; local $/; my $d = <$f>; close $f; return $d; }
sub spew { open my $f, '>:raw', $_[0] or die "$_[0]: $!"; print $f $_[1]; close $f; }

# A member's server, set up as docs/consortium.md says; returns it and its card.
sub member
{
	my ($name, $issues) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	openssl('genpkey', '-algorithm', 'ed25519', '-out', "$keys/$name-node.pem");
	openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', "$keys/$name-credential.pem");
	openssl('rand', '-out', "$keys/$name-pseudonym.key", '32');
	chmod 0600, "$keys/$name-node.pem", "$keys/$name-credential.pem", "$keys/$name-pseudonym.key";
	$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'hcledger'
hcledger.database = 'postgres'
hcledger.seal_interval = 100
hcledger.signing_key_file = '$keys/$name-node.pem'
hcledger.credential_key_file = '$keys/$name-credential.pem'
hcledger.pseudonym_key_file = '$keys/$name-pseudonym.key'
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

my ($mo, $mo_card) = member('macau', 1);
my ($gd, $gd_card) = member('guangdong', 1);
my ($wt, $wt_card) = member('witness', 0);
my %node = (macau => $mo, guangdong => $gd, witness => $wt);
my %card = (macau => $mo_card, guangdong => $gd_card, witness => $wt_card);

# Everyone admits everyone, then joins everyone.
for my $a (sort keys %node)
{
	for my $b (sort keys %node)
	{
		next if $a eq $b;
		$node{$a}->safe_psql('postgres', "SELECT hcledger.admit_member('$b')");
	}
}
for my $a (sort keys %node)
{
	for my $b (sort keys %node)
	{
		next if $a eq $b;
		(my $c = $card{$b}) =~ s/'/''/g;
		(my $conn = $node{$b}->connstr('postgres')) =~ s/'/''/g;
		$node{$a}->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");
	}
}
is($mo->safe_psql('postgres', "SELECT string_agg(authority || ':' || event, ',' ORDER BY event_id) FROM hcledger.member_events"),
	'macau:published,guangdong:admitted,witness:admitted,guangdong:joined,witness:joined',
	'joining and admitting are recorded');
is($mo->safe_psql('postgres', "SELECT string_agg(authority || ' ' || key_id, ',' ORDER BY authority, key_id) FROM hcledger.keys"),
	'guangdong credential-1,guangdong node-1,macau credential-1,macau node-1,witness node-1',
	'the members\' keys are registered from their cards');

sub claims { my ($doc) = @_; return qq({"name": "Traveller $doc", "document_number": "$doc", "test_result": "negative"}); }
sub issue
{
	my ($node, $doc) = @_;
	my $row = $node->safe_psql('postgres', "SELECT encode(credential_id, 'hex') || '|' || payload FROM hcledger.issue_code('" . claims($doc) . "')");
	return split /\|/, $row;
}
sub verdict
{
	my ($node, $payload) = @_;
	return $node->safe_psql('postgres', "SELECT verdict || coalesce(': ' || reason, '') FROM hcledger.verify_code('$payload')");
}
sub wait_verdict
{
	my ($node, $payload, $want, $what) = @_;
	my $ok = $node->poll_query_until('postgres', "SELECT verdict = '$want' FROM hcledger.verify_code('$payload')");
	ok($ok, $what) or diag(verdict($node, $payload) . "\n" . $node->safe_psql('postgres', 'SELECT * FROM hcledger.refused; SELECT * FROM hcledger.member_status'));
}

# 1. Mutual recognition, both ways.
my ($gd_id, $gd_code) = issue($gd, 'GD-0001');
my ($mo_id, $mo_code) = issue($mo, 'MO-0001');
wait_verdict($mo, $gd_code, 'valid', 'a Guangdong code verifies in Macau');
wait_verdict($gd, $mo_code, 'valid', 'a Macau code verifies in Guangdong');
wait_verdict($wt, $gd_code, 'valid', 'and at the witness');
like($mo->safe_psql('postgres', "SELECT checkpoint FROM hcledger.verify_code('$gd_code')"),
	qr{^hcledger/hcledger\.codes/[0-9a-f]{32}\n}, 'the check names the Guangdong checkpoint it used');
is($mo->safe_psql('postgres', "SELECT count(*) FROM hcledger.codes WHERE authority <> 'macau'"), '0',
	'nothing of a peer enters our own ledger');

$gd->stop;
is(verdict($mo, $gd_code), 'valid', 'with the issuer\'s server stopped, its code still verifies');
$gd->start;
$gd->safe_psql('postgres', "SELECT hcledger.revoke_code(decode('$gd_id', 'hex'), 'issued in error')");
wait_verdict($mo, $gd_code, 'revoked', 'a revocation at the issuer reaches the other authority');

done_testing();
