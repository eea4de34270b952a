# Whose rights apply what a member sends, and failover slots
# (docs/consortium.md, "Whose rights apply a member's changes").  Guangdong
# issues codes; Macau joins it.  On PostgreSQL 16 and later:
#  - join_member gives the subscription to hcledger_replicator, a role with
#    no superuser rights and write rights on the four consortium tables
#    only, with run_as_owner; member_status shows it;
#  - codes, checkpoints and keys (an SM2 key too) still arrive and verify
#    (the receiving triggers run as the extension's owner);
#  - a subscription widened behind the DDL guard's back (a superuser turns
#    the guard off) to a table of anyone's (public.notes) or to one of
#    ours (hcledger.members) writes nothing there: the apply worker fails
#    with "permission denied" and retries, and member_status counts it;
#    once the widening is undone the stream goes on, nothing lost;
#  - restrict_subscriptions converts a subscription a superuser owns (as
#    one made on 15 has after pg_upgrade) and refuses a replicator role
#    that was made a superuser;
#  - on 17, admit_member's slots are failover slots: Guangdong fails over
#    to a standby that synchronized them, Macau's subscription is pointed
#    at it, and codes issued before and after verify, nothing refused.
#  - no client connects as hcledger_replicator, whatever pg_hba.conf allows.
# On 15, restrict_subscriptions says it changes nothing, member_status
# names the superuser, and the login guard is checked on a role made for it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HclKeys;
use HclConsortium;

my $keys = PostgreSQL::Test::Utils::tempdir();
my ($mo, $mo_card) = member($keys, 'macau', 0);
my ($gd, $gd_card) = member($keys, 'guangdong', 1);
my $version = $mo->safe_psql('postgres', 'SHOW server_version_num');

