# The sealer worker runs as the bootstrap superuser in hcledger.database.  A
# database owner who is not a superuser sets the database's search_path to
# a schema of their own, holding functions named like the ones the sealer's
# queries call (to_timestamp(bigint), now()) that would make them a
# superuser if run as one.  The sealer goes on sealing, none of the planted
# functions runs in it, and the owner gains nothing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('search_path');
$node->init;
my $dir = $node->basedir;
system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out', "$dir/node.pem") == 0 or die;
chmod 0600, "$dir/node.pem";
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'hcledger'
hcledger.database = 'app'
hcledger.seal_interval = 100
hcledger.signing_key_file = '$dir/node.pem'
));
$node->start;

$node->safe_psql('postgres', q(
	CREATE ROLE app_owner LOGIN;
	CREATE DATABASE app OWNER app_owner;
));
$node->safe_psql('app', q(
	CREATE EXTENSION hcledger;
	CREATE TABLE visits (id int NOT NULL, place text NOT NULL);
	SELECT hcledger.create_ledger('visits');
	GRANT INSERT, SELECT ON visits TO app_owner;
	CREATE TABLE planted_calls (fn text, caller name);
	GRANT INSERT, SELECT ON planted_calls TO PUBLIC;
));

# What the owner plants, and the database setting that puts it first.
$node->safe_psql('app', q(
	CREATE SCHEMA evil;
	CREATE FUNCTION evil.escalate(fn text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.planted_calls VALUES (fn, current_user);
		BEGIN
			ALTER ROLE app_owner SUPERUSER;
		EXCEPTION WHEN insufficient_privilege THEN NULL;
		END;
	END $$;
	CREATE FUNCTION evil.to_timestamp(bigint) RETURNS timestamptz LANGUAGE plpgsql AS
		$$ BEGIN PERFORM evil.escalate('to_timestamp'); RETURN pg_catalog.to_timestamp($1); END $$;
	CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
		$$ BEGIN PERFORM evil.escalate('now'); RETURN pg_catalog.now(); END $$;
	ALTER DATABASE app SET search_path = evil, pg_catalog, public;
), extra_params => [ '-U', 'app_owner' ]);

# the worker connects afresh, with the database's settings
$node->restart;
is($node->safe_psql('app', 'SHOW search_path', extra_params => [ '-U', 'app_owner' ]),
	'evil, pg_catalog, public', 'the owner\'s sessions get the planted search_path');
is($node->safe_psql('app', "SELECT to_timestamp(0::bigint) = 'epoch'::timestamptz; SELECT fn || ' ' || caller FROM planted_calls",
		extra_params => [ '-U', 'app_owner' ]),
	"t\nto_timestamp app_owner", 'and the planted functions are called in them');
$node->safe_psql('app', 'DELETE FROM planted_calls');

$node->safe_psql('app', q(INSERT INTO visits SELECT g, 'gate ' || g FROM generate_series(1, 100) g),
	extra_params => [ '-U', 'app_owner' ]);
ok($node->poll_query_until('app',
		"SELECT tree_size = 100 FROM hcledger.ledgers WHERE relid = 'visits'::regclass"),
	'the sealer worker seals the rows');
ok($node->poll_query_until('app',
		"SELECT count(*) > 0 FROM hcledger.checkpoints c JOIN hcledger.ledgers l USING (ledger_id)
		 WHERE l.relid = 'visits'::regclass AND c.tree_size = 100"),
	'and stores a checkpoint (whose time to_timestamp makes)');
is($node->safe_psql('app', 'SELECT count(*) FROM planted_calls'), '0', 'no planted function ran in the worker');
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'app_owner'"),
	'f', 'the database owner is not a superuser');
is($node->safe_psql('app', 'SELECT count(*) FROM hcledger.verify_ledger(\'visits\')'), '0', 'the ledger verifies');

$node->stop;
done_testing();
