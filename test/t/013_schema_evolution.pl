# Schema evolution (docs/format.md, "Column sets"; docs/operations.md,
# "Schema changes"): columns added, renamed, dropped and retyped through
# unlock_ddl, with rows sealed before and after each change.
#  - the ledger goes on sealing and verifies clean; each row keeps the
#    leaf it was sealed with, and rows after a change hash the new columns
#    (a value in an added column is protected from its first row);
#  - tampering is found on both sides of every change: an old row's value
#    in a renamed column, an archived value of a dropped column, a value in
#    an added or retyped column, a column set's recorded row number;
#  - what cannot be kept is refused: a hashed column lost another way than
#    ALTER TABLE (DROP TYPE ... CASCADE), a column of an unsupported type,
#    a table left with no column, the health-code ledger's columns;
#  - a row still uncommitted as a column is dropped is archived too;
#  - a rolled-back change leaves nothing behind;
#  - pg_dump and restore keep every leaf, and sealing and further changes
#    go on after it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('evolve');
$node->init;
$node->append_conf('postgresql.conf', q(
shared_preload_libraries = 'hcledger'
hcledger.seal_interval = 100
));
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION hcledger;
	CREATE TABLE visits (id int PRIMARY KEY, place text NOT NULL, temp float8, note text);
	INSERT INTO visits SELECT g, 'gate ' || g, 36 + g / 10.0, 'note ' || g FROM generate_series(1, 5) g;
	SELECT hcledger.create_ledger('visits');
	SELECT hcledger.seal('visits');
	-- a superuser's writes behind every guard's back
	CREATE FUNCTION behind_the_back(stmt text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
		ALTER EVENT TRIGGER hcledger_drop_guard DISABLE;
		ALTER TABLE visits DISABLE TRIGGER hcl_append_only, DROP CONSTRAINT hcl_row_drawn;
		EXECUTE stmt;
		ALTER TABLE visits ENABLE ALWAYS TRIGGER hcl_append_only,
			ADD CONSTRAINT hcl_row_drawn CHECK (hcledger.row_drawn(hcl_row, tableoid)) NOT VALID;
		ALTER EVENT TRIGGER hcledger_ddl_guard ENABLE ALWAYS;
		ALTER EVENT TRIGGER hcledger_drop_guard ENABLE ALWAYS;
	END $$;
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub problems
{
	my ($db) = @_;
	return $node->safe_psql($db // 'postgres',
		q{SELECT coalesce(string_agg(kind || ':' || row_number, ' ' ORDER BY row_number), 'clean') FROM hcledger.verify_ledger('visits')});
}

sub sealed_all
{
	my ($db) = @_;
	$node->safe_psql($db // 'postgres', q{SELECT hcledger.seal('visits')});
	return $node->safe_psql($db // 'postgres',
		q{SELECT (l.tree_size = (SELECT count(*) FROM visits))::text FROM hcledger.ledgers l WHERE l.relid = 'visits'::regclass AND l.dropped_at IS NULL});
}

# the row's leaf, decoded enough to see its column names and values
sub leaf { return sql("SELECT encode(hcledger.row_leaf('visits', $_[0]), 'escape')"); }

# Without unlock_ddl, every change is refused.
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER TABLE visits ADD COLUMN email text');
like($err, qr/cannot alter ledger table public\.visits: its name or columns would change/, 'a column is not added without unlock_ddl');

# ADD COLUMN
sql(q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'e-mail for notices');
    ALTER TABLE visits ADD COLUMN email text DEFAULT 'none'; COMMIT;
    INSERT INTO visits (id, place, temp, note, email) SELECT g, 'gate ' || g, 37, 'note ' || g, 'v' || g || '@example.org' FROM generate_series(6, 8) g});
is(sealed_all(), 'true', 'after ADD COLUMN every row is sealed');
is(problems(), 'clean', 'after ADD COLUMN the ledger verifies');
is(sql(q{SELECT string_agg(from_row || ':' || array_to_string(v.columns, ','), ' ' ORDER BY from_row) FROM hcledger.ledger_columns v
       JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'visits'::regclass}),
	'1:id,note,place,temp 6:email,id,note,place,temp', 'the added column is hashed from the next row number on');
unlike(leaf(5), qr/email/, 'a row before ADD COLUMN keeps its leaf without the new column');
like(leaf(6), qr/email.*v6\@example\.org/s, 'the first row after ADD COLUMN hashes its value');

# RENAME COLUMN
sql(q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'place is a site'); ALTER TABLE visits RENAME COLUMN place TO site; COMMIT;
    INSERT INTO visits (id, site, temp, note, email) VALUES (9, 'gate 9', 37.5, 'note 9', 'v9@example.org'), (10, 'gate 10', 38, NULL, NULL)});
