#!/usr/bin/env bash
# Installs tokenflush so that Pacemaker sees it as ocf:openstack:tokenflush.
#
#   scripts/install.sh [PREFIX]     # PREFIX defaults to empty, i.e. the live system (needs root)
#   scripts/install.sh --uninstall [PREFIX]
#
# Lays out:
#   PREFIX/usr/sbin/tokenflush                              the release binary, mode 755
#   PREFIX/usr/lib/ocf/resource.d/openstack/tokenflush      symlink to ../../../../sbin/tokenflush
#
# The agent path is a relative symlink, so it stays right inside a PREFIX (a package staging tree) and
# there is one binary to upgrade. Pacemaker, ocf-tester and `su nobody` all follow it; what matters is
# that the binary and every directory above it are readable and executable by everyone, because
# Pacemaker runs meta-data as an unprivileged user (ocf-tester checks this as user nobody).
#
# The binary comes from target/release/tokenflush. When cargo is on PATH the script runs
# `cargo build --release` first (a no-op when the binary is current), so a stale build is never installed;
# set TOKENFLUSH_NO_BUILD=1 to install whatever target/release/tokenflush holds.
set -euo pipefail

die() { echo "install: $*" >&2; exit 1; }

uninstall=0
if [ "${1:-}" = --uninstall ]; then uninstall=1; shift; fi
prefix=${1:-}
prefix=${prefix%/}

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/tokenflush
sbin=$prefix/usr/sbin
ocfdir=$prefix/usr/lib/ocf/resource.d/openstack

if [ "$uninstall" = 1 ]; then
    rm -f "$ocfdir/tokenflush" "$sbin/tokenflush"
    rmdir "$ocfdir" 2>/dev/null || true     # only when no other openstack agent lives there
    echo "install: removed $sbin/tokenflush and $ocfdir/tokenflush" >&2
    exit 0
fi

if [ "${TOKENFLUSH_NO_BUILD:-0}" != 1 ] && command -v cargo >/dev/null 2>&1; then
    (cd "$root" && cargo build --release --quiet) || die "cargo build --release failed"
fi
[ -x "$bin" ] || die "$bin is missing; run 'cargo build --release' (needs a Rust toolchain)"

# Directories that do not exist yet get 755; existing ones are left as they are.
install -d -m 755 "$sbin" "$ocfdir"
# install(1) writes a new file and renames it into place, so a running monitor keeps its old binary.
install -m 755 "$bin" "$sbin/tokenflush"
ln -sfn ../../../../sbin/tokenflush "$ocfdir/tokenflush"

# Check what Pacemaker needs: the agent resolves to the binary, and nobody can read and run it.
[ "$(readlink -f "$ocfdir/tokenflush")" = "$(readlink -f "$sbin/tokenflush")" ] ||
    die "$ocfdir/tokenflush does not resolve to $sbin/tokenflush"
if [ -z "$prefix" ] && [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    su nobody -s /bin/sh -c "$ocfdir/tokenflush meta-data >/dev/null" ||
        die "user nobody cannot run $ocfdir/tokenflush meta-data (check the modes of its directories)"
fi
echo "install: $sbin/tokenflush and $ocfdir/tokenflush (ocf:openstack:tokenflush)" >&2
