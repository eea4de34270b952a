# Health-code payloads for test/t/*.pl: Base45 (RFC 9285) both ways, to
# alter a payload byte by byte.
package HclCodes;
use strict;
use warnings;
use Exporter 'import';
use Test::More;

our @EXPORT = qw(b45_decode b45_encode altered verdict wait_verdict);

my @B45 = split //, '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
my %B45 = map { $B45[$_] => $_ } 0 .. 44;
sub b45_decode
{
	my @c = map { $B45{$_} } split //, $_[0];
	my $out = '';
	while (@c >= 3) { my ($a, $b, $c) = splice @c, 0, 3; $out .= pack 'n', $a + 45 * $b + 2025 * $c; }
	$out .= chr($c[0] + 45 * $c[1]) if @c == 2;
	return $out;
}
sub b45_encode
{
	my @b = unpack 'C*', $_[0];
	my $out = '';
	while (@b >= 2) { my $n = 256 * shift(@b) + shift(@b); $out .= $B45[$n % 45] . $B45[int($n / 45) % 45] . $B45[int($n / 2025)]; }
	$out .= $B45[$b[0] % 45] . $B45[int($b[0] / 45)] if @b;
	return $out;
}
# the payload with its binary changed by $edit (a sub on the bytes)
sub altered
{
	my ($payload, $edit, $prefix) = @_;
	my $bin = b45_decode(substr($payload, 5));
	$bin = $edit->($bin);
	return ($prefix // substr($payload, 0, 5)) . b45_encode($bin);
}

# verify_code's verdict and reason at a node; and waiting for a verdict
sub verdict
{
	my ($node, $payload) = @_;
	return $node->safe_psql('postgres', "SELECT verdict || ': ' || coalesce(reason, '') FROM hcledger.verify_code('$payload')");
}
sub wait_verdict
{
	my ($node, $payload, $want, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT verdict = '$want' FROM hcledger.verify_code('$payload')"), $what)
	  or diag(verdict($node, $payload));
}

1;
