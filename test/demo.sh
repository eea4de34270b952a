#!/usr/bin/env bash
# The hcledger demo on a throwaway local server it starts and removes
# itself: hashing, an RFC 9162 Merkle tree with proofs, signatures made by
# the openssl command line checked in SQL, and a ledger table sealed,
# tampered with behind its back and caught.  Usage: sudo bash test/demo.sh
set -euo pipefail
. "$(dirname "$0")/setup.sh"

dir=$(mktemp -d /tmp/hcledger-demo.XXXXXX)
trap 'hcl_stop_server "$dir"; rm -rf "$dir"' EXIT

# The node's checkpoint signing key (Ed25519), the health authority's
# credential key (ES256) and pseudonym secret: readable by the server only.
(umask 077 && openssl genpkey -algorithm ed25519 -out "$dir/node.pem" 2>/dev/null &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/credential.pem" 2>/dev/null &&
	openssl rand -out "$dir/pseudonym.key" 32)
chown postgres:postgres "$dir/node.pem" "$dir/credential.pem" "$dir/pseudonym.key"
openssl pkey -in "$dir/node.pem" -pubout -out "$dir/node.pub"
# hcledger preloaded, as a consortium member's is (on PostgreSQL 16+
# join_member needs its login guard), with the sealer on no database: the
# demo seals by hand, step by step.
preload="-c shared_preload_libraries=hcledger -c hcledger.database=none"
# shellcheck disable=SC2086
hcl_start_server "$dir" $preload -c wal_level=logical -c hcledger.signing_key_file="$dir/node.pem" \
	-c hcledger.credential_key_file="$dir/credential.pem" -c hcledger.pseudonym_key_file="$dir/pseudonym.key"

# Keys and signatures made outside the database, by openssl.
keys=$dir/keys
mkdir "$keys"
printf 'health code 42: green until 2026-12-01' > "$keys/msg"
openssl genpkey -algorithm ed25519 -out "$keys/ed.key" 2>/dev/null
openssl pkey -in "$keys/ed.key" -pubout -out "$keys/ed.pub"
openssl pkeyutl -sign -rawin -inkey "$keys/ed.key" -in "$keys/msg" -out "$keys/ed.sig"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$keys/ec.key" 2>/dev/null
openssl pkey -in "$keys/ec.key" -pubout -out "$keys/ec.pub"
openssl dgst -sha256 -sign "$keys/ec.key" -out "$keys/ec.sig" "$keys/msg"

psql -X -q -v ON_ERROR_STOP=1 \
	-v msg="$(cat "$keys/msg")" \
	-v ed_pub="$(cat "$keys/ed.pub")" \
	-v ed_sig="$(od -An -v -tx1 "$keys/ed.sig" | tr -d " \n")" \
	-v ec_pub="$(cat "$keys/ec.pub")" \
	-v ec_sig="$(od -An -v -tx1 "$keys/ec.sig" | tr -d " \n")" \
	-v receipt="$dir/receipt.json" \
	-f "$HCL_ROOT/test/demo.sql" 2>&1

echo
echo "== 8. Offline: hcledger-verify checks the receipt with only the node's public key"
verify="$HCL_PG_BIN/hcledger-verify"
# From the Debian package it is on the PATH (/usr/bin, an alternative).
[ "${HCL_FROM_PACKAGE:-0}" = 1 ] && verify=hcledger-verify
echo "\$ hcledger-verify --key node.pub receipt.json"
"$verify" --key "$dir/node.pub" "$dir/receipt.json" || true
sed 's/"tree_size":\([0-9]*\)/"tree_size":1\1/' "$dir/receipt.json" > "$dir/tampered.json"
echo "\$ hcledger-verify --key node.pub tampered.json    # tree_size changed"
"$verify" --key "$dir/node.pub" "$dir/tampered.json" || echo "(exit status $?)"
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout -out "$dir/stranger.pub"
echo "\$ hcledger-verify --key stranger.pub receipt.json  # a key that did not sign it"
"$verify" --key "$dir/stranger.pub" "$dir/receipt.json" || echo "(exit status $?)"

