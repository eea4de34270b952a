#!/usr/bin/env bash
# The Debian package, built and used as a user would: builds
# postgresql-NN-hcledger with PostgreSQL's own packaging (debian/,
# pg_buildext) on this machine, makes a fresh minimal tree of this Debian
# release with mmdebstrap, installs the package there with
# `apt-get install ./postgresql-NN-hcledger_*.deb` (which pulls in the
# server), and runs the demo against it: CREATE EXTENSION from the package,
# hcledger-verify from the PATH.  The .deb files are left in
# ${HCL_DEB_OUT:-/var/tmp/hcledger-deb}.  Usage: sudo bash test/deb.sh
set -euo pipefail
HCL_ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${HCL_DEB_OUT:-/var/tmp/hcledger-deb}
. "$HCL_ROOT/test/chroot.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "hcledger: run this as root (sudo): it installs the build tools and makes a chroot" >&2
	exit 1
fi
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
export DEBIAN_FRONTEND=noninteractive
need=""
for p in build-essential dpkg-dev debhelper fakeroot postgresql-server-dev-all libssl-dev libkrb5-dev git; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# Build from the checkout's files (no build products), out of the tree.
work=$(mktemp -d /var/tmp/hcledger-debbuild.XXXXXX)
trap 'hcl_tree_cleanup; rm -rf "$work"' EXIT
hcl_checkout_copy "$work/hcledger"
echo "hcledger: building the package on Debian $suite"
(cd "$work/hcledger" && pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
	{ tail -40 "$work/build.log"; echo "hcledger: the package build failed" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
cp "$work"/postgresql-*-hcledger_*.deb "$OUT/"
ls "$OUT"
pkg=$(ls "$OUT"/postgresql-*-hcledger_*.deb | grep -v dbgsym | head -1)
contents=$(dpkg-deb -c "$pkg")
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$HCL_ROOT/hcledger.control")
for f in lib/hcledger.so bin/hcledger-verify bin/hcledger-export-tiles; do
	grep -q "/usr/lib/postgresql/[0-9]*/$f\$" <<<"$contents" ||
		{ echo "hcledger: the package lacks $f" >&2; exit 1; }
done
for f in hcledger.control "hcledger--$version.sql" hcledger--0.2.0--0.3.0.sql; do
	grep -q "/usr/share/postgresql/[0-9]*/extension/$f\$" <<<"$contents" ||
		{ echo "hcledger: the package lacks extension/$f" >&2; exit 1; }
done
echo "hcledger: the package holds the library, the scripts and both programs"

# HCL_DEB_IN_PLACE=1 (in test/debian13.sh's chroot, which cannot make a
# tree of its own): the package installed here, over the build's files.
if [ "${HCL_DEB_IN_PLACE:-0}" = 1 ]; then
	apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
	echo "installed: $(dpkg-query -W -f='${Package} ${Version}' "$(dpkg-deb -f "$pkg" Package)")"
	command -v hcledger-verify >/dev/null && command -v hcledger-export-tiles >/dev/null ||
		{ echo "hcledger: the programs are not on the PATH" >&2; exit 1; }
	echo "on the PATH: $(command -v hcledger-verify) $(command -v hcledger-export-tiles)"
	(cd "$HCL_ROOT" && HCL_FROM_PACKAGE=1 bash test/demo.sh)
	echo "hcledger: the package installs on Debian $suite and the demo runs from it"
	exit 0
fi

# A fresh tree, the package installed with apt, the demo run from it.
echo "hcledger: a fresh Debian $suite tree"
hcl_tree_make tree "$suite"
cp "$OUT"/postgresql-*-hcledger_*.deb "$tree/tmp/"
mkdir "$tree/hcledger"
(cd "$HCL_ROOT" && tar -cf - test/setup.sh test/demo.sh test/demo.sql test/demo_codes.sql test/demo_consortium.sql) |
	tar -xf - -C "$tree/hcledger"
hcl_tree_run "$tree" 'set -e
	apt-get update -qq
	pkg=$(ls /tmp/postgresql-*-hcledger_*.deb | grep -v dbgsym | head -1)
	apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
	echo "installed: $(dpkg-query -W -f="\${Package} \${Version}" "$(dpkg-deb -f "$pkg" Package)")"
	command -v hcledger-verify >/dev/null || exit 1
	command -v hcledger-export-tiles >/dev/null || exit 1
	echo "on the PATH: $(command -v hcledger-verify) $(command -v hcledger-export-tiles)"
	cd /hcledger && HCL_FROM_PACKAGE=1 bash test/demo.sh'
echo "hcledger: the package installs on a fresh Debian $suite tree and the demo runs from it"
