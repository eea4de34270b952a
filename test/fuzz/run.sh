#!/usr/bin/env bash
# The libFuzzer harnesses of test/fuzz (see test/fuzz/README.md).
#
#   bash test/fuzz/run.sh [HARNESS...]            make fuzz: each harness for
#                                                 HCL_FUZZ_SECONDS (60) seconds
#   bash test/fuzz/run.sh --regress [HARNESS...]  make fuzz-regress: each harness
#                                                 once over corpus/ and regressions/
#   bash test/fuzz/run.sh --build                 build the harnesses only
#   bash test/fuzz/run.sh --seeds                 rewrite the generated seeds of corpus/
#
# HARNESS is a name such as fuzz_receipt (or receipt); the default is all.
# A finding (crash, sanitizer report, failed invariant, leak, timeout, out
# of memory) makes the exit status 1; when fuzzing, the input is saved as
# regressions/<harness>/<kind>-<sha1>, to be kept forever.
#
# Environment: HCL_FUZZ_SECONDS (60), HCL_FUZZ_BUILD (build directory,
# default test/fuzz/build), HCL_FUZZ_TIMEOUT (seconds one input may take,
# 25), HCL_FUZZ_RSS_MB (2048), HCL_FUZZ_JOBS (parallel compiles, 2).
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FUZZ_DIR/../.." && pwd)

ALL_HARNESSES="fuzz_hash256 fuzz_proof fuzz_receipt fuzz_checkpoint fuzz_decimal
               fuzz_base64 fuzz_public_key fuzz_signature fuzz_code_payload
               fuzz_base45 fuzz_log_entries fuzz_status_snapshot"

mode=fuzz
harnesses=()
for arg in "$@"; do
	case "$arg" in
		--regress) mode=regress ;;
		--build) mode=build ;;
		--seeds) mode=seeds ;;
		-h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
		-*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
		*)
			h=fuzz_${arg#fuzz_}
			case " $(echo $ALL_HARNESSES) " in
				*" $h "*) harnesses+=("$h") ;;
				*) echo "run.sh: no harness $arg (have: $(echo $ALL_HARNESSES))" >&2; exit 2 ;;
			esac ;;
	esac
done
[ ${#harnesses[@]} -gt 0 ] || read -r -a harnesses <<<"$(echo $ALL_HARNESSES)"

# The packages (clang, its sanitizer runtime, postgresql-server-dev-NN,
# libssl-dev): test/setup.sh installs what is missing, as root.
if [ "$(id -u)" -eq 0 ]; then
	export HCL_SKIP_BUILD=1
	. "$ROOT/test/setup.sh"
else
	export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
	for tool in clang make "$PG_CONFIG"; do
		command -v "$tool" >/dev/null ||
			{ echo "run.sh: $tool is missing; run as root to install the packages" >&2; exit 2; }
	done
fi

BUILD=${HCL_FUZZ_BUILD:-$FUZZ_DIR/build}
SECONDS_EACH=${HCL_FUZZ_SECONDS:-60}
TIMEOUT=${HCL_FUZZ_TIMEOUT:-25}
RSS_MB=${HCL_FUZZ_RSS_MB:-2048}
JOBS=${HCL_FUZZ_JOBS:-2}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)

# Longest input libFuzzer makes, per harness (default 4096).
max_len() {
	case "$1" in
		fuzz_receipt) echo 16384 ;;
		fuzz_checkpoint|fuzz_log_entries) echo 8192 ;;
		fuzz_code_payload) echo 5000 ;;
		*) echo 4096 ;;
	esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:handle_abort=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

build() {
	local targets=()
	for h in "$@"; do targets+=("$BUILD/bin/$h"); done
	make -s -f "$FUZZ_DIR/fuzz.mk" -j"$JOBS" B="$BUILD" PG_CONFIG="$PG_CONFIG" CC=clang "${targets[@]}"
}

# Inputs kept in a directory (not dotfiles or notes).
inputs_in() {
	[ -d "$1" ] || return 0
	find "$1" -maxdepth 1 -type f ! -name '.*' ! -name '*.md' | sort
}

count_in() {
	inputs_in "$1" | wc -l | tr -d ' '
}

