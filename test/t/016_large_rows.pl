# A row that can be inserted can be sealed (issue 16, "No poison rows";
# docs/format.md, "Row encoding"): a writer with INSERT alone adds a row of
# two 540 MB texts that arrive compressed (a few MB on disk), whose leaf,
# over 1 GB, no buffer can hold.  The leaf is streamed into its hash:
#  - the ledger seals it and the rows after it, and verifies clean;
#  - a change to the large row is found;
#  - its leaf bytes (row_leaf, receipts) are refused with a clear error,
#    while its inclusion proof works; smaller rows' leaves are unchanged;
#  - a 100 MB row's receipt, leaf included (133 MB of JSON), verifies
#    offline with hcledger-verify, which used to refuse files over 64 MB.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;

my $keys = PostgreSQL::Test::Utils::tempdir();
my $node = PostgreSQL::Test::Cluster->new('large');
$node->init;
$node->append_conf('postgresql.conf', authority_keys("$keys/large-") . q(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 3600000
hcledger.database = 'none'
));
$node->start;
sub sql { return $node->safe_psql('postgres', $_[0]); }
sql(q{
	CREATE EXTENSION hcledger;
	CREATE TABLE notes (id int, a text, b text);
	SELECT hcledger.create_ledger('notes');
	CREATE ROLE writer LOGIN;
	GRANT INSERT ON notes TO writer;
	INSERT INTO notes VALUES (1, 'small', 'row');
});
my $small_leaf = sql(q{SELECT encode(sha256(hcledger.row_leaf('notes', 1)), 'hex')});
# built in the writer's own table, one value at a time, then inserted compressed
$node->safe_psql('postgres', q{
	CREATE TABLE staging (a text, b text);
	INSERT INTO staging (a) VALUES (repeat('x', 540 * 1024 * 1024));
	UPDATE staging SET b = repeat('y', 540 * 1024 * 1024);
	INSERT INTO notes (id, a, b) SELECT 2, a, b FROM staging;
	INSERT INTO notes VALUES (3, 'after', 'it');
}, extra_params => [ '-U', 'writer' ]) if sql(q{GRANT CREATE ON SCHEMA public TO writer; SELECT 1});
ok(sql(q{SELECT pg_total_relation_size('notes') < 64 * 1024 * 1024}) eq 't', 'the row of two 540 MB texts takes a few MB on disk');
is(sql(q{SELECT rows_sealed FROM hcledger.seal('notes')}), 3, 'the ledger seals it, and the rows after it');
is(sql(q{SELECT count(*) FROM hcledger.verify_ledger('notes')}), '0', 'and verifies clean');
is(sql(q{SELECT encode(sha256(hcledger.row_leaf('notes', 1)), 'hex')}), $small_leaf, 'a small row\'s leaf is unchanged');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT hcledger.row_leaf('notes', 2)});
like($err, qr/the leaf of row 2 of ledger "notes" is 1132462\d{3} bytes, more than a value can hold \(1 GB\)/,
	'its leaf bytes are refused with a clear error');
is(sql(q{SELECT leaf_index FROM hcledger.ledger_inclusion_proof('notes', 2)}), '1', 'its inclusion proof works');
($rc, $out, $err) = $node->psql('postgres', q{BEGIN;
	ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
	ALTER EVENT TRIGGER hcledger_drop_guard DISABLE;
	ALTER TABLE notes DISABLE TRIGGER hcl_append_only, DROP CONSTRAINT hcl_row_drawn;
	UPDATE notes SET b = a WHERE hcl_row = 2;
	SELECT kind || ':' || row_number FROM hcledger.verify_ledger('notes');
	ROLLBACK;});
like($out, qr/^changed_value:2$/m, 'a change to the large row is found') or diag($err);

# A 100 MB row's receipt verifies offline.
sql(q{INSERT INTO notes VALUES (4, repeat('z', 100 * 1024 * 1024), 'large, not too large')});
is(sql(q{SELECT rows_sealed FROM hcledger.seal('notes')}), 1, 'a 100 MB row is sealed');
openssl('pkey', '-in', "$keys/large-node.pem", '-pubout', '-out', "$keys/node.pub");
my $receipt = sql(q{SELECT hcledger.ledger_receipt('notes', (SELECT hcl_row FROM notes WHERE id = 4))});
ok(length($receipt) > 130 * 1024 * 1024, 'its receipt carries the leaf: over 130 MB of JSON');
open my $f, '>:raw', "$keys/receipt.json" or die; print $f $receipt; close $f;
my ($vout, $verr) = run_command([ 'hcledger-verify', '--key', "$keys/node.pub", "$keys/receipt.json" ]);
like($vout, qr/^VALID: row \d+ is leaf 3 of the signed log of 4 leaves/, 'hcledger-verify accepts it') or diag($verr);
substr($receipt, 100 * 1024 * 1024, 1) = substr($receipt, 100 * 1024 * 1024, 1) eq 'A' ? 'B' : 'A';
open $f, '>:raw', "$keys/receipt.json" or die; print $f $receipt; close $f;
($vout, $verr) = run_command([ 'hcledger-verify', '--key', "$keys/node.pub", "$keys/receipt.json" ]);
like($vout, qr/^INVALID: /, 'and refuses it with one byte of its leaf changed') or diag($verr);
done_testing();
