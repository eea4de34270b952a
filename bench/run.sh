#!/usr/bin/env bash
# hcledger benchmarks, in one run on a throwaway server, printed as
# Markdown tables of ratios: the crypto core against `openssl speed` on this
# machine (the physical ceiling) and what a user would otherwise call
# (pgcrypto, PostgreSQL's own sha256); ledger tables against the same table
# without the ledger and the plpgsql hash chain (bench/ledger.sh); proofs
# and receipts (bench/proof.sh); health codes: verify_code under pgbench,
# issuing, and the seed's month at smaller scales (bench/codes.sh); the
# consortium: from a code issued at one member to it being verifiable at
# another, under an issuing load, on two servers of its own
# (bench/consortium.sh); offline verification from trust bundles
# (bench/offline.sh).
# Usage: sudo make bench   (or: sudo bash bench/run.sh)
# It is also the body of bench/report.sh (sudo make bench-report), which
# sets, besides the scripts' own HCL_BENCH_* sizes and durations:
#   HCL_BENCH_DATA_DIR     a directory: each part's Markdown is also written
#                          there (crypto.md, ledger.md, proof.md, codes.md,
#                          consortium.md) with its duration (timings.tsv),
#                          and the scripts write their raw figures there
#                          (clients.tsv, proof_sizes.tsv, latency_*.us);
#   HCL_BENCH_PROOF_SWEEP  ledger sizes for bench/proof.sh to run at before
#                          its main size (HCL_BENCH_PROOF_ROWS), for their
#                          figures only (their tables are not printed).
set -euo pipefail
. "$(dirname "$0")/../test/setup.sh"
data=${HCL_BENCH_DATA_DIR:-}
t_start=$(date +%s)

dir=$(mktemp -d /tmp/hcledger-bench.XXXXXX)
trap 'hcl_stop_server "$dir"; rm -rf "$dir"' EXIT
hcl_start_server "$dir" -c shared_buffers=1GB -c work_mem=256MB -c max_wal_size=8GB \
	-c max_parallel_workers_per_gather=0 -c shared_preload_libraries=hcledger \
	-c hcledger.database=ledgerbench -c max_connections=50

# section NAME COMMAND...: runs a part, its Markdown on standard output
# (and in $data/NAME.md, its duration in $data/timings.tsv).
section() {
	local name=$1 t0
	shift
	t0=$(date +%s)
	if [ -n "$data" ]; then
		"$@" | tee "$data/$name.md"
		printf '%s\t%s\n' "$name" $(($(date +%s) - t0)) >> "$data/timings.tsv"
	else
		"$@"
	fi
}

crypto() {
	local secs sha ed ec sm3 sm2 keys
	secs=${HCL_BENCH_SECONDS:-3}
	echo "openssl speed ($secs s each) ..." >&2
	sha=$(openssl speed -mr -seconds "$secs" -bytes 64 sha256 2>/dev/null | awk -F: '/^\+F:/ {print $4 / 64}')
	ed=$(openssl speed -mr -seconds "$secs" ed25519 2>/dev/null | awk -F: '/^\+F6:/ {print $6}')
	ec=$(openssl speed -mr -seconds "$secs" ecdsap256 2>/dev/null | awk -F: '/^\+F4:/ {print $5}')
	sm3=$(openssl speed -mr -seconds "$secs" -bytes 64 -evp sm3 2>/dev/null | awk -F: '/^\+F:/ {print $4 / 64}')
	sm2=$(openssl speed -mr -seconds "$secs" sm2 2>/dev/null | awk -F: '/^\+F7:/ {print $6}')

	# A signature of each kind made by openssl for the database to check.
	keys=$dir/keys
	mkdir "$keys"
	printf 'hcledger benchmark message' > "$keys/msg"
	openssl genpkey -algorithm ed25519 -out "$keys/ed.key" 2>/dev/null
	openssl pkeyutl -sign -rawin -inkey "$keys/ed.key" -in "$keys/msg" -out "$keys/ed.sig"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$keys/ec.key" 2>/dev/null
	openssl dgst -sha256 -sign "$keys/ec.key" -out "$keys/ec.sig" "$keys/msg"
	openssl genpkey -algorithm SM2 -out "$keys/sm2.key" 2>/dev/null
	openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:1234567812345678 -inkey "$keys/sm2.key" \
		-in "$keys/msg" -out "$keys/sm2.sig"

	echo "database runs ..." >&2
	psql -X -q -v ON_ERROR_STOP=1 \
		-v msg="$(cat "$keys/msg")" \
		-v ed_pub="$(openssl pkey -in "$keys/ed.key" -pubout)" \
		-v ed_sig="$(od -An -v -tx1 "$keys/ed.sig" | tr -d ' \n')" \
		-v ec_pub="$(openssl pkey -in "$keys/ec.key" -pubout)" \
		-v ec_sig="$(od -An -v -tx1 "$keys/ec.sig" | tr -d ' \n')" \
		-v sm2_pub="$(openssl pkey -in "$keys/sm2.key" -pubout)" \
		-v sm2_sig="$(od -An -v -tx1 "$keys/sm2.sig" | tr -d ' \n')" \
		-v openssl_sha256="$sha" -v openssl_ed25519="$ed" -v openssl_ecdsa="$ec" \
		-v openssl_sm3="$sm3" -v openssl_sm2="$sm2" \
		-f "$HCL_ROOT/bench/crypto.sql"
}
section crypto crypto

section ledger bash "$HCL_ROOT/bench/ledger.sh"

# Receipts need signed checkpoints: from here on, a node key in
# hcledger.signing_key_file (owned by the server's user, mode 0600).
(umask 077 && openssl genpkey -algorithm ed25519 -out "$dir/node.pem" 2>/dev/null)
chown postgres:postgres "$dir/node.pem"
openssl pkey -in "$dir/node.pem" -pubout -out "$dir/node.pub.pem"
psql -X -q -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET hcledger.signing_key_file = '$dir/node.pem'" \
	-c 'SELECT pg_reload_conf()' >/dev/null
export HCL_BENCH_PUBKEY=$dir/node.pub.pem
proofs() {
	local n
	for n in ${HCL_BENCH_PROOF_SWEEP:-}; do
		[ "$n" != "${HCL_BENCH_PROOF_ROWS:-10000000}" ] || continue
		HCL_BENCH_PROOF_ROWS=$n bash "$HCL_ROOT/bench/proof.sh" >/dev/null
		psql -X -q -d postgres -c 'DROP DATABASE proofbench' >/dev/null
	done
	bash "$HCL_ROOT/bench/proof.sh"
}
section proof proofs

# Health codes: their own ES256 credential and pseudonym key files.
section codes env HCL_BENCH_THROWAWAY=1 bash "$HCL_ROOT/bench/codes.sh"

# Offline verification: trust bundles and hcledger-verify code (the key files codes.sh set).
section offline bash "$HCL_ROOT/bench/offline.sh"

# The consortium: two members on servers of its own (logical replication).
section consortium bash "$HCL_ROOT/bench/consortium.sh"

echo "benchmarks done in $(( ($(date +%s) - t_start + 30) / 60 )) min" >&2
