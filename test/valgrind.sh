#!/usr/bin/env bash
# The offline verifier, hcledger-verify, under valgrind's memcheck
# (--leak-check=full; definite and indirect leaks count as errors) over real
# inputs: receipts and consistency receipts made by a throwaway server,
# valid ones and invalid ones (tampered, truncated, not JSON, wrong or bad
# keys), read from files and from standard input, and each usage and file
# error.  Every run must give the verifier's expected exit status (0 valid,
# 1 invalid, 2 usage or file error) and no valgrind error.
#
# Usage: sudo bash test/valgrind.sh      (or: sudo make valgrind)
#        HCL_VALGRIND_KEEP=1 keeps the temporary directory (inputs, logs).
#
# Nothing is built in the source tree or installed into the system: the
# tree is copied to a temporary directory and built there (the extension
# and hcledger-verify, with the Makefile's own flags), and installed into a
# private copy of PostgreSQL's lib/ and share/ directories (make install
# DESTDIR=..., as test/sanitize.sh does), from which a throwaway server
# (hcl_start_server: a Unix socket in the temporary directory, no TCP port)
# makes the receipts with a node key made for the run.
set -euo pipefail
export HCL_SKIP_BUILD=1
. "$(dirname "$0")/setup.sh"

tmp=$(mktemp -d /tmp/hcledger-valgrind.XXXXXX)
chmod 755 "$tmp"
src=$tmp/src			# the private copy of the tree
inst=$tmp/inst			# the private installation tree
srv=$tmp/server			# the throwaway server (its data and socket)
in=$tmp/inputs			# receipts and keys
logs=$tmp/logs			# one valgrind log per run
pg_lib=/usr/lib/postgresql/$HCL_PG_VERSION
pg_share=/usr/share/postgresql/$HCL_PG_VERSION
mkdir "$srv" "$in" "$logs"
cleanup() {
	[ ! -f "$srv/data/postmaster.pid" ] || hcl_stop_server "$srv"
	if [ "${HCL_VALGRIND_KEEP:-0}" = 1 ]; then
		echo "valgrind: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
start=$(date +%s)

# --- build and install privately ---
mkdir -p "$inst/usr/lib/postgresql" "$inst/usr/share/postgresql"
cp -a "$pg_lib" "$inst/usr/lib/postgresql/"
cp -a "$pg_share" "$inst/usr/share/postgresql/"
rm -rf "$inst$pg_lib/lib/bitcode/hcledger" "$inst$pg_lib/lib/bitcode/hcledger.index.bc"
cp -a "$HCL_ROOT/." "$src/"
make -C "$src" -s clean
echo "valgrind: building hcledger and hcledger-verify" >&2
make -C "$src" -s with_llvm=no
make -C "$src" -s with_llvm=no install DESTDIR="$inst" >/dev/null
verify=$src/hcledger-verify
HCL_PG_BIN=$inst$pg_lib/bin		# hcl_start_server and hcl_stop_server use it
psql() { "$HCL_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

# --- inputs: receipts from a throwaway server, and keys ---
(umask 077 && openssl genpkey -algorithm ed25519 -out "$srv/node.pem" 2>/dev/null)
chown postgres:postgres "$srv/node.pem"
openssl pkey -in "$srv/node.pem" -pubout -out "$in/node.pub"
openssl pkey -in "$srv/node.pem" -pubout -outform DER -out "$in/node.der"
tail -c 32 "$in/node.der" > "$in/node.raw"		# the raw 32-byte key
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout -out "$in/other.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkey -pubout -out "$in/ec.pub"
cp "$srv/node.pem" "$in/node.private.pem"			# a private key is not a public key
printf 'not a key\n' > "$in/garbage.key"
: > "$in/empty.key"
hcl_start_server "$srv" -c hcledger.signing_key_file="$srv/node.pem"
# Three signed checkpoints: of 50 rows, 120 rows, and 121 (a row of 100 kB,
# whose receipt is larger than the verifier's first 64 kB read buffer).
psql <<'SQL'
CREATE EXTENSION hcledger;
CREATE TABLE codes (id int NOT NULL, status text NOT NULL);
SELECT hcledger.create_ledger('codes') \g /dev/null
INSERT INTO codes SELECT g, 'green' FROM generate_series(1, 50) g;
SELECT count(*) FROM hcledger.seal() \g /dev/null
INSERT INTO codes SELECT g, 'amber' FROM generate_series(51, 120) g;
SELECT count(*) FROM hcledger.seal() \g /dev/null
INSERT INTO codes VALUES (121, repeat('large row ', 10000));
SELECT count(*) FROM hcledger.seal() \g /dev/null
SQL
receipt() { psql -At -c "SELECT $2" > "$in/$1"; }
receipt inclusion.json "hcledger.ledger_receipt('codes', 33, 50)"
receipt latest.json "hcledger.ledger_receipt('codes', 1)"
receipt last_leaf.json "hcledger.ledger_receipt('codes', 120, 120)"
receipt hash_only.json "hcledger.ledger_receipt('codes', 33, 120, with_leaf => false)"
receipt consistency.json "hcledger.ledger_consistency_receipt('codes', 50, 120)"
receipt consistency_latest.json "hcledger.ledger_consistency_receipt('codes', 50)"
receipt large.json "hcledger.ledger_receipt('codes', 121)"
hcl_stop_server "$srv"
[ "$(stat -c %s "$in/large.json")" -gt 65536 ] || { echo "valgrind: large.json is not larger than 64 kB" >&2; exit 1; }
printf '%s' "$(cat "$in/inclusion.json")" > "$in/no_newline.json"

# Invalid receipts, each made from a valid one by an edit (sed -E) that
# must change it.
edit() {	# edit NEW FROM SCRIPT
	sed -E "$3" "$in/$2.json" > "$in/$1.json"
	if cmp -s "$in/$1.json" "$in/$2.json"; then
		echo "valgrind: the edit making $1.json changed nothing" >&2
		exit 1
	fi
}
edit tampered_size inclusion 's/"tree_size":50/"tree_size":51/'
edit tampered_index inclusion 's/"leaf_index":32/"leaf_index":31/'
edit tampered_row inclusion 's/"row":33/"row":34/'
# (each edit changes a character for sure, whatever it was)
edit tampered_leaf_hash hash_only 's/"leaf_hash":"0/"leaf_hash":"1/;t;s/"leaf_hash":"./"leaf_hash":"0/'
edit tampered_proof consistency 's/"proof":\["f/"proof":["e/;t;s/"proof":\["./"proof":["f/'
edit wrong_format inclusion 's#"format":"hcledger-receipt/1"#"format":"hcledger-receipt/2"#'
edit duplicate_key inclusion 's/"tree_size":50/"tree_size":50,"tree_size":50/'
edit unknown_key inclusion 's/"tree_size":50/"tree_size":50,"extra":{"a":[1]}/'
edit empty_proof consistency 's/"proof":\[[^]]*\]/"proof":[]/'
edit no_leaf inclusion 's/"leaf":"[^"]*",//'
# the last character of the old checkpoint's signature line
edit tampered_old_signature consistency 's/X(\\n","new_checkpoint")/Y\1/;t;s/.(\\n","new_checkpoint")/X\1/'
edit swapped consistency 's/"old_checkpoint":("[^"]*"),"new_checkpoint":("[^"]*")/"old_checkpoint":\2,"new_checkpoint":\1/'
head -c "$(($(stat -c %s "$in/inclusion.json") / 2))" "$in/inclusion.json" > "$in/truncated.json"
head -c "$(($(stat -c %s "$in/large.json") - 200))" "$in/large.json" > "$in/truncated_large.json"
: > "$in/empty.json"
printf 'not json at all\n' > "$in/not_json.json"
printf '[1, 2, 3]\n' > "$in/array.json"
{ cat "$in/inclusion.json"; printf 'trailing\n'; } > "$in/trailing.json"
printf '{"format":"hcledger-receipt/1","leaf_hash":"\xff\xfe"}\n' > "$in/not_utf8.json"
head -c 3000 /dev/zero | tr '\0' '[' > "$in/deep.json"

# --- the runs ---
runs=0
failed=0
# check EXPECTED_STATUS NAME [hcledger-verify arguments...]
check() {
	local want=$1 name=$2 got=0
	shift 2
	runs=$((runs + 1))
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		--error-exitcode=99 --track-origins=yes --log-file="$logs/$name.log" \
		"$verify" "$@" > "$logs/$name.out" 2>&1 || got=$?
	if [ "$got" -ne "$want" ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$logs/$name.log"; then
		failed=$((failed + 1))
		echo "FAIL $name: exit status $got (expected $want): $(head -c 300 "$logs/$name.out")"
		cat "$logs/$name.log"
	else
		echo "ok   $name (exit $got): $(head -n 1 "$logs/$name.out" | cut -c 1-110)"
	fi
}
echo "valgrind: running hcledger-verify under memcheck" >&2
# usage and help
check 0 help --help
check 0 help_short -h
check 2 no_arguments
check 2 no_key "$in/inclusion.json"
check 2 no_receipt --key "$in/node.pub"
check 2 key_without_file "$in/inclusion.json" --key
check 2 unknown_option --verbose --key "$in/node.pub" "$in/inclusion.json"
check 2 two_receipts --key "$in/node.pub" "$in/inclusion.json" "$in/consistency.json"
# file and key errors
check 2 missing_receipt --key "$in/node.pub" "$in/missing.json"
check 2 missing_key --key "$in/missing.pub" "$in/inclusion.json"
check 2 directory_receipt --key "$in/node.pub" "$in"
check 2 private_key --key "$in/node.private.pem" "$in/inclusion.json"
check 2 ecdsa_key --key "$in/ec.pub" "$in/inclusion.json"
check 2 garbage_key --key "$in/garbage.key" "$in/inclusion.json"
check 2 empty_key --key "$in/empty.key" "$in/inclusion.json"
many=()
for _ in $(seq 65); do many+=(--key "$in/other.pub"); done
check 2 too_many_keys "${many[@]}" "$in/inclusion.json"
# valid receipts, each key form, standard input
check 0 inclusion_pem --key "$in/node.pub" "$in/inclusion.json"
check 0 inclusion_der --key "$in/node.der" "$in/inclusion.json"
check 0 inclusion_raw --key "$in/node.raw" "$in/inclusion.json"
check 0 latest --key "$in/node.pub" "$in/latest.json"
check 0 last_leaf --key "$in/node.pub" "$in/last_leaf.json"
check 0 hash_only --key "$in/node.pub" "$in/hash_only.json"
check 0 consistency --key "$in/node.pub" "$in/consistency.json"
check 0 consistency_latest --key "$in/node.pub" "$in/consistency_latest.json"
check 0 large --key "$in/node.pub" "$in/large.json"
check 0 no_newline --key "$in/node.pub" "$in/no_newline.json"
check 0 second_key_signed --key "$in/other.pub" --key "$in/node.pub" "$in/inclusion.json"
many=()
for _ in $(seq 63); do many+=(--key "$in/other.pub"); done
check 0 sixty_four_keys "${many[@]}" --key "$in/node.raw" "$in/consistency.json"
check 0 stdin --key "$in/node.pub" - < "$in/inclusion.json"
check 0 stdin_large --key "$in/node.pub" - < "$in/large.json"
# invalid: wrong key, tampered, truncated, malformed
check 1 wrong_key --key "$in/other.pub" "$in/inclusion.json"
check 1 wrong_key_consistency --key "$in/other.pub" "$in/consistency.json"
check 1 wrong_key_stdin --key "$in/other.pub" - < "$in/large.json"
for f in tampered_size tampered_index tampered_row tampered_leaf_hash tampered_proof tampered_old_signature \
	swapped wrong_format duplicate_key unknown_key empty_proof no_leaf truncated truncated_large \
	empty not_json array trailing not_utf8 deep; do
	check 1 "$f" --key "$in/node.pub" "$in/$f.json"
done
# one byte changed, at twenty places spread over each kind of receipt
for kind in inclusion hash_only consistency; do
	size=$(($(stat -c %s "$in/$kind.json") - 1))	# not the final newline
	for i in $(seq 0 19); do
		pos=$((i * size / 20 + 3))
		byte=$(dd if="$in/$kind.json" bs=1 skip="$pos" count=1 2>/dev/null)
		if [ "$byte" = "0" ]; then new=1; else new=0; fi
		{ head -c "$pos" "$in/$kind.json"; printf '%s' "$new"; tail -c +"$((pos + 2))" "$in/$kind.json"; } > "$in/flip.json"
		check 1 "flip_${kind}_$pos" --key "$in/node.pub" "$in/flip.json"
	done
done

# --- the verdict ---
errors=0
definite=0
indirect=0
for log in "$logs"/*.log; do
	n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	d=$(grep -c 'are definitely lost in loss record' "$log" || true)
	i=$(grep -c 'are indirectly lost in loss record' "$log" || true)
	definite=$((definite + d))
	indirect=$((indirect + i))
	errors=$((errors + ${n:-1} - d - i))
done
echo "valgrind: $runs runs, $failed failed, $errors errors, $definite definite leaks, $indirect indirect leaks ($(($(date +%s) - start)) s)"
[ "$failed" -eq 0 ] && [ "$errors" -eq 0 ] && [ "$definite" -eq 0 ] && [ "$indirect" -eq 0 ]
