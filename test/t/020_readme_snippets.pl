# The README runs as written: every ```sql block, in order, each in a psql
# session of its own (as a reader pastes it) on a server set up as the
# README's Settings say, and every ```console block as a shell session,
# whose output must match what the README shows ("..." standing for any
# text).  Blocks fenced otherwise (the install commands, configuration
# files, the two-server consortium sketch that test/demo.sh runs) are not
# run; the test says how many there are, and fails if a block has a
# language it does not know.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('readme');
$node->init;
my $dir = $node->basedir;
system("openssl genpkey -algorithm ed25519 -out $dir/node.pem 2>/dev/null") == 0 or die;
system("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $dir/credential.pem 2>/dev/null") == 0 or die;
system("openssl rand -out $dir/pseudonym.key 32") == 0 or die;
chmod 0600, "$dir/node.pem", "$dir/credential.pem", "$dir/pseudonym.key";
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'hcledger'
wal_level = logical
hcledger.seal_interval = 3600000
hcledger.signing_key_file = '$dir/node.pem'
hcledger.credential_key_file = '$dir/credential.pem'
hcledger.pseudonym_key_file = '$dir/pseudonym.key'
));
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE health');

# The README's blocks, in order.
open my $f, '<', 'README.md' or die "README.md: $!";
my (@blocks, $lang, @lines, $start);
while (my $line = <$f>)
{
	if (!defined $lang && $line =~ /^```(\S*)\s*$/)
	{
		($lang, $start) = ($1, $.);
		@lines = ();
	}
	elsif (defined $lang && $line =~ /^```\s*$/)
	{
		push @blocks, { lang => $lang, text => join('', @lines), line => $start };
		undef $lang;
	}
	elsif (defined $lang)
	{
		push @lines, $line;
	}
}
close $f;
ok(!defined $lang, 'every block of the README is closed');

my %shown = map { ($_ => 1) } ('', 'sh', 'json');    # not run: install commands, configuration, JSON
my @unknown = grep { !$shown{ $_->{lang} } && $_->{lang} ne 'sql' && $_->{lang} ne 'console' } @blocks;
is(scalar(@unknown), 0, 'every block is sql, console, or shown only (sh, json, plain)')
  or diag(join ', ', map { "line $_->{line}: $_->{lang}" } @unknown);

my $work = "$dir/shell";
mkdir $work;
local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'health';
local $ENV{PGUSER} = $ENV{PGUSER} // scalar getpwuid($<);

my ($sql_run, $console_run) = (0, 0);
for my $b (@blocks)
{
	if ($b->{lang} eq 'sql')
	{
		my ($ret, $out, $err) = $node->psql('health', $b->{text}, extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
		is($ret, 0, "README line $b->{line}: the SQL runs") or diag("$err\n--- block ---\n$b->{text}");
		$sql_run++;
	}
	elsif ($b->{lang} eq 'console')
	{
		# "$ command" lines make a script; the other lines are its output.
		my ($script, @expected) = ("cd $work\n");
		for my $line (split /\n/, $b->{text})
		{
			if ($line =~ /^\$ (.*)$/) { $script .= "$1\n"; }
			else { push @expected, $line; }
		}
		my ($out, $err) = run_command([ 'bash', '-c', $script ]);
		my @got = split /\n/, $out;
		my $ok = @got == @expected;
		for my $i (0 .. $#expected)
		{
			my $re = join '.*', map { quotemeta } split /\.\.\./, $expected[$i], -1;
			$ok &&= defined $got[$i] && $got[$i] =~ /^$re$/;
		}
		ok($ok, "README line $b->{line}: the shell session prints what the README shows")
		  or diag("--- got ---\n$out$err\n--- README ---\n" . join("\n", @expected));
		$console_run++;
	}
}
cmp_ok($sql_run, '>=', 10, "$sql_run SQL blocks ran");
cmp_ok($console_run, '>=', 2, "$console_run shell sessions ran");
note(scalar(grep { $shown{ $_->{lang} } } @blocks) . ' blocks are shown only (install commands, configuration)');

$node->stop;
done_testing();
