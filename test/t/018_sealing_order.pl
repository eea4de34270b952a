# Sealing that no open transaction or gap holds hostage (issue 16, item 1;
# docs/format.md, "Sealing order").  Rows are sealed as they commit: a row
# whose transaction is still open is passed over and sealed later (a late
# row), and a gap in the row numbers delays nothing once no transaction
# that can still fill it (one holding a lock on the table) is running.
#  - an issuer's transaction left open after its insert: later rows, and
#    other issuers' codes, are sealed and verify meanwhile; its rows are
#    sealed once it commits, with proofs, receipts and verify_ledger clean;
#  - the same with a savepoint rolled back, and with a prepared transaction;
#  - a gap held open by a transaction in another database: nothing waits;
#  - a gap whose number is drawn by an insert still in progress (a slow
#    BEFORE trigger, an ON CONFLICT insert waiting for a conflicting one):
#    it is not passed over for good; the row is sealed late;
#  - the sequence set back below the rows passed stops sealing with an error;
#  - 1,024 pending runs (one open transaction interleaved with committed
#    rows): the sealer stops going forward and status says why; all is
#    sealed once it commits;
#  - tampering with late rows, the log's runs or the pending list is found;
#  - pg_dump and restore keep the runs: the restored ledger verifies and
#    proves its late rows;
#  - a consortium peer accepts checkpoints with late rows, and refuses one
#    that lists a row twice (a member's sealer set back by its superuser);
#    a second issue of a code slipped in under a lower row number by a
#    member's superuser does not replace the issue its peers saw first.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;

my $keys = PostgreSQL::Test::Utils::tempdir();
my ($gd, $gd_card) = member($keys, 'guangdong', 1);
my ($mo, $mo_card) = member($keys, 'macau', 1);
$gd->append_conf('postgresql.conf', "max_prepared_transactions = 5\n");
$gd->restart;
$gd->safe_psql('postgres', "SELECT hcledger.admit_member('macau')");
$mo->safe_psql('postgres', "SELECT hcledger.admit_member('guangdong')");
(my $c = $gd_card) =~ s/'/''/g;
(my $conn = $gd->connstr('postgres')) =~ s/'/''/g;
$mo->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");

sub sql { return $gd->safe_psql('postgres', $_[0]); }

# An interactive session: send it SQL, wait for what it prints.
sub session
{
	my ($node, $db) = @_;
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db // 'postgres') ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
	return \%s;
}
sub say_to
{
	my ($s, $sql) = @_;
	my $mark = 'done-' . int(rand(1e9));
	$s->{out} = '';
	$s->{in} .= "$sql\nSELECT '$mark';\n";
	$s->{h}->pump until $s->{out} =~ /$mark/ || $s->{err} =~ /ERROR/;
	die "session: $s->{err}" if $s->{err} =~ /ERROR/;
	(my $out = $s->{out}) =~ s/\n?$mark\n//;
	return $out;
}
sub finish { my ($s) = @_; $s->{in} .= "\\q\n"; $s->{h}->finish; }

sub settled
{
	my ($table) = @_;
	return $gd->poll_query_until('postgres',
		"SELECT hcledger.ledger_unsealed_rows('$table') = 0 AND cardinality(pending) = 0"
		  . " FROM hcledger.ledgers WHERE relid = '$table'::regclass AND dropped_at IS NULL");
}
sub sealed { my ($table, $row) = @_; return sql("SELECT (hcledger.ledger_rows_check('$table', ARRAY[$row]::bigint[], 9223372036854775807)).state"); }
sub problems { my ($table) = @_; return sql("SELECT string_agg(kind || ' ' || coalesce(row_number::text, '-'), ', ' ORDER BY kind, row_number) FROM hcledger.verify_ledger('$table')"); }

sql(q{
	CREATE TABLE visits (v int UNIQUE, note text);
	SELECT hcledger.create_ledger('visits');
	CREATE ROLE writer LOGIN;
	GRANT INSERT, SELECT ON visits TO writer;
	INSERT INTO visits VALUES (1, 'first'), (2, 'second');
	CREATE DATABASE elsewhere;
});
ok(settled('visits'), 'two rows sealed');

