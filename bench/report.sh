#!/usr/bin/env bash
# The full benchmark report: every benchmark of `make bench` (bench/run.sh:
# the crypto core against `openssl speed`, ledger tables against the plain
# table and the plpgsql baseline, proofs and receipts, health codes, the
# consortium) in one run on a throwaway server, plus the sweeps behind the
# plots, written as Markdown and PNG plots (gnuplot) to bench/report/:
#   REPORT.md                  machine and versions, every ratio table, the
#                              plots, how long each part took;
#   throughput_clients.png     single-row INSERT tps against pgbench clients:
#                              plain table, ledger table, plpgsql chain;
#   verify_latency_cdf.png     per-transaction latency of verify_code (and
#   verify_latency_hist.png    its floor and its signature check) from
#                              pgbench's transaction log: CDF and histogram;
#   cost_size_calls.png        proofs and receipts, per call, and insert,
#   cost_size_rows.png         seal and verify_ledger, per row, against the
#                              ledger's size (10^4 to 10^7 rows);
#   data/*.tsv                 the figures plotted.
# The previous report is replaced only once the run has succeeded.
#
# Usage: sudo make bench-report   (or: sudo bash bench/report.sh)
#   the full run: about 16 minutes on the project's 2-core machine (make
#   bench's 13, plus pgbench at 4 and 16 clients, and proofs at 10^4, 10^5
#   and 10^6 rows besides 10^7); run it on an otherwise idle machine.
# HCL_BENCH_QUICK=1: small sizes and short runs (10^4 to 10^5 rows, a few
#   minutes), to check the plumbing; its figures mean nothing.
# HCL_BENCH_REPORT_DIR: where to write (default bench/report).
# HCL_SKIP_BUILD=1: use the hcledger already installed (test/setup.sh).
# Every HCL_BENCH_* size and duration of the scripts it runs can be set too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${HCL_BENCH_REPORT_DIR:-$root/bench/report}
quick=${HCL_BENCH_QUICK:-0}
bin=/usr/lib/postgresql/15/bin

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/report.sh: run this as root (sudo): it installs packages and the extension" >&2
	exit 1
fi
# gnuplot, without X (pngcairo terminal), from Debian's archive
if ! dpkg-query -W -f='${Status}' gnuplot-nox 2>/dev/null | grep -q "install ok installed"; then
	echo "hcledger: installing gnuplot-nox" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi
term="pngcairo size 900,600 font 'DejaVu Sans,11'"
gnuplot -e "set terminal $term" 2>/dev/null || term="png size 900,600"

# The sizes and durations of each part (each script's own defaults in the
# full run, unless set already).
set_default() { [ -n "${!1:-}" ] || export "$1=$2"; }
if [ "$quick" = 1 ]; then
	set_default HCL_BENCH_SECONDS 1
	set_default HCL_BENCH_BIG_ROWS 100000
	set_default HCL_BENCH_PGBENCH_SECONDS 2
	set_default HCL_BENCH_PROOF_ROWS 100000
	set_default HCL_BENCH_PROOF_SWEEP "10000 30000"
	set_default HCL_BENCH_PROOF_CALLS 1000
	set_default HCL_BENCH_PROOF_CLI_RUNS 20
	set_default HCL_BENCH_CODES_PAYLOADS 10000
	set_default HCL_BENCH_CODES_SECONDS 3
	set_default HCL_BENCH_CODES_CHECK 500
	set_default HCL_BENCH_CODES_ISSUE_ROWS 2000
	set_default HCL_BENCH_CODES_MONTH_SCALES 10000
	set_default HCL_BENCH_OFFLINE_SCALES 10000
	set_default HCL_BENCH_OFFLINE_BATCH 5000
	set_default HCL_BENCH_OFFLINE_RUNS 30
	set_default HCL_BENCH_OFFLINE_SNAPSHOT_SCALES 100000
	set_default HCL_BENCH_CONSORTIUM_SECONDS 3
	set_default HCL_BENCH_CONSORTIUM_RATES "500 max"
	set_default HCL_BENCH_CONSORTIUM_SEAL_INTERVALS 200
	set_default HCL_BENCH_CONSORTIUM_CATCHUP_SECONDS 2
	set_default HCL_BENCH_CONSORTIUM_SAMPLE 50