is(sealed_all(), 'true', 'after RENAME COLUMN every row is sealed');
is(problems(), 'clean', 'after RENAME COLUMN the ledger verifies');
like(leaf(3), qr/place.*gate 3/s, 'a row before the rename keeps the name it was sealed with');
like(leaf(9), qr/site.*gate 9/s, 'a row after the rename hashes the new name');

# DROP COLUMN: a row still uncommitted when the drop starts is archived too.
my ($in, $bout, $berr) = ('', '', '');
my $writer = IPC::Run::start(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
	  q{BEGIN; INSERT INTO visits (id, site, temp, note, email) VALUES (11, 'gate 11', 36.6, 'late note', 'v11@example.org'); SELECT pg_sleep(2); COMMIT;} ],
	'<', \$in, '>', \$bout, '2>', \$berr);
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_locks WHERE relation = 'visits'::regclass AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()});
sql(q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'notes are no longer kept'); ALTER TABLE visits DROP COLUMN note; COMMIT});
$writer->finish;
is($berr, '', 'the writer that held the table committed');
sql(q{INSERT INTO visits (id, site, temp, email) VALUES (12, 'gate 12', 36.9, 'v12@example.org')});
is(sealed_all(), 'true', 'after DROP COLUMN every row is sealed');
is(problems(), 'clean', 'after DROP COLUMN the ledger verifies');
is(sql(q{SELECT string_agg(hcl_row || '=' || coalesce(convert_from(value, 'UTF8'), 'NULL'), ' ' ORDER BY hcl_row)
       FROM hcledger.dropped_values WHERE name = 'note'}),
	'1=note 1 2=note 2 3=note 3 4=note 4 5=note 5 6=note 6 7=note 7 8=note 8 9=note 9 10=NULL 11=late note',
	'the dropped column\'s values are archived, the uncommitted row\'s too');
like(leaf(2), qr/note.*note 2/s, 'a row before the drop keeps the dropped value in its leaf');
unlike(leaf(12), qr/note/, 'a row after the drop does not hash the column');

# ALTER COLUMN TYPE (the values are rewritten: the old ones are archived)
sql(q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'temperatures as numeric'); ALTER TABLE visits ALTER COLUMN temp TYPE numeric USING round(temp::numeric, 1); COMMIT;
    INSERT INTO visits (id, site, temp, email) VALUES (13, 'gate 13', 36.75, 'v13@example.org')});
is(sealed_all(), 'true', 'after ALTER COLUMN TYPE every row is sealed');
is(problems(), 'clean', 'after ALTER COLUMN TYPE the ledger verifies');
like(leaf(13), qr/pg_catalog\.numeric/, 'a row after the type change hashes the new type');
like(leaf(4), qr/pg_catalog\.float8/, 'a row before it keeps the old type and value');

# Two changes in one transaction, with a row inserted before them in it.
sql(q{BEGIN; INSERT INTO visits (id, site, temp, email) VALUES (14, 'gate 14', 36.5, NULL);
    SELECT hcledger.unlock_ddl('visits', 'contact details');
    ALTER TABLE visits ADD COLUMN phone text; ALTER TABLE visits ADD COLUMN mobile boolean; COMMIT;
    INSERT INTO visits (id, site, temp, email, phone, mobile) VALUES (15, 'gate 15', 36.5, NULL, '+853 2800 0000', true)});
is(sql(q{SELECT string_agg(v.from_row::text, ' ' ORDER BY v.from_row) FROM hcledger.ledger_columns v
       JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'visits'::regclass}),
	'1 6 9 12 13 15', 'one column set per row number: two changes with no row between them make one');
is(sealed_all(), 'true', 'after two changes in one transaction every row is sealed');
is(problems(), 'clean', 'and the ledger verifies');

# A change rolled back leaves no set and no archived value.
my $before = sql(q{SELECT (SELECT count(*) FROM hcledger.ledger_columns) || '/' || (SELECT count(*) FROM hcledger.dropped_values)});
sql(q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'tried'); ALTER TABLE visits DROP COLUMN email; ROLLBACK});
is(sql(q{SELECT (SELECT count(*) FROM hcledger.ledger_columns) || '/' || (SELECT count(*) FROM hcledger.dropped_values)}), $before,
	'a drop rolled back leaves no column set and no archived value');

# What cannot be kept is refused, even unlocked.
sql(q{CREATE TYPE mood AS ENUM ('calm', 'tense');
    BEGIN; SELECT hcledger.unlock_ddl('visits', 'moods'); ALTER TABLE visits ADD COLUMN mood mood; COMMIT;
    INSERT INTO visits (id, site, mood) VALUES (16, 'gate 16', 'calm')});
