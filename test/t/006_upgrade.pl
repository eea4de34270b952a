# ALTER EXTENSION hcledger UPDATE (docs/upgrades.md): a database made with
# every released version is filled (two ledgers, health codes, a status
# change, signed checkpoints, a receipt), updated to the current version, and
# then:
#  - every ledger verifies, and the receipt and codes made before still do;
#  - writing and sealing go on: the log after the update extends the log
#    before it (a consistency receipt between the two checkpoints verifies);
#  - the updated extension has exactly the objects, definitions, settings and
#    privileges of a fresh install of the current version;
#  - updating to a version that does not exist fails cleanly.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
my $dir = $node->basedir;

$node->append_conf('postgresql.conf', authority_keys("$dir/") . qq(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 0
));
$node->start;

my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'hcledger'");
my @released = grep { $_ ne $current } split /\n/, $node->safe_psql('postgres',
	"SELECT version FROM pg_available_extension_versions WHERE name = 'hcledger' ORDER BY string_to_array(version, '.')::int[]");
ok(@released >= 1, "released versions to update from: @released (current $current)");

# Everything the extension owns, by name (OIDs differ between databases):
# each member object with its definition, privileges, settings and comment,
# one line each.
my $fingerprint = q{
SELECT string_agg(replace(line, E'\n', '\n'), E'\n' ORDER BY line) FROM (
	SELECT pg_describe_object(d.classid, d.objid, 0)
	       || ' | ' || coalesce(obj_description(d.objid, c.relname::name), '') AS line
	FROM pg_depend d JOIN pg_class c ON c.oid = d.classid
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'hcledger')
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure || ' | ' || pg_get_functiondef(p.oid)
	       || ' | ' || coalesce(p.proacl::text, '')
	FROM pg_proc p WHERE p.pronamespace = 'hcledger'::regnamespace AND p.prokind IN ('f', 'p', 'w')
	UNION ALL
	SELECT 'aggregate ' || p.oid::regprocedure || ' | ' || coalesce(p.proacl::text, '')
	FROM pg_proc p WHERE p.pronamespace = 'hcledger'::regnamespace AND p.prokind = 'a'
	UNION ALL
	SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' | ' || coalesce(c.relacl::text, '')
	       || ' | ' || coalesce(c.reloptions::text, '')
	       || ' | ' || CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END
	FROM pg_class c WHERE c.relnamespace = 'hcledger'::regnamespace AND c.relkind <> 'S'
	UNION ALL
	SELECT 'sequence ' || c.relname || ' | ' || coalesce(c.relacl::text, '')
	FROM pg_class c WHERE c.relnamespace = 'hcledger'::regnamespace AND c.relkind = 'S'
	UNION ALL
	SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || ' ' || a.attidentity::text || a.attgenerated::text
	       || ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' | ' || coalesce(a.attacl::text, '')
	FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	WHERE c.relnamespace = 'hcledger'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'hcledger'::regnamespace
	UNION ALL
	SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
	FROM pg_constraint WHERE connamespace = 'hcledger'::regnamespace
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
	FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE c.relnamespace = 'hcledger'::regnamespace AND NOT t.tgisinternal
	UNION ALL
	SELECT 'event trigger ' || evtname || ' ' || evtevent || ' ' || evtfoid::regproc || ' ' || evtenabled::text
	       || ' ' || coalesce(evttags::text, '')
	FROM pg_event_trigger
	UNION ALL
	SELECT 'type ' || t.oid::regtype || ' ' || t.typtype::text || ' ' || coalesce(t.typacl::text, '')
	FROM pg_type t WHERE t.typnamespace = 'hcledger'::regnamespace AND t.typtype NOT IN ('c')
	UNION ALL
	SELECT 'config ' || c::regclass || ' ' || coalesce(w, '')
	FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(c, w) WHERE e.extname = 'hcledger'
	UNION ALL
	SELECT 'schema ' || nspname || ' ' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'hcledger'
) s};

# What a database of the old version holds, made the way a user would.
my $fill = q{
	SELECT hcledger.add_authority('mo-ssm', 'Macau Health Bureau', true);
	SELECT hcledger.add_key('mo-ssm', 'es256-2026', 'es256', hcledger.credential_public_key());
	SELECT hcledger.add_key('mo-ssm', 'node-2026', 'ed25519', hcledger.signing_public_key());
	CREATE TABLE visits (id int NOT NULL, place text NOT NULL, at timestamptz NOT NULL DEFAULT now());
	SELECT hcledger.create_ledger('visits');
	INSERT INTO visits (id, place) SELECT g, 'gate ' || g FROM generate_series(1, 300) g;
	CREATE TABLE results (sample text PRIMARY KEY, outcome text NOT NULL, detail jsonb);
	INSERT INTO results SELECT 's' || g, 'negative', jsonb_build_object('n', g) FROM generate_series(1, 40) g;
	SELECT hcledger.create_ledger('results');
	CREATE TABLE codes_issued (n int, payload text);
	INSERT INTO codes_issued
	SELECT g, (hcledger.issue_code(jsonb_build_object('name', 'Traveller ' || g, 'document_number', 'D' || g,
	                                                  'birth_date', '1980-01-01', 'test_result', 'negative')
	          )).payload FROM generate_series(1, 5) g;
	SELECT hcledger.seal();
	SELECT hcledger.set_status(credential_id, 'red', 'close contact')
	FROM hcledger.codes WHERE entry = 'issue' ORDER BY hcl_row LIMIT 1;
	SELECT hcledger.seal();
};

