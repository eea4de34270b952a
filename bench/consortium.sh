#!/usr/bin/env bash
# Consortium benchmark (sql/install/1[2-5]_consortium_*.sql): the time
# from a health code being issued at one member to it being verifiable at
# another, under an issuing load.  Run by bench/run.sh, or alone: sudo bash
# bench/consortium.sh (or as postgres; the extension must be installed).
# It always starts its own two throwaway servers, A (issues, "macau") and B
# (verifies, "guangdong"), reachable only through Unix sockets in their own
# directory (no TCP port), each with wal_level = logical, hcledger preloaded
# (hcledger.database = postgres), node, credential and pseudonym key files,
# and track_commit_timestamp = on.  A publishes and admits B; B joins A
# (logical replication: B's replica triggers check A's rows and checkpoints
# and keep them in its peer_* tables).  hcledger.seal_interval is set (and
# reloaded) to each of HCL_BENCH_CONSORTIUM_SEAL_INTERVALS in turn (ms,
# default "200 1000": a short interval, and the server's default).  Prints a
# Markdown table.
#   - A issues codes with pgbench, one issue_code per transaction, a random
#     document number each, HCL_BENCH_CONSORTIUM_CLIENTS clients (default 8,
#     so that commits are flushed together), prepared protocol, for
#     HCL_BENCH_CONSORTIUM_SECONDS (default 30) at each rate of
#     HCL_BENCH_CONSORTIUM_RATES (default "2000 max"; max: flat out), each
#     run once B has verified everything issued before it;
#   - a code is issued at A's commit (pg_xact_commit_timestamp(xmin) of its
#     row in hcledger.codes at A) and verifiable at B once a checkpoint
#     covering it is accepted there (hcledger.peer_leaves.accepted_at at B);
#     over every code of a run: p50, p90, p99 and max of that latency, and
#     of its part from A's commit of the covering checkpoint (the commit
#     timestamp B records for an apply transaction is the origin's) to the
#     acceptance at B: replication and checking;
#   - the issuing rate achieved, the rate B applied A's rows at
#     (hcledger.peer_codes.received_at: now() of each apply transaction),
#     the codes not yet verifiable at B as the last one was committed at A
#     (and the WAL A still kept for B's slot just after), and how long until
#     all were;
#   - B's own pace (HCL_BENCH_CONSORTIUM_CATCHUP_SECONDS, default 10; 0: not
#     measured): its subscription disabled while A issues flat out, then
#     enabled, the time until the backlog is verifiable at B;
#   - verify_code at B on a sample of the payloads issued under load
#     (every HCL_BENCH_CONSORTIUM_SAMPLE-th code, default 200): all valid;
#     then convert_code at B of each of those payloads (p50, p99, max);
#     no refusals at B (hcledger.refused), no checkpoint left waiting; the
#     count of errors and warnings in the servers' logs (printed if any).
# HCL_BENCH_CONSORTIUM_DIR: where the servers' directory is made (default
# /tmp); HCL_BENCH_CONSORTIUM_PORT: A's port number (default 5432, B's the
# next; only in the sockets' file names).
set -euo pipefail
secs=${HCL_BENCH_CONSORTIUM_SECONDS:-30}
rates=${HCL_BENCH_CONSORTIUM_RATES:-2000 max}
clients=${HCL_BENCH_CONSORTIUM_CLIENTS:-8}
intervals=${HCL_BENCH_CONSORTIUM_SEAL_INTERVALS:-200 1000}
sample_every=${HCL_BENCH_CONSORTIUM_SAMPLE:-200}
drain_max=${HCL_BENCH_CONSORTIUM_DRAIN_MAX:-120}
catchup_secs=${HCL_BENCH_CONSORTIUM_CATCHUP_SECONDS:-10}
base=${HCL_BENCH_CONSORTIUM_DIR:-/tmp}
port_a=${HCL_BENCH_CONSORTIUM_PORT:-5432}
port_b=$((port_a + 1))
bin=/usr/lib/postgresql/15/bin
PATH=$bin:$PATH
export PGOPTIONS="-c client_min_messages=warning" PGCLIENTENCODING=UTF8 PGUSER=postgres PGDATABASE=postgres
unset PGHOST PGPORT
fail() {
	echo "bench/consortium.sh: $*" >&2
	[ -n "${dir:-}" ] && grep -hE '(ERROR|FATAL|PANIC|WARNING):' "$dir"/[ab]/server.log 2>/dev/null | tail -20 >&2
	exit 1
}
as_server_user() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] || [ "$(id -un)" = postgres ] || fail "run as root (sudo) or as postgres"
[ -f "$("$bin/pg_config" --sharedir)/extension/hcledger.control" ] ||
	fail "hcledger is not installed (sudo make install)"