sub value { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

$gd->safe_psql('postgres', "SELECT hcledger.admit_member('macau')");
(my $c = $gd_card) =~ s/'/''/g;
(my $conn = $gd->connstr('postgres')) =~ s/'/''/g;
$mo->safe_psql('postgres', "SELECT hcledger.join_member('$c', '$conn')");

sub issue
{
	my ($doc) = @_;
	return value($gd, qq{SELECT payload FROM hcledger.issue_code('{"name": "Traveller $doc", "document_number": "$doc"}')});
}
sub wait_verdict
{
	my ($payload, $want, $what) = @_;
	ok($mo->poll_query_until('postgres', "SELECT verdict = '$want' FROM hcledger.verify_code('$payload')"), $what)
	  or diag(value($mo, "SELECT verdict, reason FROM hcledger.verify_code('$payload'); SELECT * FROM hcledger.refused; SELECT * FROM hcledger.member_status"));
}

# No client logs in as hcledger_replicator (the role exists on 16+; made here on 15).
sub login_refused
{
	my ($rc, $out, $err) = $mo->psql('postgres', 'SELECT 1', extra_params => [ '-U', 'hcledger_replicator' ]);
	like($err, qr/role "hcledger_replicator" is for applying consortium members' changes only/,
		'no client may connect as hcledger_replicator, whatever pg_hba.conf allows');
}

# An SM2 key a member registers reaches the other member as an sm2 key
# (GM/T 0003.5's example key), with its revocation.
sub sm2_key_arrives
{
	my $point = '0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13';
	value($gd, "SELECT hcledger.add_key('guangdong', 'sm2-1', 'sm2', '\\x$point', now())");
	ok($mo->poll_query_until('postgres', "SELECT count(*) = 1 FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'sm2-1'
	                                        AND algorithm = 'sm2' AND public_key = '\\x$point'"),
		'an SM2 key of a member arrives as an sm2 key');
	value($gd, "SELECT hcledger.revoke_key('guangdong', 'sm2-1', now(), 'rotated')");
	ok($mo->poll_query_until('postgres', "SELECT revoked_at IS NOT NULL FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'sm2-1'"),
		'and so does its revocation');
}

if ($version < 160000)
{
	value($mo, 'CREATE ROLE hcledger_replicator LOGIN');
	login_refused();
	value($mo, 'DROP ROLE hcledger_replicator');
	# whoever is granted write rights on the four tables writes nothing with them
	value($mo, 'CREATE ROLE mallory; GRANT USAGE ON SCHEMA hcledger TO mallory; GRANT INSERT, DELETE ON hcledger.keys TO mallory');
	my ($rc, $out, $err) = $mo->psql('postgres', "SET ROLE mallory; DELETE FROM hcledger.keys");
	like($err, qr/only hcledger's own functions write hcledger\.keys/, 'a role granted DELETE on hcledger.keys is refused');
	is(value($mo, "SELECT count(*) > 0 FROM hcledger.keys"), 't', 'the keys are still there');
	($rc, $out, $err) = $mo->psql('postgres', 'SELECT hcledger.restrict_subscriptions()');
	is($out, '0', 'PostgreSQL 15: restrict_subscriptions changes nothing');
	like($err, qr/lets only superusers own subscriptions/, 'and says why');
	is(value($mo, 'SELECT apply_role FROM hcledger.member_status'), value($mo, 'SELECT current_user'),
		'member_status names the superuser the apply worker runs as');
	wait_verdict(issue('GD-1'), 'valid', 'codes arrive');
	sm2_key_arrives();
	done_testing();
	exit;
}

# 1. The subscription and its role.
my $sub = value($mo, "SELECT subscription FROM hcledger.members WHERE authority = 'guangdong'");
is(value($mo, "SELECT pg_get_userbyid(subowner) || ' ' || subrunasowner || ' ' || subpasswordrequired FROM pg_subscription WHERE subname = '$sub'"),
	'hcledger_replicator true false', 'the subscription belongs to hcledger_replicator and applies as it');
is(value($mo, "SELECT rolsuper || ' ' || rolcanlogin || ' ' || rolbypassrls FROM pg_roles WHERE rolname = 'hcledger_replicator'"),
	'false true false', 'a role with no superuser rights nor row-security bypass (LOGIN: apply workers start as it)');
is(value($mo, "SELECT string_agg(c.relname || ':' || p.privilege_type, ',' ORDER BY c.relname, p.privilege_type)
                 FROM pg_class c, aclexplode(c.relacl) p
                WHERE p.grantee = 'hcledger_replicator'::regrole"),
	join(',', map { my $t = $_; map { "$t:$_" } qw(DELETE INSERT SELECT UPDATE) } qw(checkpoints codes cosignatures keys)),
	'it may read and write the four consortium tables and no other');
is(value($mo, "SELECT apply_role FROM hcledger.member_status WHERE authority = 'guangdong'"), 'hcledger_replicator',
	'member_status names it');
login_refused();
is(value($gd, "SELECT failover FROM pg_replication_slots WHERE slot_name = hcledger.member_slot('macau')"),
	't', 'the slot admit_member made is a failover slot (PostgreSQL 17)') if $version >= 170000;

# 2. What a member sends still arrives, through the triggers.
my $code1 = issue('GD-1');
wait_verdict($code1, 'valid', 'a Guangdong code verifies in Macau');
value($gd, "SELECT hcledger.add_key('guangdong', 'credential-2', 'es256', hcledger.credential_public_key(), now() + interval '1 day')");
ok($mo->poll_query_until('postgres', "SELECT count(*) = 1 FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'credential-2'"),
	'a key arrives');
value($gd, "SELECT hcledger.revoke_key('guangdong', 'credential-2', now(), 'not needed')");
ok($mo->poll_query_until('postgres', "SELECT revoked_at IS NOT NULL FROM hcledger.keys WHERE authority = 'guangdong' AND key_id = 'credential-2'"),
	'and its revocation (an UPDATE applied as hcledger_replicator)');
is(value($mo, "SELECT count(*) FROM hcledger.codes WHERE authority = 'guangdong'"), '0', 'nothing of the member in our own ledger');
sm2_key_arrives();

# 3. Widened behind the guard's back: nothing written.
value($mo, "CREATE TABLE public.notes (note text)");
value($gd, "CREATE TABLE public.notes (note text)");
# a superuser with the DDL guard off (ALTER SUBSCRIPTION ... REFRESH may not run in a transaction)
my $guards = value($mo, "SELECT string_agg(evtname, ' ') FROM pg_event_trigger WHERE evtenabled <> 'D'");
sub unguarded
{
	my ($node, $sql) = @_;
	value($node, join(';', map { "ALTER EVENT TRIGGER $_ DISABLE" } split / /, $guards));
	value($node, $sql);
	value($node, join(';', map { "ALTER EVENT TRIGGER $_ ENABLE" } split / /, $guards));
}
sub refresh { unguarded($mo, "ALTER SUBSCRIPTION $sub REFRESH PUBLICATION WITH (copy_data = false)"); }
sub apply_errors { return value($mo, "SELECT apply_errors FROM hcledger.member_status WHERE authority = 'guangdong'"); }
my $log_at = -s $mo->logfile;
unguarded($gd, "ALTER PUBLICATION hcledger_feed ADD TABLE public.notes, hcledger.members");
refresh();
is(value($mo, "SELECT count(*) FROM pg_subscription_rel WHERE srsubid = (SELECT oid FROM pg_subscription WHERE subname = '$sub')
                AND srrelid IN ('public.notes'::regclass, 'hcledger.members'::regclass)"), '2',
	'the subscription now carries public.notes and hcledger.members');
my $errors = apply_errors();
value($gd, "INSERT INTO public.notes VALUES ('written by a member')");
ok($mo->poll_query_until('postgres', "SELECT apply_errors > $errors FROM hcledger.member_status WHERE authority = 'guangdong'"),
	'the apply worker fails on a row for public.notes');
ok($mo->wait_for_log(qr/permission denied for table notes/, $log_at), 'with "permission denied"');
sleep 1;
is(value($mo, 'SELECT count(*) FROM public.notes'), '0', 'nothing is written to public.notes');

unguarded($gd, "ALTER PUBLICATION hcledger_feed DROP TABLE public.notes");
refresh();
$log_at = -s $mo->logfile;
value($gd, "INSERT INTO hcledger.members (authority, origin, ledger_uuid, subscription)
            VALUES ('intruder', 'hcledger/hcledger.codes/00000000000000000000000000000000', '\\x00000000000000000000000000000000', 'x')");
ok($mo->wait_for_log(qr/permission denied for table members/, $log_at), 'a row for hcledger.members fails too, with "permission denied"');
is(value($mo, "SELECT count(*) FROM hcledger.members WHERE authority = 'intruder'"), '0', 'no member is added');
is(value($mo, 'SELECT count(*) FROM public.notes'), '0', 'and the earlier note never arrived');

unguarded($gd, "ALTER PUBLICATION hcledger_feed DROP TABLE hcledger.members");
refresh();
# the failed changes are still in the slot: the rows for the dropped tables are skipped now
my $code2 = issue('GD-2');
wait_verdict($code2, 'valid', 'with the widening undone, the stream goes on');
wait_verdict($code1, 'valid', 'and the earlier code still verifies');

# 4. restrict_subscriptions on a subscription a superuser owns.
value($mo, "ALTER SUBSCRIPTION $sub OWNER TO CURRENT_USER; ALTER SUBSCRIPTION $sub SET (run_as_owner = false)");
is(value($mo, 'SELECT apply_role FROM hcledger.member_status'), value($mo, 'SELECT current_user'), 'a superuser owns it again');
is(value($mo, 'SELECT hcledger.restrict_subscriptions()'), '1', 'restrict_subscriptions converts it');
is(value($mo, "SELECT pg_get_userbyid(subowner) || ' ' || subrunasowner FROM pg_subscription WHERE subname = '$sub'"),
	'hcledger_replicator true', 'it belongs to hcledger_replicator again');
is(value($mo, 'SELECT hcledger.restrict_subscriptions()'), '0', 'a second call changes nothing');
wait_verdict(issue('GD-3'), 'valid', 'codes arrive after the change');

# A role that is not as hcledger made it is refused, before anything is changed.
value($mo, "ALTER SUBSCRIPTION $sub OWNER TO CURRENT_USER");
for my $change ([ 'ALTER ROLE hcledger_replicator SUPERUSER', 'ALTER ROLE hcledger_replicator NOSUPERUSER', 'made a superuser' ],
	[ "ALTER ROLE hcledger_replicator PASSWORD 'secret'", 'ALTER ROLE hcledger_replicator PASSWORD NULL', 'given a password' ],
	[ 'CREATE ROLE mallory; GRANT hcledger_replicator TO mallory', 'DROP ROLE mallory', 'held by another role' ])
{
	value($mo, $change->[0]);
	my ($rc, $out, $err) = $mo->psql('postgres', 'SELECT hcledger.restrict_subscriptions()');
	like($err, qr/role hcledger_replicator is not as hcledger made it/, "a replicator $change->[2] is refused");
	value($mo, $change->[1]);
}
is(value($mo, "SELECT pg_get_userbyid(subowner) = current_user FROM pg_subscription WHERE subname = '$sub'"), 't', 'and the subscription was left as it was');
is(value($mo, 'SELECT hcledger.restrict_subscriptions()'), '1', 'restored, the role takes it again');
my ($rc, $out, $err);
($rc, $out, $err) = $mo->psql('postgres', "SET ROLE hcledger_admin; SELECT hcledger.restrict_subscriptions()");
like($err, qr/permission denied for function restrict_subscriptions/, 'only a superuser may call it');

# Outside an apply worker, the replicator's rights write nothing.
my $cosignatures = value($mo, 'SELECT count(*) FROM hcledger.cosignatures');
for my $write ([ "INSERT INTO hcledger.keys (authority, key_id, algorithm, public_key) VALUES ('guangdong', 'forged-1', 'ed25519', '\\x00')", 'an INSERT into keys' ],
	[ 'DELETE FROM hcledger.checkpoints', 'a DELETE from checkpoints' ],
	[ 'INSERT INTO hcledger.codes OVERRIDING SYSTEM VALUE SELECT * FROM hcledger.codes LIMIT 1', 'an INSERT into codes' ],
	[ 'DELETE FROM hcledger.cosignatures', 'a DELETE from cosignatures' ])
{
	($rc, $out, $err) = $mo->psql('postgres', "SET ROLE hcledger_replicator; $write->[0]");
	like($err, qr/only hcledger's own functions write hcledger\./, "a session as hcledger_replicator is refused $write->[1]");
}
ok($cosignatures > 0 && value($mo, 'SELECT count(*) FROM hcledger.cosignatures') >= $cosignatures,
	"no cosignature was deleted (Macau had made $cosignatures)");
is(value($mo, "SELECT count(*) FROM hcledger.keys WHERE key_id = 'forged-1'"), '0', 'no key was added');

# 5. PostgreSQL 17: a failover keeps the members' slots.
if ($version >= 170000)
{
	value($gd, "SELECT pg_create_physical_replication_slot('gd_standby')");
	$gd->append_conf('postgresql.conf', "synchronized_standby_slots = 'gd_standby'\n");
	$gd->reload;
	$gd->backup('failover');
	my $sb = PostgreSQL::Test::Cluster->new('guangdong_standby');
	$sb->init_from_backup($gd, 'failover', has_streaming => 1);
	(my $primary = $gd->connstr('postgres')) =~ s/'/''/g;	# slot synchronization needs its dbname
	$sb->append_conf('postgresql.conf', "primary_slot_name = 'gd_standby'\nhot_standby_feedback = on\nsync_replication_slots = on\n"
		  . "primary_conninfo = '$primary'\nsynchronized_standby_slots = ''\n");
	$sb->start;
	my $code4 = issue('GD-4');
	wait_verdict($code4, 'valid', 'a code issued with the standby following verifies in Macau');
	ok($sb->poll_query_until('postgres', "SELECT synced AND NOT temporary AND failover FROM pg_replication_slots WHERE slot_name = hcledger.member_slot('macau')"),
		'the standby keeps a synchronized copy of the member\'s slot');
	$gd->stop('fast');
	$sb->promote;
	$sb->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'promotion did not end';
	(my $to = $sb->connstr('postgres')) =~ s/'/''/g;
	value($mo, "ALTER SUBSCRIPTION $sub CONNECTION '$to'");
	my $code5 = value($sb, q{SELECT payload FROM hcledger.issue_code('{"name": "Traveller GD-5", "document_number": "GD-5"}')});
	wait_verdict($code5, 'valid', 'after the failover, a code issued at the promoted standby verifies in Macau');
	wait_verdict($code4, 'valid', 'and so does the one issued before');
	is(value($mo, "SELECT count(*) FROM hcledger.refused WHERE authority = 'guangdong'"), '0', 'nothing was refused');
	is(value($mo, "SELECT accepted_size >= 5 FROM hcledger.member_status WHERE authority = 'guangdong'"), 't',
		'Macau goes on accepting the log where it was');
}

done_testing();

sub slurp_from
{
	my ($file, $at) = @_;
	my $all = slurp($file);
	return substr($all, $at);
}
