# Health codes on a server set up as an authority would (docs/health-codes.md,
# "Deploying"), with the sealer worker running:
#  - privacy: after codes are issued (and failed issues tried), no name,
#    document number or birth date of a traveller is in a pg_dump of the
#    database, in the server log, in the data directory's files (tables and
#    WAL), or in any error message returned;
#  - the worker seals status changes, and verify_code reports them sealed;
#  - bad credential and pseudonym key files are reported at reload, and
#    issuing then fails with a clear error, nothing issued.
use strict;
use warnings;

use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;

my $node = PostgreSQL::Test::Cluster->new('authority');
$node->init;
my $dir = $node->basedir;

$node->append_conf('postgresql.conf', authority_keys("$dir/") . qq(
shared_preload_libraries = 'hcledger'
hcledger.database = 'postgres'
hcledger.seal_interval = 100
log_min_messages = debug1
log_error_verbosity = verbose
# what docs/health-codes.md recommends: statements (which carry claims) are
# never written to the log, not even when they fail
log_statement = none
log_min_error_statement = panic
));
$node->start;
$node->safe_psql('postgres', q(
	CREATE EXTENSION hcledger;
	SELECT hcledger.add_authority('mo-ssm', 'Macau Health Bureau', true);
	SELECT hcledger.add_key('mo-ssm', 'es256-2026', 'es256', hcledger.credential_public_key());
	SELECT hcledger.add_key('mo-ssm', 'node-2026', 'ed25519', hcledger.signing_public_key());
	CREATE ROLE border_officer LOGIN IN ROLE hcledger_verifier;
	CREATE ROLE clinic LOGIN IN ROLE hcledger_issuer;
));

# Sample travellers: what must never be stored.
my @travellers = (
	[ 'Leong Ka Wai',     'M7731942(3)', '1979-03-14' ],
	[ 'Zhang Xiuying',    'G48213377',   '1991-11-02' ],
	[ 'Maria do Carmo',   'P90551240',   '1965-07-30' ],
	[ 'Nguyen Thi Hoa',   'C03378816',   '2001-01-09' ],
	[ 'Ahmed Al-Farsi',   'K55102938',   '1988-05-21' ],
);
my @secrets = map { @$_ } @travellers;

sub claims
{
	my ($name, $doc, $birth) = @{ $_[0] };
	return qq({"name": "$name", "document_number": "$doc", "birth_date": "$birth", )
	  . qq("declaration": {"fever": false, "close_contact": false, "places": ["Zhuhai"]}, )
	  . qq("test_result": "negative", "test_time": "2026-11-23T09:30:00+08:00"});
}

my %payload;
my @errors;
for my $t (@travellers)
{
	my $c = claims($t);
	$payload{ $t->[1] } = $node->safe_psql('postgres',
		"SET ROLE clinic; SELECT payload FROM hcledger.issue_code('$c'::jsonb)");
	like($payload{ $t->[1] }, qr/^HCL1:[0-9A-Z \$%*+\-.\/:]+$/, "code issued for traveller $t->[1]");
	# failed issues, whose statements carry the claims
	for my $bad ("hcledger.issue_code('$c'::jsonb, 'purple')",
				 "hcledger.issue_code(('$c'::jsonb) || '{\"temp\": 37.5}')",
				 "hcledger.issue_code(('$c'::jsonb) - 'document_number')",
				 "hcledger.issue_code('$c'::jsonb, 'green', '1 day', now() - interval '1 year')")
	{
		my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE clinic; SELECT $bad");
		isnt($ret, 0, 'a bad issue fails');
		push @errors, $err;
	}
	# and as a verifier, who may not issue
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE border_officer; SELECT hcledger.issue_code('$c'::jsonb)");
	like($err, qr/permission denied/, 'a verifier cannot issue');
	push @errors, $err;
}

# The worker seals; the status change is reflected at once and sealed soon.
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM hcledger.status WHERE pending_rows > 0 AND ledger = 'hcledger.codes'::regclass")
  or die 'the worker did not seal';
my $first = $payload{'G48213377'};
is($node->safe_psql('postgres', "SET ROLE border_officer; SELECT verdict || ' ' || colour FROM hcledger.verify_code('$first')"),
	'valid green', 'the border check: valid and green once sealed by the worker');