mkdir -p "$base"
dir=$(mktemp -d "$base/hcledger-consortium.XXXXXX")
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
stop_all() {
	for n in a b; do
		[ -f "$dir/$n/data/postmaster.pid" ] &&
			as_server_user "$bin/pg_ctl" -D "$dir/$n/data" -m fast -w stop >/dev/null 2>&1
	done
	rm -rf "$dir"
}
trap stop_all EXIT
qa() { psql -X -q -tA -v ON_ERROR_STOP=1 -h "$dir/a" -p "$port_a" "$@"; }
qb() { psql -X -q -tA -v ON_ERROR_STOP=1 -h "$dir/b" -p "$port_b" "$@"; }

# A member's server: $1 directory name (a or b), $2 port, in $dir/$1 with
# its keys (owned by the server's user, mode 0600) and log.
server() {
	local n=$1 port=$2 d=$dir/$1
	as_server_user mkdir -p "$d/keys"
	as_server_user sh -c "umask 077 &&
		openssl genpkey -algorithm ed25519 -out '$d/keys/node.pem' 2>/dev/null &&
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '$d/keys/credential.pem' 2>/dev/null &&
		openssl rand -out '$d/keys/pseudonym.key' 32"
	as_server_user "$bin/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	as_server_user sh -c "cat >> '$d/data/postgresql.conf'" <<EOF
listen_addresses = ''
unix_socket_directories = '$d'
port = $port
shared_buffers = 512MB
max_wal_size = 8GB
max_connections = 50
wal_level = logical
track_commit_timestamp = on
max_replication_slots = 10
max_wal_senders = 10
max_logical_replication_workers = 4
max_worker_processes = 16
wal_retrieve_retry_interval = '200ms'
shared_preload_libraries = 'hcledger'
hcledger.database = 'postgres'
hcledger.signing_key_file = '$d/keys/node.pem'
hcledger.credential_key_file = '$d/keys/credential.pem'
hcledger.pseudonym_key_file = '$d/keys/pseudonym.key'
EOF
	as_server_user "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w start >/dev/null
}

