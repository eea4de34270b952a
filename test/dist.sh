#!/usr/bin/env bash
# The PGXN release archive: `make dist` makes hcledger-<version>.zip of the
# committed tree; its META.json is checked against the PGXN meta spec 1.0.0
# (the required keys and their forms, the provided extension's file in the
# archive, versions equal to the control file's), and pgxnclient, Debian's
# `pgxn` tool, builds and installs the extension from the archive.
# Usage: sudo bash test/dist.sh
set -euo pipefail
export HCL_SKIP_BUILD=1
. "$(dirname "$0")/setup.sh"
export DEBIAN_FRONTEND=noninteractive
for p in pgxnclient unzip git; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "$p" >/dev/null; }
done

work=$(mktemp -d /tmp/hcledger-dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
git clone -q "$HCL_ROOT" "$work/src"
make -C "$work/src" -s dist >/dev/null
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$HCL_ROOT/hcledger.control")
zip="$work/src/hcledger-$version.zip"
[ -f "$zip" ] || { echo "dist: make dist did not make hcledger-$version.zip" >&2; exit 1; }
unzip -q "$zip" -d "$work/unpacked"

perl -MJSON::PP -e '
	my ($dir, $version) = @ARGV;
	open my $f, "<", "$dir/META.json" or die "dist: no META.json at the top of the archive\n";
	my $m = JSON::PP->new->decode(do { local $/; <$f> });
	my @bad;
	my $semver = qr/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+)?$/;
	for my $k (qw(name abstract maintainer license provides meta-spec version)) { push @bad, "missing $k" unless exists $m->{$k}; }
	push @bad, "name must be a word: $m->{name}" unless ($m->{name} // "") =~ /^[A-Za-z0-9_-]+$/ && $m->{name} !~ /[\/\\\s]/;
	push @bad, "version $m->{version} is not semver" unless ($m->{version} // "") =~ $semver;
	push @bad, "version $m->{version} is not the control file'"'"'s $version" unless ($m->{version} // "") eq $version;
	push @bad, "meta-spec version must be 1.0.0" unless ($m->{"meta-spec"}{version} // "") eq "1.0.0";
	push @bad, "maintainer must be a string or a list" unless ref($m->{maintainer}) eq "ARRAY" || !ref($m->{maintainer});
	my %licenses = map { ($_ => 1) } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql qpl_1_0 ssleay sun zlib restricted open_source unrestricted);
	push @bad, "license $m->{license} is not one the spec names" unless !ref($m->{license}) && $licenses{$m->{license}};
	for my $ext (keys %{ $m->{provides} // {} }) {
		my $p = $m->{provides}{$ext};
		push @bad, "provides $ext: no file" unless defined $p->{file};
		push @bad, "provides $ext: $p->{file} is not in the archive" unless defined $p->{file} && -f "$dir/$p->{file}";
		push @bad, "provides $ext: version $p->{version} is not $version" unless ($p->{version} // "") eq $version;
	}
	push @bad, "release_status must be stable, testing or unstable"
	  if exists $m->{release_status} && $m->{release_status} !~ /^(stable|testing|unstable)$/;
	if (@bad) { print "dist: META.json: $_\n" for @bad; exit 1; }
	print "dist: META.json is valid (PGXN meta spec 1.0.0), version $m->{version}\n";
' "$work/unpacked/hcledger-$version" "$version"

# pgxn's own client builds and installs it from the archive (the installed
# script removed first, so that its presence after says pgxn put it there).
rm -f "$("$PG_CONFIG" --sharedir)/extension/hcledger--$version.sql"
pgxn install --make make --testing --pg_config "$PG_CONFIG" "$zip" >"$work/pgxn.log" 2>&1 ||
	{ tail -30 "$work/pgxn.log"; echo "dist: pgxn install failed" >&2; exit 1; }
[ -f "$("$PG_CONFIG" --sharedir)/extension/hcledger--$version.sql" ] ||
	{ echo "dist: pgxn install did not install hcledger--$version.sql" >&2; exit 1; }
echo "dist: pgxn install builds and installs hcledger $version from hcledger-$version.zip"