fi
set_default HCL_BENCH_PGBENCH_SECONDS 10
set_default HCL_BENCH_PGBENCH_CLIENTS "1 2 4 8 16"
set_default HCL_BENCH_PROOF_ROWS 10000000
set_default HCL_BENCH_PROOF_SWEEP "10000 100000 1000000"
set_default HCL_BENCH_PROOF_CALLS 10000
set_default HCL_BENCH_CODES_CLIENTS 2
set_default HCL_BENCH_CODES_SECONDS 20

data=$(mktemp -d /tmp/hcledger-report.XXXXXX)
trap 'rm -rf "$data"' EXIT
export HCL_BENCH_DATA_DIR=$data
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(loadavg)
t0=$(date +%s)
if [ "$quick" = 1 ]; then
	echo "bench-report: QUICK mode (HCL_BENCH_QUICK=1), a few minutes; the figures are for checking the plumbing only" >&2
else
	echo "bench-report: the full run takes about 16 minutes on 2 cores; load average now: $load_before" >&2
fi
bash "$root/bench/run.sh" > "$data/tables.md"
elapsed=$(($(date +%s) - t0))
load_after=$(loadavg)
echo "bench-report: plots and REPORT.md ..." >&2

# ---- the plots -------------------------------------------------------------
mkdir -p "$data/out/data"
o=$data/out
cp "$data/clients.tsv" "$data/proof_sizes.tsv" "$data/timings.tsv" "$o/data/"
sweep_rows=$(grep -v '^#' "$data/proof_sizes.tsv" | sort -n -k1,1)
grep '^#' "$data/proof_sizes.tsv" > "$o/data/proof_sizes.tsv"
echo "$sweep_rows" >> "$o/data/proof_sizes.tsv"

# (1) insert throughput against clients
xtics=$(grep -v '^#' "$data/clients.tsv" | awk '{printf "%s%s", (NR > 1 ? "," : ""), $1}')
xmax=$(grep -v '^#' "$data/clients.tsv" | awk '$1 > m {m = $1} END {print m * 1.25}')
gnuplot <<EOF
set terminal $term
set output '$o/throughput_clients.png'
set title "Single-row INSERT transactions (pgbench, ${HCL_BENCH_PGBENCH_SECONDS} s per point, $(nproc) cores)" noenhanced
set xlabel 'pgbench clients (-c, -j)'
set ylabel 'transactions per second'
set logscale x 2
set xtics ($xtics)
set xrange [0.8:$xmax]
set yrange [0:*]
set grid
set key below Left reverse maxcols 2
set style textbox opaque noborder
plot '$o/data/clients.tsv' using 1:2 with linespoints lw 2 pt 7 title 'plain table' noenhanced, \
     '' using 1:3 with linespoints lw 2 pt 5 title 'hcledger ledger table' noenhanced, \
     '' using 1:4 with linespoints lw 2 pt 9 title 'plpgsql + pgcrypto hash chain (baseline)' noenhanced
EOF

# (2) verify_code latency from pgbench's transaction log: a CDF of the
# three transactions (thinned to ~2,000 points each), a histogram of
# verify_code and the ES256 check alone.
names="read es256 verify"
declare -A label=([read]='trivial read of the payload (the floor)' [es256]='ES256 check alone'
	[verify]='verify_code')
: > "$o/data/latency_cdf.tsv"
for n in $names; do
	awk -v name="$n" '{l[NR] = $1}
		END {
			printf "# %s: latency_ms fraction (%d transactions)\n", name, NR
			for (q = 0.001; q < 0.99; q += 0.001) { i = int(q * NR); if (i < 1) i = 1; printf "%.4f\t%.5f\n", l[i] / 1000, i / NR }
			for (q = 0.99; q < 0.9999; q += 0.0001) { i = int(q * NR); printf "%.4f\t%.5f\n", l[i] / 1000, i / NR }
			printf "%.4f\t%.5f\n\n\n", l[NR] / 1000, 1
		}' "$data/latency_$n.us" >> "$o/data/latency_cdf.tsv"