echo "consortium: two servers, A issues (macau), B verifies (guangdong) ..." >&2
server a "$port_a"
server b "$port_b"
qa >/dev/null <<'SQL'
CREATE EXTENSION hcledger;
SELECT hcledger.add_authority('macau', 'Health authority macau', true);
SELECT hcledger.add_key('macau', 'node-1', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
SELECT hcledger.add_key('macau', 'credential-1', 'es256', hcledger.credential_public_key(), now() - interval '1 minute');
CREATE TABLE bench_sample (payload text NOT NULL);  -- not published
SQL
qb >/dev/null <<'SQL'
CREATE EXTENSION hcledger;
SELECT hcledger.add_authority('guangdong', 'Health authority guangdong', true);
SELECT hcledger.add_key('guangdong', 'node-1', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
CREATE TABLE bench_issued (hcl_row bigint PRIMARY KEY, committed_at timestamptz NOT NULL);
CREATE TABLE bench_sample (payload text NOT NULL);
SQL
card=$(qa -c "SELECT hcledger.publish('host=$dir/a port=$port_a dbname=postgres')")
qa -c "SELECT hcledger.admit_member('guangdong')" >/dev/null
qb -v card="$card" -v conn="host=$dir/a port=$port_a dbname=postgres user=postgres" \
	>/dev/null <<<"SELECT hcledger.join_member(:'card', :'conn');"

# B's subscription copied A's tables and streams; a first code verifies at B.
first=$(qa -c "SELECT payload FROM hcledger.issue_code('{\"name\": \"Chan Tai Man\", \"document_number\": \"M00000000\"}')")
ok=""
for _ in $(seq 300); do
	ok=$(qb -v p="$first" <<<"SELECT (SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate <> 'r')
	                                 AND verdict = 'valid' FROM hcledger.verify_code(:'p');")
	[ "$ok" = t ] && break
	sleep 0.1
done
[ "$ok" = t ] || fail "a code issued at A does not verify at B: $(qb -v p="$first" <<<"SELECT verdict || coalesce(': ' || reason, '') FROM hcledger.verify_code(:'p');")"

# One issue_code per transaction, a new document number each; every
# $sample_every-th payload kept at A (in a table that is not published).
cat > "$dir/issue.pgb" <<EOF
\\set doc random(1, 999999999)
\\if :doc % $sample_every = 0
INSERT INTO bench_sample SELECT payload FROM hcledger.issue_code(jsonb_build_object('name', 'Chan Tai Man', 'document_number', 'M' || lpad(:doc::text, 9, '0'), 'birth_date', '1980-02-29', 'test_result', 'negative', 'test_time', '2026-11-23T08:00:00+08:00'));
\\else
SELECT credential_id FROM hcledger.issue_code(jsonb_build_object('name', 'Chan Tai Man', 'document_number', 'M' || lpad(:doc::text, 9, '0'), 'birth_date', '1980-02-29', 'test_result', 'negative', 'test_time', '2026-11-23T08:00:00+08:00'));
\\endif
EOF
chmod 644 "$dir/issue.pgb"

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN {printf "%.1f", (b - a) / 1e9}'; }
last_row() { qa -c "SELECT coalesce(max(hcl_row), 0) FROM hcledger.codes"; }
accepted_row() { qb -c "SELECT last_row FROM hcledger.members WHERE authority = 'macau'"; }
slot_lag() {
	qa -c "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn))
	         FROM pg_replication_slots WHERE slot_name = hcledger.member_slot('guangdong')"
}
num() { echo "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }

# Wait until B has accepted A's rows $1 < hcl_row <= $2, then print, over
# them: count, issued/s over $3 seconds, rows not verifiable at B as the
# last of them committed at A, the time B took after that to verify them
# all (s), B's rate of applying them (rows/s, now() of each apply
# transaction, hcledger.peer_codes.received_at), rows not verifiable, and
# milliseconds: p50, p90, p99, max from A's commit of the row to accepted_at
# at B, and p50, max of the part from A's commit of the checkpoint covering
# it (the commit timestamp B records for an apply transaction is the
# origin's).
measure() {
	local from=$1 to=$2 run_s=$3 t1
	t1=$(now_ns)
	while [ "$(accepted_row)" -lt "$to" ]; do
		[ "$(secs_since "$t1" | cut -d. -f1)" -lt "$drain_max" ] ||
			fail "B has not verified A's rows up to $to $drain_max s after the load ($(accepted_row) so far): $(qb -c 'SELECT * FROM hcledger.member_status')"
		sleep 0.05
	done
	qb -c 'TRUNCATE bench_issued' >/dev/null
	qa -c "COPY (SELECT hcl_row, pg_xact_commit_timestamp(xmin) FROM hcledger.codes
	             WHERE hcl_row > $from AND hcl_row <= $to AND authority = 'macau' AND entry = 'issue') TO STDOUT" |
		qb -c 'COPY bench_issued FROM STDIN'
	qb -v run_s="$run_s" <<'SQL'
SELECT count(*), round(count(*) / :run_s),
       count(*) FILTER (WHERE accepted_at IS NULL OR accepted_at > (SELECT max(committed_at) FROM bench_issued)),
       to_char(extract(epoch FROM max(accepted_at) - (SELECT max(committed_at) FROM bench_issued)), 'FM9990.00'),
       (SELECT round(count(*) / nullif(extract(epoch FROM max(received_at) - min(received_at)), 0))
          FROM hcledger.peer_codes p JOIN bench_issued i USING (hcl_row) WHERE p.authority = 'macau'),
       count(*) FILTER (WHERE ms IS NULL),
       to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 'FM999990.0'),
       to_char(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms), 'FM999990.0'),
       to_char(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), 'FM999990.0'),
       to_char(max(ms), 'FM999990.0'),
       to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY cp_ms), 'FM999990.0'),
       to_char(max(cp_ms), 'FM999990.0')
  FROM (SELECT l.accepted_at, 1000 * extract(epoch FROM l.accepted_at - i.committed_at) AS ms,
               1000 * extract(epoch FROM l.accepted_at - pg_xact_commit_timestamp(l.xmin)) AS cp_ms
          FROM bench_issued i LEFT JOIN hcledger.peer_leaves l ON l.authority = 'macau' AND l.row_number = i.hcl_row) x