psql -X -q -v ON_ERROR_STOP=1 -v code_receipt="$dir/code_receipt.json" -f "$HCL_ROOT/test/demo_codes.sql" 2>&1
echo
echo "== 16. Offline: anyone with the authority's node public key checks Bo's status receipt"
echo "\$ hcledger-verify --key node.pub code_receipt.json"
"$verify" --key "$dir/node.pub" "$dir/code_receipt.json" || true
sed 's/"row":\([0-9]*\)/"row":9\1/' "$dir/code_receipt.json" > "$dir/code_tampered.json"
echo "\$ hcledger-verify --key node.pub code_tampered.json    # row number changed"
"$verify" --key "$dir/node.pub" "$dir/code_tampered.json" || echo "(exit status $?)"

# Part 3: a consortium.  A second server, Guangdong's, replicates both ways with Macau's.
gd_dir=$(mktemp -d /tmp/hcledger-demo-gd.XXXXXX)
trap 'hcl_stop_server "$gd_dir"; rm -rf "$gd_dir"; hcl_stop_server "$dir"; rm -rf "$dir"' EXIT
(umask 077 && openssl genpkey -algorithm ed25519 -out "$gd_dir/node.pem" 2>/dev/null &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$gd_dir/credential.pem" 2>/dev/null &&
	openssl rand -out "$gd_dir/pseudonym.key" 32)
chown postgres:postgres "$gd_dir/node.pem" "$gd_dir/credential.pem" "$gd_dir/pseudonym.key"
gd_opts="$preload -c wal_level=logical -c hcledger.signing_key_file=$gd_dir/node.pem -c hcledger.credential_key_file=$gd_dir/credential.pem -c hcledger.pseudonym_key_file=$gd_dir/pseudonym.key"
# shellcheck disable=SC2086
(hcl_start_server "$gd_dir" $gd_opts)
mo_conn="postgresql://postgres@/postgres?host=$dir&port=5432"
gd_conn="postgresql://postgres@/postgres?host=$gd_dir&port=5432"
psql -X -q -d "$gd_conn" -c 'CREATE EXTENSION hcledger'
psql -X -q -v ON_ERROR_STOP=1 -v mo_conn="$mo_conn" -v gd_conn="$gd_conn" -f "$HCL_ROOT/test/demo_consortium.sql" 2>&1
gd_code=$(psql -X -At -d "$gd_conn" -c "SELECT payload FROM hcledger.issue_code('{\"name\": \"Wong Fei\", \"document_number\": \"H87654321\"}')")
psql -X -q -d "$gd_conn" -c "SELECT hcledger.seal('hcledger.codes')" >/dev/null
wait_verdict() {
	for _ in $(seq 100); do
		[ "$(psql -X -At -d "$mo_conn" -c "SELECT verdict FROM hcledger.verify_code('$gd_code')")" = "$1" ] && break
		sleep 0.1
	done
	psql -X -q -d "$mo_conn" -c "SELECT verdict, colour, reason, authority FROM hcledger.verify_code('$gd_code')"
}
echo
echo "== 20. Guangdong issues a second code; then Guangdong's server is switched off"
wait_verdict valid
echo "At Macau, the traveller's Guangdong code is converted into a Macau one (convert_code), which says where it came from:"
mo_code=$(psql -X -At -d "$mo_conn" -c "SELECT payload FROM hcledger.convert_code('$gd_code')")
psql -X -q -d "$mo_conn" -c "SELECT hcledger.seal('hcledger.codes')" >/dev/null
psql -X -q -d "$mo_conn" -c "SELECT verdict, colour, reason, authority FROM hcledger.verify_code('$mo_code')"
hcl_stop_server "$gd_dir"
echo "At the Macau border, with Guangdong's server off, the code still verifies:"
psql -X -q -d "$mo_conn" -c "SELECT verdict, colour, authority FROM hcledger.verify_code('$gd_code')"
echo
echo "== 21. Guangdong's server is back; it revokes the code, and Macau learns it as replication catches up"
hcl_as_postgres "$HCL_PG_BIN/pg_ctl" -D "$gd_dir/data" -l "$gd_dir/server.log" -w \
	-o "-c listen_addresses='' -k $gd_dir -p 5432 $gd_opts" start >/dev/null
psql -X -q -d "$gd_conn" -c "SELECT hcledger.revoke_code(credential_id, 'test result withdrawn') FROM hcledger.codes WHERE entry = 'issue' ORDER BY hcl_row DESC LIMIT 1" >/dev/null
wait_verdict revoked
echo "and the Macau code converted from it is revoked with it:"
psql -X -q -d "$mo_conn" -c "SELECT verdict, reason FROM hcledger.verify_code('$mo_code')"
echo
echo 'Demo finished; the throwaway servers are stopped and removed.'