done
pct() { awk -v q="$2" '{l[NR] = $1} END {i = int(q * (NR - 1)) + 1; printf "%.4f", l[i] / 1000}' "$data/latency_$1.us"; }
v50=$(pct verify 0.5) v99=$(pct verify 0.99)
vn=$(wc -l < "$data/latency_verify.us")
# bins: 1, 2 or 5 times a power of ten microseconds, ~60 up to twice
# verify_code's p99
hmax=$(awk -v m="$v99" 'BEGIN {printf "%.4f", 2 * m}')
width=$(awk -v m="$hmax" 'BEGIN {r = m * 1000 / 60; p = 1; while (p * 10 <= r) p *= 10;
	w = (r <= p) ? p : (r <= 2 * p) ? 2 * p : (r <= 5 * p) ? 5 * p : 10 * p; print w}')
: > "$o/data/latency_hist.tsv"
for n in es256 verify; do
	awk -v name="$n" -v w="$width" -v max="$hmax" '{b = int($1 / w); c[b]++; if (b > top) top = b}
		END {
			printf "# %s: bin_start_ms share_percent (bins of %d us, %d transactions)\n", name, w, NR
			for (b = 0; b * w / 1000 <= max; b++) printf "%.4f\t%.4f\n", b * w / 1000, 100 * c[b] / NR
			printf "\n\n"
		}' "$data/latency_$n.us" >> "$o/data/latency_hist.tsv"
done
beyond=$(awk -v m="$hmax" '$1 / 1000 >= m {n++} END {printf "%.2f", 100 * n / NR}' "$data/latency_verify.us")
codes_title="${HCL_BENCH_CODES_CLIENTS} clients, ${HCL_BENCH_CODES_SECONDS} s per transaction type, pgbench -M prepared"
gnuplot <<EOF
set terminal $term
set output '$o/verify_latency_cdf.png'
set title "Per-transaction latency, CDF ($codes_title)" noenhanced
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of transactions at most this long'
set logscale x
set yrange [0:1]
set ytics 0.1
set grid
set key below Left reverse maxcols 2
set style textbox opaque noborder
set arrow from graph 0, first 0.99 to graph 1, first 0.99 nohead dt 2 lc 'gray'
set label 'p99' at graph 0.01, first 0.975 tc 'gray' noenhanced
set arrow from 2, graph 0 to 2, graph 1 nohead dt 2 lc 'red'
set label 'target: p99 < 2 ms' at 2, graph 0.05 right offset -0.5,0 tc 'red' front boxed noenhanced
set xrange [*:3]
plot '$o/data/latency_cdf.tsv' index 0 using 1:2 with lines lw 2 title '${label[read]}' noenhanced, \
     '' index 1 using 1:2 with lines lw 2 title '${label[es256]}' noenhanced, \
     '' index 2 using 1:2 with lines lw 2 title '${label[verify]} (p50 $(printf '%.3f' "$v50") ms, p99 $(printf '%.3f' "$v99") ms)' noenhanced
EOF
gnuplot <<EOF
set terminal $term
set output '$o/verify_latency_hist.png'
set title "Per-transaction latency, histogram ($width µs bins; $beyond% of verify_code at $hmax ms or more not shown)" noenhanced
set xlabel 'latency (ms)'
set ylabel 'share of transactions (%)'
set xrange [0:$hmax]
set yrange [0:*]
set grid
set key below Left reverse maxcols 2
set style textbox opaque noborder
set style fill transparent solid 0.45 noborder
set arrow from $v50, graph 0 to $v50, graph 1 nohead dt 2
set label 'p50' at $v50, graph 0.95 offset 0.3,0 noenhanced
set arrow from $v99, graph 0 to $v99, graph 1 nohead dt 2
set label 'p99' at $v99, graph 0.95 offset 0.3,0 noenhanced
plot '$o/data/latency_hist.tsv' index 0 using (\$1 + $width / 2000.0):2:($width / 1000.0) with boxes title '${label[es256]}' noenhanced, \
     '' index 1 using (\$1 + $width / 2000.0):2:($width / 1000.0) with boxes title '${label[verify]} ($vn transactions)' noenhanced
EOF

