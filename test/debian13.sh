#!/usr/bin/env bash
# Runs every hcledger test on Debian 13 (PostgreSQL 17) from a Debian 12
# machine: a minimal Debian 13 tree made with mmdebstrap from Debian's
# archive, this checkout copied into it, and test/check.sh run inside it
# with chroot (it installs postgresql-17 and the rest there).  The tree is
# removed at the end.  Usage: sudo bash test/debian13.sh [command in the
# tree, default: bash test/check.sh]
set -euo pipefail
HCL_ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${HCL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${HCL_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}

if [ "$(id -u)" -ne 0 ]; then
	echo "hcledger: run this as root (sudo): it makes and enters a chroot" >&2
	exit 1
fi
if ! command -v mmdebstrap >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

tree=$(mktemp -d /var/tmp/hcledger-trixie.XXXXXX)
cleanup() {
	for m in dev/pts dev/shm dev proc sys; do
		mountpoint -q "$tree/$m" 2>/dev/null && umount -l "$tree/$m" || true
	done
	rm -rf --one-file-system "$tree"
}
trap cleanup EXIT

echo "hcledger: making a Debian 13 tree in $tree"
mmdebstrap --quiet --variant=minbase --include=ca-certificates,git trixie "$tree" \
	"deb $MIRROR trixie main" "deb $MIRROR trixie-updates main" "deb $SECURITY trixie-security main"
# The checkout as CI has it: the committed and working files, no build products.
mkdir "$tree/hcledger"
(cd "$HCL_ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
	tar -xf - -C "$tree/hcledger"
mount -t proc proc "$tree/proc"
mount -t sysfs sys "$tree/sys"
mount --bind /dev "$tree/dev"
mount --bind /dev/pts "$tree/dev/pts"
mount -t tmpfs -o mode=1777 shm "$tree/dev/shm"

cmd=${*:-bash test/check.sh}
echo "hcledger: running '$cmd' on Debian 13"
chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	bash -c "cd /hcledger && $cmd"
