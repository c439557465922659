#!/usr/bin/env bash
# The main job on a throwaway database: installs what is needed, builds tokenflush, starts a
# private MariaDB holding ~100k Keystone tokens (half expired, ~1 KB each), and then drives the
# agent exactly as Pacemaker would: start, monitor (which flushes), stop. It shows the table
# before and after and the agent's recorded state, and removes everything it made.
#
#   scripts/demo.sh [ROWS]      (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
half=$((rows / 2))

bash scripts/setup.sh
echo "==> building tokenflush (release)"
cargo build --release --quiet
bin=$PWD/target/release/tokenflush

work=$(mktemp -d /tmp/tokenflush-demo.XXXXXX)
cleanup() { scripts/mariadb-sandbox.sh stop "$work/db" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

echo "==> starting a throwaway MariaDB in $work/db"
read -r host port _ < <(scripts/mariadb-sandbox.sh start "$work/db" -- --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2)
scripts/mariadb-sandbox.sh schema "$work/db" keystone
sql() { mariadb --no-defaults --socket="$work/db/sock" -uroot keystone "$@"; }

password="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
sql -e "CREATE USER keystone@'%' IDENTIFIED BY '$password'; GRANT ALL ON keystone.* TO keystone@'%';"

echo "==> filling the token table with $rows tokens ($half expired)"
sql -e "INSERT INTO token (id, expires, extra, valid, user_id)
        SELECT SHA2(seq, 256),
               IF(seq % 2 = 0, UTC_TIMESTAMP() - INTERVAL (seq DIV 20) SECOND - INTERVAL 2 MINUTE,
                               UTC_TIMESTAMP() + INTERVAL (seq DIV 20) SECOND + INTERVAL 1 HOUR),
               REPEAT('{\"token\": \"pki\"}', 64), 1, MD5(seq % 97)
        FROM seq_1_to_$rows;
        INSERT INTO token (id, expires, extra, valid) VALUES ('no-expiry', NULL, '{}', 1);"

# keystone.conf without the password, which sits in a root-only file instead: nothing secret
# would be stored in the CIB.
mkdir -p "$work/etc" "$work/state"
cat > "$work/etc/keystone.conf" <<CONF
[DEFAULT]
debug = false

[database]
connection = mysql+pymysql://keystone@$host:$port/keystone?charset=utf8
CONF
umask 077; printf '%s\n' "$password" > "$work/etc/db-password"; umask 022

count() { sql -N -e "SELECT COUNT(*), SUM(expires < UTC_TIMESTAMP()), SUM(expires >= UTC_TIMESTAMP()), SUM(expires IS NULL) FROM token" \
    | awk '{ printf "total %s, expired %s, live %s, no expiry %s\n", $1, $2, $3, $4 }'; }
echo "==> before: $(count)"

ocf() {
    env -i PATH="$PATH" OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=p_tokenflush \
        OCF_RESKEY_config="$work/etc/keystone.conf" OCF_RESKEY_password_file="$work/etc/db-password" \
        OCF_RESKEY_state_dir="$work/state" OCF_RESKEY_CRM_meta_timeout=60000 OCF_RESKEY_CRM_meta_interval=10000 \
        "$bin" "$@"
}
for action in validate-all start monitor; do
    set +e; ocf "$action"; rc=$?; set -e
    echo "==> $action: exit $rc"
done
echo "==> after: $(count)"
echo "==> state file:"
cat "$work/state/tokenflush-p_tokenflush.state"
set +e; ocf stop; rc=$?; ocf monitor; mrc=$?; set -e
echo "==> stop: exit $rc; monitor after stop: exit $mrc (7 = cleanly stopped)"