# (3) cost against the ledger's size
rows_ymax=$(echo "$sweep_rows" | awk '{for (i = 2; i <= 4; i++) if (1e6 * $i / $1 > m) m = 1e6 * $i / $1}
	END {m *= 1.15; if (m < 3.5) m = 3.5; printf "%.2f", m}')
gnuplot <<EOF
set terminal $term
set output '$o/cost_size_calls.png'
set title "Proofs and receipts against ledger size (per call, ${HCL_BENCH_PROOF_CALLS} random rows, best of three)" noenhanced
set xlabel 'ledger rows (log scale)'
set ylabel 'time per call (ms, log scale)'
set logscale xy
set format x '10^{%L}'
set grid
set key below Left reverse maxcols 2
set style textbox opaque noborder
set offsets graph 0.05, graph 0.05, 0, 0
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc 'red'
set label 'target: make a proof < 1 ms at 10^7' at graph 0.99, first 1.15 right tc 'red' front boxed noenhanced
set arrow from graph 0, first 0.1 to graph 1, first 0.1 nohead dt 2 lc 'blue'
set label 'target: verify a proof < 0.1 ms' at graph 0.99, first 0.115 right tc 'blue' front boxed noenhanced
plot '$o/data/proof_sizes.tsv' using 1:5 with linespoints lw 2 pt 7 title 'make an inclusion proof (ledger_inclusion_proof)' noenhanced, \
     '' using 1:6 with linespoints lw 2 pt 5 title 'verify an inclusion proof (verify_inclusion)' noenhanced, \
     '' using 1:7 with linespoints lw 2 pt 9 title 'make a receipt (ledger_receipt)' noenhanced, \
     '' using 1:8 with linespoints lw 2 pt 11 title 'verify a receipt in SQL (verify_receipt)' noenhanced, \
     '' using 1:9 with linespoints lw 2 pt 13 title 'verify a receipt, hcledger-verify CLI (process start included)' noenhanced
EOF
gnuplot <<EOF
set terminal $term
set output '$o/cost_size_rows.png'
set title "Building and checking a ledger against its size (per row; flat = linear)" noenhanced
set xlabel 'ledger rows (log scale)'
set ylabel 'time per row (µs)'
set logscale x
set format x '10^{%L}'
set yrange [0:$rows_ymax]
set grid
set key below Left reverse maxcols 2
set style textbox opaque noborder
set offsets graph 0.05, graph 0.05, 0, 0
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc 'red'
set label 'target: seal >= 10^6 leaves/s' at graph 0.99, first 1 right offset 0,0.7 tc 'red' front boxed noenhanced
set arrow from graph 0, first 3 to graph 1, first 3 nohead dt 2 lc 'blue'
set label 'target: verify_ledger of 10^6 rows <= 3 s' at graph 0.99, first 3 right offset 0,0.7 tc 'blue' front boxed noenhanced
plot '$o/data/proof_sizes.tsv' using 1:(1e6 * \$2 / \$1) with linespoints lw 2 pt 7 title 'bulk INSERT ... SELECT into the ledger table' noenhanced, \
     '' using 1:(1e6 * \$3 / \$1) with linespoints lw 2 pt 5 title 'seal (hcledger.seal)' noenhanced, \
     '' using 1:(1e6 * \$4 / \$1) with linespoints lw 2 pt 9 title 'verify_ledger' noenhanced
EOF

# ---- REPORT.md -------------------------------------------------------------
num() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}' | num; }
pow() { awk -v n="$1" 'BEGIN {l = log(n) / log(10); if (l == int(l)) printf "10^%d", l; else printf "%d", n}' | num; }
mins() { awk -v s="$1" 'BEGIN {if (s < 90) printf "%d s", s; else printf "%.1f min", s / 60}'; }
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
commit=$(git -c safe.directory="$root" -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ "$commit" = unknown ] || [ -z "$(git -c safe.directory="$root" -C "$root" status --porcelain -- src sql bench 2>/dev/null)" ] ||
	commit="$commit (with local changes)"
