# Files and exact query output for the tests of test/t/*.pl.
package HclFiles;
use strict;
use warnings;
use Exporter 'import';
use MIME::Base64 ();

our @EXPORT = qw(slurp spew query_bytes);

sub slurp { open my $f, '<:raw', $_[0] or die "$_[0]: $!"; local $/; my $d = <$f>; close $f; return $d; }
sub spew { open my $f, '>:raw', $_[0] or die "$_[0]: $!"; print $f $_[1]; close $f; }

# The value of a one-value query as its exact bytes (UTF-8 for text): psql
# would add a newline and cannot show every byte.
sub query_bytes
{
	my ($node, $dbname, $sql) = @_;
	my $file = $node->basedir . '/query_bytes.out';
	$node->safe_psql($dbname, "COPY (SELECT encode(convert_to(($sql), 'UTF8'), 'base64')) TO '$file'");
	my $b64 = slurp($file);
	$b64 =~ s/\\n|\n//g;
	return MIME::Base64::decode_base64($b64);
}

1;
