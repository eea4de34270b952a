#!/usr/bin/env bash
# Health-code benchmarks (docs/health-codes.md), run by bench/run.sh against
# its throwaway server (HCL_BENCH_THROWAWAY=1, PG* variables set, hcledger
# preloaded, checkpoints signed with hcledger.signing_key_file), or alone:
# then it starts its own throwaway server under /tmp whatever PGHOST says
# (it sets key files with ALTER SYSTEM and creates databases, so it never
# uses a server it did not start): sudo bash bench/codes.sh (or as postgres;
# the extension must be installed).  Prints Markdown tables.
#   - verify_code with pgbench, HCL_BENCH_CODES_CLIENTS clients (default 2),
#     prepared protocol, HCL_BENCH_CODES_SECONDS (default 20) per run, over
#     HCL_BENCH_CODES_PAYLOADS (default 10^5) issued, sealed payloads picked
#     at random; throughput and per-transaction latency p50/p99 from
#     pgbench's transaction log; beside it a trivial read of the same table
#     (the floor) and the ES256 check alone (code_decode + ecdsa_p256_verify);
#     with HCL_BENCH_DATA_DIR, every transaction's latency (microseconds,
#     sorted) is also kept there: latency_read.us, latency_es256.us,
#     latency_verify.us;
#   - issue_code, INSERT ... SELECT of HCL_BENCH_CODES_ISSUE_ROWS codes
#     (default 5 * 10^4) per session, in 1 and in 2 parallel sessions, best
#     of three;
#   - "the seed's month": HCL_BENCH_CODES_MONTH_SCALES issuances (default
#     10^5 and 10^6) by 2 parallel sessions into a fresh database, then
#     hcledger.seal(), timed apart, extrapolated to 17 million;
#     HCL_BENCH_CODES_FULL=1 also runs the 17 million.
# Its databases (codesbench, codes_month_N) are not the sealer worker's
# (hcledger.database), so every seal is the timed hcledger.seal() call.
set -euo pipefail
payloads_n=$(( ${HCL_BENCH_CODES_PAYLOADS:-100000} / 2 * 2 ))
pgb_secs=${HCL_BENCH_CODES_SECONDS:-20}
clients=${HCL_BENCH_CODES_CLIENTS:-2}
check_n=${HCL_BENCH_CODES_CHECK:-5000}
issue_n=${HCL_BENCH_CODES_ISSUE_ROWS:-50000}
month=17000000
scales=${HCL_BENCH_CODES_MONTH_SCALES:-100000 1000000}
[ "${HCL_BENCH_CODES_FULL:-0}" = 1 ] && scales="$scales $month"
export PGOPTIONS="-c client_min_messages=warning" PGCLIENTENCODING=UTF8
q() { psql -X -q -tA -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "bench/codes.sh: $*" >&2; exit 1; }
as_server_user() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Alone: a throwaway server like bench/run.sh's, reachable only through a
# Unix socket in its own directory (no TCP port).
if [ "${HCL_BENCH_THROWAWAY:-}" != 1 ]; then
	bin=/usr/lib/postgresql/15/bin
	[ "$(id -u)" = 0 ] || [ "$(id -un)" = postgres ] || fail "run as root (sudo) or as postgres"
	[ -f "$("$bin/pg_config" --sharedir)/extension/hcledger.control" ] ||
		fail "hcledger is not installed (sudo make install)"
	server=$(mktemp -d /tmp/hcledger-codes.XXXXXX)
	trap 'as_server_user "$bin/pg_ctl" -D "$server/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$server"' EXIT
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$server"
	as_server_user "$bin/initdb" -D "$server/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	as_server_user "$bin/pg_ctl" -D "$server/data" -l "$server/server.log" -w \
		-o "-c listen_addresses='' -k $server -p 5432 -c shared_buffers=1GB -c work_mem=256MB \
		    -c max_wal_size=8GB -c max_parallel_workers_per_gather=0 -c shared_preload_libraries=hcledger \
		    -c hcledger.database=postgres -c max_connections=50" start >/dev/null
	export PGHOST=$server PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	PATH=$bin:$PATH
