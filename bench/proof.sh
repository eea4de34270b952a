#!/usr/bin/env bash
# Proof and receipt benchmarks, run by bench/run.sh against its throwaway
# server (PG* variables set, hcledger preloaded, checkpoints signed with
# hcledger.signing_key_file; HCL_BENCH_PUBKEY names its public key as PEM).
# Prints a Markdown table.
#   - a ledger of HCL_BENCH_PROOF_ROWS small rows (default 10^7), bulk
#     inserted, then sealed by hcledger.seal(), then checked by
#     hcledger.verify_ledger() (each timed once);
#   - over HCL_BENCH_PROOF_CALLS random rows (default 10^4): making an
#     inclusion proof, verifying it (verify_inclusion, from stored proofs),
#     making a receipt, verifying it in SQL (verify_receipt);
#   - the hcledger-verify CLI on HCL_BENCH_PROOF_CLI_RUNS of those receipts
#     (default 200), one process per receipt, process start included.
# It uses its own database, proofbench, which the sealer worker
# (hcledger.database = ledgerbench) never touches.  With HCL_BENCH_DATA_DIR,
# its figures are also appended to proof_sizes.tsv there (one line per run;
# bench/report.sh runs it at several sizes).
set -euo pipefail
n=${HCL_BENCH_PROOF_ROWS:-10000000}
calls=${HCL_BENCH_PROOF_CALLS:-10000}
cli_runs=${HCL_BENCH_PROOF_CLI_RUNS:-200}
[ "$cli_runs" -le "$calls" ] || cli_runs=$calls
pub=${HCL_BENCH_PUBKEY:?the public key (PEM) of hcledger.signing_key_file}
cli=$("${PG_CONFIG:-pg_config}" --bindir)/hcledger-verify
export PGOPTIONS="-c client_min_messages=warning" PGCLIENTENCODING=UTF8
q() { psql -X -q -tA -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "bench/proof.sh: $*" >&2; exit 1; }

