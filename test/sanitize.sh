#!/usr/bin/env bash
# The whole pg_regress suite (every sql/*.sql test of the Makefile's REGRESS,
# with pgTAP) against hcledger built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc), with assertions (USE_ASSERT_CHECKING).
# Fails on any test failure or any sanitizer report.
#
# Usage: sudo bash test/sanitize.sh      (or: sudo make sanitize)
#        HCL_SANITIZE_KEEP=1 keeps the temporary directory (reports, logs).
#
# Nothing is built or installed in the source tree or in the system's
# PostgreSQL: the tree is copied to a temporary directory and built there;
# PostgreSQL's lib/ and share/ directories are copied into a private
# installation tree ($tmp/inst/usr/...) that the sanitized extension is
# installed into (make install DESTDIR=...).  PostgreSQL finds share/ and
# lib/ relative to its own binary, so the copied postgres loads the copied
# extension and pgtap.  pg_regress starts its own throwaway server from
# that tree (--temp-instance), as the unprivileged postgres user.
#
# The server itself is not instrumented, so the ASan and UBSan runtimes are
# preloaded (LD_PRELOAD) into pg_regress and everything it starts (initdb,
# postgres, psql).  Leak detection is off (PostgreSQL deliberately never
# frees some memory at exit); reports are written to files, one per process,
# so a backend's report is not lost, and each one aborts the process.
# Limitation: memory from palloc comes from large malloc'd blocks, so ASan
# sees overruns of stack, global and malloc'd (OpenSSL, libc) memory, and of
# a palloc'd chunk only at the edge of its block.
set -euo pipefail
export HCL_SKIP_BUILD=1
. "$(dirname "$0")/setup.sh"

tmp=$(mktemp -d /tmp/hcledger-sanitize.XXXXXX)
chmod 755 "$tmp"
src=$tmp/src			# the private copy of the tree, built and tested there
inst=$tmp/inst			# the private installation tree
san=$tmp/reports		# sanitizer reports, one file per process
pg_lib=/usr/lib/postgresql/15
pg_share=/usr/share/postgresql/15
cleanup() {
	# pg_regress stops its server itself; this is for an interrupted run
	if [ -f "$src/tmp_check/data/postmaster.pid" ]; then
		hcl_as_postgres "$inst$pg_lib/bin/pg_ctl" -D "$src/tmp_check/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "${HCL_SANITIZE_KEEP:-0}" = 1 ]; then
		echo "sanitize: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
start=$(date +%s)

# --- the private installation tree ---
mkdir -p "$inst/usr/lib/postgresql" "$inst/usr/share/postgresql"
cp -a "$pg_lib" "$inst/usr/lib/postgresql/"
cp -a "$pg_share" "$inst/usr/share/postgresql/"
# The system's hcledger bitcode (JIT inlining) is not that of this build.
rm -rf "$inst$pg_lib/lib/bitcode/hcledger" "$inst$pg_lib/lib/bitcode/hcledger.index.bc"
if [ ! -f "$inst$pg_share/extension/pgtap.control" ]; then
	echo "sanitize: pgtap is not in $pg_share/extension (package postgresql-15-pgtap)" >&2
	exit 1
fi

# --- the sanitized build, from a private copy of the tree ---
# COPT is PostgreSQL's hook for extra compiler and linker flags (it reaches
# both CFLAGS and LDFLAGS); with_llvm=no: no JIT bitcode.
cp -a "$HCL_ROOT/." "$src/"
make -C "$src" -s clean
sanflags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
build=(with_llvm=no "COPT=$sanflags" PG_CPPFLAGS=-DUSE_ASSERT_CHECKING)
echo "sanitize: building with $sanflags" >&2
make -C "$src" -s "${build[@]}"
make -C "$src" -s "${build[@]}" install DESTDIR="$inst" >/dev/null
if ! ldd "$inst$pg_lib/lib/hcledger.so" | grep -q libasan; then
	echo "sanitize: $inst$pg_lib/lib/hcledger.so is not linked with ASan" >&2
	exit 1
fi

# --- the suite, as postgres, on a server started from the private tree ---
# The tests' list is the Makefile's own REGRESS; the keys the tests' server
# needs are made by its regress-key target (test/regress.conf names them
# relative to the data directory $src/tmp_check/data).
tests=$(make -C "$src" -s --no-print-directory --eval='hcl-print-regress: ; @echo $(REGRESS)' hcl-print-regress)
ntests=$(wc -w <<<"$tests")
mkdir "$san"
chown -R postgres:postgres "$src" "$san"
hcl_as_postgres make -C "$src" -s regress-key
# No JIT: expressions run through the (instrumented) functions themselves.
# The server's log goes to a file outside the temp instance, which
# pg_regress removes when every test passed.
mkdir "$tmp/serverlog"
chown postgres:postgres "$tmp/serverlog"
cat > "$src/sanitize.conf" <<EOF
jit = off
logging_collector = on
log_directory = '$tmp/serverlog'
log_filename = 'postgresql.log'
EOF

libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
echo "sanitize: running $ntests regression files ($tests)" >&2
status=0
(cd "$src" && hcl_as_postgres env \
	LD_PRELOAD="$libasan $libubsan" \
	ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$san/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$san/ubsan" \
	"$pg_lib/lib/pgxs/src/test/regress/pg_regress" \
	--inputdir="$src" --outputdir="$src" \
	--bindir="$inst$pg_lib/bin" --dbname=contrib_regression \
	--temp-instance="$src/tmp_check" \
	--temp-config="$src/test/regress.conf" --temp-config="$src/sanitize.conf" \
	--load-extension=pgtap --load-extension=hcledger \
	$tests) 2>&1 | tee "$tmp/regress.log" || status=$?

# --- the verdict ---
files_ok=$(grep -cE '^(test )? *[a-z0-9_]+ +\.\.\. ok ' "$tmp/regress.log" || true)
files_bad=$(grep -cE '\.\.\. FAILED' "$tmp/regress.log" || true)
reports=0
for f in "$san"/*; do
	[ -s "$f" ] || continue
	echo "=== sanitizer report $f" >&2
	cat "$f" >&2
	n=$(grep -cE 'ERROR: AddressSanitizer|runtime error:' "$f" || true)
	reports=$((reports + (n > 0 ? n : 1)))
done
# Belt and braces: anything a sanitizer wrote to a server's stderr.
for log in "$tmp/serverlog/postgresql.log" "$src/tmp_check/log/postmaster.log"; do
	[ -f "$log" ] || continue
	n=$(grep -cE 'AddressSanitizer|runtime error:' "$log" || true)
	if [ "$n" -gt 0 ]; then
		echo "=== sanitizer lines in $log" >&2
		grep -E -B2 -A30 'AddressSanitizer|runtime error:' "$log" >&2 || true
		[ "$reports" -gt 0 ] || reports=$n
	fi
done
if [ "$status" -ne 0 ] && [ -f "$src/regression.diffs" ]; then
	head -n 200 "$src/regression.diffs"
fi
echo "sanitize: $files_ok regression files passed, $files_bad failed, $reports sanitizer reports ($(($(date +%s) - start)) s)"
[ "$status" -eq 0 ] && [ "$files_bad" -eq 0 ] && [ "$reports" -eq 0 ] && [ "$files_ok" -eq "$ntests" ]
