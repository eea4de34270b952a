# SM2 signatures the node makes (hcledger.sm2_key_file, sm2_sign) checked by
# an implementation nobody here wrote: sm-crypto, from the npm registry,
# installed with npm from test/interop/package-lock.json and run with Node
# (test/interop/sm_crypto.js).  The other direction, sm-crypto's signatures
# verified in SQL, is sql/sm2_sm3.sql.
#  - the node's public key is the key file's, as OpenSSL's command line
#    derives it;
#  - 40 signatures over messages of 0 to 300 bytes, for the default,
#    custom and empty identities: sm-crypto verifies every one;
#  - and refuses each with its message, identity or signature changed
#    (so a verifier that says yes to everything would fail here);
#  - the same for health codes the node issues with that key as its SM2
#    credential key (HCL2:): sm-crypto verifies each code's signature over
#    the message docs/health-codes.md defines, and refuses it over a code
#    with another credential id.
use strict;
use warnings;

use IPC::Run qw(run);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclFiles;

my $root = "$FindBin::RealBin/../..";
my $dir = PostgreSQL::Test::Utils::tempdir();

# sm-crypto, as the lock file pins it
spew("$dir/$_", slurp("$root/test/interop/$_")) for qw(package.json package-lock.json);
my ($out, $err);
local $ENV{npm_config_cache} = "$dir/npm-cache";
local $ENV{npm_config_update_notifier} = 'false';
run([ 'npm', 'ci', '--no-audit', '--no-fund', '--prefix', $dir ], '>', \$out, '2>', \$err)
  or die "npm could not install sm-crypto from the registry: $err";

system('openssl', 'genpkey', '-algorithm', 'SM2', '-out', "$dir/sm2.pem") == 0 or die 'openssl genpkey failed';
chmod 0600, "$dir/sm2.pem";
my $node = PostgreSQL::Test::Cluster->new('sm2');
$node->init;
system('openssl', 'rand', '-out', "$dir/pseudonym.key", '32') == 0 or die 'openssl rand failed';
chmod 0600, "$dir/pseudonym.key";
$node->append_conf('postgresql.conf', "hcledger.sm2_key_file = '$dir/sm2.pem'\nhcledger.credential_key_file = '$dir/sm2.pem'\n"
	  . "hcledger.pseudonym_key_file = '$dir/pseudonym.key'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION hcledger');

run([ 'openssl', 'pkey', '-in', "$dir/sm2.pem", '-pubout', '-outform', 'DER' ], '>', \$out) or die 'openssl pkey failed';
is($node->safe_psql('postgres', "SELECT encode(hcledger.sm2_public_key(), 'hex')"), unpack('H*', substr($out, -65)),
	'sm2_public_key is the key file\'s public point, as OpenSSL derives it');

# The node signs; each case also in three altered copies.
my $cases = $node->safe_psql('postgres', q{
	WITH signed AS (
		SELECT g, m, id, hcledger.sm2_sign(m, id) AS sig
		  FROM generate_series(1, 40) g,
		       LATERAL (SELECT substring(decode(repeat(md5(g::text), 20), 'hex') from 1 for (g * 37) % 301) AS m,
		                       convert_to((ARRAY['1234567812345678', 'macau-ssm', '', 'ALICE123@YAHOO.COM'])[g % 4 + 1], 'UTF8') AS id) x
	), cases AS (
		SELECT g, 0 AS alter, m, id, sig FROM signed
		UNION ALL SELECT g, 1, m || '\x00'::bytea, id, sig FROM signed
		UNION ALL SELECT g, 2, m, id || 'x'::bytea, sig FROM signed
		UNION ALL SELECT g, 3, m, id, set_byte(sig, g % 64, get_byte(sig, g % 64) # 128) FROM signed
	)
	SELECT jsonb_agg(jsonb_build_object('public_key', encode(hcledger.sm2_public_key(), 'hex'),
	                                    'message', encode(m, 'hex'), 'id', encode(id, 'hex'),
	                                    'signature', encode(sig, 'hex'), 'format', 'raw', 'alter', alter)
	                 ORDER BY alter, g)
	  FROM cases});
run([ 'node', "$root/test/interop/sm_crypto.js", 'verify' ], '<', \$cases, '>', \$out, '2>', \$err,
	init => sub { $ENV{NODE_PATH} = "$dir/node_modules" })
  or die "sm_crypto.js failed: $err";
my @verdicts = map { (split / /)[1] } split /\n/, $out;
is(scalar(@verdicts), 160, 'sm-crypto gave a verdict on every case');
is(join('', map { $_ eq 'true' ? 1 : 0 } @verdicts[0 .. 39]), '1' x 40, 'sm-crypto verifies every signature the node made');
is(join('', map { $_ eq 'true' ? 1 : 0 } @verdicts[40 .. 159]), '0' x 120,
	'and refuses every one with its message, identity or signature changed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jsonb_array_elements('} . $cases . q{'::jsonb) c
	WHERE hcledger.sm2_verify(decode(c->>'public_key', 'hex'), decode(c->>'message', 'hex'), decode(c->>'signature', 'hex'),
	                          'raw', decode(c->>'id', 'hex')) <> ((c->>'alter')::int = 0)}), '0',
	'sm2_verify in SQL agrees with sm-crypto on all 160');

# SM2 health codes: sm-crypto checks each code's signature over its message.
$node->safe_psql('postgres', q{
	SELECT hcledger.add_authority('guangdong', 'Guangdong', true);
	SELECT hcledger.add_key('guangdong', 'sm2-1', 'sm2', hcledger.credential_public_key(), now() - interval '1 minute');
	CREATE TABLE issued AS SELECT g, c.payload FROM generate_series(1, 10) g,
		LATERAL hcledger.issue_code(jsonb_build_object('name', 'Traveller ' || g, 'document_number', 'GD-' || g)) c;
});
$cases = $node->safe_psql('postgres', q{
	SELECT jsonb_agg(jsonb_build_object('public_key', encode(hcledger.credential_public_key(), 'hex'),
	                                    'message', encode(CASE WHEN k = 0 THEN d.message ELSE
	                                                        hcledger.code_message(d.authority, d.key_id, decode(repeat('00', 16), 'hex'),
	                                                          d.issued_at, d.valid_from, d.valid_until, d.commitment, 'sm2') END, 'hex'),
	                                    'id', encode(convert_to('1234567812345678', 'UTF8'), 'hex'),
	                                    'signature', encode(d.signature, 'hex'), 'format', 'raw')
	                 ORDER BY k, g)
	  FROM issued i, hcledger.code_decode(i.payload) d, generate_series(0, 1) k
	 WHERE d.algorithm = 'sm2' AND i.payload LIKE 'HCL2:%'});
run([ 'node', "$root/test/interop/sm_crypto.js", 'verify' ], '<', \$cases, '>', \$out, '2>', \$err,
	init => sub { $ENV{NODE_PATH} = "$dir/node_modules" })
  or die "sm_crypto.js failed: $err";
@verdicts = map { (split / /)[1] } split /\n/, $out;
is(join('', map { $_ eq 'true' ? 1 : 0 } @verdicts), ('1' x 10) . ('0' x 10),
	'sm-crypto verifies the SM2 signature of each of 10 HCL2: codes, and refuses it over another credential id');

done_testing();