q -d postgres -c "CREATE DATABASE proofbench" >/dev/null
export PGDATABASE=proofbench
q -v pub="$(cat "$pub")" >/dev/null <<'SQL'
CREATE EXTENSION hcledger;
CREATE FUNCTION secs(stmt text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE stmt; RETURN extract(epoch FROM clock_timestamp() - t0); END $$;
CREATE TABLE items (id bigint, v text);
SELECT hcledger.create_ledger('items');
CREATE TABLE bench_key AS SELECT convert_to(:'pub', 'UTF8') AS key;
SQL
# the key, once the server has reloaded its configuration (new sessions)
for _ in $(seq 50); do
	key_ok=$(q -c "SELECT hcledger.public_key_raw('ed25519', key) = hcledger.signing_public_key() FROM bench_key")
	[ "$key_ok" = t ] && break
	sleep 0.1
done
[ "$key_ok" = t ] || fail "hcledger.signing_key_file is not set, or its public key is not $pub"

echo "proofs: inserting and sealing $n rows ..." >&2
q -c 'CHECKPOINT' >/dev/null
insert_s=$(q -c "SELECT secs(\$\$INSERT INTO items (id, v) SELECT i, 'item ' || i FROM generate_series(1, $n) i\$\$)")
q -c 'CHECKPOINT' >/dev/null
seal_s=$(q -c "SELECT secs(\$\$SELECT * FROM hcledger.seal('items')\$\$)")
size=$(q -c "SELECT tree_size FROM hcledger.ledgers WHERE relid = 'items'::regclass")
[ "$size" = "$n" ] || fail "the ledger holds $size sealed rows, not $n"
q -c 'VACUUM ANALYZE items' -c 'VACUUM ANALYZE hcledger.tiles' >/dev/null
echo "proofs: verify_ledger over $n rows ..." >&2
vledger_s=$(q -c "SELECT secs(\$\$CREATE TABLE verified AS SELECT count(*) AS problems FROM hcledger.verify_ledger('items')\$\$)")
problems=$(q -c 'SELECT problems FROM verified')
[ "$problems" = 0 ] || fail "verify_ledger reports $problems problems in the benchmark ledger"

# The same random rows for every operation.
q >/dev/null <<SQL
SELECT setseed(0.5);
CREATE TABLE sample AS SELECT i, 1 + floor(random() * $n)::bigint AS rn FROM generate_series(1, $calls) i;
SQL

# best of three: seconds for a statement making $calls calls
best3() {
	local best="" t
	for _ in 1 2 3; do
		t=$(q -c "SELECT secs(\$\$$1\$\$)")
		best=$(echo "$t $best" | awk '{print ($2 == "" || $1 < $2) ? $1 : $2}')
	done
	echo "$best"
}

echo "proofs: $calls inclusion proofs, made and verified ..." >&2
make_s=$(best3 "SELECT count((hcledger.ledger_inclusion_proof('items', rn)).leaf_index) FROM sample")
q -c "CREATE TABLE proofs AS SELECT (p).* FROM (SELECT hcledger.ledger_inclusion_proof('items', rn) AS p FROM sample) x" >/dev/null
verify_s=$(best3 "SELECT count(*) FILTER (WHERE hcledger.verify_inclusion(leaf_hash, leaf_index, tree_size, proof, root)) FROM proofs")
ok=$(q -c "SELECT count(*) FROM proofs WHERE hcledger.verify_inclusion(leaf_hash, leaf_index, tree_size, proof, root)")
[ "$ok" = "$calls" ] || fail "only $ok of $calls inclusion proofs verify"
proof_len=$(q -c "SELECT max(cardinality(proof)) FROM proofs")

echo "proofs: $calls receipts, made and verified ..." >&2
receipt_s=$(best3 "SELECT count(hcledger.ledger_receipt('items', rn)) FROM sample")
q -c "CREATE TABLE receipts AS SELECT i, hcledger.ledger_receipt('items', rn) AS receipt FROM sample" >/dev/null
vreceipt_s=$(best3 "SELECT count(*) FILTER (WHERE (hcledger.verify_receipt(receipt, key)).valid) FROM receipts, bench_key")
ok=$(q -c "SELECT count(*) FROM receipts, bench_key WHERE (hcledger.verify_receipt(receipt, key)).valid")
[ "$ok" = "$calls" ] || fail "only $ok of $calls receipts verify in SQL"
receipt_bytes=$(q -c "SELECT round(avg(octet_length(receipt))) FROM receipts")

echo "proofs: hcledger-verify on $cli_runs receipts ..." >&2
files=$(mktemp -d /tmp/hcledger-proof.XXXXXX)
trap 'rm -rf "$files"' EXIT
q -c "SELECT receipt FROM receipts ORDER BY i LIMIT $cli_runs" | split -l 1 -a 5 - "$files/r."
bad=0
t0=$(date +%s%N)
for f in "$files"/r.*; do
	"$cli" --key "$pub" "$f" >/dev/null || bad=$((bad + 1))
done
t1=$(date +%s%N)
[ "$bad" = 0 ] || fail "hcledger-verify found $bad of $cli_runs receipts INVALID"
cli_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')

ms() { awk -v s="$1" -v k="$2" 'BEGIN {printf "%.3f ms", 1000 * s / k}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}'; }

if [ -n "${HCL_BENCH_DATA_DIR:-}" ]; then
	f=$HCL_BENCH_DATA_DIR/proof_sizes.tsv
	[ -s "$f" ] || printf '# rows\tinsert_s\tseal_s\tverify_ledger_s\tproof_ms\tverify_proof_ms\treceipt_ms\tverify_receipt_ms\tcli_ms\tproof_hashes\treceipt_bytes\n' > "$f"
	awk -v n="$n" -v i="$insert_s" -v s="$seal_s" -v vl="$vledger_s" -v c="$calls" -v cr="$cli_runs" \
		-v m="$make_s" -v v="$verify_s" -v r="$receipt_s" -v vr="$vreceipt_s" -v cli="$cli_s" \
		-v pl="$proof_len" -v rb="$receipt_bytes" \
		'BEGIN {printf "%d\t%.3f\t%.3f\t%.3f\t%.4f\t%.5f\t%.4f\t%.4f\t%.3f\t%d\t%d\n",
		        n, i, s, vl, 1000 * m / c, 1000 * v / c, 1000 * r / c, 1000 * vr / c, 1000 * cli / cr, pl, rb}' >> "$f"
fi

cat <<EOF

Proofs over a ledger of $n rows \`(id bigint, v text)\` ($proof_len-hash proofs, receipts of $receipt_bytes bytes), each operation on $calls random rows (the CLI on $cli_runs), best of three:

| operation | per call | per second | target |
|---|--:|--:|---|
| build: bulk \`INSERT ... SELECT\` of $n rows (whole statement) | $(printf '%.2f s' "$insert_s") | $(rate "$n" "$insert_s") rows | |
| build: \`hcledger.seal()\` of $n rows (whole call) | $(printf '%.2f s' "$seal_s") | $(rate "$n" "$seal_s") leaves | |
| check: \`hcledger.verify_ledger()\` over $n rows (whole call) | $(printf '%.2f s' "$vledger_s") | $(rate "$n" "$vledger_s") rows | |
| make an inclusion proof (\`ledger_inclusion_proof\`) | $(ms "$make_s" "$calls") | $(rate "$calls" "$make_s") | < 1 ms at 10^7 leaves |
| verify an inclusion proof (\`verify_inclusion\`, proof given) | $(ms "$verify_s" "$calls") | $(rate "$calls" "$verify_s") | < 0.1 ms |
| make a receipt (\`ledger_receipt\`) | $(ms "$receipt_s" "$calls") | $(rate "$calls" "$receipt_s") receipts | |
| verify a receipt in SQL (\`verify_receipt\`, public key given) | $(ms "$vreceipt_s" "$calls") | $(rate "$calls" "$vreceipt_s") | |
| verify a receipt with the \`hcledger-verify\` CLI (one process each, start included) | $(ms "$cli_s" "$cli_runs") | $(rate "$cli_runs" "$cli_s") | |
EOF