SQL
}
# Issue at A with pgbench: $1 rate (max: flat out), $2 seconds; prints the
# first and last row issued (exclusive, inclusive) and the seconds taken.
issue() {
	local from to t0 out opt=()
	[ "$1" = max ] || opt=(-R "$1")
	qa -c 'CHECKPOINT' >/dev/null
	qb -c 'CHECKPOINT' >/dev/null
	from=$(last_row)
	t0=$(now_ns)
	out=$(pgbench -n -M prepared -h "$dir/a" -p "$port_a" -c "$clients" -j "$clients" -T "$2" \
		"${opt[@]}" -f "$dir/issue.pgb" postgres 2>&1) || fail "pgbench (rate $1) failed: $out"
	echo "$from $(last_row) $(secs_since "$t0")"
}

declare -A stats lag_wal
for si in $intervals; do
	for q in qa qb; do
		$q -c "ALTER SYSTEM SET hcledger.seal_interval = $si" -c 'SELECT pg_reload_conf()' >/dev/null
	done
	sleep 1  # the sealer starts a new wait when it reloads
	for r in $rates; do
		label=$r; [ "$r" = max ] && label="flat out"
		echo "consortium: seal_interval $si ms, issuing at A, $label, $clients clients, $secs s ..." >&2
		read -r from to run_s < <(issue "$r" "$secs")
		lag_wal[$si.$r]=$(slot_lag)
		stats[$si.$r]=$(measure "$from" "$to" "$run_s")
	done
done

# B's own pace: its subscription disabled while A issues flat out, then
# enabled; B applies and verifies the backlog while A is idle.
if [ "$catchup_secs" -gt 0 ]; then
	sub=$(qb -c "SELECT subscription FROM hcledger.members WHERE authority = 'macau'")
	echo "consortium: B's subscription disabled, A issues flat out for $catchup_secs s, then B catches up ..." >&2
	qb -c "ALTER SUBSCRIPTION $sub DISABLE" >/dev/null
	read -r from to run_s < <(issue max "$catchup_secs")
	lag_wal[catchup]=$(slot_lag)
	qb -c "ALTER SUBSCRIPTION $sub ENABLE" >/dev/null
	t0=$(now_ns)
	while [ "$(accepted_row)" -lt "$to" ]; do
		[ "$(secs_since "$t0" | cut -d. -f1)" -lt "$drain_max" ] ||
			fail "B has not caught up with A's rows up to $to $drain_max s after its subscription was enabled ($(accepted_row) so far)"
		sleep 0.05
	done
	catchup_s=$(secs_since "$t0")
	stats[catchup]=$(measure "$from" "$to" "$run_s")
fi

# verify_code at B on the payloads kept at A (every $sample_every-th issued)
qb -c 'TRUNCATE bench_sample' >/dev/null
qa -c 'COPY bench_sample TO STDOUT' | qb -c 'COPY bench_sample FROM STDIN'
read -r sampled sample_bad < <(qb -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE v.verdict IS DISTINCT FROM 'valid')
                                              FROM bench_sample s, LATERAL hcledger.verify_code(s.payload) v")
[ "$sample_bad" = 0 ] || echo "consortium: of $sampled payloads, $sample_bad do not verify at B: $(qb -c "SELECT v.verdict || coalesce(': ' || v.reason, ''), count(*) FROM bench_sample s, LATERAL hcledger.verify_code(s.payload) v WHERE v.verdict <> 'valid' GROUP BY 1")" >&2

# convert_code at B of those payloads, one call each (verify_code, then
# issuing B's own code with the provenance): per-call latency
echo "consortium: convert_code at B of $sampled payloads ..." >&2
qb -c "SELECT hcledger.add_key('guangdong', 'credential-1', 'es256', hcledger.credential_public_key(), now() - interval '1 minute')" >/dev/null
read -r conv_n conv_p50 conv_p99 conv_max < <(qb -F ' ' <<'SQL'
CREATE TEMP TABLE conv_ms (ms float8);
DO $$
DECLARE p text; t0 timestamptz;
BEGIN
	FOR p IN SELECT s.payload FROM bench_sample s LOOP
		t0 := clock_timestamp();
		PERFORM hcledger.convert_code(p);
		INSERT INTO conv_ms VALUES (1000 * extract(epoch FROM clock_timestamp() - t0));
	END LOOP;
END $$;
SELECT count(*), to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 'FM9990.00'),
       to_char(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), 'FM9990.00'), to_char(max(ms), 'FM9990.00') FROM conv_ms;
