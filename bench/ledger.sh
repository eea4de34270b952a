#!/usr/bin/env bash
# Ledger-table benchmarks, run by bench/run.sh against its throwaway server
# (PG* variables set, hcledger preloaded).  Prints Markdown tables.
#   - bulk INSERT ... SELECT and COPY of 10^6 rows, and INSERT of 10^7;
#   - single-row INSERT transactions with pgbench at each number of clients
#     of HCL_BENCH_PGBENCH_CLIENTS (default "1 2 8"), HCL_BENCH_PGBENCH_SECONDS
#     (default 10) each; with HCL_BENCH_DATA_DIR, their tps are also written
#     to clients.tsv there (clients, plain, ledger, plpgsql chain);
#   - sealing 10^6 rows, and verify_ledger over them;
# each against the same table without the ledger and the plpgsql hash chain
# of bench/baseline_plpgsql.sql (a user's alternative).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
big=${HCL_BENCH_BIG_ROWS:-10000000}
pgb_secs=${HCL_BENCH_PGBENCH_SECONDS:-10}
pgb_clients=${HCL_BENCH_PGBENCH_CLIENTS:-1 2 8}
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -tA -v ON_ERROR_STOP=1 "$@"; }

# Bulk loads, sealing and verification run in bulkbench, which the sealer
# worker (hcledger.database = ledgerbench) never touches, so they are timed
# alone; the pgbench runs use ledgerbench, sealed by the worker as they go.
for db in bulkbench ledgerbench; do
	q -d postgres -c "CREATE DATABASE $db" >/dev/null
	q -d "$db" -f "$here/baseline_plpgsql.sql" >/dev/null 2>&1
	q -d "$db" >/dev/null <<'SQL'
