#!/usr/bin/env bash
# The whole pg_regress suite (every sql/*.sql test in the Makefile's REGRESS,
# with pgTAP) against hcledger built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc) and assertions (USE_ASSERT_CHECKING).
# Fails on any test failure or any sanitizer report.
#
# Usage: sudo bash test/sanitize.sh      (or: sudo make sanitize)
#        HCL_SANITIZE_KEEP=1 keeps the temporary directory (build, logs).
#
# Nothing is built in the source tree or installed into the system's
# PostgreSQL: the tree is copied to a temporary directory and built there,
# and PostgreSQL's lib/ and share/ directories are copied into a private
# installation tree ($tmp/inst/usr/...) that the sanitized extension is
# installed into (make install DESTDIR=...).  PostgreSQL finds share/ and
# lib/ relative to its own binary (as in its own temp-install), so the
# copied postgres loads the sanitized hcledger.so and the copied pgtap.
# pg_regress starts its own throwaway server from that tree
# (--temp-instance, a Unix socket in the temporary directory), as the
# unprivileged postgres user.
#
# The server is not instrumented, so the ASan and UBSan runtimes are
# preloaded (LD_PRELOAD) into pg_regress and everything it starts (initdb,
# postgres, psql).  Leak detection is off: PostgreSQL deliberately leaves
# some memory to process exit.  Every report aborts its process (a backend
# then crashes and its test fails).  ASan writes its reports to files, one
# per process, in $tmp/reports; UBSan writes to the process's stderr, which
# for the server is its log.  The run fails if any test fails, or if there
# is any report file or any sanitizer line in the server's log.
#
# Limitation: palloc'd memory comes from large malloc'd blocks, so ASan
# sees overruns of stack, global and malloc'd memory (OpenSSL's, libc's)
# and of a palloc'd chunk only at the edge of its block.  UBSan's checks
# (bounds of arrays of known size, overflow, shifts, alignment, null, ...)
# apply to all of the extension's code.
set -euo pipefail
export HCL_SKIP_BUILD=1
. "$(dirname "$0")/setup.sh"

tmp=$(mktemp -d /tmp/hcledger-sanitize.XXXXXX)
chmod 755 "$tmp"
src=$tmp/src			# the private copy of the tree, built and tested there
inst=$tmp/inst			# the private installation tree
reports=$tmp/reports	# ASan's report files
serverlog=$tmp/serverlog	# the server's log (kept when pg_regress removes its instance)
pg_lib=/usr/lib/postgresql/$HCL_PG_VERSION
pg_share=/usr/share/postgresql/$HCL_PG_VERSION
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
# The system's hcledger JIT bitcode is not this build's (and JIT is off below).
rm -rf "$inst$pg_lib/lib/bitcode/hcledger" "$inst$pg_lib/lib/bitcode/hcledger.index.bc"
if [ ! -f "$inst$pg_share/extension/pgtap.control" ]; then
	echo "sanitize: pgtap is not in $pg_share/extension (package postgresql-$HCL_PG_VERSION-pgtap)" >&2
	exit 1
fi

# --- the sanitized build, in a private copy of the tree ---
# COPT is PGXS's hook for extra flags for both compiling and linking;
# with_llvm=no: no JIT bitcode.  hcledger-verify is built the same way.
cp -a "$HCL_ROOT/." "$src/"
make -C "$src" -s clean
sanflags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
build=(with_llvm=no "COPT=$sanflags" PG_CPPFLAGS=-DUSE_ASSERT_CHECKING)
echo "sanitize: building with $sanflags -DUSE_ASSERT_CHECKING" >&2
make -C "$src" -s "${build[@]}"
make -C "$src" -s "${build[@]}" install DESTDIR="$inst" >/dev/null
if ! ldd "$inst$pg_lib/lib/hcledger.so" | grep libasan >/dev/null; then
	echo "sanitize: $inst$pg_lib/lib/hcledger.so is not linked with ASan" >&2
	exit 1
fi

# --- the sanitizer runtimes, preloaded ---
# A preloaded ASan runtime is initialised by the first call to malloc, not
# first: the constructors of the libraries a program links run before a
# preloaded library's.  libp11-kit's constructor calls newlocale() and
# libgpg-error's bindtextdomain(); both take a glibc locale lock and then
# call malloc, and ASan's initialisation inside that calls dlerror() ->
# dcgettext(), which takes the same lock: the lock is left corrupted and
# psql, initdb and postgres hang.  This shim, preloaded right after ASan,
# makes these functions call malloc once before taking the lock, so that
# ASan is initialised outside it.
# It also holds UBSan's options: UBSan initialises itself late (in a
# backend, at its first check) and reads UBSAN_OPTIONS from
# /proc/self/environ, which postgres has overwritten with its process
# title by then; __ubsan_default_options is read instead.
ubsan_options="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
cat > "$tmp/sanitizer_shim.c" <<EOF
#define _GNU_SOURCE
#include <dlfcn.h>
#include <locale.h>
#include <stdlib.h>

extern locale_t __newlocale(int, const char *, locale_t);
extern locale_t __duplocale(locale_t);

const char *
__ubsan_default_options(void)
{
	return "$ubsan_options";
}

static void
asan_ready(void)
{
	void	   *volatile p = malloc(1);

	free(p);
}