section() { sed -e '/./,$!d' "$data/$1.md"; }  # without leading blank lines
{
	echo "# hcledger benchmark report"
	echo
	if [ "$quick" = 1 ]; then
		echo "> **QUICK MODE** (\`HCL_BENCH_QUICK=1\`): small sizes and short runs, to check that the report is made; these figures are not measurements. The full report: \`sudo make bench-report\`."
		echo
	fi
	echo "Made by \`sudo make bench-report\` (\`bench/report.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), in $(mins "$elapsed"): every benchmark of \`make bench\` (\`bench/run.sh\`) in one run on a throwaway server, each figure beside its reference measured in the same run, plus the sweeps behind the plots. The figures plotted are in [data/](data/)."
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| CPU | $cpu, $(nproc) cores online |"
	echo "| memory | $mem |"
	echo "| system | $os, Linux $(uname -r) |"
	echo "| PostgreSQL | $("$bin/postgres" -V | sed 's/^postgres (PostgreSQL) //') |"
	echo "| OpenSSL | $(openssl version) |"
	echo "| hcledger | commit $commit |"
	echo "| server | throwaway, Unix socket only: \`shared_buffers = 1GB\`, \`work_mem = 256MB\`, \`max_wal_size = 8GB\`, \`max_parallel_workers_per_gather = 0\`, \`hcledger\` preloaded (the consortium: two servers of its own, \`shared_buffers = 512MB\` each) |"
	echo "| load average (1, 5, 15 min) | before the run: $load_before; after: $load_after (other work on the machine distorts every figure) |"
	echo
	echo "## Crypto core against \`openssl speed\` (the ceiling) and the alternatives"
	echo
	echo "Best of three, against \`openssl speed\` run on this machine just before (${HCL_BENCH_SECONDS:-3} s each) and what a user would otherwise call:"
	echo
	section crypto
	echo
	echo "## Ledger tables against the plain table and the plpgsql baseline"
	echo
	echo "The same table without the ledger, and the plpgsql + pgcrypto hash chain a user would write ([baseline_plpgsql.sql](../baseline_plpgsql.sql)). Bulk loads best of three; pgbench ${HCL_BENCH_PGBENCH_SECONDS} s per run, the sealer worker sealing every second during the ledger runs:"
	echo
	section ledger
	echo
	echo "![Single-row INSERT throughput against pgbench clients: plain table, ledger table, plpgsql chain](throughput_clients.png)"
	echo
	echo "## Proofs and receipts"
	echo
	section proof
	echo
	echo "### Cost against ledger size"
	echo
	echo "The same benchmark (\`bench/proof.sh\`) on ledgers of each size, in a fresh database each; inserting, sealing and \`verify_ledger\` timed once, proofs and receipts per call over ${HCL_BENCH_PROOF_CALLS} random rows, best of three:"
	echo
	echo "| ledger rows | insert | seal | verify_ledger | proof hashes | make a proof | verify a proof | make a receipt | verify a receipt (SQL) | \`hcledger-verify\` |"
	echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	while IFS=$'\t' read -r n ins seal vl pm pv rm rv cli plen _; do
		echo "| $(pow "$n") | $(rate "$n" "$ins") rows/s | $(rate "$n" "$seal") leaves/s | $(rate "$n" "$vl") rows/s | $plen | $(printf '%.3f' "$pm") ms | $(printf '%.4f' "$pv") ms | $(printf '%.3f' "$rm") ms | $(printf '%.3f' "$rv") ms | $(printf '%.2f' "$cli") ms |"
	done <<< "$sweep_rows"
	echo
	echo "![Proof and receipt time per call against ledger size](cost_size_calls.png)"
	echo
	echo "![Insert, seal and verify_ledger time per row against ledger size](cost_size_rows.png)"
	echo
	echo "## Health codes"
	echo
	section codes
	echo
	echo "The latency of every transaction of the three pgbench runs above, from pgbench's transaction log (\`pgbench -l\`):"
	echo
	echo "![verify_code latency CDF](verify_latency_cdf.png)"
	echo
	echo "![verify_code latency histogram](verify_latency_hist.png)"
	echo
	echo "## Offline verification"
	echo
	section offline
	echo
	echo "## Consortium"
	echo
	section consortium
	echo
	echo "## How long each part took"
	echo
	echo "| part | time |"
	echo "|---|--:|"
	while IFS=$'\t' read -r part s; do
		echo "| $part | $(mins "$s") |"
	done < "$data/timings.tsv"
	echo "| the whole run (server start, plots) | $(mins $(($(date +%s) - t0))) |"
} > "$o/REPORT.md"

# Replace the previous report, owned like the checkout.
mkdir -p "$out"
rm -rf "$out/REPORT.md" "$out"/*.png "$out/data"
cp -r "$o/." "$out/"
chown -R --reference="$root" "$out" 2>/dev/null || true
echo "bench-report: $out/REPORT.md ($(mins $(($(date +%s) - t0))))" >&2
