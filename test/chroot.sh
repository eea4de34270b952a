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

# hcl_tree_make VAR SUITE [mmdebstrap options]: makes a tree, its path in
# VAR (registered for hcl_tree_cleanup before anything is put in it).
hcl_tree_make() {
	local hcl_var=$1 hcl_suite=$2 hcl_dir
	shift 2
	if ! command -v mmdebstrap >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
	fi
	hcl_dir=$(mktemp -d "/var/tmp/hcledger-$hcl_suite.XXXXXX")
	hcl_trees+=("$hcl_dir")
	printf -v "$hcl_var" '%s' "$hcl_dir"
	mmdebstrap --quiet --variant=minbase "$@" "$hcl_suite" "$hcl_dir" \
		"deb $HCL_MIRROR $hcl_suite main" "deb $HCL_MIRROR $hcl_suite-updates main" \
		"deb $HCL_SECURITY $hcl_suite-security main" >&2 || return 1
	mount -t proc proc "$hcl_dir/proc" || return 1
	mount -t sysfs sys "$hcl_dir/sys" || return 1
	mount --bind /dev "$hcl_dir/dev" || return 1
	# its own mounts must not reach the host's /dev (a shared mount on
	# systemd machines: a tmpfs on dev/shm would cover the host's)
	mount --make-rslave "$hcl_dir/dev" || return 1
	mount --bind /dev/pts "$hcl_dir/dev/pts" || return 1
	mount -t tmpfs -o mode=1777 shm "$hcl_dir/dev/shm" || return 1
}

# hcl_tree_trust_host TREE: the tree trusts what this machine trusts: its
# local certificate authorities (a network that inspects TLS adds one) and
# its npm settings, for the tests that fetch from the npm registry.  Needs
# ca-certificates in the tree.
hcl_tree_trust_host() {
	local f
	for f in /usr/local/share/ca-certificates/*.crt; do
		[ -f "$f" ] && cp "$f" "$1/usr/local/share/ca-certificates/"
	done
	[ -f /etc/npmrc ] && cp /etc/npmrc "$1/etc/npmrc"
	hcl_tree_run "$1" 'update-ca-certificates >/dev/null'
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