my $problems = q{SELECT count(*) FROM hcledger.ledgers l, hcledger.verify_ledger(l.relid)};
my $verdicts = q{SELECT string_agg(v.verdict || '/' || v.colour, ',' ORDER BY c.n)
	FROM codes_issued c, hcledger.verify_code(c.payload) v};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION hcledger');
my $want = $node->safe_psql('fresh', $fingerprint);
ok(length($want) > 1000, 'a fresh install has a fingerprint');

for my $old (@released)
{
	my $db = "from_" . ($old =~ s/\./_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION hcledger VERSION '$old'");
	$node->safe_psql($db, $fill);
	is($node->safe_psql($db, $problems), '0', "$old: every ledger verifies before the update");
	my $before_verdicts = $node->safe_psql($db, $verdicts);
	like($before_verdicts, qr/^valid\/red,valid\/green/, "$old: codes verify before the update");
	my ($size_before) = $node->safe_psql($db,
		"SELECT tree_size FROM hcledger.ledgers WHERE relid = 'visits'::regclass");
	my $receipt = $node->safe_psql($db, "SELECT hcledger.ledger_receipt('visits', 150)");
	my $rows_before = $node->safe_psql($db, 'SELECT md5(string_agg(v::text, \',\' ORDER BY hcl_row)) FROM visits v');

	$node->safe_psql($db, 'ALTER EXTENSION hcledger UPDATE');
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'hcledger'"),
		$current, "$old: updated to $current");

	is($node->safe_psql($db, $problems), '0', "$old: every ledger verifies after the update");
	is($node->safe_psql($db, "SELECT count(*) FROM hcledger.ledgers"), '3',
		"$old: the ledgers are all still registered (visits, results, codes)");
	is($node->safe_psql($db, 'SELECT md5(string_agg(v::text, \',\' ORDER BY hcl_row)) FROM visits v'),
		$rows_before, "$old: the ledger rows are unchanged");
	is($node->safe_psql($db, $verdicts), $before_verdicts, "$old: the codes' verdicts are unchanged");
	is($node->safe_psql($db,
			"SELECT (hcledger.verify_receipt(\$r\$$receipt\$r\$, hcledger.signing_public_key())).valid"),
		't', "$old: a receipt made before the update verifies after it");

	# the log goes on from where it was
	$node->safe_psql($db, q{
		INSERT INTO visits (id, place) SELECT g, 'gate ' || g FROM generate_series(301, 350) g;
		SELECT hcledger.seal();
	});
	is($node->safe_psql($db, "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'visits'::regclass"),
		$size_before + 50, "$old: rows written after the update are sealed");
	my $consistency = $node->safe_psql($db,
		"SELECT hcledger.ledger_consistency_receipt('visits', $size_before)");
	is($node->safe_psql($db,
			"SELECT (hcledger.verify_receipt(\$r\$$consistency\$r\$, hcledger.signing_public_key())).valid"),
		't', "$old: the log after the update extends the log before it");
	is($node->safe_psql($db, $problems), '0', "$old: every ledger verifies after writing on");

	my $got = $node->safe_psql($db, $fingerprint);
	my %w = map { $_ => 1 } split /\n/, $want;
	my %g = map { $_ => 1 } split /\n/, $got;
	my @missing = grep { !$g{$_} } sort keys %w;
	my @extra = grep { !$w{$_} } sort keys %g;
	ok(!@missing && !@extra, "$old: the updated extension is the same as a fresh $current install")
	  or diag("missing after the update:\n  " . join("\n  ", @missing)
		  . "\nonly after the update:\n  " . join("\n  ", @extra));
}

# no path to a version that does not exist: an error, nothing changed
my ($ret, $stdout, $stderr) = $node->psql('fresh', "ALTER EXTENSION hcledger UPDATE TO '99.0.0'");
isnt($ret, 0, 'an update to an unknown version fails');
like($stderr, qr/no update path from version "\Q$current\E" to version "99\.0\.0"|has no installation script nor update path/,
	'with PostgreSQL\'s own error');
is($node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'hcledger'"),
	$current, 'and the version is unchanged');

$node->stop;
done_testing();
