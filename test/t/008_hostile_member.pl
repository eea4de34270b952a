# A consortium with a hostile member (docs/consortium.md, docs/threat-model.md):
# Macau and Guangdong are honest; "rogue" is a member whose superuser attacks
# the others through its own publications and tables.  Every attempt is
# refused or reported, and the honest members' codes keep verifying at each
# other:
#  - extra tables: join_member refuses a member whose publications carry
#    tables beyond the consortium's four (55000), and leaves nothing behind;
#  - never widened: tables the member adds to its publications later reach
#    nobody, and ALTER SUBSCRIPTION ... REFRESH PUBLICATION is refused (55000);
#  - keys: add_key and revoke_key endorse a member's own keys with its node
#    key, and peers take them; a key inserted behind the back (unendorsed),
#    a key in another member's name, and an unendorsed change of a key are
#    refused;
#  - another member's name: rows, checkpoints and cosignatures sent in
#    another member's name are refused, naming the subscription;
#  - no updates or deletes: a member that publishes UPDATE and DELETE cannot
#    change or remove a peer's own codes, checkpoints or cosignatures;
#  - a withheld revocation: rows filtered out of the feed make the member's
#    codes verify as incomplete, never valid, and member_status counts them;
#    another row sent under the revocation's number does not count;
#  - a split view at different sizes is reported by the member whose log
#    covers the other's cosigned size;
#  - throughout, the honest members' codes verify valid at each other, and
#    everything refused at them came through the rogue's subscription.
use strict;
use warnings;

use MIME::Base64;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;

my $keys = PostgreSQL::Test::Utils::tempdir();


sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub lit { (my $s = $_[0]) =~ s/'/''/g; return $s; }
# A query on an interface the build may not have yet: its output, or the error.
sub try_value
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return $ret == 0 ? $out : "ERROR: $err";
}
# The SQLSTATE and message of the error a statement raises ("no error" if none).
sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return 'no error' if $ret == 0;
	return $err =~ /ERROR:\s+([0-9A-Z]{5}: [^\n]*)/ ? $1 : $err;
}
# Poll until a query returns true, for up to $secs seconds.
sub poll
{
	my ($node, $sql, $secs) = @_;
	my $end = time() + ($secs // 60);
	while (1)
	{
		my ($ret, $out) = $node->psql('postgres', $sql);
		return 1 if $ret == 0 && $out eq 't';
		return 0 if time() > $end;
		usleep(200_000);
	}
}

my ($mo, $mo_card) = member($keys, 'macau', 1);
my ($gd, $gd_card) = member($keys, 'guangdong', 1);
my ($rg, $rg_card) = member($keys, 'rogue', 1);
my %node = (macau => $mo, guangdong => $gd, rogue => $rg);
my %card = (macau => $mo_card, guangdong => $gd_card, rogue => $rg_card);

sub join_sql
{
	my ($card, $to) = @_;
	return "SELECT hcledger.join_member('" . lit($card) . "', '" . lit($to->connstr('postgres')) . "')";
}

# Everyone admits everyone.  Macau and Guangdong join each other, and the
# rogue joins both; the honest members join the rogue in step 1.
for my $a (sort keys %node)
{
	for my $b (sort keys %node)
	{
		value($node{$a}, "SELECT hcledger.admit_member('$b')") unless $a eq $b;
	}
}
for my $pair ([ 'macau', 'guangdong' ], [ 'guangdong', 'macau' ], [ 'rogue', 'macau' ], [ 'rogue', 'guangdong' ])
{
	my ($a, $b) = @$pair;
	value($node{$a}, join_sql($card{$b}, $node{$b}));
}

sub ledger_of { return value($_[0], "SELECT $_[1] FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass"); }
my $rsub = value($mo, "SELECT 'hcledger_from_' || substr(hcledger.member_slot('rogue'), 10)");
my $rg_origin = ledger_of($rg, 'origin');
my $gd_origin = ledger_of($gd, 'origin');
my $mo_origin = ledger_of($mo, 'origin');
my $rg_ledger = ledger_of($rg, 'ledger_id');
my $four = 'hcledger.checkpoints,hcledger.codes,hcledger.cosignatures,hcledger.keys';
sub subscribed_tables
{
	my ($node) = @_;
	return value($node, "SELECT string_agg(r.srrelid::regclass::text, ',' ORDER BY r.srrelid::regclass::text)
		FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = '$rsub'");
}

sub claims { my ($doc) = @_; return qq({"name": "Traveller $doc", "document_number": "$doc", "test_result": "negative"}); }
sub issue
{
	my ($node, $doc) = @_;
	my $row = value($node, "SELECT encode(credential_id, 'hex') || '|' || payload FROM hcledger.issue_code('" . claims($doc) . "')");
	return split /\|/, $row;
}
sub verdict
{
	my ($node, $payload) = @_;
	return value($node, "SELECT verdict || coalesce(': ' || reason, '') FROM hcledger.verify_code('$payload')");
}
sub wait_verdict
{
	my ($node, $payload, $want, $what) = @_;
	ok(poll($node, "SELECT verdict = '$want' FROM hcledger.verify_code('$payload')"), $what)
	  or diag(verdict($node, $payload) . "\n" . value($node, 'SELECT * FROM hcledger.refused; SELECT * FROM hcledger.member_status'));
}
sub sealed_size { return ledger_of($_[0], 'tree_size'); }
sub wait_sealed
{
	my ($node) = @_;
	poll($node, "SELECT tree_size = (SELECT count(*) FROM hcledger.codes) FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass")
	  or die "the sealer did not seal everything";
	return sealed_size($node);
}
sub wait_accepted
{
	my ($node, $member, $size, $what) = @_;
	ok(poll($node, "SELECT tree_size >= $size FROM hcledger.members WHERE authority = '$member'"), $what)
	  or diag(value($node, 'SELECT * FROM hcledger.refused; SELECT id, authority, tree_size, state, reason FROM hcledger.peer_checkpoints ORDER BY id DESC LIMIT 5'));
}
# A refusal at $node, of a kind, for an authority (or whatever came through the
# rogue's subscription, with authority => undef), with a reason like $like, newer than $after.
sub refusal_sql
{
	my ($authority, $kind, $like, $after) = @_;
	return "SELECT count(*) > 0 FROM hcledger.refusals WHERE kind = '$kind' AND reason LIKE '" . lit($like) . "'"
	  . (defined $authority ? " AND authority = '$authority'" : " AND subscription = '$rsub'")
	  . " AND refusal_id > " . ($after // 0);
}
sub wait_refusal
{
	my ($node, $authority, $kind, $like, $what, $after) = @_;
	ok(poll($node, refusal_sql($authority, $kind, $like, $after), 20), $what)
	  or diag(value($node, 'SELECT * FROM hcledger.refusals ORDER BY refusal_id'));
}
sub last_refusal { return value($_[0], 'SELECT coalesce(max(refusal_id), 0) FROM hcledger.refusals'); }
# Wait until both honest members have applied everything the rogue has written so far.
sub caught_up
{
	my $lsn = value($rg, 'SELECT pg_current_wal_lsn()');
	poll($rg, "SELECT count(*) = 2 AND bool_and(replay_lsn >= '$lsn') FROM pg_stat_replication WHERE application_name = '$rsub'")
	  or die "the honest members did not catch up with the rogue";
}
sub pause_sealer { value($_[0], "ALTER SYSTEM SET hcledger.seal_interval = 3600000; SELECT pg_reload_conf(); SELECT pg_sleep(0.5)"); }
sub resume_sealer { value($_[0], "ALTER SYSTEM RESET hcledger.seal_interval; SELECT pg_reload_conf()"); }

# The rogue's superuser at work, in one transaction: its event triggers, and
# every trigger of the tables named, off while $sql runs, then back as they were.
my %mode = (O => 'ENABLE', A => 'ENABLE ALWAYS', R => 'ENABLE REPLICA');
sub hostile
{
	my ($sql, @tables) = @_;
	my (@off, @on);
	for (split /\n/, value($rg, "SELECT evtname || ' ' || evtenabled::text FROM pg_event_trigger WHERE evtenabled <> 'D'"))
	{
		my ($name, $m) = split / /;
		push @off, "ALTER EVENT TRIGGER $name DISABLE";
		push @on, "ALTER EVENT TRIGGER $name $mode{$m}";
	}
	for my $t (@tables)
	{
		for (split /\n/, value($rg, "SELECT tgname || ' ' || tgenabled::text FROM pg_trigger WHERE tgrelid = '$t'::regclass AND NOT tgisinternal AND tgenabled <> 'D'"))
		{
			my ($name, $m) = split / /;
			push @off, "ALTER TABLE $t DISABLE TRIGGER $name";
			push @on, "ALTER TABLE $t $mode{$m} TRIGGER $name";
		}
	}
	value($rg, join(";\n", 'BEGIN', @off, $sql, reverse(@on), 'COMMIT'));
}
my $feed = "hcledger.codes, hcledger.checkpoints WHERE (ledger_id = $rg_ledger), hcledger.cosignatures WHERE (witness = 'rogue')";
my $extra = 'hcledger.peer_codes, hcledger.peer_leaves, hcledger.members';

# 1. Extra tables at join.
hostile("ALTER PUBLICATION hcledger_feed ADD TABLE $extra");
my $err = error_of($mo, join_sql(value($rg, 'SELECT hcledger.member_card()'), $rg));
like($err, qr/^55000: the publications of "rogue" carry tables/,
	'join_member refuses a member whose publications carry other tables (55000)');
is(value($mo, "SELECT count(*) FROM pg_subscription WHERE subname = '$rsub'"), '0', 'no subscription to it is left behind');
is(value($mo, "SELECT count(*) FROM hcledger.members WHERE authority = 'rogue'"), '0', 'and no member row');
value($mo, "SELECT hcledger.leave_member('rogue', 'joined despite its publications')") if $err eq 'no error';
hostile("ALTER PUBLICATION hcledger_feed DROP TABLE $extra");
is(error_of($mo, join_sql(value($rg, 'SELECT hcledger.member_card()'), $rg)), 'no error',
	'once the member drops the other tables, Macau joins it');
is(error_of($gd, join_sql(value($rg, 'SELECT hcledger.member_card()'), $rg)), 'no error', 'and so does Guangdong');
is(subscribed_tables($mo), $four, 'the subscription covers the four tables of the consortium');

# Every member's codes verify at the others, the rogue's too (before it attacks).
my ($mo_id, $mo_code) = issue($mo, 'MO-0001');
my ($gd_id, $gd_code) = issue($gd, 'GD-0001');
my ($rg_id, $rg_code) = issue($rg, 'RG-0001');
issue($mo, sprintf('MO-%04d', $_)) for 2 .. 12;
wait_verdict($mo, $gd_code, 'valid', 'a Guangdong code verifies in Macau');
wait_verdict($gd, $mo_code, 'valid', 'a Macau code verifies in Guangdong');
wait_verdict($mo, $rg_code, 'valid', 'a code of the rogue verifies in Macau');
wait_verdict($gd, $rg_code, 'valid', 'and in Guangdong');
sub honest
{
	my ($what) = @_;
	is(verdict($mo, $gd_code), 'valid', "$what: Guangdong's code still verifies in Macau");
	is(verdict($gd, $mo_code), 'valid', "$what: Macau's code still verifies in Guangdong");
}

# 2. Never widened: tables the rogue publishes after the join reach nobody.
hostile("ALTER PUBLICATION hcledger_feed ADD TABLE $extra");
my $members_sql = "SELECT string_agg(format('%s|%s|%s|%s', authority, origin, subscription, left_at), ',' ORDER BY authority) FROM hcledger.members";
my %members = map { $_ => value($node{$_}, $members_sql) } qw(macau guangdong);
my @cols = split /,/, value($rg, "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'hcledger.codes'::regclass AND attnum > 0 AND NOT attisdropped");
my $cols = join(', ', @cols);
sub cols_with_row { my ($row) = @_; return join(', ', map { $_ eq 'hcl_row' ? $row : $_ } @cols); }
poll($rg, "SELECT count(*) > 0 FROM hcledger.peer_codes WHERE authority = 'guangdong'") or die "the rogue has no Guangdong rows";
hostile(qq{
	CREATE TEMP TABLE saved ON COMMIT DROP AS SELECT * FROM hcledger.members WHERE authority = 'guangdong';
	DELETE FROM hcledger.members WHERE authority = 'guangdong';
	INSERT INTO hcledger.members (authority, origin, ledger_uuid, connection, subscription)
	  SELECT authority, origin, ledger_uuid, connection, '$rsub' FROM saved;
	DELETE FROM hcledger.members WHERE authority = 'guangdong';
	INSERT INTO hcledger.members SELECT * FROM saved;
	INSERT INTO hcledger.peer_codes ($cols) SELECT } . cols_with_row(900001) . qq{ FROM hcledger.peer_codes
	  WHERE authority = 'guangdong' ORDER BY hcl_row LIMIT 1;
	INSERT INTO hcledger.peer_leaves (authority, row_number, log_position, leaf_hash)
	  VALUES ('guangdong', 900001, 900001, repeat('00', 32)::hcledger.hash256);
	DELETE FROM hcledger.peer_codes WHERE hcl_row = 900001;
	DELETE FROM hcledger.peer_leaves WHERE row_number = 900001
}, 'hcledger.members', 'hcledger.peer_codes', 'hcledger.peer_leaves');
caught_up();
for my $n ([ 'macau', 'Macau' ], [ 'guangdong', 'Guangdong' ])
{
	my $node = $node{ $n->[0] };
	is(value($node, $members_sql), $members{ $n->[0] },
		"$n->[1]'s members are unchanged by a row the rogue published claiming Guangdong with its own subscription");
	is(value($node, 'SELECT count(*) FROM hcledger.peer_codes WHERE hcl_row = 900001'), '0', "no row of the rogue's peer_codes reaches $n->[1]");
	is(value($node, 'SELECT count(*) FROM hcledger.peer_leaves WHERE row_number = 900001'), '0', "nor of its peer_leaves");
}
my $refresh = error_of($mo, "ALTER SUBSCRIPTION $rsub REFRESH PUBLICATION");
like($refresh, qr/^55000: /, 'ALTER SUBSCRIPTION ... REFRESH PUBLICATION of the rogue\'s subscription is refused (55000)');
is(subscribed_tables($mo), $four, 'the subscription stays limited to the four tables');
hostile("ALTER PUBLICATION hcledger_feed DROP TABLE $extra");
value($mo, "ALTER SUBSCRIPTION $rsub REFRESH PUBLICATION") if $refresh eq 'no error';    # narrow it again
honest('after the widened publication');

# 3. Keys are signed by keys the member already had.
sub public_key
{
	my ($name) = @_;
	openssl('genpkey', '-algorithm', 'ed25519', '-out', "$keys/$name.pem");
	openssl('pkey', '-in', "$keys/$name.pem", '-pubout', '-out', "$keys/$name.pub");
	return "hcledger.public_key_raw('ed25519', convert_to('" . slurp("$keys/$name.pub") . "', 'UTF8'))";
}
sub key_state
{
	my ($node, $authority, $key_id) = @_;
	return value($node, "SELECT format('%s %s %s %s', valid_until, revoked_at, revocation_reason, public_key) FROM hcledger.keys WHERE authority = '$authority' AND key_id = '$key_id'");
}
# 3a. An honest new key.
value($gd, "SELECT hcledger.add_key('guangdong', 'node-2', 'ed25519', " . public_key('gd-node-2') . ")");
is(try_value($gd, "SELECT endorsed_by || ' ' || length(endorsement) FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'node-2'"),
	'node-1 64', 'add_key endorses a new key of the local authority with its node key');
ok(poll($mo, "SELECT count(*) = 1 FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'node-2'", 20),
	'an honest new key of Guangdong is accepted in Macau');
is(value($mo, "SELECT count(*) FROM hcledger.member_events WHERE authority = 'guangdong' AND event = 'key added' AND detail LIKE '%node-2%'"),
	'1', 'and recorded as a key added');
# 3b. An honest revocation.
value($gd, "SELECT hcledger.revoke_key('guangdong', 'node-2', now(), 'retired')");
ok(poll($mo, "SELECT revoked_at IS NOT NULL FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'node-2'", 20),
	'an honest revocation of Guangdong reaches Macau');
# 3c. A key the rogue inserts for itself behind the back, unendorsed.
my $before = last_refusal($mo);
hostile("INSERT INTO hcledger.keys (authority, key_id, algorithm, public_key, valid_from)
	VALUES ('rogue', 'sneaky-1', 'ed25519', " . public_key('sneaky-1') . ", now() - interval '1 day')", 'hcledger.keys');
wait_refusal($mo, 'rogue', 'key', '%not signed by a key%', 'a key the rogue inserted behind the back, unendorsed, is refused in Macau', $before);
is(value($mo, "SELECT count(*) FROM hcledger.keys WHERE key_id = 'sneaky-1'"), '0', 'it is not registered there');
# 3d. A key sent by the rogue in Guangdong's name.
hostile("ALTER PUBLICATION hcledger_keys SET TABLE hcledger.keys");
hostile("INSERT INTO hcledger.keys (authority, key_id, algorithm, public_key, valid_from)
	VALUES ('guangdong', 'forged-1', 'ed25519', " . public_key('forged-1') . ", now() - interval '1 day')", 'hcledger.keys');
hostile("ALTER PUBLICATION hcledger_keys SET TABLE hcledger.keys WHERE (authority = 'rogue')");
wait_refusal($mo, 'guangdong', 'key', "%subscription $rsub%", 'a key the rogue sent in Guangdong\'s name is refused in Macau, naming the rogue\'s subscription', $before);
is(value($mo, "SELECT count(*) FROM hcledger.keys WHERE key_id = 'forged-1'"), '0', 'it is not registered there');
# 3e. Unendorsed changes of existing keys: a later end, a revocation removed, an end set.
value($rg, "SELECT hcledger.add_key('rogue', 'spare-1', 'ed25519', " . public_key('spare-1') . ", now() - interval '1 minute', now() + interval '1 day')");
value($rg, "SELECT hcledger.add_key('rogue', 'spare-2', 'ed25519', " . public_key('spare-2') . ", now() - interval '1 minute')");
value($rg, "SELECT hcledger.add_key('rogue', 'spare-3', 'ed25519', " . public_key('spare-3') . ", now() - interval '1 minute')");
value($rg, "SELECT hcledger.revoke_key('rogue', 'spare-2', now(), 'retired')");
ok(poll($mo, "SELECT count(*) = 3 AND bool_or(revoked_at IS NOT NULL) FROM hcledger.keys WHERE authority = 'rogue' AND key_id LIKE 'spare-%'", 20),
	'the rogue\'s honest key changes are accepted in Macau');
my %spare = map { $_ => key_state($mo, 'rogue', $_) } qw(spare-1 spare-2 spare-3);
$before = last_refusal($mo);
hostile("UPDATE hcledger.keys SET valid_until = now() + interval '10 years' WHERE authority = 'rogue' AND key_id = 'spare-1';
	UPDATE hcledger.keys SET revoked_at = NULL, revocation_reason = NULL WHERE authority = 'rogue' AND key_id = 'spare-2';
	UPDATE hcledger.keys SET valid_until = now() + interval '1 hour' WHERE authority = 'rogue' AND key_id = 'spare-3'", 'hcledger.keys');
ok(poll($mo, "SELECT count(*) > 0 FROM hcledger.refusals WHERE authority = 'rogue' AND kind = 'key' AND subject LIKE '%spare-1%' AND refusal_id > $before", 20),
	'a later end of a key, unendorsed, is refused');
ok(poll($mo, "SELECT count(*) > 0 FROM hcledger.refusals WHERE authority = 'rogue' AND kind = 'key' AND subject LIKE '%spare-2%' AND refusal_id > $before", 20),
	'a revocation removed behind the back is refused');
ok(poll($mo, "SELECT count(*) > 0 FROM hcledger.refusals WHERE authority = 'rogue' AND kind = 'key' AND subject LIKE '%spare-3%' AND reason LIKE '%not signed by a key%' AND refusal_id > $before", 20),
	'an end set behind the back, with a stale endorsement, is refused as not signed by a key of the member');
caught_up();
is(key_state($mo, 'rogue', $_), $spare{$_}, "Macau keeps $_ as the rogue endorsed it") for sort keys %spare;
honest('after the key attacks');

# 4. Rows, checkpoints and cosignatures in another member's name.
pause_sealer($rg);
$before = last_refusal($mo);
hostile("SET LOCAL session_replication_role = replica;
	INSERT INTO hcledger.codes ($cols) OVERRIDING SYSTEM VALUE SELECT " . cols_with_row(900002) . "
	  FROM hcledger.peer_codes WHERE authority = 'guangdong' ORDER BY hcl_row LIMIT 1", 'hcledger.codes');
wait_refusal($mo, 'guangdong', 'row', "%subscription $rsub%", 'a row the rogue sent in Guangdong\'s name is refused, naming the subscription', $before);
poll($rg, "SELECT count(*) > 0 FROM hcledger.peer_checkpoints WHERE authority = 'guangdong' AND state = 'accepted'") or die;
hostile("INSERT INTO hcledger.checkpoints (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves)
	SELECT $rg_ledger, 900002, c.root, 1, now(), repeat('00', 32)::hcledger.hash256, c.note, repeat('00', 32)::hcledger.hash256, c.note, c.leaves
	  FROM hcledger.peer_checkpoints c WHERE c.authority = 'guangdong' AND c.state = 'accepted' ORDER BY c.tree_size DESC LIMIT 1", 'hcledger.checkpoints');
wait_refusal($mo, 'guangdong', 'checkpoint', "%subscription $rsub%", 'a checkpoint the rogue sent in Guangdong\'s name is refused, naming the subscription', $before);
poll($rg, "SELECT count(*) > 0 FROM hcledger.cosignatures WHERE witness = 'guangdong' AND origin = '$mo_origin'") or die;
hostile("ALTER PUBLICATION hcledger_feed SET TABLE hcledger.codes, hcledger.checkpoints WHERE (ledger_id = $rg_ledger), hcledger.cosignatures");
hostile("CREATE TEMP TABLE c ON COMMIT DROP AS
	  SELECT * FROM hcledger.cosignatures WHERE witness = 'guangdong' AND origin = '$mo_origin' ORDER BY tree_size DESC LIMIT 1;
	DELETE FROM hcledger.cosignatures x USING c WHERE (x.witness, x.origin, x.tree_size) = (c.witness, c.origin, c.tree_size);
	INSERT INTO hcledger.cosignatures SELECT * FROM c", 'hcledger.cosignatures');
hostile("ALTER PUBLICATION hcledger_feed SET TABLE $feed");
wait_refusal($mo, 'guangdong', 'cosignature', "%subscription $rsub%", 'a cosignature the rogue sent in Guangdong\'s name is refused, naming the subscription', $before);
hostile("DELETE FROM hcledger.codes WHERE hcl_row = 900002; DELETE FROM hcledger.checkpoints WHERE tree_size = 900002",
	'hcledger.codes', 'hcledger.checkpoints');
caught_up();
is(value($mo, "SELECT count(*) FROM hcledger.peer_codes WHERE hcl_row = 900002"), '0', 'nothing of them is kept in Macau');
honest('after the messages in another member\'s name');

# 5. No updates or deletes from a member: the rogue publishes them, and aims them at Macau's own rows.
hostile("ALTER PUBLICATION hcledger_feed SET (publish = 'insert, update, delete'); ALTER TABLE hcledger.codes REPLICA IDENTITY FULL");
my ($row_b, $row_a) = split /\n/, value($mo, "SELECT hcl_row FROM hcledger.codes WHERE entry = 'issue' ORDER BY hcl_row DESC LIMIT 2");
die "the rogue's rows would collide with Macau's" if value($rg, 'SELECT coalesce(max(hcl_row), 0) FROM hcledger.codes') >= $row_a;
poll($rg, "SELECT count(*) = 2 FROM hcledger.peer_codes WHERE authority = 'macau' AND hcl_row IN ($row_a, $row_b)") or die;
my $codes_sql = 'SELECT count(*) || \' \' || md5(string_agg(c::text, \'|\' ORDER BY hcl_row)) FROM hcledger.codes c';
my $checkpoints_sql = 'SELECT count(*) || \' \' || md5(string_agg(k::text, \'|\' ORDER BY ledger_id, tree_size)) FROM hcledger.checkpoints k';
my $mo_codes = value($mo, $codes_sql);
my $mo_checkpoints = value($mo, $checkpoints_sql);
# An UPDATE or DELETE the rogue published, refused in Macau (found through the
# rogue's subscription); the authority each refusal is recorded against is kept.
my @attributed;
sub change_refused
{
	my ($kind, $label, $what, $after) = @_;
	wait_refusal($mo, undef, $kind, '%', $what, $after);
	push @attributed, "$label: " . value($mo, "SELECT coalesce(string_agg(DISTINCT authority, '+'), 'none') FROM hcledger.refusals
		WHERE refusal_id > $after AND kind = '$kind' AND subscription = '$rsub'");
}
sub copy_of_macau_row
{
	my ($row) = @_;
	hostile("SET LOCAL session_replication_role = replica;
		INSERT INTO hcledger.codes ($cols) OVERRIDING SYSTEM VALUE SELECT $cols FROM hcledger.peer_codes WHERE authority = 'macau' AND hcl_row = $row",
		'hcledger.codes');
	caught_up();
	return last_refusal($mo);
}
# 5a. A copy of one of Macau's rows, deleted.
$before = copy_of_macau_row($row_a);
hostile("DELETE FROM hcledger.codes WHERE authority = 'macau' AND hcl_row = $row_a", 'hcledger.codes');
change_refused('row', 'row DELETE', 'a DELETE the rogue publishes, matching one of Macau\'s own rows, is refused in Macau', $before);
# 5b. A copy of another, updated (and then deleted as it now reads).
$before = copy_of_macau_row($row_b);
hostile("SET LOCAL session_replication_role = replica; UPDATE hcledger.codes SET colour = 'red' WHERE authority = 'macau' AND hcl_row = $row_b", 'hcledger.codes');
change_refused('row', 'row UPDATE', 'an UPDATE the rogue publishes, matching one of Macau\'s own rows, is refused in Macau', $before);
hostile("DELETE FROM hcledger.codes WHERE authority = 'macau' AND hcl_row = $row_b", 'hcledger.codes');
# 5c. A checkpoint with the key of one of Macau's own checkpoints, updated and deleted.
die "Macau's codes ledger has another id than the rogue's" if ledger_of($mo, 'ledger_id') ne $rg_ledger;
my $mo_size = value($mo, "SELECT max(tree_size) FROM hcledger.checkpoints WHERE ledger_id = $rg_ledger");
die "the rogue has a checkpoint of size $mo_size" if value($rg, "SELECT count(*) FROM hcledger.checkpoints WHERE tree_size = $mo_size");
hostile("INSERT INTO hcledger.checkpoints (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves)
	SELECT ledger_id, $mo_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves
	  FROM hcledger.checkpoints WHERE ledger_id = $rg_ledger ORDER BY tree_size DESC LIMIT 1", 'hcledger.checkpoints');
caught_up();
$before = last_refusal($mo);
hostile("UPDATE hcledger.checkpoints SET sealed_at = sealed_at + interval '1 second' WHERE ledger_id = $rg_ledger AND tree_size = $mo_size", 'hcledger.checkpoints');
change_refused('checkpoint', 'checkpoint UPDATE', 'an UPDATE the rogue publishes, matching one of Macau\'s own checkpoints, is refused in Macau', $before);
$before = last_refusal($mo);
hostile("DELETE FROM hcledger.checkpoints WHERE ledger_id = $rg_ledger AND tree_size = $mo_size", 'hcledger.checkpoints');
change_refused('checkpoint', 'checkpoint DELETE', 'a DELETE the rogue publishes, matching one of Macau\'s own checkpoints, is refused in Macau', $before);
# 5d. The rogue's own cosignature, as Macau received it, updated and deleted.
my $cs_size = value($rg, "SELECT max(tree_size) FROM hcledger.cosignatures WHERE witness = 'rogue' AND origin = '$gd_origin'");
my $cs_sql = "SELECT md5(c::text) FROM hcledger.cosignatures c WHERE witness = 'rogue' AND origin = '$gd_origin' AND tree_size = $cs_size";
poll($mo, "SELECT count(*) = 1 FROM ($cs_sql) x") or die "Macau does not have the rogue's cosignature";
my $mo_cs = value($mo, $cs_sql);
$before = last_refusal($mo);
hostile("UPDATE hcledger.cosignatures SET root = repeat('11', 32)::hcledger.hash256 WHERE witness = 'rogue' AND origin = '$gd_origin' AND tree_size = $cs_size",
	'hcledger.cosignatures');
change_refused('cosignature', 'cosignature UPDATE', 'an UPDATE of a cosignature the rogue publishes is refused in Macau', $before);
$before = last_refusal($mo);
hostile("DELETE FROM hcledger.cosignatures WHERE witness = 'rogue' AND origin = '$gd_origin' AND tree_size = $cs_size", 'hcledger.cosignatures');
change_refused('cosignature', 'cosignature DELETE', 'a DELETE of a cosignature the rogue publishes is refused in Macau', $before);
hostile("ALTER PUBLICATION hcledger_feed SET (publish = 'insert'); ALTER TABLE hcledger.codes REPLICA IDENTITY DEFAULT");
caught_up();
resume_sealer($rg);
is(join(', ', @attributed), join(', ', map { "$_: rogue" } 'row DELETE', 'row UPDATE', 'checkpoint UPDATE', 'checkpoint DELETE',
	'cosignature UPDATE', 'cosignature DELETE'), 'each is recorded as refused from the rogue (authority rogue)');
is(value($mo, $codes_sql), $mo_codes, 'Macau\'s own codes are untouched (count and content)');
is(value($mo, "SELECT count(*) FROM hcledger.verify_ledger('hcledger.codes')"), '0', 'and its ledger verifies');
is(value($mo, $checkpoints_sql), $mo_checkpoints, 'Macau\'s own checkpoints are untouched');
is(value($mo, $cs_sql), $mo_cs, 'the rogue\'s cosignature in Macau is as it arrived');
honest('after the updates and deletes');

# 6. A withheld revocation: the rogue filters revocations out of its feed.
my ($w_id, $w_code) = issue($rg, 'RG-WITHHELD');
my $size = wait_sealed($rg);
wait_accepted($mo, 'rogue', $size, 'Macau accepts the rogue\'s log with the new code');
wait_verdict($mo, $w_code, 'valid', 'the rogue\'s new code verifies in Macau');
hostile("ALTER PUBLICATION hcledger_feed SET TABLE hcledger.codes WHERE (entry <> 'revoke'), hcledger.checkpoints WHERE (ledger_id = $rg_ledger), hcledger.cosignatures WHERE (witness = 'rogue')");
value($rg, "SELECT hcledger.revoke_code(decode('$w_id', 'hex'), 'revoked, and withheld from the peers')");
$size = wait_sealed($rg);
wait_accepted($mo, 'rogue', $size, 'Macau accepts the checkpoint covering the withheld revocation');
wait_accepted($gd, 'rogue', $size, 'so does Guangdong');
is(value($mo, "SELECT verdict FROM hcledger.verify_code('$w_code')"), 'incomplete',
	'the code whose revocation was withheld verifies as incomplete in Macau, not valid');
like(value($mo, "SELECT reason FROM hcledger.verify_code('$w_code')"), qr/not arrived/, 'the reason says rows have not arrived');
is(value($gd, "SELECT verdict FROM hcledger.verify_code('$w_code')"), 'incomplete', 'and in Guangdong');
is(try_value($mo, "SELECT missing_rows > 0 FROM hcledger.member_status WHERE authority = 'rogue'"), 't',
	'member_status counts the rogue\'s missing rows');
is(try_value($mo, "SELECT string_agg(authority, ',') FROM hcledger.member_status WHERE missing_rows > 0"), 'rogue',
	'and no other member\'s');
# 6b. It then sends another row under the withheld revocation's number (a copy of
# the code's issue row): a row that does not match its leaf has not arrived.
my $rev_row = value($rg, "SELECT hcl_row FROM hcledger.codes WHERE credential_id = decode('$w_id', 'hex') AND entry = 'revoke'");
$before = last_refusal($mo);
hostile("SET LOCAL session_replication_role = replica;
	DELETE FROM hcledger.codes WHERE hcl_row = $rev_row;
	INSERT INTO hcledger.codes ($cols) OVERRIDING SYSTEM VALUE SELECT " . join(', ', map { $_ eq 'hcl_row' ? $rev_row : $_ } @cols)
	. " FROM hcledger.codes WHERE credential_id = decode('$w_id', 'hex') AND entry = 'issue'", 'hcledger.codes');
ok(poll($mo, "SELECT count(*) > 0 FROM hcledger.refusals WHERE refusal_id > $before AND kind = 'row' AND subject = 'row $rev_row'"
		. " AND reason LIKE 'its content does not match its leaf%'", 20),
	'a row sent in place of the withheld revocation is refused in Macau as not matching its leaf');
is(value($mo, "SELECT verdict FROM hcledger.verify_code('$w_code')"), 'incomplete',
	'and the code still verifies as incomplete: a row that does not match its leaf has not arrived');
is(value($mo, "SELECT missing_rows > 0 FROM hcledger.members WHERE authority = 'rogue'"), 't', 'it is still counted missing');
hostile("ALTER PUBLICATION hcledger_feed SET TABLE $feed");
honest('with the rogue\'s revocation withheld');

# 7. A split view at different sizes: the rogue shows Guangdong a checkpoint of
# size n+2 whose first n+1 leaves differ from the size-n+1 checkpoint Macau gets.
$size = wait_sealed($rg);
wait_accepted($mo, 'rogue', $size, 'Macau is up to date with the rogue');
wait_accepted($gd, 'rogue', $size, 'so is Guangdong');
pause_sealer($rg);
my ($y_id, $y_code) = issue($rg, 'RG-SPLIT');
my $row = value($rg, "SELECT hcl_row FROM hcledger.codes WHERE credential_id = decode('$y_id', 'hex')");
ok(poll($mo, "SELECT count(*) = 1 FROM hcledger.peer_codes WHERE authority = 'rogue' AND hcl_row = $row"), 'the row reached Macau');
value($mo, "ALTER SUBSCRIPTION $rsub DISABLE");
poll($rg, "SELECT NOT active FROM pg_replication_slots WHERE slot_name = hcledger.member_slot('macau')") or die;
my $entries = unpack('H*', pack('q>', $row)) . ('22' x 32) . unpack('H*', pack('q>', $row + 1)) . ('33' x 32);
my ($split_root, $prev) = split /\|/, value($rg, "SELECT encode((hcledger.log_extend(frontier, tree_size, '\\x$entries')).root::bytea, 'hex') || '|' || encode(last_checkpoint::bytea, 'base64') FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass");
my $key_id = pack('H*', value($rg, "SELECT encode(substr(sha256(convert_to('$rg_origin' || E'\\n', 'UTF8') || '\\x01'::bytea || hcledger.signing_public_key()), 1, 4), 'hex')"));
my $body = "$rg_origin\n" . ($size + 2) . "\n" . encode_base64(pack('H*', $split_root), '') . "\nhcledger-prev $prev\nhcledger-time " . int(time()) . "\nhcledger-row " . ($row + 1) . "\n";
spew("$keys/body.txt", $body);
openssl('pkeyutl', '-sign', '-rawin', '-inkey', "$keys/rogue-node.pem", '-in', "$keys/body.txt", '-out', "$keys/body.sig");
my $note = "$body\n\x{e2}\x{80}\x{94} $rg_origin " . encode_base64($key_id . slurp("$keys/body.sig"), '') . "\n";
value($rg, qq{INSERT INTO hcledger.checkpoints (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash, note, leaves)
	VALUES ($rg_ledger, } . ($size + 2) . qq{, '$split_root', } . ($row + 1) . qq{, now(), repeat('00', 32)::hcledger.hash256, \$n\$$note\$n\$,
	        repeat('00', 32)::hcledger.hash256, \$n\$$note\$n\$, '\\x$entries')});
wait_accepted($gd, 'rogue', $size + 2, 'Guangdong accepts the size-' . ($size + 2) . ' checkpoint the rogue showed only to it');
value($rg, "DELETE FROM hcledger.checkpoints WHERE root::text = '$split_root'");
value($rg, "SELECT pg_replication_slot_advance(hcledger.member_slot('macau'), pg_current_wal_lsn())");
value($mo, "ALTER SUBSCRIPTION $rsub ENABLE");
resume_sealer($rg);
wait_accepted($mo, 'rogue', $size + 1, 'Macau accepts the size-' . ($size + 1) . ' checkpoint the rogue sealed for it');
ok(poll($gd, "SELECT count(DISTINCT root) = 2 FROM hcledger.split_views WHERE origin = '$rg_origin' AND tree_size = " . ($size + 1), 30),
	'Guangdong, whose accepted log covers the size Macau cosigned, reports the split view')
  or diag(value($gd, 'SELECT * FROM hcledger.split_views; SELECT witness, origin, tree_size, root FROM hcledger.cosignatures'));
is(value($gd, "SELECT string_agg(array_to_string(witnesses, '+'), ' / ' ORDER BY witnesses) FROM hcledger.split_views WHERE origin = '$rg_origin' AND tree_size = " . ($size + 1)),
	'guangdong / macau', 'with Macau\'s cosigned root and Guangdong\'s own accepted root');

# 8. The honest members, at the end.
my ($mo2_id, $mo2_code) = issue($mo, 'MO-LAST');
my ($gd2_id, $gd2_code) = issue($gd, 'GD-LAST');
wait_verdict($mo, $gd2_code, 'valid', 'a new Guangdong code verifies in Macau');
wait_verdict($gd, $mo2_code, 'valid', 'a new Macau code verifies in Guangdong');
honest('at the end');
for my $n ([ $mo, 'Macau' ], [ $gd, 'Guangdong' ])
{
	is(value($n->[0], "SELECT count(*) FROM hcledger.refused WHERE subscription IS DISTINCT FROM '$rsub'"), '0',
		"everything refused in $n->[1] came from the rogue")
	  or diag(value($n->[0], "SELECT * FROM hcledger.refused WHERE subscription IS DISTINCT FROM '$rsub'"));
}

done_testing();