locale_t
newlocale(int mask, const char *name, locale_t base)
{
	asan_ready();
	return __newlocale(mask, name, base);
}

locale_t
duplocale(locale_t l)
{
	asan_ready();
	return __duplocale(l);
}

char *
bindtextdomain(const char *domain, const char *dir)
{
	asan_ready();
	return ((char *(*) (const char *, const char *)) dlsym(RTLD_NEXT, "bindtextdomain")) (domain, dir);
}

char *
bind_textdomain_codeset(const char *domain, const char *codeset)
{
	asan_ready();
	return ((char *(*) (const char *, const char *)) dlsym(RTLD_NEXT, "bind_textdomain_codeset")) (domain, codeset);
}
EOF
gcc -shared -fPIC -O2 -Wall -Werror -o "$tmp/sanitizer_shim.so" "$tmp/sanitizer_shim.c" -ldl
# ASan first (it checks that it is), the shim before UBSan (whose own
# default __ubsan_default_options it must come before).
preload="$(gcc -print-file-name=libasan.so) $tmp/sanitizer_shim.so $(gcc -print-file-name=libubsan.so)"
# ASan's options are read at start, before postgres overwrites its
# environment.  Its quarantine of freed memory (256 MB by default, to catch
# uses after free) is made small: the leak test expects a backend's
# resident memory to stay flat over a million OpenSSL verifications after
# a warm-up, which a 4 MB quarantine is filled by.
mkdir "$reports" "$serverlog"
chown postgres:postgres "$reports" "$serverlog"
asan_options="detect_leaks=0:abort_on_error=1:quarantine_size_mb=4:log_path=$reports/asan"
if ! LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 timeout 60 "$inst$pg_lib/bin/postgres" -V >/dev/null; then
	echo "sanitize: postgres does not start with the sanitizer runtimes preloaded" >&2
	exit 1
fi

# --- the suite, as postgres, on a server started from the private tree ---
# The tests are the Makefile's own REGRESS list; the keys the server needs
# are made by its regress-key target (test/regress.conf names them relative
# to the data directory, $src/tmp_check/data).
# shellcheck disable=SC2016
tests=$(make -C "$src" -s --no-print-directory --eval='hcl-print-regress: ; @echo $(REGRESS)' hcl-print-regress)
ntests=$(wc -w <<<"$tests")
chown -R postgres:postgres "$src"
hcl_as_postgres make -C "$src" -s regress-key
# No JIT: expressions call the (instrumented) functions themselves.  The
# server's log goes outside the instance, which pg_regress removes when
# every test passed.
cat > "$src/sanitize.conf" <<EOF
jit = off
logging_collector = on
log_directory = '$serverlog'
log_filename = 'postgresql.log'
EOF
echo "sanitize: running $ntests regression files: $tests" >&2
status=0
# shellcheck disable=SC2086
(cd "$src" && hcl_as_postgres env LD_PRELOAD="$preload" ASAN_OPTIONS="$asan_options" \
	"$pg_lib/lib/pgxs/src/test/regress/pg_regress" \
	--inputdir="$src" --outputdir="$src" \
	--bindir="$inst$pg_lib/bin" --dbname=contrib_regression \
	--temp-instance="$src/tmp_check" \
	--temp-config="$src/test/regress.conf" --temp-config="$src/sanitize.conf" \
	--load-extension=pgtap --load-extension=hcledger \
	$tests) 2>&1 | tee "$tmp/regress.log" || status=$?

# --- the verdict ---
# pg_regress lines: "test name ... ok" up to PostgreSQL 15, "ok N - name  T ms" from 16
files_ok=$(grep -cE '^((test )? *[a-z0-9_]+ +\.\.\. ok |ok [0-9]+ +[-+] [a-z0-9_]+ +[0-9]+ ms)' "$tmp/regress.log" || true)
files_bad=$(grep -cE '(\.\.\. FAILED|^not ok [0-9]+ +[-+] [a-z0-9_]+ +[0-9]+ ms)' "$tmp/regress.log" || true)
if [ "$status" -ne 0 ] && [ -f "$src/regression.diffs" ]; then
	head -n 200 "$src/regression.diffs"
fi
nreports=0
for f in "$reports"/*; do
	[ -s "$f" ] || continue
	echo "=== sanitizer report $f" >&2
	cat "$f" >&2
	n=$(grep -c 'ERROR: AddressSanitizer' "$f" || true)
	nreports=$((nreports + (n > 0 ? n : 1)))
done
for log in "$serverlog/postgresql.log" "$src/tmp_check/log/postmaster.log"; do
	[ -f "$log" ] || continue
	n=$(grep -cE 'ERROR: AddressSanitizer|runtime error:' "$log" || true)
	if [ "$n" -gt 0 ]; then
		echo "=== sanitizer reports in $log" >&2
		grep -E -A40 'ERROR: AddressSanitizer|runtime error:' "$log" >&2 || true
		nreports=$((nreports + n))
	fi
done
echo "sanitize: $files_ok regression files passed, $files_bad failed, $nreports sanitizer reports ($(($(date +%s) - start)) s)"
[ "$status" -eq 0 ] && [ "$files_bad" -eq 0 ] && [ "$nreports" -eq 0 ] && [ "$files_ok" -eq "$ntests" ]