CREATE EXTENSION hcledger;
CREATE FUNCTION secs(stmt text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE stmt; RETURN extract(epoch FROM clock_timestamp() - t0); END $$;
CREATE FUNCTION fresh(name text, ledger boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TABLE %I (LIKE plain_codes INCLUDING ALL)', name);
	IF ledger THEN PERFORM hcledger.create_ledger(name::regclass); END IF;
END $$;
SQL
done
export PGDATABASE=bulkbench

rows="SELECT pg_catalog.sha256(int4send(i)), 'MO', 'green', now() + interval '7 days' FROM generate_series(1, %s) i"
cols='(subject_commitment, issuer, status, valid_until)'
# best of three: seconds to insert n rows into a fresh table (ledger or not)
bulk() {
	local ledger=$1 n=$2 best="" t
	for r in 1 2 3; do
		t="b_${ledger}_${n}_$r"
		q -c "SELECT fresh('$t', $ledger)" >/dev/null
		q -c 'CHECKPOINT' >/dev/null
		t=$(q -c "SELECT secs(\$\$INSERT INTO $t $cols $(printf "$rows" "$n")\$\$)")
		best=$(echo "$t $best" | awk '{print ($2 == "" || $1 < $2) ? $1 : $2}')
	done
	echo "$best"
}
copy_bulk() {
	local ledger=$1 best="" t
	for r in 1 2 3; do
		t="c_${ledger}_$r"
		q -c "SELECT fresh('$t', $ledger)" >/dev/null
		q -c 'CHECKPOINT' >/dev/null
		t=$(q -c "SELECT secs(\$\$COPY $t $cols FROM '$csv'\$\$)")
		best=$(echo "$t $best" | awk '{print ($2 == "" || $1 < $2) ? $1 : $2}')
	done
	echo "$best"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }

echo "bulk inserts ..." >&2
plain_1m=$(bulk false 1000000)
ledger_1m=$(bulk true 1000000)
plain_10k=$(bulk false 10000)
ledger_10k=$(bulk true 10000)
chain_10k=$(q -c "TRUNCATE chained_codes" -c 'CHECKPOINT' -c "SELECT secs(\$\$INSERT INTO chained_codes $cols $(printf "$rows" 10000)\$\$)" | tail -1)
csv=$PGHOST/codes.csv
q -c "COPY (SELECT pg_catalog.sha256(int4send(i)), 'MO', 'green', now() + interval '7 days' FROM generate_series(1, 1000000) i) TO '$csv'" >/dev/null
plain_copy=$(copy_bulk false)
ledger_copy=$(copy_bulk true)

echo "sealing and verifying 10^6 rows ..." >&2
seal_1m=$(q -c "SELECT secs(\$\$SELECT hcledger.seal('b_true_1000000_1')\$\$)")
verify_1m=$(q -c "SELECT secs(\$\$SELECT count(*) FROM hcledger.verify_ledger('b_true_1000000_1')\$\$)" 2>/dev/null)
verified=$(q -c "SELECT count(*) FROM hcledger.verify_ledger('b_true_1000000_1')" 2>/dev/null)
[ "$verified" = 0 ] || { echo "verify_ledger found problems in the benchmark ledger" >&2; exit 1; }

echo "10^7 rows (linearity) ..." >&2
q -c "SELECT fresh('big_plain', false)" -c "SELECT fresh('big_ledger', true)" -c 'CHECKPOINT' >/dev/null
plain_big=$(q -c "SELECT secs(\$\$INSERT INTO big_plain $cols $(printf "$rows" "$big")\$\$)")
q -c 'CHECKPOINT' >/dev/null
ledger_big=$(q -c "SELECT secs(\$\$INSERT INTO big_ledger $cols $(printf "$rows" "$big")\$\$)")
seal_big=$(q -c "SELECT secs(\$\$SELECT hcledger.seal('big_ledger')\$\$)")
q -c 'DROP TABLE big_plain' >/dev/null

echo "pgbench single-row transactions ($pgb_secs s each) ..." >&2
export PGDATABASE=ledgerbench
q -c "SELECT fresh('pgb_plain', false)" -c "SELECT fresh('pgb_ledger', true)" >/dev/null
for t in pgb_plain pgb_ledger chained_codes; do
	printf '\\set id random(1, 1000000000)\nINSERT INTO %s %s VALUES (pg_catalog.sha256(int8send(:id)), '"'MO'"', '"'green'"', now() + interval '"'7 days'"');\n' \
		"$t" "$cols" > "$PGHOST/$t.pgb"
done
declare -A tps
for c in $pgb_clients; do
	for t in pgb_plain pgb_ledger chained_codes; do
		q -c 'CHECKPOINT' >/dev/null
		tps[$t.$c]=$(pgbench -n -c "$c" -j "$c" -T "$pgb_secs" -f "$PGHOST/$t.pgb" 2>/dev/null |
			awk '/^tps = / {printf "%.0f", $3}')
	done
done
pending=$(q -c "SELECT hcledger.seal('pgb_ledger')" -c "SELECT count(*) FROM hcledger.verify_ledger('pgb_ledger')" | tail -1)
[ "$pending" = 0 ] || { echo "the pgbench ledger does not verify" >&2; exit 1; }
if [ -n "${HCL_BENCH_DATA_DIR:-}" ]; then
	printf '# clients\tplain\tledger\tplpgsql_chain (tps)\n' > "$HCL_BENCH_DATA_DIR/clients.tsv"
	for c in $pgb_clients; do
		printf '%s\t%s\t%s\t%s\n' "$c" "${tps[pgb_plain.$c]}" "${tps[pgb_ledger.$c]}" "${tps[chained_codes.$c]}" \
			>> "$HCL_BENCH_DATA_DIR/clients.tsv"
	done
fi

cat <<EOF

| workload | plain table | ledger table | ledger / plain | plpgsql chain (baseline) | ledger / baseline | target |
|---|--:|--:|--:|--:|--:|---|
| bulk \`INSERT ... SELECT\`, 10^6 rows (rows/s) | $(rate 1000000 "$plain_1m") | $(rate 1000000 "$ledger_1m") | $(ratio "$plain_1m" "$ledger_1m") | | | >= 0.75x plain |
| bulk \`INSERT ... SELECT\`, 10^4 rows (rows/s) | $(rate 10000 "$plain_10k") | $(rate 10000 "$ledger_10k") | $(ratio "$plain_10k" "$ledger_10k") | $(rate 10000 "$chain_10k") | $(ratio "$chain_10k" "$ledger_10k") | |
| \`COPY\`, 10^6 rows (rows/s) | $(rate 1000000 "$plain_copy") | $(rate 1000000 "$ledger_copy") | $(ratio "$plain_copy" "$ledger_copy") | | | >= 0.75x plain |
| bulk \`INSERT ... SELECT\`, $big rows (rows/s) | $(rate "$big" "$plain_big") | $(rate "$big" "$ledger_big") | $(ratio "$plain_big" "$ledger_big") | | | linear: 10^7 costs ~10x 10^6 |
$(for c in $pgb_clients; do
	echo "| pgbench single-row INSERT, $c client$([ "$c" = 1 ] || echo s) (tps) | ${tps[pgb_plain.$c]} | ${tps[pgb_ledger.$c]} | $(ratio "${tps[pgb_ledger.$c]}" "${tps[pgb_plain.$c]}") | ${tps[chained_codes.$c]} | $(ratio "${tps[pgb_ledger.$c]}" "${tps[chained_codes.$c]}") | >= 0.85x plain |"
done)

| ledger operation | time | rate | target |
|---|--:|--:|---|
| seal 10^6 rows (one core) | $(printf '%.2f s' "$seal_1m") | $(rate 1000000 "$seal_1m") leaves/s | >= 1,000,000 leaves/s |
| seal $big rows | $(printf '%.2f s' "$seal_big") | $(rate "$big" "$seal_big") leaves/s | linear |
| \`verify_ledger\` over 10^6 rows | $(printf '%.2f s' "$verify_1m") | $(rate 1000000 "$verify_1m") rows/s | <= 3 s |
| 10^7 vs 10^6 rows: insert time ratio | $(awk -v a="$ledger_big" -v b="$ledger_1m" 'BEGIN {printf "%.1fx", a / b}') | | | ~10x |
EOF