SQL
)
refused=$(qb -c 'SELECT count(*) FROM hcledger.refused')
[ "$refused" = 0 ] || echo "consortium: refusals at B: $(qb -c 'SELECT * FROM hcledger.refused')" >&2
waiting=$(qb -c "SELECT count(*) FROM hcledger.peer_checkpoints WHERE state = 'waiting'")
checkpoints=$(qb -c "SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM hcledger.peer_checkpoints GROUP BY state) s")
log_errors=$(cat "$dir/a/server.log" "$dir/b/server.log" | grep -cE '(ERROR|FATAL|PANIC|WARNING):' || true)
[ "$log_errors" = 0 ] || { echo "consortium: errors and warnings in the servers' logs:" >&2; grep -hE '(ERROR|FATAL|PANIC|WARNING):' "$dir/a/server.log" "$dir/b/server.log" | sort | uniq -c | sort -rn | head -20 >&2; }

cat <<EOF

Consortium: a health code issued at member A is verifiable at member B once B has accepted a checkpoint of A's that covers it (two servers on this $(nproc)-core machine with the load generator, B subscribed to A over a Unix socket). A issues with pgbench, one \`issue_code\` per transaction, $clients clients, $secs s per run. Latency per code: from A's commit of the row (\`pg_xact_commit_timestamp\`) to \`hcledger.peer_leaves.accepted_at\` at B; of it, the part from A's commit of the covering checkpoint (the sealer's round) to its acceptance at B (replication and checking). B keeps up while it applies A's rows as fast as A issues them:

| \`seal_interval\` | issuing at A | codes | issued/s | B applied/s | p50 | p90 | p99 | max | of which checkpoint to B, p50 / max | not yet verifiable at B when the load stopped | all verifiable after |
|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
bad=0
row() {
	local n rate backlog after applied missing p50 p90 p99 pmax cp50 cpmax
	IFS='|' read -r n rate backlog after applied missing p50 p90 p99 pmax cp50 cpmax <<< "${stats[$3]}"
	[ "$missing" = 0 ] || bad=1
	echo "| $1 ms | $2 | $(num "$n") | $(num "$rate") | $(num "$applied") | $p50 ms | $p90 ms | $p99 ms | $pmax ms | $cp50 / $cpmax ms | $(num "$backlog") codes (${lag_wal[$3]} WAL) | $after s |"
}
for si in $intervals; do
	for r in $rates; do
		label="\`-R $r\`"; [ "$r" = max ] && label="flat out"
		row "$si" "$label" "$si.$r"
	done
done
if [ "$catchup_secs" -gt 0 ]; then
	row "$si" "flat out for $catchup_secs s while B's subscription is disabled; then enabled" catchup
	n=$(echo "${stats[catchup]}" | cut -d'|' -f1)
	cat <<EOF

With A idle, B caught up with a backlog of $(num "$n") codes in $catchup_s s from enabling its subscription ($(num "$(awk -v n="$n" -v s="$catchup_s" 'BEGIN {printf "%.0f", n / s}')") codes/s made verifiable, apply worker start included).
EOF
fi
cat <<EOF

verify_code at B on $(num "$sampled") payloads issued under load: $(num $((sampled - sample_bad))) valid.

\`convert_code\` at B of those $(num "$conv_n") codes of A's, one call each (verify_code, then B's own code issued with its provenance): p50 $conv_p50 ms, p99 $conv_p99 ms, max $conv_max ms (the seed's platform took about 100 s to receive, convert and generate a first code). Refusals at B: $refused; checkpoints received at B: $checkpoints ($waiting waiting); errors and warnings in the servers' logs: $log_errors.
EOF
[ "$bad" = 0 ] && [ "$sample_bad" = 0 ] && [ "$refused" = 0 ] && [ "$waiting" = 0 ] ||
	fail "not every code issued at A is verifiable at B (see above)"