fi

# The issuer's keys: the ES256 credential key and the pseudonym secret, and
# a node key for signed checkpoints unless the server has one already; in
# the server's directory, owned by its user, mode 0600.
work=$PGHOST/codes
mkdir -p "$work"
keys=$work/keys
(umask 077 && mkdir -p "$keys" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$keys/credential.pem" 2>/dev/null &&
	openssl rand -out "$keys/pseudonym.key" 32 &&
	openssl genpkey -algorithm ed25519 -out "$keys/node.pem" 2>/dev/null)
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$keys"
has_node_key=$(q -d postgres -c "SELECT coalesce(current_setting('hcledger.signing_key_file', true), '') <> ''")
{
	echo "ALTER SYSTEM SET hcledger.credential_key_file = '$keys/credential.pem';"
	echo "ALTER SYSTEM SET hcledger.pseudonym_key_file = '$keys/pseudonym.key';"
	[ "$has_node_key" = t ] || echo "ALTER SYSTEM SET hcledger.signing_key_file = '$keys/node.pem';"
	echo "SELECT pg_reload_conf();"
} | q -d postgres >/dev/null

# A database that issues as macau-ssm, with a function timing a statement.
setup_db() {
	q -d postgres -c "CREATE DATABASE $1" >/dev/null
	q -d "$1" >/dev/null <<'SQL'
CREATE EXTENSION hcledger;
CREATE FUNCTION secs(stmt text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE stmt; RETURN extract(epoch FROM clock_timestamp() - t0); END $$;
SQL
	# the keys, once the server has reloaded its configuration (new sessions)
	local ok=""
	for _ in $(seq 50); do
		ok=$(q -d "$1" -c "SELECT hcledger.credential_public_key() IS NOT NULL AND hcledger.signing_public_key() IS NOT NULL
		                   AND length(hcledger.pseudonym('x', 'y')) = 32" 2>/dev/null) || true
		[ "$ok" = t ] && break
		sleep 0.1
	done
	[ "$ok" = t ] || fail "the server does not use the key files in $keys"
	q -d "$1" >/dev/null <<'SQL'
SELECT hcledger.add_authority('macau-ssm', 'Macau', true);
SELECT hcledger.add_key('macau-ssm', 'es256-1', 'es256', hcledger.credential_public_key());
SELECT hcledger.add_key('macau-ssm', 'node-1', 'ed25519', hcledger.signing_public_key());
SQL
}

# The codes of travellers $1 to $2 (a document number each), as rows of
# (i, credential_id, payload).
codes() {
	printf "SELECT i, c.credential_id, c.payload FROM generate_series(%s, %s) i,
	  LATERAL hcledger.issue_code(jsonb_build_object('name', 'Chan Tai Man', 'document_number', 'M' || lpad(i::text, 8, '0'),
	    'birth_date', '1980-02-29', 'test_result', 'negative', 'test_time', '2026-11-23T08:00:00+08:00')) c" "$1" "$2"
}
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN {printf "%.3f", (b - a) / 1e9}'; }
# Seconds (wall clock) for $2 sessions, each running statement $3 with its
# own range of $1 travellers (%s: first, %s: last), from traveller $4 on.
parallel() {
	local n=$1 sessions=$2 stmt=$3 from=$4 s pids=() t0
	t0=$(now_ns)
	for ((s = 0; s < sessions; s++)); do
		q -c "$(printf "$stmt" "$(codes $((from + s * n)) $((from + (s + 1) * n - 1)))")" >/dev/null &
		pids+=($!)
	done
	for s in "${pids[@]}"; do wait "$s" || fail "an issuing session failed"; done
	secs_since "$t0"
}
min() { echo "$1 $2" | awk '{print ($2 == "" || $1 < $2) ? $1 : $2}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}' | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }

setup_db codesbench
export PGDATABASE=codesbench
next=1  # the next traveller: every code is another document number

echo "codes: issuing, $issue_n codes per session, 1 and 2 sessions, best of three ..." >&2
q -c "CREATE TABLE issued (i bigint, credential_id bytea, payload text)" >/dev/null
declare -A issue_s
for sessions in 1 2; do
	best=""
	for _ in 1 2 3; do
		q -c 'TRUNCATE issued' -c 'CHECKPOINT' >/dev/null
		t=$(parallel "$issue_n" "$sessions" 'INSERT INTO issued %s' "$next")
		next=$((next + sessions * issue_n))
		best=$(min "$t" "$best")
	done
	issue_s[$sessions]=$best
done
q -c 'DROP TABLE issued' >/dev/null

echo "codes: $payloads_n payloads to verify, issued by 2 sessions and sealed ..." >&2
q -c "CREATE TABLE payloads (id bigint PRIMARY KEY, credential_id bytea NOT NULL, payload text NOT NULL)" >/dev/null
parallel $((payloads_n / 2)) 2 "INSERT INTO payloads SELECT i - $((next - 1)), credential_id, payload FROM (%s) x" "$next" >/dev/null
next=$((next + payloads_n))
q -c "SELECT * FROM hcledger.seal('hcledger.codes')" -c 'VACUUM ANALYZE payloads' -c 'VACUUM ANALYZE hcledger.codes' >/dev/null
bad=$(q <<SQL
SELECT CASE WHEN (SELECT count(*) = $payloads_n AND min(id) = 1 AND max(id) = $payloads_n FROM payloads)
            THEN (SELECT count(*) FROM (SELECT DISTINCT 1 + floor(random() * $payloads_n)::bigint AS id
                                        FROM generate_series(1, $check_n) UNION SELECT 1 UNION SELECT $payloads_n) s
                  JOIN payloads p USING (id), LATERAL hcledger.verify_code(p.payload) v
                  WHERE v.verdict IS DISTINCT FROM 'valid')
            ELSE -1 END
SQL
)
[ "$bad" = 0 ] || fail "of a sample of $check_n payloads, $bad do not verify as valid (-1: the payload table is not ids 1 to $payloads_n)"

# pgbench: name, script; sets tps[name], p50[name], p99[name] (ms)
declare -A tps p50 p99
pgb() {
	local name=$1 out
	printf '\\set i random(1, %s)\n%s\n' "$payloads_n" "$2" > "$work/$name.pgb"
	rm -f "$work/log.$name".*
	q -c 'CHECKPOINT' >/dev/null
	out=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$pgb_secs" -l --log-prefix="$work/log.$name" \
		-f "$work/$name.pgb" 2>&1) || fail "pgbench $name failed: $out"
	tps[$name]=$(echo "$out" | awk '/^tps = / {printf "%.0f", $3}')
	# per-transaction log lines: client, transaction, latency (us), ...
	cat "$work/log.$name".* | awk '{print $3}' | sort -n > "$work/latency_$name.us"
	read -r p50[$name] p99[$name] < <(awk '{l[NR] = $1} END {printf "%.3f %.3f\n", l[int((NR - 1) * 0.50) + 1] / 1000, l[int((NR - 1) * 0.99) + 1] / 1000}' "$work/latency_$name.us")
	[ -z "${HCL_BENCH_DATA_DIR:-}" ] || cp "$work/latency_$name.us" "$HCL_BENCH_DATA_DIR/"
	rm -f "$work/log.$name".* "$work/latency_$name.us"
}
echo "codes: pgbench, $clients clients, $pgb_secs s each: a trivial read, the signature alone, verify_code ..." >&2
pgb read 'SELECT length(p.payload) FROM payloads p WHERE p.id = :i;'
pgb es256 "SELECT hcledger.ecdsa_p256_verify(k.public_key, d.message, d.signature)
  FROM payloads p, hcledger.code_decode(p.payload) d, hcledger.keys k
 WHERE p.id = :i AND k.authority = d.authority AND k.key_id = d.key_id;"
pgb verify 'SELECT v.verdict FROM payloads p, hcledger.verify_code(p.payload) v WHERE p.id = :i;'

# The seed's month, at smaller scales: each in a fresh database.
declare -A load_s seal_s
for n in $scales; do
	echo "codes: the month at $n issuances (2 sessions), then sealed ..." >&2
	db=codes_month_$n
	setup_db "$db"
	q -d "$db" -c 'CHECKPOINT' >/dev/null
	load_s[$n]=$(PGDATABASE=$db parallel $((n / 2)) 2 'SELECT count(*) FROM (%s) x' 1)
	q -d "$db" -c 'CHECKPOINT' >/dev/null
	seal_s[$n]=$(q -d "$db" -c "SELECT secs(\$\$SELECT * FROM hcledger.seal('hcledger.codes')\$\$)")
	size=$(q -d "$db" -c "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'hcledger.codes'::regclass")
	[ "$size" = $((n / 2 * 2)) ] || fail "the month's ledger holds $size sealed rows, not $n"
	q -d postgres -c "DROP DATABASE $db" >/dev/null
done

ms() { printf '%s ms' "$1"; }
num() { echo "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }
mins() { awk -v s="$1" 'BEGIN {printf "%.1f min", s / 60}'; }
cat <<EOF

Health codes: \`verify_code\` with pgbench, $clients clients, prepared, $pgb_secs s per run, each transaction one random payload of $(num "$payloads_n") issued and sealed (latency per transaction, from pgbench's log):

| transaction | per second | p50 | p99 | target |
|---|--:|--:|--:|---|
| trivial read of the payload by id (the floor) | $(num "${tps[read]}") | $(ms "${p50[read]}") | $(ms "${p99[read]}") | |
| ES256 check alone (\`code_decode\` + \`ecdsa_p256_verify\`) | $(num "${tps[es256]}") | $(ms "${p50[es256]}") | $(ms "${p99[es256]}") | |
| \`verify_code\` (verdict valid) | $(num "${tps[verify]}") | $(ms "${p50[verify]}") | $(ms "${p99[verify]}") | >= 10,000/s, p99 < 2 ms |

Issuing (\`INSERT INTO t SELECT ... FROM generate_series(...), LATERAL hcledger.issue_code(...)\`, $(num "$issue_n") codes per session, best of three):

| sessions | codes | time | codes/s |
|---|--:|--:|--:|
| 1 | $(num "$issue_n") | $(printf '%.2f s' "${issue_s[1]}") | $(rate "$issue_n" "${issue_s[1]}") |
| 2 in parallel | $(num $((2 * issue_n))) | $(printf '%.2f s' "${issue_s[2]}") | $(rate $((2 * issue_n)) "${issue_s[2]}") |

The seed's month (17 million issuances loaded and sealed; target <= 10 min): issued by 2 parallel sessions into a fresh ledger (payloads returned, not stored), then sealed by \`hcledger.seal()\`:

| issuances | load | load rate | seal | seal rate | load + seal | 17 million at these rates |
|--:|--:|--:|--:|--:|--:|--:|
EOF
for n in $scales; do
	t=$(awk -v l="${load_s[$n]}" -v s="${seal_s[$n]}" 'BEGIN {print l + s}')
	x=$(awk -v n="$n" -v l="${load_s[$n]}" -v s="${seal_s[$n]}" -v m="$month" 'BEGIN {print m * (l + s) / n}')
	echo "| $(num "$n") | $(printf '%.2f s' "${load_s[$n]}") | $(rate "$n" "${load_s[$n]}")/s | $(printf '%.2f s' "${seal_s[$n]}") | $(rate "$n" "${seal_s[$n]}")/s | $(printf '%.2f s' "$t") | $(mins "$x") |"
done
