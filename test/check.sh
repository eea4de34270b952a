#!/usr/bin/env bash
# Runs every hcledger test on a fresh Debian 12 machine: installs what is
# needed, builds (with assertions), installs, then runs the regression suite
# (pg_regress with pgTAP) on a throwaway server that pg_regress starts
# itself, and the TAP tests on servers they start, as the unprivileged
# postgres user.  Usage: sudo bash test/check.sh
set -eo pipefail
. "$(dirname "$0")/setup.sh"

# The tests run against a build with assertions enabled (USE_ASSERT_CHECKING,
# as pgvector's CI does); the normal build is installed again at the end.
make -C "$HCL_ROOT" -s clean
make -C "$HCL_ROOT" -s PG_CPPFLAGS=-DUSE_ASSERT_CHECKING
make -C "$HCL_ROOT" -s install >/dev/null
work=$(hcl_user_copy)
trap 'rm -rf "$work"; make -C "$HCL_ROOT" -s clean; hcl_build_and_install' EXIT

status=0
hcl_as_postgres make -C "$work" -s installcheck 2>&1 | tee "$work/check.log" || status=$?

# The production checks (README, "Testing"): every fuzz harness over its
# seeds and kept crashers, the regression suite under ASan and UBSan, and
# the offline verifier under valgrind.  Each counts as one test.
checks_ok=0
checks_bad=0
# Then the packaging: the Debian package on a fresh tree, the PGXN archive,
# and (from Debian 12) every test again on Debian 13 with PostgreSQL 17, in
# a chroot whose test/check.sh checks its own package in place.
# HCL_CHECK_PACKAGING=0 leaves these out (a quick run while developing).
checks=("test/fuzz/run.sh --regress" test/sanitize.sh test/valgrind.sh)
if [ "${HCL_CHECK_PACKAGING:-1}" = 1 ]; then
	if [ "$HCL_PG_VERSION" = 15 ]; then
		checks+=(test/deb.sh test/dist.sh test/debian13.sh)
	else
		checks+=("env HCL_DEB_IN_PLACE=1 bash test/deb.sh" test/dist.sh)
	fi
fi
for check in "${checks[@]}"; do
	name=${check##*/}
	log=$work/check-${name%%[ .]*}.log
	case $check in env*) cmd=$check ;; *) cmd="bash $check" ;; esac
	if (cd "$HCL_ROOT" && $cmd) >"$log" 2>&1; then
		checks_ok=$((checks_ok + 1))
		tail -1 "$log"
	else
		checks_bad=$((checks_bad + 1))
		tail -40 "$log"
		echo "$check FAILED"
	fi
done

# pgTAP assertions and pg_regress files, counted from the outputs.
tap_ok=$(cat "$work"/results/*.out 2>/dev/null | grep -cE '^ ok [0-9]+' || true)
tap_bad=$(cat "$work"/results/*.out 2>/dev/null | grep -cE '^ not ok [0-9]+' || true)
# pg_regress lines: "test name ... ok" up to PostgreSQL 15, "ok N - name  T ms" from 16
files_ok=$(grep -cE '^((test )? *[a-z0-9_]+ +\.\.\. ok |ok [0-9]+ +[-+] [a-z0-9_]+ +[0-9]+ ms)' "$work/check.log" || true)
files_bad=$(grep -cE '(\.\.\. FAILED|^not ok [0-9]+ +[-+] [a-z0-9_]+ +[0-9]+ ms)' "$work/check.log" || true)
tap_files=$(grep -cE '^test/t/[^ ]+\.pl \.+' "$work/check.log" || true)
tap_files_ok=$(grep -cE '^test/t/[^ ]+\.pl \.+ ok$' "$work/check.log" || true)
if [ "$status" -ne 0 ] && [ -f "$work/regression.diffs" ]; then
	cat "$work/regression.diffs"
fi
# Every suite must have run: a file that never ran is a failure, not a pass.
files_all=$(ls "$HCL_ROOT"/sql/*.sql | grep -vc '/hcledger[^/]*\.sql$' || true)
tap_all=$(ls "$HCL_ROOT"/test/t/*.pl | wc -l)
files_missing=$((files_all - files_ok - files_bad))
tap_missing=$((tap_all - tap_files))
[ "$files_missing" -ge 0 ] || files_missing=0
[ "$tap_missing" -ge 0 ] || tap_missing=0
echo "pgtap assertions: $tap_ok passed, $tap_bad failed"
echo "regression files: $files_ok passed, $files_bad failed, $files_missing did not run (of $files_all);" \
     "TAP files: $tap_files_ok passed, $((tap_files - tap_files_ok)) failed, $tap_missing did not run (of $tap_all)"
echo "production checks (fuzz regressions, sanitizers, valgrind, packaging): $checks_ok passed, $checks_bad failed"
passed=$((files_ok + tap_files_ok + checks_ok))
failed=$((files_bad + files_missing + tap_files - tap_files_ok + tap_missing + checks_bad))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1	# make failed before any test ran
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