# 1. A transaction left open after its insert holds only its own rows.
my $open = session($gd);
say_to($open, "BEGIN; INSERT INTO visits VALUES (3, 'left open'), (4, 'left open');");
sql(q{INSERT INTO visits VALUES (5, 'after'); INSERT INTO visits VALUES (6, 'after')});
ok($gd->poll_query_until('postgres', "SELECT hcledger.ledger_unsealed_rows('visits') = 0"),
	'rows committed after the open transaction\'s are sealed while it stays open');
is(sealed('visits', 6), 'sealed', 'a later row is sealed');
is(sql("SELECT pending FROM hcledger.ledgers WHERE relid = 'visits'::regclass"), '{0,3,4,' . sql("SELECT blocked_by FROM hcledger.ledgers WHERE relid = 'visits'::regclass") . '}',
	'the open transaction\'s rows are one pending run');
like(sql("SELECT held_because FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	qr/^transaction \d+ inserted rows and has not ended: they are sealed once it commits \(later rows are sealed meanwhile\)$/,
	'status says whose rows wait, and that nothing else does');
is(problems('visits'), '', 'verify_ledger: nothing wrong while rows are pending');
say_to($open, 'COMMIT;');
ok(settled('visits'), 'once it commits, its rows are sealed');
is(sql("SELECT string_agg(r::text, ',' ORDER BY p) FROM (SELECT hcledger.ledger_row_at('visits', p) AS r, p FROM generate_series(0, 5) p) x"),
	'1,2,5,6,3,4', 'the log holds the late rows after the rows sealed before them');
is(sql("SELECT string_agg(start_position || ':' || first_row || '-' || coalesce(last_row::text, ''), ' ' ORDER BY start_position) FROM hcledger.log_runs"),
	'0:1-6 4:3-', 'two runs of increasing row numbers are recorded');
is(problems('visits'), '', 'verify_ledger: nothing wrong');
is(sql("SELECT leaf_index FROM hcledger.ledger_inclusion_proof('visits', 3)"), '4', 'a late row\'s proof finds its position');
is(sql("SELECT (hcledger.verify_receipt(hcledger.ledger_receipt('visits', 4), hcledger.signing_public_key())).valid"), 't',
	'a late row\'s receipt verifies');
is(sql("SELECT (hcledger.verify_receipt(hcledger.ledger_receipt('visits', 6), hcledger.signing_public_key())).valid"), 't',
	'and so does one of a row sealed before it');

# 1b. Savepoints: rows of a savepoint rolled back are never sealed, the rest are.
say_to($open, "BEGIN; INSERT INTO visits VALUES (7, 'kept'); SAVEPOINT s; INSERT INTO visits VALUES (8, 'undone'); ROLLBACK TO s; SAVEPOINT t; INSERT INTO visits VALUES (9, 'kept too'); RELEASE t;");
sql("INSERT INTO visits VALUES (10, 'after')");
ok($gd->poll_query_until('postgres', "SELECT hcledger.ledger_unsealed_rows('visits') = 0"), 'with savepoints open, later rows are sealed');
say_to($open, 'COMMIT;');
ok(settled('visits'), 'once it commits, its kept rows are sealed');
is(sql("SELECT count(*) FROM hcledger.ledgers l, hcledger.tiles t WHERE t.ledger_id = l.ledger_id AND l.relid = 'visits'::regclass AND t.level = 0 AND position('\\x0000000000000009'::bytea IN t.row_numbers) > 0"), '1', 'the row of the released savepoint is in the log');
is(sql("SELECT (SELECT tree_size FROM hcledger.ledgers WHERE relid = 'visits'::regclass) = (SELECT count(*) FROM visits)"), 't',
	'every row is in the log, the rolled-back one is not there to be');
is(problems('visits'), '', 'verify_ledger: nothing wrong');

# 1c. A prepared transaction's rows wait for COMMIT PREPARED only.
sql("BEGIN; INSERT INTO visits VALUES (11, 'prepared'); PREPARE TRANSACTION 'p1'");
sql("INSERT INTO visits VALUES (12, 'after')");
ok($gd->poll_query_until('postgres', "SELECT hcledger.ledger_unsealed_rows('visits') = 0"), 'a prepared transaction holds back nothing but its rows');
sql("COMMIT PREPARED 'p1'");
ok(settled('visits'), 'COMMIT PREPARED: its row is sealed');

# 1d. Rolled-back inserts, while a writer's transaction stays open, hold
#     nothing back (a rolled-back row is settled at once, or, once an index
#     scan has marked its entry dead and the number looks unused, waits as
#     a gap for the open writer alone).
say_to($open, "BEGIN; INSERT INTO visits VALUES (20, 'open meanwhile');");
sql("BEGIN; INSERT INTO visits VALUES (21, 'rolled back'); ROLLBACK") for 1 .. 5;
sql("INSERT INTO visits VALUES (22, 'after the rollbacks')");
ok($gd->poll_query_until('postgres', "SELECT hcledger.ledger_unsealed_rows('visits') = 0"), 'rows after rolled-back inserts are sealed');
say_to($open, 'COMMIT;');
ok(settled('visits'), 'and once it commits, nothing is');

# 2. A gap held open by a transaction in another database delays nothing.
my $far = session($gd, 'elsewhere');
say_to($far, 'BEGIN; SELECT pg_current_xact_id();');
sql("INSERT INTO visits VALUES (1, 'conflict') ON CONFLICT DO NOTHING; INSERT INTO visits VALUES (13, 'after a gap')");
ok(settled('visits'), 'a gap is passed over while a transaction in another database stays open');
is(sql("SELECT held_because IS NULL FROM hcledger.status WHERE ledger = 'visits'::regclass"), 't', 'and status names nothing holding it');
say_to($far, 'COMMIT;');
finish($far);

# 3. A gap whose number an insert still in progress has drawn is not passed
#    over for good: the insert (slowed by a trigger of the owner's) lands late.
sql(q{
	CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN IF NEW.note = 'slow' THEN PERFORM pg_sleep(3); END IF; RETURN NEW; END $$;
	CREATE TRIGGER slow BEFORE INSERT ON visits FOR EACH ROW EXECUTE FUNCTION slow();
});
my $slow = session($gd);
$slow->{in} .= "INSERT INTO visits VALUES (14, 'slow');\nSELECT 'slow-done';\n";
$slow->{h}->pump_nb while length $slow->{in};
$gd->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%''slow''%' AND wait_event = 'PgSleep'");
sql("INSERT INTO visits VALUES (15, 'after the slow one')");
ok($gd->poll_query_until('postgres', "SELECT hcledger.ledger_unsealed_rows('visits') = 0"), 'the row after the drawn number is sealed');
like(sql("SELECT pending FROM hcledger.ledgers WHERE relid = 'visits'::regclass"), qr/^\{1,/, 'the drawn number stays a pending gap while its insert runs');
$slow->{h}->pump until $slow->{out} =~ /slow-done/;
ok(settled('visits'), 'once the insert commits, its row is sealed');
is(sealed('visits', sql("SELECT hcl_row FROM visits WHERE note = 'slow'")), 'sealed', 'the slow row is in the log');
is(problems('visits'), '', 'verify_ledger: nothing wrong');
sql('DROP TRIGGER slow ON visits');

# 3b. An INSERT ... ON CONFLICT DO NOTHING that drew its number and waits
#     for a conflicting insert still open: the number is not passed over
#     for good; once the other rolls back, its row is sealed late.
my $x = session($gd);
say_to($x, "BEGIN; INSERT INTO visits VALUES (500, 'first, rolled back');");
my $w = session($gd);
$w->{in} .= "INSERT INTO visits VALUES (500, 'waited') ON CONFLICT (v) DO NOTHING;\nSELECT 'w-done';\n";
$w->{h}->pump_nb while length $w->{in};
$gd->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%''waited''%' AND wait_event_type = 'Lock'");
sql("INSERT INTO visits VALUES (501, 'after the waiting one')");
ok($gd->poll_query_until('postgres', "SELECT hcledger.ledger_unsealed_rows('visits') = 0 AND (hcledger.ledger_rows_check('visits', ARRAY[(SELECT hcl_row FROM visits WHERE v = 501)], 9223372036854775807)).state = 'sealed'"),
	'the row after the waiting insert is sealed');
say_to($x, 'ROLLBACK;');
$w->{h}->pump until $w->{out} =~ /w-done/;
finish($x);
finish($w);
ok(settled('visits'), 'once the conflicting insert rolls back, the waiting one\'s row is sealed');
is(sealed('visits', sql("SELECT hcl_row FROM visits WHERE note = 'waited'")), 'sealed', 'it is in the log');
is(problems('visits'), '', 'verify_ledger: nothing wrong');

# 3c. The sequence set back below the rows the sealer passed stops sealing
#     with an error, rather than letting a number be used twice unseen.
sql(q{CREATE TABLE seqback (v int); SELECT hcledger.create_ledger('seqback'); INSERT INTO seqback VALUES (1), (2)});
ok(settled('seqback'), 'seqback sealed');
sql(q{BEGIN; INSERT INTO seqback VALUES (3); ROLLBACK});
ok($gd->poll_query_until('postgres', "SELECT passed_row = 3 AND last_row = 2 FROM hcledger.ledgers WHERE relid = 'seqback'::regclass"),
	'an aborted row is passed over');
sql(q{SELECT setval(pg_get_serial_sequence('seqback', 'hcl_row'), 2)});
my ($rc, $o, $e) = $gd->psql('postgres', "SELECT hcledger.seal_ledger('seqback')");
like($e, qr/the row-number sequence of ledger "public\.seqback" was altered.*below the last row the sealer passed, 3; it is at 2/s,
	'setting the sequence back below the last row passed stops sealing with an error');
sql(q{SELECT setval(pg_get_serial_sequence('seqback', 'hcl_row'), 3)});

# 4. 1,024 pending runs: an open transaction interleaved with committed rows.
my $other = session($gd);
say_to($open, 'BEGIN;');
for my $i (1 .. 1030)
{
	say_to($open, "INSERT INTO visits VALUES (100000 + $i, 'interleaved, open');");
	say_to($other, "INSERT INTO visits VALUES (200000 + $i, 'interleaved, committed');");
}
ok($gd->poll_query_until('postgres', "SELECT cardinality(pending) = 4 * 1024 FROM hcledger.ledgers WHERE relid = 'visits'::regclass"),
	'the sealer keeps at most 1,024 pending runs');
like(sql("SELECT held_because FROM hcledger.status WHERE ledger = 'visits'::regclass"),
	qr/^1024 runs of rows and gaps are pending, the oldest kept by transaction \d+, which has not ended: no later row is sealed until some are settled$/,
	'status says the sealer goes no further, and who holds it');
ok(sql("SELECT pending_rows >= 5 FROM hcledger.status WHERE ledger = 'visits'::regclass") eq 't', 'the committed rows after the last run wait');
say_to($open, 'COMMIT;');
ok(settled('visits'), 'once it commits, everything is sealed');
is(problems('visits'), '', 'verify_ledger: nothing wrong');
is(sql("SELECT count(*) = (SELECT tree_size FROM hcledger.ledgers WHERE relid = 'visits'::regclass) FROM visits"), 't', 'every row once in the log');
is(sql("SELECT bool_and((hcledger.verify_receipt(hcledger.ledger_receipt('visits', r), hcledger.signing_public_key())).valid)"
	  . " FROM (SELECT hcl_row AS r FROM visits ORDER BY random() LIMIT 40) x"), 't', 'receipts of rows across the runs verify');
finish($other);
finish($open);

# 5. Dump and restore keep the runs.
my $dump = "$keys/visits.dump";
command_ok([ 'pg_dump', '-Fc', '--no-subscriptions', '--no-publications', '-f', $dump, '-d', $gd->connstr('postgres') ], 'pg_dump');
sql('CREATE DATABASE restored');
command_ok([ 'pg_restore', '-d', $gd->connstr('restored'), $dump ], 'pg_restore');
is($gd->safe_psql('restored', "SELECT count(*) FROM hcledger.verify_ledger('visits')"), '0', 'the restored ledger verifies');
is($gd->safe_psql('restored', "SELECT leaf_index FROM hcledger.ledger_inclusion_proof('visits', 3)"), '4', 'and proves a late row');

# 6. Tampering with late rows, the runs and the pending list.
sql(q{
	CREATE FUNCTION behind_the_back(stmt text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
		ALTER EVENT TRIGGER hcledger_drop_guard DISABLE;
		ALTER TABLE visits DISABLE TRIGGER hcl_append_only, DROP CONSTRAINT IF EXISTS hcl_row_drawn;
		EXECUTE stmt;
	END $$;
});
sql("SELECT behind_the_back(\$\$UPDATE visits SET note = 'changed' WHERE hcl_row = 3\$\$)");
is(problems('visits'), 'changed_value 3', 'a late row changed is found');
sql("SELECT behind_the_back(\$\$DELETE FROM visits WHERE hcl_row = 4\$\$)");
is(problems('visits'), 'changed_value 3, removed_row 4', 'a late row removed is found');
$gd->safe_psql('restored', "UPDATE hcledger.log_runs SET first_row = 2 WHERE start_position = 4");
like($gd->safe_psql('restored', "SELECT kind || ': ' || detail FROM hcledger.verify_ledger('visits')"),
	qr/^altered_node: the runs of the log recorded in hcledger\.log_runs are not those of the stored log/, 'a run changed is found');
$gd->safe_psql('restored', "UPDATE hcledger.log_runs SET first_row = 3 WHERE start_position = 4");
$gd->safe_psql('restored', "UPDATE hcledger.ledgers SET pending = '{0,5,3,1000}' WHERE relid = 'visits'::regclass");
like($gd->safe_psql('restored', "SELECT kind || ': ' || detail FROM hcledger.verify_ledger('visits')"),
	qr/^altered_node: the sealer's pending rows \(hcledger\.ledgers\.pending\) are malformed$/, 'a malformed pending list is found');
my ($ret, $out, $err) = $gd->psql('restored', "SELECT hcledger.seal_ledger('visits')");
like($err, qr/ERROR:  the pending rows of ledger "public\.visits" \(hcledger\.ledgers\.pending\) are malformed/, 'and the sealer refuses to go on from it');
$gd->safe_psql('restored', "UPDATE hcledger.ledgers SET pending = '{}' WHERE relid = 'visits'::regclass");
is($gd->safe_psql('restored', "SELECT count(*) FROM hcledger.verify_ledger('visits')"), '0', 'put right, it verifies again');

# 7. A consortium peer follows a log with late rows.
my $issuer = session($gd);
say_to($issuer, q{BEGIN; SELECT hcledger.issue_code('{"name": "Traveller A", "document_number": "A-1"}');});
my $late_code = (split /\n/, say_to($issuer, q{SELECT payload FROM hcledger.issue_code('{"name": "Traveller B", "document_number": "B-1"}');}))[-1];
my $on_time = sql(q{SELECT payload FROM hcledger.issue_code('{"name": "Traveller C", "document_number": "C-1"}')});
ok($mo->poll_query_until('postgres', "SELECT verdict = 'valid' FROM hcledger.verify_code('$on_time')"),
	'a code issued while another issuer\'s transaction is open verifies at the peer');
say_to($issuer, 'COMMIT;');
finish($issuer);
ok($mo->poll_query_until('postgres', "SELECT verdict = 'valid' FROM hcledger.verify_code('$late_code')"),
	'the late code verifies at the peer once sealed');
is($mo->safe_psql('postgres', "SELECT count(*) FROM hcledger.peer_checkpoints WHERE state = 'refused'"), '0', 'the peer refused nothing');
is(sql("SELECT count(*) FROM hcledger.verify_ledger('hcledger.codes')"), '0', 'the codes ledger verifies');

# 7b. A member's superuser slips a second issue of an existing code into
#     its log under a settled row number below it (the row numbered there,
#     the sealer pointed at it): the peer accepts the late row, but the
#     code's issue stays the one first in the log, and it verifies valid.
my $victim = sql(q{SELECT payload FROM hcledger.issue_code('{"name": "Traveller E", "document_number": "E-1"}')});
ok($mo->poll_query_until('postgres', "SELECT verdict = 'valid' FROM hcledger.verify_code('$victim')"), 'a code verifies at the peer');
sql(q{BEGIN; SELECT hcledger.issue_code('{"name": "Nobody", "document_number": "N-1"}'); ROLLBACK});
my $g = sql(q{SELECT last_value FROM pg_sequences WHERE schemaname || '.' || sequencename = pg_get_serial_sequence('hcledger.codes', 'hcl_row')});
sql(q{SELECT hcledger.issue_code('{"name": "Traveller F", "document_number": "F-1"}')});
ok($gd->poll_query_until('postgres', "SELECT passed_row > $g AND cardinality(pending) = 0 FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass"),
	"row number $g (a rolled-back issue) is settled");
sql(qq{
	ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE;
	ALTER EVENT TRIGGER hcledger_drop_guard DISABLE;
	ALTER TABLE hcledger.codes DROP CONSTRAINT IF EXISTS hcl_row_drawn;
	INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, subject, commitment, valid_from,
	                            valid_until, key_id, signature, effective_at, reason, hcl_row) OVERRIDING SYSTEM VALUE
	SELECT entry, credential_id, authority, at, colour, subject, hcledger.sha256('forged')::bytea, valid_from,
	       valid_until, key_id, signature, effective_at, reason, $g
	  FROM hcledger.codes WHERE entry = 'issue' ORDER BY hcl_row DESC OFFSET 1 LIMIT 1;
	UPDATE hcledger.ledgers SET pending = ARRAY[1, $g, $g, 4]::bigint[] WHERE relid = 'hcledger.codes'::regclass;
});
ok($mo->poll_query_until('postgres', "SELECT count(*) > 0 FROM hcledger.peer_leaves WHERE authority = 'guangdong' AND row_number = $g"),
	'the peer accepts the backdated row, a late row to it');
is($mo->safe_psql('postgres', "SELECT verdict FROM hcledger.verify_code('$victim')"), 'valid',
	'the code still verifies valid at the peer: its issue is the one first in the log');

# 8. A member whose sealer is set back (its catalog edited by its superuser)
#    seals a row a second time, and signs it: the peer refuses that
#    checkpoint, and the member's own verify_ledger reports it.
sql("UPDATE hcledger.ledgers SET passed_row = passed_row - 1 WHERE relid = 'hcledger.codes'::regclass");
sql(q{SELECT hcledger.issue_code('{"name": "Traveller D", "document_number": "D-1"}')});
ok($mo->poll_query_until('postgres', "SELECT count(*) = 1 FROM hcledger.peer_checkpoints WHERE state = 'refused'"
	  . " AND reason = 'its log entries list a row number twice (or one below 1)'"),
	'the peer refuses a checkpoint that lists a row a second time');
like(sql("SELECT string_agg(kind || ': ' || detail, '; ') FROM hcledger.verify_ledger('hcledger.codes')"),
	qr/^altered_node: the log lists row \d+ a second time, at position \d+$/, 'the member\'s verify_ledger finds it too');

done_testing();
