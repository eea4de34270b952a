#!/usr/bin/env bash
# Installs what hcledger needs on Debian 12 or 13, then builds and installs it.
# Run as root (it uses apt-get and installs into PostgreSQL's directories).
# Sourced by test/check.sh, test/demo.sh and bench/run.sh.
set -euo pipefail

HCL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The PostgreSQL major version and the clang whose sanitizer runtime the
# checks use: Debian 12 ships 15 and clang 14, Debian 13 ships 17 and clang
# 19.  HCL_PG_VERSION overrides the version.
case "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" in
	trixie) HCL_PG_VERSION=${HCL_PG_VERSION:-17} HCL_CLANG_VERSION=19 ;;
	*) HCL_PG_VERSION=${HCL_PG_VERSION:-15} HCL_CLANG_VERSION=14 ;;
esac
export HCL_PG_VERSION
HCL_PG_BIN=/usr/lib/postgresql/$HCL_PG_VERSION/bin
export PG_CONFIG=$HCL_PG_BIN/pg_config

hcl_need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "hcledger: run this as root (sudo): it installs packages and the extension" >&2
		exit 1
	fi
}

# Debian packages: the build, the server, the test tools.
hcl_install_packages() {
	local v=$HCL_PG_VERSION
	# HCL_FROM_PACKAGE=1: hcledger comes from its Debian package, already
	# installed (test/deb.sh); the demo needs only openssl besides.
	if [ "${HCL_FROM_PACKAGE:-0}" = 1 ]; then
		dpkg-query -W -f='${Status}' "postgresql-$v-hcledger" 2>/dev/null | grep -q "install ok installed" ||
			{ echo "hcledger: package postgresql-$v-hcledger is not installed" >&2; exit 1; }
		dpkg-query -W -f='${Status}' openssl 2>/dev/null | grep -q "install ok installed" ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null; }
		return
	fi
	local pkgs="make gcc postgresql-$v postgresql-server-dev-$v postgresql-$v-pgtap
	            libssl-dev libkrb5-dev openssl libipc-run-perl perl
	            clang libclang-rt-$HCL_CLANG_VERSION-dev valgrind
	            golang-go golang-golang-x-mod-dev"
	local missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	# Node.js and npm run sm-crypto, the independent SM2/SM3 implementation
	# (test/t/022_sm2_interop.pl); a machine may have them from elsewhere
	command -v node >/dev/null || missing="$missing nodejs"
	command -v npm >/dev/null || missing="$missing npm"
	if [ -n "$missing" ]; then
		echo "hcledger: installing$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
	fi
}

hcl_build_and_install() {
	make -C "$HCL_ROOT" -s
	make -C "$HCL_ROOT" -s install >/dev/null
}

# A copy of the tree that the unprivileged user running PostgreSQL can
# write to (PostgreSQL refuses to run as root).  Prints its path.
hcl_user_copy() {
	local dir
	dir=$(mktemp -d /tmp/hcledger.XXXXXX)
	cp -a "$HCL_ROOT/." "$dir/"
	chown -R postgres:postgres "$dir"
	echo "$dir"
}

# From the current directory if postgres may enter it (some callers use
# relative paths there), else from / (root's home: initdb and pg_ctl would
# warn "could not change directory").
hcl_as_postgres() {
	if runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
		runuser -u postgres -- "$@"
	else
		(cd / && runuser -u postgres -- "$@")
	fi
}

# A throwaway server in a fresh directory owned by postgres, reachable only
# through a Unix socket in that directory (no TCP port, so no clash with
# any other server).  Sets PGHOST and friends for psql.
hcl_start_server() {
	local dir=$1
	shift
	chown postgres:postgres "$dir"
	hcl_as_postgres "$HCL_PG_BIN/initdb" -D "$dir/data" -U postgres -A trust \
		-E UTF8 --locale=C.UTF-8 >/dev/null
	hcl_as_postgres "$HCL_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
		-o "-c listen_addresses='' -k $dir -p 5432 $*" start >/dev/null
	export PGHOST=$dir PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
}

hcl_stop_server() {
	hcl_as_postgres "$HCL_PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null || true
}

hcl_need_root
hcl_install_packages
# HCL_SKIP_BUILD=1: the packages only (scripts that build a variant of their own)
[ "${HCL_SKIP_BUILD:-0}" = 1 ] || [ "${HCL_FROM_PACKAGE:-0}" = 1 ] || hcl_build_and_install