my $id = $node->safe_psql('postgres', "SELECT encode(credential_id, 'hex') FROM hcledger.code_decode('$first')");
$node->safe_psql('postgres', "SET ROLE clinic; SELECT hcledger.set_status(decode('$id', 'hex'), 'red', 'close contact')");
$node->poll_query_until('postgres',
	"SELECT verdict || ' ' || colour FROM hcledger.verify_code('$first')", 'valid red')
  or die 'the status change was not sealed';
pass('a status change is sealed by the worker and the code then verifies red');

# Verifying every code: no claim comes back.
for my $doc (sort keys %payload)
{
	my $row = $node->safe_psql('postgres', "SET ROLE border_officer; SELECT v::text FROM hcledger.verify_code('$payload{$doc}') v");
	unlike($row, qr/\Q$doc\E/, "verify_code returns no claim of $doc");
}

# The searches.
my ($dump, $dump_err) = run_command([ 'pg_dump', '--no-sync', '-d', $node->connstr('postgres') ]);
ok(length($dump) > 10000 && $dump =~ /COPY hcledger\.codes/, 'pg_dump dumps the codes ledger');
$node->safe_psql('postgres', 'CHECKPOINT');
my $log = slurp_file($node->logfile);
ok(length($log) > 1000, 'the server log was written (debug1)');
my $files = '';
find(sub { $files .= slurp_file($_) if -f $_ && !/\.(conf|opts|pid)$/ && $File::Find::name !~ m{/log/} },
	$node->data_dir . '/base', $node->data_dir . '/pg_wal', $node->data_dir . '/global');
ok(length($files) > 1000000, 'the data directory (tables, WAL) was read');

for my $s (@secrets)
{
	my $hits = '';
	$hits .= ' dump' if index($dump, $s) >= 0;
	$hits .= ' log' if index($log, $s) >= 0;
	$hits .= ' data' if index($files, $s) >= 0;
	$hits .= ' errors' if grep { index($_, $s) >= 0 } @errors;
	is($hits, '', "\"$s\" is in no dump, log line, data file or error message");
}
like(join("\n", @errors), qr/colour must be green, yellow or red/, 'the errors themselves were returned');

# Bad key files: reported at reload, issuing refused, nothing issued.
my $count = $node->safe_psql('postgres', "SELECT count(*) FROM hcledger.codes");
chmod 0640, "$dir/credential.pem";
my $offset = -s $node->logfile;
$node->reload;
sleep 1;
like(slurp_file($node->logfile, $offset), qr/hcledger\.credential_key_file: credential key file ".*" has group or world access/,
	'a credential key file readable by the group is reported at reload');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT hcledger.issue_code('{\"document_number\": \"X1\"}')");
like($err, qr/ERROR:  hcledger.credential_key_file cannot be used: .* has group or world access/, 'and issuing fails, saying why');
chmod 0600, "$dir/credential.pem";
openssl('rand', '-out', "$dir/pseudonym.key", '16');
chmod 0600, "$dir/pseudonym.key";
$node->reload;
sleep 1;
($ret, $out, $err) = $node->psql('postgres', "SELECT hcledger.issue_code('{\"document_number\": \"X1\"}')");
like($err, qr/pseudonym key file ".*" holds 16 bytes; it needs at least 32 random bytes/, 'a short pseudonym secret is refused');
is($node->safe_psql('postgres', "SELECT count(*) FROM hcledger.codes"), $count, 'nothing was issued meanwhile');
openssl('rand', '-out', "$dir/pseudonym2.key", '32');
chmod 0600, "$dir/pseudonym2.key";
rename "$dir/pseudonym2.key", "$dir/pseudonym.key";
$node->reload;
sleep 1;
($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM hcledger.issue_code('{\"document_number\": \"X1\"}')");
is($out, '1', 'fixed and reloaded, issuing works again');
like($node->safe_psql('postgres', "SHOW hcledger.credential_key_file"), qr/credential\.pem/, 'a superuser sees the path');
($ret, $out, $err) = $node->psql('postgres', "SET ROLE border_officer; SHOW hcledger.credential_key_file");
like($err, qr/permission denied|must be superuser|privileges of pg_read_all_settings/, 'others cannot');

$node->stop;
done_testing();