($rc, $out, $err) = $node->psql('postgres', q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'no moods'); DROP TYPE mood CASCADE; COMMIT});
like($err, qr/its hashed columns mood of type public\.mood would be lost/, 'DROP TYPE ... CASCADE of a hashed column is refused');
($rc, $out, $err) = $node->psql('postgres', q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'where'); ALTER TABLE visits ADD COLUMN spot point; COMMIT});
like($err, qr/column "spot" of type point cannot be part of a ledger/, 'a column of an unsupported type is refused');
sql(q{CREATE TABLE single (x int); SELECT hcledger.create_ledger('single')});
($rc, $out, $err) = $node->psql('postgres', q{BEGIN; SELECT hcledger.unlock_ddl('single', 'nothing'); ALTER TABLE single DROP COLUMN x; COMMIT});
like($err, qr/it would have no column left to hash/, 'a ledger left with no column is refused');
($rc, $out, $err) = $node->psql('postgres', q{SELECT hcledger.unlock_ddl('hcledger.codes', 'mine')});
like($err, qr/the health-code ledger hcledger\.codes is defined by the extension/, 'the codes ledger\'s columns cannot be unlocked');
is(sealed_all(), 'true', 'the refusals left the ledger sealing');
is(problems(), 'clean', 'and verifying');

# The sequence: where the next set starts, and never set back below it.
sql(q{CREATE TABLE seqs (id int, a text); SELECT hcledger.create_ledger('seqs');
      INSERT INTO seqs (id, a) SELECT g, 'v' || g FROM generate_series(1, 5) g; SELECT hcledger.seal('seqs');
      SELECT setval(pg_get_serial_sequence('seqs', 'hcl_row'), 6, false);
      BEGIN; SELECT hcledger.unlock_ddl('seqs', 'e-mail'); ALTER TABLE seqs ADD COLUMN email text; COMMIT;
      INSERT INTO seqs (id, a, email) VALUES (6, 'v6', 'six')});
is(sql(q{SELECT string_agg(v.from_row::text, ' ' ORDER BY v.from_row) FROM hcledger.ledger_columns v
         JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'seqs'::regclass}),
	'1 6', 'a sequence whose next value is not yet called: the new set starts at that value');
sql(q{SELECT hcledger.seal('seqs')});
is(sql(q{SELECT count(*) FROM hcledger.verify_ledger('seqs')}), '0', 'and the ledger verifies');
($rc, $out, $err) = $node->psql('postgres', q{ALTER TABLE seqs ALTER COLUMN hcl_row RESTART WITH 3});
like($err, qr/its row-number sequence would give row 3 next, not after row 6/, 'the sequence cannot be restarted below the rows sealed');
($rc, $out, $err) = $node->psql('postgres', q{SELECT setval(pg_get_serial_sequence('seqs', 'hcl_row'), 4); INSERT INTO seqs (id, a, email) VALUES (5, 'back', 'x')});
like($err, qr/row number 5 of ledger "seqs" comes before its current column set, which starts at row 6/,
	'a row numbered before the current column set (the sequence set back) is refused');
sql(q{SELECT setval(pg_get_serial_sequence('seqs', 'hcl_row'), 6)});

# Archived values do not depend on the session's client encoding.
sql(q{CREATE TABLE enc (id int, tags text[], doc jsonb); SELECT hcledger.create_ledger('enc');
      INSERT INTO enc VALUES (1, ARRAY['Müller', 'café'], '{"n": "Zoë"}'); SELECT hcledger.seal('enc')});
$node->safe_psql('postgres', q{SET client_encoding = 'LATIN1';
	BEGIN; SELECT hcledger.unlock_ddl('enc', 'no tags'); ALTER TABLE enc DROP COLUMN tags, DROP COLUMN doc; COMMIT});
is(sql(q{SELECT count(*) FROM hcledger.verify_ledger('enc')}), '0', 'columns dropped in a LATIN1 session are archived as the leaf encodes them');

# A typed table's columns change with its type, out of the guards' sight.
sql(q{CREATE TABLE typed (x int); SELECT hcledger.create_ledger('typed'); CREATE TYPE typed_t AS (x int, hcl_row bigint)});
($rc, $out, $err) = $node->psql('postgres', q{ALTER TABLE typed OF typed_t});
like($err, qr/it would be a typed table/, 'a ledger cannot become a typed table');

# A sealer in a REPEATABLE READ transaction begun before a change fails on it, never sealing with old column sets.
my ($rin, $rout, $rerr) = ('', '', '');
my $rr = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c',
	  q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM hcledger.ledger_columns; SELECT pg_sleep(2); SELECT hcledger.seal('enc'); COMMIT;} ],
	'<', \$rin, '>', \$rout, '2>', \$rerr);
