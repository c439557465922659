#!/usr/bin/env bash
# Builds the Debian package target/debian/tokenflush_<version>_<arch>.deb.
#
#   scripts/package.sh            # build, then check it with lintian (errors fail the build)
#   TOKENFLUSH_NO_LINTIAN=1 scripts/package.sh
#
# Why dpkg-deb and not cargo-deb: dpkg-deb ships with dpkg on every Debian machine, so packaging needs
# no extra tool fetched and built from crates.io, and the few files a .deb needs (control, md5sums,
# copyright, changelog) are plain text written below. The dependencies are computed, not guessed:
# dpkg-shlibdeps reads the binary's ELF NEEDED entries, and the script fails if they name anything but
# libc6 and libgcc-s1 (which libc6 itself depends on, Priority required: no new package comes in).
#
# The package installs:
#   /usr/sbin/tokenflush                                  the binary (stripped release build)
#   /usr/lib/ocf/resource.d/openstack/tokenflush          -> ../../../../sbin/tokenflush (ocf:openstack:tokenflush)
#   /usr/share/man/man8/tokenflush.8.gz                   generated from clap and the parameter table
#   /usr/share/doc/tokenflush/{README.md,operations.md,copyright,changelog.gz}
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
die() { echo "package: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install dpkg-dev)"
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
out=$root/target/debian
stage=$(mktemp -d /tmp/tokenflush-pkg.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/tokenflush

cargo build --release --locked --quiet
cargo run --locked --quiet --example docs -- man >"$stage/tokenflush.8"

install -d -m 755 "$pkg/DEBIAN" "$pkg/usr/sbin" "$pkg/usr/lib/ocf/resource.d/openstack" \
    "$pkg/usr/share/man/man8" "$pkg/usr/share/doc/tokenflush"
install -m 755 target/release/tokenflush "$pkg/usr/sbin/tokenflush"
ln -s ../../../../sbin/tokenflush "$pkg/usr/lib/ocf/resource.d/openstack/tokenflush"
gzip -9n <"$stage/tokenflush.8" >"$pkg/usr/share/man/man8/tokenflush.8.gz"
install -m 644 README.md "$pkg/usr/share/doc/tokenflush/README.md"
[ -f docs/operations.md ] && install -m 644 docs/operations.md "$pkg/usr/share/doc/tokenflush/operations.md"
cat >"$pkg/usr/share/doc/tokenflush/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tokenflush

Files: *
Copyright: 2026 tokenflush authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
EOF
cat <<EOF | gzip -9n >"$pkg/usr/share/doc/tokenflush/changelog.gz"
tokenflush ($version) unstable; urgency=medium

  * Release $version: an OCF resource agent and a one-shot command that
    flush expired rows from Keystone's token and trust tables (or any
    expiring table) in small committed chunks.

 -- tokenflush maintainers <tokenflush@example.net>  $(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
EOF
chmod 644 "$pkg/usr/share/doc/tokenflush/"*

# Dependencies from the binary itself.
mkdir -p "$stage/shlibs/debian"
printf 'Source: tokenflush\n\nPackage: tokenflush\nArchitecture: any\n' >"$stage/shlibs/debian/control"
depends=$(cd "$stage/shlibs" && dpkg-shlibdeps -O "$pkg/usr/sbin/tokenflush" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"
extra=$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//' | grep -vxE 'libc6|libgcc-s1' || true)
[ -z "$extra" ] || die "the binary needs more than libc: $extra"

installed_size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: tokenflush
Version: $version
Architecture: $arch
Maintainer: tokenflush maintainers <tokenflush@example.net>
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Description: Pacemaker resource agent flushing expired Keystone tokens
 tokenflush deletes expired rows from OpenStack Keystone's SQL token table
 (and its trust table, or any table of expiring rows) in small chunks that
 each commit on their own, so that no transaction grows with the backlog
 and Galera write-set limits are never hit.
 .
 It runs as the Pacemaker resource ocf:openstack:tokenflush, active on one
 node, flushing from its monitor within a time budget, and as a one-shot
 command (tokenflush flush) with a progress bar. tokenflush status shows
 what it did; optional Prometheus metrics and node attributes expose it to
 monitoring.
EOF
(cd "$pkg" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/tokenflush_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "package: $deb (Depends: $depends)" >&2

if [ "${TOKENFLUSH_NO_LINTIAN:-0}" != 1 ]; then
    command -v lintian >/dev/null || die "lintian is missing (scripts/setup.sh installs it)"
    # Errors fail the build; warnings and notes are shown.
    lintian --tag-display-limit 0 "$deb" >&2 || die "lintian reported errors"
fi
echo "$deb"
