# Key files for the test servers of test/t/*.pl.
package HclKeys;
use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(openssl authority_keys);

sub openssl { system('openssl', @_) == 0 or die "openssl @_ failed"; }

# An issuing authority's three key files, made afresh with mode 0600:
# ${prefix}node.pem (Ed25519, checkpoints), ${prefix}credential.pem (P-256,
# health codes) and ${prefix}pseudonym.key (32 random bytes).  Returns the
# postgresql.conf lines that point the server at them.
sub authority_keys
{
	my ($prefix) = @_;
	openssl('genpkey', '-algorithm', 'ed25519', '-out', "${prefix}node.pem");
	openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', "${prefix}credential.pem");
	openssl('rand', '-out', "${prefix}pseudonym.key", '32');
	chmod 0600, "${prefix}node.pem", "${prefix}credential.pem", "${prefix}pseudonym.key";
	return "hcledger.signing_key_file = '${prefix}node.pem'\n"
	  . "hcledger.credential_key_file = '${prefix}credential.pem'\n"
	  . "hcledger.pseudonym_key_file = '${prefix}pseudonym.key'\n";
}

1;