sleep 1;
sql(q{INSERT INTO enc (id) VALUES (2);
      BEGIN; SELECT hcledger.unlock_ddl('enc', 'id as bigint'); ALTER TABLE enc ALTER COLUMN id TYPE bigint; COMMIT});
$rr->finish;
like($rerr, qr/could not serialize access due to concurrent update/, 'a REPEATABLE READ sealer from before the change fails on it');
sql(q{SELECT hcledger.seal('enc')});
is(sql(q{SELECT count(*) FROM hcledger.verify_ledger('enc')}), '0', 'sealed afresh, the ledger verifies');

# Tampering on both sides of every change.
my @tamper = (
	[ q{UPDATE visits SET site = 'forged' WHERE hcl_row = 3}, 'changed_value:3', 'a renamed column\'s value in a row before the rename' ],
	[ q{UPDATE visits SET site = 'forged' WHERE hcl_row = 10}, 'changed_value:10', 'a renamed column\'s value in a row after the rename' ],
	[ q{UPDATE visits SET email = 'forged' WHERE hcl_row = 6}, 'changed_value:6', 'an added column\'s value in its first row' ],
	[ q{UPDATE visits SET email = 'forged' WHERE hcl_row = 5}, 'clean', 'an added column\'s default in a row before it (not hashed there)' ],
	[ q{UPDATE hcledger.dropped_values SET value = convert_to('forged', 'UTF8') WHERE name = 'note' AND hcl_row = 2},
	  'changed_value:2', 'a dropped column\'s archived value' ],
	[ q{DELETE FROM hcledger.dropped_values WHERE name = 'note' AND hcl_row = 4}, 'changed_value:4', 'a dropped column\'s archived value deleted' ],
	[ q{UPDATE hcledger.dropped_values SET value = float8send(99) WHERE name = 'temp' AND hcl_row = 7},
	  'changed_value:7', 'a retyped column\'s old value' ],
	[ q{UPDATE visits SET temp = 40 WHERE hcl_row = 13}, 'changed_value:13', 'a retyped column\'s value after the change' ],
	[ q{UPDATE hcledger.ledger_columns SET from_row = 10 WHERE from_row = 9},
	  'changed_value:9', 'a column set moved to another row number' ],
);
for my $t (@tamper)
{
	my ($stmt, $want, $what) = @$t;
	my $got = $node->safe_psql('postgres', qq{BEGIN; SELECT behind_the_back(\$s\$$stmt\$s\$);
		SELECT coalesce(string_agg(kind || ':' || row_number, ' ' ORDER BY row_number), 'clean') FROM hcledger.verify_ledger('visits');
		ROLLBACK;});
	$got =~ s/^\n+//;
	$got = (split /\n/, $got)[-1];
	is($got, $want, "tampering found: $what");
}
($rc, $out, $err) = $node->psql('postgres', q{BEGIN; SELECT behind_the_back($s$DELETE FROM hcledger.dropped_values WHERE name = 'note' AND hcl_row = 4$s$);
	SELECT hcledger.row_leaf('visits', 4); ROLLBACK});
like($err, qr/the archived value of dropped column "note" of row 4 of ledger "visits" is missing/, 'a leaf is never made without an archived value');
is(problems(), 'clean', 'every tampering was rolled back');

# pg_dump and restore: every leaf the same, sealing and changes go on.
my $leaves = q{SELECT string_agg(hcl_row || ':' || encode(sha256(hcledger.row_leaf('visits', hcl_row)), 'hex'), ' ' ORDER BY hcl_row) FROM visits};
my $leaves_before = sql($leaves);
my $dump = $node->basedir . '/evolved.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump of the evolved ledger');
sql(q{CREATE DATABASE restored});
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore of it');
is($node->safe_psql('restored', $leaves), $leaves_before, 'after the restore every row has the leaf it was sealed with');
is(problems('restored'), 'clean', 'the restored ledger verifies');
$node->safe_psql('restored', q{BEGIN; SELECT hcledger.unlock_ddl('visits', 'after the restore'); ALTER TABLE visits DROP COLUMN email; COMMIT;
	INSERT INTO visits (id, site) VALUES (17, 'gate 17')});
is(sealed_all('restored'), 'true', 'the restored ledger goes on sealing after a further drop');
is(problems('restored'), 'clean', 'and verifies');

# A log restarted over the evolved table hashes each row as the old one did.
$node->safe_psql('restored', q{SELECT hcledger.restart_log('visits', 'a new log')});
is(sealed_all('restored'), 'true', 'a restarted log seals the evolved table');
is(problems('restored'), 'clean', 'and verifies');
like($node->safe_psql('restored', q{SELECT encode(hcledger.row_leaf('visits', 2), 'escape')}), qr/note.*note 2.*place.*gate 2/s,
	'a row of the restarted log keeps its columns\' old names and its dropped value');

done_testing();
