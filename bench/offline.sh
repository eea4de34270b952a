#!/usr/bin/env bash
# Offline verification benchmarks (docs/offline-verification.md), run by
# bench/run.sh against its throwaway server (PG* variables set, hcledger
# preloaded, a node key in hcledger.signing_key_file) after bench/codes.sh,
# whose key files it reuses.  Prints Markdown tables.
#   - for HCL_BENCH_OFFLINE_SCALES current codes (default 10^5 and 10^6),
#     issued by 2 sessions into a fresh database and sealed: the time
#     trust_bundle() takes, the bundle's size, and per million codes;
#   - hcledger-verify code at the largest scale: a batch of
#     HCL_BENCH_OFFLINE_BATCH payloads (default 10^5) through one process
#     (the bundle loaded once), and HCL_BENCH_OFFLINE_RUNS (default 300)
#     processes of one payload each (the bundle loaded every time), p50/p99;
#   - payload lengths of one set of claims as HCL1:, HCL3: in full and
#     showing two claims, and the QR version each needs (alphanumeric, L);
#   - for HCL_BENCH_OFFLINE_SNAPSHOT_SCALES codes (default 1.7*10^7, the
#     seed's month; empty: none), the status snapshot alone: its build
#     time and size over a codes ledger filled with INSERT ... SELECT
#     (issue rows with random ids, commitments and signatures: a snapshot
#     reads them and checks no signature) and sealed.
set -euo pipefail
scales=${HCL_BENCH_OFFLINE_SCALES:-100000 1000000}
snapshot_scales=${HCL_BENCH_OFFLINE_SNAPSHOT_SCALES-17000000}
batch_n=${HCL_BENCH_OFFLINE_BATCH:-100000}
runs=${HCL_BENCH_OFFLINE_RUNS:-300}
export PGOPTIONS="-c client_min_messages=warning" PGCLIENTENCODING=UTF8
q() { psql -X -q -tA -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "bench/offline.sh: $*" >&2; exit 1; }
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN {printf "%.3f", (b - a) / 1e9}'; }
num() { echo "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }
verify=$(command -v hcledger-verify || echo "$(pg_config --bindir)/hcledger-verify")
[ -x "$verify" ] || fail "hcledger-verify is not installed"
work=$(mktemp -d /tmp/hcledger-offline.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# the key files bench/codes.sh set on the server
[ "$(q -d postgres -c "SELECT current_setting('hcledger.credential_key_file', true) <> ''")" = t ] ||
	fail "no credential key: run after bench/codes.sh (bench/run.sh does)"

claims="jsonb_build_object('name', 'Chan Tai Man', 'document_number', 'M' || lpad(i::text, 8, '0'),
  'birth_date', '1980-02-29', 'test_result', 'negative', 'test_time', '2026-11-23T08:00:00+08:00')"
declare -A build_s size_b
largest=""
for n in $scales; do
	db=offline_$n
	echo "offline: $n codes issued and sealed, then the bundle ..." >&2
	q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
	q -d "$db" >/dev/null <<SQL
CREATE EXTENSION hcledger;
SELECT hcledger.add_authority('macau-ssm', 'Macau', true);
SELECT hcledger.add_key('macau-ssm', 'es256-1', 'es256', hcledger.credential_public_key(), now() - interval '1 minute');
SELECT hcledger.add_key('macau-ssm', 'node-1', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
CREATE TABLE payloads (i bigint, payload text);
SQL
	half=$((n / 2))
	for s in 0 1; do
		q -d "$db" -c "INSERT INTO payloads SELECT i, c.payload FROM generate_series($((s * half + 1)), $(((s + 1) * half))) i,
		               LATERAL hcledger.issue_code($claims) c" &
	done
	wait
	q -d "$db" -c "SELECT count(*) FROM hcledger.seal('hcledger.codes')" -c 'CHECKPOINT' >/dev/null
	t0=$(now_ns)
	q -d "$db" -c "SELECT encode(hcledger.trust_bundle(), 'base64')" | base64 -d > "$work/bundle_$n"
	build_s[$n]=$(secs_since "$t0")
	size_b[$n]=$(stat -c %s "$work/bundle_$n")
	largest=$n
	[ "$n" = "$(echo $scales | awk '{print $NF}')" ] || q -d postgres -c "DROP DATABASE $db" >/dev/null
done

db=offline_$largest
q -d "$db" -c "SELECT encode(hcledger.signing_public_key(), 'base64')" | base64 -d > "$work/node.pub"
q -d "$db" -c "SELECT payload FROM payloads ORDER BY random() LIMIT $batch_n" > "$work/payloads"
echo "offline: hcledger-verify code, a batch of $batch_n and $runs single runs ..." >&2
t0=$(now_ns)
"$verify" code --bundle "$work/bundle_$largest" --key "$work/node.pub" - < "$work/payloads" > "$work/verdicts" ||
	fail "a payload of the batch is not valid offline: $(grep -v '^valid' "$work/verdicts" | head -1)"
batch_s=$(secs_since "$t0")
[ "$(grep -c '^valid	green	macau-ssm	' "$work/verdicts")" = "$batch_n" ] || fail "the batch's verdicts are not all valid"
# load alone: an empty batch
t0=$(now_ns)
"$verify" code --bundle "$work/bundle_$largest" --key "$work/node.pub" - < /dev/null
load_s=$(secs_since "$t0")
head -n "$runs" "$work/payloads" | while read -r p; do
	t0=$(now_ns)
	"$verify" code --bundle "$work/bundle_$largest" --key "$work/node.pub" "$p" > /dev/null
	echo $(( ($(now_ns) - t0) / 1000 ))
done | sort -n > "$work/single.us"
read -r p50 p99 < <(awk '{l[NR] = $1} END {printf "%.1f %.1f\n", l[int((NR - 1) * 0.50) + 1] / 1000, l[int((NR - 1) * 0.99) + 1] / 1000}' "$work/single.us")

# payload lengths and QR versions (alphanumeric mode, level L: capacity per version)
read -r l1 l3 l3s < <(q -d "$db" -c "SELECT length(a.payload), length(b.payload), length(hcledger.code_disclose(b.payload, '{name,test_result}'))
  FROM (SELECT 1 AS i) x, LATERAL hcledger.issue_code($claims) a, LATERAL hcledger.issue_code($claims, selective => true) b" | tr '|' ' ')
qr() { awk -v n="$1" 'BEGIN {split("25 47 77 114 154 195 224 279 335 395 468 535 619 667 758 854 938 1046 1153 1249 1352 1460 1588 1704 1853 1990 2132 2223 2369 2520 2677 2840 3009 3183 3351 3537 3729 3927 4087 4296", c, " "); for (v = 1; v <= 40; v++) if (c[v] >= n) {print v; exit} print "over 40"}'; }
q -d postgres -c "DROP DATABASE $db" >/dev/null

declare -A snap_s snap_b seal_s
for n in $snapshot_scales; do
	db=offline_snapshot
	echo "offline: $n codes inserted and sealed, then the status snapshot ..." >&2
	q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
	q -d "$db" >/dev/null <<SQL
CREATE EXTENSION hcledger;
SELECT hcledger.add_authority('macau-ssm', 'Macau', true);
SELECT hcledger.codes_ledger();
INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, subject, commitment, valid_from, valid_until, key_id, signature)
SELECT 'issue', substr(sha256(int8send(i)), 1, 16), 'macau-ssm', now() - interval '1 hour', 'green',
       sha256(int8send(-i)), sha256(int8send(i) || '\\x01'), now() - interval '1 hour', now() + interval '7 days',
       'es256-1', sha256(int8send(i) || '\\x02') || sha256(int8send(i) || '\\x03')
  FROM generate_series(1, $n) i;
SQL
	t0=$(now_ns)
	q -d "$db" -c "SELECT count(*) FROM hcledger.seal('hcledger.codes')" -c 'VACUUM ANALYZE hcledger.codes' >/dev/null
	seal_s[$n]=$(secs_since "$t0")
	t0=$(now_ns)
	snap_b[$n]=$(q -d "$db" -c "SELECT length(hcledger.status_snapshot('macau-ssm'))")
	snap_s[$n]=$(secs_since "$t0")
	q -d postgres -c "DROP DATABASE $db" >/dev/null
done
snapshot_table=""
if [ -n "$snapshot_scales" ]; then
	snapshot_table="The status snapshot alone, over issue rows inserted with \`INSERT ... SELECT\` and sealed (\`hcledger.status_snapshot('macau-ssm')\`):

| current codes | sealing them | snapshot build | snapshot size | per million codes |
|--:|--:|--:|--:|--:|
"
	for n in $snapshot_scales; do
		snapshot_table+="| $(num "$n") | $(printf '%.1f s' "${seal_s[$n]}") | $(printf '%.1f s' "${snap_s[$n]}") | $(awk -v b="${snap_b[$n]}" 'BEGIN {printf "%.1f MB", b / 1e6}') | $(awk -v b="${snap_b[$n]}" -v n="$n" 'BEGIN {printf "%.2f MB", b / n}') |
"
	done
	snapshot_table+=$'\n'
fi

cat <<EOF

Offline verification: \`hcledger.trust_bundle()\` over one authority's current codes (issued by 2 sessions, sealed; each code in the status snapshot, 9 bytes, plus decoys):

| current codes | bundle build | bundle size | per million codes |
|--:|--:|--:|--:|
EOF
for n in $scales; do
	echo "| $(num "$n") | $(printf '%.1f s' "${build_s[$n]}") | $(awk -v b="${size_b[$n]}" 'BEGIN {printf "%.2f MB", b / 1e6}') | $(awk -v b="${size_b[$n]}" -v n="$n" 'BEGIN {printf "%.2f MB", b / n}') |"
done
cat <<EOF

\`hcledger-verify code\` with the bundle of $(num "$largest") codes ($(awk -v b="${size_b[$largest]}" 'BEGIN {printf "%.1f MB", b / 1e6}')):

| mode | payloads | time | per second | p50 | p99 |
|---|--:|--:|--:|--:|--:|
| batch, one process (bundle loaded once, $(printf '%.2f s' "$load_s")) | $(num "$batch_n") | $(printf '%.2f s' "$batch_s") | $(num "$(awk -v n="$batch_n" -v s="$batch_s" 'BEGIN {printf "%.0f", n / s}')") | | |
| one process per payload (bundle loaded each time) | $(num "$runs") | | | $p50 ms | $p99 ms |

${snapshot_table}Payload lengths (name, document number, birth date, test result and time), QR version at level L in alphanumeric mode: \`HCL1:\` $l1 characters (version $(qr "$l1")); \`HCL3:\` in full $l3 (version $(qr "$l3")); \`HCL3:\` showing name and test result $l3s (version $(qr "$l3s")).
EOF