case "$mode" in
build)
	build "${harnesses[@]}"
	echo "run.sh: built ${harnesses[*]} in $BUILD/bin"
	exit 0
	;;
seeds)
	make -s -f "$FUZZ_DIR/fuzz.mk" -j"$JOBS" B="$BUILD" PG_CONFIG="$PG_CONFIG" CC=clang "$BUILD/bin/gen_seeds"
	mkdir -p "$FUZZ_DIR/corpus"
	"$BUILD/bin/gen_seeds" "$FUZZ_DIR/corpus"
	python3 "$FUZZ_DIR/wycheproof_seeds.py" "$FUZZ_DIR/corpus"
	exit 0
	;;
esac

start=$(date +%s)
build "${harnesses[@]}"
echo "run.sh: built ${#harnesses[@]} harnesses in $(( $(date +%s) - start ))s ($BUILD/bin)"
mkdir -p "$BUILD/logs"

status=0
if [ "$mode" = regress ]; then
	printf '%-20s %7s %8s  %s\n' harness inputs seconds result
	for h in "${harnesses[@]}"; do
		mapfile -t files < <(inputs_in "$FUZZ_DIR/corpus/$h"; inputs_in "$FUZZ_DIR/regressions/$h")
		log=$BUILD/logs/$h.regress.log
		t0=$(date +%s%N)
		result=ok
		if [ ${#files[@]} -eq 0 ]; then
			result="no inputs"
		elif ! "$BUILD/bin/$h" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
				"${files[@]}" >"$log" 2>&1; then
			result="FAILED on $(sed -n 's/^Running: //p' "$log" | tail -1) (log: $log)"
			status=1
		fi
		ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		printf '%-20s %7d %4d.%03d  %s\n' "$h" "${#files[@]}" $((ms / 1000)) $((ms % 1000)) "$result"
		if [ $status -ne 0 ] && [ "$result" != ok ] && [ "$result" != "no inputs" ]; then
			grep -E 'ERROR|SUMMARY|invariant failed|pgshim:|runtime error' "$log" | head -5 | sed 's/^/    /'
		fi
	done
	echo "run.sh: fuzz-regress $( [ $status -eq 0 ] && echo passed || echo FAILED ) in $(( $(date +%s) - start ))s"
	exit $status
fi

printf '%-20s %12s %9s %7s %8s %9s\n' harness executions exec/s corpus seconds findings
for h in "${harnesses[@]}"; do
	work=$BUILD/corpus/$h
	reg=$FUZZ_DIR/regressions/$h
	seeds=$FUZZ_DIR/corpus/$h
	log=$BUILD/logs/$h.log
	dict=()
	[ -f "$FUZZ_DIR/dict/$h.dict" ] && dict=(-dict="$FUZZ_DIR/dict/$h.dict")
	mkdir -p "$work" "$reg" "$seeds"
	before=$(count_in "$reg")
	t0=$(date +%s)
	rc=0
	"$BUILD/bin/$h" -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" \
		-rss_limit_mb="$RSS_MB" -max_len="$(max_len "$h")" -print_final_stats=1 \
		"${dict[@]}" -artifact_prefix="$reg/" "$work" "$seeds" >"$log" 2>&1 || rc=$?
	t=$(( $(date +%s) - t0 ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	[ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	[ -n "$eps" ] || eps=$(( ${execs:-0} / (t > 0 ? t : 1) ))
	corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | awk '{print $2}')
	findings=$(( $(count_in "$reg") - before ))
	[ $rc -eq 0 ] || [ $findings -gt 0 ] || findings=1	# failed without saving an input
	printf '%-20s %12s %9s %7s %8s %9s\n' "$h" "${execs:-?}" "${eps:-?}" "${corp:-?}" "$t" "$findings"
	if [ $findings -gt 0 ]; then
		status=1
		grep -E 'SUMMARY|invariant failed|pgshim:|runtime error|Test unit written' "$log" | head -6 | sed 's/^/    /'
		echo "    log: $log"
	fi
done
echo "run.sh: fuzzing $( [ $status -eq 0 ] && echo found nothing || echo FOUND PROBLEMS ) in $(( $(date +%s) - start ))s"
exit $status
