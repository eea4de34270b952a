#!/usr/bin/env bash
# Runs every hcledger test on Debian 13 (PostgreSQL 17) from a Debian 12
# machine: a minimal Debian 13 tree made with mmdebstrap from Debian's
# archive, this checkout copied into it, and test/check.sh run inside it
# with chroot (it installs postgresql-17 and the rest there).  The tree is
# removed at the end.  Usage: sudo bash test/debian13.sh [command in the
# tree, default: bash test/check.sh]
set -euo pipefail
HCL_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$HCL_ROOT/test/chroot.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "hcledger: run this as root (sudo): it makes and enters a chroot" >&2
	exit 1
fi
trap hcl_tree_cleanup EXIT

echo "hcledger: making a Debian 13 tree"
hcl_tree_make tree trixie --include=ca-certificates,git
hcl_tree_trust_host "$tree"
hcl_checkout_copy "$tree/hcledger"
# a git checkout there too (test/deb.sh and test/dist.sh read it with git)
hcl_tree_run "$tree" 'cd /hcledger && git init -q && git add -A &&
	git -c user.name=hcledger -c user.email=ci@hcledger.invalid commit -qm "the checkout under test"'
cmd=${*:-bash test/check.sh}
echo "hcledger: running '$cmd' on Debian 13 in $tree"
hcl_tree_run "$tree" "cd /hcledger && $cmd"
