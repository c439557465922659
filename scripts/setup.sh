#!/usr/bin/env bash
# Installs everything tokenflush's build, tests, sandboxes and benchmark need, from Debian's packages.
# Idempotent and quiet: when every package is already there it does nothing and asks no mirror.
set -euo pipefail

packages=(
    mariadb-server mariadb-client galera-4 rsync socat   # the database, and Galera's state transfer
    resource-agents libxml2-utils                        # ocf-tester, ra-api-1.dtd, metadata.rng, xmllint
    pacemaker corosync crmsh pcs                         # the cluster sandbox
    percona-toolkit                                      # pt-archiver, the benchmark's peer
    time python3                                         # the benchmark: /usr/bin/time (peak RSS), report.py
    python3-venv                                         # scripts/openstack-venv.sh: Keystone's own db_sync
    iproute2 util-linux procps psmisc                    # ip netns, unshare/nsenter/setpriv, ps, fuser
    dpkg-dev lintian man-db                              # the .deb and its checks
    tzdata                                               # named zones (America/St_Johns, ...) for the time-zone tests
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/tmp/tokenflush-setup-apt.log 2>&1 || {
        tail -20 /tmp/tokenflush-setup-apt.log >&2
        echo "setup: apt-get install failed" >&2
        exit 1
    }
fi

# Debian's packages start nothing here (no systemd, policy-rc.d), but be sure no stray server
# from the package's postinst is left behind holding the default port or socket.
if command -v cargo >/dev/null 2>&1; then :; else
    echo "setup: cargo is not on PATH; install a Rust toolchain (rustup) first" >&2
    exit 1
fi
