#!/usr/bin/env bash
# End-to-end checks of what an operator installs and sees, against real tools (scripts/test.sh runs
# every tests/*/e2e.sh and reads the last "N passed, M failed" line):
#
#   1. the TLS build: `cargo build --features tls` compiles (rustls + ring), in its own target dir;
#   2. the Debian package from scripts/package.sh: lintian reports no error, it depends on libc only,
#      and installed with `dpkg --root` into a throwaway root it has the binary, the agent symlink,
#      a man page that renders and the README; `ocf-tester` passes against the *installed* agent and
#      a live MariaDB; `dpkg -r` removes every file again. The real /usr/lib/ocf (where the cluster
#      tests may have installed the agent) is never touched: the test compares it before and after;
#   3. node attributes: in the Pacemaker sandbox (scripts/pacemaker-sandbox.sh), the agent run with
#      node_attributes=true publishes <instance>-backlog and <instance>-last-success with
#      attrd_updater (visible in `crm_mon -A`), and stop deletes them. The sandbox refuses to start
#      beside another cluster, so this waits for one to finish (up to 10 minutes).
#
# Needs root. Leaves nothing behind: temp dirs, the MariaDB sandbox and the cluster sandbox are removed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# shellcheck source=tests/lib/report.sh
. "$ROOT/tests/lib/report.sh"

