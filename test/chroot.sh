#!/usr/bin/env bash
# Fresh Debian trees for the packaging checks (test/deb.sh, test/debian13.sh):
# made with mmdebstrap from Debian's archive, with /proc, /sys and /dev
# mounted for a PostgreSQL server to run inside, entered with chroot, and
# removed at the end.  Sourced; run as root.
HCL_MIRROR=${HCL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
HCL_SECURITY=${HCL_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
hcl_trees=()

hcl_tree_cleanup() {
	local tree m
	for tree in "${hcl_trees[@]}"; do
		for m in dev/pts dev/shm dev proc sys; do
			mountpoint -q "$tree/$m" 2>/dev/null && umount -l "$tree/$m" || true
		done
		rm -rf --one-file-system "$tree"
	done
}

# hcl_tree_make SUITE [mmdebstrap options]: prints the new tree's path.
hcl_tree_make() {
	local suite=$1 tree
	shift
	if ! command -v mmdebstrap >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
	fi
	tree=$(mktemp -d "/var/tmp/hcledger-$suite.XXXXXX")
	mmdebstrap --quiet --variant=minbase "$@" "$suite" "$tree" \
		"deb $HCL_MIRROR $suite main" "deb $HCL_MIRROR $suite-updates main" \
		"deb $HCL_SECURITY $suite-security main" >&2
	mount -t proc proc "$tree/proc"
	mount -t sysfs sys "$tree/sys"
	mount --bind /dev "$tree/dev"
	mount --bind /dev/pts "$tree/dev/pts"
	mount -t tmpfs -o mode=1777 shm "$tree/dev/shm"
	echo "$tree"
}

# hcl_tree_run TREE COMMAND: runs the shell command inside, as root, with a
# clean environment.
hcl_tree_run() {
	chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive bash -c "$2"
}

# hcl_checkout_copy DIR: the checkout as CI has it (the committed and
# working files, no build products) copied into DIR.
hcl_checkout_copy() {
	mkdir -p "$1"
	(cd "$HCL_ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
		tar -xf - -C "$1"
}