[ "$(id -u)" = 0 ] || { echo "tests/ops/e2e.sh must run as root"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/tokenflush-ops-e2e.XXXXXX)
chmod 755 "$T"
DB=$T/db
PKROOT=$T/root
CLUSTER_STARTED=0
cleanup() {
    set +e
    [ "$CLUSTER_STARTED" = 1 ] && bash scripts/pacemaker-sandbox.sh stop >/dev/null 2>&1
    [ -f "$DB/pid" ] && bash scripts/mariadb-sandbox.sh stop "$DB" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fingerprint of the real agent directory: what the cluster tests may have installed there.
real_ocf() { ls -la --time-style=full-iso /usr/lib/ocf/resource.d/openstack/ 2>/dev/null; sha256sum /usr/sbin/tokenflush 2>/dev/null; }
REAL_BEFORE=$(real_ocf)
CLUSTER_BESIDE=0
if pgrep -x corosync >/dev/null || pgrep -x pacemakerd >/dev/null; then CLUSTER_BESIDE=1; fi

section "TLS build"
if CARGO_TARGET_DIR=$ROOT/target/tls cargo build --locked --quiet --features tls >"$T/tls.log" 2>&1; then
    pass "cargo build --features tls compiles (rustls + ring)"
else
    fail "cargo build --features tls compiles"; tail -20 "$T/tls.log"
fi

section "Debian package"
DEB=$(bash scripts/package.sh 2>"$T/package.log" | tail -1)
if [ -f "$DEB" ]; then
    pass "scripts/package.sh builds $(basename "$DEB") and lintian reports no error"
else
    fail "scripts/package.sh builds the package (lintian clean of errors)"; tail -30 "$T/package.log"
    summary; exit 1
fi
grep -E '^[EW]: ' "$T/package.log" | sed 's/^/         lintian: /'
depends=$(dpkg-deb -f "$DEB" Depends)
note "Depends: $depends"
check "it depends on nothing beyond libc (libc6, and libgcc-s1 which libc6 depends on)" \
    test -z "$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//' | grep -vxE 'libc6|libgcc-s1')"

mkdir -p "$PKROOT/var/lib/dpkg/info" "$PKROOT/var/lib/dpkg/updates" "$PKROOT/var/lib/dpkg/triggers" "$PKROOT/var/log"
touch "$PKROOT/var/lib/dpkg/status"
chmod 755 "$PKROOT"
# dpkg runs in a private mount namespace where the real /usr is read-only: were it to write outside
# the throwaway root (over an agent the cluster tests installed, say), it would fail instead.
# --force-depends: the throwaway root has no libc6 package; the host's libc runs the binary.
dpkg_ro() {
    unshare --mount --propagation private bash -c \
        'mount --bind /usr /usr && mount -o remount,bind,ro /usr && exec "$@"' dpkg_ro \
        dpkg --root="$PKROOT" --log="$PKROOT/var/log/dpkg.log" "$@" >>"$T/dpkg.log" 2>&1
}
check "dpkg --root installs it (with the real /usr read-only)" dpkg_ro --force-depends -i "$DEB"
AGENT=$PKROOT/usr/lib/ocf/resource.d/openstack/tokenflush
check "/usr/sbin/tokenflush is installed, mode 755" test "$(stat -c %a "$PKROOT/usr/sbin/tokenflush")" = 755
check "the agent is a symlink to the binary" \
    test "$(readlink -f "$AGENT")" = "$(readlink -f "$PKROOT/usr/sbin/tokenflush")"
check "user nobody can run the installed agent's meta-data" su nobody -s /bin/sh -c "$AGENT meta-data >/dev/null"
check "the README is in /usr/share/doc/tokenflush" test -s "$PKROOT/usr/share/doc/tokenflush/README.md"
man_text=$(MANWIDTH=100 man -l "$PKROOT/usr/share/man/man8/tokenflush.8.gz" 2>"$T/man.err")
check "man tokenflush renders, and documents target and status" \
    grep -q "tokenflush status" <<<"$man_text"
check "man rendered without warnings" test ! -s "$T/man.err"
check "the installed binary needs only libc (ldd)" \
    test -z "$(ldd "$PKROOT/usr/sbin/tokenflush" | awk '{print $1}' | grep -vE '^(linux-vdso|libc\.so|libm\.so|libgcc_s\.so|/lib64/ld-linux)')"

port=$(bash scripts/mariadb-sandbox.sh start "$DB" | awk '{print $2}')
bash scripts/mariadb-sandbox.sh schema "$DB" keystone >/dev/null
mariadb --no-defaults --socket="$DB/sock" -uroot keystone -e \
    "INSERT INTO token (id, expires, valid) SELECT SHA2(seq, 256), UTC_TIMESTAMP() - INTERVAL 1 DAY, 1 FROM seq_1_to_200"
mkdir -p "$T/state"
if ocf-tester -n p_pkg_tokenflush -o "connection=mysql://root@127.0.0.1:$port/keystone" \
    -o "state_dir=$T/state" "$AGENT" >"$T/ocf-tester.log" 2>&1 && grep -q "passed all tests" "$T/ocf-tester.log"; then
    pass "ocf-tester passes against the installed agent"
else
    fail "ocf-tester passes against the installed agent"; cat "$T/ocf-tester.log"
fi
left=$(mariadb --no-defaults --socket="$DB/sock" -uroot -N keystone -e "SELECT COUNT(*) FROM token")
check "the installed agent flushed the expired rows (left: $left)" test "$left" = 0

check "dpkg -r removes it (with the real /usr read-only)" dpkg_ro -r tokenflush
check "no file of the package is left" test -z "$(find "$PKROOT/usr" -type f -o -type l 2>/dev/null)"
check "dpkg no longer lists it" bash -c "! dpkg --root='$PKROOT' -s tokenflush >/dev/null 2>&1"
if [ "$(real_ocf)" = "$REAL_BEFORE" ]; then
    pass "the real /usr/lib/ocf and /usr/sbin/tokenflush are exactly as before"
elif [ "$CLUSTER_BESIDE" = 1 ] || pgrep -x corosync >/dev/null || pgrep -x pacemakerd >/dev/null; then
    note "the real /usr/lib/ocf changed while another cluster test ran beside this one (not this test: dpkg saw it read-only)"
else
    fail "the real /usr/lib/ocf and /usr/sbin/tokenflush are exactly as before"
fi

section "node attributes in the Pacemaker sandbox"
waited=0
while pgrep -x corosync >/dev/null || pgrep -x pacemakerd >/dev/null; do
    [ "$waited" = 0 ] && note "another cluster is running here; waiting for it to finish"
    [ "$waited" -ge 600 ] && break
    sleep 10; waited=$((waited + 10))
done
if pgrep -x corosync >/dev/null || pgrep -x pacemakerd >/dev/null; then
    fail "the Pacemaker sandbox is free (another cluster ran for 10 minutes)"
elif ! bash scripts/pacemaker-sandbox.sh start >"$T/sandbox.log" 2>&1; then
    fail "scripts/pacemaker-sandbox.sh start"; tail -20 "$T/sandbox.log"
else
    CLUSTER_STARTED=1
    BIN=$ROOT/target/release/tokenflush
    mariadb --no-defaults --socket="$DB/sock" -uroot keystone -e \
        "INSERT INTO token (id, expires, valid) SELECT SHA2(CONCAT('n', seq), 256), UTC_TIMESTAMP() - INTERVAL 1 DAY, 1 FROM seq_1_to_300"
    run_agent() {
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCF_RESOURCE_INSTANCE=p_attr OCF_RESKEY_CRM_meta_interval=10000 \
            OCF_RESKEY_CRM_meta_timeout=20000 OCF_RESKEY_connection="mysql://root@127.0.0.1:$port/keystone" \
            OCF_RESKEY_state_dir="$T/state" OCF_RESKEY_node_attributes=true "$BIN" "$1"
    }
    attr() { attrd_updater -Q -n "$1" 2>/dev/null | sed -n 's/.*value="\([^"]*\)".*/\1/p'; }
    run_agent start 2>>"$T/agent.log"
    run_agent monitor 2>>"$T/agent.log"
    sleep 1
    check "p_attr-backlog is published (value: $(attr p_attr-backlog))" test "$(attr p_attr-backlog)" = 0
    last=$(attr p_attr-last-success)
    check "p_attr-last-success is a recent Unix time ($last)" \
        test -n "$last" -a "${last:-0}" -ge $(($(date +%s) - 120))
    check "crm_mon -A shows them" bash -c "crm_mon -1 -A 2>/dev/null | grep -q 'p_attr-backlog'"
    run_agent stop 2>>"$T/agent.log"
    sleep 1
    check "stop deletes them" test -z "$(attr p_attr-backlog)$(attr p_attr-last-success)"
fi

echo
summary
